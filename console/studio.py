"""The admins' studio (issue 11): intents and examples, the review inbox, training with an
evaluation beside the active model, activation and rollback without restarts.

Pages under `/console/studio`: admins change things; supervisors may look and work the review
inbox (the desk checks the review rule again: `Desk.review_inbox`, `resolve_review_item`).
What admins change is written to the Rasa YAML files of the data directory (`nlu.data_edit`;
`domain.yml`, `case_types.yml` and `faq.yml` as whole files, validated by the dialogue's loader
first). Training runs in a separate process (`nlu.jobs`); activation writes the store's pointer
(`nlu.active`) and tells the running interpreters (`nlu.live.announce`: this process at once,
the others through Redis or their check of the pointer). A saved dialogue file (and a rename,
which moves an intent's FAQ answers with it) reaches the running dialogue the same way
(`actions.live.announce`: this process's engine has the new domain before the page answers;
the other processes through Redis or their check of the files), and the page says what
happened. An intent nothing answers gets its first answer on its own page (written into
faq.yml: an FAQ intent needs no rule). File and model work runs in threads.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from actions.live import Outcome
from actions.live import announce as announce_domain
from console.app import DEPS
from console.auth import STAFF, require
from desk.errors import DeskError
from desk.services import OUT_OF_SCOPE
from nlu import data_edit
from nlu.active import EVALUATION_DIR, activate, find_version, rollback, versions
from nlu.errors import NluError
from nlu.jobs import TrainingJobs
from nlu.live import announce
from nlu.model_store import active_model, read_metadata
from nlu.similarity import conflicts, group_similar, suggest
from taxrules.masking import mask_personal_numbers as mask
from taxrules.masking import pseudonymise

#: The dialogue's data files editable as YAML, and their titles.
YAML_FILES = {"domain": "domain.yml", "case_types": "case_types.yml", "faq": "faq.yml"}
YAML_TITLES = {
    "domain": "回复与槽位（domain.yml）",
    "case_types": "案件类型",
    "faq": "常见问题答案",
}
ENTITY_TYPES = ("tax_period", "taxpayer_id", "tax_type", "amount")
# why an item is in the review inbox: the intent the fallback saw, or a staff member's flag
REVIEW_REASONS = {
    "nlu_fallback": "没听懂",
    "out_of_scope": "判为超出业务范围",
    "flagged": "工作人员标记",
}


@dataclass
class StudioConfig:
    """Where the studio reads and writes: the NLU/dialogue data directory (`data/`), the
    pipeline config and the model store; Redis for the activation message."""

    data_dir: Path
    config_path: Path
    models_dir: Path
    redis_url: str | None = None
    jobs: TrainingJobs | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.jobs is None:
            self.jobs = TrainingJobs(self.data_dir, self.config_path, self.models_dir)

    @property
    def trainer(self) -> TrainingJobs:
        assert self.jobs is not None
        return self.jobs


STUDIO: web.AppKey[StudioConfig] = web.AppKey("studio", StudioConfig)


def config_of(request: web.Request) -> StudioConfig:
    studio = request.app[DEPS].extra.get("studio")
    if not isinstance(studio, StudioConfig):
        raise web.HTTPNotFound(text="训练工作室未配置。")
    return studio


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: str(v) for k, v in data.items() if isinstance(v, str)}


def _back(location: str, *, msg: str | None = None, err: str | None = None) -> web.HTTPSeeOther:
    from urllib.parse import urlencode

    query = {k: v for k, v in (("msg", msg), ("err", err)) if v}
    return web.HTTPSeeOther(location + ("?" + urlencode(query) if query else ""))


def _evaluation_of(model: Path | None) -> dict[str, Any] | None:
    if model is None:
        return None
    report = model / EVALUATION_DIR / "report.json"
    try:
        data: dict[str, Any] = json.loads(report.read_text())
        return data
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------ intents and examples


def _overview(studio: StudioConfig) -> dict[str, Any]:
    data = data_edit.load(studio.data_dir)
    counts: dict[str, int] = {}
    for ex in data.examples:
        counts[ex.intent] = counts.get(ex.intent, 0) + 1
    listed = versions(studio.models_dir)
    active = next((v for v in listed if v.active), None)
    report = (active.evaluation or {}).get("intent", {}).get("report", {}) if active else {}
    found = conflicts(data.examples)
    return {
        "intents": [
            {"name": n, "count": counts[n], "f1": (report.get(n) or {}).get("f1")}
            for n in sorted(counts)
        ],
        "conflicts": found[:200],
        "conflict_count": len(found),
        "active": active,
    }


@require("supervisor")
async def intents_page(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    try:
        context = await asyncio.to_thread(_overview, studio)
    except NluError as exc:
        context = {"intents": [], "conflicts": [], "conflict_count": 0, "active": None}
        context["load_error"] = str(exc)
    context.update(_flash(request))
    return aiohttp_jinja2.render_template("studio_intents.html", request, context)


def _flash(request: web.Request) -> dict[str, Any]:
    return {"msg": request.query.get("msg", ""), "err": request.query.get("err", "")}


def _responses(request: web.Request, intent: str) -> list[dict[str, str]]:
    """What the running dialogue answers `intent` with, in both scripts: the responses of
    its rule's action, and its FAQ answers (`action_faq`, the default of an FAQ intent)."""
    engine = request.app[DEPS].engine
    domain = getattr(engine, "domain", None)
    scripts = getattr(engine, "scripts", None)
    if domain is None:
        return []
    out = []
    for rule in domain.rules:
        if rule.intent != intent:
            continue
        texts = [str(r.get("text", "")) for r in domain.responses.get(rule.action, [])]
        if rule.action == "action_faq":
            texts += [answer.text.strip() for answer in domain.faq.get(intent, [])]
        for text in texts or [""]:
            out.append(
                {
                    "action": rule.action,
                    "hans": text,
                    "hant": scripts.to_traditional(text) if scripts and text else "",
                }
            )
    return out


@require("supervisor")
async def intent_page(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    name = request.match_info["name"]
    data = await asyncio.to_thread(data_edit.load, studio.data_dir)
    examples = [ex for ex in data.examples if ex.intent == name]
    if not examples:
        raise web.HTTPNotFound(text=f"找不到意图 {name}。")
    found = [
        c
        for c in await asyncio.to_thread(conflicts, data.examples)
        if name in (c.intent, c.other_intent)
    ]
    context = {
        "name": name,
        "examples": [{"plain": ex.text, "annotated": _annotated(ex)} for ex in examples],
        "suggestions": await _suggestions(request, name, examples, data.examples),
        "conflicts": found,
        "entity_types": sorted(set(ENTITY_TYPES) | set(data.entity_types)),
        "responses": _responses(request, name),
        "handled_by": _handled_by(request, name),
        "intents": data.intents,
        **_flash(request),
    }
    return aiohttp_jinja2.render_template("studio_intent.html", request, context)


SUGGESTIONS = 15  # messages shown under "可能属于该意图的纳税人消息"
SUGGEST_FROM = 1000  # the latest distinct taxpayer texts looked at


async def _suggestions(
    request: web.Request, name: str, examples: list[Any], every: list[Any]
) -> list[dict[str, Any]]:
    """Taxpayers' real messages that may belong to `name` (`nlu.similarity.suggest`): an
    intent taught with five examples grows from what taxpayers actually wrote (the admin
    adds them with one click)."""
    deps = request.app[DEPS]
    async with deps.runtime.sessions() as session:
        texts = await deps.runtime.desk(session).taxpayer_texts(
            request[STAFF].id, limit=SUGGEST_FROM
        )
    known = {ex.text for ex in every}
    texts = [
        (i, t)
        for i, t in texts
        if len(t) <= 200 and t not in known and pseudonymise(t) not in known  # as added
    ]
    if not texts:
        return []
    interpreter = getattr(deps.engine, "interpreter", None)
    found = await asyncio.to_thread(
        suggest,
        name,
        [ex.text for ex in examples],
        [t for _, t in texts],
        interpreter.parse if interpreter is not None else None,
        SUGGESTIONS,
    )
    return [
        {"id": texts[s.index][0], "text": mask(texts[s.index][1]), "now": s.now} for s in found
    ]


@require("admin")
async def add_suggestion(request: web.Request) -> web.StreamResponse:
    """One taxpayer message (by its id: the page never sends the words back) added as an
    example of the intent, its IDs and phone numbers as made-up ones."""
    deps = request.app[DEPS]
    studio = config_of(request)
    name = request.match_info["name"]
    where = f"/console/studio/intents/{name}"
    raw = (await _form(request)).get("message", "")
    if not raw.isdigit() or len(raw) > 12:
        raise _back(where, err="请选择一条纳税人消息。")
    try:
        async with deps.runtime.sessions() as session:
            text = await deps.runtime.desk(session).taxpayer_text(int(raw), request[STAFF].id)
    except DeskError as exc:
        raise _back(where, err=exc.user_message) from None
    written = pseudonymise(text)
    try:
        await asyncio.to_thread(data_edit.add_example, studio.data_dir, name, written)
    except data_edit.DuplicateExample:
        raise _back(where, msg="这句话已经是该意图的样例。") from None
    except NluError as exc:
        raise _back(where, err=str(exc)) from None
    replaced = "（其中的纳税人识别号、电话号码已换成示例号码）" if written != text else ""
    raise _back(where, msg=f"已加为样例{replaced}，重新训练并启用后生效。")


def _handled_by(request: web.Request, intent: str) -> str:
    """How the running dialogue answers `intent`: `rule` (rules.yml or its FAQ answers),
    `form` (it opens a case type), or `nothing` (the fallback: it may get an FAQ answer)."""
    domain = getattr(request.app[DEPS].engine, "domain", None)
    if domain is None:
        return "rule"  # not a dialogue the studio can tell about
    if any(rule.intent == intent for rule in domain.rules):
        return "rule"
    if domain.case_type_for_intent(intent) is not None:
        return "form"
    return "nothing"


def with_faq_answer(text: str, intent: str, answer: str) -> str:
    """faq.yml's `text` with a first answer for `intent` appended to the `faq:` mapping
    (before the next top-level key, if any; the rest of the file as it was)."""
    lines = text.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line.split("#")[0].strip() == "faq:"), None)
    if start is None:
        raise ValueError("faq.yml 中没有 faq: 部分，请在常见问题答案页修改。")
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i][:1] not in ("", " ", "#")),
        len(lines),
    )
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1  # blank lines and the next key's own comments stay before the next key
    block = [f"  {intent}:", f"    - text: {json.dumps(answer, ensure_ascii=False)}"]
    return "\n".join(lines[:end] + block + lines[end:]) + "\n"


@require("admin")
async def add_answer(request: web.Request) -> web.StreamResponse:
    """The first answer of an intent the dialogue does not answer yet, written to faq.yml
    (the intent is then answered by `action_faq`: no rule to write)."""
    studio = config_of(request)
    name = request.match_info["name"]
    where = f"/console/studio/intents/{name}"
    answer = (await _form(request)).get("answer", "").replace("\r\n", "\n").strip()
    if not answer:
        raise _back(where, err="答案不能为空。")
    if _handled_by(request, name) != "nothing":
        raise _back(where, err=f"意图 {name} 已有回复，请在回复或常见问题答案页修改。")
    check = getattr(request.app[DEPS].engine, "prepare", None)

    def run() -> tuple[list[Outcome], list[str]]:
        data = data_edit.load(studio.data_dir)
        if name not in data.intents:
            raise ValueError(f"找不到意图 {name}。")
        path = studio.data_dir / "faq.yml"
        text = path.read_text(encoding="utf-8") if path.is_file() else "version: 1\nfaq:\n"
        edited = with_faq_answer(text, name, answer)
        domain, outcomes = _save_yaml(studio.data_dir, "faq.yml", edited, check, studio.redis_url)
        notes = [n for n in _faq_notes(studio, domain) if name in n]
        return outcomes, notes

    try:
        outcomes, notes = await asyncio.to_thread(run)
    except Exception as exc:  # the loader's message; nothing written
        raise _back(where, err=f"未保存：{exc}") from None
    raise _back(where, msg=" ".join([f"已保存答案到 data/faq.yml；{_reached(outcomes)}", *notes]))


def _annotated(ex: Any) -> str:
    text = ex.text
    for ent in sorted(ex.entities, key=lambda a: a.start, reverse=True):
        label = f"{ent.entity}:{ent.value}" if ent.explicit_value else ent.entity
        text = text[: ent.start] + f"[{ent.text}]({label})" + text[ent.end :]
    return text


async def _edit(
    request: web.Request, where: str, fn: Any, *args: Any, done: str
) -> web.StreamResponse:
    try:
        await asyncio.to_thread(fn, *args)
    except NluError as exc:
        raise _back(where, err=str(exc)) from None
    raise _back(where, msg=done)


@require("admin")
async def add_example(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    form = await _form(request)
    name = form.get("intent") or request.match_info.get("name", "")
    where = f"/console/studio/intents/{name}" if name else "/console/studio"
    return await _edit(
        request,
        where,
        data_edit.add_example,
        studio.data_dir,
        name,
        form.get("text", ""),
        done="已添加样例，重新训练并启用后生效。",
    )


@require("admin")
async def edit_example(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    name = request.match_info["name"]
    form = await _form(request)
    where = f"/console/studio/intents/{name}"
    if form.get("action") == "delete":
        return await _edit(
            request,
            where,
            data_edit.delete_example,
            studio.data_dir,
            name,
            form.get("plain", ""),
            done="已删除样例。",
        )
    return await _edit(
        request,
        where,
        data_edit.edit_example,
        studio.data_dir,
        name,
        form.get("plain", ""),
        form.get("text", ""),
        done="已修改样例。",
    )


@require("admin")
async def rename_intent(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    name = request.match_info["name"]
    new = (await _form(request)).get("new_name", "").strip()

    def run() -> tuple[list[Path], list[Outcome], set[str]]:
        written = data_edit.rename_intent(studio.data_dir, name, new)
        moved = any(p.name == data_edit.FAQ_FILE for p in written)
        outcomes = announce_domain(studio.data_dir, studio.redis_url) if moved else []
        return written, outcomes, _active_intents(studio.models_dir)

    try:
        written, outcomes, known = await asyncio.to_thread(run)
    except NluError as exc:
        raise _back(f"/console/studio/intents/{name}", err=str(exc)) from None
    msg = f"意图已改名为 {new}（训练样例）。"
    if any(p.name == data_edit.FAQ_FILE for p in written):
        msg = f"意图已改名为 {new}，它的常见问题答案也随之改名；{_reached(outcomes)}"
        if name in known:
            msg += (
                f"当前启用的模型仍把这类消息识别为 {name}，在训练并启用新模型之前，"
                "机器人对它们回复兜底话术。"
            )
    elif name in known:
        msg += "训练并启用新模型后，机器人才按新名称识别。"
    raise _back(f"/console/studio/intents/{new}", msg=msg)


def _active_intents(models_dir: Path) -> set[str]:
    """The intents the active model knows (empty without a readable model)."""
    model = active_model(models_dir)
    if model is None:
        return set()
    try:
        return {str(i) for i in read_metadata(model).get("intents") or []}
    except NluError:
        return set()


def _reached(outcomes: list[Outcome]) -> str:
    """What a saved dialogue file did to the running bot, as the admin reads it."""
    failed = [o.error for o in outcomes if o.error]
    if failed:
        return f"但正在运行的机器人未能载入（{failed[0]}），仍按之前的版本回复。"
    if outcomes:
        return "正在运行的机器人已更新（其他进程几秒内自动跟上，无需重启）。"
    return "运行中的机器人几秒内自动载入，无需重启。"


# ------------------------------------------------------------------ the dialogue's YAML files


def _validate_yaml(data_dir: Path, filename: str, text: str, check: Any = None) -> Any:
    """Load the dialogue's data with `text` as `filename`; raise what the loader says (and
    what `check(domain)`, the running engine's `prepare`, says). Returns the domain."""
    import yaml

    from actions.domain import DOMAIN_FILES, Domain

    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"YAML 格式错误：{exc}") from None
    with tempfile.TemporaryDirectory() as tmp:
        for name in DOMAIN_FILES:
            if (data_dir / name).is_file():
                shutil.copyfile(data_dir / name, Path(tmp) / name)
        (Path(tmp) / filename).write_text(text, encoding="utf-8")
        domain = Domain.load(Path(tmp))
        if check is not None:
            check(domain)
    return domain


def _save_yaml(
    data_dir: Path, filename: str, text: str, check: Any = None, redis_url: str | None = None
) -> tuple[Any, list[Outcome]]:
    """Validate and write `filename`, then tell the running dialogues (this process's at
    once: the outcomes). Blocking."""
    import os

    text = text.replace("\r\n", "\n")
    domain = _validate_yaml(data_dir, filename, text, check)
    path = data_dir / filename
    tmp = path.with_name(f".{filename}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return domain, announce_domain(data_dir, redis_url)


def _faq_notes(studio: StudioConfig, domain: Any) -> list[str]:
    """What an admin should know about the FAQ intents just saved: an intent without
    training examples is never recognised; one the active model does not know yet is only
    answered after training and activation."""
    examples = {ex.intent for ex in data_edit.load(studio.data_dir).examples}
    known = _active_intents(studio.models_dir)
    notes = []
    for intent in domain.faq:
        if intent not in examples:
            notes.append(
                f"意图 {intent} 还没有训练样例，机器人识别不到它："
                "请先在“意图与样例”中添加样例，再训练并启用。"
            )
        elif known and intent not in known:
            notes.append(
                f"当前启用的模型还不认识意图 {intent}：训练并启用新模型后，这个答案才会被用到。"
            )
    return notes


def _case_type_keys(text: str) -> set[str]:
    import yaml

    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return set()  # the loader reports it
    types = loaded.get("case_types") if isinstance(loaded, dict) else None
    return {str(k) for k in types} if isinstance(types, dict) else set()


async def _keep_case_types_in_use(request: web.Request, studio: StudioConfig, text: str) -> None:
    """Refuse a case types file that drops a type existing cases still have (their pages,
    notices and the queue read the type's title and checklist)."""
    before = await asyncio.to_thread(
        (studio.data_dir / "case_types.yml").read_text, encoding="utf-8"
    )
    removed = sorted(_case_type_keys(before) - _case_type_keys(text))
    if not removed:
        return
    runtime = request.app[DEPS].runtime
    async with runtime.sessions() as session:
        in_use = await runtime.desk(session).cases_by_type(removed)
    if in_use:
        named = "、".join(f"{t}（{n} 件）" for t, n in sorted(in_use.items()))
        raise ValueError(
            f"不能删除仍有案件的案件类型：{named}。已有案件的页面、通知和队列都要用到它；"
            "它的名称、材料清单和时限可以修改。文件未保存。"
        )


@require("admin")
async def yaml_page(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    key = request.match_info["key"]
    if key not in YAML_FILES:
        raise web.HTTPNotFound(text="没有这个文件。")
    filename = YAML_FILES[key]
    error = ""
    saved = ""
    notes: list[str] = []
    if request.method == "POST":
        text = (await _form(request)).get("content", "")
        check = getattr(request.app[DEPS].engine, "prepare", None)
        try:
            if key == "case_types":
                await _keep_case_types_in_use(request, studio, text)
            domain, outcomes = await asyncio.to_thread(
                _save_yaml, studio.data_dir, filename, text, check, studio.redis_url
            )
        except Exception as exc:  # the loader's message, shown as it is; nothing written
            error = str(exc)
        else:
            saved = f"已校验并保存到 data/{filename}；{_reached(outcomes)}"
            if key == "faq":
                notes = await asyncio.to_thread(_faq_notes, studio, domain)
    else:
        text = await asyncio.to_thread((studio.data_dir / filename).read_text, "utf-8")
    context = {
        "key": key,
        "filename": filename,
        "title": YAML_TITLES[key],
        "content": text,
        "error": error,
        "saved": saved,
        "notes": notes,
    }
    return aiohttp_jinja2.render_template(
        "studio_yaml.html", request, context, status=400 if error else 200
    )


# ------------------------------------------------------------------ the review inbox


@require("supervisor")
async def review_page(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    staff = request[STAFF]
    studio = config_of(request)
    async with deps.runtime.sessions() as session:
        items = await deps.runtime.desk(session).review_inbox(staff.id)
    reveal = request.query.get("show") if staff.role == "admin" else None
    interpreter = getattr(deps.engine, "interpreter", None)
    groups = group_similar([i.text for i in items])
    data = await asyncio.to_thread(data_edit.load, studio.data_dir)
    shown = []
    for group in groups:
        rows = []
        for idx in group:
            item = items[idx]
            guesses: list[dict[str, Any]] = []
            if interpreter is not None:
                parse = await interpreter.aparse(item.text)
                guesses = [
                    r for r in parse.get("intent_ranking", []) if r["name"] != "nlu_fallback"
                ][:3]
            masked = mask(item.text)
            shown_text = item.text if reveal == str(item.id) else masked
            rows.append(
                {
                    "id": item.id,
                    "text": shown_text,
                    "masked": masked != item.text and reveal != str(item.id),
                    "raw": shown_text,
                    "reason": REVIEW_REASONS.get(item.reason, item.reason),
                    "created_at": item.created_at,
                    "guesses": guesses,
                }
            )
        shown.append(rows)
    context = {
        "groups": shown,
        "intents": data.intents,
        "count": len(items),
        "entity_types": sorted(set(ENTITY_TYPES) | set(data.entity_types)),
        **_flash(request),
    }
    return aiohttp_jinja2.render_template("studio_review.html", request, context)


@require("supervisor")
async def review_action(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    staff = request[STAFF]
    studio = config_of(request)
    item_id = int(request.match_info["item_id"])
    form = await _form(request)
    where = "/console/studio/review"
    out_of_scope = form.get("action") == "out_of_scope"
    intent = OUT_OF_SCOPE if out_of_scope else form.get("intent", "").strip()
    written = text = ""
    added = False
    try:
        async with deps.runtime.sessions() as session:
            desk = deps.runtime.desk(session)
            item = await desk.review_item(item_id, staff.id)  # the review rule, and it exists
            if item.status != "open":
                raise _back(where, err="这条消息已经处理过了。")
            text = form.get("text", "").strip() or item.text
            if "*" in text and mask(item.text) == text and text != item.text:
                text = item.text  # the masked text as shown: its words, not the stars
            # the training data is kept in version control: a taxpayer's IDs and phone
            # numbers join it as made-up ones of the same kind, never as they were sent
            written = pseudonymise(text)
            known = await asyncio.to_thread(lambda: data_edit.load(studio.data_dir).intents)
            added = not out_of_scope or OUT_OF_SCOPE in known
            if added:
                try:
                    await asyncio.to_thread(
                        data_edit.add_example, studio.data_dir, intent, written
                    )
                except data_edit.DuplicateExample:
                    pass  # already taught: the item is done all the same
            await desk.resolve_review_item(item_id, staff_id=staff.id, resolution=intent)
    except DeskError as exc:
        raise _back(where, err=exc.user_message) from None
    except NluError as exc:
        raise _back(where, err=str(exc)) from None
    replaced = "（其中的纳税人识别号、电话号码已换成示例号码）" if written != text else ""
    if out_of_scope and not added:
        done = "已标记为超出范围。"
    elif out_of_scope:
        done = f"已标记为超出范围并加入 {OUT_OF_SCOPE} 的样例{replaced}，重新训练并启用后生效。"
    else:
        done = f"已归入意图 {intent}{replaced}，重新训练并启用后生效。"
    raise _back(where, msg=done)


# ------------------------------------------------------------------ models: training, activation


def _models_context(studio: StudioConfig) -> dict[str, Any]:
    listed = versions(studio.models_dir)
    active = next((v for v in listed if v.active), None)
    job = studio.trainer.current()
    candidate = None
    if job is not None and job.model:
        candidate = next((v for v in listed if v.name == job.model), None)
    if candidate is None and listed and not listed[0].active:
        candidate = listed[0]
    changed: dict[str, Any] = {}
    if candidate is not None:
        try:
            changed = json.loads((candidate.path / EVALUATION_DIR / "changed.json").read_text())
        except (OSError, ValueError):
            changed = {}
    labels = sorted(
        set((active.evaluation or {}).get("intent", {}).get("report", {}) if active else {})
        | set(
            (candidate.evaluation or {}).get("intent", {}).get("report", {}) if candidate else {}
        )
    )
    return {
        "versions": listed,
        "active": active,
        "candidate": candidate,
        "job": job,
        "changed": changed.get("changed", [])[:200],
        "labels": labels,
    }


@require("supervisor")
async def models_page(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    context = await asyncio.to_thread(_models_context, studio)
    context.update(_flash(request))
    return aiohttp_jinja2.render_template("studio_models.html", request, context)


@require("supervisor")
async def job_status(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    job = await asyncio.to_thread(studio.trainer.current)
    if job is None:
        return web.json_response({"status": "none"})
    return web.json_response(
        {
            "status": job.status,
            "stage": job.stage,
            "progress": job.progress,
            "model": job.model,
            "error": job.error,
            "id": job.id,
        }
    )


@require("admin")
async def train(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    staff = request[STAFF]
    try:
        await asyncio.to_thread(studio.trainer.start, staff.name)
    except NluError as exc:
        raise _back("/console/studio/models", err=str(exc)) from None
    raise _back("/console/studio/models", msg="训练已开始。")


@require("admin")
async def cancel_training(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    state = await asyncio.to_thread(studio.trainer.cancel)
    if state is None:
        raise _back("/console/studio/models", err="没有正在进行的训练。")
    if state.status == "running":  # still stopping: the page follows the job
        raise _back("/console/studio/models", msg="正在取消训练…")
    if state.status == "cancelled":
        raise _back("/console/studio/models", msg="训练已取消，模型库没有变化。")
    raise _back("/console/studio/models", msg="训练在取消前已经结束。")


async def _switch(request: web.Request, fn: Any, *args: Any, done: str) -> web.StreamResponse:
    studio = config_of(request)
    staff = request[STAFF]

    def run() -> Path:
        chosen: Path = fn(studio.models_dir, *args, by=staff.name)
        announce(studio.models_dir, studio.redis_url)
        return chosen

    try:
        chosen = await asyncio.to_thread(run)
    except NluError as exc:
        raise _back("/console/studio/models", err=str(exc)) from None
    raise _back("/console/studio/models", msg=done.format(name=chosen.name))


@require("admin")
async def activate_model(request: web.Request) -> web.StreamResponse:
    return await _switch(
        request, activate, request.match_info["version"], done="已启用模型 {name}。"
    )


@require("admin")
async def rollback_model(request: web.Request) -> web.StreamResponse:
    return await _switch(request, rollback, done="已回滚到模型 {name}。")


@require("supervisor")
async def confusion_png(request: web.Request) -> web.StreamResponse:
    studio = config_of(request)
    try:
        model = await asyncio.to_thread(
            find_version, studio.models_dir, request.match_info["version"]
        )
    except NluError:
        raise web.HTTPNotFound(text="没有这个模型。") from None
    path = model / EVALUATION_DIR / "confusion_matrix.png"
    if not path.is_file():
        raise web.HTTPNotFound(text="该模型没有评估结果。")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "image/png",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=300",
        },
    )


def setup(app: web.Application) -> None:
    """The studio's routes (a missing `StudioConfig` in `deps.extra["studio"]` gives 404s)."""
    r = app.router
    r.add_get("/console/studio", intents_page, name="studio")
    r.add_get("/console/studio/intents/{name}", intent_page)
    r.add_post("/console/studio/intents", add_example)
    r.add_post("/console/studio/intents/{name}/examples", add_example)
    r.add_post("/console/studio/intents/{name}/example", edit_example)
    r.add_post("/console/studio/intents/{name}/rename", rename_intent)
    r.add_post("/console/studio/intents/{name}/suggested", add_suggestion)
    r.add_post("/console/studio/intents/{name}/answer", add_answer)
    r.add_get("/console/studio/files/{key}", yaml_page)
    r.add_post("/console/studio/files/{key}", yaml_page)
    r.add_get("/console/studio/review", review_page)
    r.add_post("/console/studio/review/{item_id:\\d+}", review_action)
    r.add_get("/console/studio/models", models_page)
    r.add_get("/console/studio/job", job_status)
    r.add_post("/console/studio/train", train)
    r.add_post("/console/studio/train/cancel", cancel_training)
    r.add_post("/console/studio/models/{version}/activate", activate_model)
    r.add_post("/console/studio/rollback", rollback_model)
    r.add_get("/console/studio/models/{version}/confusion.png", confusion_png)

    async def stop_jobs(app: web.Application) -> Any:
        yield
        studio = app[DEPS].extra.get("studio")
        if isinstance(studio, StudioConfig):
            await asyncio.to_thread(studio.trainer.close)

    app.cleanup_ctx.append(stop_jobs)

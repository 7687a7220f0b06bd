"""Replay written conversations through the real dialogue, NLU and desk, and check each turn.

The data set is `bench/conversations/*.yml` (its format is documented in
`bench/conversations/README.md`); `bench/conversations.py` prints the report and the floor
test (`tests/testing/test_conversations.py`) keeps the pass rate from dropping.

Each conversation runs in a fresh chat of one application container (`app.container.
build_container`: the real `DialogueEngine`, the given NLU interpreter, a real desk on a SQLite
file in a temporary directory), at a fixed time (`testing.clock.Clock`, injected into the
dialogue's `today` and the desk's clock). Staff steps go through the desk services, as
`main.py cases` does; a staff question is announced to the dialogue as the outbox worker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from actions.channel import InboundFile, Reply
from actions.engine import DialogueEngine, ScriptConverter
from actions.ports import Requester
from app.container import Container, build_container
from app.settings import Settings
from desk.migrate import upgrade
from taxrules.errors import UserFacingError
from testing.clock import Clock
from testing.dialogue import Chat
from testing.samples import make_jpeg, make_pdf

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / "conversations"
FLOOR_FILE = DATA_DIR / "floor.json"
BEIJING = ZoneInfo("Asia/Shanghai")
#: 10:00 Beijing time on Tuesday 1 December 2026 (DIALOGUES.md §13: "12月" means 2025-12)
DEFAULT_NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
MAIN = "me"  # the chat a conversation is about; other chats are named in `as:`
CASE_NUMBER = re.compile(r"TX-\d{4}-\d{6}")
SUBMITTED_NUMBER = re.compile(r"已受理，案件编号\s*(TX-\d{4}-\d{6})")
STEP_KINDS = ("user", "press", "upload", "setup", "staff")
EXPECT_KEYS = {
    "intent", "replies", "not_replies", "says", "says_any", "not_says", "slots", "form",
    "submitted", "script", "unchanged", "silent",
}  # fmt: skip
UNSET = "<unset>"


# ---------------------------------------------------------------------- the data set


@dataclass
class Conversation:
    """One written conversation: `name`, `category` and its steps (dicts as in the YAML)."""

    name: str
    category: str
    steps: list[dict[str, Any]]
    source: str = ""


def load_conversations(paths: Iterable[Path] | None = None) -> list[Conversation]:
    """Every conversation of the YAML files (default: `bench/conversations/*.yml`), checked
    for shape: unknown step or expectation keys and repeated names raise `ValueError`."""
    files = sorted(paths) if paths is not None else sorted(DATA_DIR.glob("*.yml"))
    out: list[Conversation] = []
    seen: set[str] = set()
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        default_category = str(doc.get("category", path.stem))
        for item in doc.get("conversations") or []:
            name = str(item["name"])
            if name in seen:
                raise ValueError(f"{path.name}: conversation {name!r} twice")
            seen.add(name)
            steps = list(item.get("steps") or [])
            for i, step in enumerate(steps):
                kinds = [k for k in STEP_KINDS if k in step]
                if len(kinds) != 1:
                    raise ValueError(f"{name} step {i + 1}: one of {STEP_KINDS} expected")
                unknown = set(step.get("expect") or {}) - EXPECT_KEYS
                if unknown:
                    raise ValueError(f"{name} step {i + 1}: unknown expectations {unknown}")
            out.append(
                Conversation(name, str(item.get("category", default_category)), steps, path.name)
            )
    return out


# ---------------------------------------------------------------------- results


@dataclass
class TurnResult:
    """One step: what was sent, what came back, and the first expectation it missed."""

    index: int
    sent: str
    kinds: list[str]
    text: str
    mismatch: str | None = None
    checked: bool = True  # False for steps without expectations (setup, staff, plain turns)


@dataclass
class ConversationResult:
    """A conversation's turns; it passes when no turn missed an expectation."""

    conversation: Conversation
    turns: list[TurnResult] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(t.mismatch is None for t in self.turns)

    @property
    def first_failure(self) -> TurnResult | None:
        return next((t for t in self.turns if t.mismatch is not None), None)


@dataclass
class Report:
    """Pass rates over a replay, overall and per category."""

    results: list[ConversationResult]

    @property
    def conversations(self) -> int:
        return len(self.results)

    @property
    def conversation_pass_rate(self) -> float:
        return _rate(sum(r.passed for r in self.results), len(self.results))

    @property
    def turns(self) -> int:
        return sum(1 for r in self.results for t in r.turns if t.checked)

    @property
    def turn_pass_rate(self) -> float:
        checked = [t for r in self.results for t in r.turns if t.checked]
        return _rate(sum(t.mismatch is None for t in checked), len(checked))

    def by_category(self) -> dict[str, tuple[int, int]]:
        """category → (passed, total)."""
        total: Counter[str] = Counter()
        passed: Counter[str] = Counter()
        for r in self.results:
            total[r.conversation.category] += 1
            passed[r.conversation.category] += int(r.passed)
        return {c: (passed[c], total[c]) for c in sorted(total)}

    def failures(self) -> list[str]:
        """One readable line block per failing conversation: where and what first went wrong."""
        out = []
        for r in self.results:
            if r.passed:
                continue
            head = f"✗ {r.conversation.category}/{r.conversation.name} ({r.conversation.source})"
            if r.error is not None:
                out.append(f"{head}\n    error: {r.error}")
                continue
            t = r.first_failure
            assert t is not None
            reply = t.text.replace("\n", " ⏎ ")
            if len(reply) > 160:
                reply = reply[:159] + "…"
            out.append(
                f"{head}\n    step {t.index}: {t.sent}\n    expected: {t.mismatch}\n"
                f"    got kinds {t.kinds}: {reply}"
            )
        return out


def _rate(n: int, total: int) -> float:
    return round(n / total, 4) if total else 0.0


# ---------------------------------------------------------------------- the replay


@dataclass
class ReplayWorld:
    """The application the conversations run in, and what the steps remember."""

    container: Container
    engine: DialogueEngine
    clock: Clock
    scripts: ScriptConverter
    staff_id: int
    samples: dict[str, tuple[bytes, str, str]]


@contextlib.asynccontextmanager
async def replay_world(
    interpreter: Any, *, now: datetime = DEFAULT_NOW
) -> AsyncIterator[ReplayWorld]:
    """A migrated SQLite desk in a temporary directory and the container over it."""
    with tempfile.TemporaryDirectory(prefix="convbench-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'desk.sqlite3'}"
        await asyncio.to_thread(upgrade, url)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp) / "var",
            database_url=url,
            redis_url=None,
            telegram_bot_token=None,
            webhook_url=None,
        )
        clock = Clock(now)
        async with build_container(
            settings, interpreter=interpreter, today=lambda: clock().astimezone(BEIJING).date()
        ) as container:
            assert container.runtime is not None and container.dialogue_engine is not None
            container.runtime.clock = clock
            async with container.runtime.sessions() as session:
                member = await container.runtime.desk(session).add_staff("王芳", "supervisor")
            engine = container.dialogue_engine
            engine.rng = random.Random(0)  # the same response variants on every replay
            yield ReplayWorld(
                container=container,
                engine=engine,
                clock=clock,
                scripts=engine.scripts,
                staff_id=member.id,
                samples={
                    "pdf": (make_pdf(), "letter.pdf", "application/pdf"),
                    "pdf3": (make_pdf(3), "scan.pdf", "application/pdf"),
                    "jpg": (make_jpeg(), "photo.jpg", "image/jpeg"),
                    "docx": (b"PK\x03\x04" + b"\0" * 100, "form.docx", "application/msword"),
                },
            )


class _Replay:
    """One conversation in its own chats (`MAIN` and any named in `as:`)."""

    def __init__(self, world: ReplayWorld, conv: Conversation, serial: int) -> None:
        self.world = world
        self.conv = conv
        self.prefix = f"cb{serial}"
        self.chats: dict[str, Chat] = {}
        self.cases: dict[str, list[str]] = {}  # chat name → case numbers, oldest first

    def chat(self, name: str) -> Chat:
        if name not in self.chats:
            self.chats[name] = Chat(self.world.engine, f"{self.prefix}-{name}")
        return self.chats[name]

    def fill(self, text: str) -> str:
        """`{case}` / `{case:NAME}`: the newest case number of the main or the named chat."""

        def sub(m: re.Match[str]) -> str:
            name = m.group(1) or MAIN
            numbers = self.cases.get(name) or []
            if not numbers:
                raise ValueError(f"no case of chat {name!r} yet for {m.group(0)}")
            return numbers[-1]

        return re.sub(r"\{case(?::(\w+))?\}", sub, text)

    async def run(self) -> ConversationResult:
        result = ConversationResult(self.conv)
        for i, step in enumerate(self.conv.steps, 1):
            try:
                result.turns.append(await self.step(i, step))
            except Exception as exc:  # a broken step ends this conversation, not the replay
                result.error = f"step {i}: {type(exc).__name__}: {exc}"
                break
        return result

    async def step(self, index: int, step: Mapping[str, Any]) -> TurnResult:
        who = str(step.get("as", MAIN))
        if "setup" in step:
            await self.setup(who, step["setup"])
            return TurnResult(index, f"setup {step['setup']}", [], "", checked=False)
        if "staff" in step:
            await self.staff(step)
            return TurnResult(index, f"staff {step['staff']}", [], "", checked=False)
        expect = dict(step.get("expect") or {})
        before = await self.snapshot(str(expect["unchanged"])) if "unchanged" in expect else None
        chat = self.chat(who)
        if "press" in step:
            sent = self.fill(str(step["press"]))
            replies = await chat.press(sent)
        elif "upload" in step:
            caption = step.get("caption")
            files, rejected = await self.files(step["upload"])
            sent = f"[{', '.join(step['upload'])}] {caption or ''}".strip()
            replies = await chat.say(
                self.fill(caption) if caption else None, files=files, rejected_files=rejected
            )
        else:
            sent = self.fill(str(step["user"]))
            replies = await chat.say(sent)
        self.remember_cases(who, replies)
        kinds = [k for r in replies for k in r.kinds]
        text = "\n".join(r.text for r in replies)
        turn = TurnResult(index, sent, kinds, text, checked=bool(expect))
        if expect:
            turn.mismatch = await self.check(who, expect, replies, kinds, text, before)
        return turn

    async def files(self, kinds: Sequence[str]) -> tuple[tuple[InboundFile, ...], tuple[str, ...]]:
        accepted: list[InboundFile] = []
        rejected: list[str] = []
        for kind in kinds:
            data, name, declared = self.world.samples[kind]
            try:
                accepted.append(await self.world.container.intake.accept(data, name, declared))
            except UserFacingError as exc:
                rejected.append(exc.user_message)
        return tuple(accepted), tuple(rejected)

    def remember_cases(self, who: str, replies: Sequence[Reply]) -> None:
        """The numbers of cases this turn submitted: in the submission reply, or after
        案件编号 in any reply (should the submission get another response name)."""
        for reply in replies:
            text = self.world.scripts.to_simplified(reply.text)
            if "utter_case_submitted" in reply.kinds:
                numbers = CASE_NUMBER.findall(text)
            else:
                numbers = SUBMITTED_NUMBER.findall(text)
            for number in numbers:
                if number not in self.cases.setdefault(who, []):
                    self.cases[who].append(number)

    async def setup(self, who: str, spec: Mapping[str, Any]) -> None:
        """A case opened and submitted by chat `who` through the dialogue's own gateway (as its
        form would), without the NLU: `{type, slots, files: {item: kind}}`."""
        chat = self.chat(who)
        requester = Requester("telegram", chat.chat_id, "u" + chat.chat_id)
        gateway = self.world.engine.gateway
        number = await gateway.open_draft(requester, str(spec["type"]), dict(spec["slots"]))
        for item, kind in dict(spec.get("files") or {}).items():
            files, _ = await self.files([kind])
            await gateway.attach_file(
                number, files[0].attachment_id, item, requester=requester
            )
        if spec.get("submit", True):
            await gateway.submit(number)
        self.cases.setdefault(who, []).append(number)

    async def staff(self, step: Mapping[str, Any]) -> None:
        """`staff: claim|complete|reject|ask` on `case` (default `{case}`), `text` for the note,
        reason or question; complete/reject/ask claim a queued case first."""
        action = str(step["staff"])
        number = self.fill(str(step.get("case", "{case}")))
        text = str(step.get("text", ""))
        runtime = self.world.container.runtime
        assert runtime is not None
        sid = self.world.staff_id
        async with runtime.sessions() as session:
            desk = runtime.desk(session)
            detail = await desk.case_detail(number)
            if action != "claim" and detail.case.status == "queued":
                await desk.claim(number, sid)
            if action == "claim":
                if detail.case.status == "queued":
                    await desk.claim(number, sid)
            elif action == "complete":
                await desk.complete(number, sid, text)
            elif action == "reject":
                await desk.reject(number, sid, text)
            elif action == "ask":
                await desk.ask_taxpayer(number, sid, text)
            else:
                raise ValueError(f"unknown staff step {action!r}")
        if action == "ask":  # what the outbox worker does when it sends the question
            owner = next(n for n, numbers in self.cases.items() if number in numbers)
            await self.world.engine.note_staff_question(
                "telegram", self.chat(owner).chat_id, number
            )

    async def snapshot(self, who: str) -> list[tuple[Any, ...]]:
        """What must not change for chat `who`'s cases: status, slots, rating, history."""
        runtime = self.world.container.runtime
        assert runtime is not None
        out = []
        async with runtime.sessions() as session:
            desk = runtime.desk(session)
            for number in self.cases.get(who, []):
                d = await desk.case_detail(number)
                out.append(
                    (
                        number,
                        d.case.status,
                        sorted(d.case.slots.items()),
                        d.rating.level if d.rating else None,
                        len(d.events),
                        len(d.attachments),
                    )
                )
        return out

    async def check(
        self,
        who: str,
        expect: Mapping[str, Any],
        replies: Sequence[Reply],
        kinds: list[str],
        text: str,
        before: list[tuple[Any, ...]] | None,
    ) -> str | None:
        """The first expectation this turn missed, in words; None when all hold."""
        tracker = await self.chat(who).tracker()
        simplified = self.world.scripts.to_simplified(text)
        if "silent" in expect and bool(expect["silent"]) != (not replies):
            return "no reply" if expect["silent"] else "a reply"
        if "intent" in expect and tracker.latest_intent != expect["intent"]:
            return f"intent {expect['intent']} (NLU said {tracker.latest_intent})"
        for kind in _list(expect.get("replies")):
            if kind not in kinds:
                return f"reply {kind}"
        for kind in _list(expect.get("not_replies")):
            if kind in kinds:
                return f"no reply {kind}"
        for words in [self.fill(str(w)) for w in _list(expect.get("says"))]:
            if words not in simplified:
                return f"the reply to say {words!r}"
        says_any = [self.fill(str(w)) for w in _list(expect.get("says_any"))]
        if says_any and not any(w in simplified for w in says_any):
            return f"the reply to say one of {says_any}"
        for words in [self.fill(str(w)) for w in _list(expect.get("not_says"))]:
            if words in simplified:
                return f"the reply not to say {words!r}"
        for slot, want in dict(expect.get("slots") or {}).items():
            got = tracker.get_slot(slot)
            if want is None and got not in (None, ""):
                return f"slot {slot} unset (got {got!r})"
            if isinstance(want, list) and str(got) not in [str(w) for w in want]:
                return f"slot {slot} one of {want!r} (got {got!r})"
            if want is not None and not isinstance(want, list) and str(got) != str(want):
                return f"slot {slot}={want!r} (got {got!r})"
        if "form" in expect and tracker.active_form != expect["form"]:
            return f"form {expect['form']} (active form {tracker.active_form})"
        if "submitted" in expect:
            miss = await self.check_submitted(str(expect["submitted"]), text)
            if miss:
                return miss
        if "script" in expect:
            want = expect["script"]
            traditional = self.world.scripts.to_traditional(text) == text and simplified != text
            if (want == "hant") != traditional:
                return f"the reply in {want}"
        if before is not None:
            after = await self.snapshot(str(expect["unchanged"]))
            if after != before:
                return f"chat {expect['unchanged']}'s cases unchanged ({before} → {after})"
        return None

    async def check_submitted(self, case_type: str, text: str) -> str | None:
        numbers = CASE_NUMBER.findall(text)
        if not numbers:
            return f"a {case_type} case submitted (no case number in the reply)"
        runtime = self.world.container.runtime
        assert runtime is not None
        async with runtime.sessions() as session:
            case = (await runtime.desk(session).case_detail(numbers[-1])).case
        if case.case_type != case_type or case.status != "queued":
            return f"a {case_type} case submitted (got {case.case_type} {case.status})"
        return None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


async def replay(
    conversations: Sequence[Conversation], interpreter: Any, *, now: datetime = DEFAULT_NOW
) -> Report:
    """Run every conversation in its own chats, one after another (case numbers and the
    clock stay deterministic), and report."""
    async with replay_world(interpreter, now=now) as world:
        results = []
        for serial, conv in enumerate(conversations, 1):
            results.append(await _Replay(world, conv, serial).run())
    return Report(results)


def today_of(now: datetime = DEFAULT_NOW) -> date:
    """The Beijing date of `now`."""
    return now.astimezone(BEIJING).date()


def read_floor(path: Path = FLOOR_FILE) -> float:
    """The stored floor of the conversation pass rate (0 when there is none yet)."""
    if not path.exists():
        return 0.0
    return float(json.loads(path.read_text(encoding="utf-8"))["conversation_pass_rate"])


class KeywordInterpreter:
    """The baseline the benchmark sets the NLU against: the intent of the first keyword found
    (in this order), else `nlu_fallback`; no entities (the case form reads IDs, periods, tax
    types and amounts from the text itself)."""

    KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("cancel_request", ("取消", "不办了", "算了", "撤回")),
        ("request_human", ("人工", "工作人员", "真人")),
        ("complaint", ("投诉", "不满意", "太差")),
        ("check_status", ("进度", "办好了", "办得怎么样", "办完了")),
        ("request_correction", ("更正", "改一下", "报错", "填错", "申报错")),
        ("request_tax_certificate", ("完税证明", "纳税证明")),
        ("request_refund", ("退税",)),
        ("request_registration_change", ("变更", "注销")),
        ("request_invoice", ("发票",)),
        ("faq_office_hours", ("开门", "几点", "上班", "下班", "放假")),
        ("faq_online_services", ("网上", "电子税务局")),
        ("ask_policy", ("政策", "减免", "优惠")),
        ("submit_document", ("承诺书", "营业执照", "材料")),
        ("greet", ("你好", "您好")),
        ("thank", ("谢谢", "感谢")),
        ("goodbye", ("再见", "拜拜")),
        ("affirm", ("是的", "对", "好的", "确认", "提交")),
        ("deny", ("不是", "不用")),
    )

    async def aparse(self, text: str) -> dict[str, Any]:
        """A Rasa-shaped parse of `text` (Simplified, as the engine passes it)."""
        intent = next(
            (name for name, words in self.KEYWORDS if any(w in text for w in words)),
            "provide_info" if re.search(r"\d", text) else "nlu_fallback",
        )
        confidence = 1.0 if intent != "nlu_fallback" else 0.0
        return {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": intent, "confidence": confidence}],
            "entities": [],
        }

"""Command line for the case backend: `migrate`, `cases ...`, `staff ...`.

The JSON printed with `--json` is a stable interface (documented in `desk/README.md`):
keys are only ever added, never renamed or removed. Times are ISO 8601 in UTC in JSON, and
Beijing time (Asia/Shanghai, "2026-12-03 18:00") in text. On a domain error the command prints
the user-facing Chinese message (with `--json`: an `{"error": {"code", "message"}}` object on
stdout) and exits with status 1; a wrong argument (an unknown `--status`) exits with 2.

The staff steps are thin calls of `desk.services.Desk` (`StaffWork`), where the permission rule
of each action lives; nothing here decides who may do what.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desk.case_types import slot_label
from desk.errors import FileRefused
from desk.notices import OFFICE_TZ, RATING_LEVELS
from desk.states import ACTION_LABELS, CaseStatus
from desk.states import STATUS_LABELS as _TAXPAYER_STATUS_LABELS
from taxrules.masking import mask_taxpayer_id, redact_taxpayer_ids
from taxrules.periods import describe_period
from taxrules.phones import mask_phone
from taxrules.tax_types import TAX_TYPES

log = logging.getLogger(__name__)

#: Status labels for staff (the taxpayer's labels say "您").
STATUS_LABELS = {**_TAXPAYER_STATUS_LABELS, "waiting_taxpayer": "等待纳税人补充"}

if TYPE_CHECKING:  # the heavy imports wait until a command runs (keeps `--help` fast)
    from desk.models import Case, CaseEvent, FollowUp, ReviewItem
    from desk.runtime import DeskRuntime
    from desk.services import CaseDetail, Desk


def register(sub: Any) -> None:
    """Register `migrate`, `cases ...` and `staff ...` on the main parser."""
    mig = sub.add_parser("migrate", help="upgrade the database to the newest schema (Alembic)")
    mig.add_argument("--revision", default="head", help="target revision (default: head)")
    mig.set_defaults(handler=_cmd_migrate)

    cases = sub.add_parser(
        "cases", help="the case queue: list, show, open, claim, ask, complete, reject, ..."
    )
    csub = cases.add_subparsers(dest="cases_command", required=True, metavar="ACTION")

    p = csub.add_parser("list", help="list cases (default: active ones), by deadline")
    p.add_argument(
        "--status",
        choices=[str(s) for s in CaseStatus],
        help="one status (default: the active ones: queued, in_progress, waiting_taxpayer)",
    )
    p.add_argument("--type", dest="case_type", help="case type key")
    p.add_argument("--assignee", help="staff name")
    p.add_argument("--overdue", action="store_true", help="only overdue cases")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_run(_cases_list))

    p = csub.add_parser("show", help="one case with its history, attachments and outbox")
    p.add_argument("number")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_show))

    p = csub.add_parser("open", help="open and submit a case (a request taken by phone)")
    p.add_argument("--type", dest="case_type", required=True, help="case type key")
    p.add_argument("--taxpayer-id", required=True, help="18-character unified social credit code")
    p.add_argument("--slot", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--staff", help="staff member taking the request (recorded as the actor)")
    p.add_argument("--draft", action="store_true", help="leave it as a draft (collecting)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_open))

    p = csub.add_parser("claim", help="a staff member takes a queued case")
    p.add_argument("number")
    p.add_argument("--staff", required=True, help="staff name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_claim))

    p = csub.add_parser("complete", help="mark a case done with a note for the taxpayer")
    p.add_argument("number")
    p.add_argument("--note", required=True)
    p.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="PATH",
        help="a document produced for the taxpayer (e.g. the certificate), sent with the "
        "notice; checked like an upload; may be repeated",
    )
    p.add_argument("--staff", help="acting staff name (default: the assignee)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_complete))

    p = csub.add_parser("reject", help="reject a case with a reason for the taxpayer")
    p.add_argument("number")
    p.add_argument("--reason", required=True)
    p.add_argument("--staff", help="acting staff name (default: the assignee)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_reject))

    p = csub.add_parser("ask", help="ask the taxpayer a question (case waits for the answer)")
    p.add_argument("number")
    p.add_argument("--question", required=True)
    p.add_argument("--staff", help="acting staff name (default: the assignee)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_ask))

    p = csub.add_parser("release", help="give a claimed case back to the queue")
    p.add_argument("number")
    p.add_argument("--staff", help="acting staff name (default: the assignee)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_release))

    p = csub.add_parser("assign", help="a supervisor gives a case to a staff member")
    p.add_argument("number")
    p.add_argument("--to", required=True, help="staff name of the new assignee")
    p.add_argument("--staff", required=True, help="acting supervisor name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_assign))

    p = csub.add_parser("cancel", help="cancel an open case (the taxpayer is told)")
    p.add_argument("number")
    p.add_argument("--reason", help="told to the taxpayer")
    p.add_argument("--staff", help="acting staff name (default: the assignee)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_cancel))

    p = csub.add_parser("reopen", help="a supervisor reopens a done or rejected case")
    p.add_argument("number")
    p.add_argument("--reason", required=True)
    p.add_argument("--staff", required=True, help="acting supervisor name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_reopen))

    p = csub.add_parser("note", help="an internal note on a case (never sent to the taxpayer)")
    p.add_argument("number")
    p.add_argument("--text", required=True)
    p.add_argument("--staff", required=True, help="staff name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_note))

    p = csub.add_parser("actions", help="what a staff member may do with a case now")
    p.add_argument("number")
    p.add_argument("--staff", required=True, help="staff name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_actions))

    p = csub.add_parser(
        "follow-ups", help="open follow-ups (bad ratings, complaints), oldest first"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_follow_ups))

    p = csub.add_parser("follow-up-close", help="a supervisor closes a follow-up with a note")
    p.add_argument("follow_up_id", type=int, metavar="ID")
    p.add_argument("--note", required=True)
    p.add_argument("--staff", required=True, help="acting supervisor name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_follow_up_close))

    review = sub.add_parser("review", help="the review inbox: messages the NLU was unsure of")
    rsub = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    p = rsub.add_parser("list", help="open review items, oldest first")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_review_list))

    handlers = sub.add_parser(
        "handlers", help="registered tax handlers (办税人员): phone numbers per taxpayer ID"
    )
    hsub = handlers.add_subparsers(dest="handlers_command", required=True, metavar="ACTION")
    p = hsub.add_parser("add", help="register a handler's phone for a taxpayer ID")
    p.add_argument("taxpayer_id")
    p.add_argument("phone")
    p.add_argument("--name", help="the handler's name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_handlers_add))
    p = hsub.add_parser("list", help="the registered handlers of a taxpayer ID (masked)")
    p.add_argument("taxpayer_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_handlers_list))
    p = hsub.add_parser("remove", help="remove a registered phone")
    p.add_argument("taxpayer_id")
    p.add_argument("phone")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_handlers_remove))
    p = hsub.add_parser(
        "import", help="import a CSV file: taxpayer_id,phone[,name] (a header line is allowed)"
    )
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_handlers_import))

    vcode = sub.add_parser("verify-code", help="one-time verification codes for taxpayers")
    vsub = vcode.add_subparsers(dest="verify_command", required=True, metavar="ACTION")
    p = vsub.add_parser("issue", help="issue a code for a taxpayer ID (valid 24 h, single use)")
    p.add_argument("taxpayer_id")
    p.add_argument("--staff", help="who issues it (recorded)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_verify_code_issue))

    staff = sub.add_parser("staff", help="staff members")
    ssub = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    p = ssub.add_parser("add", help="add a staff member")
    p.add_argument("name")
    p.add_argument("--role", choices=["staff", "supervisor", "admin"], default="staff")
    p.add_argument("--telegram-id", type=int, help="Telegram user id")
    p.add_argument("--login", help="console login (default: the name, with --password)")
    p.add_argument(
        "--password",
        action="store_true",
        help="set a console password: asked at the terminal (or read from stdin's first line)",
    )
    p.add_argument(
        "--setup-link",
        action="store_true",
        help="print a one-time link (24 h) where the staff member sets their own password",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_staff_add))
    p = ssub.add_parser("passwd", help="set a staff member's console password")
    p.add_argument("name")
    p.add_argument("--login", help="console login (default: keep it, or the name)")
    p.set_defaults(handler=_run(_staff_passwd))


# ---------------------------------------------------------------------- plumbing


def _cmd_migrate(args: argparse.Namespace, settings: Any) -> int:
    from desk.migrate import upgrade

    url = settings.effective_database_url
    upgrade(url, args.revision)
    print(f"database upgraded to {args.revision}")
    return 0


Command = Callable[[argparse.Namespace, "Desk", "DeskRuntime"], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Output:
    """What a command returns when its text differs from a rendering of its JSON."""

    data: Any
    text: str


def _run(fn: Command) -> Callable[[argparse.Namespace, Any], int]:
    def handler(args: argparse.Namespace, settings: Any) -> int:
        return asyncio.run(_main(fn, args, settings))

    return handler


async def _main(fn: Command, args: argparse.Namespace, settings: Any) -> int:
    from desk.errors import DeskError
    from desk.runtime import DeskRuntime

    rt = await asyncio.to_thread(DeskRuntime.create, settings.effective_database_url)
    args.data_dir = getattr(settings, "data_dir", "var")  # where the attachment store lives
    args.settings = settings
    try:
        problem = await _schema_problem(rt)
        if problem is not None:
            return _fail(args, *problem)
        async with rt.sessions() as session:
            result = await fn(args, rt.desk(session), rt)
    except DeskError as exc:
        return _fail(args, exc.code, exc.user_message)
    finally:
        await rt.close()
    data, text = (result.data, result.text) if isinstance(result, Output) else (result, None)
    if getattr(args, "json", False):
        _print_json(data)
    else:
        print(text if text is not None else _human(data))
    return 0


async def _schema_problem(rt: DeskRuntime) -> tuple[str, str] | None:
    """Why the commands cannot work on this database (not migrated, outdated, unreachable),
    said before a command meets a missing table as a traceback."""
    from sqlalchemy.exc import DBAPIError

    logging.getLogger("alembic").setLevel(logging.WARNING)  # a check, not a migration
    from desk.migrate import schema_problem

    try:
        async with rt.engine.connect() as conn:
            return await conn.run_sync(schema_problem)
    except (DBAPIError, OSError) as exc:
        log.debug("database unreachable: %s", type(exc).__name__)
        return "database_unavailable", "无法连接数据库：请检查 DATABASE_URL 和数据库服务。"


def _fail(args: argparse.Namespace, code: str, message: str) -> int:
    if getattr(args, "json", False):
        _print_json({"error": {"code": code, "message": message}})
    else:
        print(message, file=sys.stderr)
    return 1


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False))


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def local_time(value: datetime | str | None) -> str:
    """A time for people: Beijing time, to the minute ("2026-12-03 18:00"); "-" for none."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(OFFICE_TZ).strftime("%Y-%m-%d %H:%M")


def tax_type_label(key: str | None) -> str:
    """The Chinese name of a tax type key ("vat" -> "增值税"); unknown keys as they are."""
    if not key:
        return "-"
    words = TAX_TYPES.get(str(key))
    return words[0] if words else str(key)


CLOSER_LABELS = {"done": "办结人", "rejected": "不予受理经办人", "cancelled": "取消人"}
DUE_LABELS = {"ok": "", "due_soon": "即将到期", "overdue": "已超期"}
EVENT_LABELS = {**ACTION_LABELS, "open": "登记", "set_slots": "填写信息", "attach": "上传材料"}


def case_json(
    case: Case,
    desk: Desk,
    assignee: str | None,
    *,
    closed_by: dict[str, Any] | None = None,
    verified: bool | None = None,
) -> dict[str, Any]:
    """The stable summary of a case (see desk/README.md). `verified`: whether it came from
    a chat verified for its taxpayer ID (`Desk.case_verified`; None: not looked up)."""
    slots = case.slots or {}
    tid = slots.get("taxpayer_id")
    return {
        "number": case.number,
        "case_type": case.case_type,
        "status": case.status,
        "assignee": assignee,
        "taxpayer_id_masked": mask_taxpayer_id(tid) if tid else None,
        "opened_at": _t(case.opened_at),
        "submitted_at": _t(case.submitted_at),
        "deadline_at": _t(case.deadline_at),
        "closed_at": _t(case.closed_at),
        "due": desk.due_state(case),
        "tax_type": slots.get("tax_type"),
        "tax_period": slots.get("tax_period"),
        "closed_by": closed_by,
        "verified": verified,
    }


def verified_label(verified: bool | None) -> str:
    """已验证 / 未验证 (whether the case came from a chat verified for its taxpayer ID)."""
    return "" if verified is None else ("已验证" if verified else "未验证")


def _actor(e: CaseEvent, names: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": e.actor_kind,
        "id": e.actor_id,
        "name": names.get(e.actor_id or "") if e.actor_kind == "staff" else None,
    }


def detail_json(d: CaseDetail, desk: Desk) -> dict[str, Any]:
    """The stable full view of a case (see desk/README.md)."""
    c = d.case
    closer = d.closed_by
    out = case_json(
        c,
        desk,
        d.staff_names.get(str(c.assignee_id)) if c.assignee_id else None,
        closed_by=_actor(closer, d.staff_names) if closer else None,
    )
    out.update(
        {
            "title": desk.catalog.get(c.case_type).title.zh_hans,
            "slots": _masked_slots(c.slots or {}),
            "note": c.note,
            "reason": c.reason,
            "events": [
                {
                    "at": _t(e.at),
                    "actor": _actor(e, d.staff_names),
                    "action": e.action,
                    "from": e.from_status,
                    "to": e.to_status,
                    "data": _masked_data(e.data),
                }
                for e in d.events
            ],
            "attachments": [
                {
                    "id": a.id,
                    "document_key": a.document_key,
                    "produced": a.produced,
                    "original_name": a.original_name,
                    "media_type": a.media_type,
                    "size": a.size,
                    "sha256": a.sha256,
                    "storage_key": a.storage_key,
                    "thumbnail_key": a.thumbnail_key,
                    "page_count": a.page_count,
                    "created_at": _t(a.created_at),
                }
                for a in d.attachments
            ],
            "outbox": [
                {
                    "id": o.id,
                    "kind": o.kind,
                    "channel": o.channel,
                    "chat_id": o.chat_id,
                    "status": o.status,
                    "attempts": o.attempts,
                    "idempotency_key": o.idempotency_key,
                    "created_at": _t(o.created_at),
                    "sent_at": _t(o.sent_at),
                    "last_error": o.last_error,
                }
                for o in d.outbox
            ],
            "rating": {
                "level": d.rating.level,
                "comment": d.rating.comment,
                "at": _t(d.rating.created_at),
            }
            if d.rating
            else None,
        }
    )
    return out


def _masked_slots(slots: dict[str, Any]) -> dict[str, Any]:
    """The slots with the taxpayer ID masked (CLI output never shows a full ID)."""
    tid = slots.get("taxpayer_id")
    return {**slots, "taxpayer_id": mask_taxpayer_id(str(tid))} if tid else dict(slots)


def _masked_data(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """An event's data with taxpayer IDs masked in its texts (a question, an answer)."""
    if not data:
        return data
    return {k: redact_taxpayer_ids(v) if isinstance(v, str) else v for k, v in data.items()}


def _who(actor: dict[str, Any] | None) -> str:
    if not actor:
        return "-"
    if actor["name"]:
        return str(actor["name"])
    if actor["kind"] == "taxpayer":
        return "纳税人"
    if actor["kind"] == "system":
        return "系统（命令行）" if actor["id"] == "cli" else f"系统（{actor['id']}）"
    return f"{actor['kind']}:{actor['id']}"


def _case_line(c: dict[str, Any]) -> str:
    """One case on one line: number, type, tax type and period, masked ID, status, deadline."""
    status = STATUS_LABELS.get(c["status"], c["status"])
    parts = [
        c["number"],
        c["case_type"],
        tax_type_label(c.get("tax_type")) if c.get("tax_type") else "",
        describe_period(c.get("tax_period")),
        c["taxpayer_id_masked"] or "-",
        verified_label(c.get("verified")),
        status,
        f"截止 {local_time(c['deadline_at'])}",
        DUE_LABELS.get(c["due"] or "", c["due"] or ""),
        c["assignee"] or "",
    ]
    return "  ".join(p for p in parts if p)


def _detail_text(d: dict[str, Any], slot_keys: list[str]) -> str:
    mark = verified_label(d.get("verified"))
    lines = [
        f"{d['number']}  {d['title']}  {STATUS_LABELS.get(d['status'], d['status'])}"
        + (f"  {mark}" if mark else ""),
        f"  承办 {d['assignee'] or '-'}"
        + (
            f"  {CLOSER_LABELS.get(d['status'], '结案')} {_who(d['closed_by'])}"
            if d["closed_by"]
            else ""
        ),
        f"  登记 {local_time(d['opened_at'])}  提交 {local_time(d['submitted_at'])}"
        f"  截止 {local_time(d['deadline_at'])}"
        + (f"  结案 {local_time(d['closed_at'])}" if d["closed_at"] else "")
        + (f"  {DUE_LABELS[d['due']]}" if DUE_LABELS.get(d["due"] or "") else ""),
    ]
    slots = d["slots"]
    for key in [*slot_keys, *[k for k in slots if k not in slot_keys]]:
        value = slots.get(key)
        if key == "tax_type" and value:
            value = f"{tax_type_label(value)}（{value}）"
        elif key == "tax_period" and value and describe_period(value) != value:
            value = f"{describe_period(value)}（{value}）"
        lines.append(f"  {slot_label(key)}：{value if value not in (None, '') else '-'}")
    if d["note"]:
        lines.append(f"  办结说明：{d['note']}")
    if d["reason"]:
        lines.append(f"  原因：{d['reason']}")
    if d["rating"]:
        lines.append(
            f"  评价：{RATING_LEVELS.get(d['rating']['level'], (d['rating']['level'],))[0]}"
            + (f"（{d['rating']['comment']}）" if d["rating"]["comment"] else "")
        )
    lines.append("  历史：")
    for e in d["events"]:
        data = e["data"] or {}
        said = next((data[k] for k in ("question", "note", "reason", "text") if data.get(k)), "")
        if e["action"] == "add_attachment":
            said = "、".join(str(n) for n in data.get("names") or [])
        if e["action"] == "assign" or data.get("assigned_by"):
            said = f"分派给 {data.get('assignee', '')}"
        frm = STATUS_LABELS.get(e["from"] or "", e["from"] or "")
        to = STATUS_LABELS.get(e["to"] or "", e["to"] or "")
        step = f"{frm} -> {to}" if frm and frm != to else to
        lines.append(
            f"    {local_time(e['at'])}  {_who(e['actor'])}  "
            f"{EVENT_LABELS.get(e['action'], e['action'])}  {step}" + (f"  {said}" if said else "")
        )
    for a in d["attachments"]:
        which = "办理结果" if a.get("produced") else (a["document_key"] or "补充")
        lines.append(f"  附件 {which}: {a['original_name']} ({a['size']} B)")
    for o in d["outbox"]:
        lines.append(f"  通知 {o['kind']}: {o['status']} ({o['channel']} {o['chat_id']})")
    return "\n".join(lines)


def _human(result: Any) -> str:
    if isinstance(result, list):
        if not result:
            return "（没有案件）"
        return "\n".join(_case_line(c) for c in result)
    if isinstance(result, dict) and "number" in result:
        return _case_line(result)
    if isinstance(result, dict) and "role" in result:
        return f"staff {result['name']} ({result['role']}) id={result['id']}"
    return json.dumps(result, ensure_ascii=False)


async def _summary(desk: Desk, case: Case) -> dict[str, Any]:
    detail = await desk.case_detail(case.number)
    closer = detail.closed_by
    return case_json(
        detail.case,
        desk,
        detail.staff_names.get(str(case.assignee_id)) if case.assignee_id else None,
        closed_by=_actor(closer, detail.staff_names) if closer else None,
    )


async def _stepped(desk: Desk, case: Case) -> dict[str, Any]:
    """After a staff step from the command line: the pinned card of the case's staff topic
    (when it has one) is refreshed and the topic renamed, as after a step taken in the topic;
    then the case as JSON."""
    await desk.refresh_case_card(case.number)
    return await _summary(desk, case)


async def _acting_staff(desk: Desk, number: str, name: str | None, action: str) -> int:
    """The staff member named by `--staff`, or else the case's assignee."""
    if name:
        return (await desk.staff_named(name)).id
    detail = await desk.case_detail(number)
    if detail.case.assignee_id is None:
        from desk.errors import StaffRequired

        raise StaffRequired(detail.case.number, action)
    return detail.case.assignee_id


# ---------------------------------------------------------------------- commands


async def _cases_list(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    assignee_id = (await desk.staff_named(args.assignee)).id if args.assignee else None
    rows = await desk.queue(
        status=args.status,
        case_type=args.case_type,
        assignee_id=assignee_id,
        overdue=args.overdue,
        limit=args.limit,
    )
    names = {}
    for c in rows:
        if c.assignee_id and c.assignee_id not in names:
            names[c.assignee_id] = (await desk.case_detail(c.number)).staff_names.get(
                str(c.assignee_id)
            )
    return [
        case_json(
            c,
            desk,
            names.get(c.assignee_id) if c.assignee_id else None,
            verified=await desk.case_verified(c),
        )
        for c in rows
    ]


async def _cases_show(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    detail = await desk.case_detail(args.number)
    data = detail_json(detail, desk)
    data["verified"] = await desk.case_verified(detail.case)
    return Output(data, _detail_text(data, list(desk.catalog.get(detail.case.case_type).slots)))


def _parse_slots(pairs: list[str]) -> dict[str, str]:
    slots: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--slot expects KEY=VALUE, got {pair!r}")
        slots[key.strip()] = value.strip()
    return slots


async def _cases_open(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    ct = desk.catalog.get(args.case_type)
    slots = _parse_slots(args.slot)
    if "taxpayer_id" in ct.slots:
        slots.setdefault("taxpayer_id", args.taxpayer_id)
    from desk.services import Actor

    actor = Actor.system("cli")
    if args.staff:
        actor = Actor.staff((await desk.staff_named(args.staff)).id)
    taxpayer = await desk.taxpayer_for_tax_id(args.taxpayer_id)
    from desk import repositories as repo

    conv = await repo.latest_conversation(desk.session, taxpayer.id)
    opener = desk.open_case if args.draft else desk.open_and_submit
    case = await opener(
        ct.key,
        taxpayer_id=taxpayer.id,
        conversation_id=conv.id if conv else None,
        slots=slots,
        actor=actor,
    )
    return await _summary(desk, case)


async def _cases_claim(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    staff = await desk.staff_named(args.staff)
    return await _stepped(desk, await desk.claim(args.number, staff.id))


async def _cases_complete(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    staff_id = await _acting_staff(desk, args.number, args.staff, "办结")
    ids: list[int] = []
    if args.file:
        from intake.storage import LocalAttachmentStore

        store = LocalAttachmentStore(Path(args.data_dir) / "attachments")
        for name in args.file:
            path = await asyncio.to_thread(Path(name).expanduser)
            try:
                data = await asyncio.to_thread(path.read_bytes)
            except OSError as e:
                raise FileRefused(f"读不到文件 {path}：{e.strerror or e}") from None
            ids.append((await desk.check_and_store(store, data, path.name)).id)
    case = await desk.complete(args.number, staff_id, args.note, attachment_ids=ids)
    return await _stepped(desk, case)


async def _cases_reject(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    staff_id = await _acting_staff(desk, args.number, args.staff, "不予受理")
    return await _stepped(desk, await desk.reject(args.number, staff_id, args.reason))


async def _cases_ask(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    staff_id = await _acting_staff(desk, args.number, args.staff, "提问")
    return await _stepped(desk, await desk.ask_taxpayer(args.number, staff_id, args.question))


async def _cases_release(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    staff_id = await _acting_staff(desk, args.number, args.staff, "退回队列")
    return await _stepped(desk, await desk.release(args.number, staff_id))


async def _cases_assign(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    boss = await desk.staff_named(args.staff)
    target = await desk.staff_named(args.to)
    return await _stepped(desk, await desk.assign(args.number, boss.id, target.id))


async def _cases_cancel(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    from desk.services import Actor

    staff_id = await _acting_staff(desk, args.number, args.staff, "取消")
    reason = (args.reason or "").strip() or None
    case = await desk.cancel(args.number, actor=Actor.staff(staff_id), reason=reason)
    return await _stepped(desk, case)


async def _cases_reopen(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    boss = await desk.staff_named(args.staff)
    return await _stepped(desk, await desk.reopen(args.number, boss.id, args.reason))


async def _cases_note(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    staff = await desk.staff_named(args.staff)
    return await _summary(desk, await desk.add_note(args.number, staff.id, args.text))


async def _cases_actions(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    from desk.services import PERMISSIONS

    staff = await desk.staff_named(args.staff)
    actions = await desk.allowed_actions(args.number, staff.id)
    labels = [f"{a}（{PERMISSIONS[a].label}）" for a in actions]
    text = "、".join(labels) if labels else f"{staff.name} 现在不能对这个案件做任何操作。"
    return Output({"number": args.number.strip().upper(), "actions": actions}, text)


def _follow_up_json(f: FollowUp) -> dict[str, Any]:
    return {
        "id": f.id,
        "kind": f.kind,
        "case_id": f.case_id,
        "conversation_id": f.conversation_id,
        "text": redact_taxpayer_ids(f.text) if f.text else None,
        "due_at": _t(f.due_at),
        "status": f.status,
        "note": f.note,
        "created_at": _t(f.created_at),
        "closed_at": _t(f.closed_at),
    }


async def _follow_ups(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    from desk.models import Case as CaseRow

    rows = await desk.open_follow_ups()
    out = []
    for f in rows:
        item = _follow_up_json(f)
        case = await desk.session.get(CaseRow, f.case_id) if f.case_id else None
        item["case_number"] = case.number if case else None
        out.append(item)
    await desk.session.commit()
    text = "\n".join(_follow_up_line(i) for i in out) or "（没有待处理的回访）"
    return Output(out, text)


def _follow_up_line(item: dict[str, Any]) -> str:
    """`#3  -  complaint  12-02 10:15  due 12-04 18:00  "态度太差了"`."""
    line = f"#{item['id']}  {item['case_number'] or '-'}  {item['kind']}"
    line += f"  {local_time(item['created_at'])}"
    if item.get("due_at"):
        line += f"  due {local_time(item['due_at'])}"
    if item.get("text"):
        text = str(item["text"]).replace("\n", " ")
        line += f"  “{text[:60]}{'…' if len(text) > 60 else ''}”"
    return line


async def _follow_up_close(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    boss = await desk.staff_named(args.staff)
    f = await desk.close_follow_up(args.follow_up_id, boss.id, args.note)
    data = _follow_up_json(f)
    return Output(data, f"回访 #{f.id} 已关闭：{f.note}")


def _review_json(r: ReviewItem) -> dict[str, Any]:
    return {
        "id": r.id,
        "text": redact_taxpayer_ids(r.text),
        "reason": r.reason,
        "status": r.status,
        "conversation_id": r.conversation_id,
        "created_at": _t(r.created_at),
    }


async def _review_list(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    out = [_review_json(r) for r in await desk.review_items(limit=args.limit)]
    text = (
        "\n".join(
            f"#{r['id']}  {local_time(r['created_at'])}  {r['reason']}  {r['text']}" for r in out
        )
        or "（没有待复核的消息）"
    )
    return Output(out, text)


def read_password(prompt: str = "密码（至少 8 个字符）：") -> str:
    """A password from the terminal (not echoed), or the first line of stdin in a pipe."""
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("再输入一次：") != first:
            raise SystemExit("两次输入的密码不一致。")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _staff_add(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    password = await asyncio.to_thread(read_password) if args.password else None
    if password is not None:
        from desk.services.accounts import hash_password

        hashed = await asyncio.to_thread(hash_password, password)
    link = getattr(args, "setup_link", False)
    m = await desk.add_staff(
        args.name,
        args.role,
        telegram_user_id=args.telegram_id,
        login=args.login or (args.name if password is not None or link else None),
        password_hash=hashed if password is not None else None,
    )
    data = {
        "id": m.id,
        "name": m.name,
        "role": m.role,
        "telegram_user_id": m.telegram_user_id,
        "login": m.login,
    }
    if not link:
        return data
    from desk.keys import load_secret

    settings = args.settings
    configured = settings.console_secret.get_secret_value() if settings.console_secret else None
    key = await asyncio.to_thread(load_secret, settings.data_dir, configured)
    token = await desk.setup_token(m.id, key)
    base = (settings.public_url or f"http://localhost:{settings.port}").rstrip("/")
    data["setup_link"] = f"{base}/console/setup/{token}"
    return Output(
        data,
        f"staff {m.name} ({m.role}) id={m.id} login={m.login}\n"
        f"一次性设置密码链接（24 小时内有效，只能用一次）：\n{data['setup_link']}",
    )


async def _staff_passwd(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    member = await desk.staff_named(args.name)
    password = await asyncio.to_thread(read_password)
    await desk.set_password(member.id, password, login=args.login)
    return Output({"id": member.id, "name": member.name}, f"已设置 {member.name} 的密码。")


def _handler_json(h: Any) -> dict[str, Any]:
    return {
        "taxpayer_id_masked": mask_taxpayer_id(h.tax_id),
        "phone_masked": mask_phone(h.phone),
        "name": h.name,
    }


async def _handlers_add(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    h = await desk.add_handler(args.taxpayer_id, args.phone, args.name)
    data = _handler_json(h)
    return Output(data, f"已登记办税人员 {data['phone_masked']}（{data['taxpayer_id_masked']}）")


async def _handlers_list(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    out = [_handler_json(h) for h in await desk.handlers(args.taxpayer_id)]
    text = "\n".join(f"{h['phone_masked']}  {h['name'] or ''}".rstrip() for h in out)
    return Output(out, text or "（没有登记的办税人员）")


async def _handlers_remove(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    removed = await desk.remove_handler(args.taxpayer_id, args.phone)
    return Output({"removed": removed}, "已删除" if removed else "没有这个登记，未作改动")


def _read_handler_csv(path: str) -> list[tuple[int, str, str, str | None]]:
    """`(line, taxpayer_id, phone, name)` rows of a CSV file in UTF-8 (BOM allowed) or GBK."""
    import csv
    import io
    from pathlib import Path

    rows: list[tuple[int, str, str, str | None]] = []
    raw = Path(path).read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError:  # Excel on a Chinese Windows saves CSV as GBK
        content = raw.decode("gb18030")
    for line, row in enumerate(csv.reader(io.StringIO(content, newline="")), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if line == 1 and cells[0].lower() in ("taxpayer_id", "纳税人识别号", "tax_id"):
            continue
        tax_id, phone = cells[0], cells[1] if len(cells) > 1 else ""
        rows.append((line, tax_id, phone, cells[2] if len(cells) > 2 and cells[2] else None))
    return rows


async def _handlers_import(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    try:
        rows = await asyncio.to_thread(_read_handler_csv, args.file)
    except OSError as e:
        from desk.errors import DeskError

        raise DeskError(
            f"cannot read {args.file}", f"读不到文件 {args.file}：{e.strerror or e}"
        ) from None
    result = await desk.import_handlers(rows)
    data = {"added": result.added, "existing": result.existing, "errors": list(result.errors)}
    text = f"新增 {result.added} 条，已存在 {result.existing} 条，出错 {len(result.errors)} 条"
    return Output(data, "\n".join([text, *result.errors]))


async def _verify_code_issue(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    code = await desk.issue_code(args.taxpayer_id, issued_by=args.staff)
    masked = mask_taxpayer_id(args.taxpayer_id)
    text = (
        f"{code}\n"
        f"纳税人 {masked} 的一次性验证码，24 小时内有效，只能用一次。"
        f"请纳税人在聊天中发送：验证码 {code}"
    )
    return Output({"code": code, "taxpayer_id_masked": masked, "valid_hours": 24}, text)

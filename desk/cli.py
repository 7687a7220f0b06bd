"""Command line for the case backend: `migrate`, `cases ...`, `staff ...`.

The JSON printed with `--json` is a stable interface (documented in `desk/README.md`):
keys are only ever added, never renamed or removed. Times are ISO 8601 in UTC. On a domain
error the command prints the user-facing Chinese message (with `--json`: an
`{"error": {"code", "message"}}` object on stdout) and exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from desk.states import STATUS_LABELS
from taxrules.masking import mask_taxpayer_id

if TYPE_CHECKING:  # the heavy imports wait until a command runs (keeps `--help` fast)
    from desk.models import Case
    from desk.runtime import DeskRuntime
    from desk.services import CaseDetail, Desk


def register(sub: Any) -> None:
    """Register `migrate`, `cases ...` and `staff ...` on the main parser."""
    mig = sub.add_parser("migrate", help="upgrade the database to the newest schema (Alembic)")
    mig.add_argument("--revision", default="head", help="target revision (default: head)")
    mig.set_defaults(handler=_cmd_migrate)

    cases = sub.add_parser("cases", help="the case queue: list, show, open, claim, complete")
    csub = cases.add_subparsers(dest="cases_command", required=True, metavar="ACTION")

    p = csub.add_parser("list", help="list cases (default: active ones), by deadline")
    p.add_argument("--status", help="collecting|queued|in_progress|waiting_taxpayer|done|...")
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
    p.add_argument("--staff", help="acting staff name (default: the assignee)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_complete))

    p = csub.add_parser("reject", help="reject a case with a reason for the taxpayer")
    p.add_argument("number")
    p.add_argument("--reason", required=True)
    p.add_argument("--staff", help="acting staff name (default: the assignee)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_cases_reject))

    staff = sub.add_parser("staff", help="staff members")
    ssub = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    p = ssub.add_parser("add", help="add a staff member")
    p.add_argument("name")
    p.add_argument("--role", choices=["staff", "supervisor", "admin"], default="staff")
    p.add_argument("--telegram-id", type=int, help="Telegram user id")
    p.add_argument("--login", help="console login (set the password in the console)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_run(_staff_add))


# ---------------------------------------------------------------------- plumbing


def _cmd_migrate(args: argparse.Namespace, settings: Any) -> int:
    from desk.migrate import upgrade

    url = settings.effective_database_url
    upgrade(url, args.revision)
    print(f"database upgraded to {args.revision}")
    return 0


Command = Callable[[argparse.Namespace, "Desk", "DeskRuntime"], Awaitable[Any]]


def _run(fn: Command) -> Callable[[argparse.Namespace, Any], int]:
    def handler(args: argparse.Namespace, settings: Any) -> int:
        return asyncio.run(_main(fn, args, settings))

    return handler


async def _main(fn: Command, args: argparse.Namespace, settings: Any) -> int:
    from desk.errors import DeskError
    from desk.runtime import DeskRuntime

    rt = await asyncio.to_thread(DeskRuntime.create, settings.effective_database_url)
    try:
        async with rt.sessions() as session:
            result = await fn(args, rt.desk(session), rt)
    except DeskError as exc:
        if getattr(args, "json", False):
            _print_json({"error": {"code": exc.code, "message": exc.user_message}})
        else:
            print(exc.user_message, file=sys.stderr)
        return 1
    finally:
        await rt.close()
    if getattr(args, "json", False):
        _print_json(result)
    else:
        print(_human(result))
    return 0


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False))


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def case_json(case: Case, desk: Desk, assignee: str | None) -> dict[str, Any]:
    """The stable summary of a case (see desk/README.md)."""
    tid = (case.slots or {}).get("taxpayer_id")
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
    }


def detail_json(d: CaseDetail, desk: Desk) -> dict[str, Any]:
    """The stable full view of a case (see desk/README.md)."""
    c = d.case
    out = case_json(c, desk, d.staff_names.get(str(c.assignee_id)) if c.assignee_id else None)
    out.update(
        {
            "title": desk.catalog.get(c.case_type).title.zh_hans,
            "slots": _masked_slots(c.slots or {}),
            "note": c.note,
            "reason": c.reason,
            "events": [
                {
                    "at": _t(e.at),
                    "actor": {
                        "kind": e.actor_kind,
                        "id": e.actor_id,
                        "name": d.staff_names.get(e.actor_id or "")
                        if e.actor_kind == "staff"
                        else None,
                    },
                    "action": e.action,
                    "from": e.from_status,
                    "to": e.to_status,
                    "data": e.data,
                }
                for e in d.events
            ],
            "attachments": [
                {
                    "id": a.id,
                    "document_key": a.document_key,
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


def _human(result: Any) -> str:
    if isinstance(result, list):
        if not result:
            return "（没有案件）"
        lines = []
        for c in result:
            status = STATUS_LABELS.get(c["status"], c["status"])
            lines.append(
                f"{c['number']}  {c['case_type']:<20} {status}"
                f"  截止 {c['deadline_at'] or '-'}  {c['due'] or ''}  {c['assignee'] or ''}"
            )
        return "\n".join(lines)
    if isinstance(result, dict) and "events" in result:
        lines = [
            f"{result['number']}  {result['title']}  "
            f"{STATUS_LABELS.get(result['status'], result['status'])}",
            f"  纳税人识别号 {result['taxpayer_id_masked'] or '-'}"
            f"  承办 {result['assignee'] or '-'}"
            f"  截止 {result['deadline_at'] or '-'}",
        ]
        for e in result["events"]:
            who = e["actor"]["name"] or f"{e['actor']['kind']}:{e['actor']['id']}"
            lines.append(f"  {e['at']}  {who:<12} {e['action']:<10} {e['from']} -> {e['to']}")
        for a in result["attachments"]:
            lines.append(f"  附件 {a['document_key']}: {a['original_name']} ({a['size']} B)")
        for o in result["outbox"]:
            lines.append(f"  通知 {o['kind']}: {o['status']} ({o['channel']} {o['chat_id']})")
        return "\n".join(lines)
    if isinstance(result, dict) and "number" in result:
        return (
            f"{result['number']}  {result['case_type']}  "
            f"{STATUS_LABELS.get(result['status'], result['status'])}"
            f"  截止 {result['deadline_at'] or '-'}"
        )
    if isinstance(result, dict) and "role" in result:
        return f"staff {result['name']} ({result['role']}) id={result['id']}"
    return json.dumps(result, ensure_ascii=False)


async def _summary(desk: Desk, case: Case) -> dict[str, Any]:
    detail = await desk.case_detail(case.number)
    return case_json(
        detail.case,
        desk,
        detail.staff_names.get(str(case.assignee_id)) if case.assignee_id else None,
    )


async def _acting_staff(desk: Desk, number: str, name: str | None) -> int:
    if name:
        return (await desk.staff_named(name)).id
    detail = await desk.case_detail(number)
    if detail.case.assignee_id is None:
        from desk.errors import IllegalTransition

        raise IllegalTransition(detail.case.number, detail.case.status, "complete")
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
    return [case_json(c, desk, names.get(c.assignee_id) if c.assignee_id else None) for c in rows]


async def _cases_show(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    return detail_json(await desk.case_detail(args.number), desk)


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
    case = await desk.open_case(
        ct.key,
        taxpayer_id=taxpayer.id,
        conversation_id=conv.id if conv else None,
        slots=slots,
        actor=actor,
    )
    if not args.draft:
        case = await desk.submit(case.number, actor=actor)
    return await _summary(desk, case)


async def _cases_claim(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    staff = await desk.staff_named(args.staff)
    return await _summary(desk, await desk.claim(args.number, staff.id))


async def _cases_complete(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    staff_id = await _acting_staff(desk, args.number, args.staff)
    return await _summary(desk, await desk.complete(args.number, staff_id, args.note))


async def _cases_reject(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    staff_id = await _acting_staff(desk, args.number, args.staff)
    return await _summary(desk, await desk.reject(args.number, staff_id, args.reason))


async def _staff_add(args: argparse.Namespace, desk: Desk, rt: DeskRuntime) -> Any:
    m = await desk.add_staff(
        args.name, args.role, telegram_user_id=args.telegram_id, login=args.login
    )
    return {
        "id": m.id,
        "name": m.name,
        "role": m.role,
        "telegram_user_id": m.telegram_user_id,
        "login": m.login,
    }

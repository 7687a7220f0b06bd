"""A case's page `/console/cases/{number}`: slots, checklist, attachments, history, rating,
internal notes, and the staff actions the desk allows this staff member now
(`Desk.allowed_actions`), each a form posted to `/console/cases/{number}/{action}`; its
fragment (`?partial=1`) and event stream (`/events`, a `changed` event when the case's stamp
moves) keep it live. And the attachment downloads `/console/attachments/{id}` (`/thumb`,
`/preview`).

Every action is a thin call of the same `Desk` staff operation the CLI and the staff topics
use; the desk decides (a refusal is its `DeskError`, whose Chinese `user_message` is shown
with the form still holding what was typed). Attachments: the id is an integer in the route
(anything else does not match: 404), the desk says whether this staff member may read it
(`Desk.attachment_for_staff`: any active staff member, files of a case or of a
conversation; else 404), the bytes come from the attachment store by the row's stored key
(nothing of the request is ever a path), sent with the stored content type, `nosniff`, a
sandboxing CSP, and `Content-Disposition: attachment` except for JPEG/PNG images and the
PNG preview of a PDF's first page (`inline`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from console.app import DEPS
from console.auth import STAFF, require
from console.live import Versions
from console.streams import change_stream, install
from desk.case_types import slot_label
from desk.cli import EVENT_LABELS, STATUS_LABELS, tax_type_label
from desk.errors import CaseNotFound, DeskError, NotFound, StaffNotFound
from desk.notices import RATING_LEVELS
from desk.services import CaseDetail, StaffIdentity
from intake.documents import pdf_preview_png_async
from intake.storage import LocalAttachmentStore, StorageError
from taxrules.masking import mask_taxpayer_id, redact_taxpayer_ids
from taxrules.periods import describe_period

if TYPE_CHECKING:
    from desk.models import Attachment

log = logging.getLogger(__name__)

#: The actions with a form here, in the order of `desk.services.permissions.CASE_ACTIONS`.
FORMS = ("claim", "assign", "ask_taxpayer", "complete", "reject", "release", "reopen", "note")
#: The text field each form sends.
TEXT_FIELD = {
    "ask_taxpayer": "question",
    "complete": "note",
    "reject": "reason",
    "reopen": "reason",
    "note": "text",
}
DONE = {
    "claim": "已认领，案件由您承办。",
    "assign": "已分派。",
    "ask_taxpayer": "问题已发给纳税人，案件转为等待补充。",
    "complete": "已办结，纳税人会收到办结通知和评价邀请。",
    "reject": "已作不予受理处理，纳税人会收到原因。",
    "release": "已退回队列。",
    "reopen": "案件已重新打开，回到队列。",
    "note": "内部备注已保存。",
}
DATA_LABELS = {
    "question": "问题",
    "answer": "答复",
    "text": "内容",
    "note": "办结说明",
    "reason": "原因",
    "assignee": "承办人",
    "assigned_by": "分派人",
}
INLINE_TYPES = frozenset({"image/jpeg", "image/png"})
SERVED_TYPES = frozenset({"image/jpeg", "image/png", "application/pdf"})
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
RESELECT = "（所选文件未保存，请重新选择。）"
PREVIEWS = 64  # PDF previews kept in memory (by content hash)


def store_of(request: web.Request) -> LocalAttachmentStore:
    """The attachment store the intake writes to (`data_dir/attachments`)."""
    return LocalAttachmentStore(request.app[DEPS].data_dir / "attachments")


# ---------------------------------------------------------------------------------- the page


@dataclass
class ChecklistItem:
    key: str
    title: str
    required: bool
    files: list[Attachment]


def _slots(detail: CaseDetail, slot_keys: tuple[str, ...]) -> list[tuple[str, str]]:
    slots = detail.case.slots or {}
    out = []
    for key in [*slot_keys, *[k for k in slots if k not in slot_keys]]:
        value = slots.get(key)
        if key == "taxpayer_id" and value:
            text = mask_taxpayer_id(str(value))  # always masked when shown (PRODUCT.md)
        elif key == "tax_type" and value:
            text = f"{tax_type_label(value)}（{value}）"
        elif key == "tax_period" and value:
            text = describe_period(str(value)) or str(value)
        else:
            text = "" if value in (None, "") else str(value)
        out.append((slot_label(key), text or "—"))
    return out


def _who(event: Any, names: dict[str, str]) -> str:
    if event.actor_kind == "staff":
        return names.get(event.actor_id or "", f"工作人员 {event.actor_id}")
    if event.actor_kind == "taxpayer":
        return "纳税人"
    return "系统"


async def _context(
    request: web.Request,
    number: str,
    *,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    failed: str | None = None,
) -> dict[str, Any]:
    deps = request.app[DEPS]
    staff: StaffIdentity = request[STAFF]
    async with deps.runtime.sessions() as s:
        desk = deps.runtime.desk(s)
        try:
            detail = await desk.case_detail(number)
        except CaseNotFound:
            raise web.HTTPNotFound(text=f"没有编号为 {number[:40]} 的案件。") from None
        verified = await desk.case_verified(detail.case)
        actions = await desk.allowed_actions(detail.case.number, staff.id)
        choices = await desk.assignable_staff() if "assign" in actions else []
    case = detail.case
    ct = deps.runtime.catalog.get(case.case_type)
    theirs = [a for a in detail.attachments if not a.produced]
    checklist = [
        ChecklistItem(
            d.key, d.title.zh_hans, d.required, [a for a in theirs if a.document_key == d.key]
        )
        for d in ct.documents
    ]
    keys = {d.key for d in ct.documents}
    return {
        "case": case,
        "detail": detail,
        "title": ct.title.zh_hans,
        "status_label": STATUS_LABELS.get(case.status, case.status),
        "status_labels": STATUS_LABELS,
        "verified": verified,
        "slots": _slots(detail, ct.slots),
        "checklist": checklist,
        "others": [a for a in theirs if a.document_key not in keys],
        "produced": [a for a in detail.attachments if a.produced],
        "events": detail.events,
        "notes": [
            (e, redact_taxpayer_ids(str((e.data or {}).get("text", ""))))
            for e in detail.events
            if e.action == "note"
        ],
        "event_label": lambda e: EVENT_LABELS.get(e.action, e.action),
        "who": lambda e: _who(e, detail.staff_names),
        "data_items": lambda e: [
            (DATA_LABELS.get(k, k), redact_taxpayer_ids(v))
            for k, v in (e.data or {}).items()
            if isinstance(v, str) and v and k in DATA_LABELS
        ],
        "assignee": detail.staff_names.get(str(case.assignee_id)) if case.assignee_id else None,
        "rating_label": RATING_LEVELS.get(detail.rating.level, (detail.rating.level,))[0]
        if detail.rating
        else None,
        "actions": [a for a in FORMS if a in actions],
        "choices": [c for c in choices if c.id != case.assignee_id],
        "stamp": f"{case.version}-{max((e.id for e in detail.events), default=0)}",
        "error": error,
        "typed": typed or {},
        "failed": failed,
        "done": DONE.get(request.query.get("done", "")),
    }


@require("staff")
async def case_page(request: web.Request) -> web.StreamResponse:
    number = request.match_info["number"].strip().upper()
    ctx = await _context(request, number)
    template = "case_body.html" if request.query.get("partial") == "1" else "case.html"
    response = aiohttp_jinja2.render_template(template, request, ctx)
    response.headers["Cache-Control"] = "no-store"
    return response


@require("staff")
async def case_events(request: web.Request) -> web.StreamResponse:
    """A `changed` event when this case changed (its version or its history moved)."""
    deps = request.app[DEPS]
    number = request.match_info["number"].strip().upper()

    async def stamp() -> tuple[int, int] | None:
        async with deps.runtime.sessions() as s:
            return await deps.runtime.desk(s).case_stamp(number)

    last = await stamp()
    if last is None:
        raise web.HTTPNotFound(text="没有这个案件。")
    shown = _stamp_of(request.query.get("since", ""))
    first = shown is not None and shown != last  # changed since the page was rendered
    if first:
        last = shown
    last_event = deps.live.versions.case_event

    async def changed(now: Versions) -> str | None:
        nonlocal last, last_event, first
        if now.case_event == last_event and not first:
            return None
        first = False
        last_event = now.case_event
        current = await stamp()
        if current == last:
            return None
        last = current
        return "-".join(map(str, current or ()))

    return await change_stream(request, changed)


def _stamp_of(value: str) -> tuple[int, int] | None:
    """A page's `?since=` stamp ("version-event"), or None."""
    version, _, event = value.partition("-")
    if version.isdigit() and event.isdigit():
        return int(version), int(event)
    return None


# ---------------------------------------------------------------------------------- actions


async def _read_upload(field: Any) -> tuple[bytes, str | None] | None:
    """The bytes and file name of an uploaded file field, or None when none was chosen."""
    if not isinstance(field, web.FileField) or not field.filename:
        return None
    data = await asyncio.to_thread(field.file.read)
    return (data, field.filename) if data else None


async def _act(request: web.Request, number: str, action: str, form: Any) -> None:
    """Take `action` on the case through the desk (raises the desk's refusal)."""
    deps = request.app[DEPS]
    staff: StaffIdentity = request[STAFF]
    text = str(form.get(TEXT_FIELD.get(action, ""), "") or "")
    async with deps.runtime.sessions() as s:
        desk = deps.runtime.desk(s)
        if action == "claim":
            await desk.claim(number, staff.id)
        elif action == "release":
            await desk.release(number, staff.id)
        elif action == "assign":
            raw = str(form.get("assignee_id", ""))
            if not raw.isdigit():
                raise StaffNotFound(raw[:20] or "—")
            await desk.assign(number, staff.id, int(raw))
        elif action == "ask_taxpayer":
            await desk.ask_taxpayer(number, staff.id, text)
        elif action == "reject":
            await desk.reject(number, staff.id, text)
        elif action == "reopen":
            await desk.reopen(number, staff.id, text)
        elif action == "note":
            await desk.add_note(number, staff.id, text)
        elif action == "complete":
            await desk.check_action(number, staff.id, "complete")  # before storing a file
            ids = []
            upload = await _read_upload(form.get("file"))
            if upload is not None:
                data, filename = upload
                ids.append((await desk.check_and_store(store_of(request), data, filename)).id)
            await desk.complete(number, staff.id, text, attachment_ids=ids)


@require("staff")
async def case_action(request: web.Request) -> web.StreamResponse:
    number = request.match_info["number"].strip().upper()
    action = request.match_info["action"]
    if action not in FORMS:
        raise web.HTTPNotFound(text="没有这个操作。")
    form = await request.post()
    try:
        await _act(request, number, action, form)
    except CaseNotFound:
        raise web.HTTPNotFound(text=f"没有编号为 {number[:40]} 的案件。") from None
    except DeskError as exc:
        typed = {action: str(form.get(TEXT_FIELD.get(action, ""), "") or "")}
        message = exc.user_message
        upload = form.get("file")
        if isinstance(upload, web.FileField) and upload.filename:
            message += RESELECT  # a browser cannot refill a file input
        ctx = await _context(request, number, error=message, typed=typed, failed=action)
        status = 403 if exc.code == "permission_denied" else 409
        if exc.code in ("missing_text", "file_refused", "staff_not_found"):
            status = 400
        return aiohttp_jinja2.render_template("case.html", request, ctx, status=status)
    request.app[DEPS].live.poke()
    raise web.HTTPSeeOther(f"/console/cases/{quote(number)}?done={action}")


# ---------------------------------------------------------------------------------- files


def _download_name(att: Attachment) -> str:
    """A safe file name: the original one's letters, digits, CJK and a few marks, with the
    stored file's extension."""
    ext = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}.get(
        att.media_type, ".bin"
    )
    stem = unicodedata.normalize("NFKC", att.original_name or "").rsplit(".", 1)[0]
    stem = re.sub(r"[^\w\-\u4e00-\u9fff（）()]+", "_", stem).strip("._")[:80]
    return (stem or f"attachment-{att.id}") + ext


def _file_response(body: bytes, content_type: str, disposition: str, name: str) -> web.Response:
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return web.Response(
        body=body,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": (
                f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": FILE_CSP,
            "Cache-Control": "private, no-cache",
            "Cross-Origin-Resource-Policy": "same-origin",
        },
    )


async def _attachment(request: web.Request) -> Attachment:
    """The attachment of the URL's id, if this staff member may read it (else 404)."""
    deps = request.app[DEPS]
    staff: StaffIdentity = request[STAFF]
    attachment_id = int(request.match_info["id"])  # the route only matches digits
    if attachment_id > 2**62:
        raise web.HTTPNotFound(text="找不到这个文件。")
    async with deps.runtime.sessions() as s:
        try:
            return await deps.runtime.desk(s).attachment_for_staff(attachment_id, staff.id)
        except NotFound:
            raise web.HTTPNotFound(text="找不到这个文件。") from None
        except StaffNotFound:
            raise web.HTTPForbidden(text="您的账号已停用。") from None


async def _blob(request: web.Request, key: str | None) -> bytes:
    if not key:
        raise web.HTTPNotFound(text="这个文件没有缩略图或预览。")
    try:
        return await store_of(request).get(key)
    except StorageError as exc:
        log.warning("attachment blob unreadable: %s", type(exc).__name__)
        raise web.HTTPNotFound(text="文件已不在存储中，请联系管理员。") from None


@require("staff")
async def attachment_file(request: web.Request) -> web.StreamResponse:
    att = await _attachment(request)
    body = await _blob(request, att.storage_key)
    served = att.media_type if att.media_type in SERVED_TYPES else "application/octet-stream"
    inline = served in INLINE_TYPES and request.query.get("download") != "1"
    return _file_response(body, served, "inline" if inline else "attachment", _download_name(att))


@require("staff")
async def attachment_thumb(request: web.Request) -> web.StreamResponse:
    att = await _attachment(request)
    body = await _blob(request, att.thumbnail_key)
    return _file_response(body, "image/jpeg", "inline", f"thumb-{att.id}.jpg")


@require("staff")
async def attachment_preview(request: web.Request) -> web.StreamResponse:
    """A PNG of a PDF's first page (when it is a scan; else 404)."""
    att = await _attachment(request)
    if att.media_type != "application/pdf":
        raise web.HTTPNotFound(text="只有 PDF 文件有首页预览。")
    cache: OrderedDict[str, bytes | None] = request.app[PREVIEW_CACHE]
    if att.sha256 in cache:
        png = cache[att.sha256]
        cache.move_to_end(att.sha256)
    else:
        png = await pdf_preview_png_async(await _blob(request, att.storage_key))
        cache[att.sha256] = png
        while len(cache) > PREVIEWS:
            cache.popitem(last=False)
    if png is None:
        raise web.HTTPNotFound(text="这个 PDF 的首页不是扫描图片，无法预览，请下载查看。")
    return _file_response(png, "image/png", "inline", f"preview-{att.id}.png")


PREVIEW_CACHE: web.AppKey[OrderedDict[str, bytes | None]] = web.AppKey("pdf_previews", OrderedDict)


def setup(app: web.Application) -> None:
    install(app)
    app[PREVIEW_CACHE] = OrderedDict()
    number = r"{number:[A-Za-z0-9\-]{1,40}}"
    app.router.add_get(f"/console/cases/{number}", case_page, name="case")
    app.router.add_get(f"/console/cases/{number}/events", case_events)
    app.router.add_post(f"/console/cases/{number}/{{action:[a-z_]{{1,20}}}}", case_action)
    app.router.add_get(r"/console/attachments/{id:\d{1,19}}", attachment_file)
    app.router.add_get(r"/console/attachments/{id:\d{1,19}}/thumb", attachment_thumb)
    app.router.add_get(r"/console/attachments/{id:\d{1,19}}/preview", attachment_preview)

"""The console's conversations: the list (those with staff first), one conversation's whole
chat, live (server-sent events driven by `deps.live.wait`), and the staff's steps on it — take
over from the bot, reply with text and files, hand back to the bot.

Every step is a `Desk` method that checks its rule (`desk.services.permissions`) itself; this
module reads the form, calls it, tells the dialogue of a take-over (so the bot goes quiet, as
after a message in the staff topic) and pokes the live feed. A refusal or a refused file shows
the desk's Chinese message with the reply's text kept in the form (nothing typed is lost).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from console.app import DEPS, beijing
from console.auth import STAFF, require
from console.live import heartbeat, send_event, sse_stream
from desk.cli import STATUS_LABELS
from desk.services import ChatItem, ConversationRow, ConversationView
from desk.services.inbox import BUTTON_MARK
from intake.storage import LocalAttachmentStore
from taxrules.errors import UserFacingError

log = logging.getLogger(__name__)

STATES = {"human": "人工服务中", "bot": "智能助手"}
CHANNELS = {"telegram": "Telegram", "web": "网页聊天", "shell": "终端"}
WHO = {"taxpayer": "纳税人", "bot": "智能助手", "staff": "工作人员"}
MAX_FILES = 5


def _conversation_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text="找不到该会话。")
    return int(raw)


def item_json(item: ChatItem) -> dict[str, Any]:
    """One chat item as the page's script renders it (text, never HTML)."""
    return {
        "key": item.key,
        "who": item.who,
        "label": (item.staff_name or WHO["staff"]) if item.who == "staff" else WHO[item.who],
        "text": item.text,
        "at": beijing(item.at, "%m-%d %H:%M:%S"),
        "pending": item.pending,
        # a taxpayer's words (not a pressed button) can go to the admins' review inbox
        "reviewable": item.who == "taxpayer"
        and not item.documents  # words, not a file sent with its description
        and bool(item.text.strip())
        and not item.text.startswith(BUTTON_MARK)
        and item.key.startswith("m"),
        "documents": [
            {"url": f"/console/attachments/{d.attachment_id}", "name": d.name}
            for d in item.documents
        ],
    }


async def _view(request: web.Request, conversation_id: int) -> ConversationView:
    deps = request.app[DEPS]
    async with deps.runtime.sessions() as s:
        try:
            return await deps.runtime.desk(s).conversation_view(conversation_id)
        except UserFacingError:
            raise web.HTTPNotFound(text="找不到该会话。") from None


def row_json(row: ConversationRow) -> dict[str, Any]:
    """One line of the list as the page's script renders it."""
    return {
        "id": row.id,
        "url": f"/console/conversations/{row.id}",
        "name": row.display_name,
        "channel": CHANNELS.get(row.channel, row.channel),
        "state": row.state,
        "state_label": STATES.get(row.state, row.state),
        "since": beijing(row.updated_at),
        "last_at": beijing(row.last_at) if row.last_at else "",
        "last_text": (row.last_text or "（文件）")[:60] if row.last_at else "",
        "open_cases": row.open_cases,
    }


async def _rows(request: web.Request) -> tuple[list[ConversationRow], dict[str, str]]:
    deps = request.app[DEPS]
    state = request.query.get("state", "")
    channel = request.query.get("channel", "")
    q = request.query.get("q", "")[:100]
    async with deps.runtime.sessions() as s:
        rows = await deps.runtime.desk(s).conversations(
            state=state if state in STATES else None,
            channel=channel if channel in CHANNELS else None,
            q=q,
        )
    return rows, {"state": state, "channel": channel, "q": q}


@require("staff")
@aiohttp_jinja2.template("conversations.html")
async def conversation_list(request: web.Request) -> dict[str, Any]:
    rows, filters = await _rows(request)
    return {
        "rows": rows,
        "states": STATES,
        "channels": CHANNELS,
        "filters": filters,
        "events": "/console/conversations/events"
        + (f"?{request.query_string}" if request.query_string else ""),
    }


@require("staff")
async def list_events(request: web.Request) -> web.StreamResponse:
    """The list, live: a `rows` event with the list (same filters) whenever it changed."""

    async def data() -> str:
        rows, _filters = await _rows(request)
        return json.dumps([row_json(r) for r in rows], ensure_ascii=False)

    return await _stream(request, data, "rows")


async def _stream(
    request: web.Request, data: Callable[[], Awaitable[str]], event: str
) -> web.StreamResponse:
    """Server-sent events: `event` with `data()` at once and whenever the live feed moved
    and the data changed; a heartbeat comment otherwise (it fails once the browser left)."""
    deps = request.app[DEPS]
    resp = await sse_stream(request)
    seen = None
    shown = ""
    try:
        while True:
            versions = deps.live.versions if seen is None else await deps.live.wait(seen)
            if versions == seen:
                await heartbeat(resp)
                continue
            seen = versions
            now = await data()
            if now != shown:
                shown = now
                await send_event(resp, now, event=event)
    except (ConnectionResetError, web.HTTPNotFound):
        pass
    return resp


def _page(
    request: web.Request,
    view: ConversationView,
    *,
    error: str | None = None,
    text: str = "",
    notice: str = "",
) -> web.Response:
    return aiohttp_jinja2.render_template(
        "conversation.html",
        request,
        {
            "view": view,
            "items": [item_json(i) for i in view.items],
            "states": STATES,
            "channels": CHANNELS,
            "status_labels": STATUS_LABELS,
            "error": error,
            "text": text,
            "notice": notice,
        },
        status=400 if error else 200,
    )


REVIEWED = "已交给管理员复核：管理员会在训练工作室的复核箱里看到这条消息，教给智能助手。"


@require("staff")
async def conversation_page(request: web.Request) -> web.StreamResponse:
    notice = REVIEWED if request.query.get("reviewed") == "1" else ""
    return _page(request, await _view(request, _conversation_id(request)), notice=notice)


@require("staff")
async def flag_for_review(request: web.Request) -> web.StreamResponse:
    """A taxpayer's message the bot misunderstood goes to the studio's review inbox."""
    deps = request.app[DEPS]
    conversation_id = _conversation_id(request)
    key = str((await request.post()).get("message") or "")
    if not (key.startswith("m") and key[1:].isdigit() and len(key) < 14):
        raise web.HTTPBadRequest(text="请选择纳税人的一条消息。")
    try:
        async with deps.runtime.sessions() as s:
            await deps.runtime.desk(s).flag_for_review(
                int(key[1:]), staff_id=request[STAFF].id, conversation_id=conversation_id
            )
    except UserFacingError as exc:
        return _page(request, await _view(request, conversation_id), error=exc.user_message)
    raise web.HTTPSeeOther(f"/console/conversations/{conversation_id}?reviewed=1")


@require("staff")
async def conversation_events(request: web.Request) -> web.StreamResponse:
    """The chat, live: an `chat` event with the whole chat and state whenever something
    changed (a message either way, an outbox row), a comment as heartbeat otherwise."""
    conversation_id = _conversation_id(request)
    await _view(request, conversation_id)  # 404 before the stream opens

    async def data() -> str:
        view = await _view(request, conversation_id)
        return json.dumps(
            {"state": view.state, "items": [item_json(i) for i in view.items]},
            ensure_ascii=False,
        )

    return await _stream(request, data, "chat")


async def _tell_dialogue(request: web.Request, channel: str, chat_id: str) -> None:
    """A take-over from the console: the dialogue's tracker follows (the bot goes quiet)."""
    engine = request.app[DEPS].engine
    note = getattr(engine, "note_taken_over", None)
    if note is None:
        return
    try:
        await note(channel, chat_id)
    except Exception:  # the desk says human; the bot may answer until the next turn looks
        log.exception("the dialogue was not told of the console's take-over")


@require("staff")
async def take_over(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    conversation_id = _conversation_id(request)
    try:
        async with deps.runtime.sessions() as s:
            done = await deps.runtime.desk(s).take_over(conversation_id, request[STAFF].id)
    except UserFacingError as exc:
        return _page(request, await _view(request, conversation_id), error=exc.user_message)
    if done.took_over:
        await _tell_dialogue(request, done.channel, done.chat_id)
    deps.live.poke()
    raise web.HTTPSeeOther(f"/console/conversations/{conversation_id}")


@require("staff")
async def hand_back(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    conversation_id = _conversation_id(request)
    try:
        async with deps.runtime.sessions() as s:
            await deps.runtime.desk(s).hand_back_to_bot(conversation_id, request[STAFF].id)
    except UserFacingError as exc:
        return _page(request, await _view(request, conversation_id), error=exc.user_message)
    deps.live.poke()
    raise web.HTTPSeeOther(f"/console/conversations/{conversation_id}")


async def _reply_form(request: web.Request) -> tuple[str, list[tuple[bytes, str | None]]]:
    """The reply's text and files (the form is parsed once, by the CSRF check; the app's
    body limit bounds the files)."""
    form = await request.post()
    files: list[tuple[bytes, str | None]] = []
    for field in form.getall("files", []):
        if isinstance(field, web.FileField):
            data = await asyncio.to_thread(field.file.read)
            if data:
                files.append((data, field.filename))
    if len(files) > MAX_FILES:
        raise web.HTTPBadRequest(text=f"一次最多发送 {MAX_FILES} 个文件。")
    return str(form.get("text") or "")[:8000], files


@require("staff")
async def reply(request: web.Request) -> web.StreamResponse:
    """A reply with text and files: the files through the intake's checks
    (`Desk.check_and_store`), then `Desk.staff_reply` (taking over if the bot had it)."""
    deps = request.app[DEPS]
    conversation_id = _conversation_id(request)
    text, files = await _reply_form(request)
    store = LocalAttachmentStore(deps.data_dir / "attachments")
    try:
        async with deps.runtime.sessions() as s:
            desk = deps.runtime.desk(s)
            ids = [(await desk.check_and_store(store, data, name)).id for data, name in files]
            done = await desk.staff_reply(conversation_id, request[STAFF].id, text, ids)
    except UserFacingError as exc:
        view = await _view(request, conversation_id)
        return _page(request, view, error=exc.user_message, text=text)
    if done.took_over:
        await _tell_dialogue(request, done.channel, done.chat_id)
    deps.live.poke()
    raise web.HTTPSeeOther(f"/console/conversations/{conversation_id}")


def setup(app: web.Application) -> None:
    app.router.add_get("/console/conversations", conversation_list, name="conversations")
    app.router.add_get("/console/conversations/events", list_events)
    app.router.add_get("/console/conversations/{id}", conversation_page, name="conversation")
    app.router.add_get("/console/conversations/{id}/events", conversation_events)
    app.router.add_post("/console/conversations/{id}/take-over", take_over)
    app.router.add_post("/console/conversations/{id}/reply", reply)
    app.router.add_post("/console/conversations/{id}/hand-back", hand_back)
    app.router.add_post("/console/conversations/{id}/review", flag_for_review)

"""The web chat's HTTP side: the page, the three ways in (text/button/phone, upload), the stream
of the conversation's messages, downloads. Anonymous: the conversation is bound to the cookie
session (`session["web_chat"]`, a random token made by the page; channel "web", chat id = that
token). The POSTs carry the session's CSRF token in the header (`taxdesk.send`, `chat.js`).

* `GET /chat` — the page (phone first), in the taxpayer's last script.
* `POST /chat/send` — JSON `{"text"}`, `{"payload"}` (a button) or `{"phone"}`; answered once
  the message is stored and its turn ran; `{"error"}` with a 400 for refused input.
* `POST /chat/upload` — multipart `file` (+ `caption`), the same checks as Telegram.
  Both refuse a chat sending more than `RATE` messages a minute (429, nothing stored).
* `GET /chat/events` — server-sent events: every message of the conversation after
  `Last-Event-ID` (or `?after=`), in and out, woken by the live feed; a reconnect resumes.
* `GET /chat/files/{id}` — a document of this conversation (checked in the desk), as an
  attachment with nosniff; anything else is a 404. `GET /chat/messages/{id}/file` — the file
  the bot sent with one of this chat's messages (the commitment letter's template).

`setup(app)` also runs the web channel's outbox worker (`WebOutboxWorker` under
`desk.outbox.serve`) for the life of the application, and ends open streams on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import BodyPartReader, web
from aiohttp_session import get_session

from console.app import DEPS, ConsoleDeps
from console.live import heartbeat, send_event, sse_stream
from console.webchat.channel import (
    CHANNEL,
    ChatInputError,
    Upload,
    WebChatChannel,
    event_of,
)
from console.webchat.notices import WebNoticeSender, WebOutboxWorker
from desk.outbox import serve
from intake.storage import LocalAttachmentStore
from taxrules.errors import UserFacingError

log = logging.getLogger(__name__)

SESSION_KEY = "web_chat"
EXPIRED = "会话已过期，请刷新页面后继续。"
BAD_REQUEST = "请求格式有误，请刷新页面后重试。"
NO_FILE = "没有收到文件，请重新选择。"
FAILED = "抱歉，系统出了点问题，您的消息已保存，请稍后再试。"
TOO_FAST = "您发送得太快了，请稍等片刻再发。"
RATE_KEY = "webchat_rate"  # deps.extra: messages a chat may send a minute (default RATE)
RATE = 30
CHANNEL_KEY = "webchat.channel"
STREAMS_KEY = "webchat.streams"
HISTORY_PAGE = 200


def channel_of(deps: ConsoleDeps) -> WebChatChannel:
    """The process's web chat channel (made on first use, kept in `deps.extra`)."""
    channel = deps.extra.get(CHANNEL_KEY)
    if channel is None:
        channel = WebChatChannel(
            deps.runtime,
            deps.engine,
            deps.recorder,
            deps.intake,
            deps.outbound,
            poke=deps.live.poke,
        )
        deps.extra[CHANNEL_KEY] = channel
    assert isinstance(channel, WebChatChannel)
    return channel


async def chat_id_of(request: web.Request, *, create: bool = False) -> str | None:
    """This browser's chat id (made with `create`, by the page only)."""
    session = await get_session(request)
    token = session.get(SESSION_KEY)
    if isinstance(token, str) and token:
        return token
    if not create:
        return None
    token = secrets.token_urlsafe(16)
    session[SESSION_KEY] = token
    return token


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def too_fast(deps: ConsoleDeps, chat_id: str) -> bool:
    """Count one message of this chat; True beyond `RATE` a minute (an anonymous page must
    not be a way to fill the database). Counted where the login throttle counts (Redis
    when set, shared by the processes)."""
    limit = int(deps.extra.get(RATE_KEY, RATE))
    return await deps.throttle.counter.hit(f"webchat:{chat_id}", 60.0) > limit


async def page(request: web.Request) -> web.StreamResponse:
    """The chat page; the history comes through the stream."""
    deps = request.app[DEPS]
    chat_id = await chat_id_of(request, create=True)
    assert chat_id is not None
    script = await channel_of(deps).script(chat_id)
    return aiohttp_jinja2.render_template("chat.html", request, {"script": script})


async def send(request: web.Request) -> web.StreamResponse:
    """A text, a button press or a phone number; answered after the turn."""
    chat_id = await chat_id_of(request)
    if chat_id is None:
        return _error(EXPIRED, 401)
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return _error(BAD_REQUEST)
    if not isinstance(body, dict):
        return _error(BAD_REQUEST)
    deps = request.app[DEPS]
    if await too_fast(deps, chat_id):
        return _error(TOO_FAST, 429)
    channel = channel_of(deps)
    try:
        if body.get("payload") is not None:
            await channel.press(chat_id, str(body["payload"]))
        elif body.get("phone") is not None:
            await channel.phone(chat_id, str(body["phone"]))
        else:
            await channel.text(chat_id, str(body.get("text") or ""))
    except UserFacingError as e:
        return _error(e.user_message)
    return web.json_response({"ok": True, "script": await channel.script(chat_id)})


async def upload(request: web.Request) -> web.StreamResponse:
    """A file (with an optional caption) from the page's upload form."""
    chat_id = await chat_id_of(request)
    if chat_id is None:
        return _error(EXPIRED, 401)
    if not request.content_type.startswith("multipart/"):
        return _error(BAD_REQUEST)
    got: Upload | None = None
    caption = None
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader):  # a nested multipart: not ours
            continue
        if part.name == "file" and got is None:
            data = bytes(await part.read())
            media = part.headers.get("Content-Type")
            got = Upload(data, part.filename, media)
        elif part.name == "caption":
            caption = (await part.text())[:10_000]
    if got is None or not got.data:
        return _error(NO_FILE)
    deps = request.app[DEPS]
    if await too_fast(deps, chat_id):
        return _error(TOO_FAST, 429)
    channel = channel_of(deps)
    try:
        await channel.upload(chat_id, got, caption)
    except ChatInputError as e:
        return _error(e.user_message)
    return web.json_response({"ok": True, "script": await channel.script(chat_id)})


def _after(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


async def events(request: web.Request) -> web.StreamResponse:
    """Every message of this chat after the last one the page has, then live."""
    chat_id = await chat_id_of(request)
    if chat_id is None:
        raise web.HTTPUnauthorized(text=EXPIRED)
    deps = request.app[DEPS]
    streams = request.app[STREAMS]
    task = asyncio.current_task()
    if task is not None:
        streams.add(task)
    try:
        return await _stream(request, deps, chat_id)
    finally:
        if task is not None:
            streams.discard(task)


async def _stream(request: web.Request, deps: ConsoleDeps, chat_id: str) -> web.StreamResponse:
    channel = channel_of(deps)
    last = _after(request)
    resp = await sse_stream(request)
    with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
        await send_event(resp, "", event="ready")
        had: set[int] = set()
        while True:
            seen = deps.live.versions
            last, had = await _send_new(resp, channel, chat_id, last, had)
            versions = await deps.live.wait(seen)
            if versions == seen:
                await heartbeat(resp)
    return resp


async def _send_new(
    resp: web.StreamResponse, channel: WebChatChannel, chat_id: str, last: int, had: set[int]
) -> tuple[int, set[int]]:
    """Send the rows after `last` (and late-committed ones not in `had`); the new `last`
    and the ids of this read (see `WebChatChannel.history`)."""
    now_had: set[int] = set()
    while True:
        rows = await channel.history(chat_id, last, limit=HISTORY_PAGE)
        fresh = [m for m in rows if m.id not in had and m.id not in now_had]
        now_had.update(m.id for m in rows)
        for m in fresh:
            last = max(last, m.id)
            await send_event(resp, json.dumps(event_of(m), ensure_ascii=False), id=last)
        if len(rows) < HISTORY_PAGE or not fresh:
            return last, now_had


async def sent_file(request: web.Request) -> web.StreamResponse:
    """The file the bot sent with one of this chat's messages (the letter's template)."""
    chat_id = await chat_id_of(request)
    message_id = int(request.match_info["message_id"])  # the route matches digits only
    found = await channel_of(request.app[DEPS]).sent_file(chat_id, message_id) if chat_id else None
    if found is None:
        raise web.HTTPNotFound()
    name, data = found
    return _attachment(data, name, "application/octet-stream")


async def download(request: web.Request) -> web.StreamResponse:
    """A document of this conversation (404 for anything else, including a bad id)."""
    chat_id = await chat_id_of(request)
    attachment_id = int(request.match_info["attachment_id"])  # the route: digits only
    if chat_id is None:
        raise web.HTTPNotFound()
    deps = request.app[DEPS]
    doc = await channel_of(deps).document(chat_id, attachment_id)
    if doc is None:
        raise web.HTTPNotFound()
    store = LocalAttachmentStore(deps.data_dir / "attachments")
    try:
        data = await store.get(doc.storage_key)
    except Exception:
        log.exception("web chat: attachment %s unreadable", doc.attachment_id)
        raise web.HTTPNotFound() from None
    media = doc.media_type if doc.media_type in SAFE_TYPES else "application/octet-stream"
    return _attachment(data, doc.name, media)


def _attachment(data: bytes, name: str, media: str) -> web.Response:
    """A download: never shown inline, never sniffed, never cached by others."""
    ascii_name = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in name)
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return web.Response(
        body=data,
        headers={
            "Content-Type": media,
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


#: Types sent as themselves (what intake accepts); anything else is octet-stream.
SAFE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/webp"})
STREAMS: web.AppKey[set[asyncio.Task[Any]]] = web.AppKey(STREAMS_KEY)


async def _outbox(app: web.Application) -> AsyncIterator[None]:
    """The web channel's outbox worker, for the life of the application."""
    deps = app[DEPS]
    worker = WebOutboxWorker(
        deps.runtime.sessions,
        WebNoticeSender(deps.engine),
        channel=CHANNEL,
        poll_interval=float(deps.extra.get("outbox_poll_interval", 0.5)),
        poke=deps.live.poke,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(deps.runtime.engine, worker, stop, name="web chat notices"), name="webchat outbox"
    )
    try:
        yield
    finally:
        stop.set()
        worker.wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _end_streams(app: web.Application) -> None:
    streams: set[asyncio.Task[Any]] = app[STREAMS]
    for task in list(streams):
        task.cancel()


def setup(app: web.Application) -> None:
    """The web chat's routes, its outbox worker, and the end of open streams on shutdown."""
    app[STREAMS] = set()
    app.router.add_get("/chat", page, name="chat")
    app.router.add_post("/chat/send", send)
    app.router.add_post("/chat/upload", upload)
    app.router.add_get("/chat/events", events)
    app.router.add_get("/chat/files/{attachment_id:[0-9]{1,12}}", download)
    app.router.add_get("/chat/messages/{message_id:[0-9]{1,12}}/file", sent_file)
    app.cleanup_ctx.append(_outbox)
    app.on_shutdown.append(_end_streams)

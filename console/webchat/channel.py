"""The web chat as a channel, free of HTTP: a browser's text, button press, phone number or
file becomes an `InboundMessage`, is stored, runs one turn of the same dialogue as Telegram,
and the replies are stored as outbound rows with what the page needs to show them again
(`message.meta`: buttons, documents, who wrote it). The page reads every message of its
conversation from those rows (`history`), so a reconnect loses nothing.

Order of one turn: check the input (empty, too long: `ChatInputError`) → under the chat's lock
(`actions.locks.KeyedLocks`, taken in arrival order): store the inbound row
(`recorder.record_message`, committed) → `engine.handle(..., deliver=...)` (which holds the
engine's own per-chat lock too) → `deliver` stores the replies and pokes the live feed. So a
chat's history reads message, its replies, next message, its replies — even for two messages
sent at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from actions.channel import InboundFile, InboundMessage, Reply, command_payload
from actions.locks import KeyedLocks
from bot.ports import Dialogue, FileIntake, MessageRecorder, OutboundStore
from desk.runtime import DeskRuntime
from desk.services import ChatDocument, ChatMessage
from taxrules.errors import UserFacingError
from taxrules.phones import mask_phone

log = logging.getLogger(__name__)

CHANNEL = "web"
MAX_TEXT = 2000  # characters of one message
MAX_PHONE = 32
#: Rows written within this window are read again by the stream whatever their id (ids are
#: taken before commit on PostgreSQL: a lower id may become visible after a higher one).
LATE_COMMIT = timedelta(seconds=5)

EMPTY_TEXT = "请输入内容后再发送。"
TOO_LONG = "这条消息太长了（最多 {limit} 个字），请分几条发送。"
NO_PHONE = "请输入手机号。"
FILE_NOTE = "[文件 {name}]"
PHONE_NOT_PROOF = {
    "hans": "网页上无法确认这个手机号属于您本人，所以不能用它验证身份。"
    "请发送税务局工作人员给您的验证码，例如“验证码 12345678”；"
    "也可以在 Telegram 中点“分享我的手机号”。",
    "hant": "網頁上無法確認這個手機號屬於您本人，所以不能用它驗證身份。"
    "請發送稅務局工作人員給您的驗證碼，例如「驗證碼 12345678」；"
    "也可以在 Telegram 中點「分享我的手機號」。",
}
REFUSED_NOTE = "[未接收的文件 {name}]"


class ChatInputError(UserFacingError):
    """Input the chat refuses before storing anything (the page shows the message)."""


def reply_meta(reply: Reply, *, sender: str = "bot") -> dict[str, Any]:
    """What the page needs besides the text: the buttons (with the contact request), the
    name of a file the bot sends (the commitment-letter template)."""
    meta: dict[str, Any] = {"from": sender}
    if reply.buttons:
        meta["buttons"] = [
            [{"title": b.title, "payload": b.payload, "contact": b.request_contact} for b in row]
            for row in reply.buttons
        ]
    if reply.document is not None:  # a file on the server's disk (the letter's template)
        meta["template"] = {"name": reply.document.name, "path": reply.document.path}
    return meta


def event_of(message: ChatMessage) -> dict[str, Any]:
    """One message as the page's stream sends it (JSON)."""
    meta = message.meta or {}
    event: dict[str, Any] = {
        "id": message.id,
        "dir": message.direction,
        "text": message.text or "",
        "from": "me" if message.direction == "in" else str(meta.get("from") or "bot"),
        "at": message.created_at.isoformat(),
    }
    if message.direction == "in" and message.file_name:
        event["file"] = message.file_name
    for key in ("buttons", "documents", "kind"):
        if meta.get(key):
            event[key] = meta[key]
    template = meta.get("template")
    if isinstance(template, dict):  # the name and our URL only, never the server's path
        event["template"] = {
            "name": str(template.get("name") or "文件"),
            "url": f"/chat/messages/{message.id}/file",
        }
    if "documents" in event:
        event["documents"] = [
            {"name": str(d.get("name") or "文件"), "url": f"/chat/files/{int(d['attachment_id'])}"}
            for d in event["documents"]
            if isinstance(d, dict) and d.get("attachment_id") is not None
        ]
    return event


def _checked(value: str | None, what: str) -> str:
    """`value` stripped; `ChatInputError` when it is empty or longer than `MAX_TEXT`."""
    value = (value or "").strip()
    if not value:
        raise ChatInputError(f"empty {what}", EMPTY_TEXT)
    if len(value) > MAX_TEXT:
        raise ChatInputError(f"{what} too long", TOO_LONG.format(limit=MAX_TEXT))
    return value


@dataclass(frozen=True, slots=True)
class Upload:
    """A file the browser sent: its bytes, the name and type the browser gave."""

    data: bytes
    filename: str | None
    media_type: str | None


class WebChatChannel:
    """The web chat's turns and reads (one per process; `chat_id` is the cookie session's
    random token)."""

    def __init__(
        self,
        runtime: DeskRuntime,
        engine: Dialogue,
        recorder: Any,
        intake: FileIntake,
        outbound: Any,
        *,
        poke: Any = None,
    ) -> None:
        """`recorder`: `record_message` (stored before the turn); `outbound`: `record_sent`
        with `meta`; `poke()`: called after a write, so open streams look at once."""
        self.runtime = runtime
        self.engine = engine
        self.recorder = cast(MessageRecorder, recorder)
        self.intake = intake
        self.outbound = cast(OutboundStore | None, outbound)
        self.poke = poke or (lambda: None)
        # storing and the turn under one lock per chat: two messages sent at once are
        # stored in the order their turns run (the engine's own lock orders only the turns)
        self._locks = KeyedLocks()

    # ------------------------------------------------------------------ inbound

    async def text(self, chat_id: str, text: str | None) -> list[Reply]:
        """A typed message (refused when empty or longer than `MAX_TEXT`)."""
        text = _checked(text, "text")
        payload = command_payload(text)  # /status, /help... typed as on Telegram
        if payload is not None:
            return await self.turn(self._message(chat_id, payload), text)
        return await self.turn(self._message(chat_id, text), text)

    async def press(self, chat_id: str, payload: str | None) -> list[Reply]:
        """A button pressed: its payload goes to the dialogue as a press."""
        payload = _checked(payload, "payload")
        return await self.turn(self._message(chat_id, payload, is_button=True), payload)

    async def phone(self, chat_id: str, phone: str | None) -> list[Reply]:
        """A phone number typed where the dialogue offered the contact button. A web page
        cannot prove the number is the sender's own (Telegram's contact button does), so it
        verifies nobody: the number is stored (masked) as the taxpayer's message and the
        answer says how to verify on the web (the office's one-time code). The dialogue is
        not asked: its refusal speaks of Telegram's button."""
        phone = (phone or "").strip()
        if not phone:
            raise ChatInputError("empty phone", NO_PHONE)
        if len(phone) > MAX_PHONE:
            raise ChatInputError("phone too long", TOO_LONG.format(limit=MAX_PHONE))
        async with self._locks.hold(chat_id):
            await self.recorder.record_message(
                CHANNEL, chat_id, chat_id, f"[手机号 {mask_phone(phone)}]"
            )
            self.poke()
            script = await self.script(chat_id)
            replies = [Reply(text=PHONE_NOT_PROOF[script])]
            await self.record_replies(chat_id, replies)
        return replies

    async def upload(self, chat_id: str, upload: Upload, caption: str | None) -> list[Reply]:
        """A file: the same content checks as Telegram (`intake.accept`). A refused file is
        still a message of the chat (its name), and the dialogue says why it was refused;
        nothing the taxpayer gave before is lost."""
        caption = (caption or "").strip() or None
        if caption is not None and len(caption) > MAX_TEXT:
            raise ChatInputError("caption too long", TOO_LONG.format(limit=MAX_TEXT))
        name = _safe_name(upload.filename)
        files: tuple[InboundFile, ...] = ()
        rejected: tuple[str, ...] = ()
        try:
            files = (await self.intake.accept(upload.data, name, upload.media_type),)
        except UserFacingError as e:
            rejected = (e.user_message,)
        note = (FILE_NOTE if files else REFUSED_NOTE).format(name=name or "未命名")
        msg = self._message(chat_id, caption, files=files, rejected=rejected)
        stored = f"{caption} {note}" if caption else note
        return await self.turn(msg, stored)

    def _message(
        self,
        chat_id: str,
        text: str | None,
        *,
        files: tuple[InboundFile, ...] = (),
        rejected: tuple[str, ...] = (),
        is_button: bool = False,
    ) -> InboundMessage:
        return InboundMessage(
            channel=CHANNEL,
            chat_id=chat_id,
            user_id=chat_id,
            text=text,
            files=files,
            rejected_files=rejected,
            is_button=is_button,
        )

    async def turn(self, msg: InboundMessage, stored_text: str | None) -> list[Reply]:
        """Store `msg` (committed), then run the turn; the replies are stored by `deliver`
        under the chat's lock. Returns the replies."""

        async def deliver(replies: list[Reply]) -> None:
            await self.record_replies(msg.chat_id, replies)

        async with self._locks.hold(msg.chat_id):
            await self.recorder.record_message(
                CHANNEL,
                msg.chat_id,
                msg.user_id,
                stored_text,
                attachment_id=msg.files[0].attachment_id if msg.files else None,
            )
            self.poke()

            async def with_staff() -> None:  # the conversation is with staff: into the topic
                if msg.is_button:  # a press (e.g. the one that asked for staff) is no words
                    return
                files = [f.original_name or "文件" for f in msg.files]
                async with self.runtime.sessions() as session:
                    desk = self.runtime.desk(session)
                    await desk.relay_text_to_staff(CHANNEL, msg.chat_id, stored_text, files)

            return await self.engine.handle(msg, deliver=deliver, with_staff=with_staff)

    async def record_replies(self, chat_id: str, replies: list[Reply]) -> None:
        """The bot's replies as outbound rows (with their buttons), then a poke."""
        if not replies or self.outbound is None:
            return
        await self.outbound.record_sent(
            CHANNEL,
            chat_id,
            [(r.text, None) for r in replies],
            meta=[reply_meta(r) for r in replies],
        )
        self.poke()

    # ------------------------------------------------------------------ reads

    async def history(
        self, chat_id: str, after_id: int = 0, *, late: bool = True, limit: int = 200
    ) -> list[ChatMessage]:
        """The chat's messages after `after_id` (and, with `late`, those of the last
        seconds whatever their id: the caller drops the ids it has)."""
        since = self.runtime.clock() - LATE_COMMIT if late and after_id else None
        async with self.runtime.sessions() as session:
            return await self.runtime.desk(session).chat_messages(
                CHANNEL, chat_id, after_id=after_id, since=since, limit=limit
            )

    async def sent_file(self, chat_id: str, message_id: int) -> tuple[str, bytes] | None:
        """The file the bot sent with this chat's message `message_id` (name, bytes), or
        None (not this chat's message, no file, the file gone)."""
        rows = await self.history(chat_id, message_id - 1, late=False, limit=1)
        if not rows or rows[0].id != message_id or rows[0].direction != "out":
            return None
        template = (rows[0].meta or {}).get("template")
        if not isinstance(template, dict) or not template.get("path"):
            return None
        path = Path(str(template["path"]))
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError:
            log.warning("web chat: the file of message %s is gone", message_id)
            return None
        return str(template.get("name") or path.name), data

    async def document(self, chat_id: str, attachment_id: int) -> ChatDocument | None:
        """A file this chat may download (None: not found, or not this chat's)."""
        async with self.runtime.sessions() as session:
            return await self.runtime.desk(session).chat_document(CHANNEL, chat_id, attachment_id)

    async def script(self, chat_id: str) -> str:
        """`hans` / `hant`: the script the taxpayer last wrote in (the dialogue's tracker)."""
        tracker_of = getattr(self.engine, "tracker", None)
        if tracker_of is None:
            return "hans"
        try:
            tracker = await tracker_of(CHANNEL, chat_id)
        except Exception:
            log.exception("web chat: tracker unavailable")
            return "hans"
        script = getattr(tracker, "script", None) if tracker is not None else None
        return str(script) if script in ("hans", "hant") else "hans"


def _safe_name(name: str | None) -> str | None:
    """The browser's file name without any directory part or control characters."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:200] or None

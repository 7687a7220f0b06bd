"""Desk notices to Telegram: the channel's `Sender` for the one outbox loop (`desk.outbox`).

The text comes from one place: the payload `desk.notices` wrote, in both scripts, in the
same transaction as the case change. This module only picks the taxpayer's script, turns the
payload's buttons (the five 好差评 levels on `case_done`) into an inline keyboard through
`bot.keyboards` (payloads remembered per chat in the button store, so a press reaches the
dialogue as `/rate{"case_number": ..., "level": ...}`), and sends it with the bot's
`ReplySender` (its token buckets: ~30/s per bot, 1/s per chat, 20/min per group).

* 429 → `desk.outbox.RetryLater(retry_after)`; 5xx / network → re-raised (the worker backs
  off exponentially); blocked, chat gone, other 4xx → `Undeliverable`.
* The taxpayer's script: the dialogue tracker's (`engine.tracker(...).script`) when an engine
  is given, else detected from the conversation's latest inbound texts, else Simplified.
* `case_done` with `documents` (what staff produced, e.g. the certificate): each is sent
  with sendDocument after the notice (bytes through `NoticeLookups.document`).
* `staff_copy` written in the web console (`source: "console"`, no `from_chat_id`): the text
  with sendMessage, then its `documents` as above (the topic's copies use copyMessage).
* `case_question`: before the question is sent, `engine.note_staff_question(...)` tells the
  dialogue that the taxpayer's next message answers that case. That needs the engine of the
  process that runs the dialogue (the in-process worker of `main.py run` / `main.py bot`);
  a worker in another process without an engine logs a warning for each question.

A notice longer than 4,096 characters goes out in pieces; a 429 after the first piece sends
the whole notice again later (its first piece twice). Desk notices are far shorter.

`run_outbox_worker(...)` runs it all until `stop` is set, polling every 0.5 s and woken at
once by PostgreSQL NOTIFY (`desk.outbox.listen`), so a completion made by another process
(`python main.py cases complete`) reaches the chat well within 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import BufferedInputFile, ReplyParameters

from actions.channel import Button, Reply
from bot.convert import CHANNEL
from bot.ports import NoticeLookups, TopicStore
from bot.sender import ReplySender
from desk.outbox import (
    Delivered,
    OutboxItem,
    OutboxWorker,
    RetryLater,
    Undeliverable,
    serve,
)

if TYPE_CHECKING:
    from actions.engine import DialogueEngine, ScriptConverter
    from desk.runtime import DeskRuntime

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5  # the floor of the notice latency without NOTIFY (SQLite)
SCRIPT_LOOKBACK = 10  # inbound messages looked at to guess the script


def render_notice(payload: Mapping[str, Any], script: str) -> Reply:
    """The `Reply` for a `desk.notices` payload in `script` (`hans` / `hant`)."""
    text = _in_script(payload.get("text"), script)
    if not text:
        raise Undeliverable("the notice has no text")
    rows: list[tuple[Button, ...]] = []
    for row in payload.get("buttons") or []:
        line = tuple(
            Button(_in_script(b.get("title"), script), str(b["payload"]))
            for b in row
            if isinstance(b, Mapping) and b.get("payload")
        )
        if line:
            rows.append(line)
    return Reply(text=text, buttons=tuple(rows))


#: Payload keys holding what staff wrote (in whatever script they typed).
STAFF_WORDS = ("note", "reason", "question")


def traditional_staff_words(
    reply: Reply, payload: Mapping[str, Any], scripts: ScriptConverter
) -> Reply:
    """The Traditional notice with the staff's own words (note, reason, question) in
    Traditional too; the rest of the text is the payload's own Traditional wording."""
    text = reply.text
    for key in STAFF_WORDS:
        said = payload.get(key)
        if isinstance(said, str) and said and said in text:
            text = text.replace(said, scripts.to_traditional(said))
    return Reply(text=text, buttons=reply.buttons)


def _in_script(value: Any, script: str) -> str:
    if isinstance(value, Mapping):
        preferred = "zh_hant" if script == "hant" else "zh_hans"
        return str(value.get(preferred) or value.get("zh_hans") or "")
    return str(value or "")


@contextlib.contextmanager
def telegram_failures() -> Iterator[None]:
    """Telegram's refusals as the outbox understands them: flood control is `RetryLater`
    (after its retry_after); a blocked bot, a chat or message gone, or a bad request (bad
    markup, chat not found) is `Undeliverable`, since retrying will not help."""
    try:
        yield
    except TelegramRetryAfter as e:
        raise RetryLater(float(e.retry_after), "Telegram flood control") from e
    except (TelegramForbiddenError, TelegramNotFound) as e:
        raise Undeliverable(f"{type(e).__name__}: {e.message}") from e
    except TelegramBadRequest as e:
        raise Undeliverable(f"bad request: {e.message}") from e


class TelegramNoticeSender:
    """`desk.outbox.Sender` for rows of the `telegram` channel."""

    def __init__(
        self,
        bot: Bot,
        replies: ReplySender,
        lookups: NoticeLookups,
        *,
        engine: DialogueEngine | None = None,
        scripts: ScriptConverter | None = None,
        topics: TopicStore | None = None,
    ) -> None:
        """`lookups`: the desk's, to read the conversation's texts for its script;
        `engine`: the dialogue of this process (scripts, staff questions); `topics`: where
        a staff message copied to the taxpayer (`staff_copy`) is remembered."""
        self.bot = bot
        self.topics = topics
        self.replies = replies
        self.lookups = lookups
        self.engine = engine
        self._scripts = scripts

    async def send(self, row: OutboxItem) -> Delivered:
        """Send one notice; see the module docstring for what is raised."""
        try:
            chat_id = int(row.chat_id or "")
        except ValueError:
            raise Undeliverable(f"not a Telegram chat id: {row.chat_id!r}") from None
        if row.kind == "staff_copy" and row.payload.get("from_chat_id") is None:
            return await self._console_reply(row, chat_id)  # written in the web console
        if row.kind == "staff_copy":
            return await self._copy_from_staff(row, chat_id)
        if row.kind == "staff_edit":
            return await self._edit_from_staff(row, chat_id)  # type: ignore[return-value]
        script = await self.script_of(row)
        reply = render_notice(row.payload, script)
        if script == "hant":
            reply = traditional_staff_words(reply, row.payload, await self._converter())
        if row.kind == "case_question":
            await self._note_question(row)
        with telegram_failures():
            sent = await self.replies.send(self.bot, chat_id, [reply], wait_on_flood=False)
        message_id = str(sent[-1].message_id) if sent else None
        for doc in row.payload.get("documents") or []:
            await self._send_document(row, chat_id, doc)
        return Delivered(channel_message_id=message_id, text=reply.text)

    async def _send_document(self, row: OutboxItem, chat_id: int, doc: Mapping[str, Any]) -> None:
        """A document staff produced (the certificate), after the notice that names it. Sent
        again with the whole notice if this fails and the row is retried."""
        try:
            data = await self.lookups.document(str(doc["storage_key"]))
        except (KeyError, LookupError) as e:
            raise Undeliverable(f"outbox {row.id}: produced document missing: {e}") from e
        name = str(doc.get("name") or "document")
        await self.replies.limiter.acquire(chat_id)
        with telegram_failures():
            await self.bot.send_document(chat_id, BufferedInputFile(data, filename=name))

    async def _console_reply(self, row: OutboxItem, chat_id: int) -> Delivered:
        """A staff member's reply from the console (`source: "console"`): the text, then
        each document as `_send_document` sends a completion's. A failure after the text
        sends the whole reply again when the row is retried."""
        text = str(row.payload.get("text") or "")
        message_id: str | None = None
        if text:
            with telegram_failures():
                sent = await self.replies.send(
                    self.bot, chat_id, [Reply(text=text)], wait_on_flood=False
                )
            message_id = str(sent[-1].message_id) if sent else None
        documents = list(row.payload.get("documents") or [])
        for doc in documents:
            await self._send_document(row, chat_id, doc)
        if not text and not documents:
            raise Undeliverable(f"outbox {row.id}: a console reply with nothing to send")
        shown = text or f"（工作人员发送的 {len(documents)} 个文件）"
        return Delivered(channel_message_id=message_id, text=shown)

    async def _copy_from_staff(self, row: OutboxItem, chat_id: int) -> Delivered:
        """A staff member's message in the conversation's topic, copied to the taxpayer."""
        from_chat = int(row.payload["from_chat_id"])
        message_id = int(row.payload["message_id"])
        quoted = row.payload.get("reply_to")
        reply = (
            ReplyParameters(message_id=int(quoted), allow_sending_without_reply=True)
            if quoted
            else None
        )
        album = [int(i) for i in row.payload.get("message_ids") or []]
        await self.replies.limiter.acquire(chat_id)
        if len(album) > 1:  # one album, as staff sent it (copyMessages keeps it grouped)
            return await self._copy_album(row, chat_id, from_chat, album)
        with telegram_failures():
            copied = await self.bot.copy_message(
                chat_id, from_chat, message_id, reply_parameters=reply
            )
        await self._remember_copies(row, from_chat, [(message_id, copied.message_id)])
        text = row.payload.get("text") or "（工作人员发送的文件）"
        return Delivered(channel_message_id=str(copied.message_id), text=str(text))

    async def _remember_copies(
        self, row: OutboxItem, from_chat: int, pairs: list[tuple[int, int]]
    ) -> None:
        """Remember each (staff original, taxpayer copy) pair, so quote-replies and edits
        follow; a failure to remember is logged, the copy is delivered all the same."""
        if self.topics is None:
            return
        for original, copy in pairs:
            try:
                await self.topics.record_relay(
                    int(row.payload["conversation_id"]), "to_taxpayer", copy, from_chat, original
                )
            except Exception:
                log.exception("outbox %s: staff copy not recorded", row.id)

    async def _copy_album(
        self, row: OutboxItem, chat_id: int, from_chat: int, album: list[int]
    ) -> Delivered:
        """A staff member's album, copied to the taxpayer as one album; each copy is
        remembered beside its original (Telegram answers the new ids in the same order)."""
        with telegram_failures():
            copied = await self.bot.copy_messages(chat_id, from_chat, album)
        await self._remember_copies(
            row, from_chat, [(o, c.message_id) for o, c in zip(album, copied, strict=False)]
        )
        text = row.payload.get("text") or f"（工作人员发送的 {len(album)} 个文件）"
        return Delivered(channel_message_id=str(copied[0].message_id), text=str(text))

    async def _edit_from_staff(self, row: OutboxItem, chat_id: int) -> Delivered | None:
        """A staff member edited a relayed message: the taxpayer's copy changes too."""
        text = str(row.payload.get("text") or "")
        target = row.payload.get("message_id")
        if target is None and self.topics is not None:  # edited before the copy was recorded
            target = await self.topics.taxpayer_copy_of(
                int(row.payload["staff_chat_id"]), int(row.payload["staff_message_id"])
            )
        if target is None:
            raise Undeliverable("the edited message's copy was never delivered")
        await self.replies.limiter.acquire(chat_id)
        try:
            await self.bot.edit_message_text(text=text, chat_id=chat_id, message_id=int(target))
        except TelegramRetryAfter as e:
            raise RetryLater(float(e.retry_after), "Telegram flood control") from e
        except TelegramBadRequest as e:
            if "not modified" in e.message:
                return None
            raise Undeliverable(f"bad request: {e.message}") from e
        return None

    async def _note_question(self, row: OutboxItem) -> None:
        number = str(row.payload.get("case_number") or "")
        if self.engine is None:
            log.warning(
                "outbox %s: staff question for case %s sent without a dialogue engine; "
                "the answer is not routed to the case",
                row.id,
                number,
            )
            return
        try:
            await self.engine.note_staff_question(CHANNEL, str(row.chat_id), number)
        except Exception:  # the question is still worth sending
            log.exception("outbox %s: could not tell the dialogue about the question", row.id)

    async def script_of(self, row: OutboxItem) -> str:
        """`hans` or `hant`: the script the taxpayer writes in (see the module docstring)."""
        if self.engine is not None:
            try:
                tracker = await self.engine.tracker(CHANNEL, str(row.chat_id))
            except Exception:
                log.exception("outbox %s: tracker unavailable", row.id)
                tracker = None
            if tracker is not None and tracker.script:
                return tracker.script
        return await self._script_from_messages(row)

    async def _script_from_messages(self, row: OutboxItem) -> str:
        texts = await self.lookups.recent_texts(row, SCRIPT_LOOKBACK)
        scripts = await self._converter()
        for text in texts:
            if text and not text.startswith("/"):
                found = scripts.detect(text, "")
                if found == "hant" or scripts.detect(text, "hant") == "hans":
                    return found  # the text shows a script (not just the default)
        return "hans"

    async def _converter(self) -> ScriptConverter:
        if self._scripts is None:  # OpenCC loads its dictionaries from disk: not on the loop
            from actions.engine import ScriptConverter

            self._scripts = await asyncio.to_thread(ScriptConverter)
        return self._scripts


async def run_outbox_worker(
    runtime: DeskRuntime,
    bot: Bot,
    replies: ReplySender,
    stop: asyncio.Event,
    *,
    lookups: NoticeLookups,
    engine: DialogueEngine | None = None,
    poll_interval: float = POLL_INTERVAL,
    batch_size: int = 30,
    topics: TopicStore | None = None,
) -> None:
    """Send the desk's `telegram` outbox rows until `stop` is set. `lookups`: what the
    sender reads of the desk (`app.adapters.DeskNoticeLookups`).

    `replies`: the bot's `ReplySender` when the worker runs beside the Dispatcher (shared
    button map and rate limits), else one over a button map the bot process shares (the
    database's, `desk.buttons.DeskButtonStore`, or the Redis FSM storage), so that the bot
    finds the rating buttons' payloads; `app.runners` picks it."""
    sender = TelegramNoticeSender(bot, replies, lookups, engine=engine, topics=topics)
    worker = OutboxWorker(
        runtime.sessions,
        sender,
        channel=CHANNEL,
        batch_size=batch_size,
        poll_interval=poll_interval,
        clock=runtime.clock,
    )
    await serve(runtime.engine, worker, stop, name="outbox worker")

"""The Telegram side's ports (`bot.ports`) over the case backend, one session per call.

* `DeskInboundStore` — every update becomes a `message` row (idempotent on `update_id`),
  committed before the update is acted on.
* `DeskFileIntake` — content checks (`desk.documents`), then the sanitised bytes and the
  thumbnail go to the attachment store and an `attachment` row.
* `DeskOutboundStore` — what the bot sent, as outbound `message` rows.
* `run_desk_outbox` — a stop-gap outbox worker: the desk's `OutboxWorker` delivering through
  `bot.sender.TelegramOutboxSender`, until `bot.notices.run_outbox_worker` replaces it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiogram import Bot

from actions.channel import Button, InboundFile
from actions.desk_gateway import DeskConversations
from bot.ports import OutboxNotice
from bot.sender import NoticeUndeliverable, ReplySender, TelegramOutboxSender
from bot.sender import RetryLater as BotRetryLater
from desk.documents import inspect_upload_async
from desk.outbox import OutboxItem, OutboxWorker, RetryLater, Undeliverable
from desk.storage import LocalAttachmentStore

log = logging.getLogger(__name__)


class DeskInboundStore:
    """`bot.ports.InboundStore` over `Desk.ensure_conversation` + `Desk.record_inbound`."""

    def __init__(self, conversations: DeskConversations) -> None:
        self.conversations = conversations

    async def record_update(
        self,
        channel: str,
        update_id: int,
        chat_id: str | None,
        user_id: str | None,
        text: str | None,
        raw: dict[str, Any],
    ) -> bool:
        """Store the update as an inbound message row; False if it was stored before.
        Updates without a chat (none that the bot asks for) are not stored."""
        if chat_id is None:
            return True
        message = raw.get("message") or raw.get("edited_message") or {}
        user = message.get("from") or (raw.get("callback_query") or {}).get("from") or {}
        return await self.record_message(
            channel,
            chat_id,
            user_id,
            text,
            update_id=str(update_id),
            channel_message_id=str(message["message_id"]) if "message_id" in message else None,
            display_name=user.get("first_name"),
        )

    async def record_message(
        self,
        channel: str,
        chat_id: str,
        user_id: str | None,
        text: str | None,
        *,
        update_id: str | None = None,
        channel_message_id: str | None = None,
        display_name: str | None = None,
        attachment_id: int | None = None,
    ) -> bool:
        """Store one inbound message (any channel); False for a repeated `update_id`."""
        async with self.conversations.desk() as desk:
            ref = await self.conversations.ensure(
                desk, channel, chat_id, user_id, display_name=display_name
            )
            _msg, is_new = await desk.record_inbound(
                ref.id,
                text=text,
                update_id=update_id,
                channel_message_id=channel_message_id,
                attachment_id=attachment_id,
            )
        return is_new


class DeskOutboundStore:
    """Records what the bot sent (`Desk.record_outbound`)."""

    def __init__(self, conversations: DeskConversations) -> None:
        self.conversations = conversations

    async def record_sent(
        self,
        channel: str,
        chat_id: str,
        texts: list[tuple[str | None, str | None]],
        *,
        outbox_key: str | None = None,
    ) -> None:
        """Store `(text, channel message id)` pairs as outbound rows of the chat."""
        async with self.conversations.desk() as desk:
            ref = await self.conversations.ensure(desk, channel, chat_id)
            for text, message_id in texts:
                await desk.record_outbound(
                    ref.id, text=text, channel_message_id=message_id, outbox_key=outbox_key
                )


class DeskFileIntake:
    """`bot.ports.FileIntake`: `inspect_upload_async` (off the event loop), then the checked
    bytes and thumbnail into `LocalAttachmentStore(data_dir / "attachments")` and a row."""

    def __init__(self, conversations: DeskConversations, data_dir: Path) -> None:
        self.conversations = conversations
        self.store = LocalAttachmentStore(Path(data_dir) / "attachments")

    async def accept(
        self, data: bytes, filename: str | None, declared_type: str | None
    ) -> InboundFile:
        """Check and store; `desk.documents.DocumentRejected` (with `.user_message`)."""
        doc = await inspect_upload_async(data, filename=filename, declared_type=declared_type)
        async with self.conversations.desk() as desk:
            att = await desk.store_attachment(
                self.store,
                doc.data,
                media_type=doc.media_type,
                suffix=doc.suggested_extension,
                original_name=doc.original_name,
                thumbnail=doc.thumbnail,
                page_count=doc.page_count,
            )
        return InboundFile(
            attachment_id=att.id,
            media_type=doc.media_type,
            original_name=doc.original_name,
            size=doc.size,
            page_count=doc.page_count,
        )


# ---------------------------------------------------------------------- outbox (stop-gap)


class DeskNoticeSender:
    """`desk.outbox.Sender` for Telegram rows: the text in the conversation's script (from
    the tracker), the rating buttons, the idempotency key recorded with the outbound row."""

    def __init__(
        self,
        telegram: TelegramOutboxSender,
        conversations: DeskConversations,
        *,
        engine: Any = None,
    ) -> None:
        self.telegram = telegram
        self.conversations = conversations
        self.engine = engine
        self.outbound = DeskOutboundStore(conversations)

    async def _script(self, channel: str, chat_id: str) -> str:
        if self.engine is None:
            return "zh_hans"
        tracker = await self.engine.tracker(channel, chat_id)
        return "zh_hant" if tracker is not None and tracker.script == "hant" else "zh_hans"

    async def send(self, row: OutboxItem) -> None:
        """Deliver one row (desk exceptions for retry / never)."""
        if row.channel != "telegram" or not row.chat_id:
            raise Undeliverable(f"no Telegram chat for outbox row {row.id}")
        script = await self._script(row.channel, row.chat_id)
        text = row.payload.get("text") or {}
        buttons = tuple(
            tuple(
                Button(title=_pick(b.get("title"), script), payload=str(b["payload"])) for b in r
            )
            for r in row.payload.get("buttons") or ()
        )
        notice = OutboxNotice(
            id=row.id,
            idempotency_key=row.idempotency_key,
            channel=row.channel,
            chat_id=row.chat_id,
            text=_pick(text, script),
            buttons=buttons,
            attempts=row.attempts,
        )
        try:
            message_id = await self.telegram.send(notice)
        except BotRetryLater as e:
            raise RetryLater(e.delay, e.error) from e
        except NoticeUndeliverable as e:
            raise Undeliverable(str(e)) from e
        if row.kind == "case_question" and self.engine is not None:
            await self.engine.note_staff_question(
                row.channel, row.chat_id, str(row.payload.get("case_number"))
            )
        try:
            await self.outbound.record_sent(
                row.channel,
                row.chat_id,
                [(notice.text, message_id)],
                outbox_key=row.idempotency_key,
            )
        except Exception:  # delivered; the row is marked sent regardless
            log.exception("outbox row %s sent but not recorded", row.id)


def _pick(value: Any, script: str) -> str:
    if isinstance(value, dict):
        return str(value.get(script) or value.get("zh_hans") or "")
    return str(value or "")


async def run_desk_outbox(
    conversations: DeskConversations,
    bot: Bot,
    replies: ReplySender,
    stop: Any,
    *,
    engine: Any = None,
    delivery_log: Any = None,
    poll_interval: float = 0.2,
) -> None:
    """Deliver the desk's outbox to Telegram until `stop` is set (stop-gap, see above).
    `replies` must share the bot's button store so the rating buttons resolve."""
    sender = DeskNoticeSender(
        TelegramOutboxSender(bot, replies, delivery_log=delivery_log),
        conversations,
        engine=engine,
    )
    worker = OutboxWorker(conversations.runtime.sessions, sender, poll_interval=poll_interval)
    await worker.run_forever(stop)

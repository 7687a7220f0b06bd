"""STOP-GAP until `bot.notices.run_outbox_worker` (branch `notices`) is merged; delete then.

The desk's `OutboxWorker` delivering through `bot.sender.TelegramOutboxSender`: the text in
the conversation's script (from the tracker), the rating buttons through the bot's button
store, the idempotency key recorded with the outbound row. `bot.wiring.run_outbox` imports
this module only when `bot.notices` is missing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot

from actions.channel import Button
from actions.desk_gateway import DeskConversations
from bot.adapters import DeskOutboundStore
from bot.ports import OutboxNotice
from bot.sender import DeliveryLog, NoticeUndeliverable, ReplySender, TelegramOutboxSender
from bot.sender import RetryLater as BotRetryLater
from desk.outbox import OutboxItem, OutboxWorker, RetryLater, Undeliverable

log = logging.getLogger(__name__)


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
    stop: asyncio.Event,
    *,
    storage: Any = None,
    engine: Any = None,
    poll_interval: float = 0.2,
) -> None:
    """Deliver the desk's outbox to Telegram until `stop` is set. `replies` must share the
    bot's button store so the rating buttons resolve; `storage` keeps the delivery log."""
    delivery_log = DeliveryLog(storage, bot.id) if storage is not None else None
    sender = DeskNoticeSender(
        TelegramOutboxSender(bot, replies, delivery_log=delivery_log),
        conversations,
        engine=engine,
    )
    worker = OutboxWorker(conversations.runtime.sessions, sender, poll_interval=poll_interval)
    await worker.run_forever(stop)

"""The outbox worker for Telegram: claims due notices and sends them.

Delivery is at least once: a notice is marked sent only after Telegram accepted it, and a
failed attempt is rescheduled (`retry_after` from a 429, backoff otherwise). "Shown once"
rests on the outbox: each row has an idempotency key, is claimed by one worker at a time and
is never sent again once marked sent; the sender also keeps a per-chat log of delivered
keys (`bot.sender.DeliveryLog`), so a row claimed again after a failed `mark_sent` is not
shown twice. The remaining window is a crash between Telegram's answer and that log write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable

from bot.ports import OutboxNotice, OutboxSource
from bot.sender import NoticeUndeliverable, RetryLater, TelegramOutboxSender

log = logging.getLogger(__name__)


class OutboxWorker:
    """Polls the outbox and sends notices; chats in parallel, each chat in order."""

    def __init__(
        self,
        source: OutboxSource,
        sender: TelegramOutboxSender,
        *,
        channel: str = "telegram",
        batch_size: int = 50,
        poll_interval: float = 0.5,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.source = source
        self.sender = sender
        self.channel = channel
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.wake = wake or asyncio.Event()

    async def run_once(self) -> int:
        """Claim and send one batch; the number of notices handled."""
        notices = await self.source.claim_due(self.channel, self.batch_size)
        by_chat: dict[str, list[OutboxNotice]] = defaultdict(list)
        for n in notices:
            by_chat[n.chat_id].append(n)
        await asyncio.gather(*(self._send_chat(chat) for chat in by_chat.values()))
        return len(notices)

    async def _send_chat(self, notices: list[OutboxNotice]) -> None:
        for i, notice in enumerate(notices):
            try:
                external_id = await self.sender.send(notice)
            except RetryLater as e:
                log.info("notice %s: retry in %.1fs (%s)", notice.id, e.delay, e.error)
                # Keep the chat's order: what comes after waits at least as long.
                for later in notices[i:]:
                    await self.source.retry_later(later.id, delay=e.delay, error=e.error)
                return
            except NoticeUndeliverable as e:
                log.warning("notice %s undeliverable: %s", notice.id, e)
                await self.source.mark_failed(notice.id, error=str(e))
                continue
            except Exception as e:
                log.exception("notice %s: unexpected error", notice.id)
                await self.source.retry_later(notice.id, delay=30.0, error=type(e).__name__)
                continue
            await self.source.mark_sent(notice.id, external_id=external_id)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Loop until `stop` is set (or cancelled)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("outbox worker: claiming failed")
                handled = 0
            if handled:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    _first(stop.wait(), self.wake.wait()), timeout=self.poll_interval
                )


async def _first(*aws: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()

"""One dialogue turn per inbound message, one at a time per chat.

Updates are handled concurrently (polling runs each in a task, the webhook too), but two
messages of one taxpayer must reach the dialogue in order and their replies must not
interleave. `TurnRunner` holds a per-chat lock around "dialogue, then send". Albums are
collected before the lock is taken, so their items can still arrive in parallel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram import Bot
from aiogram.types import Message

from actions.channel import InboundMessage
from bot.ports import Dialogue, OutboundStore
from bot.sender import ReplySender

log = logging.getLogger(__name__)


class ChatLocks:
    """FIFO asyncio locks per chat, forgotten when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, chat_id: str) -> AsyncIterator[None]:
        """Hold `chat_id`'s lock."""
        lock, users = self._locks.get(chat_id, (asyncio.Lock(), 0))
        self._locks[chat_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[chat_id]
            if users <= 1:
                del self._locks[chat_id]
            else:
                self._locks[chat_id] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class TurnRunner:
    """Runs the dialogue for an inbound message and sends its replies, in chat order."""

    def __init__(
        self,
        dialogue: Dialogue,
        replies: ReplySender,
        outbound: OutboundStore | None = None,
    ) -> None:
        self.dialogue = dialogue
        self.replies = replies
        self.outbound = outbound
        self.locks = ChatLocks()

    async def run(self, bot: Bot, inbound: InboundMessage) -> list[Message]:
        """One turn; the messages sent (recorded as outbound rows when there is a store)."""
        async with self.locks.hold(inbound.chat_id):
            out = await self.dialogue.handle(inbound)
            sent = await self.replies.send(bot, int(inbound.chat_id), out)
            if self.outbound is not None and sent:
                try:
                    await self.outbound.record_sent(
                        inbound.channel,
                        inbound.chat_id,
                        [(m.text, str(m.message_id)) for m in sent],
                    )
                except Exception:  # already sent: losing the copy must not fail the turn
                    log.exception("replies sent but not recorded")
            return sent

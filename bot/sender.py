"""Sending to Telegram: replies split at the message limit, inline keyboards, rate limits.

Rate limits are applied by design rather than by waiting for 429s: a token bucket of ~30
messages/s for the whole bot, ~1/s per private chat (short bursts of 3 allowed so a split
reply goes out at once) and 20/min per group. A 429 still happens sometimes (limits are
not published exactly); interactive replies wait `retry_after` and try again; outbox
notices (`bot.notices`) let it propagate so the outbox schedules the row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import FSInputFile, Message, ReplyKeyboardRemove

from actions.channel import Reply
from bot.keyboards import build_keyboard
from bot.ports import ButtonStore

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
MAX_FLOOD_WAIT = 60.0  # an interactive reply waits at most this long for a 429 to pass
EMPTY_WITH_BUTTONS = "请选择："
SERVER_ERROR_RETRIES = 2


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split `text` into pieces of at most `limit` UTF-16 code units (Telegram counts those),
    preferring line boundaries; a single line longer than the limit is cut where it must."""
    if _utf16_len(text) <= limit:
        return [text] if text.strip() else []
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if _utf16_len(current) + _utf16_len(line) <= limit:
            current += line
            continue
        if current.strip():
            chunks.append(current.rstrip("\n"))
        current = ""
        while _utf16_len(line) > limit:
            head, line = _cut(line, limit)
            chunks.append(head)
        current = line
    if current.strip():
        chunks.append(current.rstrip("\n"))
    return chunks


def _cut(line: str, limit: int) -> tuple[str, str]:
    """The longest prefix of `line` within `limit` UTF-16 units, and the rest."""
    units = 0
    for i, ch in enumerate(line):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return line[:i], line[i:]
    return line, ""


class TokenBucket:
    """A token bucket that reserves: `acquire()` returns at once if a token is free, or sleeps
    exactly until its turn (tokens may go negative, which queues callers fairly)."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._stamp = time.monotonic()

    def reserve(self) -> float:
        """Take a token; the seconds to wait before using it."""
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    @property
    def idle(self) -> bool:
        """Full again (nothing reserved): safe to forget."""
        now = time.monotonic()
        return self._tokens + (now - self._stamp) * self.rate >= self.capacity


class RateLimiter:
    """Global and per-chat buckets. Group chats have negative ids in the Bot API."""

    def __init__(
        self,
        *,
        global_rate: float = 30.0,
        chat_rate: float = 1.0,
        chat_burst: float = 3.0,
        group_rate: float = 20 / 60,
        group_burst: float = 3.0,
        max_chats: int = 10_000,
    ) -> None:
        self._global = TokenBucket(global_rate, global_rate)
        self._chat_rate, self._chat_burst = chat_rate, chat_burst
        self._group_rate, self._group_burst = group_rate, group_burst
        self._chats: dict[int, TokenBucket] = {}
        self._max_chats = max_chats

    def _bucket(self, chat_id: int) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) >= self._max_chats:
                self._chats = {k: b for k, b in self._chats.items() if not b.idle}
            if chat_id < 0:
                bucket = TokenBucket(self._group_rate, self._group_burst)
            else:
                bucket = TokenBucket(self._chat_rate, self._chat_burst)
            self._chats[chat_id] = bucket
        return bucket

    async def acquire(self, chat_id: int) -> None:
        """Wait until one more message to `chat_id` is within the limits."""
        wait = max(self._bucket(chat_id).reserve(), self._global.reserve())
        if wait > 0:
            await asyncio.sleep(wait)


class ReplySender:
    """Sends the dialogue's replies to a chat."""

    def __init__(self, buttons: ButtonStore, limiter: RateLimiter | None = None) -> None:
        self.buttons = buttons
        self.limiter = limiter or RateLimiter()

    async def send(
        self,
        bot: Bot,
        chat_id: int,
        replies: Sequence[Reply],
        *,
        wait_on_flood: bool = True,
    ) -> list[Message]:
        """Send `replies` in order; long texts are split, buttons go under the last piece.

        With `wait_on_flood`, a 429 is waited out (up to `MAX_FLOOD_WAIT`) and the piece is
        sent again; otherwise `TelegramRetryAfter` propagates."""
        sent: list[Message] = []
        for reply in replies:
            markup, mapping = build_keyboard(reply.buttons)
            if markup is None and reply.remove_keyboard:
                markup = ReplyKeyboardRemove()  # type: ignore[assignment]
            pieces = split_text(reply.text)
            if not pieces and reply.buttons:
                pieces = [EMPTY_WITH_BUTTONS]
            if mapping:
                await self.buttons.put(chat_id, mapping)  # before sending: a press can be fast
            if reply.document is not None:
                # The file with the text as its caption; a caption over Telegram's limit
                # follows the file as text.
                caption = reply.text if 0 < _utf16_len(reply.text) <= CAPTION_LIMIT else None
                sent.append(
                    await self._send_file(
                        bot,
                        chat_id,
                        reply,
                        caption,
                        markup if caption is not None or not pieces else None,
                        wait_on_flood,
                    )
                )
                if caption is not None:
                    continue
            elif not pieces and markup is not None:
                pieces = [EMPTY_WITH_BUTTONS]
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                sent.append(
                    await self._send_one(
                        bot, chat_id, piece, markup if last else None, wait_on_flood
                    )
                )
        return sent

    async def _send_file(
        self,
        bot: Bot,
        chat_id: int,
        reply: Reply,
        caption: str | None,
        markup: object,
        wait_on_flood: bool,
    ) -> Message:
        document = reply.document
        assert document is not None

        def send() -> Awaitable[Message]:
            return bot.send_document(
                chat_id,
                FSInputFile(document.path, filename=document.name),
                caption=caption,
                reply_markup=markup,  # type: ignore[arg-type]
            )

        return await self._retrying(chat_id, send, wait_on_flood)

    async def _send_one(
        self, bot: Bot, chat_id: int, text: str, markup: object, wait_on_flood: bool
    ) -> Message:
        def send() -> Awaitable[Message]:
            return bot.send_message(chat_id, text, reply_markup=markup)  # type: ignore[arg-type]

        return await self._retrying(chat_id, send, wait_on_flood)

    async def _retrying(
        self, chat_id: int, send: Callable[[], Awaitable[Message]], wait_on_flood: bool
    ) -> Message:
        waited = 0.0
        failures = 0
        while True:
            await self.limiter.acquire(chat_id)
            try:
                return await send()
            except TelegramRetryAfter as e:
                if not wait_on_flood or waited + e.retry_after > MAX_FLOOD_WAIT:
                    raise
                log.warning("flood control on chat, waiting %ss", e.retry_after)
                waited += e.retry_after
                await asyncio.sleep(e.retry_after)
            except (TelegramServerError, TelegramNetworkError) as e:
                # A taxpayer is waiting: retry a hiccup briefly; the outbox has its own backoff.
                failures += 1
                if not wait_on_flood or failures > SERVER_ERROR_RETRIES:
                    raise
                log.warning("send failed (%s), retry %d", type(e).__name__, failures)
                await asyncio.sleep(0.5 * failures)

"""Middlewares: store every update before acting (and drop duplicates), "typing…" while a
handler works, and log redaction so secrets and taxpayer IDs never reach the logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject, Update

from bot.convert import CHANNEL, describe_update
from bot.ports import InboundStore
from taxrules.masking import redact_taxpayer_ids

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

#: Set in the middleware data by the webhook handler, which stores the update itself
#: before answering Telegram.
RECORDED_FLAG = "update_recorded"


def raw_update(update: Update) -> dict[str, Any]:
    """The update as Telegram sent it (aliases such as `from`, no nulls)."""
    return update.model_dump(mode="json", by_alias=True, exclude_none=True)


async def record(store: InboundStore, update: Update, raw: dict[str, Any] | None = None) -> bool:
    """Store `update`; True if it is new."""
    chat_id, user_id, text = describe_update(update)
    return await store.record_update(
        CHANNEL, update.update_id, chat_id, user_id, text, raw or raw_update(update)
    )


class InboundStoreMiddleware(BaseMiddleware):
    """Outer update middleware: every update is stored before any handler runs; an update
    already stored (same `update_id`) is dropped. If storing fails the update is not acted
    on (the exception propagates and is logged by aiogram)."""

    def __init__(self, store: InboundStore) -> None:
        self.store = store

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update) and not data.get(RECORDED_FLAG):
            if not await record(self.store, event):
                log.info("duplicate update %s dropped", event.update_id)
                return None
        return await handler(event, data)


class _Typing:
    """Sends "typing" every `interval` seconds from `start()` until `stop()`."""

    __slots__ = ("bot", "chat_id", "interval", "task")

    def __init__(self, bot: Bot, chat_id: int, interval: float) -> None:
        self.bot, self.chat_id, self.interval = bot, chat_id, interval
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.bot.send_chat_action(self.chat_id, "typing")
            except TelegramAPIError as e:  # cosmetic: never let it break the turn
                log.debug("typing not sent: %s", type(e).__name__)
            await asyncio.sleep(self.interval)

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()


class TypingMiddleware(BaseMiddleware):
    """Inner middleware: shows "typing…" while the handler works. The first action is sent
    only after `initial_sleep` seconds, so quick answers cost no API call; until then the
    only cost is one timer (aiogram's `ChatActionSender` starts a task per update)."""

    def __init__(self, *, initial_sleep: float = 0.4, interval: float = 4.5) -> None:
        self.initial_sleep = initial_sleep
        self.interval = interval

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        bot: Bot | None = data.get("bot")
        chat_id: int | None = None
        if isinstance(event, Message):
            chat_id = event.chat.id
        elif isinstance(event, CallbackQuery) and event.message is not None:
            chat_id = event.message.chat.id
        if bot is None or chat_id is None:
            return await handler(event, data)
        typing = _Typing(bot, chat_id, self.interval)
        timer = asyncio.get_running_loop().call_later(self.initial_sleep, typing.start)
        try:
            return await handler(event, data)
        finally:
            timer.cancel()
            typing.stop()


class RedactingFilter(logging.Filter):
    """A logging filter that removes the given secrets and masks taxpayer IDs (credit codes,
    resident identity numbers, 15-character numbers: `taxrules.masking.redact_taxpayer_ids`)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        """`text` without secrets and with taxpayer IDs masked."""
        for secret in self.secrets:  # first: masking an ID inside a secret would hide it
            text = text.replace(secret, "***")
        return redact_taxpayer_ids(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(_FORMATTER.formatException(record.exc_info))
        return True


_FORMATTER = logging.Formatter()


def install_log_redaction(secrets: Iterable[str]) -> RedactingFilter:
    """Attach a `RedactingFilter` to every handler of the root logger (call once at start)."""
    flt = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
    return flt

"""Typed errors turned into text for the taxpayer, in one place; the rest is logged."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent, Update

from bot.convert import pick
from taxrules.errors import UserFacingError

log = logging.getLogger(__name__)


def _chat_and_language(update: Update) -> tuple[int | None, str | None]:
    if update.message is not None:
        user = update.message.from_user
        return update.message.chat.id, user.language_code if user else None
    query = update.callback_query
    if query is not None and query.message is not None:
        return query.message.chat.id, query.from_user.language_code
    return None, None


async def _is_user_facing(event: ErrorEvent) -> bool:
    return isinstance(event.exception, UserFacingError)


async def on_user_error(event: ErrorEvent, bot: Bot) -> None:
    """A `UserFacingError` (FileTooLarge, DocumentRejected, domain errors of the dialogue):
    tell the taxpayer its `user_message`, private chats only."""
    exc = event.exception
    chat_id, _ = _chat_and_language(event.update)
    log.info("update %s: %s", event.update.update_id, type(exc).__name__)
    if chat_id is not None and chat_id > 0 and isinstance(exc, UserFacingError):
        await bot.send_message(chat_id, exc.user_message)


async def on_unexpected(event: ErrorEvent, bot: Bot) -> None:
    """Anything else: log the type and where (never the update's content) and apologise."""
    log.error(
        "update %s failed: %s",
        event.update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    chat_id, lang = _chat_and_language(event.update)
    if chat_id is None or chat_id < 0 or isinstance(event.exception, TelegramAPIError):
        return
    try:
        await bot.send_message(
            chat_id,
            pick(
                lang,
                "抱歉，系统出了点问题，请稍后再试，或发送 /human 转人工。",
                "抱歉，系統出了點問題，請稍後再試，或發送 /human 轉人工。",
            ),
        )
    except TelegramAPIError:
        log.warning("could not send the apology for update %s", event.update.update_id)


def build_router() -> Router:
    """Error handlers (they see errors of every router in the dispatcher)."""
    router = Router(name="errors")
    router.errors.register(on_user_error, _is_user_facing)
    router.errors.register(on_unexpected)
    return router

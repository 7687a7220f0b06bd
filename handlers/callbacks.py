"""Inline button presses: the button's payload goes to the dialogue."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery

from actions.channel import Reply
from bot.convert import from_button, pick
from bot.keyboards import ButtonCb
from bot.ports import ButtonStore
from bot.sender import ReplySender
from bot.turns import TurnRunner

log = logging.getLogger(__name__)


async def on_button(
    query: CallbackQuery,
    callback_data: ButtonCb,
    bot: Bot,
    buttons: ButtonStore,
    replies: ReplySender,
    turns: TurnRunner,
) -> None:
    """Answer the query, take the keyboard away (a second press finds none and is ignored),
    then run the dialogue with the payload."""
    await query.answer()
    message = query.message
    if message is None:
        return
    chat_id = message.chat.id
    try:
        await bot.edit_message_reply_markup(
            chat_id=chat_id, message_id=message.message_id, reply_markup=None
        )
    except TelegramBadRequest as e:
        if "not modified" in e.message:
            log.info("second press on one keyboard ignored")
            return
        log.warning("could not remove keyboard: %s", e.message)
    payload = await buttons.get(chat_id, callback_data.k)
    if payload is None:
        lang = query.from_user.language_code
        text = pick(lang, "这个按钮已过期，请重新操作。", "這個按鈕已過期，請重新操作。")
        await replies.send(bot, chat_id, [Reply(text)])
        return
    await turns.run(bot, from_button(query, chat_id, payload))


async def on_unknown_button(query: CallbackQuery) -> None:
    """Callback data we did not make (an old bot version): just stop the spinner."""
    with contextlib.suppress(TelegramBadRequest):
        await query.answer()


def build_router() -> Router:
    """Dialogue buttons, then anything else."""
    router = Router(name="callbacks")
    router.callback_query.register(on_button, ButtonCb.filter())
    router.callback_query.register(on_unknown_button)
    return router

"""aiogram routers only: taxpayer chat, uploads, staff topics, admin, errors."""

from __future__ import annotations

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message

from bot.middlewares import TypingMiddleware
from handlers import callbacks, errors, staff, taxpayer, uploads

# Filters are coroutines on purpose: aiogram runs synchronous filters (magic `F` included)
# in a thread, which costs more than the whole rest of a turn.


async def in_private_chat(message: Message) -> bool:
    """A message in a one-to-one chat with the bot."""
    return message.chat.type == ChatType.PRIVATE


async def pressed_in_private_chat(query: CallbackQuery) -> bool:
    """A button under a message of a one-to-one chat."""
    return query.message is not None and query.message.chat.type == ChatType.PRIVATE


def get_routers(*, typing_delay: float = 0.4, staff_chat_id: int | None = None) -> list[Router]:
    """The routers of the bot, in order. Taxpayer features sit under one parent router that
    only sees private chats and shows "typing…" while its handlers work. Routers take what
    they need as arguments (the application passes it; handlers never import `app`). With
    `staff_chat_id`, the staff supergroup's router too."""
    taxpayer_chat = Router(name="taxpayer_chat")
    taxpayer_chat.message.filter(in_private_chat)
    taxpayer_chat.callback_query.filter(pressed_in_private_chat)
    taxpayer_chat.edited_message.filter(in_private_chat)
    typing = TypingMiddleware(initial_sleep=typing_delay)
    taxpayer_chat.message.middleware(typing)
    taxpayer_chat.callback_query.middleware(typing)
    taxpayer_chat.include_routers(
        uploads.build_router(), callbacks.build_router(), taxpayer.build_router()
    )
    routers = [errors.build_router(), taxpayer_chat]
    if staff_chat_id is not None:
        routers.append(staff.build_router(staff_chat_id))
    return routers

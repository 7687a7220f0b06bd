"""aiogram routers only: taxpayer chat, uploads, staff topics, admin, errors."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType

from bot.middlewares import TypingMiddleware
from bot.settings import Settings
from handlers import callbacks, errors, taxpayer, uploads


def get_routers(settings: Settings, *, typing_delay: float = 0.4) -> list[Router]:
    """The routers of the bot, in order. Taxpayer features sit under one parent router that
    only sees private chats and shows "typing…" while its handlers work."""
    del settings  # staff/admin routers (later issues) depend on it
    taxpayer_chat = Router(name="taxpayer_chat")
    taxpayer_chat.message.filter(F.chat.type == ChatType.PRIVATE)
    taxpayer_chat.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)
    typing = TypingMiddleware(initial_sleep=typing_delay)
    taxpayer_chat.message.middleware(typing)
    taxpayer_chat.callback_query.middleware(typing)
    taxpayer_chat.include_routers(
        uploads.build_router(), callbacks.build_router(), taxpayer.build_router()
    )
    return [errors.build_router(), taxpayer_chat]

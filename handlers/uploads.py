"""Photos, documents and albums, with their captions as text."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.types import Message

from bot.albums import AlbumCollector
from bot.convert import from_message
from bot.files import UploadIntake
from bot.turns import TurnRunner


async def on_upload(
    message: Message,
    bot: Bot,
    albums: AlbumCollector,
    uploads: UploadIntake,
    turns: TurnRunner,
) -> None:
    """One dialogue turn per file, or per album (the first item's handler does the work)."""
    parts = await albums.collect(message)
    if parts is None:
        return
    files, rejected = await uploads.collect(bot, parts)
    caption = next((m.caption for m in parts if m.caption), None)
    originals = [
        (m.message_id, m.caption, m.reply_to_message.message_id if m.reply_to_message else None)
        for m in parts
    ]
    await turns.run(
        bot,
        from_message(parts[0], text=caption, files=files, rejected=rejected),
        originals=originals,
    )


async def has_file(message: Message) -> bool:
    """A photo or a document (async: aiogram runs sync filters in a thread)."""
    return bool(message.photo) or message.document is not None


def build_router() -> Router:
    """Photos and documents (albums included)."""
    router = Router(name="uploads")
    router.message.register(on_upload, has_file)
    return router

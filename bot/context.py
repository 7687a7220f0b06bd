"""What handlers receive by name from the Dispatcher (its keyword arguments), typed.

`Dispatcher(**deps)` puts these in the middleware data; a handler asks for one by naming a
parameter after it (aiogram's dependency injection)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.dispatcher.middlewares.data import MiddlewareData

if TYPE_CHECKING:
    from bot.albums import AlbumCollector
    from bot.files import UploadIntake
    from bot.ports import ButtonStore, Dialogue, InboundStore
    from bot.sender import ReplySender
    from bot.turns import TurnRunner


class TaxdeskData(MiddlewareData, total=False):
    """The middleware data of a taxdesk update."""

    dialogue: Dialogue
    inbound: InboundStore
    uploads: UploadIntake
    albums: AlbumCollector
    buttons: ButtonStore
    replies: ReplySender
    turns: TurnRunner
    update_recorded: bool

"""Building the Bot and the Dispatcher from settings and the services they need.

Nothing is global: `create_dispatcher` passes every dependency as a Dispatcher keyword
argument, and handlers receive them by name (see `bot.context.TaxdeskData`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage

from bot.albums import AlbumCollector
from bot.files import TelegramFileFetcher, UploadIntake
from bot.keyboards import StorageButtonStore
from bot.middlewares import InboundStoreMiddleware
from bot.ports import (
    AttachmentLinker,
    ButtonStore,
    Dialogue,
    FileIntake,
    InboundStore,
    OutboundStore,
)
from bot.sender import RateLimiter, ReplySender
from bot.settings import Settings
from bot.turns import TurnRunner
from handlers import get_routers

if TYPE_CHECKING:
    from bot.notices import NoticeOutbox


class MissingToken(Exception):
    """No `TELEGRAM_BOT_TOKEN`."""

    user_message = "没有设置 TELEGRAM_BOT_TOKEN，Telegram 机器人不会启动。"


@dataclass
class TelegramDeps:
    """The services the Telegram side uses (real adapters, or `testing.memory` fakes).
    `outbox`: the desk and dialogue the in-process outbox worker needs (None: no worker)."""

    dialogue: Dialogue
    inbound: InboundStore
    intake: FileIntake
    outbox: NoticeOutbox | None = None
    outbound: OutboundStore | None = None  # records what the bot sent
    buttons: ButtonStore | None = None  # the button map; None: kept in the FSM storage
    links: AttachmentLinker | None = None  # files onto their message rows (None: not linked)


@dataclass
class BotOptions:
    """Tuning that tests change; the defaults are for production."""

    album_quiet: float = 0.8
    typing_delay: float = 0.4
    limiter: RateLimiter = field(default_factory=RateLimiter)
    outbox_poll_interval: float = 0.5


def api_server(settings: Settings) -> TelegramAPIServer | None:
    """The self-hosted Bot API server of `TELEGRAM_API_URL`, if set."""
    if not settings.telegram_api_url:
        return None
    return TelegramAPIServer.from_base(
        settings.telegram_api_url, is_local=settings.telegram_api_local
    )


def create_bot(settings: Settings) -> Bot:
    """A Bot for `TELEGRAM_BOT_TOKEN`, through `TELEGRAM_API_URL` when set."""
    if settings.telegram_bot_token is None:
        raise MissingToken("TELEGRAM_BOT_TOKEN is not set")
    server = api_server(settings)
    session = AiohttpSession(api=server) if server is not None else AiohttpSession()
    return Bot(settings.telegram_bot_token.get_secret_value(), session=session)


def build_storage(settings: Settings) -> BaseStorage:
    """FSM storage: Redis when `REDIS_URL` is set (keys `taxdesk:fsm:…`, with the destiny so
    the button map does not clash with FSM data), memory otherwise."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(
            settings.redis_url,
            key_builder=DefaultKeyBuilder(prefix="taxdesk:fsm", with_destiny=True),
        )
    return MemoryStorage()


def create_dispatcher(
    settings: Settings,
    bot: Bot,
    deps: TelegramDeps,
    *,
    storage: BaseStorage | None = None,
    options: BotOptions | None = None,
) -> Dispatcher:
    """The Dispatcher with the inbound-store middleware, the routers and every dependency
    passed as a keyword argument. The button map is `deps.buttons` when given (the database
    when `REDIS_URL` is not set, see `bot.wiring`), else kept in `storage`."""
    options = options or BotOptions()
    storage = storage or build_storage(settings)
    buttons = deps.buttons or StorageButtonStore(storage, bot.id)
    replies = ReplySender(buttons, options.limiter)
    fetcher = TelegramFileFetcher(
        local_server=bool(settings.telegram_api_url and settings.telegram_api_local)
    )
    dp = Dispatcher(
        storage=storage,
        settings=settings,
        dialogue=deps.dialogue,
        inbound=deps.inbound,
        uploads=UploadIntake(fetcher, deps.intake, deps.links),
        albums=AlbumCollector(quiet=options.album_quiet),
        buttons=buttons,
        replies=replies,
        turns=TurnRunner(deps.dialogue, replies, deps.outbound),
    )
    dp.update.outer_middleware(InboundStoreMiddleware(deps.inbound))
    dp.include_routers(*get_routers(settings, typing_delay=options.typing_delay))
    return dp

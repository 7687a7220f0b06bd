"""Building the Bot, its FSM storage and the Dispatcher from the container.

Nothing is global: `create_dispatcher` passes every dependency as a Dispatcher keyword
argument, and handlers receive them by name (see `bot.context.TaxdeskData`). This is the one
place that puts `handlers` together with the Telegram channel of `bot`.
"""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import MemoryStorage

from app.container import Container
from app.settings import Settings
from bot.albums import AlbumCollector
from bot.files import TelegramFileFetcher, UploadIntake
from bot.keyboards import StorageButtonStore
from bot.middlewares import InboundStoreMiddleware
from bot.sender import ReplySender
from bot.turns import TurnRunner
from handlers import get_routers
from taxrules.errors import UserFacingError


class MissingToken(UserFacingError):
    """No `TELEGRAM_BOT_TOKEN`."""

    def __init__(self) -> None:
        super().__init__(
            "TELEGRAM_BOT_TOKEN is not set",
            "没有设置 TELEGRAM_BOT_TOKEN，Telegram 机器人不会启动。",
        )


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
        raise MissingToken()
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
    container: Container, bot: Bot, *, storage: BaseStorage | None = None
) -> Dispatcher:
    """The Dispatcher with the inbound-store middleware, the routers and every dependency
    passed as a keyword argument. The button map is `container.buttons` when given (the
    database when `REDIS_URL` is not set, see `app.container`), else kept in `storage`."""
    settings = container.settings
    storage = storage or build_storage(settings)
    buttons = container.buttons or StorageButtonStore(storage, bot.id)
    replies = ReplySender(buttons, container.limiter)
    fetcher = TelegramFileFetcher(
        local_server=bool(settings.telegram_api_url and settings.telegram_api_local)
    )
    staff = container.staff if settings.staff_chat_id is not None else None
    dp = Dispatcher(
        storage=storage,
        staff_desk=staff,
        staff_relay=staff,
        dialogue=container.engine,
        inbound=container.inbound,
        uploads=UploadIntake(fetcher, container.intake, container.links),
        albums=AlbumCollector(quiet=container.album_quiet),
        buttons=buttons,
        replies=replies,
        turns=TurnRunner(container.engine, replies, container.outbound, relay=staff),
    )
    dp.update.outer_middleware(InboundStoreMiddleware(container.inbound))
    dp.include_routers(
        *get_routers(
            typing_delay=container.typing_delay,
            staff_chat_id=settings.staff_chat_id if staff is not None else None,
        )
    )
    return dp

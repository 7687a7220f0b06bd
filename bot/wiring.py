"""Builders for the composition root: settings → desk runtime → NLU → dialogue → channels.

`main.py` stays small: it calls `build_services(settings)` (an async context manager that
opens and closes everything one process shares) and the runners below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from aiogram import Bot

from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.ports import Interpreter, TrackerStore
from app.adapters import (
    DeskCaseGateway,
    DeskConversations,
    DeskFileIntake,
    DeskInboundStore,
    DeskNoticeLookups,
    DeskOutboundStore,
    DeskTrackerStore,
)
from bot.app import TelegramService
from bot.factory import BotOptions, TelegramDeps, create_bot
from bot.files import LOCAL_LIMIT, OFFICIAL_LIMIT
from bot.middlewares import install_log_redaction
from bot.notices import NoticeOutbox, run_outbox_worker
from bot.ports import ButtonStore
from bot.settings import Settings
from desk.buttons import DeskButtonStore
from desk.messages import DeskAttachmentLinker
from desk.runtime import ROOT, DeskRuntime

log = logging.getLogger(__name__)

DATA_DIR = ROOT / "data"


@dataclass
class Services:
    """What one process shares between its channels and workers."""

    settings: Settings
    runtime: DeskRuntime
    conversations: DeskConversations
    engine: DialogueEngine
    inbound: DeskInboundStore
    intake: DeskFileIntake
    outbound: DeskOutboundStore
    buttons: ButtonStore | None = None  # the database button map (None with Redis)

    def telegram_deps(self) -> TelegramDeps:
        """The Telegram side's dependencies, with the desk's outbox for the in-process
        worker (`TelegramService.run_outbox`)."""
        return TelegramDeps(
            dialogue=self.engine,
            inbound=self.inbound,
            intake=self.intake,
            outbox=NoticeOutbox(self.runtime, DeskNoticeLookups(self.runtime), self.engine),
            outbound=self.outbound,
            buttons=self.buttons,
            links=DeskAttachmentLinker(self.runtime.sessions),
        )


def download_limit(settings: Settings) -> int:
    """The largest file the Bot API server hands out: 20 MB, or 2000 MB from a self-hosted
    server in `--local` mode (`TELEGRAM_API_LOCAL`)."""
    local = bool(settings.telegram_api_url and settings.telegram_api_local)
    return LOCAL_LIMIT if local else OFFICIAL_LIMIT


def load_interpreter(settings: Settings) -> Interpreter:
    """The NLU model of `TAXDESK_MODELS_DIR` (blocking: call in a thread at start-up)."""
    from nlu.interpreter import Interpreter as NluInterpreter

    return NluInterpreter.load(Path(settings.models_dir), Path(settings.nlu_config))


@contextlib.asynccontextmanager
async def build_services(
    settings: Settings,
    *,
    interpreter: Interpreter | None = None,
    today: Callable[[], date] = date.today,
    redis_prefix: str = "taxdesk:tracker:",
) -> AsyncIterator[Services]:
    """Open the desk, load the NLU model and the domain, build the dialogue engine and the
    adapters; close them all on exit. Trackers live in the conversation rows, or in Redis
    when `REDIS_URL` is set (keys `<redis_prefix><channel>:<chat>`). Button maps live in the
    database (`desk.buttons`), or in the bot's Redis FSM storage when `REDIS_URL` is set:
    either way they survive restarts and are shared by the bot and worker processes."""
    runtime = await asyncio.to_thread(DeskRuntime.create, settings.effective_database_url)
    closers: list[Callable[[], Awaitable[Any]]] = [runtime.close]
    try:
        if interpreter is None:
            interpreter = await asyncio.to_thread(load_interpreter, settings)
            aclose = getattr(interpreter, "aclose", None)
            if aclose is not None:
                closers.append(aclose)
        domain = await asyncio.to_thread(Domain.load, DATA_DIR)
        conversations = DeskConversations(runtime)
        closers.append(conversations.writes.aclose)  # queued writes land before the engine goes
        store: TrackerStore
        if settings.redis_url:
            from actions.stores import RedisTrackerStore

            redis_store = RedisTrackerStore.from_url(settings.redis_url, prefix=redis_prefix)
            closers.append(redis_store.aclose)
            store = redis_store
        else:
            store = DeskTrackerStore(conversations)
        engine = DialogueEngine(
            interpreter, DeskCaseGateway(conversations), store, domain, today=today
        )
        yield Services(
            settings=settings,
            runtime=runtime,
            conversations=conversations,
            engine=engine,
            inbound=DeskInboundStore(conversations),
            intake=DeskFileIntake(
                conversations, settings.data_dir, max_bytes=download_limit(settings)
            ),
            outbound=DeskOutboundStore(conversations),
            buttons=None
            if settings.redis_url
            else DeskButtonStore(runtime.sessions, clock=runtime.clock),
        )
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()


async def run_outbox(services: Services, stop: asyncio.Event, *, bot: Bot | None = None) -> None:
    """The outbox worker alone (`python main.py worker`) until `stop` is set, with its own
    `Bot` unless one is given. The notices' buttons go to the database button map (or Redis),
    where the bot process finds them; in the bot's process `run_telegram` runs the worker
    beside the Dispatcher instead."""
    own = bot is None
    bot = bot or create_bot(services.settings)
    try:
        await run_outbox_worker(
            services.settings,
            services.runtime,
            bot,
            stop,
            lookups=DeskNoticeLookups(services.runtime),
            engine=services.engine,
            buttons=services.buttons,
        )
    finally:
        if own:
            await bot.session.close()


async def run_telegram(
    services: Services,
    stop: asyncio.Event,
    *,
    worker: bool = True,
    bot: Bot | None = None,
    options: BotOptions | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """The bot (polling, or webhook when `WEBHOOK_URL` is set) and, unless `worker=False`,
    the outbox worker in the same process; until `stop` is set."""
    settings = services.settings
    token = settings.telegram_bot_token
    install_log_redaction([token.get_secret_value()] if token else [])
    service = TelegramService(settings, services.telegram_deps(), bot=bot, options=options)
    tasks: list[asyncio.Task[Any]] = []
    try:
        if worker:
            tasks.append(asyncio.create_task(service.run_outbox(stop), name="outbox"))
        if settings.webhook_url:
            await service.start_webhook()
            if ready is not None:
                ready.set()
            await stop.wait()
            await service.stop_webhook()
        else:
            polling = asyncio.create_task(service.run_polling(), name="polling")
            tasks.append(polling)
            if ready is not None:
                ready.set()
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait({polling, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            await service.stop_polling()
            if polling.done() and not polling.cancelled() and polling.exception():
                raise polling.exception()  # type: ignore[misc]
    finally:
        stop.set()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(t, timeout=5)
        await service.close()

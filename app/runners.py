"""Service runners: the Telegram bot (long polling or a webhook) with the outbox worker
beside it, or the outbox worker alone. Beside every outbox worker runs the hand-over sweep
(`run_handoff_sweep`): conversations handed to staff that stay idle for
`HANDOFF_IDLE_MINUTES` go back to the bot, and the taxpayer is told through the outbox;
with a staff group, the morning queue digest (`run_queue_digest`) is written there too.

Webhook: our own aiohttp handler checks the secret token, stores the update (message row)
and answers 200 at once; the update is processed afterwards in a task. If storing fails it
answers 500, so Telegram delivers the update again; a repeated `update_id` is answered 200
and dropped. Polling: the outer middleware stores each update before its handlers run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import time, timedelta
from typing import Any
from urllib.parse import urlparse

from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import BotCommandScopeAllPrivateChats, Update
from aiohttp import web

from app.container import Container
from app.telegram import build_storage, create_bot, create_dispatcher
from bot.keyboards import StorageButtonStore
from bot.middlewares import RECORDED_FLAG, install_log_redaction, record
from bot.notices import run_outbox_worker
from bot.sender import RateLimiter, ReplySender
from bot.topics import RedisRateLimit, TopicRateLimit, run_staff_outbox_worker
from desk.runtime import DeskRuntime
from handlers.taxpayer import bot_commands

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_SWEEP_INTERVAL = 30.0  # seconds between two hand-over sweeps, at most
DIGEST_CHECK_INTERVAL = 30.0  # seconds between two looks at the morning digest


async def run_handoff_sweep(
    runtime: DeskRuntime,
    idle_minutes: float,
    stop: asyncio.Event,
    *,
    interval: float | None = None,
) -> None:
    """Until `stop` is set, give conversations handed to staff and idle for `idle_minutes`
    back to the bot (`Desk.return_idle_to_bot`: the state and the taxpayer's notice in one
    transaction). Runs every `interval` seconds (default: a quarter of the idle time, at
    most `MAX_SWEEP_INTERVAL`); several sweepers (processes) may run at once."""
    idle = timedelta(minutes=idle_minutes)

    async def sweep() -> None:
        async with runtime.sessions() as session:
            flipped = await runtime.desk(session).return_idle_to_bot(idle)
        if flipped:
            log.info("hand-over sweep: %d conversation(s) back to the bot", len(flipped))

    every = interval or min(MAX_SWEEP_INTERVAL, idle.total_seconds() / 4)
    await _periodically(sweep, every, stop, name="hand-over sweep")


async def run_queue_digest(
    runtime: DeskRuntime,
    at: time,
    stop: asyncio.Event,
    *,
    interval: float = DIGEST_CHECK_INTERVAL,
) -> None:
    """Until `stop` is set, write the morning queue digest for the staff group's General
    topic (`Desk.queue_digest`): once per working day from `at` (Beijing time, the desk
    calendar's zone), even with several processes; a process started later in the day
    writes it if nobody did. Checks every `interval` seconds."""

    async def digest() -> None:
        async with runtime.sessions() as session:
            if await runtime.desk(session).queue_digest(at):
                log.info("queue digest written for the staff group")

    await _periodically(digest, interval, stop, name="queue digest")


async def _periodically(
    step: Callable[[], Awaitable[None]], every: float, stop: asyncio.Event, *, name: str
) -> None:
    """Run `step` every `every` seconds until `stop` is set; a failing step is logged and
    tried again at the next round."""
    while not stop.is_set():
        try:
            await step()
        except Exception:
            log.exception("%s failed; trying again", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


def _background(container: Container, stop: asyncio.Event) -> list[asyncio.Task[Any]]:
    """The periodic tasks beside an outbox worker: the hand-over sweep, and, with a staff
    group (and `STAFF_DIGEST_TIME` not off), the morning queue digest."""
    runtime = container.runtime
    assert runtime is not None
    settings = container.settings
    tasks = [
        asyncio.create_task(
            run_handoff_sweep(runtime, settings.handoff_idle_minutes, stop),
            name="handoff-sweep",
        )
    ]
    if settings.staff_chat_id is not None and settings.staff_digest_time is not None:
        tasks.append(
            asyncio.create_task(
                run_queue_digest(runtime, settings.staff_digest_time, stop),
                name="queue-digest",
            )
        )
    return tasks


class TelegramService:
    """One bot: its Dispatcher, polling or webhook, and its outbox worker."""

    def __init__(
        self,
        container: Container,
        *,
        bot: Bot | None = None,
        storage: BaseStorage | None = None,
    ) -> None:
        """`storage`: the FSM storage (button map); by default built from the settings."""
        settings = container.settings
        self.container = container
        self.settings = settings
        self.bot = bot or create_bot(settings)
        self._own_storage = storage is None
        self.storage = storage or build_storage(settings)
        self.dp: Dispatcher = create_dispatcher(container, self.bot, storage=self.storage)
        self.replies: ReplySender = self.dp["replies"]
        secret = settings.webhook_secret
        self.webhook_secret = (
            secret.get_secret_value() if secret is not None else secrets.token_urlsafe(32)
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ start-up

    async def setup(self) -> None:
        """Register the command menu (private chats)."""
        await self.bot.set_my_commands(bot_commands(), scope=BotCommandScopeAllPrivateChats())

    # ------------------------------------------------------------------ polling

    async def run_polling(self) -> None:
        """Long polling until `stop_polling()` (or SIGINT/SIGTERM when run from the CLI)."""
        await self.bot.delete_webhook(drop_pending_updates=False)
        await self.setup()
        await self.dp.start_polling(
            self.bot,
            allowed_updates=ALLOWED_UPDATES,
            handle_signals=False,
            close_bot_session=False,
        )

    async def stop_polling(self) -> None:
        """Stop a running `run_polling()`."""
        with contextlib.suppress(RuntimeError):
            await self.dp.stop_polling()

    # ------------------------------------------------------------------ webhook

    @property
    def webhook_path(self) -> str:
        """The path part of `WEBHOOK_URL`."""
        url = self.settings.webhook_url
        return (urlparse(url).path if url else "") or DEFAULT_WEBHOOK_PATH

    async def handle_webhook(self, request: web.Request) -> web.Response:
        """Check the secret, store the update, answer; process the update afterwards."""
        given = request.headers.get(SECRET_HEADER, "")
        if not secrets.compare_digest(given.encode(), self.webhook_secret.encode()):
            return web.Response(status=401, text="Unauthorized")
        try:
            raw = await request.json()
            update = Update.model_validate(raw, context={"bot": self.bot})
        except ValueError:
            return web.Response(status=400, text="Bad Request")
        try:
            is_new = await record(self.container.inbound, update, raw)
        except Exception:
            log.exception("update %s could not be stored; Telegram will retry", update.update_id)
            return web.Response(status=500, text="storage unavailable")
        if is_new:
            task = asyncio.create_task(self._process(update))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            log.info("duplicate update %s dropped", update.update_id)
        return web.json_response({})

    async def _process(self, update: Update) -> None:
        try:
            await self.dp.feed_update(self.bot, update, **{RECORDED_FLAG: True})
        except Exception:
            log.exception("update %s failed", update.update_id)

    def webhook_app(self) -> web.Application:
        """An aiohttp app with the webhook route (the console can mount it too)."""
        app = web.Application()
        app.router.add_post(self.webhook_path, self.handle_webhook)
        return app

    async def serve_webhook(self, *, host: str | None = None, port: int | None = None) -> int:
        """Listen for webhook POSTs on `host:port` (settings by default); the bound port."""
        self._runner = web.AppRunner(self.webhook_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            host if host is not None else self.settings.host,
            port if port is not None else self.settings.port,
        )
        await site.start()
        bound = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        log.info("webhook listening on port %s, path %s", bound, self.webhook_path)
        return bound

    async def register_webhook(self, url: str | None = None) -> None:
        """Register the command menu and `url` (default `WEBHOOK_URL`) with the secret."""
        url = url or self.settings.webhook_url
        if not url:
            raise ValueError("WEBHOOK_URL is not set")
        await self.setup()
        await self.bot.set_webhook(
            url,
            secret_token=self.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )

    async def start_webhook(self) -> int:
        """`serve_webhook()` then `register_webhook()`; the bound port."""
        port = await self.serve_webhook()
        await self.register_webhook()
        return port

    async def stop_webhook(self, *, unregister: bool = False, grace: float = 10.0) -> None:
        """Stop serving; let running updates finish (up to `grace` seconds)."""
        if unregister:
            with contextlib.suppress(Exception):
                await self.bot.delete_webhook()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)

    # ------------------------------------------------------------------ outbox and shutdown

    async def run_outbox(self, stop: asyncio.Event) -> None:
        """The outbox worker beside this bot (`bot.notices`), sharing its button map and
        rate limits; returns at once when the container has no desk (`runtime`)."""
        container = self.container
        if container.runtime is None:
            return
        background = _background(container, stop)
        try:
            await asyncio.gather(
                run_outbox_worker(
                    container.runtime,
                    self.bot,
                    self.replies,
                    stop,
                    lookups=container.notice_lookups(),
                    engine=container.dialogue_engine,
                    poll_interval=container.outbox_poll_interval,
                    topics=container.staff if container.settings.staff_chat_id else None,
                ),
                run_staff_worker(container, self.bot, stop),
            )
        finally:
            for task in background:
                await _end(task)

    async def close(self) -> None:
        """Close the storage (unless it was given) and the bot's HTTP session."""
        if self._own_storage:
            await self.storage.close()
        await self.bot.session.close()


async def _end(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def run_staff_worker(container: Container, bot: Bot, stop: asyncio.Event) -> None:
    """The staff supergroup's outbox worker (`bot.topics`) when `STAFF_CHAT_ID` is set;
    returns at once otherwise."""
    chat = container.settings.staff_chat_id
    if chat is None or container.runtime is None or container.staff is None:
        return
    limit = TopicRateLimit(container.topics_per_minute)
    messages = TopicRateLimit(container.staff_messages_per_minute)
    redis = None
    if container.settings.redis_url:  # every process's topics and messages count together
        from redis.asyncio import Redis

        redis = Redis.from_url(container.settings.redis_url)
        prefix = f"{container.staff_limits_prefix}{chat}:"
        limit = RedisRateLimit(redis, f"{prefix}topics", container.topics_per_minute)
        messages = RedisRateLimit(redis, f"{prefix}messages", container.staff_messages_per_minute)
    try:
        await run_staff_outbox_worker(
            container.runtime,
            bot,
            chat,
            container.staff,
            stop,
            poll_interval=container.outbox_poll_interval,
            limit=limit,
            messages=messages,
        )
    finally:
        if redis is not None:
            await redis.aclose()


async def run_outbox(container: Container, stop: asyncio.Event, *, bot: Bot | None = None) -> None:
    """The outbox worker alone (`python main.py worker`) until `stop` is set, with its own
    `Bot` unless one is given. The notices' buttons go to the database button map (or Redis),
    where the bot process finds them; in the bot's process `run_telegram` runs the worker
    beside the Dispatcher instead."""
    settings = container.settings
    if container.runtime is None:
        raise ValueError("the outbox worker needs the desk (container.runtime)")
    own = bot is None
    bot = bot or create_bot(settings)
    storage: BaseStorage | None = None
    try:
        buttons = container.buttons
        if buttons is None:
            storage = build_storage(settings)
            if not settings.redis_url:
                log.warning(
                    "outbox worker with its own in-memory button map: the rating buttons it "
                    "sends work only if the bot shares it (use the database map or set "
                    "REDIS_URL)"
                )
            buttons = StorageButtonStore(storage, bot.id)
        background = _background(container, stop)
        try:
            await asyncio.gather(
                run_outbox_worker(
                    container.runtime,
                    bot,
                    ReplySender(buttons, RateLimiter()),
                    stop,
                    lookups=container.notice_lookups(),
                    engine=container.dialogue_engine,
                    poll_interval=container.outbox_poll_interval,
                    topics=container.staff if settings.staff_chat_id else None,
                ),
                run_staff_worker(container, bot, stop),
            )
        finally:
            for task in background:
                await _end(task)
    finally:
        if storage is not None:
            await storage.close()
        if own:
            await bot.session.close()


async def run_telegram(
    container: Container,
    stop: asyncio.Event,
    *,
    worker: bool = True,
    bot: Bot | None = None,
    ready: asyncio.Event | None = None,
    serve_webhook: bool = True,
) -> None:
    """The bot (polling, or webhook when `WEBHOOK_URL` is set) and, unless `worker=False`,
    the outbox worker in the same process; until `stop` is set. `serve_webhook=False`: the
    web application of `app.web` takes the webhook's POSTs on its own port (`main.py run`
    serves one port), through `container.webhook_handler`."""
    settings = container.settings
    token = settings.telegram_bot_token
    install_log_redaction([token.get_secret_value()] if token else [])
    service = TelegramService(container, bot=bot)
    tasks: list[asyncio.Task[Any]] = []
    try:
        if worker:
            tasks.append(asyncio.create_task(service.run_outbox(stop), name="outbox"))
        if settings.webhook_url:
            if serve_webhook:
                await service.start_webhook()
            else:
                container.webhook_handler = service.handle_webhook
                await service.register_webhook()
            if ready is not None:
                ready.set()
            await stop.wait()
            container.webhook_handler = None
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

"""The web application (staff console and web chat) of one process: built from the container
(`console_deps`) and served on `TAXDESK_HOST:TAXDESK_PORT` (`serve_web`), by `main.py console`
and inside `main.py run`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlparse

from aiohttp import web

from app.container import Container
from console.app import ConsoleDeps, build_app
from console.auth import LoginThrottle, RedisCounter
from console.keys import load_secret
from console.studio import StudioConfig

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def console_deps(container: Container) -> AsyncIterator[ConsoleDeps]:
    """What the web application needs, from the container (a Redis client when `REDIS_URL`
    is set: sessions and the login throttle are then shared by every process)."""
    settings = container.settings
    if container.runtime is None:
        raise RuntimeError("the console needs the desk (no runtime in the container)")
    configured = settings.console_secret.get_secret_value() if settings.console_secret else None
    secret = await asyncio.to_thread(load_secret, settings.data_dir, configured)
    redis = None
    throttle = LoginThrottle()
    if settings.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
        throttle = LoginThrottle(RedisCounter(redis))
    try:
        yield ConsoleDeps(
            runtime=container.runtime,
            engine=container.engine,
            recorder=container.inbound,
            intake=container.intake,
            outbound=container.outbound,
            data_dir=settings.data_dir,
            secret=secret,
            redis=redis,
            secure_cookies=(settings.public_url or "").startswith("https://"),
            throttle=throttle,
            frame_ancestors=settings.chat_frame_ancestors,
            extra={
                "outbox_poll_interval": container.outbox_poll_interval,
                "studio": StudioConfig(
                    data_dir=container.dialogue_dir,
                    config_path=Path(settings.nlu_config),
                    models_dir=Path(settings.models_dir),
                    redis_url=settings.redis_url,
                ),
            },
        )
    finally:
        if redis is not None:
            await redis.aclose()


def webhook_route(container: Container) -> Callable[[web.Application], None]:
    """Adds `WEBHOOK_URL`'s path, answered by the bot's handler once `run_telegram` set it
    (503 before: Telegram retries)."""
    from app.runners import DEFAULT_WEBHOOK_PATH  # here: importing aiogram takes seconds

    path = (urlparse(container.settings.webhook_url or "").path) or DEFAULT_WEBHOOK_PATH

    async def handle(request: web.Request) -> web.StreamResponse:
        handler = container.webhook_handler
        if handler is None:
            return web.Response(status=503, text="starting")
        response: web.StreamResponse = await handler(request)
        return response

    def add(app: web.Application) -> None:
        app.router.add_post(path, handle)

    return add


async def serve_web(
    container: Container,
    stop: asyncio.Event,
    *,
    host: str | None = None,
    port: int | None = None,
    webhook: bool = False,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve the console and the web chat until `stop` is set (`webhook`: and the Telegram
    webhook's path). `ready(port)` is called once listening (port 0 picks a free one)."""
    settings = container.settings
    host = host or settings.host
    port = settings.port if port is None else port
    async with console_deps(container) as deps:
        extra = [webhook_route(container)] if webhook else []
        runner = web.AppRunner(build_app(deps, extra=extra), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
            shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
            print(
                f"taxdesk: web chat http://{shown}:{port}/chat · "
                f"staff console http://{shown}:{port}/console",
                flush=True,
            )
            if ready is not None:
                ready(port)
            await stop.wait()
        finally:
            await runner.cleanup()

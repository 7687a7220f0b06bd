"""Settings and the container for tests that run the application on the local Bot API server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from app.container import Container
from app.settings import Settings
from testing.botapi_server import BotAPIServer

ROOT = Path(__file__).resolve().parent.parent

MakeContainer = Callable[..., Awaitable[Container]]
"""The type of the `make_container` fixture (tests/conftest.py)."""


def bot_settings(server: BotAPIServer | None = None, **overrides: Any) -> Settings:
    """Settings that read no `.env` and no environment defaults that matter: no Redis, no
    webhook, and (given `server`) the token and URL of the local Bot API server."""
    values: dict[str, Any] = {"redis_url": None, "webhook_url": None, "webhook_secret": None}
    if server is not None:
        values.update(telegram_bot_token=server.token, telegram_api_url=server.url)
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def main_process(
    server: BotAPIServer,
    root: Path,
    models_dir: Path,
    *command: str,
    redis_url: str | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python main.py COMMAND…` as a subprocess against the local Bot API server: its own
    migrated SQLite database and data dir under `root`, the model store `models_dir`, Redis
    only when `redis_url` is given; waits until it polls for updates. Killed if the block
    did not stop it (`stop_main`)."""
    from desk.migrate import upgrade

    url = f"sqlite+aiosqlite:///{root / 'main.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.pop("REDIS_URL", None)
    env.update(
        TAXDESK_DATA_DIR=str(root / "var"),
        DATABASE_URL=url,
        TAXDESK_MODELS_DIR=str(models_dir),
        TELEGRAM_BOT_TOKEN=server.token,
        TELEGRAM_API_URL=server.url,
        TAXDESK_LOG_LEVEL="WARNING",
        TAXDESK_PORT="0",
        **({"REDIS_URL": redis_url} if redis_url else {}),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        *command,
        cwd=str(ROOT),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await server.wait_until(lambda: bool(server.calls_of("getUpdates")), timeout=60)
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def stop_main(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then it must end cleanly (exit code 0) within 30 s."""
    proc.send_signal(signal.SIGTERM)
    _out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()


async def start_telegram(container: Container) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """Run the Telegram side of `container` (`app.runners.run_telegram`: polling or webhook,
    with the outbox worker) as a task; returns once it is ready (or raises what stopped it),
    with the event that stops it and the task."""
    from app.runners import run_telegram

    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(run_telegram(container, stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
    return stop, task

"""Command line for the Telegram side: `python main.py bot` and `python main.py worker`.

`main.py` calls `register(sub, build_deps)` where `build_deps(settings)` is an async context
manager yielding the real `TelegramDeps` (dialogue, inbound store, file intake, outbox) and
closing them afterwards. `python main.py run` can call `run_telegram(...)`, which starts
the bot only when a token is set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from bot.app import run_bot, run_worker
from bot.factory import TelegramDeps
from bot.settings import Settings

log = logging.getLogger(__name__)

DepsFactory = Callable[[Settings], AbstractAsyncContextManager[TelegramDeps]]

NO_TOKEN = "taxdesk: TELEGRAM_BOT_TOKEN is not set; the Telegram bot is not started."


def register(sub: Any, build_deps: DepsFactory) -> None:
    """Register `bot` and `worker` on the main parser."""
    p = sub.add_parser(
        "bot", help="run the Telegram bot (polling, or webhook when WEBHOOK_URL is set)"
    )
    p.add_argument(
        "--no-worker", action="store_true", help="do not send the outbox in this process"
    )
    p.set_defaults(handler=lambda args, settings: cmd_bot(args, settings, build_deps))
    w = sub.add_parser("worker", help="send outbox notices to taxpayers (Telegram)")
    w.set_defaults(handler=lambda args, settings: cmd_worker(args, settings, build_deps))


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


def cmd_bot(args: argparse.Namespace, settings: Settings, build_deps: DepsFactory) -> int:
    """`main.py bot [--no-worker]`."""
    if settings.telegram_bot_token is None:
        print(NO_TOKEN)
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        async with build_deps(settings) as deps:
            await run_bot(settings, deps, worker=not args.no_worker, stop=stop)

    asyncio.run(main())
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings, build_deps: DepsFactory) -> int:
    """`main.py worker`."""
    if settings.telegram_bot_token is None:
        print(NO_TOKEN + " The outbox worker needs it to send notices.")
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        async with build_deps(settings) as deps:
            await run_worker(settings, deps, stop=stop)

    asyncio.run(main())
    return 0


async def run_telegram(
    settings: Settings, deps: TelegramDeps, *, stop: asyncio.Event, worker: bool = True
) -> None:
    """For `main.py run`: the bot and its outbox worker when a token is set; otherwise say so
    and return at once (the rest of the process keeps running)."""
    if settings.telegram_bot_token is None:
        print(NO_TOKEN)
        return
    await run_bot(settings, deps, worker=worker, stop=stop)

"""`python main.py run | bot | worker | shell`: the long-running commands.

Each builds the shared services (`bot.wiring.build_services`) once and runs what it needs
until Ctrl-C / SIGTERM (or EOF for the shell).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from bot.settings import Settings

NO_TOKEN = "taxdesk: TELEGRAM_BOT_TOKEN is not set; the Telegram bot is not started."
NO_TOKEN_WORKER = (
    "taxdesk: TELEGRAM_BOT_TOKEN is not set; the outbox worker needs it to send notices."
)


def register(sub: Any) -> None:
    """Register `run`, `bot`, `worker` and `shell` on the main parser."""
    p = sub.add_parser(
        "run", help="start everything one process needs (bot and outbox worker, or the shell)"
    )
    p.set_defaults(handler=cmd_run)
    p = sub.add_parser(
        "bot", help="run the Telegram bot (polling, or webhook when WEBHOOK_URL is set)"
    )
    p.add_argument(
        "--no-worker", action="store_true", help="do not send the outbox in this process"
    )
    p.set_defaults(handler=cmd_bot)
    p = sub.add_parser("worker", help="send outbox notices to taxpayers (Telegram)")
    p.set_defaults(handler=cmd_worker)
    p = sub.add_parser("shell", help="talk to the dialogue as a taxpayer in the terminal")
    p.add_argument("--chat", default="terminal", help="conversation name (default: terminal)")
    p.set_defaults(handler=cmd_shell)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


def _redact_logs(settings: Settings) -> None:
    from bot.middlewares import install_log_redaction

    token = settings.telegram_bot_token
    install_log_redaction([token.get_secret_value()] if token else [])


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


async def _until_stopped(*coros: Any, stop: asyncio.Event) -> None:
    """Run `coros` until all finish or `stop` is set (then give them time to stop)."""
    tasks = [asyncio.create_task(c) for c in coros]
    waiter = asyncio.create_task(stop.wait())
    try:
        pending = set(tasks)
        while pending and not stop.is_set():
            done, pending = await asyncio.wait(
                pending | {waiter}, return_when=asyncio.FIRST_COMPLETED
            )
            pending.discard(waiter)
            for t in done:
                if t is not waiter and not t.cancelled() and t.exception() is not None:
                    stop.set()
                    raise t.exception()  # type: ignore[misc]
    finally:
        stop.set()
        waiter.cancel()
        for t in tasks:
            if not t.done():
                with contextlib.suppress(asyncio.CancelledError, Exception, TimeoutError):
                    await asyncio.wait_for(t, timeout=10)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """The bot and its outbox worker when a token is set; without one, say so and open the
    terminal shell when stdin is a terminal."""
    from bot.shell import ShellChannel
    from bot.wiring import build_services, run_telegram

    _redact_logs(settings)
    has_token = settings.telegram_bot_token is not None
    if not has_token:
        print(NO_TOKEN + " Set it (or put it in .env) to serve Telegram and send notices.")
        if not _stdin_is_tty():
            print("taxdesk: stdin is not a terminal, so there is nothing else to run.")
            return 0
        print("taxdesk: opening the terminal shell instead (same dialogue, same database).")

    async def main() -> None:
        stop = asyncio.Event()
        async with build_services(settings) as services:
            if has_token:
                _stop_on_signals(stop)
                await _until_stopped(run_telegram(services, stop), stop=stop)
            else:
                await ShellChannel(services).run()

    asyncio.run(main())
    return 0


def cmd_bot(args: argparse.Namespace, settings: Settings) -> int:
    """`main.py bot [--no-worker]`."""
    from bot.wiring import build_services, run_telegram

    if settings.telegram_bot_token is None:
        print(NO_TOKEN)
        return 2

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        async with build_services(settings) as services:
            await run_telegram(services, stop, worker=not args.no_worker)

    asyncio.run(main())
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """`main.py worker`: only the outbox worker."""
    from bot.factory import create_bot
    from bot.wiring import build_services, run_outbox

    if settings.telegram_bot_token is None:
        print(NO_TOKEN_WORKER)
        return 2
    _redact_logs(settings)

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        async with build_services(settings) as services:
            bot = create_bot(settings)
            try:
                await run_outbox(services, bot, stop)
            finally:
                await bot.session.close()

    asyncio.run(main())
    return 0


def cmd_shell(args: argparse.Namespace, settings: Settings) -> int:
    """`main.py shell [--chat NAME]`: the dialogue in the terminal (or a pipe)."""
    from bot.shell import ShellChannel
    from bot.wiring import build_services

    _redact_logs(settings)

    async def main() -> int:
        async with build_services(settings) as services:
            return await ShellChannel(services, chat_id=args.chat).run()

    return asyncio.run(main())

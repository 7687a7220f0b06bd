"""`python main.py run | bot | worker | console | shell`: the long-running commands.

Each builds the container of shared dependencies (`app.container.build_container`) once and
runs what it needs until Ctrl-C / SIGTERM (or EOF for the shell).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from app.settings import Settings

if TYPE_CHECKING:
    from app.container import Container

log = logging.getLogger(__name__)

NO_TOKEN = "taxdesk: TELEGRAM_BOT_TOKEN is not set; the Telegram bot is not started."
HOW_TO_TOKEN = (
    "To turn Telegram on, create a bot with @BotFather and set TELEGRAM_BOT_TOKEN=<token> in "
    ".env or the environment (TELEGRAM_API_URL for a self-hosted Bot API server), then "
    "restart."
)
TELEGRAM_OFF = (
    "taxdesk: Telegram is off: TELEGRAM_BOT_TOKEN is not set, so neither the bot nor the "
    "outbox worker (which sends notices through Telegram) is started.\n" + HOW_TO_TOKEN
)
SHELL_INSTEAD = (
    "taxdesk: opening the terminal shell beside the web chat (same dialogue, same database); "
    "/exit or Ctrl-D stops both."
)
WAITING = (
    "taxdesk: stdin is not a terminal, so no shell; serving the web chat and the console. "
    "Waiting for SIGTERM or Ctrl-C."
)
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
    p = sub.add_parser(
        "console", help="serve the staff console and the taxpayers' web chat (no Telegram)"
    )
    p.add_argument("--host", help="address to listen on (default TAXDESK_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default TAXDESK_PORT, 8080)")
    p.set_defaults(handler=cmd_console)
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


def _serve(settings: Settings, run: Callable[[Container, asyncio.Event], Awaitable[None]]) -> int:
    """Build the container and `run(container, stop)` until SIGINT/SIGTERM sets `stop`."""
    from app.container import build_container

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        async with build_container(settings) as container:
            await run(container, stop)

    asyncio.run(main())
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Everything one process serves: the web chat and the staff console always; the bot and
    its outbox worker when a token is set. Without one, say that Telegram is off and how to
    turn it on, and open the terminal shell beside the web when stdin is a terminal (its end
    ends the process); else serve until SIGTERM / Ctrl-C."""
    from app.web import serve_web

    _redact_logs(settings)
    if settings.telegram_bot_token is not None:
        from app.runners import run_telegram

        async def everything(container: Container, stop: asyncio.Event) -> None:
            await _together(
                stop,
                serve_web(container, stop, webhook=settings.webhook_url is not None),
                run_telegram(container, stop, serve_webhook=False),
            )

        return _serve(settings, everything)
    print(TELEGRAM_OFF, flush=True)
    if _stdin_is_tty():
        print(SHELL_INSTEAD, flush=True)
        from app.shell import ShellChannel

        async def web_and_shell(container: Container, stop: asyncio.Event) -> None:
            async def shell() -> None:
                try:
                    await ShellChannel(container).run()
                finally:
                    stop.set()

            await _together(stop, serve_web(container, stop), shell())

        return _serve(settings, web_and_shell)
    print(WAITING, flush=True)
    log.info("Telegram is off and stdin is not a terminal: serving the web until SIGTERM")
    code = _serve(settings, serve_web)
    print("taxdesk: stopped.", flush=True)
    return code


async def _together(stop: asyncio.Event, *jobs: Awaitable[None]) -> None:
    """Run `jobs` until all end; the first to fail (or end) sets `stop` for the others."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    """`main.py console [--host H] [--port P]`: the web chat and the staff console only."""
    from app.web import serve_web

    _redact_logs(settings)
    return _serve(
        settings,
        lambda container, stop: serve_web(container, stop, host=args.host, port=args.port),
    )


def cmd_bot(args: argparse.Namespace, settings: Settings) -> int:
    """`main.py bot [--no-worker]`."""
    if settings.telegram_bot_token is None:
        print(NO_TOKEN + " " + HOW_TO_TOKEN)
        return 2
    from app.runners import run_telegram  # after the check: importing aiogram takes seconds

    return _serve(
        settings,
        lambda container, stop: run_telegram(container, stop, worker=not args.no_worker),
    )


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """`main.py worker`: only the outbox worker."""
    if settings.telegram_bot_token is None:
        print(NO_TOKEN_WORKER + " " + HOW_TO_TOKEN)
        return 2
    from app.runners import run_outbox  # after the check: importing aiogram takes seconds

    _redact_logs(settings)

    return _serve(settings, run_outbox)


def cmd_shell(args: argparse.Namespace, settings: Settings) -> int:
    """`main.py shell [--chat NAME]`: the dialogue in the terminal (or a pipe)."""
    from app.container import build_container
    from app.shell import ShellChannel

    _redact_logs(settings)

    async def main() -> int:
        async with build_container(settings) as container:
            return await ShellChannel(container, chat_id=args.chat).run()

    return asyncio.run(main())

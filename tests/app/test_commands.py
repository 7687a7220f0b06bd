"""`main.py bot` / `worker` entry points (`app.commands`, `app.runners`): the bot with its
in-process outbox worker in polling and webhook mode, the worker alone, no token. Real desk
services on SQLite (scripted NLU), the local Bot API server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.commands import cmd_bot, cmd_worker, register
from app.container import Container, build_container
from app.runners import run_outbox, run_telegram
from app.settings import Settings
from app.telegram import create_bot
from desk.migrate import upgrade
from desk.models import Outbox
from desk.runtime import DeskRuntime
from testing.app import bot_settings
from testing.botapi_server import BotAPIServer
from testing.dialogue import FakeInterpreter
from testing.waits import wait_for

CHAT = 3003


@pytest.fixture
def server(botapi: BotAPIServer) -> BotAPIServer:
    return botapi


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    upgrade(url)
    return url


@contextlib.asynccontextmanager
async def _services(settings: Settings) -> AsyncIterator[Container]:
    """The real container (scripted NLU) with test tuning."""
    async with build_container(settings, interpreter=FakeInterpreter()) as services:
        services.album_quiet = 0.2
        services.typing_delay = 0.05
        services.outbox_poll_interval = 0.05
        yield services


async def _staff_asks(runtime: DeskRuntime, question: str) -> str:
    """A case of the taxpayer in CHAT, and a staff question about it (an outbox row)."""
    async with runtime.sessions() as s:
        d = runtime.desk(s)
        staff = await d.add_staff("李雷")
        conv = await d.ensure_conversation("telegram", str(CHAT), str(CHAT))
        case = await d.open_case(
            "tax_certificate",
            taxpayer_id=conv.taxpayer_id,
            conversation_id=conv.id,
            slots={"tax_period": "2025", "taxpayer_id": "91310115MA1K3YJ12G"},
        )
        await d.submit(case.number, notify=False)
        await d.claim(case.number, staff.id)
        await d.ask_taxpayer(case.number, staff.id, question)
        return case.number


async def _outbox_status(runtime: DeskRuntime) -> list[str]:
    async with runtime.sessions() as s:
        return list((await s.execute(select(Outbox.status))).scalars())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(server: BotAPIServer, database: str, **kw: object) -> Settings:
    return bot_settings(server, database_url=database, **kw)


async def _run_until_replied(server: BotAPIServer, settings: Settings) -> None:
    async with _services(settings) as services:
        number = await _staff_asks(services.runtime, "请确认销售额。")
        stop = asyncio.Event()
        task = asyncio.create_task(run_telegram(services, stop))
        try:
            (notice,) = await server.wait_for_messages(CHAT, 1)
            assert notice.text is not None and number in notice.text
            assert "请确认销售额" in notice.text
            server.user_sends_text(CHAT, "在吗")
            replies = await server.wait_for_messages(CHAT, 2)
            assert replies[1].text  # the dialogue answered (a scripted fallback)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            assert await _outbox_status(services.runtime) == ["sent"]
    assert server.commands  # setMyCommands at start-up


async def test_bot_polling_with_worker(server: BotAPIServer, database: str) -> None:
    await _run_until_replied(server, _settings(server, database))
    assert server.calls_of("deleteWebhook") and server.calls_of("getUpdates")


async def test_bot_webhook_mode(server: BotAPIServer, database: str) -> None:
    port = _free_port()
    settings = _settings(
        server,
        database,
        webhook_url=f"http://127.0.0.1:{port}/tg/hook",
        host="127.0.0.1",
        port=port,
        webhook_secret="s3cr3t_token",
    )
    await _run_until_replied(server, settings)
    (hook,) = server.calls_of("setWebhook")
    assert hook["secret_token"] == "s3cr3t_token" and hook["url"].endswith("/tg/hook")
    assert server.calls_of("getUpdates") == []


async def test_worker_alone_sends_notices(server: BotAPIServer, database: str) -> None:
    settings = _settings(server, database)
    async with _services(settings) as services:
        await _staff_asks(services.runtime, "请确认销售额。")
        stop = asyncio.Event()
        bot = create_bot(settings)
        task = asyncio.create_task(run_outbox(services, stop, bot=bot))
        try:
            await server.wait_for_messages(CHAT, 1)

            async def sent() -> bool:
                return await _outbox_status(services.runtime) == ["sent"]

            await wait_for(sent)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await bot.session.close()


def test_commands_refuse_to_start_without_token(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None, telegram_bot_token=None)  # type: ignore[call-arg]
    assert cmd_bot(argparse.Namespace(no_worker=False), settings) == 2
    assert cmd_worker(argparse.Namespace(), settings) == 2
    out = capsys.readouterr().out
    assert "TELEGRAM_BOT_TOKEN" in out and "@BotFather" in out
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bot", "--no-worker"])
    assert args.no_worker and args.handler(args, settings) == 2
    args = parser.parse_args(["shell", "--chat", "desk"])
    assert args.chat == "desk"

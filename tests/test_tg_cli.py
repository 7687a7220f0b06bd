"""`main.py bot` / `worker` entry points: run_bot in polling and webhook mode, run_worker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import run_bot, run_worker
from bot.cli import cmd_bot, cmd_worker, register
from bot.factory import BotOptions, TelegramDeps
from bot.memory import MemoryFileIntake, MemoryInboundStore
from bot.notices import NoticeOutbox
from bot.sender import RateLimiter
from bot.settings import Settings
from desk.models import Base, Outbox
from desk.runtime import DeskRuntime
from tests.botapi_server import BotAPIServer
from tests.tg_fakes import EchoDialogue

CHAT = 3003


@pytest.fixture
async def server() -> AsyncIterator[BotAPIServer]:
    srv = BotAPIServer()
    await srv.start()
    yield srv
    await srv.close()


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[DeskRuntime]:
    """A desk on SQLite whose outbox the worker sends."""
    rt = await asyncio.to_thread(DeskRuntime.create, f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    async with rt.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield rt
    await rt.close()


def _deps(runtime: DeskRuntime | None = None) -> TelegramDeps:
    outbox = NoticeOutbox(runtime) if runtime is not None else None
    return TelegramDeps(EchoDialogue(), MemoryInboundStore(), MemoryFileIntake(), outbox)


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


def _options() -> BotOptions:
    return BotOptions(
        album_quiet=0.2, typing_delay=0.05, limiter=RateLimiter(), outbox_poll_interval=0.05
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(server: BotAPIServer, **kw: object) -> Settings:
    base: dict[str, object] = {
        "telegram_bot_token": server.token,
        "telegram_api_url": server.url,
        "redis_url": None,
        "webhook_url": None,
        "webhook_secret": None,
    }
    base.update(kw)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


async def _run_until_replied(
    server: BotAPIServer, settings: Settings, runtime: DeskRuntime
) -> None:
    deps = _deps(runtime)
    number = await _staff_asks(runtime, "请确认销售额。")
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(settings, deps, stop=stop, options=_options()))
    try:
        (notice,) = await server.wait_for_messages(CHAT, 1)
        assert notice.text is not None and number in notice.text and "请确认销售额" in notice.text
        server.user_sends_text(CHAT, "在吗")
        replies = await server.wait_for_messages(CHAT, 2)
        assert replies[1].text == "echo: 在吗"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert server.commands  # setMyCommands at start-up


async def test_run_bot_polling_with_worker(server: BotAPIServer, runtime: DeskRuntime) -> None:
    await _run_until_replied(server, _settings(server), runtime)
    assert server.calls_of("deleteWebhook") and server.calls_of("getUpdates")


async def test_run_bot_webhook_mode(server: BotAPIServer, runtime: DeskRuntime) -> None:
    port = _free_port()
    settings = _settings(
        server,
        webhook_url=f"http://127.0.0.1:{port}/tg/hook",
        host="127.0.0.1",
        port=port,
        webhook_secret="s3cr3t_token",
    )
    await _run_until_replied(server, settings, runtime)
    (hook,) = server.calls_of("setWebhook")
    assert hook["secret_token"] == "s3cr3t_token" and hook["url"].endswith("/tg/hook")
    assert server.calls_of("getUpdates") == []


async def test_run_worker_sends_notices(server: BotAPIServer, runtime: DeskRuntime) -> None:
    deps = _deps(runtime)
    await _staff_asks(runtime, "请确认销售额。")
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(_settings(server), deps, stop=stop))
    try:
        await server.wait_for_messages(CHAT, 1)
        for _ in range(100):
            if await _outbox_status(runtime) == ["sent"]:
                break
            await asyncio.sleep(0.05)
        assert await _outbox_status(runtime) == ["sent"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_commands_refuse_to_start_without_token(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None, telegram_bot_token=None)  # type: ignore[call-arg]

    @contextlib.asynccontextmanager
    async def never(_: Settings) -> AsyncIterator[TelegramDeps]:
        raise AssertionError("must not build deps without a token")
        yield _deps()

    assert cmd_bot(argparse.Namespace(no_worker=False), settings, never) == 2
    assert cmd_worker(argparse.Namespace(), settings, never) == 2
    assert "TELEGRAM_BOT_TOKEN" in capsys.readouterr().out
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"), never)
    args = parser.parse_args(["bot", "--no-worker"])
    assert args.no_worker and args.handler(args, settings) == 2

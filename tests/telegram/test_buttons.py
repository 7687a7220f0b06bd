"""Button maps in the database (`desk.buttons`, used when `REDIS_URL` is not set): a button
still works after the bot restarts, and the rating buttons a separate outbox worker sends
work in the bot. SQLite and PostgreSQL (a random database per test, dropped after)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.adapters import DeskNoticeLookups
from app.container import Container, build_container
from app.runners import TelegramService
from app.settings import Settings
from app.telegram import create_bot
from bot.keyboards import StorageButtonStore
from bot.notices import run_outbox_worker
from bot.sender import RateLimiter, ReplySender
from desk.buttons import DeskButtonStore
from desk.migrate import upgrade
from desk.models import ButtonPayload
from desk.runtime import DeskRuntime
from testing.app import bot_settings
from testing.botapi_server import BotAPIServer
from testing.clock import Clock
from testing.dialogue import FakeInterpreter
from testing.echo import LONG_PAYLOAD, EchoDialogue
from testing.memory import MemoryFileIntake, MemoryInboundStore

TAX_ID = "91310115MA1K3YJ12G"
CHAT = 7301


@pytest.fixture
def url(database_url: str) -> str:
    """A migrated database: SQLite, then PostgreSQL (tests/conftest.py)."""
    return database_url


@pytest.fixture
def server(botapi: BotAPIServer) -> BotAPIServer:
    return botapi


def _settings(server: BotAPIServer, url: str) -> Settings:
    return bot_settings(server, database_url=url)


class Process:
    """What one bot process holds: its own desk runtime, bot and Dispatcher (nothing in
    memory is shared with another `Process`)."""

    def __init__(self, settings: Settings, runtime: DeskRuntime, *, in_db: bool) -> None:
        self.runtime = runtime
        container = Container(
            settings,
            EchoDialogue(),
            MemoryInboundStore(),
            MemoryFileIntake(),
            buttons=DeskButtonStore(runtime.sessions) if in_db else None,
            typing_delay=0.05,
            limiter=RateLimiter(chat_rate=50, chat_burst=50),
        )
        self.service = TelegramService(container)
        self.polling: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, settings: Settings, *, in_db: bool = True) -> Process:
        """`in_db=False`: the button map in the process's memory (the old default)."""
        runtime = await asyncio.to_thread(DeskRuntime.create, settings.effective_database_url)
        p = cls(settings, runtime, in_db=in_db)
        p.polling = asyncio.create_task(p.service.run_polling())
        return p

    async def stop(self) -> None:
        await self.service.stop_polling()
        if self.polling is not None:
            await asyncio.wait_for(self.polling, 10)
        await self.service.close()
        await self.runtime.close()


async def test_store_survives_a_new_instance_and_expires(url: str) -> None:
    clock = Clock(datetime.now(UTC))
    runtime = await asyncio.to_thread(DeskRuntime.create, url)
    try:
        first = DeskButtonStore(runtime.sessions, clock=clock, ttl=timedelta(days=30))
        await first.put(1, {"k1": "/a", "k2": "/b"})
        await first.put(2, {"k1": "/other chat"})
        await first.put(1, {"k1": "/a"})  # re-sent: refreshed, not duplicated
        again = DeskButtonStore(runtime.sessions, clock=clock, ttl=timedelta(days=30))
        assert await again.get(1, "k1") == "/a"
        assert await again.get(2, "k1") == "/other chat"
        assert await again.get(1, "nope") is None
        clock.advance(days=20)
        await again.put(1, {"k2": "/b"})  # refreshed at day 20
        clock.advance(days=15)  # day 35: k1 (day 0) has expired, k2 (day 20) has not
        assert await again.get(1, "k1") is None
        assert await again.get(1, "k2") == "/b"
        await again.put(3, {"k3": "/c"})  # a write sweeps the expired rows
        async with runtime.sessions() as s:
            left = await s.scalar(select(func.count()).select_from(ButtonPayload))
        assert left == 2  # chat 1 k2, chat 3 k3
    finally:
        await runtime.close()


async def test_button_pressed_after_a_restart_works(url: str, server: BotAPIServer) -> None:
    settings = _settings(server, url)
    first = await Process.start(settings)
    try:
        server.user_sends_text(CHAT, "buttons")
        (question,) = await server.wait_for_messages(CHAT, 1)
    finally:
        await first.stop()
    second = await Process.start(settings)  # a new process on the same database
    try:
        server.user_presses(CHAT, question.message_id, question.button_data()[0])
        replies = await server.wait_for_messages(CHAT, 2)
        assert replies[1].text == f"pressed: {LONG_PAYLOAD}"
    finally:
        await second.stop()


async def test_memory_map_is_what_used_to_forget(url: str, server: BotAPIServer) -> None:
    """The control: without the database map (the old default), the same press after a
    restart is answered "expired" — so the test above can fail."""
    settings = _settings(server, url)
    first = await Process.start(settings, in_db=False)
    assert isinstance(first.service.replies.buttons, StorageButtonStore)
    try:
        server.user_sends_text(CHAT, "buttons")
        (question,) = await server.wait_for_messages(CHAT, 1)
    finally:
        await first.stop()
    second = await Process.start(settings, in_db=False)
    try:
        server.user_presses(CHAT, question.message_id, question.button_data()[0])
        sent = await server.wait_for_messages(CHAT, 2)
        assert "已过期" in (sent[1].text or "")
        texts = [m.text for m in server.sent_messages(CHAT)]
        assert f"pressed: {LONG_PAYLOAD}" not in texts
    finally:
        await second.stop()


async def test_rating_button_from_a_standalone_worker_works(
    url: str, server: BotAPIServer
) -> None:
    settings = _settings(server, url)
    bot_process = await Process.start(settings)
    worker_runtime = await asyncio.to_thread(DeskRuntime.create, url)
    worker_bot = create_bot(settings)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_outbox_worker(
            worker_runtime,
            worker_bot,
            ReplySender(DeskButtonStore(worker_runtime.sessions)),
            stop,
            lookups=DeskNoticeLookups(worker_runtime),
            poll_interval=0.1,
        )
    )
    try:
        async with worker_runtime.sessions() as s:
            d = worker_runtime.desk(s)
            staff = await d.add_staff("王芳")
            conv = await d.ensure_conversation("telegram", str(CHAT), str(CHAT))
            case = await d.open_case(
                "tax_certificate",
                taxpayer_id=conv.taxpayer_id,
                conversation_id=conv.id,
                slots={"tax_period": "2025", "taxpayer_id": TAX_ID},
            )
            await d.submit(case.number, notify=False)
            await d.claim(case.number, staff.id)
            await d.complete(case.number, staff.id, "已开具。")
        (notice,) = await server.wait_for_messages(CHAT, 1)
        assert case.number in (notice.text or "")
        server.user_presses(CHAT, notice.message_id, notice.button_data()[1])
        replies = await server.wait_for_messages(CHAT, 2)
        pressed = (replies[1].text or "").removeprefix("pressed: ")
        assert json.loads(pressed.removeprefix("/rate")) == {
            "case_number": case.number,
            "level": "satisfied",
        }
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
        await worker_bot.session.close()
        await worker_runtime.close()
        await bot_process.stop()


async def test_wiring_picks_the_database_map_without_redis(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    base = Settings(_env_file=None, database_url=url, redis_url=None)  # type: ignore[call-arg]
    async with build_container(base, interpreter=FakeInterpreter()) as services:
        assert isinstance(services.buttons, DeskButtonStore)
    with_redis = base.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
    async with build_container(
        with_redis, interpreter=FakeInterpreter(), redis_prefix="taxdesk:test:"
    ) as services:
        assert services.buttons is None  # the bot keeps the map in Redis (FSM storage)

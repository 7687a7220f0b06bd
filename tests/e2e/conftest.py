"""Fixtures of the end-to-end tests: `staffed`, the real bot with the staff supergroup.

A staff-group test runs on SQLite only unless it is marked `both_databases`: the desk's SQL is
tested on both databases in tests/desk, and what PostgreSQL changes end to end (concurrent
claims and first messages, NOTIFY wake-ups, the topic limit, a whole case walk) is marked."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.runners import run_telegram
from bot.sender import RateLimiter
from testing.app import MakeContainer, bot_settings
from testing.botapi_server import MakeBotAPI
from testing.staff_group import STAFF, FixedHours, Staffed


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # runs before pytest's own parametrisation, which then takes this mark as the test's own
    if (
        "staffed" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker("both_databases") is None
        and not any(
            "database_url" in str(m.args[0])
            for m in metafunc.definition.iter_markers("parametrize")
        )
    ):
        metafunc.definition.add_marker(
            pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
        )


@pytest.fixture
async def staffed(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    database_url: str,
    make_botapi: MakeBotAPI,
    make_container: MakeContainer,
) -> AsyncIterator[Staffed]:
    server = await make_botapi()
    server.make_forum(STAFF)
    settings = bot_settings(
        server,
        data_dir=tmp_path / "var",
        database_url=database_url,
        staff_chat_id=STAFF,
        staff_digest_time=getattr(request, "param", {}).get("digest"),  # default: none
    )
    container = dataclasses.replace(
        await make_container(settings),
        album_quiet=0.3,
        typing_delay=0.05,
        limiter=RateLimiter(chat_rate=50, chat_burst=50, group_rate=50, group_burst=50),
        outbox_poll_interval=0.05,
        topics_per_minute=1000,  # the server's simulated limit is what these tests exercise
        staff_messages_per_minute=1000,
    )
    runtime = container.runtime
    assert runtime is not None
    # The desk's view of the office: open unless a test says closed (never the wall clock).
    runtime.office_hours = FixedHours(
        runtime.calendar, is_open=getattr(request, "param", {}).get("open", True)
    )
    if "clock" in getattr(request, "param", {}):
        runtime.clock = request.param["clock"]
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(run_telegram(container, stop, ready=ready))
    await asyncio.wait(
        {task, asyncio.create_task(ready.wait())}, return_when=asyncio.FIRST_COMPLETED
    )
    if task.done():
        task.result()
    try:
        yield Staffed(server, container)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)

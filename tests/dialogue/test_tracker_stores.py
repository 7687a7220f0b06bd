"""Tracker stores: SQL (SQLite and PostgreSQL) keep a form across an engine restart."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from actions.stores import SqlTrackerStore
from actions.testing import FakeGateway
from actions.tracker import SlotSet, Tracker
from tests.test_dialogue import GOOD_ID, TODAY, Chat, make_engine, text_of


async def _restart_flow(store_factory: Any) -> None:
    gw = FakeGateway(lambda: TODAY)
    engine1, _, _ = make_engine(store=await store_factory(), gateway=gw)
    chat = Chat(engine1)
    await chat.say("我想改一下申报数据")
    await chat.say("个税，今年一季度")
    engine2, _, _ = make_engine(store=await store_factory(), gateway=gw)
    text = text_of(await Chat(engine2).say(GOOD_ID))
    assert "承诺书" in text and "税种" not in text


async def _round_trip(store: SqlTrackerStore) -> None:
    assert await store.load("x:1") is None
    tracker = Tracker("x:1", "x", "1", "u")
    tracker.apply([SlotSet("tax_period", "2019-12")])
    await store.save(tracker)
    tracker.apply([SlotSet("tax_type", "vat")])
    await store.save(tracker)  # second save updates the row
    loaded = await store.load("x:1")
    assert loaded is not None and loaded.slots == {"tax_period": "2019-12", "tax_type": "vat"}


async def test_sqlite_tracker_store(tmp_path: Path) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'trackers.sqlite3'}")
    try:
        store = SqlTrackerStore(engine)
        await store.create_table()
        await _round_trip(store)

        async def factory() -> SqlTrackerStore:
            return SqlTrackerStore(engine)

        await _restart_flow(factory)
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_tracker_store() -> None:
    asyncpg = pytest.importorskip("asyncpg")
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"test_trackers_{random.getrandbits(40):x}"
    try:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    except (OSError, asyncpg.PostgresError):
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    await admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    try:
        store = SqlTrackerStore(engine)
        await store.create_table()
        await _round_trip(store)

        async def factory() -> SqlTrackerStore:
            return SqlTrackerStore(engine)

        await _restart_flow(factory)
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

"""Tracker stores: SQL (SQLite and PostgreSQL) keep a form across an engine restart."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.stores import SqlTrackerStore
from actions.tracker import SlotSet, Tracker
from testing.dialogue import Chat, FakeGateway, FakeInterpreter, FakeNormalizers, parse, text_of

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 27)
GOOD_ID = "91650100MA78ABCD1A"
NLU = {
    "我想改一下申报数据": parse("request_correction"),
    "个税，今年一季度": parse("provide_info", tax_type="iit", tax_period="2026-Q1"),
    GOOD_ID: parse("provide_info", taxpayer_id=GOOD_ID),
}


def make_engine(store: Any, gateway: FakeGateway) -> tuple[DialogueEngine, None, None]:
    engine = DialogueEngine(
        FakeInterpreter(NLU),
        gateway,
        store,
        Domain.load(ROOT / "data"),
        today=lambda: TODAY,
        normalizers=FakeNormalizers(),
        rng=random.Random(7),
    )
    return engine, None, None


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


async def test_postgres_tracker_store(fresh_pg_database: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(fresh_pg_database)
    try:
        store = SqlTrackerStore(engine)
        await store.create_table()
        await _round_trip(store)

        async def factory() -> SqlTrackerStore:
            return SqlTrackerStore(engine)

        await _restart_flow(factory)
    finally:
        await engine.dispose()

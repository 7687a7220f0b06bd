"""The database tracker store (the conversation row, through the desk's group commit) keeps a
form across an engine restart, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.tracker import SlotSet, Tracker
from app.adapters import DeskConversations, DeskTrackerStore
from desk.models import Base
from desk.runtime import DeskRuntime
from testing.dialogue import Chat, FakeGateway, FakeInterpreter, FakeNormalizers, parse, text_of
from testing.services import create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 27)
GOOD_ID = "91650100MA78ABCD1A"
NLU = {
    "我想改一下申报数据": parse("request_correction"),
    "个税，今年一季度": parse("provide_info", tax_type="iit", tax_period="2026-Q1"),
    GOOD_ID: parse("provide_info", taxpayer_id=GOOD_ID),
}


def make_engine(store: Any, gateway: FakeGateway) -> DialogueEngine:
    return DialogueEngine(
        FakeInterpreter(NLU),
        gateway,
        store,
        Domain.load(ROOT / "data"),
        today=lambda: TODAY,
        normalizers=FakeNormalizers(),
        rng=random.Random(7),
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DeskRuntime]:
    pg = request.param == "postgres"
    url = (
        await asyncio.to_thread(create_pg_database)
        if pg
        else f"sqlite+aiosqlite:///{tmp_path / 'trackers.sqlite3'}"
    )
    rt = await asyncio.to_thread(DeskRuntime.create, url)
    try:
        async with rt.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield rt
    finally:
        await rt.close()
        if pg:
            await asyncio.to_thread(drop_pg_database, url)


def _store(runtime: DeskRuntime) -> DeskTrackerStore:
    """The store as a fresh process builds it (no cached conversations)."""
    return DeskTrackerStore(DeskConversations(runtime))


async def test_round_trip(runtime: DeskRuntime) -> None:
    store = _store(runtime)
    assert await store.load("x:1") is None
    tracker = Tracker("x:1", "x", "1", "u")
    tracker.apply([SlotSet("tax_period", "2019-12")])
    await store.save(tracker)
    tracker.apply([SlotSet("tax_type", "vat")])
    await store.save(tracker)  # second save updates the row
    loaded = await _store(runtime).load("x:1")
    assert loaded is not None and loaded.slots == {"tax_period": "2019-12", "tax_type": "vat"}


async def test_form_survives_an_engine_restart(runtime: DeskRuntime) -> None:
    gw = FakeGateway(lambda: TODAY)
    engine1 = make_engine(store=_store(runtime), gateway=gw)
    chat = Chat(engine1)
    await chat.say("我想改一下申报数据")
    await chat.say("个税，今年一季度")
    engine2 = make_engine(store=_store(runtime), gateway=gw)
    text = text_of(await Chat(engine2).say(GOOD_ID))
    assert "承诺书" in text and "税种" not in text

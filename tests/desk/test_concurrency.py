"""Two staff claiming one case at the same moment: exactly one wins."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from desk.batch import WriteBatcher
from desk.errors import AlreadyClaimed
from desk.services import Desk

TAX_ID = "91310115MA1K3YJ12G"


class RacingDesk(Desk):
    """Waits at a barrier after loading the case, so both transactions have read the queued
    case before either writes: a real race on real concurrent sessions."""

    barrier: asyncio.Barrier

    async def _transition(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.wait_for(self.barrier.wait(), timeout=10)
        return await super()._transition(*args, **kwargs)


async def _queued_case(make_desk) -> tuple[str, int, int]:
    async with make_desk.sessions() as s:
        desk = make_desk(s)
        conv = await desk.ensure_conversation("telegram", "1", "1")
        case = await desk.open_case(
            "tax_certificate",
            taxpayer_id=conv.taxpayer_id,
            conversation_id=conv.id,
            slots={"tax_period": "2025", "taxpayer_id": TAX_ID},
        )
        await desk.submit(case.number)
        a = await desk.add_staff("甲")
        b = await desk.add_staff("乙")
        return case.number, a.id, b.id


async def _claim(make_desk, number: str, staff_id: int, barrier: asyncio.Barrier | None):
    async with make_desk.sessions() as s:
        if barrier is None:
            desk = make_desk(s)
        else:
            desk = RacingDesk(s, make_desk.catalog, make_desk.calendar, clock=make_desk.clock)
            desk.barrier = barrier
        try:
            case = await desk.claim(number, staff_id)
            return ("won", case.assignee_id)
        except AlreadyClaimed as exc:
            return ("lost", exc.user_message)


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgres"], indirect=True)
async def test_two_concurrent_claims_on_postgres_exactly_one_wins(db, make_desk) -> None:
    # the barrier race needs row locks (PostgreSQL); SQLite serialises writers (see below)
    assert db.schema is not None
    number, a, b = await _queued_case(make_desk)
    barrier = asyncio.Barrier(2)
    results = await asyncio.gather(
        _claim(make_desk, number, a, barrier), _claim(make_desk, number, b, barrier)
    )
    outcomes = sorted(r[0] for r in results)
    assert outcomes == ["lost", "won"]
    winner = next(r[1] for r in results if r[0] == "won")
    loser_msg = next(r[1] for r in results if r[0] == "lost")
    assert "已被" in loser_msg and "认领" in loser_msg
    async with make_desk.sessions() as s:
        detail = await make_desk(s).case_detail(number)
    assert detail.case.assignee_id == winner
    assert [e.action for e in detail.events].count("claim") == 1


async def test_many_racing_claims_one_winner_each(db, make_desk) -> None:
    number, a, b = await _queued_case(make_desk)
    results = await asyncio.gather(*[_claim(make_desk, number, x, None) for x in (a, b, a, b)])
    assert sorted(r[0] for r in results) == ["lost", "lost", "lost", "won"]


async def test_first_contact_and_duplicate_updates_race(db, make_desk) -> None:
    """Two updates of a brand-new user at once: one taxpayer, one conversation; the same
    Telegram update delivered twice at once: stored once."""

    async def contact() -> int:
        async with make_desk.sessions() as s:
            return (await make_desk(s).ensure_conversation("telegram", "77", "77")).id

    ids = await asyncio.gather(*[contact() for _ in range(4)])
    assert len(set(ids)) == 1

    async def inbound() -> bool:  # each a process of its own: its own group commit
        writes = WriteBatcher(db.engine)
        return await writes.record_inbound(ids[0], "telegram", "77", text="你好", update_id="9001")

    news = await asyncio.gather(*[inbound() for _ in range(4)])
    assert sorted(news) == [False, False, False, True]

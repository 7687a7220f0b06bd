"""The morning queue digest of the staff group (`Desk.queue_digest`): written once per working
day from the configured time (a 调休 Saturday too, no weekend or holiday), its content taken
when written, once even when two processes race; and the out-of-hours mark of the hand-over
alert and the relayed messages (`Desk(hours=...)`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select

from desk.models import Outbox
from desk.office_hours import OfficeHours
from desk.runtime import DEFAULT_OFFICE_HOURS
from desk.services import STAFF_CHANNEL, Desk
from testing.desk import DeskFactory

AT = time(8, 30)
BEIJING = ZoneInfo("Asia/Shanghai")
TAX_ID = "91310115MA1K3YJ12G"


def _beijing(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BEIJING).astimezone(UTC)


async def _digests(desk: Desk) -> list[Outbox]:
    rows = list(
        await desk.session.scalars(
            select(Outbox).where(Outbox.kind == "queue_digest").order_by(Outbox.id)
        )
    )
    await desk.session.commit()
    return rows


async def test_once_per_working_day_from_the_time(desk: Desk, make_desk: DeskFactory) -> None:
    clock = make_desk.clock
    conv = await desk.ensure_conversation("telegram", "2001", "2001", display_name="张会计")
    case = await desk.open_case(
        "tax_certificate",
        taxpayer_id=conv.taxpayer_id,
        conversation_id=conv.id,
        slots={"tax_period": "2025", "taxpayer_id": TAX_ID},
    )
    await desk.submit(case.number)

    clock.now = _beijing(2026, 12, 2, 8, 29)  # Wednesday, before the time
    assert not await desk.queue_digest(AT)
    clock.now = _beijing(2026, 12, 2, 8, 30)
    assert await desk.queue_digest(AT)
    clock.now = _beijing(2026, 12, 2, 15, 0)  # a process started later the same day
    assert not await desk.queue_digest(AT)
    rows = await _digests(desk)
    assert len(rows) == 1
    row = rows[0]
    assert row.channel == STAFF_CHANNEL and row.idempotency_key == "digest:2026-12-02"
    assert row.payload["day"] == "2026-12-02"
    [item] = row.payload["cases"]
    assert item["number"] == case.number and item["status"] == "queued"
    assert item["deadline_at"] and item["due"] in ("ok", "due_soon", "overdue")
    assert item["title"] != "tax_certificate"  # the catalog's title, not the key

    clock.now = _beijing(2026, 12, 3, 9, 0)  # the next working day: a new one
    assert await desk.queue_digest(AT)
    assert [r.idempotency_key for r in await _digests(desk)] == [
        "digest:2026-12-02",
        "digest:2026-12-03",
    ]


async def test_no_digest_on_weekends_and_holidays_but_on_a_tiaoxiu_saturday(
    desk: Desk, make_desk: DeskFactory
) -> None:
    clock = make_desk.clock
    for day in (
        _beijing(2026, 12, 5, 9),  # Saturday
        _beijing(2026, 12, 6, 9),  # Sunday
        _beijing(2026, 10, 1, 9),  # 国庆节 (Thursday)
        _beijing(2026, 9, 25, 9),  # 中秋节 (Friday)
    ):
        clock.now = day
        assert not await desk.queue_digest(AT), day
    assert await _digests(desk) == []
    clock.now = _beijing(2026, 10, 10, 9)  # 调休 Saturday
    assert await desk.queue_digest(AT)
    [row] = await _digests(desk)
    assert row.idempotency_key == "digest:2026-10-10" and row.payload["cases"] == []


async def test_two_processes_write_one_digest(make_desk: DeskFactory) -> None:
    make_desk.clock.now = _beijing(2026, 12, 2, 8, 45)

    async def one() -> bool:
        async with make_desk.sessions() as session:
            return await make_desk(session).queue_digest(AT)

    results = await asyncio.gather(*(one() for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    async with make_desk.sessions() as session:
        assert len(await _digests(make_desk(session))) == 1


async def test_staff_rows_written_out_of_hours_are_marked(make_desk: DeskFactory) -> None:
    hours = OfficeHours.load(DEFAULT_OFFICE_HOURS, make_desk.calendar)
    clock = make_desk.clock
    async with make_desk.sessions() as session:
        desk = Desk(session, make_desk.catalog, make_desk.calendar, clock=clock, hours=hours)
        a = (await desk.ensure_conversation("telegram", "51", "51")).id
        b = (await desk.ensure_conversation("telegram", "52", "52")).id
        clock.now = _beijing(2026, 12, 2, 22, 0)  # Wednesday night: closed
        await desk.set_conversation_state(a, "human", alert_staff=True, reason="request_human")
        assert await desk.relay_to_staff("telegram", "51", [(1, None, None)]) == 1
        clock.now = _beijing(2026, 12, 3, 10, 0)  # Thursday morning: open
        assert await desk.relay_to_staff("telegram", "51", [(2, "说明", None)]) == 1
        await desk.set_conversation_state(b, "human", alert_staff=True)
        clock.now = _beijing(2026, 12, 5, 10, 0)  # Saturday: closed all day
        assert await desk.relay_to_staff("telegram", "52", [(3, None, None)]) == 1
        rows = list(
            await session.scalars(
                select(Outbox).where(Outbox.channel == STAFF_CHANNEL).order_by(Outbox.id)
            )
        )
        marks = [(r.chat_id, r.kind, r.payload["closed"]) for r in rows]
        assert marks == [
            (str(a), "staff_handoff", True),
            (str(a), "staff_relay", True),
            (str(a), "staff_relay", False),
            (str(b), "staff_handoff", False),
            (str(b), "staff_relay", True),
        ]

"""Complaints made in a chat are recorded as supervisor follow-ups (issue 9 point 4), on
SQLite and PostgreSQL: the row with its conversation, text and due day, the staff topic's
row when a staff group exists, and the CLI list."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from desk.models import Conversation, FollowUp, Outbox
from desk.services import Desk
from desk.services.topics import STAFF_CHANNEL


async def test_a_complaint_is_an_open_follow_up_due_in_working_days(desk: Desk) -> None:
    conv = await desk.ensure_conversation("telegram", "2001", "2001", display_name="李会计")
    # the clock is Friday 2026-11-27 10:00 Beijing time: two working days → Tuesday 12-01
    follow_up = await desk.record_complaint(conv.id, "窗口的人态度很差", working_days=2)
    rows = list((await desk.session.execute(select(FollowUp))).scalars())
    assert [(r.id, r.kind, r.status, r.conversation_id, r.text) for r in rows] == [
        (follow_up.id, "complaint", "open", conv.id, "窗口的人态度很差")
    ]
    due = rows[0].due_at
    assert due is not None and due.astimezone(desk.calendar.tz).date().isoformat() == "2026-12-01"
    assert [f.id for f in await desk.open_follow_ups()] == [follow_up.id]
    # no staff group: nothing queued for one; the conversation stays with the bot
    staff_rows = (await desk.session.execute(select(Outbox))).scalars().all()
    assert [r for r in staff_rows if r.channel == STAFF_CHANNEL] == []
    assert (await desk.session.get(Conversation, conv.id)).state == "bot"  # type: ignore[union-attr]


async def test_with_a_staff_group_the_topic_gets_the_complaint(desk: Desk) -> None:
    conv = await desk.ensure_conversation("telegram", "2002", "2002")
    follow_up = await desk.record_complaint(
        conv.id, "拖了两个月还没退 太过分", working_days=2, alert_staff=True
    )
    rows = (
        (await desk.session.execute(select(Outbox).where(Outbox.channel == STAFF_CHANNEL)))
        .scalars()
        .all()
    )
    assert [r.kind for r in rows] == ["staff_complaint"]
    payload = rows[0].payload
    assert payload["follow_up_id"] == follow_up.id
    assert payload["text"] == "拖了两个月还没退 太过分"
    assert payload["conversation_id"] == conv.id
    assert datetime.fromisoformat(payload["due_at"]) > datetime(2026, 11, 27, tzinfo=UTC)


async def test_a_supervisor_closes_a_complaint(desk: Desk) -> None:
    conv = await desk.ensure_conversation("telegram", "2003", "2003")
    follow_up = await desk.record_complaint(conv.id, "12366打不通", working_days=2)
    boss = await desk.add_staff("赵科长", role="supervisor")
    closed = await desk.close_follow_up(follow_up.id, boss.id, "已回电说明")
    assert closed.status == "closed" and closed.kind == "complaint"
    assert await desk.open_follow_ups() == []

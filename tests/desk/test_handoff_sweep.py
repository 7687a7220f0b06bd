"""The hand-over sweep (`Desk.return_idle_to_bot`) on SQLite and PostgreSQL: a conversation
handed to staff in which nobody wrote for the idle time goes back to the bot, with the
taxpayer's notice in the outbox in the same transaction; any message restarts the wait; two
sweepers at once flip it and queue the notice once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from desk.models import Conversation, Message, Outbox
from desk.services import Desk
from testing.clock import Clock

IDLE = timedelta(minutes=30)


async def _human(desk: Desk, clock: Clock, chat: str = "2001") -> int:
    conv = await desk.ensure_conversation("telegram", chat, chat, display_name="张会计")
    # a later moment than the row's creation: an unchanged `updated_at` would be stamped
    # with the wall clock by the column's `onupdate`
    clock.advance(seconds=1)
    await desk.set_conversation_state(conv.id, "human")
    return conv.id


async def _message(desk: Desk, conv_id: int, chat: str, direction: str, clock: Clock) -> None:
    desk.session.add(
        Message(
            conversation_id=conv_id,
            direction=direction,
            channel="telegram",
            chat_id=chat,
            text="还在吗？" if direction == "in" else "工作人员的回复",
            created_at=clock(),
        )
    )
    await desk.session.commit()


async def _notices(desk: Desk) -> list[Outbox]:
    rows = list(await desk.session.scalars(select(Outbox).order_by(Outbox.id)))
    await desk.session.commit()
    return rows


async def test_idle_conversation_goes_back_to_the_bot_with_a_notice(
    desk: Desk, clock: Clock
) -> None:
    conv_id = await _human(desk, clock)
    bystander = await desk.ensure_conversation("telegram", "2002", "2002")  # a bot one
    clock.advance(minutes=29)
    assert await desk.return_idle_to_bot(IDLE) == []
    await _message(desk, conv_id, "2001", "in", clock)  # the taxpayer writes at minute 29
    clock.advance(minutes=29)  # minute 58: 29 minutes after the message
    assert await desk.return_idle_to_bot(IDLE) == []
    await _message(desk, conv_id, "2001", "out", clock)  # staff answer at minute 58
    clock.advance(minutes=30)
    assert await desk.return_idle_to_bot(IDLE) == [conv_id]
    assert await desk.conversation_state(conv_id) == "bot"
    assert await desk.conversation_state(bystander.id) == "bot"
    (notice,) = await _notices(desk)
    assert (notice.kind, notice.channel, notice.chat_id, notice.status) == (
        "conversation_back_to_bot",
        "telegram",
        "2001",
        "pending",
    )
    assert notice.case_id is None
    assert "人工服务已结束" in notice.payload["text"]["zh_hans"]
    assert "30 分钟" in notice.payload["text"]["zh_hans"]
    assert "人工服務已結束" in notice.payload["text"]["zh_hant"]
    # nothing more to do: a second sweep sends nothing again
    clock.advance(minutes=60)
    assert await desk.return_idle_to_bot(IDLE) == []
    assert len(await _notices(desk)) == 1


async def test_handed_over_again_after_the_timeout_times_out_again(
    desk: Desk, clock: Clock
) -> None:
    conv_id = await _human(desk, clock)
    clock.advance(minutes=31)
    assert await desk.return_idle_to_bot(IDLE) == [conv_id]
    clock.advance(minutes=5)
    await desk.set_conversation_state(conv_id, "human")  # 转人工 again
    clock.advance(minutes=29)
    assert await desk.return_idle_to_bot(IDLE) == []
    clock.advance(minutes=2)
    assert await desk.return_idle_to_bot(IDLE) == [conv_id]
    assert [n.kind for n in await _notices(desk)] == ["conversation_back_to_bot"] * 2


async def test_two_sweepers_at_once_notify_once(make_desk, clock: Clock) -> None:
    async with make_desk.sessions() as session:
        desk = make_desk(session)
        ids = [await _human(desk, clock, str(3000 + i)) for i in range(5)]
    clock.advance(minutes=45)

    async def sweep() -> list[int]:
        async with make_desk.sessions() as session:
            return await make_desk(session).return_idle_to_bot(IDLE)

    first, second = await asyncio.gather(sweep(), sweep())
    assert sorted(first + second) == sorted(ids)  # each flipped by exactly one sweeper
    async with make_desk.sessions() as session:
        rows = list(await session.scalars(select(Outbox)))
        states = set(await session.scalars(select(Conversation.state)))
    assert sorted(r.chat_id for r in rows) == sorted(str(3000 + i) for i in range(5))
    assert states == {"bot"}

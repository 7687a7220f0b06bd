"""The studio's review inbox on SQLite and PostgreSQL: newest first, closed with who, when and
how, closed only once, supervisors and admins only; staff flag a taxpayer's message."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from desk.batch import WriteBatcher
from desk.errors import NotFound, NothingToReview, PermissionDenied, ReviewItemClosed
from desk.models import Message
from desk.services import OUT_OF_SCOPE, Desk


async def test_inbox_newest_first_and_closing_records_who_and_how(desk: Desk) -> None:
    admin = await desk.add_staff("赵管理", "admin")
    staff = await desk.add_staff("钱办税", "staff")
    conv = await desk.ensure_conversation("web", "r1", "r1")
    first = await desk.add_review_item(
        "停车场在哪", reason="nlu_fallback", conversation_id=conv.id
    )
    second = await desk.add_review_item("嗯嗯", reason="nlu_fallback", conversation_id=conv.id)
    assert [i.id for i in await desk.review_inbox(admin.id)] == [second.id, first.id]

    with pytest.raises(PermissionDenied) as refused:
        await desk.review_inbox(staff.id)
    assert "主管或管理员" in refused.value.user_message
    with pytest.raises(PermissionDenied):
        await desk.resolve_review_item(first.id, staff_id=staff.id, resolution="greet")

    done = await desk.resolve_review_item(first.id, staff_id=admin.id, resolution="ask_parking")
    assert (done.status, done.resolution, done.resolved_by_id) == (
        "resolved",
        "ask_parking",
        admin.id,
    )
    assert done.resolved_at is not None
    ignored = await desk.resolve_review_item(second.id, staff_id=admin.id, resolution=OUT_OF_SCOPE)
    assert ignored.status == "ignored"
    assert await desk.review_inbox(admin.id) == []
    with pytest.raises(ReviewItemClosed):
        await desk.resolve_review_item(first.id, staff_id=admin.id, resolution="greet")
    with pytest.raises(NotFound):
        await desk.resolve_review_item(9999, staff_id=admin.id, resolution="greet")


async def test_staff_flag_a_taxpayer_message_once(desk: Desk, engine, clock) -> None:
    staff = await desk.add_staff("孙窗口", "staff")
    supervisor = await desk.add_staff("李主管", "supervisor")
    conv = await desk.ensure_conversation("web", "r2", "r2")
    writes = WriteBatcher(engine, clock=clock)
    assert await writes.record_inbound(
        conv.id, "web", "r2", text="我的社保怎么断了", update_id="u9"
    )
    message_id = await desk.session.scalar(select(Message.id).where(Message.update_id == "u9"))
    await desk.session.commit()
    assert message_id is not None
    item = await desk.flag_for_review(message_id, staff_id=staff.id)
    again = await desk.flag_for_review(message_id, staff_id=staff.id)
    assert again.id == item.id and item.reason == "flagged" and item.text == "我的社保怎么断了"
    assert [i.id for i in await desk.review_inbox(supervisor.id)] == [item.id]
    with pytest.raises(NotFound):
        await desk.flag_for_review(123456, staff_id=staff.id)


async def test_review_from_a_staff_topic_quoted_or_the_latest(desk: Desk, engine, clock) -> None:
    """`/review` in a taxpayer's topic: the quoted copy leads to the taxpayer's message; alone,
    the latest taxpayer text (not a pressed button's payload); another conversation's copy,
    a file without words or a chat without text is refused with what to do."""
    staff = await desk.add_staff("孙窗口", "staff")
    conv = await desk.ensure_conversation("telegram", "501", "501")
    other = await desk.ensure_conversation("telegram", "502", "502")
    writes = WriteBatcher(engine, clock=clock)
    with pytest.raises(NothingToReview):  # nothing said yet
        await desk.flag_in_topic(conv.id, staff_id=staff.id, staff_chat_id=-100)
    for n, text in ((11, "停车场在哪"), (12, "/affirm"), (13, None)):
        await writes.record_inbound(
            conv.id, "telegram", "501", text=text, channel_message_id=str(n), update_id=f"u{n}"
        )
    await writes.record_inbound(
        other.id, "telegram", "502", text="别人的话", channel_message_id="21", update_id="u21"
    )
    await desk.record_relay(conv.id, "to_staff", 11, -100, 7011)
    await desk.record_relay(other.id, "to_staff", 21, -100, 7021)
    await desk.record_relay(conv.id, "to_staff", 13, -100, 7013)

    quoted = await desk.flag_in_topic(conv.id, staff_id=staff.id, staff_chat_id=-100, quoted=7011)
    assert quoted.text == "停车场在哪" and quoted.conversation_id == conv.id
    latest = await desk.flag_in_topic(conv.id, staff_id=staff.id, staff_chat_id=-100)
    assert latest.id == quoted.id  # the payload and the file are skipped; flagged once
    for wrong in (7021, 7013, 9999):  # another topic's copy, a file, a bot message
        with pytest.raises(NothingToReview) as refused:
            await desk.flag_in_topic(conv.id, staff_id=staff.id, staff_chat_id=-100, quoted=wrong)
        assert "/review" in refused.value.user_message
    other_message = await desk.session.scalar(select(Message.id).where(Message.update_id == "u21"))
    await desk.session.commit()
    with pytest.raises(NotFound):  # the console names its conversation: no one else's message
        await desk.flag_for_review(other_message, staff_id=staff.id, conversation_id=conv.id)


async def test_flagging_words_the_nlu_already_filed_gives_that_item(
    desk: Desk, engine, clock
) -> None:
    """The NLU files its fallbacks without the message's id: a staff member flagging the same
    words of the same conversation gets that item, not a second one; another conversation's
    same words are their own item."""
    staff = await desk.add_staff("孙窗口", "staff")
    supervisor = await desk.add_staff("李主管", "supervisor")
    conv = await desk.ensure_conversation("web", "r3", "r3")
    other = await desk.ensure_conversation("web", "r4", "r4")
    writes = WriteBatcher(engine, clock=clock)
    for c, u in ((conv, "u31"), (other, "u41")):
        await writes.record_inbound(c.id, "web", c.chat_id, text="能开那个啥证明不", update_id=u)
    filed = await desk.add_review_item(
        "能开那个啥证明不", reason="out_of_scope", conversation_id=conv.id
    )
    ids = {
        u: await desk.session.scalar(select(Message.id).where(Message.update_id == u))
        for u in ("u31", "u41")
    }
    await desk.session.commit()
    same = await desk.flag_for_review(ids["u31"], staff_id=staff.id)
    assert same.id == filed.id and same.message_id == ids["u31"]
    apart = await desk.flag_for_review(ids["u41"], staff_id=staff.id)
    assert apart.id != filed.id
    assert len(await desk.review_inbox(supervisor.id)) == 2


async def test_taxpayer_texts_are_distinct_newest_first_for_supervisors(
    desk: Desk, engine, clock
) -> None:
    staff = await desk.add_staff("孙窗口", "staff")
    supervisor = await desk.add_staff("李主管", "supervisor")
    conv = await desk.ensure_conversation("web", "r5", "r5")
    writes = WriteBatcher(engine, clock=clock)
    for n, text in enumerate(["停车场在哪", "/affirm", "能停车吗", "停车场在哪", None, ""]):
        await writes.record_inbound(conv.id, "web", "r5", text=text, update_id=f"t{n}")
    texts = await desk.taxpayer_texts(supervisor.id)
    assert [t for _, t in texts] == ["停车场在哪", "能停车吗"]  # the repeat counts as newest
    newest = texts[0][0]
    assert await desk.taxpayer_text(newest, supervisor.id) == "停车场在哪"
    with pytest.raises(PermissionDenied):
        await desk.taxpayer_texts(staff.id)
    with pytest.raises(NotFound):
        await desk.taxpayer_text(newest + 100, supervisor.id)

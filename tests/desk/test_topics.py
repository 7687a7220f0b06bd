"""desk.services.topics: the staff topic of a conversation (first saved wins, forgotten when
gone), the staff outbox rows (hand-over alert in the same transaction, relay only while
human), /bot hand-back with its notice, the relayed-message mapping, and a taxpayer's answer to a
staff question queued for the topic in the same step."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from desk.errors import IllegalTransition
from desk.models import Outbox
from desk.services import STAFF_CHANNEL, Desk

STAFF = -100123
TAX_ID = "91310115MA1K3YJ12G"


async def _rows(desk: Desk, channel: str) -> list[Outbox]:
    rows = list(
        await desk.session.scalars(
            select(Outbox).where(Outbox.channel == channel).order_by(Outbox.id)
        )
    )
    await desk.session.commit()
    return rows


async def test_topic_first_saved_wins_and_is_forgotten(desk: Desk) -> None:
    conv = await desk.ensure_conversation("telegram", "42", "42", display_name="张三")
    assert await desk.staff_topic(conv.id) is None
    assert await desk.save_staff_topic(conv.id, STAFF, 10) == 10
    assert await desk.save_staff_topic(conv.id, STAFF, 11) == 10  # a racing process lost
    assert await desk.conversation_of_topic(STAFF, 10) == conv.id
    assert await desk.conversation_of_topic(STAFF, 11) is None
    await desk.forget_staff_topic(conv.id, 10)
    assert await desk.staff_topic(conv.id) is None
    card = await desk.topic_card(conv.id)
    assert card.display_name == "张三" and card.state == "bot" and card.cases == []


async def test_handover_alert_relay_and_hand_back(desk: Desk) -> None:
    conv_id = (await desk.ensure_conversation("telegram", "43", "43")).id
    assert await desk.relay_to_staff("telegram", "43", [(1, None, None)]) == 0  # bot: not relayed
    await desk.set_conversation_state(conv_id, "human", alert_staff=True, reason="request_human")
    await desk.set_conversation_state(conv_id, "human", alert_staff=True)  # no second alert
    assert await desk.relay_to_staff("telegram", "43", [(2, None, None), (3, "说明", None)]) == 2
    assert await desk.relay_to_staff("telegram", "43", [(2, None, None)]) == 0  # a repeated update
    rows = await _rows(desk, STAFF_CHANNEL)
    assert [r.kind for r in rows] == ["staff_handoff", "staff_relay", "staff_relay"]
    assert {r.chat_id for r in rows} == {str(conv_id)}
    assert rows[2].payload["caption"] == "说明"

    staff_id = (await desk.add_staff("王芳")).id
    await desk.relay_to_taxpayer(conv_id, STAFF, 77, staff_id=staff_id, text="您好")
    await desk.record_relay(conv_id, "to_taxpayer", 500, STAFF, 77)
    assert await desk.relay_edit_to_taxpayer(STAFF, 77, "您好！")
    assert not await desk.relay_edit_to_taxpayer(STAFF, 78, "?")
    assert await desk.hand_back_to_bot(conv_id, staff_id=staff_id)
    assert not await desk.hand_back_to_bot(conv_id, staff_id=staff_id)
    assert await desk.conversation_state(conv_id) == "bot"
    kinds = [r.kind for r in await _rows(desk, "telegram")]
    assert kinds == ["staff_copy", "staff_edit", "handed_back"]
    edit = (await _rows(desk, "telegram"))[1]
    assert edit.payload["message_id"] == 500 and edit.payload["text"] == "您好！"


async def test_an_edit_before_the_copy_is_recorded_waits_for_the_copy(desk: Desk) -> None:
    """Staff edit a message whose copy to the taxpayer is still in the outbox: the edit is
    queued by the staff message, and the sender finds the copy when its turn comes."""
    conv_id = (await desk.ensure_conversation("telegram", "44", "44")).id
    await desk.set_conversation_state(conv_id, "human")
    staff_id = (await desk.add_staff("王芳")).id
    await desk.relay_to_taxpayer(conv_id, STAFF, 90, staff_id=staff_id, text="稍等")
    assert await desk.relay_edit_to_taxpayer(STAFF, 90, "请稍等")
    edit = [r for r in await _rows(desk, "telegram") if r.kind == "staff_edit"][-1]
    assert "message_id" not in edit.payload
    assert (edit.payload["staff_chat_id"], edit.payload["staff_message_id"]) == (STAFF, 90)
    assert await desk.taxpayer_copy_of(STAFF, 90) is None
    await desk.record_relay(conv_id, "to_taxpayer", 600, STAFF, 90)  # the copy was delivered
    assert await desk.taxpayer_copy_of(STAFF, 90) == 600
async def test_an_answer_is_queued_for_the_topic_in_the_step(desk: Desk) -> None:
    conv = await desk.ensure_conversation("telegram", "44", "44", display_name="张会计")
    case = await desk.open_case(
        "tax_certificate",
        taxpayer_id=conv.taxpayer_id,
        conversation_id=conv.id,
        slots={"tax_period": "2025", "taxpayer_id": TAX_ID},
    )
    number = case.number
    await desk.submit(number)
    staff = await desk.add_staff("王芳")
    await desk.claim(number, staff.id)
    # not waiting for the taxpayer: the step fails and nothing reaches the topic
    with pytest.raises(IllegalTransition):
        await desk.answer(number, "太早了", relay_to_staff=True)
    assert await _rows(desk, STAFF_CHANNEL) == []

    await desk.ask_taxpayer(number, staff.id, "需要哪一年度的？")
    await desk.answer(number, "2025年度", files=2, relay_to_staff=True)
    (row,) = await _rows(desk, STAFF_CHANNEL)
    assert row.kind == "staff_answer" and row.chat_id == str(conv.id)
    assert row.payload == {
        "conversation_id": conv.id,
        "case_number": number,
        "text": "2025年度",
        "files": 2,
    }

    # without a staff supergroup: the case gets the answer, no staff row
    await desk.ask_taxpayer(number, staff.id, "哪个月？")
    await desk.answer(number, "12月")
    assert len(await _rows(desk, STAFF_CHANNEL)) == 1
    assert (await desk.case_detail(number)).case.status == "in_progress"


async def test_a_staff_step_refreshes_the_card_of_a_topic(desk: Desk) -> None:
    conv = await desk.ensure_conversation("telegram", "45", "45")
    case = await desk.open_case(
        "tax_certificate",
        taxpayer_id=conv.taxpayer_id,
        conversation_id=conv.id,
        slots={"tax_period": "2025", "taxpayer_id": TAX_ID},
    )
    number = case.number
    assert not await desk.refresh_case_card(number)  # no topic yet: nothing to refresh
    assert await _rows(desk, STAFF_CHANNEL) == []
    await desk.save_staff_topic(conv.id, STAFF, 12)
    assert await desk.refresh_case_card(number)
    (row,) = await _rows(desk, STAFF_CHANNEL)
    assert row.kind == "staff_card" and row.chat_id == str(conv.id)

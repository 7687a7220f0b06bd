"""The case services, end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from desk.batch import WriteBatcher
from desk.errors import (
    CaseNotFound,
    IllegalTransition,
    InvalidRating,
    InvalidSlot,
    InvalidTaxpayerId,
    MissingDocuments,
    MissingSlots,
    PermissionDenied,
    StaffExists,
    UnknownCaseType,
    UnknownDocument,
)
from desk.models import Case, CaseEvent, FollowUp, Message, Outbox
from desk.services import Actor, Desk

TAX_ID = "91310115MA1K3YJ12G"
TAX_ID_2 = "91650100MA78ABCD1A"
BAD_TAX_ID = "91650100MA78ABCD1B"


async def _chat_case(desk: Desk, case_type: str = "return_correction", **slots: str):
    conv = await desk.ensure_conversation("telegram", "1001", "1001", display_name="张会计")
    case = await desk.open_case(
        case_type, taxpayer_id=conv.taxpayer_id, conversation_id=conv.id, slots=slots
    )
    return conv, case


async def _letter(desk: Desk, taxpayer_id: int, sha: str = "a" * 64) -> int:
    att = await desk.add_attachment(
        sha256=sha,
        size=1234,
        storage_key=f"{sha[:2]}/{sha[2:4]}/{sha}.pdf",
        media_type="application/pdf",
        original_name="承诺书.pdf",
        taxpayer_id=taxpayer_id,
        page_count=1,
    )
    return att.id


async def test_resident_ids_are_taxpayer_ids_and_15_characters_are_refused(desk: Desk) -> None:
    """Individuals and 个体工商户 use their resident ID; legacy 15-character numbers are
    refused with the reason (the rules of `taxrules.ids`)."""
    conv, case = await _chat_case(desk)
    with pytest.raises(InvalidTaxpayerId) as legacy:
        await desk.set_slots(case.number, {"taxpayer_id": "330100799655058"})
    assert legacy.value.reason == "legacy_15"
    assert "15位税务登记号已停用" in legacy.value.user_message
    with pytest.raises(InvalidTaxpayerId) as bad_date:
        await desk.set_slots(case.number, {"taxpayer_id": "110101199002304516"})
    assert bad_date.value.reason == "birth_date"
    case = await desk.set_slots(case.number, {"taxpayer_id": "11010519491231002x"})
    assert case.slots["taxpayer_id"] == "11010519491231002X"
    taxpayer = await desk.taxpayer_for_tax_id("11010519491231002X")
    assert taxpayer.id == conv.taxpayer_id


async def test_main_flow_writes_events_and_outbox(desk: Desk) -> None:
    conv, case = await _chat_case(desk, tax_type="vat", tax_period="2019-12")
    assert case.status == "collecting"
    assert case.number.startswith("TX-2026-")
    with pytest.raises(MissingSlots) as exc:
        await desk.submit(case.number)
    assert exc.value.missing == ["taxpayer_id"]
    assert "纳税人识别号" in exc.value.user_message

    with pytest.raises(InvalidTaxpayerId) as bad:
        await desk.set_slots(case.number, {"taxpayer_id": BAD_TAX_ID})
    assert "校验位" in bad.value.user_message
    assert BAD_TAX_ID not in str(bad.value)  # never the full ID in logs
    await desk.set_slots(case.number, {"taxpayer_id": TAX_ID.lower()})

    with pytest.raises(MissingDocuments) as md:
        await desk.submit(case.number)
    assert md.value.missing == ["commitment_letter"]
    assert "承诺书" in md.value.user_message

    att = await _letter(desk, conv.taxpayer_id)
    with pytest.raises(UnknownDocument):
        await desk.attach(case.number, att, "selfie")
    await desk.attach(case.number, att, "commitment_letter")
    case = await desk.submit(case.number)
    assert case.status == "queued"
    # Friday 10:00 Shanghai + 1 working day -> Monday 18:00 Shanghai = 10:00 UTC
    assert case.deadline_at == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)

    staff = await desk.add_staff("王芳", "staff", telegram_user_id=42)
    case = await desk.claim(case.number, staff.id)
    assert case.status == "in_progress" and case.assignee_id == staff.id
    await desk.ask_taxpayer(case.number, staff.id, "请问更正后的销售额是多少？")
    summaries = await desk.taxpayer_open_cases(conv.taxpayer_id)
    assert [s.status for s in summaries] == ["waiting_taxpayer"]
    assert summaries[0].last_question == "请问更正后的销售额是多少？"
    assert summaries[0].due == "due_soon" or summaries[0].due == "ok"
    await desk.answer(case.number, "12500元", taxpayer_id=conv.taxpayer_id)
    case = await desk.complete(case.number, staff.id, "已更正，请登录电子税务局查看。")
    assert case.status == "done" and case.closed_at is not None

    detail = await desk.case_detail(case.number)
    actions = [(e.action, e.from_status, e.to_status, e.actor_kind) for e in detail.events]
    assert actions == [
        ("open", None, "collecting", "taxpayer"),
        ("set_slots", "collecting", "collecting", "taxpayer"),
        ("attach", "collecting", "collecting", "taxpayer"),
        ("submit", "collecting", "queued", "taxpayer"),
        ("claim", "queued", "in_progress", "staff"),
        ("ask", "in_progress", "waiting_taxpayer", "staff"),
        ("answer", "waiting_taxpayer", "in_progress", "taxpayer"),
        ("complete", "in_progress", "done", "staff"),
    ]
    kinds = [o.kind for o in detail.outbox]
    assert kinds == ["case_queued", "case_question", "case_done"]
    done = detail.outbox[-1]
    assert done.channel == "telegram" and done.chat_id == "1001" and done.status == "pending"
    assert "已更正" in done.payload["text"]["zh_hans"]
    assert len(done.payload["buttons"]) == 5
    assert case.number in detail.outbox[0].payload["text"]["zh_hans"]
    assert [a.document_key for a in detail.attachments] == ["commitment_letter"]


async def test_outbox_row_is_in_the_same_transaction(desk: Desk, make_desk) -> None:
    """A failing transition leaves neither an event nor an outbox row behind."""
    _conv, case = await _chat_case(desk, "tax_certificate", tax_period="2025", taxpayer_id=TAX_ID)
    await desk.submit(case.number)
    staff = await desk.add_staff("李明", "supervisor")  # may act; the state refuses
    with pytest.raises(IllegalTransition) as exc:
        await desk.complete(case.number, staff.id, "x")  # queued: must be claimed first
    assert "不能办结" in exc.value.user_message
    async with make_desk.sessions() as s:
        n_out = await s.scalar(select(func.count()).select_from(Outbox))
        n_ev = await s.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "complete")
        )
    assert (n_out, n_ev) == (1, 0)


async def test_bad_input_errors(desk: Desk) -> None:
    conv = await desk.ensure_conversation("web", "u1", "c1")
    with pytest.raises(UnknownCaseType) as e1:
        await desk.open_case("visa", taxpayer_id=conv.taxpayer_id)
    assert "visa" in e1.value.user_message
    with pytest.raises(InvalidSlot):
        await desk.open_case("invoice", taxpayer_id=conv.taxpayer_id, slots={"colour": "red"})
    with pytest.raises(CaseNotFound):
        await desk.submit("TX-2026-999999")
    _c, case = await _chat_case(desk, "tax_certificate", tax_period="2025", taxpayer_id=TAX_ID)
    await desk.cancel(case.number, actor=Actor.taxpayer(case.taxpayer_id))
    boss = await desk.add_staff("赵主任", "supervisor")
    with pytest.raises(IllegalTransition) as e2:
        await desk.complete(case.number, boss.id, "done")
    assert "已取消" in e2.value.user_message
    with pytest.raises(StaffExists):
        await desk.add_staff("赵主任")
    # the session is still usable after every error
    assert (await desk.case_detail(case.number)).case.status == "cancelled"


async def test_roles_reopen_and_rating_follow_up(desk: Desk, make_desk) -> None:
    conv, case = await _chat_case(desk, "tax_certificate", tax_period="2025", taxpayer_id=TAX_ID)
    await desk.submit(case.number)
    a = await desk.add_staff("甲")
    b = await desk.add_staff("乙")
    boss = await desk.add_staff("丙", "supervisor")
    await desk.claim(case.number, a.id)
    with pytest.raises(PermissionDenied):
        await desk.complete(case.number, b.id, "not mine")
    with pytest.raises(PermissionDenied):
        await desk.assign(case.number, a.id, b.id)
    await desk.assign(case.number, boss.id, b.id)
    await desk.complete(case.number, b.id, "已开具")
    with pytest.raises(InvalidRating):
        await desk.rate(case.number, "meh")
    await desk.rate(case.number, "very_dissatisfied", comment="太慢", taxpayer_id=conv.taxpayer_id)
    with pytest.raises(InvalidRating):
        await desk.rate(case.number, "satisfied")
    async with make_desk.sessions() as s:
        fu = (await s.execute(select(FollowUp))).scalars().all()
    assert [(f.kind, f.status) for f in fu] == [("bad_rating", "open")]
    assert [f.id for f in await desk.open_follow_ups()] == [fu[0].id]
    with pytest.raises(PermissionDenied):
        await desk.close_follow_up(fu[0].id, a.id, "x")
    await desk.close_follow_up(fu[0].id, boss.id, "已电话回访")
    assert await desk.open_follow_ups() == []
    with pytest.raises(PermissionDenied):
        await desk.reopen(case.number, a.id, "again")
    case = await desk.reopen(case.number, boss.id, "差评回访")
    assert case.status == "queued" and case.assignee_id is None and case.closed_at is None


async def test_case_numbers_unique_and_never_reused(desk: Desk, make_desk) -> None:
    conv = await desk.ensure_conversation("web", "u2", "c2")
    first = await desk.open_case("invoice", taxpayer_id=conv.taxpayer_id)
    async with make_desk.sessions() as s:
        await s.delete(await s.get(Case, first.id))
        await s.commit()
    desk.session.expunge_all()
    second = await desk.open_case("invoice", taxpayer_id=conv.taxpayer_id)
    assert second.number != first.number
    assert int(second.number[-6:]) == int(first.number[-6:]) + 1


async def test_conversation_once_state_and_review_items(desk: Desk, engine, clock) -> None:
    conv = await desk.ensure_conversation("telegram", "7", "7")
    again = await desk.ensure_conversation("telegram", "7", "7")
    assert again.id == conv.id
    writes = WriteBatcher(engine, clock=clock)  # the per-update rows' one way in
    assert await writes.record_inbound(conv.id, "telegram", "7", text="嗯嗯啊", update_id="555")
    message_id = await desk.session.scalar(select(Message.id).where(Message.update_id == "555"))
    await desk.session.commit()
    c = await desk.set_conversation_state(conv.id, "human", thread_id="99")
    assert c.state == "human" and c.staff_thread_id == "99"
    item = await desk.add_review_item(
        "嗯嗯啊",
        reason="nlu_fallback",
        parse={"intent": None},
        conversation_id=conv.id,
        message_id=message_id,
    )
    assert item.status == "open" and item.message_id is not None


async def test_queue_filters_and_overdue(desk: Desk, clock) -> None:
    conv = await desk.ensure_conversation("web", "q", "q")
    numbers = []
    for ct, slots in [
        ("tax_certificate", {"tax_period": "2025", "taxpayer_id": TAX_ID}),
        ("tax_certificate", {"tax_period": "2024", "taxpayer_id": TAX_ID_2}),
    ]:
        c = await desk.open_case(ct, taxpayer_id=conv.taxpayer_id, slots=slots)
        await desk.submit(c.number)
        numbers.append(c.number)
        if len(numbers) == 1:
            clock.advance(days=4)  # Tuesday: the first case (due Monday 18:00) is overdue
    staff = await desk.add_staff("甲")
    await desk.claim(numbers[1], staff.id)
    assert [c.number for c in await desk.queue()] == numbers  # by deadline
    assert [c.number for c in await desk.queue(status="queued")] == numbers[:1]
    assert [c.number for c in await desk.queue(assignee_id=staff.id)] == numbers[1:]
    assert [c.number for c in await desk.queue(overdue=True)] == numbers[:1]
    assert await desk.queue(case_type="refund") == []
    found = await desk.taxpayer_for_tax_id(TAX_ID)
    assert found.id == conv.taxpayer_id


async def test_store_attachment_dedupes_and_links(desk: Desk, tmp_path) -> None:
    from intake.storage import LocalAttachmentStore

    store = LocalAttachmentStore(tmp_path / "attachments")
    conv, case = await _chat_case(desk, "invoice", taxpayer_id=TAX_ID)
    data = b"%PDF-1.4 licence"
    a1 = await desk.store_attachment(
        store,
        data,
        media_type="application/pdf",
        suffix=".pdf",
        original_name="执照.pdf",
        taxpayer_id=conv.taxpayer_id,
    )
    a2 = await desk.store_attachment(
        store,
        data,
        media_type="application/pdf",
        suffix=".pdf",
        original_name="执照2.pdf",
        taxpayer_id=conv.taxpayer_id,
    )
    assert a1.storage_key == a2.storage_key and a1.id != a2.id
    assert await store.get(a1.storage_key) == data
    await desk.attach(case.number, a1.id, "business_licence")
    await desk.attach(case.number, a2.id, "business_licence")  # single item: replaces
    missing = await desk.missing_for_submit((await desk.case_detail(case.number)).case)
    assert missing == ([], [])
    detail = await desk.case_detail(case.number)
    assert [(a.id, a.document_key) for a in detail.attachments] == [
        (a1.id, None),
        (a2.id, "business_licence"),
    ]
    case = await desk.submit(case.number)
    assert case.status == "queued"


async def test_number_taken_in_a_rolled_back_transaction_is_not_reissued_on_postgres(
    db, desk: Desk, make_desk
) -> None:
    conv = await desk.ensure_conversation("web", "rb", "rb")
    first = await desk.open_case("invoice", taxpayer_id=conv.taxpayer_id)
    async with make_desk.sessions() as s:
        lost = await make_desk(s)._next_number(make_desk.clock())
        await s.rollback()
    second = await desk.open_case("invoice", taxpayer_id=conv.taxpayer_id)
    assert len({first.number, second.number}) == 2
    if db.schema is not None:  # PostgreSQL: the sequence does not roll back
        assert lost not in (first.number, second.number)
        assert int(second.number[-6:]) == int(lost[-6:]) + 1
    else:  # SQLite: one writer; the rolled-back number was never visible to anyone
        assert second.number == lost


async def test_the_dialogues_lookups(desk: Desk) -> None:
    alice = await desk.ensure_conversation("telegram", "a", "a")
    bob = await desk.ensure_conversation("telegram", "b", "b")
    carol = await desk.ensure_conversation("telegram", "c", "c")
    conv = await desk.find_conversation("telegram", "a")
    assert conv is not None and conv.id == alice.id
    assert await desk.find_conversation("telegram", "nobody") is None
    assert await desk.conversation_state(alice.id) == "bot"
    await desk.set_conversation_state(alice.id, "human")
    assert await desk.conversation_state(alice.id) == "human"

    case = await desk.open_case(
        "tax_certificate", taxpayer_id=alice.taxpayer_id, slots={"taxpayer_id": TAX_ID}
    )
    assert (await desk.case_of_taxpayer(case.number, alice.taxpayer_id)).id == case.id
    with pytest.raises(CaseNotFound):  # someone else's case does not exist for bob
        await desk.case_of_taxpayer(case.number, bob.taxpayer_id)
    # naming the taxpayer ID is not enough: bob used it too, still nothing
    await desk.remember_taxpayer_id(bob.taxpayer_id, TAX_ID)
    with pytest.raises(CaseNotFound):
        await desk.case_of_taxpayer(case.number, bob.taxpayer_id)
    # verified for the ID (a one-time code), bob sees the case
    await desk.verify_by_code(bob.taxpayer_id, await desk.issue_code(TAX_ID))
    assert (await desk.case_of_taxpayer(case.number, bob.taxpayer_id)).id == case.id
    # ... but not carol's case of another ID
    other = await desk.open_case(
        "invoice", taxpayer_id=carol.taxpayer_id, slots={"taxpayer_id": TAX_ID_2}
    )
    with pytest.raises(CaseNotFound):
        await desk.case_of_taxpayer(other.number, bob.taxpayer_id)
    with pytest.raises(CaseNotFound):
        await desk.case_of_taxpayer("TX-2026-999999", alice.taxpayer_id)

    with pytest.raises(CaseNotFound):
        await desk.cancel_as_taxpayer("TX-2026-999999", alice.taxpayer_id)
    with pytest.raises(CaseNotFound):  # carol's case is not alice's to cancel
        await desk.cancel_as_taxpayer(other.number, alice.taxpayer_id)
    cancelled = await desk.cancel_as_taxpayer(case.number, alice.taxpayer_id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert await desk.cancel_as_taxpayer(case.number, alice.taxpayer_id) is None  # closed

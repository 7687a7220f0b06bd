"""Who may act for a taxpayer (`desk.services.access`), on SQLite and PostgreSQL: the one
entitlement rule for every taxpayer-side call (status list, case by number, answer, rate,
cancel, attach), verification by a registered handler's phone and by a one-time code."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from desk.errors import CaseNotFound, CaseNotVisible, DeskError, VerificationRefused
from desk.models import CaseEvent, FollowUp, Rating, VerificationCode
from desk.services import Desk
from desk.services.access import MAX_FAILED_TRIES
from testing.desk import DeskFactory

COMPANY = "91310115MA1K3YJ12G"
OTHER = "91650100MA78ABCD1A"
PERSON = "11010519491231002X"  # a resident ID number binds the same way
PHONE = "13800138000"


async def _three(desk: Desk):  # type: ignore[no-untyped-def]
    owner = await desk.ensure_conversation("telegram", "1", "1", display_name="会计")
    stranger = await desk.ensure_conversation("telegram", "2", "2", display_name="陌生人")
    colleague = await desk.ensure_conversation("telegram", "3", "3", display_name="同事")
    return owner, stranger, colleague


async def _done_case(desk: Desk, taxpayer_id: int, tax_id: str = COMPANY) -> str:
    case = await desk.open_and_submit(
        "tax_certificate",
        taxpayer_id=taxpayer_id,
        slots={"taxpayer_id": tax_id, "tax_period": "2025"},
        notify=False,
    )
    staff = await desk.add_staff(f"王芳{case.number}")
    await desk.claim(case.number, staff.id)
    await desk.complete(case.number, staff.id, "已开具")
    return case.number


async def _count(desk: Desk, model: type, **where: object) -> int:
    q = select(func.count()).select_from(model)
    for k, v in where.items():
        q = q.where(getattr(model, k) == v)
    return int((await desk.session.execute(q)).scalar_one())


async def test_a_stranger_naming_the_id_sees_and_changes_nothing(desk: Desk) -> None:
    owner, stranger, _ = await _three(desk)
    number = await _done_case(desk, owner.taxpayer_id)
    open_case = await desk.open_and_submit(
        "tax_certificate",
        taxpayer_id=owner.taxpayer_id,
        slots={"taxpayer_id": COMPANY, "tax_period": "2024"},
        notify=False,
    )
    # the stranger names the company's public code (and even opens a case in its name)
    await desk.remember_taxpayer_id(stranger.taxpayer_id, COMPANY)
    mine = await desk.open_case(
        "tax_certificate", taxpayer_id=stranger.taxpayer_id, slots={"taxpayer_id": COMPANY}
    )
    assert [c.number for c in await desk.taxpayer_open_cases(stranger.taxpayer_id)] == [
        mine.number
    ]
    assert {c.number for c in await desk.taxpayer_open_cases(owner.taxpayer_id)} == {
        open_case.number
    }
    events_before = await _count(desk, CaseEvent)
    for call in (
        desk.case_of_taxpayer(number, stranger.taxpayer_id),
        desk.rate(number, "very_dissatisfied", taxpayer_id=stranger.taxpayer_id),
        desk.answer(open_case.number, "hi", taxpayer_id=stranger.taxpayer_id),
        desk.cancel_as_taxpayer(open_case.number, stranger.taxpayer_id),
    ):
        with pytest.raises(CaseNotVisible) as refused:
            await call
        assert "没有找到您可以查看的事项" in refused.value.user_message
    # ... exactly as for a case that does not exist
    with pytest.raises(CaseNotVisible) as missing:
        await desk.rate("TX-2026-999999", "satisfied", taxpayer_id=stranger.taxpayer_id)
    assert missing.value.user_message.replace(
        "TX-2026-999999", "N"
    ) == refused.value.user_message.replace(open_case.number, "N")
    assert isinstance(missing.value, CaseNotFound)
    # nothing changed: no rating, no follow-up, no event, the case still open
    assert await _count(desk, Rating) == 0
    assert await _count(desk, FollowUp) == 0
    assert await _count(desk, CaseEvent) == events_before
    assert (await desk.case_of_taxpayer(open_case.number, owner.taxpayer_id)).status == "queued"
    # the owner itself may rate
    assert (
        await desk.rate(number, "satisfied", taxpayer_id=owner.taxpayer_id)
    ).level == "satisfied"


async def test_attach_only_to_a_case_the_chat_may_change(desk: Desk) -> None:
    owner, stranger, _ = await _three(desk)
    draft = await desk.open_case(
        "return_correction", taxpayer_id=owner.taxpayer_id, slots={"taxpayer_id": COMPANY}
    )
    att = await desk.add_attachment(
        sha256="b" * 64, size=1, storage_key="k", media_type="application/pdf"
    )
    with pytest.raises(CaseNotVisible):
        await desk.attach(
            draft.number, att.id, "commitment_letter", taxpayer_id=stranger.taxpayer_id
        )
    assert await _count(desk, CaseEvent, action="attach") == 0
    done = await desk.attach(
        draft.number, att.id, "commitment_letter", taxpayer_id=owner.taxpayer_id
    )
    assert done.case_id == draft.id


async def test_verified_by_a_handlers_phone_sees_every_case_of_the_id(desk: Desk) -> None:
    owner, stranger, colleague = await _three(desk)
    number = await _done_case(desk, owner.taxpayer_id)
    other = await _done_case(desk, owner.taxpayer_id, OTHER)
    await desk.add_handler(COMPANY, "+86 138-0013-8000", "同事")
    # someone else's contact card (not the sender's own) is refused, nothing bound
    with pytest.raises(VerificationRefused) as not_own:
        await desk.verify_by_phone(stranger.taxpayer_id, PHONE, own=False)
    assert not_own.value.reason == "not_own_contact"
    with pytest.raises(VerificationRefused) as unknown:
        await desk.verify_by_phone(stranger.taxpayer_id, "13900139000", own=True)
    assert unknown.value.reason == "not_registered" and "139****9000" in unknown.value.user_message
    assert not await desk.is_verified(stranger.taxpayer_id, COMPANY)

    assert await desk.verify_by_phone(colleague.taxpayer_id, "8613800138000", own=True) == [
        COMPANY
    ]
    assert await desk.is_verified(colleague.taxpayer_id, COMPANY)
    seen = await desk.taxpayer_open_cases(colleague.taxpayer_id, statuses=("done",))
    assert [c.number for c in seen] == [number]  # not the case of the other ID
    assert (await desk.rate(number, "satisfied", taxpayer_id=colleague.taxpayer_id)).case_id
    with pytest.raises(CaseNotVisible):
        await desk.rate(other, "satisfied", taxpayer_id=colleague.taxpayer_id)
    rated = (
        await desk.session.execute(select(CaseEvent).where(CaseEvent.action == "rate"))
    ).scalar_one()
    assert rated.actor_id == str(colleague.taxpayer_id)  # who rated, not the case's opener


async def test_a_one_time_code_binds_once_and_wrong_codes_are_limited(
    desk: Desk, make_desk: DeskFactory
) -> None:
    _, stranger, colleague = await _three(desk)
    code = await desk.issue_code(PERSON, issued_by="王芳")
    assert len(code) == 8 and code.isdigit()
    stored = (await desk.session.execute(select(VerificationCode))).scalar_one()
    assert code not in stored.code_hash  # only its hash is kept
    await desk.session.commit()

    assert await desk.verify_by_code(colleague.taxpayer_id, code) == PERSON
    with pytest.raises(VerificationRefused) as used:  # single use
        await desk.verify_by_code(stranger.taxpayer_id, code)
    assert used.value.reason == "bad_code"
    for _ in range(MAX_FAILED_TRIES - 2):
        with pytest.raises(VerificationRefused):
            await desk.verify_by_code(stranger.taxpayer_id, "00000000")
    fresh = await desk.issue_code(PERSON)
    with pytest.raises(VerificationRefused) as last:  # the fifth wrong try
        await desk.verify_by_code(stranger.taxpayer_id, "00000001")
    assert last.value.reason == "too_many_tries"
    with pytest.raises(VerificationRefused) as limited:  # even the right code now
        await desk.verify_by_code(stranger.taxpayer_id, fresh)
    assert limited.value.reason == "too_many_tries"
    assert not await desk.is_verified(stranger.taxpayer_id, PERSON)
    make_desk.clock.advance(hours=25)  # the window has passed; the fresh code has expired
    with pytest.raises(VerificationRefused) as expired:
        await desk.verify_by_code(stranger.taxpayer_id, fresh)
    assert expired.value.reason == "bad_code"
    assert await desk.verify_by_code(stranger.taxpayer_id, await desk.issue_code(PERSON)) == PERSON


async def test_bad_phones_and_ids_are_refused_with_a_reason(desk: Desk) -> None:
    with pytest.raises(DeskError) as phone:
        await desk.add_handler(COMPANY, "12345")
    assert "手机号" in phone.value.user_message
    with pytest.raises(DeskError):
        await desk.add_handler("91310115MA1K3YJ12X", PHONE)
    result = await desk.import_handlers(
        [(2, COMPANY, PHONE, "李"), (3, COMPANY, "+86 138 0013 8000", None), (4, "x", PHONE, None)]
    )
    assert (result.added, result.existing, len(result.errors)) == (1, 1, 1)
    assert [h.phone for h in await desk.handlers(COMPANY)] == ["+8613800138000"]
    assert await desk.remove_handler(COMPANY, "138 0013 8000") is True
    assert await desk.remove_handler(COMPANY, PHONE) is False


async def test_staff_see_whether_a_case_came_from_a_verified_chat(desk: Desk) -> None:
    owner, _, colleague = await _three(desk)
    case = await desk.open_case(
        "tax_certificate", taxpayer_id=owner.taxpayer_id, slots={"taxpayer_id": COMPANY}
    )
    assert await desk.case_verified(case) is False
    assert (await desk.topic_card(owner.id)).verified is False
    await desk.verify_by_code(owner.taxpayer_id, await desk.issue_code(COMPANY))
    assert await desk.case_verified(case) is True
    assert (await desk.topic_card(owner.id)).verified is True
    assert (await desk.topic_card(colleague.id)).verified is None  # named no ID

"""The desk's reads for the web console (`Queries.queue_page`, `attachment_for_staff`,
`case_stamp`, `assignable_staff`), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from desk.errors import NotFound, StaffNotFound, UnknownCaseType, UnknownStatus
from desk.services import Desk
from testing.clock import Clock

COMPANY = "91310115MA1K3YJ12G"
OTHER = "91650100MA78ABCD1A"


async def _case(desk: Desk, taxpayer_id: int, tax_id: str, period: str = "2025") -> str:
    case = await desk.open_and_submit(
        "tax_certificate",
        taxpayer_id=taxpayer_id,
        slots={"taxpayer_id": tax_id, "tax_period": period},
        notify=False,
    )
    return case.number


async def test_the_queue_filters_on_verification_and_names_the_assignee(desk: Desk) -> None:
    verified_chat = await desk.ensure_conversation("telegram", "1", "1", display_name="张会计")
    plain_chat = await desk.ensure_conversation("telegram", "2", "2")
    code = await desk.issue_code(COMPANY)
    assert await desk.verify_by_code(verified_chat.taxpayer_id, code) == COMPANY
    a = await _case(desk, verified_chat.taxpayer_id, COMPANY)
    b = await _case(desk, plain_chat.taxpayer_id, COMPANY)  # names it, is not verified
    c = await _case(desk, verified_chat.taxpayer_id, OTHER)  # verified for another ID only
    staff = await desk.add_staff("王芳")
    await desk.claim(b, staff.id)

    page = await desk.queue_page()
    assert [r.case.number for r in page.rows] == [a, b, c]
    by_number = {r.case.number: r for r in page.rows}
    assert by_number[a].verified and not by_number[b].verified and not by_number[c].verified
    assert by_number[b].assignee == "王芳" and by_number[a].assignee is None
    assert by_number[a].taxpayer_name == "张会计" and by_number[b].taxpayer_name is None
    assert [r.case.number for r in (await desk.queue_page(verified=True)).rows] == [a]
    assert [r.case.number for r in (await desk.queue_page(verified=False)).rows] == [b, c]
    assert [r.case.number for r in (await desk.queue_page(unassigned=True)).rows] == [a, c]
    assert [r.case.number for r in (await desk.queue_page(assignee_id=staff.id)).rows] == [b]
    assert [r.case.number for r in (await desk.queue_page(status="in_progress")).rows] == [b]


async def test_the_queue_pages_and_tells_the_time_left(desk: Desk, clock: Clock) -> None:
    chat = await desk.ensure_conversation("telegram", "1", "1")
    numbers = [await _case(desk, chat.taxpayer_id, COMPANY, p) for p in ("2023", "2024", "2025")]
    first = await desk.queue_page(limit=2)
    assert [r.case.number for r in first.rows] == numbers[:2] and first.has_more
    second = await desk.queue_page(limit=2, offset=2)
    assert [r.case.number for r in second.rows] == numbers[2:] and not second.has_more
    row = first.rows[0]
    # Friday 10:00 + 1 working day = Monday, at the office's close (18:00): three days and
    # eight hours on the clock, one working day
    assert row.left == timedelta(days=3, hours=8) and row.working_days_left == 1
    assert row.due == "ok"
    clock.advance(days=4)  # Tuesday 10:00: sixteen hours late
    late = (await desk.queue_page(overdue=True)).rows
    assert [r.case.number for r in late] == numbers
    assert late[0].due == "overdue" and late[0].left == -timedelta(hours=16)


async def test_the_queue_refuses_an_unknown_status_or_type(desk: Desk) -> None:
    with pytest.raises(UnknownStatus):
        await desk.queue_page(status="lost")
    with pytest.raises(UnknownCaseType):
        await desk.queue_page(case_type="nothing")


async def test_staff_read_files_of_cases_and_conversations_only(desk: Desk) -> None:
    chat = await desk.ensure_conversation("telegram", "1", "1")
    staff = await desk.add_staff("王芳")
    loose = await desk.add_attachment(
        sha256="a" * 64,
        size=3,
        storage_key="aa/" + "a" * 64 + ".pdf",
        media_type="application/pdf",
    )
    with pytest.raises(NotFound):  # stored, on no case and in no message: nobody's
        await desk.attachment_for_staff(loose.id, staff.id)
    with pytest.raises(NotFound):
        await desk.attachment_for_staff(loose.id + 1000, staff.id)
    number = await _case(desk, chat.taxpayer_id, COMPANY)
    await desk.claim(number, staff.id)
    await desk.complete(number, staff.id, "已开具", attachment_ids=[loose.id])
    assert (await desk.attachment_for_staff(loose.id, staff.id)).id == loose.id
    gone = await desk.add_staff("离职", "staff")
    gone.active = False
    await desk.session.commit()
    with pytest.raises(StaffNotFound):
        await desk.attachment_for_staff(loose.id, gone.id)


async def test_the_case_stamp_moves_with_each_step(desk: Desk) -> None:
    chat = await desk.ensure_conversation("telegram", "1", "1")
    number = await _case(desk, chat.taxpayer_id, COMPANY)
    staff = await desk.add_staff("王芳")
    before = await desk.case_stamp(number)
    await desk.add_note(number, staff.id, "先核对申报记录")
    after_note = await desk.case_stamp(number)
    await desk.claim(number, staff.id)
    after_claim = await desk.case_stamp(number)
    assert before is not None and after_note is not None and after_claim is not None
    assert before != after_note != after_claim
    assert await desk.case_stamp("TX-1999-000001") is None
    assert [s.name for s in await desk.assignable_staff()] == ["王芳"]


async def test_cases_by_type_counts_open_and_closed_cases(desk: Desk) -> None:
    chat = await desk.ensure_conversation("telegram", "9", "9")
    first = await _case(desk, chat.taxpayer_id, COMPANY)
    await _case(desk, chat.taxpayer_id, COMPANY, "2024")
    staff = await desk.add_staff("王芳")
    await desk.claim(first, staff.id)
    await desk.complete(first, staff.id, "已出具")  # closed cases count too
    counts = await desk.cases_by_type(["tax_certificate", "refund", "no_such_type"])
    assert counts == {"tax_certificate": 2}
    assert await desk.cases_by_type([]) == {}

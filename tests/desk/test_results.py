"""Results the taxpayer can see (issue 9 point 2): recent done and rejected cases with the
note or the reason, a document staff produced sent with the completion, withdrawing a queued
case, and a page added to a submitted case. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from desk.errors import (
    CaseNotFound,
    DeskError,
    FileRefused,
    IllegalTransition,
    WithdrawRefused,
)
from desk.services import Desk
from intake.storage import LocalAttachmentStore
from testing.clock import Clock
from testing.samples import make_pdf

TAX_ID = "91310115MA1K3YJ12G"


async def _queued(desk: Desk, case_type: str = "tax_certificate", chat: str = "1001"):
    conv = await desk.ensure_conversation("telegram", chat, chat, display_name="张会计")
    case = await desk.open_and_submit(
        case_type,
        taxpayer_id=conv.taxpayer_id,
        conversation_id=conv.id,
        slots={"tax_period": "2025", "taxpayer_id": TAX_ID},
        notify=False,
    )
    return conv, case


async def test_status_lists_open_cases_then_recent_results(desk: Desk, clock: Clock) -> None:
    conv, old = await _queued(desk)
    _, done = await _queued(desk)
    _, rejected = await _queued(desk)
    _, still_open = await _queued(desk)
    staff = await desk.add_staff("王芳")
    for case in (old, done, rejected):
        await desk.claim(case.number, staff.id)
    await desk.complete(old.number, staff.id, "早就开好了")
    clock.advance(days=31)  # `old` is now more than 30 days ago
    await desk.complete(done.number, staff.id, "已为您开具完税证明")
    await desk.reject(rejected.number, staff.id, "所属期内没有缴税记录")

    got = await desk.taxpayer_cases(conv.taxpayer_id)
    assert [(c.number, c.status) for c in got] == [
        (still_open.number, "queued"),
        (rejected.number, "rejected"),
        (done.number, "done"),
    ]
    by_number = {c.number: c for c in got}
    assert by_number[done.number].note == "已为您开具完税证明"
    assert by_number[done.number].closed_at is not None
    assert by_number[rejected.number].reason == "所属期内没有缴税记录"
    assert by_number[still_open.number].note is None
    # the open-only view is the same query without the results
    assert [c.number for c in await desk.taxpayer_open_cases(conv.taxpayer_id)] == [
        still_open.number
    ]
    # at most `recent_limit` results
    assert len(await desk.taxpayer_cases(conv.taxpayer_id, recent_limit=1)) == 2
    # one case by number, but only for its taxpayer
    one = await desk.taxpayer_case(old.number, conv.taxpayer_id)
    assert one.status == "done" and one.note == "早就开好了"
    other = await desk.ensure_conversation("telegram", "2002", "2002")
    with pytest.raises(CaseNotFound):
        await desk.taxpayer_case(old.number, other.taxpayer_id)


async def test_completion_carries_the_produced_document(desk: Desk, tmp_path: Path) -> None:
    conv, case = await _queued(desk)
    staff = await desk.add_staff("王芳")
    await desk.claim(case.number, staff.id)
    store = LocalAttachmentStore(tmp_path / "attachments")
    with pytest.raises(FileRefused) as refused:
        await desk.check_and_store(store, b"PK\x03\x04" + b"\0" * 100, "证明.docx")
    assert refused.value.user_message
    att = await desk.check_and_store(store, make_pdf(), "完税证明.pdf")
    case = await desk.complete(
        case.number, staff.id, "已为您开具完税证明", attachment_ids=[att.id]
    )
    detail = await desk.case_detail(case.number)
    (produced,) = [a for a in detail.attachments if a.produced]
    assert produced.id == att.id and produced.document_key is None
    done = detail.outbox[-1]
    assert done.kind == "case_done"
    (doc,) = done.payload["documents"]
    assert doc["attachment_id"] == att.id and doc["name"] == "完税证明.pdf"
    assert doc["media_type"] == "application/pdf"
    assert await store.get(doc["storage_key"]) is not None
    assert "完税证明.pdf" in done.payload["text"]["zh_hans"]
    (summary,) = await desk.taxpayer_cases(conv.taxpayer_id)
    assert summary.documents == ("完税证明.pdf",)


async def test_a_refused_completion_leaves_the_file_unattached(desk: Desk, tmp_path: Path) -> None:
    _, case = await _queued(desk)  # not claimed: complete is refused
    staff = await desk.add_staff("王芳")
    store = LocalAttachmentStore(tmp_path / "attachments")
    att = await desk.check_and_store(store, make_pdf(), "完税证明.pdf")
    with pytest.raises(DeskError):  # not claimed by anyone: not this member's to complete
        await desk.complete(case.number, staff.id, "已开具", attachment_ids=[att.id])
    detail = await desk.case_detail(case.number)
    assert detail.attachments == [] and detail.case.status == "queued"


async def test_withdraw_while_queued_and_refused_once_claimed(desk: Desk) -> None:
    conv, case = await _queued(desk)
    _, claimed = await _queued(desk)
    staff = await desk.add_staff("王芳")
    await desk.claim(claimed.number, staff.id)

    other = await desk.ensure_conversation("telegram", "2002", "2002")
    with pytest.raises(CaseNotFound):  # someone else's case
        await desk.withdraw(case.number, other.taxpayer_id)
    case = await desk.withdraw(case.number, conv.taxpayer_id, notify_staff=True)
    assert case.status == "cancelled"
    detail = await desk.case_detail(case.number)
    assert detail.events[-1].action == "withdraw"
    assert detail.events[-1].actor_kind == "taxpayer"
    assert [o.kind for o in detail.outbox] == ["staff_event"]  # the staff topic is told

    with pytest.raises(WithdrawRefused) as refused:
        await desk.withdraw(claimed.number, conv.taxpayer_id)
    assert "已经开始办理" in refused.value.user_message
    assert (await desk.case_detail(claimed.number)).case.status == "in_progress"


async def test_a_page_added_to_a_submitted_case(desk: Desk) -> None:
    conv, case = await _queued(desk, chat="1001")
    att = await desk.add_attachment(
        sha256="b" * 64,
        size=10,
        storage_key="bb/bb/x.jpg",
        media_type="image/jpeg",
        original_name="第二页.jpg",
        taxpayer_id=conv.taxpayer_id,
    )
    await desk.add_to_case(case.number, [att.id], conv.taxpayer_id, notify_staff=True)
    detail = await desk.case_detail(case.number)
    assert [a.id for a in detail.attachments] == [att.id]
    assert detail.events[-1].action == "add_attachment"
    assert detail.events[-1].data == {"attachment_ids": [att.id], "names": ["第二页.jpg"]}
    assert detail.case.status == "queued"
    assert detail.outbox[-1].kind == "staff_event"
    assert "补充了 1 个文件" in detail.outbox[-1].payload["text"]
    staff = await desk.add_staff("王芳")
    await desk.claim(case.number, staff.id)
    await desk.complete(case.number, staff.id, "好了")
    with pytest.raises(IllegalTransition):  # a closed case takes no more files
        await desk.add_to_case(case.number, [att.id], conv.taxpayer_id)


async def test_a_withdrawn_case_stays_in_status_and_a_dropped_draft_does_not(
    desk: Desk,
) -> None:
    """A taxpayer who withdrew a submitted case sees it among the results ("已取消：纳税人撤回")
    instead of it vanishing; a draft dropped before submitting was never a case for them."""
    conv, withdrawn = await _queued(desk)
    await desk.withdraw(withdrawn.number, conv.taxpayer_id)
    draft = await desk.open_case(
        "tax_certificate",
        taxpayer_id=conv.taxpayer_id,
        conversation_id=conv.id,
        slots={"tax_period": "2025", "taxpayer_id": TAX_ID},
    )
    await desk.cancel_as_taxpayer(draft.number, conv.taxpayer_id)
    got = await desk.taxpayer_cases(conv.taxpayer_id)
    assert [(c.number, c.status) for c in got] == [(withdrawn.number, "cancelled")]
    assert got[0].reason == "纳税人撤回" and got[0].closed_at is not None

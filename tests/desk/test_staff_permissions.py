"""The staff operations' permission rules (`desk.services.permissions`), each allowed and
refused, through `Desk` on SQLite and PostgreSQL; `allowed_actions`; blank texts refused;
who completed a case; `open_and_submit` leaves nothing behind; the status filter."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from desk.errors import (
    IllegalTransition,
    MissingDocuments,
    MissingSlots,
    MissingText,
    PermissionDenied,
    UnknownStatus,
)
from desk.models import Case, CaseEvent, Outbox
from desk.services import CASE_ACTIONS, PERMISSIONS, Actor, Desk
from desk.services.permissions import refusal

TAX_ID = "91310115MA1K3YJ12G"


async def _queued(desk: Desk, period: str = "2025") -> str:
    conv = await desk.ensure_conversation("telegram", "2001", "2001", display_name="张会计")
    case = await desk.open_case(
        "tax_certificate",
        taxpayer_id=conv.taxpayer_id,
        conversation_id=conv.id,
        slots={"tax_period": period, "taxpayer_id": TAX_ID},
    )
    await desk.submit(case.number)
    return case.number


async def _team(desk: Desk) -> tuple[int, int, int, int]:
    a = await desk.add_staff("王芳")
    b = await desk.add_staff("李四")
    boss = await desk.add_staff("赵主任", "supervisor")
    admin = await desk.add_staff("管理员", "admin")
    return a.id, b.id, boss.id, admin.id


async def _status(desk: Desk, number: str) -> str:
    return (await desk.case_detail(number)).case.status


def test_every_action_has_one_rule() -> None:
    assert set(CASE_ACTIONS) == {
        "claim",
        "assign",
        "ask_taxpayer",
        "complete",
        "reject",
        "release",
        "cancel",
        "reopen",
        "note",
    }
    assert PERMISSIONS["close_follow_up"].rule == "supervisor"
    # the rule alone (no database): a plain member on someone else's case, on no one's
    mine = {"role": "staff", "staff_id": 1, "number": "TX-2026-000001"}
    assert refusal("complete", assignee_id=1, **mine) is None  # type: ignore[arg-type]
    other = refusal("complete", assignee_id=2, assignee_name="李四", **mine)  # type: ignore[arg-type]
    assert other is not None and "李四" in other and "主管" in other
    nobody = refusal("reject", assignee_id=None, **mine)  # type: ignore[arg-type]
    assert nobody is not None and "请先认领" in nobody
    assert refusal("reject", role="supervisor", staff_id=9, assignee_id=1) is None
    assert refusal("reject", role="admin", staff_id=9, assignee_id=None) is None
    assert "只有主管" in (refusal("reopen", role="staff", staff_id=1) or "")


async def test_plain_staff_must_claim_before_rejecting_or_completing(desk: Desk) -> None:
    a, b, _boss, admin = await _team(desk)
    number = await _queued(desk)
    for step in (
        lambda: desk.reject(number, a, "材料不全"),
        lambda: desk.cancel(number, actor=Actor.staff(a), reason="重复"),
    ):
        with pytest.raises(PermissionDenied) as refused:
            await step()
        assert "还没有人认领" in refused.value.user_message
        assert "请先认领" in refused.value.user_message
    assert await _status(desk, number) == "queued"
    await desk.claim(number, a)
    # another plain member may do nothing on 王芳's case but a note
    for step in (
        lambda: desk.reject(number, b, "材料不全"),
        lambda: desk.complete(number, b, "已开具"),
        lambda: desk.ask_taxpayer(number, b, "哪一年？"),
        lambda: desk.release(number, b),
        lambda: desk.cancel(number, actor=Actor.staff(b), reason="重复"),
    ):
        with pytest.raises(PermissionDenied) as refused:
            await step()
        assert "由 王芳 承办" in refused.value.user_message
    await desk.add_note(number, b, "已电话联系纳税人")
    assert await _status(desk, number) == "in_progress"
    # the assignee may
    await desk.ask_taxpayer(number, a, "需要哪一年度的？")
    await desk.answer(number, "2025年度")
    await desk.release(number, a)
    assert (await desk.case_detail(number)).case.assignee_id is None
    await desk.claim(number, a)
    await desk.reject(number, a, "该年度无缴税记录")
    assert await _status(desk, number) == "rejected"
    # boss may act on any case; a second one of 王芳's is cancelled by the admin
    second = await _queued(desk, "2024")
    await desk.claim(second, a)
    await desk.cancel(second, actor=Actor.staff(admin), reason="纳税人电话撤回")
    assert await _status(desk, second) == "cancelled"


async def test_supervisor_rules(desk: Desk) -> None:
    a, b, boss, admin = await _team(desk)
    number = await _queued(desk)
    with pytest.raises(PermissionDenied) as refused:
        await desk.assign(number, a, b)
    assert "只有主管或管理员" in refused.value.user_message
    await desk.assign(number, boss, a)
    await desk.assign(number, admin, b)  # re-assign
    assert (await desk.case_detail(number)).case.assignee_id == b
    await desk.complete(number, boss, "完税证明已开具")
    with pytest.raises(PermissionDenied):
        await desk.reopen(number, b, "纳税人有异议")
    await desk.reopen(number, admin, "纳税人有异议")
    assert await _status(desk, number) == "queued"
    await desk.claim(number, b)
    await desk.reject(number, boss, "已在其他案件中办理")
    assert await _status(desk, number) == "rejected"


async def test_a_supervisor_completing_is_recorded_as_the_completer(desk: Desk) -> None:
    a, _b, boss, _admin = await _team(desk)
    number = await _queued(desk)
    await desk.claim(number, a)
    await desk.complete(number, boss, "已开具，请下载")
    detail = await desk.case_detail(number)
    assert detail.case.assignee_id == a  # the assignee stays
    closer = detail.closed_by
    assert closer is not None and closer.action == "complete"
    assert detail.staff_names[str(closer.actor_id)] == "赵主任"
    await desk.reopen(number, boss, "差评回访")
    assert (await desk.case_detail(number)).closed_by is None  # open again


async def test_allowed_actions_follow_the_rules_and_the_state(desk: Desk) -> None:
    a, b, boss, _admin = await _team(desk)
    number = await _queued(desk)
    assert await desk.allowed_actions(number, a) == ["claim", "note"]
    assert await desk.allowed_actions(number, boss) == [
        "claim",
        "assign",
        "reject",
        "cancel",
        "note",
    ]
    await desk.claim(number, a)
    assert await desk.allowed_actions(number, a) == [
        "ask_taxpayer",
        "complete",
        "reject",
        "release",
        "cancel",
        "note",
    ]
    assert await desk.allowed_actions(number, b) == ["note"]
    await desk.complete(number, a, "已开具")
    assert await desk.allowed_actions(number, a) == ["note"]
    assert await desk.allowed_actions(number, boss) == ["reopen", "note"]
    # every action listed really works: the boss reopens
    await desk.reopen(number, boss, "复核")


async def test_blank_texts_are_refused_and_nothing_is_written(desk: Desk, make_desk) -> None:
    a, _b, boss, _admin = await _team(desk)
    number = await _queued(desk)
    await desk.claim(number, a)
    for step, field in [
        (lambda: desk.reject(number, a, ""), "reason"),
        (lambda: desk.reject(number, a, "  \n "), "reason"),
        (lambda: desk.complete(number, a, " "), "note"),
        (lambda: desk.ask_taxpayer(number, a, ""), "question"),
        (lambda: desk.add_note(number, a, "\t"), "text"),
    ]:
        with pytest.raises(MissingText) as refused:
            await step()
        assert refused.value.field == field
        assert "不能为空" in refused.value.user_message
    async with make_desk.sessions() as s:
        kinds = (await s.execute(select(Outbox.kind))).scalars().all()
    assert kinds == ["case_queued"]  # no "原因：" notice went anywhere
    await desk.reject(number, a, "  该年度无缴税记录  ")
    detail = await desk.case_detail(number)
    assert detail.case.reason == "该年度无缴税记录"
    with pytest.raises(MissingText):
        await desk.reopen(number, boss, "")
    assert detail.case.status == "rejected"


async def test_open_and_submit_leaves_no_draft(desk: Desk, make_desk) -> None:
    conv = await desk.ensure_conversation("telegram", "2002", "2002")
    with pytest.raises(MissingSlots):
        await desk.open_and_submit(
            "tax_certificate", taxpayer_id=conv.taxpayer_id, slots={"taxpayer_id": TAX_ID}
        )
    with pytest.raises(MissingDocuments):
        await desk.open_and_submit(
            "return_correction",
            taxpayer_id=conv.taxpayer_id,
            slots={"taxpayer_id": TAX_ID, "tax_type": "vat", "tax_period": "2019-12"},
        )
    async with make_desk.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Case)) == 0
        assert await s.scalar(select(func.count()).select_from(CaseEvent)) == 0
    case = await desk.open_and_submit(
        "tax_certificate",
        taxpayer_id=conv.taxpayer_id,
        slots={"taxpayer_id": TAX_ID, "tax_period": "2025"},
    )
    assert case.status == "queued" and case.deadline_at is not None


async def test_queue_refuses_an_unknown_status(desk: Desk) -> None:
    number = await _queued(desk)
    with pytest.raises(UnknownStatus) as refused:
        await desk.queue(status="bogus")
    assert "queued" in refused.value.user_message and "bogus" in refused.value.user_message
    assert [c.number for c in await desk.queue(status="queued")] == [number]


async def test_a_state_refusal_still_names_the_state(desk: Desk) -> None:
    a, _b, boss, _admin = await _team(desk)
    number = await _queued(desk)
    with pytest.raises(IllegalTransition):
        await desk.complete(number, boss, "x")  # the boss may, but it is not claimed yet
    with pytest.raises(PermissionDenied):
        await desk.close_follow_up(1, a, "x")


async def test_staff_by_telegram_finds_only_linked_staff(desk: Desk) -> None:
    member = await desk.add_staff("王芳", telegram_user_id=4242)
    found = await desk.staff_by_telegram(4242)
    assert found is not None and found.id == member.id
    assert await desk.staff_by_telegram(9999) is None  # anyone else in the group


@pytest.mark.parametrize(
    ("status", "assigned", "expected"),
    [
        ("queued", False, ["claim"]),
        ("in_progress", True, ["release", "ask_taxpayer", "complete", "reject"]),
        ("waiting_taxpayer", True, ["ask_taxpayer", "reject"]),
        ("done", True, []),
        ("rejected", False, []),
        ("collecting", False, []),
    ],
)
def test_the_shared_buttons_follow_the_case_state(
    status: str, assigned: bool, expected: list[str]
) -> None:
    from desk.services.permissions import state_actions

    assert state_actions(status, assigned=assigned) == expected

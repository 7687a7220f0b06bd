"""The desk's services for staff work: staff members, claiming and assigning, the steps that
tell the taxpayer something (ask, complete, reject, reopen), internal notes, and follow-ups of
bad ratings. `staff_id` is `StaffMember.id`; roles staff < supervisor, admin.

Every action asks the ONE rule of `desk.services.permissions.PERMISSIONS` (a refusal is a
`PermissionDenied` saying why and what to do); `allowed_actions` says which actions a staff
member may take on a case now. The CLI, the staff topics and the console all come here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy.exc import IntegrityError

from desk import notices
from desk import repositories as repo
from desk.case_types import CaseType
from desk.errors import (
    AlreadyClaimed,
    ConcurrentUpdate,
    IllegalTransition,
    MissingText,
    NotFound,
    StaffExists,
    StaffNotFound,
)
from desk.models import Attachment, Case, FollowUp, StaffMember
from desk.services.core import Actor, DeskCore
from desk.services.permissions import CASE_ACTIONS, PERMISSIONS, refusal, state_actions
from desk.states import CaseStatus, allowed_from

ROLES = ("staff", "supervisor", "admin")


def suffix_of(storage_key: str) -> str:
    """`.pdf` of a stored blob's key (the store keeps the checked type's extension)."""
    return PurePosixPath(storage_key).suffix


class StaffWork(DeskCore):
    """What staff and supervisors do with cases."""

    async def add_staff(
        self,
        name: str,
        role: str = "staff",
        *,
        telegram_user_id: int | None = None,
        login: str | None = None,
        password_hash: str | None = None,
    ) -> StaffMember:
        """Add a staff member (`role`: staff, supervisor, admin)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        name = name.strip()
        if not name:
            raise ValueError("name must not be empty")
        if await repo.staff_by_name(self.session, name) is not None:
            raise await self._fail(StaffExists(name))
        if telegram_user_id is not None and await repo.staff_by_telegram_id(
            self.session, telegram_user_id
        ):
            raise await self._fail(StaffExists(f"telegram:{telegram_user_id}"))
        if login is not None and await repo.staff_by_login(self.session, login):
            raise await self._fail(StaffExists(f"login:{login}"))
        member = StaffMember(
            name=name,
            role=role,
            telegram_user_id=telegram_user_id,
            login=login,
            password_hash=password_hash,
            active=True,
            created_at=self.now(),
        )
        self.session.add(member)
        try:
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            raise StaffExists(name) from None
        return member

    async def staff_named(self, name: str) -> StaffMember:
        """The active staff member with that name; raises `StaffNotFound`."""
        member = await repo.staff_by_name(self.session, name)
        if member is None or not member.active:
            raise await self._fail(StaffNotFound(name))
        return member

    async def staff_by_telegram(self, telegram_user_id: int) -> StaffMember | None:
        """The active staff member linked to this Telegram user id, or None (anyone else in
        the staff group)."""
        member = await repo.staff_by_telegram_id(self.session, telegram_user_id)
        await self._commit()
        return member if member is not None and member.active else None

    async def allowed_actions(self, number: str, staff_id: int) -> list[str]:
        """The actions of `PERMISSIONS` this staff member may take on this case now (the
        rule lets them and the case's state allows it), in button order. The surfaces show
        only these buttons."""
        member = await self._staff(staff_id)
        case = await self._case(number)
        out = []
        for action in CASE_ACTIONS:
            step = PERMISSIONS[action].step
            assert step is not None
            if not allowed_from(step, case.status):
                continue
            if action == "claim" and case.assignee_id is not None:
                continue
            if action == "release" and case.assignee_id is None:
                continue
            why = refusal(
                action,
                role=member.role,
                staff_id=member.id,
                number=case.number,
                assignee_id=case.assignee_id,
            )
            if why is None:
                out.append(action)
        await self._commit()
        return out

    async def topic_actions(self, number: str) -> list[str]:
        """The buttons the case's announcement in its staff topic shows now (shared by the
        group, so by the case's state alone: `permissions.state_actions`)."""
        case = await self._case(number)
        out = state_actions(case.status, assigned=case.assignee_id is not None)
        await self._commit()
        return out

    async def check_action(self, number: str, staff_id: int, action: str) -> None:
        """Raise what `action` would raise now (`PermissionDenied` saying why, or
        `IllegalTransition`) without taking it: a button whose step needs a text (a
        question, a note, a reason) checks here, then asks for the text."""
        member = await self._staff(staff_id)
        case = await self._case(number)
        await self._authorize(member, action, case)
        step = PERMISSIONS[action].step
        if step is not None and not allowed_from(step, case.status):
            raise await self._fail(IllegalTransition(case.number, case.status, step))
        await self._commit()

    async def claim(self, number: str, staff_id: int) -> Case:
        """A staff member takes a queued case. Exactly one of two racing claims wins; the
        other gets `AlreadyClaimed`."""
        member = await self._staff(staff_id)
        case = await self._case(number)
        await self._authorize(member, "claim", case)
        number = case.number
        if case.status != CaseStatus.QUEUED and case.assignee_id is not None:
            other = await self.session.get(StaffMember, case.assignee_id)
            raise await self._fail(AlreadyClaimed(number, other.name if other else None))
        try:
            await self._transition(
                case, "claim", Actor.staff(member.id), changes={"assignee_id": member.id}
            )
        except ConcurrentUpdate:
            fresh = await repo.case_by_number(self.session, number)
            by = None
            if fresh is not None and fresh.assignee_id is not None:
                other = await self.session.get(StaffMember, fresh.assignee_id)
                by = other.name if other else None
            await self.session.commit()
            raise AlreadyClaimed(number, by) from None
        return case

    async def assign(self, number: str, staff_id: int, assignee_id: int) -> Case:
        """A supervisor gives a case to a staff member (queued -> in progress, or re-assign)."""
        member = await self._staff(staff_id)
        await self._authorize(member, "assign")
        target = await self._staff(assignee_id)
        case = await self._case(number)
        action = "claim" if case.status == CaseStatus.QUEUED else "assign"
        await self._transition(
            case,
            action,
            Actor.staff(member.id),
            data={"assignee": target.name, "assigned_by": member.name},
            changes={"assignee_id": target.id},
        )
        return case

    async def release(self, number: str, staff_id: int) -> Case:
        """Give a claimed case back to the queue (its assignee, or a supervisor)."""
        member = await self._staff(staff_id)
        case = await self._case(number)
        await self._authorize(member, "release", case)
        await self._transition(
            case, "release", Actor.staff(member.id), changes={"assignee_id": None}
        )
        return case

    async def _text(self, value: str | None, field: str, label: str) -> str:
        """The stripped text; blank or missing raises `MissingText` (a notice must never
        read "原因：" and nothing)."""
        text = (value or "").strip()
        if not text:
            raise await self._fail(MissingText(field, label))
        return text

    async def _staff_step(
        self,
        number: str,
        staff_id: int,
        action: str,
        *,
        data: dict[str, Any],
        notice: tuple[str, Callable[[Case, CaseType], dict[str, Any]]],
        changes: dict[str, Any] | None = None,
        prepare: Callable[[Case], None] | None = None,
    ) -> Case:
        """A step by the case's assignee (or a supervisor) that tells the taxpayer something:
        the audit event and the notice are written in the same transaction. `action` is the
        name in `PERMISSIONS`. `prepare` changes more rows with the step, once it is allowed
        (a refusal of the state machine rolls them back)."""
        member = await self._staff(staff_id)
        case = await self._case(number)
        await self._authorize(member, action, case)
        if prepare is not None:
            prepare(case)
        ct = self.catalog.get(case.case_type)
        await self._load_conversation(case)
        kind, render = notice
        step = PERMISSIONS[action].step
        assert step is not None
        await self._transition(
            case,
            step,
            Actor.staff(member.id),
            data=data,
            notice=(kind, render(case, ct)),
            changes=changes,
        )
        return case

    async def ask_taxpayer(self, number: str, staff_id: int, question: str) -> Case:
        """Staff ask the taxpayer a question (relayed into the chat): -> waiting_taxpayer.
        A blank question raises `MissingText`."""
        question = await self._text(question, "question", "要问纳税人的问题")
        return await self._staff_step(
            number,
            staff_id,
            "ask_taxpayer",
            data={"question": question},
            notice=("case_question", lambda c, ct: notices.case_question(c.number, ct, question)),
        )

    async def complete(
        self, number: str, staff_id: int, note: str, *, attachment_ids: Sequence[int] = ()
    ) -> Case:
        """Done, with a note for the taxpayer; the notice asks for a rating. The event
        records who completed it (`CaseDetail.closed_by`). A blank note raises `MissingText`.
        `attachment_ids`: files staff produced (a certificate, a decision), already checked
        and stored (`intake`, `store_attachment`): they go on the case marked `produced`, in
        the same transaction, and the notice carries them so the channel sends them along."""
        note = await self._text(note, "note", "办结说明（纳税人会收到这段话）")
        produced: list[Attachment] = []
        for att_id in attachment_ids:
            att = await self.session.get(Attachment, att_id)
            if att is None:
                raise await self._fail(NotFound(f"attachment {att_id}"))
            produced.append(att)
        documents = [
            {
                "attachment_id": a.id,
                "storage_key": a.storage_key,
                "media_type": a.media_type,
                "name": a.original_name or f"{number}{suffix_of(a.storage_key)}",
            }
            for a in produced
        ]

        def attach_produced(case: Case) -> None:
            for att in produced:  # with the step: its commit (or rollback) covers them
                att.case_id, att.produced, att.document_key = case.id, True, None

        return await self._staff_step(
            number,
            staff_id,
            "complete",
            data={"note": note, "documents": [d["attachment_id"] for d in documents]},
            notice=(
                "case_done",
                lambda c, ct: notices.case_done(c.number, ct, note, documents=documents),
            ),
            changes={"note": note, "closed_at": self.now()},
            prepare=attach_produced,
        )

    async def reject(self, number: str, staff_id: int, reason: str) -> Case:
        """Rejected, with the reason told to the taxpayer. A blank reason raises
        `MissingText`."""
        reason = await self._text(reason, "reason", "不予受理的原因（纳税人会收到这段话）")
        return await self._staff_step(
            number,
            staff_id,
            "reject",
            data={"reason": reason},
            notice=("case_rejected", lambda c, ct: notices.case_rejected(c.number, ct, reason)),
            changes={"reason": reason, "closed_at": self.now()},
        )

    async def add_note(self, number: str, staff_id: int, text: str) -> Case:
        """An internal note on the case (any staff member; never sent to the taxpayer): a
        `note` event, no state change."""
        text = await self._text(text, "text", "备注内容")
        member = await self._staff(staff_id)
        case = await self._case(number)
        await self._authorize(member, "note", case)
        await self._transition(case, "note", Actor.staff(member.id), data={"text": text})
        return case

    async def reopen(self, number: str, staff_id: int, reason: str) -> Case:
        """A supervisor reopens a done or rejected case: back to the queue, fresh deadline."""
        reason = await self._text(reason, "reason", "重新打开的原因")
        member = await self._staff(staff_id)
        await self._authorize(member, "reopen")
        case = await self._case(number)
        ct = self.catalog.get(case.case_type)
        now = self.now()
        deadline = self.calendar.add_working_days(now, ct.sla_working_days).astimezone(UTC)
        await self._load_conversation(case)
        await self._transition(
            case,
            "reopen",
            Actor.staff(member.id),
            data={"reason": reason, "deadline": deadline.isoformat()},
            notice=("case_reopened", notices.case_reopened(case.number, ct, deadline)),
            changes={"assignee_id": None, "closed_at": None, "deadline_at": deadline},
        )
        return case

    async def open_follow_ups(self) -> list[FollowUp]:
        """Open follow-ups (bad ratings) for supervisors, oldest first."""
        rows = list(await repo.open_follow_ups(self.session))
        await self._commit()
        return rows

    async def close_follow_up(self, follow_up_id: int, staff_id: int, note: str) -> FollowUp:
        """A supervisor closes a follow-up with a note."""
        note = await self._text(note, "note", "回访结论")
        member = await self._staff(staff_id)
        await self._authorize(member, "close_follow_up")
        fu = await self.session.get(FollowUp, follow_up_id)
        if fu is None:
            raise await self._fail(NotFound(f"follow-up {follow_up_id}"))
        fu.status, fu.note, fu.assignee_id, fu.closed_at = "closed", note, member.id, self.now()
        await self._commit()
        return fu

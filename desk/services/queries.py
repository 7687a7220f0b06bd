"""The desk's queries for staff and the console: the queue, a case's detail, due states."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from desk import repositories as repo
from desk.errors import NotFound, UnknownStatus
from desk.models import Attachment, Case, CaseEvent, Outbox, Rating, ReviewItem, StaffMember
from desk.services.core import DeskCore
from desk.states import ACTIVE_STATUSES, CLOSED_STATUSES, CaseStatus


@dataclass(slots=True)
class CaseDetail:
    """A case with everything staff see: history, attachments, outbox, rating."""

    case: Case
    events: Sequence[CaseEvent]
    attachments: Sequence[Attachment]
    outbox: Sequence[Outbox]
    rating: Rating | None
    staff_names: dict[str, str] = field(default_factory=dict)
    due: str | None = None

    @property
    def closed_by(self) -> CaseEvent | None:
        """The event that closed the case (complete, reject or cancel) while it is closed: its
        actor is who completed it, which may differ from the assignee (a supervisor
        completing someone's case)."""
        if self.case.status not in CLOSED_STATUSES:
            return None
        for e in reversed(self.events):
            if e.to_status == self.case.status and e.from_status != e.to_status:
                return e
        return None


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One line of the staff queue: the case, its assignee's name, the taxpayer's display
    name (the chat's), whether it came from a
    chat verified for its taxpayer ID, and its time limit seen from `QueuePage.now`
    (`due`: ok / due_soon / overdue; `left`: deadline - now, negative once overdue;
    `working_days_left`: working days from today to the deadline's day)."""

    case: Case
    assignee: str | None
    taxpayer_name: str | None
    verified: bool
    due: str | None
    left: timedelta | None
    working_days_left: int | None


@dataclass(frozen=True, slots=True)
class QueuePage:
    """A page of the queue; `has_more`: a next page exists."""

    rows: list[QueueRow]
    has_more: bool
    now: datetime
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class StaffChoice:
    """An active staff member a case can be assigned to."""

    id: int
    name: str
    role: str


class Queries(DeskCore):
    """Reads for the staff queue and the case view (each one transaction, nothing written)."""

    async def cases_by_type(self, case_types: Sequence[str]) -> dict[str, int]:
        """How many cases (open or closed) each of `case_types` has; types without cases
        are left out. The studio refuses to remove a case type that still has cases."""
        if not case_types:
            return {}
        rows = await self.session.execute(
            select(Case.case_type, func.count(Case.id))
            .where(Case.case_type.in_(list(case_types)))
            .group_by(Case.case_type)
        )
        counts = {str(t): int(n) for t, n in rows.all()}
        await self._commit()
        return counts

    async def _check_statuses(self, status: str | Sequence[str] | None) -> None:
        """Raise `UnknownStatus` (listing the valid ones) for a status that is not one."""
        wanted = [status] if isinstance(status, str) else list(status or [])
        valid = [str(s) for s in CaseStatus]
        for st in wanted:
            if st not in valid:
                raise await self._fail(UnknownStatus(st, valid))

    async def queue(
        self,
        *,
        status: str | Sequence[str] | None = None,
        case_type: str | None = None,
        assignee_id: int | None = None,
        unassigned: bool = False,
        overdue: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Case]:
        """The staff queue: filter by status (default: active), type, assignee, overdue;
        ordered by deadline. An unknown status raises `UnknownStatus` (listing the valid ones)."""
        await self._check_statuses(status)
        rows = await repo.queue(
            self.session,
            status=status,
            case_type=case_type,
            assignee_id=assignee_id,
            unassigned=unassigned,
            overdue_at=self.now() if overdue else None,
            limit=limit,
            offset=offset,
        )
        await self._commit()
        return list(rows)

    async def queue_page(
        self,
        *,
        status: str | Sequence[str] | None = None,
        case_type: str | None = None,
        assignee_id: int | None = None,
        unassigned: bool = False,
        overdue: bool = False,
        verified: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> QueuePage:
        """The queue for the console: `queue`'s filters and order, plus `verified` (True:
        only cases from a chat verified for their taxpayer ID, False: only the others), with
        each row's assignee name, verification and time left on the working-day calendar;
        one statement for the page. An unknown status or case type raises `UnknownStatus` /
        `UnknownCaseType`."""
        await self._check_statuses(status)
        if case_type:
            self.catalog.get(case_type)
        limit = max(1, min(limit, 200))
        offset = max(0, offset)
        now = self.now()
        rows = await repo.queue_rows(
            self.session,
            status=status,
            case_type=case_type,
            assignee_id=assignee_id,
            unassigned=unassigned,
            overdue_at=now if overdue else None,
            verified=verified,
            limit=limit + 1,
            offset=offset,
        )
        await self._commit()
        out = []
        for case, name, taxpayer_name, is_verified in rows[:limit]:
            due = self.due_state(case, now)
            left = days = None
            if due is not None and case.deadline_at is not None:
                left = case.deadline_at - now
                days = self.calendar.working_days_between(now, case.deadline_at)
            out.append(QueueRow(case, name, taxpayer_name, is_verified, due, left, days))
        return QueuePage(out, len(rows) > limit, now, offset, limit)

    async def assignable_staff(self) -> list[StaffChoice]:
        """The active staff members (for a supervisor's assign form), by name."""
        rows = [StaffChoice(m.id, m.name, m.role) for m in await repo.active_staff(self.session)]
        await self._commit()
        return rows

    async def case_stamp(self, number: str) -> tuple[int, int] | None:
        """What changes whenever a case's page would: `(version, last event id)`; None when
        there is no such case. For live pages (cheap: one indexed statement)."""
        stamp = await repo.case_stamp(self.session, number.strip().upper())
        await self._commit()
        return stamp

    async def attachment_for_staff(self, attachment_id: int, staff_id: int) -> Attachment:
        """An attachment a staff member may open, or `NotFound` (also when it exists but is
        not theirs to see, so ids cannot be probed). The rule: every ACTIVE staff member may
        read every file of a case (the taxpayer's and those staff produced) and every file
        of a conversation (a message carries it), as every staff member may open every case
        and conversation; a file on neither (a stored blob not yet linked) is nobody's. An
        inactive or unknown staff member raises `StaffNotFound`."""
        await self._staff(staff_id)
        att = await self.session.get(Attachment, attachment_id)
        if att is None or (
            att.case_id is None
            and not await repo.attachment_in_conversation(self.session, attachment_id)
        ):
            raise await self._fail(NotFound(f"attachment {attachment_id}"))
        await self._commit()
        return att

    def due_state(self, case: Case, now: datetime | None = None) -> str | None:
        """ok / due_soon / overdue for an active case with a deadline (at `now`, default
        the clock's now), else None."""
        if case.deadline_at is None or case.status not in ACTIVE_STATUSES:
            return None
        return str(self.calendar.due_state(case.deadline_at, now or self.now()))

    async def case_detail(self, number: str) -> CaseDetail:
        """A case with its history, attachments, outbox rows and rating."""
        case = await self._case(number)
        events = await repo.events_of(self.session, case.id)
        ids = {int(e.actor_id) for e in events if e.actor_kind == "staff" and e.actor_id}
        if case.assignee_id:
            ids.add(case.assignee_id)
        names: dict[str, str] = {}
        if ids:
            for m in (
                await self.session.execute(select(StaffMember).where(StaffMember.id.in_(ids)))
            ).scalars():
                names[str(m.id)] = m.name
        detail = CaseDetail(
            case=case,
            events=events,
            attachments=await repo.attachments_of(self.session, case.id),
            outbox=await repo.outbox_of(self.session, case.id),
            rating=await repo.rating_of(self.session, case.id),
            staff_names=names,
            due=self.due_state(case),
        )
        await self._commit()
        return detail

    async def review_items(self, *, limit: int = 100) -> list[ReviewItem]:
        """The admins' review inbox (messages the NLU was unsure of), oldest first."""
        rows = list(await repo.open_review_items(self.session, limit=limit))
        await self._commit()
        return rows

"""The desk's queries for staff and the console: the queue, a case's detail, due states."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from desk import repositories as repo
from desk.errors import UnknownStatus
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


class Queries(DeskCore):
    """Reads for the staff queue and the case view (each one transaction, nothing written)."""

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
        wanted = [status] if isinstance(status, str) else list(status or [])
        valid = [str(s) for s in CaseStatus]
        for st in wanted:
            if st not in valid:
                raise await self._fail(UnknownStatus(st, valid))
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

    def due_state(self, case: Case) -> str | None:
        """ok / due_soon / overdue for an active case with a deadline, else None."""
        if case.deadline_at is None or case.status not in ACTIVE_STATUSES:
            return None
        return str(self.calendar.due_state(case.deadline_at, self.now()))

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

"""The base of the desk's services: one session, its transactions, and the one transition
function every case step goes through (state machine, audit event, outbox row, commit).

`DeskCore(session, catalog, calendar)` wraps one `AsyncSession` (one per update / request /
command) and commits it: every public method of `Desk` is one transaction. After an error the
session is rolled back and can be used again (`_fail`).

Concurrency: a case row carries a version counter; two transitions racing on one case (two staff
claiming it) end with one commit and one `AlreadyClaimed` / `ConcurrentUpdate`, on SQLite and on
PostgreSQL alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any, Literal, Protocol

from sqlalchemy import inspect, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from desk import notices
from desk import repositories as repo
from desk.case_types import CaseTypeCatalog
from desk.errors import (
    CaseNotFound,
    ConcurrentUpdate,
    DeskError,
    IllegalTransition,
    InvalidTaxpayerId,
    PermissionDenied,
    StaffNotFound,
)
from desk.models import Case, CaseCounter, CaseEvent, Outbox, StaffMember, TaxpayerTaxId, utcnow
from desk.outbox import NOTIFY_CHANNEL as OUTBOX_NOTIFY_CHANNEL
from desk.services.permissions import refusal
from desk.states import check
from taxrules.errors import InvalidTaxpayerIdError
from taxrules.ids import validate_taxpayer_id

log = logging.getLogger(__name__)


def valid_tax_id(code: str) -> str:
    """`taxrules.ids.validate_taxpayer_id`; a refusal becomes the desk's `InvalidTaxpayerId`."""
    try:
        return validate_taxpayer_id(code)
    except InvalidTaxpayerIdError as exc:
        raise InvalidTaxpayerId(exc) from None


ConversationState = Literal["bot", "human"]


class WorkingDays(Protocol):
    """What the desk needs from the working-day calendar (`desk.calendar.WorkingCalendar`)."""

    def add_working_days(self, start: datetime, n: int) -> datetime: ...

    def due_state(self, deadline: datetime, now: datetime) -> str: ...

    def is_working_day(self, d: date) -> bool: ...

    def working_days_between(self, a: date, b: date) -> int: ...

    @property
    def tz(self) -> tzinfo: ...


class OpeningHours(Protocol):
    """What the desk needs from the office hours (`desk.office_hours.OfficeHours`)."""

    def is_open(self, at: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: `kind` is taxpayer, staff or system; `id` the row id (or a tool name)."""

    kind: Literal["taxpayer", "staff", "system"]
    id: str | None = None

    @classmethod
    def taxpayer(cls, taxpayer_id: int) -> Actor:
        return cls("taxpayer", str(taxpayer_id))

    @classmethod
    def staff(cls, staff_id: int) -> Actor:
        return cls("staff", str(staff_id))

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls("system", name)


class DeskCore:
    """The session, the catalog and the calendar, and the helpers the services share."""

    def __init__(
        self,
        session: AsyncSession,
        catalog: CaseTypeCatalog,
        calendar: WorkingDays,
        *,
        clock: Callable[[], datetime] = utcnow,
        hours: OpeningHours | None = None,
    ) -> None:
        """`hours`: the office hours; with them, staff rows written while the office is
        closed are marked so (none: never marked)."""
        self.session = session
        self.catalog = catalog
        self.calendar = calendar
        self.now = clock
        self.hours = hours

    def office_closed(self) -> bool:
        """True when office hours are known and the office is closed now."""
        return self.hours is not None and not self.hours.is_open(self.now())

    async def _commit(self) -> None:
        try:
            await self.session.commit()
        except BaseException:
            await self.session.rollback()
            raise

    async def _fail(self, exc: DeskError) -> DeskError:
        """End the transaction before raising a domain error. Nothing was written yet, so a
        commit (which, unlike a rollback, does not expire loaded objects) is enough; pending
        changes are rolled back."""
        s = self.session
        if s.new or s.dirty or s.deleted:
            await s.rollback()
        else:
            await s.commit()
        return exc

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def _case(self, number: str) -> Case:
        case = await repo.case_by_number(self.session, number)
        if case is None:
            raise await self._fail(CaseNotFound(number.strip().upper()))
        return case

    async def _staff(self, staff_id: int) -> StaffMember:
        member = await self.session.get(StaffMember, staff_id)
        if member is None or not member.active:
            raise await self._fail(StaffNotFound(str(staff_id)))
        return member

    async def _next_number(self, at: datetime) -> str:
        """`TX-<year>-<NNNNNN>`. The counter never goes back: a PostgreSQL sequence (not
        rolled back with the transaction) or SQLite's counter row (SQLite has a single writer,
        so a number is only seen once its case is committed; deleting a case does not
        decrement)."""
        if self._dialect() == "postgresql":
            n = int(
                (
                    await self.session.execute(text("SELECT nextval('case_number_seq')"))
                ).scalar_one()
            )
        else:
            res = await self.session.execute(
                update(CaseCounter)
                .where(CaseCounter.name == "case")
                .values(value=CaseCounter.value + 1)
                .returning(CaseCounter.value)
            )
            got = res.scalar_one_or_none()
            if got is None:
                self.session.add(CaseCounter(name="case", value=1))
                await self.session.flush()
                got = 1
            n = int(got)
        return f"TX-{at.astimezone(notices.OFFICE_TZ).year}-{n:06d}"

    async def _transition(
        self,
        case: Case,
        action: str,
        actor: Actor,
        *,
        data: Mapping[str, Any] | None = None,
        notice: tuple[str, dict[str, Any]] | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> CaseEvent:
        """Apply one state-machine step, write its event and its outbox row, and commit."""
        try:
            to_status = check(action, case.status, case.number)
        except IllegalTransition as exc:
            raise await self._fail(exc) from None
        from_status = case.status
        number = case.number  # the object is expired if the flush fails and we roll back
        now = self.now()
        case.status = to_status
        case.updated_at = now
        for k, v in (changes or {}).items():
            setattr(case, k, v)
        event = CaseEvent(
            case_id=case.id,
            actor_kind=actor.kind,
            actor_id=actor.id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            data=dict(data) if data else None,
            at=now,
        )
        self.session.add(event)
        try:
            await self.session.flush()
        except StaleDataError:
            await self.session.rollback()
            raise ConcurrentUpdate(number) from None
        if notice is not None:
            self._enqueue(case, event, *notice)
            if self._dialect() == "postgresql":  # wakes outbox workers when this commits
                await self.session.execute(
                    text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_NOTIFY_CHANNEL}
                )
        await self._commit()
        log.info(
            "case %s: %s %s -> %s by %s",
            case.number,
            action,
            from_status,
            to_status,
            f"{actor.kind}:{actor.id}",
        )
        return event

    def _enqueue(self, case: Case, event: CaseEvent, kind: str, payload: dict[str, Any]) -> None:
        conv = case.conversation
        self.session.add(
            Outbox(
                kind=kind,
                payload=payload,
                channel=conv.channel if conv else None,
                chat_id=conv.chat_id if conv else None,
                idempotency_key=f"case:{case.number}:event:{event.id}:{kind}",
                case_id=case.id,
                next_attempt_at=self.now(),
                created_at=self.now(),
            )
        )

    async def _load_conversation(self, case: Case) -> None:
        if case.conversation_id is not None and "conversation" in inspect(case).unloaded:
            await self.session.refresh(case, ["conversation"])

    async def _authorize(self, member: StaffMember, action: str, case: Case | None = None) -> None:
        """Raise `PermissionDenied` (saying why and what to do) unless the one rule of `action`
        (`desk.services.permissions.PERMISSIONS`) lets `member` take it on `case`."""
        assignee_name = None
        if case is not None and case.assignee_id not in (None, member.id):
            other = await self.session.get(StaffMember, case.assignee_id)
            assignee_name = other.name if other else None
        why = refusal(
            action,
            role=member.role,
            staff_id=member.id,
            number=case.number if case is not None else None,
            assignee_id=case.assignee_id if case is not None else None,
            assignee_name=assignee_name,
        )
        if why is not None:
            raise await self._fail(PermissionDenied(member.name, action, why))

    async def _remember_tax_id(self, taxpayer_id: int, value: str) -> None:
        row = await repo.tax_id_row(self.session, taxpayer_id, value)
        if row is None:
            self.session.add(
                TaxpayerTaxId(
                    taxpayer_id=taxpayer_id,
                    tax_id=value,
                    first_used_at=self.now(),
                    last_used_at=self.now(),
                )
            )
        else:
            row.last_used_at = self.now()
        await self.session.flush()

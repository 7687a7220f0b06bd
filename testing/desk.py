"""The desk for tests: a factory of `Desk` services over one database (the `make_desk`
fixture of tests/desk)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.calendar import WorkingCalendar
from desk.case_types import CaseTypeCatalog
from desk.services import Desk
from testing.clock import Clock


@dataclass
class DeskFactory:
    sessions: async_sessionmaker[AsyncSession]
    catalog: CaseTypeCatalog
    calendar: WorkingCalendar
    clock: Clock

    def __call__(self, session: AsyncSession) -> Desk:
        return Desk(session, self.catalog, self.calendar, clock=self.clock)

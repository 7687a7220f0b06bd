"""Wiring of the desk for one process: engine, session factory, case types and calendar.

The composition root (`main.py`, the bot, the console, the CLI) builds one `DeskRuntime` and
makes a `Desk` per session: `async with rt.sessions() as s: desk = rt.desk(s)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from desk.calendar import WorkingCalendar
from desk.case_types import CaseTypeCatalog, load_case_types
from desk.db import create_engine, session_factory
from desk.models import utcnow
from desk.office_hours import OfficeHours
from desk.services import Desk

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASE_TYPES = ROOT / "data" / "case_types.yml"
DEFAULT_CALENDAR_DIR = ROOT / "data" / "calendar"
DEFAULT_OFFICE_HOURS = ROOT / "data" / "office_hours.yml"


@dataclass
class DeskRuntime:
    """Everything a process needs to call the desk services."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    catalog: CaseTypeCatalog
    calendar: WorkingCalendar
    clock: Callable[[], datetime] = field(default=utcnow)
    office_hours: OfficeHours | None = None  # None: `data/office_hours.yml`, read when needed

    @classmethod
    def create(
        cls,
        database_url: str,
        *,
        case_types: Path = DEFAULT_CASE_TYPES,
        calendar_dir: Path = DEFAULT_CALENDAR_DIR,
        office_hours: Path = DEFAULT_OFFICE_HOURS,
        pool_size: int = 10,
    ) -> DeskRuntime:
        """Load the data files (blocking; call at start-up) and create the engine."""
        engine = create_engine(database_url, pool_size=pool_size)
        calendar = WorkingCalendar.load(calendar_dir)
        return cls(
            engine=engine,
            sessions=session_factory(engine),
            catalog=load_case_types(case_types),
            calendar=calendar,
            office_hours=OfficeHours.load(office_hours, calendar),
        )

    def hours(self) -> OfficeHours:
        """The office hours (`data/office_hours.yml` on the runtime's calendar unless given)."""
        if self.office_hours is None:
            self.office_hours = OfficeHours.load(DEFAULT_OFFICE_HOURS, self.calendar)
        return self.office_hours

    def desk(self, session: AsyncSession) -> Desk:
        """The services over one session."""
        return Desk(session, self.catalog, self.calendar, clock=self.clock, hours=self.hours())

    async def close(self) -> None:
        """Dispose of the engine's connections."""
        await self.engine.dispose()

"""Fixtures for the desk tests: every test that takes `engine` runs on SQLite and on
PostgreSQL. PostgreSQL tests use one freshly created database per test session (random name,
dropped at the end) and a fresh schema per test inside it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from desk.calendar import WorkingCalendar
from desk.case_types import CaseTypeCatalog, load_case_types
from desk.db import create_engine, session_factory
from desk.models import Base
from desk.services import Desk

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"


async def _pg_admin(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _run(coro_fn, *args: str) -> None:  # type: ignore[no-untyped-def]
    """Run an admin coroutine to completion, also from inside a running event loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(coro_fn(*args))).result()


def create_pg_database() -> str:
    """Create a database with a random name; returns its SQLAlchemy URL."""
    name = f"desk_test_{secrets.token_hex(6)}"
    _run(_pg_admin, f'CREATE DATABASE "{name}"')
    return f"{PG_BASE}/{name}"


def drop_pg_database(url: str) -> None:
    """Drop a database made by `create_pg_database`."""
    name = url.rsplit("/", 1)[1]
    _run(_pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@dataclass
class Clock:
    """A settable clock (aware UTC)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    # Friday 2026-11-27 10:00 Asia/Shanghai
    return Clock(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def catalog() -> CaseTypeCatalog:
    return load_case_types(ROOT / "data" / "case_types.yml")


@pytest.fixture(scope="session")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.load(ROOT / "data" / "calendar")


@dataclass
class Database:
    """One test database: its URL, the schema (PostgreSQL) and an engine on it."""

    url: str
    schema: str | None
    engine: AsyncEngine

    @property
    def connect_args(self) -> dict[str, object]:
        return {"server_settings": {"search_path": self.schema}} if self.schema else {}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'desk.sqlite3'}"
        schema = None
        eng = create_engine(url)
    else:
        url = request.getfixturevalue("pg_database")
        schema = f"t_{secrets.token_hex(6)}"
        admin = create_engine(url)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await admin.dispose()
        eng = create_engine(url, connect_args={"server_settings": {"search_path": schema}})
    async with eng.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield Database(url, schema, eng)
    finally:
        await eng.dispose()
        if schema is not None:
            admin = create_engine(url)
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await admin.dispose()


@pytest.fixture
def engine(db: Database) -> AsyncEngine:
    return db.engine


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@dataclass
class DeskFactory:
    sessions: async_sessionmaker[AsyncSession]
    catalog: CaseTypeCatalog
    calendar: WorkingCalendar
    clock: Clock

    def __call__(self, session: AsyncSession) -> Desk:
        return Desk(session, self.catalog, self.calendar, clock=self.clock)


@pytest.fixture
def make_desk(
    sessions: async_sessionmaker[AsyncSession],
    catalog: CaseTypeCatalog,
    calendar: WorkingCalendar,
    clock: Clock,
) -> DeskFactory:
    return DeskFactory(sessions, catalog, calendar, clock)


@pytest.fixture
async def desk(make_desk: DeskFactory) -> AsyncIterator[Desk]:
    async with make_desk.sessions() as session:
        yield make_desk(session)

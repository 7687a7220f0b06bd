"""Fixtures for the desk tests: every test that takes `engine` runs on SQLite and on
PostgreSQL. PostgreSQL tests use one freshly created database per test session (random name,
dropped at the end) and a fresh schema per test inside it."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from desk.calendar import WorkingCalendar
from desk.case_types import CaseTypeCatalog, load_case_types
from desk.db import create_engine, session_factory
from desk.models import Base
from desk.services import Desk
from testing.clock import Clock
from testing.desk import DeskFactory
from testing.services import create_pg_database, drop_pg_database

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of `python main.py ...` against a database of this test's own (an
    empty SQLite file under `tmp_path`, or a fresh PostgreSQL database), not migrated: the
    CLI walks start with `migrate` or test what an unmigrated database says."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["TAXDESK_DATA_DIR"] = str(tmp_path / "data")
    env["TAXDESK_LOG_LEVEL"] = "WARNING"
    if request.param == "sqlite":
        yield env
    else:
        url = create_pg_database()
        env["DATABASE_URL"] = url
        try:
            yield env
        finally:
            drop_pg_database(url)

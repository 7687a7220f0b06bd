"""Alembic: upgrade and downgrade every revision, on SQLite and on PostgreSQL (a fresh
database), and the models match the migrated schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from desk.migrate import alembic_config, downgrade, upgrade
from desk.models import Base
from testing.services import create_pg_database, drop_pg_database


async def _check(url: str, check_fn):  # type: ignore[no-untyped-def]
    from desk.db import create_engine

    eng = create_engine(url)
    try:
        async with eng.connect() as conn:
            return await conn.run_sync(check_fn)
    finally:
        await eng.dispose()


def _tables(conn) -> set[str]:  # type: ignore[no-untyped-def]
    return set(inspect(conn).get_table_names())


def _diff(conn) -> list:  # type: ignore[no-untyped-def]
    return compare_metadata(MigrationContext.configure(conn), Base.metadata)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'mig.sqlite3'}"
    else:
        url = create_pg_database()
        try:
            yield url
        finally:
            drop_pg_database(url)


def test_every_revision_up_and_down(fresh_url: str) -> None:
    import asyncio

    script = ScriptDirectory.from_config(alembic_config(fresh_url))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert revisions, "no revisions"
    for rev in revisions:
        upgrade(fresh_url, rev)
    tables = asyncio.run(_check(fresh_url, _tables))
    assert set(Base.metadata.tables) <= tables
    assert asyncio.run(_check(fresh_url, _diff)) == []  # models == migrations
    for rev in reversed([None, *revisions[:-1]]):
        downgrade(fresh_url, rev or "base")
    assert asyncio.run(_check(fresh_url, _tables)) <= {"alembic_version"}
    upgrade(fresh_url, "head")  # and back up again after a full downgrade

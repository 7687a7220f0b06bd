"""Engine and session factory from a database URL.

* SQLite (`sqlite+aiosqlite:///path`): WAL journal, `synchronous=NORMAL`, foreign keys on and a
  busy timeout, set on every new connection. Transactions start with `BEGIN IMMEDIATE`, so two
  writers never deadlock on a read-to-write lock upgrade (SQLite has one writer at a time).
* PostgreSQL (`postgresql+asyncpg://...`): a plain asyncpg pool, READ COMMITTED.

Sessions do not expire objects on commit (services return ORM rows after committing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    """Whether `url` points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    connect_args: dict[str, Any] | None = None,
) -> AsyncEngine:
    """An async engine for `url`, configured for the desk (see the module docstring).
    `connect_args` go to the driver (e.g. asyncpg `server_settings` with a `search_path`)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=echo,
            # SQLite has one writer and every transaction here is a writer (BEGIN IMMEDIATE):
            # one pooled connection makes sessions queue fairly in the pool instead of
            # sleeping in SQLite's busy handler. Other processes still wait via busy_timeout.
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            connect_args={"timeout": 30, **(connect_args or {})},
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args=connect_args or {},
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy (below) issue BEGIN instead of the driver's implicit deferred BEGIN
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory the composition root hands to services and workers."""
    return async_sessionmaker(engine, expire_on_commit=False)

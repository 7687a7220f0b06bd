"""PostgreSQL and Redis for tests: a fresh database per caller, a key prefix per caller.

When a service is down the test is skipped on a developer's machine, but FAILS when the `CI`
environment variable is set: in CI a missing service must not pass as a green run."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import asyncpg
import pytest

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def service_down(reason: str) -> NoReturn:
    """Skip locally; fail in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: the services the tests need must be up)")
    pytest.skip(reason)


async def _pg_admin(*statements: str) -> None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
    except (OSError, asyncpg.PostgresError) as exc:
        service_down(f"no PostgreSQL at 127.0.0.1:5432 ({exc.__class__.__name__})")
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _run(coro_fn: Callable[..., Coroutine[Any, Any, Any]], *args: str) -> None:
    """Run an admin coroutine to completion, also from inside a running event loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(coro_fn(*args))).result()


def create_pg_database(template: str | None = None) -> str:
    """Create a database with a random name (a copy of the database at URL `template`, if
    given: no one may be connected to it); returns its SQLAlchemy URL."""
    name = f"desk_test_{secrets.token_hex(6)}"
    copy = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
    _run(_pg_admin, f'CREATE DATABASE "{name}"{copy}')
    return f"{PG_BASE}/{name}"


async def _reset(name: str) -> None:
    try:
        conn = await asyncpg.connect(f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}")
    except (OSError, asyncpg.PostgresError) as exc:
        service_down(f"no PostgreSQL at 127.0.0.1:5432 ({exc.__class__.__name__})")
    try:
        # what a previous test left connected (a worker not stopped) must not write into the
        # next test's tables: end those sessions first, as DROP DATABASE ... WITH (FORCE) did
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ]
        if tables:
            listed = ", ".join(f'"{t}"' for t in tables)
            await conn.execute("SET lock_timeout = '5s'")
            await conn.execute(f"TRUNCATE {listed} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def reset_pg_database(url: str) -> None:
    """Empty every table of the database at `url` (its schema and migration stamp stay) and
    end the other sessions on it: a migrated database as good as new, without DROP/CREATE
    DATABASE, whose forced checkpoint costs ~0.5-1 s a test on a busy machine."""
    _run(_reset, url.rsplit("/", 1)[1])


def drop_pg_database(url: str) -> None:
    """Drop a database made by `create_pg_database`."""
    name = url.rsplit("/", 1)[1]
    _run(_pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_prefix() -> str:
    """A key prefix of its own (tests and xdist workers share one Redis)."""
    return f"taxdesk-test-{secrets.token_hex(4)}:"


async def check_redis(url: str = REDIS_URL) -> None:
    """Skip (locally) or fail (in CI) unless Redis answers a PING."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url)
    try:
        await client.ping()
    except (OSError, RedisError) as exc:
        service_down(f"no Redis at 127.0.0.1:6379 ({exc.__class__.__name__})")
    finally:
        await client.aclose()

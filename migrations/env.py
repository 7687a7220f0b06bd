"""Alembic environment (async). The URL comes from the config (`sqlalchemy.url`, set by
`desk.migrate`) or, for a plain `alembic` call, from the deployment settings. A caller that
already holds a connection passes it as `config.attributes["connection"]`."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from desk.db import create_engine
from desk.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from app.settings import Settings

    return Settings().effective_database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    conn = config.attributes.get("connection")
    if conn is not None:
        _run_sync(conn)
    else:
        asyncio.run(_run_async())

"""Tracker stores: in memory (tests, one process) and Redis (`REDIS_URL`).

Both keep the tracker as JSON, so a restart (Redis) or a reload (memory) yields the same
tracker. A database-backed store over the desk's session factory belongs to the desk
adapters (it satisfies the same `actions.ports.TrackerStore` protocol).
"""

from __future__ import annotations

import json
from typing import Any

from actions.tracker import Tracker


class InMemoryTrackerStore:
    """Trackers as JSON strings in a dict (serialised, so tests see what a real store sees)."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    async def load(self, conversation_key: str) -> Tracker | None:
        """The stored tracker or None."""
        raw = self._data.get(conversation_key)
        return Tracker.from_dict(json.loads(raw)) if raw is not None else None

    async def save(self, tracker: Tracker) -> None:
        """Replace the stored tracker."""
        self._data[tracker.conversation_key] = json.dumps(tracker.to_dict(), ensure_ascii=False)

    def keys(self) -> list[str]:
        """Stored conversation keys."""
        return list(self._data)


class RedisTrackerStore:
    """Trackers in Redis under `<prefix><conversation key>`, as JSON, with an optional TTL."""

    def __init__(
        self, redis: Any, *, prefix: str = "taxdesk:tracker:", ttl_seconds: int | None = None
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "taxdesk:tracker:", ttl_seconds: int | None = None
    ) -> RedisTrackerStore:
        """Build a store with its own `redis.asyncio` client (close it with `aclose`)."""
        from redis.asyncio import Redis

        return cls(Redis.from_url(url), prefix=prefix, ttl_seconds=ttl_seconds)

    async def load(self, conversation_key: str) -> Tracker | None:
        """The stored tracker or None."""
        raw = await self._redis.get(self._prefix + conversation_key)
        if raw is None:
            return None
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        return Tracker.from_dict(json.loads(raw))

    async def save(self, tracker: Tracker) -> None:
        """Replace the stored tracker (and refresh the TTL)."""
        data = json.dumps(tracker.to_dict(), ensure_ascii=False)
        await self._redis.set(self._prefix + tracker.conversation_key, data, ex=self._ttl)

    async def aclose(self) -> None:
        """Close the Redis client."""
        await self._redis.aclose()


def tracker_table(metadata: Any, name: str = "dialogue_trackers") -> Any:
    """The SQL table trackers are kept in: one row per conversation, the tracker as JSON text.
    Add it to the Alembic target metadata (`tracker_table(Base.metadata)`)."""
    from sqlalchemy import Column, Float, String, Table, Text

    return Table(
        name,
        metadata,
        Column("conversation_key", String(200), primary_key=True),
        Column("data", Text, nullable=False),
        Column("updated_at", Float, nullable=False),
    )


class SqlTrackerStore:
    """Trackers in the database (the default without Redis): SQLAlchemy async engine, one
    short transaction per load/save; works on SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

    def __init__(self, engine: Any, table: Any | None = None) -> None:
        from sqlalchemy import MetaData

        self._engine = engine
        self.table = table if table is not None else tracker_table(MetaData())

    async def create_table(self) -> None:
        """Create the table if missing (tests and `migrate`-less setups)."""
        async with self._engine.begin() as conn:
            await conn.run_sync(self.table.create, checkfirst=True)

    async def load(self, conversation_key: str) -> Tracker | None:
        """The stored tracker or None."""
        from sqlalchemy import select

        t = self.table
        async with self._engine.connect() as conn:
            raw = await conn.scalar(
                select(t.c.data).where(t.c.conversation_key == conversation_key)
            )
        return Tracker.from_dict(json.loads(raw)) if raw is not None else None

    async def save(self, tracker: Tracker) -> None:
        """Insert or replace the tracker's row."""
        from sqlalchemy import insert, update
        from sqlalchemy.exc import IntegrityError

        t = self.table
        values = {
            "data": json.dumps(tracker.to_dict(), ensure_ascii=False),
            "updated_at": tracker.updated_at,
        }
        key = tracker.conversation_key
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(t).where(t.c.conversation_key == key).values(**values)
            )
            if result.rowcount:
                return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(t).values(conversation_key=key, **values))
        except IntegrityError:  # another process inserted it first: ours is newer
            async with self._engine.begin() as conn:
                await conn.execute(update(t).where(t.c.conversation_key == key).values(**values))

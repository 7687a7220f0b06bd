"""Tracker stores: in memory (tests, one process) and Redis (`REDIS_URL`).

Both keep the tracker as JSON, so a restart (Redis) or a reload (memory) yields the same
tracker. The database-backed store, the default without Redis, keeps the tracker in the desk's
conversation row: `app.adapters.DeskTrackerStore` (the same `actions.ports.TrackerStore`).
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

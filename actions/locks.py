"""Per-key asyncio locks that do not pile up: a key's lock exists only while someone holds
or waits for it. One implementation for the dialogue's per-chat turn lock
(`actions.engine.DialogueEngine`) and the channel's staff-topic and topic-creation locks
(`bot.topics`, `handlers.staff`); it imports nothing of the project, so the channel may use it
without the engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or waits for it. Waiters of one
    key get it in arrival order (asyncio locks are FIFO), and the lock is taken (queued
    for) before `hold` first awaits, so callers keep the order they called in."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Hold the lock of `key`."""
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)

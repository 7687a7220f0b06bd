"""Live updates: one poller per process tells every open page that something changed.

`ChangeFeed` reads, every `interval` seconds, the highest ids of the tables that change when
anything a page shows changes (case events, messages, outbox rows) in ONE cheap query (each is
a primary-key max). Pages wait on it (`wait`) and then read what they show; so a case that
another process (the bot, the worker, another console) changes shows up within `interval`,
with no message bus to keep in step. `poke()` wakes the poller at once after a write in this
process. On PostgreSQL the outbox NOTIFY wakes it too (`desk.outbox.listen`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from desk.runtime import DeskRuntime

log = logging.getLogger(__name__)

HEARTBEAT = 15.0  # seconds between SSE comments that keep proxies from closing the stream


@dataclass(frozen=True, slots=True)
class Versions:
    """The highest ids seen: a page compares them with what it showed last."""

    case_event: int = 0
    message: int = 0
    outbox: int = 0


class ChangeFeed:
    """The process's poller of changes (start with `run`, stop by cancelling)."""

    def __init__(self, runtime: DeskRuntime, *, interval: float = 0.25) -> None:
        self.runtime = runtime
        self.interval = interval
        self.versions = Versions()
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        # set by `running` on the way out: the loop ends even if a cancellation is lost
        # (Python 3.11's `asyncio.wait_for` can swallow one that meets a finished wait)
        self._stopped = False

    def poke(self) -> None:
        """Something was written in this process: look now instead of at the next tick."""
        self._wake.set()

    async def read(self) -> Versions:
        """The current highest ids (one query)."""
        from desk.live import latest_ids

        async with self.runtime.sessions() as session:
            case_event, message, outbox = await latest_ids(session)
        return Versions(case_event, message, outbox)

    async def run(self) -> None:
        """Poll until cancelled; notify the waiters when a version moved."""
        from desk.outbox import listen

        async with listen(self.runtime.engine, self._wake):
            while not self._stopped:
                # cleared before reading: a poke during the read is a new change, not lost
                self._wake.clear()
                try:
                    now = await self.read()
                except Exception:
                    log.exception("live feed: reading the versions failed; retrying")
                    now = self.versions
                if now != self.versions:
                    self.versions = now
                    async with self._changed:
                        self._changed.notify_all()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        await self._wake.wait()

    async def wait(self, seen: Versions, timeout: float = HEARTBEAT) -> Versions:  # noqa: ASYNC109
        """The versions once they differ from `seen` (or after `timeout`, unchanged)."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: self.versions != seen)
        return self.versions


async def sse_stream(request: web.Request) -> web.StreamResponse:
    """An open server-sent-events response (not buffered by proxies, never cached)."""
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    return resp


async def send_event(
    resp: web.StreamResponse, data: str, *, event: str | None = None, id: int | None = None
) -> None:
    """Write one SSE event (`data` may hold newlines: each line gets its own `data:`)."""
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event:
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in (data.split("\n") or [""]))
    await resp.write(("\n".join(lines) + "\n\n").encode())


async def heartbeat(resp: web.StreamResponse) -> None:
    """An SSE comment: keeps the connection open, and fails when the browser has gone."""
    await resp.write(b": keep-alive\n\n")


@contextlib.asynccontextmanager
async def running(feed: ChangeFeed) -> AsyncIterator[ChangeFeed]:
    """Run the feed's poller for the life of the block."""
    task = asyncio.create_task(feed.run(), name="console live feed")
    try:
        yield feed
    finally:
        feed._stopped = True
        feed.poke()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

"""The event streams of live pages (the queue, a case): one server-sent-events loop on the
process's `ChangeFeed`, ended at once when the application shuts down.

A page's stream handler calls `change_stream(request, changed)`: once at the start (what
changed since the page was rendered: pages pass what they showed as `?since=`) and each time
the feed's versions move, `changed(versions)` says what to send (a short string) or None
(nothing this page shows changed); a quiet stream gets a heartbeat comment every
`HEARTBEAT` seconds, which also notices a browser that has gone. The browser's JavaScript
then fetches the page's fragment again: the stream carries no data a staff member could not
load themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from console.live import Versions, heartbeat, send_event, sse_stream


class OpenStreams:
    """The tasks serving the open streams of one application."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()


STREAMS: web.AppKey[OpenStreams] = web.AppKey("live_streams", OpenStreams)

Changed = Callable[[Versions], Awaitable[str | None]]


def install(app: web.Application) -> None:
    """Track the open streams and cancel them at shutdown (once per application)."""
    if STREAMS in app:
        return
    app[STREAMS] = OpenStreams()

    async def close_streams(app: web.Application) -> None:
        for task in list(app[STREAMS].tasks):
            task.cancel()

    app.on_shutdown.append(close_streams)


async def change_stream(request: web.Request, changed: Changed) -> web.StreamResponse:
    """Serve one page's stream until the browser goes or the application stops."""
    from console.app import DEPS

    feed = request.app[DEPS].live
    task = asyncio.current_task()
    streams = request.app[STREAMS].tasks
    resp = await sse_stream(request)
    seen = feed.versions
    if task is not None:
        streams.add(task)
    try:
        await resp.write(b"retry: 2000\n\n")
        data = await changed(seen)  # anything since the page was rendered
        if data is not None:
            await send_event(resp, data, event="changed", id=seen.case_event)
        while True:
            now = await feed.wait(seen)
            if now == seen:
                await heartbeat(resp)
                continue
            seen = now
            data = await changed(now)
            if data is not None:
                await send_event(resp, data, event="changed", id=now.case_event)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the browser went away, or the application is stopping
    finally:
        if task is not None:
            streams.discard(task)
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await resp.write_eof()
    return resp

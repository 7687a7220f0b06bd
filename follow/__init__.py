"""`Follower`: keeps a running process's copy of a changing source (the active NLU model, the
dialogue's files) current, and `publish`, the other half: a saving process tells the others.

A follower's watcher thread (never the event loop) calls `refresh(told)` when

* `wake()` is called (this process changed the source),
* a message arrives on the Redis pub/sub `channel` when `redis_url` is set (another process
  changed it: `told` is True then), or
* `interval` seconds passed (a missed message, a process without Redis, an edit by hand).

Subclasses implement `refresh`; it must be safe to call from any thread and must not raise
(the watcher logs and goes on if it does). `stop` ends the thread within about `STOP_SLICE`
seconds, also while it waits on Redis.

`nlu.live.LiveInterpreter` and `actions.live.LiveDomain` are the two followers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any, Self

log = logging.getLogger(__name__)

STOP_SLICE = 0.5  # seconds the watcher waits on Redis at most before it looks at `stop`


class Follower:
    """The watcher thread of one followed source (see the module docstring)."""

    def __init__(self, *, channel: str, interval: float, redis_url: str | None, what: str) -> None:
        self.channel = channel
        self.interval = interval
        self.redis_url = redis_url
        self.what = what  # for the logs: "nlu", "dialogue"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self, told: bool = False) -> Any:
        """Look at the source now and take it if it changed (blocking). `told`: another
        process said it changed."""
        raise NotImplementedError

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wake(self) -> None:
        """Look at the source now (from any thread)."""
        self._wake.set()

    def start(self) -> Self:
        """Start the watcher thread (once); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name=self.what, daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        pubsub = self._subscribe()
        due = time.monotonic() + self.interval
        try:
            while not self._stop.is_set():
                wait = max(0.0, min(due - time.monotonic(), STOP_SLICE))
                told = False
                if pubsub is not None:
                    try:
                        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
                        told = message is not None
                    except Exception:
                        log.warning(
                            "%s: Redis pub/sub lost; checking every %s s", self.what, self.interval
                        )
                        pubsub = None
                else:
                    self._wake.wait(wait)
                if self._stop.is_set():
                    break
                if not (told or self._wake.is_set() or time.monotonic() >= due):
                    continue
                self._wake.clear()
                due = time.monotonic() + self.interval
                try:
                    self.refresh(told)
                except Exception:  # the watcher must outlive anything a refresh meets
                    log.exception("%s: the refresh failed", self.what)
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    pubsub.close()

    def _subscribe(self) -> Any:
        if not self.redis_url:
            return None
        try:
            from redis import Redis

            pubsub = Redis.from_url(self.redis_url).pubsub()
            pubsub.subscribe(self.channel)
            return pubsub
        except Exception:
            log.warning("%s: no Redis pub/sub; checking every %s s", self.what, self.interval)
            return None

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_SLICE + 1)
            self._thread = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.stop)


def publish(channel: str, message: str, redis_url: str | None, what: str) -> None:
    """Tell the other processes' followers (blocking: call in a thread); without Redis, or
    when it fails, they find the change at their next periodic check."""
    if not redis_url:
        return
    try:
        from redis import Redis

        client = Redis.from_url(redis_url)
        try:
            client.publish(channel, message)
        finally:
            client.close()
    except Exception:
        log.warning("%s: could not publish the change; processes check on their own", what)

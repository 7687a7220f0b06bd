"""`LiveInterpreter`: the running processes' interpreter, which follows the active model.

It implements the dialogue's `Interpreter` port over the current `nlu.interpreter.Interpreter`
and swaps it for a new one when the store's active model changes (`nlu.active`): a watcher
thread loads the new model (never the event loop) and then replaces the reference, so parses
in flight finish on the old model and the next ones use the new one. The watcher learns of a
change

* at once in this process (`announce` wakes every `LiveInterpreter` of the same store),
* from Redis pub/sub when `REDIS_URL` is set (`announce` publishes on `CHANNEL`),
* and in any case by reading the `ACTIVE` pointer every `interval` seconds (a missed message,
  a process without Redis, or `main.py train` in a terminal).
"""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import date
from pathlib import Path
from typing import Any

from follow import Follower, publish
from nlu.interpreter import Interpreter
from nlu.model_store import active_model

log = logging.getLogger(__name__)

CHANNEL = "taxdesk:nlu:active"
DEFAULT_INTERVAL = 2.0

_instances: weakref.WeakSet[LiveInterpreter] = weakref.WeakSet()


class LiveInterpreter(Follower):
    """An interpreter that reloads itself when the active model of `models_dir` changes."""

    def __init__(
        self,
        current: Interpreter,
        models_dir: Path,
        *,
        interval: float = DEFAULT_INTERVAL,
        redis_url: str | None = None,
    ) -> None:
        super().__init__(channel=CHANNEL, interval=interval, redis_url=redis_url, what="nlu")
        self.current = current
        self.models_dir = Path(models_dir)
        self.reloads = 0
        self._reload_lock = threading.Lock()
        _instances.add(self)

    @property
    def version(self) -> str | None:
        """The name of the model parses use now."""
        return self.current.model_dir.name if self.current.model_dir else None

    @property
    def model_dir(self) -> Path | None:
        return self.current.model_dir

    def parse(self, text: str, today: date | None = None) -> dict[str, Any]:
        return self.current.parse(text, today)

    async def aparse(self, text: str, today: date | None = None) -> dict[str, Any]:
        return await self.current.aparse(text, today)

    def refresh(self, told: bool = False) -> bool:
        """Load the active model now if it is not the one in use (blocking); True if it
        changed. A model that fails to load is logged and the current one kept. (`told`
        changes nothing: the pointer is read either way.)"""
        with self._reload_lock:
            target = active_model(self.models_dir)
            if target is None or (
                self.current.model_dir is not None
                and target.resolve() == self.current.model_dir.resolve()
            ):
                return False
            try:
                fresh = Interpreter.from_model_dir(target)
            except Exception:
                log.exception("nlu: the active model %s could not be loaded", target.name)
                return False
            self.current = fresh
            self.reloads += 1
            log.info("nlu: now parsing with model %s", target.name)
            return True

    async def aclose(self) -> None:
        await super().aclose()
        await self.current.aclose()


def announce(models_dir: Path, redis_url: str | None = None) -> None:
    """Tell the running interpreters that the active model of `models_dir` changed: those of
    this process at once, the other processes through Redis (blocking: call in a thread)."""
    where = Path(models_dir).resolve()
    for live in list(_instances):
        if live.models_dir.resolve() == where:
            live.wake()
    publish(CHANNEL, str(where), redis_url, "nlu")

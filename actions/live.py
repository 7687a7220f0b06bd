"""`LiveDomain`: running processes follow edits of the dialogue files without a restart.

The dialogue's `Domain` is read from the files under the data directory (`DOMAIN_FILES`:
responses, case types, rules, FAQ answers, the office's facts). The studio saves them, and a
person may edit them too. A `LiveDomain` watches them as `nlu.live.LiveInterpreter` watches
the active model: a thread (never the event loop) loads the changed files into a new `Domain`
and hands it to its listeners, the engine first (`DialogueEngine.use_domain`: the domain, its
actions and its policy swapped as one reference, between turns; a turn in flight finishes on
the old one), then whatever else caches it (the desk's case type catalog). Files that do not
load, or a domain the engine cannot use, keep the previous domain and log a warning (the
loader's message, taxpayer IDs redacted; the files hold no taxpayer text).

A change is learned

* at once in this process: `announce` refreshes every `LiveDomain` of the same directory in
  the caller's thread and returns what happened (the studio tells the admin),
* from Redis pub/sub when `REDIS_URL` is set (`announce` publishes on `CHANNEL`),
* and in any case by a check of the files' sizes and modification times every `interval`
  seconds (a missed message, a process without Redis, an edit in a terminal).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from actions.domain import DOMAIN_FILES, Domain
from follow import Follower, publish
from taxrules.masking import redact_taxpayer_ids

log = logging.getLogger(__name__)

CHANNEL = "taxdesk:dialogue:changed"
DEFAULT_INTERVAL = 2.0

Fingerprint = tuple[tuple[str, int, int], ...]
Listener = Callable[[Domain], None]

_instances: weakref.WeakSet[LiveDomain] = weakref.WeakSet()


@dataclass(frozen=True)
class Outcome:
    """What a refresh did: `changed` (a new domain is in use), or `error` (the files changed
    but did not load, or the engine refused them: the previous domain stays)."""

    changed: bool
    error: str | None = None


def fingerprint(data_dir: Path) -> Fingerprint:
    """(name, size, mtime_ns) of each dialogue file; (name, -1, -1) for a missing one."""
    out = []
    for name in DOMAIN_FILES:
        try:
            st = (data_dir / name).stat()
            out.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((name, -1, -1))
    return tuple(out)


class LiveDomain(Follower):
    """The current `Domain` of `data_dir`, reloaded when its files change."""

    def __init__(
        self,
        current: Domain,
        data_dir: Path,
        *,
        interval: float = DEFAULT_INTERVAL,
        redis_url: str | None = None,
        loader: Callable[[Path], Domain] = Domain.load,
    ) -> None:
        """`current` is the domain loaded at start from `data_dir` (its files' state now is
        taken as the one it was loaded from)."""
        super().__init__(channel=CHANNEL, interval=interval, redis_url=redis_url, what="dialogue")
        self.current = current
        self.data_dir = Path(data_dir)
        self.loader = loader
        self.reloads = 0
        self.error: str | None = None  # why the files on disk are not the domain in use
        self._listeners: list[Listener] = []
        self._seen = fingerprint(self.data_dir)
        self._lock = threading.Lock()
        _instances.add(self)

    def subscribe(self, listener: Listener) -> None:
        """`listener(domain)` is called (in the refreshing thread) with each new domain, in
        the order subscribed; one that raises stops the swap there (subscribe the one that
        may refuse, the engine, first)."""
        self._listeners.append(listener)

    def refresh(self, told: bool = False) -> Outcome:
        """Load the files if they changed since the last look (blocking). `told` (another
        process, or `announce`, says they were saved): load them even if they look the same
        (an edit within the file system's time resolution)."""
        with self._lock:
            seen = fingerprint(self.data_dir)
            if seen == self._seen and not told:
                return Outcome(False, self.error)
            self._seen = seen
            try:
                domain = self.loader(self.data_dir)
                for listener in self._listeners:
                    listener(domain)
            except Exception as exc:
                self.error = redact_taxpayer_ids(str(exc)) or type(exc).__name__
                log.warning(
                    "dialogue: the files in %s did not load; keeping the previous domain: %s",
                    self.data_dir,
                    self.error,
                )
                return Outcome(False, self.error)
            self.current = domain
            self.error = None
            self.reloads += 1
            log.info("dialogue: now answering with the edited files of %s", self.data_dir)
            return Outcome(True)


def announce(data_dir: Path, redis_url: str | None = None) -> list[Outcome]:
    """The dialogue files of `data_dir` were saved: refresh this process's `LiveDomain`s of
    that directory now (blocking: call in a thread) and tell the other processes through
    Redis. Returns the outcomes here ([] when no running dialogue of this process follows
    `data_dir`)."""
    where = Path(data_dir).resolve()
    outcomes = [
        live.refresh(told=True)
        for live in list(_instances)
        if live.data_dir.resolve() == where and not live.stopped
    ]
    publish(CHANNEL, str(where), redis_url, "dialogue")
    return outcomes

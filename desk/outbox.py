"""Delivering outbox rows: claim, send, mark — safe with several workers and across crashes.

Rows are written by the services in the same transaction as the change that caused them.
A worker *claims* due rows (status `pending` with `next_attempt_at <= now`, or `sending` whose
lease expired because a worker died) by moving them to `sending` with a lease
(`locked_until`) and `attempts + 1`, in one statement:

* PostgreSQL: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)` — concurrent
  workers never claim the same row and never wait on each other.
* SQLite: the same UPDATE ... RETURNING, atomic because SQLite has a single writer
  (`BEGIN IMMEDIATE`, see `desk.db`).

Then it calls the `Sender` for each row (after the claim committed) and marks the row `sent`,
or schedules a retry: `RetryLater(seconds)` (e.g. Telegram's `retry_after`) is obeyed exactly;
other exceptions back off exponentially (with jitter) up to `max_attempts`, then `failed`;
`Undeliverable` fails at once. A worker killed between sending and marking leaves a `sending`
row whose lease expires: it is sent again (at least once). The row's `idempotency_key` lets
the receiving side show it once (the channel sender records it with the outbound message).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.models import Outbox, utcnow

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Raised by a sender: try this row again after `seconds` (not counted as a failure
    of the channel; e.g. Telegram 429 `retry_after`)."""

    def __init__(self, seconds: float, reason: str = "retry later") -> None:
        super().__init__(f"{reason} (retry after {seconds:g}s)")
        self.seconds = seconds


class Undeliverable(Exception):
    """Raised by a sender: this row can never be delivered (no chat, bot blocked)."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed outbox row, detached from the session, handed to the sender."""

    id: int
    kind: str
    payload: dict[str, Any]
    channel: str | None
    chat_id: str | None
    idempotency_key: str
    attempts: int
    case_id: int | None


class Sender(Protocol):
    """Delivers one row. Raise `RetryLater`, `Undeliverable`, or anything else (retried)."""

    async def send(self, row: OutboxItem) -> None: ...


def backoff(attempts: int, *, base: float = 2.0, cap: float = 600.0) -> float:
    """Seconds before the next try after `attempts` failed tries: exponential, jittered."""
    delay: float = min(cap, base * (2 ** max(0, attempts - 1)))
    return delay * (0.5 + random.random() / 2)


async def claim(
    session: AsyncSession,
    *,
    limit: int = 20,
    lease_seconds: float = 60.0,
    now: datetime | None = None,
) -> list[OutboxItem]:
    """Claim up to `limit` due rows (see the module docstring) and commit the claim."""
    now = now or utcnow()
    due = (
        select(Outbox.id)
        .where(
            or_(
                (Outbox.status == "pending") & (Outbox.next_attempt_at <= now),
                (Outbox.status == "sending") & (Outbox.locked_until < now),
            )
        )
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(Outbox)
        .where(Outbox.id.in_(due.scalar_subquery()))
        .values(
            status="sending",
            locked_until=now + timedelta(seconds=lease_seconds),
            attempts=Outbox.attempts + 1,
        )
        .returning(
            Outbox.id,
            Outbox.kind,
            Outbox.payload,
            Outbox.channel,
            Outbox.chat_id,
            Outbox.idempotency_key,
            Outbox.attempts,
            Outbox.case_id,
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    await session.commit()
    items = [OutboxItem(*r) for r in rows]
    items.sort(key=lambda i: i.id)
    return items


async def mark_sent(session: AsyncSession, item_id: int, *, now: datetime | None = None) -> None:
    """The row was delivered."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id == item_id, Outbox.status == "sending")
        .values(status="sent", sent_at=now or utcnow(), locked_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def schedule_retry(
    session: AsyncSession,
    item_id: int,
    *,
    delay: float,
    error: str,
    failed: bool = False,
    now: datetime | None = None,
) -> None:
    """Put the row back as `pending` after `delay` seconds (or `failed` for good)."""
    now = now or utcnow()
    await session.execute(
        update(Outbox)
        .where(Outbox.id == item_id, Outbox.status == "sending")
        .values(
            status="failed" if failed else "pending",
            next_attempt_at=now + timedelta(seconds=max(0.0, delay)),
            locked_until=None,
            last_error=error[:2000],
        )
        .execution_options(synchronize_session=False)
    )
    await session.commit()


class OutboxWorker:
    """Claims due rows and hands them to a `Sender`. Several workers (processes) may run
    against one database."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        *,
        batch_size: int = 20,
        lease_seconds: float = 60.0,
        max_attempts: int = 10,
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.sender = sender
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.clock = clock

    async def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many rows were claimed."""
        async with self.sessions() as session:
            items = await claim(
                session, limit=self.batch_size, lease_seconds=self.lease_seconds, now=self.clock()
            )
            for item in items:
                await self._deliver(session, item)
        return len(items)

    async def _deliver(self, session: AsyncSession, item: OutboxItem) -> None:
        try:
            await self.sender.send(item)
        except RetryLater as exc:
            await schedule_retry(
                session, item.id, delay=exc.seconds, error=str(exc), now=self.clock()
            )
        except Undeliverable as exc:
            log.warning("outbox %s (%s) undeliverable: %s", item.id, item.kind, exc)
            await schedule_retry(
                session,
                item.id,
                delay=0,
                error=f"undeliverable: {exc}",
                failed=True,
                now=self.clock(),
            )
        except Exception as exc:
            give_up = item.attempts >= self.max_attempts
            log.warning(
                "outbox %s (%s) attempt %s failed: %r%s",
                item.id,
                item.kind,
                item.attempts,
                exc,
                " — giving up" if give_up else "",
            )
            await schedule_retry(
                session,
                item.id,
                delay=backoff(item.attempts),
                error=repr(exc),
                failed=give_up,
                now=self.clock(),
            )
        else:
            await mark_sent(session, item.id, now=self.clock())

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until `stop` is set; sleeps `poll_interval` when nothing is due."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                n = await self.run_once()
            except Exception:
                log.exception("outbox worker: batch failed; retrying")
                n = 0
            if n == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)

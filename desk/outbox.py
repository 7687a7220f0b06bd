"""Delivering outbox rows: claim, send, mark — safe with several workers and across crashes.

This is the one outbox loop of taxdesk; channels plug in a `Sender` (Telegram:
`bot.notices.TelegramNoticeSender`).

Rows are written by the services in the same transaction as the change that caused them
(on PostgreSQL the transaction also sends `NOTIFY taxdesk_outbox`, see `listen`). A worker
*claims* due rows (status `pending` with `next_attempt_at <= now`, or `sending` whose lease
expired because a worker died) by moving them to `sending` with a lease (`locked_until`) and
`attempts + 1`, in one statement:

* PostgreSQL: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)` — concurrent
  workers never claim the same row and never wait on each other.
* SQLite: the same UPDATE ... RETURNING, atomic because SQLite has a single writer
  (`BEGIN IMMEDIATE`, see `desk.db`).

**Per-chat order.** A row is only due when no earlier row of the same chat is still
`pending` or `sending`: a chat's notices go out one at a time, in the order they were
written, even across retries and several workers; different chats go out concurrently.

Then it calls the `Sender` for each row (after the claim committed) and marks the row `sent`,
or schedules a retry: `RetryLater(seconds)` (e.g. Telegram's `retry_after`) is obeyed exactly;
other exceptions back off exponentially (with jitter) up to `max_attempts`, then `failed`;
`Undeliverable` fails at once.

**At least once, shown once.** A worker killed between sending and marking leaves a `sending`
row whose lease expires: it is claimed again. The delivery is recorded as an outbound
`message` row carrying the outbox row's `idempotency_key` (`outbox_key`), in the same
transaction that marks the row `sent`; a re-claimed row (attempts > 1) whose key is already
recorded is marked sent without being sent again. If that transaction fails (database
down), the worker keeps the key in memory and does not send it again either. The window
left: the process dies after Telegram accepted the message and before that commit (a few
milliseconds); then the notice is shown twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from desk.models import Case, Conversation, Message, Outbox, utcnow

log = logging.getLogger(__name__)

#: PostgreSQL channel the services NOTIFY when they write an outbox row.
NOTIFY_CHANNEL = "taxdesk_outbox"
_UNRECORDED_KEPT = 10_000


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


@dataclass(frozen=True, slots=True)
class Delivered:
    """What a sender delivered: the channel's message id and the text shown (recorded as the
    outbound message of the conversation, with the row's idempotency key)."""

    channel_message_id: str | None = None
    text: str | None = None
    #: what a channel needs to show the message again (the web chat's buttons, documents,
    #: kind), stored in the message row's `meta`
    meta: dict[str, Any] | None = None


class Sender(Protocol):
    """Delivers one row. Raise `RetryLater`, `Undeliverable`, or anything else (retried).
    May return a `Delivered` (recorded with the conversation's messages) or None."""

    async def send(self, row: OutboxItem) -> Delivered | None: ...


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
    channel: str | None = None,
    chat_id: str | None = None,
) -> list[OutboxItem]:
    """Claim up to `limit` due rows (of `channel`, or of any channel; of one `chat_id` when
    given) — see the module docstring — and commit the claim."""
    now = now or utcnow()
    earlier = aliased(Outbox)
    blocked = exists().where(
        earlier.channel == Outbox.channel,
        earlier.chat_id == Outbox.chat_id,
        earlier.id < Outbox.id,
        earlier.status.in_(("pending", "sending")),
    )
    conditions = [
        or_(
            and_(Outbox.status == "pending", Outbox.next_attempt_at <= now),
            and_(Outbox.status == "sending", Outbox.locked_until < now),
        ),
        or_(Outbox.chat_id.is_(None), ~blocked),
    ]
    if channel is not None:
        conditions.append(Outbox.channel == channel)
    if chat_id is not None:
        conditions.append(Outbox.chat_id == chat_id)
    due = (
        select(Outbox.id)
        .where(*conditions)
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


async def conversation_of(session: AsyncSession, item: OutboxItem) -> int | None:
    """The conversation the row goes to: its case's, else the chat's latest."""
    if item.case_id is not None:
        found = (
            await session.execute(select(Case.conversation_id).where(Case.id == item.case_id))
        ).scalar_one_or_none()
        if found is not None:
            return int(found)
    if item.channel is None or item.chat_id is None:
        return None
    found = (
        await session.execute(
            select(Conversation.id)
            .where(Conversation.channel == item.channel, Conversation.chat_id == item.chat_id)
            .order_by(Conversation.updated_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return int(found) if found is not None else None


async def delivered_before(session: AsyncSession, item: OutboxItem) -> Delivered | None:
    """The recorded delivery of this row's idempotency key, if there is one (read only)."""
    conv_id = await conversation_of(session, item)
    query = select(Message.channel_message_id, Message.text).where(
        Message.outbox_key == item.idempotency_key, Message.direction == "out"
    )
    if conv_id is not None:
        query = query.where(Message.conversation_id == conv_id)  # uses the conversation index
    row = (await session.execute(query.limit(1))).first()
    await session.commit()
    return Delivered(row[0], row[1]) if row is not None else None


async def mark_sent(
    session: AsyncSession,
    item_id: int,
    *,
    now: datetime | None = None,
    commit: bool = True,
) -> None:
    """The row was delivered."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id == item_id, Outbox.status == "sending")
        .values(status="sent", sent_at=now or utcnow(), locked_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    if commit:
        await session.commit()


async def mark_delivered(
    session: AsyncSession,
    item: OutboxItem,
    delivered: Delivered | None,
    *,
    now: datetime | None = None,
) -> None:
    """Record the delivery (an outbound message with the idempotency key, when the
    conversation is known) and mark the row sent, in one transaction."""
    now = now or utcnow()
    conv_id = await conversation_of(session, item)
    if conv_id is not None:
        session.add(
            Message(
                conversation_id=conv_id,
                direction="out",
                channel=item.channel or "",
                chat_id=item.chat_id or "",
                channel_message_id=delivered.channel_message_id if delivered else None,
                text=delivered.text if delivered else None,
                meta=delivered.meta if delivered else None,
                outbox_key=item.idempotency_key,
                created_at=now,
            )
        )
    await mark_sent(session, item.id, now=now, commit=False)
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
    against one database. A batch holds at most one row per chat (see the module docstring);
    its rows are sent concurrently, each marked in its own short transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: Sender,
        *,
        channel: str | None = None,
        chat_id: str | None = None,
        batch_size: int = 20,
        lease_seconds: float = 60.0,
        max_attempts: int = 10,
        poll_interval: float = 0.5,
        clock: Callable[[], datetime] = utcnow,
        wake: asyncio.Event | None = None,
    ) -> None:
        """`channel`: only rows of this channel (None: all); `chat_id`: only rows of this
        chat (the terminal shell takes only its own). `wake`: an event that ends the idle
        wait early (set by `listen` on PostgreSQL NOTIFY)."""
        self.sessions = sessions
        self.sender = sender
        self.channel = channel
        self.chat_id = chat_id
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.clock = clock
        self.wake = wake or asyncio.Event()
        # keys delivered whose `sent` mark could not be committed: never sent again by us
        self._unrecorded: OrderedDict[str, Delivered | None] = OrderedDict()

    async def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many rows were claimed."""
        async with self.sessions() as session:
            items = await claim(
                session,
                limit=self.batch_size,
                lease_seconds=self.lease_seconds,
                now=self.clock(),
                channel=self.channel,
                chat_id=self.chat_id,
            )
        if items:
            outcomes = await asyncio.gather(
                *(self._deliver(item) for item in items), return_exceptions=True
            )
            for item, outcome in zip(items, outcomes, strict=True):
                if isinstance(outcome, BaseException):  # its lease expires: claimed again
                    log.error("outbox %s: delivery step failed: %r", item.id, outcome)
        return len(items)

    async def _deliver(self, item: OutboxItem) -> None:
        key = item.idempotency_key
        if key in self._unrecorded:
            await self._record(item, self._unrecorded[key])
            return
        if item.attempts > 1:
            async with self.sessions() as session:
                before = await delivered_before(session, item)
            if before is not None:
                log.info("outbox %s (%s) was delivered before; not sent again", item.id, key)
                async with self.sessions() as session:
                    await mark_sent(session, item.id, now=self.clock())
                return
        try:
            delivered = await self.sender.send(item)
        except RetryLater as exc:
            await self._retry(item, delay=exc.seconds, error=str(exc))
        except Undeliverable as exc:
            log.warning("outbox %s (%s) undeliverable: %s", item.id, item.kind, exc)
            await self._retry(item, delay=0, error=f"undeliverable: {exc}", failed=True)
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
            await self._retry(item, delay=backoff(item.attempts), error=repr(exc), failed=give_up)
        else:
            await self._record(item, delivered)

    async def _record(self, item: OutboxItem, delivered: Delivered | None) -> None:
        try:
            async with self.sessions() as session:
                await mark_delivered(session, item, delivered, now=self.clock())
        except Exception:
            log.exception("outbox %s delivered but not recorded; kept in memory", item.id)
            self._unrecorded[item.idempotency_key] = delivered
            while len(self._unrecorded) > _UNRECORDED_KEPT:
                self._unrecorded.popitem(last=False)
        else:
            self._unrecorded.pop(item.idempotency_key, None)

    async def _retry(
        self, item: OutboxItem, *, delay: float, error: str, failed: bool = False
    ) -> None:
        try:
            async with self.sessions() as session:
                await schedule_retry(
                    session, item.id, delay=delay, error=error, failed=failed, now=self.clock()
                )
        except Exception:  # the lease expires and the row is claimed again
            log.exception("outbox %s: could not schedule the retry", item.id)

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until `stop` is set; when nothing is due, waits `poll_interval` or until
        `wake` is set."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            self.wake.clear()
            try:
                n = await self.run_once()
            except Exception:
                log.exception("outbox worker: batch failed; retrying")
                n = 0
            if n == 0:
                await _wait_any(stop, self.wake, seconds=self.poll_interval)


async def serve(
    engine: AsyncEngine, worker: OutboxWorker, stop: asyncio.Event, *, name: str
) -> None:
    """Run `worker` until `stop` is set, woken by PostgreSQL NOTIFY where there is one
    (`listen`), polling otherwise. `name` says which worker in the start-up log line."""
    async with listen(engine, worker.wake) as listening:
        log.info(
            "%s started (%s)",
            name,
            "NOTIFY wake-ups" if listening else f"polling every {worker.poll_interval:g}s",
        )
        await worker.run_forever(stop)


async def _wait_any(*events: asyncio.Event, seconds: float) -> None:
    tasks = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


@contextlib.asynccontextmanager
async def listen(engine: AsyncEngine, wake: asyncio.Event) -> AsyncIterator[bool]:
    """On PostgreSQL, set `wake` whenever a transaction writes an outbox row (LISTEN on
    `NOTIFY_CHANNEL`, one extra connection); yields whether it listens. Elsewhere (SQLite)
    it does nothing: polling alone finds new rows. A lost connection only loses the
    wake-ups (polling goes on)."""
    if engine.dialect.name != "postgresql":
        yield False
        return
    import asyncpg

    url = engine.url.set(drivername="postgresql")
    try:
        conn = await asyncpg.connect(url.render_as_string(hide_password=False))
        await conn.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
    except Exception:
        log.exception("outbox: LISTEN failed; polling only")
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(Exception):
            await conn.close()

"""Group commit for the per-update writes: concurrent callers share one transaction.

Every Telegram update costs the desk an inbound row, a tracker load, a tracker save and the
outbound rows of the reply. One transaction each made the database round trips and commits
(BEGIN, statements, COMMIT, a WAL flush on PostgreSQL) the bottleneck. `WriteBatcher` queues
these small operations; one flusher takes everything queued and runs it in ONE transaction,
with one bulk statement per kind (a multi-row INSERT, an executemany UPDATE, one SELECT).
While a batch is being committed the next one fills up, so under load many updates share a
commit, and a lone update waits for nothing but its own transaction.

Each caller awaits its own result, which is set only after the shared COMMIT succeeded:
"stored before acted on" and "tracker persisted before the reply" hold as with one
transaction per call. If a batch fails (a constraint, a deadlock, a lost connection) it is
rolled back and every operation of it is retried alone in its own transaction, so one bad
item fails only its own caller.

Duplicates: an inbound row is inserted with ON CONFLICT (channel, update_id) DO NOTHING; the
first of two equal update ids in one batch is the new one, the other is reported as seen.

SQL per batch: inbound rows (1 INSERT ... RETURNING, 1 UPDATE of the conversations'
`updated_at`), tracker saves (1 executemany UPDATE), outbound rows (1 INSERT), tracker loads
(1 SELECT ... WHERE id IN). Works on PostgreSQL and SQLite.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from desk.models import Conversation, Message, utcnow

MESSAGES: Table = Message.__table__  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: Most operations one transaction takes (the rest wait for the next one).
DEFAULT_MAX_BATCH = 256


@dataclass(slots=True)
class _Op:
    kind: str  # inbound | outbound | save | load
    params: dict[str, Any]
    future: asyncio.Future[Any]
    result: Any = None


@dataclass(slots=True)
class BatchStats:
    """Counters for benchmarks and logs."""

    batches: int = 0
    operations: int = 0
    fallbacks: int = 0
    largest: int = 0


class WriteBatcher:
    """Runs inbound/outbound message rows and tracker loads/saves of concurrent callers in
    shared transactions (see the module docstring). One per process and engine; callers
    simply await the methods."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Callable[[], datetime] = utcnow,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.max_batch = max_batch
        self.stats = BatchStats()
        self._pending: list[_Op] = []
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = False
        self._pg = engine.dialect.name == "postgresql"
        # While batches follow each other the flusher keeps its connection (no pool check-out
        # and ping per batch). Not on SQLite: its pool has the one connection, and the other
        # sessions (case gateway, first contact) must get their turn between batches.
        self._keep_connection = self._pg

    # ------------------------------------------------------------------ public API

    async def record_inbound(
        self,
        conversation_id: int,
        channel: str,
        chat_id: str,
        *,
        text: str | None,
        update_id: str | None = None,
        channel_message_id: str | None = None,
        attachment_id: int | None = None,
    ) -> bool:
        """Store an inbound message (committed when this returns); False when `update_id`
        was stored before on this channel."""
        return bool(
            await self._submit(
                "inbound",
                {
                    "conversation_id": conversation_id,
                    "direction": "in",
                    "channel": channel,
                    "chat_id": chat_id,
                    "channel_message_id": channel_message_id,
                    "update_id": update_id,
                    "text": text,
                    "attachment_id": attachment_id,
                    "outbox_key": None,
                    "meta": None,
                },
            )
        )

    async def record_outbound(
        self,
        conversation_id: int,
        channel: str,
        chat_id: str,
        texts: Sequence[tuple[str | None, str | None]],
        *,
        outbox_key: str | None = None,
        meta: Sequence[dict[str, Any] | None] | None = None,
    ) -> None:
        """Store `(text, channel message id)` pairs the bot sent, as outbound rows; `meta`,
        one per pair, what a channel needs to show the message again (buttons…)."""
        if not texts:
            return
        metas = list(meta) if meta is not None else [None] * len(texts)
        if len(metas) != len(texts):
            raise ValueError("record_outbound: one meta per text")
        await self._submit(
            "outbound",
            {
                "rows": [
                    {
                        "conversation_id": conversation_id,
                        "direction": "out",
                        "channel": channel,
                        "chat_id": chat_id,
                        "channel_message_id": message_id,
                        "update_id": None,
                        "text": text,
                        "attachment_id": None,
                        "outbox_key": outbox_key,
                        "meta": m,
                    }
                    for (text, message_id), m in zip(texts, metas, strict=True)
                ]
            },
        )

    async def load_tracker(self, conversation_id: int) -> dict[str, Any] | None:
        """The tracker stored in the conversation row (None if none or no such row)."""
        result: dict[str, Any] | None = await self._submit("load", {"id": conversation_id})
        return result

    async def save_tracker(self, conversation_id: int, tracker: dict[str, Any]) -> None:
        """Replace the conversation's tracker (committed when this returns)."""
        await self._submit("save", {"b_id": conversation_id, "b_tracker": dict(tracker)})

    async def aclose(self) -> None:
        """Wait for the queued operations to be written."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        if self._pending:  # queued while the last flusher was closing its connection
            await asyncio.sleep(0)
            await self.aclose()

    # ------------------------------------------------------------------ batching

    def _submit(self, kind: str, params: dict[str, Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        op = _Op(kind, params, loop.create_future())
        self._pending.append(op)
        if not self._flushing:  # cleared by the flusher the moment it stops taking work
            self._flushing = True
            self._flusher = loop.create_task(self._flush_loop(), name="desk-group-commit")
        return op.future

    async def _flush_loop(self) -> None:
        # One tick first, so the callers woken together (by the previous commit, or by
        # the same network read) join the first batch.
        await asyncio.sleep(0)
        conn: AsyncConnection | None = None
        try:
            while self._pending or not self._stop_flushing():
                ops = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                stats = self.stats
                stats.batches += 1
                stats.operations += len(ops)
                stats.largest = max(stats.largest, len(ops))
                reused = conn is not None
                try:
                    if conn is None:
                        conn = await self.engine.connect()
                    async with conn.begin():
                        await self._execute(conn, ops)
                except Exception as exc:
                    if conn is not None:
                        await _close_quietly(conn)
                        conn = None
                    # a kept connection may have died since its last batch (the pool's ping
                    # was skipped): then even a lone operation gets a fresh try
                    await self._one_by_one(ops, exc, retry_single=reused)
                    continue
                except BaseException as exc:  # cancelled: the callers must not wait forever
                    for op in ops + self._pending:
                        _fail(op, exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                    self._pending.clear()
                    self._flushing = False
                    raise
                for op in ops:
                    _done(op)
                if not self._keep_connection:
                    await conn.close()
                    conn = None
        finally:
            if conn is not None:
                await _close_quietly(conn)

    def _stop_flushing(self) -> bool:
        """Stop taking work (True), unless some arrived meanwhile; no await in between, so
        a caller that finds `_flushing` False starts the next flusher."""
        if self._pending:
            return False
        self._flushing = False
        return True

    async def _one_by_one(
        self, ops: list[_Op], exc: Exception, *, retry_single: bool = False
    ) -> None:
        """After a failed batch: each operation alone, in its own transaction (on a fresh
        connection from the pool)."""
        if len(ops) == 1 and not retry_single:
            _fail(ops[0], exc)
            return
        self.stats.fallbacks += 1
        log.warning("group commit of %d operations failed (%s); one by one", len(ops), exc)
        for op in ops:
            try:
                async with self.engine.begin() as conn:
                    await self._execute(conn, [op])
            except Exception as single:
                _fail(op, single)
            else:
                _done(op)

    async def _execute(self, conn: AsyncConnection, ops: list[_Op]) -> None:
        """All of `ops` on one connection, in one transaction: writes first (inbound rows,
        tracker saves, outbound rows), then the loads."""
        now = self.clock()
        by_kind: dict[str, list[_Op]] = {"inbound": [], "save": [], "outbound": [], "load": []}
        for op in ops:
            by_kind[op.kind].append(op)
        if by_kind["inbound"]:
            await self._inbound(conn, by_kind["inbound"], now)
        if by_kind["save"]:
            saves = sorted(by_kind["save"], key=lambda o: o.params["b_id"])
            await conn.execute(
                update(Conversation)
                .where(Conversation.id == bindparam("b_id"))
                .values(tracker=bindparam("b_tracker"), updated_at=now),
                [op.params for op in saves],
            )
        if by_kind["outbound"]:
            outbound = by_kind["outbound"]
            rows = [{**row, "created_at": now} for op in outbound for row in op.params["rows"]]
            await conn.execute(MESSAGES.insert(), rows)
        if by_kind["load"]:
            ids = sorted({op.params["id"] for op in by_kind["load"]})
            result = await conn.execute(
                select(Conversation.id, Conversation.tracker).where(Conversation.id.in_(ids))
            )
            found = {row[0]: row[1] for row in result}
            for op in by_kind["load"]:
                op.result = found.get(op.params["id"])

    async def _inbound(self, conn: AsyncConnection, ops: list[_Op], now: datetime) -> None:
        keyed: dict[tuple[str, str], _Op] = {}
        plain: list[_Op] = []
        for op in ops:
            p = op.params
            if p["update_id"] is None:
                plain.append(op)
                op.result = True
            elif (p["channel"], p["update_id"]) in keyed:
                op.result = False  # the same update twice in one batch: the first one counts
            else:
                keyed[(p["channel"], p["update_id"])] = op
        if keyed:
            stmt = self._insert_ignoring_duplicates().returning(Message.channel, Message.update_id)
            rows = [{**op.params, "created_at": now} for op in keyed.values()]
            result = await conn.execute(stmt, rows)
            inserted = {(str(row[0]), str(row[1])) for row in result}
            for key, op in keyed.items():
                op.result = key in inserted
        if plain:
            await conn.execute(
                MESSAGES.insert(), [{**op.params, "created_at": now} for op in plain]
            )
        touched = sorted({op.params["conversation_id"] for op in ops if op.result})
        if touched:
            await conn.execute(
                update(Conversation).where(Conversation.id.in_(touched)).values(updated_at=now)
            )

    def _insert_ignoring_duplicates(self) -> Any:
        if self._pg:
            return pg_insert(MESSAGES).on_conflict_do_nothing(
                index_elements=["channel", "update_id"]
            )
        return sqlite_insert(MESSAGES).on_conflict_do_nothing(
            index_elements=["channel", "update_id"]
        )


async def _close_quietly(conn: AsyncConnection) -> None:
    try:
        await conn.close()
    except Exception:  # a broken connection: the pool replaces it
        log.debug("closing a failed group-commit connection failed", exc_info=True)


def _done(op: _Op) -> None:
    if not op.future.done():
        op.future.set_result(op.result)


def _fail(op: _Op, exc: BaseException) -> None:
    if not op.future.done():
        op.future.set_exception(exc)

"""Group commit (`desk.batch.WriteBatcher`) on SQLite and PostgreSQL: everything committed when
the caller's await returns, duplicates once, concurrent callers sharing transactions, and a bad
item failing alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, func, select

from desk.batch import WriteBatcher
from desk.models import Conversation, Message


async def _conversations(make_desk, n: int) -> list[int]:
    ids = []
    async with make_desk.sessions() as s:
        desk = make_desk(s)
        for i in range(n):
            conv = await desk.ensure_conversation("telegram", str(100 + i), str(100 + i))
            ids.append(conv.id)
    return ids


async def _count(make_desk, *where) -> int:
    async with make_desk.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Message).where(*where)))


async def test_concurrent_writes_share_commits_and_are_durable_on_return(
    engine, make_desk, clock
) -> None:
    ids = await _conversations(make_desk, 8)
    commits = 0

    def on_commit(*_: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(engine.sync_engine, "commit", on_commit)
    batcher = WriteBatcher(engine, clock=clock)

    async def turn(i: int, cid: int) -> None:
        assert await batcher.record_inbound(
            cid, "telegram", str(100 + i), text=f"hi {i}", update_id=str(i)
        )
        assert await batcher.load_tracker(cid) is None
        await batcher.save_tracker(cid, {"slots": {"n": i}})
        await batcher.record_outbound(cid, "telegram", str(100 + i), [("a", "1"), ("b", "2")])

    await asyncio.gather(*(turn(i, cid) for i, cid in enumerate(ids)))
    event.remove(engine.sync_engine, "commit", on_commit)
    # 8 chats x 4 operations, but shared transactions
    assert batcher.stats.operations == 32
    assert commits == batcher.stats.batches < 32
    assert await _count(make_desk, Message.direction == "in") == 8
    assert await _count(make_desk, Message.direction == "out") == 16
    for i, cid in enumerate(ids):
        assert await batcher.load_tracker(cid) == {"slots": {"n": i}}
    async with make_desk.sessions() as s:
        stamps = set(await s.scalars(select(Conversation.updated_at)))
    assert stamps == {clock()}


async def test_an_update_seen_twice_is_new_once_in_one_batch_and_across_batches(
    engine, make_desk, clock
) -> None:
    (cid,) = await _conversations(make_desk, 1)
    batcher = WriteBatcher(engine, clock=clock)
    first = await asyncio.gather(
        batcher.record_inbound(cid, "telegram", "100", text="x", update_id="7"),
        batcher.record_inbound(cid, "telegram", "100", text="x", update_id="7"),
        batcher.record_inbound(cid, "telegram", "100", text="x", update_id="7"),
    )
    assert sorted(first) == [False, False, True]
    assert not await batcher.record_inbound(cid, "telegram", "100", text="x", update_id="7")
    # other channels have their own update ids; messages without one always count
    assert await batcher.record_inbound(cid, "shell", "100", text="x", update_id="7")
    assert await batcher.record_inbound(cid, "telegram", "100", text="file", update_id=None)
    assert await _count(make_desk) == 3


async def test_a_bad_item_fails_alone(engine, make_desk, clock) -> None:
    (cid,) = await _conversations(make_desk, 1)
    batcher = WriteBatcher(engine, clock=clock)
    missing = cid + 1000  # no such conversation: the foreign key refuses the row
    results = await asyncio.gather(
        batcher.record_inbound(cid, "telegram", "100", text="ok", update_id="1"),
        batcher.record_inbound(missing, "telegram", "x", text="bad", update_id="2"),
        batcher.save_tracker(cid, {"slots": {}}),
        return_exceptions=True,
    )
    assert results[0] is True
    assert isinstance(results[1], Exception)
    assert results[2] is None
    assert batcher.stats.fallbacks == 1
    assert await _count(make_desk) == 1
    assert await batcher.load_tracker(cid) == {"slots": {}}


@pytest.mark.parametrize("n", [1, 5])
async def test_aclose_waits_for_queued_writes(engine, make_desk, clock, n: int) -> None:
    (cid,) = await _conversations(make_desk, 1)
    batcher = WriteBatcher(engine, clock=clock)
    futures = [
        asyncio.ensure_future(
            batcher.record_inbound(cid, "telegram", "100", text="q", update_id=f"u{i}")
        )
        for i in range(n)
    ]
    await asyncio.sleep(0)
    await batcher.aclose()
    assert all(f.done() for f in futures)
    assert await _count(make_desk) == n


@pytest.mark.postgres
async def test_a_connection_dropped_by_the_server_costs_no_write(
    db, engine, make_desk, clock
) -> None:
    """The flusher keeps its PostgreSQL connection while busy; when the server drops it, the
    batch is retried on fresh connections and every caller still gets its answer."""
    if db.schema is None:
        pytest.skip("PostgreSQL only")
    from sqlalchemy import text

    class Dropping(WriteBatcher):
        calls = 0

        async def _execute(self, conn, ops):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 5:  # the server ends the session under the flusher
                pid = await conn.scalar(text("SELECT pg_backend_pid()"))
                async with engine.connect() as admin:
                    await admin.execute(text(f"SELECT pg_terminate_backend({int(pid)})"))
            await super()._execute(conn, ops)

    ids = await _conversations(make_desk, 4)
    batcher = Dropping(engine, clock=clock)

    async def chat(i: int, cid: int) -> None:
        for k in range(20):
            assert await batcher.record_inbound(
                cid, "telegram", str(100 + i), text="x", update_id=f"{i}-{k}"
            )
            await batcher.save_tracker(cid, {"k": k})

    await asyncio.gather(*(chat(i, cid) for i, cid in enumerate(ids)))
    assert batcher.stats.fallbacks == 1  # the batch on the dropped connection, retried
    assert await _count(make_desk) == 80
    for cid in ids:
        assert await batcher.load_tracker(cid) == {"k": 19}


@pytest.mark.postgres
async def test_a_lone_operation_on_a_dropped_kept_connection_is_retried(
    db, engine, make_desk, clock
) -> None:
    if db.schema is None:
        pytest.skip("PostgreSQL only")
    from sqlalchemy import text

    (cid,) = await _conversations(make_desk, 1)
    later: list[asyncio.Future[None]] = []

    class Dropping(WriteBatcher):
        calls = 0

        async def _execute(self, conn, ops):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 1:  # queued while the first batch runs: the next batch, alone
                later.append(asyncio.ensure_future(self.save_tracker(cid, {"k": 2})))
            if self.calls == 2:  # on the kept connection, which the server ends now
                pid = await conn.scalar(text("SELECT pg_backend_pid()"))
                async with engine.connect() as admin:
                    await admin.execute(text(f"SELECT pg_terminate_backend({int(pid)})"))
            await super()._execute(conn, ops)

    batcher = Dropping(engine, clock=clock)
    await batcher.save_tracker(cid, {"k": 1})
    await later[0]
    assert batcher.calls == 3 and batcher.stats.fallbacks == 1
    assert await batcher.load_tracker(cid) == {"k": 2}

"""The outbox: claims, retries, several workers, and a worker killed mid-way."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from desk.models import Message, Outbox, utcnow
from desk.outbox import (
    Delivered,
    OutboxItem,
    OutboxWorker,
    RetryLater,
    Undeliverable,
    claim,
)
from desk.services import Desk
from testing.waits import wait_for

ROOT = Path(__file__).resolve().parents[2]
TAX_ID = "91310115MA1K3YJ12G"


async def _queued_notices(desk: Desk, n: int, *, one_chat: bool = False) -> list[str]:
    """`n` submitted cases, each with its `case_queued` notice: in one chat, or one chat each
    (rows of one chat go out one at a time)."""
    keys = []
    for i in range(n):
        chat = "900" if one_chat else str(900 + i)
        conv = await desk.ensure_conversation("telegram", chat, chat)
        case = await desk.open_case(
            "tax_certificate",
            taxpayer_id=conv.taxpayer_id,
            conversation_id=conv.id,
            slots={"tax_period": f"20{10 + i}", "taxpayer_id": TAX_ID},
        )
        await desk.submit(case.number)
        keys.append(case.number)
    return keys


class Recorder:
    def __init__(self, fail: dict[int, BaseException] | None = None) -> None:
        self.sent: list[OutboxItem] = []
        self.fail = dict(fail or {})

    async def send(self, row: OutboxItem) -> Delivered:
        exc = self.fail.pop(row.id, None)
        if exc is not None:
            raise exc
        self.sent.append(row)
        return Delivered(f"m{row.id}", row.payload["text"]["zh_hans"])


async def _rows(sessions) -> list[Outbox]:
    async with sessions() as s:
        return list((await s.execute(select(Outbox).order_by(Outbox.id))).scalars())


async def test_worker_sends_once_and_obeys_retry_after(desk: Desk, sessions) -> None:
    await _queued_notices(desk, 3)
    rows = await _rows(sessions)
    now = utcnow()
    rec = Recorder({rows[0].id: RetryLater(30), rows[1].id: Undeliverable("bot blocked")})
    worker = OutboxWorker(sessions, rec, clock=lambda: now)
    assert await worker.run_once() == 3
    assert await worker.run_once() == 0  # nothing due: the retry waits 30 s
    after = await _rows(sessions)
    assert [r.status for r in after] == ["pending", "failed", "sent"]
    assert after[0].next_attempt_at == now + timedelta(seconds=30)
    assert "undeliverable" in (after[1].last_error or "")
    worker.clock = lambda: now + timedelta(seconds=31)
    assert await worker.run_once() == 1
    assert [r.status for r in await _rows(sessions)] == ["sent", "failed", "sent"]
    assert sorted(i.id for i in rec.sent) == [rows[0].id, rows[2].id]
    assert rec.sent[0].payload["text"]["zh_hans"]


async def test_errors_back_off_then_fail(desk: Desk, sessions) -> None:
    await _queued_notices(desk, 1)

    class Broken:
        async def send(self, row: OutboxItem) -> None:
            raise ConnectionError("telegram 502")

    t = utcnow()
    worker = OutboxWorker(sessions, Broken(), max_attempts=3, clock=lambda: t)
    for _ in range(3):
        assert await worker.run_once() == 1
        (row,) = await _rows(sessions)
        t = row.next_attempt_at + timedelta(seconds=1)
    assert (row.status, row.attempts) == ("failed", 3)
    assert "telegram 502" in (row.last_error or "")


async def test_concurrent_claims_are_disjoint(desk: Desk, sessions) -> None:
    await _queued_notices(desk, 10)

    async def one() -> list[int]:
        async with sessions() as s:
            return [i.id for i in await claim(s, limit=4)]

    got = await asyncio.gather(one(), one(), one())
    ids = [i for batch in got for i in batch]
    assert len(ids) == len(set(ids)) == 10


async def test_one_chat_in_order_across_retries(desk: Desk, sessions) -> None:
    """A chat's rows go out one at a time, oldest first: a retry holds the later ones."""
    await _queued_notices(desk, 3, one_chat=True)
    rows = await _rows(sessions)
    now = utcnow()
    rec = Recorder({rows[0].id: RetryLater(5)})
    worker = OutboxWorker(sessions, rec, clock=lambda: now)
    assert await worker.run_once() == 1  # only the oldest of the chat
    assert await worker.run_once() == 0  # it waits 5 s; the others wait behind it
    now += timedelta(seconds=6)
    for _ in range(3):
        assert await worker.run_once() == 1
    assert [i.id for i in rec.sent] == [r.id for r in rows]
    assert [r.status for r in await _rows(sessions)] == ["sent"] * 3


async def test_delivery_is_recorded_with_its_key(desk: Desk, sessions) -> None:
    await _queued_notices(desk, 1)
    worker = OutboxWorker(sessions, Recorder())
    assert await worker.run_once() == 1
    (row,) = await _rows(sessions)
    async with sessions() as s:
        (msg,) = (await s.execute(select(Message).where(Message.direction == "out"))).scalars()
    assert (msg.outbox_key, msg.channel_message_id) == (row.idempotency_key, f"m{row.id}")
    assert msg.text == row.payload["text"]["zh_hans"]


async def test_reclaimed_row_already_recorded_is_not_sent_again(desk: Desk, sessions) -> None:
    """A row left `sending` although its delivery was recorded (its worker outlived the lease
    or died before the mark) is marked sent without being sent again."""
    await _queued_notices(desk, 1)
    now = utcnow()
    async with sessions() as s:
        (item,) = await claim(s, lease_seconds=1, now=now)
    async with sessions() as s:
        s.add(
            Message(
                conversation_id=await _conv_of(s, item),
                direction="out",
                channel="telegram",
                chat_id=item.chat_id or "",
                outbox_key=item.idempotency_key,
                created_at=now,
            )
        )
        await s.commit()
    rec = Recorder()
    worker = OutboxWorker(sessions, rec, clock=lambda: now + timedelta(seconds=2))
    assert await worker.run_once() == 1
    assert rec.sent == []
    ((status, attempts),) = [(r.status, r.attempts) for r in await _rows(sessions)]
    assert (status, attempts) == ("sent", 2)


async def test_delivered_but_unrecorded_is_not_sent_again(
    desk: Desk, sessions, monkeypatch
) -> None:
    """The database fails right after the send: the worker remembers the key, and when the
    lease expires and it claims the row again, it only records it."""
    import desk.outbox as outbox_module

    await _queued_notices(desk, 1)
    t = utcnow()
    rec = Recorder()
    worker = OutboxWorker(sessions, rec, lease_seconds=1, clock=lambda: t)
    real = outbox_module.mark_delivered
    calls = 0

    async def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return await real(*args, **kwargs)

    monkeypatch.setattr(outbox_module, "mark_delivered", flaky)
    assert await worker.run_once() == 1
    assert [r.status for r in await _rows(sessions)] == ["sending"]
    t += timedelta(seconds=2)
    assert await worker.run_once() == 1
    assert len(rec.sent) == 1
    assert [r.status for r in await _rows(sessions)] == ["sent"]


async def _conv_of(session, item: OutboxItem) -> int:  # type: ignore[no-untyped-def]
    from desk.outbox import conversation_of

    conv = await conversation_of(session, item)
    assert conv is not None
    return conv


WORKER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    sys.path.insert(0, os.environ["ROOT"])
    from desk.db import create_engine, session_factory
    from desk.outbox import OutboxWorker

    LOG = Path(os.environ["CHANNEL_LOG"])
    KILL_AFTER = int(os.environ.get("KILL_AFTER", "0"))

    class FileChannel:
        '''The "chat": one line per delivered notice. Like the Telegram sender, it records
        the idempotency key with the delivery and skips a key already delivered.'''
        def __init__(self):
            self.count = 0
        async def send(self, row):
            seen = LOG.read_text().split() if LOG.exists() else []
            if row.idempotency_key in seen:
                return
            with LOG.open("a") as f:
                f.write(row.idempotency_key + "\\n")
                f.flush()
                os.fsync(f.fileno())
            self.count += 1
            if KILL_AFTER and self.count == KILL_AFTER:
                os.kill(os.getpid(), signal.SIGKILL)  # crash between send and mark-sent

    async def main():
        schema = os.environ.get("SCHEMA")
        args = {"server_settings": {"search_path": schema}} if schema else None
        engine = create_engine(os.environ["URL"], connect_args=args)
        worker = OutboxWorker(session_factory(engine), FileChannel(), batch_size=2,
                              lease_seconds=float(os.environ.get("LEASE", "60")))
        while await worker.run_once():
            pass
        await engine.dispose()

    asyncio.run(main())
    """
)


@pytest.mark.slow  # two worker subprocesses
async def test_worker_killed_mid_way_loses_nothing_and_sends_nothing_twice(
    db, desk: Desk, sessions, tmp_path: Path
) -> None:
    await _queued_notices(desk, 7)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    log = tmp_path / "channel.log"
    env = {
        **os.environ,
        "ROOT": str(ROOT),
        "URL": db.url,
        "SCHEMA": db.schema or "",
        "CHANNEL_LOG": str(log),
        "KILL_AFTER": "3",
        "LEASE": "0.5",
    }
    first = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(script)], env=env, capture_output=True, timeout=120
    )
    assert first.returncode == -9, first.stderr.decode()[-2000:]
    rows = await _rows(sessions)
    assert [r.status for r in rows].count("sent") == 2  # the third was sent, not marked
    # the third was delivered and the fourth claimed (batch of 2), neither marked
    assert [r.status for r in rows].count("sending") == 2
    now = utcnow  # the dead worker's lease expires

    async def lease_expired() -> bool:
        return all(r.locked_until is None or r.locked_until < now() for r in await _rows(sessions))

    await wait_for(lease_expired)
    env["KILL_AFTER"] = "0"
    second = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(script)], env=env, capture_output=True, timeout=120
    )
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    rows = await _rows(sessions)
    assert [r.status for r in rows] == ["sent"] * 7
    delivered = log.read_text().split()
    assert sorted(delivered) == sorted(r.idempotency_key for r in rows)  # all, each once
    reclaimed = [r.idempotency_key for r in rows if r.attempts == 2]
    assert len(reclaimed) == 2 and delivered[2] in reclaimed

"""The outbox: claims, retries, several workers, and a worker killed mid-way."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from desk.models import Outbox, utcnow
from desk.outbox import OutboxItem, OutboxWorker, RetryLater, Undeliverable, claim
from desk.services import Desk

ROOT = Path(__file__).resolve().parents[2]
TAX_ID = "91310115MA1K3YJ12G"


async def _queued_notices(desk: Desk, n: int) -> list[str]:
    conv = await desk.ensure_conversation("telegram", "900", "900")
    keys = []
    for i in range(n):
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

    async def send(self, row: OutboxItem) -> None:
        exc = self.fail.pop(row.id, None)
        if exc is not None:
            raise exc
        self.sent.append(row)


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
    await asyncio.sleep(0.6)  # the dead worker's lease expires
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

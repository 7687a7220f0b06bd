"""Benchmark of the console's pages on PostgreSQL with many cases: the queue, a filtered queue
and a case page, against the login page (rendered by the same application, no desk query)
as the baseline measured in the same run; and the live-update delay from a case change (a
`Desk` call, as another process would make it) to the `changed` event on an open queue
stream.

    python bench/console.py [--cases 10000] [--requests 200] [--changes 20]
                            [--concurrency 1]

A fresh PostgreSQL database (random name, dropped afterwards) is migrated and filled with
`--cases` cases in bulk (multi-row INSERTs: queued, in progress, waiting, done; a tenth of
them from verified chats), then the application is served on 127.0.0.1 and hit with
aiohttp as a logged-in staff member. Prints a table, and as the LAST line one JSON object:
`queue_p95_ms`, `queue_filtered_p95_ms`, `case_p95_ms`, `baseline_p95_ms`,
`live_update_delay_ms` (median; `live_update_delay_p95_ms` too), the ratios to the
baseline, and the sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web
from sqlalchemy import insert, select, text

from console.app import ConsoleDeps, build_app
from desk.migrate import upgrade
from desk.models import Case, Conversation, Taxpayer, TaxpayerTaxId, Verification
from desk.runtime import DeskRuntime
from testing.console import cookie_jar, http_login
from testing.services import create_pg_database, drop_pg_database
from testing.web import PASSWORD, Site

TAX_IDS = ["91310115MA1K3YJ12G", "91650100MA78ABCD1A", "110101199003074514"]
STATUSES = ["queued"] * 5 + ["in_progress"] * 3 + ["waiting_taxpayer"] + ["done"]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q * (len(values) - 1))))
    return values[k]


async def _fill(rt: DeskRuntime, cases: int) -> tuple[list[str], int]:
    """Bulk-insert `cases` cases (and their taxpayers, chats, staff); their numbers and the
    id of the staff member who logs in."""
    rnd = random.Random(7)
    now = datetime.now(UTC)
    taxpayers = max(1, cases // 5)
    async with rt.sessions() as s:
        desk = rt.desk(s)
        me = await desk.add_staff("压测员", "staff")
        await desk.set_password(me.id, PASSWORD, login="bench")
        others = [(await desk.add_staff(f"同事{i}", "staff")).id for i in range(5)]
        staff_ids = [me.id, *others]
    async with rt.sessions() as s:
        await s.execute(
            insert(Taxpayer),
            [
                {"id": i + 1, "display_name": f"会计{i}", "created_at": now}
                for i in range(taxpayers)
            ],
        )
        await s.execute(
            insert(Conversation),
            [
                {"id": i + 1, "taxpayer_id": i + 1, "channel": "telegram", "chat_id": str(i)}
                for i in range(taxpayers)
            ],
        )
        await s.execute(
            insert(TaxpayerTaxId),
            [
                {"taxpayer_id": i + 1, "tax_id": TAX_IDS[i % 3], "first_used_at": now}
                for i in range(taxpayers)
            ],
        )
        await s.execute(
            insert(Verification),
            [
                {"taxpayer_id": i + 1, "tax_id": TAX_IDS[i % 3], "method": "code"}
                for i in range(0, taxpayers, 10)
            ],
        )
        rows = []
        numbers = []
        for n in range(cases):
            status = rnd.choice(STATUSES)
            tp = rnd.randrange(taxpayers)
            number = f"TX-2026-{n + 1:06d}"
            numbers.append(number)
            submitted = now - timedelta(hours=rnd.randrange(1, 24 * 10))
            rows.append(
                {
                    "number": number,
                    "case_type": "tax_certificate",
                    "status": status,
                    "slots": {"taxpayer_id": TAX_IDS[tp % 3], "tax_period": "2025"},
                    "taxpayer_id": tp + 1,
                    "conversation_id": tp + 1,
                    "assignee_id": None if status == "queued" else rnd.choice(staff_ids),
                    "opened_at": submitted,
                    "submitted_at": submitted,
                    "deadline_at": submitted + timedelta(days=rnd.choice([1, 2, 3, 5])),
                    "closed_at": now if status == "done" else None,
                    "version": 1,
                    "updated_at": now,
                }
            )
        for i in range(0, len(rows), 2000):
            await s.execute(insert(Case), rows[i : i + 2000])
        await s.execute(text("ANALYZE"))
        await s.commit()
        count = (await s.execute(select(Case.id).order_by(Case.id.desc()).limit(1))).scalar()
        assert count is not None
    return numbers, me.id


async def _timed(http: aiohttp.ClientSession, url: str, n: int, conc: int) -> list[float]:
    lat: list[float] = []
    sem = asyncio.Semaphore(conc)

    async def one(u: str) -> None:
        async with sem:
            t0 = time.perf_counter()
            async with http.get(u) as r:
                await r.read()
                assert r.status == 200, (u, r.status)
            lat.append(time.perf_counter() - t0)

    await asyncio.gather(*(one(url.replace("{i}", str(i))) for i in range(n)))
    return lat


async def _live_delay(
    http: aiohttp.ClientSession, site: Site, rt: DeskRuntime, numbers: list[str], staff: int
) -> list[float]:
    """Per change: a Desk call (an internal note on a case) -> the `changed` event read on
    an open queue stream."""
    delays = []
    async with http.get(site("/console/queue/events"), timeout=aiohttp.ClientTimeout()) as r:
        assert r.status == 200
        await r.content.readline()  # the retry line
        rnd = random.Random(11)
        for number in numbers:
            await asyncio.sleep(rnd.uniform(0.3, 0.6))  # a change at any point of a poll cycle
            t0 = time.perf_counter()
            async with rt.sessions() as s:
                await rt.desk(s).add_note(number, staff, "压测备注")
            while True:
                line = await r.content.readline()
                if line.startswith(b"event: changed"):
                    break
            delays.append(time.perf_counter() - t0)
    return delays


async def main(args: argparse.Namespace) -> dict[str, Any]:
    url = await asyncio.to_thread(create_pg_database)
    try:
        await asyncio.to_thread(upgrade, url)
        rt = await asyncio.to_thread(DeskRuntime.create, url, pool_size=10)
        t0 = time.perf_counter()
        numbers, me = await _fill(rt, args.cases)
        fill_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            deps = ConsoleDeps(
                runtime=rt,
                engine=None,  # type: ignore[arg-type]  # no web chat here
                recorder=None,
                intake=None,  # type: ignore[arg-type]
                outbound=None,
                data_dir=Path(tmp),
            )
            app = build_app(deps, pages=("console.auth", "console.queue", "console.cases"))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            tcp = web.TCPSite(runner, "127.0.0.1", 0)
            await tcp.start()
            port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            site = Site(f"http://127.0.0.1:{port}", deps, None, app)  # type: ignore[arg-type]
            try:
                async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
                    await http_login(http, site, "bench")
                    n, c = args.requests, args.concurrency
                    await _timed(http, site("/console/queue"), 20, 1)  # warm up
                    base = await _timed(http, site("/console/login?i={i}"), n, c)
                    queue = await _timed(http, site("/console/queue?page=1&i={i}"), n, c)
                    filtered = await _timed(
                        http,
                        site(
                            "/console/queue?type=tax_certificate&assignee=mine&verified=no&i={i}"
                        ),
                        n // 2,
                        c,
                    )
                    overdue = await _timed(
                        http, site("/console/queue?overdue=1&status=queued&i={i}"), n // 2, c
                    )
                    rnd = random.Random(3)
                    picks = [rnd.choice(numbers) for _ in range(n)]
                    case_lat: list[float] = []
                    for number in picks:
                        case_lat += await _timed(http, site(f"/console/cases/{number}"), 1, 1)
                    live = await _live_delay(http, site, rt, rnd.sample(numbers, args.changes), me)
            finally:
                await runner.cleanup()
        await rt.close()
    finally:
        await asyncio.to_thread(drop_pg_database, url)
    ms = lambda v: round(v * 1000, 2)  # noqa: E731
    base95 = _pct(base, 0.95)
    out = {
        "cases": args.cases,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "fill_s": round(fill_s, 2),
        "baseline_p95_ms": ms(base95),
        "queue_p95_ms": ms(_pct(queue, 0.95)),
        "queue_filtered_p95_ms": ms(_pct(filtered + overdue, 0.95)),
        "case_p95_ms": ms(_pct(case_lat, 0.95)),
        "queue_p50_ms": ms(_pct(queue, 0.5)),
        "case_p50_ms": ms(_pct(case_lat, 0.5)),
        "baseline_p50_ms": ms(_pct(base, 0.5)),
        "live_update_delay_ms": ms(statistics.median(live)),
        "live_update_delay_p95_ms": ms(_pct(live, 0.95)),
        "feed_interval_ms": 250,
    }
    for key in ("queue", "queue_filtered", "case"):
        out[f"{key}_vs_baseline"] = round(out[f"{key}_p95_ms"] / out["baseline_p95_ms"], 2)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1)
    result = asyncio.run(main(parser.parse_args()))
    for key, value in result.items():
        print(f"{key:28} {value}")
    print(json.dumps(result, ensure_ascii=False))

"""Benchmark of the case backend: open, submit, claim and complete N cases with W concurrent
workers, on SQLite and on PostgreSQL; and, in the same run, a raw single-row INSERT loop
(one row per transaction, same workers, same engine) as the baseline.

    python bench/desk.py [--cases 5000] [--workers 32] [--backends sqlite,postgres]
                         [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]

PostgreSQL runs in a freshly created database (random name, dropped afterwards); SQLite in a
temporary file. Prints a table, and as the LAST line one JSON object with every figure:
per backend and operation, ops/s and p50/p95 latency in ms, and the ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy import text

from desk.db import create_engine, session_factory
from desk.migrate import upgrade
from desk.runtime import DeskRuntime
from desk.services import Actor

OPS = ("open", "submit", "claim", "complete")
TAX_ID = "91310115MA1K3YJ12G"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q * (len(values) - 1))))
    return values[k]


def _stats(lat: list[float], wall: float) -> dict[str, float]:
    return {
        "n": len(lat),
        "ops_per_s": round(len(lat) / wall, 1) if wall else 0.0,
        "p50_ms": round(_pct(lat, 0.50) * 1000, 2),
        "p95_ms": round(_pct(lat, 0.95) * 1000, 2),
        "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else 0.0,
    }


async def _bench_desk(url: str, cases: int, workers: int) -> dict[str, Any]:
    await asyncio.to_thread(upgrade, url)
    rt = await asyncio.to_thread(DeskRuntime.create, url, pool_size=max(5, workers // 2 + 1))
    try:
        async with rt.sessions() as s:
            desk = rt.desk(s)
            staff = [(await desk.add_staff(f"bench{i}")).id for i in range(workers)]
            convs = []
            for i in range(workers):
                c = await desk.ensure_conversation("bench", f"u{i}", f"c{i}")
                convs.append((c.taxpayer_id, c.id))
        lat: dict[str, list[float]] = {op: [] for op in OPS}
        per_worker = [cases // workers + (1 if i < cases % workers else 0) for i in range(workers)]

        async def worker(i: int) -> None:
            taxpayer_id, conv_id = convs[i]
            for _ in range(per_worker[i]):
                t0 = time.perf_counter()
                async with rt.sessions() as s:
                    case = await rt.desk(s).open_case(
                        "tax_certificate",
                        taxpayer_id=taxpayer_id,
                        conversation_id=conv_id,
                        slots={"tax_period": "2025", "taxpayer_id": TAX_ID},
                        actor=Actor.taxpayer(taxpayer_id),
                    )
                    number = case.number
                t1 = time.perf_counter()
                async with rt.sessions() as s:
                    await rt.desk(s).submit(number)
                t2 = time.perf_counter()
                async with rt.sessions() as s:
                    await rt.desk(s).claim(number, staff[i])
                t3 = time.perf_counter()
                async with rt.sessions() as s:
                    await rt.desk(s).complete(number, staff[i], "已办结")
                t4 = time.perf_counter()
                lat["open"].append(t1 - t0)
                lat["submit"].append(t2 - t1)
                lat["claim"].append(t3 - t2)
                lat["complete"].append(t4 - t3)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(workers)))
        wall = time.perf_counter() - t0
        out: dict[str, Any] = {op: _stats(lat[op], wall) for op in OPS}
        out["cases_per_s"] = round(cases / wall, 1)
        out["wall_s"] = round(wall, 2)
        all_lat = [x for op in OPS for x in lat[op]]
        out["all_ops"] = _stats(all_lat, wall)
        return out
    finally:
        await rt.close()


async def _bench_raw(url: str, rows: int, workers: int) -> dict[str, Any]:
    """The baseline: single-row INSERT + COMMIT, the same number of transactions."""
    engine = create_engine(url, pool_size=max(5, workers // 2 + 1))
    sessions = session_factory(engine)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS bench_raw"))
            await conn.execute(
                text(
                    "CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)"
                    if engine.dialect.name == "sqlite"
                    else "CREATE TABLE bench_raw (id SERIAL PRIMARY KEY, payload TEXT NOT NULL)"
                )
            )
        lat: list[float] = []
        per_worker = [rows // workers + (1 if i < rows % workers else 0) for i in range(workers)]

        async def worker(i: int) -> None:
            for _ in range(per_worker[i]):
                t0 = time.perf_counter()
                async with sessions() as s:
                    await s.execute(
                        text("INSERT INTO bench_raw (payload) VALUES (:p)"), {"p": f"w{i}"}
                    )
                    await s.commit()
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(workers)))
        wall = time.perf_counter() - t0
        return {"insert": _stats(lat, wall), "wall_s": round(wall, 2)}
    finally:
        await engine.dispose()


async def _pg_admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run_backend(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    if name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}"
        cleanup = None
    else:
        base = args.pg_url.rsplit("/", 1)[0]
        db = f"desk_bench_{secrets.token_hex(5)}"
        admin_dsn = args.pg_url.replace("+asyncpg", "")
        await _pg_admin(admin_dsn, f'CREATE DATABASE "{db}"')
        url = f"{base}/{db}"
        cleanup = (admin_dsn, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    try:
        desk = await _bench_desk(url, args.cases, args.workers)
        raw = await _bench_raw(url, args.cases * len(OPS), args.workers)
    finally:
        if cleanup:
            await _pg_admin(*cleanup)
    base_ops = raw["insert"]["ops_per_s"] or 1.0
    base_p95 = raw["insert"]["p95_ms"] or 1.0
    ratios = {
        op: {
            "ops_per_s_vs_insert": round(desk[op]["ops_per_s"] / base_ops, 3),
            "p95_vs_insert": round(desk[op]["p95_ms"] / base_p95, 2),
        }
        for op in (*OPS, "all_ops")
    }
    return {"desk": desk, "baseline": raw, "ratios": ratios}


def _print_table(name: str, r: dict[str, Any]) -> None:
    print(f"\n== {name}: {r['desk']['cases_per_s']} cases/s (wall {r['desk']['wall_s']} s)")
    print(f"{'operation':<12}{'ops/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'x insert/s':>12}")
    for op in (*OPS, "all_ops"):
        d = r["desk"][op]
        print(
            f"{op:<12}{d['ops_per_s']:>10}{d['p50_ms']:>10}{d['p95_ms']:>10}"
            f"{r['ratios'][op]['ops_per_s_vs_insert']:>12}"
        )
    b = r["baseline"]["insert"]
    print(f"{'raw insert':<12}{b['ops_per_s']:>10}{b['p50_ms']:>10}{b['p95_ms']:>10}{1:>12}")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "bench": "desk",
        "cases": args.cases,
        "workers": args.workers,
    }
    with tempfile.TemporaryDirectory(prefix="desk-bench-") as tmp:
        for name in args.backends.split(","):
            results[name] = await run_backend(name.strip(), args, Path(tmp))
            _print_table(name, results[name])
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    results = asyncio.run(main_async(args))
    print(json.dumps(results, ensure_ascii=False, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

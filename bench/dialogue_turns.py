"""Dialogue engine throughput alone (no channel, no database): 64 concurrent chats each run
the §2 correction flow with a scripted NLU and an in-memory desk and tracker store.
Prints turns/s and p50/p95 turn latency. Run: `python -m bench.dialogue_turns [--real-nlu]`."""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

from actions.channel import InboundFile, InboundMessage
from actions.domain import Domain
from actions.engine import DialogueEngine
from actions.stores import InMemoryTrackerStore
from testing.dialogue import FakeGateway, FakeInterpreter, FakeNormalizers, parse

GOOD_ID = "91650100MA78ABCD1A"
SCRIPT: dict[str, dict[str, Any]] = {
    "我想改一下申报数据": parse("request_correction"),
    "个税，今年一季度": parse("provide_info", tax_type="iit", tax_period="2026-Q1"),
    GOOD_ID: parse("provide_info", taxpayer_id=GOOD_ID),
    "周六大厅开门吗": parse("faq_office_hours"),
}


async def chat_flow(engine: DialogueEngine, chat_id: str, latencies: list[float]) -> int:
    steps: list[InboundMessage] = [
        InboundMessage("bench", chat_id, chat_id, text="我想改一下申报数据"),
        InboundMessage("bench", chat_id, chat_id, text="周六大厅开门吗"),
        InboundMessage("bench", chat_id, chat_id, text="个税，今年一季度"),
        InboundMessage("bench", chat_id, chat_id, text=GOOD_ID),
        InboundMessage(
            "bench",
            chat_id,
            chat_id,
            text="承诺书和发票",
            files=tuple(InboundFile(i, "image/jpeg", None, 1) for i in range(3)),
        ),
        InboundMessage("bench", chat_id, chat_id, text="/submit_case", is_button=True),
    ]
    for msg in steps:
        start = time.perf_counter()
        replies = await engine.handle(msg)
        latencies.append(time.perf_counter() - start)
        assert replies
    return len(steps)


async def main(chats: int, rounds: int, real_nlu: bool) -> None:
    interpreter: Any = FakeInterpreter(SCRIPT)
    normalizers: Any = FakeNormalizers()
    if real_nlu:
        from actions.validation import NluNormalizers
        from nlu.interpreter import Interpreter

        interpreter = Interpreter.load(Path("models"))
        normalizers = NluNormalizers()
    engine = DialogueEngine(
        interpreter,
        FakeGateway(lambda: date(2026, 11, 27)),
        InMemoryTrackerStore(),
        Domain.load("data"),
        normalizers=normalizers,
        rng=random.Random(1),
    )
    latencies: list[float] = []
    start = time.perf_counter()
    turns = 0
    for r in range(rounds):
        done = await asyncio.gather(
            *(chat_flow(engine, f"{r}-{i}", latencies) for i in range(chats))
        )
        turns += sum(done)
    elapsed = time.perf_counter() - start
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(
        f"dialogue turns: {turns} in {elapsed:.2f}s = {turns / elapsed:,.0f} turns/s "
        f"({chats} concurrent chats, {'real NLU' if real_nlu else 'scripted NLU'})"
    )
    print(
        f"turn latency p50 {statistics.median(latencies) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--real-nlu", action="store_true", help="use the newest model in models/")
    args = parser.parse_args()
    asyncio.run(main(args.chats, args.rounds, args.real_nlu))

"""Web-chat turn latency: POST a text to /chat/send → the first reply event on the page's own
stream (/chat/events), over HTTP on 127.0.0.1, the real dialogue and NLU model, the desk on
SQLite (or `--database-url`). Baseline in the same run: `engine.handle` called directly on the
same container (tracker in the same database), turn for turn interleaved with the web ones.

A third figure splits the difference: the channel called without HTTP
(`WebChatChannel.text`: the inbound row stored, the turn, the replies stored).

Prints p50/p95, the ratio, and one JSON line: `webchat_turn_p50_ms`, `webchat_turn_p95_ms`,
`engine_turn_p50_ms` (+ `engine_turn_p95_ms`, `channel_turn_p50_ms`, `webchat_post_p50_ms`,
`ratio_p50`, `turns`).

Run: `.venv/bin/python bench/webchat.py [--turns 60] [--models models/] [--database-url URL]`
(without a model in `--models`, one is trained from data/ into a temporary directory).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):  # run as `python bench/webchat.py`: the repository, not bench/
    sys.path[0:1] = [str(Path(__file__).resolve().parents[1])]

from actions.channel import InboundMessage
from app.container import build_container
from console.webchat.routes import channel_of
from desk.migrate import upgrade
from testing.app import bot_settings
from testing.samples import GOOD_ID
from testing.web import serve

ROOT = Path(__file__).resolve().parents[1]
#: One chat's turns (a new chat after the last): greeting, FAQ, the correction form, cancel.
FLOW = ["你好", "周六大厅开门吗", "我想改一下申报数据", "增值税，2026年10月", GOOD_ID, "取消"]


def load_interpreter(models: Path) -> Any:
    """The newest model in `models`, or one trained from data/ into a temporary directory."""
    from nlu.interpreter import Interpreter
    from nlu.model_store import train_model

    if not models.is_dir() or not any(models.glob("*/")):
        models = Path(tempfile.mkdtemp(prefix="webchat-bench-models-"))
        train_model([ROOT / "data"], ROOT / "config.yml", models)
    return Interpreter.load(models, ROOT / "config.yml")


class Browser:
    """One chat page: a cookie session, its CSRF token and its open stream."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.token = ""
        self.replies: asyncio.Queue[float] = asyncio.Queue()
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        async with self.http.get(self.url + "/chat") as resp:
            html = await resp.text()
        found = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert found, "no CSRF token on the page"
        self.token = found.group(1)
        ready = asyncio.Event()
        self.reader = asyncio.create_task(self._read(ready))
        await asyncio.wait_for(ready.wait(), 10)

    async def _read(self, ready: asyncio.Event) -> None:
        async with self.http.get(self.url + "/chat/events") as resp:
            event = ""
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "" and '"dir": "out"' in line:
                    self.replies.put_nowait(time.perf_counter())
                elif line == "":
                    if event == "ready":
                        ready.set()
                    event = ""

    async def turn(self, text: str) -> tuple[float, float]:
        """Seconds from the POST to the first reply event, and to the POST's answer."""
        while not self.replies.empty():
            self.replies.get_nowait()
        start = time.perf_counter()
        async with self.http.post(
            self.url + "/chat/send", json={"text": text}, headers={"X-CSRF-Token": self.token}
        ) as resp:
            assert resp.status == 200, await resp.text()
            answered = time.perf_counter()
            first = await asyncio.wait_for(self.replies.get(), 30)
        return first - start, answered - start

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        await self.http.close()


@contextlib.asynccontextmanager
async def site(database_url: str | None, interpreter: Any) -> AsyncIterator[Any]:
    with tempfile.TemporaryDirectory(prefix="webchat-bench-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        await asyncio.to_thread(upgrade, url)
        settings = bot_settings(database_url=url, data_dir=Path(tmp) / "var")
        async with build_container(settings, interpreter=interpreter) as container:
            async with serve(container) as served:
                yield served


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def run(turns: int, models: Path, database_url: str | None) -> dict[str, Any]:
    interpreter = await asyncio.to_thread(load_interpreter, models)
    web: list[float] = []
    direct: list[float] = []
    stored: list[float] = []
    posts: list[float] = []
    async with site(database_url, interpreter) as served:
        engine = served.container.engine
        await engine.handle(InboundMessage("bench", "warm-up", "warm-up", text="你好"))
        browser: Browser | None = None
        try:
            for i in range(turns):
                step = i % len(FLOW)
                if step == 0:
                    if browser is not None:
                        await browser.close()
                    browser = Browser(served.url)
                    await browser.open()
                assert browser is not None
                seen, answered = await browser.turn(FLOW[step])
                web.append(seen)
                posts.append(answered)
                chat = f"engine-{i // len(FLOW)}"
                await asyncio.sleep(0.05)  # the stream's reads after the web turn settle
                start = time.perf_counter()
                await engine.handle(InboundMessage("bench", chat, chat, text=FLOW[step]))
                direct.append(time.perf_counter() - start)
                await asyncio.sleep(0.05)
                start = time.perf_counter()  # the channel without HTTP: stores in and out
                await channel_of(served.deps).text(f"channel-{i // len(FLOW)}", FLOW[step])
                stored.append(time.perf_counter() - start)
        finally:
            if browser is not None:
                await browser.close()
    return {
        "webchat_turn_p50_ms": round(pct(web, 0.5), 1),
        "webchat_turn_p95_ms": round(pct(web, 0.95), 1),
        "engine_turn_p50_ms": round(pct(direct, 0.5), 1),
        "engine_turn_p95_ms": round(pct(direct, 0.95), 1),
        "channel_turn_p50_ms": round(pct(stored, 0.5), 1),
        "webchat_post_p50_ms": round(pct(posts, 0.5), 1),
        "ratio_p50": round(statistics.median(web) / statistics.median(direct), 2),
        "turns": turns,
        "database": "postgresql" if database_url and "postgres" in database_url else "sqlite",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    result = asyncio.run(run(args.turns, args.models, args.database_url))
    print(
        f"web chat turn (POST → reply event): p50 {result['webchat_turn_p50_ms']} ms, "
        f"p95 {result['webchat_turn_p95_ms']} ms"
    )
    print(
        f"engine.handle alone: p50 {result['engine_turn_p50_ms']} ms, "
        f"p95 {result['engine_turn_p95_ms']} ms; ratio p50 {result['ratio_p50']}"
    )
    channel_p50 = result["channel_turn_p50_ms"]
    print(f"web chat channel without HTTP (stores in and out): p50 {channel_p50} ms")
    print(f"the POST's own answer (after the turn): p50 {result['webchat_post_p50_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

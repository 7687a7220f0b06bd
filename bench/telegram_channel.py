"""Telegram channel benchmark: updates/s and reply latency through the real Dispatcher.

    python bench/telegram_channel.py [--updates 3000] [--chats 64] [--mode polling|webhook]

Both runs use the local Bot API server of `tests/botapi_server.py` (same process) and long
polling (or the webhook): first bare aiogram echo (one handler answering the text), then
taxdesk's Telegram pipeline (store update, private-chat router, per-chat turn lock, echo
dialogue, reply sender) with in-memory stores. The rate limiter is opened up, since real
per-chat limits (1 msg/s) would make this measure the limiter. `bench/inbound.py` can call
`measure()` with real adapters (PostgreSQL, NLU, dialogue) for the full pipeline.

Figures are printed, never asserted: the machine is shared, so read ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.types import Message

from app.container import Container
from app.runners import TelegramService
from app.settings import Settings
from bot.sender import RateLimiter
from testing.botapi_server import BotAPIServer
from testing.echo import EchoDialogue
from testing.memory import MemoryFileIntake, MemoryInboundStore

Runner = Callable[[BotAPIServer], Awaitable[Callable[[], Awaitable[None]]]]


async def _bare_echo(server: BotAPIServer) -> Callable[[], Awaitable[None]]:
    bot = Bot(server.token, session=AiohttpSession(api=server.api_server()))
    dp = Dispatcher()

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))

    async def stop() -> None:
        await dp.stop_polling()
        await task
        await bot.session.close()

    return stop


def pipeline(deps_factory: Callable[[Settings], Container], mode: str = "polling") -> Runner:
    """A runner for taxdesk's pipeline with the given services."""

    async def start(server: BotAPIServer) -> Callable[[], Awaitable[None]]:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            telegram_bot_token=server.token,
            telegram_api_url=server.url,
            redis_url=None,
            webhook_url=None,
        )
        unlimited = RateLimiter(global_rate=1e9, chat_rate=1e9, chat_burst=1e9)
        container = deps_factory(settings)
        container.typing_delay = 5.0
        container.limiter = unlimited
        service = TelegramService(container)
        if mode == "webhook":
            port = await service.serve_webhook(host="127.0.0.1", port=0)
            await service.register_webhook(f"http://127.0.0.1:{port}{service.webhook_path}")
            task = None
        else:
            task = asyncio.create_task(service.run_polling())

        async def stop() -> None:
            if task is not None:
                await service.stop_polling()
                await task
            else:
                await service.stop_webhook(unregister=True)
            await service.close()

        return stop

    return start


def memory_deps(settings: Settings) -> Container:
    """Echo dialogue and in-memory stores."""
    return Container(settings, EchoDialogue(), MemoryInboundStore(), MemoryFileIntake())


async def measure(runner: Runner, updates: int, chats: int) -> dict[str, Any]:
    """Push `updates` texts round-robin over `chats` private chats; updates/s until the last
    reply, and reply latency percentiles (push to reply recorded by the server)."""
    server = BotAPIServer(max_long_poll=1.0)
    await server.start()
    stop = await runner(server)
    try:
        await asyncio.sleep(0.2)
        pushed: dict[str, float] = {}
        t0 = time.monotonic()
        for i in range(updates):
            chat = 10_000 + i % chats
            text = f"m{i}"
            pushed[text] = time.monotonic()
            server.user_sends_text(chat, text)
            if i % 200 == 199:
                await asyncio.sleep(0)  # let the bot start while we push
        deadline = time.monotonic() + 120
        while sum(len(server.sent_messages(10_000 + c)) for c in range(chats)) < updates:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - t0
        latencies = []
        for c in range(chats):
            for m in server.sent_messages(10_000 + c):
                key = (m.text or "").removeprefix("echo: ")
                if key in pushed:
                    latencies.append((m.sent_at - pushed[key]) * 1000)
    finally:
        await stop()
        await server.close()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "updates": updates,
        "replied": len(latencies),
        "updates_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(q[49], 1),
        "p95_ms": round(q[94], 1),
    }


async def measure_in_process(updates: int, chats: int, *, bare: bool) -> dict[str, Any]:
    """Without HTTP: updates fed straight to the Dispatcher (a mocked bot session answers),
    `chats` turns in flight at a time. Shows the pipeline's own cost per update."""
    from aiogram.types import Update

    from app.telegram import create_dispatcher
    from testing.mocked_bot import MockedBot

    bot = MockedBot()
    if bare:
        dp = Dispatcher()

        @dp.message(F.text)
        async def echo(message: Message) -> None:
            await message.answer(f"echo: {message.text}")
    else:
        settings = Settings(_env_file=None, redis_url=None)  # type: ignore[call-arg]
        unlimited = RateLimiter(global_rate=1e9, chat_rate=1e9, chat_burst=1e9)
        container = memory_deps(settings)
        container.typing_delay = 5.0
        container.limiter = unlimited
        dp = create_dispatcher(container, bot)

    def update(i: int) -> Update:
        chat = 10_000 + i % chats
        return Update.model_validate(
            {
                "update_id": i + 1,
                "message": {
                    "message_id": i + 1,
                    "date": 0,
                    "chat": {"id": chat, "type": "private"},
                    "from": {"id": chat, "is_bot": False, "first_name": "u"},
                    "text": f"m{i}",
                },
            }
        )

    latencies: list[float] = []
    prepared = [update(i) for i in range(updates)]

    async def one(i: int) -> None:
        t = time.perf_counter()
        await dp.feed_update(bot, prepared[i])
        latencies.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    for start in range(0, updates, chats):
        await asyncio.gather(*(one(i) for i in range(start, min(updates, start + chats))))
    elapsed = time.perf_counter() - t0
    q = statistics.quantiles(sorted(latencies), n=100)
    return {
        "updates": updates,
        "replied": len(bot.session.requests),
        "updates_per_s": round(updates / elapsed, 1),
        "p50_ms": round(q[49], 2),
        "p95_ms": round(q[94], 2),
    }


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=64)
    parser.add_argument("--mode", choices=["polling", "webhook"], default="polling")
    args = parser.parse_args(argv)
    bare = await measure(_bare_echo, args.updates, args.chats)
    print(f"bare aiogram echo (polling): {bare}")
    ours = await measure(pipeline(memory_deps, args.mode), args.updates, args.chats)
    print(f"taxdesk telegram pipeline, memory stores ({args.mode}): {ours}")
    ratio = ours["updates_per_s"] / bare["updates_per_s"] if bare["updates_per_s"] else 0.0
    bare_ip = await measure_in_process(args.updates, args.chats, bare=True)
    print(f"bare aiogram echo, no HTTP: {bare_ip}")
    ours_ip = await measure_in_process(args.updates, args.chats, bare=False)
    print(f"taxdesk telegram pipeline, no HTTP: {ours_ip}")
    result = {
        "bare_echo": bare,
        "pipeline": ours,
        "ratio": round(ratio, 2),
        "bare_echo_no_http": bare_ip,
        "pipeline_no_http": ours_ip,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    asyncio.run(main())

"""A running `main.py bot` process follows the active model without a restart: another
process (here the test, as the studio would) activates a model in the shared store and the
bot's next answer uses it; a rollback brings the earlier answer back. Told by Redis pub/sub
when `REDIS_URL` is set, found by its 2 s check of `models/ACTIVE` without Redis."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from nlu.active import activate, pin, rollback
from nlu.live import announce
from nlu.model_store import train_model
from testing.app import main_process, stop_main
from testing.botapi_server import BotAPIServer
from testing.studio import CONFIG, first_model, small_data

ROOT = Path(__file__).resolve().parents[2]
TEXT = "办事大厅能停车吗"  # taught below as faq_office_hours, whose answer names 9:30


def _store(tmp_path: Path) -> tuple[Path, str, str]:
    """A model store whose active model does not know TEXT, beside a newer one that does."""
    data = small_data(tmp_path / "data")
    models = tmp_path / "models"
    old = first_model(data, models)
    with (data / "nlu.yml").open("a", encoding="utf-8") as f:
        block = f"    - {TEXT}\n    - 大厅门口能停车吗\n"
        f.write(f"- intent: faq_office_hours\n  examples: |\n{block}")
    pin(models)  # as the studio's training does: the new model is not active by being newest
    new = train_model([data], CONFIG, models).model_dir
    return models, old.name, new.name


async def _answer(server: BotAPIServer, chat: int) -> str:
    before = len(server.sent_messages(chat))
    server.user_sends_text(chat, TEXT)
    got = await server.wait_for_messages(chat, before + 1, timeout=30)
    return "\n".join(m.text or "" for m in got[before:])


@pytest.mark.slow  # trains two models, runs `main.py bot` in a subprocess
async def test_a_running_bot_process_follows_activation_told_by_redis(
    tmp_path: Path, botapi: BotAPIServer, redis_url: str
) -> None:
    await _follows(tmp_path, botapi, redis_url)


@pytest.mark.slow
async def test_a_running_bot_process_without_redis_finds_the_activation(
    tmp_path: Path, botapi: BotAPIServer
) -> None:
    await _follows(tmp_path, botapi, None)


async def _follows(tmp_path: Path, server: BotAPIServer, redis_url: str | None) -> None:
    """Activation, then rollback, seen by a `main.py bot` process (see the module)."""
    models, old, new = await asyncio.to_thread(_store, tmp_path)
    chat = 10**9 + secrets.randbelow(10**8)  # its own tracker key in the shared Redis
    try:
        async with main_process(
            server, tmp_path, models, "bot", "--no-worker", redis_url=redis_url
        ) as proc:
            await _in_the_running_bot(server, chat, proc, models, old, new, redis_url)
    finally:
        if redis_url:
            from redis.asyncio import Redis

            client = Redis.from_url(redis_url)
            try:
                keys = [k async for k in client.scan_iter(match=f"*{chat}*")]
                if keys:
                    await client.delete(*keys)
            finally:
                await client.aclose()


async def _in_the_running_bot(
    server: BotAPIServer,
    chat: int,
    proc: asyncio.subprocess.Process,
    models: Path,
    old: str,
    new: str,
    redis_url: str | None,
) -> None:
    assert "9:30" not in await _answer(server, chat)  # the active model does not know it

    await asyncio.to_thread(activate, models, new, by="test")
    await asyncio.to_thread(announce, models, redis_url)
    # the bot learns it within its check interval (2 s) or at once by Redis
    await asyncio.sleep(0.5 if redis_url else 3.0)
    assert "9:30" in await _answer(server, chat)

    assert (await asyncio.to_thread(rollback, models, by="test")).name == old
    await asyncio.to_thread(announce, models, redis_url)
    await asyncio.sleep(0.5 if redis_url else 3.0)
    assert "9:30" not in await _answer(server, chat)
    await stop_main(proc)

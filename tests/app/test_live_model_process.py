"""A running `main.py bot` process follows the active model without a restart: another
process (here the test, as the studio would) activates a model in the shared store and the
bot's next answer uses it; a rollback brings the earlier answer back. Told by Redis pub/sub
when `REDIS_URL` is set, found by its 2 s check of `models/ACTIVE` without Redis."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path

import pytest

from desk.migrate import upgrade
from nlu.active import activate, pin, rollback
from nlu.live import announce
from nlu.model_store import train_model
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
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    await asyncio.to_thread(upgrade, url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.pop("REDIS_URL", None)
    env.update(
        TAXDESK_DATA_DIR=str(tmp_path / "var"),
        DATABASE_URL=url,
        TAXDESK_MODELS_DIR=str(models),
        TELEGRAM_BOT_TOKEN=server.token,
        TELEGRAM_API_URL=server.url,
        TAXDESK_LOG_LEVEL="WARNING",
        **({"REDIS_URL": redis_url} if redis_url else {}),
    )
    chat = 10**9 + secrets.randbelow(10**8)  # its own tracker key in the shared Redis
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "bot",
        "--no-worker",
        cwd=str(ROOT),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await server.wait_until(lambda: bool(server.calls_of("getUpdates")), timeout=60)
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

        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if redis_url:
            from redis.asyncio import Redis

            client = Redis.from_url(redis_url)
            try:
                keys = [k async for k in client.scan_iter(match=f"*{chat}*")]
                if keys:
                    await client.delete(*keys)
            finally:
                await client.aclose()

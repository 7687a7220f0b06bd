"""The studio's tests: a small copy of the office's NLU data (fast to train), a model store
with one model trained from it, and a running Telegram bot on the local Bot API server (the
bot process that must follow what the admin changes, without a restart)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from app.container import Container
from nlu.model_store import train_model
from nlu.training_data import Example, load_training_data, training_data_to_yaml
from testing.botapi_server import BotAPIServer

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config.yml"


def small_data(dest: Path, per_intent: int = 12) -> Path:
    """`dest/nlu.yml`: the first `per_intent` examples of each intent of data/nlu.yml, beside
    copies of the dialogue's files (domain, rules, case types, FAQ) for the YAML pages."""
    data = load_training_data([ROOT / "data" / "nlu.yml"])
    kept: dict[str, list[Example]] = defaultdict(list)
    for ex in data.examples:
        if len(kept[ex.intent]) < per_intent:
            kept[ex.intent].append(ex)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "nlu.yml").write_text(
        training_data_to_yaml([e for group in kept.values() for e in group]), encoding="utf-8"
    )
    for name in ("domain.yml", "rules.yml", "case_types.yml", "faq.yml", "office.yml"):
        (dest / name).write_text((ROOT / "data" / name).read_text(encoding="utf-8"))
    return dest


def studio_on(site: Any, root: Path) -> Any:
    """A studio over `small_data(root / "studio-data")` and an empty model store, served by
    the already running `site` (its `deps.extra["studio"]`); returns its `StudioConfig`."""
    from console.studio import StudioConfig

    studio = StudioConfig(
        data_dir=small_data(root / "studio-data"),
        config_path=CONFIG,
        models_dir=root / "studio-models",
    )
    site.deps.extra["studio"] = studio
    return studio


def first_model(data_dir: Path, models_dir: Path) -> Path:
    """Train the store's first model from `data_dir` (blocking)."""
    return train_model([data_dir], CONFIG, models_dir).model_dir


@contextlib.asynccontextmanager
async def telegram_bot(container: Container) -> AsyncIterator[Container]:
    """A running Telegram bot of `container` (long polling against the Bot API server its
    settings name, with the outbox worker beside it, as `main.py bot` runs it) until the
    block ends."""
    from testing.app import start_telegram

    stop, task = await start_telegram(container)
    try:
        yield container
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def telegram_answer(
    server: BotAPIServer,
    chat: int,
    text: str,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> str:
    """A Telegram user writes `text` to the running bot in private chat `chat`; the text
    of the bot's first message in answer."""
    before = len(server.sent_messages(chat))
    server.user_sends_text(chat, text)
    sent = await server.wait_for_messages(chat, before + 1, timeout=timeout)
    return sent[before].text or ""

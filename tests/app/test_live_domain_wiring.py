"""Every process built by `build_container` (bot, worker, web) follows the dialogue files:
an edited case type reaches the engine's domain and the desk's catalog of each container
without a restart, from the files' check alone; and with REDIS_URL a published change is
picked up at once, long before the next check."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from actions.live import CHANNEL
from app.container import DATA_DIR
from testing.app import MakeContainer, bot_settings
from testing.waits import wait_for

OLD = "title: {zh_hans: 完税证明, zh_hant: 完稅證明}"
NEW = "title: {zh_hans: 纳税证明, zh_hant: 納稅證明}"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    dest = (tmp_path / "data").resolve()
    shutil.copytree(DATA_DIR, dest, ignore=shutil.ignore_patterns("nlu*.yml", "calendar"))
    return dest


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_each_process_follows_an_edited_case_type(
    data: Path, tmp_path: Path, database_url: str, make_container: MakeContainer
) -> None:
    settings = bot_settings(database_url=database_url, data_dir=tmp_path / "var")
    bot = await make_container(settings, dialogue_dir=data, domain_interval=0.1)
    worker = await make_container(settings, dialogue_dir=data, domain_interval=0.1)
    path = data / "case_types.yml"
    path.write_text(path.read_text(encoding="utf-8").replace(OLD, NEW), encoding="utf-8")

    for container in (bot, worker):
        engine = container.dialogue_engine
        runtime = container.runtime
        assert engine is not None and runtime is not None
        await wait_for(
            lambda e=engine: e.domain.case_types["tax_certificate"].title.zh_hans == "纳税证明",
            timeout=10,
            message="the engine's domain",
        )
        assert runtime.catalog.get("tax_certificate").title.zh_hans == "纳税证明"
        assert container.live_domain is not None and container.live_domain.reloads == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_removed_case_type_stays_readable_by_the_desk(
    data: Path, tmp_path: Path, database_url: str, make_container: MakeContainer
) -> None:
    """Its existing cases still show; the dialogue no longer opens it."""
    settings = bot_settings(database_url=database_url, data_dir=tmp_path / "var")
    bot = await make_container(settings, dialogue_dir=data, domain_interval=0.1)
    path = data / "case_types.yml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  tax_certificate:\n")
    end = text.index("\n  ", text.index("sla_working_days", start)) + 1
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    engine, runtime = bot.dialogue_engine, bot.runtime
    assert engine is not None and runtime is not None
    await wait_for(lambda: "tax_certificate" not in engine.domain.case_types, timeout=10)
    assert engine.domain.case_type_for_intent("request_tax_certificate") is None
    assert runtime.catalog.get("tax_certificate").title.zh_hans == "完税证明"
    assert list(runtime.catalog)[-1].key == "tax_certificate"  # after the file's own


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_published_change_is_picked_up_before_the_next_check(
    data: Path, tmp_path: Path, database_url: str, make_container: MakeContainer, redis_url: str
) -> None:
    settings = bot_settings(
        database_url=database_url, data_dir=tmp_path / "var", redis_url=redis_url
    )
    bot = await make_container(settings, dialogue_dir=data, domain_interval=60)
    live = bot.live_domain
    assert live is not None
    await asyncio.sleep(0.5)  # the watcher has subscribed
    path = data / "case_types.yml"
    path.write_text(path.read_text(encoding="utf-8").replace(OLD, NEW), encoding="utf-8")
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:  # what `announce` publishes from another process
        await client.publish(CHANNEL, str(data))
    finally:
        await client.aclose()
    await wait_for(lambda: live.reloads == 1, timeout=10, message="woken by the message")
    assert bot.runtime is not None
    assert bot.runtime.catalog.get("tax_certificate").title.zh_hans == "纳税证明"

"""The studio in a real browser: an admin finds a message the bot fell back on in the review
inbox, assigns it to an intent, trains, sees the evaluation, activates, and the running
dialogue's interpreter now parses the text to that intent without a restart; rollback
restores the previous answer. Masked taxpayer phone numbers; the supervisor/staff rule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from actions.channel import InboundMessage
from console.studio import StudioConfig
from nlu.interpreter import Interpreter
from nlu.live import LiveInterpreter
from testing.app import MakeContainer, bot_settings
from testing.studio import CONFIG, first_model, small_data
from testing.waits import wait_for
from testing.web import Site, add_account, desktop, login, phone, serve

TEXT = "办事大厅能停车吗"
WITH_PHONE = "我电话13912345678 社保断缴了咋办"


@pytest.fixture
async def studio_site(
    tmp_path: Path, web_database: str, make_container: MakeContainer
) -> AsyncIterator[tuple[Site, StudioConfig, LiveInterpreter]]:
    data = small_data(tmp_path / "data")
    models = tmp_path / "models"
    await asyncio.to_thread(first_model, data, models)
    live = LiveInterpreter(Interpreter.load(models, CONFIG), models, interval=0.5).start()
    settings = bot_settings(
        database_url=web_database, data_dir=tmp_path / "var", models_dir=models
    )
    container = await make_container(settings, interpreter=live)
    studio = StudioConfig(data_dir=data, config_path=CONFIG, models_dir=models)
    try:
        async with serve(container, extra={"studio": studio}) as site:
            yield site, studio, live
    finally:
        await live.aclose()


async def _intent(live: LiveInterpreter, text: str) -> str:
    return str((await live.aparse(text))["intent"]["name"])


async def test_admin_teaches_a_fallback_message_and_activates_without_restart(
    studio_site: tuple[Site, StudioConfig, LiveInterpreter], browser: Any
) -> None:
    site, studio, live = studio_site
    engine = site.container.engine
    assert engine.interpreter is live  # type: ignore[attr-defined]
    assert await _intent(live, TEXT) == "nlu_fallback"
    for i, text in enumerate([TEXT, WITH_PHONE]):  # the real dialogue files its fallbacks
        await engine.handle(InboundMessage("web", f"s{i}", f"s{i}", text=text))
    await add_account(site, "赵管理", "admin", login="admin")
    page = await desktop(browser)
    await login(page, site, "admin")

    await page.goto(site("/console/studio/review"))
    inbox = await page.inner_text("main")
    assert TEXT in inbox and "13912345678" not in inbox  # the phone number is masked
    item = page.locator(".review-item", has_text=TEXT)
    await item.locator("select[name=intent]").select_option("faq_office_hours")
    async with page.expect_navigation():
        await item.locator("button[value=assign]").click()
    assert "已归入意图 faq_office_hours" in await page.inner_text("main")
    assert TEXT not in await page.inner_text(".review-group >> nth=0")
    assert f"- {TEXT}" in (studio.data_dir / "nlu.yml").read_text()  # Rasa YAML under data/

    await page.goto(site("/console/studio/models"))
    async with page.expect_navigation():
        await page.click("#train")
    # the page follows the job (polling) and reloads when it is done
    await page.wait_for_selector(".evaluation .new-accuracy", timeout=120_000)
    evaluation = await page.inner_text(".evaluation")
    assert "宏 F1" in evaluation and "F1 · faq_office_hours" in evaluation
    image = await page.request.get(
        site(await page.get_attribute("img.confusion", "src") or "/missing")
    )
    assert image.status == 200 and image.headers["content-type"] == "image/png"
    assert await _intent(live, TEXT) == "nlu_fallback"  # trained, not active yet

    async with page.expect_navigation():
        await page.click("tr:not(:has(.active-mark)) button.activate >> nth=0")
    assert "已启用模型" in await page.inner_text("main")
    await wait_for(lambda: live.reloads >= 1, timeout=20, message="the new model loaded")
    assert await _intent(live, TEXT) == "faq_office_hours"
    # and a taxpayer in the running web chat gets the office-hours answer, no restart
    chat = await phone(browser)
    await chat.goto(site("/chat"))
    answers = chat.locator("article.msg-bot")
    await chat.fill("#text", TEXT)
    await chat.click("#send")
    await expect(answers.last).to_contain_text("9:30", timeout=20_000)

    async with page.expect_navigation():
        await page.click("#rollback")
    assert "已回滚到模型" in await page.inner_text("main")
    await wait_for(lambda: live.reloads >= 2, timeout=20, message="rolled back")
    assert await _intent(live, TEXT) == "nlu_fallback"
    shown = await answers.count()
    await chat.fill("#text", TEXT)  # the web chat's answer is the earlier one again
    await chat.click("#send")
    await expect(answers).not_to_have_count(shown, timeout=20_000)
    assert "9:30" not in await answers.last.inner_text()


async def test_staff_cannot_open_the_studio_and_yaml_edits_are_validated(
    studio_site: tuple[Site, StudioConfig, LiveInterpreter], browser: Any
) -> None:
    site, studio, _live = studio_site
    await add_account(site, "钱办税", "staff", login="staff")
    await add_account(site, "赵管理", "admin", login="admin")
    page = await desktop(browser)
    await login(page, site, "staff")
    response = await page.goto(site("/console/studio/review"))
    assert response is not None and response.status == 403

    admin = await desktop(browser)
    await login(admin, site, "admin")
    before = (studio.data_dir / "case_types.yml").read_text()
    await admin.goto(site("/console/studio/files/case_types"))
    await admin.fill("textarea[name=content]", "case_types:\n  broken: 1\n")
    async with admin.expect_navigation():
        await admin.click("main button[type=submit]")
    assert "未保存" in await admin.inner_text("main")
    assert (studio.data_dir / "case_types.yml").read_text() == before  # nothing written

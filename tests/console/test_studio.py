"""The studio in a real browser: an admin finds a message the bot fell back on in the review
inbox, assigns it to an intent, trains, sees the evaluation, activates, and the running
dialogue's interpreter now parses the text to that intent without a restart, in the web chat
and in a running Telegram bot; rollback restores the previous answer. An admin teaches a
brand-new intent (examples, its answer in the FAQ page, training, activation) and both
channels answer a paraphrase with it, no restart; the odd paths (a broken FAQ file, an answer
before any model knows the intent, a rename of an intent that has an answer) say what is
true. Masked taxpayer phone numbers; the supervisor/staff rule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from actions.channel import InboundMessage
from app.container import Container
from console.studio import StudioConfig
from nlu.interpreter import Interpreter
from nlu.live import LiveInterpreter
from testing.app import MakeContainer, bot_settings
from testing.botapi_server import BotAPIServer, MakeBotAPI
from testing.studio import CONFIG, first_model, small_data, telegram_answer, telegram_bot
from testing.waits import wait_for
from testing.web import Site, add_account, bot_said, desktop, login, phone, say, serve

TEXT = "办事大厅能停车吗"
WITH_PHONE = "我电话13912345678 社保断缴了咋办"
PARKING_EXAMPLES = ["办事大厅能停车吗", "停车场在哪里", "开车去大厅停哪里", "大厅有没有停车位"]
PARAPHRASE = "附近有停车的地方吗"  # no example says it
PARKING = "办税服务厅东侧有免费停车场，可停放约 60 辆车。"


@dataclass
class Studio:
    """The web process (console, studio, web chat) and a separate running Telegram bot
    process (its own container: engine, interpreter and domain), over the same database,
    data directory and model store, as `main.py console` and `main.py bot` run."""

    site: Site
    studio: StudioConfig
    live: LiveInterpreter  # the web process's interpreter
    server: BotAPIServer
    bot: Container
    bot_live: LiveInterpreter  # the bot process's interpreter

    async def telegram(self, chat: int, text: str) -> str:
        return await telegram_answer(self.server, chat, text)


@pytest.fixture
async def studio_site(
    tmp_path: Path,
    web_database: str,
    make_container: MakeContainer,
    make_botapi: MakeBotAPI,
) -> AsyncIterator[Studio]:
    data = small_data(tmp_path / "data")
    models = tmp_path / "models"
    await asyncio.to_thread(first_model, data, models)
    server = await make_botapi()

    async def interpreter() -> LiveInterpreter:
        loaded = await asyncio.to_thread(Interpreter.load, models, CONFIG)
        return LiveInterpreter(loaded, models, interval=0.5).start()

    live, bot_live = await interpreter(), await interpreter()
    settings = bot_settings(
        server, database_url=web_database, data_dir=tmp_path / "var", models_dir=models
    )
    container = await make_container(settings, interpreter=live, dialogue_dir=data)
    container.outbox_poll_interval = 0.05
    bot = await make_container(
        settings, interpreter=bot_live, dialogue_dir=data, domain_interval=0.5
    )
    bot.outbox_poll_interval = 0.05
    bot.typing_delay = 0.05
    studio = StudioConfig(data_dir=data, config_path=CONFIG, models_dir=models)
    try:
        async with telegram_bot(bot), serve(container, extra={"studio": studio}) as site:
            yield Studio(site, studio, live, server, bot, bot_live)
    finally:
        await live.aclose()
        await bot_live.aclose()


async def _intent(live: LiveInterpreter, text: str) -> str:
    return str((await live.aparse(text))["intent"]["name"])


def _fell_back(answer: str) -> bool:
    return answer.startswith(("抱歉，我没有理解", "不好意思，我没太明白"))


async def test_admin_teaches_a_fallback_message_and_activates_without_restart(
    studio_site: Studio, browser: Any
) -> None:
    site, studio, live = studio_site.site, studio_site.studio, studio_site.live
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
    assert _fell_back(await studio_site.telegram(7101, TEXT))  # the running Telegram bot

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
    # and the running Telegram bot, a process of its own, answers it too
    await wait_for(lambda: studio_site.bot_live.reloads >= 1, timeout=20, message="bot loaded")
    assert "9:30" in await studio_site.telegram(7101, TEXT)

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
    await wait_for(lambda: studio_site.bot_live.reloads >= 2, timeout=20, message="bot rolled")
    assert _fell_back(await studio_site.telegram(7101, TEXT))


async def test_staff_cannot_open_the_studio_and_yaml_edits_are_validated(
    studio_site: Studio, browser: Any
) -> None:
    site, studio = studio_site.site, studio_site.studio
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


async def _train_and_activate(page: Any, site: Site, studio_site: Studio, reloads: int) -> None:
    await page.goto(site("/console/studio/models"))
    async with page.expect_navigation():
        await page.click("#train")
    await page.wait_for_selector(".evaluation .new-accuracy", timeout=120_000)
    async with page.expect_navigation():
        await page.click("tr:not(:has(.active-mark)) button.activate >> nth=0")
    assert "已启用模型" in await page.inner_text("main")
    for live in (studio_site.live, studio_site.bot_live):
        await wait_for(lambda live=live: live.reloads >= reloads, timeout=20, message="loaded")


async def test_admin_teaches_a_new_intent_both_channels_answer_without_restart(
    studio_site: Studio, browser: Any
) -> None:
    """An admin adds faq_parking with examples, gives it an answer in the FAQ page (no rule
    written by hand), trains and activates: the web chat and the running Telegram bot answer
    a paraphrase with it; rollback restores the earlier answer in both."""
    site, studio = studio_site.site, studio_site.studio
    await add_account(site, "赵管理", "admin", login="admin")
    page = await desktop(browser)
    await login(page, site, "admin")
    chat = await phone(browser)
    await chat.goto(site("/chat"))
    answers = chat.locator("article.msg-bot")
    await say(chat, PARAPHRASE)
    await expect(answers).to_have_count(1, timeout=20_000)
    before = await answers.last.inner_text()
    assert PARKING not in before

    # the intent and its examples
    await page.goto(site("/console/studio"))
    await page.fill("input[name=intent]", "faq_parking")
    await page.fill("form[action='/console/studio/intents'] input[name=text]", PARKING_EXAMPLES[0])
    async with page.expect_navigation():
        await page.click("form[action='/console/studio/intents'] button[type=submit]")
    for example in PARKING_EXAMPLES[1:]:
        await page.goto(site("/console/studio/intents/faq_parking"))
        await page.fill("form.annotate:not(.example-row) input[name=text]", example)
        async with page.expect_navigation():
            await page.click("form.annotate:not(.example-row) button[type=submit]")
        assert "已添加样例" in await page.inner_text("main")

    # its answer, in the FAQ page: saved, the running bots updated, and the page says that
    # the active model does not know the intent yet
    await page.goto(site("/console/studio/files/faq"))
    content = await page.input_value("textarea[name=content]")
    await page.fill(
        "textarea[name=content]", content.rstrip() + f"\n\n  faq_parking:\n    - text: {PARKING}\n"
    )
    async with page.expect_navigation():
        await page.click("main button[type=submit]")
    shown = await page.inner_text("main")
    assert "已校验并保存到 data/faq.yml" in shown and "正在运行的机器人已更新" in shown
    assert "当前启用的模型还不认识意图 faq_parking" in shown
    assert f"- text: {PARKING}" in (studio.data_dir / "faq.yml").read_text()
    assert studio_site.bot.engine.domain.faq["faq_parking"][0].text == PARKING  # type: ignore[attr-defined]
    # true: with no model that knows the intent, neither channel answers with it yet
    assert PARKING not in await studio_site.telegram(7201, PARAPHRASE)
    await page.goto(site("/console/studio/intents/faq_parking"))
    assert PARKING in await page.inner_text("section:has(h2:text('回复'))")

    await _train_and_activate(page, site, studio_site, reloads=1)

    await say(chat, PARAPHRASE)
    await bot_said(chat, PARKING)
    assert PARKING in await studio_site.telegram(7201, PARAPHRASE)

    # rollback: the earlier answer again, in both
    count = await answers.count()
    async with page.expect_navigation():
        await page.click("#rollback")
    assert "已回滚到模型" in await page.inner_text("main")
    await wait_for(lambda: studio_site.live.reloads >= 2, timeout=20, message="web rolled")
    await wait_for(lambda: studio_site.bot_live.reloads >= 2, timeout=20, message="bot rolled")
    await say(chat, PARAPHRASE)
    await expect(answers).not_to_have_count(count, timeout=20_000)
    assert PARKING not in await answers.last.inner_text()
    assert _fell_back(await answers.last.inner_text()) == _fell_back(before)
    assert PARKING not in await studio_site.telegram(7201, PARAPHRASE)


ONLINE_Q = "网上能办变更登记吗"  # faq_online_services, its default answer
ONLINE_OLD = "不用跑大厅，这些业务都可以线上办："
ONLINE_NEW = "以下业务都能在网上办理（已更新）："


async def test_a_broken_faq_file_keeps_the_answer_and_an_edit_by_hand_is_followed(
    studio_site: Studio, browser: Any
) -> None:
    """A broken FAQ saved in the page: nothing written, the running bot keeps answering.
    The same file broken by hand on disk: the running bot process keeps the old answers
    (its check of the files finds a file that does not load); fixed by hand with a new
    answer: the bot answers with it, no studio involved, no restart."""
    site, studio = studio_site.site, studio_site.studio
    bot_domain = studio_site.bot.live_domain
    assert bot_domain is not None
    assert (await studio_site.telegram(7301, ONLINE_Q)).startswith(ONLINE_OLD)
    await add_account(site, "赵管理", "admin", login="admin")
    page = await desktop(browser)
    await login(page, site, "admin")
    faq = studio.data_dir / "faq.yml"
    before = faq.read_text()

    await page.goto(site("/console/studio/files/faq"))
    await page.fill("textarea[name=content]", "faq:\n  faq_online_services: [不完整\n")
    async with page.expect_navigation():
        await page.click("main button[type=submit]")
    shown = await page.inner_text("main")
    assert "未保存" in shown and "已更新" not in shown
    assert faq.read_text() == before
    await page.fill("textarea[name=content]", "faq:\n  faq_online_services: 只有一句话\n")
    async with page.expect_navigation():
        await page.click("main button[type=submit]")
    assert "未保存" in await page.inner_text("main")  # loads as YAML, not as answers
    assert faq.read_text() == before
    assert (await studio_site.telegram(7301, ONLINE_Q)).startswith(ONLINE_OLD)

    faq.write_text(before.replace("faq:\n", "faq:\n  oops: [\n", 1), encoding="utf-8")
    await wait_for(lambda: bot_domain.error is not None, timeout=20, message="bot looked")
    assert (await studio_site.telegram(7301, ONLINE_Q)).startswith(ONLINE_OLD)
    faq.write_text(before.replace(ONLINE_OLD, ONLINE_NEW, 1), encoding="utf-8")
    await wait_for(lambda: bot_domain.error is None, timeout=20, message="bot reloaded")
    assert (await studio_site.telegram(7301, ONLINE_Q)).startswith(ONLINE_NEW)


async def test_renaming_an_intent_that_has_an_answer_says_what_the_bot_does(
    studio_site: Studio, browser: Any
) -> None:
    """faq_parking, taught and active, is renamed: its answer moves with it, and the page
    says that the active model still recognises the old name, so the bot falls back until a
    new model is trained; it does, and after training and activation both channels answer
    again. An intent the rules name is not renamed here, and the page says why."""
    site, studio = studio_site.site, studio_site.studio
    await add_account(site, "赵管理", "admin", login="admin")
    page = await desktop(browser)
    await login(page, site, "admin")
    for example in PARKING_EXAMPLES:
        await page.goto(site("/console/studio"))
        await page.fill("input[name=intent]", "faq_parking")
        await page.fill("form[action='/console/studio/intents'] input[name=text]", example)
        async with page.expect_navigation():
            await page.click("form[action='/console/studio/intents'] button[type=submit]")
    faq = studio.data_dir / "faq.yml"
    # its answer, from the intent's own page this time
    await page.goto(site("/console/studio/intents/faq_parking"))
    assert "该意图还没有回复" in await page.inner_text("main")
    await page.fill(".answer-form textarea[name=answer]", PARKING)
    async with page.expect_navigation():
        await page.click(".answer-form button[type=submit]")
    shown = await page.inner_text("main")
    assert "已保存答案到 data/faq.yml" in shown and "正在运行的机器人已更新" in shown
    assert "当前启用的模型还不认识意图 faq_parking" in shown
    assert await page.locator(".answer-form").count() == 0  # answered now: edited in the FAQ page
    await _train_and_activate(page, site, studio_site, 1)
    assert PARKING in await studio_site.telegram(7302, PARAPHRASE)

    await page.goto(site("/console/studio/intents/faq_parking"))
    await page.fill("input[name=new_name]", "faq_car_park")
    async with page.expect_navigation():
        await page.click("form[action$='/rename'] button[type=submit]")
    shown = await page.inner_text("main")
    assert page.url.split("?")[0].endswith("/console/studio/intents/faq_car_park")
    assert "常见问题答案也随之改名" in shown and "正在运行的机器人已更新" in shown
    assert "当前启用的模型仍把这类消息识别为 faq_parking" in shown
    assert f'  faq_car_park:\n    - text: "{PARKING}"' in faq.read_text()
    assert PARKING in await page.inner_text("section:has(h2:text('回复'))")
    # what the page said: the bot falls back on these messages for now
    assert _fell_back(await studio_site.telegram(7302, PARAPHRASE))

    await _train_and_activate(page, site, studio_site, 2)
    assert PARKING in await studio_site.telegram(7302, PARAPHRASE)
    chat = await phone(browser)
    await chat.goto(site("/chat"))
    await say(chat, PARAPHRASE)
    await bot_said(chat, PARKING)

    await page.goto(site("/console/studio/intents/faq_office_hours"))
    assert await page.locator(".answer-form").count() == 0  # its rule answers it
    csrf = await page.input_value("input[name=_csrf] >> nth=0")
    refused = await page.request.post(
        site("/console/studio/intents/faq_office_hours/answer"),
        form={"answer": "另一个答案", "_csrf": csrf},
    )
    assert "已有回复" in await refused.text() and "另一个答案" not in faq.read_text()
    await page.fill("input[name=new_name]", "faq_opening")
    async with page.expect_navigation():
        await page.click("form[action$='/rename'] button[type=submit]")
    assert "对话规则引用了意图 faq_office_hours" in await page.inner_text("main")


def test_an_answer_goes_into_the_faq_mapping_and_nothing_else_moves() -> None:
    import yaml

    from console.studio import with_faq_answer

    text = "version: 1\n# c\nfaq:\n  a:\n    - text: x\n\n# tail\nother:\n  k: 1\n"
    assert with_faq_answer(text, "faq_b", '说"好"\n第二行') == (
        "version: 1\n# c\nfaq:\n  a:\n    - text: x\n"
        '  faq_b:\n    - text: "说\\"好\\"\\n第二行"\n\n# tail\nother:\n  k: 1\n'
    )
    assert with_faq_answer("faq:\n", "b", "y") == 'faq:\n  b:\n    - text: "y"\n'
    assert yaml.safe_load(with_faq_answer(text, "faq_b", '说"好"\n第二行'))["faq"]["faq_b"] == [
        {"text": '说"好"\n第二行'}
    ]

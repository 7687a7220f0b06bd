"""The two journeys of issue 10 across both surfaces, in one headless Chromium: a taxpayer on
a phone in the web chat and a staff member on a desktop in the console, each page live
(nothing is reloaded: a marker set on each page must survive to the end).

1. A return correction from the request to the 好差评 rating: the case arrives in the open
   queue, staff claim it and ask a question, the taxpayer answers in the chat, staff complete
   it with a document; the notice and the document reach the chat; the taxpayer rates it.
2. A hand-over asked for in the web chat, taken over in the console, answered, handed back:
   the bot answers again."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect
from sqlalchemy import select

from desk.models import Rating
from testing.samples import GOOD_ID, make_pdf
from testing.waits import wait_for
from testing.web import (
    TURN_TIMEOUT as TIMEOUT,
)
from testing.web import (
    Site,
    add_account,
    bot_said,
    desktop,
    login,
    open_correction,
    phone,
    say,
)


async def mark(page: Any) -> None:
    await page.evaluate("window.__notReloaded = true")


async def not_reloaded(page: Any) -> bool:
    return bool(await page.evaluate("window.__notReloaded === true"))


async def test_a_correction_from_the_web_chat_through_the_console_to_the_rating(
    site: Site, browser: Any
) -> None:
    await add_account(site, "王芳", "staff", login="wangfang")
    staff = await desktop(browser)
    await login(staff, site, "wangfang")
    await staff.goto(site("/console/queue"))
    await mark(staff)

    chat = await phone(browser)
    await chat.goto(site("/chat"))
    await mark(chat)
    number = await open_correction(chat)

    # the open queue shows it without a reload, the ID masked
    row = staff.locator(f"tr[data-number='{number}']")
    await expect(row).to_be_visible(timeout=TIMEOUT)
    assert GOOD_ID not in await row.inner_text()
    assert await not_reloaded(staff)

    await staff.click(f"tr[data-number='{number}'] a")
    await staff.wait_for_url(f"**/console/cases/{number}")
    async with staff.expect_navigation():
        await staff.click("form.act-claim button")
    await staff.fill("form.act-ask_taxpayer textarea", "请问更正后的销售额是多少？")
    async with staff.expect_navigation():
        await staff.click("form.act-ask_taxpayer button")
    await mark(staff)

    question = chat.locator("article[data-kind='case_question']")
    await expect(question).to_contain_text("请问更正后的销售额是多少", timeout=TIMEOUT)
    await say(chat, "销售额是12万元")
    await expect(staff.locator(".history", has_text="12万元")).to_be_visible(timeout=TIMEOUT)
    assert await not_reloaded(staff)

    await staff.fill("form.act-complete textarea", "已为您更正，请查收更正后的申报表。")
    await staff.set_input_files(
        "form.act-complete input[type=file]",
        files=[{"name": "更正结果.pdf", "mimeType": "application/pdf", "buffer": make_pdf(2)}],
    )
    async with staff.expect_navigation():
        await staff.click("form.act-complete button")
    assert "已办结" in await staff.inner_text("main")

    done = chat.locator("article[data-kind='case_done']")
    await expect(done).to_contain_text("已为您更正", timeout=TIMEOUT)
    link = done.locator("a.msg-doc", has_text="更正结果.pdf")
    await expect(link).to_be_visible()
    got = await chat.request.get(site(str(await link.get_attribute("href"))))
    assert got.status == 200 and (await got.body()).startswith(b"%PDF")
    assert await not_reloaded(chat)

    await done.locator("button.msg-button").first.click()  # the best 好差评 level

    async def rated() -> Any:
        async with site.deps.runtime.sessions() as s:
            return (await s.execute(select(Rating))).scalars().first()

    rating = await wait_for(rated, timeout=TIMEOUT / 1000)
    assert rating.level == "very_satisfied"  # the first button: 非常满意


async def test_a_hand_over_from_the_web_chat_is_taken_over_in_the_console_and_handed_back(
    site: Site, browser: Any
) -> None:
    await add_account(site, "王芳", "staff", login="wangfang")
    staff = await desktop(browser)
    await login(staff, site, "wangfang")
    await staff.goto(site("/console/conversations"))
    await mark(staff)

    chat = await phone(browser)
    await chat.goto(site("/chat"))
    await mark(chat)
    await say(chat, "转人工")
    await bot_said(chat, "工作人员")

    waiting = staff.locator("tr.conv-human a").first
    await expect(waiting).to_be_visible(timeout=TIMEOUT)  # arrived live
    assert await not_reloaded(staff)
    await waiting.click()
    await staff.wait_for_selector("#conv-state:has-text('人工服务中')")
    await mark(staff)
    await staff.fill("textarea[name=text]", "您好，我是王芳，请问有什么可以帮您？")
    async with staff.expect_navigation():
        await staff.click("#reply-form button[type=submit]")
    staff_said = chat.locator("article.msg-staff", has_text="我是王芳")
    await expect(staff_said).to_be_visible(timeout=TIMEOUT)

    await say(chat, "我想问一下发票怎么开")
    await expect(staff.locator(".msg-taxpayer", has_text="发票怎么开")).to_be_visible(
        timeout=TIMEOUT
    )
    async with staff.expect_navigation():
        await staff.click("#hand-back-form button")
    await expect(chat.locator("article.msg-bot").last).to_be_visible(timeout=TIMEOUT)

    before = await chat.locator("article.msg-bot").count()
    await say(chat, "你们几点上班")  # the bot answers again
    await expect(chat.locator("article.msg-bot")).to_have_count(before + 1, timeout=TIMEOUT)
    assert await not_reloaded(chat)

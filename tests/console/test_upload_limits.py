"""A file over the upload limit (20 MB) is refused by the page itself, before anything is
sent: the case page, the conversation's reply and the web chat each say which file and the
limit, keep what was typed, and send nothing; a file within the limit then goes through.
(Before, the server's 413 replaced the page and the typed note was lost.)"""

from __future__ import annotations

from typing import Any

from testing.console import submit_correction
from testing.samples import make_pdf
from testing.web import Site, add_account, desktop, login, phone

BIG = 21 * 1024 * 1024  # over the 20 MB limit, under the server's 21 MB body limit too


def _big_file() -> dict[str, Any]:
    return {
        "name": "扫描件.pdf",
        "mimeType": "application/pdf",
        "buffer": b"%PDF-1.4\n" + bytes(BIG),
    }


async def test_case_page_and_conversation_refuse_a_file_too_large_and_keep_the_note(
    site: Site, browser: Any
) -> None:
    staff_id = await add_account(site, "王芳", "staff", login="wangfang")
    number = await submit_correction(site)
    runtime = site.deps.runtime
    async with runtime.sessions() as s:
        await runtime.desk(s).claim(number, staff_id)
    page = await desktop(browser)
    await login(page, site, "wangfang")
    await page.goto(site(f"/console/cases/{number}"))
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)

    await page.fill("form.act-complete textarea", "已更正，请查收。")
    await page.set_input_files("form.act-complete input[type=file]", files=[_big_file()])
    error = page.locator("form.act-complete .file-error")
    assert "扫描件.pdf" in await error.inner_text() and "20.0 MB" in await error.inner_text()
    await page.click("form.act-complete button")
    await page.wait_for_timeout(300)
    assert sent == [] and "办理中" in await page.inner_text(".case-head")
    assert await page.input_value("form.act-complete textarea") == "已更正，请查收。"

    await page.set_input_files(
        "form.act-complete input[type=file]",
        files=[{"name": "更正结果.pdf", "mimeType": "application/pdf", "buffer": make_pdf(1)}],
    )
    assert await error.is_hidden()
    async with page.expect_navigation():
        await page.click("form.act-complete button")
    assert "已办结" in await page.inner_text("main")

    # the conversation's reply form: the same check, the reply text kept
    async with runtime.sessions() as s:
        (conv,) = await runtime.desk(s).conversations()
    await page.goto(site(f"/console/conversations/{conv.id}"))
    sent.clear()
    await page.fill("textarea[name=text]", "请看附件")
    await page.set_input_files("#reply-form input[type=file]", files=[_big_file()])
    await page.click("#reply-form button[type=submit]")
    await page.wait_for_timeout(300)
    assert sent == [] and await page.input_value("textarea[name=text]") == "请看附件"
    assert "超过 20.0 MB" in await page.inner_text("#reply-form .file-error")


async def test_web_chat_refuses_a_file_too_large_and_keeps_the_words(
    site: Site, browser: Any
) -> None:
    chat = await phone(browser)
    await chat.goto(site("/chat"))
    sent: list[str] = []
    chat.on("request", lambda r: sent.append(r.url) if r.url.endswith("/chat/upload") else None)
    await chat.fill("#text", "这是承诺书")
    await chat.set_input_files("#file", files=[_big_file()])
    notice = chat.locator("#notice")
    await notice.wait_for()
    assert "扫描件.pdf" in await notice.inner_text() and "20 MB" in await notice.inner_text()
    assert sent == [] and await chat.input_value("#text") == "这是承诺书"

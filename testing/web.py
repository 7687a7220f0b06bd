"""The web application in tests: served on a free port from a container, a headless Chromium
(Debian's /usr/bin/chromium through Playwright; never `playwright install`), staff accounts.

    async with serve(container) as site:          # site.url = "http://127.0.0.1:PORT"
        async with chromium() as browser:
            page = await phone(browser)           # a phone-sized page (or desktop(browser))
            await login(page, site, "admin", PASSWORD)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from app.container import Container
from app.web import console_deps
from console.app import ConsoleDeps, build_app

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PASSWORD = "correct horse battery"  # every test account's password
PHONE = {"width": 390, "height": 844}  # an iPhone 12/13/14-sized viewport
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class Site:
    """A served web application: its base URL and what it was built from."""

    url: str
    deps: ConsoleDeps
    container: Container
    app: web.Application
    accounts: dict[str, int] = field(default_factory=dict)  # login -> staff id

    def __call__(self, path: str) -> str:
        return self.url + path


@contextlib.asynccontextmanager
async def serve(container: Container, **deps_overrides: Any) -> AsyncIterator[Site]:
    """Serve the console and the web chat of `container` on 127.0.0.1, a free port."""
    async with console_deps(container) as deps:
        for key, value in deps_overrides.items():
            setattr(deps, key, value)
        app = build_app(deps)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield Site(f"http://127.0.0.1:{port}", deps, container, app)
        finally:
            await runner.cleanup()


async def add_account(site: Site, name: str, role: str, *, login: str | None = None) -> int:
    """A staff member with a console login (`login`, default `name`) and `PASSWORD`."""
    runtime = site.deps.runtime
    async with runtime.sessions() as session:
        desk = runtime.desk(session)
        member = await desk.add_staff(name, role)
        await desk.set_password(member.id, PASSWORD, login=login or name)
    site.accounts[login or name] = member.id
    return member.id


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Headless Debian Chromium (Playwright's async API)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def phone(browser: Any) -> Any:
    """A new page in a phone-sized context of its own (its own cookies)."""
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    return await context.new_page()


async def desktop(browser: Any) -> Any:
    """A new page in a desktop-sized context of its own (its own cookies)."""
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    return await context.new_page()


async def login(page: Any, site: Site, login: str, password: str = PASSWORD) -> None:
    """Log in through the form and wait until the console's first page shows."""
    await page.goto(site("/console/login"))
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", password)
    async with page.expect_navigation():
        await page.click("button[type=submit]")


# ---------------------------------------------------------------------- the web chat's page

TURN_TIMEOUT = 30_000  # ms: a turn of the real dialogue on a loaded 2-core machine


async def say(page: Any, text: str) -> None:
    """The taxpayer types `text` in the web chat and sends it."""
    await page.fill("#text", text)
    await page.click("#send")


async def bot_said(page: Any, text: str, *, wait_ms: float = TURN_TIMEOUT) -> Any:
    """The bot's latest message containing `text`, once it shows."""
    from playwright.async_api import expect

    found = page.locator("article.msg-bot", has_text=text).last
    await expect(found).to_be_visible(timeout=wait_ms)
    return found


async def open_correction(page: Any, *, wait_ms: float = TURN_TIMEOUT) -> str:
    """In an open web chat: ask to correct a VAT return (with the ID), send the signed
    letter (a PDF captioned 承诺书) and press 提交; the case number the bot gives."""
    from playwright.async_api import expect

    from testing.samples import GOOD_ID, REQUEST, make_pdf

    await say(page, f"{REQUEST['hans']}，{GOOD_ID}")
    await bot_said(page, "承诺书", wait_ms=wait_ms)
    await page.fill("#text", "承诺书")  # the caption of the file chosen next
    await page.set_input_files(
        "#file",
        files=[{"name": "承诺书.pdf", "mimeType": "application/pdf", "buffer": make_pdf()}],
    )
    await expect(page.locator("article.msg-me", has_text="承诺书.pdf")).to_be_visible(
        timeout=wait_ms
    )
    submit = page.locator("button.msg-button[data-payload='/submit_case']").last
    await expect(submit).to_be_visible(timeout=wait_ms)
    await submit.click()
    accepted = await bot_said(page, "案件编号 TX-", wait_ms=wait_ms)
    return str((await accepted.inner_text()).split("案件编号 ")[1].split("，")[0])

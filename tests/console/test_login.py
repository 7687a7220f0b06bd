"""Logging in to the console in a real browser: the form, a wrong password, the lockout,
the role rule on a page, logging out."""

from __future__ import annotations

from typing import Any

from testing.web import PASSWORD, Site, add_account, desktop, login


async def test_staff_log_in_and_out_in_the_browser(site: Site, browser: Any) -> None:
    await add_account(site, "王芳", "staff", login="wangfang")
    page = await desktop(browser)
    await page.goto(site("/console/"))
    assert "/console/login" in page.url  # anonymous: sent to the login page, then back
    await page.fill("input[name=login]", "wangfang")
    await page.fill("input[name=password]", "wrong password")
    await page.click("button[type=submit]")
    assert "用户名或密码不正确" in await page.inner_text("main")
    await login(page, site, "wangfang", PASSWORD)
    assert "王芳" in await page.inner_text("header")
    async with page.expect_navigation():
        await page.click("text=退出")
    assert "/console/login" in page.url
    response = await page.goto(site("/console/"))
    assert "/console/login" in page.url and response is not None


async def test_a_login_is_locked_after_repeated_failures(site: Site, browser: Any) -> None:
    await add_account(site, "李强", "staff", login="liqiang")
    page = await desktop(browser)
    for _ in range(site.deps.throttle.max_failures):
        await page.goto(site("/console/login"))
        await page.fill("input[name=login]", "liqiang")
        await page.fill("input[name=password]", "guess")
        await page.click("button[type=submit]")
    assert "已暂时锁定" in await page.inner_text("main")
    await page.goto(site("/console/login"))  # now even the right password is refused
    await page.fill("input[name=login]", "liqiang")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    assert "已暂时锁定" in await page.inner_text("main")
    assert "/console/login" in page.url

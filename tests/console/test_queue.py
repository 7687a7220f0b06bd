"""The queue page `/console/queue`: a case submitted elsewhere (a desk call, as the dialogue
makes it) appears in an open page without a reload; filters, masking, the SLA as time left;
the role rule on the page and on its event stream."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import aiohttp

from console.queue import time_left
from desk.models import Case
from desk.services import QueueRow
from testing.console import COMPANY, cookie_jar, http_login, submit_case
from testing.web import Site, add_account, desktop, login


async def test_a_new_case_appears_in_an_open_queue_without_a_reload(
    site: Site, browser: Any
) -> None:
    await add_account(site, "王芳", "staff", login="wangfang")
    first = await submit_case(site, chat="1")
    page = await desktop(browser)
    await login(page, site, "wangfang")
    await page.goto(site("/console/queue"))
    await page.wait_for_selector(f"tr[data-number='{first}']")
    await page.evaluate("window.__notReloaded = true")
    # (whether the event stream is open yet or not: it starts from the page's version)

    second = await submit_case(site, chat="2", name="赵出纳", period="2024")

    row = page.locator(f"tr[data-number='{second}']")
    await row.wait_for(timeout=10_000)
    assert await page.evaluate("window.__notReloaded === true")  # the same page, updated
    assert "fresh" in (await row.get_attribute("class") or "")  # highlighted as new
    text = await row.inner_text()
    assert "赵出纳" in text and "9131****12G" in text and "未验证" in text
    assert "排队中" in text and "未认领" in text and "剩" in text
    # the colour follows the desk's due state: "ok", or "due_soon" when the one-day limit
    # already ends on the next working day (a case submitted after office hours)
    runtime = site.deps.runtime
    async with runtime.sessions() as s:
        desk = runtime.desk(s)
        expected = desk.due_state((await desk.case_detail(second)).case)
    assert expected in ("ok", "due_soon")
    assert await row.locator(f".sla.sla-{expected}").count() == 1
    assert COMPANY not in await page.inner_text("main")  # never the full ID in the list


async def test_filters_assignee_status_and_a_bad_filter(site: Site) -> None:
    staff_id = await add_account(site, "王芳", "staff", login="wangfang")
    mine = await submit_case(site, chat="1")
    other = await submit_case(site, chat="2", period="2024")
    runtime = site.deps.runtime
    async with runtime.sessions() as s:
        await runtime.desk(s).claim(mine, staff_id)
    async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
        await http_login(http, site, "wangfang")

        async def numbers(query: str) -> str:
            async with http.get(site("/console/queue?partial=1&" + query)) as r:
                assert r.status == 200
                return await r.text()

        html = await numbers("assignee=mine")
        assert mine in html and other not in html
        html = await numbers("assignee=unassigned")
        assert other in html and mine not in html
        html = await numbers("status=in_progress")
        assert mine in html and other not in html and "办理中" in html
        html = await numbers("verified=yes")
        assert mine not in html and other not in html and "没有符合条件的案件" in html
        html = await numbers("overdue=1")
        assert "没有符合条件的案件" in html
        async with http.get(site("/console/queue?status=lost&type=nothing")) as r:
            page = await r.text()
            assert r.status == 200  # explained, and the default queue shown
            assert "没有“lost”这个状态" in page and mine in page and other in page


async def test_the_queue_and_its_stream_need_a_login(site: Site) -> None:
    async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
        async with http.get(site("/console/queue/events")) as r:
            assert r.status == 401
        page = {"Accept": "text/html"}  # a browser's page request: sent to the login page
        async with http.get(site("/console/queue"), headers=page, allow_redirects=False) as r:
            assert r.status == 303 and "/console/login" in r.headers["Location"]


def _row(left: timedelta, working_days: int | None = None, due: str = "ok") -> QueueRow:
    case = Case(number="TX-2026-000001", status="queued", slots={})
    return QueueRow(case, None, None, False, due, left, working_days)


def test_the_time_left_reads_as_people_say_it() -> None:
    assert time_left(_row(timedelta(days=3, hours=8), 1)) == "剩 1 个工作日"
    assert time_left(_row(timedelta(days=6), 4)) == "剩 4 个工作日"
    assert time_left(_row(timedelta(hours=3, minutes=40), 0, "due_soon")) == "剩 3 小时"
    assert time_left(_row(timedelta(minutes=25), 0, "due_soon")) == "剩 25 分钟"
    assert time_left(_row(-timedelta(hours=5), -1, "overdue")) == "已超期 5 小时"
    assert time_left(_row(-timedelta(days=2, hours=3), -2, "overdue")) == "已超期 2 天"
    done = Case(number="TX-2026-000002", status="done")
    closed = QueueRow(done, None, None, False, None, None, None)
    assert time_left(closed) == ""


async def test_the_streams_tell_what_changed_since_the_page_was_rendered(site: Site) -> None:
    staff_id = await add_account(site, "王芳", "staff", login="wangfang")
    number = await submit_case(site)
    async with aiohttp.ClientSession(cookie_jar=cookie_jar()) as http:
        await http_login(http, site, "wangfang")
        async with http.get(site(f"/console/cases/{number}?partial=1")) as r:
            stamp = re.search(r'data-stamp="([0-9-]+)"', await r.text())
            assert stamp is not None
        runtime = site.deps.runtime
        async with runtime.sessions() as s:  # a change after the page was rendered
            await runtime.desk(s).add_note(number, staff_id, "先核对")
        for path in (
            "/console/queue/events?since=0",
            f"/console/cases/{number}/events?since={stamp.group(1)}",
        ):
            async with http.get(site(path)) as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/event-stream")
                async with asyncio.timeout(10):
                    while not (await r.content.readline()).startswith(b"event: changed"):
                        pass
        async with http.get(site("/console/cases/TX-1999-000001/events")) as r:
            assert r.status == 404

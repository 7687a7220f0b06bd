"""The taxpayers' web chat in a real browser (Debian's Chromium, a phone-sized page): a
return-correction case from the first words to the rating, staff working it through the
desk meanwhile, notices and the document arriving without a reload; the history after a
reload; Traditional in, Traditional out; a refused file; the embeddable button."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
from playwright.async_api import expect

from desk.models import Rating
from intake.storage import LocalAttachmentStore
from testing.samples import GOOD_ID, REQUEST, make_pdf
from testing.waits import wait_for
from testing.web import Site, bot_said, open_correction, phone, say

TIMEOUT = 20_000  # ms: a turn of the real dialogue on a loaded machine


async def test_a_taxpayer_corrects_a_return_in_the_web_chat_from_request_to_rating(
    site: Site, browser: Any
) -> None:
    page = await phone(browser)
    await page.goto(site("/chat"))
    number = await open_correction(page, wait_ms=TIMEOUT)
    assert await page.locator("article.msg-me", has_text="提交").count() >= 1  # title shown

    runtime = site.deps.runtime
    async with runtime.sessions() as session:
        desk = runtime.desk(session)
        staff = await desk.add_staff("王芳")
        await desk.claim(number, staff.id)
        await desk.ask_taxpayer(number, staff.id, "请问更正后的销售额是多少？")
    question = page.locator("article[data-kind='case_question']")
    await expect(question).to_contain_text("销售额", timeout=TIMEOUT)  # live, no reload
    await say(page, "更正后销售额为12万元")
    await expect(page.locator("article.msg-me", has_text="12万元")).to_be_visible()

    async def answered() -> bool:
        async with runtime.sessions() as session:
            detail = await runtime.desk(session).case_detail(number)
        return detail.events[-1].action == "answer"

    await wait_for(answered, timeout=TIMEOUT / 1000)
    async with runtime.sessions() as session:
        desk = runtime.desk(session)
        store = LocalAttachmentStore(site.deps.data_dir / "attachments")
        att = await desk.check_and_store(store, make_pdf(), "更正通知书.pdf")
        await desk.complete(number, staff.id, "已为您更正。", attachment_ids=[att.id])
    done = page.locator("article[data-kind='case_done']")
    await expect(done).to_contain_text("已办结", timeout=TIMEOUT)
    link = done.locator("a.msg-doc")
    await expect(link).to_have_text("📎 更正通知书.pdf")
    href = await link.get_attribute("href")
    assert href == f"/chat/files/{att.id}"
    got = await page.request.get(site(href))
    assert got.status == 200 and (await got.body()).startswith(b"%PDF")
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"
    stranger = await phone(browser)
    await stranger.goto(site("/chat"))
    assert (await stranger.request.get(site(href))).status == 404  # another conversation
    assert (await page.request.get(site("/chat/files/..%2F..%2Fetc"))).status == 404

    await done.locator("button.msg-button").first.click()  # the best 好差评 level

    async def rated() -> Rating | None:
        async with runtime.sessions() as session:
            return (await runtime.desk(session).case_detail(number)).rating

    assert await wait_for(rated, timeout=TIMEOUT / 1000)
    await bot_said(page, "评价", wait_ms=TIMEOUT)

    before = await page.locator("article.msg .msg-text").all_inner_texts()
    await page.reload()  # the whole history comes back from the stream, in order
    await expect(page.locator("article.msg-bot", has_text="评价").last).to_be_visible(
        timeout=TIMEOUT
    )
    await expect(page.locator("article[data-kind='case_done'] a.msg-doc")).to_be_visible()
    after = await page.locator("article.msg .msg-text").all_inner_texts()
    assert after[: len(before)] == before


async def test_traditional_input_gets_traditional_replies_and_labels(
    site: Site, browser: Any
) -> None:
    page = await phone(browser)
    await page.goto(site("/chat"))
    await expect(page.locator("h1")).to_have_text("税务在线咨询")
    await say(page, f"{REQUEST['hant']}，{GOOD_ID}")
    await bot_said(page, "承諾書", wait_ms=TIMEOUT)
    await expect(page.locator("h1")).to_have_text("稅務線上諮詢")  # the page follows
    await expect(page.locator("#send")).to_have_text("發送")
    await page.reload()
    await expect(page.locator("h1")).to_have_text("稅務線上諮詢")
    await page.click("#script-toggle")  # the reader's own choice
    await expect(page.locator("h1")).to_have_text("税务在线咨询")


async def test_a_refused_file_empty_text_and_a_typed_phone_say_why(
    site: Site, browser: Any
) -> None:
    page = await phone(browser)
    await page.goto(site("/chat"))
    await say(page, "   ")
    await expect(page.locator("#notice")).to_have_text("请输入内容后再发送。")
    await page.set_input_files(
        "#file",
        files=[
            {"name": "申报表.docx", "mimeType": "application/msword", "buffer": b"PK\3\4" * 40}
        ],
    )
    await expect(page.locator("article.msg-me", has_text="申报表.docx")).to_be_visible(
        timeout=TIMEOUT
    )
    await bot_said(page, "暂不支持这种文件", wait_ms=TIMEOUT)
    await say(page, "验证")
    await page.locator("button.msg-button[data-contact]").last.click()
    await expect(page.locator("#phone-form")).to_be_visible()
    await page.fill("#phone", "13800138000")
    await page.click("#phone-form button[type=submit]")
    await bot_said(page, "无法确认", wait_ms=TIMEOUT)
    await expect(page.locator("#phone-form")).to_be_hidden()
    refused = await page.request.post(site("/chat/send"), data={"text": "你好"})
    assert refused.status == 403  # no CSRF header: refused before any handler


async def test_the_embed_script_opens_the_chat_in_a_frame(site: Site, browser: Any) -> None:
    page = await phone(browser)

    async def office_page(route: Any) -> None:
        html = (
            "<!doctype html><html><body><h1>某某区税务局</h1>"
            f'<script src="{site("/static/embed.js")}" data-label="在线咨询"></script>'
            "</body></html>"
        )
        await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    await page.route(site("/office-demo"), office_page)  # same origin: frame-ancestors 'self'
    await page.goto(site("/office-demo"))
    button = page.locator("button[data-taxdesk='chat-button']")
    await expect(button).to_have_text("💬 在线咨询")
    await button.click()
    frame = page.frame_locator("iframe[data-taxdesk='chat-frame']")
    await expect(frame.locator("h1")).to_have_text("税务在线咨询", timeout=TIMEOUT)
    await frame.locator("#text").fill("你好")
    await frame.locator("#send").click()
    await expect(frame.locator("article.msg-bot").first).to_be_visible(timeout=TIMEOUT)


async def read_events(
    http: aiohttp.ClientSession,
    url: str,
    enough: int,
    headers: dict[str, str] | None = None,
    beyond: int = 0,
) -> list[dict[str, Any]]:
    """The message events of the stream until `enough` with an id above `beyond` arrived
    (then the stream is left)."""
    got: list[dict[str, Any]] = []
    async with http.get(url, headers=headers or {}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        event, data, sent_id = "", "", None
        async with asyncio.timeout(TIMEOUT / 1000):
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line.startswith("id: "):
                    sent_id = int(line[4:])
                elif line == "":
                    if not event and data:
                        got.append({**json.loads(data), "event_id": sent_id})
                        if sum(1 for e in got if e["id"] > beyond) >= enough:
                            return got
                    event, data = "", ""
    return got


async def test_the_stream_resumes_after_the_last_event_id(site: Site) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(site("/chat/events")) as resp:
            assert resp.status == 401  # no chat yet: the page makes one
        html = await (await http.get(site("/chat"))).text()
        found = re.search(r'name="csrf-token" content="([^"]+)"', html)
        assert found is not None
        csrf = {"X-CSRF-Token": found.group(1)}
        sent = await http.post(site("/chat/send"), json={"text": "你好"}, headers=csrf)
        assert sent.status == 200
        first = await read_events(http, site("/chat/events"), 2)
        assert [e["dir"] for e in first] == ["in", "out"] and first[0]["text"] == "你好"
        last = first[-1]["event_id"]
        assert last == first[-1]["id"]
        # while the page is away: another message and its reply
        await http.post(site("/chat/send"), json={"text": "周六大厅开门吗"}, headers=csrf)
        resumed = await read_events(
            http, site("/chat/events"), 2, headers={"Last-Event-ID": str(last)}, beyond=last
        )
        new = [e for e in resumed if e["id"] > last]
        assert new[0]["text"] == "周六大厅开门吗" and new[1]["dir"] == "out"
        # rows of the last seconds may come again (a late commit must not be lost); the page
        # drops the ids it has
        assert {e["id"] for e in resumed if e["id"] <= last} <= {e["id"] for e in first}
        after = first[0]["id"]
        again = await read_events(http, site(f"/chat/events?after={after}"), 1, beyond=after)
        assert next(e for e in again if e["id"] > after)["id"] == first[1]["id"]
        empty = await http.post(site("/chat/send"), json={"text": " "}, headers=csrf)
        assert empty.status == 400 and (await empty.json())["error"] == "请输入内容后再发送。"
        bad = await http.post(site("/chat/send"), data=b"not json", headers=csrf)
        assert bad.status == 400
        form = aiohttp.FormData({"caption": "x"}, default_to_multipart=True)
        nofile = await http.post(site("/chat/upload"), data=form, headers=csrf)
        assert nofile.status == 400 and "没有收到文件" in (await nofile.json())["error"]
        forged = await http.get(site("/chat/files/999999"))
        assert forged.status == 404
        site.deps.extra["webchat_rate"] = 4  # 3 counted already (2 sent, 1 empty)
        third = await http.post(site("/chat/send"), json={"text": "你好"}, headers=csrf)
        assert third.status == 200
        flood = await http.post(site("/chat/send"), json={"text": "你好"}, headers=csrf)
        assert flood.status == 429 and "太快" in (await flood.json())["error"]

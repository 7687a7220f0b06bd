"""A web-chat conversation handed to staff and worked in the console, in a real browser: the
staff member sees it arrive live, takes it over, replies with text and a file (outbox rows for
the taxpayer's own channel), sees the taxpayer's next message without reloading, and hands it
back — then the bot answers again. The taxpayer's side is the dialogue engine driven as the web
chat drives it (store the message, run the turn, record the replies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from actions.channel import InboundMessage, Reply
from desk.models import Outbox
from testing.samples import make_pdf
from testing.waits import wait_for
from testing.web import Site, add_account, desktop, login

CHAT = "web-3f9a"


async def say(site: Site, text: str) -> list[Reply]:
    """The taxpayer writes in the web chat: stored first, then the turn, the replies recorded."""
    deps = site.deps
    await deps.recorder.record_message("web", CHAT, CHAT, text, display_name="网页访客")

    async def deliver(replies: list[Reply]) -> None:
        if replies and deps.outbound is not None:
            await deps.outbound.record_sent("web", CHAT, [(r.text, None) for r in replies])

    replies = await deps.engine.handle(
        InboundMessage(channel="web", chat_id=CHAT, user_id=CHAT, text=text), deliver=deliver
    )
    deps.live.poke()
    return list(replies)


async def outbox(site: Site) -> list[Outbox]:
    async with site.deps.runtime.sessions() as s:
        query = select(Outbox).where(Outbox.chat_id == CHAT).order_by(Outbox.id)
        return list(await s.scalars(query))


async def test_a_web_chat_handoff_taken_over_answered_and_handed_back(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    await add_account(site, "王芳", "staff", login="wangfang")
    assert await say(site, "你好")  # the bot answers
    page = await desktop(browser)
    await login(page, site, "wangfang")
    await page.goto(site("/console/conversations"))
    (conv_id,) = [c.id for c in await _conversations(site)]

    # handed over while the staff member looks at the list: the row changes without reload
    await page.wait_for_selector(f"tr[data-conversation='{conv_id}']")
    await page.evaluate("window.__stayed = true")  # a reload would drop it
    await say(site, "转人工")
    await page.wait_for_selector(
        f"tr.conv-human[data-conversation='{conv_id}']:has-text('人工服务中')", timeout=10_000
    )
    assert await page.evaluate("window.__stayed === true")
    await page.click(f"tr[data-conversation='{conv_id}'] a")
    await page.wait_for_selector("#chat")
    assert "转人工" in await page.inner_text("#chat")

    assert await page.is_hidden("#take-over-form")  # handed over: staff have it already
    await page.wait_for_selector("#conv-state:has-text('人工服务中')")

    await page.fill("textarea[name=text]", "您好，我是王芳，请查看附件。")
    pdf = tmp_path / "补正通知.pdf"
    pdf.write_bytes(make_pdf())
    await page.set_input_files("input[name=files]", str(pdf))
    async with page.expect_navigation():
        await page.click("#reply-form button[type=submit]")
    await page.wait_for_selector(".msg-staff:has-text('请查看附件')")
    assert "补正通知.pdf" in await page.inner_text(".msg-staff")
    rows = await outbox(site)
    copy = next(r for r in rows if r.kind == "staff_copy")
    assert (copy.channel, copy.chat_id) == ("web", CHAT)  # for the taxpayer's own channel
    assert copy.payload["text"] == "您好，我是王芳，请查看附件。"
    assert copy.payload["source"] == "console"
    assert [d["name"] for d in copy.payload["documents"]] == ["补正通知.pdf"]

    await page.evaluate("window.__stayed = true")
    assert await say(site, "好的，我马上补交") == []  # with staff: the bot stays quiet
    await page.wait_for_selector(".msg-taxpayer:has-text('我马上补交')", timeout=10_000)
    assert await page.evaluate("window.__stayed === true")  # live, no reload

    async with page.expect_navigation():
        await page.click("#hand-back-form button")
    await page.wait_for_selector("#conv-state:has-text('智能助手')")
    assert [r.kind for r in await outbox(site)][-1] == "handed_back"
    await page.evaluate("window.__stayed = true")
    assert await say(site, "你好")  # the bot answers again
    await wait_for(
        lambda: page.evaluate("document.querySelectorAll('.msg-bot').length >= 2"),
        timeout=10,
        message="the bot's new answer on the page",
    )
    assert await page.evaluate("window.__stayed === true")

    # a conversation the bot has, taken over from the console: the taxpayer is told who
    # serves them, and the bot goes quiet (the dialogue was told), until handed back
    async with page.expect_navigation():
        await page.click("#take-over-form button")
    await page.wait_for_selector("#conv-state:has-text('人工服务中')")
    taken = [r for r in await outbox(site) if r.kind == "taken_over"][-1]
    assert (taken.channel, taken.payload["text"]["zh_hans"]) == (
        "web",
        "工作人员王芳为您服务，请直接在这里回复。",
    )
    assert await say(site, "请问办好了吗") == []
    async with page.expect_navigation():
        await page.click("#hand-back-form button")
    assert await say(site, "你好")


async def _conversations(site: Site) -> list[Any]:
    async with site.deps.runtime.sessions() as s:
        return await site.deps.runtime.desk(s).conversations()


async def test_staff_send_a_misunderstood_message_to_the_review_inbox(
    site: Site, browser: Any
) -> None:
    """Each taxpayer text on the conversation page (also one that arrives live) has 交管理员复核:
    it lands in the studio's review inbox as flagged; the bot's messages have no such button."""
    await add_account(site, "王芳", "staff", login="wangfang")
    admin = await add_account(site, "赵管理", "admin", login="admin")
    await say(site, "门口黄线能停车吗")
    (conv_id,) = [c.id for c in await _conversations(site)]
    page = await desktop(browser)
    await login(page, site, "wangfang")
    await page.goto(site(f"/console/conversations/{conv_id}"))
    assert await page.locator("li.msg-bot .msg-review").count() == 0
    first = page.locator("li.msg-taxpayer", has_text="门口黄线能停车吗")
    async with page.expect_navigation():
        await first.locator(".msg-review button").click()
    assert "已交给管理员复核" in await page.inner_text("main")

    await say(site, "发票抬头能不能写简称")  # arrives while the page is open (rendered by JS)
    live = page.locator("li.msg-taxpayer", has_text="发票抬头能不能写简称")
    await live.wait_for(timeout=10_000)
    async with page.expect_navigation():
        await live.locator(".msg-review button").click()
    assert "已交给管理员复核" in await page.inner_text("main")

    async with site.deps.runtime.sessions() as s:
        inbox = await site.deps.runtime.desk(s).review_inbox(admin)
    assert [(i.text, i.reason) for i in inbox] == [
        ("发票抬头能不能写简称", "flagged"),
        ("门口黄线能停车吗", "flagged"),
    ]
    # a forged post for a message of no conversation of this page is refused
    response = await page.request.post(
        site(f"/console/conversations/{conv_id}/review"),
        form={"message": "m999999", "_csrf": await page.evaluate("window.taxdesk.csrf()")},
    )
    assert response.status == 400 and "找不到相关记录" in await response.text()

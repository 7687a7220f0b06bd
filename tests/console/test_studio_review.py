"""The review inbox writes taxpayers' words into the training data, which is kept in version
control: their taxpayer IDs and phone numbers join it as made-up ones of the same kind (the
admin sees them masked, or revealed, never written as sent); 超出范围 teaches `out_of_scope`;
a sentence the data already has closes the item without an error."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from testing.studio import studio_on
from testing.web import Site, add_account, desktop, login

PHONE = "我电话13912345678 社保断缴了咋办"
TAX_ID = "91440300MA5F00012E开的发票抬头错了"
OFF_TOPIC = "今天股市行情怎么样"


async def _decide(page: Any, text: str, button: str, intent: str | None = None) -> str:
    item = page.locator(".review-item", has_text=text)
    if intent is not None:
        await item.locator("select[name=intent]").select_option(intent)
    async with page.expect_navigation():
        await item.locator(f"button[value={button}]").click()
    return str(await page.inner_text("main"))


async def test_review_inbox_writes_sample_numbers_and_teaches_out_of_scope(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    studio = await asyncio.to_thread(studio_on, site, tmp_path)
    data = studio.data_dir
    async with site.deps.runtime.sessions() as s:
        desk = site.deps.runtime.desk(s)
        conv = await desk.ensure_conversation("web", "rv1", "rv1")
        for text in (PHONE, TAX_ID, OFF_TOPIC, "你好"):
            await desk.add_review_item(text, reason="nlu_fallback", conversation_id=conv.id)
    await add_account(site, "赵管理", "admin", login="admin")
    page = await desktop(browser)
    await login(page, site, "admin")
    await page.goto(site("/console/studio/review"))
    shown = await page.inner_text("main")
    assert "13912345678" not in shown and "91440300MA5F00012E" not in shown

    done = await _decide(page, "社保断缴了咋办", "assign", "ask_policy")
    assert "已归入意图 ask_policy（其中的纳税人识别号、电话号码已换成示例号码）" in done
    # revealed by the admin, then assigned: still not written as sent
    item = page.locator(".review-item", has_text="开的发票抬头错了")
    async with page.expect_navigation():
        await item.locator("a.reveal").click()
    assert "91440300MA5F00012E" in await page.inner_text(".review-item:has-text('发票抬头')")
    done = await _decide(page, "开的发票抬头错了", "assign", "request_invoice")
    assert "已换成示例号码" in done

    done = await _decide(page, OFF_TOPIC, "out_of_scope")
    assert "已标记为超出范围并加入 out_of_scope 的样例" in done
    done = await _decide(page, "你好", "assign", "greet")  # the data has it already
    assert "已归入意图 greet" in done and "没有待审消息" in await page.inner_text("main")

    written = (data / "nlu.yml").read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in data.glob("nlu_studio.yml")
    )
    assert "13912345678" not in written and "91440300MA5F00012E" not in written
    assert "- 我电话13800138000 社保断缴了咋办" in written
    assert "- 91110108MA0000000A开的发票抬头错了" in written
    assert f"- {OFF_TOPIC}" in written
    assert written.count("- 你好\n") == 1

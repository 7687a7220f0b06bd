"""An intent taught with a few examples grows from what taxpayers actually wrote: its page
lists their messages that are alike one of its examples, or that the active model gives it
some confidence without answering it; one click adds one (by its id, its taxpayer IDs and
phone numbers as made-up ones). Staff cannot add; a forged id is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from testing.studio import studio_on
from testing.web import Site, add_account, desktop, login

WRITTEN = [
    "大厅门口能停车吗",
    "我电话13912345678 停车场在哪",
    "今天天气怎么样",  # nothing like parking
    "/affirm",  # a pressed button's payload
    "有停车场吗",  # already an example
]


async def test_admin_adds_a_taxpayer_message_suggested_for_a_small_intent(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    studio = await asyncio.to_thread(studio_on, site, tmp_path)
    data = studio.data_dir
    with (data / "nlu.yml").open("a", encoding="utf-8") as f:
        f.write("- intent: faq_parking\n  examples: |\n    - 办事大厅能停车吗\n    - 有停车场吗\n")
    for n, text in enumerate(WRITTEN):
        await site.deps.recorder.record_message("web", f"p{n}", f"p{n}", text)
    await add_account(site, "赵管理", "admin", login="admin")
    page = await desktop(browser)
    await login(page, site, "admin")
    await page.goto(site("/console/studio/intents/faq_parking"))
    rows = page.locator("tr.suggestion")
    shown = await page.inner_text("section.suggestions")
    assert "大厅门口能停车吗" in shown and "停车场在哪" in shown
    assert "13912345678" not in shown  # masked
    assert "今天天气" not in shown and "/affirm" not in shown
    assert "有停车场吗" not in shown.replace("可能属于", "")  # an example already

    async with page.expect_navigation():
        await rows.filter(has_text="停车场在哪").locator("button").click()
    assert "已加为样例（其中的纳税人识别号、电话号码已换成示例号码）" in await page.inner_text(
        "main"
    )
    written = (data / "nlu.yml").read_text(encoding="utf-8")
    assert "- 我电话13800138000 停车场在哪" in written and "13912345678" not in written
    assert "停车场在哪" not in await page.inner_text("section.suggestions")  # now an example

    # a forged message id (not a taxpayer's message) is refused, nothing written
    response = await page.request.post(
        site("/console/studio/intents/faq_parking/suggested"),
        form={"message": "999999", "_csrf": await page.evaluate("window.taxdesk.csrf()")},
    )
    assert "找不到相关记录" in await response.text()
    assert (data / "nlu.yml").read_text(encoding="utf-8") == written

    await add_account(site, "钱办税", "staff", login="staff")
    staff = await desktop(browser)
    await login(staff, site, "staff")
    response = await staff.request.post(
        site("/console/studio/intents/faq_parking/suggested"),
        form={"message": "1", "_csrf": await staff.evaluate("window.taxdesk.csrf()")},
    )
    assert response.status == 403

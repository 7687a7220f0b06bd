"""The studio's case types file: a type that existing cases still have cannot be removed
(their pages, notices and the queue need its title and checklist); nothing is written and
the running bot keeps it. A type without cases can be removed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from testing.console import submit_case
from testing.studio import studio_on
from testing.web import Site, add_account, desktop, login


def _without(text: str, case_type: str) -> str:
    data = yaml.safe_load(text)
    del data["case_types"][case_type]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


async def test_a_case_type_in_use_cannot_be_removed(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    studio = await asyncio.to_thread(studio_on, site, tmp_path)
    data = studio.data_dir
    number = await submit_case(site)  # a tax certificate case
    await add_account(site, "赵管理", "admin", login="admin")
    page = await desktop(browser)
    await login(page, site, "admin")
    before = (data / "case_types.yml").read_text(encoding="utf-8")

    await page.goto(site("/console/studio/files/case_types"))
    await page.fill("textarea[name=content]", _without(before, "tax_certificate"))
    async with page.expect_navigation():
        await page.click("main button[type=submit]")
    shown = await page.inner_text("main")
    assert "不能删除仍有案件的案件类型：tax_certificate（1 件）" in shown and "未保存" in shown
    assert (data / "case_types.yml").read_text(encoding="utf-8") == before
    response = await page.goto(site(f"/console/cases/{number}"))
    assert response is not None and response.status == 200

    await page.goto(site("/console/studio/files/case_types"))
    await page.fill("textarea[name=content]", _without(before, "registration_change"))
    async with page.expect_navigation():
        await page.click("main button[type=submit]")
    shown = await page.inner_text("main")
    assert "已校验并保存" in shown, shown[:500]
    assert "registration_change" not in (data / "case_types.yml").read_text(encoding="utf-8")

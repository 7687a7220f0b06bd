"""An admin cancels a training from the studio's models page: the job stops, the page says so,
the store keeps exactly the models it had, and the train button works again."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from console.studio import StudioConfig
from testing.studio import CONFIG, first_model
from testing.web import Site, add_account, desktop, login

ROOT = Path(__file__).resolve().parents[2]


async def test_admin_cancels_a_training_and_the_store_is_unchanged(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    data = tmp_path / "studio-data"
    await asyncio.to_thread(shutil.copytree, ROOT / "data", data)  # long enough to cancel
    models = tmp_path / "studio-models"
    await asyncio.to_thread(first_model, data, models)
    with (data / "nlu.yml").open("a", encoding="utf-8") as f:
        f.write("- intent: faq_parking\n  examples: |\n    - 办事大厅能停车吗\n")
    before = sorted(p.name for p in models.iterdir() if p.is_dir())
    studio = StudioConfig(data_dir=data, config_path=CONFIG, models_dir=models)
    site.deps.extra["studio"] = studio
    await add_account(site, "赵管理", "admin", login="admin")
    page = await desktop(browser)
    await login(page, site, "admin")
    await page.goto(site("/console/studio/models"))
    assert await page.locator("#cancel-training").count() == 0  # nothing to cancel yet

    async with page.expect_navigation():
        await page.click("#train")
    assert "训练已开始" in await page.inner_text("main")
    assert await page.is_disabled("#train")
    async with page.expect_navigation():
        await page.click("#cancel-training")
    assert "训练已取消，模型库没有变化" in await page.inner_text("main")
    assert not studio.trainer.running()
    assert sorted(p.name for p in models.iterdir() if p.is_dir()) == before

    assert not await page.is_disabled("#train")  # and training starts again
    async with page.expect_navigation():
        await page.click("#train")
    assert "训练已开始" in await page.inner_text("main")
    await page.wait_for_selector(".evaluation .new-accuracy", timeout=120_000)
    await asyncio.to_thread(studio.trainer.close)

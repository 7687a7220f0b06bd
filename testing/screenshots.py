"""`make screenshots` (`.venv/bin/python -m testing.screenshots [--out docs/screenshots]`):
a screenshot of each main page, taken as people use them.

It serves the web application over a new SQLite database in a temporary directory with the
NLU model of `models/` (trained first if data or config changed), then, in headless Debian
Chromium: a taxpayer opens a return-correction case in the web chat on a phone (request,
the signed letter, submit) and asks for a person; a staff member logs in and the queue,
the case, the conversation, the accounts and the studio are shot on a desktop-sized page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from app.container import build_container
from app.settings import Settings
from testing.web import (
    PASSWORD,
    TURN_TIMEOUT,
    add_account,
    chromium,
    desktop,
    login,
    open_correction,
    phone,
    say,
    serve,
)

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = TURN_TIMEOUT


async def shoot(out: Path) -> list[Path]:
    """Take the screenshots into `out`; the files written."""
    from desk.migrate import upgrade

    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    models = ROOT / "models"
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'taxdesk.sqlite3'}"
        await asyncio.to_thread(upgrade, url)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=url,
            data_dir=Path(tmp) / "var",
            models_dir=models,
            redis_url=None,
            telegram_bot_token=None,
            webhook_url=None,
        )
        async with build_container(settings) as container, serve(container) as site:
            await add_account(site, "管理员", "admin", login="admin")
            await add_account(site, "王芳", "staff", login="wangfang")

            async def save(page: Any, name: str) -> None:
                path = out / f"{name}.png"
                await page.screenshot(path=str(path), full_page=True)
                written.append(path)

            async with chromium() as browser:
                chat = await phone(browser)
                await chat.goto(site("/chat"))
                number = await open_correction(chat)
                await save(chat, "web-chat")

                staff = await desktop(browser)
                await staff.goto(site("/console/login"))
                await save(staff, "login")
                await login(staff, site, "wangfang", PASSWORD)
                await staff.goto(site("/console/queue"))
                await save(staff, "queue")
                await staff.goto(site(f"/console/cases/{number}"))
                async with staff.expect_navigation():
                    await staff.click("form.act-claim button")
                await save(staff, "case")

                await say(chat, "转人工")
                await staff.goto(site("/console/conversations"))
                await staff.locator("tr.conv-human a").first.wait_for(timeout=TIMEOUT)
                await save(staff, "conversations")
                await staff.click("tr.conv-human a")
                await staff.fill("textarea[name=text]", "您好，我是王芳，您的更正申请已收到。")
                async with staff.expect_navigation():
                    await staff.click("#reply-form button[type=submit]")
                await expect(chat.locator("article.msg-staff").last).to_be_visible(timeout=TIMEOUT)
                await save(staff, "conversation")
                await save(chat, "web-chat-staff")
                # words the bot did not understand reach the studio's review inbox: the
                # fallbacks by themselves, and one the staff member sends there
                async with staff.expect_navigation():
                    await staff.click("#hand-back-form button")
                for words in ("楼下能停电动车吗", "你们这儿能开那个啥证明不"):
                    answered = await chat.locator("article.msg-bot").count()
                    await say(chat, words)
                    await expect(chat.locator("article.msg-bot")).not_to_have_count(
                        answered, timeout=TIMEOUT
                    )
                # read as out of scope (no fallback): the staff member sends it for review
                flagged = staff.locator("li.msg-taxpayer", has_text="那个啥证明")
                await flagged.wait_for(timeout=TIMEOUT)
                async with staff.expect_navigation():
                    await flagged.locator(".msg-review button").click()

                admin = await desktop(browser)
                await login(admin, site, "admin", PASSWORD)
                await admin.goto(site("/console/accounts"))
                await save(admin, "accounts")
                await admin.goto(site("/console/studio/review"))
                await save(admin, "review")
                # the held-out evaluation beside the active model (data unchanged: the job
                # evaluates the active model, it does not train another)
                await admin.goto(site("/console/studio/models"))
                async with admin.expect_navigation():
                    await admin.click("#train")
                await admin.wait_for_selector(".evaluation, .job .notice", timeout=180_000)
                await admin.goto(site("/console/studio/models"))
                await save(admin, "models")
                await admin.goto(site("/console/studio"))
                await save(admin, "studio")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from nlu.model_store import train_model

    # before the event loop: the model the pages use (skipped when data and config are as trained)
    train_model([ROOT / "data"], ROOT / "config.yml", ROOT / "models")
    with contextlib.suppress(KeyboardInterrupt):
        for path in asyncio.run(shoot(args.out)):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Helpers of the queue and case-page tests and of `bench/console.py`: cases put in through
the desk as the dialogue would (so the console sees them only through its live feed), and a
logged-in HTTP client (the login form with its CSRF token)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from intake.storage import LocalAttachmentStore
from testing.samples import make_jpeg, make_scanned_pdf
from testing.web import PASSWORD, Site

COMPANY = "91310115MA1K3YJ12G"
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


async def submit_case(
    site: Site,
    tax_id: str = COMPANY,
    *,
    chat: str = "1001",
    name: str | None = "张会计",
    period: str = "2025",
) -> str:
    """A tax-certificate case submitted from a Telegram chat (no documents needed)."""
    runtime = site.deps.runtime
    async with runtime.sessions() as s:
        desk = runtime.desk(s)
        conv = await desk.ensure_conversation("telegram", chat, chat, display_name=name)
        case = await desk.open_and_submit(
            "tax_certificate",
            taxpayer_id=conv.taxpayer_id,
            conversation_id=conv.id,
            slots={"taxpayer_id": tax_id, "tax_period": period},
            notify=False,
        )
        return case.number


async def submit_correction(site: Site, tax_id: str = COMPANY, *, chat: str = "1002") -> str:
    """A return correction with a scanned commitment letter (PDF) and a photo, as uploads
    through the intake would store them."""
    runtime = site.deps.runtime
    store = LocalAttachmentStore(site.deps.data_dir / "attachments")
    async with runtime.sessions() as s:
        desk = runtime.desk(s)
        conv = await desk.ensure_conversation("telegram", chat, chat, display_name="李会计")
        case = await desk.open_case(
            "return_correction",
            taxpayer_id=conv.taxpayer_id,
            conversation_id=conv.id,
            slots={"taxpayer_id": tax_id, "tax_type": "vat", "tax_period": "2019-12"},
        )
        letter = await desk.check_and_store(store, make_scanned_pdf(), "承诺书.pdf")
        await desk.attach(case.number, letter.id, "commitment_letter")
        photo = await desk.check_and_store(store, make_jpeg(), "申报表截图.jpg")
        await desk.attach(case.number, photo.id, "supporting")
        await desk.submit(case.number, notify=False)
        return case.number


async def http_login(
    http: aiohttp.ClientSession, site: Site, login: str, password: str = PASSWORD
) -> str:
    """Log `http` in through the form; the session's CSRF token (for posts)."""
    async with http.get(site("/console/login")) as r:
        token = _token(await r.text())
    form = {"_csrf": token, "login": login, "password": password, "next": "/console/"}
    async with http.post(site("/console/login"), data=form, allow_redirects=False) as r:
        assert r.status == 303, r.status
    async with http.get(site("/console/queue")) as r:
        assert r.status == 200, r.status
        return _token(await r.text())


def _token(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


def cookie_jar() -> Any:
    """A cookie jar that keeps 127.0.0.1's cookies (aiohttp drops IP cookies by default)."""
    return aiohttp.CookieJar(unsafe=True)

"""The authorisation matrix of the console, over HTTP (aiohttp's client, no browser):

* every route `build_app` serves under /console is wrapped by `require` (its
  `required_role`), except the few public by design — so a route added later is covered;
* every such route as anonymous (page → the login page, anything else → 401), and as staff,
  supervisor and admin (too low a role → 403), walked from the router;
* each action of the conversations and the accounts pages as each role (the allowed ones
  succeed, and the desk refuses what the role may not do whoever calls it);
* an unsafe request without its CSRF token is refused (403) for every POST route;
* the login lockout refuses even the right password, and lifts after its window.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from console.auth import LoginThrottle, MemoryCounter
from testing.app import MakeContainer, bot_settings
from testing.web import PASSWORD, Site, add_account, serve

#: Public by design: logging in and out needs no role, and a setup link's token is its own
#: credential (signed, 24 h, single use). Static files and the web chat are for everyone.
PUBLIC = {"/console/login", "/console/logout", "/console/setup/{token}"}
ROLES = ("staff", "supervisor", "admin")
RANK = {"staff": 0, "supervisor": 1, "admin": 2}
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"|name="_csrf" value="([^"]+)"')


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def served(
    tmp_path: Path, web_database: str, make_container: MakeContainer, fake_time: FakeTime
) -> AsyncIterator[Site]:
    """The web application on the scripted dialogue (no model: the matrix needs none), with
    a login throttle on a fake clock."""
    settings = bot_settings(database_url=web_database, data_dir=tmp_path / "var")
    container = await make_container(settings)
    throttle = LoginThrottle(MemoryCounter(clock=fake_time))
    async with serve(container, throttle=throttle) as site:
        for role in ROLES:
            await add_account(site, f"{role}-user", role, login=role)
        yield site


@dataclass
class Client:
    """A browser-like HTTP client: its own cookies, the session's CSRF token."""

    site: Site
    http: aiohttp.ClientSession
    token: str = ""

    async def refresh_token(self) -> None:
        async with self.http.get(self.site("/console/login")) as resp:
            found = CSRF.search(await resp.text())
        assert found, "no CSRF token on the login page"
        self.token = found.group(1) or found.group(2)

    async def login(self, login: str, password: str = PASSWORD) -> int:
        await self.refresh_token()
        data = {"_csrf": self.token, "login": login, "password": password, "next": "/console/"}
        async with self.http.post(
            self.site("/console/login"), data=data, allow_redirects=False
        ) as resp:
            status = resp.status
        if status == 303:  # a new session: a new token
            async with self.http.get(self.site("/console/conversations")) as page:
                found = CSRF.search(await page.text())
            assert found
            self.token = found.group(1) or found.group(2)
        return status

    async def get(self, path: str, *, page: bool = True) -> int:
        headers = {"Accept": "text/html" if page else "application/json"}
        async with self.http.get(self.site(path), headers=headers, allow_redirects=False) as resp:
            if resp.status == 303:
                assert resp.headers["Location"].startswith("/console/login?next=")
            return resp.status

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True
    ) -> int:
        form = dict(data or {})
        if csrf:
            form["_csrf"] = self.token
        async with self.http.post(self.site(path), data=form, allow_redirects=False) as resp:
            return resp.status


@pytest.fixture
async def client(served: Site) -> AsyncIterator[Any]:
    sessions: list[aiohttp.ClientSession] = []

    async def make(role: str | None = None) -> Client:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(http)
        c = Client(served, http)
        if role is None:
            await c.refresh_token()
        else:
            assert await c.login(role) == 303
        return c

    try:
        yield make
    finally:
        for http in sessions:
            await http.close()


def _console_routes(app: web.Application) -> list[tuple[str, str, Any]]:
    out = []
    for resource in app.router.resources():
        path = resource.canonical
        if not path.startswith("/console") or path.startswith("/static"):
            continue
        for route in resource:
            if route.method == "HEAD":
                continue
            out.append((route.method, path, route.handler))
    return out


#: A value each placeholder's pattern accepts (a route like `{action:claim|note}` would
#: otherwise answer 404 before the role rule is reached); anything else gets "1".
EXAMPLES = {"action": "claim"}


def _concrete(path: str) -> str:
    return re.sub(r"\{([^}:]+)[^}]*\}", lambda m: EXAMPLES.get(m[1], "1"), path)


async def test_every_console_route_requires_a_role(served: Site) -> None:
    routes = _console_routes(served.app)
    paths = {p for _m, p, _h in routes}
    assert {"/console/conversations", "/console/accounts"} <= paths  # the walk sees them
    for method, path, handler in routes:
        if path in PUBLIC:
            continue
        role = getattr(handler, "required_role", None)
        assert role in RANK, f"{method} {path} is not wrapped by console.auth.require"
    assert all(
        getattr(h, "required_role", None) == "admin" for _m, p, h in routes if "accounts" in p
    )


async def test_the_matrix_walked_from_the_router(served: Site, client: Any) -> None:
    """Anonymous: a page is sent to the login page, anything else gets 401; a role below the
    route's gets 403. (Streams and pages of the allowed roles are checked below.)"""
    anonymous = await client()
    users = {role: await client(role) for role in ROLES}
    for method, path, handler in _console_routes(served.app):
        if path in PUBLIC:
            continue
        url = _concrete(path)
        needed = RANK[handler.required_role]
        if method == "GET":
            assert await anonymous.get(url) == 303, path
            assert await anonymous.get(url, page=False) == 401, path
        else:
            assert await anonymous.post(url) == 401, path
        for role, user in users.items():
            if RANK[role] >= needed:
                continue
            got = await user.get(url) if method == "GET" else await user.post(url)
            assert got == 403, (role, method, path)


async def _conversation(site: Site, state: str = "bot") -> int:
    runtime = site.deps.runtime
    async with runtime.sessions() as s:
        desk = runtime.desk(s)
        conv = await desk.ensure_conversation("web", "w-1", "w-1", display_name="李四")
        if state == "human":
            await desk.set_conversation_state(conv.id, "human")
        return conv.id


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_works_a_conversation(served: Site, client: Any, role: str) -> None:
    conv = await _conversation(served)
    user = await client(role)
    assert await user.get("/console/conversations") == 200
    assert await user.get(f"/console/conversations/{conv}") == 200
    assert await user.get("/console/conversations/99999") == 404
    assert await user.post(f"/console/conversations/{conv}/take-over") == 303
    assert await user.post(f"/console/conversations/{conv}/reply", {"text": "您好"}) == 303
    assert await user.post(f"/console/conversations/{conv}/reply", {"text": " "}) == 400
    assert await user.post(f"/console/conversations/{conv}/hand-back") == 303
    async with served.deps.runtime.sessions() as s:
        view = await served.deps.runtime.desk(s).conversation_view(conv)
    # the staff reply; the taxpayer's notices (taken over, back to the bot) may have been
    # delivered meanwhile by the web chat's outbox worker and show as the bot's
    assert view.state == "bot" and [i.text for i in view.items if i.who == "staff"] == ["您好"]


@pytest.mark.parametrize("role", ROLES)
async def test_only_admins_work_the_accounts(served: Site, client: Any, role: str) -> None:
    user = await client(role)
    target = served.accounts["staff"]
    expected_page, expected_step = (200, 303) if role == "admin" else (403, 403)
    assert await user.get("/console/accounts") == expected_page
    steps = [
        (
            "/console/accounts",
            {"name": f"新人{role}", "login": f"new-{role}", "role": "staff", "password": PASSWORD},
        ),
        (f"/console/accounts/{target}/role", {"role": "supervisor"}),
        (f"/console/accounts/{target}/telegram", {"telegram_user_id": "777"}),
        (f"/console/accounts/{target}/password", {"password": "a brand new password"}),
        (f"/console/accounts/{target}/active", {"active": "0"}),
        (f"/console/accounts/{target}/active", {"active": "1"}),
    ]
    for path, data in steps:
        assert await user.post(path, data) == expected_step, path
    async with served.deps.runtime.sessions() as s:
        member = await served.deps.runtime.desk(s).staff_identity(target)
    assert member is not None and member.role == ("supervisor" if role == "admin" else "staff")


async def test_a_disabled_account_is_out_at_the_next_request(served: Site, client: Any) -> None:
    staff = await client("staff")
    admin = await client("admin")
    assert await staff.get("/console/conversations") == 200
    assert (
        await admin.post(f"/console/accounts/{served.accounts['staff']}/active", {"active": "0"})
        == 303
    )
    assert await staff.get("/console/conversations") == 303  # back to the login page
    assert await staff.post("/console/conversations/1/take-over") == 401
    # the last active admin cannot lock the office out
    assert (
        await admin.post(f"/console/accounts/{served.accounts['admin']}/active", {"active": "0"})
        == 400
    )
    assert (
        await admin.post(f"/console/accounts/{served.accounts['admin']}/role", {"role": "staff"})
        == 400
    )
    assert await admin.get("/console/accounts") == 200


async def test_a_post_without_its_csrf_token_is_refused(served: Site, client: Any) -> None:
    admin = await client("admin")
    conv = await _conversation(served)
    for method, path, _handler in _console_routes(served.app):
        if method != "POST":
            continue
        url = _concrete(path).replace("/conversations/1/", f"/conversations/{conv}/")
        assert await admin.post(url, {"text": "hi"}, csrf=False) == 403, path
    anonymous = await client()
    assert (
        await anonymous.post(
            "/console/login", {"login": "admin", "password": PASSWORD}, csrf=False
        )
        == 403
    )
    async with served.deps.runtime.sessions() as s:
        view = await served.deps.runtime.desk(s).conversation_view(conv)
    assert view.state == "bot" and view.items == []  # nothing happened


async def test_the_lockout_refuses_the_right_password_and_lifts(
    served: Site, client: Any, fake_time: FakeTime
) -> None:
    user = await client()
    throttle = served.deps.throttle
    for _ in range(throttle.max_failures - 1):
        assert await user.login("staff", "guess") == 401
    assert await user.login("staff", "guess") == 429  # the last failure locks
    assert await user.login("staff", PASSWORD) == 429  # even the right password
    fake_time.now += throttle.lockout - 1
    assert await user.login("staff", PASSWORD) == 429
    fake_time.now += 2  # the window has passed
    assert await user.login("staff", PASSWORD) == 303


async def test_a_setup_link_sets_the_password_once(served: Site, client: Any) -> None:
    """The public page of a one-time link (`main.py staff add … --setup-link`)."""
    runtime = served.deps.runtime
    assert served.deps.secret is not None
    async with runtime.sessions() as s:
        desk = runtime.desk(s)
        member = await desk.add_staff("新同事", "staff", login="xin")
        token = await desk.setup_token(member.id, served.deps.secret)
    visitor = await client()
    assert await visitor.get(f"/console/setup/{token}") == 200
    assert await visitor.get(f"/console/setup/{token[:-2]}xx") == 400  # forged
    assert await visitor.get("/console/setup/..%2F..%2Fetc") == 400
    data = {"password": "correct horse battery", "again": "something else"}
    assert await visitor.post(f"/console/setup/{token}", data) == 400
    data["again"] = data["password"]
    assert await visitor.post(f"/console/setup/{token}", data, csrf=False) == 403
    assert await visitor.post(f"/console/setup/{token}", data) == 303
    assert await visitor.get(f"/console/setup/{token}") == 400  # used
    assert (
        await visitor.post(f"/console/setup/{token}", {"password": "x" * 9, "again": "x" * 9})
        == 400
    )
    assert await (await client()).login("xin") == 303

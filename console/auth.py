"""Staff login, logout, and the role rule on every console route.

* `require(role)` wraps a handler: the session's staff member is read from the desk on every
  request (`Desk.staff_identity`: a disabled account or a changed role counts at once) and put
  in `request[STAFF]`. Anonymous: a page redirects to the login page, anything else (an API
  call, an event stream, a form post) gets 401. Too low a role: 403. Roles rank staff <
  supervisor < admin. The case actions themselves are checked again by the desk
  (`desk.services.permissions`), whoever calls them.
* Logging in: `LoginThrottle` counts failures per login and per client address; after
  `max_failures` for a login within `window` it is locked for `lockout` (the form says so and
  says when to try again), also with the right password. A success starts a new session (no
  session fixation) with a fresh CSRF token.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session

from console.security import new_csrf_token
from desk.services import StaffIdentity

STAFF: web.RequestKey[StaffIdentity] = web.RequestKey("staff", StaffIdentity)
RANK = {"staff": 0, "supervisor": 1, "admin": 2}
ROLE_LABELS = {"staff": "工作人员", "supervisor": "主管", "admin": "管理员"}
BAD_LOGIN = "用户名或密码不正确。"
LOCKED = "登录失败次数过多，该账号已暂时锁定，请 {minutes} 分钟后再试。"
IP_LOCKED = "本地址登录失败次数过多，请 {minutes} 分钟后再试。"
FORBIDDEN = "您的角色无权访问此页面或执行此操作。"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Counter(Protocol):
    """Where the throttle counts failures (memory, or Redis for several processes)."""

    async def hit(self, key: str, window: float) -> int: ...
    async def count(self, key: str, window: float) -> int: ...
    async def clear(self, key: str) -> None: ...


@dataclass
class MemoryCounter:
    """Failures kept in this process (one console process)."""

    clock: Callable[[], float] = time.monotonic
    hits: dict[str, list[float]] = field(default_factory=dict)

    def _live(self, key: str, window: float) -> list[float]:
        now = self.clock()
        live = [t for t in self.hits.get(key, []) if now - t < window]
        self.hits[key] = live
        return live

    async def hit(self, key: str, window: float) -> int:
        live = self._live(key, window)
        live.append(self.clock())
        return len(live)

    async def count(self, key: str, window: float) -> int:
        return len(self._live(key, window))

    async def clear(self, key: str) -> None:
        self.hits.pop(key, None)


class RedisCounter:
    """Failures in a Redis sorted set per key (shared by every console process)."""

    def __init__(self, redis: Any, prefix: str = "taxdesk:login:") -> None:
        self.redis = redis
        self.prefix = prefix

    async def hit(self, key: str, window: float) -> int:
        now = time.time()
        k = self.prefix + key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(k, 0, now - window)
            pipe.zadd(k, {f"{now:.6f}:{time.perf_counter_ns()}": now})
            pipe.zcard(k)
            pipe.expire(k, int(window) + 1)
            result = await pipe.execute()
        return int(result[2])

    async def count(self, key: str, window: float) -> int:
        now = time.time()
        k = self.prefix + key
        await self.redis.zremrangebyscore(k, 0, now - window)
        return int(await self.redis.zcard(k))

    async def clear(self, key: str) -> None:
        await self.redis.delete(self.prefix + key)


@dataclass
class LoginThrottle:
    """Lockout after repeated failures: per login, and per client address."""

    counter: Counter = field(default_factory=MemoryCounter)
    max_failures: int = 5  # per login within `lockout`
    max_per_address: int = 30  # per client address within `lockout`
    lockout: float = 15 * 60  # seconds

    @property
    def minutes(self) -> int:
        return max(1, round(self.lockout / 60))

    async def refusal(self, login: str, address: str) -> str | None:
        """Why this attempt is refused before the password is looked at, or None."""
        if await self.counter.count("login:" + login, self.lockout) >= self.max_failures:
            return LOCKED.format(minutes=self.minutes)
        if await self.counter.count("addr:" + address, self.lockout) >= self.max_per_address:
            return IP_LOCKED.format(minutes=self.minutes)
        return None

    async def failed(self, login: str, address: str) -> str:
        """Count a failure; the message to show (the lockout once it is reached)."""
        n = await self.counter.hit("login:" + login, self.lockout)
        await self.counter.hit("addr:" + address, self.lockout)
        return LOCKED.format(minutes=self.minutes) if n >= self.max_failures else BAD_LOGIN

    async def succeeded(self, login: str) -> None:
        await self.counter.clear("login:" + login)


def client_address(request: web.Request) -> str:
    """The peer's address (a reverse proxy in front must be trusted explicitly; not here)."""
    return request.remote or "unknown"


async def current_staff(request: web.Request) -> StaffIdentity | None:
    """The logged-in, still active staff member of this request, or None."""
    if STAFF in request:
        return request[STAFF]
    session = await get_session(request)
    staff_id = session.get("staff_id")
    if not isinstance(staff_id, int):
        return None
    from console.app import DEPS

    deps = request.app[DEPS]
    async with deps.runtime.sessions() as s:
        identity = await deps.runtime.desk(s).staff_identity(staff_id)
    if identity is None:
        session.pop("staff_id", None)
        return None
    request[STAFF] = identity
    return identity


def _wants_page(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "text/html")


def require(role: str = "staff") -> Callable[[Handler], Handler]:
    """Only staff of at least `role` (staff < supervisor < admin) reach the handler."""
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}")

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            staff = await current_staff(request)
            if staff is None:
                if _wants_page(request):
                    raise web.HTTPSeeOther(
                        str(request.app.router["login"].url_for().with_query(next=request.path_qs))
                    )
                raise web.HTTPUnauthorized(text="请先登录。")
            if RANK.get(staff.role, -1) < RANK[role]:
                raise web.HTTPForbidden(text=FORBIDDEN)
            return await handler(request)

        guarded.required_role = role  # type: ignore[attr-defined]
        return guarded

    return wrap


def _safe_next(value: str | None) -> str:
    """Only a path of the console itself (no open redirect)."""
    if value and value.startswith("/console") and not value.startswith("//"):
        return value
    return "/console/"


@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    return {"next": _safe_next(request.query.get("next")), "error": None, "login": ""}


async def login_submit(request: web.Request) -> web.StreamResponse:
    from console.app import DEPS

    deps = request.app[DEPS]
    form = await request.post()
    login = str(form.get("login") or "").strip()[:100]
    password = str(form.get("password") or "")[:1024]
    nxt = _safe_next(str(form.get("next") or ""))
    address = client_address(request)

    def again(error: str, status: int = 401) -> web.StreamResponse:
        ctx = {"next": nxt, "error": error, "login": login}
        return aiohttp_jinja2.render_template("login.html", request, ctx, status=status)

    refused = await deps.throttle.refusal(login, address)
    if refused:
        return again(refused, status=429)
    async with deps.runtime.sessions() as s:
        identity = await deps.runtime.desk(s).authenticate(login, password)
    if identity is None:
        message = await deps.throttle.failed(login, address)
        return again(message, status=429 if message != BAD_LOGIN else 401)
    await deps.throttle.succeeded(login)
    session = await new_session(request)
    session["staff_id"] = identity.id
    new_csrf_token(session)
    raise web.HTTPSeeOther(nxt)


async def logout(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    session.invalidate()
    raise web.HTTPSeeOther(str(request.app.router["login"].url_for()))


def setup(app: web.Application) -> None:
    app.router.add_get("/console/login", login_page, name="login")
    app.router.add_post("/console/login", login_submit)
    app.router.add_post("/console/logout", logout, name="logout")

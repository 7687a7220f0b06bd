"""The aiohttp application of the console and the web chat, and what it needs (`ConsoleDeps`).

`build_app(deps)` installs, in order: security headers, sessions, CSRF; Jinja2 with
autoescaping and the template helpers (`csrf_token()`, `staff`, `role_label`, the `bj`
filter for Beijing time); the routes of each page module (`setup(app)` in `console.auth`,
and the modules listed in `PAGES`); the static files; and the live feed's poller for the
life of the application. Nothing here touches SQL: pages call `desk.services.Desk` through
`deps.runtime`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import SimpleCookieStorage, get_session
from aiohttp_session import setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from bot.ports import Dialogue, FileIntake, OutboundStore
from console.auth import ROLE_LABELS, STAFF, LoginThrottle, current_staff, require
from console.live import ChangeFeed, running
from console.security import csrf_middleware, csrf_token, headers_middleware
from desk.runtime import DeskRuntime
from intake.documents import DEFAULT_MAX_BYTES

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
COOKIE = "taxdesk_session"
#: Page modules, each with `setup(app)` adding its routes (a module not there yet is skipped
#: with a log line, so the pages can land one by one).
PAGES: tuple[str, ...] = (
    "console.auth",
    "console.queue",
    "console.cases",
    "console.conversations",
    "console.accounts",
    "console.studio",
    "console.webchat.routes",
)
#: Largest request body: an upload (20 MB, as Telegram's Bot API hands out) and the form.
MAX_BODY = 21 * 1024 * 1024
#: Largest file a page lets one choose (the intake's limit); the pages check it before
#: sending, so a file too large is refused with what was typed kept (not a 413 page).
UPLOAD_LIMIT = DEFAULT_MAX_BYTES


@dataclass
class ConsoleDeps:
    """What the web application uses. `app` builds it from its container; tests may too.

    `engine` runs the web chat's turns (the same dialogue as Telegram); `recorder` stores each
    inbound web-chat message before the turn runs (`DeskInboundStore.record_message`);
    `outbound` records the replies; `intake` checks and stores uploads."""

    runtime: DeskRuntime
    engine: Dialogue
    recorder: Any
    intake: FileIntake
    outbound: OutboundStore | None
    data_dir: Path
    secret: bytes | None = None  # 32 bytes for the encrypted cookie (None: tests' plain cookie)
    redis: Any = None  # redis.asyncio client: sessions, login throttle
    secure_cookies: bool = False  # set the Secure flag (the site is served over HTTPS)
    frame_ancestors: str = "'self'"  # who may frame the web chat (the office's own site)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    feed: ChangeFeed | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # per-page state (channels, senders)

    def __post_init__(self) -> None:
        if self.feed is None:
            self.feed = ChangeFeed(self.runtime)

    @property
    def live(self) -> ChangeFeed:
        assert self.feed is not None
        return self.feed


DEPS: web.AppKey[ConsoleDeps] = web.AppKey("deps", ConsoleDeps)


def beijing(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time shown in Beijing time."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(BEIJING).strftime(fmt)


def _session_storage(deps: ConsoleDeps) -> Any:
    options: dict[str, Any] = {
        "cookie_name": COOKIE,
        "httponly": True,
        "secure": deps.secure_cookies,
        "samesite": "Lax",
        "max_age": 12 * 3600,
    }
    if deps.redis is not None:
        from aiohttp_session.redis_storage import RedisStorage

        return RedisStorage(deps.redis, key_factory=_random_key, **options)
    if deps.secret is None:
        return SimpleCookieStorage(**options)  # tests only: build_app is given no secret
    return EncryptedCookieStorage(deps.secret, **options)


def _random_key() -> str:
    import secrets

    return secrets.token_urlsafe(24)


async def _context(request: web.Request) -> dict[str, Any]:
    session = await get_session(request)
    staff = await current_staff(request) if request.path.startswith("/console") else None
    return {
        "staff": staff,
        "role_label": ROLE_LABELS,
        "csrf_token": lambda: csrf_token(session),
        "max_upload": UPLOAD_LIMIT,
        "path": request.path,
        "asset": lambda name: str(request.app.router["static"].url_for(filename=name)),
    }


ERROR_TITLES = {
    400: "请求有误",
    403: "无权访问",
    404: "页面不存在",
    413: "文件过大",
    429: "请稍后再试",
}


@web.middleware
async def error_pages(request: web.Request, handler: Any) -> web.StreamResponse:
    """A 4xx for a browser's page request is shown as a page with the console's header (an
    API call or a stream keeps the plain text)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        wants_page = request.method == "GET" and "text/html" in request.headers.get("Accept", "")
        if exc.status not in ERROR_TITLES or not wants_page:
            raise
        back = "/chat" if request.path.startswith("/chat") else "/console/"
        message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else ""
        return aiohttp_jinja2.render_template(
            "error.html",
            request,
            {"title": ERROR_TITLES[exc.status], "message": message, "back": back},
            status=exc.status,
        )


@require("staff")
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/console/queue")


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/chat")


def _pages(app: web.Application, modules: tuple[str, ...]) -> list[str]:
    loaded = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                log.info("console: %s is not there yet", name)
                continue
            raise
        module.setup(app)
        loaded.append(name)
    return loaded


def build_app(
    deps: ConsoleDeps,
    *,
    pages: tuple[str, ...] = PAGES,
    extra: list[Callable[[web.Application], None]] | None = None,
) -> web.Application:
    """The web application of the console and the web chat (`extra`: more routes, e.g. the
    Telegram webhook when one process serves both)."""
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[headers_middleware(deps.frame_ancestors)],
    )
    app[DEPS] = deps
    setup_sessions(app, _session_storage(deps))
    app.middlewares.append(csrf_middleware)
    app.middlewares.append(error_pages)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        context_processors=[_context],
        undefined=jinja2.StrictUndefined,
    )
    env.filters["bj"] = beijing
    app.router.add_get("/", root)
    app.router.add_get("/console", home)
    app.router.add_get("/console/", home, name="home")
    app.router.add_static("/static/", HERE / "static", name="static", append_version=True)
    _pages(app, pages)
    for add in extra or []:
        add(app)

    async def live(app: web.Application) -> AsyncIterator[None]:
        async with running(deps.live):
            yield

    app.cleanup_ctx.append(live)
    return app


def static_url(app: web.Application) -> Callable[[str], str]:
    """`static_url(app)("console.css")`: the versioned URL of a static file."""
    return lambda name: str(app.router["static"].url_for(filename=name))


__all__ = ["DEPS", "STAFF", "ConsoleDeps", "beijing", "build_app", "static_url"]

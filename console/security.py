"""Sessions, CSRF tokens and security headers for every page of the web application.

* Sessions (`aiohttp_session`): an encrypted, authenticated cookie (Fernet, key from
  `console.keys.load_secret`), or Redis when `REDIS_URL` is set (then the cookie holds only
  a random id). HttpOnly, SameSite=Lax, and Secure when the site is served over HTTPS.
* CSRF: each session has a random token; every unsafe request (POST, PUT, PATCH, DELETE) must
  carry it, in the form field `_csrf` or the `X-CSRF-Token` header (the pages' JavaScript
  sends the header, read from `<meta name="csrf-token">`). A missing or wrong token is a 403,
  whatever the route: no handler sees such a request.
* Headers: `X-Content-Type-Options: nosniff`, a Content-Security-Policy with scripts from our
  own origin only (no inline scripts anywhere), `Referrer-Policy`, and no framing of the console
  (the web chat may be framed by the office's own site: `frame_ancestors`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp_session import Session, get_session

CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_REFUSED = "请求缺少有效的安全令牌（CSRF），已拒绝。请刷新页面后重试。"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def csrf_token(session: Session) -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def new_csrf_token(session: Session) -> str:
    """A fresh token (after logging in or out)."""
    session.pop("csrf", None)
    return csrf_token(session)


async def _sent_token(request: web.Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # cached: the handler reads it again for free
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse an unsafe request without this session's token (403)."""
    if request.method not in SAFE_METHODS:
        session = await get_session(request)
        expected = session.get("csrf")
        sent = await _sent_token(request)
        if (
            not isinstance(expected, str)
            or not expected
            or not hmac.compare_digest(sent.encode(), expected.encode())
        ):
            raise web.HTTPForbidden(text=CSRF_REFUSED)
    return await handler(request)


def headers_middleware(
    frame_ancestors: str = "'self'",
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Security headers on every response. `/chat` may be framed by `frame_ancestors`
    (the office's site, for the embeddable chat); everything else by nobody."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            resp = exc
            _secure(request, resp, frame_ancestors)
            raise
        _secure(request, resp, frame_ancestors)
        return resp

    return middleware


def _secure(request: web.Request, resp: web.StreamResponse, frame_ancestors: str) -> None:
    if resp.prepared:  # a stream (SSE, a download) set its headers before writing
        return
    chat = request.path.startswith("/chat")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors if chat else chr(39) + 'none' + chr(39)}",
    )
    if not chat:
        resp.headers.setdefault("X-Frame-Options", "DENY")

"""Staff accounts (admins): the list; add (name, login, role, initial password); change a role;
disable / enable; reset a password; link or unlink a Telegram user id. And the one-time setup
page (`/console/setup/{token}`, from `main.py staff add NAME --setup-link`) where a new staff
member sets their own password.

The route says admin (`require("admin")`) and the desk checks again (`Desk.create_account`
… ask the `manage_accounts` rule of `desk.services.permissions` about the acting staff
member), so no caller gets around it. A refusal (the last active admin, a weak password, a
login taken) is shown as the desk's Chinese message; the form's values stay.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from console.app import DEPS
from console.auth import ROLE_LABELS, STAFF, require
from console.keys import load_secret
from desk.services import StaffIdentity
from desk.services.accounts import BadSetupLink
from taxrules.errors import UserFacingError

FLASH = "accounts_flash"


def _staff_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text="找不到该账号。")
    return int(raw)


async def _page(
    request: web.Request, *, error: str | None = None, form: dict[str, str] | None = None
) -> web.Response:
    deps = request.app[DEPS]
    async with deps.runtime.sessions() as s:
        accounts = await deps.runtime.desk(s).staff_accounts(request[STAFF].id)
    session = await get_session(request)
    done = session.pop(FLASH, None)
    return aiohttp_jinja2.render_template(
        "accounts.html",
        request,
        {
            "accounts": accounts,
            "roles": ROLE_LABELS,
            "error": error,
            "done": done,
            "form": form or {"name": "", "login": "", "role": "staff"},
        },
        status=400 if error else 200,
    )


@require("admin")
async def accounts_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


async def _done(request: web.Request, message: str) -> web.StreamResponse:
    session = await get_session(request)
    session[FLASH] = message
    raise web.HTTPSeeOther("/console/accounts")


@require("admin")
async def add_account(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    form = await request.post()
    values = {k: str(form.get(k) or "").strip()[:100] for k in ("name", "login", "role")}
    password = str(form.get("password") or "")[:1024]
    try:
        async with deps.runtime.sessions() as s:
            account = await deps.runtime.desk(s).create_account(
                request[STAFF].id, values["name"], values["login"], values["role"], password
            )
    except (UserFacingError, ValueError) as exc:
        message = exc.user_message if isinstance(exc, UserFacingError) else "请填写姓名。"
        return await _page(request, error=message, form=values)
    return await _done(request, f"已添加账号 {account.name}（{account.login}）。")


async def _step(request: web.Request, step: str) -> web.StreamResponse:
    deps = request.app[DEPS]
    staff_id = _staff_id(request)
    form = await request.post()
    actor = request[STAFF].id
    try:
        async with deps.runtime.sessions() as s:
            desk = deps.runtime.desk(s)
            if step == "role":
                account = await desk.change_role(actor, staff_id, str(form.get("role") or ""))
                message = f"{account.name} 的角色已改为{ROLE_LABELS.get(account.role, '')}。"
            elif step == "active":
                active = str(form.get("active") or "") == "1"
                account = await desk.set_active(actor, staff_id, active)
                message = f"已{'启用' if active else '停用'}账号 {account.name}。"
            elif step == "password":
                await desk.reset_password(actor, staff_id, str(form.get("password") or "")[:1024])
                message = "密码已重置。"
            else:  # telegram
                raw = str(form.get("telegram_user_id") or "").strip()
                if raw and not raw.lstrip("-").isdigit():
                    return await _page(request, error="Telegram 用户 ID 须为数字。")
                account = await desk.link_telegram(actor, staff_id, int(raw) if raw else None)
                message = (
                    f"{account.name} 已关联 Telegram 用户 {raw}。"
                    if raw
                    else f"已取消 {account.name} 的 Telegram 关联。"
                )
    except UserFacingError as exc:
        return await _page(request, error=exc.user_message)
    return await _done(request, message)


@require("admin")
async def change_role(request: web.Request) -> web.StreamResponse:
    return await _step(request, "role")


@require("admin")
async def set_active(request: web.Request) -> web.StreamResponse:
    return await _step(request, "active")


@require("admin")
async def reset_password(request: web.Request) -> web.StreamResponse:
    return await _step(request, "password")


@require("admin")
async def link_telegram(request: web.Request) -> web.StreamResponse:
    return await _step(request, "telegram")


# ---------------------------------------------------------------------- one-time setup link


async def _key(request: web.Request) -> bytes:
    deps = request.app[DEPS]
    if deps.secret is not None:
        return deps.secret
    return await asyncio.to_thread(load_secret, deps.data_dir)


def _setup_page(
    request: web.Request, ctx: dict[str, Any], status: int = 200
) -> web.StreamResponse:
    return aiohttp_jinja2.render_template("setup.html", request, ctx, status=status)


async def setup_page(request: web.Request) -> web.StreamResponse:
    """Public by design: the token is the credential (HMAC-signed, 24 h, single use)."""
    deps = request.app[DEPS]
    token = request.match_info["token"][:200]
    try:
        async with deps.runtime.sessions() as s:
            who = await deps.runtime.desk(s).setup_account(token, await _key(request))
    except UserFacingError as exc:
        return _setup_page(request, {"who": None, "error": exc.user_message}, 400)
    return _setup_page(request, {"who": who, "error": None})


async def _who(request: web.Request, token: str) -> StaffIdentity | None:
    deps = request.app[DEPS]
    try:
        async with deps.runtime.sessions() as s:
            return await deps.runtime.desk(s).setup_account(token, await _key(request))
    except UserFacingError:
        return None


async def setup_submit(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    token = request.match_info["token"][:200]
    form = await request.post()
    password = str(form.get("password") or "")[:1024]
    error = None
    if password != str(form.get("again") or "")[:1024]:
        error = "两次输入的密码不一致。"
    else:
        try:
            async with deps.runtime.sessions() as s:
                desk = deps.runtime.desk(s)
                await desk.use_setup_token(token, await _key(request), password)
        except UserFacingError as exc:
            error = exc.user_message
    if error is None:
        raise web.HTTPSeeOther("/console/login")
    who = await _who(request, token)
    if who is None:
        error = BadSetupLink().user_message
    return _setup_page(request, {"who": who, "error": error}, 400)


def setup(app: web.Application) -> None:
    app.router.add_get("/console/accounts", accounts_page, name="accounts")
    app.router.add_post("/console/accounts", add_account)
    app.router.add_post("/console/accounts/{id}/role", change_role)
    app.router.add_post("/console/accounts/{id}/active", set_active)
    app.router.add_post("/console/accounts/{id}/password", reset_password)
    app.router.add_post("/console/accounts/{id}/telegram", link_telegram)
    app.router.add_get("/console/setup/{token}", setup_page, name="setup")
    app.router.add_post("/console/setup/{token}", setup_submit)

"""Staff accounts for the console: passwords (argon2id hashes), logging in, and the admin's
account work (add, change role, disable, reset password, link a Telegram user id).

Hashing and verifying take tens of milliseconds of CPU on purpose, so they run in a thread
(`asyncio.to_thread`), never on the event loop. The plain password never leaves this module:
nothing here logs it, and what is stored is the encoded argon2 hash (salt and parameters
included). An unknown login is verified against a dummy hash, so a wrong login takes as long
as a wrong password (no login enumeration by timing).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from desk import repositories as repo
from desk.errors import DeskError, MissingText, StaffExists, StaffNotFound
from desk.models import StaffMember
from desk.services.staff import ROLES, StaffWork

_HASHER = PasswordHasher()
#: Verified when the login is unknown, so both failures cost the same.
_DUMMY_HASH = _HASHER.hash("taxdesk-no-such-login")
MIN_PASSWORD = 8
SETUP_TTL = timedelta(hours=24)  # a one-time setup link's life


class WeakPassword(DeskError):
    """A password too short to be accepted (the message says why, in Chinese)."""

    code = "weak_password"


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    """Who is logged in: what the console keeps of a staff member between requests."""

    id: int
    name: str
    role: str


def hash_password(password: str) -> str:
    """The argon2id hash of `password` (blocking: call in a thread)."""
    if len(password) < MIN_PASSWORD:
        raise WeakPassword("password too short", f"密码至少需要 {MIN_PASSWORD} 个字符。")
    return _HASHER.hash(password)


def _verify(encoded: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(encoded or _DUMMY_HASH, password) and encoded is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class Accounts(StaffWork):
    """Console logins and the staff accounts (each admin step checks the `manage_accounts`
    rule of `permissions` against the acting staff member)."""

    async def authenticate(self, login: str, password: str) -> StaffIdentity | None:
        """The active staff member whose login and password these are, or None (the same
        None for an unknown login, a wrong password and a disabled account)."""
        member = await repo.staff_by_login(self.session, login.strip()) if login else None
        await self._commit()
        encoded = member.password_hash if member is not None else None
        ok = await asyncio.to_thread(_verify, encoded, password)
        if not ok or member is None or not member.active:
            return None
        return StaffIdentity(member.id, member.name, member.role)

    async def staff_identity(self, staff_id: int) -> StaffIdentity | None:
        """The staff member of a console session, if still active (a disabled account or a
        changed role takes effect at the next request)."""
        member = await self.session.get(StaffMember, staff_id)
        await self._commit()
        if member is None or not member.active:
            return None
        return StaffIdentity(member.id, member.name, member.role)

    async def set_password(
        self, staff_id: int, password: str, *, login: str | None = None
    ) -> None:
        """Set (or reset) a staff member's console password; `login` sets the login too
        (default: keep it, or use the name when there is none)."""
        encoded = await asyncio.to_thread(hash_password, password)
        member = await self.session.get(StaffMember, staff_id)
        if member is None:
            raise await self._fail(StaffNotFound(str(staff_id)))
        if login is not None:
            member.login = login.strip()
        elif member.login is None:
            member.login = member.name
        member.password_hash = encoded
        await self.session.commit()

    # ------------------------------------------------------------------ the admin's work

    async def _admin(self, actor_id: int) -> StaffMember:
        """The acting staff member, if the rule of `manage_accounts` (admins) lets them."""
        actor = await self._staff(actor_id)
        await self._authorize(actor, "manage_accounts")
        return actor

    async def _account(self, staff_id: int) -> StaffMember:
        member = await self.session.get(StaffMember, staff_id)
        if member is None:
            raise await self._fail(StaffNotFound(str(staff_id)))
        return member

    async def _keep_an_admin(self, member: StaffMember) -> None:
        """Refuse to take away the last active admin (disable or demote)."""
        if member.role != "admin" or not member.active:
            return
        others = await self.session.scalar(
            select(func.count(StaffMember.id)).where(
                StaffMember.role == "admin",
                StaffMember.active.is_(True),
                StaffMember.id != member.id,
            )
        )
        if not others:
            raise await self._fail(LastAdmin(member.name))

    async def staff_accounts(self, actor_id: int) -> list[StaffAccount]:
        """Every staff account, by name (admins only)."""
        await self._admin(actor_id)
        rows = list(await repo.list_staff(self.session))
        await self._commit()
        return [_account_of(m) for m in rows]

    async def create_account(
        self, actor_id: int, name: str, login: str, role: str, password: str
    ) -> StaffAccount:
        """A new staff member with a console login and an initial password (admins only)."""
        await self._admin(actor_id)
        login = login.strip()
        if not login:
            raise await self._fail(MissingText("login", "登录名"))
        if role not in ROLES:
            raise await self._fail(BadRole(role))
        try:
            encoded = await asyncio.to_thread(hash_password, password)
        except WeakPassword as exc:
            raise await self._fail(exc) from None
        await self._commit()  # add_staff opens its own checks
        member = await self.add_staff(name, role, login=login, password_hash=encoded)
        return _account_of(member)

    async def change_role(self, actor_id: int, staff_id: int, role: str) -> StaffAccount:
        """Give an account another role (admins only; never the last active admin's)."""
        await self._admin(actor_id)
        if role not in ROLES:
            raise await self._fail(BadRole(role))
        member = await self._account(staff_id)
        if role != "admin":
            await self._keep_an_admin(member)
        member.role = role
        await self.session.commit()
        return _account_of(member)

    async def set_active(self, actor_id: int, staff_id: int, active: bool) -> StaffAccount:
        """Disable or enable an account (admins only). A disabled account's console session
        ends at its next request (`staff_identity`); the last active admin stays."""
        await self._admin(actor_id)
        member = await self._account(staff_id)
        if not active:
            await self._keep_an_admin(member)
        member.active = active
        await self.session.commit()
        return _account_of(member)

    async def reset_password(self, actor_id: int, staff_id: int, password: str) -> None:
        """Set a new password for an account (admins only)."""
        await self._admin(actor_id)
        await self._account(staff_id)
        try:
            await self.set_password(staff_id, password)
        except WeakPassword as exc:
            raise await self._fail(exc) from None

    async def link_telegram(
        self, actor_id: int, staff_id: int, telegram_user_id: int | None
    ) -> StaffAccount:
        """Link (or with None unlink) the Telegram user id with which the staff member
        writes in the staff supergroup (admins only)."""
        await self._admin(actor_id)
        member = await self._account(staff_id)
        if telegram_user_id is not None:
            other = await repo.staff_by_telegram_id(self.session, telegram_user_id)
            if other is not None and other.id != member.id:
                raise await self._fail(StaffExists(f"telegram:{telegram_user_id}"))
        member.telegram_user_id = telegram_user_id
        try:
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            raise StaffExists(f"telegram:{telegram_user_id}") from None
        return _account_of(member)

    # ------------------------------------------------------------------ one-time setup links

    async def setup_token(self, staff_id: int, key: bytes, *, ttl: timedelta = SETUP_TTL) -> str:
        """A link token with which the staff member sets their password once (valid `ttl`):
        an HMAC with `key` over the id, the expiry and the current password hash, so it
        stops working once a password is set (single use) or after the expiry."""
        member = await self._account(staff_id)
        expires = int((self.now() + ttl).timestamp())
        token = f"{member.id}.{expires}.{_sign(key, member.id, expires, member.password_hash)}"
        await self._commit()
        return token

    async def setup_account(self, token: str, key: bytes) -> StaffIdentity:
        """The active staff member a setup token is valid for; raises `BadSetupLink`."""
        member = await self._by_token(token, key)
        await self._commit()
        return StaffIdentity(member.id, member.name, member.role)

    async def use_setup_token(self, token: str, key: bytes, password: str) -> StaffIdentity:
        """Set the password of the token's staff member (the token then no longer works)."""
        member = await self._by_token(token, key)
        try:
            await self.set_password(member.id, password)
        except WeakPassword as exc:
            raise await self._fail(exc) from None
        return StaffIdentity(member.id, member.name, member.role)

    async def _by_token(self, token: str, key: bytes) -> StaffMember:
        try:
            raw_id, raw_expires, signature = token.split(".", 2)
            staff_id, expires = int(raw_id), int(raw_expires)
        except ValueError:
            raise await self._fail(BadSetupLink()) from None
        member = await self.session.get(StaffMember, staff_id)
        if (
            member is None
            or not member.active
            or expires < self.now().timestamp()
            or not hmac.compare_digest(
                signature, _sign(key, staff_id, expires, member.password_hash)
            )
        ):
            raise await self._fail(BadSetupLink())
        return member


class LastAdmin(DeskError):
    """The last active admin cannot be disabled or demoted."""

    code = "last_admin"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is the last active admin",
            f"{name} 是最后一个启用的管理员，不能停用或降级。请先让另一位管理员启用。",
        )


class BadRole(DeskError):
    """Not one of the roles."""

    code = "bad_role"

    def __init__(self, role: str) -> None:
        super().__init__(f"unknown role {role!r}", "角色须为 工作人员、主管 或 管理员。")


class BadSetupLink(DeskError):
    """A setup link that is forged, expired or already used."""

    code = "bad_setup_link"

    def __init__(self) -> None:
        super().__init__(
            "invalid setup link", "该设置链接无效、已过期或已使用。请联系管理员重新生成。"
        )


@dataclass(frozen=True, slots=True)
class StaffAccount:
    """An account as the admin's page shows it (never the hash)."""

    id: int
    name: str
    login: str | None
    role: str
    active: bool
    telegram_user_id: int | None
    has_password: bool


def _account_of(m: StaffMember) -> StaffAccount:
    return StaffAccount(
        m.id,
        m.name,
        m.login,
        m.role,
        bool(m.active),
        m.telegram_user_id,
        m.password_hash is not None,
    )


def _sign(key: bytes, staff_id: int, expires: int, password_hash: str | None) -> str:
    message = f"setup:{staff_id}:{expires}:{password_hash or ''}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")

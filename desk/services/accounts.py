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
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from desk import repositories as repo
from desk.errors import DeskError, StaffNotFound
from desk.models import StaffMember
from desk.services.core import DeskCore

_HASHER = PasswordHasher()
#: Verified when the login is unknown, so both failures cost the same.
_DUMMY_HASH = _HASHER.hash("taxdesk-no-such-login")
MIN_PASSWORD = 8


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


class Accounts(DeskCore):
    """Console logins and the staff accounts."""

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

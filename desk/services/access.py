"""Who may act for a taxpayer: the one entitlement rule, and the verifications behind it.

The rule (`entitled`): a conversation may START a case for any taxpayer ID it names (the
sealed commitment letter staff check is the proof), but it may SEE, CHANGE (answer, cancel,
attach) and RATE only
* the cases it opened itself (`case.taxpayer_id` is its taxpayer), and
* every case of a taxpayer ID it is VERIFIED for (a `verification` row).
Every taxpayer-side call of the desk goes through `entitled_case` / `entitled_cases`; a refusal
is `CaseNotVisible`, the same whether the case does not exist or belongs to someone else.

A channel account is verified for a taxpayer ID by
* sharing its own phone number (Telegram's contact button) when the number is one of the
  ID's registered tax handlers (办税人员, kept by staff: `main.py handlers ...`), or
* a one-time code staff issued for the ID (`main.py verify-code issue`, `/code` in the staff
  topic): 8 digits, valid `CODE_TTL`, single use, stored as its SHA-256 only; wrong codes
  are counted, and after `MAX_FAILED_TRIES` in `FAILED_WINDOW` every code is refused.
Individuals (resident ID numbers) are bound the same way.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta

from desk import repositories as repo
from desk.errors import CaseNotVisible, DeskError, NoTaxIdInConversation, VerificationRefused
from desk.models import (
    Case,
    Conversation,
    TaxHandler,
    Verification,
    VerificationAttempt,
    VerificationCode,
)
from desk.services.core import DeskCore, valid_tax_id
from desk.states import OPEN_STATUSES
from taxrules.errors import UserFacingError
from taxrules.masking import mask_taxpayer_id
from taxrules.phones import InvalidPhoneError, mask_phone, normalize_phone

log = logging.getLogger(__name__)

CODE_TTL = timedelta(hours=24)
CODE_DIGITS = 8
MAX_FAILED_TRIES = 5
FAILED_WINDOW = timedelta(hours=24)

NOT_OWN_CONTACT = "只能用您本人的手机号验证：请点下方“分享我的手机号”按钮，不要转发别人的名片。"
NOT_REGISTERED = (
    "手机号 {phone} 不在任何单位的办税人员名单中，暂时无法验证。您可以：\n"
    "1. 请单位到税务局登记这个手机号为办税人员，再点一次按钮；\n"
    "2. 向税务局工作人员索取验证码，收到后发送“验证码 12345678”；\n"
    "3. 携带身份证件到办税服务厅办理。"
)
BAD_CODE = (
    "验证码不对或已过期（验证码只能用一次，24 小时内有效）。"
    "请核对后重新发送，还可以再试 {left} 次。"
)
TOO_MANY_TRIES = "验证码错误次数太多，请 24 小时后再试，或携带身份证件到办税服务厅办理。"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What a CSV import of tax handlers did: rows added, rows already there, refusals."""

    added: int
    existing: int
    errors: tuple[str, ...]


def code_hash(code: str) -> str:
    """The SHA-256 a one-time code is stored and looked up as."""
    return hashlib.sha256(code.strip().encode()).hexdigest()


class Access(DeskCore):
    """The entitlement rule, tax handlers, verifications and one-time codes."""

    # ------------------------------------------------------------------ the rule

    async def _entitled(self, case: Case, taxpayer_id: int, verified: set[str] | None) -> bool:
        if case.taxpayer_id == taxpayer_id:
            return True
        tax_id = (case.slots or {}).get("taxpayer_id")
        if not tax_id:
            return False
        if verified is None:
            verified = await repo.verified_tax_ids(self.session, taxpayer_id)
        return tax_id in verified

    async def entitled_case(self, number: str, taxpayer_id: int) -> Case:
        """The case `number` if the taxpayer (a channel account) may see and change it;
        otherwise `CaseNotVisible` (also when there is no such case). The session stays open
        (the caller acts on the case in the same transaction)."""
        case = await repo.case_by_number(self.session, number.strip().upper())
        if case is None or not await self._entitled(case, taxpayer_id, None):
            if case is not None:
                log.info("case %s refused to taxpayer %s", case.number, taxpayer_id)
            raise await self._fail(CaseNotVisible(number.strip().upper()))
        return case

    async def entitled_cases(
        self, taxpayer_id: int, statuses: Collection[str] | None = OPEN_STATUSES
    ) -> list[Case]:
        """The cases this taxpayer may see, in `statuses` (None: all), oldest first: its own,
        and all cases of the taxpayer IDs it is verified for."""
        verified = await repo.verified_tax_ids(self.session, taxpayer_id)
        owners = {taxpayer_id}
        for tax_id in verified:
            owners.update(
                r.taxpayer_id for r in await repo.taxpayer_ids_by_tax_id(self.session, tax_id)
            )
        cases = await repo.cases_of_taxpayers(self.session, sorted(owners), statuses)
        return [c for c in cases if await self._entitled(c, taxpayer_id, verified)]

    async def is_verified(self, taxpayer_id: int, tax_id: str) -> bool:
        """Whether this taxpayer (a channel account) is verified for `tax_id`."""
        row = await repo.verification(self.session, taxpayer_id, tax_id)
        await self._commit()
        return row is not None

    async def case_verified(self, case: Case) -> bool:
        """Whether the case came from a chat verified for the taxpayer ID it names (what
        staff see as 已验证 / 未验证). Reads only; the caller's transaction goes on."""
        return await repo.from_verified_chat(self.session, case)

    # ------------------------------------------------------------------ tax handlers

    async def _handler_key(self, tax_id: str, phone: str) -> tuple[str, str]:
        """The checked taxpayer ID and the normalised phone of a handler row, or the refusal
        with its reason."""
        try:
            return valid_tax_id(tax_id), normalize_phone(phone)
        except InvalidPhoneError as exc:
            raise await self._fail(_as_desk_error(exc)) from None

    async def add_handler(self, tax_id: str, phone: str, name: str | None = None) -> TaxHandler:
        """Register a tax handler's phone for a taxpayer ID (again: the name is updated)."""
        tid, number = await self._handler_key(tax_id, phone)
        row = await repo.handler(self.session, tid, number)
        if row is None:
            row = TaxHandler(tax_id=tid, phone=number, name=name, created_at=self.now())
            self.session.add(row)
        elif name:
            row.name = name
        await self._commit()
        log.info("handler %s registered for %s", mask_phone(number), mask_taxpayer_id(tid))
        return row

    async def remove_handler(self, tax_id: str, phone: str) -> bool:
        """Remove a registered phone; False if it was not registered. Verifications already
        made with it stay (there is no revocation yet)."""
        tid, number = await self._handler_key(tax_id, phone)
        row = await repo.handler(self.session, tid, number)
        if row is None:
            await self._commit()
            return False
        await self.session.delete(row)
        await self._commit()
        return True

    async def handlers(self, tax_id: str) -> list[TaxHandler]:
        """The registered tax handlers of a taxpayer ID."""
        rows = list(await repo.handlers_of(self.session, valid_tax_id(tax_id)))
        await self._commit()
        return rows

    async def import_handlers(
        self, rows: Iterable[tuple[int, str, str, str | None]]
    ) -> ImportResult:
        """`(line, tax_id, phone, name)` rows (a CSV file): all valid rows are added in one
        transaction; a row with a bad ID or phone is reported by line and skipped."""
        added = existing = 0
        errors: list[str] = []
        seen: set[tuple[str, str]] = set()
        for line, tax_id, phone, name in rows:
            try:
                tid = valid_tax_id(tax_id)
                number = normalize_phone(phone)
            except UserFacingError as exc:
                errors.append(f"第 {line} 行：{exc.user_message}")
                continue
            if (tid, number) in seen or await repo.handler(self.session, tid, number):
                existing += 1
                continue
            seen.add((tid, number))
            self.session.add(
                TaxHandler(tax_id=tid, phone=number, name=name or None, created_at=self.now())
            )
            added += 1
        await self._commit()
        return ImportResult(added, existing, tuple(errors))

    # ------------------------------------------------------------------ verification

    async def _bind(self, taxpayer_id: int, tax_id: str, method: str) -> None:
        if await repo.verification(self.session, taxpayer_id, tax_id) is None:
            self.session.add(
                Verification(
                    taxpayer_id=taxpayer_id, tax_id=tax_id, method=method, verified_at=self.now()
                )
            )
        await self._remember_tax_id(taxpayer_id, tax_id)

    async def verify_by_phone(self, taxpayer_id: int, phone: str, *, own: bool) -> list[str]:
        """A shared contact: when it is the sender's own (`own`: the contact's user id is the
        sender's) and its number is a registered tax handler, the taxpayer is verified for
        every taxpayer ID that lists it; returns those IDs. `VerificationRefused` otherwise."""
        if not own:
            raise await self._fail(VerificationRefused("not_own_contact", NOT_OWN_CONTACT))
        try:
            number = normalize_phone(phone)
        except InvalidPhoneError:
            raise await self._fail(
                VerificationRefused(
                    "not_registered", NOT_REGISTERED.format(phone=mask_phone(phone))
                )
            ) from None
        tax_ids = await repo.tax_ids_of_phone(self.session, number)
        if not tax_ids:
            raise await self._fail(
                VerificationRefused(
                    "not_registered", NOT_REGISTERED.format(phone=mask_phone(number))
                )
            )
        for tid in tax_ids:
            await self._bind(taxpayer_id, tid, "handler_phone")
        await self._commit()
        log.info("taxpayer %s verified by phone for %d ID(s)", taxpayer_id, len(tax_ids))
        return tax_ids

    async def issue_code(
        self, tax_id: str, *, issued_by: str | None = None, ttl: timedelta = CODE_TTL
    ) -> str:
        """A new one-time code for a taxpayer ID (shown once; only its hash is kept)."""
        tid = valid_tax_id(tax_id)
        while True:
            code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
            if await repo.code_by_hash(self.session, code_hash(code)) is None:
                break
        now = self.now()
        self.session.add(
            VerificationCode(
                tax_id=tid,
                code_hash=code_hash(code),
                issued_by=issued_by,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        await self._commit()
        log.info("verification code issued for %s by %s", mask_taxpayer_id(tid), issued_by)
        return code

    async def issue_code_for_conversation(
        self, conversation_id: int, *, issued_by: str | None = None
    ) -> tuple[str, str]:
        """A one-time code for the taxpayer ID the conversation used last (the staff topic's
        `/code`): `(code, taxpayer ID)`; `NoTaxIdInConversation` when it named none."""
        conv = await self.session.get(Conversation, conversation_id)
        tax_id = await repo.last_tax_id_of(self.session, conv.taxpayer_id) if conv else None
        if tax_id is None:
            raise await self._fail(NoTaxIdInConversation(conversation_id))
        return await self.issue_code(tax_id, issued_by=issued_by), tax_id

    async def verify_by_code(self, taxpayer_id: int, code: str) -> str:
        """The taxpayer typed a one-time code: verified for its taxpayer ID (returned).
        A wrong, used or expired code counts as a failed try; `VerificationRefused`."""
        now = self.now()
        failed = await repo.failed_attempts_since(self.session, taxpayer_id, now - FAILED_WINDOW)
        if failed >= MAX_FAILED_TRIES:
            raise await self._fail(VerificationRefused("too_many_tries", TOO_MANY_TRIES))
        row = await repo.code_by_hash(self.session, code_hash(code))
        if row is None or row.used_at is not None or row.expires_at <= now:
            self.session.add(VerificationAttempt(taxpayer_id=taxpayer_id, at=now))
            await self._commit()
            left = MAX_FAILED_TRIES - failed - 1
            if left <= 0:
                raise VerificationRefused("too_many_tries", TOO_MANY_TRIES)
            raise VerificationRefused("bad_code", BAD_CODE.format(left=left))
        row.used_at = now
        row.used_by = taxpayer_id
        await self._bind(taxpayer_id, row.tax_id, "code")
        await self._commit()
        log.info("taxpayer %s verified by code for %s", taxpayer_id, mask_taxpayer_id(row.tax_id))
        return row.tax_id


def _as_desk_error(exc: UserFacingError) -> DeskError:
    err = DeskError(str(exc), exc.user_message)
    err.code = "invalid_phone"
    return err

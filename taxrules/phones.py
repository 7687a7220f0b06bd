"""Phone numbers of tax handlers: one normal form (`+8613800138000`) and a mask for output.

Accepted: mainland mobiles with or without `+86`/`0086`/`86`, spaces, dashes, dots and
brackets (`138-0013-8000`, `+86 138 0013 8000`, `(+86)13800138000`); other international
numbers written with `+` and a country code (Telegram shares contacts as `8613800138000` or
`+8613800138000`). Anything else is refused with a reason (`InvalidPhoneError`).
"""

from __future__ import annotations

import re
import unicodedata

from taxrules.errors import UserFacingError

__all__ = ["PHONE_IN_TEXT", "InvalidPhoneError", "mask_phone", "normalize_phone"]

_NOISE = re.compile(r"[\s\-\.\(\)（）]+")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
#: A mainland mobile (with +86 or not) or a landline with its area code, inside free text.
PHONE_IN_TEXT = re.compile(
    r"(?<![\d+])(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)|(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)"
)


class InvalidPhoneError(UserFacingError):
    """Not a phone number we can match."""

    def __init__(self, value: str) -> None:
        super().__init__(
            f"not a phone number: {mask_phone(value)}",
            "手机号格式不对：请写 11 位手机号，例如 138 0013 8000（可带 +86）。",
        )


def normalize_phone(value: str) -> str:
    """`+86` and the 11 digits of a mainland mobile, or `+` and the digits of another
    international number; `InvalidPhoneError` otherwise."""
    raw = _NOISE.sub("", unicodedata.normalize("NFKC", value or ""))
    plus = raw.startswith("+")
    digits = raw.lstrip("+")
    if not digits.isdigit():
        raise InvalidPhoneError(value)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and (plus or len(digits) == 13):
        digits = digits[2:]
    elif plus:
        if 8 <= len(digits) <= 15:
            return f"+{digits}"
        raise InvalidPhoneError(value)
    if _CN_MOBILE.match(digits):
        return f"+86{digits}"
    raise InvalidPhoneError(value)


def mask_phone(value: str) -> str:
    """`+86 138****8000`: the last 4 digits and the first 3 of the number."""
    raw = _NOISE.sub("", value or "")
    digits = raw.lstrip("+")
    if raw.startswith("+86") or (digits.startswith("86") and len(digits) == 13):
        digits = digits[2:]
        prefix = "+86 "
    else:
        prefix = "+" if raw.startswith("+") else ""
    if len(digits) < 7:
        return "****"
    return f"{prefix}{digits[:3]}****{digits[-4:]}"

"""Taxpayer IDs (18-character unified social credit codes, GB 32100-2015) for the desk.

A thin wrapper: the desk calls `normalize_taxpayer_id` and `mask`. When
`nlu.normalizers.check_taxpayer_id` is importable (once the NLU branch is merged) it is the one
implementation used, with its user-facing reasons; the checksum below is the fallback until
then (and classifies a failure as `check_digit` or `format`).
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from desk.errors import InvalidTaxpayerId

_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V
_VALUES = {c: i for i, c in enumerate(_CHARS)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_SPACES = re.compile(r"[\s\-]+")


def _clean(code: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", code)).upper()


def check_char(first17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters."""
    total = sum(_VALUES[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHARS[(31 - total % 31) % 31]


def mask(code: str) -> str:
    """First 4 + `****` + last 3 (9131****12G); short values are masked entirely."""
    value = _clean(code)
    return "****" if len(value) < 8 else f"{value[:4]}****{value[-3:]}"


def _own_reason(value: str) -> str | None:
    if len(value) != 18 or any(c not in _VALUES for c in value) or not value[2:8].isdigit():
        return "format"
    if check_char(value[:17]) != value[17]:
        return "check_digit"
    return None


def _nlu_checker() -> Callable[[str], Any] | None:
    try:
        normalizers = importlib.import_module("nlu.normalizers")
    except ImportError:
        return None
    checker: Callable[[str], Any] | None = getattr(normalizers, "check_taxpayer_id", None)
    return checker


def normalize_taxpayer_id(code: str) -> str:
    """The canonical form of a valid code; raises `InvalidTaxpayerId` (checksum or format)."""
    check_taxpayer_id = _nlu_checker()
    if check_taxpayer_id is not None:
        result = check_taxpayer_id(code)
        if result.valid:
            return str(result.value)
        reason = _own_reason(_clean(code)) or "format"
        raise InvalidTaxpayerId(mask(result.value), reason=reason, user_message=result.reason)
    value = _clean(code)
    if len(value) != 18 or any(c not in _VALUES for c in value) or not value[2:8].isdigit():
        raise InvalidTaxpayerId(mask(value), reason="format")
    if check_char(value[:17]) != value[17]:
        raise InvalidTaxpayerId(mask(value), reason="check_digit")
    return value

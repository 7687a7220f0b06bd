"""Taxpayer IDs (18-character unified social credit codes, GB 32100-2015) for the desk.

A thin wrapper: the desk calls `normalize_taxpayer_id` and `mask`. The checksum lives here only
until `nlu.normalizers.check_taxpayer_id` is merged into this branch; then `_check` should
delegate to it (one implementation in the project).
"""

from __future__ import annotations

import re
import unicodedata

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


def normalize_taxpayer_id(code: str) -> str:
    """The canonical form of a valid code; raises `InvalidTaxpayerId` (checksum or format)."""
    value = _clean(code)
    if len(value) != 18 or any(c not in _VALUES for c in value) or not value[2:8].isdigit():
        raise InvalidTaxpayerId(mask(value), reason="format")
    if check_char(value[:17]) != value[17]:
        raise InvalidTaxpayerId(mask(value), reason="check_digit")
    return value

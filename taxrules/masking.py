"""Masking of taxpayer IDs: one function for a single ID, one for IDs inside free text.

Every place a taxpayer ID can appear — logs, replies, tracker turns, CLI output and JSON —
shows it through `mask_taxpayer_id` (first 4 + `****` + last 3: `9131****12G`,
`1101****514`), so the middle (organisation code, birth date) is never shown.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["mask_taxpayer_id", "redact_taxpayer_ids"]

_SPACES = re.compile(r"[\s\-_]+")
_ALNUM = "0-9A-Za-z０-９Ａ-Ｚａ-ｚ"
_ID_LIKE = re.compile(rf"(?<![{_ALNUM}])[{_ALNUM}]{{15,18}}(?![{_ALNUM}])")
_MIN_DIGITS = 6


def mask_taxpayer_id(code: str) -> str:
    """Mask a taxpayer ID of any kind: first 4 + `****` + last 3 (`9131****12G`).

    The value is folded first (full width, case, spaces); values shorter than 8 characters
    are masked entirely.
    """
    value = _SPACES.sub("", unicodedata.normalize("NFKC", code)).upper()
    if len(value) < 8:
        return "****"
    return f"{value[:4]}****{value[-3:]}"


def _mask_match(match: re.Match[str]) -> str:
    token = match.group(0)
    if sum(ch.isdigit() for ch in token) < _MIN_DIGITS:
        return token
    return mask_taxpayer_id(token)


def redact_taxpayer_ids(text: str) -> str:
    """`text` with every taxpayer ID in it masked by `mask_taxpayer_id`.

    Masks each standalone run of 15 to 18 ASCII (or full-width) letters and digits holding
    at least 6 digits: every credit code, resident identity number and 15-character number,
    valid or not (a mistyped ID is still personal data), and nothing shorter (phone numbers,
    chat ids) or longer (file ids).
    """
    return _ID_LIKE.sub(_mask_match, text)

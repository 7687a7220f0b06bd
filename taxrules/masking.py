"""Masking of taxpayer IDs: one function for a single ID, one for IDs inside free text.

Every place a taxpayer ID can appear — logs, replies, tracker turns, CLI output and JSON —
shows it through `mask_taxpayer_id` (first 4 + `****` + last 3: `9131****12G`,
`1101****514`), so the middle (organisation code, birth date) is never shown.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "SAMPLE_CREDIT_CODE",
    "SAMPLE_RESIDENT_ID",
    "mask_taxpayer_id",
    "pseudonymise",
    "redact_taxpayer_ids",
]

# Valid, made-up identifiers (tests/taxrules check them) that stand in for real ones in
# training data, where a taxpayer's text must keep its shape but not its owner.
SAMPLE_CREDIT_CODE = "91110108MA0000000A"
SAMPLE_RESIDENT_ID = "110101199001010015"
SAMPLE_LEGACY_ID = "110101900101001"
SAMPLE_MOBILE = "13800138000"
SAMPLE_LANDLINE = "010-12345678"

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


def _sample_for(match: re.Match[str]) -> str:
    token = match.group(0)
    if sum(ch.isdigit() for ch in token) < _MIN_DIGITS:
        return token
    value = unicodedata.normalize("NFKC", token).upper()
    if len(value) == 15:
        return SAMPLE_LEGACY_ID
    if len(value) == 18 and value[:17].isdigit():
        return SAMPLE_RESIDENT_ID
    if len(value) == 18:
        return SAMPLE_CREDIT_CODE
    return mask_taxpayer_id(token)


def mask_personal_numbers(text: str) -> str:
    """`text` with its taxpayer IDs and phone numbers masked (`9131****12G`,
    `139****5678`): what a reviewer sees of a taxpayer's message by default."""
    from taxrules.phones import PHONE_IN_TEXT, mask_phone

    return PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), redact_taxpayer_ids(text))


def pseudonymise(text: str) -> str:
    """`text` with every taxpayer ID and phone number in it replaced by a made-up one of the
    same kind (a valid credit code or resident ID, a mobile or a landline): what a
    taxpayer's message may become when it joins the training data, which is kept in version
    control. The sentence keeps its shape, so the entity extractors learn the same."""
    from taxrules.phones import PHONE_IN_TEXT

    def sample_phone(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return SAMPLE_LANDLINE if digits.startswith("0") else SAMPLE_MOBILE

    return PHONE_IN_TEXT.sub(sample_phone, _ID_LIKE.sub(_sample_for, text))

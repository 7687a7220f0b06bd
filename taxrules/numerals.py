"""Chinese numerals: digits (〇 … 九, 两), small numbers (一 … 九十九) and amounts written with
units (十二万五千, 一万二, 1.25万, 3k).

Input is Simplified Chinese with full-width forms folded (callers holding Traditional text
convert it first; the NLU does, with OpenCC).
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = [
    "CN_BIG_UNITS",
    "CN_DIGITS",
    "CN_DIGIT_CHARS",
    "CN_SMALL_UNITS",
    "cn_digit_string",
    "cn_small_number",
    "parse_number",
]

CN_DIGITS = {
    "〇": 0,
    "○": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
CN_DIGIT_CHARS = "".join(CN_DIGITS)
CN_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_BIG_UNITS = {"万": 10**4, "亿": 10**8}


def cn_small_number(text: str) -> int | None:
    """Parse 一 … 九十九 (enough for months, quarters and two-digit years)."""
    if not text:
        return None
    if "十" not in text:
        return CN_DIGITS.get(text) if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    high = CN_DIGITS.get(tens, -1) if tens else 1
    low = CN_DIGITS.get(ones, -1) if ones else 0
    if high < 0 or low < 0:
        return None
    return high * 10 + low


def cn_digit_string(text: str) -> str:
    """二〇一九 → "2019": Chinese digits written one by one."""
    return "".join(str(CN_DIGITS[ch]) for ch in text)


_ARABIC = r"\d+(?:\.\d+)?"
_TOKEN = re.compile(rf"{_ARABIC}|[{CN_DIGIT_CHARS}]|[十百千万亿kKwW]|点\d+|点[{CN_DIGIT_CHARS}]+")
_UNIT_VALUES = {**CN_SMALL_UNITS, **CN_BIG_UNITS, "k": 1000, "w": 10**4}


def parse_number(text: str) -> Decimal | None:
    """Parse 12500, 1.25万, 一万二, 十二万五千, 1万2, 3k, 一点五万 … into a Decimal."""
    pos = 0
    tokens: list[str] = []
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            return None
        tokens.append(match.group(0))
        pos = match.end()
    if not tokens:
        return None

    above_yi = Decimal(0)
    above_wan = Decimal(0)
    current = Decimal(0)
    pending: Decimal | None = None
    pending_is_digit = False
    last_unit: int | None = None
    seen_number = False
    for token in tokens:
        lowered = token.lower()
        if token.startswith("点"):
            if pending is None:
                return None
            digits = token[1:]
            if not digits.isdigit():
                digits = cn_digit_string(digits)
            pending += Decimal("0." + digits)
            pending_is_digit = False
        elif token[0].isdigit():
            if pending is not None:
                return None
            pending = Decimal(token)
            pending_is_digit = "." not in token and len(token) == 1
            seen_number = True
        elif token in CN_DIGITS:
            digit = CN_DIGITS[token]
            seen_number = True
            if digit == 0:
                last_unit = None  # 一万零二: the digit after 零 is a plain unit digit
                continue
            if pending is not None:
                if not pending_is_digit:
                    return None
                pending = pending * 10 + digit  # 一二五 written digit by digit
                pending_is_digit = False
            else:
                pending = Decimal(digit)
                pending_is_digit = True
        else:
            unit = _UNIT_VALUES[lowered]
            if unit >= 10**4:
                if pending is None and current == 0 and (unit == 10**4 or above_wan == 0):
                    return None
                section = current + (pending or 0)
                if unit == 10**8:
                    above_yi = (above_yi + above_wan + section) * unit
                    above_wan = Decimal(0)
                else:
                    above_wan = section * unit
                current = Decimal(0)
            else:
                if pending is None and current == 0 and unit != 10:
                    return None
                current += (pending if pending is not None else Decimal(1)) * unit
            pending = None
            pending_is_digit = False
            last_unit = unit
    if not seen_number and last_unit is None:
        return None
    tail = Decimal(0)
    if pending is not None:
        if pending_is_digit and last_unit is not None and last_unit >= 100:
            tail = pending * last_unit / 10  # colloquial 一万二 = 12000, 三千五 = 3500
        else:
            tail = pending
    return above_yi + above_wan + current + tail

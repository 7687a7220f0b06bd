"""Tax periods (所属期): parsing what people write into the normal forms `YYYY-MM` (month),
`YYYY-Qn` (quarter) and `YYYY` (year), relative expressions resolved against `today`.

Input is Simplified Chinese; full-width digits and letters are folded here (NFKC). Callers
holding Traditional text convert it first (the NLU does, with OpenCC).
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from taxrules.numerals import CN_DIGIT_CHARS, cn_digit_string, cn_small_number

__all__ = ["PERIOD_RE", "normalize_tax_period", "period_start"]

PERIOD_RE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$")
"""A tax period in normal form."""

_YEAR_DIGITS_CN = re.compile(
    rf"(?<![{CN_DIGIT_CHARS}])([{CN_DIGIT_CHARS}]{{4}}|[{CN_DIGIT_CHARS}]{{2}})(?=年)"
)
# Chinese month/quarter numerals, but not the 一 of 上一个月 / 这一季度.
_MONTH_CN = re.compile(r"(?<![上下这本前当每])(十[一二]|[一二三四五六七八九十])(?=\s*月)")
_QUARTER_CN = re.compile(r"(?<![上下这本前当每])([一二三四])(?=\s*季)")

_REL_YEARS = {
    "今年": 0,
    "本年": 0,
    "当年": 0,
    "去年": -1,
    "上年": -1,
    "上一年": -1,
    "前年": -2,
    "明年": 1,
}
_REL_YEAR_ALT = "|".join(sorted(_REL_YEARS, key=len, reverse=True))
_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_YEAR = (
    rf"(?:{_NOT_ALNUM_BEFORE}(?P<y4>(?:19|20)\d{{2}})(?!\d)"
    rf"|{_NOT_ALNUM_BEFORE}(?P<y2>\d{{2}})(?=\s*年)"
    rf"|(?P<yrel>{_REL_YEAR_ALT}))"
)
_YEAR_SUFFIX = r"(?:\s*年度?|\s*年)?"
_MONTH = r"(?P<m>1[0-2]|0?[1-9])"

_YEAR_QUARTER = [
    re.compile(rf"{_YEAR}{_YEAR_SUFFIX}\s*(?:的\s*)?第?\s*(?P<q>[1-4])\s*季度?(?!\d)"),
    re.compile(rf"{_YEAR}{_YEAR_SUFFIX}\s*[-/.]?\s*Q(?P<q>[1-4])(?!\d)", re.IGNORECASE),
]
_YEAR_MONTH = [
    re.compile(rf"{_YEAR}{_YEAR_SUFFIX}\s*(?:的\s*)?{_MONTH}\s*月"),
    re.compile(rf"{_NOT_ALNUM_BEFORE}(?P<y4>(?:19|20)\d{{2}})\s*[-/.]\s*{_MONTH}(?!\d)"),
    re.compile(rf"{_NOT_ALNUM_BEFORE}(?P<y4>(?:19|20)\d{{2}})(?P<m>0[1-9]|1[0-2])(?![0-9A-Za-z])"),
]
_REL_MONTHS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"上上个?月"), -2),
    (re.compile(r"上一?个?月|前一个?月"), -1),
    (re.compile(r"本月|这一?个?月|当月"), 0),
]
_REL_QUARTERS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"上上个?季度?"), -2),
    (re.compile(r"上一?个?季度?"), -1),
    (re.compile(r"本季度?|这一?个?季度|当季度?"), 0),
]
_BARE_QUARTER = [
    re.compile(r"(?<!\d)第?\s*(?P<q>[1-4])\s*季度"),
    re.compile(r"第\s*(?P<q>[1-4])\s*季"),
    re.compile(rf"{_NOT_ALNUM_BEFORE}Q(?P<q>[1-4])(?![0-9A-Za-z])", re.IGNORECASE),
]
_BARE_MONTH = re.compile(rf"(?<![\d.]){_MONTH}\s*月")
# A year, but not one followed by a month number that failed the month patterns (2019年13月).
_YEAR_WITH_MARK = re.compile(
    rf"(?:(?:{_NOT_ALNUM_BEFORE}(?P<y4>(?:19|20)\d{{2}})|{_NOT_ALNUM_BEFORE}(?P<y2>\d{{2}}))\s*年"
    rf"|(?P<yrel>{_REL_YEAR_ALT}))(?!度?\s*\d+\s*月)"
)


def _prepare_period_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("元月", "1月").replace("份", "")
    text = _YEAR_DIGITS_CN.sub(lambda m: cn_digit_string(m.group(1)), text)
    text = _MONTH_CN.sub(lambda m: str(cn_small_number(m.group(1))), text)
    return _QUARTER_CN.sub(lambda m: str(cn_small_number(m.group(1))), text)


def _year_of(match: re.Match[str], today: datetime.date) -> int:
    groups = match.groupdict()
    if groups.get("y4"):
        return int(groups["y4"])
    if groups.get("y2"):
        year = 2000 + int(groups["y2"])
        return year if year <= today.year + 1 else year - 100
    return today.year + _REL_YEARS[groups["yrel"]]


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _month_form(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _quarter_form(year: int, quarter: int) -> str:
    return f"{year:04d}-Q{quarter}"


def normalize_tax_period(text: str, today: datetime.date) -> str | None:
    """Resolve a tax period expression to ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``.

    Accepts absolute forms (2019年12月, 2019-12, 2019/12, 2019.12, 201912, 19年12月,
    二〇一九年十二月, 2020年第一季度, 2020Q1, 2021年, 2021年度, 2021) and relative ones
    (上个月/上月, 本月/这个月, 上季度, 去年12月, 今年一季度, 去年, 今年, 前年), in either script.
    When ``text`` holds several expressions the most specific wins: year+quarter, then
    year+month, then relative month/quarter, then a bare quarter or month, then a year.

    A bare month or quarter (十二月, 12月, 一季度) means the most recent one that has begun:
    this year's if it is not later than ``today``'s month/quarter, otherwise last year's.
    Tax periods are filed and corrected after they end, so on 2026-11-27 "12月" is 2025-12.

    Returns ``None`` when nothing in ``text`` is a tax period.
    """
    prepared = _prepare_period_text(text)
    current_quarter = (today.month - 1) // 3 + 1

    for pattern in _YEAR_QUARTER:
        if match := pattern.search(prepared):
            return _quarter_form(_year_of(match, today), int(match.group("q")))
    for pattern in _YEAR_MONTH:
        if match := pattern.search(prepared):
            return _month_form(_year_of(match, today), int(match.group("m")))
    for pattern, delta in _REL_MONTHS:
        if pattern.search(prepared):
            return _month_form(*_shift_month(today.year, today.month, delta))
    for pattern, delta in _REL_QUARTERS:
        if pattern.search(prepared):
            index = today.year * 4 + (current_quarter - 1) + delta
            return _quarter_form(index // 4, index % 4 + 1)
    for pattern in _BARE_QUARTER:
        if match := pattern.search(prepared):
            quarter = int(match.group("q"))
            year = today.year if quarter <= current_quarter else today.year - 1
            return _quarter_form(year, quarter)
    if match := _BARE_MONTH.search(prepared):
        month = int(match.group("m"))
        year = today.year if month <= today.month else today.year - 1
        return _month_form(year, month)
    if match := _YEAR_WITH_MARK.search(prepared):
        return f"{_year_of(match, today):04d}"
    stripped = prepared.strip()
    if re.fullmatch(r"(?:19|20)\d{2}", stripped):
        return stripped
    return None


def period_start(period: str) -> datetime.date | None:
    """First day of a normal-form period (`2019-12`, `2020-Q1`, `2021`), else None."""
    if not PERIOD_RE.match(period):
        return None
    year = int(period[:4])
    if len(period) == 4:
        return datetime.date(year, 1, 1)
    rest = period[5:]
    if rest.startswith("Q"):
        return datetime.date(year, (int(rest[1]) - 1) * 3 + 1, 1)
    return datetime.date(year, int(rest), 1)

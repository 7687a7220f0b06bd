"""Tax periods (所属期), read as a tax officer reads them.

What people write is turned into one canonical form, kept in slots and on cases:

========  ==========  ==================
kind      canonical   in words
========  ==========  ==================
month     ``2025-12``  2025年12月
quarter   ``2025-Q3``  2025年第三季度
half      ``2025-H1``  2025年上半年
year      ``2025``     2025年
range     ``2023..2025``, ``2024-01..2024-03``  2023年至2025年, 2024年1月至3月
========  ==========  ==================

`read_period(text, today)` finds the period a message names and says how it was read: the
period (`PeriodSpan`), whether its year was inferred (a month, quarter or half-year named
without a year is the latest such period that has already ended, so can be filed: on
2026-12-01 "12月" is 2025-12 and "3季度" is 2026-Q3), or why it cannot be one (月份应在1到12
之间). `not_fileable_reason` says why a period cannot be filed or corrected yet (it has not
ended). `describe_period` writes a canonical value in words.

Input is Simplified Chinese; full-width forms are folded here (NFKC), and the few
Traditional characters period expressions use (個, 這, 週, 過) too, so a caller holding
Traditional text may pass it as it is.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from taxrules.numerals import CN_DIGIT_CHARS, cn_digit_string, cn_small_number

__all__ = [
    "PERIOD_KINDS",
    "PERIOD_RE",
    "Period",
    "PeriodKind",
    "PeriodReading",
    "PeriodSpan",
    "describe_period",
    "kinds_in_words",
    "normalize_tax_period",
    "not_fileable_reason",
    "parse_canonical_period",
    "period_start",
    "read_period",
]

PeriodKind = Literal["month", "quarter", "half", "year"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("month", "quarter", "half", "year")
"""The kinds of a single period, shortest first."""

_ONE = r"\d{4}(?:-(?:0[1-9]|1[0-2]|Q[1-4]|H[12]))?"
PERIOD_RE = re.compile(rf"^{_ONE}(?:\.\.{_ONE})?$")
"""A tax period in canonical form (a single period, or a range ``first..last``)."""

_CN_ORDINAL = "一二三四"
_HALF_WORDS = {1: "上半年", 2: "下半年"}
_KIND_WORDS = {"month": "月", "quarter": "季", "half": "半年", "year": "年"}


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, order=True)
class Period:
    """One tax period: a month (index 1–12), quarter (1–4), half-year (1–2) or year (0)."""

    year: int
    kind: PeriodKind
    index: int = 0

    @property
    def canonical(self) -> str:
        if self.kind == "month":
            return f"{self.year:04d}-{self.index:02d}"
        if self.kind == "quarter":
            return f"{self.year:04d}-Q{self.index}"
        if self.kind == "half":
            return f"{self.year:04d}-H{self.index}"
        return f"{self.year:04d}"

    @property
    def start(self) -> datetime.date:
        """Its first day."""
        months = {"month": 1, "quarter": 3, "half": 6, "year": 12}[self.kind]
        first_month = (self.index - 1) * months + 1 if self.index else 1
        return datetime.date(self.year, first_month, 1)

    @property
    def end(self) -> datetime.date:
        """Its last day."""
        months = {"month": 1, "quarter": 3, "half": 6, "year": 12}[self.kind]
        last_month = self.start.month + months - 1
        if last_month == 12:
            return datetime.date(self.year, 12, 31)
        return datetime.date(self.year, last_month + 1, 1) - datetime.timedelta(days=1)

    def words(self, *, with_year: bool = True) -> str:
        """2025年12月, 2025年第三季度, 2025年上半年, 2025年 (without the year: 12月…)."""
        year = f"{self.year}年" if with_year else ""
        if self.kind == "month":
            return f"{year}{self.index}月"
        if self.kind == "quarter":
            return f"{year}第{_CN_ORDINAL[self.index - 1]}季度"
        if self.kind == "half":
            return f"{year}{_HALF_WORDS[self.index]}"
        return f"{self.year}年"

    def shifted(self, delta: int) -> Period:
        """The period `delta` periods of the same kind later (earlier when negative)."""
        per_year = {"month": 12, "quarter": 4, "half": 2, "year": 1}[self.kind]
        if self.kind == "year":
            return Period(self.year + delta, "year")
        position = self.year * per_year + (self.index - 1) + delta
        return Period(position // per_year, self.kind, position % per_year + 1)


@dataclass(frozen=True)
class PeriodSpan:
    """A single period (`first == last`) or a range of periods of one kind."""

    first: Period
    last: Period

    @property
    def is_range(self) -> bool:
        return self.first != self.last

    @property
    def kind(self) -> PeriodKind:
        return self.first.kind

    @property
    def canonical(self) -> str:
        if not self.is_range:
            return self.first.canonical
        return f"{self.first.canonical}..{self.last.canonical}"

    @property
    def start(self) -> datetime.date:
        return self.first.start

    @property
    def end(self) -> datetime.date:
        return self.last.end

    @property
    def words(self) -> str:
        """2025年第三季度; 2023年至2025年; 2024年1月至3月; 2024年11月至2025年2月."""
        if not self.is_range:
            return self.first.words()
        same_year = self.first.year == self.last.year and self.kind != "year"
        return f"{self.first.words()}至{self.last.words(with_year=not same_year)}"


@dataclass(frozen=True)
class PeriodReading:
    """How a message's period was read: the period, or the reason it cannot be one
    (Simplified), and where in the text it was written."""

    span: PeriodSpan | None
    start: int
    end: int
    text: str
    inferred: bool = False  # the year (or the whole range) was chosen from today
    error: str | None = None


# --------------------------------------------------------------------------- text


_TRAD = str.maketrans({"個": "个", "這": "这", "過": "过", "兩": "两", "來": "来", "內": "内"})
_YEAR_DIGITS_CN = re.compile(
    rf"(?<![{CN_DIGIT_CHARS}])([{CN_DIGIT_CHARS}]{{4}}|[{CN_DIGIT_CHARS}]{{2}})(?=年)"
)
# Chinese month/quarter numerals, but not the 一 of 上一个月 / 这一季度.
_MONTH_CN = re.compile(
    r"(?<![上下这本前当每])(十[一二三四五六七八九]|[一二三四五六七八九十])(?=\s*月)"
)
_QUARTER_CN = re.compile(r"(?<![上下这本前当每])([一二三四五六七八九])(?=\s*季)")
_COUNT_CN = re.compile(r"(?<=[近过去])([一二两三四五六七八九十]+)(?=\s*个?(?:年|月|季))")

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
_NA = r"(?<![0-9A-Za-z])"
_YEAR = (
    rf"(?:{_NA}(?P<y4>(?:19|20)\d{{2}})(?!\d)"
    rf"|{_NA}(?P<y2>\d{{2}})(?=\s*年)"
    rf"|(?P<yrel>{_REL_YEAR_ALT}))"
)
_YS = r"(?:\s*年度?)?"
_TO = r"\s*(?:到|至|~|～|—|－|-)\s*"


def _prepare(text: str) -> str:
    """Fold widths and scripts, write Chinese numerals of periods as digits. Keeps length
    where it can; positions are only used to tell callers which part was the period."""
    text = unicodedata.normalize("NFKC", text).translate(_TRAD)
    text = text.replace("元月", "1月").replace("月份", "月 ").replace("季度份", "季度")
    text = _YEAR_DIGITS_CN.sub(lambda m: cn_digit_string(m.group(1)), text)
    text = _MONTH_CN.sub(lambda m: str(cn_small_number(m.group(1))), text)
    text = _QUARTER_CN.sub(lambda m: str(cn_small_number(m.group(1))), text)
    return _COUNT_CN.sub(lambda m: str(cn_small_number(m.group(1).replace("两", "二"))), text)


def _year(groups: dict[str, str | None], today: datetime.date, suffix: str = "") -> int | None:
    if groups.get("y4" + suffix):
        return int(str(groups["y4" + suffix]))
    if groups.get("y2" + suffix):
        year = 2000 + int(str(groups["y2" + suffix]))
        return year if year <= today.year + 1 else year - 100
    rel = groups.get("yrel" + suffix)
    if rel:
        return today.year + _REL_YEARS[rel]
    return None


def _latest_ended(kind: PeriodKind, index: int, today: datetime.date) -> Period:
    """The latest period of this kind and index that has ended by `today`."""
    period = Period(today.year, kind, index)
    return period if period.end < today else Period(today.year - 1, kind, index)


def _current(kind: PeriodKind, today: datetime.date) -> Period:
    if kind == "month":
        return Period(today.year, "month", today.month)
    if kind == "quarter":
        return Period(today.year, "quarter", (today.month - 1) // 3 + 1)
    if kind == "half":
        return Period(today.year, "half", 1 if today.month <= 6 else 2)
    return Period(today.year, "year")


def _check_index(kind: PeriodKind, index: int) -> str | None:
    if kind == "month" and not 1 <= index <= 12:
        return f"没有{index}月，月份应在1到12之间"
    if kind == "quarter" and not 1 <= index <= 4:
        return f"没有第{index}季度，季度应在1到4之间"
    return None


# --------------------------------------------------------------------------- patterns
# Each pattern gives a reading of its match; the first pattern (in this order: ranges, then
# the most specific single forms) that matches anywhere wins, so "3月我要更正2019年12月的…"
# is 2019-12 and "2025年13月" is refused rather than read as the year 2025.

_Y2 = _YEAR.replace("y4", "y4b").replace("y2>", "y2b>").replace("yrel", "yrelb")
_RANGE_YEARS = re.compile(rf"{_YEAR}{_YS}{_TO}{_Y2}\s*年度?")
_RANGE_YEARS_BARE = re.compile(
    rf"{_NA}(?P<y4>(?:19|20)\d{{2}}){_TO}(?P<y4b>(?:19|20)\d{{2}})(?![\d-])"
)
_RANGE_MONTHS = re.compile(
    rf"{_YEAR}{_YS}\s*(?:的\s*)?(?P<a>\d{{1,2}})\s*月{_TO}(?:{_Y2}{_YS}\s*)?(?P<b>\d{{1,2}})\s*月"
)
_RANGE_QUARTERS = re.compile(
    rf"{_YEAR}{_YS}\s*(?:的\s*)?第?\s*(?P<a>\d)\s*季度?{_TO}(?:{_Y2}{_YS}\s*)?"
    rf"第?\s*(?P<b>\d)\s*季度?"
)
_RANGE_HALVES = re.compile(
    rf"{_YEAR}{_YS}\s*(?:的\s*)?(?P<a>[上下])半年{_TO}(?:{_Y2}{_YS}\s*)?(?P<b>[上下])半年"
)
_RECENT = re.compile(r"(?:最近|近|过去)\s*(?P<n>\d{1,2})\s*(?P<unit>个?月|个?季度?|年)")

_YEAR_QUARTER = [
    re.compile(rf"{_YEAR}{_YS}\s*(?:的\s*)?第?\s*(?P<q>\d)\s*季度?(?!\d)"),
    re.compile(rf"{_YEAR}{_YS}\s*[-/.]?\s*Q(?P<q>\d)(?!\d)", re.IGNORECASE),
]
_YEAR_HALF = re.compile(rf"{_YEAR}{_YS}\s*(?:的\s*)?(?P<h>[上下])半年")
_YEAR_MONTH = [
    re.compile(rf"{_YEAR}{_YS}\s*(?:的\s*)?(?P<m>\d{{1,2}})\s*月"),
    re.compile(rf"{_NA}(?P<y4>(?:19|20)\d{{2}})\s*[-/.]\s*(?P<m>1[0-2]|0?[1-9])(?!\d)"),
    re.compile(rf"{_NA}(?P<y4>(?:19|20)\d{{2}})(?P<m>0[1-9]|1[0-2])(?![0-9A-Za-z])"),
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
    re.compile(r"(?<![\d.])第?\s*(?P<q>\d)\s*季度"),
    re.compile(r"第\s*(?P<q>\d)\s*季"),
    re.compile(rf"{_NA}Q(?P<q>\d)(?![0-9A-Za-z])", re.IGNORECASE),
]
_BARE_HALF = re.compile(r"(?<![上下这本前当每])(?P<h>[上下])半年")
_BARE_MONTH = re.compile(r"(?<![\d.])(?P<m>\d{1,2})\s*月")
_YEAR_WITH_MARK = re.compile(
    rf"(?:{_NA}(?P<y4>(?:19|20)\d{{2}})|{_NA}(?P<y2>\d{{2}}))\s*年度?|(?P<yrel>{_REL_YEAR_ALT})度?"
)
_BARE_YEAR = re.compile(r"(?:19|20)\d{2}")


def _reading(
    match: re.Match[str],
    span: PeriodSpan | None,
    *,
    inferred: bool = False,
    error: str | None = None,
) -> PeriodReading:
    return PeriodReading(span, match.start(), match.end(), match.group(0), inferred, error)


def _range(first: Period, last: Period) -> tuple[PeriodSpan | None, str | None]:
    if last < first:
        return None, f"起止顺序不对：{first.words()}在{last.words()}之后"
    return PeriodSpan(first, last), None


def _read_ranges(text: str, today: datetime.date) -> PeriodReading | None:
    ranged: list[tuple[re.Pattern[str], PeriodKind]] = [
        (_RANGE_MONTHS, "month"),
        (_RANGE_QUARTERS, "quarter"),
        (_RANGE_HALVES, "half"),
    ]
    for pattern, kind in ranged:
        match = pattern.search(text)
        if not match:
            continue
        groups = match.groupdict()
        year_a = _year(groups, today)
        year_b = _year(groups, today, "b") or year_a
        a, b = (
            (1 if match.group(g) == "上" else 2) if kind == "half" else int(match.group(g))
            for g in ("a", "b")
        )
        error = _check_index(kind, a) or _check_index(kind, b)
        if error or year_a is None or year_b is None:
            return _reading(match, None, error=error)
        span, error = _range(Period(year_a, kind, a), Period(year_b, kind, b))
        return _reading(match, span, error=error)
    for pattern in (_RANGE_YEARS, _RANGE_YEARS_BARE):
        match = pattern.search(text)
        if match:
            groups = match.groupdict()
            year_a, year_b = _year(groups, today), _year(groups, today, "b")
            if year_a is None or year_b is None:
                continue
            span, error = _range(Period(year_a, "year"), Period(year_b, "year"))
            return _reading(match, span, error=error)
    match = _RECENT.search(text)
    if match:
        count = int(match.group("n"))
        unit = match.group("unit")
        kind = "month" if unit.endswith("月") else "year" if unit == "年" else "quarter"
        if count < 1:
            return _reading(match, None, error="期数应至少为1")
        last = _current(kind, today).shifted(-1)
        return _reading(match, PeriodSpan(last.shifted(1 - count), last), inferred=True)
    return None


def _read_single(text: str, today: datetime.date) -> PeriodReading | None:
    for pattern in _YEAR_QUARTER:
        if match := pattern.search(text):
            year = _year(match.groupdict(), today)
            quarter = int(match.group("q"))
            if error := _check_index("quarter", quarter):
                return _reading(match, None, error=error)
            assert year is not None
            return _reading(match, PeriodSpan(*[Period(year, "quarter", quarter)] * 2))
    if match := _YEAR_HALF.search(text):
        year = _year(match.groupdict(), today)
        assert year is not None
        half = Period(year, "half", 1 if match.group("h") == "上" else 2)
        return _reading(match, PeriodSpan(half, half))
    for pattern in _YEAR_MONTH:
        if match := pattern.search(text):
            year = _year(match.groupdict(), today)
            month = int(match.group("m"))
            if error := _check_index("month", month):
                return _reading(match, None, error=error)
            assert year is not None
            return _reading(match, PeriodSpan(*[Period(year, "month", month)] * 2))
    for pattern, delta in _REL_MONTHS:
        if match := pattern.search(text):
            period = _current("month", today).shifted(delta)
            return _reading(match, PeriodSpan(period, period))
    for pattern, delta in _REL_QUARTERS:
        if match := pattern.search(text):
            period = _current("quarter", today).shifted(delta)
            return _reading(match, PeriodSpan(period, period))
    for pattern in _BARE_QUARTER:
        if match := pattern.search(text):
            quarter = int(match.group("q"))
            if error := _check_index("quarter", quarter):
                return _reading(match, None, error=error)
            period = _latest_ended("quarter", quarter, today)
            return _reading(match, PeriodSpan(period, period), inferred=True)
    if match := _BARE_HALF.search(text):
        period = _latest_ended("half", 1 if match.group("h") == "上" else 2, today)
        return _reading(match, PeriodSpan(period, period), inferred=True)
    if match := _BARE_MONTH.search(text):
        month = int(match.group("m"))
        if error := _check_index("month", month):
            return _reading(match, None, error=error)
        period = _latest_ended("month", month, today)
        return _reading(match, PeriodSpan(period, period), inferred=True)
    if match := _YEAR_WITH_MARK.search(text):
        year = _year(match.groupdict(), today)
        assert year is not None
        return _reading(match, PeriodSpan(Period(year, "year"), Period(year, "year")))
    if match := _BARE_YEAR.fullmatch(text.strip()):
        year = int(match.group(0))
        return PeriodReading(PeriodSpan(*[Period(year, "year")] * 2), 0, len(text), text)
    return None


def parse_canonical_period(value: str) -> PeriodSpan | None:
    """`2025-12`, `2025-Q3`, `2025-H1`, `2025`, `2023..2025` → the period; else None."""
    value = value.strip()
    if not PERIOD_RE.match(value):
        return None
    parts = [_canonical_one(p) for p in value.split("..")]
    first, last = parts[0], parts[-1]
    if first is None or last is None or first.kind != last.kind or last < first:
        return None
    return PeriodSpan(first, last)


def _canonical_one(value: str) -> Period | None:
    year = int(value[:4])
    rest = value[5:]
    if not rest:
        return Period(year, "year")
    if rest[0] == "Q":
        return Period(year, "quarter", int(rest[1]))
    if rest[0] == "H":
        return Period(year, "half", int(rest[1]))
    return Period(year, "month", int(rest))


def read_period(text: str, today: datetime.date) -> PeriodReading | None:
    """The tax period `text` names, read against `today`; None when it names none.

    A canonical value (`2025-Q3`, `2023..2025`) reads as itself. Otherwise ranges are looked
    for first (2023年到2025年, 2024年1月至3月, 近三年, 最近两年), then single periods, the most
    specific first: year+quarter (2025年Q3, 25年3季度, 二〇二五年第三季度), year+half-year
    (2025年上半年), year+month (2025年3月, 2025.03, 202503, 25年3月), relative months and
    quarters (上个月, 本季度), bare quarters (3季度, 第三季度, 第3季, Q3), bare half-years
    (上半年), bare months (三月, 3月份), then years (2025年, 2025年度, 去年, 2025).

    A bare month, quarter or half-year is the latest one that has ended by `today`
    (`inferred` is set, as for 近三年: the taxpayer should hear which years were understood;
    上个月 and 去年 say which period they mean and are not marked). Impossible values
    (2025年13月, 第5季度, a range that ends before it starts) give a reading with `error` set
    and no `span`.
    Whether the period may be filed yet is `not_fileable_reason`'s question.
    """
    if span := parse_canonical_period(text):
        return PeriodReading(span, 0, len(text), text)
    prepared = _prepare(text)
    reading = _read_ranges(prepared, today) or _read_single(prepared, today)
    folded = unicodedata.normalize("NFKC", text)
    if reading is not None and len(folded) == len(prepared):
        # Positions match the text as written: quote the taxpayer's own words (近三年).
        said = folded[reading.start : reading.end]
        reading = PeriodReading(
            reading.span, reading.start, reading.end, said, reading.inferred, reading.error
        )
    return reading


def not_fileable_reason(span: PeriodSpan, today: datetime.date) -> str | None:
    """Why a period cannot be filed or corrected on `today` (it has not ended yet), or None."""
    if span.end < today:
        return None
    if span.start > today:
        return f"{span.words}还没有到，还不能申报或更正"
    after = span.end + datetime.timedelta(days=1)
    return f"{span.words}还没有结束，{after.year}年{after.month}月{after.day}日起才能申报或更正"


def describe_period(value: str | None) -> str:
    """A canonical period in words (2025-Q3 → 2025年第三季度); anything else as it is."""
    if not value:
        return ""
    span = parse_canonical_period(str(value))
    return span.words if span else str(value)


def normalize_tax_period(text: str, today: datetime.date) -> str | None:
    """The canonical form of the period `text` names (see `read_period`), or None when it
    names none or an impossible one. A period not yet ended is still returned (whether it
    may be filed is `not_fileable_reason`'s question)."""
    reading = read_period(text, today)
    return reading.span.canonical if reading and reading.span else None


def period_start(period: str) -> datetime.date | None:
    """First day of a canonical period (`2019-12`, `2020-Q1`, `2021-H2`, `2021`, a range),
    else None."""
    span = parse_canonical_period(period)
    return span.start if span else None


_KIND_NOUNS = {"month": "月份", "quarter": "季度", "half": "半年", "year": "年度"}


def kinds_in_words(kinds: Iterable[str]) -> tuple[str, str]:
    """("month", "quarter") → ("按月或按季", "月份或季度"); three kinds: "按月、按季或按年":
    how a period is counted, and what to ask for."""
    order = [k for k in PERIOD_KINDS if k in set(kinds)]
    return (
        _either([f"按{_KIND_WORDS[k]}" for k in order]),
        _either([_KIND_NOUNS[k] for k in order]),
    )


def _either(words: list[str]) -> str:
    """月份、季度或年度."""
    return "或".join(["、".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)

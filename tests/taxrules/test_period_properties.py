"""Properties of the period reader, for any day and any period: canonical ↔ words round-trips,
a month/quarter/half-year without a year is never in the future and is the latest that has
ended, and nothing not yet ended is ever called fileable."""

from __future__ import annotations

import datetime

import hypothesis
import hypothesis.strategies as st

from taxrules.periods import (
    Period,
    PeriodSpan,
    describe_period,
    not_fileable_reason,
    parse_canonical_period,
    read_period,
)

given = hypothesis.given

days = st.dates(min_value=datetime.date(2001, 1, 1), max_value=datetime.date(2098, 12, 31))
years = st.integers(min_value=1990, max_value=2099)


@st.composite
def periods(draw: st.DrawFn) -> Period:
    kind = draw(st.sampled_from(["month", "quarter", "half", "year"]))
    top = {"month": 12, "quarter": 4, "half": 2, "year": 0}[kind]
    index = draw(st.integers(min_value=1, max_value=top)) if top else 0
    return Period(draw(years), kind, index)


@st.composite
def spans(draw: st.DrawFn) -> PeriodSpan:
    first = draw(periods())
    length = draw(st.integers(min_value=0, max_value=30))
    last = first.shifted(length)
    if last.year > 2099:
        last = first
    return PeriodSpan(first, last)


@given(spans(), days)
def test_canonical_and_words_round_trip(span: PeriodSpan, today: datetime.date) -> None:
    assert parse_canonical_period(span.canonical) == span
    words = describe_period(span.canonical)
    assert words == span.words
    reading = read_period(words, today)
    assert reading is not None and reading.span == span and reading.error is None
    assert not reading.inferred


@given(spans(), days)
def test_fileable_only_once_ended(span: PeriodSpan, today: datetime.date) -> None:
    reason = not_fileable_reason(span, today)
    assert (reason is None) == (span.end < today)
    if reason is not None:
        assert span.words in reason


@given(st.integers(min_value=1, max_value=12), days)
def test_month_without_year_is_the_latest_ended(month: int, today: datetime.date) -> None:
    for text in (f"{month}月", f"{month}月份"):
        reading = read_period(text, today)
        assert reading is not None and reading.span is not None and reading.inferred
        period = reading.span.first
        assert period.kind == "month" and period.index == month
        assert not_fileable_reason(reading.span, today) is None  # never in the future
        assert Period(period.year + 1, "month", month).end >= today  # and the latest one


@given(st.integers(min_value=1, max_value=4), days)
def test_quarter_without_year_is_the_latest_ended(quarter: int, today: datetime.date) -> None:
    for text in (f"{quarter}季度", f"第{quarter}季度", f"Q{quarter}", f"第{quarter}季"):
        reading = read_period(text, today)
        assert reading is not None and reading.span is not None and reading.inferred
        period = reading.span.first
        assert period == Period(period.year, "quarter", quarter)
        assert period.end < today <= Period(period.year + 1, "quarter", quarter).end


@given(st.sampled_from(["上半年", "下半年"]), days)
def test_half_without_year_is_the_latest_ended(word: str, today: datetime.date) -> None:
    reading = read_period(word, today)
    assert reading is not None and reading.span is not None
    period = reading.span.first
    assert period.end < today <= Period(period.year + 1, "half", period.index).end


@given(st.integers(min_value=13, max_value=99), years, days)
def test_impossible_months_are_refused(month: int, year: int, today: datetime.date) -> None:
    reading = read_period(f"{year}年{month}月", today)
    assert reading is not None and reading.span is None
    assert reading.error is not None and "1到12" in reading.error


@given(st.integers(min_value=1, max_value=9), days)
def test_recent_years_are_the_complete_years_before_today(n: int, today: datetime.date) -> None:
    reading = read_period(f"近{n}年", today)
    assert reading is not None and reading.span is not None
    assert reading.span.last == Period(today.year - 1, "year")
    assert reading.span.first == Period(today.year - n, "year")
    assert not_fileable_reason(reading.span, today) is None

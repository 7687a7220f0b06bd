"""Periods read as an officer reads them (issue 9 point 3): every common form, in both scripts,
against fixed days; impossible and not-yet-fileable periods with their reason; ranges; the
canonical form and its words."""

from __future__ import annotations

import datetime

import pytest

from taxrules.periods import (
    describe_period,
    kinds_in_words,
    not_fileable_reason,
    parse_canonical_period,
    read_period,
)

DEC_1 = datetime.date(2026, 12, 1)
JAN_15 = datetime.date(2027, 1, 15)


def _read(text: str, today: datetime.date) -> tuple[str | None, bool]:
    reading = read_period(text, today)
    assert reading is not None, text
    assert reading.error is None, (text, reading.error)
    assert reading.span is not None
    return reading.span.canonical, reading.inferred


# (text, on 1 Dec 2026, on 15 Jan 2027, the year came from today)
FORMS = [
    # quarters
    ("Q3", "2026-Q3", "2026-Q3", True),
    ("q4", "2025-Q4", "2026-Q4", True),
    ("3季度", "2026-Q3", "2026-Q3", True),
    ("第三季度", "2026-Q3", "2026-Q3", True),
    ("三季度", "2026-Q3", "2026-Q3", True),
    ("第3季", "2026-Q3", "2026-Q3", True),
    ("4季度", "2025-Q4", "2026-Q4", True),
    ("第一季度", "2026-Q1", "2026-Q1", True),
    ("2025Q3", "2025-Q3", "2025-Q3", False),
    ("2025-Q3", "2025-Q3", "2025-Q3", False),
    ("2025年Q3", "2025-Q3", "2025-Q3", False),
    ("25年3季度", "2025-Q3", "2025-Q3", False),
    ("2025年第三季度", "2025-Q3", "2025-Q3", False),
    ("2025年三季度", "2025-Q3", "2025-Q3", False),
    ("二〇二五年第三季度", "2025-Q3", "2025-Q3", False),
    ("二零二五年第三季度", "2025-Q3", "2025-Q3", False),
    ("今年一季度", "2026-Q1", "2027-Q1", False),
    ("上季度", "2026-Q3", "2026-Q4", False),
    # half-years
    ("上半年", "2026-H1", "2026-H1", True),
    ("下半年", "2025-H2", "2026-H2", True),
    ("2025年上半年", "2025-H1", "2025-H1", False),
    ("2025年下半年", "2025-H2", "2025-H2", False),
    ("去年上半年", "2025-H1", "2026-H1", False),
    # months
    ("2025年3月", "2025-03", "2025-03", False),
    ("2025.03", "2025-03", "2025-03", False),
    ("2025-03", "2025-03", "2025-03", False),
    ("202503", "2025-03", "2025-03", False),
    ("25年3月", "2025-03", "2025-03", False),
    ("三月", "2026-03", "2026-03", True),
    ("3月份", "2026-03", "2026-03", True),
    ("12月", "2025-12", "2026-12", True),
    ("十二月", "2025-12", "2026-12", True),
    ("11月", "2026-11", "2026-11", True),
    ("1月", "2026-01", "2026-01", True),
    ("上个月", "2026-11", "2026-12", False),
    ("12月的增值税申报表要更正一下", "2025-12", "2026-12", True),
    ("3月我需要更正所属期为2019年12月的增值税申报表", "2019-12", "2019-12", False),
    # years
    ("2025年", "2025", "2025", False),
    ("2025年度", "2025", "2025", False),
    ("25年度", "2025", "2025", False),
    ("去年", "2025", "2026", False),
    ("2025", "2025", "2025", False),
    # ranges
    ("2023年到2025年", "2023..2025", "2023..2025", False),
    ("2023年至2025年", "2023..2025", "2023..2025", False),
    ("2023-2025", "2023..2025", "2023..2025", False),
    ("2024年1月至3月", "2024-01..2024-03", "2024-01..2024-03", False),
    ("2024年11月到2025年2月", "2024-11..2025-02", "2024-11..2025-02", False),
    ("2025年第一季度至第三季度", "2025-Q1..2025-Q3", "2025-Q1..2025-Q3", False),
    ("近三年", "2023..2025", "2024..2026", True),
    ("最近两年", "2024..2025", "2025..2026", True),
    ("近3个月", "2026-09..2026-11", "2026-10..2026-12", True),
]

TRADITIONAL = [
    ("2025年第三季度", "2025-Q3"),
    ("上個月", "2026-11"),
    ("這個季度", "2026-Q4"),
    ("最近兩年", "2024..2025"),
    ("近三個月", "2026-09..2026-11"),
    ("二〇二五年上半年", "2025-H1"),
    ("１２月", "2025-12"),
]


@pytest.mark.parametrize(("text", "on_dec_1", "on_jan_15", "inferred"), FORMS)
def test_every_form_on_two_days(text: str, on_dec_1: str, on_jan_15: str, inferred: bool) -> None:
    assert _read(text, DEC_1) == (on_dec_1, inferred)
    assert _read(text, JAN_15) == (on_jan_15, inferred)


@pytest.mark.parametrize(("text", "expected"), TRADITIONAL)
def test_traditional_and_full_width(text: str, expected: str) -> None:
    assert _read(text, DEC_1)[0] == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2025年13月", "月份应在1到12之间"),
        ("13月", "月份应在1到12之间"),
        ("十三月", "月份应在1到12之间"),
        ("2025年0月", "月份应在1到12之间"),
        ("第5季度", "季度应在1到4之间"),
        ("2025年第五季度", "季度应在1到4之间"),
        ("2025年至2023年", "起止顺序不对"),
    ],
)
def test_impossible_periods_say_why(text: str, reason: str) -> None:
    reading = read_period(text, DEC_1)
    assert reading is not None and reading.span is None
    assert reading.error is not None and reason in reading.error


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2027年3月", "2027年3月还没有到，还不能申报或更正"),
        ("本月", "2026年12月还没有结束，2027年1月1日起才能申报或更正"),
        ("本季度", "2026年第四季度还没有结束"),
        ("今年", "2026年还没有结束"),
        ("2026年12月", "2026年12月还没有结束"),
        ("下半年", None),  # 2025-H2: filed already
        ("2024年到2026年", "2024年至2026年还没有结束"),
        ("2026年11月", None),
    ],
)
def test_not_yet_fileable(text: str, reason: str | None) -> None:
    reading = read_period(text, DEC_1)
    assert reading is not None and reading.span is not None
    said = not_fileable_reason(reading.span, DEC_1)
    if reason is None:
        assert said is None
    else:
        assert said is not None and said.startswith(reason)


@pytest.mark.parametrize(
    "text", ["", "你好", "91650100MA78ABCD1A", "110101199003074514", "3个月", "12500元", "1850年"]
)
def test_no_period(text: str) -> None:
    assert read_period(text, DEC_1) is None


def test_the_period_is_the_words_that_name_it() -> None:
    text = "25年3季度增值税申报更正，代码91650100MA78ABCD1A"
    reading = read_period(text, DEC_1)
    assert reading is not None
    assert text[reading.start : reading.end] == reading.text == "25年3季度"
    reading = read_period("要近三年的完税证明", DEC_1)
    assert reading is not None and reading.text == "近三年"


@pytest.mark.parametrize(
    ("canonical", "words"),
    [
        ("2025-12", "2025年12月"),
        ("2025-03", "2025年3月"),
        ("2025-Q3", "2025年第三季度"),
        ("2025-H1", "2025年上半年"),
        ("2025-H2", "2025年下半年"),
        ("2025", "2025年"),
        ("2023..2025", "2023年至2025年"),
        ("2024-01..2024-03", "2024年1月至3月"),
        ("2024-11..2025-02", "2024年11月至2025年2月"),
        ("2025-Q1..2025-Q3", "2025年第一季度至第三季度"),
    ],
)
def test_canonical_in_words(canonical: str, words: str) -> None:
    assert describe_period(canonical) == words
    assert _read(words, DEC_1)[0] == canonical


@pytest.mark.parametrize(
    "value", ["2025-13", "2025-Q5", "2025-H3", "2025..2023", "2025-01..2025", "上个月", ""]
)
def test_not_canonical(value: str) -> None:
    assert parse_canonical_period(value) is None
    assert describe_period(value) == value


def test_kinds_in_words() -> None:
    assert kinds_in_words(("quarter", "month")) == ("按月或按季", "月份或季度")
    assert kinds_in_words(["year", "quarter"]) == ("按季或按年", "季度或年度")
    assert kinds_in_words(["year", "quarter", "month"]) == ("按月、按季或按年", "月份、季度或年度")

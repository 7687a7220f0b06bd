"""Tax periods: what people write → `YYYY-MM`, `YYYY-Qn`, `YYYY`, against a fixed today."""

from __future__ import annotations

import datetime

import pytest

from taxrules.periods import normalize_tax_period, period_start

TODAY = datetime.date(2026, 11, 27)



@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # absolute months
        ("2019年12月", "2019-12"),
        ("2019年12月份", "2019-12"),
        ("2019 年 3 月", "2019-03"),
        ("2019-12", "2019-12"),
        ("2019/12", "2019-12"),
        ("2019.12", "2019-12"),
        ("2019-3", "2019-03"),
        ("201912", "2019-12"),
        ("202003", "2020-03"),
        ("19年12月", "2019-12"),
        ("二〇一九年十二月", "2019-12"),
        ("二零二零年三月", "2020-03"),
        ("２０１９年１２月", "2019-12"),
        ("2019年12月31日", "2019-12"),
        # whole sentences
        ("3月我需要更正所属期为2019年12月的增值税申报表", "2019-12"),
        # relative months
        ("去年12月", "2025-12"),
        ("去年十二月", "2025-12"),
        ("今年3月", "2026-03"),
        ("前年5月", "2024-05"),
        ("上个月", "2026-10"),
        ("上月", "2026-10"),
        ("上一个月", "2026-10"),
        ("上上个月", "2026-09"),
        ("本月", "2026-11"),
        ("这个月", "2026-11"),
        # bare months: the latest one that has ended (November is not over on the 27th)
        ("11月", "2025-11"),
        ("3月", "2026-03"),
        ("12月", "2025-12"),
        ("十二月", "2025-12"),
        ("十一月份", "2025-11"),
        ("一月", "2026-01"),
        ("元月", "2026-01"),
        # quarters
        ("2020年第一季度", "2020-Q1"),
        ("2020年一季度", "2020-Q1"),
        ("2020年1季度", "2020-Q1"),
        ("2020Q1", "2020-Q1"),
        ("2020-Q1", "2020-Q1"),
        ("2020 q4", "2020-Q4"),
        ("今年一季度", "2026-Q1"),
        ("去年第四季度", "2025-Q4"),
        ("第一季度", "2026-Q1"),
        ("一季度", "2026-Q1"),
        ("第四季度", "2025-Q4"),
        ("Q2", "2026-Q2"),
        ("上季度", "2026-Q3"),
        ("上个季度", "2026-Q3"),
        ("上一季度", "2026-Q3"),
        ("本季度", "2026-Q4"),
        # years
        ("去年", "2025"),
        ("今年", "2026"),
        ("前年", "2024"),
        ("上一年度", "2025"),
        ("本年度", "2026"),
        ("2021年", "2021"),
        ("2021年度", "2021"),
        ("2021", "2021"),
        ("2018年度的汇算清缴", "2018"),
        ("二〇二一年", "2021"),
    ],
)
def test_normalize_tax_period(text: str, expected: str) -> None:
    assert normalize_tax_period(text, TODAY) == expected


@pytest.mark.parametrize(
    ("today", "text", "expected"),
    [
        (datetime.date(2026, 1, 5), "上个月", "2025-12"),
        (datetime.date(2026, 1, 5), "上上个月", "2025-11"),
        (datetime.date(2026, 2, 10), "上季度", "2025-Q4"),
        (datetime.date(2026, 2, 10), "二季度", "2025-Q2"),
        (datetime.date(2026, 2, 10), "一季度", "2025-Q1"),
        (datetime.date(2026, 3, 1), "3月", "2025-03"),
        (datetime.date(2026, 3, 1), "2月", "2026-02"),
        (datetime.date(2026, 3, 1), "4月", "2025-04"),
        (datetime.date(2027, 6, 30), "去年12月", "2026-12"),
        (datetime.date(2027, 6, 30), "19年12月", "2019-12"),
        (datetime.date(2027, 6, 30), "99年12月", "1999-12"),
    ],
)
def test_relative_periods_follow_today(today: datetime.date, text: str, expected: str) -> None:
    assert normalize_tax_period(text, today) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "你好",
        "我要开发票",
        "91310115MA1K3YJ12G",
        "91650100MA78ABCD1A",
        "13月",
        "2019年13月",
        "3个月",
        "12500元",
        "1850年",
    ],
)
def test_normalize_tax_period_none(text: str) -> None:
    assert normalize_tax_period(text, TODAY) is None


def test_period_output_is_idempotent() -> None:
    for text in ["2019年12月", "上季度", "前年", "十二月"]:
        value = normalize_tax_period(text, TODAY)
        assert value is not None
        assert normalize_tax_period(value, TODAY) == value


@pytest.mark.parametrize(
    ("period", "start"),
    [
        ("2019-12", datetime.date(2019, 12, 1)),
        ("2020-Q3", datetime.date(2020, 7, 1)),
        ("2021", datetime.date(2021, 1, 1)),
        ("2019-13", None),
        ("上个月", None),
    ],
)
def test_period_start(period: str, start: datetime.date | None) -> None:
    assert period_start(period) == start

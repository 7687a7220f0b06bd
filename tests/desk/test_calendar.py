"""Working-day calendar: the shipped data, SLA deadlines, due states and bad data files."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from desk.calendar import CalendarDataError, DueState, WorkingCalendar, YearCalendar

DATA = Path(__file__).resolve().parents[2] / "data" / "calendar"
SH = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def close(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 18, 0, tzinfo=SH)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.load(DATA)


# --- shipped data -----------------------------------------------------------------------------


def test_shipped_years_load(cal: WorkingCalendar) -> None:
    assert set(cal.years) >= {2026, 2027}
    assert cal.years[2026].provisional is False
    assert "国办发明电〔2025〕7号" in cal.years[2026].source
    assert cal.years[2027].provisional is True


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 1, 1), False),  # 元旦
        (date(2026, 1, 3), False),
        (date(2026, 1, 4), True),  # Sunday make-up day
        (date(2026, 2, 13), True),  # Friday before 春节
        (date(2026, 2, 14), True),  # Saturday make-up day
        (date(2026, 2, 15), False),
        (date(2026, 2, 17), False),  # 正月初一
        (date(2026, 2, 23), False),  # Monday, last day off
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday make-up day
        (date(2026, 3, 1), False),  # ordinary Sunday
        (date(2026, 4, 6), False),  # 清明 Monday
        (date(2026, 5, 5), False),
        (date(2026, 5, 9), True),  # Saturday make-up day
        (date(2026, 6, 19), False),
        (date(2026, 9, 20), True),  # Sunday make-up day
        (date(2026, 9, 25), False),  # 中秋
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday make-up day
        (date(2026, 10, 11), False),
        (date(2027, 1, 1), False),
        (date(2027, 2, 5), False),  # 除夕 (provisional)
        (date(2027, 10, 1), False),
        (date(2027, 10, 9), True),
    ],
)
def test_is_working_day(cal: WorkingCalendar, day: date, working: bool) -> None:
    assert cal.is_working_day(day) is working


def test_holiday_names(cal: WorkingCalendar) -> None:
    assert cal.holiday_name(date(2026, 2, 17)) == "春节"
    assert cal.holiday_name(date(2026, 10, 3)) == "国庆节"
    assert cal.holiday_name(date(2026, 10, 8)) is None


def test_2026_has_the_statutory_count(cal: WorkingCalendar) -> None:
    off_weekdays = [d for d in cal.years[2026].holidays if d.weekday() < 5]
    # Weekdays off = 13 statutory days (those on a weekend compensated on a weekday) + the
    # bridging days, which the make-up weekend workdays pay back.
    assert len(cal.years[2026].workdays) == 6
    assert len(off_weekdays) - len(cal.years[2026].workdays) == 13
    assert all(d.weekday() >= 5 for d in cal.years[2026].workdays)


def test_2027_projection_is_consistent(cal: WorkingCalendar) -> None:
    y = cal.years[2027]
    weekdays_off = [d for d in y.holidays if d.weekday() < 5]
    # statutory weekdays + 补假 for statutory weekend days = 13 in total; the rest is bridging
    # paid back by make-up days.
    assert len(weekdays_off) - len(y.workdays) == 13
    for d in [date(2027, 2, 5), date(2027, 2, 6), date(2027, 6, 9), date(2027, 9, 15)]:
        assert not cal.is_working_day(d)


def test_no_more_than_six_days_in_a_row_around_holidays(cal: WorkingCalendar) -> None:
    for year in (2026, 2027):
        run = longest = 0
        d = date(year, 1, 1)
        while d.year == year:
            run = run + 1 if cal.is_working_day(d) else 0
            longest = max(longest, run)
            d += timedelta(days=1)
        assert longest <= 6, year


# --- SLA deadlines ----------------------------------------------------------------------------


def test_ordinary_week(cal: WorkingCalendar) -> None:
    # Tuesday 2026-03-10
    assert cal.add_working_days(at(2026, 3, 10), 1) == close(2026, 3, 11)
    assert cal.add_working_days(at(2026, 3, 10), 3) == close(2026, 3, 13)
    assert cal.add_working_days(at(2026, 3, 13), 1) == close(2026, 3, 16)  # Fri -> Mon


def test_after_hours_and_weekend_start(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(at(2026, 3, 10, 20), 1) == close(2026, 3, 11)
    # Saturday: counting starts with Monday as working day 1
    assert cal.add_working_days(at(2026, 3, 14), 1) == close(2026, 3, 16)
    assert cal.add_working_days(at(2026, 3, 15, 23, 59), 2) == close(2026, 3, 17)


def test_zero_days_is_end_of_current_office_day(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(at(2026, 3, 10, 9), 0) == close(2026, 3, 10)
    assert cal.add_working_days(at(2026, 3, 10, 19), 0) == close(2026, 3, 11)
    assert cal.add_working_days(at(2026, 3, 14), 0) == close(2026, 3, 16)
    with pytest.raises(ValueError):
        cal.add_working_days(at(2026, 3, 10), -1)


def test_spring_festival_2026(cal: WorkingCalendar) -> None:
    # Friday before: the Saturday make-up day is the next working day
    assert cal.add_working_days(at(2026, 2, 13), 1) == close(2026, 2, 14)
    assert cal.add_working_days(at(2026, 2, 13), 2) == close(2026, 2, 24)
    # opened during the holiday: Tuesday 24th is day 1
    assert cal.add_working_days(at(2026, 2, 17), 1) == close(2026, 2, 24)
    assert cal.add_working_days(at(2026, 2, 17), 5) == close(2026, 2, 28)  # Saturday make-up
    assert cal.add_working_days(at(2026, 2, 17), 6) == close(2026, 3, 2)


def test_national_day_2026(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(at(2026, 9, 30), 1) == close(2026, 10, 8)
    assert cal.add_working_days(at(2026, 9, 30), 3) == close(2026, 10, 10)  # Saturday make-up
    assert cal.add_working_days(at(2026, 9, 19), 1) == close(2026, 9, 20)  # Sunday make-up
    assert cal.add_working_days(at(2026, 9, 24), 1) == close(2026, 9, 28)  # over 中秋


def test_year_boundaries(cal: WorkingCalendar) -> None:
    # Thursday 2026-12-31 -> Friday 2027-01-01 is 元旦 (projected) -> Monday Jan 4
    assert cal.add_working_days(at(2026, 12, 31), 1) == close(2027, 1, 4)
    # 2025-12-31 (no 2025 file) -> 2026-01-01..03 off, Sunday Jan 4 is a make-up day
    assert cal.add_working_days(at(2025, 12, 31), 1) == close(2026, 1, 4)
    assert cal.working_days_between(date(2026, 12, 30), date(2027, 1, 5)) == 3


def test_deadline_timezone_handling(cal: WorkingCalendar) -> None:
    # 2026-03-10 17:00 UTC is Wednesday 01:00 in Shanghai -> day 1 is Thursday
    start = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
    deadline = cal.add_working_days(start, 1)
    assert deadline == close(2026, 3, 12)
    assert deadline.utcoffset() == timedelta(hours=8)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_working_days(datetime(2026, 3, 10, 10), 1)


def test_office_close_is_configurable() -> None:
    c = WorkingCalendar(office_close=time(17, 30))
    assert c.add_working_days(at(2026, 3, 10), 1) == datetime(2026, 3, 11, 17, 30, tzinfo=SH)


def test_working_days_between_roundtrip(cal: WorkingCalendar) -> None:
    start = at(2026, 1, 20)
    for n in range(1, 60):
        deadline = cal.add_working_days(start, n)
        assert cal.working_days_between(start, deadline) == n
    assert cal.working_days_between(date(2026, 2, 13), date(2026, 2, 24)) == 2
    assert cal.working_days_between(date(2026, 2, 24), date(2026, 2, 13)) == -2
    assert cal.working_days_between(date(2026, 2, 15), date(2026, 2, 15)) == 0


# --- due state --------------------------------------------------------------------------------


def test_due_state(cal: WorkingCalendar) -> None:
    deadline = close(2026, 3, 11)  # Wednesday
    assert cal.due_state(deadline, at(2026, 3, 10, 17, 59)) == DueState.OK
    assert cal.due_state(deadline, at(2026, 3, 10, 18)) == "due_soon"
    assert cal.due_state(deadline, at(2026, 3, 11, 17, 59)) == "due_soon"
    assert cal.due_state(deadline, close(2026, 3, 11)) == "overdue"
    assert cal.due_state(deadline, at(2026, 3, 12)) == "overdue"


def test_due_soon_spans_holiday(cal: WorkingCalendar) -> None:
    # due on the first working day after National Day: due soon since Sep 30 18:00
    deadline = close(2026, 10, 8)
    assert cal.due_state(deadline, at(2026, 9, 30, 17)) == "ok"
    assert cal.due_state(deadline, at(2026, 10, 3)) == "due_soon"
    # a UTC "now" compares by instant
    assert cal.due_state(deadline, datetime(2026, 10, 8, 9, 59, tzinfo=UTC)) == ("due_soon")
    assert cal.due_state(deadline, datetime(2026, 10, 8, 10, 0, tzinfo=UTC)) == ("overdue")


# --- years without data -----------------------------------------------------------------------


def test_uncovered_year_falls_back_to_weekends_and_warns_once(
    cal: WorkingCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    c = WorkingCalendar.load(DATA)
    with caplog.at_level(logging.WARNING, logger="desk.calendar"):
        assert c.is_working_day(date(2031, 1, 1))  # a Wednesday, no data
        assert not c.is_working_day(date(2031, 1, 4))  # Saturday
        assert c.add_working_days(at(2031, 1, 3), 1) == close(2031, 1, 6)
    warnings = [r for r in caplog.records if "2031" in r.getMessage()]
    assert len(warnings) == 1


def test_provisional_year_warns_only_when_a_deadline_falls_in_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Loading the 2027 projection is quiet (every CLI call loads it); a deadline in 2027
    warns, once per calendar (so once per process)."""
    with caplog.at_level(logging.INFO, logger="desk.calendar"):
        c = WorkingCalendar.load(DATA)
        c.add_working_days(at(2026, 12, 1), 3)
    assert not [r for r in caplog.records if "provisional" in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="desk.calendar"):
        c.add_working_days(at(2026, 12, 30), 5)  # into January 2027
        c.add_working_days(at(2027, 3, 1), 1)
        c.add_working_days(at(2027, 3, 1), 0)
    warned = [r for r in caplog.records if "provisional" in r.getMessage()]
    assert len(warned) == 1 and "2027" in warned[0].getMessage()
    assert warned[0].levelno == logging.WARNING


def test_empty_calendar_is_weekends_only() -> None:
    c = WorkingCalendar()
    assert c.is_working_day(date(2026, 10, 1)) is True
    assert c.is_working_day(date(2026, 10, 10)) is False


# --- bad data files ---------------------------------------------------------------------------

GOOD = """\
year: 2026
source: test
holidays:
  - {name: 国庆节, from: 2026-10-01, to: 2026-10-07}
workdays:
  - {name: 国庆节调休, dates: [2026-10-10]}
"""


def write(tmp_path: Path, text: str, name: str = "2026.yml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_good_minimal_file(tmp_path: Path) -> None:
    c = WorkingCalendar.load(write(tmp_path, GOOD))
    assert not c.is_working_day(date(2026, 10, 2))
    assert c.is_working_day(date(2026, 10, 10))
    assert c.years[2026].provisional is False


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD.replace("2026-10-10]", "2026-10-03]"), "workdays[0].dates[0]"),  # both
        (GOOD.replace("2026-10-10]", "2026-10-12]"), "workdays[0].dates[0]"),  # a Monday
        (GOOD.replace("2026-10-10]", "2026-13-10]"), "workdays[0].dates[0]"),
        (GOOD.replace("to: 2026-10-07", "to: 2026-09-07"), "holidays[0].to"),
        (GOOD.replace("year: 2026", "year: twenty"), "year"),
        (GOOD.replace("year: 2026", "year: 2025"), "year"),
        (GOOD.replace("source: test\n", ""), "source"),
        (GOOD + "provisional: maybe\n", "provisional"),
        (GOOD + "holiday: []\n", "holiday"),
        (GOOD.replace("{name: 国庆节, ", "{"), "holidays[0].name"),
        (GOOD.replace("from: 2026-10-01, to", "to"), "holidays[0].from"),
        (GOOD.replace("{name: 国庆节调休, dates", "{name: x, dates: [], from"), "workdays[0]"),
        (GOOD.replace("2026-10-10]", "2027-10-10]"), "workdays[0].dates[0]"),
        (GOOD.replace("dates: [2026-10-10]", "dates: 2026-10-10"), "workdays[0].dates"),
        ("- just a list\n", ""),
        ("year: [unclosed\n", ""),
    ],
)
def test_bad_file_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    write(tmp_path, text)
    with pytest.raises(CalendarDataError) as info:
        WorkingCalendar.load(tmp_path)
    for message in (str(info.value), info.value.user_message):
        assert "2026.yml" in message
        assert field in message
    assert info.value.field == field
    assert info.value.code == "calendar_invalid"


def test_date_in_two_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    other = "year: 2027\nsource: t\nworkdays:\n  - {name: x, dates: [2026-12-27]}\n"
    write(tmp_path, other.replace("2026-12-27", "2026-12-26"), "2027.yml")
    assert WorkingCalendar.load(tmp_path).is_working_day(date(2026, 12, 26))
    (tmp_path / "2027.yml").write_text(
        other.replace("workdays", "holidays").replace("2026-12-27", "2026-10-02"),
        encoding="utf-8",
    )
    with pytest.raises(CalendarDataError, match=r"2027\.yml"):
        WorkingCalendar.load(tmp_path)


def test_missing_or_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(CalendarDataError, match=r"no \*\.yml"):
        WorkingCalendar.load(tmp_path)
    with pytest.raises(CalendarDataError, match="not found"):
        WorkingCalendar.load(tmp_path / "nope")


def test_duplicate_year_in_two_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, GOOD.replace("2026-10", "2026-11"), "extra.yaml")
    with pytest.raises(CalendarDataError, match="2026"):
        WorkingCalendar.load(tmp_path)


def test_constructor_accepts_year_objects() -> None:
    yc = YearCalendar(
        year=2030, source="t", provisional=False, holidays={date(2030, 1, 1): "元旦"}, workdays={}
    )
    c = WorkingCalendar([yc])
    assert not c.is_working_day(date(2030, 1, 1))

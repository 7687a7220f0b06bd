"""Office hours (`data/office_hours.yml`) on the 2026 holiday calendar: open now, next
opening — across a weekend, a public holiday and a 调休 working Saturday; bad files name the
file and the field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from desk.calendar import WorkingCalendar
from desk.notices import OFFICE_TZ
from desk.office_hours import OfficeHours, OfficeHoursDataError
from desk.runtime import DEFAULT_OFFICE_HOURS, ROOT


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of 2026 in Beijing time."""
    return datetime(2026, month, day, hour, minute, tzinfo=OFFICE_TZ)


LUNCH_BREAK = """\
timezone: Asia/Shanghai
sessions:
  - {from: "09:00", to: "12:00"}
  - {from: "13:30", to: "17:30"}
"""


@pytest.fixture
def hours(tmp_path: Path, calendar: WorkingCalendar) -> OfficeHours:
    """Hours with a lunch break (the shipped file has one session)."""
    path = tmp_path / "office_hours.yml"
    path.write_text(LUNCH_BREAK, encoding="utf-8")
    return OfficeHours.load(path, calendar)


def test_the_shipped_hours_load_and_agree_with_the_faq(calendar: WorkingCalendar) -> None:
    shipped = OfficeHours.load(DEFAULT_OFFICE_HOURS, calendar)
    faq = yaml.safe_load((ROOT / "data" / "faq.yml").read_text(encoding="utf-8"))
    hall_hours = " ".join(a["text"] for a in faq["faq"]["faq_office_hours"])
    for session in shipped.sessions:
        assert session.label() in hall_hours, (session.label(), hall_hours)
    assert shipped.is_open(at(11, 27, 10, 0)) and not shipped.is_open(at(11, 28, 10, 0))


@pytest.mark.parametrize(
    ("moment", "is_open", "opens"),
    [
        # Friday 2026-11-27: morning, lunch, afternoon, closing time, evening
        (at(11, 27, 9, 0), True, at(11, 27, 9, 0)),
        (at(11, 27, 8, 59), False, at(11, 27, 9, 0)),
        (at(11, 27, 12, 0), False, at(11, 27, 13, 30)),
        (at(11, 27, 17, 29), True, at(11, 27, 17, 29)),
        (at(11, 27, 17, 30), False, at(11, 30, 9, 0)),  # over the weekend to Monday
        # the weekend
        (at(11, 28, 10, 0), False, at(11, 30, 9, 0)),
        (at(11, 29, 23, 59), False, at(11, 30, 9, 0)),
        # 国庆节: Thursday 10-01 to Wednesday 10-07 closed; Thursday 10-08 open
        (at(10, 1, 10, 0), False, at(10, 8, 9, 0)),
        (at(9, 30, 18, 0), False, at(10, 8, 9, 0)),
        # the 调休 working Saturday 10-10 is open (after Friday 10-09)
        (at(10, 9, 17, 45), False, at(10, 10, 9, 0)),
        (at(10, 10, 10, 0), True, at(10, 10, 10, 0)),
        (at(10, 10, 12, 30), False, at(10, 10, 13, 30)),
        (at(10, 10, 18, 0), False, at(10, 12, 9, 0)),  # Sunday 10-11 closed again
    ],
)
def test_open_now_and_next_opening(
    hours: OfficeHours, moment: datetime, is_open: bool, opens: datetime
) -> None:
    assert hours.is_open(moment) is is_open
    assert hours.next_opening(moment) == opens
    assert hours.next_opening(moment).tzinfo is not None


def test_any_time_zone_in_the_office_time_zone_out(hours: OfficeHours) -> None:
    # Saturday 2026-11-28 01:00 UTC is 09:00 Beijing: still the weekend
    moment = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    assert not hours.is_open(moment)
    opens = hours.next_opening(moment)
    assert (opens.date().isoformat(), opens.hour, opens.utcoffset()) == (
        "2026-11-30",
        9,
        at(11, 30, 9).utcoffset(),
    )
    with pytest.raises(ValueError, match="aware"):
        hours.is_open(datetime(2026, 11, 27, 10, 0))


def test_describe_comes_from_the_data(hours: OfficeHours) -> None:
    assert hours.describe() == "工作日 9:00–12:00、13:30–17:30，法定节假日除外"


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ("sessions: []\ntimezone: Asia/Shanghai\n", "sessions", "非空"),
        ("timezone: Mars/Base\nsessions: [{from: '09:00', to: '12:00'}]\n", "timezone", "未知"),
        (
            "timezone: Asia/Shanghai\nsessions: [{from: 9:00, to: '12:00'}]\n",
            "sessions[0].from",
            "引号",
        ),
        (
            "timezone: Asia/Shanghai\nsessions: [{from: '09:00', to: '25:00'}]\n",
            "sessions[0].to",
            "HH:MM",
        ),
        (
            "timezone: Asia/Shanghai\nsessions: [{from: '12:00', to: '09:00'}]\n",
            "sessions[0].to",
            "不晚于",
        ),
        (
            "timezone: Asia/Shanghai\nsessions:\n  - {from: '09:00', to: '12:00'}\n"
            "  - {from: '11:00', to: '17:00'}\n",
            "sessions[1].from",
            "overlap",
        ),
        (
            "timezone: Asia/Shanghai\nsessions: [{from: '09:00', till: '12:00'}]\n",
            "sessions[0].till",
            "未知",
        ),
        (
            "timezone: Asia/Shanghai\nopen: true\nsessions: [{from: '09:00', to: '12:00'}]\n",
            "open",
            "未知",
        ),
        ("- just a list\n", "", "映射"),
    ],
)
def test_bad_files_name_the_file_and_the_field(
    tmp_path: Path, calendar: WorkingCalendar, body: str, field: str, problem: str
) -> None:
    path = tmp_path / "office_hours.yml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(OfficeHoursDataError) as err:
        OfficeHours.load(path, calendar)
    assert err.value.field == field
    assert problem in err.value.problem
    assert str(path) in str(err.value) and str(path) in err.value.user_message


def test_a_missing_file_is_named(tmp_path: Path, calendar: WorkingCalendar) -> None:
    with pytest.raises(OfficeHoursDataError) as err:
        OfficeHours.load(tmp_path / "nope.yml", calendar)
    assert "nope.yml" in str(err.value)

"""Office hours: when staff answer, on the working days of the holiday calendar.

The hours are data (`data/office_hours.yml`: a time zone and the sessions of a working day,
e.g. 09:00–12:00 and 13:30–17:30); which days are working days comes from
`desk.calendar.WorkingCalendar` (weekends, public holidays, 调休 working weekend days).
`OfficeHours.is_open(at)` and `OfficeHours.next_opening(at)` answer for any aware moment.
A bad file raises `OfficeHoursDataError`, which names the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from desk.calendar import DataFileError, WorkingCalendar

__all__ = ["OfficeHours", "OfficeHoursDataError", "Session"]

_TIME_RE = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_TOP_KEYS = {"timezone", "sessions"}
# Looking further than this for the next opening means the calendar has no working day.
_MAX_DAYS_AHEAD = 60


class OfficeHoursDataError(DataFileError):
    """The office hours file is missing or invalid; the message names the file and field."""

    code = "office_hours_invalid"
    label = "办公时间"


@dataclass(frozen=True, slots=True)
class Session:
    """One opening span of a working day, `start` inclusive, `end` exclusive."""

    start: time
    end: time

    def label(self) -> str:
        """`9:00–12:00`."""
        return f"{_clock(self.start)}–{_clock(self.end)}"


def _clock(t: time) -> str:
    return f"{t.hour}:{t.minute:02d}"


class OfficeHours:
    """The sessions of a working day on a `WorkingCalendar`."""

    def __init__(
        self, sessions: list[Session], calendar: WorkingCalendar, *, timezone: str | None = None
    ) -> None:
        if not sessions:
            raise ValueError("office hours need at least one session")
        self.sessions = tuple(sessions)
        self.calendar = calendar
        self.tz = ZoneInfo(timezone) if timezone else calendar.tz

    @classmethod
    def load(cls, path: Path, calendar: WorkingCalendar) -> OfficeHours:
        """Read and check `path` (see `data/office_hours.yml` for the format)."""

        def fail(fld: str, problem: str) -> OfficeHoursDataError:
            return OfficeHoursDataError(path, fld, problem)

        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise fail("", f"不是有效的 YAML (invalid YAML): {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise fail("", f"无法读取 (cannot read): {exc}") from exc
        if not isinstance(raw, dict):
            raise fail("", "顶层必须是映射 (top level must be a mapping)")
        unknown = sorted(str(k) for k in raw if k not in _TOP_KEYS)
        if unknown:
            raise fail(unknown[0], f"未知字段 (unknown field); 允许: {sorted(_TOP_KEYS)}")
        tz_name = raw.get("timezone")
        if not isinstance(tz_name, str) or not tz_name.strip():
            raise fail("timezone", "必须是时区名称，如 Asia/Shanghai (a time zone name)")
        try:
            ZoneInfo(tz_name.strip())
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise fail("timezone", f"未知时区 (unknown time zone): {tz_name!r}") from exc
        items = raw.get("sessions")
        if not isinstance(items, list) or not items:
            raise fail("sessions", "必须是非空列表 (a non-empty list of {from, to})")
        sessions: list[Session] = []
        for i, item in enumerate(items):
            fld = f"sessions[{i}]"
            if not isinstance(item, dict):
                raise fail(fld, '必须是映射 (a mapping) {from: "HH:MM", to: "HH:MM"}')
            extra = sorted(str(k) for k in item if k not in {"from", "to"})
            if extra:
                raise fail(f"{fld}.{extra[0]}", "未知字段 (unknown field)")
            start = _parse_time(item.get("from"), f"{fld}.from", fail)
            end = _parse_time(item.get("to"), f"{fld}.to", fail)
            if end <= start:
                raise fail(f"{fld}.to", f"{_clock(end)} 不晚于 from {_clock(start)} (not after)")
            if sessions and start < sessions[-1].end:
                raise fail(
                    f"{fld}.from",
                    f"{_clock(start)} 早于上一时段结束 {_clock(sessions[-1].end)} "
                    "(sessions must be in order and not overlap)",
                )
            sessions.append(Session(start, end))
        return cls(sessions, calendar, timezone=tz_name.strip())

    def describe(self) -> str:
        """`工作日 9:00–12:00、13:30–17:30，法定节假日除外` (Simplified)."""
        spans = "、".join(s.label() for s in self.sessions)
        return f"工作日 {spans}，法定节假日除外"

    def _local(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("office hours need an aware datetime")
        return at.astimezone(self.tz)

    def is_open(self, at: datetime) -> bool:
        """True when `at` falls in a session of a working day."""
        local = self._local(at)
        if not self.calendar.is_working_day(local.date()):
            return False
        now = local.time().replace(tzinfo=None)
        return any(s.start <= now < s.end for s in self.sessions)

    def next_opening(self, at: datetime) -> datetime:
        """The first moment at or after `at` when the office is open (`at` itself when it is
        open now), as an aware datetime in the office's time zone."""
        local = self._local(at)
        if self.is_open(local):
            return local
        day = local.date()
        for _ in range(_MAX_DAYS_AHEAD):
            if self.calendar.is_working_day(day):
                for s in self.sessions:
                    start = datetime.combine(day, s.start, tzinfo=self.tz)
                    if start >= local:
                        return start
            day += timedelta(days=1)
        raise ValueError(f"no working day within {_MAX_DAYS_AHEAD} days of {local.date()}")


def _parse_time(value: Any, fld: str, fail: Any) -> time:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 09:00 as a sexagesimal number (540)
        raise fail(fld, '请加引号写成 "HH:MM" (quote the time, e.g. "09:00")')
    if not isinstance(value, str) or not _TIME_RE.fullmatch(value.strip()):
        raise fail(fld, f'不是 "HH:MM" 时间 (not a time): {value!r}')
    hours, minutes = value.strip().split(":")
    return time(int(hours), int(minutes))

"""Working-day calendar for SLA deadlines: weekends, Chinese public holidays and 调休.

The calendar is data: one YAML file per year under ``data/calendar/`` (see the comment at the
top of ``data/calendar/2026.yml`` for the format), loaded with :meth:`WorkingCalendar.load`.

Rules
-----
* A day is a working day if it is listed as a make-up working day (``workdays``, 调休上班), or
  if it is Monday..Friday and not listed as a holiday.
* Years with no data file fall back to "weekends off, everything else working", and a warning
  is logged once per year per calendar instance.
* A year marked ``provisional: true`` (published before the State Council's notice) is only
  warned about when a computed deadline falls in it, once per year per calendar instance
  (loading it logs at DEBUG), so commands that do not touch that year stay quiet.
* SLA deadline (:meth:`WorkingCalendar.add_working_days`): the close of the office day
  (18:00 Asia/Shanghai by default) on the *n*-th working day strictly after the local date of
  the start.  A case opened on a working day therefore gets the rest of that day for free;
  a case opened on a weekend, holiday, or after hours gets exactly *n* full working days,
  counted from the next working day (opened Saturday with n=1 -> due Monday 18:00).
  With n=0 the deadline is the close of the first working day on or after the start whose
  close has not yet passed.
* Due state (:meth:`WorkingCalendar.due_state`): ``overdue`` when ``now >= deadline``;
  ``due_soon`` when less than one working day is left, i.e. ``now`` is at or after the same
  clock time on the working day before the deadline's day (deadline Tuesday 18:00 -> due soon
  from Monday 18:00; deadline Monday 18:00 -> due soon from Friday 18:00); otherwise ``ok``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from desk.errors import DeskError

__all__ = [
    "DEFAULT_OFFICE_CLOSE",
    "DEFAULT_TIMEZONE",
    "CalendarDataError",
    "DueState",
    "WorkingCalendar",
    "YearCalendar",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_OFFICE_CLOSE = time(18, 0)

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as strings, so a bad date is reported with its field."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_TOP_KEYS = {"year", "source", "provisional", "holidays", "workdays"}
_MAX_RANGE_DAYS = 31


class DataFileError(DeskError, ValueError):
    """A data file under `data/` is missing or invalid; the message names the file and the
    field. Subclasses name what the file holds (`label`)."""

    code = "data_file_invalid"
    label = "数据文件"

    def __init__(self, file: str | Path, field: str, problem: str) -> None:
        self.file = str(file)
        self.field = field
        self.problem = problem
        where = f"{self.file}: {field}" if field else self.file
        user_where = f"文件 {self.file}，字段 {field}" if field else f"文件 {self.file}"
        super().__init__(f"{where}: {problem}", f"{self.label}配置有误：{user_where}：{problem}")


class CalendarDataError(DataFileError):
    """A calendar data file is missing or invalid."""

    code = "calendar_invalid"
    label = "工作日历"


class DueState(StrEnum):
    """How close a deadline is; compares equal to the plain strings."""

    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    OK = "ok"


@dataclass(frozen=True)
class YearCalendar:
    """The parsed content of one calendar file."""

    year: int
    source: str
    provisional: bool
    holidays: Mapping[date, str]
    workdays: Mapping[date, str]
    path: str = ""


@dataclass
class _Parser:
    path: Path
    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)

    def fail(self, fld: str, problem: str) -> CalendarDataError:
        return CalendarDataError(self.path, fld, problem)

    def parse(self) -> YearCalendar:
        try:
            raw = yaml.load(
                self.path.read_text(encoding="utf-8"), Loader=_Loader
            )  # _Loader is a SafeLoader
        except yaml.YAMLError as exc:
            raise self.fail("", f"不是有效的 YAML (invalid YAML): {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail("", f"无法读取 (cannot read): {exc}") from exc
        if not isinstance(raw, dict):
            raise self.fail("", "顶层必须是映射 (top level must be a mapping)")
        unknown = sorted(str(k) for k in raw if k not in _TOP_KEYS)
        if unknown:
            raise self.fail(unknown[0], f"未知字段 (unknown field); 允许: {sorted(_TOP_KEYS)}")

        year = raw.get("year")
        if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2200:
            raise self.fail("year", "必须是年份整数 (must be a year, e.g. 2026)")
        if self.path.stem.isdigit() and int(self.path.stem) != year:
            raise self.fail("year", f"与文件名不符 (file name says {self.path.stem})")
        source = raw.get("source")
        if not isinstance(source, str) or not source.strip():
            raise self.fail("source", "必须注明数据来源 (required: where the dates come from)")
        provisional = raw.get("provisional", False)
        if not isinstance(provisional, bool):
            raise self.fail("provisional", "必须是 true 或 false (must be true or false)")

        for i, entry in enumerate(self._list(raw, "holidays")):
            name, days = self._entry(f"holidays[{i}]", entry, year)
            for fld, d in days:
                if d in self.holidays:
                    raise self.fail(fld, f"{d} 重复列为假日 (listed twice as a holiday)")
                self.holidays[d] = name
        for i, entry in enumerate(self._list(raw, "workdays")):
            name, days = self._entry(f"workdays[{i}]", entry, year)
            for fld, d in days:
                if d in self.holidays:
                    raise self.fail(
                        fld, f"{d} 既是假日又是调休上班日 (both a holiday and a workday)"
                    )
                if d.weekday() < 5:
                    raise self.fail(
                        fld, f"{d} 不是周末，无需列为调休上班日 (workdays must be Sat/Sun)"
                    )
                if d in self.workdays:
                    raise self.fail(fld, f"{d} 重复列为上班日 (listed twice as a workday)")
                self.workdays[d] = name
        return YearCalendar(
            year=year,
            source=source.strip(),
            provisional=provisional,
            holidays=dict(self.holidays),
            workdays=dict(self.workdays),
            path=str(self.path),
        )

    def _list(self, raw: dict[str, Any], key: str) -> list[Any]:
        value = raw.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "必须是列表 (must be a list)")
        return value

    def _date(self, fld: str, value: Any, year: int) -> date:
        if isinstance(value, datetime):
            raise self.fail(fld, "只写日期，不要时间 (a date, not a date-time)")
        if isinstance(value, str) and _DATE_RE.fullmatch(value.strip()):
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                pass
        if not isinstance(value, date):
            raise self.fail(fld, f"不是有效日期 YYYY-MM-DD (not a date): {value!r}")
        # Make-up days for New Year may sit in the last days of the previous December.
        if not date(year - 1, 12, 1) <= value <= date(year, 12, 31):
            raise self.fail(fld, f"{value} 不在 {year} 年内 (outside the file's year)")
        return value

    def _entry(self, fld: str, entry: Any, year: int) -> tuple[str, list[tuple[str, date]]]:
        if not isinstance(entry, dict):
            raise self.fail(fld, "必须是映射 {name, dates} 或 {name, from, to}")
        unknown = sorted(str(k) for k in entry if k not in {"name", "dates", "from", "to"})
        if unknown:
            raise self.fail(f"{fld}.{unknown[0]}", "未知字段 (unknown field)")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.fail(f"{fld}.name", "缺少名称 (name is required)")
        has_dates = "dates" in entry
        has_range = "from" in entry or "to" in entry
        if has_dates == has_range:
            raise self.fail(fld, "须写 dates 或 from/to 之一 (give either dates or from/to)")
        days: list[tuple[str, date]] = []
        if has_dates:
            dates = entry["dates"]
            if not isinstance(dates, list) or not dates:
                raise self.fail(f"{fld}.dates", "必须是非空日期列表 (a non-empty list)")
            for j, value in enumerate(dates):
                f = f"{fld}.dates[{j}]"
                days.append((f, self._date(f, value, year)))
            return name.strip(), days
        for key in ("from", "to"):
            if key not in entry:
                raise self.fail(f"{fld}.{key}", "缺少 (missing)")
        start = self._date(f"{fld}.from", entry["from"], year)
        end = self._date(f"{fld}.to", entry["to"], year)
        if end < start:
            raise self.fail(f"{fld}.to", f"{end} 早于 from {start} (before from)")
        if (end - start).days >= _MAX_RANGE_DAYS:
            raise self.fail(f"{fld}.to", f"区间超过 {_MAX_RANGE_DAYS} 天 (range too long)")
        d = start
        while d <= end:
            days.append((f"{fld}.from..to", d))
            d += timedelta(days=1)
        return name.strip(), days


class WorkingCalendar:
    """Working days, SLA deadlines and due states on a holiday calendar.

    Build it with :meth:`load` from a data directory, or directly from :class:`YearCalendar`
    objects (no years = weekends only).  Instances are immutable apart from remembering which
    uncovered years they have already warned about.
    """

    def __init__(
        self,
        years: Iterable[YearCalendar] = (),
        *,
        timezone: str = DEFAULT_TIMEZONE,
        office_close: time = DEFAULT_OFFICE_CLOSE,
    ) -> None:
        self.tz = ZoneInfo(timezone)
        self.office_close = office_close
        self._years: dict[int, YearCalendar] = {}
        self._holidays: dict[date, str] = {}
        self._workdays: dict[date, str] = {}
        origin: dict[date, str] = {}
        for yc in years:
            if yc.year in self._years:
                raise CalendarDataError(
                    yc.path,
                    "year",
                    f"{yc.year} 年已在 {self._years[yc.year].path} 中定义 (year defined twice)",
                )
            self._years[yc.year] = yc
            for d in [*yc.holidays, *yc.workdays]:
                if d in origin:
                    raise CalendarDataError(
                        yc.path,
                        "holidays/workdays",
                        f"{d} 已在 {origin[d]} 中定义 (defined twice)",
                    )
                origin[d] = yc.path
            self._holidays.update(yc.holidays)
            self._workdays.update(yc.workdays)
        self._warned: set[int] = set()
        self._warned_provisional: set[int] = set()

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        timezone: str = DEFAULT_TIMEZONE,
        office_close: time = DEFAULT_OFFICE_CLOSE,
    ) -> WorkingCalendar:
        """Load every ``*.yml`` / ``*.yaml`` file in ``directory``.

        Raises :class:`CalendarDataError` (naming the file and field) for a missing directory,
        a directory without files, or any invalid file.  Reads files synchronously: call it at
        start-up or through ``asyncio.to_thread``.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise CalendarDataError(directory, "", "目录不存在 (directory not found)")
        files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
        if not files:
            raise CalendarDataError(directory, "", "没有日历文件 (no *.yml calendar files)")
        years = [_Parser(path).parse() for path in files]
        calendar = cls(years, timezone=timezone, office_close=office_close)
        for yc in years:
            if yc.provisional:  # warned about when a deadline falls in it (add_working_days)
                logger.debug("calendar %s is provisional (%s)", yc.year, yc.path)
        return calendar

    @property
    def years(self) -> Mapping[int, YearCalendar]:
        """The years that have data, by year."""
        return dict(self._years)

    def holiday_name(self, d: date) -> str | None:
        """The holiday's name if ``d`` is a listed holiday, else None."""
        return self._holidays.get(self._day(d))

    def workday_name(self, d: date) -> str | None:
        """The name of the 调休 working day `d` (e.g. "国庆节调休"), or None."""
        return self._workdays.get(self._day(d))

    def is_working_day(self, d: date) -> bool:
        """True if the office works on ``d`` (a datetime is taken as its own date)."""
        d = self._day(d)
        if d in self._workdays:
            return True
        if d in self._holidays:
            return False
        if d.year not in self._years and d.year not in self._warned:
            self._warned.add(d.year)
            logger.warning(
                "no holiday calendar for %s: counting weekends only; add data/calendar/%s.yml",
                d.year,
                d.year,
            )
        return d.weekday() < 5

    def next_working_day(self, d: date, *, include: bool = False) -> date:
        """The first working day after ``d`` (or on it, if ``include``)."""
        d = self._day(d)
        if not include:
            d += timedelta(days=1)
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before ``d``."""
        d = self._day(d) - timedelta(days=1)
        while not self.is_working_day(d):
            d -= timedelta(days=1)
        return d

    def office_close_at(self, d: date) -> datetime:
        """The aware datetime at which the office day ``d`` ends."""
        return datetime.combine(d, self.office_close, tzinfo=self.tz)

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """The SLA deadline: office close on the n-th working day after ``start``'s date.

        ``start`` must be timezone-aware; the result is aware, in the office time zone.
        See the module docstring for the exact rule.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        local = self._local(start, "start")
        if n == 0:
            day = self.next_working_day(local.date(), include=True)
            if self.office_close_at(day) <= local:
                day = self.next_working_day(day)
            return self._provisional_check(self.office_close_at(day))
        day = local.date()
        for _ in range(n):
            day = self.next_working_day(day)
        return self._provisional_check(self.office_close_at(day))

    def _provisional_check(self, deadline: datetime) -> datetime:
        """Warn (once per year and process) when a deadline falls in a provisional year:
        only then does the provisional calendar matter."""
        yc = self._years.get(deadline.year)
        if yc is not None and yc.provisional and yc.year not in self._warned_provisional:
            self._warned_provisional.add(yc.year)
            logger.warning(
                "deadline %s falls in %s, whose calendar is provisional (%s); "
                "replace it with the official notice",
                deadline.date(),
                yc.year,
                yc.path,
            )
        return deadline

    def working_days_between(self, a: date, b: date) -> int:
        """Working days ``d`` with ``a < d <= b``; negative if ``b < a``.

        Datetimes are taken at their local date in the office time zone, so
        ``working_days_between(start, add_working_days(start, n)) == n`` for ``n >= 1``.
        """
        da = self._local_date(a, "a")
        db = self._local_date(b, "b")
        sign = 1
        if db < da:
            da, db, sign = db, da, -1
        count = 0
        d = da + timedelta(days=1)
        while d <= db:
            if self.is_working_day(d):
                count += 1
            d += timedelta(days=1)
        return sign * count

    def due_state(self, deadline: datetime, now: datetime) -> DueState:
        """``overdue`` if ``now >= deadline``; ``due_soon`` if less than one working day is
        left (``now`` is past the deadline's clock time on the previous working day); else
        ``ok``.  Both datetimes must be timezone-aware.
        """
        dl = self._local(deadline, "deadline")
        current = self._local(now, "now")
        if current >= dl:
            return DueState.OVERDUE
        soon_day = self.previous_working_day(dl.date())
        soon_from = datetime.combine(soon_day, dl.timetz())
        if current >= soon_from:
            return DueState.DUE_SOON
        return DueState.OK

    def _local(self, value: datetime, name: str) -> datetime:
        if not isinstance(value, datetime):
            raise TypeError(f"{name} must be a datetime")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
        return value.astimezone(self.tz)

    def _day(self, value: date) -> date:
        """A date as is; an aware datetime at its office-local date; a naive one at its date."""
        if isinstance(value, datetime):
            if value.tzinfo is not None and value.utcoffset() is not None:
                return value.astimezone(self.tz).date()
            return value.date()
        return value

    def _local_date(self, value: date, name: str) -> date:
        if isinstance(value, datetime):
            return self._local(value, name).date()
        return value

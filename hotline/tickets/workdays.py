"""China's working-day calendar: the State Council's holidays and swapped workdays, per year.

Pure and synchronous.  Years come from the ``chinese_calendar`` package (1.11 knows 2004-2026) and
from data files ``config/calendar/YYYY.toml`` (later years, or corrections: a file wins over the
package for its year), so a new year is added without a code change::

    year = 2027
    source = "国务院办公厅关于2027年部分节假日安排的通知"
    holidays = ["2027-01-01", ...]   # official days off (weekend days inside a break may be listed)
    workdays = ["2027-02-07", ...]   # weekend days that are working days (调休上班)

A day in a year no calendar knows is never silently taken as known: the arithmetic goes on with
weekends only for that year and reports the year in ``unknown_years`` so callers flag the result
as provisional.  The strict :meth:`WorkingCalendar.is_workday` raises :class:`UnknownYear`.

Counting rule (see ``hotline/tickets/README.md``): the start day never counts; the first working
day after it is day 1; a deadline of N working days is the Nth such day, ending at 24:00.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from hotline.tickets.errors import CalendarDataError, UnknownYear

_ONE_DAY = timedelta(days=1)
#: Safety bound: no real question walks further than this many calendar days.
_MAX_WALK_DAYS = 3660
_CACHE_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class YearData:
    """One year's exceptions to the Monday-Friday rule."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str


@dataclass(frozen=True, slots=True)
class DayResult:
    """A day computed by the calendar; ``unknown_years`` non-empty means provisional."""

    day: date
    unknown_years: frozenset[int] = frozenset()

    @property
    def provisional(self) -> bool:
        """True when a year no calendar knows was counted with weekends only."""
        return bool(self.unknown_years)


@dataclass(frozen=True, slots=True)
class CountResult:
    """A number of working days; ``unknown_years`` non-empty means provisional."""

    days: int
    unknown_years: frozenset[int] = frozenset()

    @property
    def provisional(self) -> bool:
        """True when a year no calendar knows was counted with weekends only."""
        return bool(self.unknown_years)


def package_years() -> dict[int, YearData]:
    """Every year the installed ``chinese_calendar`` package knows."""
    from chinese_calendar import constants

    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for day in constants.holidays:
        holidays.setdefault(day.year, set()).add(day)
    for day in constants.workdays:
        workdays.setdefault(day.year, set()).add(day)
    version = _package_version()
    years = range(min(holidays), max(holidays) + 1)
    return {
        year: YearData(
            year=year,
            holidays=frozenset(holidays.get(year, ())),
            workdays=frozenset(workdays.get(year, ())),
            source=f"chinese_calendar {version}",
        )
        for year in years
    }


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("chinese-calendar")
    except metadata.PackageNotFoundError:  # pragma: no cover - depends on the install's metadata
        return "?"


def _parse_day(text: object, year: int, source: str, key: str) -> date:
    if isinstance(text, date):
        day = text
    elif isinstance(text, str):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise CalendarDataError(source, f"{key}: {text!r} is not a date like 2027-01-01") from exc
    else:
        raise CalendarDataError(source, f"{key}: expected a date string, got {text!r}")
    if day.year != year:
        raise CalendarDataError(source, f"{key}: {day} is not in {year}")
    return day


def parse_year_file(text: str, source: str) -> YearData:
    """Parse and validate one ``YYYY.toml`` calendar file."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarDataError(source, f"not valid TOML ({exc})") from exc
    unknown = set(raw) - {"year", "source", "holidays", "workdays"}
    if unknown:
        raise CalendarDataError(source, f"unknown keys: {', '.join(sorted(unknown))}")
    year = raw.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2200:
        raise CalendarDataError(source, f"year: expected a year like 2027, got {year!r}")
    stem = Path(source).stem
    if stem.isdigit() and int(stem) != year:
        raise CalendarDataError(source, f"file name says {stem} but year = {year}")
    lists: dict[str, frozenset[date]] = {}
    for key in ("holidays", "workdays"):
        values = raw.get(key, [])
        if not isinstance(values, list):
            raise CalendarDataError(source, f"{key}: expected a list of dates")
        lists[key] = frozenset(_parse_day(v, year, source, key) for v in values)
    both = lists["holidays"] & lists["workdays"]
    if both:
        raise CalendarDataError(source, f"{min(both)} is listed as both a holiday and a workday")
    weekday_workdays = sorted(d for d in lists["workdays"] if d.weekday() < 5)
    if weekday_workdays:
        raise CalendarDataError(
            source, f"workdays lists {weekday_workdays[0]}, a weekday (only swapped weekend days go there)"
        )
    if not lists["holidays"]:
        raise CalendarDataError(source, "holidays: empty (a year always has public holidays)")
    src = raw.get("source", source)
    return YearData(
        year=year,
        holidays=lists["holidays"],
        workdays=lists["workdays"],
        source=str(src),
    )


def load_year_files(directory: Path) -> dict[int, YearData]:
    """Every ``*.toml`` file in ``directory`` (missing directory: none)."""
    if not directory.is_dir():
        return {}
    years: dict[int, YearData] = {}
    for path in sorted(directory.glob("*.toml")):
        data = parse_year_file(path.read_text(encoding="utf-8"), str(path))
        if data.year in years:
            raise CalendarDataError(str(path), f"year {data.year} is defined twice")
        years[data.year] = data
    return years


def data_fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of the data files: changes when a year is added."""
    if not directory.is_dir():
        return ()
    items = []
    for path in sorted(directory.glob("*.toml")):
        stat = path.stat()
        items.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(items)


class WorkingCalendar:
    """Working-day arithmetic over the known years; immutable once built."""

    def __init__(self, years: Mapping[int, YearData]) -> None:
        self._years = dict(years)
        self._holidays: frozenset[date] = frozenset().union(*(y.holidays for y in self._years.values()))
        self._workdays: frozenset[date] = frozenset().union(*(y.workdays for y in self._years.values()))
        self._add_cache: dict[tuple[date, int], DayResult] = {}

    @classmethod
    def load(cls, data_dir: Path | None = None, *, use_package: bool = True) -> WorkingCalendar:
        """The package's years overlaid with the data files of ``data_dir``."""
        years = package_years() if use_package else {}
        if data_dir is not None:
            years.update(load_year_files(data_dir))
        return cls(years)

    @property
    def known_years(self) -> frozenset[int]:
        """The years this calendar has data for."""
        return frozenset(self._years)

    def source(self, year: int) -> str | None:
        """Where a year's data came from, ``None`` when unknown."""
        data = self._years.get(year)
        return data.source if data else None

    def knows(self, year: int) -> bool:
        """True when the year's holidays and swapped workdays are known."""
        return year in self._years

    def is_workday(self, day: date) -> bool:
        """Strict: raises :class:`UnknownYear` for a year no calendar knows."""
        if day.year not in self._years:
            raise UnknownYear(day.year)
        return self._is_workday_known(day)

    def _is_workday_known(self, day: date) -> bool:
        if day in self._workdays:
            return True
        return day.weekday() < 5 and day not in self._holidays

    def _workday(self, day: date, unknown: set[int]) -> bool:
        """Provisional-aware: an unknown year counts Monday-Friday and is noted in ``unknown``."""
        if day.year not in self._years:
            unknown.add(day.year)
            return day.weekday() < 5
        return self._is_workday_known(day)

    def is_workday_or_guess(self, day: date) -> tuple[bool, bool]:
        """``(is working day, guessed)``: guessed means weekends only (unknown year)."""
        unknown: set[int] = set()
        result = self._workday(day, unknown)
        return result, bool(unknown)

    def add_working_days(self, start: date, n: int) -> DayResult:
        """The Nth working day after ``start`` (``start`` itself never counts); ``n >= 1``.

        ``n == 0`` gives ``start`` unchanged.
        """
        if n < 0:
            raise ValueError(f"n must be 0 or more, got {n}")
        if n == 0:
            return DayResult(start)
        key = (start, n)
        cached = self._add_cache.get(key)
        if cached is not None:
            return cached
        unknown: set[int] = set()
        day = start
        count = 0
        walked = 0
        while count < n:
            day += _ONE_DAY
            walked += 1
            if walked > _MAX_WALK_DAYS:  # pragma: no cover - only with absurd data
                raise ValueError(f"no {n} working days within {_MAX_WALK_DAYS} days of {start}")
            if self._workday(day, unknown):
                count += 1
        result = DayResult(day, frozenset(unknown))
        if len(self._add_cache) >= _CACHE_LIMIT:
            self._add_cache.clear()
        self._add_cache[key] = result
        return result

    def working_days_between(self, start: date, end: date) -> CountResult:
        """How many working days lie in ``(start, end]`` (0 when ``end <= start``)."""
        unknown: set[int] = set()
        count = 0
        day = start
        while day < end:
            day += _ONE_DAY
            if self._workday(day, unknown):
                count += 1
        return CountResult(count, frozenset(unknown))

    def previous_working_day(self, day: date) -> DayResult:
        """The last working day strictly before ``day``."""
        unknown: set[int] = set()
        current = day - _ONE_DAY
        for _ in range(_MAX_WALK_DAYS):
            if self._workday(current, unknown):
                return DayResult(current, frozenset(unknown))
            current -= _ONE_DAY
        raise ValueError(f"no working day before {day}")  # pragma: no cover

    def on_or_after(self, day: date) -> DayResult:
        """``day`` when it is a working day, else the next working day (a deadline that falls on
        a day off moves to the next working day)."""
        unknown: set[int] = set()
        current = day
        for _ in range(_MAX_WALK_DAYS):
            if self._workday(current, unknown):
                return DayResult(current, frozenset(unknown))
            current += _ONE_DAY
        raise ValueError(f"no working day after {day}")  # pragma: no cover

    def holidays_in(self, year: int) -> Iterable[date]:
        """The listed holidays of a known year, sorted (empty when unknown)."""
        data = self._years.get(year)
        return sorted(data.holidays) if data else []

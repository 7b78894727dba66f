"""The working-day calendar: real holiday periods with swapped workdays, unknown years, data files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from hotline.tickets.errors import CalendarDataError, UnknownYear
from hotline.tickets.workdays import WorkingCalendar, load_year_files, parse_year_file


def test_the_package_years_are_known(calendar: WorkingCalendar) -> None:
    assert {2004, 2025, 2026} <= calendar.known_years
    assert not calendar.knows(2027)
    assert calendar.source(2025) is not None and "chinese_calendar" in calendar.source(2025)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 27), False),  # Saturday
        (date(2025, 9, 28), True),  # Sunday, swapped workday before National Day
        (date(2025, 10, 1), False),  # National Day
        (date(2025, 10, 8), False),  # last day of the break (a Wednesday)
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),  # Saturday, swapped workday
        (date(2026, 2, 14), True),  # Saturday, swapped workday before Spring Festival
        (date(2026, 2, 16), False),  # Monday inside the Spring Festival break
        (date(2026, 2, 23), False),
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday, swapped workday after Spring Festival
        (date(2026, 3, 1), False),  # Sunday
    ],
)
def test_holidays_and_swapped_workdays(calendar: WorkingCalendar, day: date, working: bool) -> None:
    assert calendar.is_workday(day) is working


def test_national_day_2025(calendar: WorkingCalendar) -> None:
    # Friday 26 September: day 1 is the swapped Sunday, the break does not count.
    result = calendar.add_working_days(date(2025, 9, 26), 5)
    assert result.day == date(2025, 10, 10) and not result.provisional
    assert calendar.add_working_days(date(2025, 9, 30), 3).day == date(2025, 10, 11)  # swapped Saturday
    assert calendar.working_days_between(date(2025, 9, 26), date(2025, 10, 10)).days == 5


def test_spring_festival_2026(calendar: WorkingCalendar) -> None:
    assert calendar.add_working_days(date(2026, 2, 13), 1).day == date(2026, 2, 14)
    assert calendar.add_working_days(date(2026, 2, 13), 2).day == date(2026, 2, 24)
    assert calendar.add_working_days(date(2026, 2, 13), 15).day == date(2026, 3, 12)


def test_the_start_day_never_counts(calendar: WorkingCalendar) -> None:
    # Accepted on a Sunday inside nothing special, or on a working Monday: day 1 is the next working day.
    assert calendar.add_working_days(date(2025, 11, 9), 1).day == date(2025, 11, 10)
    assert calendar.add_working_days(date(2025, 11, 10), 1).day == date(2025, 11, 11)
    assert calendar.add_working_days(date(2025, 11, 10), 0).day == date(2025, 11, 10)


def test_an_unknown_year_is_provisional_never_silent(calendar: WorkingCalendar) -> None:
    with pytest.raises(UnknownYear) as info:
        calendar.is_workday(date(2027, 1, 4))
    assert info.value.year == 2027
    result = calendar.add_working_days(date(2026, 12, 21), 15)
    assert result.provisional and result.unknown_years == {2027}
    # weekends only in 2027: 1 January (a Friday) counts as a working day
    assert result.day == date(2027, 1, 11)
    inside = calendar.add_working_days(date(2026, 12, 1), 5)
    assert not inside.provisional


def _year_file(tmp_path: Path, year: int, text: str) -> Path:
    directory = tmp_path / "calendar"
    directory.mkdir(exist_ok=True)
    (directory / f"{year}.toml").write_text(text, encoding="utf-8")
    return directory


def test_a_later_year_is_added_as_data(tmp_path: Path) -> None:
    directory = _year_file(
        tmp_path,
        2027,
        'year = 2027\nsource = "test"\nholidays = ["2027-01-01", "2027-02-08"]\nworkdays = ["2027-02-06"]\n',
    )
    calendar = WorkingCalendar.load(directory)
    assert calendar.knows(2027) and calendar.source(2027) == "test"
    assert calendar.is_workday(date(2027, 1, 1)) is False
    assert calendar.is_workday(date(2027, 2, 6)) is True  # a Saturday made a workday
    result = calendar.add_working_days(date(2026, 12, 21), 15)
    assert not result.provisional and result.day == date(2027, 1, 12)


def test_a_file_corrects_a_package_year(tmp_path: Path) -> None:
    directory = _year_file(tmp_path, 2026, 'year = 2026\nholidays = ["2026-03-02"]\n')
    calendar = WorkingCalendar.load(directory)
    assert calendar.is_workday(date(2026, 3, 2)) is False
    assert calendar.is_workday(date(2026, 2, 16)) is True  # the file replaced the whole year


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("2027.toml", "year = 2027\nholidays = ['2028-01-01']\n", "not in 2027"),
        ("2027.toml", "year = 2028\nholidays = ['2028-01-01']\n", "file name says 2027"),
        ("2027.toml", "year = 2027\nholidays = ['2027-01-01']\nworkdays = ['2027-01-04']\n", "a weekday"),
        ("2027.toml", "year = 2027\nholidays = ['2027-01-02']\nworkdays = ['2027-01-02']\n", "both"),
        ("2027.toml", "year = 2027\nholidays = []\n", "empty"),
        ("2027.toml", "year = 2027\nholidays = ['27/01/01']\n", "not a date"),
        ("2027.toml", "year = 2027\nholidays = ['2027-01-01']\nextra = 1\n", "unknown keys"),
        ("2027.toml", "year = \n", "not valid TOML"),
    ],
)
def test_bad_calendar_files_are_refused_with_the_reason(name: str, text: str, problem: str) -> None:
    with pytest.raises(CalendarDataError) as info:
        parse_year_file(text, name)
    assert problem in str(info.value) and info.value.source == name


def test_the_shipped_calendar_directory_loads(calendar: WorkingCalendar) -> None:
    root = Path(__file__).resolve().parents[3] / "config" / "calendar"
    assert root.is_dir()
    assert all(year in calendar.known_years for year in load_year_files(root))

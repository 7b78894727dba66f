"""Deadline arithmetic: which clocks a ticket runs and when each ends.  Pure; time is passed in.

The table (DESIGN section 6, the Liaoning 12345 specification):

=====================================  =====================================================
consultation, service                  feedback within 5 working days
help, complaint, report, suggestion    staged feedback within 5, closed within 15 working days
business-environment complaint         first opinion within 15 working days, closed within
                                       6 calendar months
not the department's remit             return request within 2 working days of dispatch
complex cases                          extension before the deadline; at most 2 per ticket,
                                       at most 40 working days in total
=====================================  =====================================================

Counting: the start day never counts; a deadline of N working days ends at 24:00 of the Nth working
day after the start day.  A deadline of months ends on the same day-of-month N months later (the
month's last day when shorter) and, when that is not a working day, on the next working day.
Extension days are working days added after the current due day.
"""

from __future__ import annotations

import calendar as _stdcalendar
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo

from hotline.tickets.model import Deadline, DeadlineKind, TicketType
from hotline.tickets.workdays import WorkingCalendar

_CACHE_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    """One clock: ``working_days`` or ``months`` from the start day."""

    kind: DeadlineKind
    working_days: int | None = None
    months: int | None = None


_FIVE_AND_FIFTEEN = (
    DeadlineRule(DeadlineKind.STAGED_FEEDBACK, working_days=5),
    DeadlineRule(DeadlineKind.CLOSING, working_days=15),
)

#: Which clocks each ticket type runs.
RULES: Mapping[TicketType, tuple[DeadlineRule, ...]] = {
    TicketType.CONSULTATION: (DeadlineRule(DeadlineKind.FEEDBACK, working_days=5),),
    TicketType.SERVICE: (DeadlineRule(DeadlineKind.FEEDBACK, working_days=5),),
    TicketType.HELP: _FIVE_AND_FIFTEEN,
    TicketType.COMPLAINT: _FIVE_AND_FIFTEEN,
    TicketType.REPORT: _FIVE_AND_FIFTEEN,
    TicketType.SUGGESTION: _FIVE_AND_FIFTEEN,
    TicketType.BUSINESS_ENVIRONMENT: (
        DeadlineRule(DeadlineKind.FIRST_OPINION, working_days=15),
        DeadlineRule(DeadlineKind.CLOSING, months=6),
    ),
}

#: Which clocks an action meets.
MET_BY_STAGED_FEEDBACK = frozenset({DeadlineKind.STAGED_FEEDBACK, DeadlineKind.FIRST_OPINION})
MET_BY_FEEDBACK = frozenset(DeadlineKind)


@dataclass(frozen=True, slots=True)
class WorkflowRules:
    """The limits of returns and extensions (defaults from the specification)."""

    return_window_days: int = 2
    max_extensions: int = 2
    max_extension_days: int = 40


def add_months(day: date, months: int) -> date:
    """Same day-of-month ``months`` later, clamped to the month's last day."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    last = _stdcalendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


@dataclass(frozen=True, slots=True)
class DueDate:
    """A computed end day, its warning day and the unknown years that made it provisional."""

    due_on: date
    warn_on: date
    unknown_years: frozenset[int]


@dataclass(frozen=True, slots=True)
class _PlannedClock:
    """A new clock without its ticket: the same for every ticket of a type accepted on a day."""

    kind: DeadlineKind
    working_days: int | None
    months: int | None
    due_on: date
    due_at: float
    warn_at: float
    provisional: bool
    unknown_years: tuple[int, ...]


class DeadlineCalculator:
    """Turns rules into dated clocks with a :class:`WorkingCalendar` and the local time zone."""

    def __init__(self, calendar: WorkingCalendar, tz: tzinfo) -> None:
        self.calendar = calendar
        self.tz = tz
        # Many tickets share a day: remember day boundaries and due days (bounded, cleared when full).
        self._starts: dict[date, float] = {}
        self._dues: dict[tuple[date, int | None, int | None, int], DueDate] = {}
        # What a new ticket's clocks share with every ticket of its type accepted that day.
        self._plans: dict[tuple[TicketType, date, int], tuple[_PlannedClock, ...]] = {}

    def local_date(self, at: float) -> date:
        """The local calendar day of an instant."""
        return datetime.fromtimestamp(at, self.tz).date()

    def start_of(self, day: date) -> float:
        """The instant the local day begins (00:00)."""
        start = self._starts.get(day)
        if start is None:
            if len(self._starts) > _CACHE_LIMIT:
                self._starts.clear()
            start = self._starts[day] = datetime.combine(day, time(0), tzinfo=self.tz).timestamp()
        return start

    def end_of(self, day: date) -> float:
        """The instant the local day ends (24:00, i.e. the next day's 00:00)."""
        return self.start_of(day + timedelta(days=1))

    def due(
        self, start_on: date, working_days: int | None, months: int | None, extension_days: int
    ) -> DueDate:
        """The last day of a clock started on ``start_on`` (which does not count)."""
        key = (start_on, working_days, months, extension_days)
        cached = self._dues.get(key)
        if cached is None:
            if len(self._dues) > _CACHE_LIMIT:
                self._dues.clear()
            cached = self._dues[key] = self._due(start_on, working_days, months, extension_days)
        return cached

    def _due(
        self, start_on: date, working_days: int | None, months: int | None, extension_days: int
    ) -> DueDate:
        unknown: set[int] = set()
        if months is not None:
            base = self.calendar.on_or_after(add_months(start_on, months))
            unknown |= base.unknown_years
            day = base.day
            if extension_days:
                ext = self.calendar.add_working_days(day, extension_days)
                unknown |= ext.unknown_years
                day = ext.day
        else:
            days = (working_days or 0) + extension_days
            result = self.calendar.add_working_days(start_on, days)
            unknown |= result.unknown_years
            day = result.day
        warn = self.calendar.previous_working_day(day)
        unknown |= warn.unknown_years
        warn_on = max(warn.day, start_on)
        return DueDate(day, warn_on, frozenset(unknown))

    def plan(self, ticket_type: TicketType, ticket_id: int, start_on: date, round_: int) -> list[Deadline]:
        """The clocks of a new ticket (or of a reopened one's new round), version 1."""
        key = (ticket_type, start_on, round_)
        planned = self._plans.get(key)
        if planned is None:
            if len(self._plans) > _CACHE_LIMIT:
                self._plans.clear()
            planned = self._plans[key] = tuple(self._planned(rule, start_on) for rule in RULES[ticket_type])
        return [
            Deadline(
                ticket_id=ticket_id,
                round=round_,
                kind=p.kind,
                start_on=start_on,
                working_days=p.working_days,
                months=p.months,
                extension_days=0,
                due_on=p.due_on,
                due_at=p.due_at,
                warn_at=p.warn_at,
                provisional=p.provisional,
                unknown_years=p.unknown_years,
                version=1,
            )
            for p in planned
        ]

    def _planned(self, rule: DeadlineRule, start_on: date) -> _PlannedClock:
        due = self.due(start_on, rule.working_days, rule.months, 0)
        return _PlannedClock(
            kind=rule.kind,
            working_days=rule.working_days,
            months=rule.months,
            due_on=due.due_on,
            due_at=self.end_of(due.due_on),
            warn_at=self.start_of(due.warn_on),
            provisional=bool(due.unknown_years),
            unknown_years=tuple(sorted(due.unknown_years)),
        )

    def recompute(self, clock: Deadline, extension_days: int | None = None) -> Deadline:
        """The same clock with its due day computed again (new calendar data, or an extension).

        The returned row has ``version + 1``; marks already made (warned, breached, met) stay.
        """
        ext = clock.extension_days if extension_days is None else extension_days
        due = self.due(clock.start_on, clock.working_days, clock.months, ext)
        return replace(
            clock,
            extension_days=ext,
            due_on=due.due_on,
            due_at=self.end_of(due.due_on),
            warn_at=self.start_of(due.warn_on),
            provisional=bool(due.unknown_years),
            unknown_years=tuple(sorted(due.unknown_years)),
            version=clock.version + 1,
        )

    def return_window_end(self, dispatched_at: float, rules: WorkflowRules) -> tuple[float, frozenset[int]]:
        """The instant the return window closes: 24:00 of the 2nd working day after dispatch."""
        result = self.calendar.add_working_days(self.local_date(dispatched_at), rules.return_window_days)
        return self.end_of(result.day), result.unknown_years

"""Deadlines per ticket type across National Day 2025 and Spring Festival 2026, the 6-month
closing deadline, extension limits and the 2-working-day return window."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from hotline.tickets.deadlines import DeadlineCalculator, WorkflowRules, add_months
from hotline.tickets.errors import ExtensionRefused, ReturnWindowClosed
from hotline.tickets.model import Action, Deadline, DeadlineKind, Ticket, TicketState, TicketType
from hotline.tickets.workflow import Applied, Command, apply
from tests.unit.tickets.conftest import MakeTicket, at

K = DeadlineKind
T = TicketType

# (ticket type, accepted, {clock: due day})
CASES = [
    # National Day 2025: break 1-8 October; Sunday 28 September and Saturday 11 October are workdays.
    (T.CONSULTATION, date(2025, 9, 26), {K.FEEDBACK: date(2025, 10, 10)}),
    (T.SERVICE, date(2025, 9, 30), {K.FEEDBACK: date(2025, 10, 14)}),
    (T.HELP, date(2025, 9, 26), {K.STAGED_FEEDBACK: date(2025, 10, 10), K.CLOSING: date(2025, 10, 23)}),
    (T.COMPLAINT, date(2025, 9, 27), {K.STAGED_FEEDBACK: date(2025, 10, 10), K.CLOSING: date(2025, 10, 23)}),
    (T.REPORT, date(2025, 9, 28), {K.STAGED_FEEDBACK: date(2025, 10, 11), K.CLOSING: date(2025, 10, 24)}),
    (T.SUGGESTION, date(2025, 10, 3), {K.STAGED_FEEDBACK: date(2025, 10, 14), K.CLOSING: date(2025, 10, 28)}),
    (
        T.BUSINESS_ENVIRONMENT,
        date(2025, 9, 26),
        {K.FIRST_OPINION: date(2025, 10, 23), K.CLOSING: date(2026, 3, 26)},
    ),
    # Spring Festival 2026: break 15-23 February; Saturdays 14 and 28 February are workdays.
    (T.CONSULTATION, date(2026, 2, 12), {K.FEEDBACK: date(2026, 2, 26)}),
    (T.SERVICE, date(2026, 2, 13), {K.FEEDBACK: date(2026, 2, 27)}),
    (T.COMPLAINT, date(2026, 2, 13), {K.STAGED_FEEDBACK: date(2026, 2, 27), K.CLOSING: date(2026, 3, 12)}),
    (T.HELP, date(2026, 2, 18), {K.STAGED_FEEDBACK: date(2026, 2, 28), K.CLOSING: date(2026, 3, 13)}),
    (
        T.BUSINESS_ENVIRONMENT,
        date(2026, 2, 13),
        {K.FIRST_OPINION: date(2026, 3, 12), K.CLOSING: date(2026, 8, 13)},
    ),
    # Six months ending inside the Spring Festival break: the next working day.
    (
        T.BUSINESS_ENVIRONMENT,
        date(2025, 8, 17),
        {K.FIRST_OPINION: date(2025, 9, 5), K.CLOSING: date(2026, 2, 24)},
    ),
    # Six months from 31 August: 28 February 2026 (clamped), a swapped workday, so it stands.
    (
        T.BUSINESS_ENVIRONMENT,
        date(2025, 8, 31),
        {K.FIRST_OPINION: date(2025, 9, 19), K.CLOSING: date(2026, 2, 28)},
    ),
]


@pytest.mark.parametrize(("ticket_type", "accepted", "expected"), CASES)
def test_deadlines_per_ticket_type(
    calc: DeadlineCalculator, ticket_type: TicketType, accepted: date, expected: dict[DeadlineKind, date]
) -> None:
    clocks = calc.plan(ticket_type, 1, accepted, 1)
    assert {c.kind: c.due_on for c in clocks} == expected
    for clock in clocks:
        assert not clock.provisional
        assert calc.calendar.is_workday(clock.due_on)
        assert clock.due_at == calc.end_of(clock.due_on)  # ends at 24:00 of the due day
        assert clock.warn_at == calc.start_of(calc.calendar.previous_working_day(clock.due_on).day)


def test_warning_day_is_the_working_day_before(calc: DeadlineCalculator) -> None:
    (clock,) = calc.plan(T.CONSULTATION, 1, date(2025, 9, 26), 1)  # due Friday 10 October
    assert clock.warn_at == calc.start_of(date(2025, 10, 9))
    (clock,) = calc.plan(T.CONSULTATION, 1, date(2026, 2, 12), 1)  # due 26 February
    assert clock.warn_at == calc.start_of(date(2026, 2, 25))
    (clock,) = calc.plan(T.CONSULTATION, 1, date(2026, 2, 10), 1)  # due 24 February, after the break
    assert clock.due_on == date(2026, 2, 24)
    assert clock.warn_at == calc.start_of(date(2026, 2, 14))  # the swapped Saturday before it


def test_plans_of_one_day_share_their_dates_but_not_their_ticket(calc: DeadlineCalculator) -> None:
    first = calc.plan(T.COMPLAINT, 1, date(2025, 9, 26), 1)
    again = calc.plan(T.COMPLAINT, 2, date(2025, 9, 26), 1)  # from the calculator's cache
    reopened = calc.plan(T.COMPLAINT, 1, date(2025, 9, 26), 2)
    assert [c.ticket_id for c in again] == [2, 2]
    assert [replace(c, ticket_id=1) for c in again] == first
    assert [c.round for c in reopened] == [2, 2]
    assert [replace(c, round=1) for c in reopened] == first
    fresh = DeadlineCalculator(calc.calendar, calc.tz).plan(T.COMPLAINT, 2, date(2025, 9, 26), 1)
    assert again == fresh


def test_add_months_clamps() -> None:
    assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
    assert add_months(date(2024, 8, 31), 6) == date(2025, 2, 28)
    assert add_months(date(2023, 8, 31), 6) == date(2024, 2, 29)
    assert add_months(date(2026, 7, 15), 6) == date(2027, 1, 15)


def test_a_deadline_into_an_unknown_year_is_provisional(calc: DeadlineCalculator) -> None:
    clocks = calc.plan(T.COMPLAINT, 1, date(2026, 12, 21), 1)
    by_kind = {c.kind: c for c in clocks}
    assert not by_kind[K.STAGED_FEEDBACK].provisional  # 28 December 2026: still a known year
    closing = by_kind[K.CLOSING]
    assert closing.provisional and closing.unknown_years == (2027,)
    assert closing.due_on == date(2027, 1, 11)


# ---- extensions -------------------------------------------------------------------------------


def _extend(
    ticket_and_clocks: tuple[Ticket, list[Deadline]],
    days: int,
    when: float,
    calc: DeadlineCalculator,
    rules: WorkflowRules,
) -> Applied:
    ticket, clocks = ticket_and_clocks
    return apply(ticket, clocks, Command(action=Action.EXTEND, actor="dept", at=when, days=days), calc, rules)


def test_two_extensions_up_to_forty_working_days(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(T.COMPLAINT, at(2025, 9, 26, 10), state=TicketState.IN_PROGRESS)
    first = _extend((ticket, clocks), 10, at(2025, 10, 20, 9), calc, rules)
    (closing,) = first.deadlines
    assert closing.kind is K.CLOSING and closing.due_on == date(2025, 11, 6) and closing.extension_days == 10
    assert first.ticket.extension_count == 1 and first.ticket.extension_days == 10
    assert first.transition.detail_dict() == {
        "deadline": "closing",
        "days": "10",
        "due_on": "2025-11-06",
        "previous_due_on": "2025-10-23",
    }
    clocks2 = [c for c in clocks if c.kind is not K.CLOSING] + [closing]
    second = _extend((first.ticket, clocks2), 30, at(2025, 11, 5, 9), calc, rules)
    assert second.ticket.extension_count == 2 and second.ticket.extension_days == 40
    assert second.deadlines[0].due_on == calc.calendar.add_working_days(date(2025, 9, 26), 55).day


def test_a_third_extension_is_refused(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(T.COMPLAINT, at(2025, 9, 26, 10), state=TicketState.IN_PROGRESS)
    ticket = replace(ticket, extension_count=2, extension_days=4)
    with pytest.raises(ExtensionRefused) as info:
        _extend((ticket, clocks), 1, at(2025, 10, 20, 9), calc, rules)
    assert info.value.from_state == "in_progress" and info.value.to_state == "in_progress"
    assert "already extended 2 times" in info.value.why


def test_an_extension_past_forty_days_in_total_is_refused(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(T.COMPLAINT, at(2025, 9, 26, 10), state=TicketState.IN_PROGRESS)
    first = _extend((ticket, clocks), 30, at(2025, 10, 20, 9), calc, rules)
    clocks2 = [*[c for c in clocks if c.kind is not K.CLOSING], *first.deadlines]
    with pytest.raises(ExtensionRefused) as info:
        _extend((first.ticket, clocks2), 11, at(2025, 10, 21, 9), calc, rules)
    assert "30 + 11 = 41" in info.value.why
    with pytest.raises(ExtensionRefused):
        _extend((ticket, clocks), 41, at(2025, 10, 20, 9), calc, rules)
    ok = _extend((first.ticket, clocks2), 10, at(2025, 10, 21, 9), calc, rules)
    assert ok.ticket.extension_days == 40


def test_an_extension_after_the_deadline_is_refused(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(T.COMPLAINT, at(2025, 9, 26, 10), state=TicketState.IN_PROGRESS)
    # closing due 23 October 2025 24:00
    _extend((ticket, clocks), 5, at(2025, 10, 23, 23, 59), calc, rules)
    with pytest.raises(ExtensionRefused) as info:
        _extend((ticket, clocks), 5, at(2025, 10, 24, 0, 0), calc, rules)
    assert "before the deadline" in info.value.why
    with pytest.raises(ExtensionRefused, match="working days >= 1"):
        _extend((ticket, clocks), 0, at(2025, 10, 1), calc, rules)


def test_a_consultation_extends_its_feedback_deadline(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(T.CONSULTATION, at(2026, 2, 12, 10), state=TicketState.DISPATCHED)
    applied = _extend((ticket, clocks), 2, at(2026, 2, 24, 10), calc, rules)
    assert applied.deadlines[0].kind is K.FEEDBACK
    assert applied.deadlines[0].due_on == date(2026, 2, 28)  # 26 Feb + 27 Feb, Saturday 28 (workday)


# ---- the return window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dispatched", "last_ok", "first_refused"),
    [
        # Tuesday 30 September 2025: 9 and 10 October are the two working days after it.
        (at(2025, 9, 30, 10), at(2025, 10, 10, 23, 59), at(2025, 10, 11, 0, 0)),
        # Friday 13 February 2026: Saturday 14 (workday) and Tuesday 24 February.
        (at(2026, 2, 13, 16), at(2026, 2, 24, 23, 59), at(2026, 2, 25, 0, 0)),
    ],
)
def test_the_two_working_day_return_window(
    make_ticket: MakeTicket,
    calc: DeadlineCalculator,
    rules: WorkflowRules,
    dispatched: float,
    last_ok: float,
    first_refused: float,
) -> None:
    ticket, clocks = make_ticket(
        T.COMPLAINT, dispatched - 3600, state=TicketState.DISPATCHED, dispatched_at=dispatched
    )
    command = Command(action=Action.RETURN, actor="dept", at=last_ok, reason="不属于本单位职责")
    returned = apply(ticket, clocks, command, calc, rules)
    assert returned.ticket.state is TicketState.RETURNED
    with pytest.raises(ReturnWindowClosed) as info:
        apply(ticket, clocks, Command(action=Action.RETURN, actor="dept", at=first_refused), calc, rules)
    assert info.value.from_state == "dispatched" and info.value.to_state == "returned"
    assert "return window closed" in info.value.why

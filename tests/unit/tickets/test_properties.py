"""Property tests of the working-day arithmetic and of the workflow."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.tickets.deadlines import DeadlineCalculator, WorkflowRules
from hotline.tickets.errors import IllegalTransition, InvalidTicket
from hotline.tickets.model import Action, DeadlineKind, Satisfaction, TicketState, TicketType
from hotline.tickets.workdays import WorkingCalendar
from hotline.tickets.workflow import TRANSITIONS, Command, apply
from tests.unit.tickets.conftest import MakeTicket, at

KNOWN_DAYS = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 9, 30))
ANY_DAYS = st.dates(min_value=date(2004, 1, 1), max_value=date(2031, 12, 31))


@given(start=KNOWN_DAYS, n=st.integers(min_value=1, max_value=60))
def test_adding_then_counting_back_gives_n(calendar: WorkingCalendar, start: date, n: int) -> None:
    result = calendar.add_working_days(start, n)
    assert not result.provisional
    assert calendar.working_days_between(start, result.day).days == n
    assert calendar.is_workday(result.day)
    # and it is the first day that reaches n
    assert calendar.working_days_between(start, result.day - timedelta(days=1)).days == n - 1


@given(start=ANY_DAYS, n=st.integers(min_value=1, max_value=60))
def test_counting_back_also_holds_across_unknown_years(
    calendar: WorkingCalendar, start: date, n: int
) -> None:
    result = calendar.add_working_days(start, n)
    back = calendar.working_days_between(start, result.day)
    assert back.days == n
    assert back.unknown_years == result.unknown_years
    assert result.provisional == any(not calendar.knows(y) for y in range(start.year, result.day.year + 1))
    is_working, guessed = calendar.is_workday_or_guess(result.day)
    assert is_working and guessed == (not calendar.knows(result.day.year))


@given(start=ANY_DAYS, n=st.integers(min_value=1, max_value=40))
def test_more_days_is_later(calendar: WorkingCalendar, start: date, n: int) -> None:
    assert calendar.add_working_days(start, n + 1).day > calendar.add_working_days(start, n).day


@given(
    start=st.dates(min_value=date(2004, 1, 1), max_value=date(2030, 12, 31)),
    ticket_type=st.sampled_from(TicketType),
)
def test_a_deadline_never_falls_on_a_non_working_day(
    calc: DeadlineCalculator, start: date, ticket_type: TicketType
) -> None:
    for clock in calc.plan(ticket_type, 1, start, 1):
        working, guessed = calc.calendar.is_workday_or_guess(clock.due_on)
        assert working
        assert guessed == (clock.due_on.year not in calc.calendar.known_years)
        if not clock.provisional:
            assert calc.calendar.is_workday(clock.due_on)
        assert clock.warn_at < clock.due_at
        assert clock.due_on > start


@given(
    start=KNOWN_DAYS,
    extension=st.integers(min_value=0, max_value=40),
    ticket_type=st.sampled_from(TicketType),
)
def test_extended_deadlines_are_working_days_too(
    calc: DeadlineCalculator, start: date, extension: int, ticket_type: TicketType
) -> None:
    for clock in calc.plan(ticket_type, 1, start, 1):
        extended = calc.recompute(clock, extension)
        if not extended.provisional:
            assert calc.calendar.is_workday(extended.due_on)
        assert extended.due_on >= clock.due_on


ACTIONS = st.sampled_from([a for a in Action if a is not Action.ACCEPT])


@settings(max_examples=200)
@given(steps=st.lists(st.tuples(ACTIONS, st.integers(min_value=0, max_value=30 * 24)), max_size=25))
def test_random_action_sequences_keep_the_invariants(
    make_ticket: MakeTicket, calc: DeadlineCalculator, steps: list[tuple[Action, int]]
) -> None:
    """Whatever is asked in whatever order: a refusal is a typed error, the state follows the table,
    the audit sequence grows by one, and the clocks keep their key."""
    rules = WorkflowRules()
    ticket, clocks = make_ticket(TicketType.COMPLAINT, at(2025, 9, 26, 10))
    now = ticket.created_at
    by_key = {(c.round, c.kind): c for c in clocks}
    for action, hours in steps:
        now += hours * 3600
        command = Command(
            action=action,
            actor="prop",
            at=now,
            days=3 if action is Action.EXTEND else None,
            satisfaction=Satisfaction.NOT_SATISFIED if action is Action.EVALUATE else None,
            deadline=DeadlineKind.CLOSING if action is Action.SUPERVISE else None,
        )
        try:
            applied = apply(ticket, list(by_key.values()), command, calc, rules)
        except (IllegalTransition, InvalidTicket) as exc:
            if isinstance(exc, IllegalTransition):
                assert exc.from_state == ticket.state.value and exc.why
            continue
        assert applied.ticket.state is TRANSITIONS[action][ticket.state]
        assert applied.ticket.version == ticket.version + 1 == applied.transition.seq
        assert applied.transition.from_state is ticket.state
        assert applied.ticket.extension_count <= rules.max_extensions
        assert applied.ticket.extension_days <= rules.max_extension_days
        for clock in applied.deadlines:
            previous = by_key.get((clock.round, clock.kind))
            assert clock.version == (previous.version + 1 if previous else 1)
            by_key[(clock.round, clock.kind)] = clock
        if applied.ticket.state is TicketState.CLOSED:
            assert applied.ticket.closed_at == now
        ticket = applied.ticket

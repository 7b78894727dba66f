"""The ticket workflow: a transition table and one pure function that applies an action.

Everything that affects a ticket's state lives here.  :func:`apply` takes the ticket, its clocks
of the current round and a :class:`Command` (time passed in), checks the table and the guards
(return window, extension limits) and returns the new ticket, its audit row and the changed
clocks; it raises :class:`~hotline.tickets.errors.IllegalTransition` (or a subclass) with the
from-state, the to-state and why.  No I/O, no awaits.

::

    accepted --dispatch--> dispatched --start--> in_progress --feedback--> feedback
        |                    |   ^                  |                          |
        | resolve            |   | dispatch         | return (<= 2 wd)         | start_callback
        v                    v   |                  v                          v
      closed             returned <-----------------+                       callback
                                                                               | evaluate
        closed <--close-- evaluated --reopen--> reopened --dispatch--> dispatched ...

``extend``, ``staged_feedback`` and ``supervise`` keep the state (they are audited all the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hotline.tickets.deadlines import (
    MET_BY_FEEDBACK,
    MET_BY_STAGED_FEEDBACK,
    DeadlineCalculator,
    WorkflowRules,
)
from hotline.tickets.errors import ExtensionRefused, IllegalTransition, InvalidTicket, ReturnWindowClosed
from hotline.tickets.model import (
    OPEN_STATES,
    Action,
    Deadline,
    DeadlineKind,
    Satisfaction,
    Ticket,
    TicketState,
    Transition,
)

S = TicketState

#: action -> {from state: to state}.  An action absent for a state is illegal there.
TRANSITIONS: Mapping[Action, Mapping[TicketState, TicketState]] = {
    Action.ACCEPT: {},  # creation only
    Action.RESOLVE: {S.ACCEPTED: S.CLOSED},
    Action.DISPATCH: {S.ACCEPTED: S.DISPATCHED, S.RETURNED: S.DISPATCHED, S.REOPENED: S.DISPATCHED},
    Action.START: {S.DISPATCHED: S.IN_PROGRESS},
    Action.RETURN: {S.DISPATCHED: S.RETURNED, S.IN_PROGRESS: S.RETURNED},
    Action.EXTEND: {S.DISPATCHED: S.DISPATCHED, S.IN_PROGRESS: S.IN_PROGRESS},
    Action.STAGED_FEEDBACK: {S.DISPATCHED: S.DISPATCHED, S.IN_PROGRESS: S.IN_PROGRESS},
    Action.FEEDBACK: {S.DISPATCHED: S.FEEDBACK, S.IN_PROGRESS: S.FEEDBACK},
    Action.START_CALLBACK: {S.FEEDBACK: S.CALLBACK},
    Action.EVALUATE: {S.CALLBACK: S.EVALUATED},
    Action.REOPEN: {S.EVALUATED: S.REOPENED},
    Action.CLOSE: {S.EVALUATED: S.CLOSED},
    Action.SUPERVISE: {state: state for state in OPEN_STATES},
}

#: Where each action usually leads, to name the target of an illegal request.
_NATURAL_TARGET: dict[Action, TicketState] = {}
for _action, _table in TRANSITIONS.items():
    for _target in _table.values():
        _NATURAL_TARGET.setdefault(_action, _target)
_NATURAL_TARGET[Action.ACCEPT] = S.ACCEPTED


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    """One requested action with its arguments and the instant it happens."""

    action: Action
    actor: str
    at: float
    reason: str = ""
    days: int | None = None  # extend: working days asked for
    deadline: DeadlineKind | None = None  # extend: which clock (default: closing, else the earliest open)
    department: str | None = None  # dispatch: a (new) department
    satisfaction: Satisfaction | None = None  # evaluate


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of :func:`apply`: new ticket, audit row, changed (or new) clocks."""

    ticket: Ticket
    transition: Transition
    deadlines: tuple[Deadline, ...]
    unknown_years: frozenset[int]


def allowed_actions(state: TicketState) -> list[Action]:
    """The actions the table allows from ``state`` (guards not checked)."""
    return [action for action, table in TRANSITIONS.items() if state in table]


def target_state(ticket: Ticket, action: Action) -> TicketState:
    """Where ``action`` leads from the ticket's state; raises :class:`IllegalTransition`."""
    to = TRANSITIONS[action].get(ticket.state)
    if to is None:
        allowed = ", ".join(a.value for a in allowed_actions(ticket.state)) or "none"
        raise IllegalTransition(
            ticket.number,
            action.value,
            ticket.state.value,
            _NATURAL_TARGET.get(action, ticket.state).value,
            f"not allowed from {ticket.state.value} ({ticket.state.label}); allowed: {allowed}",
        )
    return to


def _meet(clocks: Iterable[Deadline], kinds: frozenset[DeadlineKind], at: float) -> list[Deadline]:
    return [
        replace(c, met_at=at, version=c.version + 1) for c in clocks if c.kind in kinds and c.met_at is None
    ]


def _extension_target(ticket: Ticket, clocks: Sequence[Deadline], kind: DeadlineKind | None) -> Deadline:
    open_clocks = [c for c in clocks if c.met_at is None and c.round == ticket.round]
    if kind is not None:
        for clock in open_clocks:
            if clock.kind is kind:
                return clock
        why = f"no open {kind.value} deadline to extend"
    else:
        for clock in open_clocks:
            if clock.kind is DeadlineKind.CLOSING:
                return clock
        if open_clocks:
            return min(open_clocks, key=lambda c: c.due_at)
        why = "no open deadline to extend"
    raise ExtensionRefused(ticket.number, Action.EXTEND.value, ticket.state.value, ticket.state.value, why)


def _check_extension(ticket: Ticket, target: Deadline, command: Command, rules: WorkflowRules) -> int:
    days = command.days
    state = ticket.state.value

    def refuse(why: str) -> ExtensionRefused:
        return ExtensionRefused(ticket.number, Action.EXTEND.value, state, state, why)

    if days is None or days < 1:
        raise refuse(f"an extension needs a number of working days >= 1, got {days}")
    if command.at >= target.due_at:
        raise refuse(
            f"requested after the {target.kind.value} deadline ended ({target.due_on} 24:00); "
            "an extension must be asked before the deadline"
        )
    if ticket.extension_count >= rules.max_extensions:
        raise refuse(f"already extended {ticket.extension_count} times (at most {rules.max_extensions})")
    total = ticket.extension_days + days
    if total > rules.max_extension_days:
        raise refuse(
            f"{ticket.extension_days} + {days} = {total} working days of extension "
            f"(at most {rules.max_extension_days} in total)"
        )
    return days


def _provisional(clocks_by_key: Mapping[tuple[int, DeadlineKind], Deadline], round_: int) -> bool:
    return any(c.provisional and c.met_at is None and c.round == round_ for c in clocks_by_key.values())


def apply(
    ticket: Ticket,
    clocks: Sequence[Deadline],
    command: Command,
    calc: DeadlineCalculator,
    rules: WorkflowRules,
) -> Applied:
    """Apply one action; returns the new state of things or raises :class:`IllegalTransition`.

    ``clocks`` are the ticket's clocks (any round; only the current round's are touched).
    """
    action = command.action
    to_state = target_state(ticket, action)
    at = command.at
    changed: list[Deadline] = []
    unknown: frozenset[int] = frozenset()
    detail: list[tuple[str, str]] = []
    current = [c for c in clocks if c.round == ticket.round]
    # Every field that changes, applied with one ``replace`` at the end.
    fields: dict[str, Any] = {"state": to_state, "version": ticket.version + 1, "updated_at": at}

    if action is Action.DISPATCH:
        fields["dispatched_at"] = at
        fields["department"] = command.department or ticket.department
        detail.append(("department", fields["department"]))
    elif action is Action.RETURN:
        if ticket.dispatched_at is None:
            raise ReturnWindowClosed(
                ticket.number, action.value, ticket.state.value, to_state.value, "never dispatched"
            )
        window_end, unknown = calc.return_window_end(ticket.dispatched_at, rules)
        if at >= window_end:
            closed_on = calc.local_date(window_end - 1)
            raise ReturnWindowClosed(
                ticket.number,
                action.value,
                ticket.state.value,
                to_state.value,
                f"the return window closed at the end of {closed_on} "
                f"({rules.return_window_days} working days after dispatch)",
            )
        detail.append(("department", ticket.department))
    elif action is Action.EXTEND:
        target = _extension_target(ticket, current, command.deadline)
        days = _check_extension(ticket, target, command, rules)
        extended = calc.recompute(target, target.extension_days + days)
        extended = replace(extended, warned_at=None)  # a new end: warn again before it
        changed.append(extended)
        unknown = frozenset(extended.unknown_years)
        fields["extension_count"] = ticket.extension_count + 1
        fields["extension_days"] = ticket.extension_days + days
        detail += [
            ("deadline", target.kind.value),
            ("days", str(days)),
            ("due_on", extended.due_on.isoformat()),
            ("previous_due_on", target.due_on.isoformat()),
        ]
    elif action is Action.STAGED_FEEDBACK:
        changed += _meet(current, MET_BY_STAGED_FEEDBACK, at)
    elif action in (Action.FEEDBACK, Action.RESOLVE):
        changed += _meet(current, MET_BY_FEEDBACK, at)
        if action is Action.RESOLVE:
            fields["closed_at"] = at
    elif action is Action.EVALUATE:
        if command.satisfaction is None:
            raise InvalidTicket("satisfaction", "evaluate needs the citizen's satisfaction")
        fields["satisfaction"] = command.satisfaction
        detail.append(("satisfaction", command.satisfaction.value))
    elif action is Action.CLOSE:
        fields["closed_at"] = at
    elif action is Action.REOPEN:
        fresh = calc.plan(ticket.ticket_type, ticket.id, calc.local_date(at), ticket.round + 1)
        changed += fresh
        for clock in fresh:
            unknown |= frozenset(clock.unknown_years)
        fields["round"] = ticket.round + 1
        fields["closed_at"] = None
        detail.append(("round", str(ticket.round + 1)))
    elif action is Action.SUPERVISE:
        fields["supervision_count"] = ticket.supervision_count + 1
        if command.deadline is not None:
            detail.append(("deadline", command.deadline.value))

    if changed:  # otherwise the clocks did not move and the flag stays as it is
        by_key = {(c.round, c.kind): c for c in clocks}
        for clock in changed:
            by_key[(clock.round, clock.kind)] = clock
        fields["provisional"] = _provisional(by_key, fields.get("round", ticket.round))
    new = replace(ticket, **fields)
    transition = Transition(
        ticket_id=ticket.id,
        seq=new.version,
        at=at,
        actor=command.actor,
        action=action,
        from_state=ticket.state,
        to_state=to_state,
        reason=command.reason,
        detail=tuple(detail),
    )
    return Applied(new, transition, tuple(changed), unknown)


def apply_all(
    ticket: Ticket,
    clocks: Sequence[Deadline],
    commands: Sequence[Command],
    calc: DeadlineCalculator,
    rules: WorkflowRules,
) -> tuple[Ticket, list[Transition], list[Deadline], frozenset[int]]:
    """Apply several actions in a row (e.g. feedback then start_callback) as one change."""
    by_key = {(c.round, c.kind): c for c in clocks}
    transitions: list[Transition] = []
    touched: dict[tuple[int, DeadlineKind], Deadline] = {}
    unknown: frozenset[int] = frozenset()
    original = {key: clock.version for key, clock in by_key.items()}
    for command in commands:
        applied = apply(ticket, list(by_key.values()), command, calc, rules)
        ticket = applied.ticket
        transitions.append(applied.transition)
        unknown |= applied.unknown_years
        for clock in applied.deadlines:
            key = (clock.round, clock.kind)
            by_key[key] = clock
            touched[key] = clock
    # One write per clock: its version moves by one from what is stored (1 for a new clock).
    written = [replace(c, version=original.get(key, 0) + 1) for key, c in touched.items()]
    return ticket, transitions, written, unknown

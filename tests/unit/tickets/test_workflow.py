"""The workflow table, its refusals and the audit rows."""

from __future__ import annotations

from datetime import date

import pytest

from hotline.tickets.deadlines import DeadlineCalculator, WorkflowRules
from hotline.tickets.errors import IllegalTransition, InvalidTicket
from hotline.tickets.model import Action, DeadlineKind, Satisfaction, TicketState, TicketType
from hotline.tickets.workflow import TRANSITIONS, Command, allowed_actions, apply, apply_all
from tests.unit.tickets.conftest import MakeTicket, at

S = TicketState


def test_the_closed_loop(make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules) -> None:
    ticket, clocks = make_ticket(TicketType.COMPLAINT, at(2025, 9, 26, 10))
    steps = [
        (Action.DISPATCH, S.DISPATCHED, at(2025, 9, 26, 11)),
        (Action.START, S.IN_PROGRESS, at(2025, 9, 28, 9)),
        (Action.STAGED_FEEDBACK, S.IN_PROGRESS, at(2025, 9, 30, 9)),
        (Action.FEEDBACK, S.FEEDBACK, at(2025, 10, 15, 9)),
        (Action.START_CALLBACK, S.CALLBACK, at(2025, 10, 15, 9)),
        (Action.EVALUATE, S.EVALUATED, at(2025, 10, 15, 15)),
        (Action.CLOSE, S.CLOSED, at(2025, 10, 15, 15)),
    ]
    by_kind = {c.kind: c for c in clocks}
    for seq, (action, expected, when) in enumerate(steps, start=2):
        command = Command(
            action=action,
            actor="agent-1",
            at=when,
            reason=f"step {seq}",
            satisfaction=Satisfaction.SATISFIED if action is Action.EVALUATE else None,
        )
        applied = apply(ticket, list(by_kind.values()), command, calc, rules)
        assert applied.ticket.state is expected
        t = applied.transition
        assert (t.seq, t.actor, t.at, t.from_state, t.to_state, t.reason) == (
            seq,
            "agent-1",
            when,
            ticket.state,
            expected,
            f"step {seq}",
        )
        for clock in applied.deadlines:
            by_kind[clock.kind] = clock
        ticket = applied.ticket
    assert by_kind[DeadlineKind.STAGED_FEEDBACK].met_at == at(2025, 9, 30, 9)
    assert by_kind[DeadlineKind.CLOSING].met_at == at(2025, 10, 15, 9)
    assert by_kind[DeadlineKind.CLOSING].met_on_time() is True
    assert ticket.satisfaction is Satisfaction.SATISFIED and ticket.closed_at == at(2025, 10, 15, 15)
    assert ticket.dispatched_at == at(2025, 9, 26, 11)


def test_an_illegal_transition_says_from_to_and_why(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket()
    with pytest.raises(IllegalTransition) as info:
        apply(ticket, clocks, Command(action=Action.CLOSE, actor="a", at=at(2025, 9, 27)), calc, rules)
    error = info.value
    assert (error.ticket, error.action, error.from_state, error.to_state) == (
        ticket.number,
        "close",
        "accepted",
        "closed",
    )
    assert "not allowed from accepted" in error.why and "dispatch" in error.why
    assert "accepted -> closed" in str(error)


def test_every_state_has_a_way_out_except_closed() -> None:
    for state in TicketState:
        actions = allowed_actions(state)
        if state is S.CLOSED:
            assert actions == []
        else:
            assert Action.SUPERVISE in actions and len(actions) >= 2


def test_the_table_only_names_real_states() -> None:
    for table in TRANSITIONS.values():
        for source, target in table.items():
            assert isinstance(source, TicketState) and isinstance(target, TicketState)


def test_returned_then_redispatched_to_another_department(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(state=S.DISPATCHED, dispatched_at=at(2025, 9, 26, 11))
    returned = apply(
        ticket,
        clocks,
        Command(action=Action.RETURN, actor="dept", at=at(2025, 9, 29, 9), reason="非本单位职责"),
        calc,
        rules,
    ).ticket
    again = apply(
        returned,
        clocks,
        Command(
            action=Action.DISPATCH, actor="a", at=at(2025, 9, 29, 10), department="区城市管理综合行政执法局"
        ),
        calc,
        rules,
    )
    assert again.ticket.state is S.DISPATCHED and again.ticket.department == "区城市管理综合行政执法局"
    assert again.ticket.dispatched_at == at(2025, 9, 29, 10)
    assert again.transition.detail_dict() == {"department": "区城市管理综合行政执法局"}


def test_supervision_keeps_the_state_and_counts(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(state=S.IN_PROGRESS)
    applied = apply(
        ticket,
        clocks,
        Command(
            action=Action.SUPERVISE, actor="sla", at=at(2025, 10, 11), deadline=DeadlineKind.STAGED_FEEDBACK
        ),
        calc,
        rules,
    )
    assert applied.ticket.state is S.IN_PROGRESS and applied.ticket.supervision_count == 1
    assert applied.transition.from_state is applied.transition.to_state is S.IN_PROGRESS
    assert applied.deadlines == ()


def test_reopen_starts_a_new_round_of_clocks(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(TicketType.HELP, state=S.CALLBACK)
    new, transitions, changed, _ = apply_all(
        ticket,
        clocks,
        [
            Command(
                action=Action.EVALUATE,
                actor="a",
                at=at(2026, 2, 13, 10),
                satisfaction=Satisfaction.NOT_SATISFIED,
            ),
            Command(action=Action.REOPEN, actor="system", at=at(2026, 2, 13, 10)),
        ],
        calc,
        rules,
    )
    assert new.state is S.REOPENED and new.round == 2 and new.version == ticket.version + 2
    assert [t.seq for t in transitions] == [ticket.version + 1, ticket.version + 2]
    assert {(c.round, c.kind, c.due_on) for c in changed} == {
        (2, DeadlineKind.STAGED_FEEDBACK, date(2026, 2, 27)),
        (2, DeadlineKind.CLOSING, date(2026, 3, 12)),
    }
    assert all(c.version == 1 for c in changed)


def test_evaluate_needs_a_satisfaction(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(state=S.CALLBACK)
    with pytest.raises(InvalidTicket):
        apply(ticket, clocks, Command(action=Action.EVALUATE, actor="a", at=at(2025, 10, 1)), calc, rules)


def test_resolve_on_the_call_meets_every_clock(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(TicketType.CONSULTATION)
    applied = apply(
        ticket, clocks, Command(action=Action.RESOLVE, actor="a", at=at(2025, 9, 26, 10, 5)), calc, rules
    )
    assert applied.ticket.state is S.CLOSED
    assert all(c.met_at == at(2025, 9, 26, 10, 5) for c in applied.deadlines)


def test_apply_all_writes_each_clock_once(
    make_ticket: MakeTicket, calc: DeadlineCalculator, rules: WorkflowRules
) -> None:
    ticket, clocks = make_ticket(TicketType.COMPLAINT, state=S.IN_PROGRESS)
    _, _, changed, _ = apply_all(
        ticket,
        clocks,
        [
            Command(action=Action.EXTEND, actor="d", at=at(2025, 10, 1), days=5),
            Command(action=Action.EXTEND, actor="d", at=at(2025, 10, 2), days=5),
        ],
        calc,
        rules,
    )
    (closing,) = changed
    assert closing.version == 2 and closing.extension_days == 10

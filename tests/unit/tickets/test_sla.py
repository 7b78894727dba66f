"""What the SLA sweep finds due: one warning, one breach, never twice."""

from __future__ import annotations

from dataclasses import replace

from hotline.tickets.deadlines import DeadlineCalculator
from hotline.tickets.model import TicketType
from hotline.tickets.sla import AlertKind, due_now
from tests.unit.tickets.conftest import MakeTicket, at


def test_warning_then_breach_exactly_once(make_ticket: MakeTicket, calc: DeadlineCalculator) -> None:
    _, clocks = make_ticket(TicketType.CONSULTATION, at(2025, 9, 26, 10))
    (clock,) = clocks  # due 10 October 2025; warning from 9 October 00:00
    assert due_now([clock], at(2025, 10, 8, 23, 59)) == []
    (warning,) = due_now([clock], at(2025, 10, 9, 0, 0))
    assert warning.kind is AlertKind.WARNING and warning.clock.warned_at == at(2025, 10, 9)
    assert warning.clock.version == clock.version + 1
    warned = warning.clock
    assert due_now([warned], at(2025, 10, 10, 12)) == []  # not warned twice
    assert warned.next_check_at == warned.due_at
    (breach,) = due_now([warned], at(2025, 10, 11, 0, 0))
    assert breach.kind is AlertKind.BREACH and not breach.warning_suppressed
    assert due_now([breach.clock], at(2025, 10, 20)) == []  # not breached twice
    assert breach.clock.next_check_at is None


def test_a_missed_warning_is_not_sent_late(make_ticket: MakeTicket) -> None:
    _, (clock,) = make_ticket(TicketType.CONSULTATION, at(2025, 9, 26, 10))
    (alert,) = due_now([clock], at(2025, 10, 12))
    assert alert.kind is AlertKind.BREACH and alert.warning_suppressed
    assert alert.clock.warned_at is not None and alert.clock.next_check_at is None


def test_met_clocks_are_never_due(make_ticket: MakeTicket) -> None:
    _, (clock,) = make_ticket(TicketType.CONSULTATION, at(2025, 9, 26, 10))
    met = replace(clock, met_at=at(2025, 9, 29))
    assert due_now([met], at(2025, 12, 1)) == [] and met.next_check_at is None

"""The SLA watcher's sweep, part of :class:`hotline.tickets.service.TicketService`: due clocks
warned and breached, a breach opening supervision on its ticket, in bounded, chunked commits.

Log events: ``sla.warning``, ``sla.breached``, ``sla.sweep``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from hotline.tickets.deadlines import DeadlineCalculator, WorkflowRules
from hotline.tickets.model import Action, Deadline, Ticket, TicketChange, Transition
from hotline.tickets.repository import RepositoryConflict, TicketRepository
from hotline.tickets.sla import AlertKind, SlaAlert, due_now
from hotline.tickets.workflow import Command, apply

SLA_ACTOR = "sla"
_SWEEP_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one SLA sweep did."""

    warnings: int
    breaches: int
    supervisions: int
    conflicts: int  # tickets changed meanwhile: looked at again next sweep
    seconds: float
    more: bool = False  # the sweep hit its limit: more clocks are due


@dataclass(frozen=True, slots=True)
class _SweepPlan:
    number: str
    ticket: Ticket | None  # loaded when a clock breached
    alerts: list[SlaAlert]
    change: TicketChange
    audit: Transition | None  # the supervision row


class SlaSweeps:
    """The sweep of :class:`~hotline.tickets.service.TicketService` (mixed into it)."""

    # Provided by the service this is mixed into.
    store: TicketRepository
    calc: DeadlineCalculator
    rules: WorkflowRules
    clock: Callable[[], float]
    sweep_batch: int
    _log: structlog.stdlib.BoundLogger

    async def sla_sweep(self, at: float | None = None, *, limit: int | None = None) -> SweepResult:
        """Warn and breach the clocks that are due (at most ``limit``, default ``sweep_batch``,
        earliest first); breaches open supervision on their ticket.

        Marks are committed before they are logged, so a restart never repeats one.  When more
        clocks are due than the limit, ``SweepResult.more`` is true and the next sweep goes on:
        each sweep's work is bounded, so the event loop it shares with the dispatcher stays free.
        """
        started = time.perf_counter()
        now = self.clock() if at is None else at
        limit = limit or self.sweep_batch
        clocks = await self.store.due_deadlines(now, limit)
        warnings = breaches = supervisions = conflicts = 0
        if clocks:
            warnings, breaches, supervisions, conflicts = await self._sweep_clocks(clocks, now)
        result = SweepResult(
            warnings, breaches, supervisions, conflicts, time.perf_counter() - started, len(clocks) >= limit
        )
        if clocks:
            self._log.info(
                "sla.sweep",
                warnings=warnings,
                breaches=breaches,
                supervisions=supervisions,
                conflicts=conflicts,
                more=result.more,
                seconds=round(result.seconds, 3),
            )
        return result

    async def _sweep_clocks(self, clocks: Sequence[Deadline], now: float) -> tuple[int, int, int, int]:
        alerts = due_now(clocks, now)
        if not alerts:
            return 0, 0, 0, 0
        by_ticket: dict[int, list[SlaAlert]] = {}
        for alert in alerts:
            by_ticket.setdefault(alert.clock.ticket_id, []).append(alert)
        breached_ids = [
            tid for tid, items in by_ticket.items() if any(a.kind is AlertKind.BREACH for a in items)
        ]
        tickets = await self.store.get_tickets(breached_ids)  # full rows: supervision updates them
        numbers = await self.store.ticket_numbers(set(by_ticket) - tickets.keys())
        plans: list[_SweepPlan] = []
        for ticket_id, items in by_ticket.items():
            ticket = tickets.get(ticket_id)
            number = ticket.number if ticket is not None else numbers.get(ticket_id, str(ticket_id))
            breached = [a for a in items if a.kind is AlertKind.BREACH]
            change = TicketChange(ticket=None, deadlines=tuple(a.clock for a in items))
            audit = None
            if breached and ticket is not None and ticket.is_open:
                first = min(breached, key=lambda a: a.clock.due_at).clock
                command = Command(
                    action=Action.SUPERVISE,
                    actor=SLA_ACTOR,
                    at=now,
                    reason=f"{first.kind.value} deadline passed ({first.due_on} 24:00)",
                    deadline=first.kind,
                )
                applied = apply(ticket, (), command, self.calc, self.rules)
                audit = applied.transition
                change = TicketChange(
                    ticket=applied.ticket,
                    previous_version=ticket.version,
                    transitions=(audit,),
                    deadlines=change.deadlines,
                )
            plans.append(_SweepPlan(number, ticket, items, change, audit))
        # Chunks commit together; a chunk that meets a concurrent change is redone ticket by ticket.
        committed: list[_SweepPlan] = []
        conflicts = 0
        for i in range(0, len(plans), _SWEEP_CHUNK):
            chunk = plans[i : i + _SWEEP_CHUNK]
            try:
                await self.store.save_ticket_changes_together([p.change for p in chunk])
            except RepositoryConflict:
                results = await self.store.save_ticket_changes([p.change for p in chunk])
                for plan, error in zip(chunk, results, strict=True):
                    if error is None:
                        committed.append(plan)
                    else:
                        conflicts += 1  # still due: the next sweep looks at it again
            else:
                committed += chunk
        warnings = breaches = supervisions = 0
        for plan in committed:
            for alert in plan.alerts:
                clock = alert.clock
                if alert.kind is AlertKind.WARNING:
                    warnings += 1
                    self._log.warning(
                        "sla.warning",
                        ticket_id=plan.number,
                        deadline=clock.kind.value,
                        due_on=str(clock.due_on),
                    )
                else:
                    breaches += 1
                    self._log.warning(
                        "sla.breached",
                        ticket_id=plan.number,
                        deadline=clock.kind.value,
                        due_on=str(clock.due_on),
                        department=plan.ticket.department if plan.ticket else None,
                        supervision=plan.audit is not None,
                        seq=plan.audit.seq if plan.audit else None,
                    )
            if plan.audit is not None:
                supervisions += 1
        return warnings, breaches, supervisions, conflicts

"""What the bus shows, computed from the dispatcher's read-only views and the store's records
(pure: no I/O, so each can be tested alone)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol

from hotline.bus.contract import local_time
from hotline.events import Direction
from hotline.queue import (
    AgentState,
    AgentStateRecord,
    Callback,
    CallbackStatus,
    DispatcherStats,
    PriorityClass,
    QueueSnapshot,
    WaitingCall,
)
from hotline.store.records import CallOutcome as StoredOutcome
from hotline.store.records import CallRecord as StoredCall
from hotline.tickets.model import Ticket


class QueueView(Protocol):
    """What the bus reads of the dispatcher (read-only, from the dispatcher's own task)."""

    @property
    def stats(self) -> DispatcherStats: ...

    @property
    def pbx_connected(self) -> bool: ...

    def agent(self, agent_id: str) -> AgentStateRecord | None: ...

    def agents(self) -> list[AgentStateRecord]: ...

    def waiting_calls(self) -> list[WaitingCall]: ...

    def callbacks(self) -> list[Callback]: ...

    def snapshot(self, now: float) -> QueueSnapshot: ...


@dataclass(frozen=True, slots=True)
class DayCounts:
    """The day's answered and abandoned inbound calls, as the wallboard shows them."""

    answered: int = 0
    answered_within: int = 0  # within the service-level threshold
    answer_wait_s: float = 0.0  # summed
    abandoned: int = 0

    @classmethod
    def of(cls, stats: DispatcherStats) -> DayCounts:
        """The dispatcher's counters (since it started)."""
        return cls(
            stats.calls_answered,
            stats.answered_within_threshold,
            stats.total_answer_wait_s,
            stats.calls_abandoned,
        )

    def __add__(self, other: DayCounts) -> DayCounts:
        return DayCounts(
            self.answered + other.answered,
            self.answered_within + other.answered_within,
            self.answer_wait_s + other.answer_wait_s,
            self.abandoned + other.abandoned,
        )

    def __sub__(self, other: DayCounts) -> DayCounts:
        return DayCounts(
            self.answered - other.answered,
            self.answered_within - other.answered_within,
            self.answer_wait_s - other.answer_wait_s,
            self.abandoned - other.abandoned,
        )


class TodayFigures:
    """The wallboard's counts since local midnight, across restarts.

    The dispatcher counts from its own start; a restart at 14:00 must not show a fresh day.  So
    :meth:`seed` takes what the store recorded of today before an instant (inbound calls answered
    or abandoned before it) and marks the dispatcher's counters at that instant; the day's counts
    are then the store's plus what the dispatcher counted since the mark.  At local midnight
    both start again from the counters as they are (the first figures after midnight)."""

    def __init__(self, utc_offset_h: float, threshold_s: float) -> None:
        self._zone = timezone(timedelta(hours=utc_offset_h))
        self._threshold_s = threshold_s
        self._day: date | None = None
        self._before = DayCounts()  # what the store knew of the day when seeded
        self._mark = DayCounts()  # the dispatcher's counters then

    def day_start(self, at: float) -> float:
        """Local midnight before ``at`` (epoch seconds)."""
        local = datetime.fromtimestamp(at, self._zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()

    def seed(self, records: Iterable[StoredCall], counted: DayCounts, at: float) -> None:
        """Start the day's counts from the store's call records of today, read at ``at``, when
        the dispatcher had ``counted`` (:meth:`DayCounts.of` its stats then)."""
        start = self.day_start(at)
        answered = within = abandoned = 0
        wait_s = 0.0
        for record in records:
            if record.direction is not Direction.INBOUND or record.arrived_at is None:
                continue
            if not start <= record.arrived_at < at:
                continue
            if record.answered_at is not None and record.answered_at < at:
                wait = record.wait_s if record.wait_s is not None else record.answered_at - record.arrived_at
                answered += 1
                wait_s += wait
                within += wait <= self._threshold_s
            elif (
                record.outcome is StoredOutcome.ABANDONED
                and record.ended_at is not None
                and record.ended_at < at
            ):
                abandoned += 1
        self._day = datetime.fromtimestamp(at, self._zone).date()
        self._before = DayCounts(answered, within, wait_s, abandoned)
        self._mark = counted

    def counts(self, stats: DispatcherStats, now: float) -> DayCounts:
        """The day's counts at ``now`` (a new day starts from zero)."""
        today = datetime.fromtimestamp(now, self._zone).date()
        if today != self._day:
            self._day = today
            self._before = DayCounts()
            self._mark = DayCounts.of(stats)
        return self._before + (DayCounts.of(stats) - self._mark)


def queue_figures(
    queue: QueueView, now: float, utc_offset_h: float, threshold_s: float, day: DayCounts | None = None
) -> dict[str, Any]:
    """The body of ``p/queue/stats``: waiting by class, agents by state, callbacks due, and the
    service level, ASA and abandon rate of ``day`` (by default: since the dispatcher started)."""
    snap = queue.snapshot(now)
    counts = day if day is not None else DayCounts.of(queue.stats)
    waiting: dict[str, int] = {p.name.lower(): 0 for p in PriorityClass}
    for call in queue.waiting_calls():
        waiting[call.priority.name.lower()] += 1
    agents: dict[str, int] = {s.value: 0 for s in AgentState}
    for record in queue.agents():
        agents[record.state.value] += 1
    due = sum(
        1 for c in queue.callbacks() if c.status is CallbackStatus.PENDING and c.eligible_at(now) <= now
    )
    ended = counts.answered + counts.abandoned
    answered = counts.answered
    return {
        "at": local_time(now, utc_offset_h),
        "waiting": waiting,
        "waiting_total": snap.waiting_inbound,
        "longest_wait_s": snap.longest_wait_s,
        "agents": agents,
        "service_level": round(counts.answered_within / answered, 4) if answered else None,
        "service_level_threshold_s": threshold_s,
        "asa_s": round(counts.answer_wait_s / answered, 2) if answered else None,
        "abandon_rate": round(counts.abandoned / ended, 4) if ended else None,
        "calls_answered": answered,
        "calls_abandoned": counts.abandoned,
        "callbacks_due": due,
        "callbacks_waiting": snap.waiting_callbacks,
        "pbx_connected": queue.pbx_connected,
    }


def screen_pop_tickets(tickets: Sequence[tuple[Ticket, date | None]]) -> list[dict[str, Any]]:
    """The caller's tickets as a screen-pop shows them; ``due`` is the earliest deadline of the
    current round not yet met (``Store.caller_tickets`` gives both)."""
    return [
        {
            "number": t.number,
            "state": t.state.value,
            "open": t.is_open,
            "classification": t.classification,
            "ticket_type": t.ticket_type.value,
            "due": due.isoformat() if due else None,
        }
        for t, due in tickets
    ]

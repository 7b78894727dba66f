"""What the bus shows, computed from the dispatcher's read-only views and the store's records
(pure: no I/O, so each can be tested alone)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from hotline.bus.contract import local_time
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


def queue_figures(queue: QueueView, now: float, utc_offset_h: float, threshold_s: float) -> dict[str, Any]:
    """The body of ``p/queue/stats``: waiting by class, agents by state, service level (since the
    service started), ASA, abandon rate, callbacks due."""
    snap = queue.snapshot(now)
    stats = queue.stats
    waiting: dict[str, int] = {p.name.lower(): 0 for p in PriorityClass}
    for call in queue.waiting_calls():
        waiting[call.priority.name.lower()] += 1
    agents: dict[str, int] = {s.value: 0 for s in AgentState}
    for record in queue.agents():
        agents[record.state.value] += 1
    due = sum(
        1 for c in queue.callbacks() if c.status is CallbackStatus.PENDING and c.eligible_at(now) <= now
    )
    ended = stats.calls_answered + stats.calls_abandoned
    sl = stats.service_level
    asa = stats.average_speed_of_answer_s
    return {
        "at": local_time(now, utc_offset_h),
        "waiting": waiting,
        "waiting_total": snap.waiting_inbound,
        "longest_wait_s": snap.longest_wait_s,
        "agents": agents,
        "service_level": round(sl, 4) if sl is not None else None,
        "service_level_threshold_s": threshold_s,
        "asa_s": round(asa, 2) if asa is not None else None,
        "abandon_rate": round(stats.calls_abandoned / ended, 4) if ended else None,
        "calls_answered": stats.calls_answered,
        "calls_abandoned": stats.calls_abandoned,
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

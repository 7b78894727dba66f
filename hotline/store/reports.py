"""The report's reads (``hotline report``), and the agent state history it needs.

Kept apart from :mod:`hotline.store.sqlite` (the service's reads and writes) but inside the store
package, the only place that speaks SQL: these functions take an open :class:`Store` and use its
reader connection and its group-commit writer.  Rows come back as small frozen records with
plain values (strings, floats), so :mod:`hotline.reports` computes without importing the
queue's or the tickets' enums.

Reads are whole-range scans on indexed columns (``call_records.arrived_at``,
``tickets.created_at``/``closed_at``, ``transitions(action, at)``, ``deadlines.due_on``,
``agent_state_log.at``): a month of a busy centre (90,000 calls, 15,000 tickets) is read in
well under a second (``bench/report.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hotline.store.sqlite import Store, _Sql

_INSERT_AGENT_LOG = _Sql(
    "INSERT INTO agent_state_log (agent_id, state, reason, at) VALUES (?, ?, ?, ?)", "agent_state_log", 8
)


@dataclass(frozen=True, slots=True)
class AgentStateEntry:
    """One agent state change: from ``at`` the agent was in ``state`` (``reason``: the pause's)."""

    agent_id: str
    state: str
    reason: str | None
    at: float


@dataclass(frozen=True, slots=True)
class ReportCall:
    """What the report needs of a call record.

    ``end_uncertain``: the call ended while the service was down (issue 8's reconciliation);
    its end time, hence its talk time, is not known.
    """

    call_id: str
    direction: str  # "inbound" | "callback"
    arrived_at: float | None
    offered_at: float | None
    answered_at: float | None
    ended_at: float | None
    wait_s: float | None
    talk_s: float | None
    agent_id: str | None
    outcome: str | None  # None while the call is live
    end_uncertain: bool


@dataclass(frozen=True, slots=True)
class ReportTicket:
    """A ticket as the report groups it."""

    ticket_id: int
    ticket_type: str
    classification: str
    department: str
    created_at: float


@dataclass(frozen=True, slots=True)
class ReportTransition:
    """One audited workflow step of a ticket, with the ticket's grouping keys."""

    ticket_id: int
    action: str
    at: float
    satisfaction: str | None
    ticket_type: str
    department: str


@dataclass(frozen=True, slots=True)
class ReportClock:
    """One deadline clock with its ticket's grouping keys (and number, for the overdue list)."""

    ticket_id: int
    number: str
    kind: str
    due_on: str
    due_at: float
    met_at: float | None
    ticket_type: str
    department: str
    classification: str
    ticket_state: str


# ---- agent state history ---------------------------------------------------------------------


async def log_agent_state(store: Store, entry: AgentStateEntry) -> None:
    """Append one agent state change (committed with the store's next group commit)."""
    await store._write(
        [(_INSERT_AGENT_LOG, (entry.agent_id, entry.state, entry.reason, entry.at))], "log agent state"
    )


async def log_agent_states(store: Store, entries: list[AgentStateEntry]) -> None:
    """Append many agent state changes in one operation (imports, generated data)."""
    await store._write(
        [(_INSERT_AGENT_LOG, (e.agent_id, e.state, e.reason, e.at)) for e in entries], "log agent states"
    )


async def agent_state_history(store: Store, start: float, end: float) -> list[AgentStateEntry]:
    """Every change in ``[start, end)``, plus each agent's last change before ``start`` (its
    state when the range opens); ordered by agent, then time."""
    before = await store._read(
        "SELECT l.agent_id, l.state, l.reason, l.at FROM agent_state_log l "
        "JOIN (SELECT agent_id, max(at) AS at FROM agent_state_log WHERE at < ? GROUP BY agent_id) m "
        "ON m.agent_id = l.agent_id AND m.at = l.at",
        (start,),
    )
    inside = await store._read(
        "SELECT agent_id, state, reason, at FROM agent_state_log WHERE at >= ? AND at < ? ORDER BY id",
        (start, end),
    )
    rows = [AgentStateEntry(r[0], r[1], r[2], r[3]) for r in (*before, *inside)]
    rows.sort(key=lambda e: (e.agent_id, e.at))  # stable: same-instant changes keep their order
    return rows


async def agent_state_log_size(store: Store) -> int:
    """How many changes the history holds (0: nothing feeds it yet)."""
    rows = await store._read("SELECT count(*) FROM agent_state_log", ())
    return int(rows[0][0])


# ---- calls -----------------------------------------------------------------------------------


async def _has_column(store: Store, table: str, column: str) -> bool:
    rows = await store._read(f"PRAGMA table_info({table})", ())
    return any(r[1] == column for r in rows)


async def report_calls(store: Store, start: float, end: float) -> list[ReportCall]:
    """Inbound calls that arrived in ``[start, end)`` and callbacks offered in it — the same
    records ``hotline calls list`` shows."""
    uncertain = "end_uncertain" if await _has_column(store, "call_records", "end_uncertain") else "0"
    cols = (
        "call_id, direction, arrived_at, offered_at, answered_at, ended_at, wait_s, talk_s, agent_id, "
        f"outcome, {uncertain}"
    )
    rows = await store._read(
        f"SELECT {cols} FROM call_records WHERE arrived_at >= ? AND arrived_at < ? "
        f"UNION ALL SELECT {cols} FROM call_records "
        "WHERE arrived_at IS NULL AND offered_at >= ? AND offered_at < ?",
        (start, end, start, end),
    )
    return [ReportCall(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], bool(r[10])) for r in rows]


# ---- tickets ---------------------------------------------------------------------------------


async def tickets_opened(store: Store, start: float, end: float) -> list[ReportTicket]:
    """Tickets accepted in ``[start, end)``."""
    rows = await store._read(
        "SELECT id, ticket_type, classification, department, created_at FROM tickets "
        "WHERE created_at >= ? AND created_at < ?",
        (start, end),
    )
    return [ReportTicket(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def tickets_closed(store: Store, start: float, end: float) -> list[ReportTicket]:
    """Tickets whose (last) closing fell in ``[start, end)``; ``created_at`` is the closing time."""
    rows = await store._read(
        "SELECT id, ticket_type, classification, department, closed_at FROM tickets "
        "WHERE closed_at >= ? AND closed_at < ?",
        (start, end),
    )
    return [ReportTicket(r[0], r[1], r[2], r[3], r[4]) for r in rows]


#: The workflow steps the report counts.
REPORTED_ACTIONS = ("return", "extend", "supervise", "reopen", "evaluate")


async def ticket_steps(store: Store, start: float, end: float) -> list[ReportTransition]:
    """Returns, extensions, supervisions, reopenings and evaluations in ``[start, end)``."""
    marks = ", ".join("?" * len(REPORTED_ACTIONS))
    rows = await store._read(
        "SELECT t.ticket_id, t.action, t.at, "
        "CASE WHEN t.action = 'evaluate' THEN json_extract(t.detail, '$.satisfaction') END, "
        "k.ticket_type, k.department FROM transitions t JOIN tickets k ON k.id = t.ticket_id "
        f"WHERE t.action IN ({marks}) AND t.at >= ? AND t.at < ?",
        (*REPORTED_ACTIONS, start, end),
    )
    return [ReportTransition(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


_CLOCK_SELECT = (
    "SELECT d.ticket_id, k.number, d.kind, d.due_on, d.due_at, d.met_at, k.ticket_type, k.department, "
    "k.classification, k.state FROM deadlines d JOIN tickets k ON k.id = d.ticket_id"
)


async def clocks_due(store: Store, first_day: date, last_day: date) -> list[ReportClock]:
    """Clocks whose due day is in ``[first_day, last_day]`` (local days)."""
    rows = await store._read(
        f"{_CLOCK_SELECT} WHERE d.due_on >= ? AND d.due_on <= ?",
        (first_day.isoformat(), last_day.isoformat()),
    )
    return [ReportClock(*r) for r in rows]


async def clocks_overdue(store: Store, at: float, limit: int) -> list[ReportClock]:
    """Clocks of open tickets past their end at ``at`` and not met, the most late first."""
    rows = await store._read(
        f"{_CLOCK_SELECT} WHERE d.met_at IS NULL AND d.due_at <= ? AND k.state <> 'closed' "
        "ORDER BY d.due_at, d.ticket_id LIMIT ?",
        (at, limit),
    )
    return [ReportClock(*r) for r in rows]

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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from hotline.store.postgres import PgStore
from hotline.store.postgres import reports as pg
from hotline.store.postgres import sql as pg_sql
from hotline.store.sqlite import Store, _Sql

#: Either store: on PostgreSQL each read covers the province or one ``centre`` (issue 12); a
#: SQLite file holds one centre (``centre`` is refused by ``hotline report`` there).
AnyStore = Store | PgStore

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


class ReportCall(NamedTuple):
    """What the report needs of a call record (a named tuple: a month holds ~100,000 of them,
    made straight from the rows).

    ``end_uncertain``: the call ended while the service was down (issue 8's reconciliation);
    its end time, hence its talk time, is not known (1/0 as SQLite stores it).
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
    end_uncertain: int


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


async def log_agent_state(store: AnyStore, entry: AgentStateEntry) -> None:
    """Append one agent state change (committed with the store's next group commit)."""
    await log_agent_states(store, [entry])


async def log_agent_states(store: AnyStore, entries: list[AgentStateEntry]) -> None:
    """Append many agent state changes in one operation (imports, generated data)."""
    if isinstance(store, PgStore):  # stamped with the store's instance (its centre)
        rows = [(store.instance_id, e.agent_id, e.state, e.reason, e.at) for e in entries]
        await store._write([(pg_sql.LOG_AGENT_STATE, row) for row in rows], "log agent states")
        return
    await store._write(
        [(_INSERT_AGENT_LOG, (e.agent_id, e.state, e.reason, e.at)) for e in entries], "log agent states"
    )


#: One agent state change as the report reads it: ``(agent_id, state, reason, at)``.  Plain tuples:
#: a month of a busy centre holds some 340,000 of them.
AgentStateRow = tuple[str, str, str | None, float]


async def agent_state_history(
    store: AnyStore, start: float, end: float, centre: str | None = None
) -> list[AgentStateRow]:
    """Every change in ``[start, end)``, plus each agent's last change before ``start`` (its
    state when the range opens); in time order (the ``at`` index's order: no sort)."""
    if isinstance(store, PgStore):
        return await pg.agent_state_history(store, start, end, centre)
    before = await store._read(
        f"{_AGENTS_BEFORE} SELECT agent_id, state, reason, at FROM agent_state_log "
        "WHERE id IN (SELECT id FROM before) ORDER BY at, id",
        (start,),
    )
    inside = await store._read(
        "SELECT agent_id, state, reason, at FROM agent_state_log WHERE at >= ? AND at < ? ORDER BY at, id",
        (start, end),
    )
    return [*before, *inside]  # sqlite3's rows are already plain tuples


#: Each agent's last change before a range starts (parameter 1: the start): a skip-scan over the
#: agents (one index seek each), not a scan of the whole history.
_AGENTS_BEFORE = (
    "WITH RECURSIVE agents(a) AS ("
    " SELECT min(agent_id) FROM agent_state_log"
    " UNION ALL SELECT (SELECT min(agent_id) FROM agent_state_log WHERE agent_id > a) FROM agents"
    " WHERE a IS NOT NULL),"
    " before(id) AS (SELECT (SELECT id FROM agent_state_log WHERE agent_id = a AND at < ?1"
    " ORDER BY at DESC, id DESC LIMIT 1) FROM agents WHERE a IS NOT NULL)"
)


async def agent_state_log_size(store: AnyStore, centre: str | None = None) -> int:
    """How many changes the history holds (0: nothing feeds it yet)."""
    if isinstance(store, PgStore):
        return await pg.agent_state_log_size(store, centre)
    rows = await store._read("SELECT count(*) FROM agent_state_log", ())
    return int(rows[0][0])


# ---- calls -----------------------------------------------------------------------------------


async def report_calls(
    store: AnyStore, start: float, end: float, centre: str | None = None
) -> list[ReportCall]:
    """Inbound calls that arrived in ``[start, end)`` and callbacks offered in it — the same
    records ``hotline calls list`` shows."""
    if isinstance(store, PgStore):
        return [ReportCall._make(r) for r in await pg.report_calls(store, start, end, centre)]
    cols = (
        "call_id, direction, arrived_at, offered_at, answered_at, ended_at, wait_s, talk_s, agent_id, "
        "outcome, end_uncertain"
    )
    rows = await store._read(
        f"SELECT {cols} FROM call_records WHERE arrived_at >= ? AND arrived_at < ? "
        f"UNION ALL SELECT {cols} FROM call_records "
        "WHERE arrived_at IS NULL AND offered_at >= ? AND offered_at < ?",
        (start, end, start, end),
    )
    make = ReportCall._make
    return [make(r) for r in rows]


# ---- tickets ---------------------------------------------------------------------------------


async def tickets_opened(
    store: AnyStore, start: float, end: float, centre: str | None = None
) -> list[ReportTicket]:
    """Tickets accepted in ``[start, end)``."""
    if isinstance(store, PgStore):
        rows = await pg.tickets_between(store, "created_at", start, end, centre)
        return [ReportTicket(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    rows = await store._read(
        "SELECT id, ticket_type, classification, department, created_at FROM tickets "
        "WHERE created_at >= ? AND created_at < ?",
        (start, end),
    )
    return [ReportTicket(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def tickets_closed(
    store: AnyStore, start: float, end: float, centre: str | None = None
) -> list[ReportTicket]:
    """Tickets whose (last) closing fell in ``[start, end)``; ``created_at`` is the closing time."""
    if isinstance(store, PgStore):
        rows = await pg.tickets_between(store, "closed_at", start, end, centre)
        return [ReportTicket(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    rows = await store._read(
        "SELECT id, ticket_type, classification, department, closed_at FROM tickets "
        "WHERE closed_at >= ? AND closed_at < ?",
        (start, end),
    )
    return [ReportTicket(r[0], r[1], r[2], r[3], r[4]) for r in rows]


#: The workflow steps the report counts.
REPORTED_ACTIONS = ("return", "extend", "supervise", "reopen", "evaluate")


async def ticket_steps(
    store: AnyStore, start: float, end: float, centre: str | None = None
) -> list[ReportTransition]:
    """Returns, extensions, supervisions, reopenings and evaluations in ``[start, end)``."""
    if isinstance(store, PgStore):
        rows = await pg.ticket_steps(store, REPORTED_ACTIONS, start, end, centre)
        return [ReportTransition(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
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


async def clocks_due(
    store: AnyStore, first_day: date, last_day: date, centre: str | None = None
) -> list[ReportClock]:
    """Clocks whose due day is in ``[first_day, last_day]`` (local days)."""
    if isinstance(store, PgStore):
        return [ReportClock(*r) for r in await pg.clocks_due(store, first_day, last_day, centre)]
    rows = await store._read(
        f"{_CLOCK_SELECT} WHERE d.due_on >= ? AND d.due_on <= ?",
        (first_day.isoformat(), last_day.isoformat()),
    )
    return [ReportClock(*r) for r in rows]


async def clocks_overdue(
    store: AnyStore, at: float, limit: int, centre: str | None = None
) -> list[ReportClock]:
    """Clocks of open tickets past their end at ``at`` and not met, the most late first."""
    if isinstance(store, PgStore):
        return [ReportClock(*r) for r in await pg.clocks_overdue(store, at, limit, centre)]
    rows = await store._read(
        f"{_CLOCK_SELECT} WHERE d.met_at IS NULL AND d.due_at <= ? AND k.state <> 'closed' "
        "ORDER BY d.due_at, d.ticket_id LIMIT ?",
        (at, limit),
    )
    return [ReportClock(*r) for r in rows]


# ---- a range in one line (the comparison's previous range) -----------------------------------


@dataclass(frozen=True, slots=True)
class RangeCounts:
    """A range's call, ticket and clock counts, summed in SQL (see :func:`range_counts`)."""

    offered: int
    answered: int
    answered_within: int
    abandoned: int  # not short
    short_abandoned: int
    other: int
    in_progress: int
    end_uncertain: int
    wait_sum: float
    wait_n: int
    talk_sum: float
    talk_n: int
    longest_wait_s: float | None
    callbacks: int
    callbacks_reached: int
    tickets_opened: int
    tickets_closed: int
    clocks_due: int
    on_time: int
    late: int
    satisfaction: dict[str, int]


async def range_counts(
    store: AnyStore,
    start: float,
    end: float,
    first_day: date,
    last_day: date,
    *,
    threshold_s: float,
    short_abandon_s: float,
    now: float,
    centre: str | None = None,
) -> RangeCounts:
    """The same counts as :func:`hotline.reports.compute.totals` (which the tests hold it to),
    summed in SQL: the comparison with the previous range needs only these, not its rows."""
    if isinstance(store, PgStore):
        row, n_opened, n_closed, clock_row, answers = await pg.range_counts(
            store,
            start,
            end,
            first_day,
            last_day,
            threshold_s=threshold_s,
            short_abandon_s=short_abandon_s,
            now=now,
            centre=centre,
        )
        return _counts(row, n_opened, n_closed, clock_row, answers)
    uncertain = "end_uncertain"
    calls = await store._read(
        "WITH c AS (SELECT direction, outcome, "
        f"{uncertain} AS unc, answered_at, "
        "coalesce(wait_s, answered_at - arrived_at, "
        f"CASE WHEN NOT {uncertain} THEN ended_at - arrived_at END) AS wait, "
        f"CASE WHEN answered_at IS NULL OR {uncertain} THEN NULL "
        "ELSE coalesce(talk_s, ended_at - answered_at) END AS talk "
        "FROM call_records WHERE (arrived_at >= ?1 AND arrived_at < ?2) "
        "OR (arrived_at IS NULL AND offered_at >= ?1 AND offered_at < ?2)) "
        "SELECT "
        "sum(direction = 'inbound' AND outcome IS NOT NULL), "
        "sum(direction = 'inbound' AND outcome = 'answered'), "
        "sum(direction = 'inbound' AND outcome = 'answered' AND wait <= ?3), "
        "sum(direction = 'inbound' AND outcome = 'abandoned'), "
        "sum(direction = 'inbound' AND outcome = 'abandoned' AND NOT unc AND wait < ?4), "
        "sum(direction = 'inbound' AND outcome IS NULL), "
        "sum(direction = 'inbound' AND outcome IS NOT NULL AND unc), "
        "sum(CASE WHEN direction = 'inbound' AND outcome = 'answered' THEN wait END), "
        "count(CASE WHEN direction = 'inbound' AND outcome = 'answered' THEN wait END), "
        "sum(CASE WHEN direction = 'inbound' AND outcome = 'answered' THEN talk END), "
        "count(CASE WHEN direction = 'inbound' AND outcome = 'answered' THEN talk END), "
        "max(CASE WHEN direction = 'inbound' AND "
        "(outcome = 'answered' OR (outcome = 'abandoned' AND NOT unc)) THEN wait END), "
        "sum(direction <> 'inbound' AND outcome IS NOT NULL), "
        "sum(direction <> 'inbound' AND outcome = 'answered') FROM c",
        (start, end, threshold_s, short_abandon_s),
    )
    opened = await store._read(
        "SELECT count(*) FROM tickets WHERE created_at >= ? AND created_at < ?", (start, end)
    )
    closed = await store._read(
        "SELECT count(*) FROM tickets WHERE closed_at >= ? AND closed_at < ?", (start, end)
    )
    clocks = await store._read(
        "SELECT count(*), sum(met_at IS NOT NULL AND met_at <= due_at), "
        "sum((met_at IS NOT NULL AND met_at > due_at) OR (met_at IS NULL AND ? >= due_at)) "
        "FROM deadlines WHERE due_on >= ? AND due_on <= ?",
        (now, first_day.isoformat(), last_day.isoformat()),
    )
    answers = await store._read(
        "SELECT json_extract(detail, '$.satisfaction'), count(*) FROM transitions "
        "WHERE action = 'evaluate' AND at >= ? AND at < ? GROUP BY 1",
        (start, end),
    )
    return _counts(calls[0], int(opened[0][0]), int(closed[0][0]), clocks[0], answers)


def _counts(
    call_row: Sequence[Any], opened: int, closed: int, clock_row: Sequence[Any], answers: Sequence[Any]
) -> RangeCounts:
    longest = call_row[11]
    (offered, answered, within, abandoned_all, short, live, unc, wsum, wn, tsum, tn, _, cb, reached) = [
        v or 0 for v in call_row
    ]
    return RangeCounts(
        offered=int(offered),
        answered=int(answered),
        answered_within=int(within),
        abandoned=int(abandoned_all - short),
        short_abandoned=int(short),
        other=int(offered - answered - abandoned_all),
        in_progress=int(live),
        end_uncertain=int(unc),
        wait_sum=float(wsum),
        wait_n=int(wn),
        talk_sum=float(tsum),
        talk_n=int(tn),
        longest_wait_s=None if longest is None else float(longest),
        callbacks=int(cb),
        callbacks_reached=int(reached),
        tickets_opened=opened,
        tickets_closed=closed,
        clocks_due=int(clock_row[0]),
        on_time=int(clock_row[1] or 0),
        late=int(clock_row[2] or 0),
        satisfaction={str(r[0]): int(r[1]) for r in answers if r[0] is not None},
    )

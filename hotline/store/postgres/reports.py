"""The report's reads (``hotline report``) on PostgreSQL: :mod:`hotline.store.reports`' queries in
PostgreSQL's words (``$n`` parameters, ``FILTER``, ``jsonb``, ``date``), each of the whole
province or of one centre (``centre``: the ``instance_id`` that wrote the call records and agent
states, the ``centre`` stamped on the tickets)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hotline.store.postgres.store import PgStore

#: Call records of a range (parameters 1, 2) and a centre (parameter 3, NULL: all).
_CALLS_IN = (
    "FROM call_records WHERE ((arrived_at >= $1 AND arrived_at < $2) "
    "OR (arrived_at IS NULL AND offered_at >= $1 AND offered_at < $2)) "
    "AND ($3::text IS NULL OR instance_id = $3)"
)


def _centre(alias: str, n: int) -> str:
    """A ticket's centre filter on parameter ``n`` (NULL: the whole province)."""
    return f"(${n}::text IS NULL OR {alias}centre = ${n})"


async def agent_state_history(
    store: PgStore, start: float, end: float, centre: str | None
) -> list[tuple[str, str, str | None, float]]:
    """Every change in ``[start, end)``, plus each agent's last change before ``start``."""
    before = await store._read(
        "SELECT DISTINCT ON (instance_id, agent_id) agent_id, state, reason, at FROM agent_state_log "
        "WHERE at < $1 AND ($2::text IS NULL OR instance_id = $2) "
        "ORDER BY instance_id, agent_id, at DESC, id DESC",
        start,
        centre,
    )
    inside = await store._read(
        "SELECT agent_id, state, reason, at FROM agent_state_log WHERE at >= $1 AND at < $2 "
        "AND ($3::text IS NULL OR instance_id = $3) ORDER BY at, id",
        start,
        end,
        centre,
    )
    first = sorted((tuple(r) for r in before), key=lambda r: r[3])
    return [*first, *(tuple(r) for r in inside)]


async def agent_state_log_size(store: PgStore, centre: str | None) -> int:
    """How many changes the history holds."""
    rows = await store._read(
        "SELECT count(*) FROM agent_state_log WHERE $1::text IS NULL OR instance_id = $1", centre
    )
    return int(rows[0][0])


async def report_calls(store: PgStore, start: float, end: float, centre: str | None) -> list[Any]:
    """Rows of :class:`hotline.store.reports.ReportCall`."""
    return await store._read(
        "SELECT call_id, direction, arrived_at, offered_at, answered_at, ended_at, wait_s, talk_s, "
        f"agent_id, outcome, end_uncertain::int {_CALLS_IN}",
        start,
        end,
        centre,
    )


async def tickets_between(
    store: PgStore, column: str, start: float, end: float, centre: str | None
) -> list[Any]:
    """``(id, type, classification, department, <column>)`` of tickets with ``column`` in the range."""
    return await store._read(
        f"SELECT id, ticket_type, classification, department, {column} FROM tickets "
        f"WHERE {column} >= $1 AND {column} < $2 AND {_centre('', 3)}",
        start,
        end,
        centre,
    )


async def ticket_steps(
    store: PgStore, actions: tuple[str, ...], start: float, end: float, centre: str | None
) -> list[Any]:
    """The audited steps ``actions`` in ``[start, end)`` with their tickets' grouping keys."""
    return await store._read(
        "SELECT t.ticket_id, t.action, t.at, "
        "CASE WHEN t.action = 'evaluate' THEN t.detail->>'satisfaction' END, "
        "k.ticket_type, k.department FROM transitions t JOIN tickets k ON k.id = t.ticket_id "
        f"WHERE t.action = ANY($1::text[]) AND t.at >= $2 AND t.at < $3 AND {_centre('k.', 4)}",
        list(actions),
        start,
        end,
        centre,
    )


_CLOCK_SELECT = (
    "SELECT d.ticket_id, k.number, d.kind, d.due_on::text, d.due_at, d.met_at, k.ticket_type, "
    "k.department, k.classification, k.state FROM deadlines d JOIN tickets k ON k.id = d.ticket_id"
)


async def clocks_due(store: PgStore, first_day: date, last_day: date, centre: str | None) -> list[Any]:
    """Clocks whose due day is in ``[first_day, last_day]``."""
    return await store._read(
        f"{_CLOCK_SELECT} WHERE d.due_on >= $1 AND d.due_on <= $2 AND {_centre('k.', 3)}",
        first_day,
        last_day,
        centre,
    )


async def clocks_overdue(store: PgStore, at: float, limit: int, centre: str | None) -> list[Any]:
    """Clocks of open tickets past their end at ``at`` and not met, the most late first."""
    return await store._read(
        f"{_CLOCK_SELECT} WHERE d.met_at IS NULL AND d.due_at <= $1 AND k.state <> 'closed' "
        f"AND {_centre('k.', 3)} ORDER BY d.due_at, d.ticket_id LIMIT $2",
        at,
        limit,
        centre,
    )


async def range_counts(
    store: PgStore,
    start: float,
    end: float,
    first_day: date,
    last_day: date,
    *,
    threshold_s: float,
    short_abandon_s: float,
    now: float,
    centre: str | None,
) -> tuple[Any, int, int, Any, list[Any]]:
    """The rows :func:`hotline.store.reports.range_counts` sums up: calls, opened, closed,
    clocks, satisfaction answers."""
    inbound = "direction = 'inbound'"
    calls = await store._read(
        "WITH c AS (SELECT direction, outcome, end_uncertain AS unc, answered_at, "
        "coalesce(wait_s, answered_at - arrived_at, "
        "CASE WHEN NOT end_uncertain THEN ended_at - arrived_at END) "
        "AS wait, CASE WHEN answered_at IS NULL OR end_uncertain THEN NULL "
        f"ELSE coalesce(talk_s, ended_at - answered_at) END AS talk {_CALLS_IN}) SELECT "
        f"count(*) FILTER (WHERE {inbound} AND outcome IS NOT NULL), "
        f"count(*) FILTER (WHERE {inbound} AND outcome = 'answered'), "
        f"count(*) FILTER (WHERE {inbound} AND outcome = 'answered' AND wait <= $4), "
        f"count(*) FILTER (WHERE {inbound} AND outcome = 'abandoned'), "
        f"count(*) FILTER (WHERE {inbound} AND outcome = 'abandoned' AND NOT unc AND wait < $5), "
        f"count(*) FILTER (WHERE {inbound} AND outcome IS NULL), "
        f"count(*) FILTER (WHERE {inbound} AND outcome IS NOT NULL AND unc), "
        f"sum(wait) FILTER (WHERE {inbound} AND outcome = 'answered'), "
        f"count(wait) FILTER (WHERE {inbound} AND outcome = 'answered'), "
        f"sum(talk) FILTER (WHERE {inbound} AND outcome = 'answered'), "
        f"count(talk) FILTER (WHERE {inbound} AND outcome = 'answered'), "
        f"max(wait) FILTER (WHERE {inbound} AND "
        "(outcome = 'answered' OR (outcome = 'abandoned' AND NOT unc))), "
        f"count(*) FILTER (WHERE NOT {inbound} AND outcome IS NOT NULL), "
        f"count(*) FILTER (WHERE NOT {inbound} AND outcome = 'answered') FROM c",
        start,
        end,
        centre,
        threshold_s,
        short_abandon_s,
    )
    opened = await store._read(
        f"SELECT count(*) FROM tickets WHERE created_at >= $1 AND created_at < $2 AND {_centre('', 3)}",
        start,
        end,
        centre,
    )
    closed = await store._read(
        f"SELECT count(*) FROM tickets WHERE closed_at >= $1 AND closed_at < $2 AND {_centre('', 3)}",
        start,
        end,
        centre,
    )
    clocks = await store._read(
        "SELECT count(*), count(*) FILTER (WHERE d.met_at IS NOT NULL AND d.met_at <= d.due_at), "
        "count(*) FILTER (WHERE (d.met_at IS NOT NULL AND d.met_at > d.due_at) "
        "OR (d.met_at IS NULL AND $1 >= d.due_at)) FROM deadlines d JOIN tickets k ON k.id = d.ticket_id "
        f"WHERE d.due_on >= $2 AND d.due_on <= $3 AND {_centre('k.', 4)}",
        now,
        first_day,
        last_day,
        centre,
    )
    answers = await store._read(
        "SELECT t.detail->>'satisfaction', count(*) FROM transitions t JOIN tickets k ON k.id = t.ticket_id "
        f"WHERE t.action = 'evaluate' AND t.at >= $1 AND t.at < $2 AND {_centre('k.', 3)} GROUP BY 1",
        start,
        end,
        centre,
    )
    return calls[0], int(opened[0][0]), int(closed[0][0]), clocks[0], answers

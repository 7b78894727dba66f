"""The PostgreSQL store's statements, built from each table's columns and types.

Rows are the SQLite store's row tuples (:mod:`hotline.store.sqlite`: days as ISO text, flags as
0/1, audit details as JSON text): each parameter is cast to its column's type in the statement
(``$3::text::date``), and reads cast back (``accepted_on::text``), so both stores share one
conversion between records and rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from hotline.store.sqlite import _CALL_COLUMNS, _CALLBACK_COLUMNS
from hotline.store.tickets import _DEADLINE_COLUMNS, _TICKET_COLUMNS

#: Column types that are not plain: how a parameter reaches them, and how a read returns them.
_DATE, _BOOL, _JSON = "date", "boolean", "jsonb"

TYPES: dict[str, dict[str, str]] = {
    "tickets": {
        "id": "bigint",
        "accepted_on": _DATE,
        "day_seq": "integer",
        "created_at": "float8",
        "updated_at": "float8",
        "version": "integer",
        "round": "integer",
        "provisional": _BOOL,
        "supervision_count": "integer",
        "extension_count": "integer",
        "extension_days": "integer",
        "dispatched_at": "float8",
        "closed_at": "float8",
        "centre": "text",
    },
    "deadlines": {
        "ticket_id": "bigint",
        "round": "integer",
        "start_on": _DATE,
        "working_days": "integer",
        "months": "integer",
        "extension_days": "integer",
        "due_on": _DATE,
        "due_at": "float8",
        "warn_at": "float8",
        "provisional": _BOOL,
        "met_at": "float8",
        "warned_at": "float8",
        "breached_at": "float8",
        "next_check_at": "float8",
        "version": "integer",
    },
    "ticket_links": {"ticket_id": "bigint", "at": "float8", "external": _BOOL},
    "transitions": {"ticket_id": "bigint", "seq": "integer", "at": "float8", "detail": _JSON},
    "call_records": {
        "arrived_at": "float8",
        "offered_at": "float8",
        "answered_at": "float8",
        "ended_at": "float8",
        "wait_s": "float8",
        "talk_s": "float8",
        "escalated": _BOOL,
        "callback_id": "bigint",
        "updated_at": "float8",
        "offers": "integer",
        "end_uncertain": _BOOL,
        "last_seen_at": "float8",
    },
    "callbacks": {
        "id": "bigint",
        "ticket_id": "bigint",
        "created_at": "float8",
        "due_at": "float8",
        "attempts": "integer",
        "max_attempts": "integer",
        "retry_spacing_s": "float8",
        "updated_at": "float8",
    },
    "callback_attempts": {"callback_id": "bigint", "at": "float8", "counted": _BOOL},
    "agent_states": {"since": "float8", "wrap_up_until": "float8"},
    "queue_heartbeat": {"at": "float8"},
    "outbox": {"created_at": "float8"},
    "ticket_attention": {"ticket_id": "bigint", "at": "float8", "callback_id": "bigint"},
}


def column_type(table: str, column: str) -> str:
    """The column's type (``text`` unless listed)."""
    return TYPES.get(table, {}).get(column, "text")


def param(table: str, column: str, n: int) -> str:
    """Parameter ``$n`` as the value of ``table.column`` (from the shared row's Python value)."""
    kind = column_type(table, column)
    if kind == _DATE:
        return f"${n}::text::date"
    if kind == _BOOL:
        return f"${n}::int::boolean"
    if kind == _JSON:
        return f"${n}::text::jsonb"
    return f"${n}::{kind}"


def select_list(table: str, columns: Sequence[str], alias: str = "") -> str:
    """The columns as the shared row readers take them (days and JSON as text)."""
    prefix = f"{alias}." if alias else ""
    out = []
    for c in columns:
        kind = column_type(table, c)
        out.append(f"{prefix}{c}::text" if kind in (_DATE, _JSON) else f"{prefix}{c}")
    return ", ".join(out)


@dataclass(frozen=True, slots=True)
class PgSql:
    """One statement kind: its text, its table's rank in a batch (parents first), for a guarded
    update (``checked``: every row must change exactly one row) the parameter positions naming
    the row (``key``), and ``bulk``: the same for many rows as one statement over ``unnest``
    arrays (one array per parameter).  A plain insert also names its ``columns`` and how each
    shared row value becomes the column's (``to_column``): many rows go in with ``COPY``."""

    text: str
    table: str
    rank: int
    checked: bool = False
    key: tuple[int, ...] = ()
    bulk: str = ""
    columns: tuple[str, ...] = ()
    to_column: tuple[tuple[int, Callable[[Any], Any]], ...] = ()

    def copy_records(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The rows as ``COPY`` takes them (days as dates, flags as booleans)."""
        if not self.to_column:
            return list(rows)
        out = []
        for row in rows:
            values = list(row)
            for i, convert in self.to_column:
                if values[i] is not None:
                    values[i] = convert(values[i])
            out.append(tuple(values))
        return out


PgStmt = tuple[PgSql, tuple[Any, ...]]


def insert(table: str, columns: Sequence[str], rank: int, suffix: str = "", *, bulk: bool = True) -> PgSql:
    """``INSERT``; with ``bulk``, also the same for many rows as one statement over ``unnest``
    (not for an upsert that updates: one statement may not change a row twice)."""
    values = ", ".join(param(table, c, i + 1) for i, c in enumerate(columns))
    head = f"INSERT INTO {table} ({', '.join(columns)})"
    text = f"{head} VALUES ({values}){suffix}"
    many = ""
    if bulk:
        arrays = ", ".join(f"${i + 1}::{_array_type(table, c)[0]}" for i, c in enumerate(columns))
        casts = ", ".join(f"u.c{i}{_array_type(table, c)[1]}" for i, c in enumerate(columns))
        names = ", ".join(f"c{i}" for i in range(len(columns)))
        many = f"{head} SELECT {casts} FROM unnest({arrays}) AS u ({names}){suffix}"
    if suffix or not bulk:
        return PgSql(text, table, rank, bulk=many)
    converters: dict[str, Callable[[Any], Any]] = {_DATE: date.fromisoformat, _BOOL: bool}
    to_column = tuple(
        (i, converters[column_type(table, c)])
        for i, c in enumerate(columns)
        if column_type(table, c) in converters
    )
    return PgSql(text, table, rank, bulk=many, columns=tuple(columns), to_column=to_column)


def _array_type(table: str, column: str) -> tuple[str, str]:
    """``(array parameter type, cast of the element to the column)``."""
    kind = column_type(table, column)
    if kind in (_DATE, _JSON):
        return "text[]", f"::{kind}"
    if kind == _BOOL:
        return "integer[]", "::boolean"
    return f"{kind}[]", ""


def guarded_update(table: str, columns: Sequence[str], keys: Sequence[str], rank: int) -> PgSql:
    """``UPDATE table SET columns WHERE keys AND version = previous``: parameters are the
    columns, then the keys, then the version read.  ``bulk`` does the same for many rows."""
    sets = ", ".join(f"{c} = {param(table, c, i + 1)}" for i, c in enumerate(columns))
    n = len(columns)
    where = " AND ".join(f"{k} = {param(table, k, n + i + 1)}" for i, k in enumerate(keys))
    text = f"UPDATE {table} SET {sets} WHERE {where} AND version = ${n + len(keys) + 1}::integer"
    names = [*columns, *(f"k_{k}" for k in keys), "k_previous"]
    arrays = []
    for i, c in enumerate([*columns, *keys]):
        array, _ = _array_type(table, c)
        arrays.append(f"${i + 1}::{array}")
    arrays.append(f"${len(names)}::integer[]")
    bulk_sets = ", ".join(f"{c} = u.{c}{_array_type(table, c)[1]}" for c in columns)
    bulk_where = " AND ".join(f"t.{k} = u.k_{k}{_array_type(table, k)[1]}" for k in keys)
    # ``= ANY(first key's array)`` lets the planner fetch just these rows by index, never scan
    # the table to hash-join it with the arrays.
    first = f"t.{keys[0]} = ANY({arrays[n]})"
    bulk = (
        f"UPDATE {table} AS t SET {bulk_sets} FROM unnest({', '.join(arrays)}) AS u ({', '.join(names)}) "
        f"WHERE {first} AND {bulk_where} AND t.version = u.k_previous"
    )
    key = tuple(range(n, n + len(keys)))
    return PgSql(text, table, rank, checked=True, key=key, bulk=bulk)


def upsert(table: str, columns: Sequence[str], conflict: str, sets: dict[str, str], rank: int) -> PgSql:
    updates = ", ".join(f"{c} = {rule}" for c, rule in sets.items())
    return insert(table, columns, rank, f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}", bulk=False)


# ---- tickets --------------------------------------------------------------------------------

TICKET_SELECT = f"SELECT {select_list('tickets', _TICKET_COLUMNS)} FROM tickets"
INSERT_TICKET = insert("tickets", [*_TICKET_COLUMNS, "centre"], 1)
UPDATE_TICKET = guarded_update("tickets", _TICKET_COLUMNS[1:], ["id"], 1)
DEADLINE_SELECT = f"SELECT {select_list('deadlines', _DEADLINE_COLUMNS)} FROM deadlines"
INSERT_DEADLINE = insert("deadlines", _DEADLINE_COLUMNS, 2)
UPDATE_DEADLINE = guarded_update("deadlines", _DEADLINE_COLUMNS[3:], ["ticket_id", "round", "kind"], 2)
_LINK_COLUMNS = ("ticket_id", "call_id", "role", "at", "actor", "external")
INSERT_LINK = insert("ticket_links", _LINK_COLUMNS, 3)
INSERT_LINK_IF_NEW = insert("ticket_links", _LINK_COLUMNS, 3, " ON CONFLICT (ticket_id, call_id) DO NOTHING")
LINK_SELECT = f"SELECT {select_list('ticket_links', _LINK_COLUMNS)} FROM ticket_links"
INSERT_TRANSITION = insert(
    "transitions",
    ("ticket_id", "seq", "at", "actor", "action", "from_state", "to_state", "reason", "detail"),
    4,
)
MARK_ATTENTION = upsert(
    "ticket_attention",
    ("ticket_id", "reason", "at", "callback_id"),
    "ticket_id",
    {"reason": "excluded.reason", "at": "excluded.at", "callback_id": "excluded.callback_id"},
    5,
)

# ---- queue ----------------------------------------------------------------------------------

CALL_COLUMNS = [*_CALL_COLUMNS, "instance_id"]
CALL_SELECT = f"SELECT {select_list('call_records', _CALL_COLUMNS)} FROM call_records"
#: An escalation's flag and recording, written on a live call, stay when its record is written.
_CALL_KEEP = {
    "escalated": "call_records.escalated OR excluded.escalated",
    "escalation_reasons": "CASE WHEN call_records.escalated AND call_records.escalation_reasons <> '[]' "
    "THEN call_records.escalation_reasons ELSE excluded.escalation_reasons END",
    "recording_ref": "coalesce(excluded.recording_ref, call_records.recording_ref)",
}
UPSERT_CALL = upsert(
    "call_records",
    CALL_COLUMNS,
    "call_id",
    {c: _CALL_KEEP.get(c, f"excluded.{c}") for c in CALL_COLUMNS[1:]},
    0,
)
#: The SQLite store's merge rules (what was first seen stays, an ended record stays ended),
#: in PostgreSQL's words.
_MERGE_RULES = {
    "direction": "call_records.direction",
    "caller_number": "CASE WHEN call_records.caller_number <> '' THEN call_records.caller_number "
    "ELSE excluded.caller_number END",
    "dnis": "CASE WHEN call_records.dnis <> '' THEN call_records.dnis ELSE excluded.dnis END",
    "arrived_at": "coalesce(call_records.arrived_at, excluded.arrived_at)",
    "offered_at": "coalesce(call_records.offered_at, excluded.offered_at)",
    "answered_at": "coalesce(call_records.answered_at, excluded.answered_at)",
    "ended_at": "coalesce(call_records.ended_at, excluded.ended_at)",
    "wait_s": "coalesce(excluded.wait_s, call_records.wait_s)",
    "talk_s": "coalesce(excluded.talk_s, call_records.talk_s)",
    "agent_id": "coalesce(excluded.agent_id, call_records.agent_id)",
    "outcome": "coalesce(call_records.outcome, excluded.outcome)",
    "escalated": "call_records.escalated OR excluded.escalated",
    "escalation_reasons": "CASE WHEN excluded.escalation_reasons <> '[]' THEN excluded.escalation_reasons "
    "ELSE call_records.escalation_reasons END",
    "recording_ref": "coalesce(excluded.recording_ref, call_records.recording_ref)",
    "callback_id": "coalesce(excluded.callback_id, call_records.callback_id)",
    "updated_at": "greatest(call_records.updated_at, excluded.updated_at)",
    "state": "CASE WHEN call_records.state = 'ended' THEN 'ended' "
    "ELSE coalesce(excluded.state, call_records.state) END",
    "priority": "coalesce(excluded.priority, call_records.priority)",
    "offers": "greatest(coalesce(call_records.offers, 0), coalesce(excluded.offers, 0))",
    "end_uncertain": "CASE WHEN call_records.state = 'ended' THEN call_records.end_uncertain "
    "ELSE excluded.end_uncertain END",
    "last_seen_at": "coalesce(excluded.last_seen_at, call_records.last_seen_at)",
    "callback_queue_id": "coalesce(call_records.callback_queue_id, excluded.callback_queue_id)",
    "instance_id": "call_records.instance_id",
}
MERGE_CALL = upsert("call_records", CALL_COLUMNS, "call_id", _MERGE_RULES, 0)
SAVE_HEARTBEAT = upsert("queue_heartbeat", ("instance_id", "at"), "instance_id", {"at": "excluded.at"}, 7)
CALLBACK_COLUMNS = list(_CALLBACK_COLUMNS)
CALLBACK_SELECT_LIST = select_list("callbacks", CALLBACK_COLUMNS)
INSERT_CALLBACK = insert("callbacks", CALLBACK_COLUMNS, 5)
UPDATE_CALLBACK = PgSql(
    "UPDATE callbacks SET attempts = attempts + $1::integer, status = coalesce($2::text, status), "
    "due_at = coalesce($3::float8, due_at), outcome = coalesce($4::text, outcome), "
    "updated_at = $5::float8 WHERE id = $6::bigint",
    "callbacks",
    5,
    checked=True,
    key=(5,),
)
INSERT_ATTEMPT = insert(
    "callback_attempts", ("callback_id", "at", "outcome", "dial_status", "call_id", "counted"), 6
)
OUTBOX_COLUMNS = ("event_id", "kind", "topic", "payload", "created_at")
INSERT_OUTBOX = insert("outbox", OUTBOX_COLUMNS, 9)
DELETE_OUTBOX = PgSql("DELETE FROM outbox WHERE seq = $1::bigint", "outbox", 9)
LOG_AGENT_STATE = PgSql(
    "INSERT INTO agent_state_log (instance_id, agent_id, state, reason, at) "
    "SELECT $1::text, $2::text, $3::text, $4::text, $5::float8 "
    "WHERE NOT EXISTS (SELECT 1 FROM agent_state_log WHERE instance_id = $1 AND agent_id = $2 "
    "AND at = $5 AND state = $3 AND reason IS NOT DISTINCT FROM $4)",
    "agent_state_log",
    8,
)
UPSERT_AGENT = upsert(
    "agent_states",
    ("agent_id", "state", "reason", "since", "work", "wrap_up_until", "instance_id"),
    "instance_id, agent_id",
    {c: f"excluded.{c}" for c in ("state", "reason", "since", "work", "wrap_up_until")},
    7,
)

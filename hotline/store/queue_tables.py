"""The queue's tables of the store: call records (final and written ahead), callbacks and their
attempts, agents' states and their log, and the service's heartbeat.  :class:`QueueTables` is
mixed into :class:`hotline.store.Store`, which provides the writer and the reader.

Callback ids are handed out in memory (``_next_callback_id``, loaded from the table when the store
opens); a callback that meets another process's id is re-numbered and retried.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hotline.events import Direction
from hotline.store.callback_shorthands import CallbackShorthands
from hotline.store.errors import StoreError, StoreIntegrityError
from hotline.store.records import (
    CallbackAttempt,
    CallbackKind,
    CallbackRecord,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    NewCallback,
    StoredAgentState,
)
from hotline.store.sql import _insert, _Sql, _Stmt
from hotline.tickets.model import TicketChange

# ---- statements --------------------------------------------------------------------------------

_CALL_COLUMNS = (
    "call_id direction caller_number dnis arrived_at offered_at answered_at ended_at wait_s talk_s "
    "agent_id outcome escalated escalation_reasons recording_ref callback_id updated_at "
    "state priority offers end_uncertain last_seen_at callback_queue_id"
).split()
#: The escalation columns keep what the escalation desk wrote while the call was up (its
#: reasons, the recording's file name): the call's final record does not know them.
_CALL_KEEP = {
    "escalated": "max(call_records.escalated, excluded.escalated)",
    "escalation_reasons": "CASE WHEN call_records.escalated = 1 AND call_records.escalation_reasons != '[]' "
    "THEN call_records.escalation_reasons ELSE excluded.escalation_reasons END",
    "recording_ref": "coalesce(excluded.recording_ref, call_records.recording_ref)",
}
_UPSERT_CALL = _Sql(
    f"INSERT INTO call_records ({', '.join(_CALL_COLUMNS)}) VALUES ({', '.join('?' * len(_CALL_COLUMNS))}) "
    "ON CONFLICT (call_id) DO UPDATE SET "
    + ", ".join(f"{c} = {_CALL_KEEP.get(c, f'excluded.{c}')}" for c in _CALL_COLUMNS[1:]),
    "call_records",
    0,
)
#: How a written-ahead record takes a later write, column by column: what was first seen stays
#: (arrival, first offer, answer, caller), what comes later completes it, and an ended record
#: never goes back to live.  A later, poorer picture (a resync's) can never erase what was known.
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
    "escalated": "max(call_records.escalated, excluded.escalated)",
    # The first reasons written stay: the escalation desk writes the real ones while the call
    # is up; the queue's later records only know "ivr_priority" from the call's class.
    "escalation_reasons": "CASE WHEN call_records.escalation_reasons <> '[]' "
    "THEN call_records.escalation_reasons ELSE excluded.escalation_reasons END",
    "recording_ref": "coalesce(excluded.recording_ref, call_records.recording_ref)",
    "callback_id": "coalesce(excluded.callback_id, call_records.callback_id)",
    "updated_at": "max(call_records.updated_at, excluded.updated_at)",
    "state": "CASE WHEN call_records.state = 'ended' THEN 'ended' "
    "ELSE coalesce(excluded.state, call_records.state) END",
    "priority": "coalesce(excluded.priority, call_records.priority)",
    "offers": "max(coalesce(call_records.offers, 0), coalesce(excluded.offers, 0))",
    "end_uncertain": "CASE WHEN call_records.state = 'ended' THEN call_records.end_uncertain "
    "ELSE excluded.end_uncertain END",
    "last_seen_at": "coalesce(excluded.last_seen_at, call_records.last_seen_at)",
    "callback_queue_id": "coalesce(call_records.callback_queue_id, excluded.callback_queue_id)",
}
_MERGE_CALL = _Sql(
    f"INSERT INTO call_records ({', '.join(_CALL_COLUMNS)}) VALUES ({', '.join('?' * len(_CALL_COLUMNS))}) "
    "ON CONFLICT (call_id) DO UPDATE SET " + ", ".join(f"{c} = {_MERGE_RULES[c]}" for c in _CALL_COLUMNS[1:]),
    "call_records",
    0,
)
_SAVE_HEARTBEAT = _Sql(
    "INSERT INTO queue_heartbeat (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
    "queue_heartbeat",
    7,
)
_LIVE_CALLS_SQL = (
    f"SELECT {', '.join(_CALL_COLUMNS)} FROM call_records "
    "WHERE state IS NOT NULL AND state <> 'ended' ORDER BY arrived_at, call_id"
)
_CALLBACK_COLUMNS = (
    "id kind number ticket_id origin_call_id created_at due_at window_start window_end attempts "
    "max_attempts retry_spacing_s status outcome updated_at queue_id"
).split()
_INSERT_CALLBACK = _insert("callbacks", _CALLBACK_COLUMNS, 5)
#: The one statement every callback change goes through (so their order is kept in a batch).
_UPDATE_CALLBACK = _Sql(
    "UPDATE callbacks SET attempts = attempts + ?, status = coalesce(?, status), "
    "due_at = coalesce(?, due_at), outcome = coalesce(?, outcome), updated_at = ? WHERE id = ?",
    "callbacks",
    5,
    checked=True,
    key=(5,),
)
_INSERT_ATTEMPT = _insert(
    "callback_attempts", ("callback_id", "at", "outcome", "dial_status", "call_id", "counted"), 6
)
_UPSERT_AGENT = _Sql(
    "INSERT INTO agent_states (agent_id, state, reason, since, work, wrap_up_until) "
    "VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (agent_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
    "since = excluded.since, work = excluded.work, wrap_up_until = excluded.wrap_up_until",
    "agent_states",
    7,
)

#: Every agent state change, appended for the reports (``agent_states`` keeps only the last);
#: the same state sent again at a restore (same agent, instant, state and reason) is one row.
_LOG_AGENT_STATE = _Sql(
    "INSERT INTO agent_state_log (agent_id, state, reason, at) SELECT ?1, ?2, ?3, ?4 "
    "WHERE NOT EXISTS (SELECT 1 FROM agent_state_log WHERE agent_id = ?1 AND at = ?4 "
    "AND state = ?2 AND reason IS ?3)",
    "agent_state_log",
    8,
)


# ---- row conversion -------------------------------------------------------------------------


def _call_row(c: CallRecord, at: float) -> tuple[Any, ...]:
    return (
        c.call_id,
        c.direction.value,
        c.caller_number,
        c.dnis,
        c.arrived_at,
        c.offered_at,
        c.answered_at,
        c.ended_at,
        c.wait_s,
        c.talk_s,
        c.agent_id,
        c.outcome.value if c.outcome else None,
        int(c.escalated),
        json.dumps(list(c.escalation_reasons), ensure_ascii=False),
        c.recording_ref,
        c.callback_id,
        at,
        c.state,
        c.priority,
        c.offers,
        int(c.end_uncertain),
        c.last_seen_at,
        c.callback_queue_id,
    )


def _call_from_row(r: Sequence[Any]) -> CallRecord:
    return CallRecord(
        call_id=r[0],
        direction=Direction(r[1]),
        caller_number=r[2],
        dnis=r[3],
        arrived_at=r[4],
        offered_at=r[5],
        answered_at=r[6],
        ended_at=r[7],
        wait_s=r[8],
        talk_s=r[9],
        agent_id=r[10],
        outcome=CallOutcome(r[11]) if r[11] else None,
        escalated=bool(r[12]),
        escalation_reasons=tuple(json.loads(r[13])),
        recording_ref=r[14],
        callback_id=r[15],
        state=r[17],
        priority=r[18],
        offers=r[19],
        end_uncertain=bool(r[20]),
        last_seen_at=r[21],
        callback_queue_id=r[22],
    )


def _callback_from_row(r: Sequence[Any]) -> CallbackRecord:
    return CallbackRecord(
        id=r[0],
        kind=CallbackKind(r[1]),
        number=r[2],
        ticket_id=r[3],
        origin_call_id=r[4],
        created_at=r[5],
        due_at=r[6],
        window_start=r[7],
        window_end=r[8],
        attempts=r[9],
        max_attempts=r[10],
        retry_spacing_s=r[11],
        status=CallbackStatus(r[12]),
        outcome=r[13],
        updated_at=r[14],
        queue_id=r[15],
    )


def _callback_row(c: CallbackRecord) -> tuple[Any, ...]:
    return (
        c.id,
        c.kind.value,
        c.number,
        c.ticket_id,
        c.origin_call_id,
        c.created_at,
        c.due_at,
        c.window_start,
        c.window_end,
        c.attempts,
        c.max_attempts,
        c.retry_spacing_s,
        c.status.value,
        c.outcome,
        c.updated_at,
        c.queue_id,
    )


def follow_up_record(change: TicketChange, callback_id: int) -> CallbackRecord:
    """The pending follow-up callback (回访) a ticket change schedules, as both stores write it."""
    f = change.follow_up
    if f is None:
        raise StoreError("the ticket change schedules no follow-up")  # pragma: no cover - internal
    at = change.ticket.updated_at if change.ticket is not None else f.due_at
    return CallbackRecord(
        id=callback_id,
        kind=CallbackKind.FOLLOW_UP,
        number=f.number,
        ticket_id=f.ticket_id,
        origin_call_id=None,
        created_at=at,
        due_at=f.due_at,
        window_start=f.window_start,
        window_end=f.window_end,
        attempts=0,
        max_attempts=f.max_attempts,
        retry_spacing_s=f.retry_spacing_s,
        status=CallbackStatus.PENDING,
        outcome=None,
        updated_at=at,
    )


class QueueTables(CallbackShorthands):
    """The queue part of :class:`hotline.store.Store` (see the module docstring)."""

    # Provided by the Store this is mixed into.
    _next_callback_id: int

    async def _write(self, stmts: list[_Stmt], what: str) -> None:
        raise NotImplementedError

    async def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    # ---- callback ids --------------------------------------------------------------------------

    async def _load_counters(self) -> None:
        rows = await self._read("SELECT coalesce(max(id), 0) FROM callbacks", ())
        self._next_callback_id = max(self._next_callback_id, int(rows[0][0]) + 1)

    # ---- the ticket tables' hook ----------------------------------------------------------------

    def _callback_stmts(self, change: TicketChange) -> tuple[list[_Stmt], CallbackRecord | None]:
        """The callbacks table's part of a ticket change: the follow-up it schedules (its id
        handed out here) and the callback it completes."""
        stmts: list[_Stmt] = []
        callback = None
        if change.follow_up is not None:
            callback = follow_up_record(change, self._next_callback_id)
            self._next_callback_id += 1
            stmts.append((_INSERT_CALLBACK, _callback_row(callback)))
        if change.complete_callback is not None:
            cb_id, status, outcome = change.complete_callback
            at = change.ticket.updated_at if change.ticket is not None else 0.0
            stmts.append((_UPDATE_CALLBACK, (0, status, None, outcome, at, cb_id)))
        return stmts, callback

    # ---- calls ---------------------------------------------------------------------------------

    async def upsert_call(self, record: CallRecord, *, at: float | None = None) -> None:
        """Insert or replace the call record with this Linkedid (every column is replaced)."""
        stamp = at if at is not None else (record.ended_at or record.arrived_at or 0.0)
        await self._write([(_UPSERT_CALL, _call_row(record, stamp))], "upsert call")

    async def get_call(self, call_id: str) -> CallRecord | None:
        """The call record with this Linkedid."""
        rows = await self._read(
            f"SELECT {', '.join(_CALL_COLUMNS)} FROM call_records WHERE call_id = ?", (call_id,)
        )
        return _call_from_row(rows[0]) if rows else None

    async def calls_between(self, start: float, end: float) -> list[CallRecord]:
        """Calls that arrived in ``[start, end)`` (callbacks without an arrival: by ``offered_at``)."""
        rows = await self._read(
            f"SELECT {', '.join(_CALL_COLUMNS)} FROM call_records "
            "WHERE (arrived_at >= ? AND arrived_at < ?) "
            "OR (arrived_at IS NULL AND offered_at >= ? AND offered_at < ?) "
            "ORDER BY coalesce(arrived_at, offered_at)",
            (start, end, start, end),
        )
        return [_call_from_row(r) for r in rows]

    # ---- callbacks -----------------------------------------------------------------------------

    async def create_callback(self, new: NewCallback) -> CallbackRecord:
        """Schedule a callback (status pending, no attempts yet)."""
        for _ in range(5):
            record = CallbackRecord(
                id=self._next_callback_id,
                kind=new.kind,
                number=new.number,
                ticket_id=new.ticket_id,
                origin_call_id=new.origin_call_id,
                created_at=new.created_at,
                due_at=new.due_at,
                window_start=new.window_start,
                window_end=new.window_end,
                attempts=0,
                max_attempts=new.max_attempts,
                retry_spacing_s=new.retry_spacing_s,
                status=CallbackStatus.PENDING,
                outcome=None,
                updated_at=new.created_at,
                queue_id=new.queue_id,
            )
            self._next_callback_id += 1
            try:
                await self._write([(_INSERT_CALLBACK, _callback_row(record))], "create callback")
            except StoreIntegrityError as exc:
                if "callbacks.id" not in exc.detail:
                    raise
                await self._load_counters()
                continue
            return record
        raise StoreError("could not allocate a callback id (5 clashes)")

    async def get_callback(self, callback_id: int) -> CallbackRecord | None:
        """One callback."""
        rows = await self._read(
            f"SELECT {', '.join(_CALLBACK_COLUMNS)} FROM callbacks WHERE id = ?", (callback_id,)
        )
        return _callback_from_row(rows[0]) if rows else None

    async def pending_callbacks(self) -> list[CallbackRecord]:
        """Callbacks still to do (pending or in progress), by due time — what a restart reloads."""
        rows = await self._read(
            f"SELECT {', '.join(_CALLBACK_COLUMNS)} FROM callbacks "
            "WHERE status IN ('pending', 'in_progress') ORDER BY due_at, id",
            (),
        )
        return [_callback_from_row(r) for r in rows]

    async def update_callback(
        self,
        callback_id: int,
        *,
        at: float,
        status: CallbackStatus | None = None,
        due_at: float | None = None,
        outcome: str | None = None,
        attempt: CallbackAttempt | None = None,
    ) -> None:
        """Change a callback's status/due time/outcome; with ``attempt``, append it to the history
        (and count it in ``attempts`` when ``attempt.counted``).  Raises :class:`StoreConflict`
        for an unknown id."""
        increment = 1 if attempt is not None and attempt.counted else 0
        stmts: list[_Stmt] = [
            (
                _UPDATE_CALLBACK,
                (increment, status.value if status else None, due_at, outcome, at, callback_id),
            )
        ]
        if attempt is not None:
            stmts.append(
                (
                    _INSERT_ATTEMPT,
                    (
                        callback_id,
                        attempt.at,
                        attempt.outcome,
                        attempt.dial_status,
                        attempt.call_id,
                        int(attempt.counted),
                    ),
                )
            )
        await self._write(stmts, "update callback")

    async def callback_attempts(self, callback_id: int) -> list[CallbackAttempt]:
        """A callback's attempt history, oldest first."""
        rows = await self._read(
            "SELECT callback_id, at, outcome, dial_status, call_id, counted FROM callback_attempts "
            "WHERE callback_id = ? ORDER BY id",
            (callback_id,),
        )
        return [
            CallbackAttempt(
                callback_id=r[0], at=r[1], outcome=r[2], dial_status=r[3], call_id=r[4], counted=bool(r[5])
            )
            for r in rows
        ]

    # ---- agents --------------------------------------------------------------------------------

    async def save_agent_state(self, state: StoredAgentState) -> None:
        """Persist an agent's state (one row per agent) and append it to the state history."""
        await self._write(
            [
                (
                    _UPSERT_AGENT,
                    (state.agent_id, state.state, state.reason, state.since, state.work, state.wrap_up_until),
                ),
                (_LOG_AGENT_STATE, (state.agent_id, state.state, state.reason, state.since)),
            ],
            "save agent state",
        )

    async def load_agent_states(self) -> list[StoredAgentState]:
        """Every agent's last persisted state."""
        rows = await self._read(
            "SELECT agent_id, state, reason, since, work, wrap_up_until FROM agent_states ORDER BY agent_id",
            (),
        )
        return [
            StoredAgentState(
                agent_id=r[0], state=r[1], reason=r[2], since=r[3], work=r[4], wrap_up_until=r[5]
            )
            for r in rows
        ]

    # ---- write-ahead call records and the service's heartbeat ----------------------------------

    async def merge_call(self, record: CallRecord, *, at: float | None = None) -> None:
        """Write what is known of a call: a new record, or completed column by column.

        Unlike :meth:`upsert_call`, nothing known is replaced by a poorer picture: arrival,
        first offer, answer and caller stay as first written; an ended record stays ended.
        """
        stamp = at if at is not None else (record.ended_at or record.answered_at or record.arrived_at or 0.0)
        await self._write([(_MERGE_CALL, _call_row(record, stamp))], "merge call")

    async def live_calls(self) -> list[CallRecord]:
        """The records of calls not known to have ended (written ahead, still live at the stop)."""
        return [_call_from_row(r) for r in await self._read(_LIVE_CALLS_SQL, ())]

    async def calls_of_day(self, start: float, end: float) -> list[CallRecord]:
        """Every call record that arrived (or, for a callback, was offered) in ``[start, end)``."""
        return await self.calls_between(start, end)

    async def save_heartbeat(self, at: float) -> None:
        """Remember ``at`` as the last instant the service saw the PBX (one row)."""
        await self._write([(_SAVE_HEARTBEAT, (at,))], "save heartbeat")

    async def last_heartbeat(self) -> float | None:
        """The last instant the service saw the PBX, or None."""
        rows = await self._read("SELECT at FROM queue_heartbeat WHERE id = 1", ())
        return float(rows[0][0]) if rows else None

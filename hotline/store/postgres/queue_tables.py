"""The PostgreSQL store's queue tables: call records, callbacks (claimed with a lease), agents'
states and the PBX heartbeat — the last two, and live calls, per instance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hotline.store.callback_shorthands import CallbackShorthands
from hotline.store.outbox import OutboxEntry, PendingMessage, pending_from_rows
from hotline.store.postgres import sql as q
from hotline.store.postgres.core import CLAIM_BATCH, PgCore, session_name
from hotline.store.records import (
    CallbackAttempt,
    CallbackRecord,
    CallbackStatus,
    CallRecord,
    NewCallback,
    StoredAgentState,
)
from hotline.store.sqlite import _call_from_row, _call_row, _callback_from_row

_OPEN = "status IN ('pending', 'in_progress')"

#: Follow-ups in progress on another instance whose lease ran out ``$2`` seconds ago and more:
#: their tickets go on the needs-attention list (once; a ticket already on it keeps its reason).
_MARK_ORPHANED = (
    "WITH orphan AS (SELECT id, ticket_id, owner FROM callbacks c WHERE status = 'in_progress' "
    "AND ticket_id IS NOT NULL AND owner <> $1 "
    "AND lease_until < clock_timestamp() - make_interval(secs => $2) "
    "AND NOT EXISTS (SELECT 1 FROM ticket_attention a WHERE a.ticket_id = c.ticket_id)) "
    "INSERT INTO ticket_attention (ticket_id, reason, at, callback_id) "
    "SELECT ticket_id, 'follow-up call under way on instance ' || owner || ', which has not come "
    "back: the citizen may have been dialled; not dialled again', "
    "extract(epoch FROM clock_timestamp()), id FROM orphan "
    "ON CONFLICT (ticket_id) DO NOTHING RETURNING ticket_id, callback_id, "
    "(SELECT owner FROM orphan WHERE orphan.id = callback_id) AS owner"
)


class PgQueueTables(CallbackShorthands, PgCore):
    """What the queue writes and reads back (see :class:`hotline.store.postgres.store.PgStore`)."""

    # ---- calls ---------------------------------------------------------------------------------

    async def upsert_call(self, record: CallRecord, *, at: float | None = None) -> None:
        """Insert or replace the call record with this Linkedid (stamped with this instance)."""
        stamp = at if at is not None else (record.ended_at or record.arrived_at or 0.0)
        await self._write([(q.UPSERT_CALL, (*_call_row(record, stamp), self.instance_id))], "upsert call")

    async def get_call(self, call_id: str) -> CallRecord | None:
        """The call record with this Linkedid."""
        rows = await self._read(f"{q.CALL_SELECT} WHERE call_id = $1", call_id)
        return _call_from_row(rows[0]) if rows else None

    async def calls_between(self, start: float, end: float, *, centre: str | None = None) -> list[CallRecord]:
        """Calls that arrived (callbacks: were offered) in ``[start, end)``, of one instance
        (``centre``) or the whole province."""
        rows = await self._read(
            f"{q.CALL_SELECT} WHERE ((arrived_at >= $1 AND arrived_at < $2) "
            "OR (arrived_at IS NULL AND offered_at >= $1 AND offered_at < $2)) "
            "AND ($3::text IS NULL OR instance_id = $3) ORDER BY coalesce(arrived_at, offered_at)",
            start,
            end,
            centre,
        )
        return [_call_from_row(r) for r in rows]

    async def call_instance(self, call_id: str) -> str | None:
        """The instance that wrote this call record."""
        rows = await self._read("SELECT instance_id FROM call_records WHERE call_id = $1", call_id)
        return str(rows[0][0]) if rows else None

    # ---- callbacks -----------------------------------------------------------------------------

    async def create_callback(self, new: NewCallback) -> CallbackRecord:
        """Schedule a callback (pending, no attempts yet), held by this instance."""
        rows = await self._read(
            "INSERT INTO callbacks (kind, number, ticket_id, origin_call_id, created_at, due_at, "
            "window_start, window_end, attempts, max_attempts, retry_spacing_s, status, outcome, "
            "updated_at, queue_id, owner, lease_until) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, 'pending', NULL, $5, $11, $12, "
            "clock_timestamp() + make_interval(secs => $13)) RETURNING id",
            new.kind.value,
            new.number,
            new.ticket_id,
            new.origin_call_id,
            new.created_at,
            new.due_at,
            new.window_start,
            new.window_end,
            new.max_attempts,
            new.retry_spacing_s,
            new.queue_id,
            self.instance_id,
            self._lease_s,
        )
        return CallbackRecord(
            id=int(rows[0][0]),
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

    async def get_callback(self, callback_id: int) -> CallbackRecord | None:
        """One callback."""
        rows = await self._read(f"SELECT {q.CALLBACK_SELECT_LIST} FROM callbacks WHERE id = $1", callback_id)
        return _callback_from_row(rows[0]) if rows else None

    async def pending_callbacks(self) -> list[CallbackRecord]:
        """The open callbacks this instance dials, by due time: its own (their lease renewed),
        plus up to :data:`CLAIM_BATCH` claimed now — unowned ones (a ticket's follow-ups) and
        those never started whose holder's lease ran out and who has no session left (an
        instance alive but late renewing may be about to dial them).  ``SKIP LOCKED``: a row
        another instance is claiming at this moment is left to it.

        A callback in progress is never taken over: its holder wrote it so before sending the
        Originate (write-ahead), so the citizen may be on the phone with that instance's PBX;
        that instance takes it up from its PBX when it restarts.  One whose holder stays away
        past ``callback_orphan_s`` puts its ticket on the needs-attention list instead."""

        async def claim(conn: asyncpg.Connection) -> list[Any]:
            lease = "clock_timestamp() + make_interval(secs => $2)"
            own = await conn.fetch(
                f"UPDATE callbacks SET lease_until = {lease} WHERE owner = $1 AND {_OPEN} "
                f"RETURNING {q.CALLBACK_SELECT_LIST}",
                self.instance_id,
                self._lease_s,
            )
            claimed = await conn.fetch(
                f"UPDATE callbacks SET owner = $1, lease_until = {lease} WHERE id IN ("
                "SELECT id FROM callbacks WHERE status = 'pending' AND (owner IS NULL OR "
                "(owner <> $1 AND lease_until < clock_timestamp() AND NOT EXISTS ("
                "SELECT 1 FROM pg_stat_activity s "
                f"WHERE s.application_name = '{session_name('')}' || owner))) "
                "ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) "
                f"RETURNING {q.CALLBACK_SELECT_LIST}",
                self.instance_id,
                self._lease_s,
                CLAIM_BATCH,
            )
            orphaned = await conn.fetch(_MARK_ORPHANED, self.instance_id, self._orphan_s)
            for row in orphaned:
                self._log.warning(
                    "callback.orphaned",
                    callback_id=int(row["callback_id"]),
                    ticket_id=int(row["ticket_id"]),
                    owner=str(row["owner"]),
                    why="in progress on an instance that has not come back",
                )
            return [*own, *claimed]

        rows = await self._run("claim callbacks", claim)
        records = [_callback_from_row(r) for r in rows]
        records.sort(key=lambda c: (c.due_at, c.id))
        return records

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
        """Change a callback's status/due time/outcome, optionally appending an attempt."""
        increment = 1 if attempt is not None and attempt.counted else 0
        stmts: list[q.PgStmt] = [
            (
                q.UPDATE_CALLBACK,
                (increment, status.value if status else None, due_at, outcome, at, callback_id),
            )
        ]
        if attempt is not None:
            stmts.append(
                (
                    q.INSERT_ATTEMPT,
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
            "WHERE callback_id = $1 ORDER BY id",
            callback_id,
        )
        return [
            CallbackAttempt(
                callback_id=r[0], at=r[1], outcome=r[2], dial_status=r[3], call_id=r[4], counted=bool(r[5])
            )
            for r in rows
        ]

    # ---- agents, live calls, heartbeat: this instance's own -----------------------------------

    async def save_agent_state(self, state: StoredAgentState) -> None:
        """Persist an agent's state (one row per instance and agent)."""
        row = (state.agent_id, state.state, state.reason, state.since, state.work, state.wrap_up_until)
        log = (self.instance_id, state.agent_id, state.state, state.reason, state.since)
        await self._write(
            [(q.UPSERT_AGENT, (*row, self.instance_id)), (q.LOG_AGENT_STATE, log)], "save agent state"
        )

    async def load_agent_states(self) -> list[StoredAgentState]:
        """This instance's agents' last persisted states."""
        rows = await self._read(
            "SELECT agent_id, state, reason, since, work, wrap_up_until FROM agent_states "
            "WHERE instance_id = $1 ORDER BY agent_id",
            self.instance_id,
        )
        return [
            StoredAgentState(
                agent_id=r[0], state=r[1], reason=r[2], since=r[3], work=r[4], wrap_up_until=r[5]
            )
            for r in rows
        ]

    async def merge_call(self, record: CallRecord, *, at: float | None = None) -> None:
        """Write what is known of a call, completing the record column by column."""
        stamp = at if at is not None else (record.ended_at or record.answered_at or record.arrived_at or 0.0)
        await self._write([(q.MERGE_CALL, (*_call_row(record, stamp), self.instance_id))], "merge call")

    async def live_calls(self) -> list[CallRecord]:
        """This instance's calls not known to have ended."""
        rows = await self._read(
            f"{q.CALL_SELECT} WHERE instance_id = $1 AND state IS NOT NULL AND state <> 'ended' "
            "ORDER BY arrived_at, call_id",
            self.instance_id,
        )
        return [_call_from_row(r) for r in rows]

    async def calls_of_day(self, start: float, end: float) -> list[CallRecord]:
        """Every call record that arrived (or was offered) in ``[start, end)``, province-wide."""
        return await self.calls_between(start, end)

    async def save_heartbeat(self, at: float) -> None:
        """Remember ``at`` as the last instant this instance saw its PBX."""
        await self._write([(q.SAVE_HEARTBEAT, (self.instance_id, at))], "save heartbeat")

    async def last_heartbeat(self) -> float | None:
        """The last instant this instance saw its PBX, or None."""
        rows = await self._read("SELECT at FROM queue_heartbeat WHERE instance_id = $1", self.instance_id)
        return float(rows[0][0]) if rows else None

    # ---- the outbox: each message published once, by the instance that claimed it -----------

    async def add_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        """Store messages for the bus on their own (e.g. an escalation alert)."""
        await self._write([(q.INSERT_OUTBOX, entry.row()) for entry in entries], "add outbox")

    async def pending_outbox(self, after_seq: int = 0, limit: int = 100) -> list[PendingMessage]:
        """Messages not yet acknowledged, oldest first, after ``after_seq``: claimed for this
        instance for ``callback_lease_s`` (``SKIP LOCKED``: another instance's claim is left to
        it), so whichever instance wrote a message, one publishes it."""

        async def claim(conn: asyncpg.Connection) -> list[Any]:
            return list(
                await conn.fetch(
                    "UPDATE outbox SET claimed_by = $1, claim_until = clock_timestamp() + "
                    "make_interval(secs => $2) WHERE seq IN (SELECT seq FROM outbox WHERE seq > $3 AND "
                    "(claimed_by IS NULL OR claimed_by = $1 OR claim_until < clock_timestamp()) "
                    "ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED) "
                    "RETURNING seq, event_id, kind, topic, payload, created_at",
                    self.instance_id,
                    self._lease_s,
                    after_seq,
                    limit,
                )
            )

        rows = await self._run("claim outbox", claim)
        return pending_from_rows(sorted(rows, key=lambda r: int(r[0])))

    async def ack_outbox(self, seqs: Sequence[int]) -> None:
        """Forget messages the broker acknowledged."""
        if seqs:
            await self._write([(q.DELETE_OUTBOX, (seq,)) for seq in seqs], "ack outbox")

    async def outbox_count(self) -> int:
        """How many messages wait for the broker."""
        return int((await self._read("SELECT count(*) FROM outbox"))[0][0])

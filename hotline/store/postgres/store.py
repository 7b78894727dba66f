"""The PostgreSQL store's tables: the SQLite :class:`hotline.store.Store`'s API, method for method
(see :mod:`hotline.store.postgres.core` for the writer and what several instances share)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

import asyncpg

from hotline.store.errors import StoreError, StoreMissingReference
from hotline.store.outbox import ticket_event_entries
from hotline.store.postgres import sql as q
from hotline.store.postgres.core import SLA_LEADER_LOCK, _Txn
from hotline.store.postgres.queue_tables import PgQueueTables
from hotline.store.queue_tables import follow_up_record
from hotline.store.records import (
    CallbackRecord,
)
from hotline.store.sqlite import _callback_row
from hotline.store.tickets import (
    _DEADLINE_COLUMNS,
    _TICKET_COLUMNS,
    _deadline_from_row,
    _deadline_row,
    _detail_json,
    _link_from_row,
    _link_row,
    _ticket_from_row,
    _ticket_row,
    _transition_from_row,
    _transition_row,
)
from hotline.tickets.model import Deadline, Ticket, TicketChange, TicketLink, TicketState, Transition

_DETAIL_CACHE_LIMIT = 4096
_OPEN = "status IN ('pending', 'in_progress')"


_TRANSITION_COLUMNS = (
    "ticket_id",
    "seq",
    "at",
    "actor",
    "action",
    "from_state",
    "to_state",
    "reason",
    "detail",
)


def _copy_ticket(t: Ticket, centre: str) -> tuple[Any, ...]:
    """A ticket's row as ``COPY`` takes it (typed values, not the SQLite row's text and 0/1)."""
    row = list(_ticket_row(t))
    row[2], row[22] = t.accepted_on, t.provisional
    return (*row, centre)


def _copy_deadline(d: Deadline) -> tuple[Any, ...]:
    row = list(_deadline_row(d))
    row[3], row[7], row[10] = d.start_on, d.due_on, d.provisional
    return tuple(row)


def _deadline_stmt(d: Deadline) -> q.PgStmt:
    row = _deadline_row(d)
    if d.version == 1:
        return (q.INSERT_DEADLINE, row)
    return (q.UPDATE_DEADLINE, (*row[3:], d.ticket_id, d.round, d.kind.value, d.version - 1))


class PgStore(PgQueueTables):
    """The hotline's PostgreSQL database (the API of :class:`hotline.store.Store`)."""

    # ---- tickets: writes -----------------------------------------------------------------------

    def _detail(self, detail: tuple[tuple[str, str], ...]) -> str:
        text = self._details.get(detail)
        if text is None:
            if len(self._details) >= _DETAIL_CACHE_LIMIT:
                self._details.clear()
            text = self._details[detail] = _detail_json(detail)
        return text

    def _change_stmts(
        self, change: TicketChange, callback_id: int | None = None
    ) -> tuple[list[q.PgStmt], CallbackRecord | None]:
        stmts: list[q.PgStmt] = []
        if change.ticket is not None:
            row = _ticket_row(change.ticket)
            if change.previous_version is None:
                stmts.append((q.INSERT_TICKET, (*row, self.instance_id)))
            else:
                stmts.append((q.UPDATE_TICKET, (*row[1:], change.ticket.id, change.previous_version)))
        stmts += [_deadline_stmt(d) for d in change.deadlines]
        stmts += [(q.INSERT_LINK, _link_row(k)) for k in change.links]
        stmts += [
            (q.INSERT_TRANSITION, _transition_row(t, self._detail(t.detail))) for t in change.transitions
        ]
        callback = None
        if change.follow_up is not None:
            if callback_id is None:
                raise StoreError("a follow-up needs a callback id")  # pragma: no cover - internal
            callback = follow_up_record(change, callback_id)
            stmts.append((q.INSERT_CALLBACK, _callback_row(callback)))
        if change.needs_attention is not None and change.ticket is not None:
            reason, cb = change.needs_attention
            stmts.append((q.MARK_ATTENTION, (change.ticket.id, reason, change.ticket.updated_at, cb)))
        if change.complete_callback is not None:
            cb_id, status, outcome = change.complete_callback
            at = change.ticket.updated_at if change.ticket is not None else 0.0
            stmts.append((q.UPDATE_CALLBACK, (0, status, None, outcome, at, cb_id)))
        # The ticket events this change announces, in its own transaction (the outbox).
        stmts += [(q.INSERT_OUTBOX, entry.row()) for entry in ticket_event_entries(change)]
        return stmts, callback

    async def _callback_ids(self, count: int) -> list[int]:
        """Fresh callback ids from the table's sequence (never handed out twice, province-wide)."""
        if count == 0:
            return []
        rows = await self._read(
            "SELECT nextval(pg_get_serial_sequence('callbacks', 'id')) FROM generate_series(1, $1)", count
        )
        return [int(r[0]) for r in rows]

    async def _stmts_for(self, changes: Sequence[TicketChange]) -> list[list[q.PgStmt]]:
        ids = iter(await self._callback_ids(sum(1 for c in changes if c.follow_up is not None)))
        return [self._change_stmts(c, next(ids) if c.follow_up is not None else None)[0] for c in changes]

    async def allocate_ticket_identities(self, day: date, count: int) -> list[tuple[int, int]]:
        """``count`` fresh ``(ticket id, day sequence)`` pairs, reserved in a transaction of their own."""

        async def reserve(conn: asyncpg.Connection) -> list[tuple[int, int]]:
            return await _Txn(conn).allocate(day, count)

        return await self._run("allocate ticket numbers", reserve)

    async def create_ticket(
        self,
        accepted_on: date,
        build: Callable[[int, int], TicketChange],
        *,
        citizen_number: str = "",
        duplicate: Callable[[Sequence[Ticket]], TicketChange | None] | None = None,
        recorded_call: str | None = None,
    ) -> TicketChange:
        """Create a ticket in one transaction (see :meth:`hotline.store.Store.create_ticket`):
        the duplicate rule and the ticket's numbers are decided on the rows as they are then
        (the numbers once the whole batch is decided: :class:`~hotline.store.postgres.core._Txn`)."""
        done: list[TicketChange] = []
        refused: list[Exception] = []

        async def prepare(txn: _Txn) -> list[q.PgStmt]:
            done.clear()
            refused.clear()

            async def rows(ticket_id: int, day_seq: int) -> list[q.PgStmt]:
                change = build(ticket_id, day_seq)
                callback_id = None
                if change.follow_up is not None:
                    callback_id = int(
                        await txn.conn.fetchval("SELECT nextval(pg_get_serial_sequence('callbacks', 'id'))")
                    )
                if change.ticket is not None:
                    txn.created(change.ticket)
                done[:] = [change]
                return self._change_stmts(change, callback_id)[0]

            if recorded_call is not None and not await txn.call_exists(recorded_call):
                refused.append(StoreMissingReference("call_records", recorded_call))
                return []
            if duplicate is not None and citizen_number:
                # A ticket of this caller queued in the batch is built first.  Outside the
                # refusal below: a queued build that raises is that creation's refusal, not this
                # one's; it fails the batch, replayed one operation at a time.
                await txn.settle(citizen_number)
            change: TicketChange | None = None
            try:  # the domain's decisions: a refusal writes nothing and reaches the caller
                if duplicate is not None and citizen_number:
                    change = duplicate(txn.open_tickets(citizen_number))
                if change is None:
                    await txn.create(accepted_on, citizen_number, rows)  # numbered and built later
                    return []
            except (StoreError, asyncpg.PostgresError, asyncpg.InterfaceError):
                raise
            except Exception as exc:
                refused.append(exc)
                return []
            done.append(change)
            # A duplicate: at most its links (announced in the outbox).
            known = {t.id: t.number for t in txn.open_tickets(citizen_number)}
            return [(q.INSERT_LINK_IF_NEW, _link_row(k)) for k in change.links] + [
                (q.INSERT_OUTBOX, entry.row()) for entry in ticket_event_entries(change, known)
            ]

        callers = (citizen_number,) if citizen_number else ()
        calls = (recorded_call,) if recorded_call is not None else ()
        await self._write([], "create ticket", prepare=prepare, callers=callers, calls=calls)
        if refused:
            raise refused[0]
        return done[0]

    async def save_ticket_change(self, change: TicketChange) -> CallbackRecord | None:
        """Commit one ticket operation (:class:`StoreConflict` when stale); returns its follow-up."""
        ids = await self._callback_ids(1 if change.follow_up is not None else 0)
        stmts, callback = self._change_stmts(change, ids[0] if ids else None)
        await self._write(stmts, "save ticket change")
        return callback

    async def save_ticket_changes(self, changes: Sequence[TicketChange]) -> list[StoreError | None]:
        """Commit independent ticket operations (group-committed); one result each."""
        return await self._write_many(await self._stmts_for(changes), "save ticket changes")

    async def save_ticket_changes_together(self, changes: Sequence[TicketChange]) -> None:
        """Commit several ticket operations as one (all or nothing)."""
        stmts = [s for group in await self._stmts_for(changes) for s in group]
        await self._write(stmts, "save ticket changes together")

    async def import_changes(self, changes: Sequence[TicketChange]) -> None:
        """Bulk import: the rows go in with ``COPY`` (one transaction, all or nothing)."""
        tickets: list[tuple[Any, ...]] = []
        clocks: list[tuple[Any, ...]] = []
        audit: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        rest: list[TicketChange] = []
        for change in changes:
            if change.ticket is None or change.previous_version is not None or change.follow_up is not None:
                rest.append(change)
                continue
            tickets.append(_copy_ticket(change.ticket, self.instance_id))
            clocks += [_copy_deadline(d) for d in change.deadlines]
            audit += [_transition_row(t, self._detail(t.detail)) for t in change.transitions]
            links += [(*_link_row(k)[:5], k.external) for k in change.links]
        extra = await self._stmts_for(rest)

        async def copy(conn: asyncpg.Connection) -> None:
            if tickets:
                await conn.copy_records_to_table(
                    "tickets", records=tickets, columns=[*_TICKET_COLUMNS, "centre"]
                )
            if clocks:
                await conn.copy_records_to_table("deadlines", records=clocks, columns=_DEADLINE_COLUMNS)
            if links:
                await conn.copy_records_to_table(
                    "ticket_links",
                    records=links,
                    columns=["ticket_id", "call_id", "role", "at", "actor", "external"],
                )
            if audit:
                await conn.copy_records_to_table("transitions", records=audit, columns=_TRANSITION_COLUMNS)
            for stmts in extra:
                for sql, params in sorted(stmts, key=lambda s: s[0].rank):
                    await conn.execute(sql.text, *params)

        await self._run("import tickets", copy)
        await self._refresh_statistics(
            {
                "tickets": len(tickets),
                "deadlines": len(clocks),
                "ticket_links": len(links),
                "transitions": len(audit),
            }
        )

    async def _refresh_statistics(self, imported: dict[str, int]) -> None:
        """``ANALYZE`` the tables this store's bulk imports have grown by more than half since
        their statistics were gathered (or that never had any): the planner plans the SLA
        sweep's keyed updates from them, and autovacuum only looks once a minute (until then a
        fresh million rows have none, and a keyed update of a thousand clocks scans the whole
        table).  The import is committed already: a failure here is logged, not raised."""
        for table, rows in imported.items():
            self._imported_rows[table] = self._imported_rows.get(table, 0) + rows
        try:
            # reltuples: the row count the last ANALYZE (or VACUUM) saw; -1 before any.
            known = await self._read(
                "SELECT c.relname, c.reltuples FROM pg_class c WHERE c.relkind = 'r' "
                "AND c.relname = ANY($1::text[]) AND c.relnamespace = to_regnamespace(current_schema())",
                [t for t, n in self._imported_rows.items() if n > 0],
            )
            stale = sorted(
                str(r[0]) for r in known if r[1] < 0 or self._imported_rows[str(r[0])] > float(r[1]) / 2
            )
            if stale:
                analyse = f"ANALYZE {', '.join(stale)}"
                await self._run("refresh statistics", lambda conn: conn.execute(analyse))
                for table in stale:
                    self._imported_rows[table] = 0
                self._log.debug("store.analyzed", tables=stale)
        except StoreError as exc:
            self._log.warning("store.analyze_failed", error=str(exc))

    async def add_link(self, link: TicketLink) -> None:
        """Link a call to a ticket (one link per ticket and call); announces it in the outbox."""
        numbers = await self.ticket_numbers([link.ticket_id])
        events = ticket_event_entries(TicketChange(ticket=None, links=(link,)), numbers)
        await self._write(
            [(q.INSERT_LINK, _link_row(link)), *((q.INSERT_OUTBOX, entry.row()) for entry in events)],
            "add link",
        )

    async def save_deadlines(self, clocks: Sequence[Deadline]) -> list[StoreError | None]:
        """Save clocks (version-guarded), each its own operation; one result per clock."""
        return await self._write_many([[_deadline_stmt(c)] for c in clocks], "save deadlines")

    # ---- tickets: reads ------------------------------------------------------------------------

    async def get_ticket(self, number: str) -> Ticket | None:
        """The ticket with this number."""
        rows = await self._read(f"{q.TICKET_SELECT} WHERE number = $1", number)
        return _ticket_from_row(rows[0]) if rows else None

    async def get_ticket_by_id(self, ticket_id: int) -> Ticket | None:
        """The ticket with this id."""
        rows = await self._read(f"{q.TICKET_SELECT} WHERE id = $1", ticket_id)
        return _ticket_from_row(rows[0]) if rows else None

    async def get_tickets(self, ids: Iterable[int]) -> dict[int, Ticket]:
        """Tickets by id (missing ids are absent)."""
        rows = await self._read(f"{q.TICKET_SELECT} WHERE id = ANY($1::bigint[])", sorted(set(ids)))
        return {t.id: t for t in map(_ticket_from_row, rows)}

    async def ticket_numbers(self, ids: Iterable[int]) -> dict[int, str]:
        """Ticket numbers by id (missing ids are absent)."""
        rows = await self._read(
            "SELECT id, number FROM tickets WHERE id = ANY($1::bigint[])", sorted(set(ids))
        )
        return {int(r[0]): str(r[1]) for r in rows}

    async def list_tickets(
        self,
        *,
        state: TicketState | None = None,
        open_only: bool = False,
        citizen_number: str | None = None,
        accepted_on: date | None = None,
        limit: int = 50,
        centre: str | None = None,
    ) -> list[Ticket]:
        """Newest first, filtered (``centre``: the instance that took them; None: the province)."""
        where: list[str] = []
        params: list[Any] = []

        def add(clause: str, value: Any) -> None:
            params.append(value)
            where.append(clause.replace("?", f"${len(params)}"))

        if state is not None:
            add("state = ?", state.value)
        if open_only:
            where.append("state <> 'closed'")
        if citizen_number is not None:
            add("citizen_number = ?", citizen_number)
        if accepted_on is not None:
            add("accepted_on = ?", accepted_on)
        if centre is not None:
            add("centre = ?", centre)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        params.append(limit)
        rows = await self._read(f"{q.TICKET_SELECT}{clause} ORDER BY id DESC LIMIT ${len(params)}", *params)
        return [_ticket_from_row(r) for r in rows]

    async def mark_attention(
        self, ticket_id: int, reason: str, *, at: float, callback_id: int | None = None
    ) -> None:
        """Put a ticket on the list a person looks at (one entry per ticket: the latest reason)."""
        await self._write([(q.MARK_ATTENTION, (ticket_id, reason, at, callback_id))], "mark attention")

    async def needing_attention(self, limit: int = 200) -> list[tuple[Ticket, str, float, int | None]]:
        """Open tickets a person must look at, oldest mark first."""
        rows = await self._read(
            f"SELECT {q.select_list('tickets', _TICKET_COLUMNS, 't')}, a.reason, a.at, a.callback_id "
            "FROM ticket_attention a JOIN tickets t ON t.id = a.ticket_id "
            "WHERE t.state <> 'closed' ORDER BY a.at LIMIT $1",
            limit,
        )
        n = len(_TICKET_COLUMNS)
        return [(_ticket_from_row(r), str(r[n]), float(r[n + 1]), r[n + 2]) for r in rows]

    async def caller_tickets(self, citizen_number: str, limit: int) -> list[tuple[Ticket, date | None]]:
        """A caller's latest tickets (closed ones too), newest first, each with the earliest unmet
        deadline of its current round (a screen-pop, in one read)."""
        rows = await self._read(
            f"SELECT {q.select_list('tickets', _TICKET_COLUMNS, 't')}, "
            "(SELECT min(d.due_on) FROM deadlines d WHERE d.ticket_id = t.id AND d.round = t.round "
            "AND d.met_at IS NULL) FROM tickets t WHERE t.citizen_number = $1 ORDER BY t.id DESC LIMIT $2",
            citizen_number,
            limit,
        )
        return [(_ticket_from_row(r[:-1]), r[-1]) for r in rows]

    async def open_tickets_for_caller(self, citizen_number: str) -> list[Ticket]:
        """The caller's tickets that are not closed, oldest first."""
        rows = await self._read(
            f"{q.TICKET_SELECT} WHERE citizen_number = $1 AND state <> 'closed' ORDER BY id", citizen_number
        )
        return [_ticket_from_row(r) for r in rows]

    async def deadlines(self, ticket_id: int) -> list[Deadline]:
        """Every clock of a ticket, every round."""
        rows = await self._read(f"{q.DEADLINE_SELECT} WHERE ticket_id = $1 ORDER BY round, due_at", ticket_id)
        return [_deadline_from_row(r) for r in rows]

    async def deadlines_for(self, ticket_ids: Iterable[int]) -> dict[int, list[Deadline]]:
        """Clocks of several tickets."""
        wanted = sorted(set(ticket_ids))
        found: dict[int, list[Deadline]] = {i: [] for i in wanted}
        for row in await self._read(f"{q.DEADLINE_SELECT} WHERE ticket_id = ANY($1::bigint[])", wanted):
            clock = _deadline_from_row(row)
            found[clock.ticket_id].append(clock)
        return found

    async def transitions(self, ticket_id: int) -> list[Transition]:
        """The audit trail of a ticket, oldest first."""
        rows = await self._read(
            "SELECT ticket_id, seq, at, actor, action, from_state, to_state, reason, detail::text "
            "FROM transitions WHERE ticket_id = $1 ORDER BY seq",
            ticket_id,
        )
        return [_transition_from_row(r) for r in rows]

    async def links(self, ticket_id: int) -> list[TicketLink]:
        """Calls linked to a ticket, oldest first."""
        rows = await self._read(f"{q.LINK_SELECT} WHERE ticket_id = $1 ORDER BY at", ticket_id)
        return [_link_from_row(r) for r in rows]

    async def links_for_call(self, call_id: str) -> list[TicketLink]:
        """Tickets a call is linked to."""
        rows = await self._read(f"{q.LINK_SELECT} WHERE call_id = $1 ORDER BY at", call_id)
        return [_link_from_row(r) for r in rows]

    async def _lead_sla(self) -> bool:
        """Whether this store sweeps the SLA clocks: it holds :data:`SLA_LEADER_LOCK` on a
        connection of its own (taken when free; lost with that connection)."""
        leader = self._leader
        if leader is not None and not leader.is_closed():
            return True
        if leader is not None:
            self._leader = None
            self._log.warning("sla.leadership_lost", instance=self.instance_id)
            await self._pool.release(leader)
        conn = await self._pool.acquire()
        try:
            got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", SLA_LEADER_LOCK))
        except BaseException:
            await self._pool.release(conn)
            raise
        if not got:
            await self._pool.release(conn)
            return False
        self._leader = conn
        self._log.info("sla.leader", instance=self.instance_id)
        return True

    async def due_deadlines(self, now: float, limit: int) -> list[Deadline]:
        """Clocks the SLA watcher must look at (``next_check_at <= now``), earliest first — only
        on the instance leading the sweep (the others get none)."""
        try:
            if not await self._lead_sla():
                return []
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"SLA leadership: {exc}") from exc
        rows = await self._read(
            f"{q.DEADLINE_SELECT} WHERE next_check_at <= $1 ORDER BY next_check_at LIMIT $2", now, limit
        )
        return [_deadline_from_row(r) for r in rows]

    async def provisional_deadlines(self, limit: int = 100_000) -> list[Deadline]:
        """Open clocks computed provisionally (a year no calendar knew)."""
        rows = await self._read(
            f"{q.DEADLINE_SELECT} WHERE provisional AND met_at IS NULL ORDER BY ticket_id LIMIT $1", limit
        )
        return [_deadline_from_row(r) for r in rows]

    # ---- reports -------------------------------------------------------------------------------

    async def ticket_activity(self, start: float, end: float) -> tuple[int, int, dict[str, int]]:
        """``(opened, closed, opened per classification)`` in ``[start, end)``."""
        opened = await self._read(
            "SELECT classification, count(*) FROM tickets WHERE created_at >= $1 AND created_at < $2 "
            "GROUP BY classification",
            start,
            end,
        )
        closed = await self._read(
            "SELECT count(*) FROM tickets WHERE closed_at >= $1 AND closed_at < $2", start, end
        )
        per_class = {str(r[0]): int(r[1]) for r in opened}
        return sum(per_class.values()), int(closed[0][0]), per_class

    async def deadlines_due_between(self, first_day: date, last_day: date) -> list[Deadline]:
        """Clocks whose due day is in ``[first_day, last_day]``."""
        rows = await self._read(f"{q.DEADLINE_SELECT} WHERE due_on BETWEEN $1 AND $2", first_day, last_day)
        return [_deadline_from_row(r) for r in rows]

    async def satisfaction_between(self, start: float, end: float) -> dict[str, int]:
        """Evaluations in ``[start, end)`` per satisfaction."""
        rows = await self._read(
            "SELECT detail->>'satisfaction', count(*) FROM transitions "
            "WHERE action = 'evaluate' AND at >= $1 AND at < $2 GROUP BY 1",
            start,
            end,
        )
        return {str(r[0]): int(r[1]) for r in rows if r[0] is not None}

"""The ticket tables of the store: tickets, deadlines, links, the audit trail, the attention
list and the counters ticket ids and day numbers come from.  :class:`TicketTables` is mixed into
:class:`hotline.store.Store`, which provides the writer, the reader and the callbacks table; it
implements :class:`hotline.tickets.repository.TicketRepository`.

A ticket's creation runs on the writer's thread inside the batch's transaction (``prepare``,
with a :class:`_Txn`): the duplicate rule is decided on the rows as they are then, and the id and
day number are taken from the counters, so no other process can take them.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any, TypeVar

from hotline.store.errors import StoreClosed, StoreError, StoreIntegrityError, StoreMissingReference
from hotline.store.outbox import OUTBOX_COLUMNS, ticket_event_entries
from hotline.store.records import CallbackRecord
from hotline.store.sql import _insert, _Sql, _Stmt, _translate
from hotline.tickets.model import (
    Action,
    Channel,
    Deadline,
    DeadlineKind,
    LinkRole,
    Satisfaction,
    Ticket,
    TicketChange,
    TicketLink,
    TicketState,
    TicketType,
    Transition,
)

_T = TypeVar("_T")
_DETAIL_CACHE_LIMIT = 4096


# ---- statements --------------------------------------------------------------------------------

_TICKET_COLUMNS = (
    "id number accepted_on day_seq created_at updated_at channel ticket_type classification department "
    "occurred location description current_situation request respondent citizen_name citizen_number "
    "state version round duplicate_of provisional supervision_count extension_count extension_days "
    "dispatched_at satisfaction closed_at"
).split()
_TICKET_SELECT = f"SELECT {', '.join(_TICKET_COLUMNS)} FROM tickets"
_INSERT_TICKET = _insert("tickets", _TICKET_COLUMNS, 1)
_UPDATE_TICKET = _Sql(
    "UPDATE tickets SET "
    + ", ".join(f"{c} = ?" for c in _TICKET_COLUMNS[1:])
    + " WHERE id = ? AND version = ?",
    "tickets",
    1,
    checked=True,
    key=(len(_TICKET_COLUMNS) - 1,),
)

_DEADLINE_COLUMNS = (
    "ticket_id round kind start_on working_days months extension_days due_on due_at warn_at provisional "
    "unknown_years met_at warned_at breached_at next_check_at version"
).split()
_DEADLINE_SELECT = f"SELECT {', '.join(_DEADLINE_COLUMNS)} FROM deadlines"
_INSERT_DEADLINE = _insert("deadlines", _DEADLINE_COLUMNS, 2)
_UPDATE_DEADLINE = _Sql(
    "UPDATE deadlines SET "
    + ", ".join(f"{c} = ?" for c in _DEADLINE_COLUMNS[3:])
    + " WHERE ticket_id = ? AND round = ? AND kind = ? AND version = ?",
    "deadlines",
    2,
    checked=True,
    key=(len(_DEADLINE_COLUMNS) - 3, len(_DEADLINE_COLUMNS) - 2, len(_DEADLINE_COLUMNS) - 1),
)
_INSERT_LINK = _insert("ticket_links", ("ticket_id", "call_id", "role", "at", "actor", "external"), 3)
#: A repeat call linked to the ticket it duplicates: linking the same call again changes nothing.
_INSERT_LINK_IF_NEW = _Sql(
    "INSERT INTO ticket_links (ticket_id, call_id, role, at, actor, external) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (ticket_id, call_id) DO NOTHING",
    "ticket_links",
    3,
)
_MARK_ATTENTION = _Sql(
    "INSERT INTO ticket_attention (ticket_id, reason, at, callback_id) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (ticket_id) DO UPDATE SET reason = excluded.reason, at = excluded.at, "
    "callback_id = excluded.callback_id",
    "ticket_attention",
    5,
)
#: The messages for the bus a ticket change announces, in the change's own transaction.
_INSERT_OUTBOX = _insert("outbox", OUTBOX_COLUMNS, 9)
_LINK_SELECT = "SELECT ticket_id, call_id, role, at, actor, external FROM ticket_links"
_INSERT_TRANSITION = _insert(
    "transitions",
    ("ticket_id", "seq", "at", "actor", "action", "from_state", "to_state", "reason", "detail"),
    4,
)


# ---- row conversion -------------------------------------------------------------------------


def _ticket_row(t: Ticket) -> tuple[Any, ...]:
    return (
        t.id,
        t.number,
        t.accepted_on.isoformat(),
        t.day_seq,
        t.created_at,
        t.updated_at,
        t.channel.value,
        t.ticket_type.value,
        t.classification,
        t.department,
        t.occurred,
        t.location,
        t.description,
        t.current_situation,
        t.request,
        t.respondent,
        t.citizen_name,
        t.citizen_number,
        t.state.value,
        t.version,
        t.round,
        t.duplicate_of,
        int(t.provisional),
        t.supervision_count,
        t.extension_count,
        t.extension_days,
        t.dispatched_at,
        t.satisfaction.value if t.satisfaction else None,
        t.closed_at,
    )


def _ticket_from_row(r: Sequence[Any]) -> Ticket:
    return Ticket(
        id=r[0],
        number=r[1],
        accepted_on=date.fromisoformat(r[2]),
        day_seq=r[3],
        created_at=r[4],
        updated_at=r[5],
        channel=Channel(r[6]),
        ticket_type=TicketType(r[7]),
        classification=r[8],
        department=r[9],
        occurred=r[10],
        location=r[11],
        description=r[12],
        current_situation=r[13],
        request=r[14],
        respondent=r[15],
        citizen_name=r[16],
        citizen_number=r[17],
        state=TicketState(r[18]),
        version=r[19],
        round=r[20],
        duplicate_of=r[21],
        provisional=bool(r[22]),
        supervision_count=r[23],
        extension_count=r[24],
        extension_days=r[25],
        dispatched_at=r[26],
        satisfaction=Satisfaction(r[27]) if r[27] else None,
        closed_at=r[28],
    )


def _deadline_row(d: Deadline) -> tuple[Any, ...]:
    return (
        d.ticket_id,
        d.round,
        d.kind.value,
        d.start_on.isoformat(),
        d.working_days,
        d.months,
        d.extension_days,
        d.due_on.isoformat(),
        d.due_at,
        d.warn_at,
        int(d.provisional),
        ",".join(map(str, d.unknown_years)) if d.unknown_years else "",
        d.met_at,
        d.warned_at,
        d.breached_at,
        d.next_check_at,
        d.version,
    )


def _deadline_from_row(r: Sequence[Any]) -> Deadline:
    return Deadline(
        ticket_id=r[0],
        round=r[1],
        kind=DeadlineKind(r[2]),
        start_on=date.fromisoformat(r[3]),
        working_days=r[4],
        months=r[5],
        extension_days=r[6],
        due_on=date.fromisoformat(r[7]),
        due_at=r[8],
        warn_at=r[9],
        provisional=bool(r[10]),
        unknown_years=tuple(int(y) for y in r[11].split(",") if y),
        met_at=r[12],
        warned_at=r[13],
        breached_at=r[14],
        version=r[16],
    )


def _deadline_stmt(d: Deadline) -> _Stmt:
    row = _deadline_row(d)
    if d.version == 1:
        return (_INSERT_DEADLINE, row)
    return (_UPDATE_DEADLINE, (*row[3:], d.ticket_id, d.round, d.kind.value, d.version - 1))


def _detail_json(detail: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(dict(detail), ensure_ascii=False, sort_keys=True) if detail else "{}"


def _transition_row(t: Transition, detail: str) -> tuple[Any, ...]:
    """The row of an audit entry whose details are ``detail`` (``_detail_json(t.detail)``)."""
    return (
        t.ticket_id,
        t.seq,
        t.at,
        t.actor,
        t.action.value,
        t.from_state.value if t.from_state else None,
        t.to_state.value,
        t.reason,
        detail,
    )


def _transition_from_row(r: Sequence[Any]) -> Transition:
    detail = json.loads(r[8]) if r[8] else {}
    return Transition(
        ticket_id=r[0],
        seq=r[1],
        at=r[2],
        actor=r[3],
        action=Action(r[4]),
        from_state=TicketState(r[5]) if r[5] else None,
        to_state=TicketState(r[6]),
        reason=r[7],
        detail=tuple(sorted((str(k), str(v)) for k, v in detail.items())),
    )


def _link_row(k: TicketLink) -> tuple[Any, ...]:
    return (k.ticket_id, k.call_id, k.role.value, k.at, k.actor, int(k.external))


def _link_from_row(r: Sequence[Any]) -> TicketLink:
    return TicketLink(
        ticket_id=r[0], call_id=r[1], role=LinkRole(r[2]), at=r[3], actor=r[4], external=bool(r[5])
    )


class _Txn:
    """What a transaction's ``prepare`` steps share on the writer's thread: the counters (read
    once, written back once by :meth:`flush`), the callers' open tickets, including the
    tickets created earlier in the same transaction, and which call ids have a call record."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._counters: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._open: dict[str, list[Ticket]] = {}
        self._calls: set[str] = set()  # call ids known to have a record
        self._calls_read: set[str] = set()

    def _counter(self, name: str, seed_sql: str, seed_params: tuple[Any, ...]) -> int:
        value = self._counters.get(name)
        if value is None:
            row = self.conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            if row is None:  # first use (or rows written by an older program): from the data
                row = self.conn.execute(seed_sql, seed_params).fetchone()
            value = int(row[0]) if row is not None else 0
        value += 1
        self._counters[name] = value
        self._dirty.add(name)
        return value

    def next_ticket(self, day: date) -> tuple[int, int]:
        """A fresh ``(ticket id, day sequence)``."""
        ticket_id = self._counter("ticket_id", "SELECT coalesce(max(id), 0) FROM tickets", ())
        day_seq = self._counter(
            f"day:{day.isoformat()}",
            "SELECT coalesce(max(day_seq), 0) FROM tickets WHERE accepted_on = ?",
            (day.isoformat(),),
        )
        return ticket_id, day_seq

    def load_open(self, numbers: Iterable[str]) -> None:
        """Read the open tickets of these callers (one query per 500)."""
        wanted = sorted({n for n in numbers if n and n not in self._open})
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            for number in chunk:
                self._open[number] = []
            rows = self.conn.execute(
                f"{_TICKET_SELECT} WHERE citizen_number IN ({', '.join('?' * len(chunk))}) "
                "AND state <> 'closed' ORDER BY id",
                chunk,
            ).fetchall()
            for row in rows:
                ticket = _ticket_from_row(row)
                self._open[ticket.citizen_number].append(ticket)

    def mark(self) -> tuple[dict[str, int], set[str]]:
        """The counters as they are (to :meth:`restore` when a creation is refused)."""
        return dict(self._counters), set(self._dirty)

    def restore(self, mark: tuple[dict[str, int], set[str]]) -> None:
        """Take back the numbers handed out since :meth:`mark`: a refused creation leaves no gap."""
        self._counters, self._dirty = dict(mark[0]), set(mark[1])

    def load_calls(self, call_ids: Iterable[str]) -> None:
        """Look up which of these call ids have a call record (one query per 500)."""
        wanted = sorted({c for c in call_ids if c and c not in self._calls_read})
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            self._calls_read.update(chunk)
            rows = self.conn.execute(
                f"SELECT call_id FROM call_records WHERE call_id IN ({', '.join('?' * len(chunk))})", chunk
            ).fetchall()
            self._calls.update(str(r[0]) for r in rows)

    def call_exists(self, call_id: str) -> bool:
        """Whether the call has a record in the call records."""
        self.load_calls((call_id,))
        return call_id in self._calls

    def open_tickets(self, number: str) -> list[Ticket]:
        """The caller's open tickets, oldest first."""
        self.load_open((number,))
        return list(self._open.get(number, ()))

    def created(self, ticket: Ticket) -> None:
        if ticket.citizen_number and ticket.is_open:
            self._open.setdefault(ticket.citizen_number, []).append(ticket)

    def flush(self) -> None:
        """Write the counters back (inside the transaction: a rollback takes them back too)."""
        if self._dirty:
            self.conn.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                [(name, self._counters[name]) for name in sorted(self._dirty)],
            )
            self._dirty.clear()


def _fail(waiting: dict[str, list[asyncio.Future[list[Ticket]]]], error: StoreError) -> None:
    for futures in waiting.values():
        for future in futures:
            if not future.done():
                future.set_exception(error)


class TicketTables:
    """The ticket part of :class:`hotline.store.Store` (see the module docstring)."""

    # Provided by the Store this is mixed into.
    _details: dict[tuple[tuple[str, str], ...], str]
    _caller_lookups: dict[str, list[asyncio.Future[list[Ticket]]]]
    _caller_lane: asyncio.Task[None] | None

    async def _write(
        self,
        stmts: list[_Stmt],
        what: str,
        *,
        prepare: Callable[[_Txn], list[_Stmt]] | None = None,
        callers: tuple[str, ...] = (),
        calls: tuple[str, ...] = (),
    ) -> None:
        raise NotImplementedError

    async def _write_many(self, ops: Sequence[list[_Stmt]], what: str) -> list[StoreError | None]:
        raise NotImplementedError

    async def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    async def _transaction(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        raise NotImplementedError

    def _callback_stmts(self, change: TicketChange) -> tuple[list[_Stmt], CallbackRecord | None]:
        raise NotImplementedError

    async def _load_counters(self) -> None:
        raise NotImplementedError

    # ---- tickets: writes -----------------------------------------------------------------------

    async def allocate_ticket_identities(self, day: date, count: int) -> list[tuple[int, int]]:
        """``count`` fresh ``(ticket id, day sequence)`` pairs for tickets accepted on ``day``
        (for a bulk import): reserved in a transaction of their own, so no other writer takes
        them; an import that never commits leaves them unused."""

        def reserve(conn: sqlite3.Connection) -> list[tuple[int, int]]:
            txn = _Txn(conn)
            pairs = [txn.next_ticket(day) for _ in range(count)]
            txn.flush()
            return pairs

        return await self._transaction(reserve)

    def _detail(self, detail: tuple[tuple[str, str], ...]) -> str:
        """An audit entry's details as JSON; the few usual ones (channel and type of an
        ``accept``, ...) are encoded once."""
        text = self._details.get(detail)
        if text is None:
            if len(self._details) >= _DETAIL_CACHE_LIMIT:
                self._details.clear()
            text = self._details[detail] = _detail_json(detail)
        return text

    def _change_stmts(self, change: TicketChange) -> tuple[list[_Stmt], CallbackRecord | None]:
        stmts: list[_Stmt] = []
        if change.ticket is not None:
            row = _ticket_row(change.ticket)
            if change.previous_version is None:
                stmts.append((_INSERT_TICKET, row))
            else:
                stmts.append((_UPDATE_TICKET, (*row[1:], change.ticket.id, change.previous_version)))
        stmts += [_deadline_stmt(d) for d in change.deadlines]
        stmts += [(_INSERT_LINK, _link_row(k)) for k in change.links]
        stmts += [
            (_INSERT_TRANSITION, _transition_row(t, self._detail(t.detail))) for t in change.transitions
        ]
        if change.needs_attention is not None and change.ticket is not None:
            reason, cb_id_or_none = change.needs_attention
            stmts.append(
                (_MARK_ATTENTION, (change.ticket.id, reason, change.ticket.updated_at, cb_id_or_none))
            )
        more, callback = self._callback_stmts(change)
        # The ticket events this change announces, in its own transaction (the outbox).
        more += [(_INSERT_OUTBOX, entry.row()) for entry in ticket_event_entries(change)]
        return stmts + more, callback

    async def create_ticket(
        self,
        accepted_on: date,
        build: Callable[[int, int], TicketChange],
        *,
        citizen_number: str = "",
        duplicate: Callable[[Sequence[Ticket]], TicketChange | None] | None = None,
        recorded_call: str | None = None,
    ) -> TicketChange:
        """Create a ticket in one transaction: ``recorded_call``, when given, must have a call
        record (else :class:`StoreMissingReference`, nothing written); ``duplicate(open tickets
        of citizen_number)``
        (when given; read inside the transaction, tickets created earlier in it included) may
        return the change to commit instead (e.g. a link to the existing ticket: ``ticket`` is
        ``None`` then); otherwise the database allocates an id and the day's next sequence number
        and ``build(ticket_id, day_seq)`` makes the rows (ticket, clocks, links, the ``accept``
        audit row).  Returns the change committed.  ``build`` and ``duplicate`` run on the
        writer's thread and must be pure."""
        done: list[TicketChange] = []
        refused: list[Exception] = []

        def prepare(txn: _Txn) -> list[_Stmt]:
            done.clear()
            refused.clear()
            mark = txn.mark()
            try:
                if recorded_call is not None and not txn.call_exists(recorded_call):
                    raise StoreMissingReference("call_records", recorded_call)
                change: TicketChange | None = None
                if duplicate is not None and citizen_number:
                    change = duplicate(txn.open_tickets(citizen_number))
                if change is None:
                    change = build(*txn.next_ticket(accepted_on))
            except Exception as exc:  # the domain refused: nothing is written, the caller gets it
                txn.restore(mark)
                refused.append(exc)
                return []
            done.append(change)
            if change.ticket is None:  # a duplicate: at most its links (announced in the outbox)
                numbers = {t.id: t.number for t in txn.open_tickets(citizen_number)}
                events = ticket_event_entries(change, numbers)
                return [(_INSERT_LINK_IF_NEW, _link_row(k)) for k in change.links] + [
                    (_INSERT_OUTBOX, entry.row()) for entry in events
                ]
            txn.created(change.ticket)
            return self._change_stmts(change)[0]

        callers = (citizen_number,) if duplicate is not None and citizen_number else ()
        calls = (recorded_call,) if recorded_call is not None else ()
        await self._write([], "create ticket", prepare=prepare, callers=callers, calls=calls)
        if refused:
            raise refused[0]
        return done[0]

    async def save_ticket_change(self, change: TicketChange) -> CallbackRecord | None:
        """Commit one ticket operation; raises :class:`StoreConflict` when the ticket (or a clock)
        changed since it was read.  Returns the follow-up callback it scheduled, if any."""
        for _attempt in range(3):
            stmts, callback = self._change_stmts(change)
            try:
                await self._write(stmts, "save ticket change")
            except StoreIntegrityError as exc:
                if callback is None or "callbacks.id" not in exc.detail:
                    raise
                await self._load_counters()  # another process took the callback id: renumber
                continue
            return callback
        raise StoreError("could not allocate a callback id for the follow-up (3 clashes)")

    async def save_ticket_changes(self, changes: Sequence[TicketChange]) -> list[StoreError | None]:
        """Commit independent ticket operations (group-committed); one result each."""
        return await self._write_many([self._change_stmts(c)[0] for c in changes], "save ticket changes")

    async def save_ticket_changes_together(self, changes: Sequence[TicketChange]) -> None:
        """Commit several ticket operations as one (all or nothing: a conflict in one fails all)."""
        stmts: list[_Stmt] = []
        for change in changes:
            stmts += self._change_stmts(change)[0]
        await self._write(stmts, "save ticket changes together")

    async def import_changes(self, changes: Sequence[TicketChange]) -> None:
        """Bulk import in one operation (all or nothing): ids from :meth:`allocate_ticket_identities`."""
        stmts: list[_Stmt] = []
        for change in changes:
            stmts += self._change_stmts(change)[0]
        await self._write(stmts, "import tickets")

    async def add_link(self, link: TicketLink) -> None:
        """Link a call to a ticket (one link per ticket and call); announces it in the outbox."""
        numbers = await self.ticket_numbers([link.ticket_id])
        events = ticket_event_entries(TicketChange(ticket=None, links=(link,)), numbers)
        await self._write(
            [(_INSERT_LINK, _link_row(link)), *((_INSERT_OUTBOX, entry.row()) for entry in events)],
            "add link",
        )

    async def save_deadlines(self, clocks: Sequence[Deadline]) -> list[StoreError | None]:
        """Save clocks (version-guarded), each as its own operation; one result per clock."""
        return await self._write_many([[_deadline_stmt(c)] for c in clocks], "save deadlines")

    # ---- tickets: reads ------------------------------------------------------------------------

    async def get_ticket(self, number: str) -> Ticket | None:
        """The ticket with this number."""
        rows = await self._read(f"{_TICKET_SELECT} WHERE number = ?", (number,))
        return _ticket_from_row(rows[0]) if rows else None

    async def get_ticket_by_id(self, ticket_id: int) -> Ticket | None:
        """The ticket with this id."""
        rows = await self._read(f"{_TICKET_SELECT} WHERE id = ?", (ticket_id,))
        return _ticket_from_row(rows[0]) if rows else None

    async def get_tickets(self, ids: Iterable[int]) -> dict[int, Ticket]:
        """Tickets by id (missing ids are absent)."""
        wanted = sorted(set(ids))
        found: dict[int, Ticket] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            rows = await self._read(f"{_TICKET_SELECT} WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
            for row in rows:
                ticket = _ticket_from_row(row)
                found[ticket.id] = ticket
        return found

    async def ticket_numbers(self, ids: Iterable[int]) -> dict[int, str]:
        """Ticket numbers by id (missing ids are absent)."""
        wanted = sorted(set(ids))
        found: dict[int, str] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            rows = await self._read(
                f"SELECT id, number FROM tickets WHERE id IN ({', '.join('?' * len(chunk))})", chunk
            )
            found.update((int(r[0]), str(r[1])) for r in rows)
        return found

    async def list_tickets(
        self,
        *,
        state: TicketState | None = None,
        open_only: bool = False,
        citizen_number: str | None = None,
        accepted_on: date | None = None,
        limit: int = 50,
    ) -> list[Ticket]:
        """Newest first, filtered."""
        where: list[str] = []
        params: list[Any] = []
        if state is not None:
            where.append("state = ?")
            params.append(state.value)
        if open_only:
            where.append("state <> 'closed'")
        if citizen_number is not None:
            where.append("citizen_number = ?")
            params.append(citizen_number)
        if accepted_on is not None:
            where.append("accepted_on = ?")
            params.append(accepted_on.isoformat())
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._read(f"{_TICKET_SELECT}{clause} ORDER BY id DESC LIMIT ?", (*params, limit))
        return [_ticket_from_row(r) for r in rows]

    async def mark_attention(
        self, ticket_id: int, reason: str, *, at: float, callback_id: int | None = None
    ) -> None:
        """Put a ticket on the list a person looks at (one entry per ticket: the latest reason)."""
        await self._write([(_MARK_ATTENTION, (ticket_id, reason, at, callback_id))], "mark attention")

    async def needing_attention(self, limit: int = 200) -> list[tuple[Ticket, str, float, int | None]]:
        """Open tickets a person must look at, oldest mark first: ``(ticket, reason, since,
        callback id)``."""
        rows = await self._read(
            f"SELECT {', '.join('t.' + c for c in _TICKET_COLUMNS)}, a.reason, a.at, a.callback_id "
            "FROM ticket_attention a JOIN tickets t ON t.id = a.ticket_id "
            "WHERE t.state <> 'closed' ORDER BY a.at LIMIT ?",
            (limit,),
        )
        n = len(_TICKET_COLUMNS)
        return [(_ticket_from_row(r), str(r[n]), float(r[n + 1]), r[n + 2]) for r in rows]

    async def open_tickets_for_caller(self, citizen_number: str) -> list[Ticket]:
        """The caller's tickets that are not closed (for duplicate detection and screen pops),
        oldest first.

        Lookups made at the same time share one query (one trip to the reader thread), and a
        lookup is only ever answered by a query that started after it was made: never staler than
        a read of its own.
        """
        future: asyncio.Future[list[Ticket]] = asyncio.get_running_loop().create_future()
        self._caller_lookups.setdefault(citizen_number, []).append(future)
        if self._caller_lane is None or self._caller_lane.done():
            self._caller_lane = asyncio.create_task(self._serve_caller_lookups(), name="store-caller-lookups")
        return list(await future)

    async def _serve_caller_lookups(self) -> None:
        """Answer the waiting lookups, one query per round, until none are left."""
        batch: dict[str, list[asyncio.Future[list[Ticket]]]] = {}
        try:
            while self._caller_lookups:
                batch, self._caller_lookups = self._caller_lookups, {}  # later ones: next round
                try:
                    rows = await self._read(
                        f"{_TICKET_SELECT} WHERE citizen_number IN (SELECT value FROM json_each(?)) "
                        "AND state <> 'closed' ORDER BY id",
                        (json.dumps(list(batch)),),
                    )
                except Exception as exc:  # StoreError, or the reader closed under us
                    _fail(batch, _translate(exc))
                    continue
                found: dict[str, list[Ticket]] = {}
                for row in rows:
                    ticket = _ticket_from_row(row)
                    found.setdefault(ticket.citizen_number, []).append(ticket)
                for number, futures in batch.items():
                    tickets = found.get(number, [])
                    for future in futures:
                        if not future.done():
                            future.set_result(tickets)
                batch = {}
        except BaseException:
            error = StoreClosed("store closed before the read was answered")
            _fail(batch, error)
            _fail(self._caller_lookups, error)
            self._caller_lookups = {}
            raise

    async def deadlines(self, ticket_id: int) -> list[Deadline]:
        """Every clock of a ticket, every round."""
        rows = await self._read(
            f"{_DEADLINE_SELECT} WHERE ticket_id = ? ORDER BY round, due_at", (ticket_id,)
        )
        return [_deadline_from_row(r) for r in rows]

    async def deadlines_for(self, ticket_ids: Iterable[int]) -> dict[int, list[Deadline]]:
        """Clocks of several tickets."""
        wanted = sorted(set(ticket_ids))
        found: dict[int, list[Deadline]] = {i: [] for i in wanted}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            rows = await self._read(
                f"{_DEADLINE_SELECT} WHERE ticket_id IN ({', '.join('?' * len(chunk))})", chunk
            )
            for row in rows:
                clock = _deadline_from_row(row)
                found[clock.ticket_id].append(clock)
        return found

    async def transitions(self, ticket_id: int) -> list[Transition]:
        """The audit trail of a ticket, oldest first."""
        rows = await self._read(
            "SELECT ticket_id, seq, at, actor, action, from_state, to_state, reason, detail "
            "FROM transitions WHERE ticket_id = ? ORDER BY seq",
            (ticket_id,),
        )
        return [_transition_from_row(r) for r in rows]

    async def links(self, ticket_id: int) -> list[TicketLink]:
        """Calls linked to a ticket, oldest first."""
        rows = await self._read(f"{_LINK_SELECT} WHERE ticket_id = ? ORDER BY at", (ticket_id,))
        return [_link_from_row(r) for r in rows]

    async def links_for_call(self, call_id: str) -> list[TicketLink]:
        """Tickets a call is linked to."""
        rows = await self._read(f"{_LINK_SELECT} WHERE call_id = ? ORDER BY at", (call_id,))
        return [_link_from_row(r) for r in rows]

    async def due_deadlines(self, now: float, limit: int) -> list[Deadline]:
        """Clocks the SLA watcher must look at (``next_check_at <= now``), earliest first."""
        rows = await self._read(
            f"{_DEADLINE_SELECT} WHERE next_check_at <= ? ORDER BY next_check_at LIMIT ?", (now, limit)
        )
        return [_deadline_from_row(r) for r in rows]

    async def provisional_deadlines(self, limit: int = 100_000) -> list[Deadline]:
        """Open clocks computed provisionally (a year no calendar knew)."""
        rows = await self._read(
            f"{_DEADLINE_SELECT} WHERE provisional = 1 AND met_at IS NULL ORDER BY ticket_id LIMIT ?",
            (limit,),
        )
        return [_deadline_from_row(r) for r in rows]

    # ---- reports -------------------------------------------------------------------------------

    async def ticket_activity(self, start: float, end: float) -> tuple[int, int, dict[str, int]]:
        """``(opened, closed, opened per classification)`` in ``[start, end)``."""
        opened = await self._read(
            "SELECT classification, count(*) FROM tickets WHERE created_at >= ? AND created_at < ? "
            "GROUP BY classification",
            (start, end),
        )
        closed = await self._read(
            "SELECT count(*) FROM tickets WHERE closed_at >= ? AND closed_at < ?", (start, end)
        )
        per_class = {str(r[0]): int(r[1]) for r in opened}
        return sum(per_class.values()), int(closed[0][0]), per_class

    async def deadlines_due_between(self, first_day: date, last_day: date) -> list[Deadline]:
        """Clocks whose due day is in ``[first_day, last_day]``."""
        rows = await self._read(
            f"{_DEADLINE_SELECT} WHERE due_on >= ? AND due_on <= ?",
            (first_day.isoformat(), last_day.isoformat()),
        )
        return [_deadline_from_row(r) for r in rows]

    async def satisfaction_between(self, start: float, end: float) -> dict[str, int]:
        """Evaluations (the ``evaluate`` audit rows) in ``[start, end)`` per satisfaction."""
        rows = await self._read(
            "SELECT json_extract(detail, '$.satisfaction'), count(*) FROM transitions "
            "WHERE action = 'evaluate' AND at >= ? AND at < ? GROUP BY 1",
            (start, end),
        )
        return {str(r[0]): int(r[1]) for r in rows if r[0] is not None}

    async def caller_tickets(self, citizen_number: str, limit: int) -> list[tuple[Ticket, date | None]]:
        """A caller's latest tickets (closed ones too), newest first, each with the earliest
        unmet deadline of its current round: what a screen-pop shows, in one read."""
        rows = await self._read(
            f"SELECT {', '.join('t.' + c for c in _TICKET_COLUMNS)}, "
            "(SELECT min(d.due_on) FROM deadlines d WHERE d.ticket_id = t.id AND d.round = t.round "
            "AND d.met_at IS NULL) FROM tickets t WHERE t.citizen_number = ? ORDER BY t.id DESC LIMIT ?",
            (citizen_number, limit),
        )
        return [(_ticket_from_row(r[:-1]), date.fromisoformat(r[-1]) if r[-1] else None) for r in rows]

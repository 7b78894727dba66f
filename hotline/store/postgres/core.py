"""The store on PostgreSQL (asyncpg): the same API as the SQLite store, for a province's many
instances on one database.

Opening::

    async with PgStore.open("postgresql://hotline@db:5432/hotline", instance_id="shenyang") as store:
        ...

migrates (:mod:`hotline.store.postgres.schema`, under an advisory lock), opens a connection pool
and starts the owned writer task; leaving the block drains the queued writes and closes the pool.
The password comes from the environment (``PGPASSWORD`` or ``~/.pgpass``, as libpq does); a URL
carrying one is refused, and the URL is only ever logged without it.

**Group commit.**  As in the SQLite store, every write queues an operation and awaits its commit;
the writer takes every operation queued (up to ``max_batch``) into one transaction.  There,
statements of a table run together, parents first: a table's plain inserts with ``COPY`` (from
16 rows; below, one ``INSERT ... SELECT FROM unnest(arrays)``), upserts as one pipelined
``executemany``, guarded updates of tickets and clocks as *one* ``UPDATE ... FROM
unnest(arrays)`` whose row count must equal the number of rows (else the batch is replayed one
operation at a time, in savepoints, so only the stale one fails with :class:`StoreConflict`).

**Many instances, nothing done twice.**

* Ticket ids and day numbers come from counter rows inside the creating transaction, taken
  *last*, once every creation of the batch is decided (the rows locked only while the rows go in
  and the commit flushes; no gap, no retry).  The duplicate rule is serialised per citizen: a
  creating transaction first takes its callers' advisory locks, then reads their open tickets
  (READ COMMITTED: a fresh snapshot per statement, so every ticket committed by an earlier
  holder).  See :class:`_Txn`.
* The SLA sweep runs on one instance at a time: :meth:`due_deadlines` answers only while this
  store holds the session advisory lock :data:`SLA_LEADER_LOCK` on a connection of its own; when
  the holder dies its session ends, the lock is released, and the next instance to sweep takes
  it.  Clock updates stay version-guarded, so even two sweepers could not raise a mark twice.
* A callback is dialled by the instance that holds its lease: :meth:`pending_callbacks` returns
  this instance's own open callbacks (renewing their lease) and claims unowned ones and pending
  ones whose lease ran out (``FOR UPDATE SKIP LOCKED``: two instances never claim the same row).
  A pending one is taken over only once its holder has no session left (a slow instance whose
  lease ran out keeps what it may be about to dial).  One in progress is never taken over (it
  may be on the phone through its instance's PBX; that instance settles it at its restart):
  past ``callback_orphan_s`` its ticket needs attention.
* Agents, live calls and the PBX heartbeat are kept per ``instance_id``; call records and
  tickets carry the instance (centre) that wrote them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from hotline.store.errors import (
    SchemaTooNew,
    StoreClosed,
    StoreConflict,
    StoreError,
    StoreIntegrityError,
    StoreTimeout,
)
from hotline.store.postgres import sql as q
from hotline.store.postgres.schema import MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION
from hotline.store.sql import QueuedWrite, queue_write, run_group_commits
from hotline.store.sqlite import StoreStats
from hotline.store.tickets import _ticket_from_row
from hotline.tickets.model import Ticket

_T = TypeVar("_T")
#: Session advisory lock held by the instance that sweeps the SLA clocks.
SLA_LEADER_LOCK = 0x12345_0002


def session_name(instance_id: str) -> str:
    """The ``application_name`` of an instance's sessions (how the others tell it is alive)."""
    return f"hotline:{instance_id}"


#: From this many rows of one table, a batch's plain inserts go in with ``COPY``.
_COPY_ROWS = 16
#: Callbacks one instance claims per look (the rest stay for the others).
CLAIM_BATCH = 200


class _Mismatch(Exception):
    """A guarded statement changed fewer rows than expected somewhere in a batch."""


def redact(url: str) -> str:
    """The URL as it may be logged: without a password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, "", ""))


def check_url(url: str) -> None:
    """Refuse a URL that is not PostgreSQL's or that carries a password (it belongs in the
    environment: ``PGPASSWORD``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise StoreError(f"store.url: expected postgresql://user@host:port/db, got scheme {parts.scheme!r}")
    if parts.password is not None:
        raise StoreError("store.url: a password in the URL is refused; set PGPASSWORD in the environment")
    if not parts.path.strip("/"):
        raise StoreError(f"store.url: no database name in {redact(url)}")


def _translate(exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        error: StoreError = StoreIntegrityError(str(exc))
    elif isinstance(exc, _Mismatch):
        error = StoreConflict(str(exc), "?")
    else:
        error = StoreError(f"{type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _changed(status: str) -> int:
    """Rows changed, from a command status (``UPDATE 3``)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _runs(stmts: Iterable[q.PgStmt]) -> list[tuple[q.PgSql, list[tuple[Any, ...]]]]:
    runs: list[tuple[q.PgSql, list[tuple[Any, ...]]]] = []
    for sql, params in stmts:
        if runs and runs[-1][0] is sql:
            runs[-1][1].append(params)
        else:
            runs.append((sql, [params]))
    return runs


#: The advisory-lock namespace (first key of the two-key form) of the citizens whose tickets a
#: transaction may create or link: creators of one caller's matters queue on it, nobody else does.
CALLER_LOCK_SPACE = 0x1234


#: A ticket creation's rows, once the database has allocated its ``(ticket id, day sequence)``.
Build = Callable[[int, int], Awaitable[list[q.PgStmt]]]


@dataclass(slots=True)
class _Creation:
    day: date
    caller: str
    build: Build


class _Txn:
    """What a batch's ticket creations share inside its transaction.

    The lock that serialises creators is held for as short a time as possible: :meth:`begin`
    takes only the *callers'* advisory locks (two agents, or two instances, creating for one
    citizen queue there; different citizens do not), then reads those callers' open tickets
    (READ COMMITTED: a fresh snapshot, so every ticket committed by an earlier holder) and which
    call ids have a record.  Each creation's decisions (call check, duplicate rule) are made on
    those; the creations are only queued (:meth:`create`).  :meth:`finish` then allocates every
    queued creation's numbers at once — the ``ticket_id`` and day counter rows, locked until
    commit — and builds their rows, so a counter row is held only while the rows go in and the
    commit flushes, not while the batch is decided.  A creation for a caller that already has one
    queued first settles the queue (:meth:`settle`): the duplicate rule sees it.

    ``eager`` (an operation replayed alone, in a savepoint): a creation is numbered and built at
    once, in a savepoint of its own, so a refused build gives its numbers back."""

    def __init__(self, conn: asyncpg.Connection, *, eager: bool = False) -> None:
        self.conn = conn
        self.eager = eager
        self.stmts: list[q.PgStmt] = []  # the rows of the creations built so far
        self._open: dict[str, list[Ticket]] = {}
        self._calls: set[str] = set()
        self._calls_read: set[str] = set()
        self._queued: list[_Creation] = []
        self._queued_callers: set[str] = set()

    async def begin(self, callers: Iterable[str], calls: Iterable[str] = ()) -> None:
        wanted = sorted({n for n in callers if n})
        for number in wanted:
            self._open[number] = []
        if wanted:
            # In sorted order, so two transactions never wait on each other's callers.
            await self.conn.execute(
                "SELECT pg_advisory_xact_lock($1::int, k) FROM "
                "(SELECT hashtext(n) AS k FROM unnest($2::text[]) AS n ORDER BY 1) AS keys",
                CALLER_LOCK_SPACE,
                wanted,
            )
            rows = await self.conn.fetch(
                f"{q.TICKET_SELECT} WHERE citizen_number = ANY($1::text[]) AND state <> 'closed' ORDER BY id",
                wanted,
            )
            for row in rows:
                ticket = _ticket_from_row(row)
                self._open[ticket.citizen_number].append(ticket)
        await self._load_calls(calls)

    async def _load_calls(self, call_ids: Iterable[str]) -> None:
        wanted = sorted({c for c in call_ids if c and c not in self._calls_read})
        if wanted:
            self._calls_read.update(wanted)
            rows = await self.conn.fetch(
                "SELECT call_id FROM call_records WHERE call_id = ANY($1::text[])", wanted
            )
            self._calls.update(str(r[0]) for r in rows)

    async def call_exists(self, call_id: str) -> bool:
        """Whether the call has a record (read with the batch's other calls at :meth:`begin`)."""
        await self._load_calls((call_id,))
        return call_id in self._calls

    def open_tickets(self, number: str) -> list[Ticket]:
        """The caller's open tickets, oldest first (those created earlier in the batch included,
        once :meth:`settle` has built them)."""
        return list(self._open.get(number, ()))

    def mark(self) -> dict[str, list[Ticket]]:
        """The callers' open tickets as they are now (for :meth:`restore`)."""
        return {number: list(tickets) for number, tickets in self._open.items()}

    def restore(self, mark: dict[str, list[Ticket]]) -> None:
        """Forget the tickets created since :meth:`mark` (their savepoint rolled back)."""
        self._open = mark

    def created(self, ticket: Ticket) -> None:
        if ticket.citizen_number and ticket.is_open:
            self._open.setdefault(ticket.citizen_number, []).append(ticket)

    async def settle(self, caller: str) -> None:
        """Build the queued creations now if one is for ``caller`` (so its duplicate rule sees them)."""
        if caller and caller in self._queued_callers:
            await self.finish()

    async def create(self, day: date, caller: str, build: Build) -> None:
        """A new ticket accepted on ``day``: ``build(ticket_id, day_seq)`` makes its rows."""
        if not self.eager:
            self._queued.append(_Creation(day, caller, build))
            self._queued_callers.add(caller)
            return
        async with self.conn.transaction():  # a savepoint: a refused build takes its numbers back
            ticket_id, day_seq = (await self.allocate(day, 1))[0]
            stmts = await build(ticket_id, day_seq)
        self.stmts += stmts

    async def finish(self) -> None:
        """Number and build every queued creation, in the order they were decided."""
        queued, self._queued = self._queued, []
        self._queued_callers.clear()
        if not queued:
            return
        per_day: dict[date, int] = {}
        for creation in queued:
            per_day[creation.day] = per_day.get(creation.day, 0) + 1
        ticket_id = await self._advance_ticket_id(len(queued))
        day_seqs = {day: await self._advance_day(day, n) for day, n in sorted(per_day.items())}
        for creation in queued:
            ticket_id += 1
            day_seqs[creation.day] += 1
            self.stmts += await creation.build(ticket_id, day_seqs[creation.day])

    async def allocate(self, day: date, count: int) -> list[tuple[int, int]]:
        """``count`` fresh ``(ticket id, day sequence)`` pairs (the counter rows stay locked
        until the transaction ends)."""
        first_id = await self._advance_ticket_id(count)
        first_seq = await self._advance_day(day, count)
        return [(first_id + i + 1, first_seq + i + 1) for i in range(count)]

    async def lock_ticket_id(self) -> None:
        """Lock the ``ticket_id`` counter row until the transaction ends (taking no number)."""
        await self.conn.execute("SELECT 1 FROM counters WHERE name = 'ticket_id' FOR UPDATE")

    async def _advance_ticket_id(self, count: int) -> int:
        """Take ``count`` ticket ids: returns the last id taken before them."""
        value = await self.conn.fetchval(
            "UPDATE counters SET value = greatest(value, (SELECT coalesce(max(id), 0) FROM tickets)) + $1 "
            "WHERE name = 'ticket_id' RETURNING value",
            count,
        )
        if value is None:  # pragma: no cover - the migration seeds it
            raise StoreError("counters: the ticket_id row is missing")
        return int(value) - count

    async def _advance_day(self, day: date, count: int) -> int:
        """Take ``count`` sequence numbers of ``day``: returns the last one taken before them."""
        name = f"day:{day.isoformat()}"
        value = await self.conn.fetchval(
            "UPDATE counters SET value = greatest(value, "
            "(SELECT coalesce(max(day_seq), 0) FROM tickets WHERE accepted_on = $3)) + $2 "
            "WHERE name = $1 RETURNING value",
            name,
            count,
            day,
        )
        if value is None:  # the day's first ticket: seeded from the rows (an older program's too)
            value = await self.conn.fetchval(
                "INSERT INTO counters (name, value) SELECT $1, coalesce(max(day_seq), 0) + $2 "
                "FROM tickets WHERE accepted_on = $3 "
                "ON CONFLICT (name) DO UPDATE SET value = counters.value + $2 RETURNING value",
                name,
                count,
                day,
            )
        return int(value) - count


#: A ticket creation's steps inside the transaction (its numbers and the duplicate rule depend
#: on the rows as they are then).
_Prepare = Callable[[_Txn], Awaitable[list[q.PgStmt]]]


_Op = QueuedWrite[q.PgStmt, _Prepare]


async def _run_stmts(conn: asyncpg.Connection, stmts: list[q.PgStmt], *, one_by_one: bool) -> None:
    stmts.sort(key=lambda s: s[0].rank)  # stable: arrival order within a table
    for sql, rows in _runs(stmts):
        if sql.checked and (one_by_one or not sql.bulk or len(rows) == 1):
            for row in rows:
                if _changed(await conn.execute(sql.text, *row)) != 1:
                    raise StoreConflict(sql.table, tuple(row[i] for i in sql.key))
        elif sql.checked:
            columns = [list(col) for col in zip(*rows, strict=True)]
            if _changed(await conn.execute(sql.bulk, *columns)) != len(rows):
                raise _Mismatch(sql.table)
        elif len(rows) == 1:
            await conn.execute(sql.text, *rows[0])
        elif sql.columns and len(rows) >= _COPY_ROWS:
            await conn.copy_records_to_table(sql.table, records=sql.copy_records(rows), columns=sql.columns)
        elif sql.bulk:  # one statement for all the rows: parsed, planned and sent once
            await conn.execute(sql.bulk, *[list(col) for col in zip(*rows, strict=True)])
        else:
            await conn.executemany(sql.text, rows)


class PgCore:
    """Connection pool, migrations and the group-committing writer; the tables' API is
    :class:`hotline.store.postgres.store.PgStore`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        url: str,
        *,
        instance_id: str,
        write_timeout_s: float,
        read_timeout_s: float,
        max_batch: int,
        callback_lease_s: float,
        callback_orphan_s: float = 3600.0,
    ) -> None:
        self.path = redact(url)  # what the operator's messages name
        self.instance_id = instance_id
        self._pool = pool
        self._write_timeout_s = write_timeout_s
        self._read_timeout_s = read_timeout_s
        self._max_batch = max_batch
        self._lease_s = callback_lease_s
        self._orphan_s = callback_orphan_s
        self._queue: asyncio.Queue[_Op | None] = asyncio.Queue()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._leader: asyncpg.Connection | None = None
        self._details: dict[tuple[tuple[str, str], ...], str] = {}
        self._imported_rows: dict[str, int] = {}  # per table, by bulk imports since its ANALYZE
        self.stats = StoreStats()
        self._log = structlog.get_logger("hotline.store")

    # ---- lifecycle ---------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        url: str,
        *,
        instance_id: str = "",
        write_timeout_s: float = 30.0,
        read_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        max_batch: int = 2000,
        close_timeout_s: float = 30.0,
        pool_size: int = 4,
        callback_lease_s: float = 30.0,
        callback_orphan_s: float = 3600.0,
    ) -> AsyncIterator[Self]:
        """Open (creating or upgrading the schema); the writer task lives inside the block."""
        check_url(url)
        where = redact(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max(2, pool_size),
                timeout=connect_timeout_s,
                command_timeout=None,
                # Another instance sees this one alive by its sessions (pg_stat_activity): a
                # callback it holds is never taken over while it is connected, whatever its lease.
                # JIT compiling pays off for long analytic queries, not for the store's short
                # statements: on a misestimate it adds milliseconds to each of them.
                server_settings={"application_name": session_name(instance_id), "jit": "off"},
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise StoreError(f"{where}: cannot connect ({type(exc).__name__}: {exc})") from exc
        try:
            async with pool.acquire() as conn:
                await migrate(conn, where)
            store = cls(
                pool,
                url,
                instance_id=instance_id,
                write_timeout_s=write_timeout_s,
                read_timeout_s=read_timeout_s,
                max_batch=max_batch,
                callback_lease_s=callback_lease_s,
                callback_orphan_s=callback_orphan_s,
            )
        except BaseException:
            await pool.close()
            raise
        store._task = asyncio.create_task(store._run_writer(), name="store-writer")
        store._log.debug("store.opened", url=where, schema_version=SCHEMA_VERSION, instance=instance_id)
        try:
            yield store
        finally:
            await store._close(close_timeout_s)

    async def _close(self, timeout_s: float) -> None:
        self._closing = True
        task = self._task
        try:
            if task is not None and not task.done():
                self._queue.put_nowait(None)
                try:
                    async with asyncio.timeout(timeout_s):
                        await asyncio.shield(task)
                except TimeoutError:
                    self._log.error("store.close_timeout", pending=self._queue.qsize(), timeout_s=timeout_s)
        finally:
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait([task])
            while not self._queue.empty():
                op = self._queue.get_nowait()
                if op is not None and not op.future.done():
                    op.future.set_exception(StoreClosed("store closed before the write was committed"))
            if self._leader is not None:
                with contextlib.suppress(Exception):
                    await self._pool.release(self._leader)
                self._leader = None
            try:
                async with asyncio.timeout(timeout_s):
                    await self._pool.close()
            except TimeoutError:
                self._pool.terminate()
        self._log.debug("store.closed", url=self.path, commits=self.stats.commits)

    # ---- the writer ----------------------------------------------------------------------------

    async def _run_writer(self) -> None:
        await run_group_commits(self._queue, self._max_batch, self._commit_batch)

    async def _statements(self, conn: asyncpg.Connection, ops: Sequence[_Op]) -> list[q.PgStmt]:
        stmts: list[q.PgStmt] = []
        txn: _Txn | None = None
        for op in ops:
            if op.prepare is None:
                stmts += op.stmts
                continue
            if txn is None:
                txn = _Txn(conn)
                await txn.begin((n for o in ops for n in o.callers), (c for o in ops for c in o.calls))
            stmts += await op.prepare(txn)
        if txn is not None:
            await txn.finish()
            stmts += txn.stmts
        return stmts

    async def _commit_batch(self, batch: list[_Op]) -> None:
        ops = [op for op in batch if not op.future.done()]
        if not ops:
            return
        self.stats.operations += len(ops)
        self.stats.largest_batch = max(self.stats.largest_batch, len(ops))
        results: list[StoreError | None]
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await _run_stmts(conn, await self._statements(conn, ops), one_by_one=False)
            self.stats.commits += 1
            results = [None] * len(ops)
        except asyncio.CancelledError:
            for op in ops:
                if not op.future.done():
                    op.future.set_exception(StoreClosed("store writer stopped"))
            raise
        except Exception:
            self.stats.replays += 1
            try:
                results = await self._one_by_one(ops)
            except Exception as exc:  # the database itself failed (gone, disk full, ...)
                self._log.error("store.commit_failed", error=str(exc), operations=len(ops))
                results = [_translate(exc)] * len(ops)
        for op, result in zip(ops, results, strict=True):
            if op.future.done():
                continue
            if result is None:
                op.future.set_result(None)
            else:
                op.future.set_exception(result)

    async def _one_by_one(self, ops: Sequence[_Op]) -> list[StoreError | None]:
        results: list[StoreError | None] = []
        async with self._pool.acquire() as conn, conn.transaction():
            txn: _Txn | None = None
            if any(op.prepare is not None for op in ops):
                txn = _Txn(conn, eager=True)
                await txn.begin((n for o in ops for n in o.callers), (c for o in ops for c in o.calls))
                # Before the replayed writes lock any row: a batch locks the counter row before
                # its writes (finish), so a replay locking it after them could deadlock with one.
                await txn.lock_ticket_id()
            for op in ops:
                opened = txn.mark() if txn is not None else {}
                try:
                    async with conn.transaction():  # a savepoint (its counters roll back with it)
                        if op.prepare is not None and txn is not None:
                            txn.stmts = []
                            stmts = await op.prepare(txn)
                            await _run_stmts(conn, stmts + txn.stmts, one_by_one=True)
                        else:
                            await _run_stmts(conn, list(op.stmts), one_by_one=True)
                except (asyncpg.PostgresError, StoreError) as exc:
                    if txn is not None:  # a ticket it created is gone with its savepoint
                        txn.restore(opened)
                    results.append(_translate(exc))
                else:
                    results.append(None)
        self.stats.commits += 1
        return results

    def _enqueue(
        self,
        stmts: list[q.PgStmt],
        prepare: _Prepare | None = None,
        callers: tuple[str, ...] = (),
        calls: tuple[str, ...] = (),
    ) -> asyncio.Future[None]:
        accepting = not self._closing and self._task is not None and not self._task.done()
        return queue_write(self._queue, accepting, stmts, prepare, callers, calls)

    async def _write(
        self,
        stmts: list[q.PgStmt],
        what: str,
        *,
        prepare: _Prepare | None = None,
        callers: tuple[str, ...] = (),
        calls: tuple[str, ...] = (),
    ) -> None:
        """Queue one operation and wait for its commit (at most ``write_timeout_s``)."""
        future = self._enqueue(stmts, prepare, callers, calls)
        try:
            async with asyncio.timeout(self._write_timeout_s):
                await asyncio.shield(future)
        except TimeoutError as exc:
            if not future.done():
                future.cancel()  # skipped if the writer has not started it
            raise StoreTimeout(what, self._write_timeout_s) from exc

    async def _write_many(self, ops: Sequence[list[q.PgStmt]], what: str) -> list[StoreError | None]:
        futures = [self._enqueue(stmts) for stmts in ops]
        try:
            async with asyncio.timeout(self._write_timeout_s):
                done = await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError as exc:
            raise StoreTimeout(what, self._write_timeout_s) from exc
        return [_translate(item) if isinstance(item, BaseException) else None for item in done]

    # ---- reads ---------------------------------------------------------------------------------

    async def _read(self, text: str, *params: Any) -> list[Any]:
        try:
            async with asyncio.timeout(self._read_timeout_s):
                return list(await self._pool.fetch(text, *params))
        except TimeoutError as exc:
            raise StoreTimeout("read", self._read_timeout_s) from exc
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"read failed: {exc}") from exc

    async def _run(self, what: str, fn: Callable[[asyncpg.Connection], Awaitable[_T]]) -> _T:
        """``fn(connection)`` in a transaction of its own (outside the group commit)."""
        try:
            async with asyncio.timeout(self._write_timeout_s):
                async with self._pool.acquire() as conn, conn.transaction():
                    return await fn(conn)
        except TimeoutError as exc:
            raise StoreTimeout(what, self._write_timeout_s) from exc
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            raise _translate(exc) from exc

    async def schema_version(self) -> int:
        """The highest migration applied."""
        rows = await self._read("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(rows[0][0])


async def applied_version(conn: asyncpg.Connection) -> int:
    """The highest migration applied (0: none, or not a hotline database yet)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def migrate(conn: asyncpg.Connection, where: str, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to schema ``target``; returns the version found before.

    Instances starting together take turns on an advisory lock, so each migration runs once; each
    runs in one transaction with its ``schema_migrations`` row."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        found = await applied_version(conn)
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(where, found, SCHEMA_VERSION)
        log = structlog.get_logger("hotline.store")
        for version in range(found + 1, target + 1):
            try:
                async with conn.transaction():
                    await conn.execute(MIGRATIONS[version - 1])
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            except asyncpg.PostgresError as exc:
                raise StoreError(f"{where}: migration to schema version {version} failed ({exc})") from exc
            log.info("store.migrated", url=where, from_version=version - 1, to_version=version)
        return found
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

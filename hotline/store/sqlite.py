"""The store: one SQLite file (sqlite3 and aiosqlite) — the only module of the service that speaks SQL.

Opening::

    async with Store.open(path) as store:
        ...

upgrades the schema in place (``PRAGMA user_version``, see :mod:`hotline.store.schema`), opens two
connections (a writer with foreign keys on, on a thread of its own, and a read-only reader through
aiosqlite; WAL lets them work side by side) and starts the owned writer task; leaving the block
drains the queued writes, stops the task and closes both connections.

**Group commit.**  Every write method queues an operation (a few statements) and awaits its
acknowledgement, which comes only after the transaction holding it is committed (``synchronous =
FULL`` by default: the WAL is on disk).  The writer task takes every operation queued at that moment
(up to ``max_batch``) and commits them together: statements of one table run together (plain
inserts as multi-row ``INSERT`` statements, others as one ``executemany``), tables in foreign-key
order (parents first), each table's statements in arrival order, the whole transaction in one call
on the writer's thread.  If anything in the batch fails, the batch is rolled back and replayed one
operation at a time, each in its own savepoint, so only the faulty operation gets the error.  A
write whose waiter gives up (``write_timeout_s`` -> :class:`StoreTimeout`, or cancellation) is
skipped if the writer has not started it yet, and may be committed otherwise.  ``stats`` counts
operations, commits and replays.

**Optimistic concurrency.**  Tickets and deadlines carry a ``version``; an update names the version
it read, and a row that changed meanwhile raises :class:`StoreConflict` (re-read, retry).

**Ticket numbers from the database.**  A ticket's id and its day's sequence number are taken from
counter rows (table ``counters``) inside the very transaction that inserts the ticket (``BEGIN
IMMEDIATE``: one writer at a time across processes), and the duplicate rule ("this caller already
has an open ticket for this matter") is decided in that transaction too, on the rows as they are
then.  So any number of processes can create tickets on one file: no clash, no retry, and no gap
when a transaction rolls back (the counter rolls back with it).  Callback ids are still handed
out in memory; a follow-up that meets another process's callback id is re-numbered and retried.

Public API (instants are float epoch seconds, days ``datetime.date``; the tickets' methods are
in :mod:`hotline.store.tickets`, the calls', callbacks', agents' and heartbeat's in
:mod:`hotline.store.queue_tables`, this module keeps the outbox's):

Tickets (records from :mod:`hotline.tickets.model`)
    ``create_ticket(accepted_on, build, citizen_number=, duplicate=) -> TicketChange`` —
    ``duplicate(open_tickets)`` (the caller's open tickets, read inside the transaction) returns the
    change to commit instead of a new ticket, or ``None``; then ``build(ticket_id, day_seq)`` makes
    the rows; ``save_ticket_change(change) -> CallbackRecord | None`` (the follow-up callback, when the
    change asks for one); ``save_ticket_changes(changes)`` (independent, one result each);
    ``save_ticket_changes_together(changes)`` (all or nothing); ``add_link(link)``;
    ``save_deadlines(clocks)``;
    ``allocate_ticket_identities(day, n)`` + ``import_changes(changes)`` (bulk, one commit);
    ``get_ticket(number)``, ``get_ticket_by_id(id)``, ``get_tickets(ids)``, ``ticket_numbers(ids)``,
    ``list_tickets(state=, open_only=, citizen_number=, accepted_on=, limit=)``,
    ``open_tickets_for_caller(number)``, ``deadlines(ticket_id)``, ``deadlines_for(ids)``,
    ``transitions(ticket_id)``, ``links(ticket_id)``, ``links_for_call(call_id)``,
    ``due_deadlines(now, limit)``, ``provisional_deadlines(limit)``.

Calls
    ``upsert_call(record)`` (by Linkedid), ``get_call(call_id)``, ``calls_between(start, end)``.

Callbacks
    ``create_callback(new) -> CallbackRecord``, ``get_callback(id)``, ``pending_callbacks()``
    (pending and in progress, for a restart), ``update_callback(id, status=, at=, due_at=,
    outcome=, attempt=)`` with an optional :class:`CallbackAttempt` appended to the history and
    counted in ``attempts`` when ``attempt.counted``; ``record_callback_attempt(attempt, status=,
    due_at=, outcome=)`` (the same, shorter); ``complete_callback(id, status=, outcome=, at=)``;
    ``callback_attempts(id)``.

Agents
    ``save_agent_state(state)``, ``load_agent_states()``.

Outbox (messages for the MQTT bus, :mod:`hotline.store.outbox`)
    every ticket change and ``add_link`` also store their ticket events, in the same transaction;
    ``add_outbox(entries)``, ``pending_outbox(after_seq, limit)``, ``ack_outbox(seqs)``,
    ``outbox_count()``.

Reports
    ``ticket_activity(start, end)``, ``deadlines_due_between(first_day, last_day)``,
    ``satisfaction_between(start, end)``; ``schema_version()``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import structlog

from hotline.store.errors import (
    SchemaTooNew,
    StoreClosed,
    StoreConflict,
    StoreError,
    StoreTimeout,
)
from hotline.store.outbox import (
    COUNT_OUTBOX_SQL,
    DELETE_OUTBOX_SQL,
    PENDING_OUTBOX_SQL,
    OutboxEntry,
    PendingMessage,
    pending_from_rows,
)
from hotline.store.queue_tables import _CALL_COLUMNS as _CALL_COLUMNS  # re-exported (hotline.store.postgres)
from hotline.store.queue_tables import _CALLBACK_COLUMNS as _CALLBACK_COLUMNS
from hotline.store.queue_tables import QueueTables
from hotline.store.queue_tables import _call_from_row as _call_from_row
from hotline.store.queue_tables import _call_row as _call_row
from hotline.store.queue_tables import _callback_from_row as _callback_from_row
from hotline.store.queue_tables import _callback_row as _callback_row
from hotline.store.schema import MIGRATIONS, SCHEMA_VERSION
from hotline.store.sql import QueuedWrite, _translate, queue_write, run_group_commits
from hotline.store.sql import _Sql as _Sql  # re-exported: other table modules import them from here
from hotline.store.sql import _Stmt as _Stmt
from hotline.store.tickets import _INSERT_OUTBOX, TicketTables, _Txn
from hotline.tickets.model import Ticket

_SYNCHRONOUS = {"off", "normal", "full", "extra"}
_T = TypeVar("_T")

_DELETE_OUTBOX = _Sql(DELETE_OUTBOX_SQL, "outbox", 9)


@dataclass(slots=True)
class StoreStats:
    """Counters of the writer (for benches and tests)."""

    operations: int = 0
    commits: int = 0
    replays: int = 0  # batches replayed one operation at a time after a failure
    largest_batch: int = 0


_Op = QueuedWrite[_Stmt, Callable[[_Txn], list[_Stmt]]]


class _Mismatch(Exception):
    """A checked statement changed fewer rows than expected somewhere in a batch."""


def _runs(stmts: Iterable[_Stmt]) -> list[tuple[_Sql, list[tuple[Any, ...]]]]:
    """Consecutive statements of the same kind, merged for one ``executemany`` each."""
    runs: list[tuple[_Sql, list[tuple[Any, ...]]]] = []
    for sql, params in stmts:
        if runs and runs[-1][0] is sql:
            runs[-1][1].append(params)
        else:
            runs.append((sql, [params]))
    return runs


def _op_statements(conn: sqlite3.Connection, ops: Sequence[_Op]) -> list[_Stmt]:
    """Every statement of ``ops`` (inside the open transaction: ``prepare`` steps run here)."""
    stmts: list[_Stmt] = []
    txn: _Txn | None = None
    for op in ops:
        if op.prepare is None:
            stmts += op.stmts
            continue
        if txn is None:
            txn = _Txn(conn)
            txn.load_open(n for o in ops for n in o.callers)
            txn.load_calls(c for o in ops for c in o.calls)
        stmts += op.prepare(txn)
    if txn is not None:
        txn.flush()
    return stmts


def _rank(stmt: _Stmt) -> int:
    return stmt[0].rank


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _commit_together(conn: sqlite3.Connection, ops: Sequence[_Op]) -> None:
    """One transaction (on the writer's thread): the statements of a table together, tables
    parents first, each table's statements in arrival order."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        stmts = _op_statements(conn, ops)
        stmts.sort(key=_rank)  # stable: arrival order within a table
        for sql, rows in _runs(stmts):
            if sql.many:
                _insert_rows(conn, sql, rows)
                continue
            cursor = conn.executemany(sql.text, rows)
            if sql.checked and cursor.rowcount != len(rows):
                raise _Mismatch(sql.table)
        conn.execute("COMMIT")
    except BaseException:
        _rollback_quietly(conn)
        raise


def _insert_rows(conn: sqlite3.Connection, sql: _Sql, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (in order) with multi-row statements.

    ``executemany`` steps once per row, and the sqlite3 module lets go of the GIL around every
    step: taking it back waits for the event loop's thread (up to the switch interval) whenever
    that is busy, so the writer would crawl exactly under load.  A multi-row statement binds its
    rows at once and runs them in one step."""
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // max(len(rows[0]), 1)
    done = 0
    for size, text in sql.many:
        if size > limit:
            continue
        while len(rows) - done >= size:
            conn.execute(text, [value for row in rows[done : done + size] for value in row])
            done += size
    if done < len(rows):
        conn.executemany(sql.text, rows[done:])


def _commit_one_by_one(conn: sqlite3.Connection, ops: Sequence[_Op]) -> list[StoreError | None]:
    """One transaction (on the writer's thread), each operation in its own savepoint: one
    result per operation (``None``: committed)."""
    results: list[StoreError | None] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for op in ops:
            conn.execute("SAVEPOINT op")
            try:
                stmts = sorted(_op_statements(conn, [op]), key=_rank)
                for sql, params in stmts:
                    cursor = conn.execute(sql.text, params)
                    if sql.checked and cursor.rowcount != 1:
                        raise StoreConflict(sql.table, tuple(params[i] for i in sql.key))
            except (sqlite3.Error, StoreConflict) as exc:
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                results.append(_translate(exc))
            else:
                conn.execute("RELEASE op")
                results.append(None)
        conn.execute("COMMIT")
    except BaseException:
        _rollback_quietly(conn)
        raise
    return results


def _open_problem(exc: sqlite3.Error) -> str:
    """What an error opening the database means, for the one line an operator reads."""
    text = str(exc)
    if "not a database" in text:
        return "not an SQLite database (file is not a database)"
    if "locked" in text or "busy" in text:
        return f"locked by another process past the busy timeout ({text})"
    if "readonly" in text or "unable to open" in text:
        return (
            f"cannot open for writing ({text}); check the owner and permissions of the file and its directory"
        )
    return f"cannot open ({text})"


def _connect_writer(path: Path, busy_timeout_ms: int, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=256)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise StoreError(f"{path}: cannot switch to WAL journal mode (got {row})")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


class _Writer:
    """The writer's connection (plain :mod:`sqlite3`) on a thread of its own, where a whole
    transaction runs as one call: one trip from the event loop per batch, not one per statement
    (each trip waits for the loop's turn, which under load costs more than the statements)."""

    def __init__(self, pool: ThreadPoolExecutor, conn: sqlite3.Connection) -> None:
        self._pool = pool
        self._conn = conn

    @classmethod
    async def connect(cls, path: Path, busy_timeout_ms: int, synchronous: str) -> _Writer:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(
                pool, _connect_writer, path, busy_timeout_ms, synchronous
            )
        except BaseException as exc:
            pool.shutdown(wait=False)
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{path}: {_open_problem(exc)}") from exc
            raise
        return cls(pool, conn)

    async def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``fn(connection)`` on the writer's thread (calls run one at a time, in order)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, self._conn)

    async def close(self) -> None:
        """Close after the calls already handed over."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._conn.close)
        finally:
            self._pool.shutdown(wait=False)


class Store(QueueTables, TicketTables):
    """The hotline's SQLite database (see the module docstring for the API; the queue tables'
    methods come from :class:`~hotline.store.queue_tables.QueueTables`, the ticket tables' from
    :class:`~hotline.store.tickets.TicketTables`).

    ``QueueTables`` comes first: its ``_callback_stmts`` and ``_load_counters`` are the ones
    ``TicketTables`` declares as hooks."""

    def __init__(
        self,
        path: Path,
        writer: _Writer,
        reader: aiosqlite.Connection,
        *,
        write_timeout_s: float,
        read_timeout_s: float,
        max_batch: int,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_timeout_s = write_timeout_s
        self._read_timeout_s = read_timeout_s
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Op | None] = asyncio.Queue()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._next_callback_id = 0
        # Callers' open tickets asked for meanwhile, served together by the next query.
        self._caller_lookups: dict[str, list[asyncio.Future[list[Ticket]]]] = {}
        self._caller_lane: asyncio.Task[None] | None = None
        self._details: dict[tuple[tuple[str, str], ...], str] = {}  # audit details as JSON
        # Writes being waited for, oldest first: (give up at, future, what); one timer for all.
        self._waits: collections.deque[tuple[float, asyncio.Future[None], str]] = collections.deque()
        self._wait_timer: asyncio.TimerHandle | None = None
        self.stats = StoreStats()
        self._log = structlog.get_logger("hotline.store")

    # ---- lifecycle ---------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        path: Path | str,
        *,
        synchronous: str = "full",
        busy_timeout_ms: int = 5000,
        write_timeout_s: float = 30.0,
        read_timeout_s: float = 30.0,
        max_batch: int = 2000,
        close_timeout_s: float = 30.0,
    ) -> AsyncIterator[Store]:
        """Open (creating or upgrading) the database; the writer task lives inside the block."""
        if synchronous not in _SYNCHRONOUS:
            raise StoreError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}, got {synchronous!r}")
        db_path = Path(path)
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{db_path.parent}: cannot create directory ({exc.strerror})") from exc
        migrator = await cls._connect(db_path, busy_timeout_ms)
        try:
            await migrator.execute("PRAGMA foreign_keys = ON")
            await migrate(migrator, str(db_path))
        finally:
            await migrator.close()
        writer = await _Writer.connect(db_path, busy_timeout_ms, synchronous)
        reader: aiosqlite.Connection | None = None
        try:
            reader = await cls._connect(db_path, busy_timeout_ms)
            await reader.execute("PRAGMA query_only = ON")
            store = cls(
                db_path,
                writer,
                reader,
                write_timeout_s=write_timeout_s,
                read_timeout_s=read_timeout_s,
                max_batch=max_batch,
            )
            await store._load_counters()
        except BaseException:
            if reader is not None:
                await reader.close()
            await writer.close()
            raise
        store._task = asyncio.create_task(store._run_writer(), name="store-writer")
        store._log.debug("store.opened", path=str(db_path), schema_version=SCHEMA_VERSION)
        try:
            yield store
        finally:
            await store._close(close_timeout_s)

    @staticmethod
    async def _connect(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
        try:
            # A plain open first: when aiosqlite's own open fails, its thread outlives the event
            # loop and prints a traceback at exit.
            await asyncio.to_thread(lambda: sqlite3.connect(path).close())
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: {_open_problem(exc)}") from exc
        try:
            # The busy timeout first: switching to WAL needs the lock another process may hold.
            await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor = await conn.execute("PRAGMA journal_mode = WAL")
            row = await cursor.fetchone()
            if row is None or str(row[0]).lower() != "wal":
                raise StoreError(f"{path}: cannot switch to WAL journal mode (got {row})")
        except BaseException as exc:
            # Close it, or its (non-daemon) thread keeps the process alive after the error.
            await conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{path}: {_open_problem(exc)}") from exc
            raise
        return conn

    async def _close(self, timeout_s: float) -> None:
        self._closing = True
        task = self._task
        try:
            if task is not None and not task.done():
                self._queue.put_nowait(None)  # after every queued write: they are committed first
                try:
                    async with asyncio.timeout(timeout_s):
                        await asyncio.shield(task)
                except TimeoutError:
                    self._log.error("store.close_timeout", pending=self._queue.qsize(), timeout_s=timeout_s)
        finally:
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait([task])  # does not swallow our own cancellation
            while not self._queue.empty():
                op = self._queue.get_nowait()
                if op is not None and not op.future.done():
                    op.future.set_exception(StoreClosed("store closed before the write was committed"))
            if self._wait_timer is not None:
                self._wait_timer.cancel()
                self._wait_timer = None
            lane = self._caller_lane
            if lane is not None and not lane.done():
                await asyncio.wait([lane])  # lookups already asked for are answered (reads are bounded)
            await self._reader.close()
            await self._writer.close()
        self._log.debug("store.closed", path=str(self.path), commits=self.stats.commits)

    # ---- the writer ----------------------------------------------------------------------------

    async def _run_writer(self) -> None:
        await run_group_commits(self._queue, self._max_batch, self._commit_batch)

    async def _commit_batch(self, batch: list[_Op]) -> None:
        ops = [op for op in batch if not op.future.done()]
        if not ops:
            return
        self.stats.operations += len(ops)
        self.stats.largest_batch = max(self.stats.largest_batch, len(ops))
        results: list[StoreError | None]
        try:
            await self._run_fast(ops)
            results = [None] * len(ops)
        except asyncio.CancelledError:
            for op in ops:
                if not op.future.done():
                    op.future.set_exception(StoreClosed("store writer stopped"))
            raise
        except Exception:
            # Something in the batch failed: replay it one operation at a time so only the
            # faulty one gets the error.
            self.stats.replays += 1
            try:
                results = await self._run_one_by_one(ops)
            except Exception as exc:  # the database itself failed (disk full, I/O error, ...)
                self._log.error("store.commit_failed", error=str(exc), operations=len(ops))
                results = [_translate(exc)] * len(ops)
        for op, result in zip(ops, results, strict=True):
            if op.future.done():
                continue
            if result is None:
                op.future.set_result(None)
            else:
                op.future.set_exception(result)

    async def _run_fast(self, ops: list[_Op]) -> None:
        await self._writer.run(lambda conn: _commit_together(conn, ops))
        self.stats.commits += 1

    async def _run_one_by_one(self, ops: list[_Op]) -> list[StoreError | None]:
        results = await self._writer.run(lambda conn: _commit_one_by_one(conn, ops))
        self.stats.commits += 1
        return results

    def _enqueue(
        self,
        stmts: list[_Stmt],
        prepare: Callable[[_Txn], list[_Stmt]] | None = None,
        callers: tuple[str, ...] = (),
        calls: tuple[str, ...] = (),
    ) -> asyncio.Future[None]:
        accepting = not self._closing and self._task is not None and not self._task.done()
        return queue_write(self._queue, accepting, stmts, prepare, callers, calls)

    async def _write(
        self,
        stmts: list[_Stmt],
        what: str,
        *,
        prepare: Callable[[_Txn], list[_Stmt]] | None = None,
        callers: tuple[str, ...] = (),
        calls: tuple[str, ...] = (),
    ) -> None:
        """Queue one operation and wait until it is committed (at most ``write_timeout_s``:
        :class:`StoreTimeout`).  A write given up on (timeout, cancellation) is skipped if the
        writer has not started it yet."""
        future = self._enqueue(stmts, prepare, callers, calls)
        self._watch(future, what)
        await future

    def _watch(self, future: asyncio.Future[None], what: str) -> None:
        """Fail ``future`` with :class:`StoreTimeout` unless it is done within ``write_timeout_s``.

        Every write waits equally long, so give-up times come in queue order: one timer, set for
        the oldest write still waited for, serves them all (a timer per write costs more than
        the rest of the wait)."""
        loop = asyncio.get_running_loop()
        waits = self._waits
        while waits and waits[0][1].done():
            waits.popleft()
        waits.append((loop.time() + self._write_timeout_s, future, what))
        if self._wait_timer is None:
            self._wait_timer = loop.call_at(waits[0][0], self._expire_writes, waits[0][0])

    def _expire_writes(self, due: float) -> None:
        """The timer: fail the writes due by ``due`` that are not done, then wait for the next."""
        self._wait_timer = None
        waits = self._waits
        while waits and (waits[0][0] <= due or waits[0][1].done()):
            _, future, what = waits.popleft()
            if not future.done():
                future.set_exception(StoreTimeout(what, self._write_timeout_s))
        if waits:
            when = waits[0][0]
            self._wait_timer = asyncio.get_running_loop().call_at(when, self._expire_writes, when)

    async def _write_many(self, ops: Sequence[list[_Stmt]], what: str) -> list[StoreError | None]:
        """Queue several independent operations; each gets its own result (None = committed)."""
        futures = [self._enqueue(stmts) for stmts in ops]
        try:
            async with asyncio.timeout(self._write_timeout_s):
                done = await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError as exc:
            raise StoreTimeout(what, self._write_timeout_s) from exc
        results: list[StoreError | None] = []
        for item in done:
            if item is None:
                results.append(None)
            elif isinstance(item, BaseException):
                results.append(_translate(item))
            else:  # pragma: no cover - futures resolve to None
                results.append(None)
        return results

    # ---- reads ---------------------------------------------------------------------------------

    async def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            async with asyncio.timeout(self._read_timeout_s):
                rows = await self._reader.execute_fetchall(sql, params)  # one trip to the thread
        except TimeoutError as exc:
            raise StoreTimeout("read", self._read_timeout_s) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"read failed: {exc}") from exc
        return list(rows)

    async def schema_version(self) -> int:
        """The file's ``PRAGMA user_version``."""
        rows = await self._read("PRAGMA user_version", ())
        return int(rows[0][0])

    # ---- the ticket tables' hooks ---------------------------------------------------------------

    async def _transaction(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """``fn(connection)`` in a transaction of its own on the writer's thread (after the writes
        already handed over)."""

        def run(conn: sqlite3.Connection) -> _T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                _rollback_quietly(conn)
                raise
            return result

        try:
            return await self._writer.run(run)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    # ---- the outbox (hotline.store.outbox) -----------------------------------------------------

    async def add_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        """Store messages for the bus on their own (e.g. an escalation alert)."""
        await self._write([(_INSERT_OUTBOX, entry.row()) for entry in entries], "add outbox")

    async def pending_outbox(self, after_seq: int = 0, limit: int = 100) -> list[PendingMessage]:
        """Outbox messages not yet acknowledged, oldest first, after ``after_seq``."""
        return pending_from_rows(await self._read(PENDING_OUTBOX_SQL, (after_seq, limit)))

    async def ack_outbox(self, seqs: Sequence[int]) -> None:
        """Forget messages the broker acknowledged."""
        if seqs:
            await self._write([(_DELETE_OUTBOX, (seq,)) for seq in seqs], "ack outbox")

    async def outbox_count(self) -> int:
        """How many messages wait for the broker."""
        return int((await self._read(COUNT_OUTBOX_SQL, ()))[0][0])


async def migrate(conn: aiosqlite.Connection, path: str, target: int = SCHEMA_VERSION) -> int:
    """Bring the database to schema ``target`` in place; returns the version found before.

    Each migration runs in one transaction with its ``user_version`` update.
    """
    cursor = await conn.execute("PRAGMA user_version")
    row = await cursor.fetchone()
    found = int(row[0]) if row else 0
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(path, found, SCHEMA_VERSION)
    log = structlog.get_logger("hotline.store")
    for version in range(found + 1, target + 1):
        script = MIGRATIONS[version - 1]
        try:
            await conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("ROLLBACK")
            raise StoreError(f"{path}: migration to schema version {version} failed ({exc})") from exc
        log.info("store.migrated", path=path, from_version=version - 1, to_version=version)
    return found

"""The statement kinds the store's writer batches (shared by its table modules)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hotline.store.errors import StoreClosed, StoreError, StoreIntegrityError


@dataclass(frozen=True, slots=True)
class _Sql:
    """One statement kind: its text, the table's rank in the commit order, and whether every
    parameter row must change exactly one row (``key`` = parameter positions naming it).

    A plain ``INSERT`` also has ``many``: its text for several rows at once (``(rows, text)``,
    largest first)."""

    text: str
    table: str
    rank: int
    checked: bool = False
    key: tuple[int, ...] = ()
    many: tuple[tuple[int, str], ...] = ()


_Stmt = tuple[_Sql, tuple[Any, ...]]

#: Rows per multi-row INSERT: a few fixed sizes, so their statements stay prepared.
_MANY_ROWS = (256, 128, 64, 32, 16, 8, 4, 2)


def _insert(table: str, columns: Sequence[str], rank: int) -> _Sql:
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    values = f"({', '.join('?' * len(columns))})"
    many = tuple((n, head + ", ".join([values] * n)) for n in _MANY_ROWS)
    return _Sql(head + values, table, rank, many=many)


def _translate(exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, sqlite3.IntegrityError):
        error: StoreError = StoreIntegrityError(str(exc))
    elif isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        error = StoreError(f"the database is locked by another process past store.busy_timeout_ms ({exc})")
    else:
        error = StoreError(f"{type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


_W = TypeVar("_W")
_S = TypeVar("_S")
_P = TypeVar("_P")


@dataclass(slots=True)
class QueuedWrite(Generic[_S, _P]):
    """One write waiting for the group-committing writer (SQLite and PostgreSQL: each with its
    own statement type ``_S`` and ``prepare`` step ``_P``)."""

    stmts: list[_S]
    future: asyncio.Future[None]
    # Statements made inside the transaction (a ticket's creation: its numbers and the
    # duplicate rule depend on the rows as they are then).
    prepare: _P | None = None
    callers: tuple[str, ...] = ()  # citizen numbers whose open tickets ``prepare`` looks at
    calls: tuple[str, ...] = ()  # call ids whose records ``prepare`` looks for


def queue_write(
    queue: asyncio.Queue[QueuedWrite[_S, _P] | None],
    accepting: bool,
    stmts: list[_S],
    prepare: _P | None,
    callers: tuple[str, ...],
    calls: tuple[str, ...],
) -> asyncio.Future[None]:
    """Queue one write for the writer (``accepting``: the store is open and its writer runs);
    the future is done once it is committed."""
    if not accepting:
        raise StoreClosed("the store is closed")
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    queue.put_nowait(QueuedWrite(stmts, future, prepare, callers, calls))
    return future


async def run_group_commits(
    queue: asyncio.Queue[_W | None], max_batch: int, commit: Callable[[list[_W]], Awaitable[None]]
) -> None:
    """The store's writer loop (SQLite and PostgreSQL): commit whatever has queued up, up to
    ``max_batch`` writes at a time, in order; ``None`` (queued after every write at close)
    stops it once what came before is committed."""
    while True:
        first = await queue.get()
        if first is None:
            return
        batch = [first]
        stop = False
        while len(batch) < max_batch:
            try:
                nxt = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if nxt is None:
                stop = True
                break
            batch.append(nxt)
        await commit(batch)
        if stop:
            return

"""The statement kinds the store's writer batches (shared by its table modules)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hotline.store.errors import StoreError, StoreIntegrityError


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

"""Errors of the store boundary.  Each carries facts (table, key, versions), and the sqlite3
exception that caused it is chained with ``from``.  They implement the errors the ticket domain
declares for its repository (:mod:`hotline.tickets.repository`)."""

from __future__ import annotations

from hotline.tickets.repository import (
    MissingReference,
    RepositoryConflict,
    RepositoryConstraint,
    RepositoryError,
)


class StoreError(RepositoryError):
    """Base class: the database could not do what was asked."""


class StoreClosed(StoreError):
    """The store is closed (or closing): no more writes are accepted."""


class StoreTimeout(StoreError):
    """A read or the acknowledgement of a write took longer than configured.

    For a write the outcome is unknown: it may still be committed.
    """

    def __init__(self, operation: str, timeout_s: float) -> None:
        super().__init__(f"{operation}: no answer within {timeout_s:g} s")
        self.operation = operation
        self.timeout_s = timeout_s


class StoreConflict(StoreError, RepositoryConflict):
    """A guarded write found the row missing or changed since it was read (optimistic version
    check): re-read and try again."""

    def __init__(self, table: str, key: object) -> None:
        super().__init__(f"{table} {key}: missing or changed concurrently")
        self.table = table
        self.key = key


class StoreIntegrityError(StoreError, RepositoryConstraint):
    """A constraint refused the write (duplicate key, missing parent row, ...)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"constraint violated: {detail}")
        self.detail = detail


class StoreMissingReference(StoreError, MissingReference):
    """A row the write refers to does not exist (e.g. the call record of a ticket's call)."""

    def __init__(self, table: str, key: object) -> None:
        super().__init__(f"{table} {key}: no such row")
        self.table = table
        self.key = key


class SchemaTooNew(StoreError):
    """The database file was written by a newer program (its schema version is unknown here)."""

    def __init__(self, path: str, found: int, supported: int) -> None:
        super().__init__(f"{path}: schema version {found} is newer than this program's {supported}")
        self.path = path
        self.found = found
        self.supported = supported

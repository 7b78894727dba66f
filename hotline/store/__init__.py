"""Persistence: the one SQLite file of the service (see :mod:`hotline.store.sqlite` for the API)."""

from hotline.store.errors import (
    SchemaTooNew,
    StoreClosed,
    StoreConflict,
    StoreError,
    StoreIntegrityError,
    StoreTimeout,
)
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
from hotline.store.sqlite import Store, StoreStats

__all__ = [
    "CallOutcome",
    "CallRecord",
    "CallbackAttempt",
    "CallbackKind",
    "CallbackRecord",
    "CallbackStatus",
    "NewCallback",
    "SchemaTooNew",
    "Store",
    "StoreClosed",
    "StoreConflict",
    "StoreError",
    "StoreIntegrityError",
    "StoreStats",
    "StoreTimeout",
    "StoredAgentState",
]

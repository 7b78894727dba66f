"""Which store the configuration names: the SQLite file (default) or PostgreSQL (``[store] url``)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from hotline.settings import StoreSettings
from hotline.store.postgres import PgStore, redact
from hotline.store.sqlite import Store

#: Either store: they have the same API.
AnyStore = Store | PgStore


def describe(settings: StoreSettings) -> str:
    """The store as it may be logged (a URL without any password, or the SQLite path)."""
    return redact(settings.url) if settings.is_postgresql else settings.sqlite_path


def open_store(settings: StoreSettings) -> AbstractAsyncContextManager[AnyStore]:
    """The configured store, opened (and migrated) for the block."""
    if settings.is_postgresql:
        return PgStore.open(
            settings.url,
            instance_id=settings.instance_id,
            write_timeout_s=settings.write_timeout_s,
            read_timeout_s=settings.read_timeout_s,
            max_batch=settings.max_batch,
            pool_size=settings.pool_size,
            callback_lease_s=settings.callback_lease_s,
        )
    return Store.open(
        settings.sqlite_path,
        synchronous=settings.synchronous,
        busy_timeout_ms=settings.busy_timeout_ms,
        write_timeout_s=settings.write_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        max_batch=settings.max_batch,
    )

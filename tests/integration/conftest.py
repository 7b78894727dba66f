"""Fixtures shared by the integration suites: one store fixture parametrised over both stores.

``open_store(path, **options)`` opens the SQLite file at ``path``, or — in the ``postgresql``
run — a database of its own on a private PostgreSQL server the session starts
(:mod:`tests.postgres`); the same ``path`` reopens the same database (a restart).  Options only
SQLite has (``synchronous``, ``busy_timeout_ms``) are dropped for PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from hotline.store import Store
from hotline.store.factory import AnyStore
from hotline.store.postgres import PgStore
from tests.postgres import PrivatePostgres, private_postgres

OpenStore = Callable[..., AbstractAsyncContextManager[AnyStore]]
_SQLITE_ONLY = ("synchronous", "busy_timeout_ms")
_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL for the session (never a server already running here)."""
    with private_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(store_kind: str, request: pytest.FixtureRequest) -> OpenStore:
    if store_kind == "sqlite":
        return Store.open
    server: PrivatePostgres = request.getfixturevalue("postgres_server")
    urls: dict[str, str] = {}

    def open_pg(path: Path | str, **options: Any) -> AbstractAsyncContextManager[AnyStore]:
        url = urls.get(str(path))
        if url is None:
            url = urls[str(path)] = server.create_database(f"t{next(_names)}")
        for name in _SQLITE_ONLY:
            options.pop(name, None)
        return PgStore.open(url, **options)

    return open_pg

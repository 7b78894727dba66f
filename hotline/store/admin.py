"""``hotline db migrate`` / ``hotline db status``: the schema of the configured store, either kind.

``status`` only reads (a SQLite file that does not exist is reported, not created); ``migrate``
applies the missing migrations and prints what it did.  Exit codes: 0 up to date, 1 migrations
pending (``status``), 2 the store cannot be reached or is newer than this program.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg

from hotline.log import configure_logging
from hotline.settings import Settings, StoreSettings
from hotline.store import schema as sqlite_schema
from hotline.store.errors import StoreError
from hotline.store.factory import describe
from hotline.store.postgres import check_url, redact
from hotline.store.postgres import core as pg
from hotline.store.postgres import schema as pg_schema
from hotline.store.sqlite import migrate as migrate_sqlite

EXIT_PENDING = 1
EXIT_FAILED = 2


def _sqlite_version(path: Path) -> int | None:
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot read ({exc})") from exc
    return int(row[0])


async def _pg_connect(s: StoreSettings) -> Any:
    check_url(s.url)
    try:
        async with asyncio.timeout(s.read_timeout_s):
            return await asyncpg.connect(s.url)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise StoreError(f"{redact(s.url)}: cannot connect ({type(exc).__name__}: {exc})") from exc


async def schema_status(s: StoreSettings) -> tuple[int | None, int]:
    """``(version found or None when there is no database yet, version of this program)``."""
    if not s.is_postgresql:
        return _sqlite_version(Path(s.sqlite_path)), sqlite_schema.SCHEMA_VERSION
    conn = await _pg_connect(s)
    try:
        return await pg.applied_version(conn), pg_schema.SCHEMA_VERSION
    finally:
        await conn.close()


async def migrate_store(s: StoreSettings) -> tuple[int, int]:
    """Apply the missing migrations: ``(version before, version after)``."""
    if not s.is_postgresql:
        path = Path(s.sqlite_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(path, isolation_level=None) as conn:
            await conn.execute("PRAGMA foreign_keys = ON")
            return await migrate_sqlite(conn, str(path)), sqlite_schema.SCHEMA_VERSION
    conn = await _pg_connect(s)
    try:
        return await pg.migrate(conn, redact(s.url)), pg_schema.SCHEMA_VERSION
    finally:
        await conn.close()


def _status(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(settings.log.level, stream=sys.stderr)
    try:
        found, supported = asyncio.run(schema_status(settings.store))
    except StoreError as exc:
        print(f"hotline db: {exc}", file=sys.stderr)
        return EXIT_FAILED
    kind = "postgresql" if settings.store.is_postgresql else "sqlite"
    print(f"store: {kind} {describe(settings.store)}")
    if found is None:
        print(f"schema: no database yet ({supported} migrations to apply)")
        return EXIT_PENDING
    if found > supported:
        print(f"schema: version {found} is newer than this program's {supported}")
        return EXIT_FAILED
    pending = supported - found
    print(
        f"schema: version {found} of {supported}" + (f" ({pending} pending)" if pending else " (up to date)")
    )
    return EXIT_PENDING if pending else 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(settings.log.level, stream=sys.stderr)
    try:
        before, after = asyncio.run(migrate_store(settings.store))
    except StoreError as exc:
        print(f"hotline db: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"store: {describe(settings.store)}")
    print(
        f"schema: version {before} -> {after}" if before != after else f"schema: version {after} (up to date)"
    )
    return 0


def register(subparsers: Any) -> None:
    """Add ``db migrate`` and ``db status`` to the ``hotline`` command."""
    db = subparsers.add_parser("db", help="the store's schema: status, migrate (SQLite or PostgreSQL)")
    sub = db.add_subparsers(dest="db_command", required=True)
    sub.add_parser("status", help="the schema version found and this program's").set_defaults(func=_status)
    sub.add_parser("migrate", help="apply the missing migrations").set_defaults(func=_migrate)

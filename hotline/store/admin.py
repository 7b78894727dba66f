"""The schema of the configured store, either kind: the version found, and the missing
migrations applied (the logic of ``hotline db status|migrate``, whose output and exit codes are
in :mod:`hotline.db_cli`; nothing here prints).

:func:`schema_status` only reads (a SQLite file that does not exist is reported as ``None``, not
created); :func:`migrate_store` applies the missing migrations.  Both raise :class:`StoreError`
when the store cannot be reached.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg

from hotline.settings import StoreSettings
from hotline.store import schema as sqlite_schema
from hotline.store.errors import StoreError
from hotline.store.postgres import check_url, redact
from hotline.store.postgres import core as pg
from hotline.store.postgres import schema as pg_schema
from hotline.store.sqlite import migrate as migrate_sqlite


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

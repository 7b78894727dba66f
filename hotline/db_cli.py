"""``hotline db migrate`` / ``hotline db status``: the schema of the configured store, either kind.

``status`` only reads (a SQLite file that does not exist is reported, not created); ``migrate``
applies the missing migrations and prints what it did.  Exit codes: 0 up to date, 1 migrations
pending (``status``), 2 the store cannot be reached or is newer than this program.  The work is
done by :mod:`hotline.store.admin`; this module prints what it found.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from hotline.log import configure_logging
from hotline.settings import Settings
from hotline.store.admin import migrate_store, schema_status
from hotline.store.errors import StoreError
from hotline.store.factory import describe

EXIT_PENDING = 1
EXIT_FAILED = 2


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

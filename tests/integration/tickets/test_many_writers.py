"""Many processes create tickets on one database at once (issue 9, "many writers, one truth"): 8
processes x 500 tickets, half of them for the same 50 matters.  Ticket numbers come from the
database inside the creating transaction and the duplicate rule is decided there too.  On one
SQLite file, and on one private PostgreSQL (8 instances of a province)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.integration.tickets.conftest import ROOT
from tests.integration.tickets.many_writers_worker import MATTERS, matter_number
from tests.postgres import PrivatePostgres

WORKERS = 8
PER_WORKER = 500


def _rows(db: str, query: str) -> list[tuple[Any, ...]]:
    if not db.startswith("postgresql"):
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return conn.execute(query).fetchall()

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(db)
        try:
            return [tuple(r) for r in await conn.fetch(query)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def test_eight_processes_one_database(
    tmp_path: Path, store_kind: str, request: pytest.FixtureRequest
) -> None:
    if store_kind == "postgresql":
        server: PrivatePostgres = request.getfixturevalue("postgres_server")
        db = server.create_database("many_writers")
    else:
        db = str(tmp_path / "h.db")
        # Create the file first so every worker opens an existing schema (they also race on that).
        subprocess.run(
            [sys.executable, "-m", "tests.integration.tickets.many_writers_worker", db, "99", "0"],
            cwd=ROOT,
            check=True,
            timeout=60,
        )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.tickets.many_writers_worker",
                db,
                str(w),
                str(PER_WORKER),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    results: list[dict[str, str]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        results += [json.loads(line) for line in out.splitlines()]
    assert len(results) == WORKERS * PER_WORKER  # 0 errors: every request answered

    rows = _rows(db, "SELECT id, number, accepted_on, day_seq, citizen_number FROM tickets")
    # Numbers unique and contiguous per day.
    assert len({r[1] for r in rows}) == len(rows)
    per_day: dict[str, list[int]] = {}
    for r in rows:
        per_day.setdefault(r[2], []).append(r[3])
    for seqs in per_day.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
    # Exactly one ticket per shared matter; one per own matter.
    callers = Counter(r[4] for r in rows)
    shared = {matter_number(i) for i in range(MATTERS)}
    assert all(callers[n] == 1 for n in shared)
    assert len(rows) == MATTERS + WORKERS * PER_WORKER // 2
    assert sum(1 for r in results if "created" in r) == len(rows)
    # Every call of a shared matter is linked to that matter's one ticket (opened or repeat).
    ticket_of = {r[4]: r[0] for r in rows}
    links = _rows(db, "SELECT ticket_id, call_id, role FROM ticket_links")
    linked = {(t, c) for t, c, _ in links}
    assert len(links) == WORKERS * PER_WORKER
    for r in results:
        assert (ticket_of[r["caller"]], r["call"]) in linked
    assert all(row[0] in (1, True) for row in _rows(db, "SELECT external FROM ticket_links"))
    roles = Counter(role for t, _, role in links if t in {ticket_of[n] for n in shared})
    assert roles["opened"] == MATTERS and roles["repeat"] == WORKERS * PER_WORKER // 2 - MATTERS
    if store_kind == "sqlite":
        assert _rows(db, "PRAGMA integrity_check")[0][0] == "ok"

"""A province: several instances create tickets on one PostgreSQL at once (issue 12).  3 processes
x 1,000 ticket requests, half of them for the same 50 matters: numbers unique and gapless per
day, one ticket per matter, every call linked to its matter's ticket, each ticket stamped with
the instance that took it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter

import asyncpg

from tests.integration.tickets.conftest import ROOT
from tests.integration.tickets.many_writers_worker import MATTERS, matter_number
from tests.postgres import PrivatePostgres

INSTANCES = 3
PER_INSTANCE = 1000


def _worker(url: str, worker: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.tickets.many_writers_worker", url, str(worker), str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _rows(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def test_three_instances_one_database(postgres_server: PrivatePostgres) -> None:
    url = postgres_server.create_database("province_tickets")
    procs = [_worker(url, w, PER_INSTANCE) for w in range(INSTANCES)]  # they race on the migration too
    results: list[dict[str, str]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        results += [json.loads(line) for line in out.splitlines()]
    assert len(results) == INSTANCES * PER_INSTANCE

    rows = asyncio.run(
        _rows(url, "SELECT id, number, accepted_on, day_seq, citizen_number, centre FROM tickets")
    )
    assert len({r["number"] for r in rows}) == len(rows)
    per_day: dict[object, list[int]] = {}
    for r in rows:
        per_day.setdefault(r["accepted_on"], []).append(r["day_seq"])
    for seqs in per_day.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
    callers = Counter(r["citizen_number"] for r in rows)
    assert all(callers[matter_number(i)] == 1 for i in range(MATTERS))
    assert len(rows) == MATTERS + INSTANCES * PER_INSTANCE // 2
    assert {r["centre"] for r in rows} == {f"w{w}" for w in range(INSTANCES)}
    ticket_of = {r["citizen_number"]: r["id"] for r in rows}
    links = asyncio.run(_rows(url, "SELECT ticket_id, call_id FROM ticket_links"))
    linked = {(r["ticket_id"], r["call_id"]) for r in links}
    assert len(links) == INSTANCES * PER_INSTANCE
    for r in results:
        assert (ticket_of[r["caller"]], r["call"]) in linked

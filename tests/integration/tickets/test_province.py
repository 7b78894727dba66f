"""A province: several instances create tickets on one PostgreSQL at once (issue 12).  3 processes
x 1,000 ticket requests, half of them for the same 50 matters: numbers unique and gapless per
day, one ticket per matter, every call linked to its matter's ticket, each ticket stamped with
the instance that took it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from hotline.store.postgres import PgStore
from hotline.tickets.model import Action
from hotline.tickets.service import Created, TicketService
from hotline.tickets.taxonomy import Taxonomy
from hotline.tickets.workdays import WorkingCalendar
from tests.integration.tickets.conftest import ROOT, TZ, Clock, at, draft
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


def _service(store: PgStore, taxonomy: Taxonomy, clock: Clock, calendar_dir: Path) -> TicketService:
    return TicketService(store, taxonomy, WorkingCalendar.load(calendar_dir), tz=TZ, clock=clock)


async def test_each_sla_alert_is_raised_once_however_many_instances_sweep(
    postgres_server: PrivatePostgres, taxonomy: Taxonomy, calendar_dir: Path, logs: list[dict[str, Any]]
) -> None:
    url = postgres_server.create_database("province_sla")
    clock = Clock(at(2025, 9, 26, 10))
    async with contextlib.AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(PgStore.open(url, instance_id=f"c{i}")) for i in range(3)]
        services = [_service(s, taxonomy, clock, calendar_dir) for s in stores]
        for i in range(30):
            created = await services[i % 3].create(draft(citizen_number=f"139{i:08d}"), actor="1001")
            assert isinstance(created, Created)
            await services[i % 3].transition(created.ticket.number, Action.DISPATCH, actor="1001")

        async def sweep_everywhere(times: int) -> None:
            for _ in range(times):
                await asyncio.gather(*(s.sla_sweep() for s in services))

        clock.now = at(2025, 10, 9, 8)  # the warning day of the staged-feedback deadline
        await sweep_everywhere(4)
        warned = [(e["ticket_id"], e["deadline"]) for e in logs if e["event"] == "sla.warning"]
        assert len(warned) >= 30 and len(set(warned)) == len(warned)
        leaders = [s for s in stores if s._leader is not None]
        assert len(leaders) == 1
        # The leader goes away (its session ends: the lock is free); another instance takes over.
        leaders[0]._pool.terminate()  # the leader dies (as if killed): its session and lock end
        leaders[0]._leader = None
        leaders[0]._closing = True
        services = [s for s in services if s.store is not leaders[0]]
        stores = [s for s in stores if s is not leaders[0]]
        clock.now = at(2025, 10, 11, 8)  # past the deadline
        await sweep_everywhere(4)
        breached = [(e["ticket_id"], e["deadline"]) for e in logs if e["event"] == "sla.breached"]
        assert len(breached) >= 30 and len(set(breached)) == len(breached)
        assert len(logs_of(logs, "sla.warning")) == len(warned)  # nothing raised again
        assert sum(1 for s in stores if s._leader is not None) == 1


def logs_of(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == event]


async def test_a_follow_up_is_claimed_by_one_instance_and_taken_over_after_its_lease(
    postgres_server: PrivatePostgres,
) -> None:
    url = postgres_server.create_database("province_callbacks")
    lease_s = 3.0
    async with contextlib.AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(PgStore.open(url, instance_id=f"c{i}", callback_lease_s=lease_s))
            for i in range(3)
        ]
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "INSERT INTO callbacks (kind, number, created_at, due_at, window_start, window_end, "
                "attempts, max_attempts, retry_spacing_s, status, updated_at) "
                "SELECT 'follow_up', '1390000' || n, 0, 0, '08:00', '21:00', 0, 3, 60, 'pending', 0 "
                "FROM generate_series(1, 1000) n"
            )
        finally:
            await conn.close()
        holder: dict[int, str] = {}

        async def look(store: PgStore) -> None:
            for callback in await store.pending_callbacks():
                assert holder.setdefault(callback.id, store.instance_id) == store.instance_id

        while len(holder) < 1000:  # every look claims at most CLAIM_BATCH: they share the work
            await asyncio.gather(*(look(s) for s in stores))
        assert len(set(holder.values())) == 3
        # c0 dies holding its callbacks: the others leave them alone until the lease runs out...
        dead = stores[0]
        orphans = {i for i, owner in holder.items() if owner == dead.instance_id}
        dead._pool.terminate()  # its sessions end as if the process were killed
        dead._closing = True
        for store in stores[1:]:
            assert orphans.isdisjoint(c.id for c in await store.pending_callbacks())
        # ... then each orphan goes to exactly one of them.
        taken: dict[int, str] = {}
        async with asyncio.timeout(lease_s * 10):
            while len(taken) < len(orphans):
                await asyncio.sleep(0.2)
                for store in stores[1:]:
                    for callback in await store.pending_callbacks():
                        if callback.id in orphans:
                            assert taken.setdefault(callback.id, store.instance_id) == store.instance_id
        stores.pop(0)


async def test_each_outbox_message_is_published_by_one_instance(postgres_server: PrivatePostgres) -> None:
    """Ticket events written by any instance wait in one outbox; an instance claims what it
    publishes (the others skip it) until it acknowledges it, or until its claim runs out."""
    from hotline.store.outbox import message
    from tests.integration.store.conftest import ticket_change

    url = postgres_server.create_database("province_outbox")
    async with (
        PgStore.open(url, instance_id="a", callback_lease_s=1.0) as a,
        PgStore.open(url, instance_id="b", callback_lease_s=1.0) as b,
    ):
        await a.save_ticket_change(ticket_change(1, 1))  # its "created" event, in the same commit
        await b.add_outbox([message("alert", "hotline/test", {"n": i}, 0.0, id_prefix="t") for i in range(3)])
        total = await a.outbox_count()
        assert total >= 4
        mine = await a.pending_outbox(limit=100)
        assert len(mine) == total
        assert await b.pending_outbox(limit=100) == []  # claimed by a
        await a.ack_outbox([m.seq for m in mine[:2]])
        assert await a.outbox_count() == total - 2
        # a stops publishing (gone): once its claim runs out, b takes the rest, each once.
        async with asyncio.timeout(10):
            while not (taken := await b.pending_outbox(limit=100)):
                await asyncio.sleep(0.2)
        assert [m.entry.event_id for m in taken] == [m.entry.event_id for m in mine[2:]]

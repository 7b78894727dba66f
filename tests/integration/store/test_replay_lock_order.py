"""A replayed PostgreSQL batch locks the ``ticket_id`` counter row before its writes, as every
creating batch does: the two lock orders never cross (no deadlock between instances)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date

import asyncpg

from hotline.store.postgres import PgStore
from hotline.store.postgres.core import session_name
from hotline.tickets.model import Ticket, TicketChange
from tests.integration.store.test_ticket_creation_review import _for
from tests.postgres import PrivatePostgres

DAY = date(2026, 12, 1)


async def _until_waiting(conn: asyncpg.Connection, where: str, *args: object) -> None:
    """Until a backend matching ``where`` waits on a heavyweight lock (no time limit: the test
    run's own timeout applies)."""
    while not await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND {where})", *args
    ):
        await asyncio.sleep(0.01)


async def test_a_replayed_creation_does_not_deadlock_with_another_instances_batch(
    postgres_server: PrivatePostgres,
) -> None:
    """Another instance's batch (``other``) locks the ``ticket_id`` counter row, then writes
    ticket T (a creation and a transition of T committed together).  This instance's batch — a
    transition of T, a creation, and a stale write that sends it to the one-by-one replay — must
    not take T's row before the counter row in its replay: the two would deadlock, and PostgreSQL
    would abort one of them (here: the creation, reported failed)."""
    url = postgres_server.create_database("review_replay_deadlock")
    async with PgStore.open(url, instance_id="review") as store:
        t = (await store.create_ticket(DAY, _for("13900000001"))).ticket
        t2 = (await store.create_ticket(DAY, _for("13900000002"))).ticket
        assert t is not None and t2 is not None
        other = await asyncpg.connect(url)
        holder = await asyncpg.connect(url)
        watcher = await asyncpg.connect(url)
        try:
            # ``holder`` changes T2 (committed later): this instance's write of T2 goes stale.
            await holder.execute("BEGIN")
            await holder.execute("UPDATE tickets SET version = version + 1 WHERE id = $1", t2.id)

            def bump(ticket: Ticket) -> TicketChange:
                return TicketChange(ticket=replace(ticket, version=ticket.version + 1), previous_version=1)

            work = asyncio.gather(
                store.save_ticket_change(bump(t)),
                store.create_ticket(DAY, _for("13900000003")),
                store.save_ticket_change(bump(t2)),
                return_exceptions=True,
            )
            me = session_name("review")
            await _until_waiting(watcher, "application_name = $1", me)  # the batch waits on T2
            await other.execute("BEGIN")
            counter = asyncio.ensure_future(
                other.execute("UPDATE counters SET value = value WHERE name = 'ticket_id'")
            )
            await _until_waiting(watcher, "pid = $1", other.get_server_pid())  # behind the batch
            await holder.execute("COMMIT")  # the batch fails (T2 stale) and is replayed
            await counter  # ``other`` holds the counter row
            await _until_waiting(watcher, "application_name = $1 AND query LIKE '%counters%'", me)
            other_error: BaseException | None = None
            try:
                await other.execute("UPDATE tickets SET updated_at = updated_at WHERE id = $1", t.id)
            except asyncpg.DeadlockDetectedError as exc:
                other_error = exc
            await other.execute("ROLLBACK" if other_error else "COMMIT")
            results = await work
        finally:
            for conn in (other, holder, watcher):
                await conn.close()
        assert other_error is None
        assert results[0] is None, results
        assert isinstance(results[1], TicketChange), results

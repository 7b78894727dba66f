"""The store on a real file: schema and migrations, durability, group commit, isolation of a
failing write, optimistic versions, and the queue's tables (calls, callbacks, agent states)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import pytest

from hotline.events import Direction
from hotline.store import (
    CallbackAttempt,
    CallbackKind,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    NewCallback,
    SchemaTooNew,
    Store,
    StoreClosed,
    StoreConflict,
    StoredAgentState,
    StoreError,
    StoreIntegrityError,
    StoreTimeout,
)
from hotline.store.postgres import PgStore
from hotline.store.reports import agent_state_history
from hotline.store.schema import SCHEMA_VERSION
from hotline.store.sqlite import migrate
from hotline.tickets.model import LinkRole, TicketChange, TicketLink, TicketState
from tests.integration.conftest import OpenStore
from tests.integration.store.conftest import ticket_change


def _call(i: int, **changes: object) -> CallRecord:
    base = CallRecord(
        call_id=f"1764300000.{i}",
        direction=Direction.INBOUND,
        caller_number="13800138000",
        dnis="12345",
        arrived_at=1_764_300_000.0 + i,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_a_new_file_gets_the_schema_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "hotline.db"
    async with Store.open(path) as store:
        assert await store.schema_version() == SCHEMA_VERSION
        with pytest.raises(StoreIntegrityError):  # a link to a ticket that does not exist
            await store.add_link(
                TicketLink(ticket_id=99, call_id="1.1", role=LinkRole.OPENED, at=0.0, actor="t")
            )
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_an_older_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await migrate(conn, str(path), target=1)  # what the first release wrote
        change = ticket_change(1, 1)
        assert change.ticket is not None
        columns = (
            "id, number, accepted_on, day_seq, created_at, updated_at, channel, ticket_type, classification, "
            "department, occurred, location, description, current_situation, request, respondent, "
            "citizen_name, citizen_number, state, version, round, provisional, supervision_count, "
            "extension_count, extension_days"
        )
        await conn.execute(
            f"INSERT INTO tickets ({columns}) VALUES (1, ?, '2026-11-28', 1, 0, 0, 'phone', 'complaint', "
            "'01010101', 'd', '', 'l', 'x', '', 'r', '', '王小明', '13912345678', 'accepted', "
            "1, 1, 0, 0, 0, 0)",
            (change.ticket.number,),
        )
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    async with Store.open(path) as store:
        assert await store.schema_version() == SCHEMA_VERSION
        ticket = await store.get_ticket("12345-20261128-000001")
        assert ticket is not None and ticket.citizen_name == "王小明"
        callback = await store.create_callback(
            NewCallback(
                kind=CallbackKind.FOLLOW_UP,
                number="13912345678",
                ticket_id=1,
                due_at=10.0,
                window_start="08:00",
                window_end="21:00",
                max_attempts=3,
                retry_spacing_s=900.0,
                created_at=5.0,
            )
        )
        assert [c.id for c in await store.pending_callbacks()] == [callback.id]


async def test_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew) as info:
        async with Store.open(path):
            pass
    assert info.value.found == SCHEMA_VERSION + 1


async def test_a_write_is_acknowledged_only_once_committed(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    async with Store.open(path) as store:
        await store.upsert_call(_call(1))
        # Another connection (as another process would) sees it at once.
        with sqlite3.connect(path) as raw:
            assert raw.execute("SELECT count(*) FROM call_records").fetchone()[0] == 1


async def test_writes_arriving_together_share_commits(tmp_path: Path, open_store: OpenStore) -> None:
    async with open_store(tmp_path / "h.db") as store:
        await asyncio.gather(*(store.upsert_call(_call(i)) for i in range(300)))
        assert store.stats.operations == 300
        assert store.stats.commits < 50 and store.stats.largest_batch > 10
        assert len(await store.calls_between(0.0, 2e9)) == 300


async def test_a_failing_write_does_not_take_the_others_down(tmp_path: Path, open_store: OpenStore) -> None:
    async with open_store(tmp_path / "h.db") as store:
        bad = store.add_link(TicketLink(ticket_id=42, call_id="x", role=LinkRole.REPEAT, at=0.0, actor="t"))
        results = await asyncio.gather(
            *(store.upsert_call(_call(i)) for i in range(20)),
            bad,
            *(store.upsert_call(_call(i)) for i in range(20, 40)),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], StoreIntegrityError)
        assert isinstance(
            errors[0].__cause__, sqlite3.IntegrityError | asyncpg.IntegrityConstraintViolationError
        )
        assert len(await store.calls_between(0.0, 2e9)) == 40
        assert store.stats.replays >= 1


async def test_a_stale_version_is_a_conflict(tmp_path: Path, open_store: OpenStore) -> None:
    async with open_store(tmp_path / "h.db") as store:
        created = await store.create_ticket(date(2026, 11, 28), lambda i, s: ticket_change(i, s))
        ticket = created.ticket
        assert ticket is not None
        moved = replace(ticket, state=TicketState.DISPATCHED, version=2)
        await store.save_ticket_change(
            replace(created, ticket=moved, previous_version=1, transitions=(), links=())
        )
        with pytest.raises(StoreConflict) as info:  # written from the old copy
            await store.save_ticket_change(
                replace(created, ticket=moved, previous_version=1, transitions=(), links=())
            )
        assert info.value.table == "tickets"
        stored = await store.get_ticket(ticket.number)
        assert stored is not None and stored.state is TicketState.DISPATCHED and stored.version == 2


async def test_ticket_numbers_per_day_and_two_writers_on_one_file(
    tmp_path: Path, open_store: OpenStore
) -> None:
    path = tmp_path / "h.db"
    day = date(2026, 11, 28)
    async with open_store(path) as one, open_store(path) as two:
        first = await asyncio.gather(
            *(one.create_ticket(day, lambda i, s: ticket_change(i, s)) for _ in range(5))
        )
        # ``two`` loaded its counters before ``one`` wrote: its first ids clash and are re-synchronised.
        second = await asyncio.gather(
            *(two.create_ticket(day, lambda i, s: ticket_change(i, s)) for _ in range(5))
        )
        other_day = await one.create_ticket(
            date(2026, 11, 29), lambda i, s: ticket_change(i, s, date(2026, 11, 29))
        )
    numbers = [c.ticket.number for c in first + second if c.ticket]
    assert sorted(numbers) == [f"12345-20261128-{n:06d}" for n in range(1, 11)]
    assert other_day.ticket is not None and other_day.ticket.number == "12345-20261129-000001"


async def test_calls_are_upserted_by_linkedid(tmp_path: Path, open_store: OpenStore) -> None:
    path = tmp_path / "h.db"
    async with open_store(path) as store:
        await store.upsert_call(_call(1))
        await store.upsert_call(
            _call(
                1,
                offered_at=1_764_300_003.0,
                answered_at=1_764_300_009.0,
                ended_at=1_764_300_200.0,
                wait_s=8.0,
                talk_s=191.0,
                agent_id="1001",
                outcome=CallOutcome.ANSWERED,
                escalated=True,
                escalation_reasons=("urgent", "sensitive"),
                recording_ref="rec/2026/11/28/1764300000.1.wav",
            )
        )
        await store.upsert_call(
            _call(
                2,
                direction=Direction.CALLBACK,
                arrived_at=None,
                offered_at=1_764_300_100.0,
                callback_id=7,
                outcome=CallOutcome.BUSY,
            )
        )
    async with open_store(path) as store:
        call = await store.get_call("1764300000.1")
        assert call is not None
        assert (call.outcome, call.wait_s, call.agent_id, call.escalation_reasons) == (
            CallOutcome.ANSWERED,
            8.0,
            "1001",
            ("urgent", "sensitive"),
        )
        assert call.recording_ref and call.escalated and call.caller_number == "13800138000"
        calls = await store.calls_between(1_764_300_000.0, 1_764_300_500.0)
        assert [c.call_id for c in calls] == ["1764300000.1", "1764300000.2"]
        assert calls[1].direction is Direction.CALLBACK and calls[1].callback_id == 7
        assert await store.get_call("nope") is None


async def test_callbacks_survive_a_restart_with_their_attempts(tmp_path: Path, open_store: OpenStore) -> None:
    path = tmp_path / "h.db"
    new = NewCallback(
        kind=CallbackKind.RETURN_CALL,
        number="13700001111",
        origin_call_id="1764300000.9",
        due_at=1_764_300_060.0,
        window_start="08:00",
        window_end="21:00",
        max_attempts=3,
        retry_spacing_s=900.0,
        created_at=1_764_300_000.0,
    )
    async with open_store(path) as store:
        a = await store.create_callback(new)
        b = await store.create_callback(replace(new, due_at=1_764_300_030.0))
        c = await store.create_callback(new)
        assert a.id < b.id < c.id and a.status is CallbackStatus.PENDING and a.attempts == 0
        await store.update_callback(a.id, at=1_764_300_061.0, status=CallbackStatus.IN_PROGRESS)
        await store.record_callback_attempt(
            CallbackAttempt(
                callback_id=a.id,
                at=1_764_300_090.0,
                outcome="busy",
                dial_status="BUSY",
                call_id="1764300090.1",
            ),
            status=CallbackStatus.PENDING,
            due_at=1_764_300_990.0,
        )
        await store.record_callback_attempt(  # pre-empted: in the history, not counted
            CallbackAttempt(
                callback_id=a.id, at=1_764_301_000.0, outcome="preempted", dial_status="CANCEL", counted=False
            ),
            status=CallbackStatus.PENDING,
        )
        await store.complete_callback(c.id, status=CallbackStatus.DONE, outcome="reached", at=1_764_300_100.0)
        with pytest.raises(StoreConflict):
            await store.update_callback(999, at=0.0, status=CallbackStatus.CANCELLED)
    async with open_store(path) as store:
        pending = await store.pending_callbacks()
        assert [p.id for p in pending] == [b.id, a.id]  # by due time
        again = await store.get_callback(a.id)
        assert again is not None and again.attempts == 1 and again.due_at == 1_764_300_990.0
        assert again.origin_call_id == "1764300000.9" and again.kind is CallbackKind.RETURN_CALL
        history = await store.callback_attempts(a.id)
        assert [(h.outcome, h.dial_status, h.counted) for h in history] == [
            ("busy", "BUSY", True),
            ("preempted", "CANCEL", False),
        ]
        done = await store.get_callback(c.id)
        assert done is not None and done.status is CallbackStatus.DONE and done.outcome == "reached"
        # ids keep growing after a restart
        d = await store.create_callback(new)
        assert d.id == c.id + 1


async def test_agent_states_are_restored(tmp_path: Path, open_store: OpenStore) -> None:
    path = tmp_path / "h.db"
    async with open_store(path) as store:
        await store.save_agent_state(StoredAgentState(agent_id="1001", state="ready", reason=None, since=1.0))
        await store.save_agent_state(
            StoredAgentState(agent_id="1002", state="paused", reason="lunch", since=2.0)
        )
        await store.save_agent_state(
            StoredAgentState(agent_id="1001", state="paused", reason="training", since=3.0)
        )
    async with open_store(path) as store:
        assert await store.load_agent_states() == [
            StoredAgentState(agent_id="1001", state="paused", reason="training", since=3.0),
            StoredAgentState(agent_id="1002", state="paused", reason="lunch", since=2.0),
        ]


async def test_every_agent_state_change_is_kept_for_the_reports_once(tmp_path: Path) -> None:
    """The reports count time ready/paused from the history; a restore that writes an agent's
    state again (same instant, same state) adds nothing to it."""
    path = tmp_path / "h.db"
    ready = StoredAgentState(agent_id="1001", state="ready", reason=None, since=1.0)
    paused = StoredAgentState(agent_id="1001", state="paused", reason="lunch", since=5.0)
    async with Store.open(path) as store:
        for state in (ready, paused, paused):
            await store.save_agent_state(state)
    async with Store.open(path) as store:
        await store.save_agent_state(paused)  # the restart's restore
        await store.save_agent_state(replace(paused, reason="training", since=9.0))
        assert await agent_state_history(store, 0.0, 100.0) == [
            ("1001", "ready", None, 1.0),
            ("1001", "paused", "lunch", 5.0),
            ("1001", "paused", "training", 9.0),
        ]


async def test_closing_drains_queued_writes_then_refuses_new_ones(
    tmp_path: Path, open_store: OpenStore
) -> None:
    path = tmp_path / "h.db"
    async with open_store(path) as store:
        tasks = [asyncio.create_task(store.upsert_call(_call(i))) for i in range(100)]
        await asyncio.sleep(0)  # queued, not yet committed
    await asyncio.gather(*tasks)
    with pytest.raises(StoreClosed):
        await store.upsert_call(_call(500))
    async with open_store(path) as store:
        assert len(await store.calls_between(0.0, 2e9)) == 100


def _for_caller(
    ticket_id: int, day_seq: int, number: str, state: TicketState = TicketState.ACCEPTED
) -> TicketChange:
    change = ticket_change(ticket_id, day_seq)
    assert change.ticket is not None
    return replace(change, ticket=replace(change.ticket, citizen_number=number, state=state))


async def test_callers_asking_at_once_share_one_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = date(2026, 11, 28)
    async with Store.open(tmp_path / "h.db") as store:
        first = await store.create_ticket(day, lambda i, s: _for_caller(i, s, "13912345678"))
        second = await store.create_ticket(day, lambda i, s: _for_caller(i, s, "13912345678"))
        other = await store.create_ticket(day, lambda i, s: _for_caller(i, s, "13800138000"))
        await store.create_ticket(day, lambda i, s: _for_caller(i, s, "13800138000", TicketState.CLOSED))
        queries: list[str] = []
        read = store._read

        async def counted(sql: str, params: Sequence[Any]) -> list[Any]:
            queries.append(sql)
            return await read(sql, params)

        monkeypatch.setattr(store, "_read", counted)
        found = await asyncio.gather(
            *(
                store.open_tickets_for_caller(n)
                for n in ("13912345678", "13800138000", "13700001111", "13912345678")
            )
        )
        assert len(queries) == 1
        ids = [[t.id for t in tickets] for tickets in found]
        assert first.ticket and second.ticket and other.ticket
        assert ids == [
            [first.ticket.id, second.ticket.id],  # oldest first
            [other.ticket.id],  # not the closed one
            [],
            [first.ticket.id, second.ticket.id],
        ]
        assert found[0] is not found[3]  # each caller gets a list of its own


async def test_a_lookup_is_never_answered_by_a_query_older_than_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = date(2026, 11, 28)
    async with Store.open(tmp_path / "h.db") as store:
        read = store._read
        gate = asyncio.Event()
        answered = asyncio.Event()

        async def slow_first(sql: str, params: Sequence[Any]) -> list[Any]:
            rows = await read(sql, params)  # the query has run: its snapshot is taken
            if not answered.is_set():
                answered.set()
                await gate.wait()
            return rows

        monkeypatch.setattr(store, "_read", slow_first)
        early = asyncio.create_task(store.open_tickets_for_caller("13912345678"))
        await answered.wait()
        # Committed after the first query ran but before its answer is handed out:
        created = await store.create_ticket(day, lambda i, s: _for_caller(i, s, "13912345678"))
        late = asyncio.create_task(store.open_tickets_for_caller("13912345678"))
        await asyncio.sleep(0.01)
        gate.set()
        assert await early == []
        assert created.ticket is not None
        assert [t.id for t in await late] == [created.ticket.id]


async def test_a_write_that_cannot_commit_in_time_is_a_timeout(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    async with Store.open(path, write_timeout_s=0.2) as store:
        await store.upsert_call(_call(0))
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            results = await asyncio.gather(
                *(store.upsert_call(_call(i)) for i in range(1, 4)), return_exceptions=True
            )
            assert all(isinstance(r, StoreTimeout) for r in results)
            with pytest.raises(StoreTimeout):
                await store.upsert_call(_call(4))  # one later, after the timer fired: timed too
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await store.upsert_call(_call(5))  # the writer goes on once the lock is free
        assert _call(5).call_id in {c.call_id for c in await store.calls_between(0.0, 2e9)}


async def test_many_rows_of_a_table_in_one_commit_keep_their_order_and_values(
    tmp_path: Path, open_store: OpenStore
) -> None:
    day = date(2026, 11, 28)
    async with open_store(tmp_path / "h.db") as store:
        created = await asyncio.gather(
            *(
                store.create_ticket(day, lambda i, s: ticket_change(i, s, call_id=f"c.{i}"))
                for _ in range(300)
            )
        )
        assert store.stats.largest_batch > 100  # multi-row statements were used
        tickets = [c.ticket for c in created if c.ticket is not None]
        stored = await store.get_tickets(t.id for t in tickets)
        assert [stored[t.id] for t in tickets] == tickets
        for change in created[::37]:
            assert change.ticket is not None
            assert await store.transitions(change.ticket.id) == list(change.transitions)
            assert await store.links(change.ticket.id) == list(change.links)

        ticket = tickets[0]
        links = [
            TicketLink(ticket_id=ticket.id, call_id=f"r.{i}", role=LinkRole.REPEAT, at=float(i), actor="t")
            for i in range(200)
        ]
        bad = TicketLink(ticket_id=99_999, call_id="x", role=LinkRole.REPEAT, at=0.0, actor="t")
        results = await asyncio.gather(
            *(store.add_link(k) for k in links[:100]),
            store.add_link(bad),
            *(store.add_link(k) for k in links[100:]),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], StoreIntegrityError)
        assert [k for k in await store.links(ticket.id) if k.role is LinkRole.REPEAT] == links


@pytest.mark.parametrize(("synchronous", "level"), [("full", 2), ("normal", 1)])
async def test_the_writer_commits_with_the_asked_durability(
    tmp_path: Path, synchronous: str, level: int
) -> None:
    async with Store.open(tmp_path / "h.db", synchronous=synchronous) as store:
        pragmas = await store._writer.run(
            lambda conn: [
                conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("synchronous", "foreign_keys", "journal_mode")
            ]
        )
        assert pragmas == [level, 1, "wal"]


async def test_when_postgresql_goes_away_writes_fail_in_time_and_resume_after() -> None:
    """The database machine goes away: a write fails within its timeout with a clear error (the
    caller is never left waiting), a read too; once it is back the same store works again and
    everything acknowledged before is there."""
    from tests.postgres import private_postgres

    with private_postgres(durable=True) as server:  # as in production: a commit is on disk
        url = server.create_database("goes_away")
        async with PgStore.open(url, write_timeout_s=1.0, read_timeout_s=1.0) as store:
            await store.save_ticket_change(ticket_change(1, 1))
            server.halt()
            with pytest.raises(StoreError):
                await store.save_ticket_change(ticket_change(2, 2))
            with pytest.raises(StoreError):
                await store.get_ticket_by_id(1)
            server.resume()
            for _ in range(50):  # the pool reconnects on the next use
                try:
                    await store.save_ticket_change(ticket_change(3, 3))
                    break
                except StoreError:
                    await asyncio.sleep(0.1)
            assert set((await store.get_tickets([1, 2, 3])).keys()) == {1, 3}

"""Write-ahead call records on a real file: completed field by field, never made poorer; the
live ones read back by a restart; agents' work and wrap-up deadline; the PBX heartbeat; open
callbacks of an older file given the queue id their calls carry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import aiosqlite

from hotline.events import Direction
from hotline.store import CallOutcome, CallRecord, Store, StoredAgentState
from hotline.store.sqlite import migrate
from tests.integration.conftest import OpenStore

T = 1_764_300_000.0


def _record(**changes: object) -> CallRecord:
    base = CallRecord(
        call_id="1764300000.7",
        direction=Direction.INBOUND,
        caller_number="13800138000",
        dnis="12345",
        arrived_at=T,
        state="waiting",
        priority="escalated",
        offers=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_a_record_is_completed_field_by_field_and_never_made_poorer(
    tmp_path: Path, open_store: OpenStore
) -> None:
    async with open_store(tmp_path / "h.db") as store:
        await store.merge_call(_record())
        await store.merge_call(_record(state="offered", offered_at=T + 2, agent_id="1001", offers=1))
        await store.merge_call(
            _record(state="answered", answered_at=T + 5, wait_s=5.0, agent_id="1001", offers=1)
        )
        assert [c.call_id for c in await store.live_calls()] == ["1764300000.7"]
        # A restart's poorer picture: no caller, arrival = answer = now.  Nothing known is lost.
        await store.merge_call(
            _record(caller_number="", arrived_at=T + 90, answered_at=T + 90, state="answered", priority=None)
        )
        await store.merge_call(
            _record(
                state="ended",
                ended_at=T + 95,
                talk_s=None,
                outcome=CallOutcome.ANSWERED,
                end_uncertain=True,
                last_seen_at=T + 60,
            )
        )
        # A late echo of a live state cannot reopen it.
        await store.merge_call(_record(state="answered"))
        call = await store.get_call("1764300000.7")
        assert call is not None
        assert (call.caller_number, call.arrived_at, call.offered_at, call.answered_at) == (
            "13800138000",
            T,
            T + 2,
            T + 5,
        )
        assert (call.state, call.outcome, call.wait_s, call.talk_s, call.agent_id) == (
            "ended",
            CallOutcome.ANSWERED,
            5.0,
            None,
            "1001",
        )
        assert (call.end_uncertain, call.last_seen_at, call.ended_at, call.priority) == (
            True,
            T + 60,
            T + 95,
            "escalated",
        )
        assert await store.live_calls() == []


async def test_agents_work_wrap_up_deadline_and_the_heartbeat_survive_a_reopen(
    tmp_path: Path, open_store: OpenStore
) -> None:
    path = tmp_path / "h.db"
    async with open_store(path) as store:
        assert await store.last_heartbeat() is None
        await store.save_agent_state(
            StoredAgentState(agent_id="1001", state="busy_inbound", reason=None, since=T, work="c1")
        )
        await store.save_agent_state(
            StoredAgentState(agent_id="1002", state="wrap_up", reason=None, since=T, wrap_up_until=T + 10)
        )
        await store.save_heartbeat(T + 1)
        await store.save_heartbeat(T + 2)
    async with open_store(path) as store:
        states = {s.agent_id: (s.work, s.wrap_up_until) for s in await store.load_agent_states()}
        assert states == {"1001": ("c1", None), "1002": (None, T + 10)}
        assert await store.last_heartbeat() == T + 2


async def test_open_callbacks_of_an_older_file_get_the_queue_id_their_calls_carry(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await migrate(conn, str(path), target=2)  # before callbacks had a queue id
        columns = (
            "id, kind, number, origin_call_id, created_at, due_at, window_start, window_end, attempts, "
            "max_attempts, retry_spacing_s, status, updated_at"
        )
        rows = [
            (1, "return_call", "c-abandoned", "in_progress"),
            (2, "follow_up", None, "pending"),
            (3, "return_call", "c-done", "done"),
        ]
        for store_id, kind, origin, status in rows:
            await conn.execute(
                f"INSERT INTO callbacks ({columns}) VALUES (?, ?, '13900000001', ?, 0, 0, '08:00', '21:00', "
                "0, 3, 900, ?, 0)",
                (store_id, kind, origin, status),
            )
    async with Store.open(path) as store:
        ids = {c.id: c.queue_id for c in await store.pending_callbacks()}
        assert ids == {1: "rc-c-abandoned", 2: "cb-2"}
        done = await store.get_callback(3)
        assert done is not None and done.queue_id is None

"""The queue's records in a real SQLite file, and what a restart reads back."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

from hotline.clock import WallClock
from hotline.events import Direction
from hotline.persistence import QueuePersistence
from hotline.queue.agents import AgentState, AgentStateRecord
from hotline.queue.commands import Command, PersistAgentState, PersistCallback, RecordCall
from hotline.queue.inputs import QueueInput
from hotline.queue.work import (
    AttemptOutcome,
    Callback,
    CallbackAttempt,
    CallbackKind,
    CallbackStatus,
    CallOutcome,
    CallRecord,
)
from hotline.runtime import QueueRuntime
from hotline.store import CallbackKind as StoredKind
from hotline.store import CallbackStatus as StoredStatus
from hotline.store import NewCallback, Store

T0 = 1_795_831_200.0


def callback(callback_id: str = "rc-1795831100.1", **changes: object) -> Callback:
    base = Callback(callback_id, CallbackKind.RETURN_CALL, "13900000002", T0, T0 - 60)
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_a_callback_under_way_is_read_back_under_its_own_id_and_still_in_progress(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hotline.db"
    async with Store.open(path) as store:
        persistence = QueuePersistence(store, 8.0, "12345")
        await persistence.persist(PersistCallback(callback()))
        tried = CallbackAttempt(T0, T0 + 40, "1001", AttemptOutcome.BUSY, "BUSY", "c9")
        await persistence.persist(
            PersistCallback(callback(status=CallbackStatus.PENDING, attempts=1, history=(tried,)))
        )
        await persistence.persist(
            PersistCallback(callback(status=CallbackStatus.IN_PROGRESS, attempts=1, history=(tried,)))
        )
    async with Store.open(path) as store:
        _agents, callbacks = await QueuePersistence(store, 8.0, "12345").restore()
    # The id is the one its calls carry (HOTLINE_CALLBACK_ID): a resync can recognise them.
    assert [(c.callback_id, c.status, c.attempts) for c in callbacks] == [
        ("rc-1795831100.1", CallbackStatus.IN_PROGRESS, 1)
    ]


async def test_a_closed_callback_is_forgotten_but_its_late_call_record_still_links(tmp_path: Path) -> None:
    closed: list[tuple[str, int]] = []

    async def on_closed(cb: Callback, store_id: int) -> None:
        closed.append((cb.callback_id, store_id))

    async with Store.open(tmp_path / "hotline.db") as store:
        persistence = QueuePersistence(store, 8.0, "12345", on_closed=on_closed)
        await persistence.persist(PersistCallback(callback(status=CallbackStatus.IN_PROGRESS)))
        reached = CallbackAttempt(T0, T0 + 20, "1001", AttemptOutcome.REACHED, "ANSWER", "c10")
        done = callback(status=CallbackStatus.REACHED, attempts=1, history=(reached,))
        await persistence.persist(PersistCallback(done))
        await persistence.persist(PersistCallback(done))  # a repeat closes nothing twice
        record = CallRecord(
            "c10",
            Direction.CALLBACK,
            "13900000002",
            T0,
            T0 + 200,
            CallOutcome.REACHED,
            T0 + 20,
            "1001",
            callback_id="rc-1795831100.1",
        )
        await persistence.persist(RecordCall(record))
        assert len(closed) == 1
        stored = await store.get_call("c10")
        assert stored is not None and stored.callback_id == closed[0][1]
        stored_callback = await store.get_callback(closed[0][1])
        assert stored_callback is not None and stored_callback.status is StoredStatus.DONE
        assert persistence.open_callbacks == 0  # nothing kept for it among the open ones


async def test_callbacks_the_ticket_workflow_stored_are_taken_once(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "hotline.db") as store:
        persistence = QueuePersistence(store, 8.0, "12345")
        created = await store.create_callback(
            NewCallback(
                kind=StoredKind.FOLLOW_UP,
                number="13900000003",
                due_at=T0,
                window_start="08:00",
                window_end="21:00",
                max_attempts=2,
                retry_spacing_s=600.0,
                created_at=T0 - 10,
            )
        )
        first = await persistence.new_callbacks()
        assert [(s.callback_id, s.kind, s.max_attempts) for s in first] == [
            (f"cb-{created.id}", CallbackKind.FOLLOW_UP, 2)
        ]
        assert await persistence.new_callbacks() == []


async def test_a_burst_of_records_is_written_in_order_in_a_few_commits(tmp_path: Path) -> None:
    """A shift starts: 300 agents log in, go ready and one pauses, all at once, with a callback
    and its call record in the middle.  The runtime hands the one-write records to the store
    together (a few commits, not 900), in order: every agent ends as its last record says, and
    the call record written after the callback names the callback's store id."""
    agents = [f"{1000 + n}" for n in range(300)]
    states = (AgentState.LOGGED_OUT, AgentState.READY, AgentState.PAUSED)
    burst: list[Command] = []
    for step, state in enumerate(states):
        for agent in agents:
            record = AgentStateRecord(
                agent, state, "lunch" if state is AgentState.PAUSED else None, T0 + step
            )
            burst.append(PersistAgentState(record))
        if step == 1:
            burst.append(PersistCallback(callback(status=CallbackStatus.IN_PROGRESS)))
            burst.append(
                RecordCall(
                    CallRecord(
                        "c20",
                        Direction.CALLBACK,
                        "13900000002",
                        T0,
                        T0 + 90,
                        CallOutcome.REACHED,
                        T0 + 20,
                        "1001",
                        callback_id="rc-1795831100.1",
                    )
                )
            )
    async with Store.open(tmp_path / "hotline.db") as store:
        persistence = QueuePersistence(store, 8.0, "12345")
        inbox: asyncio.Queue[QueueInput] = asyncio.Queue()
        runtime = QueueRuntime(
            _Burst(burst),
            _NoPbx(),
            WallClock(),
            inbox,
            persistence=persistence,  # type: ignore[arg-type]
        )
        commits_before = store.stats.commits
        task = asyncio.create_task(runtime.run())
        try:
            async with asyncio.timeout(30):
                await asyncio.sleep(0)
                await runtime.drain_records()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert store.stats.commits - commits_before <= 20  # 902 records
        stored = {s.agent_id: s for s in await store.load_agent_states()}
        assert {a: (s.state, s.reason) for a, s in stored.items()} == {a: ("paused", "lunch") for a in agents}
        call = await store.get_call("c20")
        assert call is not None and call.callback_id is not None
        assert (await store.get_callback(call.callback_id)) is not None


class _Burst:
    """A dispatcher that makes every record of a burst when the runtime starts."""

    def __init__(self, commands: list[Command]) -> None:
        self.commands = commands

    def start(self, now: float) -> list[Command]:
        return self.commands

    def handle(self, event: QueueInput, now: float) -> list[Command]:
        return []


class _NoPbx:
    """No PBX action is asked for in this test."""

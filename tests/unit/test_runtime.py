"""The queue runtime: timers come back as TimerFired, failed PBX actions as ActionFailed."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from hotline.clock import WallClock
from hotline.pbx_bridge.errors import ActionFailedError
from hotline.queue.commands import CancelTimer, Command, ConnectCallToAgent, HangupChannel, StartTimer
from hotline.queue.inputs import ActionFailed, QueueInput, TimerFired
from hotline.runtime import QueueRuntime


class ScriptedDispatcher:
    """Stands in for the dispatcher: returns the commands scripted for each input, records inputs."""

    def __init__(self, script: dict[Any, list[Command]]) -> None:
        self.script = script
        self.seen: list[QueueInput] = []

    def start(self, now: float) -> list[Command]:
        return self.script.get("start", [])

    def handle(self, event: QueueInput, now: float) -> list[Command]:
        self.seen.append(event)
        return self.script.get(event, [])


class FailingActions:
    """PBX actions that fail the way Asterisk or a bug would (fault injection)."""

    async def redirect_to_agent(self, *args: Any, **kwargs: Any) -> None:
        raise ActionFailedError("Redirect", "id-1", "Channel does not exist: x")

    async def hangup(self, channel: str) -> None:
        raise RuntimeError("injected bug")


async def run_until(runtime: QueueRuntime, dispatcher: ScriptedDispatcher, count: int) -> None:
    task = asyncio.create_task(runtime.run())
    try:
        async with asyncio.timeout(2):
            while len(dispatcher.seen) < count:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_timers_fire_and_cancelled_ones_do_not() -> None:
    clock = WallClock()
    now = clock.now()
    dispatcher = ScriptedDispatcher(
        {
            "start": [
                StartTimer("a", now + 0.05),
                StartTimer("b", now + 0.05),
                CancelTimer("b"),
                StartTimer("c", now + 10),
                StartTimer("c", now + 0.02),
            ]
        }
    )
    inbox: asyncio.Queue[QueueInput] = asyncio.Queue()
    runtime = QueueRuntime(dispatcher, FailingActions(), clock, inbox)  # type: ignore[arg-type]
    await run_until(runtime, dispatcher, 2)
    await asyncio.sleep(0.1)
    assert dispatcher.seen == [TimerFired("c"), TimerFired("a")]


async def test_failed_actions_come_back_as_inputs_and_the_loop_survives() -> None:
    connect = ConnectCallToAgent("1.1", "Local/1@x-00000001;1", "1001", "Local/1001@agents", 20)
    hangup = HangupChannel("Local/1@x-00000001;1", "1.1", "test")
    dispatcher = ScriptedDispatcher({"start": [connect, hangup]})
    inbox: asyncio.Queue[QueueInput] = asyncio.Queue()
    runtime = QueueRuntime(dispatcher, FailingActions(), WallClock(), inbox)  # type: ignore[arg-type]
    await run_until(runtime, dispatcher, 2)
    failures = {type(f.command): f for f in dispatcher.seen if isinstance(f, ActionFailed)}
    assert "Channel does not exist" in failures[ConnectCallToAgent].error
    assert not failures[ConnectCallToAgent].permanent
    assert failures[HangupChannel].permanent and "injected bug" in failures[HangupChannel].error

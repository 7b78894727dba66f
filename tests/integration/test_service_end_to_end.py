"""The whole service (store, dispatcher, AMI bridge) against the simulator over TCP, sped up.

Time runs SPEED times faster for both the simulator and the service's clock, so ring timeouts,
patience, talk and wrap-up keep their proportions while the tests take seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import io
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from hotline.app import HotlineService
from hotline.clock import ScaledClock
from hotline.demo import demo_settings
from hotline.events import Direction
from hotline.log import configure_logging
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, AgentBehaviour, CitizenBehaviour, PbxSimulator
from hotline.queue.agents import AgentState
from hotline.queue.commands import StartCallback
from hotline.queue.inputs import AgentPause, AgentReady, ScheduleCallback
from hotline.queue.work import CallbackKind
from hotline.settings import Settings, load_settings
from hotline.store import CallbackStatus, CallOutcome, Store
from hotline.tickets.model import Action, Channel, LinkRole, Satisfaction, TicketState, TicketType
from hotline.tickets.service import Created, TicketDraft, TicketService

SPEED = 50.0
_CHINA = dt.timezone(dt.timedelta(hours=8))


def _nine_am() -> float:
    return dt.datetime.now(_CHINA).replace(hour=9, minute=0, second=0, microsecond=0).timestamp()


class Harness:
    """A simulator and a service run on one sped-up clock, with helpers to wait on the queue."""

    def __init__(self, settings: Settings, sim: PbxSimulator, workdir: Path) -> None:
        self.base = settings
        self.sim = sim
        self.workdir = workdir
        self.clock = ScaledClock(SPEED, start=_nine_am())
        self.service: HotlineService | None = None
        self.observer: Callable[[Any, list[Any]], None] | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def settings(self) -> Settings:
        s = demo_settings(self.base, self.sim.port, self.workdir)
        ami = dataclasses.replace(s.ami, reconnect_min_s=0.05, reconnect_max_s=0.2)
        return dataclasses.replace(s, ami=ami)

    async def start(self) -> HotlineService:
        self._stop = asyncio.Event()
        self.service = HotlineService(self.settings, clock=self.clock)
        self.service.observer = self.observer
        self.service.callback_intake_interval_s = 0.1
        self._task = asyncio.create_task(self.service.run(self._stop), name="test-service")
        await asyncio.wait_for(self.service.started.wait(), 5)
        assert self.service.client is not None
        await asyncio.wait_for(self.service.client.connected.wait(), 5)
        return self.service

    async def stop(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 15)

    async def kill(self) -> None:
        """Like SIGKILL as far as the queue is concerned: no drain, no goodbye."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def until(self, condition: Callable[[], bool], sim_seconds: float, what: str) -> None:
        try:
            async with asyncio.timeout(sim_seconds / SPEED + 2.0):
                while not condition():
                    await asyncio.sleep(0.02)
        except TimeoutError:
            state = self.service.dispatcher if self.service else None
            detail = (state.stats, state.snapshot(self.clock.now()), state.callbacks()) if state else None
            raise AssertionError(f"timed out waiting until {what}: {detail}") from None

    @property
    def dispatcher(self):  # type: ignore[no-untyped-def]
        assert self.service is not None and self.service.dispatcher is not None
        return self.service.dispatcher


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = load_settings(environ={})
    sim = PbxSimulator(
        port=0,
        time_scale=1.0 / SPEED,
        dialplan=settings.dialplan,
        seed=7,
        channelvars=SHIPPED_CHANNELVARS,  # as the shipped manager.conf
    )
    await sim.start()
    h = Harness(settings, sim, tmp_path)
    try:
        yield h
    finally:
        with contextlib.suppress(Exception):
            await h.stop()
        await sim.close()


def _talk(h: Harness, seconds: float) -> None:
    for agent in ("1001", "1002", "1003", "1004", "1005"):
        h.sim.set_agent_behaviour(agent, AgentBehaviour.answering(after_s=1.0, talk_s=seconds))


async def test_sixty_calls_and_twenty_callbacks_all_accounted_for(harness: Harness) -> None:
    h = harness
    _talk(h, 30.0)
    violations: list[str] = []

    def inbound_first(_event: object, commands: list[object]) -> None:
        # Our own check, beside the dispatcher's counter: after the decision that starts a
        # callback, no inbound call may be left waiting (every agent here takes every call).
        for command in commands:
            if isinstance(command, StartCallback) and h.dispatcher.waiting_calls():
                violations.append(command.callback_id)

    h.observer = inbound_first
    service = await h.start()
    with capture_logs() as logs:
        placed = [
            h.sim.place_inbound_call(f"1380000{i:04d}", f"市民{i}", patience_s=600.0) for i in range(60)
        ]
        for i in range(20):
            service.inbox.put_nowait(
                ScheduleCallback(
                    f"t-cb-{i}",
                    CallbackKind.RETURN_CALL if i % 2 else CallbackKind.FOLLOW_UP,
                    f"1390000{i:04d}",
                    h.clock.now(),
                )
            )

        def inbound_done() -> bool:
            s = h.dispatcher.stats
            return s.calls_answered + s.calls_abandoned + s.calls_lost >= 60

        await h.until(inbound_done, 3000, "every inbound call ended")
        await h.until(lambda: not h.dispatcher.callbacks(), 3000, "every callback has an outcome")
        stats = h.dispatcher.stats
        await h.stop()
    assert stats.calls_arrived == 60
    assert stats.calls_answered + stats.calls_abandoned + stats.calls_lost == 60
    assert stats.callbacks_reached + stats.callbacks_failed + stats.callbacks_cancelled == 20
    assert stats.callbacks_started_while_inbound_waited == 0
    assert violations == []
    answered = {e["call_id"] for e in logs if e["event"] == "call.answered"}
    assert answered <= set(placed)
    async with Store.open(h.settings.store.path) as store:
        assert await store.pending_callbacks() == []
        calls = await store.calls_between(0, 1e12)
    assert {c.call_id for c in calls} >= set(placed)
    assert all(c.outcome is not None for c in calls)


async def test_ring_no_answer_goes_back_to_the_head_and_pauses_the_agent(harness: Harness) -> None:
    h = harness
    h.sim.set_agent_behaviour("1001", AgentBehaviour.never_answering())
    service = await h.start()
    for agent in ("1002", "1003", "1004", "1005"):
        service.inbox.put_nowait(AgentPause(agent, "meeting"))
    await h.until(lambda: sum(a.state is AgentState.PAUSED for a in h.dispatcher.agents()) == 4, 60, "paused")
    with capture_logs() as logs:
        first = h.sim.place_inbound_call("13800001111", "张三", patience_s=900.0)
        await h.until(lambda: any(e["event"] == "call.offered" for e in logs), 60, "first call offered")
        second = h.sim.place_inbound_call("13800001112", "李四", patience_s=900.0)
        await h.until(lambda: h.dispatcher.stats.ring_no_answer == 1, 200, "a ring-no-answer happened")
        agent = h.dispatcher.agent("1001")
        assert agent is not None and (agent.state, agent.pause_reason) == (AgentState.PAUSED, "no_answer")
        h.sim.set_agent_behaviour("1001", AgentBehaviour.answering(after_s=1.0, talk_s=10.0))
        service.inbox.put_nowait(AgentReady("1001"))
        await h.until(lambda: h.dispatcher.stats.calls_answered == 1, 120, "a call was answered")
    answered = [e for e in logs if e["event"] == "call.answered"]
    # The unanswered call kept its place at the head (ahead of the later one) and its wait.
    assert [e["call_id"] for e in answered] == [first]
    assert answered[0]["wait_s"] >= 20.0 and answered[0]["offers"] == 2
    assert [c.call_id for c in h.dispatcher.waiting_calls()] == [second]


async def test_abandon_while_ringing_schedules_a_return_call(harness: Harness) -> None:
    h = harness
    for agent in ("1001", "1002", "1003", "1004", "1005"):
        h.sim.set_agent_behaviour(agent, AgentBehaviour.answering(after_s=15.0, talk_s=20.0))
    await h.start()
    with capture_logs() as logs:
        call = h.sim.place_inbound_call("13800002222", "李四", patience_s=900.0)
        await h.until(lambda: any(e["event"] == "call.offered" for e in logs), 60, "offered")
        h.sim.hangup_call(call)
        await h.until(lambda: h.dispatcher.stats.calls_abandoned == 1, 60, "abandoned")
        await h.until(lambda: h.dispatcher.stats.callbacks_scheduled == 1, 60, "return call scheduled")
    scheduled = next(e for e in logs if e["event"] == "callback.scheduled")
    assert scheduled["kind"] == "return_call"
    assert all(a.state is not AgentState.OFFERED for a in h.dispatcher.agents())


async def test_a_ringing_callback_is_preempted_for_an_inbound_call(harness: Harness) -> None:
    h = harness
    _talk(h, 300.0)
    await h.start()
    # Four agents busy on long inbound calls, the fifth on a callback whose citizen is slow.
    for agent in ("1002", "1003", "1004", "1005"):
        h.service.inbox.put_nowait(AgentPause(agent, "meeting"))  # type: ignore[union-attr]
    h.sim.set_citizen_behaviour("13900003333", CitizenBehaviour.answer(after_s=25.0, talk_s=30.0))
    with capture_logs() as logs:
        h.service.inbox.put_nowait(  # type: ignore[union-attr]
            ScheduleCallback("t-pre", CallbackKind.FOLLOW_UP, "13900003333", h.clock.now())
        )
        await h.until(lambda: any(e["event"] == "callback.started" for e in logs), 60, "callback started")
        await asyncio.sleep(2.0 / SPEED)
        call = h.sim.place_inbound_call("13800003333", "王五", patience_s=900.0)
        await h.until(lambda: h.dispatcher.stats.callbacks_preempted == 1, 120, "callback pre-empted")
        await h.until(lambda: h.dispatcher.stats.calls_answered == 1, 200, "inbound call answered")
    answered = next(e for e in logs if e["event"] == "call.answered")
    assert answered["call_id"] == call and answered["agent_id"] == "1001"
    callback = next(c for c in h.dispatcher.callbacks() if c.callback_id == "t-pre")
    assert callback.attempts == 0  # a pre-empted attempt is not counted


async def test_restart_restores_agents_callbacks_and_waiting_calls(harness: Harness) -> None:
    h = harness
    _talk(h, 600.0)
    service = await h.start()
    for agent in ("1001", "1002", "1003", "1004"):
        service.inbox.put_nowait(AgentPause(agent, "training"))
    await h.until(
        lambda: sum(a.state is AgentState.PAUSED for a in h.dispatcher.agents()) == 4, 60, "four paused"
    )
    busy = h.sim.place_inbound_call("13800004444", "赵六", patience_s=5000.0)
    await h.until(lambda: h.dispatcher.stats.calls_answered == 1, 120, "1005 takes a call")
    waiting = [h.sim.place_inbound_call(f"1380000555{i}", "孙七", patience_s=5000.0) for i in range(3)]
    far_future = h.clock.now() + 6 * 3600
    service.inbox.put_nowait(ScheduleCallback("t-later", CallbackKind.FOLLOW_UP, "13900005555", far_future))
    await h.until(
        lambda: len(h.dispatcher.waiting_calls()) == 3 and len(h.dispatcher.callbacks()) == 1,
        60,
        "three waiting, one callback",
    )
    await asyncio.sleep(20.0 / SPEED)  # the callers wait 20 s more before the crash
    assert service.runtime is not None
    await service.runtime.drain_records()  # what the queue handed out is in the store
    await h.kill()

    service = await h.start()
    await h.until(lambda: len(h.dispatcher.waiting_calls()) == 3, 60, "waiting calls back from the resync")
    assert {c.call_id for c in h.dispatcher.waiting_calls()} == set(waiting)
    # Their wait goes on from Asterisk's channel age; the restart does not reset it.
    assert h.dispatcher.snapshot(h.clock.now()).longest_wait_s >= 18.0
    states = {a.agent_id: a for a in h.dispatcher.agents()}
    # 1005 is still talking to the caller: the resync found the bridge and gave it back the call.
    assert states["1005"].state is AgentState.BUSY_INBOUND
    assert all(
        states[a].state is AgentState.PAUSED and states[a].pause_reason == "training"
        for a in ("1001", "1002", "1003", "1004")
    )
    callbacks = h.dispatcher.callbacks()
    assert [c.number for c in callbacks] == ["13900005555"]
    assert abs(callbacks[0].due_at - far_future) < 1.0
    assert busy in h.sim.live_calls()
    await h.stop()
    async with Store.open(h.settings.store.path) as store:
        pending = await store.pending_callbacks()
    assert [p.status for p in pending] == [CallbackStatus.PENDING]


@pytest.mark.parametrize("killed_while", ["citizen_ringing", "talking"])
async def test_a_callback_under_way_at_a_restart_is_taken_up_again_not_dialled_twice(
    harness: Harness, killed_while: str
) -> None:
    h = harness
    _talk(h, 600.0)
    service = await h.start()
    for agent in ("1002", "1003", "1004", "1005"):
        service.inbox.put_nowait(AgentPause(agent, "meeting"))
    ringing = killed_while == "citizen_ringing"
    answer_after_s = 25.0 if ringing else 1.0  # the dialplan gives the citizen 30 s
    h.sim.set_citizen_behaviour("13900006666", CitizenBehaviour.answer(after_s=answer_after_s, talk_s=5000.0))
    service.inbox.put_nowait(ScheduleCallback("t-now", CallbackKind.FOLLOW_UP, "13900006666", h.clock.now()))
    if ringing:
        await h.until(
            lambda: (a := h.dispatcher.agent("1001")) is not None and a.state is AgentState.BUSY_CALLBACK,
            60,
            "the agent answered, the citizen's phone rings",
        )
        assert h.dispatcher.stats.callbacks_reached == 0
    else:
        await h.until(lambda: h.dispatcher.stats.callbacks_reached == 1, 120, "the citizen answered")
    assert service.runtime is not None
    await service.runtime.drain_records()
    await h.kill()

    def originates() -> int:
        return sum(1 for a in h.sim.actions_received if a.get("Action").lower() == "originate")

    assert originates() == 1
    await h.start()
    await h.until(
        lambda: (a := h.dispatcher.agent("1001")) is not None and a.state is AgentState.BUSY_CALLBACK,
        60,
        "1001 is given back its callback",
    )
    await h.until(lambda: h.dispatcher.stats.callbacks_reached == 1 or not ringing, 60, "reached")
    (call_id,) = h.sim.live_calls()
    h.sim.hangup_call(call_id)
    await h.until(lambda: not h.sim.live_calls(), 60, "the call ended")
    await h.until(
        lambda: (a := h.dispatcher.agent("1001")) is not None and a.state is not AgentState.BUSY_CALLBACK,
        60,
        "1001 left the call",
    )
    await h.stop()
    assert originates() == 1  # the restart did not dial the citizen again
    async with Store.open(h.settings.store.path) as store:
        assert await store.pending_callbacks() == []
        record = await store.get_call(call_id)
        assert record is not None and record.direction is Direction.CALLBACK
        assert (record.outcome, record.agent_id) == (CallOutcome.ANSWERED, "1001")
        if ringing:  # the callback was still open at the restart: the call is linked to it
            assert record.callback_id is not None
            callback = await store.get_callback(record.callback_id)
            assert callback is not None
            assert (callback.status, callback.attempts) == (CallbackStatus.DONE, 1)


@pytest.mark.parametrize(("number", "reached"), [("13912345678", True), ("13900000404", False)])
async def test_a_follow_up_call_from_a_ticket_moves_the_ticket_on(
    harness: Harness, number: str, reached: bool
) -> None:
    """The ticket workflow (another process, like the CLI) schedules the 回访; the running queue
    picks it up from the store, calls, and the outcome reaches the ticket."""
    h = harness
    queue = dataclasses.replace(h.base.queue, callback_max_attempts=1)
    h.base = dataclasses.replace(h.base, queue=queue)
    _talk(h, 20.0)
    await h.start()
    service_settings = h.settings
    async with Store.open(service_settings.store.path) as store:
        tickets = TicketService.from_settings(service_settings, store, clock=h.clock.now)
        created = await tickets.create(
            TicketDraft(
                ticket_type=TicketType.COMPLAINT,
                channel=Channel.PHONE,
                classification="01010101",
                occurred="今天上午",
                location="沈阳市和平区中华路",
                description="共享单车大量堆放在人行道上",
                current_situation="仍然堵塞",
                request="尽快清理",
                respondent="某共享单车公司",
                citizen_name="王小明",
                citizen_number=number,
            ),
            actor="1001",
        )
        assert isinstance(created, Created)
        ticket_number = created.ticket.number
        for action in (Action.DISPATCH, Action.START, Action.FEEDBACK):
            await tickets.transition(ticket_number, action, actor="区城市管理局")

        async def ticket() -> Any:
            return (await tickets.get(ticket_number)).ticket

        expected = TicketState.CALLBACK if reached else TicketState.CLOSED
        async with asyncio.timeout(20):
            while not (
                h.dispatcher.stats.callbacks_reached + h.dispatcher.stats.callbacks_failed >= 1
                and not h.dispatcher.callbacks()
            ):
                await asyncio.sleep(0.05)
            await h.stop()
        final = await ticket()
        assert final.state is expected
        view = await tickets.get(ticket_number)
        if reached:
            assert [link.role for link in view.links] == [LinkRole.FOLLOW_UP]
        else:
            assert final.satisfaction is Satisfaction.UNREACHABLE


async def test_logs_never_show_a_citizens_number_or_name(harness: Harness) -> None:
    """The real JSON logging, end to end: calls, abandons, return calls, a ticket's follow-up."""
    h = harness
    stream = io.StringIO()
    configure_logging("debug", stream)
    try:
        _talk(h, 20.0)
        service = await h.start()
        citizens = [("13812345671", "欧阳娜娜"), ("13912345672", "司马光"), ("15012345673", "张伟")]
        for number, name in citizens:
            h.sim.place_inbound_call(number, name, patience_s=0.5 if name == "张伟" else 600.0)
        service.inbox.put_nowait(
            ScheduleCallback("t-log", CallbackKind.FOLLOW_UP, "18612345674", h.clock.now())
        )
        await h.until(
            lambda: h.dispatcher.stats.calls_answered + h.dispatcher.stats.calls_abandoned == 3,
            600,
            "the three calls ended",
        )
        await h.until(
            lambda: h.dispatcher.stats.callbacks_reached >= 2, 900, "follow-up and return call made"
        )
        await h.stop()
    finally:
        structlog.reset_defaults()
    text = stream.getvalue()
    assert "call.enqueued" in text and "callback.result" in text
    for number, name in [*citizens, ("18612345674", "")]:
        assert number not in text
        assert number[:3] + "****" + number[-4:] in text
        if name:
            assert name not in text
    assert not re.search(r"(?<![\d.])1[3-9]\d{9}(?![\d.])", text)

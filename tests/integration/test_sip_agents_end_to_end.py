"""Agents on SIP softphones (PJSIP devices): the whole service against the simulator over TCP.

The simulator plays the phones of the pjsip captures (register, de-register, die without a
word); the service must never offer a call to a phone that is not there, must take back at
once an offer ringing a phone found dead, and must give back an agent whose phone is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hotline.app import HotlineService
from hotline.clock import ScaledClock
from hotline.demo import demo_settings
from hotline.events import AgentDialFailed, DeviceReachability
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, AgentBehaviour, PbxSimulator
from hotline.queue.agents import AgentState
from hotline.queue.commands import ConnectCallToAgent, ReturnCallToHold
from hotline.settings import AgentConfig, Settings, load_settings

SPEED = 20.0
PHONES = ("1001", "1002")
_CHINA = dt.timezone(dt.timedelta(hours=8))


def _nine_am() -> float:
    return dt.datetime.now(_CHINA).replace(hour=9, minute=0, second=0, microsecond=0).timestamp()


def sip_settings(base: Settings) -> Settings:
    """Two agents on PJSIP phones, as in production (``PJSIP/{agent}``)."""
    agents = tuple(AgentConfig(id=a, device=f"PJSIP/{a}", autologin=True) for a in PHONES)
    dialplan = dataclasses.replace(base.dialplan, agent_device_template="PJSIP/{agent}")
    return dataclasses.replace(base, agents=agents, dialplan=dialplan)


class Service:
    """The service on a sped-up clock, recording every (input, commands) the dispatcher saw."""

    def __init__(self, settings: Settings, sim: PbxSimulator, workdir: Path) -> None:
        self.sim = sim
        self.clock = ScaledClock(SPEED, start=_nine_am())
        s = demo_settings(settings, sim.port, workdir)
        self.settings = dataclasses.replace(s, ami=dataclasses.replace(s.ami, reconnect_min_s=0.05))
        self.seen: list[tuple[Any, list[Any]]] = []
        self.service: HotlineService | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.service = HotlineService(self.settings, clock=self.clock)
        self.service.observer = lambda event, commands: self.seen.append((event, list(commands)))
        self._task = asyncio.create_task(self.service.run(self._stop), name="test-service")
        await asyncio.wait_for(self.service.started.wait(), 5)
        assert self.service.client is not None
        await asyncio.wait_for(self.service.client.connected.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 15)

    def state(self, agent_id: str) -> AgentState | None:
        assert self.service is not None and self.service.dispatcher is not None
        record = self.service.dispatcher.agent(agent_id)
        return record.state if record is not None else None

    def commands(self, kind: type[Any]) -> list[Any]:
        return [c for _, commands in self.seen for c in commands if isinstance(c, kind)]

    async def until(self, condition: Callable[[], bool], sim_seconds: float, what: str) -> None:
        try:
            async with asyncio.timeout(sim_seconds / SPEED + 2.0):
                while not condition():
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError(f"timed out waiting until {what}: {self.seen[-5:]}") from None


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    settings = load_settings(environ={})
    simulator = PbxSimulator(
        port=0,
        time_scale=1.0 / SPEED,
        dialplan=settings.dialplan,
        seed=3,
        channelvars=SHIPPED_CHANNELVARS,
        sip_phones=PHONES,
        unregistered_phones=("1001",),
    )
    async with simulator:
        yield simulator


@pytest.fixture
async def service(sim: PbxSimulator, tmp_path: Path) -> AsyncIterator[Service]:
    svc = Service(sip_settings(load_settings(environ={})), sim, tmp_path)
    try:
        yield svc
    finally:
        with contextlib.suppress(Exception):
            await svc.stop()


def _offers_to(svc: Service, agent_id: str) -> list[ConnectCallToAgent]:
    return [c for c in svc.commands(ConnectCallToAgent) if c.agent_id == agent_id]


async def test_an_agent_unregistered_at_start_is_never_offered_a_call_and_is_ready_once_registered(
    sim: PbxSimulator, service: Service
) -> None:
    svc = service
    for agent in PHONES:
        sim.set_agent_behaviour(agent, AgentBehaviour.answering(after_s=1.0, talk_s=60.0))
    await svc.start()
    # The device states asked at connect came before the PBX was reported connected.
    assert svc.state("1001") is AgentState.DEVICE_UNAVAILABLE
    assert svc.state("1002") is AgentState.READY
    first = sim.place_inbound_call("13800000201", "赵一")
    await svc.until(lambda: svc.state("1002") is AgentState.BUSY_INBOUND, 10, "1002 takes the first call")
    second = sim.place_inbound_call("13800000202", "钱二")
    await svc.until(
        lambda: any(getattr(e, "call_id", "") == second for e, _ in svc.seen), 10, "the second call waits"
    )
    assert _offers_to(svc, "1001") == []  # 1001's phone is not there: never offered
    assert not any(isinstance(e, AgentDialFailed) for e, _ in svc.seen)  # so no dial ever failed
    sim.register_phone("1001")
    await svc.until(lambda: svc.state("1001") is AgentState.BUSY_INBOUND, 10, "1001 takes the second call")
    assert [c.call_id for c in _offers_to(svc, "1001")] == [second]
    assert [c.call_id for c in _offers_to(svc, "1002")] == [first]


async def test_an_offer_ringing_a_phone_found_dead_goes_to_another_agent_at_once(
    sim: PbxSimulator, service: Service
) -> None:
    svc = service
    sim.register_phone("1001")  # both phones up; 1001 comes first in the configured order
    sim.set_agent_behaviour("1002", AgentBehaviour.answering(after_s=1.0, talk_s=60.0))
    svc.settings = dataclasses.replace(
        svc.settings, queue=dataclasses.replace(svc.settings.queue, agent_choice="config_order")
    )
    await svc.start()
    await svc.until(lambda: svc.state("1002") is AgentState.READY, 5, "agents ready")
    sim.kill_phone("1001")  # dies idle, still registered and believed reachable
    call = sim.place_inbound_call("13800000203", "孙三")
    await svc.until(lambda: svc.state("1001") is AgentState.OFFERED, 10, "the dead phone is offered the call")
    await svc.until(lambda: svc.state("1002") is AgentState.BUSY_INBOUND, 30, "1002 takes the call")
    lost = next(
        i
        for i, (e, _) in enumerate(svc.seen)
        if isinstance(e, DeviceReachability) and e.device == "PJSIP/1001" and not e.reachable
    )
    _, commands = svc.seen[lost]
    # Withdrawn and offered to 1002 in the very decision that followed the phone's loss,
    # long before the dead phone's ring timeout would have ended the dial.
    assert [c.agent_id for c in commands if isinstance(c, ConnectCallToAgent)] == ["1002"]
    assert [c.call_id for c in _offers_to(svc, "1002")] == [call]
    assert svc.state("1001") is AgentState.DEVICE_UNAVAILABLE  # not paused "no_answer"
    record = svc.service.dispatcher.agent("1001")  # type: ignore[union-attr]
    assert record is not None and record.pause_reason is None
    sim.register_phone("1001")
    await svc.until(lambda: svc.state("1001") is AgentState.READY, 10, "1001 is back")


async def test_an_offer_to_a_phone_found_dead_with_nobody_else_free_goes_back_on_hold(
    sim: PbxSimulator, service: Service
) -> None:
    svc = service
    sim.register_phone("1001")
    await svc.start()
    sim.unregister_phone("1002")
    await svc.until(lambda: svc.state("1002") is AgentState.DEVICE_UNAVAILABLE, 5, "1002 unavailable")
    sim.kill_phone("1001")
    call = sim.place_inbound_call("13800000204", "李四")
    await svc.until(lambda: svc.state("1001") is AgentState.OFFERED, 10, "the dead phone is offered the call")
    await svc.until(lambda: bool(svc.commands(ReturnCallToHold)), 30, "the call is taken back to hold")
    assert [c.call_id for c in svc.commands(ReturnCallToHold)] == [call]
    await svc.until(
        lambda: any(ch.linkedid == call and ch.application == "MusicOnHold" for ch in sim.live_channels()),
        5,
        "the caller hears music on hold again",
    )
    assert not any(ch.name.startswith("PJSIP/1001-") for ch in sim.live_channels())  # the dial is over
    assert [w.call_id for w in svc.service.dispatcher.waiting_calls()] == [call]  # type: ignore[union-attr]
    sim.set_agent_behaviour("1001", AgentBehaviour.answering(after_s=1.0, talk_s=60.0))
    sim.register_phone("1001")
    await svc.until(lambda: svc.state("1001") is AgentState.BUSY_INBOUND, 10, "1001, back, takes the call")


async def test_a_phone_that_left_while_the_ami_link_was_down_is_found_out_at_the_reconnect(
    sim: PbxSimulator, service: Service
) -> None:
    svc = service
    sim.register_phone("1001")
    await svc.start()
    assert svc.service is not None and svc.service.client is not None
    client = svc.service.client
    await svc.until(lambda: svc.state("1001") is AgentState.READY, 5, "1001 ready")
    connections = client.connections
    sim.drop_connections()
    sim.unregister_phone("1001")  # nobody logged in hears it
    await svc.until(lambda: client.connections > connections, 10, "the service reconnects")
    await svc.until(lambda: svc.state("1001") is AgentState.DEVICE_UNAVAILABLE, 5, "1001 found unavailable")
    call = sim.place_inbound_call("13800000205", "周五")
    await svc.until(lambda: svc.state("1002") is AgentState.OFFERED, 10, "the call goes to 1002")
    assert [c.call_id for c in _offers_to(svc, "1002")] == [call] and _offers_to(svc, "1001") == []

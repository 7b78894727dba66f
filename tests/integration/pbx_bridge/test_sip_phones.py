"""Agents' SIP softphones in the simulator, seen by the AMI bridge over real loopback TCP."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hotline.events import DeviceReachability, DeviceStateChanged, DomainEvent, PbxConnected
from hotline.pbx_bridge.connection import AmiClient
from hotline.pbx_bridge.simulator import PbxSimulator, PhoneControlError
from hotline.pbx_bridge.simulator.phones import QUALIFY_FREQUENCY_S, QUALIFY_TIMEOUT_S
from hotline.settings import Settings, load_settings

TIME_SCALE = 0.02


@pytest.fixture
def settings() -> Settings:
    return load_settings(environ={})


@pytest.fixture
async def sim(settings: Settings) -> AsyncIterator[PbxSimulator]:
    simulator = PbxSimulator(
        port=0,
        time_scale=TIME_SCALE,
        dialplan=settings.dialplan,
        sip_phones=["1001", "1002", "1003"],
        unregistered_phones=["1002"],
    )
    async with simulator:
        yield simulator


class Events:
    """Everything the client emitted, in order, with a way to wait for more."""

    def __init__(self) -> None:
        self.seen: list[DomainEvent] = []
        self._changed = asyncio.Event()

    def put(self, event: DomainEvent) -> None:
        self.seen.append(event)
        self._changed.set()

    async def wait_until(self, done: Any, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not done(self.seen):
                self._changed.clear()
                await self._changed.wait()


def client_for(settings: Settings, sim: PbxSimulator, events: Events) -> AmiClient:
    ami = dataclasses.replace(
        settings.ami, port=sim.port, action_timeout_s=2.0, reconnect_min_s=0.05, reconnect_max_s=0.2
    )
    return AmiClient(ami, settings.dialplan, events.put)


def device_events(events: list[DomainEvent], device: str) -> list[DomainEvent]:
    return [
        e for e in events if isinstance(e, DeviceStateChanged | DeviceReachability) and e.device == device
    ]


async def test_device_states_are_taken_at_connect_before_pbx_connected(
    settings: Settings, sim: PbxSimulator
) -> None:
    events = Events()
    async with client_for(settings, sim, events):
        await events.wait_until(lambda seen: any(isinstance(e, PbxConnected) for e in seen))
    connected = next(i for i, e in enumerate(events.seen) if isinstance(e, PbxConnected))
    assert events.seen[:connected] == [
        DeviceStateChanged("PJSIP/1001", "NOT_INUSE"),
        DeviceStateChanged("PJSIP/1002", "UNAVAILABLE"),
        DeviceStateChanged("PJSIP/1003", "NOT_INUSE"),
    ]
    listed = [m for m in sim.actions_received if m.get("Action") == "DeviceStateList"]
    assert len(listed) == 1


async def test_register_unregister_and_kill_reach_the_client(settings: Settings, sim: PbxSimulator) -> None:
    events = Events()
    async with client_for(settings, sim, events):
        await events.wait_until(lambda seen: any(isinstance(e, PbxConnected) for e in seen))
        start = len(events.seen)
        sim.register_phone("1002")
        await events.wait_until(lambda seen: DeviceStateChanged("PJSIP/1002", "NOT_INUSE") in seen[start:])
        assert device_events(events.seen[start:], "PJSIP/1002") == [
            DeviceReachability("PJSIP/1002", True, "ContactStatus NonQualified"),
            DeviceReachability("PJSIP/1002", True, "PeerStatus Reachable"),
            DeviceReachability("PJSIP/1002", True, "ContactStatus Reachable"),
            DeviceStateChanged("PJSIP/1002", "NOT_INUSE"),
        ]
        start = len(events.seen)
        sim.unregister_phone("1002")
        await events.wait_until(lambda seen: DeviceStateChanged("PJSIP/1002", "UNAVAILABLE") in seen[start:])
        assert [
            e.reachable
            for e in device_events(events.seen[start:], "PJSIP/1002")
            if isinstance(e, DeviceReachability)
        ] == [False, False]
        start = len(events.seen)
        sim.kill_phone("1003")
        found_out = (QUALIFY_FREQUENCY_S + QUALIFY_TIMEOUT_S) * TIME_SCALE
        await events.wait_until(
            lambda seen: DeviceStateChanged("PJSIP/1003", "UNAVAILABLE") in seen[start:],
            timeout=found_out + 5,
        )
        assert device_events(events.seen[start:], "PJSIP/1003") == [
            DeviceReachability("PJSIP/1003", False, "PeerStatus Unreachable"),
            DeviceReachability("PJSIP/1003", False, "ContactStatus Unreachable"),
            DeviceStateChanged("PJSIP/1003", "UNAVAILABLE"),
        ]
        with pytest.raises(PhoneControlError):
            sim.register_phone("1009")


async def test_registrations_survive_a_pbx_restart_and_are_listed_again(
    settings: Settings, sim: PbxSimulator
) -> None:
    events = Events()
    async with client_for(settings, sim, events):
        await events.wait_until(lambda seen: any(isinstance(e, PbxConnected) for e in seen))
        sim.register_phone("1002")
        sim.unregister_phone("1001")
        await sim.restart(down_s=1.0)
        await events.wait_until(lambda seen: sum(isinstance(e, PbxConnected) for e in seen) == 2, timeout=10)
    second = [i for i, e in enumerate(events.seen) if isinstance(e, PbxConnected)][1]
    listed = [e for e in events.seen[:second] if isinstance(e, DeviceStateChanged)][-3:]
    assert listed == [
        DeviceStateChanged("PJSIP/1001", "UNAVAILABLE"),
        DeviceStateChanged("PJSIP/1002", "NOT_INUSE"),
        DeviceStateChanged("PJSIP/1003", "NOT_INUSE"),
    ]

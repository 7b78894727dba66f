"""Supervisor take-over (ChanSpy) and recording (MixMonitor) against the simulator over TCP.

The assertions are on the bytes the simulator received, then on what it did with them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from hotline.events import CallArrived, CallBridged, OriginateResult
from hotline.pbx_bridge.actions import InvalidDialTargetError, PbxActions
from hotline.pbx_bridge.errors import ActionFailedError
from hotline.pbx_bridge.simulator import PbxSimulator
from hotline.settings import Settings, load_settings
from tests.integration.pbx_bridge.test_bridge import Inbox, connected_client

TIME_SCALE = 0.05


@pytest.fixture
def settings() -> Settings:
    return load_settings(environ={})


@pytest.fixture
async def sim(settings: Settings) -> AsyncIterator[PbxSimulator]:
    simulator = PbxSimulator(port=0, time_scale=TIME_SCALE, dialplan=settings.dialplan)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.close()


def _frames(sim: PbxSimulator, action: str) -> list[bytes]:
    wire = b"".join(sim.received)
    return [f for f in wire.split(b"\r\n\r\n") if f.startswith(f"Action: {action}\r\n".encode())]


async def _answered_call(settings: Settings, sim: PbxSimulator, inbox: Inbox, actions: PbxActions) -> str:
    """An inbound call connected to agent 1001; returns the agent's channel."""
    sim.place_inbound_call("13800000071", "赵六", priority="urgent")
    arrived = await inbox.wait_type(CallArrived)
    await actions.redirect_to_agent(arrived.channel, "1001", "Local/1001@agents")
    bridged = await inbox.wait_type(CallBridged, timeout=10.0)
    agent_channel = next(c for c in bridged.channels if c.startswith("Local/1001@agents"))
    return str(agent_channel)


async def test_mixmonitor_and_chanspy_go_out_with_the_right_headers(
    settings: Settings, sim: PbxSimulator
) -> None:
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox)
    actions = PbxActions(client, settings.dialplan)
    try:
        agent_channel = await _answered_call(settings, sim, inbox, actions)
        await actions.start_recording(agent_channel, "hotline-1795839276.12-20261201T033700.wav")
        action_id = await actions.supervise("Local/1901@agents", agent_channel)
        result = await inbox.wait_for(
            lambda e: isinstance(e, OriginateResult) and e.action_id == action_id, 10.0
        )
        assert isinstance(result, OriginateResult)
        for _ in range(100):
            if sim.model.spies:
                break
            await asyncio.sleep(0.02)
    finally:
        await client.__aexit__(None, None, None)

    (mix,) = _frames(sim, "MixMonitor")
    assert re.fullmatch(
        rb"Action: MixMonitor\r\nActionID: [^\r\n]+\r\nChannel: "
        + re.escape(agent_channel.encode())
        + rb"\r\nFile: hotline-1795839276\.12-20261201T033700\.wav",
        mix,
    ), mix
    (originate,) = _frames(sim, "Originate")
    headers = [line.split(b": ", 1) for line in originate.split(b"\r\n")]
    assert [h[0] for h in headers] == [
        b"Action",
        b"ActionID",
        b"Channel",
        b"Context",
        b"Exten",
        b"Priority",
        b"CallerID",
        b"Timeout",
        b"Async",
        b"Variable",
    ]
    values = dict((h[0], h[1]) for h in headers)
    assert values[b"Channel"] == b"Local/1901@agents"
    assert (values[b"Context"], values[b"Exten"], values[b"Priority"]) == (b"hotline-supervise", b"spy", b"1")
    assert values[b"Variable"] == b"HOTLINE_SPY_TARGET=" + agent_channel.encode()
    assert sim.recordings == [(agent_channel, "hotline-1795839276.12-20261201T033700.wav")]
    assert sim.model.spies and sim.model.spies[0][1] == agent_channel


async def test_mixmonitor_answers_as_asterisk_22_does(settings: Settings, sim: PbxSimulator) -> None:
    """A bare ``Response: Success`` (no MixMonitorID without option i), likewise for
    StopMixMonitor; a second StopMixMonitor is refused (tests/captures/issue11)."""
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox)
    actions = PbxActions(client, settings.dialplan)
    try:
        sim.place_inbound_call("13800000072", "孙八", priority="urgent")
        caller = (await inbox.wait_type(CallArrived)).channel
        recording = [("Channel", caller), ("File", "a.wav")]
        action_id, (answer,) = await client.send_action("MixMonitor", recording)
        assert answer.headers == (("Response", "Success"), ("ActionID", action_id))
        action_id, (answer,) = await client.send_action("StopMixMonitor", [("Channel", caller)])
        assert answer.headers == (("Response", "Success"), ("ActionID", action_id))
        with pytest.raises(ActionFailedError, match="Could not stop monitoring channel"):
            await actions.stop_recording(caller)
    finally:
        await client.__aexit__(None, None, None)


async def test_mixmonitor_of_a_missing_channel_is_refused_as_asterisk_does(
    settings: Settings, sim: PbxSimulator
) -> None:
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox)
    actions = PbxActions(client, settings.dialplan)
    try:
        with pytest.raises(ActionFailedError, match="No such channel"):
            await actions.start_recording("PJSIP/9999-00000001", "x.wav")
    finally:
        await client.__aexit__(None, None, None)


@pytest.mark.parametrize(
    ("channel", "file_name"),
    [
        ("PJSIP/1001-0001,qBw", "ok.wav"),  # a comma would add ChanSpy/MixMonitor options
        ("PJSIP/1001-0001", "../../etc/passwd"),
        ("PJSIP/1001-0001", "a.wav,b(/tmp/x)"),
        ("PJSIP/1001-0001\r\nAction: Hangup", "ok.wav"),
    ],
)
async def test_outside_values_never_reach_the_wire(
    settings: Settings, sim: PbxSimulator, channel: str, file_name: str
) -> None:
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox)
    actions = PbxActions(client, settings.dialplan)
    try:
        with pytest.raises(InvalidDialTargetError):
            await actions.start_recording(channel, file_name)
        with pytest.raises(InvalidDialTargetError):
            await actions.supervise(
                "Local/2001@agents", channel if "," in channel or "\n" in channel else channel + ",q"
            )
        await client.send_action("Ping")
    finally:
        await client.__aexit__(None, None, None)
    wire = b"".join(sim.received)
    assert b"MixMonitor" not in wire and b"Originate" not in wire and b"Action: Hangup" not in wire

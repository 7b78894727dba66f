"""The AMI bridge against the AMI simulator over real loopback TCP (no socket mocks)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from hotline.events import (
    AgentDialEnded,
    AgentRinging,
    CallArrived,
    CallbackLegCreated,
    CallBridged,
    CallEnded,
    CitizenDialEnded,
    DomainEvent,
    EndReason,
    OriginateResult,
    PbxConnected,
    PbxDisconnected,
)
from hotline.pbx_bridge.actions import PbxActions
from hotline.pbx_bridge.codec import HeaderInjectionError
from hotline.pbx_bridge.connection import AmiClient
from hotline.pbx_bridge.errors import ActionFailedError, ActionTimeoutError, ConnectionLostError
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, AgentBehaviour, CitizenBehaviour, PbxSimulator
from hotline.settings import Settings, load_settings

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


def ami_settings(settings: Settings, sim: PbxSimulator, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "port": sim.port,
        "ping_interval_s": 0.3,
        "ping_timeout_s": 0.3,
        "action_timeout_s": 1.0,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
    }
    values.update(overrides)
    return dataclasses.replace(settings.ami, **values)


class Inbox:
    """The dispatcher's side of the queue, with helpers to wait for events."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[DomainEvent] = asyncio.Queue()
        self.seen: list[DomainEvent] = []

    async def wait_for(self, match: Callable[[DomainEvent], bool], timeout: float = 5.0) -> DomainEvent:
        for event in self.seen:
            if match(event):
                self.seen.remove(event)
                return event
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                if match(event):
                    return event
                self.seen.append(event)

    async def wait_type(self, kind: type[Any], timeout: float = 5.0) -> Any:
        return await self.wait_for(lambda e: isinstance(e, kind), timeout)


async def connected_client(
    settings: Settings, sim: PbxSimulator, inbox: Inbox, **overrides: Any
) -> AmiClient:
    client = AmiClient(ami_settings(settings, sim, **overrides), settings.dialplan, inbox.queue.put_nowait)
    await client.__aenter__()
    await inbox.wait_type(PbxConnected)
    return client


async def test_login_and_resync_with_calls_already_up(settings: Settings, sim: PbxSimulator) -> None:
    first = sim.place_inbound_call("13800000001", "张三")
    second = sim.place_inbound_call("13800000002", "李四", priority="urgent")
    await asyncio.sleep(0.05)
    inbox = Inbox()
    with capture_logs() as logs:
        client = await connected_client(settings, sim, inbox)
        try:
            arrived = [e for e in inbox.seen if isinstance(e, CallArrived)]
            assert {e.call_id for e in arrived} == {first, second}
            assert all(e.resynced for e in arrived)
            assert {e.caller_name for e in arrived} == {"张三", "李四"}
        finally:
            await client.__aexit__(None, None, None)
    names = [entry["event"] for entry in logs]
    assert "ami.connected" in names
    resynced = next(entry for entry in logs if entry["event"] == "ami.resynced")
    assert resynced["channels"] >= 4  # two Local halves per call


async def test_wrong_secret_is_refused_and_retried_without_connecting(
    settings: Settings, sim: PbxSimulator
) -> None:
    inbox = Inbox()
    wrong = dataclasses.replace(
        settings.ami,
        port=sim.port,
        secret=type(settings.ami.secret)("wrong"),
        reconnect_min_s=0.05,
        reconnect_max_s=0.1,
        action_timeout_s=3.0,
    )
    with capture_logs() as logs:
        async with AmiClient(wrong, settings.dialplan, inbox.queue.put_nowait) as client:
            for _ in range(100):
                if any(e["event"] == "ami.login_failed" for e in logs):
                    break
                await asyncio.sleep(0.05)
            assert not client.connected.is_set()
    failed = [e for e in logs if e["event"] == "ami.login_failed"]
    assert failed and failed[0]["message"] == "Authentication failed"
    assert all("wrong" not in str(e) for e in logs)  # the secret never reaches a log line


async def test_disconnect_mid_call_then_resync(settings: Settings, sim: PbxSimulator) -> None:
    inbox = Inbox()
    staying = sim.place_inbound_call("13800000011", "王五")
    leaving = sim.place_inbound_call("13800000012", "赵六")
    client = await connected_client(settings, sim, inbox)
    try:
        sim.drop_connections()
        lost = await inbox.wait_type(PbxDisconnected)
        assert "closed" in lost.reason
        sim.hangup_call(leaving)
        newcomer = sim.place_inbound_call("13800000013", "孙七")
        await inbox.wait_type(PbxConnected)
        ended = await inbox.wait_for(lambda e: isinstance(e, CallEnded) and e.call_id == leaving)
        assert isinstance(ended, CallEnded) and ended.reason is EndReason.LOST_DURING_DISCONNECT
        back = {e.call_id for e in inbox.seen if isinstance(e, CallArrived) and e.resynced}
        assert {staying, newcomer} <= back
        assert leaving not in client.translator.live_calls
    finally:
        await client.__aexit__(None, None, None)


async def test_asterisk_restart_is_survived(settings: Settings, sim: PbxSimulator) -> None:
    inbox = Inbox()
    call = sim.place_inbound_call("13800000021", "周八")
    client = await connected_client(settings, sim, inbox)
    try:
        restart = asyncio.create_task(sim.restart(down_s=0.3))
        gone = await inbox.wait_type(PbxDisconnected)
        assert gone.reason == "asterisk shutdown"
        ended = await inbox.wait_for(lambda e: isinstance(e, CallEnded) and e.call_id == call)
        assert isinstance(ended, CallEnded)
        await restart
        again = await inbox.wait_type(PbxConnected)
        assert again.channels == 0
        assert client.connections == 2
        fresh = sim.place_inbound_call("13800000022", "吴九")
        arrived = await inbox.wait_for(lambda e: isinstance(e, CallArrived) and e.call_id == fresh)
        assert not arrived.resynced
    finally:
        await client.__aexit__(None, None, None)


async def test_half_open_connection_is_detected_and_replaced(settings: Settings, sim: PbxSimulator) -> None:
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox)
    try:
        sim.stop_answering(True)
        gone = await inbox.wait_type(PbxDisconnected, timeout=5)
        assert gone.reason == "ping timeout"
        sim.stop_answering(False)
        await inbox.wait_type(PbxConnected, timeout=5)
    finally:
        await client.__aexit__(None, None, None)


async def test_an_unanswered_action_times_out(settings: Settings, sim: PbxSimulator) -> None:
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox, ping_interval_s=60.0, action_timeout_s=0.3)
    try:
        sim.stop_answering(True)
        with pytest.raises(ActionTimeoutError) as info:
            await client.send_action("Getvar", [("Channel", "Local/1@x-00000001;1"), ("Variable", "X")])
        assert info.value.action == "Getvar" and info.value.timeout_s == 0.3
    finally:
        sim.stop_answering(False)
        await client.__aexit__(None, None, None)


async def test_an_originate_lost_in_a_disconnect_is_never_resent(
    settings: Settings, sim: PbxSimulator
) -> None:
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox, ping_interval_s=60.0, action_timeout_s=5.0)
    actions = PbxActions(client, settings.dialplan)
    try:
        sim.stop_answering(True)
        pending = asyncio.create_task(actions.originate_callback("cb-1", "Local/1001@agents", "13900000002"))
        await asyncio.sleep(0.1)
        sim.drop_connections()
        with pytest.raises(ConnectionLostError):
            await pending
        sim.stop_answering(False)
        await inbox.wait_type(PbxConnected)
        await asyncio.sleep(0.3)
        # Exactly one Originate ever reached the PBX: it was not re-sent after the reconnect.
        assert b"".join(sim.received).count(b"Action: Originate\r\n") == 1
    finally:
        await client.__aexit__(None, None, None)


async def test_a_failing_translation_does_not_drop_the_connection(
    settings: Settings, sim: PbxSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox)
    real = client.translator.feed_frame
    failures = {"left": 1}

    def flaky(frame: bytes, name: bytes | None = None) -> list[DomainEvent]:
        # Inject the one fault we cannot cause from outside: a translator bug.
        if name == b"UserEvent" and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("injected translator fault")
        return real(frame, name)

    monkeypatch.setattr(client.translator, "feed_frame", flaky)
    try:
        with capture_logs() as logs:
            sim.place_inbound_call("13800000031")
            second = sim.place_inbound_call("13800000032")
            arrived = await inbox.wait_for(lambda e: isinstance(e, CallArrived) and e.call_id == second)
        assert arrived.call_id == second
        assert client.connections == 1 and client.connected.is_set()
        assert any(e["event"] == "ami.frame_error" for e in logs)
    finally:
        await client.__aexit__(None, None, None)


async def test_events_arrive_in_wire_order(settings: Settings, sim: PbxSimulator) -> None:
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox)
    try:
        placed = [sim.place_inbound_call(f"138000001{i:02d}") for i in range(20)]
        got: list[str] = []
        while len(got) < len(placed):
            event = await inbox.wait_type(CallArrived)
            got.append(event.call_id)
        assert got == placed
    finally:
        await client.__aexit__(None, None, None)


async def test_injected_header_never_reaches_the_wire(settings: Settings, sim: PbxSimulator) -> None:
    inbox = Inbox()
    call = sim.place_inbound_call("13800000041", "钱十")
    client = await connected_client(settings, sim, inbox)
    actions = PbxActions(client, settings.dialplan)
    arrived = next(e for e in inbox.seen if isinstance(e, CallArrived))
    evil = "钱十\r\nAction: Originate\r\nChannel: Local/13900000002@caller-sim\r\nContext: hotline-callback"
    try:
        with pytest.raises(HeaderInjectionError):
            await actions.set_variable(arrived.channel, "CALLER_NAME", evil)
        with pytest.raises(HeaderInjectionError):
            await actions.redirect_to_agent(arrived.channel, "1001", "Local/1001@agents\nAction: Hangup")
        await client.send_action("Ping")
        wire = b"".join(sim.received)
        assert b"Originate" not in wire and b"Action: Hangup" not in wire
        assert [a.get("Action") for a in sim.actions_received].count("Setvar") == 0
        assert call in client.translator.live_calls
    finally:
        await client.__aexit__(None, None, None)


async def test_garbage_from_the_pbx_is_survived(settings: Settings, sim: PbxSimulator) -> None:
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox)
    try:
        with capture_logs() as logs:
            sim.send_garbage(
                b"\xff\xfe\x00 not AMI at all\r\n\r\nEvent: Newchannel\r\nUniqueid: 1.1\r\nCallerIDName: "
                + "王五".encode("gbk")
                + b"\r\n\r\n"
            )
            call = sim.place_inbound_call("13800000051", "郑一")
            arrived = await inbox.wait_for(lambda e: isinstance(e, CallArrived) and e.call_id == call)
        assert arrived.caller_name == "郑一"
        assert client.connections == 1
        bad = [e for e in logs if e["event"] == "ami.bad_encoding"]
        assert len(bad) == 1 and bad[0]["event_name"] == "Newchannel"
    finally:
        await client.__aexit__(None, None, None)


async def test_redirect_to_agent_and_asterisk_errors(settings: Settings, sim: PbxSimulator) -> None:
    inbox = Inbox()
    call = sim.place_inbound_call("13800000061", "冯二")
    client = await connected_client(settings, sim, inbox)
    actions = PbxActions(client, settings.dialplan)
    try:
        arrived = next(e for e in inbox.seen if isinstance(e, CallArrived) and e.call_id == call)
        await actions.redirect_to_agent(arrived.channel, "1001", "Local/1001@agents", ring_timeout_s=5)
        ringing = await inbox.wait_type(AgentRinging)
        assert ringing.call_id == call and ringing.device == "Local/1001@agents"
        answered = await inbox.wait_type(AgentDialEnded)
        assert answered.answered
        bridged = await inbox.wait_type(CallBridged)
        assert bridged.call_id == call
        with pytest.raises(ActionFailedError) as info:
            await actions.hangup("Local/99999@caller-sim-deadbeef;1")
        assert info.value.message == "No such channel"
    finally:
        await client.__aexit__(None, None, None)


async def test_callback_agent_leg_first_then_citizen(settings: Settings, sim: PbxSimulator) -> None:
    inbox = Inbox()
    client = await connected_client(settings, sim, inbox)
    actions = PbxActions(client, settings.dialplan)
    try:
        action_id = await actions.originate_callback("cb-42", "Local/1001@agents", "13900000002")
        leg = await inbox.wait_type(CallbackLegCreated)
        assert leg.callback_id == "cb-42"
        result = await inbox.wait_for(lambda e: isinstance(e, OriginateResult) and e.action_id == action_id)
        assert isinstance(result, OriginateResult) and result.success and result.call_id == leg.call_id
        citizen = await inbox.wait_type(CitizenDialEnded)
        assert citizen.call_id == leg.call_id and citizen.dial_status == "ANSWER"
        busy_id = await actions.originate_callback("cb-43", "Local/1001@agents", "13900000404")
        await inbox.wait_for(lambda e: isinstance(e, OriginateResult) and e.action_id == busy_id)
        busy = await inbox.wait_for(lambda e: isinstance(e, CitizenDialEnded) and e.call_id != leg.call_id)
        assert busy.dial_status == "BUSY"
    finally:
        await client.__aexit__(None, None, None)


async def test_a_resync_reports_ringing_answered_and_callback_calls(settings: Settings) -> None:
    """What a restarted service must learn from the listing: who rings whom, who talks, which
    calls are our callbacks (manager.conf ``channelvars``)."""
    async with PbxSimulator(
        port=0, time_scale=TIME_SCALE, dialplan=settings.dialplan, channelvars=SHIPPED_CHANNELVARS
    ) as sim:
        sim.set_agent_behaviour("1002", AgentBehaviour.never_answering())
        sim.set_agent_behaviour("1001", AgentBehaviour.answering(after_s=0.5, talk_s=600.0))
        sim.set_citizen_behaviour("13900000007", CitizenBehaviour.answer(after_s=0.5, talk_s=600.0))
        inbox = Inbox()
        client = await connected_client(settings, sim, inbox)
        actions = PbxActions(client, settings.dialplan)
        try:
            talking = sim.place_inbound_call("13800000071", "褚三")
            ringing = sim.place_inbound_call("13800000072", "卫四")
            channels = {e.call_id: e.channel for e in [await inbox.wait_type(CallArrived) for _ in range(2)]}
            await actions.redirect_to_agent(channels[talking], "1001", "Local/1001@agents", ring_timeout_s=60)
            await actions.redirect_to_agent(channels[ringing], "1002", "Local/1002@agents", ring_timeout_s=60)
            await actions.originate_callback("cb-77", "Local/1003@agents", "13900000007")
            leg = await inbox.wait_type(CallbackLegCreated)
            await inbox.wait_for(lambda e: isinstance(e, CallBridged) and e.call_id == talking)
            await inbox.wait_for(lambda e: isinstance(e, CallBridged) and e.call_id == leg.call_id)
            await inbox.wait_for(lambda e: isinstance(e, AgentRinging) and e.call_id == ringing)
            inbox.seen.clear()

            sim.drop_connections()
            await inbox.wait_type(PbxDisconnected)
            await inbox.wait_type(PbxConnected)
            after = list(inbox.seen)
        finally:
            await client.__aexit__(None, None, None)
    arrived = [e for e in after if isinstance(e, CallArrived)]
    assert [(e.call_id, e.ringing_agent, e.resynced) for e in arrived] == [(ringing, "1002", True)]
    bridged = {e.call_id: e for e in after if isinstance(e, CallBridged)}
    assert sorted(bridged) == sorted([talking, leg.call_id])
    # The talking inbound call names its caller's leg (what a take-over after a restart needs);
    # a callback's first leg is its agent's, so it names none.
    assert bridged[talking].caller_channel == channels[talking]
    assert bridged[leg.call_id].caller_channel == ""
    legs = [e for e in after if isinstance(e, CallbackLegCreated)]
    assert [(e.call_id, e.callback_id) for e in legs] == [(leg.call_id, "cb-77")]
    assert after.index(legs[0]) < next(
        i for i, e in enumerate(after) if isinstance(e, CallBridged) and e.call_id == leg.call_id
    )

"""Replays every real Asterisk capture through the framer and the translator.

Every capture (a new one dropped into the folder included) must decode completely, the same way
whether it arrives whole, in its real recv() chunks, or one byte at a time; every call that
starts must end.  The known scenarios must also yield exactly the domain events they stand for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.events import (
    AgentDialEnded,
    AgentDialFailed,
    AgentRinging,
    CallAbandoned,
    CallArrived,
    CallbackLegCreated,
    CallBridged,
    CallEnded,
    CitizenDialEnded,
    CitizenRinging,
    DeviceReachability,
    DeviceStateChanged,
    Direction,
    DomainEvent,
    OriginateResult,
)
from hotline.pbx_bridge.codec import AmiFramer, decode_frame
from hotline.pbx_bridge.translator import AmiTranslator
from hotline.settings import DialplanSettings, load_settings
from tests.transcripts import recv_chunks, require_transcripts, transcript_files


@pytest.fixture(scope="module")
def dialplan() -> DialplanSettings:
    return load_settings(environ={}).dialplan


def replay(chunks: list[bytes], dialplan: DialplanSettings) -> tuple[list[DomainEvent], AmiFramer]:
    framer = AmiFramer()
    translator = AmiTranslator(dialplan)
    events: list[DomainEvent] = []
    for chunk in chunks:
        for frame in framer.feed(chunk):
            events.extend(translator.feed_frame(frame))
    return events, framer


def calls(events: list[DomainEvent]) -> list[DomainEvent]:
    return [e for e in events if not isinstance(e, DeviceStateChanged | DeviceReachability)]


def _ids(path: Path) -> str:
    return path.name.removesuffix(".recv.ami")


@pytest.mark.parametrize("path", transcript_files() or [Path("missing.recv.ami")], ids=_ids)
def test_every_capture_decodes_the_same_however_it_is_cut(path: Path, dialplan: DialplanSettings) -> None:
    require_transcripts()
    data = path.read_bytes()
    whole, framer = replay([data], dialplan)
    real, _ = replay(recv_chunks(path), dialplan)
    bytewise, _ = replay([data[i : i + 1] for i in range(len(data))], dialplan)
    assert framer.banner == "Asterisk Call Manager/11.0.0" or not data.startswith(b"Asterisk")
    assert framer.pending == 0
    assert whole == real == bytewise
    started = {e.call_id for e in whole if isinstance(e, CallArrived | CallbackLegCreated)}
    ended = {e.call_id for e in whole if isinstance(e, CallEnded)}
    assert started <= ended, f"calls that never ended: {started - ended}"


def _all_events(name: str, dialplan: DialplanSettings) -> list[DomainEvent]:
    require_transcripts()
    path = next((p for p in transcript_files() if p.name == f"{name}.recv.ami"), None)
    if path is None:
        pytest.skip(f"capture {name} not present")
    events, _ = replay(recv_chunks(path), dialplan)
    return events


def _scenario(name: str, dialplan: DialplanSettings) -> list[DomainEvent]:
    return calls(_all_events(name, dialplan))


def _devices(events: list[DomainEvent], device: str) -> list[DomainEvent]:
    return [
        e for e in events if isinstance(e, DeviceStateChanged | DeviceReachability) and e.device == device
    ]


def test_02_inbound_call_enqueued_then_hung_up(dialplan: DialplanSettings) -> None:
    events = [e for e in _scenario("02-inbound-enqueue", dialplan) if not isinstance(e, OriginateResult)]
    assert events == [
        CallArrived(
            "1795839276.0",
            "Local/13800000001@caller-sim-00000000;1",
            "1795839276.0",
            "13800000001",
            "张三",
        ),
        CallAbandoned("1795839276.0", "Local/13800000001@caller-sim-00000000;1", 0, "Unknown"),
        CallEnded("1795839276.0", 0, "Unknown"),
    ]


def test_03_inbound_to_agent(dialplan: DialplanSettings) -> None:
    events = [e for e in _scenario("03-inbound-to-agent", dialplan) if not isinstance(e, OriginateResult)]
    call = "1795839282.2"
    assert [type(e) for e in events] == [CallArrived, AgentRinging, AgentDialEnded, CallBridged, CallEnded]
    assert {e.call_id for e in events} == {call}
    arrived, ringing, answered, bridged, ended = events
    assert isinstance(arrived, CallArrived) and arrived.caller_name == "李四"
    assert ringing == AgentRinging(
        call, "Local/1001@agents", "Local/1001@agents-00000002;1", Direction.INBOUND
    )
    assert isinstance(answered, AgentDialEnded) and answered.answered
    assert isinstance(bridged, CallBridged)
    assert set(bridged.channels) == {
        "Local/1001@agents-00000002;1",
        "Local/13800000003@caller-sim-00000001;1",
    }
    assert bridged.caller_channel == "Local/13800000003@caller-sim-00000001;1"  # Uniqueid = Linkedid
    assert ended == CallEnded(call, 16, "Normal Clearing")


def test_04_agent_no_answer_then_busy_then_caller_gone(dialplan: DialplanSettings) -> None:
    events = [e for e in _scenario("04-agent-no-answer", dialplan) if not isinstance(e, OriginateResult)]
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "CallArrived",
        "AgentRinging",
        "AgentDialEnded",
        "AgentDialFailed",
        "AgentRinging",
        "AgentDialEnded",
        "AgentDialFailed",
        "CallAbandoned",
        "CallEnded",
    ]
    failed = [e for e in events if isinstance(e, AgentDialFailed)]
    assert [(f.agent, f.dial_status) for f in failed] == [("1999", "NOANSWER"), ("1888", "BUSY")]
    assert not any(isinstance(e, CallBridged) for e in events)


def test_05_two_callers_abandon(dialplan: DialplanSettings) -> None:
    events = _scenario("05-caller-abandons", dialplan)
    abandoned = [e for e in events if isinstance(e, CallAbandoned)]
    assert [a.call_id for a in abandoned] == ["1795839301.12", "1795839307.14"]
    assert [a.cause for a in abandoned] == [0, 16]  # hung up by AMI (no Cause), then by itself


def test_06_callback_success(dialplan: DialplanSettings) -> None:
    events = _scenario("06-callback-success", dialplan)
    call = "1795839314.16"
    assert {getattr(e, "call_id", call) for e in events} == {call}
    assert events[0] == CallbackLegCreated(call, "T-20261128-0001", "Local/1001@agents-00000008;1")
    kinds = [type(e) for e in events]
    assert kinds == [
        CallbackLegCreated,
        AgentRinging,
        OriginateResult,  # arrives after the agent leg already rings
        AgentDialEnded,
        CitizenRinging,
        CitizenDialEnded,
        CallBridged,
        CallEnded,
    ]
    originate = events[2]
    assert isinstance(originate, OriginateResult) and originate.success and originate.reason == 4


def test_07_callback_failures_report_asterisk_reasons(dialplan: DialplanSettings) -> None:
    events = _scenario("07-callback-failure", dialplan)
    failures = [(e.reason, e.channel) for e in events if isinstance(e, OriginateResult) and not e.success]
    assert [r for r, _ in failures] == [5, 3, 8, 0, 0, 3, 5]
    assert all(e.call_id is None for e in events if isinstance(e, OriginateResult) and not e.success)
    citizen = [e.dial_status for e in events if isinstance(e, CitizenDialEnded)]
    assert citizen == ["BUSY", "NOANSWER", "CONGESTION"]
    # An agent that never answers: DialBegin with no DialEnd; the call's end settles it.
    no_answer = next(e for e in events if isinstance(e, AgentRinging) and e.device == "Local/1999@agents")
    assert not any(isinstance(e, AgentDialEnded) and e.call_id == no_answer.call_id for e in events)
    assert any(isinstance(e, CallEnded) and e.call_id == no_answer.call_id for e in events)


def test_10_restart_hangs_up_the_waiting_call(dialplan: DialplanSettings) -> None:
    events = _scenario("10-reconnect.c1", dialplan)
    assert [type(e) for e in events if not isinstance(e, OriginateResult)] == [
        CallArrived,
        CallAbandoned,
        CallEnded,
    ]


# -- pjsip/: real SIP softphones ----------------------------------------------------------


def test_11a_registration_and_both_ways_of_losing_a_phone(dialplan: DialplanSettings) -> None:
    events = _devices(_all_events("11a-agent-register-unregister", dialplan), "PJSIP/1001")
    up = DeviceReachability("PJSIP/1001", True, "PeerStatus Reachable")
    down = DeviceReachability("PJSIP/1001", False, "PeerStatus Unreachable")
    assert events == [
        # registers (DeviceStateList items carry an ActionID and are not changes: not here)
        DeviceReachability("PJSIP/1001", True, "ContactStatus NonQualified"),
        DeviceStateChanged("PJSIP/1001", "NOT_INUSE"),
        up,
        DeviceReachability("PJSIP/1001", True, "ContactStatus Reachable"),
        # de-registers gracefully (Contact: *, Expires: 0)
        down,
        DeviceReachability("PJSIP/1001", False, "ContactStatus Removed"),
        DeviceStateChanged("PJSIP/1001", "UNAVAILABLE"),
        # registers again
        DeviceReachability("PJSIP/1001", True, "ContactStatus NonQualified"),
        up,
        DeviceReachability("PJSIP/1001", True, "ContactStatus Reachable"),
        DeviceStateChanged("PJSIP/1001", "NOT_INUSE"),
        # its softphone is killed: qualify finds it, then the registration expires
        down,
        DeviceReachability("PJSIP/1001", False, "ContactStatus Unreachable"),
        DeviceStateChanged("PJSIP/1001", "UNAVAILABLE"),
        DeviceReachability("PJSIP/1001", False, "ContactStatus Removed"),
    ]


def test_11a_device_state_list_items_are_read_as_the_states_at_connect(dialplan: DialplanSettings) -> None:
    require_transcripts()
    path = next(p for p in transcript_files() if p.name == "11a-agent-register-unregister.recv.ami")
    framer = AmiFramer()
    messages = [decode_frame(f) for f in framer.feed(path.read_bytes())]
    first_list = [m for m in messages if m.action_id == "c1-0002"]
    states = AmiTranslator(dialplan).device_states(first_list)
    assert states == [
        DeviceStateChanged("PJSIP/1001", "UNAVAILABLE"),
        DeviceStateChanged("PJSIP/1002", "NOT_INUSE"),
        DeviceStateChanged("PJSIP/1003", "NOT_INUSE"),
        DeviceStateChanged("Queue:hotline-queue_avail", "INUSE"),
        DeviceStateChanged("PJSIP/citizens", "NOT_INUSE"),
    ]


def test_11c_dial_to_an_unavailable_agent_fails_at_once_without_a_channel(dialplan: DialplanSettings) -> None:
    events = _scenario("11c-agent-no-answer-and-unregistered", dialplan)
    failed = [(e.agent, e.dial_status) for e in events if isinstance(e, AgentDialFailed)]
    assert failed == [
        ("1001", "NOANSWER"),  # (a) rings, nobody answers
        ("1001", "CHANUNAVAIL"),  # (b) de-registered
        ("1002", "CHANUNAVAIL"),  # (c) registered but Unreachable
        ("1009", "CHANUNAVAIL"),  # (d) no such endpoint
    ]
    # Only the first offer made an agent leg: the unavailable ones ring nothing.
    assert [e.device for e in events if isinstance(e, AgentRinging)] == ["PJSIP/1001"]


def test_11e_a_dead_phone_turns_unreachable_mid_ring_long_before_the_dial_ends(
    dialplan: DialplanSettings,
) -> None:
    events = [
        e
        for e in _all_events("11e-dead-softphone-rings", dialplan)
        if not isinstance(e, DeviceStateChanged) or e.device == "PJSIP/1002"
    ]
    kinds = [type(e).__name__ for e in events]
    ringing = kinds.index("AgentRinging")
    assert kinds[ringing : ringing + 5] == [
        "AgentRinging",
        "DeviceReachability",  # PeerStatus Unreachable, mid-ring
        "DeviceReachability",  # ContactStatus Unreachable
        "AgentDialEnded",  # NOANSWER, at the ring timeout
        "DeviceStateChanged",  # UNAVAILABLE only now
    ]
    lost = [e for e in events if isinstance(e, DeviceReachability)]
    assert lost == [
        DeviceReachability("PJSIP/1002", False, "PeerStatus Unreachable"),
        DeviceReachability("PJSIP/1002", False, "ContactStatus Unreachable"),
    ]
    ended = next(e for e in events if isinstance(e, AgentDialEnded))
    assert (ended.device, ended.dial_status) == ("PJSIP/1002", "NOANSWER")


def test_11d_callback_to_an_unregistered_agent_fails_with_reason_0(dialplan: DialplanSettings) -> None:
    events = _scenario("11d-callback-sip", dialplan)
    results = [(e.success, e.reason, e.channel) for e in events if isinstance(e, OriginateResult)]
    assert results[-1] == (False, 0, "PJSIP/1003")
    named = [e for e in events if isinstance(e, CallbackLegCreated)]
    assert named and all(e.channel.startswith("PJSIP/1001-") for e in named)

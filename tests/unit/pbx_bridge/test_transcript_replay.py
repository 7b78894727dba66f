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
    DeviceStateChanged,
    Direction,
    DomainEvent,
    OriginateResult,
)
from hotline.pbx_bridge.codec import AmiFramer
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
    return [e for e in events if not isinstance(e, DeviceStateChanged)]


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


def _scenario(name: str, dialplan: DialplanSettings) -> list[DomainEvent]:
    require_transcripts()
    path = next((p for p in transcript_files() if p.name == f"{name}.recv.ami"), None)
    if path is None:
        pytest.skip(f"capture {name} not present")
    events, _ = replay(recv_chunks(path), dialplan)
    return calls(events)


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

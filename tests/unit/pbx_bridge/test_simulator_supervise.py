"""The simulator's supervisor take-over (ChanSpy) and recording (MixMonitor) against what a real
Asterisk 22.10.1 sent for the shipped dialplan (``tests/captures/issue11``, see its README)."""

from __future__ import annotations

import re
from pathlib import Path

from hotline.pbx_bridge.codec import AmiFramer, AmiMessage, decode_frame
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS
from hotline.pbx_bridge.simulator.model import Channel, Originate
from hotline.pbx_bridge.simulator.testing import ModelHarness

CAPTURES = Path(__file__).resolve().parents[2] / "captures" / "issue11"
SPY_EVENTS = frozenset({"ChanSpyStart", "ChanSpyStop", "MixMonitorStart", "MixMonitorStop"})
HANGUP_EVENTS = frozenset({"SoftHangupRequest", "HangupRequest", "Hangup"})


def real(name: str) -> list[AmiMessage]:
    return [decode_frame(f) for f in AmiFramer().feed((CAPTURES / name).read_bytes())]


def _norm(text: str) -> str:
    """``Local/1001@agents-00000008;1`` -> ``Local/1001@agents;1`` (counters differ per run)."""
    return re.sub(r"-[0-9a-f]{8}(;[12])?", r"\1", text)


def keys(message: AmiMessage) -> list[str]:
    """Header names in order (``ChanVariable(<channel>)`` with the channel normalised)."""
    return [_norm(name) for name, _ in message.headers]


def leg_story(messages: list[AmiMessage], prefix: str) -> list[tuple[str, str, str]]:
    """What the supervisor's leg did: its supervise priorities, ChanSpy events and hangups."""
    story = []
    for m in messages:
        channel = m.get("Channel") or m.get("SpyerChannel")
        if not channel.startswith(prefix):
            continue
        if m.event == "Newexten" and m.get("Context") == "hotline-supervise":
            story.append(("Newexten", _norm(channel), f"{m.get('Priority')}:{m.get('Application')}"))
        elif m.event in HANGUP_EVENTS or m.event in SPY_EVENTS:
            story.append((m.event, _norm(channel), m.get("Cause")))
    return story


def _find(h: ModelHarness, prefix: str, suffix: str = ";1") -> Channel:
    (name,) = [n for n in h.model.channels if n.startswith(prefix) and n.endswith(suffix)]
    ch = h.model.find(name)
    assert ch is not None
    return ch


def _supervise(target: str, device: str) -> Originate:
    return Originate(
        action_id="sup-1",
        dial_string=device,
        context="hotline-supervise",
        exten="spy",
        application=None,
        data="",
        timeout_s=20,
        caller_num="12345",
        variables=[("HOTLINE_SPY_TARGET", target)],
    )


def _connected_call(h: ModelHarness) -> tuple[Channel, Channel]:
    h.model.originate(
        Originate(
            action_id="in-1",
            dial_string="Local/13800000001@caller-sim",
            context="hotline-inbound",
            exten="12345",
            application=None,
            data="",
            timeout_s=30,
            caller_num="13800000001",
            caller_name="Zhang",
            variables=[("HOTLINE_IVR", "urgent")],
        )
    )
    h.advance(1)
    caller = _find(h, "Local/13800000001@caller-sim")
    h.model.redirect(caller, "hotline-connect", "agent-1001")
    h.advance(1)
    return caller, _find(h, "Local/1001@agents")


def test_take_over_and_recording_events_are_shaped_and_ordered_as_asterisk_sent_them() -> None:
    h = ModelHarness(agent_answer_delay_s=0.5, channelvars=SHIPPED_CHANNELVARS)
    caller, agent = _connected_call(h)
    h.take()
    h.model.start_mixmonitor(caller)
    h.model.originate(_supervise(agent.name, "Local/1901@agents"))
    h.advance(2)
    assert h.model.stop_mixmonitor(caller)
    assert not h.model.stop_mixmonitor(caller)  # nothing running any more
    h.model.hangup_channel(caller, 16)
    h.advance(1)
    simulated = h.take()
    captured = real("supervise-and-record.recv.ami")

    for name in sorted(SPY_EVENTS):
        (sim_event,) = [m for m in simulated if m.event == name]
        (real_event,) = [m for m in captured if m.event == name]
        assert keys(sim_event) == keys(real_event), name
    (sim_or,) = [m for m in simulated if m.event == "OriginateResponse"]
    (real_or,) = [m for m in captured if m.event == "OriginateResponse"]
    assert keys(sim_or) == keys(real_or)  # ChanVariable(<channel>): lines, as channelvars make them
    start = next(m for m in simulated if m.event == "ChanSpyStart")
    assert start.get("SpyeeChannel") == agent.name and start.get("SpyerContext") == "hotline-supervise"
    # The supervisor's leg: NoOp, GotoIf, ChanSpy; ChanSpyStop when the agent's channel goes
    # (option E), then Hangup() and both Local halves hang up.
    assert leg_story(simulated, "Local/1901@agents") == leg_story(captured, "Local/1901@agents")
    assert not [n for n in h.model.channels if n.startswith("Local/1901@agents")]


def test_a_take_over_of_a_channel_already_gone_hangs_the_supervisor_up_at_once() -> None:
    h = ModelHarness(agent_answer_delay_s=0.5, channelvars=SHIPPED_CHANNELVARS)
    h.model.originate(_supervise("Local/1001@agents-deadbeef;1", "Local/1902@agents"))
    h.advance(2)
    simulated = h.take()
    captured = real("supervise-missing-target.recv.ami")
    assert leg_story(simulated, "Local/1902@agents") == leg_story(captured, "Local/1902@agents")
    assert not [m for m in simulated if m.event == "ChanSpyStart"]
    assert not h.model.channels


def test_mixmonitor_answers_are_bare_as_asterisk_sent_them() -> None:
    """MixMonitor without option i and StopMixMonitor answer ``Response: Success`` and the
    ActionID only; a second StopMixMonitor is refused."""
    sent = real("supervise-and-record.sent.ami")
    answers = {m.action_id: m for m in real("supervise-and-record.recv.ami") if m.event is None}
    replies = [(m.get("Action"), answers[m.action_id]) for m in sent if m.get("Action") != "Originate"]
    assert [(action, a.response, a.get("Message")) for action, a in replies] == [
        ("MixMonitor", "Success", ""),
        ("MixMonitor", "Error", "No such channel"),
        ("StopMixMonitor", "Success", ""),
        ("StopMixMonitor", "Error", "Could not stop monitoring channel"),
    ]
    assert [keys(a) for _, a in replies if a.response == "Success"] == [["Response", "ActionID"]] * 2

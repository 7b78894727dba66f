"""The simulator's SIP softphones, driven by a manual clock, against the pjsip captures."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from hotline.events import (
    AgentDialEnded,
    AgentDialFailed,
    AgentRinging,
    CallEnded,
    DeviceReachability,
    DeviceStateChanged,
    DomainEvent,
)
from hotline.pbx_bridge.codec import AmiFramer, AmiMessage, decode_frame
from hotline.pbx_bridge.simulator import AgentBehaviour, PhoneControlError, PhoneState
from hotline.pbx_bridge.simulator.model import Channel, Originate
from hotline.pbx_bridge.simulator.phones import QUALIFY_FREQUENCY_S, QUALIFY_TIMEOUT_S, PhoneBook
from hotline.pbx_bridge.simulator.testing import ModelHarness
from hotline.pbx_bridge.translator import AmiTranslator
from hotline.settings import load_settings
from tests.transcripts import capture as capture_path
from tests.transcripts import require_transcripts

DIALPLAN = load_settings(environ={}).dialplan
#: Longest time a qualify takes to find a dead phone (4-7 s in the captures).
FOUND_OUT_S = QUALIFY_FREQUENCY_S + QUALIFY_TIMEOUT_S


def harness(*unregistered: str) -> ModelHarness:
    return ModelHarness(phones=PhoneBook.of(["1001", "1002", "1003"], unregistered))


def translate(messages: Iterable[AmiMessage]) -> list[DomainEvent]:
    translator = AmiTranslator(DIALPLAN)
    out: list[DomainEvent] = []
    for message in messages:
        out.extend(translator.feed(message))
    return out


def capture_events(name: str) -> list[DomainEvent]:
    require_transcripts()
    data = capture_path(f"pjsip/{name}.recv.ami").read_bytes()
    return translate(decode_frame(frame) for frame in AmiFramer().feed(data))


def for_device(events: Iterable[DomainEvent], device: str) -> list[DomainEvent]:
    return [
        e for e in events if isinstance(e, DeviceStateChanged | DeviceReachability) and e.device == device
    ]


def reachability(events: Iterable[DomainEvent]) -> list[str]:
    return [e.detail for e in events if isinstance(e, DeviceReachability)]


def states(events: Iterable[DomainEvent]) -> list[str]:
    return [e.state for e in events if isinstance(e, DeviceStateChanged)]


def waiting_call(h: ModelHarness, number: str = "13800000105") -> Channel:
    h.model.place_inbound_call(number, "孙七", "normal", None)
    name = next(n for n in h.model.channels if n.endswith(";1"))
    ch = h.model.find(name)
    assert ch is not None
    h.take()
    return ch


def offer(h: ModelHarness, waiting: Channel, agent: str, ring_timeout_s: int) -> None:
    """What the service does: Setvar RING_TIMEOUT and HOTLINE_AGENT_DEVICE, then Redirect."""
    h.model.set_variable(waiting, "RING_TIMEOUT", str(ring_timeout_s))
    h.model.set_variable(waiting, "HOTLINE_AGENT_DEVICE", f"PJSIP/{agent}")
    h.model.redirect(waiting, "hotline-connect", f"agent-{agent}")


# -- registration --------------------------------------------------------------------------


def test_registration_de_registration_and_a_killed_phone_say_what_capture_11a_says() -> None:
    """The 11a story (register, de-register, register, kill -9, expiry) for PJSIP/1001."""
    h = harness("1001")
    h.model.phones.register("1001")
    h.advance(11)
    h.model.phones.unregister("1001")
    h.advance(5)
    h.model.phones.register("1001")
    h.advance(3)
    h.model.kill_phone("1001")
    h.advance(120)
    simulated = for_device(translate(h.take()), "PJSIP/1001")
    real = for_device(capture_events("11a-agent-register-unregister"), "PJSIP/1001")
    # Asterisk orders the DeviceStateChange inside a registration burst differently per run:
    # the status sequence and the state sequence must each agree.
    assert reachability(simulated) == reachability(real)
    assert states(simulated) == states(real) == ["NOT_INUSE", "UNAVAILABLE", "NOT_INUSE", "UNAVAILABLE"]


def test_events_of_a_registration_are_shaped_like_asterisks() -> None:
    h = harness("1002")
    h.model.phones.register("1002")
    contact, peer, reached, device = h.take()
    assert contact.headers == (
        ("Event", "ContactStatus"),
        ("Privilege", "system,all"),
        ("URI", "sip:1002@127.0.0.1:5063"),
        ("ContactStatus", "NonQualified"),
        ("AOR", "1002"),
        ("EndpointName", "1002"),
        ("RoundtripUsec", "0"),
    )
    assert peer.headers == (
        ("Event", "PeerStatus"),
        ("Privilege", "system,all"),
        ("ChannelType", "PJSIP"),
        ("Peer", "PJSIP/1002"),
        ("PeerStatus", "Reachable"),
    )
    assert reached.get("ContactStatus") == "Reachable" and int(reached.get("RoundtripUsec")) > 0
    assert (device.event, device.get("Device"), device.get("State")) == (
        "DeviceStateChange",
        "PJSIP/1002",
        "NOT_INUSE",
    )


def test_a_killed_phone_is_found_out_by_the_next_qualify_and_expires_later() -> None:
    h = harness()
    h.model.kill_phone("1003")
    phone = h.model.phones.phone("1003")
    assert phone is not None
    assert h.take() == [] and phone.state is PhoneState.DEAD
    h.advance(FOUND_OUT_S)
    assert reachability(translate(h.take())) == ["PeerStatus Unreachable", "ContactStatus Unreachable"]
    assert h.model.devices["PJSIP/1003"] == "UNAVAILABLE"
    h.advance(200)
    assert reachability(translate(h.take())) == ["ContactStatus Removed"]
    assert phone.state is PhoneState.UNREGISTERED


def test_device_state_list_names_every_endpoint_registered_or_not() -> None:
    h = harness("1002")
    assert list(h.model.devices.items()) == [
        ("PJSIP/1001", "NOT_INUSE"),
        ("PJSIP/1002", "UNAVAILABLE"),
        ("PJSIP/1003", "NOT_INUSE"),
    ]


def test_control_errors_name_the_problem() -> None:
    h = harness()
    with pytest.raises(PhoneControlError, match="no PJSIP endpoint '1009'"):
        h.model.phones.register("1009")
    h.model.kill_phone("1001")
    with pytest.raises(PhoneControlError, match="dead: it cannot de-register"):
        h.model.phones.unregister("1001")
    with pytest.raises(PhoneControlError, match="only a registered one can die"):
        h.model.kill_phone("1001")
    with pytest.raises(PhoneControlError, match="not endpoints"):
        PhoneBook.of(["1001"], ["1002"])


# -- dialling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "how"),
    [("1001", "de-registered"), ("1002", "killed and found out"), ("1009", "no such endpoint")],
)
def test_a_dial_to_an_unavailable_phone_fails_at_once_without_a_channel(agent: str, how: str) -> None:
    h = harness("1001")
    if how == "killed and found out":
        h.model.kill_phone("1002")
        h.advance(FOUND_OUT_S)
    waiting = waiting_call(h)
    offer(h, waiting, agent, 5)
    messages = h.take()
    assert not [m for m in messages if m.event in ("Newchannel", "DialBegin", "DialEnd")]
    events = translate(messages)
    assert [e for e in events if isinstance(e, AgentDialFailed)] == [
        AgentDialFailed(waiting.linkedid, agent, "CHANUNAVAIL")
    ]
    assert waiting.app == "MusicOnHold"  # back on hold at once


def test_11c_the_simulated_offers_fail_like_the_real_ones() -> None:
    real = [
        (e.agent, e.dial_status)
        for e in capture_events("11c-agent-no-answer-and-unregistered")
        if isinstance(e, AgentDialFailed)
    ]
    h = ModelHarness(
        phones=PhoneBook.of(["1001", "1002", "1003"]),
        agents={"1001": AgentBehaviour.never_answering()},
    )
    waiting = waiting_call(h, "13800000102")
    offer(h, waiting, "1001", 5)
    h.advance(7)
    h.model.phones.unregister("1001")
    offer(h, waiting, "1001", 5)
    h.model.kill_phone("1002")
    h.advance(FOUND_OUT_S)
    offer(h, waiting, "1002", 5)
    offer(h, waiting, "1009", 5)
    simulated = [(e.agent, e.dial_status) for e in translate(h.take()) if isinstance(e, AgentDialFailed)]
    assert (
        simulated
        == real
        == [
            ("1001", "NOANSWER"),
            ("1001", "CHANUNAVAIL"),
            ("1002", "CHANUNAVAIL"),
            ("1009", "CHANUNAVAIL"),
        ]
    )


def test_11e_a_dead_phone_rings_silently_and_turns_unreachable_mid_ring() -> None:
    h = harness()
    waiting = waiting_call(h)
    h.model.kill_phone("1002")  # just before the offer: still registered and Avail
    offer(h, waiting, "1002", 20)
    h.advance(19.9)
    mid_ring = h.take()
    leg = next(m for m in mid_ring if m.event == "Newchannel")
    assert leg.get("Channel").startswith("PJSIP/1002-") and leg.get("ChannelStateDesc") == "Down"
    assert not [m for m in mid_ring if m.event in ("DialState", "Newstate", "DeviceStateChange")]
    h.advance(0.1)
    messages = mid_ring + h.take()
    hangup = next(m for m in messages if m.event == "Hangup" and m.get("Channel").startswith("PJSIP/1002-"))
    assert (hangup.get("Cause"), hangup.get("ChannelStateDesc")) == ("0", "Down")
    simulated = [
        e for e in translate(messages) if not isinstance(e, DeviceStateChanged) or e.device == "PJSIP/1002"
    ]
    real = [
        e
        for e in capture_events("11e-dead-softphone-rings")
        if not isinstance(e, DeviceStateChanged) or e.device == "PJSIP/1002"
    ]

    def story(events: list[DomainEvent]) -> list[str]:
        # (This translator started mid-call, so it takes the agent leg's end for the call's.)
        kept = [e for e in events if not isinstance(e, CallEnded)]
        start = next(i for i, e in enumerate(kept) if isinstance(e, AgentRinging))
        told = []
        for e in kept[start : start + 5]:
            what = getattr(e, "detail", "") or getattr(e, "dial_status", "") or getattr(e, "state", "")
            told.append(f"{type(e).__name__}:{what}")
        return told

    assert (
        story(simulated)
        == story(real)
        == [
            "AgentRinging:",
            "DeviceReachability:PeerStatus Unreachable",
            "DeviceReachability:ContactStatus Unreachable",
            "AgentDialEnded:NOANSWER",
            "DeviceStateChanged:UNAVAILABLE",
        ]
    )


def test_a_phone_killed_while_it_rings_never_answers() -> None:
    h = harness()
    waiting = waiting_call(h)
    offer(h, waiting, "1001", 20)  # rings; it would answer after 0.5 s
    h.model.kill_phone("1001")
    h.advance(20)
    ended = [e for e in translate(h.take()) if isinstance(e, AgentDialEnded)]
    assert [e.dial_status for e in ended] == ["NOANSWER"]
    assert h.model.bridges == {}


def test_a_phone_back_after_being_found_dead_answers_again() -> None:
    h = harness()
    h.model.kill_phone("1001")
    h.advance(FOUND_OUT_S)
    h.take()
    h.model.phones.register("1001")
    assert reachability(translate(h.take())) == ["PeerStatus Reachable", "ContactStatus Reachable"]
    assert h.model.devices["PJSIP/1001"] == "NOT_INUSE"
    waiting = waiting_call(h)
    offer(h, waiting, "1001", 20)
    h.advance(1)
    assert [e.dial_status for e in translate(h.take()) if isinstance(e, AgentDialEnded)] == ["ANSWER"]


def test_a_callback_originate_to_an_unregistered_phone_fails_with_reason_0() -> None:
    h = harness("1003")
    h.model.originate(
        Originate(
            action_id="c1-0004",
            dial_string="PJSIP/1003",
            context="hotline-callback",
            exten="13900000001",
            application=None,
            data="",
            timeout_s=20,
        )
    )
    messages = h.take()
    assert [m.event for m in messages] == ["OriginateResponse"]
    response = messages[0]
    assert (
        response.get("Response"),
        response.get("Reason"),
        response.get("Channel"),
        response.get("Uniqueid"),
    ) == (
        "Failure",
        "0",
        "PJSIP/1003",
        "<unknown>",
    )


def test_without_phones_any_pjsip_agent_answers_as_before() -> None:
    h = ModelHarness()
    waiting = waiting_call(h)
    offer(h, waiting, "1009", 20)
    h.advance(1)
    assert [e.dial_status for e in translate(h.take()) if isinstance(e, AgentDialEnded)] == ["ANSWER"]

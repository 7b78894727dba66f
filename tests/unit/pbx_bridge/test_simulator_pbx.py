"""The simulator's call model, driven by a manual clock, against the real Asterisk captures."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable

import pytest

from hotline.pbx_bridge.codec import AmiFramer, AmiMessage, decode_frame
from hotline.pbx_bridge.simulator import AgentBehaviour, CitizenBehaviour
from hotline.pbx_bridge.simulator.model import UNKNOWN, Channel, Originate
from hotline.pbx_bridge.simulator.server import _originate_variables, _parse_callerid
from hotline.pbx_bridge.simulator.testing import CAPTURE_EPOCH, ModelHarness
from tests.transcripts import capture as capture_path
from tests.transcripts import require_transcripts

#: The events that carry a call's story; the rest (CEL, VarSet, Newexten...) is noise.
KEY_EVENTS = frozenset(
    {
        "Newchannel",
        "DialBegin",
        "DialEnd",
        "BridgeCreate",
        "BridgeEnter",
        "BridgeLeave",
        "BridgeDestroy",
        "Hangup",
        "UserEvent",
        "OriginateResponse",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
    }
)


def _norm(channel: str) -> str:
    """``Local/1001@agents-00000008;1`` -> ``Local/1001@agents;1`` (counters differ per run)."""
    return re.sub(r"-[0-9a-f]{8}(;[12])?$", r"\1", channel)


def key(message: AmiMessage) -> tuple[str, str, str, str]:
    """What must agree between the simulator and Asterisk for one key event."""
    name = message.event or ""
    if name == "UserEvent":
        detail = f"{message.get('UserEvent')}:{message.get_last('DialStatus')}"
    elif name == "OriginateResponse":
        detail = message.get("Reason")
    else:
        detail = message.get("Cause") or message.get("DialStatus")
    return (name, _norm(message.get("Channel")), _norm(message.get("DestChannel")), detail)


def keys(messages: Iterable[AmiMessage]) -> list[tuple[str, str, str, str]]:
    return [key(m) for m in messages if m.event in KEY_EVENTS]


def names(messages: Iterable[AmiMessage], wanted: Iterable[str] = KEY_EVENTS) -> list[str]:
    keep = set(wanted)
    return [m.event for m in messages if m.event in keep]


def capture(name: str) -> list[AmiMessage]:
    require_transcripts()
    return [decode_frame(frame) for frame in AmiFramer().feed(capture_path(name).read_bytes())]


def capture_segments(name: str) -> dict[str, list[AmiMessage]]:
    """The events that followed each action's response, until the next response."""
    segments: dict[str, list[AmiMessage]] = {}
    current: list[AmiMessage] | None = None
    for message in capture(name):
        if message.event is None:
            current = segments.setdefault(message.action_id or "", [])
        elif current is not None:
            current.append(message)
    return segments


def inbound_originate(
    number: str, name: str, action_id: str | None = "c1-0002", context: str = "caller-sim"
) -> Originate:
    return Originate(
        action_id=action_id,
        dial_string=f"Local/{number}@{context}",
        context="hotline-inbound",
        exten="12345",
        application=None,
        data="",
        timeout_s=30,
        caller_num=number,
        caller_name=name,
    )


def only(model_channels: Iterable[str], suffix: str, prefix: str = "") -> str:
    found = [c for c in model_channels if c.endswith(suffix) and c.startswith(prefix)]
    assert len(found) == 1, found
    return found[0]


def channel(h: ModelHarness, suffix: str, prefix: str = "") -> Channel:
    ch = h.model.find(only(h.model.channels, suffix, prefix))
    assert ch is not None
    return ch


def events_named(messages: Iterable[AmiMessage], name: str) -> list[AmiMessage]:
    return [m for m in messages if m.event == name]


@pytest.fixture
def h() -> ModelHarness:
    return ModelHarness(agent_answer_delay_s=0.5)


# -- an inbound call -----------------------------------------------------------------------


def test_inbound_call_enqueues_and_holds_with_local_halves_and_one_linkedid(h: ModelHarness) -> None:
    linkedid = h.model.place_inbound_call("13800000001", "张三", "normal", None)
    events = h.take()
    assert names(events) == [
        "Newchannel",
        "Newchannel",
        "DialBegin",
        "OriginateResponse",
        "DialEnd",
        "UserEvent",
        "MusicOnHoldStart",
    ]
    one, two = events_named(events, "Newchannel")
    assert one.get("Channel") == "Local/13800000001@caller-sim-00000000;1"
    assert two.get("Channel") == "Local/13800000001@caller-sim-00000000;2"
    assert one.get("Uniqueid") == f"{int(CAPTURE_EPOCH)}.0" == linkedid
    assert two.get("Uniqueid") == f"{int(CAPTURE_EPOCH)}.1"
    assert {m.get("Linkedid") for m in events if "Linkedid" in m} == {linkedid}
    response = events_named(events, "OriginateResponse")[0]
    assert "ActionID" not in response  # nobody sent an Originate for a citizen's call
    assert response.get("Context") == "hotline-inbound" and response.get("Reason") == "4"
    assert h.model.live_calls() == [linkedid]
    waiting = channel(h, ";1")
    assert (waiting.context, waiting.exten, waiting.app) == ("hotline-inbound", "hold", "MusicOnHold")


def test_hotline_enqueue_repeats_channel_uniqueid_and_calleridnum(h: ModelHarness) -> None:
    h.model.place_inbound_call("13800000001", "张三", "normal", None)
    enqueue = next(m for m in h.take() if m.event == "UserEvent")
    name = "Local/13800000001@caller-sim-00000000;1"
    assert enqueue.get("UserEvent") == "HotlineEnqueue"
    assert enqueue.get_all("Channel") == [name, name]
    assert enqueue.get_all("Uniqueid") == [enqueue.get("Linkedid")] * 2
    assert enqueue.get_all("CallerIDNum") == ["13800000001", "13800000001"]
    assert enqueue.get("CallerIDName") == "张三"
    assert enqueue.get("Privilege") == "user,all"
    assert enqueue.get_last("HOTLINE_IVR") == ""
    keys_in_order = [k for k, _ in enqueue.headers]
    assert keys_in_order.index("UserEvent") == keys_in_order.index("Linkedid") + 1


def test_ivr_priority_is_set_before_the_user_event(h: ModelHarness) -> None:
    h.model.place_inbound_call("13800000002", "李四", "urgent", None)
    events = h.take()
    varsets = [i for i, m in enumerate(events) if m.event == "VarSet" and m.get("Variable") == "HOTLINE_IVR"]
    enqueue = next(i for i, m in enumerate(events) if m.event == "UserEvent")
    assert varsets and varsets[0] < enqueue
    assert events[varsets[0]].get("Value") == "urgent"
    assert events[enqueue].get_last("HOTLINE_IVR") == "urgent"


def test_enqueue_stamps_the_enter_epoch(h: ModelHarness) -> None:
    h.model.place_inbound_call("13800000001", "张三", "normal", None)
    assert h.model.get_variable(channel(h, ";1"), "HOTLINE_ENTER_EPOCH") == str(int(CAPTURE_EPOCH))


# -- to an agent ---------------------------------------------------------------------------


def test_redirect_to_an_answering_agent_bridges_the_call(h: ModelHarness) -> None:
    linkedid = h.model.place_inbound_call("13800000003", "李四", "normal", None)
    waiting = channel(h, ";1")
    h.take()
    h.model.redirect(waiting, "hotline-connect", "agent-1001")
    ringing = h.take()
    assert names(ringing) == ["MusicOnHoldStop", "Newchannel", "Newchannel", "DialBegin"]
    begin = events_named(ringing, "DialBegin")[0]
    assert begin.get("Channel") == waiting.name and begin.get("DialString") == "1001@agents"
    assert begin.get("DestChannel") == "Local/1001@agents-00000001;1"
    h.advance(0.5)  # the agent's softphone answers after half a second
    answered = h.take()
    assert names(answered) == ["DialEnd", "BridgeCreate", "BridgeEnter", "BridgeEnter"]
    assert events_named(answered, "DialEnd")[0].get("DialStatus") == "ANSWER"
    assert [m.get("BridgeNumChannels") for m in events_named(answered, "BridgeEnter")] == ["1", "2"]
    assert {m.get("Linkedid") for m in answered if "Linkedid" in m} == {linkedid}
    assert len(h.model.bridges) == 1 and waiting.bridge_id
    assert [m.get("State") for m in events_named(answered, "DeviceStateChange")] == ["INUSE", "INUSE"]


def test_agent_who_never_answers_sends_the_caller_back_on_hold(h: ModelHarness) -> None:
    h.model.place_inbound_call("13800000004", "王五", "normal", None)
    waiting = channel(h, ";1")
    h.model.set_variable(waiting, "RING_TIMEOUT", "5")
    h.take()
    h.model.redirect(waiting, "hotline-connect", "agent-1999")
    h.advance(4.9)
    assert "DialEnd" not in names(h.take())
    h.advance(0.1)
    events = h.take()
    assert names(events) == ["DialEnd", "Hangup", "UserEvent", "MusicOnHoldStart", "Hangup"]
    assert events_named(events, "DialEnd")[0].get("DialStatus") == "NOANSWER"
    failed = events_named(events, "UserEvent")[0]
    assert (failed.get("UserEvent"), failed.get("Agent"), failed.get("DialStatus")) == (
        "HotlineAgentFailed",
        "1999",
        "NOANSWER",
    )
    assert [m.get("Cause") for m in events_named(events, "Hangup")] == ["0", "0"]
    assert (waiting.context, waiting.exten) == ("hotline-inbound", "hold")
    assert len(h.model.channels) == 2


def test_busy_agent_fails_at_once(h: ModelHarness) -> None:
    h.model.place_inbound_call("13800000004", "王五", "normal", None)
    waiting = channel(h, ";1")
    h.take()
    h.model.redirect(waiting, "hotline-connect", "agent-1888")
    events = h.take()
    assert events_named(events, "DialEnd")[0].get("DialStatus") == "BUSY"
    assert events_named(events, "UserEvent")[0].get("DialStatus") == "BUSY"
    assert [m.get("Cause") for m in events_named(events, "Hangup")] == ["0", "17"]


def test_agent_that_does_not_exist_is_chanunavail(h: ModelHarness) -> None:
    h.model.place_inbound_call("13800000004", "王五", "normal", None)
    waiting = channel(h, ";1")
    h.take()
    h.model.redirect(waiting, "hotline-connect", "agent-2001")
    events = h.take()
    assert "DialBegin" not in names(events)
    assert events_named(events, "UserEvent")[0].get("DialStatus") == "CHANUNAVAIL"
    assert waiting.app == "MusicOnHold"


def test_agent_device_comes_from_the_channel_variable() -> None:
    h = ModelHarness(agents={"1001": AgentBehaviour(answer_after_s=2)})
    h.model.place_inbound_call("13800000003", "李四", "normal", None)
    waiting = channel(h, ";1")
    h.model.set_variable(waiting, "HOTLINE_AGENT_DEVICE", "PJSIP/1001")
    h.take()
    h.model.redirect(waiting, "hotline-connect", "agent-1001")
    ringing = h.take()
    assert events_named(ringing, "Newchannel")[0].get("Channel") == "PJSIP/1001-00000000"
    assert events_named(ringing, "DialBegin")[0].get("DialString") == "1001"
    assert [(m.get("Device"), m.get("State")) for m in events_named(ringing, "DeviceStateChange")] == [
        ("PJSIP/1001", "RINGING")
    ]
    h.advance(2)
    answered = h.take()
    assert events_named(answered, "DialEnd")[0].get("DialStatus") == "ANSWER"
    assert [m.get("State") for m in events_named(answered, "DeviceStateChange")] == ["INUSE"]


def test_agent_hangs_up_after_talk_time() -> None:
    h = ModelHarness(agents={"1001": AgentBehaviour(answer_after_s=0, talk_s=30)})
    linkedid = h.model.place_inbound_call("13800000003", "李四", "normal", None)
    h.model.redirect(channel(h, ";1"), "hotline-connect", "agent-1001")
    h.take()
    h.advance(29.9)
    assert h.model.live_calls() == [linkedid]
    h.advance(0.1)
    hangups = events_named(h.take(), "Hangup")
    assert len(hangups) == 4 and {m.get("Cause") for m in hangups} == {"16"}
    assert h.model.live_calls() == [] and h.model.bridges == {}


# -- the citizen hangs up ------------------------------------------------------------------


def test_impatient_caller_abandons_while_waiting() -> None:
    h = ModelHarness(caller_patience_s=None)
    linkedid = h.model.place_inbound_call("13800000005", "赵六", "normal", 5.0)
    h.take()
    h.advance(5)
    events = h.take()
    assert names(events) == ["Hangup", "MusicOnHoldStop", "Hangup"]
    assert [m.get("Channel")[-2:] for m in events_named(events, "Hangup")] == [";2", ";1"]
    assert {m.get("Cause") for m in events_named(events, "Hangup")} == {"16"}
    assert linkedid not in h.model.live_calls()


def test_patience_does_not_end_a_call_already_with_an_agent() -> None:
    h = ModelHarness(agent_answer_delay_s=0)
    linkedid = h.model.place_inbound_call("13800000005", "赵六", "normal", 5.0)
    h.model.redirect(channel(h, ";1", "Local/138"), "hotline-connect", "agent-1001")
    h.advance(60)
    assert h.model.live_calls() == [linkedid]


def test_hangup_call_is_the_citizen_hanging_up(h: ModelHarness) -> None:
    linkedid = h.model.place_inbound_call("13800000005", "赵六", "normal", None)
    h.take()
    assert h.model.hangup_call(linkedid, 16)
    hangups = events_named(h.take(), "Hangup")
    assert [(m.get("Channel")[-2:], m.get("Cause")) for m in hangups] == [(";2", "16"), (";1", "16")]
    assert not h.model.hangup_call(linkedid)


def test_ami_hangup_without_cause_reports_cause_0_unless_bridged() -> None:
    h = ModelHarness(agent_answer_delay_s=0)
    h.model.place_inbound_call("13800000001", "张三", "normal", None)
    h.model.hangup_channel(channel(h, ";2"), None)
    assert {m.get("Cause") for m in events_named(h.take(), "Hangup")} == {"0"}
    h.model.place_inbound_call("13800000003", "李四", "normal", None)
    waiting = channel(h, ";1", "Local/138")
    h.model.redirect(waiting, "hotline-connect", "agent-1001")
    h.take()
    h.model.hangup_channel(waiting, None)
    assert {m.get("Cause") for m in events_named(h.take(), "Hangup")} == {"16"}


def test_cdr_comes_before_each_hangup(h: ModelHarness) -> None:
    h.model.place_inbound_call("13800000004", "王五", "normal", None)
    waiting = channel(h, ";1")
    h.model.redirect(waiting, "hotline-connect", "agent-1888")
    h.model.hangup_channel(waiting, 16)
    events = h.take()
    for i, message in enumerate(events):
        if message.event == "Hangup":
            cdr = events[i - 1]
            assert cdr.event == "Cdr" and cdr.get("Channel") == message.get("Channel")
    last_cdrs = [m for m in events if m.event == "Cdr" and m.get("Channel") == waiting.name]
    assert [m.get("Disposition") for m in last_cdrs] == ["BUSY", "ANSWERED"]
    assert last_cdrs[-1].get("UserField") == "hotline-12345"


# -- callbacks -----------------------------------------------------------------------------


def callback(number: str, agent: str = "Local/1001@agents", **variables: str) -> Originate:
    return Originate(
        action_id="cb",
        dial_string=agent,
        context="hotline-callback",
        exten=number,
        application=None,
        data="",
        timeout_s=30,
        caller_num="12345",
        caller_name=UNKNOWN,
        variables=[("HOTLINE_CALLBACK_ID", "cb-1"), ("TICKET_ID", "T-1"), *variables.items()],
    )


def test_callback_rings_the_agent_first_then_the_citizen() -> None:
    h = ModelHarness(citizens={"13900000002": CitizenBehaviour.answer(after_s=1, talk_s=10)})
    assert h.model.originate(callback("13900000002"))
    first = h.take()
    agent_begin = events_named(first, "DialBegin")[0]
    assert "Channel" not in agent_begin  # Originate's own dial has no source channel
    varset = next(
        i for i, m in enumerate(first) if m.event == "VarSet" and m.get("Variable") == "HOTLINE_CALLBACK_ID"
    )
    assert varset < first.index(agent_begin)  # the callback is recognisable before DialBegin
    h.advance(0.5)
    answered = h.take()
    agent = events_named(answered, "DialEnd")[0]
    citizen_begin = events_named(answered, "DialBegin")[0]
    assert agent.get("DialStatus") == "ANSWER"
    assert citizen_begin.get("Channel") == agent.get("DestChannel")
    assert citizen_begin.get("Context") == "hotline-callback"
    # Reported only once the agent's channel already runs the callback dialplan.
    response = events_named(answered, "OriginateResponse")[0]
    assert answered.index(response) > answered.index(citizen_begin)
    assert (response.get("ActionID"), response.get("Reason")) == ("cb", "4")
    h.advance(1)
    assert names(h.take()) == ["DialEnd", "BridgeCreate", "BridgeEnter", "BridgeEnter"]
    h.advance(10)  # the citizen hangs up; option g lets the agent's channel report it
    done = h.take()
    result = events_named(done, "UserEvent")[0]
    assert (
        result.get("UserEvent"),
        result.get("Ticket"),
        result.get("CallbackId"),
        result.get("DialStatus"),
    ) == (
        "HotlineCallbackResult",
        "T-1",
        "cb-1",
        "ANSWER",
    )
    assert h.model.live_calls() == []


@pytest.mark.parametrize(
    ("behaviour", "status", "after_s"),
    [
        (CitizenBehaviour.busy(), "BUSY", 0),
        (CitizenBehaviour.congestion(), "CONGESTION", 0),
        (CitizenBehaviour.noanswer(), "NOANSWER", 6),
        (CitizenBehaviour.reject(), "NOANSWER", 0),
    ],
)
def test_callback_citizen_failures(behaviour: CitizenBehaviour, status: str, after_s: float) -> None:
    h = ModelHarness(agent_answer_delay_s=0, citizens={"13900000009": behaviour})
    h.model.originate(callback("13900000009", CALLBACK_TIMEOUT="6"))
    h.advance(after_s)
    events = h.take()
    assert events_named(events, "OriginateResponse")[0].get("Reason") == "4"  # the agent answered
    assert [m.get("DialStatus") for m in events_named(events, "DialEnd")] == ["ANSWER", status]
    result = events_named(events, "UserEvent")[0]
    assert (result.get("UserEvent"), result.get("DialStatus")) == ("HotlineCallbackResult", status)
    assert h.model.live_calls() == []


@pytest.mark.parametrize(
    ("agent", "reason", "dial_end"),
    [("Local/1999@agents", "3", False), ("Local/1888@agents", "5", True)],
)
def test_callback_agent_failures(agent: str, reason: str, dial_end: bool) -> None:
    h = ModelHarness()
    h.model.originate(callback("13900000002", agent=agent))
    h.advance(30)
    events = h.take()
    response = events_named(events, "OriginateResponse")[0]
    assert (response.get("Response"), response.get("Reason")) == ("Failure", reason)
    assert response.get("Channel") == agent and response.get("Uniqueid") == "<unknown>"
    assert ("DialEnd" in names(events)) is dial_end  # a timed-out Originate has no DialEnd
    assert "DialBegin" in names(events)
    assert h.model.live_calls() == []


def test_originate_to_an_unknown_context_or_technology_fails_with_reason_0(h: ModelHarness) -> None:
    h.model.originate(callback("13900000002", agent="Local/13900000000@no-such-context"))
    events = h.take()
    assert "DialBegin" not in names(events)
    assert events_named(events, "OriginateResponse")[0].get("Reason") == "0"
    assert [m.get("State") for m in events_named(events, "DeviceStateChange")] == ["INVALID", "INVALID"]
    assert not h.model.originate(callback("13900000002", agent="NoSuchTech/1234"))
    events = h.take()
    assert names(events) == ["OriginateResponse"]
    assert events[0].get("Reason") == "0"


def test_callback_preempted_while_ringing_the_citizen() -> None:
    h = ModelHarness(agent_answer_delay_s=0, citizens={"13900000002": CitizenBehaviour.noanswer()})
    h.model.originate(callback("13900000002"))
    agent_leg = channel(h, ";1", "Local/1001")
    h.take()
    h.model.hangup_channel(agent_leg, None)
    events = h.take()
    assert [m.get("DialStatus") for m in events_named(events, "DialEnd")] == ["CANCEL"]
    assert "UserEvent" not in names(events)
    assert h.model.live_calls() == []


# -- restart, ids ---------------------------------------------------------------------------


def test_shutdown_hangs_up_every_channel(h: ModelHarness) -> None:
    h.model.place_inbound_call("13800000010", "孙八", "normal", None)
    h.model.originate(callback("13900000002"))
    h.advance(1)
    count = len(h.model.channels)
    h.take()
    h.model.shutdown()
    events = h.take()
    soft = [m for m in events if m.event == "SoftHangupRequest" and m.get("Cause") == "4"]
    assert len(soft) == count
    assert h.model.channels == {} and h.model.live_calls() == []
    assert h.model.bridges == {}
    assert "UserEvent" not in names(events)  # no dialplan runs on during a shutdown
    assert h.scheduler.pending == 0


def test_uniqueids_are_epoch_dot_sequence() -> None:
    h = ModelHarness()
    h.model.place_inbound_call("13800000001", "张三", "normal", None)
    h.advance(2)
    h.model.place_inbound_call("13800000002", "李四", "normal", None)
    ids = [m.get("Uniqueid") for m in events_named(h.take(), "Newchannel")]
    epoch = int(CAPTURE_EPOCH)
    assert ids == [f"{epoch}.0", f"{epoch}.1", f"{epoch + 2}.2", f"{epoch + 2}.3"]


# -- against the captures of a real Asterisk 22 ----------------------------------------------


def _redirect_to(h: ModelHarness, exten: str) -> None:
    h.model.redirect(channel(h, ";1", "Local/138"), "hotline-connect", exten)


def _scenario_02(h: ModelHarness) -> None:
    h.model.originate(inbound_originate("13800000001", "张三"))
    h.advance(3)
    h.model.hangup_channel(channel(h, ";2"), None)
    h.advance(2)


def _scenario_03(h: ModelHarness) -> None:
    h.model.originate(inbound_originate("13800000003", "李四"))
    h.advance(2)
    _redirect_to(h, "agent-1001")
    h.advance(3)
    h.model.hangup_channel(channel(h, ";1", "Local/138"), 16)
    h.advance(2)


def _scenario_04(h: ModelHarness) -> None:
    h.model.originate(inbound_originate("13800000004", "王五"))
    h.advance(1.5)
    h.model.set_variable(channel(h, ";1"), "RING_TIMEOUT", "5")
    _redirect_to(h, "agent-1999")
    h.advance(7)
    _redirect_to(h, "agent-1888")
    h.advance(2)
    h.model.hangup_channel(channel(h, ";2"), None)
    h.advance(2)


def _scenario_05(h: ModelHarness) -> None:
    h.model.originate(inbound_originate("13800000005", "赵六"))
    h.advance(3)
    h.model.hangup_channel(channel(h, ";2"), None)
    h.advance(2)
    h.model.originate(inbound_originate("13800000055", "钱七", "c1-0004", "caller-sim-impatient"))
    h.advance(7)


def _scenario_06(h: ModelHarness) -> None:
    h.model.originate(
        Originate(
            action_id="c1-0002",
            dial_string="Local/1001@agents",
            context="hotline-callback",
            exten="13900000002",
            application=None,
            data="",
            timeout_s=30,
            caller_num="12345",
            caller_name=UNKNOWN,
            variables=[("TICKET_ID", "T-20261128-0001")],
        )
    )
    h.advance(3)
    h.model.hangup_channel(channel(h, ";1", "Local/1001"), None)
    h.advance(2)


@pytest.mark.parametrize(
    ("capture_name", "scenario", "exact"),
    [
        ("02-inbound-enqueue.recv.ami", _scenario_02, True),
        ("03-inbound-to-agent.recv.ami", _scenario_03, False),
        ("04-agent-no-answer.recv.ami", _scenario_04, True),
        ("05-caller-abandons.recv.ami", _scenario_05, False),
        ("06-callback-success.recv.ami", _scenario_06, False),
    ],
)
def test_scenario_matches_the_capture(
    capture_name: str, scenario: Callable[[ModelHarness], None], exact: bool
) -> None:
    """Same key events, same channels, same causes and statuses as the real Asterisk.

    Where Asterisk's own threads interleave differently from run to run (OriginateResponse
    against DialEnd, which hangup comes first), the multiset must still agree.
    """
    real = keys(capture(capture_name))
    h = ModelHarness(agent_answer_delay_s=0)
    scenario(h)
    simulated = keys(h.events)
    assert Counter(simulated) == Counter(real)
    if exact:
        assert simulated == real


def _capture_07_originates() -> list[dict[str, str | list[str]]]:
    sent = capture_path("07-callback-failure.sent.jsonl").read_text(encoding="utf-8").splitlines()
    actions: list[dict[str, str | list[str]]] = []
    for line in sent:
        entry = json.loads(line)
        if entry.get("kind") != "action" or entry.get("action") != "Originate":
            continue
        headers: dict[str, str | list[str]] = {"Variable": []}
        for raw in entry["bytes"].split("\r\n"):
            name, sep, value = raw.partition(": ")
            if not sep:
                continue
            if name == "Variable":
                variables = headers["Variable"]
                assert isinstance(variables, list)
                variables.append(value)
            else:
                headers[name] = value
        actions.append(headers)
    return actions


@pytest.mark.parametrize(
    "case", range(10), ids=lambda i: f"07-{['A1', 'A2', 'A3', 'A4', 'A5', 'B1', 'B2', 'B3', 'C1', 'C2'][i]}"
)
def test_callback_failures_match_capture_07(case: int) -> None:
    require_transcripts()
    headers = _capture_07_originates()[case]
    segments = capture_segments("07-callback-failure.recv.ami")
    action_id = str(headers["ActionID"])
    caller_num, caller_name = _parse_callerid(str(headers["CallerID"]))
    variables = headers["Variable"]
    assert isinstance(variables, list)
    h = ModelHarness(agent_answer_delay_s=0)
    h.model.originate(
        Originate(
            action_id=action_id,
            dial_string=str(headers["Channel"]),
            context=str(headers["Context"]),
            exten=str(headers["Exten"]),
            application=None,
            data="",
            timeout_s=int(str(headers.get("Timeout", "30000"))) / 1000,
            caller_num=caller_num,
            caller_name=caller_name,
            variables=_originate_variables(variables),
        )
    )
    h.advance(40)
    assert Counter(keys(h.events)) == Counter(keys(segments[action_id]))


def _far_steps(messages: Iterable[AmiMessage], context: str) -> list[tuple[str, str]]:
    return [
        (m.get("Priority"), m.get("Application"))
        for m in messages
        if m.event == "Newexten" and m.get("Context") == context and m.get("Channel").endswith(";2")
    ]


def test_a_dialled_local_half_numbers_its_priorities_from_1_as_asterisk_does() -> None:
    """The ``;2`` half a dial creates runs its context from priority 1 (capture 03; the shipped
    ``agents`` context has a Wait(0.5) before Answer that the captures' one had not)."""
    real = capture("03-inbound-to-agent.recv.ami")
    h = ModelHarness()
    _scenario_03(h)
    assert _far_steps(h.events, "caller-sim") == _far_steps(real, "caller-sim")
    assert _far_steps(real, "agents")[0] == ("1", "NoOp")
    assert _far_steps(h.events, "agents") == [("1", "NoOp"), ("2", "Wait"), ("3", "Answer"), ("4", "Wait")]

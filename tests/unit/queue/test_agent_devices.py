"""Agents' phones (device state, SIP reachability): who may be offered a call, and when an
agent whose phone failed is given back.  One test per rule, events in the orders the pjsip
captures show."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.events import (
    AgentDialEnded,
    AgentDialFailed,
    AgentRinging,
    CallArrived,
    CallbackLegCreated,
    DeviceReachability,
    DeviceStateChanged,
    Direction,
    OriginateResult,
    PbxConnected,
)
from hotline.queue.agents import AgentState
from hotline.queue.commands import ConnectCallToAgent, ReturnCallToHold, StartCallback
from hotline.queue.inputs import AgentPause, CallbackOriginated, QueueInput, ScheduleCallback
from hotline.queue.work import CallbackKind
from tests.unit.queue.helpers import Harness, logs, of, one
from tests.unit.queue.test_dispatcher_properties import AGENTS, EVENTS

IN = Direction.INBOUND
D1, D2 = "Local/1001@agents", "Local/1002@agents"


def arrive(call_id: str) -> CallArrived:
    return CallArrived(call_id, f"PJSIP/citizens-{call_id}", call_id, "13800000105", "孙七")


def lost(device: str, detail: str = "PeerStatus Unreachable") -> DeviceReachability:
    return DeviceReachability(device, False, detail)


def back(device: str, detail: str = "PeerStatus Reachable") -> DeviceReachability:
    return DeviceReachability(device, True, detail)


def offered_to(h: Harness, call_id: str, agent: str) -> None:
    """``call_id`` arrives, is offered to ``agent`` (the first ready) and its phone rings."""
    assert one(h.feed(arrive(call_id), after=1), ConnectCallToAgent).agent_id == agent
    h.feed(AgentRinging(call_id, f"Local/{agent}@agents", f"Local/{agent}@agents-00000001;1", IN))


# -- never offered while the phone is not there ----------------------------------------------


def test_a_phone_unavailable_when_the_pbx_connects_is_never_offered_a_call() -> None:
    h = Harness("1001", "1002", connected=False, agent_choice="config_order")
    # The DeviceStateList items the bridge emits before PbxConnected.
    h.feed(DeviceStateChanged(D1, "UNAVAILABLE"))
    h.feed(DeviceStateChanged(D2, "NOT_INUSE"))
    h.feed(PbxConnected(channels=0))
    assert h.state("1001") == "device_unavailable"
    assert one(h.feed(arrive("c1")), ConnectCallToAgent).agent_id == "1002"
    assert of(h.feed(arrive("c2")), ConnectCallToAgent) == []  # 1001 is never offered
    out = h.feed(DeviceStateChanged(D1, "NOT_INUSE"), after=5)  # it registered
    assert [(c.call_id, c.agent_id) for c in of(out, ConnectCallToAgent)] == [("c2", "1001")]


def test_a_phone_found_unreachable_while_idle_is_not_offered_until_it_is_back() -> None:
    h = Harness("1001")
    h.feed(lost(D1))
    assert h.state("1001") == "device_unavailable"
    assert of(h.feed(arrive("c1")), ConnectCallToAgent) == []
    out = h.feed(back(D1, "ContactStatus Reachable"))
    assert h.state("1001") == "offered" and one(out, ConnectCallToAgent).call_id == "c1"


# -- an offer ringing a phone found dead -----------------------------------------------------


def test_an_offer_to_a_phone_found_unreachable_goes_to_another_agent_at_once() -> None:
    h = Harness("1001", "1002", agent_choice="config_order")
    offered_to(h, "c1", "1001")
    out = h.feed(lost(D1), after=6.8)  # mid-ring (pjsip/11e): long before the ring timeout
    connect = one(out, ConnectCallToAgent)
    assert (connect.call_id, connect.agent_id) == ("c1", "1002")
    assert of(out, ReturnCallToHold) == []  # re-offered: no detour by the hold music
    assert logs(out, "call.offer_withdrawn") == [{"call_id": "c1", "agent_id": "1001", "why": "phone_lost"}]
    offered = logs(out, "call.offered")[0]
    assert offered["wait_s"] == 6.8  # the caller's wait is kept (it arrived 6.8 s ago)
    assert h.state("1001") == "device_unavailable"
    assert h.dispatcher.agent("1001").pause_reason is None  # type: ignore[union-attr]
    assert h.timers[h.timer("offer:c1")] == h.now + 20 + 10  # only the new offer's guard
    # The dead phone's dial ends later (redirected away, or its ring timeout): no effect.
    h.feed(AgentDialEnded("c1", D1, "CANCEL", IN))
    h.feed(AgentDialFailed("c1", "1001", "NOANSWER"))
    assert h.state("1002") == "offered" and h.state("1001") == "device_unavailable"
    h.feed(back(D1))
    assert h.state("1001") == "ready"


def test_an_offer_to_a_phone_found_unreachable_with_nobody_free_goes_back_to_hold_first_in_line() -> None:
    h = Harness("1001")
    offered_to(h, "c1", "1001")
    h.feed(arrive("c2"), after=1)  # waits: nobody else
    out = h.feed(lost(D1, "ContactStatus Unreachable"), after=5)
    assert of(out, ReturnCallToHold) == [ReturnCallToHold("c1", "PJSIP/citizens-c1")]
    assert of(out, ConnectCallToAgent) == []
    first = min(h.dispatcher.waiting_calls(), key=lambda call: call.sort_key())
    assert (first.call_id, first.returned) == ("c1", True)  # head of the queue
    out = h.feed(DeviceStateChanged(D1, "NOT_INUSE"), after=30)
    assert one(out, ConnectCallToAgent).call_id == "c1"


def test_a_device_state_unavailable_during_an_offer_withdraws_it_too() -> None:
    h = Harness("1001", "1002", agent_choice="config_order")
    offered_to(h, "c1", "1001")
    out = h.feed(DeviceStateChanged(D1, "UNAVAILABLE"))
    assert one(out, ConnectCallToAgent).agent_id == "1002"


def test_a_pause_asked_for_during_the_withdrawn_offer_is_kept_for_when_the_phone_is_back() -> None:
    h = Harness("1001", "1002", agent_choice="config_order")
    offered_to(h, "c1", "1001")
    h.feed(AgentPause("1001", "training"))
    h.feed(lost(D1))
    h.feed(back(D1))
    record = h.dispatcher.agent("1001")
    assert record is not None and (record.state.value, record.pause_reason) == ("paused", "training")


# -- paused by the phone: ready when it is back; one's own pause stays -----------------------


def test_an_agent_paused_because_its_phone_could_not_be_dialled_is_ready_when_it_registers() -> None:
    h = Harness("1001")
    offered_to(h, "c1", "1001")
    h.feed(AgentDialFailed("c1", "1001", "CHANUNAVAIL"))  # de-registered meanwhile (pjsip/11c b)
    record = h.dispatcher.agent("1001")
    assert record is not None and (record.state.value, record.pause_reason) == ("paused", "dial_failed")
    h.feed(DeviceReachability(D1, True, "ContactStatus NonQualified"), after=60)
    # ... and it takes the call that waited meanwhile
    assert h.state("1001") == "offered"


def test_a_dial_failed_pause_is_lifted_by_not_inuse_after_the_device_was_lost() -> None:
    h = Harness("1001")
    offered_to(h, "c1", "1001")
    h.feed(AgentDialFailed("c1", "1001", "CHANUNAVAIL"))
    h.feed(DeviceStateChanged(D1, "UNAVAILABLE"))
    assert h.state("1001") == "device_unavailable"
    h.feed(DeviceStateChanged(D1, "NOT_INUSE"))
    assert h.state("1001") == "offered"  # ready, and given the waiting call


def test_no_answer_from_a_dead_phone_is_the_phones_pause() -> None:
    """Ring timeout shorter than the qualify: NOANSWER first, the phone's loss right after."""
    h = Harness("1001")
    offered_to(h, "c1", "1001")
    h.feed(AgentDialEnded("c1", D1, "NOANSWER", IN), after=5)
    assert h.state("1001") == "paused"
    h.feed(lost(D1), after=2)
    h.feed(back(D1), after=60)
    assert h.state("1001") == "offered"  # ready again (and given c1 back)


def test_a_plain_ring_no_answer_stays_paused_when_the_device_goes_back_to_not_inuse() -> None:
    h = Harness("1001")
    offered_to(h, "c1", "1001")
    h.feed(DeviceStateChanged(D1, "RINGING"))
    h.feed(AgentDialEnded("c1", D1, "NOANSWER", IN), after=20)
    h.feed(DeviceStateChanged(D1, "NOT_INUSE"))  # pjsip/11c a: RINGING -> NOT_INUSE
    record = h.dispatcher.agent("1001")
    assert record is not None and (record.state.value, record.pause_reason) == ("paused", "no_answer")


def test_a_ring_no_answer_long_before_the_phone_was_lost_stays_paused_when_it_is_back() -> None:
    h = Harness("1001")
    offered_to(h, "c1", "1001")
    h.feed(AgentDialEnded("c1", D1, "NOANSWER", IN), after=20)
    h.feed(lost(D1), after=600)  # the agent was away; the phone died much later
    h.feed(back(D1), after=60)
    record = h.dispatcher.agent("1001")
    assert record is not None and (record.state.value, record.pause_reason) == ("paused", "no_answer")


def test_an_agents_own_pause_stays_whatever_the_phone_does() -> None:
    h = Harness("1001")
    h.feed(AgentPause("1001", "lunch"))
    h.feed(DeviceStateChanged(D1, "NOT_INUSE"))
    h.feed(lost(D1))
    h.feed(back(D1))
    h.feed(DeviceStateChanged(D1, "NOT_INUSE"))
    record = h.dispatcher.agent("1001")
    assert record is not None and (record.state.value, record.pause_reason) == ("paused", "lunch")


# -- invariant: whatever the order, no offer to a phone last known down ----------------------

REACHABILITY = st.builds(
    lambda a, up: DeviceReachability(f"Local/{a}@agents", up, "PeerStatus"),
    st.sampled_from(AGENTS),
    st.booleans(),
)
MIXED = st.one_of(EVENTS, REACHABILITY, REACHABILITY)


def _device_signal(event: object) -> tuple[str, bool] | None:
    """(agent, up) for a device signal the queue acts on, else None."""
    if isinstance(event, DeviceReachability):
        return event.device.split("/")[1].split("@")[0], event.reachable
    if isinstance(event, DeviceStateChanged) and event.state != "UNKNOWN":
        return event.device.split("/")[1].split("@")[0], event.state != "UNAVAILABLE"
    return None


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(MIXED, st.floats(0, 30)), min_size=5, max_size=60))
def test_no_call_is_ever_offered_to_a_phone_last_known_down(steps: list[tuple[QueueInput, float]]) -> None:
    h = Harness(*AGENTS, wrap_up_s=0.0, return_call_delay_s=0.0)
    down = dict.fromkeys(AGENTS, False)
    for event, dt in steps:
        h.now += dt
        out = h.feed(event)
        signal = _device_signal(event)
        if signal is not None:
            down[signal[0]] = not signal[1]
        for command in out:
            if isinstance(command, ConnectCallToAgent | StartCallback):
                assert not down[command.agent_id], (command, down)
        for agent in h.dispatcher.agent_flow.all():
            if down[agent.agent_id] and agent.state is AgentState.OFFERED:
                # Only a callback's agent leg may still ring a lost phone (its attempt settles it).
                assert h.dispatcher.inbound.get(agent.work or "") is None, agent


def test_a_callbacks_agent_leg_ringing_a_phone_found_dead_leaves_the_agent_unavailable_not_paused() -> None:
    h = Harness("1001")
    h.feed(ScheduleCallback("cb1", CallbackKind.FOLLOW_UP, "13900000002", h.now, ticket_id="T-1"))
    assert h.state("1001") == "offered"
    h.feed(CallbackOriginated("cb1", "a-1"))
    h.feed(CallbackLegCreated("k1", "cb1", "PJSIP/1001-00000011"))
    h.feed(AgentRinging("k1", D1, "PJSIP/1001-00000011", Direction.CALLBACK))
    out = h.feed(lost(D1), after=5)
    assert logs(out, "agent.device_lost_on_callback") == [{"agent_id": "1001", "work": "cb1#1"}]
    assert h.state("1001") == "offered"  # the attempt settles the agent leg
    h.feed(OriginateResult("a-1", False, 3, None, "PJSIP/1001"), after=15)
    record = h.dispatcher.agent("1001")
    assert record is not None and (record.state.value, record.pause_reason) == ("device_unavailable", None)
    h.feed(back(D1), after=30)
    assert h.state("1001") == "offered"  # ready, and given the callback again

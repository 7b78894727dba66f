"""FlagCall (issue 11): a flagged call jumps to the urgent class at once, in any phase."""

from __future__ import annotations

from hotline.events import AgentDialEnded, AgentDialFailed, AgentRinging, CallArrived, Direction
from hotline.queue.commands import ConnectCallToAgent
from hotline.queue.inputs import AgentPause, AgentReady, FlagCall
from tests.unit.queue.helpers import Harness, logs, one


def arrive(call_id: str, number: str) -> CallArrived:
    return CallArrived(call_id, f"Local/{number}@caller-sim-{call_id};1", call_id, number, "", "normal")


def test_a_waiting_call_flagged_behind_ten_others_is_offered_first() -> None:
    h = Harness("1001")
    h.feed(AgentPause("1001", "meeting"))
    for i in range(10):
        h.feed(arrive(f"n{i}", f"1380000001{i}"), after=1)
    h.feed(arrive("late", "13900000000"), after=1)
    out = h.feed(FlagCall("late", "urgent", ("keyword:着火",)), after=1)
    flagged = logs(out, "call.flagged")
    assert flagged and flagged[0]["phase"] == "waiting" and flagged[0]["escalation_level"] == "urgent"
    out = h.feed(AgentReady("1001"), after=1)
    assert one(out, ConnectCallToAgent).call_id == "late"


def test_a_call_flagged_while_ringing_keeps_the_class_when_it_comes_back() -> None:
    h = Harness("1001", "1002")
    h.feed(AgentPause("1002", "meeting"))
    h.feed(arrive("c1", "13800000001"), after=1)  # offered to 1001 at once
    h.feed(AgentPause("1001", "x"), after=0)  # (the pause waits for the offer to end)
    h.feed(arrive("c2", "13800000002"), after=1)
    out = h.feed(FlagCall("c1", "sensitive"), after=1)
    assert logs(out, "call.flagged")[0]["phase"] == "offered"
    device = "Local/1001@agents"
    h.feed(AgentRinging("c1", device, f"{device}-1;1", Direction.INBOUND))
    h.feed(AgentDialEnded("c1", device, "NOANSWER", Direction.INBOUND), after=20)
    h.feed(AgentDialFailed("c1", "1001", "NOANSWER"), after=0)
    out = h.feed(AgentReady("1002"), after=1)
    connect = one(out, ConnectCallToAgent)
    assert connect.call_id == "c1"
    assert logs(out, "call.offered")[0]["priority"] == "escalated"


def test_flagging_an_unknown_call_is_ignored() -> None:
    h = Harness("1001")
    out = h.feed(FlagCall("nope", "urgent"))
    assert not logs(out, "call.flagged")

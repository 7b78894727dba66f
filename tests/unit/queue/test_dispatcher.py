"""The dispatcher: scenarios as event sequences (in the orders the real PBX uses) -> commands."""

from __future__ import annotations

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
    EndReason,
    OriginateResult,
    PbxConnected,
    PbxDisconnected,
)
from hotline.queue.agents import AgentState, AgentStateRecord
from hotline.queue.commands import (
    CancelCallbackDial,
    ConnectCallToAgent,
    HangupChannel,
    Log,
    PersistAgentState,
    PersistCallback,
    RecordCall,
    RejectAgentCommand,
    StartCallback,
    StartTimer,
)
from hotline.queue.dispatcher import Dispatcher, QueueConfigError
from hotline.queue.inputs import (
    ActionFailed,
    AgentEndWrapUp,
    AgentLogin,
    AgentLogout,
    AgentPause,
    AgentReady,
    CallbackOriginated,
    CancelCallback,
    ScheduleCallback,
    TimerFired,
)
from hotline.queue.work import (
    AttemptOutcome,
    Callback,
    CallbackKind,
    CallbackStatus,
    CallOutcome,
    PriorityClass,
)
from hotline.settings import AgentConfig, load_settings
from tests.unit.queue.helpers import T0, Harness, agent_configs, logs, of, one, queue_settings

IN = Direction.INBOUND
CB = Direction.CALLBACK


def arrive(call_id: str, number: str = "13800000003", priority: str = "normal", **kw: object) -> CallArrived:
    return CallArrived(
        call_id, f"Local/{number}@caller-sim-0000000{call_id[-1]};1", call_id, number, "李四", priority, **kw
    )  # type: ignore[arg-type]


def answer_inbound(h: Harness, call_id: str, agent: str) -> None:
    """The transcript-03 order: DialBegin, DialEnd ANSWER, BridgeEnter x2."""
    device = f"Local/{agent}@agents"
    h.feed(AgentRinging(call_id, device, f"{device}-00000002;1", IN))
    h.feed(AgentDialEnded(call_id, device, "ANSWER", IN))
    h.feed(CallBridged(call_id, "bridge-1", (f"{device}-00000002;1", "Local/138@caller-sim-00000001;1")))


# -- inbound ---------------------------------------------------------------------------------


def test_inbound_call_to_agent_answer_and_wrap_up() -> None:
    h = Harness("1001", "1002")
    out = h.feed(arrive("1795839282.2"), after=1)
    connect = one(out, ConnectCallToAgent)
    assert connect == ConnectCallToAgent(
        "1795839282.2", "Local/13800000003@caller-sim-00000002;1", "1001", "Local/1001@agents", 20
    )
    assert logs(out, "call.offered")[0]["agent_id"] == "1001"
    assert h.state("1001") == "offered"
    h.feed(AgentRinging("1795839282.2", "Local/1001@agents", "Local/1001@agents-00000002;1", IN), after=2)
    out = h.feed(AgentDialEnded("1795839282.2", "Local/1001@agents", "ANSWER", IN), after=1)
    assert logs(out, "call.answered") == [
        {"call_id": "1795839282.2", "agent_id": "1001", "wait_s": 3.0, "priority": "normal", "offers": 1}
    ]
    assert h.state("1001") == "busy_inbound"
    assert h.feed(CallBridged("1795839282.2", "b", ("x", "y"))) == []  # the echo changes nothing
    out = h.feed(CallEnded("1795839282.2", 16, "Normal Clearing"), after=60)
    record = one(out, RecordCall).record
    assert (record.outcome, record.agent_id, record.wait_s, record.answered_at) == (
        CallOutcome.ANSWERED,
        "1001",
        3.0,
        T0 + 4,
    )
    assert h.state("1001") == "wrap_up"
    out = h.fire("wrap_up:1001")
    assert h.state("1001") == "ready"
    assert logs(out, "agent.state")[0]["trigger"] == "end_wrap_up"
    assert h.dispatcher.stats.calls_answered == 1
    assert h.dispatcher.stats.answered_within_threshold == 1


def test_the_longest_idle_agent_gets_the_call() -> None:
    h = Harness("1001", "1002", "1003")
    h.feed(AgentPause("1001", "lunch"))
    h.feed(AgentReady("1001"), after=5)  # 1001 is now the most recently idle
    out = h.feed(arrive("c1"), after=1)
    assert one(out, ConnectCallToAgent).agent_id == "1002"


def test_escalated_call_is_offered_first() -> None:
    h = Harness("1001")
    h.feed(AgentPause("1001", "meeting"))
    h.feed(arrive("c1"), after=1)
    h.feed(arrive("c2", "13800000009", priority="urgent"), after=1)
    out = h.feed(AgentReady("1001"), after=1)
    connect = one(out, ConnectCallToAgent)
    assert connect.call_id == "c2"
    assert logs(out, "call.offered")[0]["priority"] == "escalated"


def test_ring_no_answer_in_transcript_order_requeues_at_head_and_pauses_the_agent() -> None:
    # 04-agent-no-answer: DialBegin, (5 s) DialEnd NOANSWER, UserEvent HotlineAgentFailed.
    h = Harness("1999", "1002")
    h.feed(AgentPause("1002", "meeting"))
    h.feed(arrive("c1"), after=1)
    h.feed(arrive("c2", "13800000008"), after=1)
    h.feed(AgentRinging("c1", "Local/1999@agents", "Local/1999@agents-00000004;1", IN))
    h.feed(AgentReady("1002"), after=1)  # 1002 takes c2
    out = h.feed(AgentDialEnded("c1", "Local/1999@agents", "NOANSWER", IN), after=20)
    assert h.state("1999") == "paused"
    assert h.dispatcher.agent("1999").pause_reason == "no_answer"  # type: ignore[union-attr]
    assert logs(out, "call.ring_no_answer")[0]["agent_id"] == "1999"
    assert [c.call_id for c in h.dispatcher.waiting_calls()] == ["c1"]
    # The dialplan's own report of the same failure arrives next: nothing more happens.
    assert of(h.feed(AgentDialFailed("c1", "1999", "NOANSWER")), PersistAgentState) == []
    # The next ready agent gets c1 first even though it waited longer elsewhere.
    h.feed(arrive("c3", "13800000007"), after=1)
    answer_inbound(h, "c2", "1002")
    h.feed(CallEnded("c2", 16, ""), after=5)
    out = h.feed(AgentEndWrapUp("1002"))
    assert one(out, ConnectCallToAgent).call_id == "c1"
    assert logs(out, "call.offered")[0]["offer"] == 2


def test_agent_dial_failed_first_then_dial_end_and_no_harm_to_the_next_agent() -> None:
    h = Harness("1888", "1002")
    h.feed(AgentPause("1002", "x"))
    h.feed(arrive("c1"), after=1)
    h.feed(AgentReady("1002"))  # both ready? no: 1888 has c1 already
    h.feed(AgentPause("1002", "x"))
    h.feed(AgentDialFailed("c1", "1888", "BUSY"), after=1)
    assert h.state("1888") == "paused"
    out = h.feed(AgentReady("1002"))
    assert one(out, ConnectCallToAgent).agent_id == "1002"
    # The late DialEnd BUSY of 1888 must not touch 1002's offer.
    h.feed(AgentDialEnded("c1", "Local/1888@agents", "BUSY", IN))
    assert h.state("1002") == "offered"


def test_a_late_agent_failed_event_for_a_re_offered_call_is_ignored() -> None:
    h = Harness("1999", "1002")
    h.feed(arrive("c1"), after=1)  # to 1999
    out = h.feed(AgentDialEnded("c1", "Local/1999@agents", "NOANSWER", IN), after=20)
    assert one(out, ConnectCallToAgent).agent_id == "1002"  # re-offered at once
    h.feed(AgentDialFailed("c1", "1999", "NOANSWER"))
    assert h.state("1002") == "offered"


def test_caller_abandons_while_waiting_gets_a_return_call() -> None:
    h = Harness("1001")
    h.feed(AgentPause("1001", "x"))
    h.feed(arrive("c1", "13800000005"), after=1)
    out = h.feed(CallAbandoned("c1", "chan", 0, "Unknown"), after=3)
    record = one(out, RecordCall).record
    assert (record.outcome, record.wait_s) == (CallOutcome.ABANDONED, 3.0)
    scheduled = one(out, PersistCallback).callback
    assert (scheduled.kind, scheduled.number, scheduled.due_at) == (
        CallbackKind.RETURN_CALL,
        "13800000005",
        h.now + 60,
    )
    assert logs(out, "callback.scheduled")[0]["origin_call_id"] == "c1"
    assert one(out, StartTimer).at == h.now + 60  # wake up when it is due
    assert h.feed(CallEnded("c1", 0, "")) == []  # the end that follows is expected, silent
    # The same citizen abandoning again does not get a second return call.
    h.feed(arrive("c9", "13800000005"), after=1)
    out = h.feed(CallAbandoned("c9", "chan", 0, ""), after=1)
    assert of(out, PersistCallback) == []


def test_abandon_while_ringing_frees_the_agent() -> None:
    h = Harness("1001")
    h.feed(arrive("c1", "13800000005"), after=1)
    h.feed(AgentRinging("c1", "Local/1001@agents", "Local/1001@agents-00000002;1", IN))
    h.feed(AgentDialEnded("c1", "Local/1001@agents", "CANCEL", IN), after=2)
    assert h.state("1001") == "offered"  # until the abandon itself is reported
    out = h.feed(CallAbandoned("c1", "chan", 16, ""))
    assert h.state("1001") == "ready"
    assert one(out, RecordCall).record.outcome is CallOutcome.ABANDONED
    assert len(of(out, PersistCallback)) == 1


def test_called_again_and_answered_cancels_the_pending_return_call() -> None:
    h = Harness("1001")
    h.feed(AgentPause("1001", "x"))
    h.feed(arrive("c1", "13800000005"), after=1)
    h.feed(CallAbandoned("c1", "chan", 0, ""), after=1)
    h.feed(arrive("c2", "13800000005"), after=5)
    h.feed(AgentReady("1001"))
    h.feed(AgentRinging("c2", "Local/1001@agents", "x", IN))
    out = h.feed(AgentDialEnded("c2", "Local/1001@agents", "ANSWER", IN))
    cancelled = one(out, PersistCallback).callback
    assert (cancelled.status, cancelled.closed_reason) == (CallbackStatus.CANCELLED, "called_again")
    assert h.dispatcher.callbacks() == []


# -- callbacks -------------------------------------------------------------------------------


def schedule(h: Harness, cb_id: str = "cb1", number: str = "13900000002", **kw: object) -> list[object]:
    return h.feed(ScheduleCallback(cb_id, CallbackKind.FOLLOW_UP, number, h.now, ticket_id="T-1", **kw))  # type: ignore[arg-type]


def test_callback_success_in_transcript_order() -> None:
    # 06-callback-success: VarSet marker, DialBegin(agent), OriginateResponse, DialEnd ANSWER,
    # DialBegin(citizen), DialEnd ANSWER, BridgeEnter.
    h = Harness("1001")
    out = schedule(h)
    start = one(out, StartCallback)
    assert (start.callback_id, start.agent_id, start.device, start.number, start.attempt) == (
        "cb1",
        "1001",
        "Local/1001@agents",
        "13900000002",
        1,
    )
    assert (start.kind, start.ticket_id, start.ring_timeout_s, start.citizen_timeout_s) == (
        CallbackKind.FOLLOW_UP,
        "T-1",
        20,
        30,
    )
    assert logs(out, "callback.started")[0]["attempt"] == 1
    h.feed(CallbackOriginated("cb1", "c1-0002"))
    h.feed(CallbackLegCreated("1795839314.16", "cb1", "Local/1001@agents-00000008;1"))
    h.feed(AgentRinging("1795839314.16", "Local/1001@agents", "Local/1001@agents-00000008;1", CB))
    h.feed(OriginateResult("c1-0002", True, 4, "1795839314.16", "Local/1001@agents-00000008;1"))
    assert h.state("1001") == "busy_callback"
    h.feed(AgentDialEnded("1795839314.16", "Local/1001@agents", "ANSWER", CB))
    h.feed(CitizenRinging("1795839314.16", "Local/13900000002@caller-sim-00000009;1"), after=1)
    out = h.feed(CitizenDialEnded("1795839314.16", "ANSWER"), after=4)
    result = logs(out, "callback.result")[0]
    assert (result["outcome"], result["counted"], result["status"]) == ("reached", True, "reached")
    h.feed(CallBridged("1795839314.16", "b", ("a", "b")))
    out = h.feed(CallEnded("1795839314.16", 16, ""), after=60)
    record = one(out, RecordCall).record
    assert (record.direction, record.outcome, record.callback_id, record.ticket_id) == (
        CB,
        CallOutcome.REACHED,
        "cb1",
        "T-1",
    )
    assert h.state("1001") == "wrap_up"
    assert h.dispatcher.callbacks() == []
    assert h.dispatcher.stats.callbacks_reached == 1


def start_and_answer_agent_leg(h: Harness, cb_id: str, call_id: str, agent: str = "1001") -> None:
    h.feed(CallbackLegCreated(call_id, cb_id, f"Local/{agent}@agents-0000000f;1"))
    h.feed(AgentRinging(call_id, f"Local/{agent}@agents", f"Local/{agent}@agents-0000000f;1", CB))
    h.feed(AgentDialEnded(call_id, f"Local/{agent}@agents", "ANSWER", CB))
    h.feed(CitizenRinging(call_id, "Local/13900000404@caller-sim-00000010;1"))


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("BUSY", "busy"), ("NOANSWER", "no_answer"), ("CONGESTION", "failed"), ("CHANUNAVAIL", "failed")],
)
def test_callback_citizen_not_reached_is_retried_after_spacing(status: str, outcome: str) -> None:
    h = Harness("1001")
    schedule(h, number="13900000404")
    start_and_answer_agent_leg(h, "cb1", "1795839335.30")
    # 07: OriginateResponse Success may come after the citizen's DialBegin; harmless.
    h.feed(OriginateResult("c1-0007", True, 4, "1795839335.30", "Local/1001@agents-0000000f;1"))
    out = h.feed(CitizenDialEnded("1795839335.30", status), after=1)
    pending = one(out, PersistCallback).callback
    assert (pending.status, pending.attempts, pending.due_at) == (CallbackStatus.PENDING, 1, h.now + 900)
    assert pending.history[-1].outcome.value == outcome
    assert h.state("1001") == "busy_callback"  # until the dialplan hangs up
    out = h.feed(CallEnded("1795839335.30", 16, ""))
    assert h.state("1001") == "ready"  # no conversation: no wrap-up
    assert one(out, RecordCall).record.outcome is CallOutcome.NOT_REACHED
    assert of(out, StartCallback) == []  # not due again before the spacing
    out = h.fire("callbacks_due")
    assert one(out, StartCallback).attempt == 2


def test_attempts_exhausted_fails_the_callback() -> None:
    h = Harness("1001", wrap_up_s=0.0)
    schedule(h, number="13900000404", max_attempts=2, retry_spacing_s=60.0)
    for n in range(2):
        call_id = f"call{n}"
        start_and_answer_agent_leg(h, "cb1", call_id)
        out = h.feed(CitizenDialEnded(call_id, "BUSY"), after=1)
        h.feed(CallEnded(call_id, 16, ""))
        if n == 0:
            h.fire("callbacks_due")
    final = one(out, PersistCallback).callback
    assert (final.status, final.attempts, final.closed_reason) == (
        CallbackStatus.FAILED,
        2,
        "attempts_exhausted",
    )
    assert h.dispatcher.callbacks() == []


def test_callback_agent_never_answers_in_transcript_order() -> None:
    # 07, agent 1999: VarSet marker, DialBegin (no DialEnd), OriginateResponse Failure reason 3
    # with the dial string as Channel and no Uniqueid, then the Hangups.
    h = Harness("1999", "1002")
    h.feed(AgentPause("1002", "x"))
    out = schedule(h)
    assert one(out, StartCallback).agent_id == "1999"
    h.feed(CallbackOriginated("cb1", "c1-0010"))
    h.feed(CallbackLegCreated("1795839347.42", "cb1", "Local/1999@agents-00000015;1"))
    h.feed(AgentRinging("1795839347.42", "Local/1999@agents", "Local/1999@agents-00000015;1", CB))
    out = h.feed(OriginateResult("c1-0010", False, 3, None, "Local/1999@agents"), after=20)
    assert h.state("1999") == "paused"
    back = one(out, PersistCallback).callback
    assert (back.status, back.attempts, back.history[-1].outcome) == (
        CallbackStatus.PENDING,
        0,
        AttemptOutcome.AGENT_NO_ANSWER,
    )
    assert h.feed(CallEnded("1795839347.42", 19, "")) != []  # the record of the failed call
    out = h.feed(AgentReady("1002"))
    assert one(out, StartCallback).attempt == 2  # back in its place, next agent


def test_callback_agent_busy_without_action_id_uses_the_device() -> None:
    # 07, agent 1888: DialEnd BUSY first, then OriginateResponse Failure reason 5.
    h = Harness("1888")
    schedule(h)
    h.feed(CallbackLegCreated("1795839354.44", "cb1", "Local/1888@agents-00000016;1"))
    h.feed(AgentRinging("1795839354.44", "Local/1888@agents", "Local/1888@agents-00000016;1", CB))
    h.feed(AgentDialEnded("1795839354.44", "Local/1888@agents", "BUSY", CB))
    assert h.state("1888") == "paused"
    out = h.feed(OriginateResult("c1-0011", False, 5, None, "Local/1888@agents"))
    assert all(isinstance(c, Log) for c in out)  # already settled by the DialEnd
    assert [(cb.attempts, cb.status) for cb in h.dispatcher.callbacks()] == [(0, CallbackStatus.PENDING)]
    out = h.feed(CallEnded("1795839354.44", 17, "User busy"))
    assert one(out, RecordCall).record.outcome is CallOutcome.NOT_REACHED
    assert h.state("1888") == "paused"


def test_originate_failure_with_no_channel_at_all() -> None:
    # A missing context: no DialBegin, no channel event of ours, OriginateResponse Failure reason 0.
    h = Harness("1001", "1002")
    h.feed(AgentPause("1002", "x"))
    schedule(h)
    out = h.feed(OriginateResult("c1-0006", False, 0, None, "Local/1001@agents"))
    assert h.state("1001") == "paused"
    assert h.dispatcher.agent("1001").pause_reason == "dial_failed"  # type: ignore[union-attr]
    assert one(out, PersistCallback).callback.status is CallbackStatus.PENDING


def test_no_callback_starts_while_an_inbound_call_waits() -> None:
    h = Harness("1001")
    h.feed(AgentPause("1001", "x"))
    schedule(h)
    h.feed(arrive("c1"), after=1)
    out = h.feed(AgentReady("1001"), after=1)
    assert of(out, StartCallback) == [] and one(out, ConnectCallToAgent).call_id == "c1"
    answer_inbound(h, "c1", "1001")
    out = h.feed(CallEnded("c1", 16, ""), after=30)
    assert of(out, StartCallback) == []  # wrap-up first
    out = h.fire("wrap_up:1001")
    assert one(out, StartCallback).callback_id == "cb1"
    assert h.dispatcher.stats.callbacks_started_while_inbound_waited == 0


def test_reserve_keeps_ready_agents_for_inbound() -> None:
    h = Harness("1001", "1002", inbound_reserve=1)
    h.feed(AgentPause("1002", "x"))
    out = schedule(h)
    assert of(out, StartCallback) == []
    out = h.feed(AgentReady("1002"))
    assert one(out, StartCallback).agent_id == "1001"


def test_preemption_of_a_callback_ringing_the_citizen() -> None:
    h = Harness("1001")
    schedule(h)
    start_and_answer_agent_leg(h, "cb1", "cbcall")
    out = h.feed(arrive("c1"), after=2)
    assert one(out, CancelCallbackDial) == CancelCallbackDial("cb1", "cbcall", "Local/1001@agents-0000000f;1")
    back = one(out, PersistCallback).callback
    assert (back.status, back.attempts, back.history[-1].outcome) == (
        CallbackStatus.PENDING,
        0,
        AttemptOutcome.PREEMPTED,
    )
    assert logs(out, "callback.preempted")[0]["agent_id"] == "1001"
    # The cancelled dial reports itself; then the call ends and the agent takes the inbound call.
    h.feed(CitizenDialEnded("cbcall", "CANCEL"))
    out = h.feed(CallEnded("cbcall", 16, ""))
    assert one(out, ConnectCallToAgent).call_id == "c1"
    assert h.dispatcher.stats.callbacks_preempted == 1


def test_no_preemption_when_another_agent_is_free_or_when_off() -> None:
    h = Harness("1001", "1002")
    h.feed(AgentPause("1002", "x"))
    schedule(h)
    start_and_answer_agent_leg(h, "cb1", "cbcall")
    h.feed(AgentReady("1002"))
    out = h.feed(arrive("c1"))
    assert of(out, CancelCallbackDial) == [] and one(out, ConnectCallToAgent).agent_id == "1002"
    off = Harness("1001", preempt_callbacks=False)
    schedule(off)
    start_and_answer_agent_leg(off, "cb1", "cbcall")
    assert of(off.feed(arrive("c1")), CancelCallbackDial) == []


def test_no_preemption_once_the_citizen_answered() -> None:
    h = Harness("1001")
    schedule(h)
    start_and_answer_agent_leg(h, "cb1", "cbcall")
    h.feed(CitizenDialEnded("cbcall", "ANSWER"))
    assert of(h.feed(arrive("c1")), CancelCallbackDial) == []


def test_cancel_callback() -> None:
    h = Harness("1001")
    h.feed(AgentPause("1001", "x"))
    schedule(h)
    out = h.feed(CancelCallback("cb1", "ticket closed"))
    assert one(out, PersistCallback).callback.status is CallbackStatus.CANCELLED


def test_callback_with_an_undiallable_number_is_refused_and_closed_as_failed() -> None:
    h = Harness("1001")
    out = h.feed(ScheduleCallback("x", CallbackKind.FOLLOW_UP, "12;Action: Hangup", h.now, ticket_id="7"))
    # Closed in the store (so its ticket moves on), never dialled, never queued.
    closed = one(out, PersistCallback).callback
    assert (closed.status, closed.closed_reason) == (CallbackStatus.FAILED, "invalid_number")
    assert of(out, StartCallback) == [] and logs(out, "callback.rejected")
    assert h.dispatcher.callbacks() == []


def test_a_restored_callback_with_an_undiallable_number_is_closed_not_dialled() -> None:
    bad = Callback("cb-9", CallbackKind.FOLLOW_UP, "1380000;0001", T0, T0 - 60, ticket_id="9")
    h = Harness("1001", pending_callbacks=[bad])
    closed = [c.callback for c in of(h.started, PersistCallback)]
    assert [(c.callback_id, c.status, c.closed_reason) for c in closed] == [
        ("cb-9", CallbackStatus.FAILED, "invalid_number")
    ]
    assert of(h.started, StartCallback) == [] and h.dispatcher.callbacks() == []


def test_callback_respects_calling_hours() -> None:
    h = Harness("1001")
    h.now = T0 + 12 * 3600  # 22:00 local
    out = schedule(h)
    assert of(out, StartCallback) == []
    wake = next(c for c in out if isinstance(c, StartTimer) and c.key.startswith("callbacks_due"))
    assert wake.at == T0 + 22 * 3600  # 08:00 next day
    out = h.fire("callbacks_due")
    assert one(out, StartCallback).callback_id == "cb1"


def test_a_callback_falling_due_while_every_agent_is_busy_waits_quietly() -> None:
    h = Harness("1001")
    h.feed(arrive("c1"))
    answer_inbound(h, "c1", "1001")
    h.feed(ScheduleCallback("cb1", CallbackKind.FOLLOW_UP, "13900000002", h.now + 30))
    out = h.fire("callbacks_due")
    assert of(out, StartTimer) == [] and of(out, StartCallback) == []  # no re-arm at "now"
    h.feed(CallEnded("c1", 16, ""), after=60)
    assert one(h.fire("wrap_up:1001"), StartCallback).callback_id == "cb1"


# -- agents, timers, devices ------------------------------------------------------------------


def test_agent_commands_and_rejections() -> None:
    h = Harness("1001")
    out = h.feed(AgentLogout("1001"))
    assert one(out, PersistAgentState).record.state is AgentState.LOGGED_OUT
    assert one(h.feed(AgentReady("1001")), RejectAgentCommand).reason.startswith("not allowed")
    assert one(h.feed(AgentEndWrapUp("1001")), RejectAgentCommand).command == "AgentEndWrapUp"
    assert one(h.feed(AgentLogin("nobody")), RejectAgentCommand).reason == "unknown agent"
    assert one(h.feed(AgentPause("1001", " ")), RejectAgentCommand).reason.startswith("a pause needs")
    h.feed(AgentLogin("1001"))
    h.feed(arrive("c1"))
    assert one(h.feed(AgentLogout("1001")), RejectAgentCommand).reason == "not allowed while offered"


def test_pause_during_a_call_starts_after_wrap_up() -> None:
    h = Harness("1001")
    h.feed(arrive("c1"))
    answer_inbound(h, "c1", "1001")
    out = h.feed(AgentPause("1001", "training"))
    assert logs(out, "agent.pause_pending")
    h.feed(CallEnded("c1", 16, ""))
    assert h.state("1001") == "wrap_up"
    h.fire("wrap_up:1001")
    record = h.dispatcher.agent("1001")
    assert record is not None and (record.state, record.pause_reason) == (AgentState.PAUSED, "training")


def test_zero_wrap_up_goes_straight_back_to_ready() -> None:
    h = Harness("1001", wrap_up_s=0.0)
    h.feed(arrive("c1"))
    answer_inbound(h, "c1", "1001")
    h.feed(arrive("c2"))
    out = h.feed(CallEnded("c1", 16, ""))
    assert one(out, ConnectCallToAgent).call_id == "c2"


def test_device_unavailable_and_back() -> None:
    h = Harness("1001")
    h.feed(DeviceStateChanged("Local/1001@agents", "UNAVAILABLE"))
    assert h.state("1001") == "device_unavailable"
    assert of(h.feed(arrive("c1")), ConnectCallToAgent) == []
    h.feed(DeviceStateChanged("Local/13800000003@caller-sim", "INUSE"))  # not ours: ignored
    out = h.feed(DeviceStateChanged("Local/1001@agents", "NOT_INUSE"))
    assert h.state("1001") == "offered" and one(out, ConnectCallToAgent).call_id == "c1"


def test_device_lost_during_a_call_applies_after_it() -> None:
    h = Harness("1001", wrap_up_s=0.0)
    h.feed(arrive("c1"))
    answer_inbound(h, "c1", "1001")
    h.feed(DeviceStateChanged("Local/1001@agents", "UNAVAILABLE"))
    assert h.state("1001") == "busy_inbound"
    h.feed(CallEnded("c1", 16, ""))
    assert h.state("1001") == "device_unavailable"


def test_stale_or_unknown_timers_are_harmless() -> None:
    h = Harness("1001")
    assert h.feed(TimerFired("wrap_up:1001:999")) == []
    assert h.feed(TimerFired("garbage")) == []


def test_offer_guard_when_the_pbx_never_reports_the_end_of_the_ringing() -> None:
    h = Harness("1001", "1002")
    h.feed(arrive("c1"))
    h.feed(AgentRinging("c1", "Local/1001@agents", "Local/1001@agents-00000002;1", IN))
    out = h.fire("offer:c1")
    assert logs(out, "call.offer_timeout") and h.state("1001") == "paused"  # it rang, unanswered
    assert one(out, ConnectCallToAgent).agent_id == "1002"


def test_offer_guard_when_the_agents_device_never_rang() -> None:
    h = Harness("1001", "1002")
    h.feed(arrive("c1"))
    out = h.fire("offer:c1")
    assert logs(out, "call.offer_timeout") and h.state("1001") == "ready"  # not the agent's fault
    assert one(out, ConnectCallToAgent).agent_id == "1002"  # the longest idle now


def test_snapshot_every_interval() -> None:
    h = Harness("1001", "1002", snapshot_interval_s=10.0)
    h.feed(AgentPause("1002", "x"))
    h.feed(arrive("c1"))
    h.feed(arrive("c2"), after=3)
    out = h.fire("snapshot")
    snap = logs(out, "queue.snapshot")[0]
    assert {k: snap[k] for k in ("waiting_inbound", "agents_ready", "agents_busy", "longest_wait_s")} == {
        "waiting_inbound": 1,
        "agents_ready": 0,
        "agents_busy": 1,
        "longest_wait_s": 7.0,
    }
    assert h.timer("snapshot")  # re-armed


def test_redirect_failure_holds_the_call_back_then_retries() -> None:
    h = Harness("1001")
    connect = one(h.feed(arrive("c1")), ConnectCallToAgent)
    out = h.feed(ActionFailed(connect, "Channel does not exist"))
    assert h.state("1001") == "ready" and of(out, ConnectCallToAgent) == []
    out = h.fire("retry:c1")
    assert one(out, ConnectCallToAgent).call_id == "c1"


def test_originate_action_failure_counts_and_frees_the_agent() -> None:
    h = Harness("1001")
    start = one(schedule(h), StartCallback)
    out = h.feed(ActionFailed(start, "timeout"))
    assert h.state("1001") == "ready"
    assert one(out, PersistCallback).callback.attempts == 1
    out = h.feed(ActionFailed(one(h.fire("callbacks_due"), StartCallback), "bad number", permanent=True))
    assert one(out, PersistCallback).callback.status is CallbackStatus.FAILED


def test_callback_attempt_guard_hangs_up_a_stuck_callback() -> None:
    h = Harness("1001")
    schedule(h)
    start_and_answer_agent_leg(h, "cb1", "cbcall")
    out = h.fire("attempt:")
    assert one(out, HangupChannel).channel == "Local/1001@agents-0000000f;1"
    assert h.state("1001") == "ready"
    assert one(out, PersistCallback).callback.attempts == 1  # counted: no endless retries
    assert h.feed(CallEnded("cbcall", 16, "")) == []


# -- PBX link, restart, robustness ------------------------------------------------------------


def test_nothing_routes_while_the_pbx_is_away_and_resync_settles_calls() -> None:
    h = Harness("1001", "1002")
    h.feed(AgentPause("1002", "x"))
    h.feed(arrive("c1"))  # offered to 1001
    h.feed(arrive("c2", "13800000009"))
    h.feed(PbxDisconnected("ping timeout"))
    assert of(h.feed(AgentReady("1002")), ConnectCallToAgent) == []
    # Resync: c1 is found back on hold, c2 vanished.
    h.feed(arrive("c1", resynced=True))
    out = h.feed(CallEnded("c2", 0, "", EndReason.LOST_DURING_DISCONNECT))
    record = one(out, RecordCall).record
    assert (record.outcome, record.end_uncertain, record.last_seen_at) == (CallOutcome.ABANDONED, True, T0)
    assert h.state("1001") == "ready"  # not paused: the offer died with the link
    out = h.feed(PbxConnected(channels=2))
    assert len(of(out, ConnectCallToAgent)) == 1


def test_restart_restores_agents_and_callbacks() -> None:
    pending = Callback("cb1", CallbackKind.RETURN_CALL, "13900000002", T0 - 60, T0 - 600, attempts=1)
    running = Callback(
        "cb2", CallbackKind.FOLLOW_UP, "13900000003", T0 - 60, T0 - 600, status=CallbackStatus.IN_PROGRESS
    )
    restored = [
        AgentStateRecord("1001", AgentState.PAUSED, "lunch", T0 - 100),
        AgentStateRecord("1002", AgentState.BUSY_INBOUND, None, T0 - 100),
        AgentStateRecord("1003", AgentState.LOGGED_OUT, None, T0 - 100),
    ]
    h = Harness(
        "1001", "1002", "1003", "1004", restored_agents=restored, pending_callbacks=[pending, running]
    )
    states = {r.agent_id: (r.state, r.pause_reason) for r in h.dispatcher.agents()}
    assert states == {
        "1001": (AgentState.PAUSED, "lunch"),
        "1002": (AgentState.WRAP_UP, None),
        "1003": (AgentState.LOGGED_OUT, None),
        "1004": (AgentState.OFFERED, None),  # autologin; it took the return call at once
    }
    started = one(h.history, StartCallback)
    assert (started.callback_id, started.agent_id) == ("cb1", "1004")  # return calls first
    # cb2's call is not on the PBX: it ended unseen while we were down, and is not dialled again.
    assert [c.callback_id for c in h.dispatcher.callbacks()] == ["cb1"]


def test_a_resync_attaches_an_agent_found_on_a_call() -> None:
    restored = [AgentStateRecord("1001", AgentState.BUSY_INBOUND, None, T0 - 100)]
    h = Harness("1001", restored_agents=restored, connected=False)
    h.feed(CallBridged("old", "b", ("Local/1001@agents-00000002;1", "Local/138@caller-sim-00000001;1")))
    h.feed(PbxConnected(channels=4))
    assert h.state("1001") == "busy_inbound"
    h.feed(CallEnded("old", 16, ""))
    assert h.state("1001") == "wrap_up"


def test_configuration_errors() -> None:
    with pytest.raises(QueueConfigError):
        Dispatcher(queue_settings(), agent_configs("1", "1"), ring_timeout_s=1, citizen_timeout_s=1)
    twins = (AgentConfig(id="a", device="PJSIP/1"), AgentConfig(id="b", device="pjsip/1"))
    with pytest.raises(QueueConfigError):
        Dispatcher(queue_settings(), twins, ring_timeout_s=1, citizen_timeout_s=1)


def test_from_settings_uses_the_shipped_defaults() -> None:
    dispatcher = Dispatcher.from_settings(load_settings(environ={}))
    out = dispatcher.start(T0)
    assert [r.state for r in dispatcher.agents()] == [AgentState.READY] * 5
    assert len(of(out, PersistAgentState)) == 5


def test_odd_events_are_logged_never_raised() -> None:
    h = Harness("1001")
    odd = [
        CallAbandoned("nope", "x", 0, ""),
        CallEnded("nope", 0, ""),
        AgentRinging("nope", "Local/9999@agents", "x", IN),
        AgentDialEnded("nope", "Local/1001@agents", "ANSWER", CB),
        AgentDialFailed("nope", "1001", "BUSY"),
        CitizenRinging("nope", "x"),
        CitizenDialEnded("nope", "ANSWER"),
        CallbackLegCreated("nope", "unknown-callback", "x"),
        OriginateResult("x", False, 0, None, "Local/42@nowhere"),
        CallBridged("nope", "b", ("x", "y")),
        CallbackOriginated("nope", "a1"),
        CancelCallback("nope"),
    ]
    for event in odd:
        out = h.feed(event)
        assert all(isinstance(c, Log) for c in out)
    assert h.state("1001") == "ready"


def test_priority_class_is_kept_on_the_record() -> None:
    h = Harness("1001")
    h.feed(arrive("c1", priority="urgent"))
    answer_inbound(h, "c1", "1001")
    record = one(h.feed(CallEnded("c1", 16, "")), RecordCall).record
    assert record.priority is PriorityClass.ESCALATED


def test_an_internal_error_is_logged_not_raised_unless_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    dispatcher = Dispatcher(queue_settings(), agent_configs("1001"), ring_timeout_s=20, citizen_timeout_s=30)
    dispatcher.start(T0)

    def boom(event: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(dispatcher.inbound, "on_call_arrived", boom)
    out = dispatcher.handle(arrive("c1"), T0)
    assert [(c.event, c.level) for c in out if isinstance(c, Log)] == [("queue.internal_error", "error")]


def test_handle_starts_the_dispatcher_if_needed_and_time_never_steps_back() -> None:
    dispatcher = Dispatcher(
        queue_settings(), agent_configs("1001"), ring_timeout_s=20, citizen_timeout_s=30, pbx_connected=True
    )
    out = dispatcher.handle(arrive("c1"), T0 + 10)
    assert of(out, PersistAgentState) and one(out, ConnectCallToAgent).call_id == "c1"
    out = dispatcher.handle(AgentDialEnded("c1", "Local/1001@agents", "ANSWER", IN), T0 + 5)
    assert logs(out, "call.answered")[0]["wait_s"] == 0.0


# -- actions whose outcome is unknown, and what a resync finds -----------------------------------


def test_an_originate_without_an_answer_is_never_sent_again_and_its_events_still_count() -> None:
    h = Harness("1001")
    start = one(schedule(h), StartCallback)
    out = h.feed(ActionFailed(start, "Originate (a1): no response within 10 s", uncertain=True))
    assert of(out, StartCallback) == [] and of(out, PersistCallback) == []
    assert h.state("1001") == "offered"  # still on that attempt: its events may come
    # Asterisk did carry it out: the attempt goes on as usual.
    start_and_answer_agent_leg(h, "cb1", "cbcall")
    out = h.feed(CitizenDialEnded("cbcall", "ANSWER"))
    assert one(out, PersistCallback).callback.status is CallbackStatus.REACHED
    assert of(h.history, StartCallback) == [start]


def test_an_originate_without_an_answer_that_never_dialled_is_not_counted_nor_blamed_on_the_agent() -> None:
    h = Harness("1001")
    start = one(schedule(h), StartCallback)
    h.feed(ActionFailed(start, "connection lost", uncertain=True))
    out = h.fire("attempt:")
    callback = of(out, PersistCallback)[0].callback
    assert (callback.status, callback.attempts) == (CallbackStatus.PENDING, 0)
    assert callback.history[-1].outcome is AttemptOutcome.ABORTED
    assert h.state("1001") == "offered"  # the same agent takes it again at once: it was not at fault
    again = one(out, StartCallback)
    assert (again.callback_id, again.attempt) == ("cb1", 2)


def test_a_redirect_without_an_answer_keeps_the_offer_until_the_pbx_tells() -> None:
    h = Harness("1001", "1002")
    connect = one(h.feed(arrive("c1")), ConnectCallToAgent)
    out = h.feed(ActionFailed(connect, "Redirect (a2): no response within 10 s", uncertain=True))
    assert of(out, ConnectCallToAgent) == []  # not sent again, not offered elsewhere
    answer_inbound(h, "c1", connect.agent_id)
    assert h.state(connect.agent_id) == "busy_inbound"


def test_a_redirect_that_never_took_effect_is_offered_again_without_pausing_the_agent() -> None:
    h = Harness("1001")
    connect = one(h.feed(arrive("c1")), ConnectCallToAgent)
    h.feed(ActionFailed(connect, "connection lost", uncertain=True))
    out = h.fire("offer:")  # the agent's device never rang
    assert logs(out, "call.offer_timeout")[0]["agent_rang"] is False
    again = one(out, ConnectCallToAgent)
    assert (again.call_id, again.agent_id) == ("c1", "1001")
    assert h.dispatcher.stats.ring_no_answer == 0


def test_a_call_found_ringing_an_agent_after_a_restart_is_that_agents_offer() -> None:
    restored = [AgentStateRecord("1002", AgentState.OFFERED, None, T0 - 5)]
    h = Harness("1001", "1002", restored_agents=restored, connected=False)
    assert h.state("1002") == "wrap_up"
    h.feed(arrive("c1", resynced=True, waited_s=40.0, ringing_agent="1002"))
    out = h.feed(PbxConnected(channels=3))
    assert of(out, ConnectCallToAgent) == []  # it rings 1002 already: not redirected elsewhere
    assert h.state("1002") == "offered" and h.state("1001") == "ready"
    assert h.dispatcher.waiting_calls() == []
    # 1002 does not answer: the dialplan reports it, the call goes to 1001.
    out = h.feed(AgentDialFailed("c1", "1002", "NOANSWER"))
    assert h.state("1002") == "paused"
    assert one(out, ConnectCallToAgent).agent_id == "1001"


def test_a_resync_leaves_an_offer_that_still_rings_its_agent() -> None:
    h = Harness("1001", "1002")
    connect = one(h.feed(arrive("c1")), ConnectCallToAgent)
    h.feed(PbxDisconnected("ping timeout"))
    h.feed(arrive("c1", resynced=True, ringing_agent=connect.agent_id))
    out = h.feed(PbxConnected(channels=3))
    assert of(out, ConnectCallToAgent) == [] and h.state(connect.agent_id) == "offered"
    answer_inbound(h, "c1", connect.agent_id)
    assert h.state(connect.agent_id) == "busy_inbound"


def test_a_callback_under_way_at_a_restart_is_taken_up_again_not_dialled_twice() -> None:
    running = Callback(
        "cb2", CallbackKind.FOLLOW_UP, "13900000003", T0 - 60, T0 - 600, status=CallbackStatus.IN_PROGRESS
    )
    restored = [AgentStateRecord("1001", AgentState.BUSY_CALLBACK, None, T0 - 30)]
    h = Harness("1001", "1002", restored_agents=restored, pending_callbacks=[running], connected=False)
    # The resync names the call's legs, then finds it bridged.
    h.feed(CallbackLegCreated("cbcall", "cb2", "Local/1001@agents-0000000f;1"))
    out = h.feed(CallBridged("cbcall", "b1", ("Local/1001@agents-0000000f;2", "Local/139@caller-sim-1;1")))
    assert one(out, PersistCallback).callback.status is CallbackStatus.REACHED
    out = h.feed(PbxConnected(channels=4))
    assert of(out, StartCallback) == []
    assert h.state("1001") == "busy_callback" and h.state("1002") == "ready"
    record = one(h.feed(CallEnded("cbcall", 16, "")), RecordCall).record
    assert (record.callback_id, record.outcome, record.agent_id) == ("cb2", CallOutcome.REACHED, "1001")
    assert h.state("1001") == "wrap_up"
    assert of(h.history, StartCallback) == []


def test_a_callback_whose_call_ended_unseen_during_the_restart_is_closed_not_dialled_again() -> None:
    """Its call may have rung (even reached) the citizen while we were down: never a second dial."""
    running = Callback(
        "cb2", CallbackKind.FOLLOW_UP, "13900000003", T0 - 60, T0 - 600, status=CallbackStatus.IN_PROGRESS
    )
    h = Harness("1001", pending_callbacks=[running], connected=False)
    assert of(h.started, StartCallback) == []  # held until the PBX lists its channels
    out = h.feed(PbxConnected(channels=0))
    closed = next(c.callback for c in of(out, PersistCallback) if c.callback.callback_id == "cb2")
    assert closed.history[-1].outcome is AttemptOutcome.ABORTED and closed.attempts == 0
    assert (closed.status, closed.closed_reason) == (CallbackStatus.CANCELLED, "end_unseen")
    assert of(out, StartCallback) == [] and h.dispatcher.callbacks() == []


def test_a_callback_call_found_talking_after_a_restart_keeps_its_agent_busy() -> None:
    # Its callback closed as reached before the restart: only the call is left to follow.
    h = Harness("1001", "1002", connected=False)
    h.feed(CallbackLegCreated("cbcall", "t-9", "Local/1001@agents-0000000f;1"))
    h.feed(CallBridged("cbcall", "b1", ("Local/1001@agents-0000000f;2", "Local/139@caller-sim-1;1")))
    out = h.feed(PbxConnected(channels=4))
    assert h.state("1001") == "busy_callback"
    assert [
        c.agent_id for c in of(out, ConnectCallToAgent) + of(h.feed(arrive("c1")), ConnectCallToAgent)
    ] == ["1002"]
    record = one(h.feed(CallEnded("cbcall", 16, "")), RecordCall).record
    assert (record.direction, record.callback_id, record.agent_id) == (CB, "t-9", "1001")
    assert h.state("1001") == "wrap_up" and of(h.history, PersistCallback) == []

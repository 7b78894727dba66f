"""Restore and reconcile, flow by flow, without sockets: what a restart finds in the store, then
what the first resync finds on the PBX (or does not)."""

from __future__ import annotations

from hotline.events import (
    AgentDialEnded,
    CallArrived,
    CallbackLegCreated,
    CallBridged,
    CallEnded,
    CitizenDialEnded,
    Direction,
    PbxConnected,
)
from hotline.queue.agent_flow import AgentFlow
from hotline.queue.agents import AgentState, AgentStateRecord
from hotline.queue.callbacks import CallbackBook
from hotline.queue.commands import (
    ConnectCallToAgent,
    PersistAgentState,
    PersistCallback,
    RecordCall,
    StartCallback,
    TrackCall,
)
from hotline.queue.flow import FlowContext
from hotline.queue.inputs import ScheduleCallback
from hotline.queue.router import Router
from hotline.queue.work import (
    Callback,
    CallbackKind,
    CallbackStatus,
    CallOutcome,
    LiveCall,
    LiveState,
    PriorityClass,
)
from tests.unit.queue.helpers import T0, Harness, agent_configs, logs, of, one, queue_settings

IN, CB = Direction.INBOUND, Direction.CALLBACK
CALLER = "Local/13800000003@caller-sim-00000001;1"


def waiting(call_id: str, arrived_at: float, *, number: str = "13800000003", **kw: object) -> LiveCall:
    return LiveCall(call_id, IN, LiveState.WAITING, number=number, arrived_at=arrived_at, **kw)  # type: ignore[arg-type]


def found_waiting(call_id: str, waited_s: float, number: str = "") -> CallArrived:
    """A resync's picture: the number may be missing, the wait is whole seconds."""
    return CallArrived(call_id, CALLER, call_id, number, "", "normal", resynced=True, waited_s=waited_s)


# -- inbound ---------------------------------------------------------------------------------


def test_a_call_written_ahead_at_arrival_and_completed_field_by_field() -> None:
    h = Harness("1001")
    out = h.feed(CallArrived("1795831200.5", CALLER, "1795831200.5", "13800000003", "", "urgent"))
    tracked = [c.call for c in of(out, TrackCall)]
    assert tracked[0].state is LiveState.WAITING and tracked[0].arrived_at == T0
    assert tracked[0].number == "13800000003" and tracked[0].priority is PriorityClass.ESCALATED
    assert tracked[-1].state is LiveState.OFFERED and tracked[-1].agent_id == "1001"
    out = h.feed(AgentDialEnded("1795831200.5", "Local/1001@agents", "ANSWER", IN), after=4)
    (answered,) = [c.call for c in of(out, TrackCall)]
    assert (answered.state, answered.answered_at, answered.wait_s) == (LiveState.ANSWERED, T0 + 4, 4.0)


def test_a_stored_waiting_call_found_again_keeps_its_arrival_caller_and_priority() -> None:
    stored = waiting("1795831100.7", T0 - 100, priority=PriorityClass.ESCALATED, offers=2)
    h = Harness("1001", live_calls=[stored], last_seen_at=T0 - 60, connected=False)
    h.feed(found_waiting("1795831100.7", 99.0))
    out = h.feed(PbxConnected(channels=1))
    offer = logs(out, "call.offered")[0]
    assert offer["wait_s"] == 100.0 and offer["priority"] == "escalated" and offer["offer"] == 3
    out = h.feed(AgentDialEnded("1795831100.7", "Local/1001@agents", "ANSWER", IN), after=2)
    out = h.feed(CallEnded("1795831100.7", 16, ""), after=30)
    record = one(out, RecordCall).record
    assert (record.started_at, record.wait_s, record.number) == (T0 - 100, 102.0, "13800000003")
    assert h.dispatcher.stats.calls_arrived == 0  # not a new arrival


def test_stored_callers_keep_their_order_and_equal_waits_go_by_uniqueid() -> None:
    first = waiting("1795831100.20", T0 - 40.3)
    second = waiting("1795831100.21", T0 - 40.0)
    h = Harness("1001", live_calls=[second, first], connected=False)
    h.feed(CallArrived("1795831100.21", CALLER, "x", "", "", "normal", resynced=True, waited_s=40))
    h.feed(CallArrived("1795831100.20", CALLER, "x", "", "", "normal", resynced=True, waited_s=40))
    out = h.feed(PbxConnected(channels=2))
    assert one(out, ConnectCallToAgent).call_id == "1795831100.20"
    # Not stored (arrived while the service was down): the same whole-second wait ties, and
    # Asterisk's channel numbering keeps first come, first served.
    h2 = Harness("1001", connected=False)
    h2.feed(CallArrived("1795831100.9", CALLER, "x", "1", "", "normal", resynced=True, waited_s=40))
    h2.feed(CallArrived("1795831100.10", CALLER, "x", "2", "", "normal", resynced=True, waited_s=40))
    h2.feed(CallArrived("1795831100.8", CALLER, "x", "3", "", "normal", resynced=True, waited_s=40))
    out = h2.feed(PbxConnected(channels=3))
    assert one(out, ConnectCallToAgent).call_id == "1795831100.8"


def test_a_waiting_call_gone_at_the_resync_is_abandoned_with_an_uncertain_end_and_one_return_call() -> None:
    gone = waiting("1795831100.7", T0 - 100, number="13800000077")
    h = Harness("1001", live_calls=[gone], last_seen_at=T0 - 30, connected=False)
    h.feed(AgentDialEnded("unrelated", "Local/1001@agents", "CANCEL", IN))
    out = h.feed(PbxConnected(channels=0))
    record = one(out, RecordCall).record
    assert record.outcome is CallOutcome.ABANDONED and record.end_uncertain
    assert (record.started_at, record.last_seen_at, record.ended_at) == (T0 - 100, T0 - 30, T0)
    assert record.wait_s == 70.0  # waited at least until last seen
    (scheduled,) = [c.callback for c in of(out, PersistCallback)]
    assert scheduled.kind is CallbackKind.RETURN_CALL and scheduled.number == "13800000077"
    # A second resync changes nothing: exactly one record, exactly one return call.
    out = h.feed(PbxConnected(channels=0), after=5)
    assert of(out, RecordCall) == [] and of(out, PersistCallback) == []


def test_a_stored_talking_call_gone_at_the_resync_is_completed_without_an_invented_talk_time() -> None:
    talking = LiveCall(
        "c9",
        IN,
        LiveState.ANSWERED,
        number="13800000003",
        arrived_at=T0 - 90,
        answered_at=T0 - 75,
        agent_id="1001",
    )
    agents = [AgentStateRecord("1001", AgentState.BUSY_INBOUND, None, T0 - 75, work="c9")]
    h = Harness("1001", live_calls=[talking], restored_agents=agents, last_seen_at=T0 - 20, connected=False)
    assert h.state("1001") == "busy_inbound"
    out = h.feed(PbxConnected(channels=0))
    record = one(out, RecordCall).record
    assert (record.outcome, record.answered_at, record.wait_s, record.end_uncertain) == (
        CallOutcome.ANSWERED,
        T0 - 75,
        15.0,
        True,
    )
    assert of(out, PersistCallback) == []  # a caller who talked is owed nothing
    # Its agent ended the call while we were away: its wrap-up counts from the last sighting.
    assert h.state("1001") == "ready"  # wrap-up (10 s) from T0 - 20 is over


def test_a_stored_talking_call_still_bridged_keeps_its_answer_and_its_agent() -> None:
    talking = LiveCall(
        "c9",
        IN,
        LiveState.ANSWERED,
        number="13800000003",
        arrived_at=T0 - 90,
        answered_at=T0 - 75,
        agent_id="1001",
    )
    agents = [AgentStateRecord("1001", AgentState.BUSY_INBOUND, None, T0 - 75, work="c9")]
    h = Harness("1001", "1002", live_calls=[talking], restored_agents=agents, connected=False)
    out = h.feed(CallBridged("c9", "b", ("Local/1001@agents-00000002;1", CALLER)))
    assert of(out, PersistAgentState) == []  # it was busy on that call and still is
    h.feed(PbxConnected(channels=2))
    assert h.state("1001") == "busy_inbound"
    out = h.feed(CallEnded("c9", 16, ""), after=20)
    record = one(out, RecordCall).record
    assert (record.started_at, record.answered_at, record.wait_s, record.number) == (
        T0 - 90,
        T0 - 75,
        15.0,
        "13800000003",
    )
    assert not record.end_uncertain and h.state("1001") == "wrap_up"


# -- agents ----------------------------------------------------------------------------------


def test_agents_come_back_as_they_were() -> None:
    restored = [
        AgentStateRecord("1001", AgentState.PAUSED, "training", T0 - 500),
        AgentStateRecord("1002", AgentState.WRAP_UP, None, T0 - 7, wrap_up_until=T0 + 3),
        AgentStateRecord("1003", AgentState.READY, None, T0 - 50),
        AgentStateRecord("1004", AgentState.WRAP_UP, None, T0 - 30, wrap_up_until=T0 - 20),
    ]
    h = Harness("1001", "1002", "1003", "1004", restored_agents=restored, connected=False)
    assert [(r.state, r.pause_reason) for r in h.dispatcher.agents()] == [
        (AgentState.PAUSED, "training"),
        (AgentState.WRAP_UP, None),
        (AgentState.READY, None),
        (AgentState.READY, None),  # its wrap-up ended while the service was down
    ]
    assert h.timers[h.timer("wrap_up:1002")] == T0 + 3  # the remaining 3 s, not a full wrap-up
    restored_lines = {line["agent_id"]: line for line in logs(h.started, "agent.restored")}
    assert set(restored_lines) == {"1001", "1002", "1003", "1004"}
    assert restored_lines["1002"]["wrap_up_remaining_s"] == 3.0
    assert restored_lines["1001"]["reason"] == "training"
    h.feed(PbxConnected(channels=0))
    h.fire("wrap_up:1002")
    assert h.state("1002") == "ready" and h.now == T0 + 3


def test_an_agent_persisted_on_a_call_records_its_work_and_wrap_up_deadline() -> None:
    h = Harness("1001")
    h.feed(CallArrived("c1", CALLER, "c1", "13800000003", "", "normal"))
    out = h.feed(AgentDialEnded("c1", "Local/1001@agents", "ANSWER", IN), after=1)
    assert one(out, PersistAgentState).record.work == "c1"
    out = h.feed(CallEnded("c1", 16, ""), after=10)
    record = one(out, PersistAgentState).record
    assert record.state is AgentState.WRAP_UP and record.wrap_up_until == h.now + 10


# -- callbacks -------------------------------------------------------------------------------


def _follow_up(status: CallbackStatus = CallbackStatus.PENDING) -> Callback:
    return Callback("cb2", CallbackKind.FOLLOW_UP, "13900000003", T0 - 60, T0 - 600, status=status)


def test_a_callback_still_pending_in_the_store_but_running_is_not_dialled_again() -> None:
    h = Harness("1001", "1002", pending_callbacks=[_follow_up()], connected=False)
    out = h.feed(CallbackLegCreated("cbcall", "cb2", "Local/1001@agents-0000000f;1"))
    assert one(out, PersistCallback).callback.status is CallbackStatus.IN_PROGRESS
    out = h.feed(PbxConnected(channels=2))
    assert of(out, StartCallback) == []
    assert h.state("1002") == "ready" and h.state("1001") == "busy_callback"


def test_a_callback_taken_up_from_the_store_after_its_call_was_found_is_not_dialled_again() -> None:
    """The other order (found by hypothesis): the resync finds the callback's call first, the
    store's pending copy (its in-progress write lost at the kill) is scheduled after it."""
    h = Harness("1001", "1002", connected=False)
    h.feed(CallbackLegCreated("cbcall", "cb2", "Local/1001@agents-0000000f;1"))
    h.feed(PbxConnected(channels=2))
    out = h.feed(ScheduleCallback("cb2", CallbackKind.FOLLOW_UP, "13900000003", T0 - 60))
    assert [c.callback.status for c in of(out, PersistCallback)][-1] is CallbackStatus.IN_PROGRESS
    assert of(out, StartCallback) == []
    out = h.feed(CallBridged("cbcall", "b1", ("Local/1001@agents-0000000f;1", "Local/13900000003@c;2")))
    assert [c.callback.status for c in of(out, PersistCallback)] == [CallbackStatus.REACHED]
    assert of(h.history, StartCallback) == []


def test_a_callback_whose_agent_leg_still_rings_is_not_counted_answered() -> None:
    restored = [AgentStateRecord("1001", AgentState.OFFERED, None, T0 - 3, work="cb2#1")]
    running = _follow_up(CallbackStatus.IN_PROGRESS)
    call = LiveCall(
        "cbcall", CB, LiveState.OFFERED, number="13900000003", offered_at=T0 - 3, callback_id="cb2"
    )
    h = Harness(
        "1001", restored_agents=restored, pending_callbacks=[running], live_calls=[call], connected=False
    )
    h.feed(CallbackLegCreated("cbcall", "cb2", "Local/1001@agents-0000000f;1"))
    out = h.feed(PbxConnected(channels=1))
    assert of(out, StartCallback) == [] and h.state("1001") == "offered"
    # The agent does not answer: the attempt is the agent's failure, not the citizen's.
    out = h.feed(AgentDialEnded("cbcall", "Local/1001@agents", "NOANSWER", CB), after=17)
    callback = one(out, PersistCallback).callback
    assert callback.status is CallbackStatus.PENDING and callback.attempts == 0
    out = h.feed(CallEnded("cbcall", 16, ""))
    record = one(out, RecordCall).record
    assert record.outcome is CallOutcome.NOT_REACHED and record.answered_at is None
    assert record.started_at == T0 - 3


def test_two_resumed_calls_of_closed_callbacks_free_their_own_agents() -> None:
    h = Harness("1001", "1002", connected=False)
    h.feed(CallbackLegCreated("callA", "cb-old", "Local/1001@agents-0000000a;1"))
    h.feed(CallbackLegCreated("callB", "cb-old", "Local/1002@agents-0000000b;1"))
    h.feed(PbxConnected(channels=4))
    assert h.state("1001") == h.state("1002") == "busy_callback"
    h.feed(CallEnded("callB", 16, ""))
    assert (h.state("1001"), h.state("1002")) == ("busy_callback", "ready")
    h.feed(CallEnded("callA", 16, ""))
    assert h.state("1001") == "ready"


def test_a_callback_call_talking_at_the_kill_and_gone_closes_reached_and_is_not_dialled_again() -> None:
    running = _follow_up(CallbackStatus.IN_PROGRESS)
    call = LiveCall(
        "cbcall",
        CB,
        LiveState.ANSWERED,
        number="13900000003",
        offered_at=T0 - 50,
        answered_at=T0 - 40,
        agent_id="1001",
        callback_id="cb2",
    )
    h = Harness("1001", pending_callbacks=[running], live_calls=[call], last_seen_at=T0 - 10, connected=False)
    out = h.feed(PbxConnected(channels=0))
    assert of(out, StartCallback) == []
    assert one(out, PersistCallback).callback.status is CallbackStatus.REACHED
    record = one(out, RecordCall).record
    assert (record.outcome, record.answered_at, record.end_uncertain, record.last_seen_at) == (
        CallOutcome.REACHED,
        T0 - 40,
        True,
        T0 - 10,
    )
    assert h.dispatcher.callbacks() == []


def test_a_callback_reached_before_the_kill_and_still_talking_keeps_its_answer() -> None:
    call = LiveCall(
        "cbcall",
        CB,
        LiveState.ANSWERED,
        number="13900000003",
        offered_at=T0 - 50,
        answered_at=T0 - 40,
        agent_id="1001",
        callback_id="cb2",
    )
    restored = [AgentStateRecord("1001", AgentState.BUSY_CALLBACK, None, T0 - 40, work="cb2#1")]
    h = Harness("1001", restored_agents=restored, live_calls=[call], connected=False)
    h.feed(CallbackLegCreated("cbcall", "cb2", "Local/1001@agents-0000000f;1"))
    h.feed(CitizenDialEnded("cbcall", "ANSWER"))  # an echo: nothing to change
    h.feed(PbxConnected(channels=2))
    out = h.feed(CallEnded("cbcall", 16, ""), after=30)
    record = one(out, RecordCall).record
    assert (record.outcome, record.answered_at, record.number) == (
        CallOutcome.REACHED,
        T0 - 40,
        "13900000003",
    )
    assert h.state("1001") == "wrap_up"


def test_a_callback_dialling_its_citizen_at_the_kill_and_gone_is_not_dialled_again() -> None:
    running = _follow_up(CallbackStatus.IN_PROGRESS)
    restored = [AgentStateRecord("1001", AgentState.BUSY_CALLBACK, None, T0 - 20, work="cb2#1")]
    call = LiveCall(
        "cbcall",
        CB,
        LiveState.OFFERED,
        number="13900000003",
        offered_at=T0 - 25,
        agent_id="1001",
        callback_id="cb2",
    )
    h = Harness(
        "1001", restored_agents=restored, pending_callbacks=[running], live_calls=[call], connected=False
    )
    out = h.feed(PbxConnected(channels=0))
    assert of(out, StartCallback) == []
    callback = one(out, PersistCallback).callback
    assert (callback.status, callback.closed_reason, callback.attempts) == (
        CallbackStatus.CANCELLED,
        "end_unseen",
        0,
    )
    record = one(out, RecordCall).record
    assert record.outcome is CallOutcome.NOT_REACHED and record.end_uncertain
    assert h.state("1001") == "wrap_up" and h.dispatcher.callbacks() == []  # no sighting: a whole wrap-up


# -- the flows on their own (no dispatcher) ---------------------------------------------------


def _context(**overrides: object) -> FlowContext:
    ctx = FlowContext(
        queue_settings(**overrides), Router(), ring_timeout_s=20, citizen_timeout_s=30, connected=False
    )
    ctx.now = T0
    return ctx


def test_the_agents_flow_restores_and_reconciles_on_its_own() -> None:
    ctx = _context(wrap_up_s=30.0)
    agents = AgentFlow(ctx, agent_configs("1001", "1002"))
    agents.restore(
        [
            AgentStateRecord("1001", AgentState.BUSY_INBOUND, None, T0 - 60, work="c1"),
            AgentStateRecord("1002", AgentState.BUSY_CALLBACK, None, T0 - 60, work="cb#1"),
        ]
    )
    assert agents.claim(agents["1002"], "cb#1") and not agents.claim(agents["1001"], "other")
    agents.reconcile(last_seen_at=T0 - 10)  # c1 was not found: ended after T0 - 10
    assert agents["1001"].state is AgentState.WRAP_UP and agents["1001"].wrap_up_until == T0 + 20
    assert agents["1002"].state is AgentState.BUSY_CALLBACK  # claimed: the callbacks flow has it


def test_the_callback_book_closes_a_callback_whose_call_ended_unseen() -> None:
    ctx = _context()
    book = CallbackBook(ctx)
    pending = Callback("cb3", CallbackKind.RETURN_CALL, "13900000004", T0, T0)
    book.restore([_follow_up(CallbackStatus.IN_PROGRESS), pending])
    book.release_unsettled()
    assert [c.callback_id for c in book.open()] == ["cb3"]
    (closed,) = [c.callback for c in ctx.out if isinstance(c, PersistCallback)]
    assert (closed.callback_id, closed.status, closed.closed_reason) == (
        "cb2",
        CallbackStatus.CANCELLED,
        "end_unseen",
    )


def test_a_callback_closed_reached_at_the_resync_is_not_dialled_when_the_store_schedules_it_again() -> None:
    """Hypothesis found it: the resync closes a callback whose call had reached the citizen;
    the store's copy of that callback, scheduled after, must not ring the citizen again."""
    running = _follow_up(CallbackStatus.IN_PROGRESS)
    call = LiveCall(
        "cbcall",
        CB,
        LiveState.ANSWERED,
        number="13900000003",
        offered_at=T0 - 50,
        answered_at=T0 - 40,
        agent_id="1001",
        callback_id="cb2",
    )
    h = Harness("1001", pending_callbacks=[running], live_calls=[call], last_seen_at=T0 - 10, connected=False)
    h.feed(PbxConnected(channels=0))
    out = h.feed(ScheduleCallback("cb2", CallbackKind.FOLLOW_UP, "13900000003", T0 - 60), after=1)
    assert of(out, StartCallback) == [] and of(out, PersistCallback) == []
    assert h.dispatcher.callbacks() == [] and h.state("1001") == "ready"


def test_a_found_callback_call_that_reached_the_citizen_is_not_dialled_when_scheduled_after() -> None:
    """The fixed order's sibling: the resync finds the callback's call, it reaches the citizen
    and ends, and only then is the store's pending copy scheduled: it must not ring again."""
    h = Harness("1001", "1002", connected=False)
    h.feed(CallbackLegCreated("cbcall", "cb2", "Local/1001@agents-0000000f;1"))
    h.feed(PbxConnected(channels=2))
    h.feed(CallBridged("cbcall", "b1", ("Local/1001@agents-0000000f;1", "Local/13900000003@c;2")))
    h.feed(CallEnded("cbcall", 16, ""), after=30)
    out = h.feed(ScheduleCallback("cb2", CallbackKind.FOLLOW_UP, "13900000003", T0 - 60), after=1)
    assert of(out, StartCallback) == []
    assert of(h.history, StartCallback) == []


def test_a_found_callback_call_stored_answered_is_not_dialled_when_scheduled_after() -> None:
    call = LiveCall(
        "cbcall",
        CB,
        LiveState.ANSWERED,
        number="13900000003",
        offered_at=T0 - 50,
        answered_at=T0 - 40,
        agent_id="1001",
        callback_id="cb2",
    )
    h = Harness("1001", "1002", live_calls=[call], connected=False)
    h.feed(CallbackLegCreated("cbcall", "cb2", "Local/1001@agents-0000000f;1"))
    h.feed(PbxConnected(channels=2))
    h.feed(CallEnded("cbcall", 16, ""), after=30)
    h.feed(ScheduleCallback("cb2", CallbackKind.FOLLOW_UP, "13900000003", T0 - 60), after=1)
    assert of(h.history, StartCallback) == []


def test_a_pending_callbacks_leg_that_cannot_be_taken_up_leaves_it_queued_not_stuck_in_progress() -> None:
    """Hypothesis found it: the leg of a callback the store has pending shows on an agent busy
    with an inbound call; taking the callback off the queue before checking left it in progress
    with no attempt, never dialled and never closed."""
    h = Harness("1001", pending_callbacks=[_follow_up()], connected=False)
    h.feed(CallArrived("c1", CALLER, "c1", "13800000003", "", "normal", resynced=True, waited_s=3))
    h.feed(PbxConnected(channels=2))
    assert h.state("1001") == "offered"  # c1 rings 1001
    out = h.feed(CallbackLegCreated("cbcall", "cb2", "Local/1001@agents-0000000f;1"))
    assert of(out, PersistCallback) == []
    [callback] = h.dispatcher.callbacks()
    assert callback.status is CallbackStatus.PENDING
    h.feed(CallEnded("c1", 16, ""), after=1)
    assert one(h.history, StartCallback).callback_id == "cb2"  # still owed, dialled when 1001 is free

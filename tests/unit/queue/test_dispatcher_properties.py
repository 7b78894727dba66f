"""Hypothesis: whatever the PBX and the agents send, in whatever order, the dispatcher never
raises, keeps its books consistent, and never starts a callback while an eligible call waits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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
from hotline.queue.agents import AgentState
from hotline.queue.commands import StartCallback, StartTimer
from hotline.queue.inbound import CallPhase
from hotline.queue.inputs import (
    AgentEndWrapUp,
    AgentLogin,
    AgentLogout,
    AgentPause,
    AgentReady,
    CancelCallback,
    QueueInput,
    ScheduleCallback,
    TimerFired,
)
from hotline.queue.work import CallbackKind
from tests.unit.queue.helpers import T0, Harness

AGENTS = ["1001", "1002", "1003"]
CALLS = ["c1", "c2", "c3", "c4"]
CBS = ["cb1", "cb2"]
CB_CALLS = ["k1", "k2", "k3"]
STATUSES = ["ANSWER", "NOANSWER", "BUSY", "CANCEL", "CONGESTION"]

agent = st.sampled_from(AGENTS)
device = agent.map(lambda a: f"Local/{a}@agents")
call = st.sampled_from(CALLS)
cb = st.sampled_from(CBS)
cb_call = st.sampled_from(CB_CALLS)
status = st.sampled_from(STATUSES)
direction = st.sampled_from(list(Direction))
any_call = st.sampled_from(CALLS + CB_CALLS)

EVENTS: st.SearchStrategy[QueueInput] = st.one_of(
    st.builds(
        lambda c, p, r: CallArrived(c, f"chan-{c}", c, "13800000001", "张三", p, r),
        call,
        st.sampled_from(["normal", "urgent"]),
        st.booleans(),
    ),
    st.builds(lambda c: CallAbandoned(c, f"chan-{c}", 16, ""), call),
    st.builds(lambda c, d, dr: AgentRinging(c, d, f"{d}-00000001;1", dr), any_call, device, direction),
    st.builds(AgentDialEnded, any_call, device, status, direction),
    st.builds(AgentDialFailed, call, agent, status),
    st.builds(lambda c, d: CallBridged(c, "b", (f"{d}-00000001;1", "x")), any_call, device),
    st.builds(CitizenRinging, cb_call, st.just("citizen")),
    st.builds(CitizenDialEnded, cb_call, status),
    st.builds(lambda c, b, d: CallbackLegCreated(c, b, f"{d}-00000002;1"), cb_call, cb, device),
    st.builds(
        lambda ok, r, c, d: OriginateResult("a1", ok, r, c if ok else None, d),
        st.booleans(),
        st.sampled_from([0, 3, 4, 5]),
        cb_call,
        device,
    ),
    st.builds(
        lambda c, lost: CallEnded(c, 16, "", EndReason.LOST_DURING_DISCONNECT if lost else EndReason.HANGUP),
        any_call,
        st.booleans(),
    ),
    st.builds(DeviceStateChanged, device, st.sampled_from(["UNAVAILABLE", "NOT_INUSE", "INUSE", "UNKNOWN"])),
    st.builds(PbxConnected, st.just(1)),
    st.builds(PbxDisconnected, st.just("test")),
    st.builds(AgentLogin, agent),
    st.builds(AgentLogout, agent),
    st.builds(AgentReady, agent),
    st.builds(AgentPause, agent, st.sampled_from(["lunch", ""])),
    st.builds(AgentEndWrapUp, agent),
    st.builds(
        lambda b, k, due: ScheduleCallback(b, k, "13900000001", T0 + due),
        cb,
        st.sampled_from(list(CallbackKind)),
        st.sampled_from([-100.0, 0.0, 30.0, 3600.0, 15 * 3600.0]),
    ),
    st.builds(CancelCallback, cb),
)

STEP = st.one_of(
    st.tuples(st.just("event"), EVENTS, st.floats(0, 30)),
    st.tuples(st.just("timer"), st.integers(0, 100), st.floats(0, 30)),
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(STEP, min_size=5, max_size=60), wrap_up=st.sampled_from([0.0, 5.0]))
def test_any_event_sequence_keeps_the_dispatcher_consistent(
    steps: list[tuple[str, object, float]], wrap_up: float
) -> None:
    h = Harness(*AGENTS, wrap_up_s=wrap_up, return_call_delay_s=0.0, snapshot_interval_s=10.0)
    d = h.dispatcher
    for kind, payload, dt in steps:
        h.now += dt
        if kind == "timer":
            if not h.timers:
                continue
            key = sorted(h.timers)[int(payload) % len(h.timers)]  # type: ignore[call-overload]
            h.now = max(h.now, h.timers.pop(key))  # a timer fires at its time, never early
            out = h.feed(TimerFired(key))
        else:
            out = h.feed(payload)  # type: ignore[arg-type]
        for command in out:
            if isinstance(command, StartTimer):  # a timer due now would fire again and again
                assert command.at > h.now, command
            if isinstance(command, StartCallback):
                assert not d.router.may_take_waiting_call(command.agent_id)
        assert d.stats.callbacks_started_while_inbound_waited == 0
        ready = set(d.router.ready_agents())
        for a in d.agent_flow.all():
            assert (a.state is AgentState.READY) == (a.agent_id in ready), a
            if a.state in (AgentState.OFFERED, AgentState.BUSY_INBOUND, AgentState.BUSY_CALLBACK):
                assert a.work is not None, a
        waiting = {c.call_id for c in d.router.waiting_calls()}
        assert waiting == {cid for cid, live in d.inbound.live().items() if live.phase is CallPhase.WAITING}
        if d.pbx_connected:  # routing is complete: no ready agent may take a waiting call
            for agent_id in ready:
                assert not d.router.may_take_waiting_call(agent_id)

"""Hypothesis: a restart (callbacks, calls and agents as the store kept them) followed by any
mix of resyncs, reconnects, schedules, flags, reachability and timers never dials a citizen a
callback already reached, and never leaves a callback unaccounted (open but neither queued
nor with an agent on it)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.events import DeviceReachability, Direction
from hotline.queue.agents import AgentState, AgentStateRecord
from hotline.queue.commands import PersistCallback, StartCallback
from hotline.queue.inputs import CallbackOriginated, FlagCall, QueueInput, TimerFired
from hotline.queue.work import Callback, CallbackKind, CallbackStatus, LiveCall, LiveState
from tests.unit.queue.helpers import T0, Harness
from tests.unit.queue.test_dispatcher_properties import AGENTS, CALLS, CB_CALLS, CBS, EVENTS

MIXED: st.SearchStrategy[QueueInput] = st.one_of(
    EVENTS,
    st.builds(
        lambda a, up: DeviceReachability(f"Local/{a}@agents", up, "PeerStatus"),
        st.sampled_from(AGENTS),
        st.booleans(),
    ),
    st.builds(FlagCall, st.sampled_from(CALLS), st.sampled_from(["urgent", "sensitive"])),
    st.builds(CallbackOriginated, st.sampled_from(CBS), st.just("a1")),
)
STEP = st.one_of(
    st.tuples(st.just("event"), MIXED, st.floats(0, 30)),
    st.tuples(st.just("timer"), st.integers(0, 100), st.floats(0, 30)),
)
STORED_CALLBACK = st.builds(
    lambda b, s: Callback(b, CallbackKind.FOLLOW_UP, "13900000003", T0 - 60, T0 - 600, status=s),
    st.sampled_from(CBS),
    st.sampled_from([CallbackStatus.PENDING, CallbackStatus.IN_PROGRESS]),
)
STORED_CALLBACK_CALL = st.builds(
    lambda c, b, answered, a: LiveCall(
        c,
        Direction.CALLBACK,
        LiveState.ANSWERED if answered else LiveState.OFFERED,
        number="13900000003",
        offered_at=T0 - 50,
        answered_at=T0 - 40 if answered else None,
        agent_id=a,
        callback_id=b,
    ),
    st.sampled_from(CB_CALLS),
    st.sampled_from(CBS),
    st.booleans(),
    st.sampled_from(AGENTS),
)
STORED_AGENT = st.builds(
    lambda a, s, w: AgentStateRecord(a, s, None, T0 - 3, work=w),
    st.sampled_from(AGENTS),
    st.sampled_from([AgentState.OFFERED, AgentState.BUSY_CALLBACK, AgentState.READY]),
    st.sampled_from([None, "cb1#1", "cb2#1"]),
)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(STEP, min_size=5, max_size=80),
    callbacks=st.lists(STORED_CALLBACK, max_size=2, unique_by=lambda c: c.callback_id),
    calls=st.lists(STORED_CALLBACK_CALL, max_size=2, unique_by=lambda c: c.call_id),
    agents=st.lists(STORED_AGENT, max_size=3, unique_by=lambda a: a.agent_id),
)
def test_after_a_restart_no_reached_callback_is_dialled_and_none_is_left_unaccounted(
    steps: list[tuple[str, object, float]],
    callbacks: list[Callback],
    calls: list[LiveCall],
    agents: list[AgentStateRecord],
) -> None:
    h = Harness(
        *AGENTS,
        wrap_up_s=0.0,
        return_call_delay_s=0.0,
        connected=False,
        pending_callbacks=callbacks,
        live_calls=calls,
        restored_agents=agents,
        last_seen_at=T0 - 10,
    )
    d = h.dispatcher
    reached: set[str] = set()
    for kind, payload, dt in steps:
        h.now += dt
        if kind == "timer":
            if not h.timers:
                continue
            key = sorted(h.timers)[int(payload) % len(h.timers)]  # type: ignore[call-overload]
            h.now = max(h.now, h.timers.pop(key))
            out = h.feed(TimerFired(key))
        else:
            out = h.feed(payload)  # type: ignore[arg-type]
        for command in out:
            if isinstance(command, PersistCallback) and command.callback.status is CallbackStatus.REACHED:
                reached.add(command.callback.callback_id)
            if isinstance(command, StartCallback):
                assert command.callback_id not in reached, command
        queued = {c.callback_id for c in d.router.pending_callbacks()}
        working = {a.work.split("#")[0] for a in d.agent_flow.all() if a.work is not None}
        for callback in d.callbacks():
            if callback.status is CallbackStatus.PENDING:
                assert callback.callback_id in queued, callback
            elif callback.status is CallbackStatus.IN_PROGRESS and d.pbx_connected:
                assert callback.callback_id in working, (callback, working)

"""The router: unit cases, and hypothesis properties over random states and event sequences."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import event, given, settings
from hypothesis import strategies as st

from hotline.queue.router import (
    AgentChoice,
    NaiveRouter,
    OfferCall,
    OfferCallback,
    PreemptCallback,
    Router,
    RoutingDecision,
)
from hotline.queue.work import Callback, CallbackKind, CallingHours, PriorityClass, WaitingCall

ALWAYS = CallingHours()


def call(
    call_id: str, at: float, priority: PriorityClass = PriorityClass.NORMAL, **kw: object
) -> WaitingCall:
    return WaitingCall(call_id, f"chan-{call_id}", "13800000000", priority, at, **kw)  # type: ignore[arg-type]


def callback(cb_id: str, due: float, kind: CallbackKind = CallbackKind.FOLLOW_UP, **kw: object) -> Callback:
    return Callback(cb_id, kind, "13900000000", due, 0.0, **kw)  # type: ignore[arg-type]


def router(agents: dict[str, tuple[str, ...]], **kw: object) -> Router:
    r = Router(**kw)  # type: ignore[arg-type]
    for order, (agent_id, skills) in enumerate(agents.items()):
        r.register_agent(agent_id, skills, order)
    return r


def drain(r: Router | NaiveRouter, now: float) -> list[RoutingDecision]:
    out = []
    while (d := r.route_next(now)) is not None:
        out.append(d)
    return out


# -- unit cases -----------------------------------------------------------------------------


def test_escalated_before_normal_then_fifo() -> None:
    r = router({"a": ()})
    r.add_call(call("n1", 1.0))
    r.add_call(call("n2", 2.0))
    r.add_call(call("e1", 3.0, PriorityClass.ESCALATED))
    order = []
    for t in range(3):
        r.set_agent_ready("a", 10.0 + t)
        d = r.route_next(10.0 + t)
        assert isinstance(d, OfferCall)
        order.append(d.call.call_id)
    assert order == ["e1", "n1", "n2"]


def test_a_returned_call_goes_to_the_head_of_its_class_only() -> None:
    r = router({"a": ()})
    r.add_call(call("old", 1.0))
    r.add_call(call("back", 5.0, returned=True))
    r.add_call(call("urgent", 9.0, PriorityClass.ESCALATED))
    got = []
    for t in range(3):
        r.set_agent_ready("a", 10.0 + t)
        d = r.route_next(20.0)
        assert isinstance(d, OfferCall)
        got.append(d.call.call_id)
    assert got == ["urgent", "back", "old"]


def test_longest_idle_agent_gets_the_call() -> None:
    r = router({"a": (), "b": (), "c": ()})
    r.set_agent_ready("b", 5.0)
    r.set_agent_ready("a", 7.0)
    r.set_agent_ready("c", 6.0)
    r.add_call(call("x", 8.0))
    assert r.route_next(8.0) == OfferCall(call("x", 8.0), "b")


def test_config_order_choice() -> None:
    r = router({"a": (), "b": ()}, agent_choice=AgentChoice.CONFIG_ORDER)
    r.set_agent_ready("b", 1.0)
    r.set_agent_ready("a", 7.0)
    r.add_call(call("x", 8.0))
    d = r.route_next(8.0)
    assert isinstance(d, OfferCall) and d.agent_id == "a"


def test_skills_decide_who_may_take_a_call() -> None:
    r = router({"general": (), "tax": ("tax",)})
    r.set_agent_ready("general", 1.0)
    r.add_call(call("t", 2.0, skill="tax"))
    assert r.route_next(3.0) is None  # the general agent may not take it
    r.set_agent_ready("tax", 4.0)
    d = r.route_next(4.0)
    assert isinstance(d, OfferCall) and (d.call.call_id, d.agent_id) == ("t", "tax")


def test_no_callback_while_a_call_the_agent_may_take_waits() -> None:
    r = router({"a": ()})
    r.add_callback(callback("cb", 0.0), 1.0)
    r.add_call(call("x", 1.0))
    r.set_agent_ready("a", 2.0)
    d = r.route_next(2.0)
    assert isinstance(d, OfferCall)
    r.set_agent_ready("a", 3.0)
    d = r.route_next(3.0)
    assert isinstance(d, OfferCallback) and d.callback.callback_id == "cb"


def test_a_callback_may_start_when_only_calls_it_cannot_take_wait() -> None:
    r = router({"a": ()})
    r.add_call(call("t", 1.0, skill="tax"))
    r.add_callback(callback("cb", 0.0), 1.0)
    r.set_agent_ready("a", 2.0)
    assert isinstance(r.route_next(2.0), OfferCallback)
    assert not r.may_take_waiting_call("a")


def test_return_calls_before_follow_ups_then_earliest_due() -> None:
    r = router({"a": ()})
    r.add_callback(callback("f_early", 0.0), 10.0)
    r.add_callback(callback("r_late", 5.0, CallbackKind.RETURN_CALL), 10.0)
    r.add_callback(callback("r_early", 1.0, CallbackKind.RETURN_CALL), 10.0)
    got = []
    for t in range(3):
        r.set_agent_ready("a", 10.0 + t)
        d = r.route_next(10.0 + t)
        assert isinstance(d, OfferCallback)
        got.append(d.callback.callback_id)
    assert got == ["r_early", "r_late", "f_early"]


def test_reserve_keeps_agents_for_inbound() -> None:
    r = router({"a": (), "b": ()}, inbound_reserve=1)
    r.add_callback(callback("cb", 0.0), 1.0)
    r.set_agent_ready("a", 1.0)
    assert r.route_next(1.0) is None
    r.set_agent_ready("b", 2.0)
    d = r.route_next(2.0)
    assert isinstance(d, OfferCallback) and d.agent_id == "a"


def test_callback_waits_for_due_time_and_calling_hours() -> None:
    hours = CallingHours(8 * 60, 21 * 60, 8 * 3600.0)
    day = 1_795_795_200.0  # 2026-11-28 00:00 +08:00
    r = router({"a": ()})
    r.set_agent_ready("a", day)
    r.add_callback(callback("cb", day + 3600, calling_hours=hours), day)  # due 01:00, hours from 08:00
    assert r.route_next(day + 3600) is None
    assert r.next_callback_at(day + 3600) == day + 8 * 3600
    assert r.next_callback_at(day + 8 * 3600) is None  # due now: nothing to wake up for
    assert isinstance(r.route_next(day + 8 * 3600), OfferCallback)


def test_due_callback_outside_hours_moves_to_the_next_opening() -> None:
    hours = CallingHours(8 * 60, 21 * 60, 8 * 3600.0)
    day = 1_795_795_200.0
    r = router({"a": ()})
    r.add_callback(callback("cb", day + 20 * 3600, calling_hours=hours), day + 20 * 3600)
    r.set_agent_ready("a", day + 22 * 3600)
    assert r.route_next(day + 22 * 3600) is None  # due, but 22:00 is after hours
    assert r.next_callback_at(day + 22 * 3600) == day + 32 * 3600  # tomorrow 08:00


def test_preemption_only_when_no_ready_agent_can_take_the_call() -> None:
    r = router({"a": (), "b": (), "c": ()})
    r.set_preemptible("a", 1.0)
    r.set_agent_ready("b", 2.0)
    r.add_call(call("x", 3.0))
    d = r.route_next(3.0)
    assert isinstance(d, OfferCall) and d.agent_id == "b"  # b is free: no pre-emption
    r.add_call(call("y", 4.0))
    assert r.route_next(4.0) == PreemptCallback("a", None)
    assert r.route_next(4.0) is None  # one pre-emption per waiting call


def test_preemption_counts_the_agents_already_being_freed() -> None:
    r = router({"a": (), "b": ()})
    r.set_preemptible("a", 1.0)
    r.set_preemptible("b", 2.0)
    r.add_call(call("x", 3.0))
    r.add_call(call("y", 3.5))
    assert drain(r, 4.0) == [PreemptCallback("a", None), PreemptCallback("b", None)]
    r.preemption_finished(None)
    r.set_agent_ready("a", 5.0)
    d = r.route_next(5.0)
    assert isinstance(d, OfferCall) and d.call.call_id == "x"


def test_preemption_respects_skills_and_can_be_off() -> None:
    r = router({"a": (), "tax": ("tax",)})
    r.set_preemptible("a", 1.0)
    r.add_call(call("t", 2.0, skill="tax"))
    assert r.route_next(2.0) is None  # a may not take a tax call
    r.set_preemptible("tax", 3.0)
    assert r.route_next(3.0) == PreemptCallback("tax", "tax")
    off = router({"a": ()}, preempt=False)
    off.set_preemptible("a", 1.0)
    off.add_call(call("x", 2.0))
    assert off.route_next(2.0) is None


def test_removed_items_do_not_pile_up() -> None:
    r = router({"a": ("s",)})
    for i in range(10_000):
        r.add_call(call(f"c{i}", float(i), skill="s"))
        r.remove_call(f"c{i}")
        r.add_callback(callback(f"b{i}", 1e12), 0.0)
        r.remove_callback(f"b{i}")
        r.set_agent_ready("a", float(i))
        r.set_agent_not_ready("a")
    assert r.waiting_count == 0 and r.callback_count == 0
    sizes = [len(h) for h in r._call_heaps.values()] + [len(r._future), len(r._due)]
    sizes += [len(h) for h in r._ready._heaps.values()]
    assert max(sizes, default=0) < 100


# -- properties ------------------------------------------------------------------------------

AGENTS = {"a0": (), "a1": ("tax",), "a2": ("tax", "env"), "a3": ("env",), "a4": ()}
SKILLS = [None, None, "tax", "env", "rare"]
HOURS = [ALWAYS, CallingHours(8 * 60, 21 * 60, 8 * 3600.0), CallingHours(0, 12 * 60, 0.0)]


@dataclass
class Model:
    """Plain bookkeeping of what the routers were told, to check each decision against."""

    reserve: int
    now: float = 1_795_839_600.0
    seq: int = 0
    agent_seq: int = 0
    calls: dict[str, tuple[WaitingCall, int]] = field(default_factory=dict)
    callbacks: dict[str, tuple[Callback, int]] = field(default_factory=dict)
    ready: dict[str, tuple[float, int]] = field(default_factory=dict)
    preemptible: dict[str, tuple[float, int]] = field(default_factory=dict)
    busy: dict[str, str] = field(default_factory=dict)  # agent -> "busy" | "callback" | skill marker
    preempting: dict[str, str | None] = field(default_factory=dict)
    n: int = 0

    def may_take(self, agent: str, c: WaitingCall) -> bool:
        return c.skill is None or c.skill in AGENTS[agent]

    def check(self, d: RoutingDecision) -> None:
        calls = sorted(self.calls.values(), key=lambda s: (s[0].sort_key(), s[1]))
        if isinstance(d, OfferCall):
            assert d.agent_id in self.ready and self.may_take(d.agent_id, d.call)
            chosen = (d.call.sort_key(), self.calls[d.call.call_id][1])
            for c, seq in calls:  # the best call this agent may take: escalated first, FIFO
                if self.may_take(d.agent_id, c):
                    assert (c.sort_key(), seq) >= chosen
            for agent, key in self.ready.items():  # the longest-idle agent who may take it
                if self.may_take(agent, d.call):
                    assert key >= self.ready[d.agent_id]
        elif isinstance(d, OfferCallback):
            for agent in self.ready:  # never while an inbound call waits that it could take
                assert not any(self.may_take(agent, c) for c, _ in calls)
            assert len(self.ready) > self.reserve
            cb = d.callback
            assert cb.due_at <= self.now and cb.calling_hours.contains(self.now)
            assert self.ready[d.agent_id] == min(self.ready.values())
            for other, seq in self.callbacks.values():
                if other.due_at <= self.now and other.calling_hours.contains(self.now):
                    assert (other.sort_key(), seq) >= (cb.sort_key(), self.callbacks[cb.callback_id][1])
        else:  # pre-emption only when no ready agent is free for a waiting call
            assert d.agent_id in self.preemptible
            for agent in self.ready:
                assert not any(self.may_take(agent, c) for c, _ in calls)
            assert any(c.skill == d.skill and self.may_take(d.agent_id, c) for c, _ in calls)

    def apply(self, d: RoutingDecision) -> None:
        if isinstance(d, OfferCall):
            del self.calls[d.call.call_id]
            del self.ready[d.agent_id]
            self.busy[d.agent_id] = "busy"
        elif isinstance(d, OfferCallback):
            del self.callbacks[d.callback.callback_id]
            del self.ready[d.agent_id]
            self.busy[d.agent_id] = "callback"
        else:
            del self.preemptible[d.agent_id]
            self.busy[d.agent_id] = "preempting"
            self.preempting[d.agent_id] = d.skill


OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["arrive", "arrive", "abandon", "free", "free", "callback", "drop_cb", "dial", "tick"]
        ),
        st.integers(0, 1000),
        st.integers(0, 1000),
    ),
    min_size=20,
    max_size=80,
)


@settings(max_examples=400, deadline=None)
@given(ops=OPS, reserve=st.integers(0, 2), preempt=st.booleans())
def test_router_policy_holds_and_matches_the_naive_router(
    ops: list[tuple[str, int, int]], reserve: int, preempt: bool
) -> None:
    fast = router(AGENTS, inbound_reserve=reserve, preempt=preempt)
    slow = NaiveRouter(inbound_reserve=reserve, preempt=preempt)
    for order, (agent, skills) in enumerate(AGENTS.items()):
        slow.register_agent(agent, skills, order)
    model = Model(reserve)
    for agent in AGENTS:
        model.busy[agent] = "busy"  # all start busy; "free" makes them ready
    for op, x, y in ops:
        model.now += 1.0
        if op == "arrive":
            model.n += 1
            c = WaitingCall(
                f"c{model.n}",
                "chan",
                "138",
                PriorityClass(x % 2),
                model.now - (y % 50),  # resynced calls may carry an older enqueue time
                skill=SKILLS[y % len(SKILLS)],
                returned=x % 7 == 0,
            )
            model.seq += 1
            model.calls[c.call_id] = (c, model.seq)
            fast.add_call(c)
            slow.add_call(c)
        elif op == "abandon" and model.calls:
            call_id = sorted(model.calls)[x % len(model.calls)]
            del model.calls[call_id]
            assert fast.remove_call(call_id) == slow.remove_call(call_id)
        elif op == "free":
            agent = sorted(AGENTS)[x % len(AGENTS)]
            state = model.busy.pop(agent, None)
            if state is None:
                continue
            if agent in model.preemptible:
                del model.preemptible[agent]
                fast.clear_preemptible(agent)
                slow.clear_preemptible(agent)
            if state == "preempting":
                skill = model.preempting.pop(agent)
                fast.preemption_finished(skill)
                slow.preemption_finished(skill)
            model.agent_seq += 1
            model.ready[agent] = (model.now, model.agent_seq)
            fast.set_agent_ready(agent, model.now)
            slow.set_agent_ready(agent, model.now)
        elif op == "dial":  # a callback's agent answered: its citizen rings, it may be pre-empted
            on_callback = sorted(a for a, s in model.busy.items() if s == "callback")
            if on_callback:
                agent = on_callback[x % len(on_callback)]
                model.agent_seq += 1
                model.preemptible[agent] = (model.now, model.agent_seq)
                fast.set_preemptible(agent, model.now)
                slow.set_preemptible(agent, model.now)
        elif op == "callback":
            model.n += 1
            cb = Callback(
                f"b{model.n}",
                CallbackKind.RETURN_CALL if x % 2 else CallbackKind.FOLLOW_UP,
                "139",
                model.now + (y % 20) - 10,
                0.0,
                calling_hours=HOURS[x % len(HOURS)],
            )
            model.seq += 1
            model.callbacks[cb.callback_id] = (cb, model.seq)
            fast.add_callback(cb, model.now)
            slow.add_callback(cb, model.now)
        elif op == "drop_cb" and model.callbacks:
            cb_id = sorted(model.callbacks)[x % len(model.callbacks)]
            del model.callbacks[cb_id]
            assert fast.remove_callback(cb_id) == slow.remove_callback(cb_id)
        elif op == "tick":
            model.now += (x % 5) * 3600.0
        while True:
            d_fast = fast.route_next(model.now)
            d_slow = slow.route_next(model.now)
            assert d_fast == d_slow
            if d_fast is None:
                break
            event(type(d_fast).__name__)
            model.check(d_fast)
            model.apply(d_fast)
        assert fast.waiting_count == len(model.calls)
        assert fast.callback_count == len(model.callbacks)
        assert fast.ready_count == len(model.ready)

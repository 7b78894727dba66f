"""Routing decision time: the indexed router against a sort-everything router, on the same states.

Run from the repository root: ``python -m bench.routing`` (``--quick`` for a smaller run).

For each number of waiting items (100 ... 100,000) and of agents (10 ... 2,000) it builds the
same state in :class:`hotline.queue.router.Router` and :class:`hotline.queue.router.NaiveRouter`
(5 skills; a fifth of the calls need one; a tenth are escalated; agents have 0-2 skills) and
times three decisions, each from the event to the decision:

- ``agent ready``: a busy agent becomes ready while inbound calls wait -> the best call it may take;
- ``callback``: a busy agent becomes ready while only callbacks wait -> the best due callback;
- ``call arrives``: a call arrives while every agent is busy and some callbacks ring their
  citizens -> nothing, or a pre-emption.

After each decision the state is put back (the taken item is replaced by a new one), so every
decision sees n waiting items.  The garbage collector is off while timing (as ``timeit`` does)
so that its pauses, which depend on the whole process, do not pass for routing cost.
Figures are printed, never asserted.  Target: p99 below 50 us at 10,000 waiting items.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable

from hotline.queue.router import NaiveRouter, OfferCall, OfferCallback, PreemptCallback, Router
from hotline.queue.work import Callback, CallbackKind, PriorityClass, WaitingCall

SKILLS = ("tax", "housing", "traffic", "health", "environment")
NOW = 1_795_831_200.0
AnyRouter = Router | NaiveRouter


class Workload:
    """Identical item streams for both routers (same seeds, same order of operations)."""

    def __init__(self, seed: int, n_agents: int) -> None:
        self.rnd = random.Random(seed)
        self.n = 0
        self.agents = [f"a{i}" for i in range(n_agents)]
        self.skills = {a: tuple(self.rnd.sample(SKILLS, self.rnd.randint(0, 2))) for a in self.agents}

    def call(self, at: float) -> WaitingCall:
        self.n += 1
        rnd = self.rnd
        return WaitingCall(
            call_id=f"c{self.n}",
            channel=f"Local/{self.n}@caller-sim-00000000;1",
            caller_number="13800000000",
            priority=PriorityClass.ESCALATED if rnd.random() < 0.1 else PriorityClass.NORMAL,
            enqueued_at=at - rnd.random() * 600,
            skill=rnd.choice(SKILLS) if rnd.random() < 0.2 else None,
            returned=rnd.random() < 0.01,
        )

    def callback(self, at: float) -> Callback:
        self.n += 1
        rnd = self.rnd
        return Callback(
            callback_id=f"b{self.n}",
            kind=CallbackKind.RETURN_CALL if rnd.random() < 0.5 else CallbackKind.FOLLOW_UP,
            number="13900000000",
            due_at=at - rnd.random() * 3600,
            created_at=at - 7200,
        )


def build(kind: type[AnyRouter], scenario: str, n_items: int, n_agents: int) -> tuple[AnyRouter, Workload]:
    work = Workload(seed=n_items * 7919 + n_agents, n_agents=n_agents)
    router = kind(inbound_reserve=0, preempt=True)
    for order, agent in enumerate(work.agents):
        router.register_agent(agent, work.skills[agent], order)
    for _ in range(n_items):
        if scenario == "callback":
            router.add_callback(work.callback(NOW), NOW)
        else:
            router.add_call(work.call(NOW))
    if scenario == "call arrives":
        for agent in work.agents[: max(1, n_agents // 10)]:
            router.set_preemptible(agent, NOW - 5)
    return router, work


def decide_agent_ready(router: AnyRouter, work: Workload, i: int) -> int:
    agent = work.agents[i % len(work.agents)]
    start = time.perf_counter_ns()
    router.set_agent_ready(agent, NOW + i)
    decision = router.route_next(NOW + i)
    elapsed = time.perf_counter_ns() - start
    if isinstance(decision, OfferCall):
        router.add_call(work.call(NOW + i))
    elif isinstance(decision, OfferCallback):
        router.add_callback(work.callback(NOW + i), NOW + i)
    else:
        router.set_agent_not_ready(agent)
    return elapsed


def decide_call_arrives(router: AnyRouter, work: Workload, i: int) -> int:
    call = work.call(NOW + i)
    start = time.perf_counter_ns()
    router.add_call(call)
    decision = router.route_next(NOW + i)
    elapsed = time.perf_counter_ns() - start
    if isinstance(decision, PreemptCallback):  # the freed agent takes a call and rings again
        router.preemption_finished(decision.skill)
        router.set_preemptible(decision.agent_id, NOW + i)
    router.remove_call(call.call_id)  # keep n items: this call is taken elsewhere
    return elapsed


def measure(
    decide: Callable[[AnyRouter, Workload, int], int], router: AnyRouter, work: Workload, reps: int
) -> list[int]:
    for i in range(min(reps, 50)):  # warm caches and lazy-deletion debt
        decide(router, work, i)
    gc.collect()
    gc.disable()
    try:
        return [decide(router, work, 1000 + i) for i in range(reps)]
    finally:
        gc.enable()


def p99(samples: list[int]) -> float:
    ordered = sorted(samples)
    return float(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))])


def naive_reps(n_items: int, quick: bool) -> int:
    budget = 500_000 if quick else 1_500_000  # items sorted per cell (about 1 us each)
    return max(5, min(2000, budget // max(n_items, 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repetitions")
    args = parser.parse_args()
    sizes = [100, 1_000, 10_000] if args.quick else [100, 1_000, 10_000, 100_000]
    agent_counts = [10, 2_000] if args.quick else [10, 200, 2_000]
    reps = 2_000 if args.quick else 10_000
    scenarios: list[tuple[str, Callable[[AnyRouter, Workload, int], int]]] = [
        ("agent ready", decide_agent_ready),
        ("callback", decide_agent_ready),
        ("call arrives", decide_call_arrives),
    ]
    print("routing decision time (microseconds), indexed router vs sort-everything router")
    header = (
        f"{'decision':<13}{'waiting':>9}{'agents':>8} | {'p50':>7}{'p99':>8} | "
        f"{'naive p50':>11}{'naive p99':>11} | {'ratio p50':>10}{'ratio p99':>10}"
    )
    print(header)
    print("-" * len(header))
    at_10k: list[float] = []
    for name, decide in scenarios:
        for n_items in sizes:
            for n_agents in agent_counts:
                fast, work = build(Router, name, n_items, n_agents)
                fast_times = measure(decide, fast, work, reps)
                slow, slow_work = build(NaiveRouter, name, n_items, n_agents)
                slow_times = measure(decide, slow, slow_work, naive_reps(n_items, args.quick))
                f50, f99 = statistics.median(fast_times) / 1e3, p99(fast_times) / 1e3
                s50, s99 = statistics.median(slow_times) / 1e3, p99(slow_times) / 1e3
                if n_items == 10_000:
                    at_10k.append(f99)
                print(
                    f"{name:<13}{n_items:>9,}{n_agents:>8,} | {f50:>7.1f}{f99:>8.1f} | "
                    f"{s50:>11.1f}{s99:>11.1f} | {s50 / f50:>9.0f}x{s99 / f99:>9.0f}x",
                    flush=True,
                )
    worst = max(at_10k)
    verdict = "met" if worst < 50 else "NOT met"
    print(f"target p99 < 50 us at 10,000 waiting items: worst p99 {worst:.1f} us -> {verdict}")


if __name__ == "__main__":
    main()

"""Service level through the real dispatcher and router, on a simulated clock, next to the textbook.

Run from the repository root: ``python -m bench.service_level`` (``--quick`` for shorter runs).

An in-process PBX turns the dispatcher's commands into the domain events the bridge would emit
(``ConnectCallToAgent`` -> the agent answers -> the call ends after its handling time;
``StartCallback`` -> the callback's leg, the agent's answer, the citizen's dial and its result;
``CancelCallbackDial`` -> the call ends; timers fire at their time).  Nothing sleeps: time jumps
from event to event.  Every figure comes from the ``RecordCall`` commands the dispatcher emits.

Scenarios, each next to its textbook figure for the same inputs:

1. Poisson arrivals, exponential handling, no abandonment -> share answered within 20 s and
   15 s and mean wait vs Erlang C (worked example: 10 calls/min, 180 s, 35 agents -> 83.7 %,
   81.2 %, 10.2 s);
2. exponential patience -> abandon rate and mean wait vs Erlang A (M/M/c+M);
3. two classes, inbound ahead of callbacks -> each class's mean wait vs the non-pre-emptive
   priority formula (M/M/c, equal handling times);
4. blending: inbound traffic plus an unlimited backlog of callbacks with realistic citizens ->
   callbacks completed per agent-hour of idle time, and what it costs inbound callers.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import time
from dataclasses import dataclass, field

from hotline.events import (
    AgentDialEnded,
    CallAbandoned,
    CallArrived,
    CallbackLegCreated,
    CallEnded,
    CitizenDialEnded,
    CitizenRinging,
    Direction,
    PbxConnected,
)
from hotline.queue.commands import (
    CancelCallbackDial,
    CancelTimer,
    Command,
    ConnectCallToAgent,
    HangupChannel,
    RecordCall,
    StartCallback,
    StartTimer,
)
from hotline.queue.dispatcher import Dispatcher
from hotline.queue.inputs import QueueInput, ScheduleCallback, TimerFired
from hotline.queue.work import CallbackKind, CallOutcome, CallRecord
from hotline.settings import AgentConfig, QueueSettings

DAY_START = 1_795_795_200.0  # 2026-11-28 00:00 +08:00
HOUR = 3600.0


# -- textbook ------------------------------------------------------------------------------


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load ``a`` Erlangs (via Erlang B)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1 - b))


def erlang_c_figures(
    lam: float, mu: float, c: int, thresholds: tuple[float, ...]
) -> tuple[list[float], float]:
    """Share answered within each threshold, and mean wait, for M/M/c (FCFS)."""
    prob_wait = erlang_c(c, lam / mu)
    rate = c * mu - lam
    return [1 - prob_wait * math.exp(-rate * t) for t in thresholds], prob_wait / rate


def erlang_a(lam: float, mu: float, theta: float, c: int) -> tuple[float, float, float]:
    """M/M/c+M (Erlang A) by its birth-death chain: (abandon rate, mean wait of all, P(wait > 0))."""
    weights = [1.0]
    n = 0
    while True:
        n += 1
        weights.append(weights[-1] * lam / (min(n, c) * mu + max(n - c, 0) * theta))
        if n > c and weights[-1] < 1e-16 * max(weights):
            break
    total = sum(weights)
    queue = sum((k - c) * w for k, w in enumerate(weights) if k > c) / total
    waiting = sum(w for k, w in enumerate(weights) if k >= c) / total
    return theta * queue / lam, queue / lam, waiting


def priority_waits(lams: list[float], mu: float, c: int) -> list[float]:
    """Mean waits per class in M/M/c with non-pre-emptive priority, equal service rates (Cobham)."""
    rho = [lam / (c * mu) for lam in lams]
    w0 = erlang_c(c, sum(lams) / mu) / (c * mu)
    waits = []
    for k in range(len(lams)):
        before, upto = sum(rho[:k]), sum(rho[: k + 1])
        waits.append(w0 / ((1 - before) * (1 - upto)))
    return waits


# -- the simulated PBX ---------------------------------------------------------------------


@dataclass(frozen=True)
class Citizens:
    """How citizens answer a callback: reach/busy shares (the rest never answer), ring times."""

    reach: float = 1.0
    busy: float = 0.0
    ring_s: tuple[float, float] = (0.0, 0.0)
    no_answer_s: float = 30.0
    talk_s: float | None = None  # mean; None: the model's handling time


@dataclass
class Model:
    agents: int
    arrivals_per_min: float
    handle_s: float
    hours: float
    warmup_h: float = 1.0
    patience_s: float | None = None
    anonymous_callers: bool = False  # no number: no return calls (the textbook has none)
    callbacks_per_min: float = 0.0
    callback_backlog: int = 0
    citizens: Citizens = field(default_factory=Citizens)
    agent_answer_s: float = 0.0
    wrap_up_s: float = 0.0
    preempt: bool = False
    reserve: int = 0


@dataclass
class Results:
    inbound: list[CallRecord]
    callbacks: list[CallRecord]
    busy_s: float
    measured_s: float
    preemptions: int
    events: int
    wall_s: float

    def share_within(self, t: float) -> float:
        return sum(1 for r in self.inbound if r.wait_s is not None and r.wait_s <= t) / len(self.inbound)

    def answered(self) -> list[CallRecord]:
        return [r for r in self.inbound if r.outcome is CallOutcome.ANSWERED]


class SimulatedPbx:
    """Turns commands into the events the PBX bridge would emit, on a simulated clock."""

    def __init__(self, model: Model, seed: int) -> None:
        self.model = model
        self.rnd = random.Random(seed)
        settings = QueueSettings(
            wrap_up_s=model.wrap_up_s,
            inbound_reserve=model.reserve,
            preempt_callbacks=model.preempt,
            agent_choice="longest_idle",
            service_level_threshold_s=15.0,
            snapshot_interval_s=0.0,
            pbx_grace_s=10.0,
            action_retry_s=2.0,
            return_call_delay_s=60.0,
            callback_hours_start="00:00",
            callback_hours_end="24:00",
            utc_offset_h=8.0,
            callback_max_attempts=3,
            callback_retry_spacing_s=900.0,
        )
        agents = [
            AgentConfig(id=f"{1000 + i}", device=f"Local/{1000 + i}@agents", autologin=True)
            for i in range(model.agents)
        ]
        self.dispatcher = Dispatcher(settings, agents, ring_timeout_s=20, citizen_timeout_s=30)
        self.now = DAY_START
        self.queue: list[tuple[float, int, str, object]] = []
        self.seq = 0
        self.timers: dict[str, float] = {}
        self.waiting: set[str] = set()  # inbound calls not yet connected
        self.dead: set[str] = set()  # callback calls hung up: their scheduled events are void
        self.call_started: dict[str, float] = {}
        self.busy_s = 0.0
        self.records: list[CallRecord] = []
        self.preemptions = 0
        self.events = 0
        self.n = 0

    def at(self, when: float, kind: str, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, kind, payload))

    def feed(self, event: QueueInput) -> None:
        self.events += 1
        for command in self.dispatcher.handle(event, self.now):
            self.execute(command)

    def execute(self, command: Command) -> None:
        now, rnd, model = self.now, self.rnd, self.model
        if isinstance(command, StartTimer):
            self.timers[command.key] = command.at
            self.at(command.at, "timer", command.key)
        elif isinstance(command, CancelTimer):
            self.timers.pop(command.key, None)
        elif isinstance(command, ConnectCallToAgent):
            self.waiting.discard(command.call_id)
            answer = now + model.agent_answer_s
            end = answer + rnd.expovariate(1 / model.handle_s)
            self.busy_s += end - now + model.wrap_up_s  # wrap-up is work too
            self.at(
                answer, "event", AgentDialEnded(command.call_id, command.device, "ANSWER", Direction.INBOUND)
            )
            self.at(end, "event", CallEnded(command.call_id, 16, "Normal Clearing"))
        elif isinstance(command, StartCallback):
            self.start_callback(command)
        elif isinstance(command, CancelCallbackDial | HangupChannel):
            call_id = command.call_id or ""
            if call_id and call_id not in self.dead:
                self.preemptions += isinstance(command, CancelCallbackDial)
                self.dead.add(call_id)
                self.busy_s -= self.call_started.pop(call_id, now) - now  # refund the rest
                self.at(now + 0.05, "end", CallEnded(call_id, 16, "Normal Clearing"))
        elif isinstance(command, RecordCall):
            self.records.append(command.record)

    def start_callback(self, command: StartCallback) -> None:
        now, rnd, model = self.now, self.rnd, self.model
        citizens = model.citizens
        self.n += 1
        call_id = f"k{self.n}"
        leg = f"{command.device}-{self.n:08x};1"
        up = now + model.agent_answer_s
        self.at(now, "cb", CallbackLegCreated(call_id, command.callback_id, leg))
        self.at(up, "cb", AgentDialEnded(call_id, command.device, "ANSWER", Direction.CALLBACK))
        self.at(up, "cb", CitizenRinging(call_id, f"Local/{command.number}@caller-sim-{self.n:08x};1"))
        draw = rnd.random()
        if draw < citizens.reach:
            answer = up + rnd.uniform(*citizens.ring_s)
            end = answer + rnd.expovariate(1 / (citizens.talk_s or model.handle_s))
            self.busy_s += model.wrap_up_s
            self.at(answer, "cb", CitizenDialEnded(call_id, "ANSWER"))
        elif draw < citizens.reach + citizens.busy:
            end = up + 1.0
            self.at(end - 0.1, "cb", CitizenDialEnded(call_id, "BUSY"))
        else:
            end = up + citizens.no_answer_s
            self.at(end - 0.1, "cb", CitizenDialEnded(call_id, "NOANSWER"))
        self.at(end, "cb", CallEnded(call_id, 16, "Normal Clearing"))
        self.call_started[call_id] = end  # when it would end: a cancel refunds the rest
        self.busy_s += end - now

    def arrival(self) -> None:
        model, rnd = self.model, self.rnd
        self.n += 1
        call_id = f"c{self.n}"
        number = "" if model.anonymous_callers else f"138{self.n:08d}"
        self.waiting.add(call_id)
        self.feed(CallArrived(call_id, f"Local/{number}@caller-sim-{self.n:08x};1", call_id, number, ""))
        if model.patience_s:
            self.at(self.now + rnd.expovariate(1 / model.patience_s), "abandon", call_id)
        self.at(self.now + rnd.expovariate(model.arrivals_per_min / 60), "arrival", None)

    def callback_arrival(self) -> None:
        self.n += 1
        self.feed(ScheduleCallback(f"cb{self.n}", CallbackKind.FOLLOW_UP, f"139{self.n:08d}", self.now))
        self.at(self.now + self.rnd.expovariate(self.model.callbacks_per_min / 60), "callback", None)

    def run(self) -> Results:
        started = time.perf_counter()
        model = self.model
        for command in self.dispatcher.start(self.now):
            self.execute(command)
        self.feed(PbxConnected(channels=0))
        for i in range(model.callback_backlog):
            self.feed(ScheduleCallback(f"backlog{i}", CallbackKind.FOLLOW_UP, f"137{i:08d}", self.now))
        self.at(self.now, "arrival", None)
        if model.callbacks_per_min:
            self.at(self.now, "callback", None)
        end = DAY_START + model.hours * HOUR
        while self.queue and self.queue[0][0] <= end:
            when, _seq, kind, payload = heapq.heappop(self.queue)
            self.now = when
            if kind == "event":
                self.feed(payload)  # type: ignore[arg-type]
            elif kind == "cb":
                call_id = getattr(payload, "call_id", "")
                if call_id not in self.dead:
                    self.feed(payload)  # type: ignore[arg-type]
                    if isinstance(payload, CallEnded):
                        self.call_started.pop(call_id, None)
            elif kind == "end":
                self.feed(payload)  # type: ignore[arg-type]
            elif kind == "timer":
                if self.timers.get(payload) == when:  # type: ignore[call-overload]
                    del self.timers[payload]  # type: ignore[arg-type]
                    self.feed(TimerFired(payload))  # type: ignore[arg-type]
            elif kind == "arrival":
                self.arrival()
            elif kind == "callback":
                self.callback_arrival()
            elif kind == "abandon":
                call_id = str(payload)
                if call_id in self.waiting:
                    self.waiting.discard(call_id)
                    self.feed(CallAbandoned(call_id, "", 16, "Normal Clearing"))
                    self.feed(CallEnded(call_id, 16, "Normal Clearing"))
        cutoff = DAY_START + model.warmup_h * HOUR
        kept = [r for r in self.records if r.started_at >= cutoff]
        return Results(
            inbound=[r for r in kept if r.direction is Direction.INBOUND],
            callbacks=[r for r in kept if r.direction is Direction.CALLBACK],
            busy_s=self.busy_s,
            measured_s=model.hours * HOUR,
            preemptions=self.preemptions,
            events=self.events,
            wall_s=time.perf_counter() - started,
        )


# -- scenarios -----------------------------------------------------------------------------


def pct(x: float) -> str:
    return f"{100 * x:6.1f} %"


def row(label: str, simulated: str, textbook: str, diff: str) -> None:
    print(f"  {label:<30}{simulated:>12}{textbook:>12}{diff:>14}")


def header(title: str, res: Results) -> None:
    print()
    print(title)
    print(
        f"  ({len(res.inbound):,} inbound calls and {len(res.callbacks):,} callback calls measured, "
        f"{res.events:,} events through the dispatcher in {res.wall_s:.1f} s)"
    )
    row("", "simulated", "textbook", "difference")


def erlang_c_scenario(days: float, seed: int) -> None:
    model = Model(agents=35, arrivals_per_min=10, handle_s=180, hours=24 * days)
    res = SimulatedPbx(model, seed).run()
    lam, mu = 10 / 60, 1 / 180
    (p20, p15), wait = erlang_c_figures(lam, mu, 35, (20.0, 15.0))
    header("1. Erlang C: 10 calls/min, 180 s handling, 35 agents, no abandonment", res)
    s20, s15 = res.share_within(20), res.share_within(15)
    row("answered within 20 s", pct(s20), pct(p20), f"{100 * (s20 - p20):+.1f} pts")
    row("answered within 15 s", pct(s15), pct(p15), f"{100 * (s15 - p15):+.1f} pts")
    mean = sum(r.wait_s or 0.0 for r in res.inbound) / len(res.inbound)
    row("mean wait", f"{mean:8.1f} s", f"{wait:8.1f} s", f"{mean - wait:+.1f} s")
    waited = sum(1 for r in res.inbound if (r.wait_s or 0) > 0) / len(res.inbound)
    row(
        "had to wait",
        pct(waited),
        pct(erlang_c(35, lam / mu)),
        f"{100 * (waited - erlang_c(35, lam / mu)):+.1f} pts",
    )


def erlang_a_scenario(days: float, seed: int) -> None:
    model = Model(
        agents=30, arrivals_per_min=10, handle_s=180, hours=24 * days, patience_s=120, anonymous_callers=True
    )
    res = SimulatedPbx(model, seed).run()
    abandon, wait, waiting = erlang_a(10 / 60, 1 / 180, 1 / 120, 30)
    header("2. Erlang A: 10 calls/min, 180 s handling, 30 agents, patience exponential with mean 120 s", res)
    abandoned = sum(1 for r in res.inbound if r.outcome is CallOutcome.ABANDONED) / len(res.inbound)
    row("abandoned", pct(abandoned), pct(abandon), f"{100 * (abandoned - abandon):+.1f} pts")
    mean = sum(r.wait_s or 0.0 for r in res.inbound) / len(res.inbound)
    row("mean wait (all callers)", f"{mean:8.1f} s", f"{wait:8.1f} s", f"{mean - wait:+.1f} s")
    had_to_wait = sum(1 for r in res.inbound if (r.wait_s or 0) > 0) / len(res.inbound)
    row("had to wait", pct(had_to_wait), pct(waiting), f"{100 * (had_to_wait - waiting):+.1f} pts")


def priority_scenario(days: float, seed: int) -> None:
    model = Model(agents=35, arrivals_per_min=8, callbacks_per_min=2, handle_s=180, hours=24 * days)
    res = SimulatedPbx(model, seed).run()
    inbound_w, callback_w = priority_waits([8 / 60, 2 / 60], 1 / 180, 35)
    header(
        "3. Two classes, non-pre-emptive priority: 8 inbound calls/min ahead of 2 callbacks/min, "
        "180 s each, 35 agents",
        res,
    )
    mean_in = sum(r.wait_s or 0.0 for r in res.inbound) / len(res.inbound)
    mean_cb = sum(r.wait_s or 0.0 for r in res.callbacks) / len(res.callbacks)
    row("inbound mean wait", f"{mean_in:8.1f} s", f"{inbound_w:8.1f} s", f"{mean_in - inbound_w:+.1f} s")
    row(
        "callback mean wait (from due)",
        f"{mean_cb:8.1f} s",
        f"{callback_w:8.1f} s",
        f"{mean_cb - callback_w:+.1f} s",
    )
    fifo = erlang_c_figures(10 / 60, 1 / 180, 35, ())[1]
    print(f"  (one FIFO queue for both would give every item {fifo:.1f} s)")


def blend_scenario(hours: float, seed: int) -> None:
    citizens = Citizens(reach=0.7, busy=0.1, ring_s=(5.0, 20.0), no_answer_s=30.0, talk_s=120.0)
    base = dict(agents=35, arrivals_per_min=8, handle_s=180, hours=hours, agent_answer_s=2.0, wrap_up_s=10.0)
    print()
    print(
        "4. Blending: 8 inbound calls/min (180 s, 2 s to answer, 10 s wrap-up), 35 agents, plus an unlimited "
        "backlog of callbacks"
    )
    print(
        "   (citizens: 70 % answer after 5-20 s and talk 120 s on average, 10 % busy, 20 % no answer in 30 s)"
    )
    print(
        f"  {'policy':<32}{'SL 15 s':>9}{'ASA':>9}{'callbacks':>11}"
        f"{'per idle':>10}{'pre-empted':>12}{'wall':>7}"
    )
    print(f"  {'':<32}{'':>9}{'':>9}{'reached/h':>11}{'agent-h':>10}{'per h':>12}{'':>7}")
    only = SimulatedPbx(Model(**base), seed).run()  # type: ignore[arg-type]
    idle_h = (35 * only.measured_s - only.busy_s) / HOUR
    idle_per_h = idle_h / (only.measured_s / HOUR)

    def line(label: str, res: Results) -> None:
        answered = res.answered()
        sl = sum(1 for r in answered if (r.wait_s or 0) <= 15) / len(answered)
        asa = sum(r.wait_s or 0 for r in answered) / len(answered)
        hours_measured = res.measured_s / HOUR - 1.0
        reached = sum(1 for r in res.callbacks if r.outcome is CallOutcome.REACHED) / hours_measured
        per_idle = f"{reached / idle_per_h:10.2f}" if res.callbacks else f"{'-':>10}"
        reached_s = f"{reached:11.1f}" if res.callbacks else f"{'-':>11}"
        print(
            f"  {label:<32}{pct(sl):>9}{asa:8.1f}s{reached_s}{per_idle}"
            f"{res.preemptions / (res.measured_s / HOUR):12.1f}{res.wall_s:6.1f}s"
        )

    line(f"inbound only ({idle_per_h:.1f} idle agent-h/h)", only)
    for label, preempt, reserve in (
        ("blend, pre-emption on", True, 0),
        ("blend, pre-emption off", False, 0),
        ("blend, pre-emption on, reserve 2", True, 2),
    ):
        model = Model(**base, callback_backlog=100_000, citizens=citizens, preempt=preempt, reserve=reserve)  # type: ignore[arg-type]
        line(label, SimulatedPbx(model, seed).run())
    print("  (per idle agent-h: callbacks reached per agent-hour the inbound-only run leaves idle)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter simulated periods")
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    days = 2.0 if args.quick else 20.0
    started = time.perf_counter()
    print("service level through the real dispatcher and router, simulated clock")
    erlang_c_scenario(days, args.seed)
    erlang_a_scenario(days, args.seed)
    priority_scenario(days, args.seed)
    blend_scenario(12.0 if args.quick else 48.0, args.seed)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

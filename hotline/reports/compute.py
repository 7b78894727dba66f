"""The report's figures, computed from what the store returned.  Pure: no I/O, time passed in.

Definitions (days are local days in ``tickets.timezone``; a range is whole days):

Calls (the store's call records — the same ones ``hotline calls list`` shows)
    - an inbound call belongs to the interval and day of its **arrival**; a callback to those of
      its start (``offered_at``);
    - **offered** = inbound calls that arrived and have ended: answered + abandoned + short
      abandoned + other (failed, lost, ...).  Calls still live when the report is made are
      counted apart (``in_progress``) and left out of every rate;
    - **short abandon**: hung up after waiting less than ``report.short_abandon_s``; reported
      apart from the other abandons (``abandoned`` does not include them);
    - **service level** SL1 = answered within ``queue.service_level_threshold_s`` / offered;
      SL2 = the same / (offered - short abandons), the variant that forgives callers who hung up
      at once.  Both are shown; the chart draws SL1 against ``report.service_level_target``;
    - **ASA** = mean wait of the answered calls; **longest wait** = the longest wait of an
      answered or abandoned call;
    - **AHT** = average talk (answered calls whose end is known) + average wrap-up (wrap-up
      periods begun in the interval, from the agent state history);
    - **callbacks** = calls the hotline made (回拨 and 回访), **reached** = answered.

Calls whose end is uncertain (``end_uncertain``: they ended while the service was down; the
store knows only a window) are counted by their outcome (answered, abandoned) with their known
wait (an answered call's wait was seen whole; an abandoned one's is at least what was seen),
but **no talk time is invented**: they are left out of talk averages and AHT and counted in
``end_uncertain``.  An abandon with an uncertain end is never a short abandon (so it stays in
SL2's denominator) and its wait does not make the longest wait.

Agents (the agent state history, ``agent_state_log``)
    the state each agent was in from each change to the next, clipped to the range and to the
    moment the report is made: **ready**, **paused** (per reason), **busy** (on an inbound call
    or a callback), **wrap-up**; **ring-no-answer** = offers that ended in a ``no_answer`` pause;
    **occupancy** = (busy + wrap-up) / (ready + ringing + busy + wrap-up).  Calls handled and
    average talk come from the call records.  Without any history, these time figures are
    unknown (``-``), not zero.

Tickets
    **opened** = accepted in the range; **closed** = last closed in the range; **extended,
    returned, supervised (督办), reopened (重办)** = those workflow steps in the range; **on time /
    late** = clocks due in the range met by the end of their due day / met later or unmet once
    it has ended (clocks still running are ``pending``); **on-time rate** = on time / (on time +
    late); **satisfaction rate** = (satisfied + basically satisfied) / answers (``unreachable``
    apart); **overdue** = clocks of open tickets past their end and unmet when the report is
    made, with the ticket's department and whole days late.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from hotline.reports.model import (
    AgentRow,
    CallFigures,
    ComparisonRow,
    DayRow,
    IntervalRow,
    OverdueRow,
    PauseRow,
    Report,
    ReportData,
    ReportOptions,
    SatisfactionRow,
    TicketGroupRow,
    TopClassRow,
    Totals,
)
from hotline.store.reports import (
    AgentStateRow,
    RangeCounts,
    ReportCall,
    ReportClock,
    ReportTicket,
    ReportTransition,
)
from hotline.tickets.errors import UnknownClassification
from hotline.tickets.model import Satisfaction, TicketType
from hotline.tickets.taxonomy import Level, Taxonomy

_SATISFACTION_LABELS = {
    Satisfaction.SATISFIED.value: "满意",
    Satisfaction.BASICALLY_SATISFIED.value: "基本满意",
    Satisfaction.NOT_SATISFIED.value: "不满意",
    Satisfaction.UNREACHABLE.value: "无法联系",
}
_GOOD = frozenset({Satisfaction.SATISFIED.value, Satisfaction.BASICALLY_SATISFIED.value})
_BUSY_STATES = frozenset({"busy_inbound", "busy_callback"})
_STEP_FIELDS = {"extend": "extended", "return": "returned", "supervise": "supervised", "reopen": "reopened"}


# ---- calls -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _CallAcc:
    """Running sums for one :class:`CallFigures`."""

    offered: int = 0
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    short: int = 0
    other: int = 0
    in_progress: int = 0
    uncertain: int = 0
    wait_sum: float = 0.0
    wait_n: int = 0
    talk_sum: float = 0.0
    talk_n: int = 0
    wrap_sum: float = 0.0
    wrap_n: int = 0
    longest: float | None = None
    callbacks: int = 0
    reached: int = 0

    def merge(self, other: _CallAcc) -> None:
        """Add ``other``'s sums to these."""
        for name in self.__slots__:
            if name == "longest":
                if other.longest is not None:
                    self.longest = other.longest if self.longest is None else max(self.longest, other.longest)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def freeze(self) -> CallFigures:
        return CallFigures(
            offered=self.offered,
            answered=self.answered,
            answered_within=self.within,
            abandoned=self.abandoned,
            short_abandoned=self.short,
            other=self.other,
            in_progress=self.in_progress,
            end_uncertain=self.uncertain,
            asa_s=self.wait_sum / self.wait_n if self.wait_n else None,
            avg_talk_s=self.talk_sum / self.talk_n if self.talk_n else None,
            avg_wrap_s=self.wrap_sum / self.wrap_n if self.wrap_n else None,
            longest_wait_s=self.longest,
            callbacks=self.callbacks,
            callbacks_reached=self.reached,
        )


def _wait(call: ReportCall) -> float | None:
    if call.wait_s is not None:
        return call.wait_s
    if call.answered_at is not None and call.arrived_at is not None:
        return call.answered_at - call.arrived_at
    if call.ended_at is not None and call.arrived_at is not None and not call.end_uncertain:
        return call.ended_at - call.arrived_at
    return None


def talk_time(call: ReportCall) -> float | None:
    """The call's talk time, or ``None`` when it is unknown (never answered, end uncertain)."""
    if call.answered_at is None or call.end_uncertain:
        return None
    if call.talk_s is not None:
        return call.talk_s
    if call.ended_at is not None:
        return call.ended_at - call.answered_at
    return None


def _add_call(acc: _CallAcc, call: ReportCall, options: ReportOptions) -> None:
    if call.direction != "inbound":
        if call.outcome is not None:
            acc.callbacks += 1
            acc.reached += call.outcome == "answered"
        return
    if call.outcome is None:
        acc.in_progress += 1
        return
    acc.offered += 1
    acc.uncertain += call.end_uncertain
    wait = _wait(call)
    if call.outcome == "answered":
        acc.answered += 1
        if wait is not None:
            acc.wait_sum += wait
            acc.wait_n += 1
            acc.within += wait <= options.threshold_s
        talk = talk_time(call)
        if talk is not None:
            acc.talk_sum += talk
            acc.talk_n += 1
    elif call.outcome == "abandoned":
        if not call.end_uncertain and wait is not None and wait < options.short_abandon_s:
            acc.short += 1
        else:
            acc.abandoned += 1
    else:
        acc.other += 1
        return
    if wait is not None and not (call.end_uncertain and call.outcome == "abandoned"):
        acc.longest = wait if acc.longest is None else max(acc.longest, wait)


class _Clock:
    """Day and interval of an instant within a range of local days."""

    def __init__(self, options: ReportOptions) -> None:
        days = options.days
        self.starts = [options.day_start(d) for d in days]
        self.end = options.end
        self.width = options.interval_min * 60
        self.slots = 24 * 60 // options.interval_min

    def day(self, at: float) -> int | None:
        if at >= self.end:
            return None
        i = bisect.bisect_right(self.starts, at) - 1
        return i if i >= 0 else None

    def slot(self, at: float, day: int) -> int:
        return min(int((at - self.starts[day]) // self.width), self.slots - 1)


def _call_time(call: ReportCall) -> float | None:
    return call.arrived_at if call.arrived_at is not None else call.offered_at


def _label(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ---- agents ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _AgentAcc:
    inbound: int = 0
    callbacks: int = 0
    talk_sum: float = 0.0
    talk_n: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    pauses: dict[str, float] = field(default_factory=dict)
    pause_times: Counter[str] = field(default_factory=Counter)
    wrap_sum: float = 0.0
    wrap_n: int = 0
    rona: int = 0


def _close_period(
    acc: _AgentAcc,
    period: tuple[str, str | None, float],
    until: float,
    start: float,
    horizon: float,
    width: float,
    wraps: dict[int, list[float]],
) -> None:
    """Count the time from a change to the agent's next one (or ``until``)."""
    state, reason, since = period
    if until > horizon:
        until = horizon
    seconds = until - (since if since > start else start)
    if seconds < 0.0:
        seconds = 0.0
    spent = acc.seconds
    spent[state] = spent.get(state, 0.0) + seconds
    if state == "paused":
        key = reason or "-"
        acc.pauses[key] = acc.pauses.get(key, 0.0) + seconds
    elif state == "wrap_up" and start <= since < horizon:
        acc.wrap_sum += seconds
        acc.wrap_n += 1
        bucket = wraps.get(int((since - start) // width))
        if bucket is None:
            wraps[int((since - start) // width)] = [seconds, 1.0]
        else:
            bucket[0] += seconds
            bucket[1] += 1.0


def _agent_time(
    history: Iterable[AgentStateRow],
    start: float,
    horizon: float,
    width: float,
    accs: dict[str, _AgentAcc],
) -> dict[int, list[float]]:
    """Fill the agents' time per state from their changes (in time order; each agent's first one
    may precede ``start``): a state lasts from its change to the agent's next change, or to
    ``horizon``.  Returns the wrap-up periods begun in the range, summed per interval counted
    from ``start`` (``index -> [seconds, count]``).  A month holds some 340,000 changes: this
    loop is kept tight."""
    wraps: dict[int, list[float]] = {}
    current: dict[str, tuple[str, str | None, float]] = {}
    for row in history:
        agent_id, state, reason, at = row
        acc = accs.get(agent_id)
        if acc is None:
            acc = accs[agent_id] = _AgentAcc()
        period = current.get(agent_id)
        current[agent_id] = (state, reason, at)
        if period is None:
            if state == "paused" and start <= at < horizon:
                acc.pause_times[reason or "-"] += 1
            continue
        _close_period(acc, period, at, start, horizon, width, wraps)
        if state == "paused" and start <= at < horizon:
            acc.pause_times[reason or "-"] += 1
            if reason == "no_answer" and period[0] == "offered":
                acc.rona += 1
    for agent_id, period in current.items():
        _close_period(accs[agent_id], period, horizon, start, horizon, width, wraps)
    return wraps


def _agents(
    calls: Iterable[ReportCall], data: ReportData, options: ReportOptions
) -> tuple[tuple[AgentRow, ...], tuple[PauseRow, ...], dict[int, list[float]]]:
    accs: dict[str, _AgentAcc] = {}
    for call in calls:
        if call.agent_id is None or call.outcome != "answered":
            continue
        acc = accs.get(call.agent_id)
        if acc is None:
            acc = accs[call.agent_id] = _AgentAcc()
        if call.direction == "inbound":
            acc.inbound += 1
        else:
            acc.callbacks += 1
        talk = talk_time(call)
        if talk is not None:
            acc.talk_sum += talk
            acc.talk_n += 1
    history = data.agent_history
    wraps: dict[int, list[float]] = {}
    if history is not None:
        horizon = min(options.end, max(options.now, options.start))
        wraps = _agent_time(history, options.start, horizon, options.interval_min * 60.0, accs)
    rows, pauses = [], []
    known = history is not None
    for agent_id in sorted(accs):
        acc = accs[agent_id]
        s: Counter[str] = Counter(acc.seconds)
        busy = s["busy_inbound"] + s["busy_callback"]
        staffed = s["ready"] + s["offered"] + busy + s["wrap_up"]
        rows.append(
            AgentRow(
                agent_id=agent_id,
                inbound=acc.inbound,
                callbacks=acc.callbacks,
                avg_talk_s=acc.talk_sum / acc.talk_n if acc.talk_n else None,
                avg_wrap_s=(acc.wrap_sum / acc.wrap_n if acc.wrap_n else None) if known else None,
                ready_s=s["ready"] if known else None,
                paused_s=s["paused"] if known else None,
                busy_s=busy if known else None,
                wrap_s=s["wrap_up"] if known else None,
                ring_no_answer=acc.rona if known else None,
                occupancy=((busy + s["wrap_up"]) / staffed if staffed else None) if known else None,
            )
        )
        for reason in sorted(acc.pauses):
            pauses.append(PauseRow(agent_id, reason, acc.pauses[reason], acc.pause_times[reason]))
    return tuple(rows), tuple(pauses), wraps


# ---- tickets ---------------------------------------------------------------------------------


def _clock_verdict(clock: ReportClock, now: float) -> str:
    if clock.met_at is not None and clock.met_at <= clock.due_at:
        return "on_time"
    if clock.met_at is not None or now >= clock.due_at:
        return "late"
    return "pending"


def _type_label(key: str) -> str:
    try:
        return TicketType(key).label
    except ValueError:
        return key


def _groups(data: ReportData, options: ReportOptions, key: str) -> tuple[TicketGroupRow, ...]:
    """Per ticket type (``key="type"``) or department."""
    table: dict[str, dict[str, int]] = {}

    def row(k: str) -> dict[str, int]:
        found = table.get(k)
        if found is None:
            found = table[k] = Counter()
        return found

    def pick(t_type: str, dept: str) -> str:
        return t_type if key == "type" else (dept or "-")

    for ticket in data.opened:
        row(pick(ticket.ticket_type, ticket.department))["opened"] += 1
    for ticket in data.closed:
        row(pick(ticket.ticket_type, ticket.department))["closed"] += 1
    for clock in data.clocks_due:
        r = row(pick(clock.ticket_type, clock.department))
        r["due"] += 1
        r[_clock_verdict(clock, options.now)] += 1
    for step in data.steps:
        name = _STEP_FIELDS.get(step.action)
        if name is not None:
            row(pick(step.ticket_type, step.department))[name] += 1
    if key == "type":
        order = [t.value for t in TicketType]
        keys = sorted(table, key=lambda k: (order.index(k) if k in order else len(order), k))
    else:
        keys = sorted(table, key=lambda k: (-table[k]["opened"], k))
    return tuple(
        TicketGroupRow(
            key=k,
            label=_type_label(k) if key == "type" else k,
            opened=table[k]["opened"],
            closed=table[k]["closed"],
            due=table[k]["due"],
            on_time=table[k]["on_time"],
            late=table[k]["late"],
            pending=table[k]["pending"],
            extended=table[k]["extended"],
            returned=table[k]["returned"],
            supervised=table[k]["supervised"],
            reopened=table[k]["reopened"],
        )
        for k in keys
    )


def _satisfaction(steps: Iterable[ReportTransition]) -> tuple[tuple[SatisfactionRow, ...], float | None]:
    counts = Counter(s.satisfaction for s in steps if s.action == "evaluate" and s.satisfaction)
    total = sum(counts.values())
    rows = []
    for key in [s.value for s in Satisfaction] + sorted(k for k in counts if k not in _SATISFACTION_LABELS):
        if key is None:
            continue
        n = counts.get(key, 0)
        rows.append(SatisfactionRow(key, _SATISFACTION_LABELS.get(key, key), n, n / total if total else None))
    return tuple(rows), _satisfaction_rate(counts)


def _satisfaction_rate(counts: Mapping[str, int]) -> float | None:
    answered = sum(n for k, n in counts.items() if k != Satisfaction.UNREACHABLE.value)
    good = sum(n for k, n in counts.items() if k in _GOOD)
    return good / answered if answered else None


def top_classes(opened: Iterable[ReportTicket], taxonomy: Taxonomy, n: int) -> tuple[TopClassRow, ...]:
    """The ``n`` most frequent nodes of each of the four levels among the tickets opened."""
    per_code = Counter(t.classification for t in opened)
    per_level: dict[Level, Counter[str]] = {level: Counter() for level in Level}
    for code, count in per_code.items():
        try:
            path = taxonomy.path(code)
        except UnknownClassification:
            per_level[Level.RESPONSIBILITY_ITEM][code] += count  # shown by code: not in the taxonomy
            continue
        for node in path:
            per_level[node.level][node.code] += count
    rows = []
    for level in Level:
        ranked = sorted(per_level[level].items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        for rank, (code, count) in enumerate(ranked, start=1):
            known = code in taxonomy
            rows.append(
                TopClassRow(
                    level=level.value,
                    level_label=level.label,
                    rank=rank,
                    code=code,
                    name=taxonomy.node(code).name if known else code,
                    path=taxonomy.label(code) if known else code,
                    count=count,
                )
            )
    return tuple(rows)


def _overdue(clocks: Iterable[ReportClock], taxonomy: Taxonomy, now: float) -> tuple[OverdueRow, ...]:
    rows = []
    for clock in clocks:
        if clock.met_at is not None or clock.due_at > now:
            continue
        days_late = max(1, math.ceil((now - clock.due_at) / 86400))
        name = taxonomy.node(clock.classification).name if clock.classification in taxonomy else ""
        rows.append(
            OverdueRow(
                number=clock.number,
                department=clock.department or "-",
                ticket_type=_type_label(clock.ticket_type),
                kind=clock.kind,
                due_on=clock.due_on,
                days_late=days_late,
                classification=name or clock.classification,
            )
        )
    rows.sort(key=lambda r: (-r.days_late, r.number, r.kind))
    return tuple(rows)


# ---- the whole report ------------------------------------------------------------------------


def totals(data: ReportData, options: ReportOptions) -> Totals:
    """The range in one line, from its rows (calls only: no wrap-up).  The previous range of the
    comparison is summed in SQL instead (:func:`hotline.store.reports.range_counts`, then
    :func:`totals_from_counts`); the tests hold the two to the same figures."""
    acc = _CallAcc()
    for call in data.calls:
        _add_call(acc, call, options)
    verdicts = Counter(_clock_verdict(c, options.now) for c in data.clocks_due)
    _, rate = _satisfaction(data.steps)
    return Totals(
        calls=acc.freeze(),
        tickets_opened=len(data.opened),
        tickets_closed=len(data.closed),
        due=len(data.clocks_due),
        on_time=verdicts["on_time"],
        late=verdicts["late"],
        satisfaction_rate=rate,
    )


def totals_from_counts(counts: RangeCounts) -> Totals:
    """:class:`Totals` from the counts the store summed."""
    n = counts
    return Totals(
        calls=CallFigures(
            offered=n.offered,
            answered=n.answered,
            answered_within=n.answered_within,
            abandoned=n.abandoned,
            short_abandoned=n.short_abandoned,
            other=n.other,
            in_progress=n.in_progress,
            end_uncertain=n.end_uncertain,
            asa_s=n.wait_sum / n.wait_n if n.wait_n else None,
            avg_talk_s=n.talk_sum / n.talk_n if n.talk_n else None,
            longest_wait_s=n.longest_wait_s,
            callbacks=n.callbacks,
            callbacks_reached=n.callbacks_reached,
        ),
        tickets_opened=n.tickets_opened,
        tickets_closed=n.tickets_closed,
        due=n.clocks_due,
        on_time=n.on_time,
        late=n.late,
        satisfaction_rate=_satisfaction_rate(n.satisfaction),
    )


def _comparison(current: Totals, previous: Totals) -> tuple[ComparisonRow, ...]:
    c, p = current.calls, previous.calls
    return (
        ComparisonRow("offered", "呼入量", c.offered, p.offered, "int"),
        ComparisonRow("answered", "接通量", c.answered, p.answered, "int"),
        ComparisonRow(
            "abandoned_all",
            "放弃量(含短时)",
            c.abandoned + c.short_abandoned,
            p.abandoned + p.short_abandoned,
            "int",
        ),
        ComparisonRow("service_level", "服务水平", c.service_level, p.service_level, "pct"),
        ComparisonRow(
            "service_level_excl_short",
            "服务水平(剔除短放弃)",
            c.service_level_excl_short,
            p.service_level_excl_short,
            "pct",
        ),
        ComparisonRow("asa_s", "平均应答时长", c.asa_s, p.asa_s, "sec"),
        ComparisonRow("avg_talk_s", "平均通话时长", c.avg_talk_s, p.avg_talk_s, "sec"),
        ComparisonRow("callbacks", "回拨/回访", c.callbacks, p.callbacks, "int"),
        ComparisonRow("tickets_opened", "新建工单", current.tickets_opened, previous.tickets_opened, "int"),
        ComparisonRow("tickets_closed", "办结工单", current.tickets_closed, previous.tickets_closed, "int"),
        ComparisonRow("on_time_rate", "按时办理率", current.on_time_rate, previous.on_time_rate, "pct"),
        ComparisonRow(
            "satisfaction_rate", "满意率", current.satisfaction_rate, previous.satisfaction_rate, "pct"
        ),
    )


def build_report(
    data: ReportData,
    options: ReportOptions,
    taxonomy: Taxonomy,
    *,
    previous: Totals | None = None,
    notes: Sequence[str] = (),
) -> Report:
    """Compose the report of ``options``' range from ``data`` (and the previous range's totals)."""
    clock = _Clock(options)
    n_days = len(clock.starts)
    slot_accs = [_CallAcc() for _ in range(clock.slots)]
    day_accs = [_CallAcc() for _ in range(n_days)]
    total = _CallAcc()
    cells: dict[tuple[int, int], _CallAcc] = {}  # (day, slot): each call is added once
    for call in data.calls:
        at = _call_time(call)
        if at is None:
            continue
        day = clock.day(at)
        if day is None:
            continue
        key = (day, clock.slot(at, day))
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = _CallAcc()
        _add_call(cell, call, options)
    for (day, slot), cell in cells.items():
        slot_accs[slot].merge(cell)
        day_accs[day].merge(cell)
        total.merge(cell)
    agents, pauses, wraps = _agents(data.calls, data, options)
    for index, (seconds, count) in wraps.items():
        begun = options.start + index * clock.width  # the interval's first instant (no DST in China)
        day = clock.day(begun)
        if day is None:
            continue
        for acc in (slot_accs[clock.slot(begun, day)], day_accs[day], total):
            acc.wrap_sum += seconds
            acc.wrap_n += int(count)
    intervals = tuple(
        IntervalRow(_label(i * options.interval_min), _label((i + 1) * options.interval_min), acc.freeze())
        for i, acc in enumerate(slot_accs)
    )

    per_day_opened = Counter(clock.day(t.created_at) for t in data.opened)
    per_day_closed = Counter(clock.day(t.created_at) for t in data.closed)
    day_index = {d.isoformat(): i for i, d in enumerate(options.days)}
    per_day_verdicts: dict[int, Counter[str]] = {}
    for c in data.clocks_due:
        i = day_index.get(c.due_on)
        if i is not None:
            per_day_verdicts.setdefault(i, Counter())[_clock_verdict(c, options.now)] += 1
    per_day_answers: dict[int | None, Counter[str]] = {}
    for step in data.steps:
        if step.action == "evaluate" and step.satisfaction:
            per_day_answers.setdefault(clock.day(step.at), Counter())[step.satisfaction] += 1
    trend = []
    for i, one_day in enumerate(options.days):
        verdicts = per_day_verdicts.get(i, Counter())
        decided = verdicts["on_time"] + verdicts["late"]
        trend.append(
            DayRow(
                day=one_day,
                calls=day_accs[i].freeze(),
                tickets_opened=per_day_opened.get(i, 0),
                tickets_closed=per_day_closed.get(i, 0),
                on_time_rate=verdicts["on_time"] / decided if decided else None,
                satisfaction_rate=_satisfaction_rate(per_day_answers.get(i, Counter())),
            )
        )

    satisfaction, rate = _satisfaction(data.steps)
    verdicts = Counter(_clock_verdict(c, options.now) for c in data.clocks_due)
    current = Totals(
        calls=total.freeze(),
        tickets_opened=len(data.opened),
        tickets_closed=len(data.closed),
        due=len(data.clocks_due),
        on_time=verdicts["on_time"],
        late=verdicts["late"],
        satisfaction_rate=rate,
    )
    comparison = _comparison(current, previous) if previous is not None else ()
    return Report(
        options=options,
        totals=current,
        intervals=intervals,
        agents=agents,
        pauses=pauses,
        by_type=_groups(data, options, "type"),
        by_department=_groups(data, options, "department"),
        satisfaction=satisfaction,
        top=top_classes(data.opened, taxonomy, options.top_n),
        overdue=_overdue(data.overdue, taxonomy, options.now),
        trend=tuple(trend),
        comparison=comparison,
        agent_history=data.agent_history is not None,
        notes=tuple(notes),
        escalations=data.escalations,
    )


def day_of(options: ReportOptions, at: float) -> date | None:
    """The local day of ``at`` within the range (``None`` outside it)."""
    i = _Clock(options).day(at)
    return options.days[i] if i is not None else None

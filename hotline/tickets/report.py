"""The daily report (``hotline report --day DATE``): figures computed from stored data.  Pure.

Definitions (one day = 00:00-24:00 local):

- **offered**: inbound calls that arrived that day; **answered** / **abandoned** by their outcome;
- **service level**: inbound calls answered within the threshold (``queue.service_level_threshold_s``,
  15 s by default) divided by the calls offered; **ASA**: mean wait of the answered calls;
- **callbacks**: calls the hotline made (return calls and follow-ups), **reached** = answered;
- **tickets opened / closed** that day;
- **on-time rate per deadline**: of the clocks whose due day is that day, met by 24:00 of it
  (``on time``) against met later or not met once the day has ended (``late``); clocks of that day
  still open before its end are ``pending`` and left out of the rate;
- **satisfaction rate**: (satisfied + basically satisfied) / follow-ups with an answer that day
  (``unreachable`` is counted apart and left out);
- **top classifications**: tickets opened that day per problem type (level 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from hotline.events import Direction
from hotline.store.records import CallOutcome, CallRecord
from hotline.tickets.errors import UnknownClassification
from hotline.tickets.model import Deadline, DeadlineKind, Satisfaction
from hotline.tickets.taxonomy import Level, Taxonomy


@dataclass(frozen=True, slots=True)
class DeadlineStats:
    """One kind of clock due that day."""

    kind: DeadlineKind
    due: int
    on_time: int
    late: int
    pending: int

    @property
    def rate(self) -> float | None:
        """On time / decided; ``None`` when nothing is decided yet."""
        decided = self.on_time + self.late
        return self.on_time / decided if decided else None


@dataclass(frozen=True, slots=True)
class ClassCount:
    """Tickets opened for one problem type."""

    code: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class DayReport:
    """Everything ``hotline report`` shows."""

    day: date
    threshold_s: float
    offered: int
    answered: int
    answered_within: int
    abandoned: int
    other_outcomes: int
    average_wait_s: float | None
    callbacks: int
    callbacks_reached: int
    tickets_opened: int
    tickets_closed: int
    deadlines: tuple[DeadlineStats, ...]
    satisfaction: tuple[tuple[str, int], ...]
    top: tuple[ClassCount, ...]

    @property
    def service_level(self) -> float | None:
        """Share of offered calls answered within the threshold."""
        return self.answered_within / self.offered if self.offered else None

    @property
    def satisfaction_rate(self) -> float | None:
        """Satisfied or basically satisfied among the answers (unreachable left out)."""
        counts = dict(self.satisfaction)
        answered = sum(v for k, v in counts.items() if k != Satisfaction.UNREACHABLE.value)
        good = counts.get(Satisfaction.SATISFIED.value, 0) + counts.get(
            Satisfaction.BASICALLY_SATISFIED.value, 0
        )
        return good / answered if answered else None


def _call_figures(
    calls: Iterable[CallRecord], threshold_s: float
) -> tuple[int, int, int, int, int, float | None, int, int]:
    offered = answered = within = abandoned = other = callbacks = reached = 0
    waits: list[float] = []
    for call in calls:
        if call.direction is Direction.CALLBACK:
            callbacks += 1
            reached += call.outcome is CallOutcome.ANSWERED
            continue
        offered += 1
        if call.outcome is CallOutcome.ANSWERED:
            answered += 1
            wait = call.wait_s
            if wait is None and call.answered_at is not None and call.arrived_at is not None:
                wait = call.answered_at - call.arrived_at
            if wait is not None:
                waits.append(wait)
                within += wait <= threshold_s
        elif call.outcome is CallOutcome.ABANDONED:
            abandoned += 1
        elif call.outcome is not None:
            other += 1
    average = sum(waits) / len(waits) if waits else None
    return offered, answered, within, abandoned, other, average, callbacks, reached


def deadline_stats(clocks: Iterable[Deadline], now: float) -> tuple[DeadlineStats, ...]:
    """Per kind: clocks due that day met on time, late, or still pending at ``now``."""
    table: dict[DeadlineKind, list[int]] = {}
    for clock in clocks:
        row = table.setdefault(clock.kind, [0, 0, 0, 0])
        row[0] += 1
        if clock.met_at is not None and clock.met_at <= clock.due_at:
            row[1] += 1
        elif clock.met_at is not None or now >= clock.due_at:
            row[2] += 1
        else:
            row[3] += 1
    return tuple(DeadlineStats(kind, *table[kind]) for kind in DeadlineKind if kind in table)


def top_classifications(per_code: Mapping[str, int], taxonomy: Taxonomy, n: int) -> tuple[ClassCount, ...]:
    """Tickets per problem type (level 2), the ``n`` largest."""
    totals: dict[str, int] = {}
    for code, count in per_code.items():
        try:
            key = taxonomy.ancestor(code, Level.PROBLEM_TYPE).code
        except UnknownClassification:
            key = code
        totals[key] = totals.get(key, 0) + count
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    result = []
    for code, count in ranked:
        label = taxonomy.label(code) if code in taxonomy else code
        result.append(ClassCount(code, label, count))
    return tuple(result)


def build_report(
    day: date,
    *,
    calls: Iterable[CallRecord],
    tickets_opened: int,
    tickets_closed: int,
    opened_per_classification: Mapping[str, int],
    clocks_due: Iterable[Deadline],
    satisfaction: Mapping[str, int],
    taxonomy: Taxonomy,
    threshold_s: float,
    now: float,
    top_n: int = 5,
) -> DayReport:
    """Compose the day's report from what the store returned."""
    offered, answered, within, abandoned, other, average, callbacks, reached = _call_figures(
        calls, threshold_s
    )
    order = [s.value for s in Satisfaction]
    return DayReport(
        day=day,
        threshold_s=threshold_s,
        offered=offered,
        answered=answered,
        answered_within=within,
        abandoned=abandoned,
        other_outcomes=other,
        average_wait_s=average,
        callbacks=callbacks,
        callbacks_reached=reached,
        tickets_opened=tickets_opened,
        tickets_closed=tickets_closed,
        deadlines=deadline_stats(clocks_due, now),
        satisfaction=tuple(
            sorted(satisfaction.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
        ),
        top=top_classifications(opened_per_classification, taxonomy, top_n),
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def render_text(report: DayReport) -> str:
    """The report as plain text (what ``hotline report`` prints)."""
    lines = [
        f"12345 hotline — daily report for {report.day.isoformat()}",
        "",
        "Calls",
        f"  offered (inbound)        {report.offered}",
        f"  answered                 {report.answered}",
        f"  abandoned                {report.abandoned}",
    ]
    if report.other_outcomes:
        lines.append(f"  other (failed, lost...)  {report.other_outcomes}")
    lines += [
        f"  service level ({report.threshold_s:g} s)   {_pct(report.service_level)}"
        f"  ({report.answered_within} answered within {report.threshold_s:g} s)",
        "  average speed of answer  "
        + ("-" if report.average_wait_s is None else f"{report.average_wait_s:.1f} s"),
        f"  callbacks made           {report.callbacks} ({report.callbacks_reached} reached)",
        "",
        "Tickets",
        f"  opened                   {report.tickets_opened}",
        f"  closed                   {report.tickets_closed}",
        "",
        "Deadlines due this day (on time / late / pending, on-time rate)",
    ]
    if not report.deadlines:
        lines.append("  none")
    for stats in report.deadlines:
        lines.append(
            f"  {stats.kind.value:<16} {stats.on_time:>5} / {stats.late:<5} / {stats.pending:<5} "
            f"{_pct(stats.rate)}"
        )
    lines += ["", "Follow-up calls (回访)"]
    if not report.satisfaction:
        lines.append("  none")
    for key, count in report.satisfaction:
        lines.append(f"  {key:<22} {count}")
    lines.append(f"  satisfaction rate        {_pct(report.satisfaction_rate)}")
    lines += ["", "Top classifications (problem type)"]
    if not report.top:
        lines.append("  none")
    for i, item in enumerate(report.top, start=1):
        lines.append(f"  {i}. {item.label} [{item.code}]  {item.count}")
    return "\n".join(lines) + "\n"

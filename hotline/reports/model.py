"""The report's records: options in, sections out.  Plain frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from hotline.store.reports import (
    AgentStateRow,
    ReportCall,
    ReportClock,
    ReportTicket,
    ReportTransition,
)

#: The interval lengths a report may use (minutes).
INTERVALS_MIN = (15, 30, 60)


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """What a report covers and how it counts."""

    first_day: date
    last_day: date
    tz: tzinfo
    interval_min: int = 30
    threshold_s: float = 15.0  # service level: answered within this wait
    short_abandon_s: float = 5.0  # an abandon before this wait is a short abandon
    service_level_target: float = 0.8
    top_n: int = 5
    overdue_limit: int = 50
    now: float = 0.0  # the instant the report is made (pending vs late, overdue)

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError(f"the range ends ({self.last_day}) before it starts ({self.first_day})")
        if self.interval_min not in INTERVALS_MIN:
            raise ValueError(f"interval must be one of {INTERVALS_MIN} minutes, got {self.interval_min}")

    @property
    def days(self) -> list[date]:
        """Every day of the range, in order."""
        n = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(n)]

    def day_start(self, day: date) -> float:
        """Local midnight of ``day`` as an epoch instant."""
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp()

    @property
    def start(self) -> float:
        """The range's first instant."""
        return self.day_start(self.first_day)

    @property
    def end(self) -> float:
        """The instant after the range (local midnight after its last day)."""
        return self.day_start(self.last_day + timedelta(days=1))

    def previous(self) -> ReportOptions:
        """The range of the same length just before this one."""
        n = (self.last_day - self.first_day).days + 1
        return ReportOptions(
            first_day=self.first_day - timedelta(days=n),
            last_day=self.first_day - timedelta(days=1),
            tz=self.tz,
            interval_min=self.interval_min,
            threshold_s=self.threshold_s,
            short_abandon_s=self.short_abandon_s,
            service_level_target=self.service_level_target,
            top_n=self.top_n,
            overdue_limit=self.overdue_limit,
            now=self.now,
        )


@dataclass(frozen=True, slots=True)
class EscalationTotals:
    """Urgent and sensitive calls (突发应急、敏感事件) raised to supervisors in the range."""

    raised: int
    urgent: int
    sensitive: int
    acknowledged: int
    acknowledged_in_time: int  # by the first tier, before its deadline
    reescalated: int  # went up at least one tier
    exhausted: int  # the top tier's time ran out too
    median_ack_s: float | None
    incidents: int  # hot spots (热点) opened
    by_reason: tuple[tuple[str, str, int], ...]  # (source, level, alerts), most first


@dataclass(frozen=True, slots=True)
class ReportData:
    """What the store returned for one range (see :mod:`hotline.store.reports`).

    ``agent_history`` is ``None`` when nothing has ever been written to the agent state history
    (then time ready, pauses, wrap-up, ring-no-answer and occupancy are unknown, not zero).
    """

    calls: list[ReportCall]
    agent_history: list[AgentStateRow] | None  # in time order
    opened: list[ReportTicket]
    closed: list[ReportTicket]
    steps: list[ReportTransition]
    clocks_due: list[ReportClock]
    overdue: list[ReportClock] = field(default_factory=list)
    escalations: EscalationTotals | None = None  # None: no escalation records were read


@dataclass(frozen=True, slots=True)
class CallFigures:
    """Inbound call figures of one interval, one day or the whole range."""

    offered: int = 0  # arrived and finished: answered + abandoned + short_abandoned + other
    answered: int = 0
    answered_within: int = 0  # answered with a wait <= threshold
    abandoned: int = 0  # hung up waiting, not short
    short_abandoned: int = 0  # hung up within short_abandon_s (reported apart)
    other: int = 0  # failed, lost, ...
    in_progress: int = 0  # live when the report was made: not in offered
    end_uncertain: int = 0  # ended while the service was down: no talk time counted
    asa_s: float | None = None  # mean wait of the answered
    avg_talk_s: float | None = None  # answered calls with a known end
    avg_wrap_s: float | None = None  # wrap-up periods begun here (agent state history)
    longest_wait_s: float | None = None
    callbacks: int = 0  # callbacks (回拨/回访) made
    callbacks_reached: int = 0

    @property
    def service_level(self) -> float | None:
        """Answered within the threshold / offered."""
        return self.answered_within / self.offered if self.offered else None

    @property
    def service_level_excl_short(self) -> float | None:
        """Answered within the threshold / (offered - short abandons)."""
        base = self.offered - self.short_abandoned
        return self.answered_within / base if base else None

    @property
    def aht_s(self) -> float | None:
        """Average handle time: average talk + average wrap-up (when the history has it)."""
        if self.avg_talk_s is None:
            return None
        return self.avg_talk_s + (self.avg_wrap_s or 0.0)


@dataclass(frozen=True, slots=True)
class IntervalRow:
    """One interval of the day (summed over every day of the range)."""

    start: str  # "09:00"
    end: str
    calls: CallFigures


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One agent over the range.  Time figures are ``None`` without agent state history."""

    agent_id: str
    inbound: int
    callbacks: int
    avg_talk_s: float | None
    avg_wrap_s: float | None
    ready_s: float | None
    paused_s: float | None
    busy_s: float | None  # on calls (inbound and callback)
    wrap_s: float | None
    ring_no_answer: int | None
    occupancy: float | None  # (busy + wrap-up) / (ready + ringing + busy + wrap-up)


@dataclass(frozen=True, slots=True)
class PauseRow:
    """Time an agent spent paused for one reason."""

    agent_id: str
    reason: str
    seconds: float
    times: int


@dataclass(frozen=True, slots=True)
class TicketGroupRow:
    """Tickets of one type or one department."""

    key: str
    label: str
    opened: int = 0
    closed: int = 0
    due: int = 0  # clocks due in the range
    on_time: int = 0
    late: int = 0
    pending: int = 0
    extended: int = 0
    returned: int = 0
    supervised: int = 0
    reopened: int = 0

    @property
    def on_time_rate(self) -> float | None:
        """On time / (on time + late): the pending clocks are not decided yet."""
        decided = self.on_time + self.late
        return self.on_time / decided if decided else None


@dataclass(frozen=True, slots=True)
class SatisfactionRow:
    """Follow-up answers of one kind."""

    key: str
    label: str
    count: int
    share: float | None


@dataclass(frozen=True, slots=True)
class TopClassRow:
    """A classification node among the most frequent of its level."""

    level: int
    level_label: str
    rank: int
    code: str
    name: str
    path: str  # names from the domain down, "城市管理 / 市容环境"
    count: int


@dataclass(frozen=True, slots=True)
class OverdueRow:
    """A clock of an open ticket past its end."""

    number: str
    department: str
    ticket_type: str
    kind: str
    due_on: str
    days_late: int  # whole days since the due day ended (1 = the day after)
    classification: str


@dataclass(frozen=True, slots=True)
class DayRow:
    """One day of the range's trend."""

    day: date
    calls: CallFigures
    tickets_opened: int
    tickets_closed: int
    on_time_rate: float | None
    satisfaction_rate: float | None


@dataclass(frozen=True, slots=True)
class Totals:
    """The range in one line (also what the comparison with the previous range compares)."""

    calls: CallFigures
    tickets_opened: int
    tickets_closed: int
    due: int
    on_time: int
    late: int
    satisfaction_rate: float | None

    @property
    def on_time_rate(self) -> float | None:
        """On time / decided clocks due in the range."""
        decided = self.on_time + self.late
        return self.on_time / decided if decided else None


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One figure against the previous range of the same length."""

    metric: str
    label: str
    current: float | None
    previous: float | None
    kind: str  # "int", "pct" or "sec": how to show it

    @property
    def change(self) -> float | None:
        """current - previous (percentage points for rates)."""
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous


@dataclass(frozen=True, slots=True)
class Report:
    """Everything ``hotline report`` shows."""

    options: ReportOptions
    totals: Totals
    intervals: tuple[IntervalRow, ...]
    agents: tuple[AgentRow, ...]
    pauses: tuple[PauseRow, ...]
    by_type: tuple[TicketGroupRow, ...]
    by_department: tuple[TicketGroupRow, ...]
    satisfaction: tuple[SatisfactionRow, ...]
    top: tuple[TopClassRow, ...]
    overdue: tuple[OverdueRow, ...]
    trend: tuple[DayRow, ...]
    comparison: tuple[ComparisonRow, ...]
    agent_history: bool  # False: nothing feeds the agent state history yet
    notes: tuple[str, ...] = ()
    escalations: EscalationTotals | None = None

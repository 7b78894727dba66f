"""The ticket domain's data: enums and frozen records, no behaviour beyond small derived facts.

Instants are floats, seconds since the epoch (UTC); calendar days are :class:`datetime.date` in the
hotline's local time zone.  Personal data (the citizen's name and number) is excluded from every
``repr`` so a record that slips into a log line or a traceback does not leak it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date


class TicketState(enum.StrEnum):
    """Where a ticket is in the closed loop (受理 → 交办 → 办理 → 反馈 → 回访 → 评价 → 办结)."""

    ACCEPTED = "accepted"  # 受理
    DISPATCHED = "dispatched"  # 交办
    IN_PROGRESS = "in_progress"  # 办理
    RETURNED = "returned"  # 退回 (not the department's remit; waits for re-dispatch)
    FEEDBACK = "feedback"  # 反馈 (the department answered)
    CALLBACK = "callback"  # 回访 (follow-up call scheduled or under way)
    EVALUATED = "evaluated"  # 评价 (the citizen's satisfaction is known)
    REOPENED = "reopened"  # 重办 (not satisfied: to be handled again)
    CLOSED = "closed"  # 办结

    @property
    def label(self) -> str:
        """The Chinese name used on the hotline floor."""
        return _STATE_LABELS[self]


_STATE_LABELS = {
    TicketState.ACCEPTED: "受理",
    TicketState.DISPATCHED: "交办",
    TicketState.IN_PROGRESS: "办理",
    TicketState.RETURNED: "退回",
    TicketState.FEEDBACK: "反馈",
    TicketState.CALLBACK: "回访",
    TicketState.EVALUATED: "评价",
    TicketState.REOPENED: "重办",
    TicketState.CLOSED: "办结",
}


class Action(enum.StrEnum):
    """What can be done to a ticket; each is one audited transition (see ``workflow.TRANSITIONS``)."""

    ACCEPT = "accept"  # creation (受理): the first audit row
    RESOLVE = "resolve"  # answered on the call itself (直接办结)
    DISPATCH = "dispatch"  # 交办 (also re-dispatch after a return or a reopen)
    START = "start"  # the department takes it up (办理)
    RETURN = "return"  # 退回: not our remit, within 2 working days of dispatch
    EXTEND = "extend"  # 延期: before the deadline, at most 2, at most 40 working days in total
    STAGED_FEEDBACK = "staged_feedback"  # 阶段性反馈 / first opinion
    FEEDBACK = "feedback"  # 反馈: the department's answer; schedules the follow-up call
    START_CALLBACK = "start_callback"  # 回访 scheduled
    EVALUATE = "evaluate"  # 评价: the citizen's satisfaction (or unreachable)
    REOPEN = "reopen"  # 重办: not satisfied
    CLOSE = "close"  # 办结
    SUPERVISE = "supervise"  # 督办: opened when a deadline passes (or by a supervisor)


class TicketType(enum.StrEnum):
    """The kind of request; it decides the deadlines (DESIGN section 6)."""

    CONSULTATION = "consultation"  # 咨询
    SERVICE = "service"  # 服务
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议
    BUSINESS_ENVIRONMENT = "business_environment"  # 涉企营商环境投诉

    @property
    def label(self) -> str:
        """The Chinese name."""
        return _TYPE_LABELS[self]


_TYPE_LABELS = {
    TicketType.CONSULTATION: "咨询",
    TicketType.SERVICE: "服务",
    TicketType.HELP: "求助",
    TicketType.COMPLAINT: "投诉",
    TicketType.REPORT: "举报",
    TicketType.SUGGESTION: "建议",
    TicketType.BUSINESS_ENVIRONMENT: "涉企营商环境投诉",
}


class Channel(enum.StrEnum):
    """How the request reached the hotline."""

    PHONE = "phone"
    WEB = "web"
    WECHAT = "wechat"
    APP = "app"


class LinkRole(enum.StrEnum):
    """Why a call is linked to a ticket."""

    OPENED = "opened"  # the call that opened the ticket
    REPEAT = "repeat"  # the citizen called again about the same matter
    CALLBACK = "callback"  # a return call (回拨) that dealt with it
    FOLLOW_UP = "follow_up"  # the follow-up call (回访) after the department's feedback


class Satisfaction(enum.StrEnum):
    """The follow-up call's outcome."""

    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    NOT_SATISFIED = "not_satisfied"  # 不满意
    UNREACHABLE = "unreachable"  # 无法联系 (after every attempt)

    @property
    def counts_as_satisfied(self) -> bool:
        """Satisfied or basically satisfied."""
        return self in (Satisfaction.SATISFIED, Satisfaction.BASICALLY_SATISFIED)


class DeadlineKind(enum.StrEnum):
    """The clocks a ticket runs, by ticket type (DESIGN section 6)."""

    FEEDBACK = "feedback"  # consultation, service: feedback within 5 working days
    STAGED_FEEDBACK = "staged_feedback"  # help, complaint, report, suggestion: within 5
    CLOSING = "closing"  # help...: closed within 15 working days; business environment: 6 months
    FIRST_OPINION = "first_opinion"  # business environment: result and first opinion within 15


OPEN_STATES = frozenset(set(TicketState) - {TicketState.CLOSED})


@dataclass(frozen=True, kw_only=True, slots=True)
class Ticket:
    """One matter (一事一工单) as stored.  ``version`` counts its transitions (the audit ``seq``)."""

    id: int
    number: str
    accepted_on: date
    day_seq: int
    created_at: float
    updated_at: float
    channel: Channel
    ticket_type: TicketType
    classification: str
    department: str
    occurred: str  # when it happened, as told
    location: str
    description: str  # what happened
    current_situation: str
    request: str  # what the citizen asks for
    respondent: str  # the party complained about (被诉求单位/个人), may be empty
    citizen_name: str = field(repr=False)
    citizen_number: str = field(repr=False)
    state: TicketState
    version: int
    round: int = 1  # deadline round: 2 after the first reopen, ...
    duplicate_of: str | None = None
    provisional: bool = False  # a deadline runs into a year no calendar knows
    supervision_count: int = 0
    extension_count: int = 0
    extension_days: int = 0
    dispatched_at: float | None = None
    satisfaction: Satisfaction | None = None
    closed_at: float | None = None

    @property
    def is_open(self) -> bool:
        """True until the ticket is closed."""
        return self.state is not TicketState.CLOSED


@dataclass(frozen=True, kw_only=True, slots=True)
class Deadline:
    """One clock of a ticket, keyed by ``(ticket_id, round, kind)``.

    The deadline ends at the close (24:00 local) of ``due_on``: ``due_at`` is that instant.
    ``warn_at`` is the start of the working day before ``due_on``.  ``provisional`` means the
    counting crossed a year in ``unknown_years`` and used weekends only there.  ``version`` guards
    concurrent writers.
    """

    ticket_id: int
    round: int
    kind: DeadlineKind
    start_on: date
    working_days: int | None
    months: int | None
    extension_days: int
    due_on: date
    due_at: float
    warn_at: float
    provisional: bool
    unknown_years: tuple[int, ...]
    version: int
    met_at: float | None = None
    warned_at: float | None = None
    breached_at: float | None = None

    @property
    def next_check_at(self) -> float | None:
        """When the SLA watcher must look at this clock next (``None``: never again)."""
        if self.met_at is not None or self.breached_at is not None:
            return None
        if self.warned_at is None:
            return min(self.warn_at, self.due_at)
        return self.due_at

    def met_on_time(self) -> bool | None:
        """True/False once met; ``None`` while open."""
        if self.met_at is None:
            return None
        return self.met_at <= self.due_at


@dataclass(frozen=True, kw_only=True, slots=True)
class Transition:
    """One audit row: who did what, when, from which state to which, and why."""

    ticket_id: int
    seq: int
    at: float
    actor: str
    action: Action
    from_state: TicketState | None
    to_state: TicketState
    reason: str = ""
    detail: tuple[tuple[str, str], ...] = ()

    def detail_dict(self) -> dict[str, str]:
        """``detail`` as a dict."""
        return dict(self.detail)


@dataclass(frozen=True, kw_only=True, slots=True)
class TicketLink:
    """A call linked to a ticket with a role."""

    ticket_id: int
    call_id: str
    role: LinkRole
    at: float
    actor: str
    external: bool = False  # not one of this hotline's call records (linked on purpose)


@dataclass(frozen=True, kw_only=True, slots=True)
class FollowUpRequest:
    """A follow-up call (回访) the ticket service asks the store to schedule for the queue."""

    number: str = field(repr=False)
    ticket_id: int
    due_at: float
    window_start: str
    window_end: str
    max_attempts: int
    retry_spacing_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class TicketChange:
    """Everything one ticket operation writes, atomically.

    ``ticket`` is the new row (its ``version`` one more than the stored one per transition;
    ``None`` when only ``deadlines`` change, e.g. an SLA warning).  ``follow_up`` asks for a
    callback; ``complete_callback`` marks the callback that brought the outcome as done/failed.
    """

    ticket: Ticket | None
    previous_version: int | None = None
    transitions: tuple[Transition, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    links: tuple[TicketLink, ...] = ()
    follow_up: FollowUpRequest | None = None
    complete_callback: tuple[int, str, str] | None = None  # (callback id, status, outcome)
    #: Why a person must look at the ticket (e.g. its follow-up number cannot be dialled):
    #: ``(reason, callback id or None)``; listed by ``hotline tickets list --needs-attention``.
    needs_attention: tuple[str, int | None] | None = None

"""Work items: inbound calls waiting on hold and callbacks, plus the call record for the store.

All of these are frozen values; the dispatcher replaces them (``dataclasses.replace``) when they
change, so what it hands to the store (``PersistCallback``, ``RecordCall``) can never change
under the store's feet.  Times are POSIX seconds (``time.time()``), the clock the dispatcher is
given with every event.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hotline.events import Direction, EndReason

_DAY_S = 86_400.0
_EPSILON_S = 1e-3


class PriorityClass(enum.IntEnum):
    """Priority class of an inbound call; a lower value is served first."""

    ESCALATED = 0  # urgent / sensitive (突发应急、敏感事件), from the IVR today, more signals later
    NORMAL = 1


#: IVR values (the ``HOTLINE_IVR`` channel variable) that put a call in the escalated class.
ESCALATED_MARKERS = frozenset({"urgent", "escalated", "emergency", "sensitive", "vip"})


def priority_class_of(ivr_value: str) -> PriorityClass:
    """The priority class the IVR's value means (anything unknown is normal)."""
    return PriorityClass.ESCALATED if ivr_value.strip().lower() in ESCALATED_MARKERS else PriorityClass.NORMAL


def uniqueid_order(uniqueid: str) -> tuple[int, int]:
    """Asterisk's ``Uniqueid`` (``<epoch seconds>.<sequence>``) as a sortable pair.

    Channels are numbered in creation order, so among calls that arrived in the same second
    the smaller pair came first.  Anything else sorts last.
    """
    seconds, _, sequence = uniqueid.rpartition("-")[2].partition(".")
    if seconds.isdigit() and sequence.isdigit():
        return (int(seconds), int(sequence))
    return (1 << 62, 0)


@dataclass(frozen=True, slots=True)
class WaitingCall:
    """An inbound call on hold, waiting for an agent.

    ``enqueued_at`` is when the hotline first saw it wait (kept across ring-no-answer, so the
    wait the caller feels is what is measured).  ``returned`` marks a call that went back to the
    queue after an offer failed: it goes to the head of its class.  ``skill`` is the group whose
    agents may take it (None: any agent).
    """

    call_id: str
    channel: str
    caller_number: str = field(repr=False)  # personal data: never in a repr
    priority: PriorityClass = PriorityClass.NORMAL
    enqueued_at: float = 0.0
    caller_name: str = field(default="", repr=False)
    skill: str | None = None
    returned: bool = False
    offers: int = 0

    def sort_key(self) -> tuple[int, int, float, tuple[int, int]]:
        """Class first, then returned calls (head of their class), then the longest waiting;
        equal waits (a restart's whole-second picture) go by Asterisk's channel order."""
        return (int(self.priority), 0 if self.returned else 1, self.enqueued_at, uniqueid_order(self.call_id))


@dataclass(frozen=True, slots=True)
class CallingHours:
    """The local hours within which a citizen may be called: ``[start_min, end_min)`` of each day.

    China has one time zone and no daylight saving, so a fixed UTC offset is exact.
    """

    start_min: int = 0
    end_min: int = 24 * 60
    utc_offset_s: float = 8 * 3600.0

    def __post_init__(self) -> None:
        if not 0 <= self.start_min < self.end_min <= 24 * 60:
            raise ValueError(f"calling hours must satisfy 0 <= start < end <= 1440, got {self!r}")

    @property
    def always(self) -> bool:
        """True when every hour is a calling hour."""
        return self.start_min == 0 and self.end_min == 24 * 60

    def contains(self, at: float) -> bool:
        """True when ``at`` falls within the calling hours."""
        if self.always:
            return True
        second = (at + self.utc_offset_s) % _DAY_S
        if second > _DAY_S - _EPSILON_S:  # a float rounding of midnight is midnight
            second -= _DAY_S
        # The tolerance keeps the instant next_open() returns inside the window despite float
        # rounding; otherwise a callback due at the opening would be pushed to the next day.
        return self.start_min * 60.0 - _EPSILON_S <= second < self.end_min * 60.0 - _EPSILON_S

    def next_open(self, at: float) -> float:
        """The first instant at or after ``at`` within the calling hours."""
        if self.contains(at):
            return at
        local = at + self.utc_offset_s
        day_start = local - (local % _DAY_S)
        start = day_start + self.start_min * 60.0
        if local >= start:  # past today's window: tomorrow's start
            start += _DAY_S
        return start - self.utc_offset_s


class CallbackKind(enum.StrEnum):
    """Return calls for abandoned calls (回拨) go before follow-up calls after a ticket (回访)."""

    RETURN_CALL = "return_call"
    FOLLOW_UP = "follow_up"

    @property
    def rank(self) -> int:
        """Routing order among due callbacks (lower first)."""
        return 0 if self is CallbackKind.RETURN_CALL else 1


class CallbackStatus(enum.StrEnum):
    """Where a callback stands."""

    PENDING = "pending"  # waiting for its due time, calling hours and a free agent
    IN_PROGRESS = "in_progress"  # an attempt is being dialled or talked
    REACHED = "reached"  # done: the citizen answered
    FAILED = "failed"  # done: attempts exhausted, or a number that cannot be dialled
    CANCELLED = "cancelled"  # done: withdrawn (by a ticket, or the citizen called in again)

    @property
    def open(self) -> bool:
        """True while the callback still has work to do."""
        return self in (CallbackStatus.PENDING, CallbackStatus.IN_PROGRESS)


class AttemptOutcome(enum.StrEnum):
    """The result of one callback attempt."""

    REACHED = "reached"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # congestion, unavailable, rejected, or the PBX refused the Originate
    PREEMPTED = "preempted"  # cancelled for an inbound call: not counted
    AGENT_NO_ANSWER = "agent_no_answer"  # the agent leg was not answered: not the citizen's fault
    ABORTED = "aborted"  # the PBX went away or the agent hung up before a result: not counted

    @property
    def counted(self) -> bool:
        """True when the attempt counts against the callback's attempt limit."""
        return self in (
            AttemptOutcome.REACHED,
            AttemptOutcome.BUSY,
            AttemptOutcome.NO_ANSWER,
            AttemptOutcome.FAILED,
        )


def attempt_outcome_of(dial_status: str) -> AttemptOutcome:
    """Asterisk's DIALSTATUS of the citizen's dial, as an attempt outcome."""
    status = dial_status.strip().upper()
    if status == "ANSWER":
        return AttemptOutcome.REACHED
    if status == "BUSY":
        return AttemptOutcome.BUSY
    if status == "NOANSWER":
        return AttemptOutcome.NO_ANSWER
    if status == "CANCEL":
        return AttemptOutcome.ABORTED
    return AttemptOutcome.FAILED


@dataclass(frozen=True, slots=True)
class CallbackAttempt:
    """One attempt in a callback's outcome history."""

    started_at: float
    ended_at: float
    agent_id: str
    outcome: AttemptOutcome
    dial_status: str = ""
    call_id: str | None = None

    @property
    def counted(self) -> bool:
        """True when the attempt counts against the attempt limit."""
        return self.outcome.counted


@dataclass(frozen=True, slots=True)
class Callback:
    """A call the hotline owes a citizen: a return call (回拨) or a follow-up (回访).

    ``due_at`` is the earliest time of the next attempt; a pre-empted or agent-failed attempt
    leaves it as it was, so the callback goes back to its place.  ``attempts`` counts only the
    attempts that reached the citizen's line (see :attr:`AttemptOutcome.counted`).
    """

    callback_id: str
    kind: CallbackKind
    number: str = field(repr=False)  # the citizen's: never in a repr
    due_at: float
    created_at: float
    calling_hours: CallingHours = CallingHours()
    max_attempts: int = 3
    retry_spacing_s: float = 900.0
    attempts: int = 0
    status: CallbackStatus = CallbackStatus.PENDING
    ticket_id: str | None = None
    origin_call_id: str | None = None
    closed_reason: str | None = None
    history: tuple[CallbackAttempt, ...] = ()

    def sort_key(self) -> tuple[int, float]:
        """Return calls first, then the earliest due."""
        return (self.kind.rank, self.due_at)

    def eligible_at(self, now: float) -> float:
        """When this callback may next be dialled: due, and within calling hours."""
        return self.calling_hours.next_open(max(self.due_at, now))


class CallOutcome(enum.StrEnum):
    """How a call ended, for the call record."""

    ANSWERED = "answered"  # an inbound call an agent took
    ABANDONED = "abandoned"  # an inbound caller hung up before an agent answered
    LOST = "lost"  # vanished while the PBX link was down, never answered
    REACHED = "reached"  # a callback that reached the citizen
    NOT_REACHED = "not_reached"  # a callback call that did not


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call, for the store (and the tickets it will be linked to).

    ``wait_s``: for an inbound call, from first waiting to answer (or to the abandon);
    for a callback, from its due time to the start of this attempt.
    """

    call_id: str
    direction: Direction
    number: str = field(repr=False)  # the citizen's: never in a repr
    started_at: float
    ended_at: float
    outcome: CallOutcome
    answered_at: float | None = None
    agent_id: str | None = None
    wait_s: float | None = None
    priority: PriorityClass | None = None
    offers: int = 0
    callback_id: str | None = None
    ticket_id: str | None = None
    end_cause: int = 0
    end_reason: EndReason = EndReason.HANGUP
    #: The end was not seen (the service was down or the PBX away): it lies between
    #: ``last_seen_at`` and ``ended_at``; ``ended_at`` is then when the end was found.
    end_uncertain: bool = False
    last_seen_at: float | None = None


class LiveState(enum.StrEnum):
    """Where a live call stands in its written-ahead record."""

    WAITING = "waiting"
    OFFERED = "offered"  # an agent's device rings (inbound), or the callback is being dialled
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A live call's record as written ahead (and read back by a restart).

    Written when the call arrives (or a callback's call is first seen) and again at each step;
    the store completes its record field by field, so a field left None keeps what it had.
    ``callback_id`` is the queue's callback id for a callback's call.
    """

    call_id: str
    direction: Direction
    state: LiveState
    number: str = field(default="", repr=False)  # the citizen's: never in a repr
    priority: PriorityClass | None = None
    arrived_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    agent_id: str | None = None
    offers: int | None = None
    wait_s: float | None = None
    callback_id: str | None = None
    ticket_id: str | None = None

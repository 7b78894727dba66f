"""Records the store keeps for the queue: call records, callbacks and their attempts, agent states.

Plain frozen dataclasses; instants are floats (seconds since the epoch, UTC).  Citizens' numbers
are excluded from ``repr``.  Ticket records live in :mod:`hotline.tickets.model`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hotline.events import Direction


class CallOutcome(enum.StrEnum):
    """How a call ended for the hotline."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"  # the caller hung up while waiting
    FAILED = "failed"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    LOST = "lost"  # vanished while the PBX connection was down


@dataclass(frozen=True, kw_only=True, slots=True)
class CallRecord:
    """Every call the bridge/dispatcher saw, keyed by Asterisk's ``Linkedid`` (``call_id``)."""

    call_id: str
    direction: Direction
    caller_number: str = field(repr=False)
    dnis: str
    arrived_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    wait_s: float | None = None
    talk_s: float | None = None
    agent_id: str | None = None
    outcome: CallOutcome | None = None  # None while the call is live
    escalated: bool = False
    escalation_reasons: tuple[str, ...] = ()
    recording_ref: str | None = None
    callback_id: int | None = None  # the callback this call was made for
    #: Where the live call is (``waiting``, ``offered``, ``answered``) until ``ended``; None in
    #: records written before call records were written ahead.
    state: str | None = None
    priority: str | None = None  # the queue's priority class (``escalated``, ``normal``)
    offers: int | None = None
    #: The end was not seen (it happened while the service was down or away): it lies between
    #: ``last_seen_at`` and ``ended_at`` (the resync that found the call gone).
    end_uncertain: bool = False
    last_seen_at: float | None = None
    #: The queue's name of the callback (``HOTLINE_CALLBACK_ID``), for a callback's call.
    callback_queue_id: str | None = None


class CallbackKind(enum.StrEnum):
    """Return calls come before follow-up calls."""

    RETURN_CALL = "return_call"  # 回拨: the citizen's call was abandoned
    FOLLOW_UP = "follow_up"  # 回访: after a ticket's feedback


class CallbackStatus(enum.StrEnum):
    """Where a callback is; ``pending`` and ``in_progress`` are loaded again after a restart."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """Done, failed or cancelled."""
        return self in (CallbackStatus.DONE, CallbackStatus.FAILED, CallbackStatus.CANCELLED)


@dataclass(frozen=True, kw_only=True, slots=True)
class NewCallback:
    """What is needed to schedule a callback; the store assigns the id."""

    kind: CallbackKind
    number: str = field(repr=False)
    due_at: float
    window_start: str  # calling hours, local "HH:MM"
    window_end: str
    max_attempts: int
    retry_spacing_s: float
    ticket_id: int | None = None
    origin_call_id: str | None = None
    created_at: float
    #: The queue's name for it, when the queue scheduled it (the id its calls carry).
    queue_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CallbackRecord:
    """A stored callback."""

    id: int
    kind: CallbackKind
    number: str = field(repr=False)
    ticket_id: int | None
    origin_call_id: str | None
    created_at: float
    due_at: float
    window_start: str
    window_end: str
    attempts: int
    max_attempts: int
    retry_spacing_s: float
    status: CallbackStatus
    outcome: str | None
    updated_at: float
    queue_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CallbackAttempt:
    """One try of a callback: when, the outcome, Asterisk's dial status, whether it counted
    (a pre-empted dial does not)."""

    callback_id: int
    at: float
    outcome: str
    dial_status: str
    call_id: str | None = None
    counted: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredAgentState:
    """An agent's last persisted state (the queue maps ``state`` to its own enum)."""

    agent_id: str
    state: str
    reason: str | None
    since: float
    #: The call id (inbound) or callback attempt id the agent works on, if any.
    work: str | None = None
    #: When the agent's wrap-up ends (a restart continues it to this instant).
    wrap_up_until: float | None = None

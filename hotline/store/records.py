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

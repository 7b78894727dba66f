"""Agents: their states, the transition table, and the agent record the dispatcher owns.

Everything that changes an agent's state goes through :meth:`Agent.apply` and the
:data:`TRANSITIONS` table below (h11's rule: every state change lives in one table), so a
state the table does not allow is a typed error (:class:`IllegalAgentTransition`), never a
silent drift.  The dispatcher turns agent commands, PBX events and timers into triggers.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class AgentState(enum.StrEnum):
    """Where an agent is, as ops and the store see it."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    OFFERED = "offered"  # the agent's device rings: an inbound offer or a callback's agent leg
    BUSY_INBOUND = "busy_inbound"
    BUSY_CALLBACK = "busy_callback"  # agent leg answered: dialling the citizen, then talking
    WRAP_UP = "wrap_up"  # 话后处理, timed; ready again automatically
    PAUSED = "paused"  # with a reason code
    DEVICE_UNAVAILABLE = "device_unavailable"  # Asterisk says the device is unreachable


class AgentTrigger(enum.StrEnum):
    """What happened to an agent: an agent command, a PBX event, or a timer."""

    LOGIN = "login"
    LOGOUT = "logout"
    READY = "ready"
    PAUSE = "pause"
    END_WRAP_UP = "end_wrap_up"  # the agent's command or the wrap-up timer
    OFFER_INBOUND = "offer_inbound"
    OFFER_CALLBACK = "offer_callback"
    ANSWER_INBOUND = "answer_inbound"
    ANSWER_CALLBACK = "answer_callback"  # the callback's agent leg was answered
    NO_ANSWER = "no_answer"  # ring-no-answer (or busy/unavailable): paused with a reason
    OFFER_WITHDRAWN = "offer_withdrawn"  # the caller hung up while the agent's device rang
    CALL_ENDED = "call_ended"  # a conversation ended: wrap-up
    RELEASE = "release"  # the work ended without a conversation (pre-empted, citizen not reached)
    ATTACH_INBOUND = "attach_inbound"  # found bridged to an inbound call (after a restart/resync)
    ATTACH_CALLBACK = "attach_callback"
    ATTACH_RINGING = "attach_ringing"  # found ringing for an inbound call (after a restart/resync)
    DEVICE_LOST = "device_lost"
    DEVICE_BACK = "device_back"  # back to ready
    DEVICE_BACK_PAUSED = "device_back_paused"  # back to the pause it had


S = AgentState
T = AgentTrigger

#: (state, trigger) -> next state.  Anything absent is illegal.
TRANSITIONS: dict[tuple[AgentState, AgentTrigger], AgentState] = {
    (S.LOGGED_OUT, T.LOGIN): S.READY,
    # Logging in while already in: idempotent for ready/paused, so a repeated MQTT command is harmless.
    (S.READY, T.LOGIN): S.READY,
    (S.PAUSED, T.LOGIN): S.PAUSED,
    (S.READY, T.LOGOUT): S.LOGGED_OUT,
    (S.PAUSED, T.LOGOUT): S.LOGGED_OUT,
    (S.WRAP_UP, T.LOGOUT): S.LOGGED_OUT,
    (S.DEVICE_UNAVAILABLE, T.LOGOUT): S.LOGGED_OUT,
    (S.READY, T.READY): S.READY,
    (S.PAUSED, T.READY): S.READY,
    (S.WRAP_UP, T.READY): S.READY,
    (S.DEVICE_UNAVAILABLE, T.READY): S.DEVICE_UNAVAILABLE,  # clears the pause it would come back to
    (S.READY, T.PAUSE): S.PAUSED,
    (S.PAUSED, T.PAUSE): S.PAUSED,  # a new reason
    (S.WRAP_UP, T.PAUSE): S.PAUSED,
    (S.DEVICE_UNAVAILABLE, T.PAUSE): S.DEVICE_UNAVAILABLE,  # remembered for when the device is back
    (S.WRAP_UP, T.END_WRAP_UP): S.READY,
    (S.READY, T.OFFER_INBOUND): S.OFFERED,
    (S.READY, T.OFFER_CALLBACK): S.OFFERED,
    (S.OFFERED, T.ANSWER_INBOUND): S.BUSY_INBOUND,
    (S.OFFERED, T.ANSWER_CALLBACK): S.BUSY_CALLBACK,
    (S.OFFERED, T.NO_ANSWER): S.PAUSED,
    (S.OFFERED, T.OFFER_WITHDRAWN): S.READY,
    (S.OFFERED, T.RELEASE): S.READY,
    (S.BUSY_INBOUND, T.CALL_ENDED): S.WRAP_UP,
    (S.BUSY_CALLBACK, T.CALL_ENDED): S.WRAP_UP,
    (S.OFFERED, T.CALL_ENDED): S.WRAP_UP,  # answered and ended before we heard of the answer
    (S.BUSY_CALLBACK, T.RELEASE): S.READY,
    (S.BUSY_INBOUND, T.RELEASE): S.READY,
    (S.READY, T.ATTACH_INBOUND): S.BUSY_INBOUND,
    (S.PAUSED, T.ATTACH_INBOUND): S.BUSY_INBOUND,
    (S.WRAP_UP, T.ATTACH_INBOUND): S.BUSY_INBOUND,
    (S.OFFERED, T.ATTACH_INBOUND): S.BUSY_INBOUND,
    (S.READY, T.ATTACH_CALLBACK): S.BUSY_CALLBACK,
    (S.PAUSED, T.ATTACH_CALLBACK): S.BUSY_CALLBACK,
    (S.WRAP_UP, T.ATTACH_CALLBACK): S.BUSY_CALLBACK,
    (S.OFFERED, T.ATTACH_CALLBACK): S.BUSY_CALLBACK,
    (S.READY, T.ATTACH_RINGING): S.OFFERED,
    # A restart restores an agent on its call: the resync that finds the call confirms it.
    (S.OFFERED, T.ATTACH_RINGING): S.OFFERED,
    (S.BUSY_INBOUND, T.ATTACH_INBOUND): S.BUSY_INBOUND,
    (S.BUSY_CALLBACK, T.ATTACH_CALLBACK): S.BUSY_CALLBACK,
    (S.PAUSED, T.ATTACH_RINGING): S.OFFERED,
    (S.WRAP_UP, T.ATTACH_RINGING): S.OFFERED,
    (S.READY, T.DEVICE_LOST): S.DEVICE_UNAVAILABLE,
    (S.PAUSED, T.DEVICE_LOST): S.DEVICE_UNAVAILABLE,
    (S.WRAP_UP, T.DEVICE_LOST): S.DEVICE_UNAVAILABLE,
    # A phone found unreachable while it rings for an offer: the offer is withdrawn at once.
    (S.OFFERED, T.DEVICE_LOST): S.DEVICE_UNAVAILABLE,
    (S.DEVICE_UNAVAILABLE, T.DEVICE_BACK): S.READY,
    (S.DEVICE_UNAVAILABLE, T.DEVICE_BACK_PAUSED): S.PAUSED,
    # Paused only because its phone failed (PAUSES_OF_THE_PHONE): ready when the phone is back.
    (S.PAUSED, T.DEVICE_BACK): S.READY,
}

#: Where each trigger leads (its first entry in the table), to name the target of an illegal one.
_NATURAL_TARGET: dict[AgentTrigger, AgentState] = {}
for (_state, _trigger), _target in TRANSITIONS.items():
    _NATURAL_TARGET.setdefault(_trigger, _target)

#: States in which the agent is logged in.
LOGGED_IN = frozenset(set(AgentState) - {AgentState.LOGGED_OUT})
#: States in which the agent works on a call (counted as busy in ``queue.snapshot``).
ON_CALL = frozenset({AgentState.OFFERED, AgentState.BUSY_INBOUND, AgentState.BUSY_CALLBACK})

#: Pause reason set by the dispatcher on ring-no-answer (RONA).
PAUSE_NO_ANSWER = "no_answer"
#: Pause reason when the agent's device could not be dialled at all (CHANUNAVAIL, CONGESTION...).
PAUSE_DIAL_FAILED = "dial_failed"
#: Pauses that are the phone's doing, not the agent's: lifted when the phone is back.
PAUSES_OF_THE_PHONE = frozenset({PAUSE_DIAL_FAILED})
#: Pause reason an agent restored from a persisted state gets when it is ambiguous.
PAUSE_RESTORED = "restored"


class IllegalAgentTransition(Exception):
    """A trigger the transition table does not allow in the agent's current state.

    ``to`` is where the trigger leads elsewhere in the table (where the caller wanted to go).
    """

    def __init__(self, agent: str, from_state: AgentState, trigger: AgentTrigger) -> None:
        self.agent = agent
        self.from_state = from_state
        self.to = _NATURAL_TARGET[trigger]
        self.trigger = trigger
        super().__init__(
            f"agent {agent}: {trigger.value} ({from_state.value} -> {self.to.value}) is not allowed"
        )


@dataclass(frozen=True, slots=True)
class AgentStateRecord:
    """What is persisted per agent so a restart restores who is logged in and paused."""

    agent_id: str
    state: AgentState
    pause_reason: str | None
    since: float
    #: The call id (inbound) or callback attempt id the agent works on, if any.
    work: str | None = None
    #: When its wrap-up ends (a restart continues the wrap-up to this instant).
    wrap_up_until: float | None = None


@dataclass(frozen=True, slots=True)
class AgentTransition:
    """One applied state change."""

    agent_id: str
    previous: AgentState
    state: AgentState
    trigger: AgentTrigger
    reason: str | None
    at: float


@dataclass(slots=True)
class Agent:
    """One agent's live record (mutable: owned and changed only by the dispatcher).

    ``pause_reason`` is the reason of the current pause, or of the pause to return to when a
    lost device comes back.  ``pending_pause`` is a pause asked for during a call: it replaces
    the return to ready when the work (and wrap-up) ends.  ``work`` is the call id (inbound) or
    callback id the agent is on.
    """

    agent_id: str
    device: str
    skills: frozenset[str]
    order: int
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0
    pause_reason: str | None = None
    pending_pause: str | None = None
    device_available: bool = True
    work: str | None = None
    wrap_up_until: float | None = None

    def can(self, trigger: AgentTrigger) -> bool:
        """True when the table allows ``trigger`` now."""
        return (self.state, trigger) in TRANSITIONS

    def apply(self, trigger: AgentTrigger, now: float, reason: str | None = None) -> AgentTransition:
        """Change state by the table; raises :class:`IllegalAgentTransition` when not allowed."""
        target = TRANSITIONS.get((self.state, trigger))
        if target is None:
            raise IllegalAgentTransition(self.agent_id, self.state, trigger)
        previous = self.state
        if trigger in (AgentTrigger.PAUSE, AgentTrigger.NO_ANSWER):
            # In DEVICE_UNAVAILABLE the reason is kept for when the device comes back.
            self.pause_reason = reason
        elif trigger is AgentTrigger.READY or target not in (
            AgentState.PAUSED,
            AgentState.DEVICE_UNAVAILABLE,
        ):
            self.pause_reason = None
        if target not in (
            AgentState.OFFERED,
            AgentState.BUSY_INBOUND,
            AgentState.BUSY_CALLBACK,
            AgentState.WRAP_UP,
        ):
            self.pending_pause = None
        # ``since`` of a ready agent is its idle start: a repeated READY must not reset it.
        if target is not previous or trigger in (AgentTrigger.PAUSE, AgentTrigger.NO_ANSWER):
            self.since = now
        self.state = target
        return AgentTransition(self.agent_id, previous, target, trigger, self.pause_reason, now)

    def record(self) -> AgentStateRecord:
        """The persisted form of this agent's state."""
        wrap_up_until = self.wrap_up_until if self.state is AgentState.WRAP_UP else None
        return AgentStateRecord(
            self.agent_id, self.state, self.pause_reason, self.since, self.work, wrap_up_until
        )


_CHANNEL_SUFFIX_RE = re.compile(r"-[0-9a-fA-F]{8}(?:;[12])?\Z")


def device_of_channel(channel: str) -> str:
    """The device a channel belongs to: ``Local/1001@agents-00000002;1`` -> ``Local/1001@agents``,
    ``PJSIP/1001-0000000a`` -> ``PJSIP/1001``; a device is returned unchanged."""
    return _CHANNEL_SUFFIX_RE.sub("", channel)


def device_extension(device: str) -> str:
    """The agent's number inside a device: ``Local/1001@agents`` -> ``1001``, ``PJSIP/1001`` -> ``1001``.

    The shipped dialplan's ``HotlineAgentFailed`` event names the agent this way.
    """
    _tech, _, rest = device.rpartition("/")
    return rest.partition("@")[0]

"""The dispatcher's own inputs, beside the PBX's domain events (:mod:`hotline.events`).

Agent commands come from the agents' desktops (MQTT), timers from the runner, callbacks from
the tickets workflow, action outcomes from the runner executing commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hotline.events import DomainEvent
from hotline.queue.commands import Command
from hotline.queue.work import CallbackKind, CallingHours


@dataclass(frozen=True, slots=True)
class AgentLogin:
    """The agent logs in (and is ready)."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentLogout:
    """The agent logs out (not allowed while its device rings or it is on a call)."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentReady:
    """The agent is ready for calls (ends a pause or the wrap-up)."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentPause:
    """The agent pauses with a reason code; during a call the pause starts when the call ends."""

    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AgentEndWrapUp:
    """The agent finished its after-call work early."""

    agent_id: str


AgentCommand = AgentLogin | AgentLogout | AgentReady | AgentPause | AgentEndWrapUp


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer the dispatcher armed (``StartTimer``) fired."""

    key: str


@dataclass(frozen=True, slots=True)
class ScheduleCallback:
    """Someone (the tickets workflow) asks for a callback; unset fields take ``[queue]``'s defaults.

    Idempotent by ``callback_id``: scheduling an id that is already pending changes nothing.
    """

    callback_id: str
    kind: CallbackKind
    number: str = field(repr=False)  # the citizen's: never in a repr
    due_at: float
    ticket_id: str | None = None
    max_attempts: int | None = None
    retry_spacing_s: float | None = None
    calling_hours: CallingHours | None = None


@dataclass(frozen=True, slots=True)
class CancelCallback:
    """Withdraw a pending callback (a callback in progress finishes its attempt first)."""

    callback_id: str
    reason: str = "cancelled"


@dataclass(frozen=True, slots=True)
class CallbackOriginated:
    """The runner sent the Originate of ``StartCallback(callback_id)``; its ActionID is ``action_id``.

    Lets the dispatcher tie ``OriginateResult(action_id)`` to the callback (a failed Originate
    carries no channel of ours).
    """

    callback_id: str
    action_id: str


@dataclass(frozen=True, slots=True)
class ActionFailed:
    """A command's PBX action failed (Asterisk said Error, it timed out, or nothing was sent).

    ``permanent``: retrying cannot help (e.g. a number that cannot be dialled safely).
    ``uncertain``: the action was sent but its response never came (timeout, connection lost):
    Asterisk may have carried it out, so it must not be sent again blindly; the PBX's events,
    a resync or the dispatcher's own timers settle it.
    """

    command: Command
    error: str
    permanent: bool = False
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class FlagCall:
    """The escalation desk flagged a live inbound call: it moves to the urgent class at once.

    Whatever the call's phase: waiting (re-placed in the queue), ringing an agent or held back
    (it keeps the class when it goes back to the queue).  ``level``: "urgent" or "sensitive".
    """

    call_id: str
    level: str
    reasons: tuple[str, ...] = ()


QueueInput = (
    DomainEvent
    | FlagCall
    | AgentCommand
    | TimerFired
    | ScheduleCallback
    | CancelCallback
    | CallbackOriginated
    | ActionFailed
)

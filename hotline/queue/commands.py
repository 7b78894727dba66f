"""Commands: what the dispatcher asks the outside world to do.

:meth:`hotline.queue.dispatcher.Dispatcher.handle` returns a list of these, in the order they
must be carried out.  The async runner executes them: PBX actions through
``hotline.pbx_bridge.actions.PbxActions``, records through the store, lines through the logger,
timers with the event loop.  The dispatcher never waits for a command's result; when a PBX
action fails, the runner feeds :class:`hotline.queue.inputs.ActionFailed` back in, and when an
Originate was sent, :class:`hotline.queue.inputs.CallbackOriginated` with its ActionID.

Timers: ``StartTimer(key, at)`` (re)arms the one timer named ``key`` to fire at ``at`` (the
dispatcher's clock: POSIX seconds, ``time.time()``), replacing any timer of the same key;
``CancelTimer(key)`` disarms it (no error if unknown).  When a timer fires, the runner feeds
``TimerFired(key)``.  A timer that fires late, or after it was replaced, is harmless: the
dispatcher checks that the state it guards is still there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hotline.queue.agents import AgentStateRecord
from hotline.queue.work import Callback, CallbackKind, CallRecord, LiveCall


@dataclass(frozen=True, slots=True)
class ConnectCallToAgent:
    """Ring ``device`` for the waiting inbound call on ``channel``.

    Runner: ``PbxActions.redirect_to_agent(channel, agent_id, device, ring_timeout_s=...)``
    (Setvar ``HOTLINE_AGENT_DEVICE`` and ``RING_TIMEOUT``, then Redirect to the connect
    context).  On failure feed ``ActionFailed(command, error)``.
    """

    call_id: str
    channel: str
    agent_id: str
    device: str
    ring_timeout_s: int


@dataclass(frozen=True, slots=True)
class ReturnCallToHold:
    """Take the inbound call on ``channel`` back to music on hold (out of a dial that rings a
    phone found unreachable), when no other agent takes it at once.

    Runner: ``PbxActions.return_to_hold(channel)`` (Redirect to the hold extension).  On failure
    feed ``ActionFailed(command, error)``: the dial then ends by its ring timeout, and the
    dialplan puts the caller back on hold by itself.
    """

    call_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class StartCallback:
    """Originate a callback: ring the agent's ``device`` first, then the dialplan dials ``number``.

    Runner: ``action_id = await PbxActions.originate_callback(callback_id, device, number,
    agent_ring_timeout_s=ring_timeout_s, citizen_timeout_s=citizen_timeout_s)`` then feed
    ``CallbackOriginated(callback_id, action_id)``; on failure feed ``ActionFailed(command,
    error, permanent=<the number or agent id cannot be dialled>)``.  The Originate must set
    ``HOTLINE_CALLBACK_ID=callback_id`` on its channels (``originate_callback`` does).
    """

    callback_id: str
    attempt: int
    agent_id: str
    device: str
    number: str = field(repr=False)  # the citizen's: never in a repr
    kind: CallbackKind
    ticket_id: str | None
    ring_timeout_s: int
    citizen_timeout_s: int


@dataclass(frozen=True, slots=True)
class CancelCallbackDial:
    """Pre-emption: hang up the callback's ``channel`` (its originated leg) so the dial stops.

    Runner: ``PbxActions.hangup(channel)``.  The call then ends (``CallEnded``), which frees the
    agent for the inbound call that waits.
    """

    callback_id: str
    call_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class HangupChannel:
    """Hang up ``channel`` (a call the PBX did not settle in time).  Runner: ``PbxActions.hangup``."""

    channel: str
    call_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)arm timer ``key`` to fire at ``at`` (POSIX seconds); feed ``TimerFired(key)`` then."""

    key: str
    at: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Disarm timer ``key`` if armed."""

    key: str


@dataclass(frozen=True, slots=True)
class PersistAgentState:
    """Store the agent's state (and publish it to the agent's desktop, if the runner does MQTT).

    Restart: pass the latest record per agent to ``Dispatcher(restored_agents=...)``.
    """

    record: AgentStateRecord


@dataclass(frozen=True, slots=True)
class PersistCallback:
    """Store the callback as it now is (insert or replace by ``callback_id``), history included.

    Restart: pass every callback whose ``status.open`` is true to ``Dispatcher(pending_callbacks=...)``.
    """

    callback: Callback


@dataclass(frozen=True, slots=True)
class RecordCall:
    """Store the record of a finished call (one per call id and attempt)."""

    record: CallRecord


@dataclass(frozen=True, slots=True)
class TrackCall:
    """Write ahead what is now known of a live call (the store completes its record field by field).

    Restart: pass the records still live to ``Dispatcher(live_calls=...)``.
    """

    call: LiveCall


@dataclass(frozen=True, slots=True)
class RejectAgentCommand:
    """Tell the agent its command was refused (e.g. an error reply on MQTT); ``reason`` says why."""

    agent_id: str
    command: str
    reason: str


@dataclass(frozen=True, slots=True)
class Log:
    """Write one structured log line: ``event`` with ``fields`` (the logger masks numbers)."""

    event: str
    fields: Mapping[str, object] = field(default_factory=dict)
    level: str = "info"


Command = (
    ConnectCallToAgent
    | ReturnCallToHold
    | StartCallback
    | CancelCallbackDial
    | HangupChannel
    | StartTimer
    | CancelTimer
    | PersistAgentState
    | PersistCallback
    | RecordCall
    | TrackCall
    | RejectAgentCommand
    | Log
)

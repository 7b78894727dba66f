"""The dispatcher: the single owner of the queue's live state, sans-I/O.

``Dispatcher.handle(event, now) -> list[Command]``: an event in (a PBX domain event from
:mod:`hotline.events`, or a queue input from :mod:`hotline.queue.inputs`), the time passed in,
commands out (:mod:`hotline.queue.commands`), in the order they must be carried out.  No awaits,
no clock reads, no I/O: the async runner feeds events one at a time, in arrival order, and
executes the commands.

It copes with the PBX as it really behaves (see ``../shared/ami-transcripts``): events for one
call arrive in varying orders (``OriginateResponse`` before or after the dials it reports; an
agent's ``DialEnd`` and the dialplan's ``HotlineAgentFailed`` both reporting one ring-no-answer;
a ``DialBegin`` with no ``DialEnd``), duplicates, and events for calls it never heard of.  An
event that does not fit the state is logged (``queue.event_ignored``) and ignored, never raised.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from hotline.events import (
    AgentDialEnded,
    AgentDialFailed,
    AgentRinging,
    CallAbandoned,
    CallArrived,
    CallbackLegCreated,
    CallBridged,
    CallEnded,
    CitizenDialEnded,
    CitizenRinging,
    DeviceStateChanged,
    Direction,
    EndReason,
    OriginateResult,
    PbxConnected,
    PbxDisconnected,
)
from hotline.queue.agents import (
    PAUSE_NO_ANSWER,
    Agent,
    AgentState,
    AgentStateRecord,
    AgentTrigger,
    IllegalAgentTransition,
    device_extension,
    device_of_channel,
)
from hotline.queue.commands import (
    CancelCallbackDial,
    CancelTimer,
    Command,
    ConnectCallToAgent,
    HangupChannel,
    Log,
    PersistAgentState,
    PersistCallback,
    RecordCall,
    RejectAgentCommand,
    StartCallback,
    StartTimer,
)
from hotline.queue.inputs import (
    ActionFailed,
    AgentEndWrapUp,
    AgentLogin,
    AgentLogout,
    AgentPause,
    AgentReady,
    CallbackOriginated,
    CancelCallback,
    FlagCall,
    QueueInput,
    ScheduleCallback,
    TimerFired,
)
from hotline.queue.router import AgentChoice, OfferCall, OfferCallback, PreemptCallback, Router
from hotline.queue.work import (
    AttemptOutcome,
    Callback,
    CallbackAttempt,
    CallbackKind,
    CallbackStatus,
    CallingHours,
    CallOutcome,
    CallRecord,
    PriorityClass,
    WaitingCall,
    attempt_outcome_of,
    priority_class_of,
)
from hotline.settings import AgentConfig, QueueSettings, Settings

#: Device states that mean the agent cannot be reached.
DEVICE_DOWN_STATES = frozenset({"UNAVAILABLE", "INVALID"})
#: Device states that say nothing either way.
DEVICE_UNKNOWN_STATES = frozenset({"UNKNOWN", ""})
#: Pause reason when the agent's device could not be dialled at all.
PAUSE_DIAL_FAILED = "dial_failed"
#: OriginateResponse reasons that mean the agent leg rang out or was busy/rejected.
_AGENT_NO_ANSWER_REASONS = frozenset({1, 3, 5})
_DIALLABLE_RE = re.compile(r"\+?[0-9]{3,20}\Z")
_FINISHED_MEMORY = 20_000


class QueueConfigError(ValueError):
    """The agents' configuration cannot work (duplicate ids or devices)."""


class CallPhase(enum.StrEnum):
    """Where a live inbound call is, as the queue sees it."""

    WAITING = "waiting"  # on hold, in the router
    OFFERED = "offered"  # an agent's device rings for it
    HELD_BACK = "held_back"  # the Redirect failed: on hold, offered again after a short pause
    ANSWERED = "answered"


class AttemptPhase(enum.IntEnum):
    """How far a callback attempt got; it only moves forward."""

    STARTING = 0  # Originate sent: the agent's device rings
    CITIZEN_DIALING = 1  # the agent answered: the citizen is being dialled
    CITIZEN_RINGING = 2
    TALKING = 3


@dataclass(slots=True)
class _InboundCall:
    call: WaitingCall
    phase: CallPhase = CallPhase.WAITING
    agent_id: str | None = None
    agent_channel: str | None = None
    offered_at: float | None = None
    answered_at: float | None = None


@dataclass(slots=True)
class _Attempt:
    attempt_id: str
    callback_id: str
    number: str = field(repr=False)  # the citizen's: never in a repr
    kind: CallbackKind
    ticket_id: str | None
    due_at: float
    agent_id: str
    started_at: float
    phase: AttemptPhase = AttemptPhase.STARTING
    call_id: str | None = None
    channel: str | None = None
    action_id: str | None = None
    outcome: AttemptOutcome | None = None
    answered_at: float | None = None
    preempt_skill: str | None = None
    preempting: bool = False
    cancel_requested: str | None = None
    give_up: str | None = None  # close the callback as failed whatever the outcome
    agent_done: bool = False  # the agent has left this attempt
    uncertain: bool = False  # the Originate got no answer: it may or may not have dialled

    @classmethod
    def of(cls, callback: Callback, agent_id: str, now: float) -> _Attempt:
        """The next attempt of ``callback`` (``<id>#<n>``, n counting every start so far)."""
        return cls(
            f"{callback.callback_id}#{len(callback.history) + 1}",
            callback.callback_id,
            callback.number,
            callback.kind,
            callback.ticket_id,
            callback.due_at,
            agent_id,
            now,
        )


@dataclass(slots=True)
class DispatcherStats:
    """Counters since start, for the demo's summary and the benchmarks."""

    calls_arrived: int = 0
    offers: int = 0
    ring_no_answer: int = 0
    calls_answered: int = 0
    answered_within_threshold: int = 0
    total_answer_wait_s: float = 0.0
    calls_abandoned: int = 0
    calls_lost: int = 0
    callbacks_scheduled: int = 0
    callbacks_started: int = 0
    callbacks_reached: int = 0
    callbacks_failed: int = 0
    callbacks_cancelled: int = 0
    callbacks_preempted: int = 0
    #: Must stay 0: callbacks started while an inbound call waited that their agent could take.
    callbacks_started_while_inbound_waited: int = 0

    @property
    def service_level(self) -> float | None:
        """Share of answered calls answered within the threshold (None before the first)."""
        return self.answered_within_threshold / self.calls_answered if self.calls_answered else None

    @property
    def average_speed_of_answer_s(self) -> float | None:
        """Mean wait of the answered calls."""
        return self.total_answer_wait_s / self.calls_answered if self.calls_answered else None


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The figures of a ``queue.snapshot`` line."""

    waiting_inbound: int
    waiting_callbacks: int
    agents_ready: int
    agents_busy: int
    agents_wrap_up: int
    agents_paused: int
    agents_logged_in: int
    longest_wait_s: float


_TimerTarget = tuple[str, str]  # (kind, id)


class Dispatcher:
    """The queue's brain: events in, commands out.

    Construct it once at start with the configuration and what the store persisted, call
    :meth:`start` once, then :meth:`handle` for every event.  See the module docstring of
    :mod:`hotline.queue.commands` for how each command is carried out.
    """

    def __init__(
        self,
        queue: QueueSettings,
        agents: Sequence[AgentConfig],
        *,
        ring_timeout_s: int,
        citizen_timeout_s: int,
        restored_agents: Iterable[AgentStateRecord] = (),
        pending_callbacks: Iterable[Callback] = (),
        pbx_connected: bool = False,
        strict: bool = False,
    ) -> None:
        """Build the live state.

        ``ring_timeout_s``/``citizen_timeout_s``: how long an agent's device / a citizen rings
        (``[dialplan] ring_timeout_s`` and ``callback_timeout_s``).  ``restored_agents``: the
        latest persisted record per agent (``PersistAgentState``); agents without one start
        logged out, or ready when ``autologin``.  ``pending_callbacks``: every persisted
        callback still open.  ``pbx_connected``: False until ``PbxConnected`` arrives (nothing
        is routed while the PBX is away).  ``strict``: re-raise internal errors (tests) instead
        of logging them.
        """
        self._settings = queue
        self._ring_timeout_s = ring_timeout_s
        self._citizen_timeout_s = citizen_timeout_s
        self._strict = strict
        self._connected = pbx_connected
        self._started = False
        self._now = 0.0
        self._out: list[Command] = []
        start_min, end_min = queue.calling_hours_minutes()
        self._calling_hours = CallingHours(start_min, end_min, queue.utc_offset_h * 3600.0)
        self._router = Router(
            inbound_reserve=queue.inbound_reserve,
            preempt=queue.preempt_callbacks,
            agent_choice=AgentChoice(queue.agent_choice),
        )
        self._agents: dict[str, Agent] = {}
        self._configs: dict[str, AgentConfig] = {}
        self._by_device: dict[str, Agent] = {}
        self._by_token: dict[str, Agent] = {}
        for order, config in enumerate(agents):
            if config.id in self._agents:
                raise QueueConfigError(f"agent id {config.id!r} is configured twice")
            if config.device.lower() in self._by_device:
                raise QueueConfigError(f"device {config.device!r} is configured for two agents")
            agent = Agent(config.id, config.device, frozenset(config.skills), order)
            self._agents[config.id] = agent
            self._configs[config.id] = config
            self._by_device[config.device.lower()] = agent
            self._router.register_agent(config.id, config.skills, order)
        for agent in self._agents.values():
            self._by_token.setdefault(device_extension(agent.device), agent)
        for agent in self._agents.values():
            self._by_token[agent.agent_id] = agent
        self._restored = {record.agent_id: record for record in restored_agents}
        self._restored_callbacks = list(pending_callbacks)
        #: Callbacks the store says were under way when we stopped: held off the queue until
        #: the PBX's channel listing says whether their call still runs (CallbackLegCreated).
        self._unsettled: dict[str, Callback] = {}
        self._calls: dict[str, _InboundCall] = {}
        self._callbacks: dict[str, Callback] = {}  # open callbacks (pending or in progress)
        self._attempts: dict[str, _Attempt] = {}
        self._current_attempt: dict[str, str] = {}  # callback id -> attempt id
        self._attempt_by_call: dict[str, str] = {}
        self._attempt_by_action: dict[str, str] = {}
        self._return_by_number: dict[str, str] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._timers: dict[str, _TimerTarget] = {}  # armed key -> what it guards
        self._armed: dict[_TimerTarget, str] = {}  # what it guards -> armed key
        self._timer_generation = 0
        self._due_timer_at: float | None = None
        self._stats = DispatcherStats()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        restored_agents: Iterable[AgentStateRecord] = (),
        pending_callbacks: Iterable[Callback] = (),
        pbx_connected: bool = False,
    ) -> Dispatcher:
        """A dispatcher configured from the service's settings."""
        return cls(
            settings.queue,
            settings.agents,
            ring_timeout_s=settings.dialplan.ring_timeout_s,
            citizen_timeout_s=settings.dialplan.callback_timeout_s,
            restored_agents=restored_agents,
            pending_callbacks=pending_callbacks,
            pbx_connected=pbx_connected,
        )

    # -- read-only views -----------------------------------------------------------------

    @property
    def stats(self) -> DispatcherStats:
        """A copy of the counters."""
        return dataclasses.replace(self._stats)

    @property
    def pbx_connected(self) -> bool:
        """True while the PBX link is up (routing happens only then)."""
        return self._connected

    def agent(self, agent_id: str) -> AgentStateRecord | None:
        """The agent's current state."""
        agent = self._agents.get(agent_id)
        return agent.record() if agent else None

    def agents(self) -> list[AgentStateRecord]:
        """Every agent's current state, in configured order."""
        return [agent.record() for agent in self._agents.values()]

    def waiting_calls(self) -> list[WaitingCall]:
        """The inbound calls waiting on hold (any order)."""
        return list(self._router.waiting_calls())

    def callbacks(self) -> list[Callback]:
        """Every open callback (pending or in progress)."""
        return list(self._callbacks.values())

    def snapshot(self, now: float) -> QueueSnapshot:
        """The queue's figures at ``now`` (O(n) in waiting calls: meant for every few seconds)."""
        counts: dict[AgentState, int] = {}
        for agent in self._agents.values():
            counts[agent.state] = counts.get(agent.state, 0) + 1
        longest = max((now - call.enqueued_at for call in self._router.waiting_calls()), default=0.0)
        return QueueSnapshot(
            waiting_inbound=self._router.waiting_count,
            waiting_callbacks=self._router.callback_count,
            agents_ready=counts.get(AgentState.READY, 0),
            agents_busy=sum(
                counts.get(s, 0)
                for s in (AgentState.OFFERED, AgentState.BUSY_INBOUND, AgentState.BUSY_CALLBACK)
            ),
            agents_wrap_up=counts.get(AgentState.WRAP_UP, 0),
            agents_paused=counts.get(AgentState.PAUSED, 0),
            agents_logged_in=len(self._agents) - counts.get(AgentState.LOGGED_OUT, 0),
            longest_wait_s=round(max(longest, 0.0), 3),
        )

    # -- entry points --------------------------------------------------------------------

    def start(self, now: float) -> list[Command]:
        """Restore agents and callbacks, arm the periodic timers; returns the commands to run.

        Called once before the first :meth:`handle` (``handle`` calls it if it was not).
        """
        self._out = []
        self._now = now
        if not self._started:
            self._started = True
            self._restore()
            self._after_event()
        return self._out

    def handle(self, event: QueueInput, now: float) -> list[Command]:
        """Apply one event at time ``now``; returns the commands to carry out, in order."""
        if not self._started:
            out = self.start(now)
        else:
            out = []
        self._out = out
        self._now = max(now, self._now)  # a clock that steps back must not reorder the queue
        try:
            self._dispatch(event)
            self._after_event()
        except Exception as exc:
            if self._strict:
                raise
            out.append(
                Log(
                    "queue.internal_error",
                    {"input": type(event).__name__, "error": repr(exc)},
                    level="error",
                )
            )
        return out

    # -- plumbing ------------------------------------------------------------------------

    def _emit(self, command: Command) -> None:
        self._out.append(command)

    def _log(self, event: str, level: str = "info", **fields: object) -> None:
        self._out.append(Log(event, fields, level))

    def _ignore(self, event: object, why: str, **fields: object) -> None:
        self._log("queue.event_ignored", "debug", input=type(event).__name__, why=why, **fields)

    def _arm(self, kind: str, ident: str, at: float) -> None:
        """(Re)arm the timer of (kind, ident).  Keys carry a generation, so a timer that fires
        after it was replaced or cancelled can never be mistaken for the current one."""
        self._disarm(kind, ident)
        self._timer_generation += 1
        key = f"{kind}:{ident}:{self._timer_generation}" if ident else f"{kind}:{self._timer_generation}"
        self._timers[key] = (kind, ident)
        self._armed[(kind, ident)] = key
        self._emit(StartTimer(key, at))

    def _disarm(self, kind: str, ident: str) -> None:
        key = self._armed.pop((kind, ident), None)
        if key is not None:
            del self._timers[key]
            self._emit(CancelTimer(key))

    def _remember_finished(self, call_id: str) -> None:
        self._finished[call_id] = None
        if len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)

    def _agent_for_device(self, device: str) -> Agent | None:
        agent = self._by_device.get(device.lower())
        if agent is None:
            agent = self._by_device.get(device_of_channel(device).lower())
        return agent

    def _agent_for_token(self, token: str) -> Agent | None:
        return self._by_token.get(token) or self._agent_for_device(token)

    def _after_event(self) -> None:
        if self._connected:
            self._route()
        at = self._router.next_callback_at(self._now)
        if at != self._due_timer_at:
            self._due_timer_at = at
            if at is None:
                self._disarm("callbacks_due", "")
            else:
                self._arm("callbacks_due", "", at)

    def _dispatch(self, event: QueueInput) -> None:
        match event:
            case CallArrived():
                self._on_call_arrived(event)
            case CallAbandoned():
                self._on_call_abandoned(event)
            case AgentRinging():
                self._on_agent_ringing(event)
            case AgentDialEnded():
                self._on_agent_dial_ended(event)
            case AgentDialFailed():
                self._on_agent_dial_failed(event)
            case CallBridged():
                self._on_call_bridged(event)
            case CitizenRinging():
                self._on_citizen_ringing(event)
            case CitizenDialEnded():
                self._on_citizen_dial_ended(event)
            case CallbackLegCreated():
                self._on_callback_leg_created(event)
            case OriginateResult():
                self._on_originate_result(event)
            case CallEnded():
                self._on_call_ended(event)
            case DeviceStateChanged():
                self._on_device_state(event)
            case PbxConnected():
                self._connected = True
                self._release_unsettled()
                self._log(
                    "queue.pbx_connected", channels=event.channels, waiting_inbound=self._router.waiting_count
                )
            case PbxDisconnected():
                self._connected = False
                self._log("queue.pbx_disconnected", "warning", reason=event.reason)
            case AgentLogin() | AgentLogout() | AgentReady() | AgentPause() | AgentEndWrapUp():
                self._on_agent_command(event)
            case TimerFired():
                self._on_timer(event.key)
            case ScheduleCallback():
                self._on_schedule_callback(event)
            case CancelCallback():
                self._on_cancel_callback(event)
            case CallbackOriginated():
                self._on_callback_originated(event)
            case ActionFailed():
                self._on_action_failed(event)
            case FlagCall():
                self._on_flag_call(event)
            case _:
                self._ignore(event, "unknown input type")

    # -- agents --------------------------------------------------------------------------

    def _transition(self, agent: Agent, trigger: AgentTrigger, reason: str | None = None) -> bool:
        """Apply a trigger and keep the router, timers, store and log in step."""
        previous_state, previous_reason = agent.state, agent.pause_reason
        try:
            agent.apply(trigger, self._now, reason)
        except IllegalAgentTransition as exc:
            self._log(
                "queue.inconsistent",
                "warning",
                agent_id=agent.agent_id,
                state=exc.from_state.value,
                trigger=exc.trigger.value,
            )
            return False
        if agent.state is AgentState.READY and not agent.device_available:
            agent.apply(AgentTrigger.DEVICE_LOST, self._now)  # it was lost while busy
        state = agent.state
        if state is AgentState.READY and previous_state is not AgentState.READY:
            self._router.set_agent_ready(agent.agent_id, agent.since)
        elif previous_state is AgentState.READY and state is not AgentState.READY:
            self._router.set_agent_not_ready(agent.agent_id)
        if previous_state is AgentState.WRAP_UP and state is not AgentState.WRAP_UP:
            self._disarm("wrap_up", agent.agent_id)
        if state is previous_state and agent.pause_reason == previous_reason:
            return True
        self._emit(PersistAgentState(agent.record()))
        self._log(
            "agent.state",
            agent_id=agent.agent_id,
            state=state.value,
            previous=previous_state.value,
            trigger=trigger.value,
            reason=agent.pause_reason,
        )
        if state is AgentState.WRAP_UP and previous_state is not AgentState.WRAP_UP:
            if self._settings.wrap_up_s > 0:
                self._arm("wrap_up", agent.agent_id, self._now + self._settings.wrap_up_s)
            else:
                self._end_wrap_up(agent)
        return True

    def _end_wrap_up(self, agent: Agent) -> None:
        if agent.pending_pause:
            self._transition(agent, AgentTrigger.PAUSE, agent.pending_pause)
        else:
            self._transition(agent, AgentTrigger.END_WRAP_UP)

    def _release(self, agent: Agent, trigger: AgentTrigger) -> None:
        """The agent's work is over: wrap-up (after a conversation) or straight back to ready."""
        agent.work = None
        pending = agent.pending_pause
        self._transition(agent, trigger)
        if pending and agent.state is AgentState.READY:
            self._transition(agent, AgentTrigger.PAUSE, pending)

    def _restore(self) -> None:
        for agent in self._agents.values():
            record = self._restored.get(agent.agent_id)
            config = self._configs[agent.agent_id]
            if record is None:
                state = AgentState.READY if config.autologin else AgentState.LOGGED_OUT
                reason = None
            elif record.state in (AgentState.LOGGED_OUT, AgentState.READY, AgentState.PAUSED):
                state, reason = record.state, record.pause_reason
            elif record.state is AgentState.DEVICE_UNAVAILABLE:
                # Device states are only reported on change: assume it is back; a failed offer
                # pauses the agent again if it is not.
                state = AgentState.PAUSED if record.pause_reason else AgentState.READY
                reason = record.pause_reason
            else:
                # It was on a call or in wrap-up: give it a wrap-up; a resync that finds it
                # bridged attaches it to that call.
                state, reason = AgentState.WRAP_UP, None
            agent.state, agent.pause_reason, agent.since = state, reason, self._now
            self._emit(PersistAgentState(agent.record()))
            if state is not AgentState.LOGGED_OUT:
                self._log(
                    "agent.state",
                    agent_id=agent.agent_id,
                    state=state.value,
                    trigger="restore",
                    reason=reason,
                )
            if state is AgentState.READY:
                self._router.set_agent_ready(agent.agent_id, self._now)
            elif state is AgentState.WRAP_UP:
                self._arm("wrap_up", agent.agent_id, self._now + self._settings.wrap_up_s)
        for callback in self._restored_callbacks:
            if not callback.status.open or callback.callback_id in self._callbacks:
                continue
            if not _DIALLABLE_RE.match(callback.number):
                self._reject_callback(callback)
                continue
            self._callbacks[callback.callback_id] = callback
            if callback.kind is CallbackKind.RETURN_CALL:
                self._return_by_number[callback.number] = callback.callback_id
            if callback.status is CallbackStatus.IN_PROGRESS:
                self._unsettled[callback.callback_id] = callback
            else:
                self._router.add_callback(callback, self._now)
        self._restored_callbacks = []
        if self._connected:
            self._release_unsettled()
        if self._settings.snapshot_interval_s > 0:
            self._arm("snapshot", "", self._now + self._settings.snapshot_interval_s)

    def _release_unsettled(self) -> None:
        """The PBX has listed its channels: a restored callback whose call was not found died
        with the restart.  That attempt does not count; the callback is due again."""
        for callback in self._unsettled.values():
            aborted = CallbackAttempt(self._now, self._now, "", AttemptOutcome.ABORTED, "restart")
            callback = replace(callback, status=CallbackStatus.PENDING, history=(*callback.history, aborted))
            self._callbacks[callback.callback_id] = callback
            self._emit(PersistCallback(callback))
            self._router.add_callback(callback, self._now)
            self._log(
                "callback.resumed", callback_id=callback.callback_id, why="its call ended with the restart"
            )
        self._unsettled.clear()

    def _reject_callback(self, callback: Callback) -> None:
        """A callback that cannot be dialled is closed as failed, so its ticket moves on."""
        callback = replace(callback, status=CallbackStatus.FAILED, closed_reason="invalid_number")
        self._stats.callbacks_failed += 1
        self._emit(PersistCallback(callback))
        self._log(
            "callback.rejected", "warning", callback_id=callback.callback_id, why="number cannot be dialled"
        )

    def _on_agent_command(
        self, command: AgentLogin | AgentLogout | AgentReady | AgentPause | AgentEndWrapUp
    ) -> None:
        name = type(command).__name__
        agent = self._agents.get(command.agent_id)
        if agent is None:
            self._emit(RejectAgentCommand(command.agent_id, name, "unknown agent"))
            return
        state = agent.state
        match command:
            case AgentLogin():
                if state is AgentState.LOGGED_OUT:
                    self._transition(agent, AgentTrigger.LOGIN)  # straight to unavailable if so
                    return
                if state in (AgentState.READY, AgentState.PAUSED):
                    return  # already in: harmless repeat
                self._emit(RejectAgentCommand(agent.agent_id, name, f"already logged in ({state.value})"))
            case AgentLogout():
                if not agent.can(AgentTrigger.LOGOUT):
                    self._emit(RejectAgentCommand(agent.agent_id, name, f"not allowed while {state.value}"))
                    return
                self._transition(agent, AgentTrigger.LOGOUT)
            case AgentReady():
                if state in (AgentState.OFFERED, AgentState.BUSY_INBOUND, AgentState.BUSY_CALLBACK):
                    agent.pending_pause = None  # ready after this call, not paused
                    return
                if not agent.can(AgentTrigger.READY):
                    self._emit(RejectAgentCommand(agent.agent_id, name, f"not allowed while {state.value}"))
                    return
                self._transition(agent, AgentTrigger.READY)
            case AgentPause():
                reason = command.reason.strip()
                if not reason:
                    self._emit(RejectAgentCommand(agent.agent_id, name, "a pause needs a reason code"))
                    return
                if state in (AgentState.OFFERED, AgentState.BUSY_INBOUND, AgentState.BUSY_CALLBACK):
                    agent.pending_pause = reason  # starts when the call (and wrap-up) ends
                    self._log("agent.pause_pending", agent_id=agent.agent_id, reason=reason)
                    return
                if not agent.can(AgentTrigger.PAUSE):
                    self._emit(RejectAgentCommand(agent.agent_id, name, f"not allowed while {state.value}"))
                    return
                self._transition(agent, AgentTrigger.PAUSE, reason)
            case AgentEndWrapUp():
                if state is not AgentState.WRAP_UP:
                    self._emit(RejectAgentCommand(agent.agent_id, name, f"not in wrap-up ({state.value})"))
                    return
                self._end_wrap_up(agent)

    def _on_device_state(self, event: DeviceStateChanged) -> None:
        agent = self._agent_for_device(event.device)
        if agent is None:
            return  # citizens' and other devices: none of our business
        state = event.state.strip().upper()
        if state in DEVICE_UNKNOWN_STATES:
            return
        if state in DEVICE_DOWN_STATES:
            agent.device_available = False
            if agent.can(AgentTrigger.DEVICE_LOST):
                self._transition(agent, AgentTrigger.DEVICE_LOST)
            return
        agent.device_available = True
        if agent.state is AgentState.DEVICE_UNAVAILABLE:
            if agent.pause_reason:
                self._transition(agent, AgentTrigger.DEVICE_BACK_PAUSED, agent.pause_reason)
            else:
                self._transition(agent, AgentTrigger.DEVICE_BACK)

    # -- routing -------------------------------------------------------------------------

    def _route(self) -> None:
        router = self._router
        while (decision := router.route_next(self._now)) is not None:
            match decision:
                case OfferCall():
                    self._offer(decision.call, self._agents[decision.agent_id])
                case OfferCallback():
                    self._start_callback(decision.callback, self._agents[decision.agent_id])
                case PreemptCallback():
                    self._preempt(self._agents[decision.agent_id], decision.skill)

    def _offer(self, call: WaitingCall, agent: Agent) -> None:
        live = self._calls[call.call_id]
        call = replace(call, offers=call.offers + 1)
        live.call, live.phase, live.agent_id, live.offered_at = (
            call,
            CallPhase.OFFERED,
            agent.agent_id,
            self._now,
        )
        live.agent_channel = None
        agent.work = call.call_id
        self._transition(agent, AgentTrigger.OFFER_INBOUND)
        self._stats.offers += 1
        self._emit(
            ConnectCallToAgent(call.call_id, call.channel, agent.agent_id, agent.device, self._ring_timeout_s)
        )
        self._arm("offer", call.call_id, self._now + self._ring_timeout_s + self._settings.pbx_grace_s)
        self._log(
            "call.offered",
            call_id=call.call_id,
            agent_id=agent.agent_id,
            priority=call.priority.name.lower(),
            offer=call.offers,
            wait_s=round(self._now - call.enqueued_at, 3),
        )

    def _start_callback(self, callback: Callback, agent: Agent) -> None:
        start_no = len(callback.history) + 1
        attempt_id = f"{callback.callback_id}#{start_no}"
        if self._router.may_take_waiting_call(agent.agent_id):
            self._stats.callbacks_started_while_inbound_waited += 1  # an invariant broke: be loud
            self._log(
                "queue.invariant_broken", "error", agent_id=agent.agent_id, callback_id=callback.callback_id
            )
        callback = replace(callback, status=CallbackStatus.IN_PROGRESS)
        self._callbacks[callback.callback_id] = callback
        attempt = _Attempt.of(callback, agent.agent_id, self._now)
        self._attempts[attempt_id] = attempt
        self._current_attempt[callback.callback_id] = attempt_id
        agent.work = attempt_id
        self._transition(agent, AgentTrigger.OFFER_CALLBACK)
        self._stats.callbacks_started += 1
        self._emit(PersistCallback(callback))
        self._emit(
            StartCallback(
                callback.callback_id,
                start_no,
                agent.agent_id,
                agent.device,
                callback.number,
                callback.kind,
                callback.ticket_id,
                self._ring_timeout_s,
                self._citizen_timeout_s,
            )
        )
        self._arm(
            "attempt",
            attempt_id,
            self._now + self._ring_timeout_s + self._citizen_timeout_s + self._settings.pbx_grace_s,
        )
        self._log(
            "callback.started",
            callback_id=callback.callback_id,
            agent_id=agent.agent_id,
            kind=callback.kind.value,
            attempt=callback.attempts + 1,
            start=start_no,
            ticket_id=callback.ticket_id,
            wait_s=round(max(self._now - callback.due_at, 0.0), 3),
        )

    def _preempt(self, agent: Agent, skill: str | None) -> None:
        attempt = self._attempts.get(agent.work or "")
        if attempt is None or attempt.outcome is not None or attempt.channel is None:
            self._router.preemption_finished(skill)
            self._log("queue.inconsistent", "warning", agent_id=agent.agent_id, why="nothing to pre-empt")
            return
        attempt.preempting = True
        attempt.preempt_skill = skill
        self._stats.callbacks_preempted += 1
        self._emit(CancelCallbackDial(attempt.callback_id, attempt.call_id or "", attempt.channel))
        self._log(
            "callback.preempted",
            callback_id=attempt.callback_id,
            agent_id=agent.agent_id,
            call_id=attempt.call_id,
            waiting_inbound=self._router.waiting_count,
        )
        self._resolve_attempt(attempt, AttemptOutcome.PREEMPTED, "")

    # -- inbound calls -------------------------------------------------------------------

    def _on_call_arrived(self, event: CallArrived) -> None:
        ringing = self._agent_for_token(event.ringing_agent) if event.ringing_agent else None
        live = self._calls.get(event.call_id)
        if live is not None:
            if event.resynced:
                self._on_call_found(live, ringing)
            return
        if event.call_id in self._finished or event.call_id in self._attempt_by_call:
            self._ignore(event, "call already handled", call_id=event.call_id)
            return
        call = WaitingCall(
            call_id=event.call_id,
            channel=event.channel,
            caller_number=event.caller_number,
            priority=priority_class_of(event.priority),
            # A call found by a resync has waited since before we saw it: keep its place.
            enqueued_at=self._now - max(event.waited_s, 0.0),
            caller_name=event.caller_name,
        )
        live = self._calls[event.call_id] = _InboundCall(call)
        self._stats.calls_arrived += 1
        if ringing is None or not self._attach_ringing(live, ringing):
            self._router.add_call(call)

    def _on_flag_call(self, event: FlagCall) -> None:
        """Escalation: the call jumps to the urgent class now, whatever its phase."""
        live = self._calls.get(event.call_id)
        if live is None:
            self._ignore(event, "not a live inbound call", call_id=event.call_id)
            return
        if live.call.priority is not PriorityClass.ESCALATED:
            live.call = replace(live.call, priority=PriorityClass.ESCALATED)
            if live.phase is CallPhase.WAITING and self._router.remove_call(event.call_id) is not None:
                self._router.add_call(live.call)
        self._log(
            "call.flagged",
            "warning",
            call_id=event.call_id,
            escalation_level=event.level,
            reasons=list(event.reasons),
            phase=live.phase.value,
        )

    def _on_call_found(self, live: _InboundCall, ringing: Agent | None) -> None:
        """A resync found a call we know unbridged: on hold, or dialling ``ringing``."""
        call_id = live.call.call_id
        match live.phase:
            case CallPhase.OFFERED:
                if ringing is not None and live.agent_id == ringing.agent_id:
                    return  # still ringing the agent it was offered to: the offer stands
                # Found back on hold (or ringing someone else): the offer is over, no one's fault.
                self._withdraw_offer(live, AgentTrigger.OFFER_WITHDRAWN)
            case CallPhase.ANSWERED:
                agent = self._agents.get(live.agent_id or "")
                if agent is not None and agent.work == call_id:
                    self._release(agent, AgentTrigger.CALL_ENDED)
                live.answered_at = None
            case CallPhase.WAITING:
                if ringing is None:
                    return
                self._router.remove_call(call_id)
            case CallPhase.HELD_BACK:
                if ringing is None:
                    return
                self._disarm("retry", call_id)
        if ringing is not None and self._attach_ringing(live, ringing):
            return
        self._requeue(live, "resync")

    def _attach_ringing(self, live: _InboundCall, agent: Agent) -> bool:
        """Treat a call found dialling ``agent`` as offered to it (it rings there now)."""
        if agent.work is not None or not agent.can(AgentTrigger.ATTACH_RINGING):
            return False
        call_id = live.call.call_id
        live.phase, live.agent_id, live.agent_channel, live.offered_at = (
            CallPhase.OFFERED,
            agent.agent_id,
            None,
            self._now,
        )
        agent.work = call_id
        self._transition(agent, AgentTrigger.ATTACH_RINGING)
        self._arm("offer", call_id, self._now + self._ring_timeout_s + self._settings.pbx_grace_s)
        self._log("call.attached", call_id=call_id, agent_id=agent.agent_id, ringing=True)
        return True

    def _requeue(self, live: _InboundCall, why: str) -> None:
        live.call = replace(live.call, returned=True)
        live.phase, live.agent_id, live.agent_channel = CallPhase.WAITING, None, None
        self._router.add_call(live.call)
        self._log("call.requeued", call_id=live.call.call_id, reason=why, offers=live.call.offers)

    def _withdraw_offer(self, live: _InboundCall, trigger: AgentTrigger, reason: str | None = None) -> None:
        """End the current offer of ``live``: the agent goes by ``trigger`` (ready, or paused)."""
        self._disarm("offer", live.call.call_id)
        agent = self._agents.get(live.agent_id or "")
        if agent is not None and agent.work == live.call.call_id:
            agent.work = None
            if trigger is AgentTrigger.NO_ANSWER:
                self._transition(agent, trigger, reason)
            else:
                self._release(agent, trigger)

    def _offered_to(self, live: _InboundCall | None, agent: Agent | None) -> bool:
        return (
            live is not None
            and live.phase is CallPhase.OFFERED
            and agent is not None
            and live.agent_id == agent.agent_id
        )

    def _on_agent_ringing(self, event: AgentRinging) -> None:
        agent = self._agent_for_device(event.device)
        if event.direction is Direction.CALLBACK:
            attempt = self._attempt_for(event.call_id, agent)
            if attempt is None:
                self._ignore(event, "no callback attempt", call_id=event.call_id)
            return
        live = self._calls.get(event.call_id)
        if not self._offered_to(live, agent):
            self._ignore(event, "not offered to this device", call_id=event.call_id, device=event.device)
            return
        assert live is not None
        live.agent_channel = event.agent_channel

    def _on_agent_dial_ended(self, event: AgentDialEnded) -> None:
        agent = self._agent_for_device(event.device)
        if event.direction is Direction.CALLBACK:
            attempt = self._attempt_for(event.call_id, agent)
            if attempt is None or attempt.phase is not AttemptPhase.STARTING or attempt.outcome is not None:
                self._ignore(event, "no callback attempt ringing its agent", call_id=event.call_id)
                return
            if event.answered:
                self._callback_agent_answered(attempt)
            elif event.dial_status.upper() != "CANCEL":
                self._callback_agent_failed(attempt, event.dial_status)
            return
        live = self._calls.get(event.call_id)
        if not self._offered_to(live, agent):
            self._ignore(event, "not offered to this device", call_id=event.call_id, device=event.device)
            return
        assert live is not None
        status = event.dial_status.upper()
        if event.answered:
            self._inbound_answered(live)
        elif status == "CANCEL":
            pass  # the caller hung up while it rang: CallAbandoned follows and settles it
        else:
            self._ring_no_answer(live, status)

    def _on_agent_dial_failed(self, event: AgentDialFailed) -> None:
        live = self._calls.get(event.call_id)
        if not self._offered_to(live, self._agent_for_token(event.agent)):
            # Usually the echo of an AgentDialEnded already handled.
            self._ignore(event, "not offered to this agent", call_id=event.call_id, agent=event.agent)
            return
        assert live is not None
        self._ring_no_answer(live, event.dial_status.upper())

    def _ring_no_answer(self, live: _InboundCall, status: str) -> None:
        agent_id = live.agent_id
        reason = PAUSE_NO_ANSWER if status in ("NOANSWER", "BUSY", "") else PAUSE_DIAL_FAILED
        self._withdraw_offer(live, AgentTrigger.NO_ANSWER, reason)
        self._stats.ring_no_answer += 1
        self._log("call.ring_no_answer", call_id=live.call.call_id, agent_id=agent_id, dial_status=status)
        self._requeue(live, "ring_no_answer")

    def _inbound_answered(self, live: _InboundCall) -> None:
        if live.phase is CallPhase.ANSWERED:
            return
        self._disarm("offer", live.call.call_id)
        live.phase, live.answered_at = CallPhase.ANSWERED, self._now
        agent = self._agents.get(live.agent_id or "")
        if agent is not None and agent.work == live.call.call_id:
            self._transition(agent, AgentTrigger.ANSWER_INBOUND)
        wait = self._now - live.call.enqueued_at
        self._stats.calls_answered += 1
        self._stats.total_answer_wait_s += wait
        if wait <= self._settings.service_level_threshold_s:
            self._stats.answered_within_threshold += 1
        self._log(
            "call.answered",
            call_id=live.call.call_id,
            agent_id=live.agent_id,
            wait_s=round(wait, 3),
            priority=live.call.priority.name.lower(),
            offers=live.call.offers,
        )
        self._close_return_calls(live.call.caller_number)

    def _close_return_calls(self, number: str) -> None:
        """The citizen got through: a pending return call to them is no longer owed."""
        callback_id = self._return_by_number.get(number)
        callback = self._callbacks.get(callback_id or "")
        if callback is not None and callback.status is CallbackStatus.PENDING:
            self._cancel_pending(callback, "called_again")

    def _on_call_abandoned(self, event: CallAbandoned) -> None:
        live = self._calls.get(event.call_id)
        if live is None:
            if event.call_id not in self._finished:
                self._ignore(event, "unknown call", call_id=event.call_id)
            return
        if live.phase is CallPhase.ANSWERED:
            self._ignore(event, "the call was answered", call_id=event.call_id)
            return
        self._end_unanswered(live, CallOutcome.ABANDONED, event.cause, EndReason.HANGUP)

    def _end_unanswered(
        self, live: _InboundCall, outcome: CallOutcome, cause: int, reason: EndReason
    ) -> None:
        call = live.call
        if live.phase is CallPhase.WAITING:
            self._router.remove_call(call.call_id)
        elif live.phase is CallPhase.OFFERED:
            self._withdraw_offer(live, AgentTrigger.OFFER_WITHDRAWN)
        elif live.phase is CallPhase.HELD_BACK:
            self._disarm("retry", call.call_id)
        del self._calls[call.call_id]
        self._remember_finished(call.call_id)
        if outcome is CallOutcome.LOST:
            self._stats.calls_lost += 1
        else:
            self._stats.calls_abandoned += 1
        wait = self._now - call.enqueued_at
        self._emit(
            RecordCall(
                CallRecord(
                    call_id=call.call_id,
                    direction=Direction.INBOUND,
                    number=call.caller_number,
                    started_at=call.enqueued_at,
                    ended_at=self._now,
                    outcome=outcome,
                    agent_id=None,
                    wait_s=round(wait, 3),
                    priority=call.priority,
                    offers=call.offers,
                    end_cause=cause,
                    end_reason=reason,
                )
            )
        )
        self._log("call.unanswered", call_id=call.call_id, outcome=outcome.value, wait_s=round(wait, 3))
        self._schedule_return_call(call)

    def _on_call_ended(self, event: CallEnded) -> None:
        attempt_id = self._attempt_by_call.get(event.call_id)
        if attempt_id is not None:
            self._on_callback_call_ended(self._attempts[attempt_id], event)
            return
        live = self._calls.get(event.call_id)
        if live is None:
            if event.call_id not in self._finished:
                self._ignore(event, "unknown call", call_id=event.call_id)
            return
        if live.phase is not CallPhase.ANSWERED:
            lost = event.reason is EndReason.LOST_DURING_DISCONNECT
            outcome = CallOutcome.LOST if lost else CallOutcome.ABANDONED
            self._end_unanswered(live, outcome, event.cause, event.reason)
            return
        call = live.call
        del self._calls[call.call_id]
        self._remember_finished(call.call_id)
        agent = self._agents.get(live.agent_id or "")
        if agent is not None and agent.work == call.call_id:
            self._release(agent, AgentTrigger.CALL_ENDED)
        answered_at = live.answered_at if live.answered_at is not None else self._now
        self._emit(
            RecordCall(
                CallRecord(
                    call_id=call.call_id,
                    direction=Direction.INBOUND,
                    number=call.caller_number,
                    started_at=call.enqueued_at,
                    ended_at=self._now,
                    outcome=CallOutcome.ANSWERED,
                    answered_at=answered_at,
                    agent_id=live.agent_id,
                    wait_s=round(answered_at - call.enqueued_at, 3),
                    priority=call.priority,
                    offers=call.offers,
                    end_cause=event.cause,
                    end_reason=event.reason,
                )
            )
        )

    def _on_call_bridged(self, event: CallBridged) -> None:
        attempt_id = self._attempt_by_call.get(event.call_id)
        if attempt_id is not None:
            attempt = self._attempts[attempt_id]
            if attempt.outcome is None:
                if attempt.phase is AttemptPhase.STARTING:
                    self._callback_agent_answered(attempt)
                self._callback_reached(attempt, "ANSWER")
            return
        live = self._calls.get(event.call_id)
        if live is not None and live.phase is CallPhase.OFFERED:
            self._inbound_answered(live)
            return
        if live is not None and live.phase is CallPhase.ANSWERED:
            return
        # A call we did not connect, bridged to one of our agents: a resync after a restart
        # (or a disconnect) found it.  Attach the agent so it is not offered another call.
        agent = next((a for a in map(self._agent_for_device, event.channels) if a is not None), None)
        if agent is None or not agent.can(AgentTrigger.ATTACH_INBOUND) or agent.work is not None:
            self._ignore(event, "no agent of ours to attach", call_id=event.call_id)
            return
        if live is None:
            if event.call_id in self._finished:
                self._ignore(event, "call already handled", call_id=event.call_id)
                return
            call = WaitingCall(
                call_id=event.call_id, channel=event.channels[0], caller_number="", enqueued_at=self._now
            )
            live = self._calls[event.call_id] = _InboundCall(call)
        elif live.phase is CallPhase.WAITING:
            self._router.remove_call(event.call_id)
        elif live.phase is CallPhase.HELD_BACK:
            self._disarm("retry", event.call_id)
        live.phase, live.agent_id, live.answered_at = CallPhase.ANSWERED, agent.agent_id, self._now
        agent.work = event.call_id
        self._transition(agent, AgentTrigger.ATTACH_INBOUND)
        self._log("call.attached", call_id=event.call_id, agent_id=agent.agent_id)

    # -- callbacks -----------------------------------------------------------------------

    def _on_schedule_callback(self, event: ScheduleCallback) -> None:
        if event.callback_id in self._callbacks:
            self._ignore(event, "callback already pending", callback_id=event.callback_id)
            return
        settings = self._settings
        callback = Callback(
            callback_id=event.callback_id,
            kind=event.kind,
            number=event.number.strip(),
            due_at=event.due_at,
            created_at=self._now,
            calling_hours=event.calling_hours or self._calling_hours,
            max_attempts=event.max_attempts or settings.callback_max_attempts,
            retry_spacing_s=(
                settings.callback_retry_spacing_s if event.retry_spacing_s is None else event.retry_spacing_s
            ),
            ticket_id=event.ticket_id,
        )
        if not _DIALLABLE_RE.match(callback.number):
            self._reject_callback(callback)
            return
        self._add_callback(callback)

    def _schedule_return_call(self, call: WaitingCall) -> None:
        number = call.caller_number.strip()
        if not _DIALLABLE_RE.match(number):
            self._log("callback.not_scheduled", call_id=call.call_id, why="no number to call back")
            return
        existing = self._callbacks.get(self._return_by_number.get(number, ""))
        if existing is not None:
            self._log(
                "callback.not_scheduled",
                call_id=call.call_id,
                why="a return call is already owed",
                callback_id=existing.callback_id,
            )
            return
        settings = self._settings
        self._add_callback(
            Callback(
                callback_id=f"rc-{call.call_id}",
                kind=CallbackKind.RETURN_CALL,
                number=number,
                due_at=self._now + settings.return_call_delay_s,
                created_at=self._now,
                calling_hours=self._calling_hours,
                max_attempts=settings.callback_max_attempts,
                retry_spacing_s=settings.callback_retry_spacing_s,
                origin_call_id=call.call_id,
            )
        )

    def _add_callback(self, callback: Callback) -> None:
        self._callbacks[callback.callback_id] = callback
        if callback.kind is CallbackKind.RETURN_CALL:
            self._return_by_number[callback.number] = callback.callback_id
        self._router.add_callback(callback, self._now)
        self._stats.callbacks_scheduled += 1
        self._emit(PersistCallback(callback))
        self._log(
            "callback.scheduled",
            callback_id=callback.callback_id,
            kind=callback.kind.value,
            number=callback.number,
            due_at=callback.due_at,
            ticket_id=callback.ticket_id,
            origin_call_id=callback.origin_call_id,
        )

    def _close_callback(self, callback: Callback) -> None:
        self._callbacks.pop(callback.callback_id, None)
        self._current_attempt.pop(callback.callback_id, None)
        if self._return_by_number.get(callback.number) == callback.callback_id:
            del self._return_by_number[callback.number]

    def _cancel_pending(self, callback: Callback, reason: str) -> None:
        self._router.remove_callback(callback.callback_id)
        callback = replace(callback, status=CallbackStatus.CANCELLED, closed_reason=reason)
        self._close_callback(callback)
        self._stats.callbacks_cancelled += 1
        self._emit(PersistCallback(callback))
        self._log("callback.cancelled", callback_id=callback.callback_id, reason=reason)

    def _on_cancel_callback(self, event: CancelCallback) -> None:
        callback = self._callbacks.get(event.callback_id)
        if callback is None:
            self._ignore(event, "no open callback", callback_id=event.callback_id)
        elif callback.status is CallbackStatus.PENDING or event.callback_id in self._unsettled:
            self._unsettled.pop(event.callback_id, None)
            self._cancel_pending(callback, event.reason)
        else:
            attempt = self._attempts.get(self._current_attempt.get(event.callback_id, ""))
            if attempt is not None:
                attempt.cancel_requested = event.reason  # the attempt under way finishes first

    def _attempt_for(self, call_id: str, agent: Agent | None) -> _Attempt | None:
        """The attempt a callback-side event is about: by call id, else by the agent it rings."""
        attempt_id = self._attempt_by_call.get(call_id)
        if attempt_id is not None:
            return self._attempts[attempt_id]
        if agent is None:
            return None
        attempt = self._attempts.get(agent.work or "")
        if attempt is None or attempt.call_id is not None or attempt.phase is not AttemptPhase.STARTING:
            return None
        self._link_call(attempt, call_id, None)
        return attempt

    def _link_call(self, attempt: _Attempt, call_id: str | None, channel: str | None) -> None:
        if call_id and attempt.call_id is None and call_id not in self._attempt_by_call:
            attempt.call_id = call_id
            self._attempt_by_call[call_id] = attempt.attempt_id
        if channel and attempt.channel is None:
            attempt.channel = channel
        self._update_preemptible(attempt)

    def _update_preemptible(self, attempt: _Attempt) -> None:
        if (
            self._router.preempt
            and attempt.outcome is None
            and attempt.channel is not None
            and attempt.phase in (AttemptPhase.CITIZEN_DIALING, AttemptPhase.CITIZEN_RINGING)
        ):
            self._router.set_preemptible(attempt.agent_id, attempt.started_at)
        else:
            self._router.clear_preemptible(attempt.agent_id)

    def _on_callback_leg_created(self, event: CallbackLegCreated) -> None:
        attempt = self._attempts.get(self._current_attempt.get(event.callback_id, ""))
        if attempt is None and event.callback_id in self._unsettled:
            self._resume_attempt(event, self._unsettled[event.callback_id])
            return
        if attempt is None and not self._agent_busy_on(event.channel):
            # A callback's call we have no attempt for, on a free agent's device: one that was
            # already answered (closed in the store) when we restarted.  Follow it to its end.
            self._resume_attempt(event, None)
            return
        if attempt is None:
            # Also what the captures' TICKET_ID marker gives: the agent's ringing links it.
            self._ignore(event, "no callback attempt with this id", callback_id=event.callback_id)
            return
        if attempt.call_id is not None and attempt.call_id != event.call_id:
            self._ignore(event, "attempt already has a call", callback_id=event.callback_id)
            return
        self._link_call(attempt, event.call_id, event.channel)

    def _agent_busy_on(self, channel: str) -> bool:
        agent = self._agent_for_device(channel)
        return agent is None or agent.work is not None

    def _resume_attempt(self, event: CallbackLegCreated, callback: Callback | None) -> None:
        """A callback's call still runs after a restart (a resync found its leg): take it up.

        ``callback`` is the restored open callback, or None for one already closed as reached.
        """
        agent = self._agent_for_device(event.channel)
        if agent is None or agent.work is not None or not agent.can(AgentTrigger.ATTACH_CALLBACK):
            self._ignore(event, "no free agent of ours on this leg", callback_id=event.callback_id)
            return
        if event.call_id in self._attempt_by_call or event.call_id in self._finished:
            self._ignore(event, "call already handled", callback_id=event.callback_id)
            return
        if callback is not None:
            del self._unsettled[callback.callback_id]
            attempt = _Attempt.of(callback, agent.agent_id, self._now)
            self._current_attempt[callback.callback_id] = attempt.attempt_id
        else:
            attempt = _Attempt(
                f"{event.callback_id}#resumed",
                event.callback_id,
                "",  # the citizen's number went with the closed callback
                CallbackKind.FOLLOW_UP,
                None,
                self._now,
                agent.agent_id,
                self._now,
            )
        attempt.phase = AttemptPhase.CITIZEN_DIALING  # the agent leg exists: answered, or about to be
        self._attempts[attempt.attempt_id] = attempt
        agent.work = attempt.attempt_id
        self._transition(agent, AgentTrigger.ATTACH_CALLBACK)
        self._link_call(attempt, event.call_id, event.channel)
        self._arm(
            "attempt",
            attempt.attempt_id,
            self._now + self._ring_timeout_s + self._citizen_timeout_s + self._settings.pbx_grace_s,
        )
        self._log(
            "callback.attached",
            callback_id=event.callback_id,
            agent_id=agent.agent_id,
            call_id=event.call_id,
            known=callback is not None,
        )

    def _on_callback_originated(self, event: CallbackOriginated) -> None:
        attempt = self._attempts.get(self._current_attempt.get(event.callback_id, ""))
        if attempt is None:
            self._ignore(event, "no callback attempt with this id", callback_id=event.callback_id)
            return
        attempt.action_id = event.action_id
        self._attempt_by_action[event.action_id] = attempt.attempt_id

    def _on_originate_result(self, event: OriginateResult) -> None:
        attempt_id = self._attempt_by_action.pop(event.action_id, None)
        attempt = self._attempts.get(attempt_id or "")
        if attempt is None and event.call_id:
            attempt = self._attempts.get(self._attempt_by_call.get(event.call_id, ""))
        if attempt is None:
            # A failed Originate names the dial string it was given: the agent's device.
            agent = self._agent_for_device(event.channel)
            candidate = self._attempts.get(agent.work or "") if agent is not None else None
            if candidate is not None and candidate.phase is AttemptPhase.STARTING:
                attempt = candidate
        if attempt is None:
            self._ignore(event, "no callback attempt", action_id=event.action_id)
            return
        if event.success:
            self._link_call(attempt, event.call_id, None)
            if attempt.phase is AttemptPhase.STARTING and attempt.outcome is None:
                self._callback_agent_answered(attempt)
            return
        if attempt.outcome is not None or attempt.phase is not AttemptPhase.STARTING:
            return  # already settled (e.g. the agent's BUSY DialEnd came first)
        status = {3: "NOANSWER", 5: "BUSY", 1: "NOANSWER"}.get(event.reason, f"REASON_{event.reason}")
        self._callback_agent_failed(attempt, status, no_answer=event.reason in _AGENT_NO_ANSWER_REASONS)

    def _callback_agent_answered(self, attempt: _Attempt) -> None:
        attempt.phase = max(attempt.phase, AttemptPhase.CITIZEN_DIALING)
        agent = self._agents[attempt.agent_id]
        if agent.work == attempt.attempt_id and agent.state is AgentState.OFFERED:
            self._transition(agent, AgentTrigger.ANSWER_CALLBACK)
        self._update_preemptible(attempt)

    def _callback_agent_failed(self, attempt: _Attempt, status: str, *, no_answer: bool = True) -> None:
        """The agent leg was not answered: the callback keeps its place, the agent is paused."""
        agent = self._agents[attempt.agent_id]
        self._resolve_attempt(attempt, AttemptOutcome.AGENT_NO_ANSWER, status)
        if agent.work == attempt.attempt_id:
            agent.work = None
            attempt.agent_done = True
            reason = PAUSE_NO_ANSWER if no_answer and status in ("NOANSWER", "BUSY") else PAUSE_DIAL_FAILED
            self._transition(agent, AgentTrigger.NO_ANSWER, reason)
        self._stats.ring_no_answer += 1
        self._finish_attempt_if_done(attempt)

    def _on_citizen_ringing(self, event: CitizenRinging) -> None:
        attempt = self._attempts.get(self._attempt_by_call.get(event.call_id, ""))
        if attempt is None or attempt.outcome is not None:
            self._ignore(event, "no callback attempt dialling", call_id=event.call_id)
            return
        if attempt.phase is AttemptPhase.STARTING:
            self._callback_agent_answered(attempt)  # the agent leg's answer was not reported
        attempt.phase = max(attempt.phase, AttemptPhase.CITIZEN_RINGING)
        self._update_preemptible(attempt)

    def _on_citizen_dial_ended(self, event: CitizenDialEnded) -> None:
        attempt = self._attempts.get(self._attempt_by_call.get(event.call_id, ""))
        if attempt is None or attempt.outcome is not None:
            self._ignore(event, "no callback attempt dialling", call_id=event.call_id)
            return
        if attempt.phase is AttemptPhase.STARTING:
            self._callback_agent_answered(attempt)
        outcome = attempt_outcome_of(event.dial_status)
        if outcome is AttemptOutcome.REACHED:
            self._callback_reached(attempt, event.dial_status)
        else:
            self._resolve_attempt(attempt, outcome, event.dial_status.upper())

    def _callback_reached(self, attempt: _Attempt, status: str) -> None:
        attempt.phase = AttemptPhase.TALKING
        attempt.answered_at = self._now
        self._disarm("attempt", attempt.attempt_id)  # a conversation may last
        self._resolve_attempt(attempt, AttemptOutcome.REACHED, status)

    def _resolve_attempt(self, attempt: _Attempt, outcome: AttemptOutcome, dial_status: str) -> None:
        """Record the attempt's result once and move the callback on (retry, done or back in place)."""
        if attempt.outcome is not None:
            return
        attempt.outcome = outcome
        self._router.clear_preemptible(attempt.agent_id)
        callback = self._callbacks.get(attempt.callback_id)
        if callback is None:
            return
        record = CallbackAttempt(
            attempt.started_at, self._now, attempt.agent_id, outcome, dial_status, attempt.call_id
        )
        history = (*callback.history, record)
        attempts = callback.attempts + (1 if outcome.counted else 0)
        next_due: float | None = None
        if outcome is AttemptOutcome.REACHED:
            callback = replace(callback, attempts=attempts, status=CallbackStatus.REACHED, history=history)
            self._stats.callbacks_reached += 1
        elif attempt.give_up:
            callback = replace(
                callback,
                attempts=attempts,
                status=CallbackStatus.FAILED,
                closed_reason=attempt.give_up,
                history=history,
            )
            self._stats.callbacks_failed += 1
        elif attempt.cancel_requested:
            callback = replace(
                callback,
                attempts=attempts,
                status=CallbackStatus.CANCELLED,
                closed_reason=attempt.cancel_requested,
                history=history,
            )
            self._stats.callbacks_cancelled += 1
        elif outcome.counted and attempts >= callback.max_attempts:
            callback = replace(
                callback,
                attempts=attempts,
                status=CallbackStatus.FAILED,
                closed_reason="attempts_exhausted",
                history=history,
            )
            self._stats.callbacks_failed += 1
        else:
            due_at = self._now + callback.retry_spacing_s if outcome.counted else callback.due_at
            callback = replace(
                callback, attempts=attempts, status=CallbackStatus.PENDING, due_at=due_at, history=history
            )
            next_due = due_at
        self._emit(PersistCallback(callback))
        if callback.status is CallbackStatus.PENDING:
            self._callbacks[callback.callback_id] = callback
            self._current_attempt.pop(callback.callback_id, None)
            self._router.add_callback(callback, self._now)
        elif callback.status is CallbackStatus.REACHED:
            self._callbacks[callback.callback_id] = callback  # closed when the conversation ends
        else:
            self._close_callback(callback)
        self._log(
            "callback.result",
            callback_id=callback.callback_id,
            agent_id=attempt.agent_id,
            outcome=outcome.value,
            dial_status=dial_status,
            counted=outcome.counted,
            attempts=callback.attempts,
            status=callback.status.value,
            next_due_at=next_due,
        )

    def _on_callback_call_ended(self, attempt: _Attempt, event: CallEnded) -> None:
        if attempt.outcome is None:
            if (
                attempt.phase is AttemptPhase.STARTING
                and event.reason is not EndReason.LOST_DURING_DISCONNECT
            ):
                self._callback_agent_failed(attempt, "NOANSWER")
            else:
                self._resolve_attempt(attempt, AttemptOutcome.ABORTED, "HANGUP")
        if attempt.call_id is not None:
            self._emit(RecordCall(self._attempt_record(attempt, event.cause, event.reason)))
        self._free_attempt_agent(attempt)
        self._drop_attempt(attempt)

    def _attempt_record(self, attempt: _Attempt, cause: int, reason: EndReason) -> CallRecord:
        reached = attempt.outcome is AttemptOutcome.REACHED
        return CallRecord(
            call_id=attempt.call_id or "",
            direction=Direction.CALLBACK,
            number=attempt.number,
            started_at=attempt.started_at,
            ended_at=self._now,
            outcome=CallOutcome.REACHED if reached else CallOutcome.NOT_REACHED,
            answered_at=attempt.answered_at,
            agent_id=attempt.agent_id,
            wait_s=round(max(attempt.started_at - attempt.due_at, 0.0), 3),
            callback_id=attempt.callback_id,
            ticket_id=attempt.ticket_id,
            end_cause=cause,
            end_reason=reason,
        )

    def _free_attempt_agent(self, attempt: _Attempt) -> None:
        agent = self._agents[attempt.agent_id]
        if not attempt.agent_done and agent.work == attempt.attempt_id:
            attempt.agent_done = True
            talked = attempt.outcome is AttemptOutcome.REACHED
            self._release(agent, AgentTrigger.CALL_ENDED if talked else AgentTrigger.RELEASE)
        if attempt.preempting:
            attempt.preempting = False
            self._router.preemption_finished(attempt.preempt_skill)
        callback = self._callbacks.get(attempt.callback_id)
        if callback is not None and callback.status is CallbackStatus.REACHED:
            self._close_callback(callback)

    def _drop_attempt(self, attempt: _Attempt) -> None:
        self._disarm("attempt", attempt.attempt_id)
        self._attempts.pop(attempt.attempt_id, None)
        if attempt.call_id is not None:
            self._attempt_by_call.pop(attempt.call_id, None)
            self._remember_finished(attempt.call_id)
        if attempt.action_id is not None:
            self._attempt_by_action.pop(attempt.action_id, None)
        if self._current_attempt.get(attempt.callback_id) == attempt.attempt_id:
            del self._current_attempt[attempt.callback_id]

    def _finish_attempt_if_done(self, attempt: _Attempt) -> None:
        """Drop an attempt that has no call to wait for (it never got a channel of ours)."""
        if attempt.call_id is None and attempt.agent_done:
            self._free_attempt_agent(attempt)
            self._drop_attempt(attempt)

    # -- timers and action failures ------------------------------------------------------

    def _on_timer(self, key: str) -> None:
        target = self._timers.pop(key, None)
        if target is None:
            return  # cancelled or replaced meanwhile
        del self._armed[target]
        kind, ident = target
        if kind == "snapshot":
            snapshot = self.snapshot(self._now)
            self._log("queue.snapshot", **dataclasses.asdict(snapshot))
            self._arm("snapshot", "", self._now + self._settings.snapshot_interval_s)
        elif kind == "callbacks_due":
            self._due_timer_at = None  # routing promotes what is due; _after_event re-arms
        elif kind == "wrap_up":
            agent = self._agents[ident]
            if agent.state is AgentState.WRAP_UP:
                self._end_wrap_up(agent)
        elif kind == "offer":
            self._on_offer_timeout(ident)
        elif kind == "retry":
            live = self._calls.get(ident)
            if live is not None and live.phase is CallPhase.HELD_BACK:
                self._requeue(live, "retry")
        elif kind == "attempt":
            self._on_attempt_timeout(ident)

    def _on_offer_timeout(self, call_id: str) -> None:
        live = self._calls.get(call_id)
        if live is None or live.phase is not CallPhase.OFFERED:
            return
        if not self._connected:  # the PBX cannot tell us now; ask again later
            self._arm("offer", call_id, self._now + self._settings.pbx_grace_s)
            return
        self._log(
            "call.offer_timeout",
            "warning",
            call_id=call_id,
            agent_id=live.agent_id,
            agent_rang=live.agent_channel is not None,
        )
        if live.agent_channel is None:
            # The agent's device was never seen ringing: the Redirect did not take effect
            # (or its answer was lost).  Not the agent's fault: offer the call again.
            self._withdraw_offer(live, AgentTrigger.OFFER_WITHDRAWN)
            self._requeue(live, "offer_not_carried_out")
            return
        self._ring_no_answer(live, "NOANSWER")

    def _on_attempt_timeout(self, attempt_id: str) -> None:
        attempt = self._attempts.get(attempt_id)
        if attempt is None:
            return
        if not self._connected:
            self._arm("attempt", attempt_id, self._now + self._settings.pbx_grace_s)
            return
        self._log(
            "callback.attempt_timeout", "warning", callback_id=attempt.callback_id, agent_id=attempt.agent_id
        )
        if attempt.outcome is None:
            if attempt.phase is AttemptPhase.STARTING and attempt.uncertain and attempt.call_id is None:
                # An Originate with no answer and no channel since: it never dialled.
                self._resolve_attempt(attempt, AttemptOutcome.ABORTED, "ORIGINATE_UNANSWERED")
            elif attempt.phase is AttemptPhase.STARTING:
                self._callback_agent_failed(attempt, "NOANSWER")
            else:
                # Counted, so a PBX that never reports cannot make a callback retry forever.
                self._resolve_attempt(attempt, AttemptOutcome.FAILED, "TIMEOUT")
        if attempt.channel is not None:
            self._emit(HangupChannel(attempt.channel, attempt.call_id, "callback attempt timed out"))
        if attempt.call_id is not None:
            self._emit(RecordCall(self._attempt_record(attempt, 0, EndReason.HANGUP)))
        self._free_attempt_agent(attempt)
        self._drop_attempt(attempt)

    def _on_action_failed(self, event: ActionFailed) -> None:
        command = event.command
        self._log(
            "queue.action_failed",
            "warning",
            command=type(command).__name__,
            error=event.error,
            uncertain=event.uncertain,
        )
        if event.uncertain:
            # Asterisk may have carried it out: wait for its events (or a resync); the offer
            # and attempt timers settle what never shows.  Re-sending could dial twice.
            if isinstance(command, StartCallback):
                attempt = self._attempts.get(self._current_attempt.get(command.callback_id, ""))
                if attempt is not None:
                    attempt.uncertain = True
            return
        match command:
            case ConnectCallToAgent():
                live = self._calls.get(command.call_id)
                agent = self._agents.get(command.agent_id)
                if not self._offered_to(live, agent):
                    return
                assert live is not None and agent is not None
                if event.permanent:
                    self._withdraw_offer(live, AgentTrigger.NO_ANSWER, PAUSE_DIAL_FAILED)
                else:
                    self._withdraw_offer(live, AgentTrigger.OFFER_WITHDRAWN)
                # The channel may be gone (its CallEnded is on the way): offer it again only
                # after a pause, so a failing action cannot spin.
                live.phase, live.agent_id = CallPhase.HELD_BACK, None
                self._arm("retry", command.call_id, self._now + self._settings.action_retry_s)
            case StartCallback():
                attempt = self._attempts.get(self._current_attempt.get(command.callback_id, ""))
                if attempt is None or attempt.outcome is not None or attempt.agent_id != command.agent_id:
                    return
                if event.permanent:
                    attempt.give_up = "cannot_dial"
                self._resolve_attempt(attempt, AttemptOutcome.FAILED, "ORIGINATE_FAILED")
                agent = self._agents[attempt.agent_id]
                if agent.work == attempt.attempt_id:
                    attempt.agent_done = True
                    self._release(agent, AgentTrigger.RELEASE)
                if attempt.call_id is None:
                    self._drop_attempt(attempt)
            case CancelCallbackDial():
                # The channel is already gone: its end is (or was) on the way; free the agent now.
                attempt = self._attempts.get(self._attempt_by_call.get(command.call_id, ""))
                if attempt is not None:
                    self._free_attempt_agent(attempt)
                    self._drop_attempt(attempt)
            case _:
                pass

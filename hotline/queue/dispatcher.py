"""The dispatcher: the single owner of the queue's live state, sans-I/O.

``Dispatcher.handle(event, now) -> list[Command]``: an event in (a PBX domain event from
:mod:`hotline.events`, or a queue input from :mod:`hotline.queue.inputs`), the time passed in,
commands out (:mod:`hotline.queue.commands`), in the order they must be carried out.  No awaits,
no clock reads, no I/O: the async runner feeds events one at a time, in arrival order, and
executes the commands.

The state lives in three flows, each with its records, its transition table and its restore
step: :class:`hotline.queue.inbound.InboundFlow` (citizens' calls),
:class:`hotline.queue.callbacks.CallbackFlow` (return calls and follow-ups) and
:class:`hotline.queue.agent_flow.AgentFlow` (agents).  The dispatcher only routes each event to
the flow it concerns and turns the router's decisions into work for the flows.

It copes with the PBX as it really behaves (see ``../shared/ami-transcripts``): events for one
call arrive in varying orders (``OriginateResponse`` before or after the dials it reports; an
agent's ``DialEnd`` and the dialplan's ``HotlineAgentFailed`` both reporting one ring-no-answer;
a ``DialBegin`` with no ``DialEnd``), duplicates, and events for calls it never heard of.  An
event that does not fit the state is logged (``queue.event_ignored``) and ignored, never raised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
    DeviceReachability,
    DeviceStateChanged,
    Direction,
    OriginateResult,
    PbxConnected,
    PbxDisconnected,
)
from hotline.queue.agent_flow import WRAP_UP_TIMER, AgentFlow, QueueConfigError
from hotline.queue.agents import Agent, AgentState, AgentStateRecord
from hotline.queue.callback_flow import ATTEMPT_TIMER, CallbackFlow
from hotline.queue.commands import (
    CancelCallbackDial,
    Command,
    ConnectCallToAgent,
    Log,
    StartCallback,
)
from hotline.queue.flow import DispatcherStats, FlowContext
from hotline.queue.inbound import OFFER_TIMER, RETRY_TIMER, CallPhase, InboundFlow
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
from hotline.queue.work import Callback, LiveCall, WaitingCall
from hotline.settings import AgentConfig, QueueSettings, Settings

__all__ = ["CallPhase", "Dispatcher", "DispatcherStats", "QueueConfigError", "QueueSnapshot"]

_SNAPSHOT_TIMER = "snapshot"
_DUE_TIMER = "callbacks_due"


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
        live_calls: Iterable[LiveCall] = (),
        last_seen_at: float | None = None,
        pbx_connected: bool = False,
        strict: bool = False,
    ) -> None:
        """Build the live state.

        ``ring_timeout_s``/``citizen_timeout_s``: how long an agent's device / a citizen rings
        (``[dialplan] ring_timeout_s`` and ``callback_timeout_s``).  ``restored_agents``: the
        latest persisted record per agent (``PersistAgentState``); agents without one start
        logged out, or ready when ``autologin``.  ``pending_callbacks``: every persisted
        callback still open.  ``live_calls``: the written-ahead records of calls not known to
        have ended (``TrackCall``), continued or ended by the first resync; ``last_seen_at``:
        the last instant the previous run saw the PBX.  ``pbx_connected``: False until
        ``PbxConnected`` arrives (nothing is routed while the PBX is away).  ``strict``:
        re-raise internal errors (tests) instead of logging them.
        """
        self._settings = queue
        self._strict = strict
        self._started = False
        self._router = Router(
            inbound_reserve=queue.inbound_reserve,
            preempt=queue.preempt_callbacks,
            agent_choice=AgentChoice(queue.agent_choice),
        )
        self._ctx = FlowContext(
            queue,
            self._router,
            ring_timeout_s=ring_timeout_s,
            citizen_timeout_s=citizen_timeout_s,
            connected=pbx_connected,
        )
        self._agents = AgentFlow(self._ctx, agents)
        self._callbacks = CallbackFlow(self._ctx, self._agents)
        self._inbound = InboundFlow(self._ctx, self._agents, self._callbacks)
        self._restored_agents = list(restored_agents)
        self._restored_callbacks = list(pending_callbacks)
        self._restored_calls = list(live_calls)
        self._last_seen_at = last_seen_at
        self._reconcile_pending = bool(self._restored_calls or self._restored_agents)
        self._due_timer_at: float | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        restored_agents: Iterable[AgentStateRecord] = (),
        pending_callbacks: Iterable[Callback] = (),
        live_calls: Iterable[LiveCall] = (),
        last_seen_at: float | None = None,
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
            live_calls=live_calls,
            last_seen_at=last_seen_at,
            pbx_connected=pbx_connected,
        )

    # -- read-only views -----------------------------------------------------------------

    @property
    def stats(self) -> DispatcherStats:
        """A copy of the counters."""
        return dataclasses.replace(self._ctx.stats)

    @property
    def pbx_connected(self) -> bool:
        """True while the PBX link is up (routing happens only then)."""
        return self._ctx.connected

    @property
    def inbound(self) -> InboundFlow:
        """The inbound flow (read it; change it only through :meth:`handle`)."""
        return self._inbound

    @property
    def agent_flow(self) -> AgentFlow:
        """The agents flow (read it; change it only through :meth:`handle`)."""
        return self._agents

    @property
    def router(self) -> Router:
        """The router (read it; change it only through :meth:`handle`)."""
        return self._router

    def agent(self, agent_id: str) -> AgentStateRecord | None:
        """The agent's current state."""
        agent = self._agents.get(agent_id)
        return agent.record() if agent else None

    def agents(self) -> list[AgentStateRecord]:
        """Every agent's current state, in configured order."""
        return [agent.record() for agent in self._agents.all()]

    def waiting_calls(self) -> list[WaitingCall]:
        """The inbound calls waiting on hold (any order)."""
        return list(self._router.waiting_calls())

    def callbacks(self) -> list[Callback]:
        """Every open callback (pending or in progress)."""
        return self._callbacks.open()

    def snapshot(self, now: float) -> QueueSnapshot:
        """The queue's figures at ``now`` (O(n) in waiting calls: meant for every few seconds)."""
        counts: dict[AgentState, int] = {}
        total = 0
        for agent in self._agents.all():
            counts[agent.state] = counts.get(agent.state, 0) + 1
            total += 1
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
            agents_logged_in=total - counts.get(AgentState.LOGGED_OUT, 0),
            longest_wait_s=round(max(longest, 0.0), 3),
        )

    # -- entry points --------------------------------------------------------------------

    def start(self, now: float) -> list[Command]:
        """Restore agents and callbacks, arm the periodic timers; returns the commands to run.

        Called once before the first :meth:`handle` (``handle`` calls it if it was not).
        """
        ctx = self._ctx
        ctx.out = []
        ctx.now = now
        if not self._started:
            self._started = True
            self._restore()
            self._after_event()
        return ctx.out

    def handle(self, event: QueueInput, now: float) -> list[Command]:
        """Apply one event at time ``now``; returns the commands to carry out, in order."""
        ctx = self._ctx
        out = self.start(now) if not self._started else []
        ctx.out = out
        ctx.now = max(now, ctx.now)  # a clock that steps back must not reorder the queue
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

    def _restore(self) -> None:
        ctx = self._ctx
        self._agents.restore(self._restored_agents)
        self._callbacks.restore(self._restored_callbacks, self._restored_calls)
        self._inbound.restore(self._restored_calls)
        self._restored_agents, self._restored_callbacks, self._restored_calls = [], [], []
        if ctx.connected:
            self._callbacks.release_unsettled()
        if self._settings.snapshot_interval_s > 0:
            ctx.arm(_SNAPSHOT_TIMER, "", ctx.now + self._settings.snapshot_interval_s)

    def _after_event(self) -> None:
        ctx = self._ctx
        if ctx.connected:
            self._route()
        self._inbound.return_to_hold()
        at = self._router.next_callback_at(ctx.now)
        if at != self._due_timer_at:
            self._due_timer_at = at
            if at is None:
                ctx.disarm(_DUE_TIMER, "")
            else:
                ctx.arm(_DUE_TIMER, "", at)

    def _route(self) -> None:
        router = self._router
        while (decision := router.route_next(self._ctx.now)) is not None:
            match decision:
                case OfferCall():
                    self._inbound.offer(decision.call, self._agents[decision.agent_id])
                case OfferCallback():
                    self._callbacks.start(decision.callback, self._agents[decision.agent_id])
                case PreemptCallback():
                    self._callbacks.preempt(self._agents[decision.agent_id], decision.skill)

    def _dispatch(self, event: QueueInput) -> None:
        inbound, callbacks, agents = self._inbound, self._callbacks, self._agents
        match event:
            case CallArrived():
                inbound.on_call_arrived(event)
            case CallAbandoned():
                inbound.on_call_abandoned(event)
            case AgentRinging():
                if event.direction is Direction.CALLBACK:
                    callbacks.on_agent_ringing(event)
                else:
                    inbound.on_agent_ringing(event)
            case AgentDialEnded():
                if event.direction is Direction.CALLBACK:
                    callbacks.on_agent_dial_ended(event)
                else:
                    inbound.on_agent_dial_ended(event)
            case AgentDialFailed():
                inbound.on_agent_dial_failed(event)
            case CallBridged():
                if not callbacks.on_call_bridged(event):
                    inbound.on_call_bridged(event)
            case CitizenRinging():
                callbacks.on_citizen_ringing(event)
            case CitizenDialEnded():
                callbacks.on_citizen_dial_ended(event)
            case CallbackLegCreated():
                callbacks.on_leg_created(event)
            case OriginateResult():
                callbacks.on_originate_result(event)
            case CallEnded():
                if not callbacks.on_call_ended(event):
                    inbound.on_call_ended(event)
            case DeviceStateChanged():
                self._on_device_lost(agents.on_device_state(event))
            case DeviceReachability():
                self._on_device_lost(agents.on_device_reachability(event))
            case PbxConnected():
                self._ctx.connected = True
                if self._reconcile_pending:
                    # The first resync after a restart: what the store had live and the PBX
                    # no longer has ended while we were away.
                    self._reconcile_pending = False
                    callbacks.reconcile(self._last_seen_at)
                    inbound.reconcile(self._last_seen_at)
                    agents.reconcile(self._last_seen_at)
                callbacks.release_unsettled()
                self._ctx.log(
                    "queue.pbx_connected", channels=event.channels, waiting_inbound=self._router.waiting_count
                )
            case PbxDisconnected():
                self._ctx.connected = False
                self._ctx.last_seen_at = self._ctx.now
                self._ctx.log("queue.pbx_disconnected", "warning", reason=event.reason)
            case AgentLogin() | AgentLogout() | AgentReady() | AgentPause() | AgentEndWrapUp():
                agents.on_command(event)
            case TimerFired():
                self._on_timer(event.key)
            case ScheduleCallback():
                callbacks.on_schedule(event)
            case CancelCallback():
                callbacks.on_cancel(event)
            case CallbackOriginated():
                callbacks.on_originated(event)
            case ActionFailed():
                self._on_action_failed(event)
            case FlagCall():
                inbound.on_flag_call(event)
            case _:
                self._ctx.ignore(event, "unknown input type")

    def _on_device_lost(self, offered: Agent | None) -> None:
        """An agent's phone was lost while it rang for an offer: its flow withdraws the offer.

        A callback's agent leg is left to its attempt (the agent is unavailable once released).
        """
        if offered is not None and not self._inbound.on_device_lost(offered):
            self._ctx.log("agent.device_lost_on_callback", agent_id=offered.agent_id, work=offered.work)

    def _on_timer(self, key: str) -> None:
        target = self._ctx.fired(key)
        if target is None:
            return  # cancelled or replaced meanwhile
        kind, ident = target
        if kind == _SNAPSHOT_TIMER:
            snapshot = self.snapshot(self._ctx.now)
            self._ctx.log("queue.snapshot", **dataclasses.asdict(snapshot))
            self._ctx.arm(_SNAPSHOT_TIMER, "", self._ctx.now + self._settings.snapshot_interval_s)
        elif kind == _DUE_TIMER:
            self._due_timer_at = None  # routing promotes what is due; _after_event re-arms
        elif kind == WRAP_UP_TIMER:
            self._agents.on_wrap_up_timer(ident)
        elif kind == OFFER_TIMER:
            self._inbound.on_offer_timeout(ident)
        elif kind == RETRY_TIMER:
            self._inbound.on_retry_timer(ident)
        elif kind == ATTEMPT_TIMER:
            self._callbacks.on_attempt_timeout(ident)

    def _on_action_failed(self, event: ActionFailed) -> None:
        command = event.command
        self._ctx.log(
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
                self._callbacks.on_start_uncertain(command)
            return
        match command:
            case ConnectCallToAgent():
                self._inbound.on_connect_failed(command, permanent=event.permanent)
            case StartCallback():
                self._callbacks.on_start_failed(command, permanent=event.permanent)
            case CancelCallbackDial():
                self._callbacks.on_cancel_dial_failed(command)
            case _:
                pass

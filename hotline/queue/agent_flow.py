"""The agents flow: every agent's live state, its commands, its device, its wrap-up timer.

Each agent is an :class:`hotline.queue.agents.Agent` moved only by the transition table of
:mod:`hotline.queue.agents`; :meth:`AgentFlow.transition` applies a trigger and keeps the
router, the wrap-up timer, the store and the log in step.  The inbound and callback flows ask
this flow to move an agent (offer, answer, release); they never change an agent themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hotline.events import DeviceReachability, DeviceStateChanged
from hotline.queue.agents import (
    PAUSE_NO_ANSWER,
    PAUSES_OF_THE_PHONE,
    Agent,
    AgentState,
    AgentStateRecord,
    AgentTrigger,
    IllegalAgentTransition,
    device_extension,
    device_of_channel,
)
from hotline.queue.commands import PersistAgentState, RejectAgentCommand
from hotline.queue.flow import FlowContext
from hotline.queue.inputs import AgentCommand, AgentEndWrapUp, AgentLogin, AgentLogout, AgentPause, AgentReady
from hotline.settings import AgentConfig

#: Device states that mean the agent cannot be reached.
DEVICE_DOWN_STATES = frozenset({"UNAVAILABLE", "INVALID"})
#: Device states that say nothing either way.
DEVICE_UNKNOWN_STATES = frozenset({"UNKNOWN", ""})
#: Timer kind of the wrap-up timers (ident: the agent id).
WRAP_UP_TIMER = "wrap_up"


class QueueConfigError(ValueError):
    """The agents' configuration cannot work (duplicate ids or devices)."""


class AgentFlow:
    """The agents: configuration, live state, and the one place their state changes."""

    def __init__(self, ctx: FlowContext, agents: Sequence[AgentConfig]) -> None:
        self._ctx = ctx
        self._agents: dict[str, Agent] = {}
        self._configs: dict[str, AgentConfig] = {}
        self._by_device: dict[str, Agent] = {}
        self._by_token: dict[str, Agent] = {}
        #: Agents the store says were on a call (agent id -> call or attempt id), until the
        #: resync finds that call (a flow claims the agent) or not (:meth:`reconcile`).
        self._restored_work: dict[str, str] = {}
        for order, config in enumerate(agents):
            if config.id in self._agents:
                raise QueueConfigError(f"agent id {config.id!r} is configured twice")
            if config.device.lower() in self._by_device:
                raise QueueConfigError(f"device {config.device!r} is configured for two agents")
            agent = Agent(config.id, config.device, frozenset(config.skills), order)
            self._agents[config.id] = agent
            self._configs[config.id] = config
            self._by_device[config.device.lower()] = agent
            ctx.router.register_agent(config.id, config.skills, order)
        for agent in self._agents.values():
            self._by_token.setdefault(device_extension(agent.device), agent)
        for agent in self._agents.values():
            self._by_token[agent.agent_id] = agent

    # -- lookups -------------------------------------------------------------------------

    def get(self, agent_id: str | None) -> Agent | None:
        """The agent with this id (None for None or an unknown id)."""
        return self._agents.get(agent_id or "")

    def __getitem__(self, agent_id: str) -> Agent:
        return self._agents[agent_id]

    def all(self) -> Iterable[Agent]:
        """Every agent, in configured order."""
        return self._agents.values()

    def for_device(self, device: str) -> Agent | None:
        """The agent whose device is ``device`` (a device or one of its channels)."""
        agent = self._by_device.get(device.lower())
        if agent is None:
            agent = self._by_device.get(device_of_channel(device).lower())
        return agent

    def for_token(self, token: str) -> Agent | None:
        """The agent named by id, by its device's extension, or by its device."""
        return self._by_token.get(token) or self.for_device(token)

    def busy_on(self, channel: str) -> bool:
        """True when ``channel`` is no agent's, or its agent already works on something."""
        agent = self.for_device(channel)
        return agent is None or agent.work is not None

    # -- state changes -------------------------------------------------------------------

    def transition(self, agent: Agent, trigger: AgentTrigger, reason: str | None = None) -> bool:
        """Apply a trigger and keep the router, timers, store and log in step."""
        ctx = self._ctx
        previous_state, previous_reason = agent.state, agent.pause_reason
        try:
            agent.apply(trigger, ctx.now, reason)
        except IllegalAgentTransition as exc:
            ctx.log(
                "queue.inconsistent",
                "warning",
                agent_id=agent.agent_id,
                state=exc.from_state.value,
                trigger=exc.trigger.value,
            )
            return False
        if agent.state in (AgentState.READY, AgentState.PAUSED) and not agent.device_available:
            # It was lost while busy.  A no-answer from a phone already lost (a callback's agent
            # leg ringing a dead softphone) is the phone's doing: nothing to come back to.
            if agent.state is AgentState.PAUSED and trigger is AgentTrigger.NO_ANSWER:
                agent.pause_reason = None
            agent.apply(AgentTrigger.DEVICE_LOST, ctx.now)
        state = agent.state
        if state is AgentState.READY and previous_state is not AgentState.READY:
            ctx.router.set_agent_ready(agent.agent_id, agent.since)
        elif previous_state is AgentState.READY and state is not AgentState.READY:
            ctx.router.set_agent_not_ready(agent.agent_id)
        if previous_state is AgentState.WRAP_UP and state is not AgentState.WRAP_UP:
            ctx.disarm(WRAP_UP_TIMER, agent.agent_id)
        if state is previous_state and agent.pause_reason == previous_reason:
            return True
        if state is AgentState.WRAP_UP and previous_state is not AgentState.WRAP_UP:
            agent.wrap_up_until = ctx.now + ctx.settings.wrap_up_s
        ctx.emit(PersistAgentState(agent.record()))
        ctx.log(
            "agent.state",
            agent_id=agent.agent_id,
            state=state.value,
            previous=previous_state.value,
            trigger=trigger.value,
            reason=agent.pause_reason,
        )
        if state is AgentState.WRAP_UP and previous_state is not AgentState.WRAP_UP:
            if ctx.settings.wrap_up_s > 0:
                ctx.arm(WRAP_UP_TIMER, agent.agent_id, agent.wrap_up_until or ctx.now)
            else:
                self.end_wrap_up(agent)
        return True

    def end_wrap_up(self, agent: Agent) -> None:
        """The wrap-up is over: the pause asked for during the call, or ready."""
        if agent.pending_pause:
            self.transition(agent, AgentTrigger.PAUSE, agent.pending_pause)
        else:
            self.transition(agent, AgentTrigger.END_WRAP_UP)

    def release(self, agent: Agent, trigger: AgentTrigger) -> None:
        """The agent's work is over: wrap-up (after a conversation) or straight back to ready."""
        agent.work = None
        pending = agent.pending_pause
        self.transition(agent, trigger)
        if pending and agent.state is AgentState.READY:
            self.transition(agent, AgentTrigger.PAUSE, pending)

    def take(self, agent: Agent, work: str, trigger: AgentTrigger) -> None:
        """Give ``agent`` the work ``work`` (a call id or an attempt id) by ``trigger``."""
        agent.work = work
        self.transition(agent, trigger)

    def on_wrap_up_timer(self, agent_id: str) -> None:
        """The wrap-up timer of ``agent_id`` fired."""
        agent = self._agents[agent_id]
        if agent.state is AgentState.WRAP_UP:
            self.end_wrap_up(agent)

    # -- restore and reconcile ----------------------------------------------------------

    def restore(self, restored: Iterable[AgentStateRecord]) -> None:
        """Give every agent the state the store kept, as it was (or its configuration's).

        Paused stays paused with its reason, ready stays ready (its idle start kept), a wrap-up
        continues to its persisted end, an agent on a call stays on it until the resync says
        whether the call still runs (:meth:`reconcile`).  One ``agent.restored`` line each.
        """
        ctx = self._ctx
        records = {record.agent_id: record for record in restored}
        for agent in self._agents.values():
            record = records.get(agent.agent_id)
            config = self._configs[agent.agent_id]
            since, reason, work = ctx.now, None, None
            wrap_up_until: float | None = None
            if record is None:
                state = AgentState.READY if config.autologin else AgentState.LOGGED_OUT
            elif record.state in (AgentState.LOGGED_OUT, AgentState.READY, AgentState.PAUSED):
                state, reason, since = record.state, record.pause_reason, record.since
            elif record.state is AgentState.DEVICE_UNAVAILABLE:
                # Assume it is back: the device states the bridge asks at every connect
                # (DeviceStateList, before PbxConnected) say so, or lose it again.
                state = AgentState.PAUSED if record.pause_reason else AgentState.READY
                reason = record.pause_reason
            elif record.state is AgentState.WRAP_UP:
                wrap_up_until = record.wrap_up_until or record.since + ctx.settings.wrap_up_s
                state = AgentState.WRAP_UP if wrap_up_until > ctx.now else AgentState.READY
                since = record.since if state is AgentState.WRAP_UP else ctx.now
            elif record.work:
                # On a call: it stays on it; the resync confirms it or ends it.
                state, since, work = record.state, record.since, record.work
                self._restored_work[agent.agent_id] = record.work
            else:
                # On a call, but a record written before agents' work was kept: a wrap-up; a
                # resync that finds it on a call attaches it to that call.
                state, wrap_up_until = AgentState.WRAP_UP, ctx.now + ctx.settings.wrap_up_s
            agent.state, agent.pause_reason, agent.since, agent.work = state, reason, since, work
            agent.wrap_up_until = wrap_up_until if state is AgentState.WRAP_UP else None
            ctx.emit(PersistAgentState(agent.record()))
            remaining = (
                round(wrap_up_until - ctx.now, 3) if state is AgentState.WRAP_UP and wrap_up_until else None
            )
            ctx.log(
                "agent.restored",
                agent_id=agent.agent_id,
                state=state.value,
                reason=reason,
                work=work,
                wrap_up_remaining_s=remaining,
                stored=record.state.value if record is not None else None,
            )
            if state is AgentState.READY:
                ctx.router.set_agent_ready(agent.agent_id, since)
            elif state is AgentState.WRAP_UP and wrap_up_until is not None:
                ctx.arm(WRAP_UP_TIMER, agent.agent_id, wrap_up_until)

    def restored_work(self, agent: Agent) -> str | None:
        """The call (or attempt) the store says ``agent`` was on, until the resync settles it."""
        return self._restored_work.get(agent.agent_id)

    def claim(self, agent: Agent, work: str) -> bool:
        """True when ``agent`` is free, or restored on ``work`` (then the resync confirmed it)."""
        if agent.work is None:
            return True
        if self._restored_work.get(agent.agent_id) == work and agent.work == work:
            del self._restored_work[agent.agent_id]
            agent.work = None  # the flow takes it again
            return True
        return False

    def reconcile(self, last_seen_at: float | None) -> None:
        """The resync is over: an agent restored on a call no flow found ended it during the
        outage.  Its wrap-up counts from the last instant the call was seen."""
        ctx = self._ctx
        for agent_id, work in list(self._restored_work.items()):
            del self._restored_work[agent_id]
            agent = self._agents[agent_id]
            if agent.work != work:
                continue
            talked = agent.state is not AgentState.OFFERED
            self.release(agent, AgentTrigger.CALL_ENDED if talked else AgentTrigger.RELEASE)
            ctx.log("agent.call_gone", agent_id=agent_id, work=work, state=agent.state.value)
            if agent.state is AgentState.WRAP_UP:
                until = (last_seen_at if last_seen_at is not None else ctx.now) + ctx.settings.wrap_up_s
                if until > ctx.now:
                    agent.wrap_up_until = until
                    ctx.arm(WRAP_UP_TIMER, agent_id, until)
                    ctx.emit(PersistAgentState(agent.record()))
                else:
                    self.end_wrap_up(agent)

    # -- agents' commands ----------------------------------------------------------------

    def on_command(self, command: AgentCommand) -> None:
        """An agent's own command (login, logout, ready, pause, end of wrap-up)."""
        name = type(command).__name__
        agent = self._agents.get(command.agent_id)
        if agent is None:
            self._ctx.emit(RejectAgentCommand(command.agent_id, name, "unknown agent"))
            return
        state = agent.state
        reject = self._ctx.emit
        match command:
            case AgentLogin():
                if state is AgentState.LOGGED_OUT:
                    self.transition(agent, AgentTrigger.LOGIN)  # straight to unavailable if so
                    return
                if state in (AgentState.READY, AgentState.PAUSED):
                    return  # already in: harmless repeat
                reject(RejectAgentCommand(agent.agent_id, name, f"already logged in ({state.value})"))
            case AgentLogout():
                if not agent.can(AgentTrigger.LOGOUT):
                    reject(RejectAgentCommand(agent.agent_id, name, f"not allowed while {state.value}"))
                    return
                self.transition(agent, AgentTrigger.LOGOUT)
            case AgentReady():
                if state in (AgentState.OFFERED, AgentState.BUSY_INBOUND, AgentState.BUSY_CALLBACK):
                    agent.pending_pause = None  # ready after this call, not paused
                    return
                if not agent.can(AgentTrigger.READY):
                    reject(RejectAgentCommand(agent.agent_id, name, f"not allowed while {state.value}"))
                    return
                self.transition(agent, AgentTrigger.READY)
            case AgentPause():
                reason = command.reason.strip()
                if not reason:
                    reject(RejectAgentCommand(agent.agent_id, name, "a pause needs a reason code"))
                    return
                if state in (AgentState.OFFERED, AgentState.BUSY_INBOUND, AgentState.BUSY_CALLBACK):
                    agent.pending_pause = reason  # starts when the call (and wrap-up) ends
                    self._ctx.log("agent.pause_pending", agent_id=agent.agent_id, reason=reason)
                    return
                if not agent.can(AgentTrigger.PAUSE):
                    reject(RejectAgentCommand(agent.agent_id, name, f"not allowed while {state.value}"))
                    return
                self.transition(agent, AgentTrigger.PAUSE, reason)
            case AgentEndWrapUp():
                if state is not AgentState.WRAP_UP:
                    reject(RejectAgentCommand(agent.agent_id, name, f"not in wrap-up ({state.value})"))
                    return
                self.end_wrap_up(agent)

    # -- the agent's device --------------------------------------------------------------

    def on_device_state(self, event: DeviceStateChanged) -> Agent | None:
        """The PBX reports the state of a device (a change, or the list asked at connect).

        Returns the agent whose phone went down while it rings for an offer: the flow that
        owns that work withdraws it (see :meth:`lose_device_during_offer`).
        """
        agent = self.for_device(event.device)
        if agent is None:
            return None  # citizens' and other devices: none of our business
        state = event.state.strip().upper()
        if state in DEVICE_UNKNOWN_STATES:
            return None
        if state in DEVICE_DOWN_STATES:
            return self._device_down(agent, f"DeviceState {state}")
        self._device_up(agent, back=state == "NOT_INUSE")
        return None

    def on_device_reachability(self, event: DeviceReachability) -> Agent | None:
        """A SIP phone's contact turned (un)reachable (``PeerStatus``/``ContactStatus``).

        A dead softphone is reported so mid-ring, while its device state only changes when the
        dial ends (capture pjsip/11e).  Returns the agent whose offer must be withdrawn.
        """
        agent = self.for_device(event.device)
        if agent is None:
            return None
        if not event.reachable:
            return self._device_down(agent, event.detail)
        self._device_up(agent, back=True)
        return None

    def lose_device_during_offer(self, agent: Agent) -> None:
        """The offer ringing ``agent``'s lost phone was withdrawn: unavailable until the phone is
        back, then ready (or paused, if it asked for a pause during the offer)."""
        agent.work = None
        if agent.pending_pause:
            agent.pause_reason = agent.pending_pause  # kept for when the device is back
        self.transition(agent, AgentTrigger.DEVICE_LOST)

    def _device_down(self, agent: Agent, why: str) -> Agent | None:
        ctx = self._ctx
        if agent.device_available:
            ctx.log("agent.device_lost", agent_id=agent.agent_id, state=agent.state.value, why=why)
        agent.device_available = False
        if agent.state is AgentState.OFFERED:
            return agent
        if agent.state is AgentState.PAUSED and self._paused_by_the_phone(agent):
            # Nothing of the agent's own to come back to: ready once the phone is back.
            agent.pause_reason = None
        if agent.can(AgentTrigger.DEVICE_LOST):
            self.transition(agent, AgentTrigger.DEVICE_LOST)
        return None

    def _device_up(self, agent: Agent, *, back: bool) -> None:
        agent.device_available = True
        if agent.state is AgentState.DEVICE_UNAVAILABLE:
            if agent.pause_reason:
                self.transition(agent, AgentTrigger.DEVICE_BACK_PAUSED, agent.pause_reason)
            else:
                self.transition(agent, AgentTrigger.DEVICE_BACK)
        elif back and agent.state is AgentState.PAUSED and agent.pause_reason in PAUSES_OF_THE_PHONE:
            # Paused because its phone could not be dialled; the phone is back (registered).
            self.transition(agent, AgentTrigger.DEVICE_BACK)

    def _paused_by_the_phone(self, agent: Agent) -> bool:
        """A pause the phone caused: a failed dial, or a ring-no-answer followed at once by the
        phone's loss (a dead phone rings unanswered: pjsip/11e), not an agent away from desk."""
        if agent.pause_reason in PAUSES_OF_THE_PHONE:
            return True
        return (
            agent.pause_reason == PAUSE_NO_ANSWER
            and self._ctx.now - agent.since <= self._ctx.settings.pbx_grace_s
        )

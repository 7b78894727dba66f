"""The inbound flow: citizens' calls from arrival on hold to their end.

Each live call is an :class:`InboundCall` whose :class:`CallPhase` moves only by the
:data:`CALL_TRANSITIONS` table (an illegal move raises :class:`IllegalCallTransition`).  The flow
offers calls to agents (through :class:`hotline.queue.agent_flow.AgentFlow`), follows the
PBX's events for them, takes back calls a resync finds, and writes the record of each call.
What a finished call means for callbacks (a return call owed, or no longer owed) it hands to
the :class:`ReturnCalls` port the dispatcher wires to the callbacks flow.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Protocol

from hotline.events import (
    AgentDialEnded,
    AgentDialFailed,
    AgentRinging,
    CallAbandoned,
    CallArrived,
    CallBridged,
    CallEnded,
    Direction,
    EndReason,
)
from hotline.queue.agent_flow import AgentFlow
from hotline.queue.agents import PAUSE_DIAL_FAILED, PAUSE_NO_ANSWER, Agent, AgentTrigger
from hotline.queue.commands import ConnectCallToAgent, RecordCall, ReturnCallToHold, TrackCall
from hotline.queue.flow import FlowContext
from hotline.queue.inputs import FlagCall
from hotline.queue.work import (
    CallOutcome,
    CallRecord,
    LiveCall,
    LiveState,
    PriorityClass,
    WaitingCall,
    priority_class_of,
    uniqueid_order,
)

#: Timer kinds of this flow (ident: the call id).
OFFER_TIMER = "offer"
RETRY_TIMER = "retry"


class CallPhase(enum.StrEnum):
    """Where a live inbound call is, as the queue sees it."""

    WAITING = "waiting"  # on hold, in the router
    OFFERED = "offered"  # an agent's device rings for it
    HELD_BACK = "held_back"  # the Redirect failed: on hold, offered again after a short pause
    ANSWERED = "answered"


P = CallPhase

#: phase -> the phases it may move to.  A resync may find a call anywhere (back on hold, ringing
#: another agent, bridged), hence the moves back; only a held-back call is never offered twice.
CALL_TRANSITIONS: dict[CallPhase, frozenset[CallPhase]] = {
    P.WAITING: frozenset({P.WAITING, P.OFFERED, P.ANSWERED}),
    P.OFFERED: frozenset({P.WAITING, P.OFFERED, P.ANSWERED, P.HELD_BACK}),
    P.HELD_BACK: frozenset({P.WAITING, P.OFFERED, P.ANSWERED}),
    P.ANSWERED: frozenset({P.WAITING, P.OFFERED}),
}


#: The written-ahead state of a call not yet answered, by phase (a flag re-writes it).
_LIVE_STATE_OF = {
    CallPhase.WAITING: LiveState.WAITING,
    CallPhase.HELD_BACK: LiveState.WAITING,
    CallPhase.OFFERED: LiveState.OFFERED,
}


class IllegalCallTransition(Exception):
    """A phase change the table does not allow."""

    def __init__(self, call_id: str, from_phase: CallPhase, to_phase: CallPhase) -> None:
        self.call_id = call_id
        self.from_phase = from_phase
        self.to_phase = to_phase
        super().__init__(f"call {call_id}: {from_phase.value} -> {to_phase.value} is not allowed")


@dataclass(slots=True)
class InboundCall:
    """One live inbound call: the waiting call and where it is."""

    call: WaitingCall
    phase: CallPhase = CallPhase.WAITING
    agent_id: str | None = None
    agent_channel: str | None = None
    offered_at: float | None = None
    answered_at: float | None = None

    @property
    def call_id(self) -> str:
        """The call's key (its Linkedid)."""
        return self.call.call_id

    def move(self, phase: CallPhase) -> None:
        """Change phase by :data:`CALL_TRANSITIONS`; raises :class:`IllegalCallTransition`."""
        if phase not in CALL_TRANSITIONS[self.phase]:
            raise IllegalCallTransition(self.call.call_id, self.phase, phase)
        self.phase = phase


def ended_record(
    call: WaitingCall,
    now: float,
    outcome: CallOutcome,
    wait_s: float,
    *,
    answered_at: float | None = None,
    agent_id: str | None = None,
    cause: int = 0,
    reason: EndReason = EndReason.HANGUP,
    last_seen_at: float | None = None,
) -> CallRecord:
    """The record of ``call`` ended at ``now``.  An end found by a resync (``reason`` lost while
    away) is uncertain: it lies between ``last_seen_at`` and ``now``."""
    unseen = reason is EndReason.LOST_DURING_DISCONNECT
    return CallRecord(
        call_id=call.call_id,
        direction=Direction.INBOUND,
        number=call.caller_number,
        started_at=call.enqueued_at,
        ended_at=now,
        outcome=outcome,
        answered_at=answered_at,
        agent_id=agent_id,
        wait_s=round(wait_s, 3),
        priority=call.priority,
        offers=call.offers,
        end_cause=cause,
        end_reason=reason,
        end_uncertain=unseen,
        last_seen_at=last_seen_at if unseen else None,
    )


class ReturnCalls(Protocol):
    """What the inbound flow needs from the callbacks flow."""

    def owns_call(self, call_id: str) -> bool:
        """True when ``call_id`` is a callback's call."""
        ...

    def close_return_calls(self, number: str) -> None:
        """The citizen got through: a return call owed to ``number`` is no longer owed."""
        ...

    def schedule_return_call(self, call: WaitingCall) -> None:
        """The caller of ``call`` hung up unanswered: owe them a return call."""
        ...


class InboundFlow:
    """Citizens' calls on hold, offered, answered; the records of their ends."""

    def __init__(self, ctx: FlowContext, agents: AgentFlow, return_calls: ReturnCalls) -> None:
        self._ctx = ctx
        self._agents = agents
        self._return_calls = return_calls
        self._calls: dict[str, InboundCall] = {}
        #: Calls the store says were live when the service stopped, until the resync finds
        #: them (they continue) or not (:meth:`reconcile` ends them).
        self._restored: dict[str, LiveCall] = {}
        #: Calls taken back from a phone found unreachable: back to hold unless re-offered at once.
        self._to_hold: dict[str, None] = {}

    # -- views ---------------------------------------------------------------------------

    def get(self, call_id: str) -> InboundCall | None:
        """The live call ``call_id``."""
        return self._calls.get(call_id)

    def live(self) -> dict[str, InboundCall]:
        """Every live inbound call by id (a copy)."""
        return dict(self._calls)

    # -- write-ahead record ---------------------------------------------------------------

    def _track(self, live: InboundCall, state: LiveState, **fields: object) -> None:
        call = live.call
        self._ctx.emit(
            TrackCall(
                LiveCall(
                    call_id=call.call_id,
                    direction=Direction.INBOUND,
                    state=state,
                    number=call.caller_number,
                    priority=call.priority,
                    arrived_at=call.enqueued_at,
                    agent_id=live.agent_id,
                    offers=call.offers,
                    **fields,  # type: ignore[arg-type]
                )
            )
        )

    # -- restore and reconcile -----------------------------------------------------------

    def restore(self, calls: list[LiveCall]) -> None:
        """Hold the inbound calls the store says were live until the resync settles them."""
        for call in calls:
            if call.direction is Direction.INBOUND:
                self._restored[call.call_id] = call

    def _from_store(
        self, call_id: str, channel: str, number: str, priority: PriorityClass
    ) -> WaitingCall | None:
        """The waiting call a restart continues: arrival, caller, priority and offers as stored."""
        stored = self._restored.pop(call_id, None)
        if stored is None:
            return None
        if stored.priority is not None and stored.priority < priority:
            priority = stored.priority
        return WaitingCall(
            call_id=call_id,
            channel=channel,
            caller_number=stored.number or number,
            priority=priority,
            enqueued_at=stored.arrived_at if stored.arrived_at is not None else self._ctx.now,
            offers=stored.offers or 0,
        )

    def reconcile(self, last_seen_at: float | None) -> None:
        """The resync is over: a stored live call it did not find ended while we were away.

        A caller who waited is abandoned (and owed a return call, as any abandoned caller);
        one who talked is completed.  The end is unknown: the record says so
        (``end_uncertain``, between ``last_seen_at`` and now) and invents no talk time.
        """
        ctx = self._ctx
        for stored in sorted(
            self._restored.values(), key=lambda c: (c.arrived_at or 0.0, uniqueid_order(c.call_id))
        ):
            arrived = stored.arrived_at if stored.arrived_at is not None else ctx.now
            seen = last_seen_at if last_seen_at is not None else arrived
            answered = stored.state is LiveState.ANSWERED and stored.answered_at is not None
            call = WaitingCall(
                call_id=stored.call_id,
                channel="",
                caller_number=stored.number,
                priority=stored.priority or PriorityClass.NORMAL,
                enqueued_at=arrived,
                offers=stored.offers or 0,
            )
            ctx.remember_finished(stored.call_id)
            if answered:
                outcome = CallOutcome.ANSWERED
                wait = (stored.answered_at or arrived) - arrived
            else:
                outcome = CallOutcome.ABANDONED
                wait = max(seen - arrived, 0.0)  # at least this long: the rest is unknown
                ctx.stats.calls_abandoned += 1
            if not answered:
                # Before the end record: a crash between the two leaves the call live in the
                # store, so the next restart schedules it again (once: one per number).
                self._return_calls.schedule_return_call(call)
            ctx.emit(
                RecordCall(
                    ended_record(
                        call,
                        ctx.now,
                        outcome,
                        wait,
                        answered_at=stored.answered_at if answered else None,
                        agent_id=stored.agent_id if answered else None,
                        reason=EndReason.LOST_DURING_DISCONNECT,
                        last_seen_at=seen,
                    )
                )
            )
            ctx.log(
                "call.ended_while_away",
                call_id=stored.call_id,
                outcome=outcome.value,
                was=stored.state.value,
                last_seen_at=seen,
            )
        self._restored.clear()

    # -- routing decisions ---------------------------------------------------------------

    def offer(self, call: WaitingCall, agent: Agent) -> None:
        """The router chose ``agent`` for ``call``: ring its device."""
        ctx = self._ctx
        live = self._calls[call.call_id]
        call = replace(call, offers=call.offers + 1)
        live.call = call
        live.move(CallPhase.OFFERED)
        live.agent_id, live.offered_at, live.agent_channel = agent.agent_id, ctx.now, None
        self._agents.take(agent, call.call_id, AgentTrigger.OFFER_INBOUND)
        ctx.stats.offers += 1
        ctx.emit(
            ConnectCallToAgent(call.call_id, call.channel, agent.agent_id, agent.device, ctx.ring_timeout_s)
        )
        ctx.arm(OFFER_TIMER, call.call_id, ctx.now + ctx.ring_timeout_s + ctx.settings.pbx_grace_s)
        self._track(live, LiveState.OFFERED, offered_at=ctx.now)
        ctx.log(
            "call.offered",
            call_id=call.call_id,
            agent_id=agent.agent_id,
            priority=call.priority.name.lower(),
            offer=call.offers,
            wait_s=round(ctx.now - call.enqueued_at, 3),
        )

    # -- arrival and resync --------------------------------------------------------------

    def on_call_arrived(self, event: CallArrived) -> None:
        """A call waits on hold (new, or found by a resync)."""
        ctx = self._ctx
        ringing = self._agents.for_token(event.ringing_agent) if event.ringing_agent else None
        live = self._calls.get(event.call_id)
        if live is not None:
            if event.resynced:
                self._on_call_found(live, ringing)
            return
        if ctx.is_finished(event.call_id) or self._return_calls.owns_call(event.call_id):
            ctx.ignore(event, "call already handled", call_id=event.call_id)
            return
        priority = priority_class_of(event.priority)
        call = self._from_store(event.call_id, event.channel, event.caller_number, priority)
        if call is None:
            call = WaitingCall(
                call_id=event.call_id,
                channel=event.channel,
                caller_number=event.caller_number,
                priority=priority,
                # A call found by a resync has waited since before we saw it: keep its place.
                enqueued_at=ctx.now - max(event.waited_s, 0.0),
                caller_name=event.caller_name,
            )
            ctx.stats.calls_arrived += 1
        live = self._calls[event.call_id] = InboundCall(call)
        self._track(live, LiveState.WAITING)
        if ringing is None or not self._attach_ringing(live, ringing):
            ctx.router.add_call(call)

    def on_flag_call(self, event: FlagCall) -> None:
        """Escalation: the call jumps to the urgent class now, whatever its phase.

        Waiting: it is re-placed in the router.  Offered or held back: it keeps the class when it
        goes back to the queue.  The written-ahead record takes the class, so a restart keeps it.
        """
        ctx = self._ctx
        live = self._calls.get(event.call_id)
        if live is None:
            ctx.ignore(event, "not a live inbound call", call_id=event.call_id)
            return
        if live.call.priority is not PriorityClass.ESCALATED:
            live.call = replace(live.call, priority=PriorityClass.ESCALATED)
            if live.phase is CallPhase.WAITING and ctx.router.remove_call(event.call_id) is not None:
                ctx.router.add_call(live.call)
            state = _LIVE_STATE_OF.get(live.phase)
            if state is not None:
                self._track(live, state)
        ctx.log(
            "call.flagged",
            "warning",
            call_id=event.call_id,
            escalation_level=event.level,
            reasons=list(event.reasons),
            phase=live.phase.value,
        )

    def _on_call_found(self, live: InboundCall, ringing: Agent | None) -> None:
        """A resync found a call we know unbridged: on hold, or dialling ``ringing``."""
        ctx = self._ctx
        call_id = live.call_id
        match live.phase:
            case CallPhase.OFFERED:
                if ringing is not None and live.agent_id == ringing.agent_id:
                    return  # still ringing the agent it was offered to: the offer stands
                # Found back on hold (or ringing someone else): the offer is over, no one's fault.
                self._withdraw_offer(live, AgentTrigger.OFFER_WITHDRAWN)
            case CallPhase.ANSWERED:
                agent = self._agents.get(live.agent_id)
                if agent is not None and agent.work == call_id:
                    self._agents.release(agent, AgentTrigger.CALL_ENDED)
                live.answered_at = None
            case CallPhase.WAITING:
                if ringing is None:
                    return
                ctx.router.remove_call(call_id)
            case CallPhase.HELD_BACK:
                if ringing is None:
                    return
                ctx.disarm(RETRY_TIMER, call_id)
        if ringing is not None and self._attach_ringing(live, ringing):
            return
        self._requeue(live, "resync")

    def _attach_ringing(self, live: InboundCall, agent: Agent) -> bool:
        """Treat a call found dialling ``agent`` as offered to it (it rings there now)."""
        ctx = self._ctx
        call_id = live.call_id
        if not agent.can(AgentTrigger.ATTACH_RINGING) or not self._agents.claim(agent, call_id):
            return False
        live.move(CallPhase.OFFERED)
        live.agent_id, live.agent_channel, live.offered_at = agent.agent_id, None, ctx.now
        self._agents.take(agent, call_id, AgentTrigger.ATTACH_RINGING)
        ctx.arm(OFFER_TIMER, call_id, ctx.now + ctx.ring_timeout_s + ctx.settings.pbx_grace_s)
        self._track(live, LiveState.OFFERED, offered_at=ctx.now)
        ctx.log("call.attached", call_id=call_id, agent_id=agent.agent_id, ringing=True)
        return True

    def _requeue(self, live: InboundCall, why: str) -> None:
        live.call = replace(live.call, returned=True)
        live.move(CallPhase.WAITING)
        live.agent_id, live.agent_channel = None, None
        self._ctx.router.add_call(live.call)
        self._track(live, LiveState.WAITING)
        self._ctx.log("call.requeued", call_id=live.call_id, reason=why, offers=live.call.offers)

    def _withdraw_offer(self, live: InboundCall, trigger: AgentTrigger, reason: str | None = None) -> None:
        """End the current offer of ``live``: the agent goes by ``trigger`` (ready, or paused)."""
        self._ctx.disarm(OFFER_TIMER, live.call_id)
        agent = self._agents.get(live.agent_id)
        if agent is not None and agent.work == live.call_id:
            agent.work = None
            if trigger is AgentTrigger.NO_ANSWER:
                self._agents.transition(agent, trigger, reason)
            else:
                self._agents.release(agent, trigger)

    def _offered_to(self, live: InboundCall | None, agent: Agent | None) -> bool:
        return (
            live is not None
            and live.phase is CallPhase.OFFERED
            and agent is not None
            and live.agent_id == agent.agent_id
        )

    # -- the agent's device --------------------------------------------------------------

    def on_agent_ringing(self, event: AgentRinging) -> None:
        """The offered agent's device rings."""
        live = self._calls.get(event.call_id)
        if not self._offered_to(live, self._agents.for_device(event.device)):
            self._ctx.ignore(event, "not offered to this device", call_id=event.call_id, device=event.device)
            return
        assert live is not None
        live.agent_channel = event.agent_channel

    def on_agent_dial_ended(self, event: AgentDialEnded) -> None:
        """The dial of the offered agent ended: answered, cancelled, or not answered."""
        live = self._calls.get(event.call_id)
        if not self._offered_to(live, self._agents.for_device(event.device)):
            self._ctx.ignore(event, "not offered to this device", call_id=event.call_id, device=event.device)
            return
        assert live is not None
        status = event.dial_status.upper()
        if event.answered:
            self._answered(live)
        elif status == "CANCEL":
            pass  # the caller hung up while it rang: CallAbandoned follows and settles it
        else:
            self._ring_no_answer(live, status)

    def on_agent_dial_failed(self, event: AgentDialFailed) -> None:
        """The dialplan reports the agent's dial failed (``HotlineAgentFailed``)."""
        live = self._calls.get(event.call_id)
        if not self._offered_to(live, self._agents.for_token(event.agent)):
            # Usually the echo of an AgentDialEnded already handled.
            self._ctx.ignore(event, "not offered to this agent", call_id=event.call_id, agent=event.agent)
            return
        assert live is not None
        self._ring_no_answer(live, event.dial_status.upper())

    def on_device_lost(self, agent: Agent) -> bool:
        """``agent``'s phone was found unreachable while it rings for an offer (a dead softphone
        still registered: capture pjsip/11e): withdraw the offer at once instead of ringing the
        dead contact for the whole ring timeout.  The call goes back to the head of its class
        with its wait kept, so the routing that follows this event gives it to another ready
        agent; if none takes it, :meth:`return_to_hold` takes it back to music on hold.
        False when ``agent`` rings for no inbound call (a callback's agent leg)."""
        live = self._calls.get(agent.work or "")
        if live is None or not self._offered_to(live, agent):
            return False
        self._ctx.disarm(OFFER_TIMER, live.call_id)
        self._agents.lose_device_during_offer(agent)
        self._ctx.log("call.offer_withdrawn", call_id=live.call_id, agent_id=agent.agent_id, why="phone_lost")
        self._requeue(live, "phone_lost")
        self._to_hold[live.call_id] = None
        return True

    def return_to_hold(self) -> None:
        """After the routing that followed :meth:`on_device_lost`: a call still waiting leaves
        the dead phone's dial for music on hold (a call re-offered is redirected anyway)."""
        pending, self._to_hold = self._to_hold, {}
        if not self._ctx.connected:
            return  # the resync after the reconnect finds where it is
        for call_id in pending:
            live = self._calls.get(call_id)
            if live is not None and live.phase is CallPhase.WAITING:
                self._ctx.emit(ReturnCallToHold(call_id, live.call.channel))

    def _ring_no_answer(self, live: InboundCall, status: str) -> None:
        agent_id = live.agent_id
        reason = PAUSE_NO_ANSWER if status in ("NOANSWER", "BUSY", "") else PAUSE_DIAL_FAILED
        self._withdraw_offer(live, AgentTrigger.NO_ANSWER, reason)
        self._ctx.stats.ring_no_answer += 1
        self._ctx.log("call.ring_no_answer", call_id=live.call_id, agent_id=agent_id, dial_status=status)
        self._requeue(live, "ring_no_answer")

    def _answered(self, live: InboundCall) -> None:
        ctx = self._ctx
        if live.phase is CallPhase.ANSWERED:
            return
        ctx.disarm(OFFER_TIMER, live.call_id)
        live.move(CallPhase.ANSWERED)
        live.answered_at = ctx.now
        agent = self._agents.get(live.agent_id)
        if agent is not None and agent.work == live.call_id:
            self._agents.transition(agent, AgentTrigger.ANSWER_INBOUND)
        wait = ctx.now - live.call.enqueued_at
        self._track(live, LiveState.ANSWERED, answered_at=ctx.now, wait_s=round(wait, 3))
        ctx.stats.calls_answered += 1
        ctx.stats.total_answer_wait_s += wait
        if wait <= ctx.settings.service_level_threshold_s:
            ctx.stats.answered_within_threshold += 1
        ctx.log(
            "call.answered",
            call_id=live.call_id,
            agent_id=live.agent_id,
            wait_s=round(wait, 3),
            priority=live.call.priority.name.lower(),
            offers=live.call.offers,
        )
        self._return_calls.close_return_calls(live.call.caller_number)

    # -- ends ----------------------------------------------------------------------------

    def on_call_abandoned(self, event: CallAbandoned) -> None:
        """The caller hung up before an agent answered."""
        live = self._calls.get(event.call_id)
        if live is None:
            if not self._ctx.is_finished(event.call_id):
                self._ctx.ignore(event, "unknown call", call_id=event.call_id)
            return
        if live.phase is CallPhase.ANSWERED:
            self._ctx.ignore(event, "the call was answered", call_id=event.call_id)
            return
        self._end_unanswered(live, CallOutcome.ABANDONED, event.cause, EndReason.HANGUP)

    def _end_unanswered(self, live: InboundCall, outcome: CallOutcome, cause: int, reason: EndReason) -> None:
        ctx = self._ctx
        call = live.call
        if live.phase is CallPhase.WAITING:
            ctx.router.remove_call(call.call_id)
        elif live.phase is CallPhase.OFFERED:
            self._withdraw_offer(live, AgentTrigger.OFFER_WITHDRAWN)
        elif live.phase is CallPhase.HELD_BACK:
            ctx.disarm(RETRY_TIMER, call.call_id)
        del self._calls[call.call_id]
        ctx.remember_finished(call.call_id)
        if outcome is CallOutcome.LOST:
            ctx.stats.calls_lost += 1
        else:
            ctx.stats.calls_abandoned += 1
        wait = ctx.now - call.enqueued_at
        # The return call before the end record: a crash between the two leaves the call live
        # in the store, and the restart's reconcile owes it again (once: one per number).
        self._return_calls.schedule_return_call(call)
        ctx.emit(
            RecordCall(
                ended_record(
                    call, ctx.now, outcome, wait, cause=cause, reason=reason, last_seen_at=ctx.last_seen_at
                )
            )
        )
        ctx.log("call.unanswered", call_id=call.call_id, outcome=outcome.value, wait_s=round(wait, 3))

    def on_call_ended(self, event: CallEnded) -> None:
        """The call is over (every channel gone)."""
        ctx = self._ctx
        live = self._calls.get(event.call_id)
        if live is None:
            if not ctx.is_finished(event.call_id):
                ctx.ignore(event, "unknown call", call_id=event.call_id)
            return
        if live.phase is not CallPhase.ANSWERED:
            # Also a call gone while the PBX link was down (found by the resync): its caller
            # hung up unanswered, when exactly is unknown (the record says ``end_uncertain``).
            self._end_unanswered(live, CallOutcome.ABANDONED, event.cause, event.reason)
            return
        call = live.call
        del self._calls[call.call_id]
        ctx.remember_finished(call.call_id)
        agent = self._agents.get(live.agent_id)
        if agent is not None and agent.work == call.call_id:
            self._agents.release(agent, AgentTrigger.CALL_ENDED)
        answered_at = live.answered_at if live.answered_at is not None else ctx.now
        ctx.emit(
            RecordCall(
                ended_record(
                    call,
                    ctx.now,
                    CallOutcome.ANSWERED,
                    answered_at - call.enqueued_at,
                    answered_at=answered_at,
                    agent_id=live.agent_id,
                    cause=event.cause,
                    reason=event.reason,
                    last_seen_at=ctx.last_seen_at,
                )
            )
        )

    def on_call_bridged(self, event: CallBridged) -> None:
        """The call is bridged: the offered agent answered, or a resync found it talking."""
        ctx = self._ctx
        live = self._calls.get(event.call_id)
        if live is not None and live.phase is CallPhase.OFFERED:
            self._answered(live)
            return
        if live is not None and live.phase is CallPhase.ANSWERED:
            return
        # A call we did not connect, bridged to one of our agents: a resync after a restart
        # (or a disconnect) found it.  Attach the agent so it is not offered another call.
        agent = next((a for a in map(self._agents.for_device, event.channels) if a is not None), None)
        if (
            agent is None
            or not agent.can(AgentTrigger.ATTACH_INBOUND)
            or not self._agents.claim(agent, event.call_id)
        ):
            ctx.ignore(event, "no agent of ours to attach", call_id=event.call_id)
            return
        stored = self._restored.get(event.call_id)
        if live is None:
            if ctx.is_finished(event.call_id):
                ctx.ignore(event, "call already handled", call_id=event.call_id)
                return
            caller = next(
                (c for c in event.channels if self._agents.for_device(c) is None), event.channels[0]
            )
            call = self._from_store(event.call_id, caller, "", PriorityClass.NORMAL) or WaitingCall(
                call_id=event.call_id, channel=caller, caller_number="", enqueued_at=ctx.now
            )
            live = self._calls[event.call_id] = InboundCall(call)
        elif live.phase is CallPhase.WAITING:
            ctx.router.remove_call(event.call_id)
        elif live.phase is CallPhase.HELD_BACK:
            ctx.disarm(RETRY_TIMER, event.call_id)
        live.move(CallPhase.ANSWERED)
        # A call answered before the restart keeps its answer time; one answered while we were
        # away is answered, as far as we can tell, when the resync found it.
        answered_at = stored.answered_at if stored is not None and stored.answered_at is not None else ctx.now
        live.agent_id, live.answered_at = agent.agent_id, answered_at
        self._agents.take(agent, event.call_id, AgentTrigger.ATTACH_INBOUND)
        self._track(
            live,
            LiveState.ANSWERED,
            answered_at=answered_at,
            wait_s=round(answered_at - live.call.enqueued_at, 3),
        )
        ctx.log("call.attached", call_id=event.call_id, agent_id=agent.agent_id)

    # -- timers and failed actions -------------------------------------------------------

    def on_offer_timeout(self, call_id: str) -> None:
        """The offer of ``call_id`` got no answer from the PBX in time."""
        ctx = self._ctx
        live = self._calls.get(call_id)
        if live is None or live.phase is not CallPhase.OFFERED:
            return
        if not ctx.connected:  # the PBX cannot tell us now; ask again later
            ctx.arm(OFFER_TIMER, call_id, ctx.now + ctx.settings.pbx_grace_s)
            return
        ctx.log(
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

    def on_retry_timer(self, call_id: str) -> None:
        """A held-back call may be offered again."""
        live = self._calls.get(call_id)
        if live is not None and live.phase is CallPhase.HELD_BACK:
            self._requeue(live, "retry")

    def on_connect_failed(self, command: ConnectCallToAgent, *, permanent: bool) -> None:
        """The Redirect of an offer failed for certain: hold the call back for a short pause."""
        ctx = self._ctx
        live = self._calls.get(command.call_id)
        agent = self._agents.get(command.agent_id)
        if not self._offered_to(live, agent):
            return
        assert live is not None and agent is not None
        if permanent:
            self._withdraw_offer(live, AgentTrigger.NO_ANSWER, PAUSE_DIAL_FAILED)
        else:
            self._withdraw_offer(live, AgentTrigger.OFFER_WITHDRAWN)
        # The channel may be gone (its CallEnded is on the way): offer it again only
        # after a pause, so a failing action cannot spin.
        live.move(CallPhase.HELD_BACK)
        live.agent_id = None
        ctx.arm(RETRY_TIMER, command.call_id, ctx.now + ctx.settings.action_retry_s)

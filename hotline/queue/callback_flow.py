"""The callbacks flow: return calls (回拨) and follow-ups (回访), dialled and followed to their end.

The open callbacks live in a :class:`hotline.queue.callbacks.CallbackBook` (their statuses and
their restore step).  Each time one is dialled an :class:`Attempt` follows the call, its
:class:`AttemptPhase` only moving forward (:meth:`Attempt.advance` raises
:class:`IllegalAttemptTransition` otherwise).  The flow asks
:class:`hotline.queue.agent_flow.AgentFlow` to move the agents it dials.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from hotline.events import (
    AgentDialEnded,
    AgentRinging,
    CallbackLegCreated,
    CallBridged,
    CallEnded,
    CitizenDialEnded,
    CitizenRinging,
    Direction,
    EndReason,
    OriginateResult,
)
from hotline.queue.agent_flow import AgentFlow
from hotline.queue.agents import PAUSE_DIAL_FAILED, PAUSE_NO_ANSWER, Agent, AgentState, AgentTrigger
from hotline.queue.callbacks import CallbackBook
from hotline.queue.commands import (
    CancelCallbackDial,
    HangupChannel,
    RecordCall,
    StartCallback,
    TrackCall,
)
from hotline.queue.flow import FlowContext
from hotline.queue.inputs import CallbackOriginated, CancelCallback, ScheduleCallback
from hotline.queue.work import (
    AttemptOutcome,
    Callback,
    CallbackAttempt,
    CallbackKind,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    LiveCall,
    LiveState,
    WaitingCall,
    attempt_outcome_of,
)

#: OriginateResponse reasons that mean the agent leg rang out or was busy/rejected.
_AGENT_NO_ANSWER_REASONS = frozenset({1, 3, 5})
#: Timer kind of this flow (ident: the attempt id).
ATTEMPT_TIMER = "attempt"


class IllegalAttemptTransition(Exception):
    """An attempt's phase moved backwards."""

    def __init__(self, attempt_id: str, from_phase: str, to_phase: str) -> None:
        self.attempt_id = attempt_id
        self.from_phase = from_phase
        self.to_phase = to_phase
        super().__init__(f"callback attempt {attempt_id}: {from_phase} -> {to_phase} is not allowed")


class AttemptPhase(enum.IntEnum):
    """How far a callback attempt got; it only moves forward."""

    STARTING = 0  # Originate sent: the agent's device rings
    CITIZEN_DIALING = 1  # the agent answered: the citizen is being dialled
    CITIZEN_RINGING = 2
    TALKING = 3


@dataclass(slots=True)
class Attempt:
    """One dialling of a callback, followed from the Originate to the end of its call."""

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
    def of(cls, callback: Callback, agent_id: str, now: float) -> Attempt:
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

    def live(self, state: LiveState) -> LiveCall:
        """What is known of this attempt's call, to write ahead."""
        return LiveCall(
            call_id=self.call_id or "",
            direction=Direction.CALLBACK,
            state=state,
            number=self.number,
            offered_at=self.started_at,
            answered_at=self.answered_at,
            agent_id=self.agent_id,
            callback_id=self.callback_id,
            ticket_id=self.ticket_id,
        )

    def ended(self, now: float, cause: int, reason: EndReason) -> CallRecord:
        """The record of this attempt's call, ended at ``now``."""
        return CallRecord(
            call_id=self.call_id or "",
            direction=Direction.CALLBACK,
            number=self.number,
            started_at=self.started_at,
            ended_at=now,
            outcome=CallOutcome.REACHED
            if self.outcome is AttemptOutcome.REACHED
            else CallOutcome.NOT_REACHED,
            answered_at=self.answered_at,
            agent_id=self.agent_id,
            wait_s=round(max(self.started_at - self.due_at, 0.0), 3),
            callback_id=self.callback_id,
            ticket_id=self.ticket_id,
            end_cause=cause,
            end_reason=reason,
        )

    def advance(self, phase: AttemptPhase) -> None:
        """Move forward to ``phase`` (staying is allowed, going back is not)."""
        if phase < self.phase:
            raise IllegalAttemptTransition(self.attempt_id, self.phase.name, phase.name)
        self.phase = phase


class CallbackFlow:
    """Open callbacks (its :class:`CallbackBook`), the attempts that dial them, their records."""

    def __init__(self, ctx: FlowContext, agents: AgentFlow) -> None:
        self._ctx = ctx
        self._agents = agents
        self.book = CallbackBook(ctx)
        self._attempts: dict[str, Attempt] = {}
        self._current_attempt: dict[str, str] = {}  # callback id -> attempt id
        self._attempt_by_call: dict[str, str] = {}
        self._attempt_by_action: dict[str, str] = {}
        #: Callbacks' calls the store had live at the stop, until the resync finds them.
        self._restored_calls: dict[str, LiveCall] = {}

    # -- views ---------------------------------------------------------------------------

    def open(self) -> list[Callback]:
        """Every open callback (pending or in progress)."""
        return self.book.open()

    def owns_call(self, call_id: str) -> bool:
        """True when ``call_id`` is the call of a running attempt."""
        return call_id in self._attempt_by_call

    def _current(self, callback_id: str) -> Attempt | None:
        return self._attempts.get(self._current_attempt.get(callback_id, ""))

    def _by_call(self, call_id: str) -> Attempt | None:
        return self._attempts.get(self._attempt_by_call.get(call_id, ""))

    def on_cancel(self, event: CancelCallback) -> None:
        """Withdraw a callback: at once if pending, after its attempt if one runs."""
        if self.book.get(event.callback_id) is None:
            self._ctx.ignore(event, "no open callback", callback_id=event.callback_id)
        elif not self.book.cancel(event.callback_id, event.reason):
            attempt = self._current(event.callback_id)
            if attempt is not None:
                attempt.cancel_requested = event.reason  # the attempt under way finishes first

    # -- the book's side of the ReturnCalls port, and the rest of its entry points -------

    def restore(self, pending: list[Callback], live_calls: Sequence[LiveCall] = ()) -> None:
        """Take up the open callbacks the store kept; those under way wait for the resync, and
        so do the callbacks' calls the store had live."""
        self.book.restore(pending)
        for call in live_calls:
            if call.direction is Direction.CALLBACK and call.callback_id:
                self._restored_calls[call.call_id] = call

    def release_unsettled(self) -> None:
        """The PBX listed its channels: callbacks whose call was not found are due again."""
        self.book.release_unsettled()

    def on_schedule(self, event: ScheduleCallback) -> None:
        """Someone asks for a callback.

        After a restart the resync may find a callback's call running before the store's pending
        copy of that callback is taken up (its in-progress write was lost): the callback is then
        in progress with that call, never queued to be dialled a second time.
        """
        self.book.on_schedule(event)
        running = next((a for a in self._attempts.values() if a.callback_id == event.callback_id), None)
        if running is not None and self.book.take_off_queue(event.callback_id) is not None:
            self._current_attempt[event.callback_id] = running.attempt_id

    def schedule_return_call(self, call: WaitingCall) -> None:
        """The caller of ``call`` hung up unanswered: owe them one return call."""
        self.book.schedule_return_call(call)

    def close_return_calls(self, number: str) -> None:
        """The citizen got through: a pending return call to them is no longer owed."""
        self.book.close_return_calls(number)

    # -- routing decisions ---------------------------------------------------------------

    def start(self, callback: Callback, agent: Agent) -> None:
        """The router chose ``agent`` for ``callback``: originate the attempt."""
        ctx = self._ctx
        start_no = len(callback.history) + 1
        if ctx.router.may_take_waiting_call(agent.agent_id):
            ctx.stats.callbacks_started_while_inbound_waited += 1  # an invariant broke: be loud
            ctx.log(
                "queue.invariant_broken", "error", agent_id=agent.agent_id, callback_id=callback.callback_id
            )
        callback = self.book.begin(callback)
        attempt = Attempt.of(callback, agent.agent_id, ctx.now)
        self._attempts[attempt.attempt_id] = attempt
        self._current_attempt[callback.callback_id] = attempt.attempt_id
        self._agents.take(agent, attempt.attempt_id, AgentTrigger.OFFER_CALLBACK)
        ctx.stats.callbacks_started += 1
        ctx.emit(
            StartCallback(
                callback.callback_id,
                start_no,
                agent.agent_id,
                agent.device,
                callback.number,
                callback.kind,
                callback.ticket_id,
                ctx.ring_timeout_s,
                ctx.citizen_timeout_s,
            )
        )
        self._arm_attempt(attempt)
        ctx.log(
            "callback.started",
            callback_id=callback.callback_id,
            agent_id=agent.agent_id,
            kind=callback.kind.value,
            attempt=callback.attempts + 1,
            start=start_no,
            ticket_id=callback.ticket_id,
            wait_s=round(max(ctx.now - callback.due_at, 0.0), 3),
        )

    def _arm_attempt(self, attempt: Attempt) -> None:
        ctx = self._ctx
        ctx.arm(
            ATTEMPT_TIMER,
            attempt.attempt_id,
            ctx.now + ctx.ring_timeout_s + ctx.citizen_timeout_s + ctx.settings.pbx_grace_s,
        )

    def preempt(self, agent: Agent, skill: str | None) -> None:
        """An inbound call waits for ``agent``: cancel the dial of its callback."""
        ctx = self._ctx
        attempt = self._attempts.get(agent.work or "")
        if attempt is None or attempt.outcome is not None or attempt.channel is None:
            ctx.router.preemption_finished(skill)
            ctx.log("queue.inconsistent", "warning", agent_id=agent.agent_id, why="nothing to pre-empt")
            return
        attempt.preempting = True
        attempt.preempt_skill = skill
        ctx.stats.callbacks_preempted += 1
        ctx.emit(CancelCallbackDial(attempt.callback_id, attempt.call_id or "", attempt.channel))
        ctx.log(
            "callback.preempted",
            callback_id=attempt.callback_id,
            agent_id=agent.agent_id,
            call_id=attempt.call_id,
            waiting_inbound=ctx.router.waiting_count,
        )
        self._resolve(attempt, AttemptOutcome.PREEMPTED, "")

    # -- linking PBX events to attempts --------------------------------------------------

    def _attempt_for(self, call_id: str, agent: Agent | None) -> Attempt | None:
        """The attempt a callback-side event is about: by call id, else by the agent it rings."""
        attempt = self._by_call(call_id)
        if attempt is not None:
            return attempt
        if agent is None:
            return None
        attempt = self._attempts.get(agent.work or "")
        if attempt is None or attempt.call_id is not None or attempt.phase is not AttemptPhase.STARTING:
            return None
        self._link_call(attempt, call_id, None)
        return attempt

    def _link_call(self, attempt: Attempt, call_id: str | None, channel: str | None) -> None:
        if call_id and attempt.call_id is None and call_id not in self._attempt_by_call:
            attempt.call_id = call_id
            self._attempt_by_call[call_id] = attempt.attempt_id
            self._ctx.emit(TrackCall(attempt.live(LiveState.OFFERED)))
        if channel and attempt.channel is None:
            attempt.channel = channel
        self._update_preemptible(attempt)

    def _update_preemptible(self, attempt: Attempt) -> None:
        router = self._ctx.router
        if (
            router.preempt
            and attempt.outcome is None
            and attempt.channel is not None
            and attempt.phase in (AttemptPhase.CITIZEN_DIALING, AttemptPhase.CITIZEN_RINGING)
        ):
            router.set_preemptible(attempt.agent_id, attempt.started_at)
        else:
            router.clear_preemptible(attempt.agent_id)

    def on_leg_created(self, event: CallbackLegCreated) -> None:
        """A channel of a callback's call exists (new, or found by a resync)."""
        attempt = self._current(event.callback_id)
        if attempt is None:
            callback = self.book.unsettled(event.callback_id)
            if callback is None and self._resumable(event):
                # The store may still say pending while its call runs (the write of its start
                # was lost at a kill): take it off the queue before it is dialled again (only
                # when the call can be taken up, or the callback is left in progress unowned).
                callback = self.book.take_off_queue(event.callback_id)
            if callback is not None or self._free_or_restored_on(event):
                # None: a call already answered (closed in the store) when we restarted.
                self._resume(event, callback)
                return
            # Also what the captures' TICKET_ID marker gives: the agent's ringing links it.
            self._ctx.ignore(event, "no callback attempt with this id", callback_id=event.callback_id)
            return
        if attempt.call_id is not None and attempt.call_id != event.call_id:
            self._ctx.ignore(event, "attempt already has a call", callback_id=event.callback_id)
            return
        self._link_call(attempt, event.call_id, event.channel)

    def _free_or_restored_on(self, event: CallbackLegCreated) -> bool:
        agent = self._agents.for_device(event.channel)
        if agent is None:
            return False
        restored = self._agents.restored_work(agent)
        return agent.work is None or (restored is not None and restored.startswith(f"{event.callback_id}#"))

    def _resumable(self, event: CallbackLegCreated) -> bool:
        """True when the leg of ``event`` is on an agent of ours free to take its call up."""
        agent = self._agents.for_device(event.channel)
        if agent is None or event.call_id in self._attempt_by_call or self._ctx.is_finished(event.call_id):
            return False
        restored = self._agents.restored_work(agent)
        own = restored is not None and restored.startswith(f"{event.callback_id}#")
        return (agent.work is None or own) and (
            agent.can(AgentTrigger.ATTACH_CALLBACK) or agent.state is AgentState.OFFERED
        )

    def _resume(self, event: CallbackLegCreated, callback: Callback | None) -> None:
        """A callback's call still runs after a restart (a resync found its leg): take it up.

        ``callback`` is the restored open callback, or None for one already closed.  The
        agent keeps what it was doing: still ringing (the attempt has not reached the citizen
        and is not counted answered), or talking.  The call's written-ahead record gives back
        its start, its number and its answer.
        """
        ctx = self._ctx
        agent = self._agents.for_device(event.channel)
        restored = self._agents.restored_work(agent) if agent is not None else None
        own = restored is not None and restored.startswith(f"{event.callback_id}#")
        if event.call_id in self._attempt_by_call or ctx.is_finished(event.call_id):
            ctx.ignore(event, "call already handled", callback_id=event.callback_id)
            return
        if agent is None or not self._resumable(event):
            ctx.ignore(event, "no free agent of ours on this leg", callback_id=event.callback_id)
            return
        if own and restored is not None:
            self._agents.claim(agent, restored)
        stored = self._restored_calls.pop(event.call_id, None)
        if callback is not None:
            self.book.settle(callback.callback_id)
            attempt = Attempt.of(callback, agent.agent_id, ctx.now)
            if own and restored is not None:
                attempt.attempt_id = restored
            self._current_attempt[callback.callback_id] = attempt.attempt_id
        else:
            attempt = Attempt(
                # Unique per call: two resumed calls of closed callbacks must not share an id.
                f"{event.callback_id}#resumed-{event.call_id}",
                event.callback_id,
                stored.number if stored is not None else "",
                CallbackKind.FOLLOW_UP,
                stored.ticket_id if stored is not None else None,
                ctx.now,
                agent.agent_id,
                ctx.now,
            )
        if stored is not None and stored.offered_at is not None:
            attempt.started_at = stored.offered_at
        ringing = own and agent.state is AgentState.OFFERED
        self._attempts[attempt.attempt_id] = attempt
        if ringing:
            agent.work = attempt.attempt_id  # its device still rings: the agent has not answered
        else:
            attempt.advance(AttemptPhase.CITIZEN_DIALING)  # the agent leg is up
            self._agents.take(agent, attempt.attempt_id, AgentTrigger.ATTACH_CALLBACK)
        self._link_call(attempt, event.call_id, event.channel)
        self._arm_attempt(attempt)
        if stored is not None and stored.state is LiveState.ANSWERED and stored.answered_at is not None:
            attempt.advance(AttemptPhase.TALKING)
            if callback is None:
                attempt.outcome = AttemptOutcome.REACHED  # the store already closed it as reached
                self.book.remember_closed(event.callback_id)
                ctx.disarm(ATTEMPT_TIMER, attempt.attempt_id)
            else:
                self._reached(attempt, "ANSWER")
            attempt.answered_at = stored.answered_at
        ctx.log(
            "callback.attached",
            callback_id=event.callback_id,
            agent_id=agent.agent_id,
            call_id=event.call_id,
            known=callback is not None,
            ringing_agent=ringing,
        )

    def reconcile(self, last_seen_at: float | None) -> None:
        """The first resync after a restart is over: a callback's call the store had live and
        the PBX no longer has ended while we were away.  Its record says the end is uncertain;
        a citizen it had reached is not called again (the callback is closed as reached); any
        other callback left unsettled is closed by :meth:`release_unsettled`."""
        ctx = self._ctx
        for stored in self._restored_calls.values():
            answered = stored.state is LiveState.ANSWERED and stored.answered_at is not None
            started = stored.offered_at or ctx.now
            attempt = Attempt(
                f"{stored.callback_id}#gone-{stored.call_id}",
                stored.callback_id or "",
                stored.number,
                CallbackKind.FOLLOW_UP,
                stored.ticket_id,
                started,
                stored.agent_id or "",
                started,
                call_id=stored.call_id,
                answered_at=stored.answered_at if answered else None,
                outcome=AttemptOutcome.REACHED if answered else AttemptOutcome.ABORTED,
            )
            if answered:
                reached = CallbackAttempt(
                    started, ctx.now, attempt.agent_id, AttemptOutcome.REACHED, "ANSWER", stored.call_id
                )
                self.book.reached_while_away(attempt.callback_id, reached)
            ctx.remember_finished(stored.call_id)
            ended = attempt.ended(ctx.now, 0, EndReason.LOST_DURING_DISCONNECT)
            seen = last_seen_at if last_seen_at is not None else started
            ctx.emit(RecordCall(replace(ended, end_uncertain=True, last_seen_at=seen, wait_s=None)))
            ctx.log("callback.call_ended_while_away", callback_id=stored.callback_id, call_id=stored.call_id)
        self._restored_calls.clear()

    def on_originated(self, event: CallbackOriginated) -> None:
        """The runner sent the Originate: remember its ActionID."""
        attempt = self._current(event.callback_id)
        if attempt is None:
            self._ctx.ignore(event, "no callback attempt with this id", callback_id=event.callback_id)
            return
        attempt.action_id = event.action_id
        self._attempt_by_action[event.action_id] = attempt.attempt_id

    def on_originate_result(self, event: OriginateResult) -> None:
        """Asterisk's ``OriginateResponse``: the agent leg answered, or the Originate failed."""
        attempt_id = self._attempt_by_action.pop(event.action_id, None)
        attempt = self._attempts.get(attempt_id or "")
        if attempt is None and event.call_id:
            attempt = self._by_call(event.call_id)
        if attempt is None:
            # A failed Originate names the dial string it was given: the agent's device.
            agent = self._agents.for_device(event.channel)
            candidate = self._attempts.get(agent.work or "") if agent is not None else None
            if candidate is not None and candidate.phase is AttemptPhase.STARTING:
                attempt = candidate
        if attempt is None:
            self._ctx.ignore(event, "no callback attempt", action_id=event.action_id)
            return
        if event.success:
            self._link_call(attempt, event.call_id, None)
            if attempt.phase is AttemptPhase.STARTING and attempt.outcome is None:
                self._agent_answered(attempt)
            return
        if attempt.outcome is not None or attempt.phase is not AttemptPhase.STARTING:
            return  # already settled (e.g. the agent's BUSY DialEnd came first)
        status = {3: "NOANSWER", 5: "BUSY", 1: "NOANSWER"}.get(event.reason, f"REASON_{event.reason}")
        self._agent_failed(attempt, status, no_answer=event.reason in _AGENT_NO_ANSWER_REASONS)

    # -- the agent leg -------------------------------------------------------------------

    def on_agent_ringing(self, event: AgentRinging) -> None:
        """The agent's device rings for a callback."""
        if self._attempt_for(event.call_id, self._agents.for_device(event.device)) is None:
            self._ctx.ignore(event, "no callback attempt", call_id=event.call_id)

    def on_agent_dial_ended(self, event: AgentDialEnded) -> None:
        """The dial of the callback's agent leg ended."""
        attempt = self._attempt_for(event.call_id, self._agents.for_device(event.device))
        if attempt is None or attempt.phase is not AttemptPhase.STARTING or attempt.outcome is not None:
            self._ctx.ignore(event, "no callback attempt ringing its agent", call_id=event.call_id)
            return
        if event.answered:
            self._agent_answered(attempt)
        elif event.dial_status.upper() != "CANCEL":
            self._agent_failed(attempt, event.dial_status)

    def _agent_answered(self, attempt: Attempt) -> None:
        attempt.advance(max(attempt.phase, AttemptPhase.CITIZEN_DIALING))
        agent = self._agents[attempt.agent_id]
        if agent.work == attempt.attempt_id and agent.state is AgentState.OFFERED:
            self._agents.transition(agent, AgentTrigger.ANSWER_CALLBACK)
        self._update_preemptible(attempt)

    def _agent_failed(self, attempt: Attempt, status: str, *, no_answer: bool = True) -> None:
        """The agent leg was not answered: the callback keeps its place, the agent is paused."""
        agent = self._agents[attempt.agent_id]
        self._resolve(attempt, AttemptOutcome.AGENT_NO_ANSWER, status)
        if agent.work == attempt.attempt_id:
            agent.work = None
            attempt.agent_done = True
            reason = PAUSE_NO_ANSWER if no_answer and status in ("NOANSWER", "BUSY") else PAUSE_DIAL_FAILED
            self._agents.transition(agent, AgentTrigger.NO_ANSWER, reason)
        self._ctx.stats.ring_no_answer += 1
        self._finish_if_done(attempt)

    # -- the citizen leg -----------------------------------------------------------------

    def on_citizen_ringing(self, event: CitizenRinging) -> None:
        """The citizen's phone rings."""
        attempt = self._by_call(event.call_id)
        if attempt is None or attempt.outcome is not None:
            self._ctx.ignore(event, "no callback attempt dialling", call_id=event.call_id)
            return
        if attempt.phase is AttemptPhase.STARTING:
            self._agent_answered(attempt)  # the agent leg's answer was not reported
        attempt.advance(max(attempt.phase, AttemptPhase.CITIZEN_RINGING))
        self._update_preemptible(attempt)

    def on_citizen_dial_ended(self, event: CitizenDialEnded) -> None:
        """The dial of the citizen ended: reached, busy, no answer, failed."""
        attempt = self._by_call(event.call_id)
        if attempt is None or attempt.outcome is not None:
            self._ctx.ignore(event, "no callback attempt dialling", call_id=event.call_id)
            return
        if attempt.phase is AttemptPhase.STARTING:
            self._agent_answered(attempt)
        outcome = attempt_outcome_of(event.dial_status)
        if outcome is AttemptOutcome.REACHED:
            self._reached(attempt, event.dial_status)
        else:
            self._resolve(attempt, outcome, event.dial_status.upper())

    def on_call_bridged(self, event: CallBridged) -> bool:
        """A callback's call is bridged (the citizen answered); False if not a callback's call."""
        attempt = self._by_call(event.call_id)
        if attempt is None:
            return False
        if attempt.outcome is None:
            if attempt.phase is AttemptPhase.STARTING:
                self._agent_answered(attempt)
            self._reached(attempt, "ANSWER")
        return True

    def _reached(self, attempt: Attempt, status: str) -> None:
        attempt.advance(AttemptPhase.TALKING)
        attempt.answered_at = self._ctx.now
        if attempt.call_id is not None:
            self._ctx.emit(TrackCall(attempt.live(LiveState.ANSWERED)))
        self._ctx.disarm(ATTEMPT_TIMER, attempt.attempt_id)  # a conversation may last
        self._resolve(attempt, AttemptOutcome.REACHED, status)

    # -- results -------------------------------------------------------------------------

    def _resolve(self, attempt: Attempt, outcome: AttemptOutcome, dial_status: str) -> None:
        """Record the attempt's result once and move the callback on (retry, done or back in place)."""
        ctx = self._ctx
        if attempt.outcome is not None:
            return
        attempt.outcome = outcome
        ctx.router.clear_preemptible(attempt.agent_id)
        record = CallbackAttempt(
            attempt.started_at, ctx.now, attempt.agent_id, outcome, dial_status, attempt.call_id
        )
        callback = self.book.settle_attempt(
            attempt.callback_id, record, give_up=attempt.give_up, cancel_requested=attempt.cancel_requested
        )
        if callback is not None and callback.status is not CallbackStatus.REACHED:
            self._current_attempt.pop(callback.callback_id, None)
        elif callback is None and outcome is AttemptOutcome.REACHED:
            # A resumed call of a callback we do not hold (the store's copy may be scheduled
            # later): the citizen is reached, that copy must not ring them again.
            self.book.remember_closed(attempt.callback_id)

    def on_call_ended(self, event: CallEnded) -> bool:
        """A callback's call is over; False if ``event`` is not about a callback's call."""
        attempt = self._by_call(event.call_id)
        if attempt is None:
            return False
        if attempt.outcome is None:
            if (
                attempt.phase is AttemptPhase.STARTING
                and event.reason is not EndReason.LOST_DURING_DISCONNECT
            ):
                self._agent_failed(attempt, "NOANSWER")
            else:
                self._resolve(attempt, AttemptOutcome.ABORTED, "HANGUP")
        if attempt.call_id is not None:
            self._ctx.emit(RecordCall(attempt.ended(self._ctx.now, event.cause, event.reason)))
        self._free_agent(attempt)
        self._drop(attempt)
        return True

    def _free_agent(self, attempt: Attempt) -> None:
        agent = self._agents[attempt.agent_id]
        if not attempt.agent_done and agent.work == attempt.attempt_id:
            attempt.agent_done = True
            talked = attempt.outcome is AttemptOutcome.REACHED
            self._agents.release(agent, AgentTrigger.CALL_ENDED if talked else AgentTrigger.RELEASE)
        if attempt.preempting:
            attempt.preempting = False
            self._ctx.router.preemption_finished(attempt.preempt_skill)
        callback = self.book.get(attempt.callback_id)
        if callback is not None and callback.status is CallbackStatus.REACHED:
            self.book.close(callback)
            self._current_attempt.pop(callback.callback_id, None)

    def _drop(self, attempt: Attempt) -> None:
        self._ctx.disarm(ATTEMPT_TIMER, attempt.attempt_id)
        self._attempts.pop(attempt.attempt_id, None)
        if attempt.call_id is not None:
            self._attempt_by_call.pop(attempt.call_id, None)
            self._ctx.remember_finished(attempt.call_id)
        if attempt.action_id is not None:
            self._attempt_by_action.pop(attempt.action_id, None)
        if self._current_attempt.get(attempt.callback_id) == attempt.attempt_id:
            del self._current_attempt[attempt.callback_id]

    def _finish_if_done(self, attempt: Attempt) -> None:
        """Drop an attempt that has no call to wait for (it never got a channel of ours)."""
        if attempt.call_id is None and attempt.agent_done:
            self._free_agent(attempt)
            self._drop(attempt)

    # -- timers and failed actions -------------------------------------------------------

    def on_attempt_timeout(self, attempt_id: str) -> None:
        """The PBX did not settle the attempt in time: settle it ourselves."""
        ctx = self._ctx
        attempt = self._attempts.get(attempt_id)
        if attempt is None:
            return
        if not ctx.connected:
            ctx.arm(ATTEMPT_TIMER, attempt_id, ctx.now + ctx.settings.pbx_grace_s)
            return
        ctx.log(
            "callback.attempt_timeout", "warning", callback_id=attempt.callback_id, agent_id=attempt.agent_id
        )
        if attempt.outcome is None:
            if attempt.phase is AttemptPhase.STARTING and attempt.uncertain and attempt.call_id is None:
                # An Originate with no answer and no channel since: it never dialled.
                self._resolve(attempt, AttemptOutcome.ABORTED, "ORIGINATE_UNANSWERED")
            elif attempt.phase is AttemptPhase.STARTING:
                self._agent_failed(attempt, "NOANSWER")
            else:
                # Counted, so a PBX that never reports cannot make a callback retry forever.
                self._resolve(attempt, AttemptOutcome.FAILED, "TIMEOUT")
        if attempt.channel is not None:
            ctx.emit(HangupChannel(attempt.channel, attempt.call_id, "callback attempt timed out"))
        if attempt.call_id is not None:
            ctx.emit(RecordCall(attempt.ended(ctx.now, 0, EndReason.HANGUP)))
        self._free_agent(attempt)
        self._drop(attempt)

    def on_start_uncertain(self, command: StartCallback) -> None:
        """The Originate was sent but not answered: it may have dialled; never resend it."""
        attempt = self._current(command.callback_id)
        if attempt is not None:
            attempt.uncertain = True

    def on_start_failed(self, command: StartCallback, *, permanent: bool) -> None:
        """The Originate failed for certain."""
        attempt = self._current(command.callback_id)
        if attempt is None or attempt.outcome is not None or attempt.agent_id != command.agent_id:
            return
        if permanent:
            attempt.give_up = "cannot_dial"
        self._resolve(attempt, AttemptOutcome.FAILED, "ORIGINATE_FAILED")
        agent = self._agents[attempt.agent_id]
        if agent.work == attempt.attempt_id:
            attempt.agent_done = True
            self._agents.release(agent, AgentTrigger.RELEASE)
        if attempt.call_id is None:
            self._drop(attempt)

    def on_cancel_dial_failed(self, command: CancelCallbackDial) -> None:
        """The channel to hang up is already gone: its end is (or was) on the way; free the agent."""
        attempt = self._by_call(command.call_id)
        if attempt is not None:
            self._free_agent(attempt)
            self._drop(attempt)

"""Between the queue's records and the store's: what the dispatcher hands out is written here.

The queue names callbacks with strings it makes up (and keeps a callback's whole history in
one value); the store numbers them and keeps attempts in their own table.  This adapter keeps
the two apart: it maps ids both ways (``cb-<store id>`` for callbacks loaded from the store),
appends only the attempts the store has not seen, and converts statuses and call records.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hotline.events import Direction
from hotline.queue.agents import AgentState, AgentStateRecord
from hotline.queue.commands import PersistAgentState, PersistCallback, RecordCall, TrackCall
from hotline.queue.inputs import ScheduleCallback
from hotline.queue.work import (
    Callback,
    CallbackKind,
    CallbackStatus,
    CallingHours,
    CallOutcome,
    CallRecord,
    LiveCall,
    LiveState,
    PriorityClass,
)
from hotline.store import CallbackAttempt as StoredAttempt
from hotline.store import CallbackKind as StoredKind
from hotline.store import CallbackRecord, NewCallback, StoredAgentState
from hotline.store import CallbackStatus as StoredStatus
from hotline.store import CallOutcome as StoredOutcome
from hotline.store import CallRecord as StoredCall
from hotline.store.factory import AnyStore

_STATUS_TO_STORE = {
    CallbackStatus.PENDING: StoredStatus.PENDING,
    CallbackStatus.IN_PROGRESS: StoredStatus.IN_PROGRESS,
    CallbackStatus.REACHED: StoredStatus.DONE,
    CallbackStatus.FAILED: StoredStatus.FAILED,
    CallbackStatus.CANCELLED: StoredStatus.CANCELLED,
}
_OUTCOME_TO_STORE = {
    CallOutcome.ANSWERED: StoredOutcome.ANSWERED,
    CallOutcome.ABANDONED: StoredOutcome.ABANDONED,
    CallOutcome.LOST: StoredOutcome.LOST,
    CallOutcome.REACHED: StoredOutcome.ANSWERED,
    CallOutcome.NOT_REACHED: StoredOutcome.FAILED,
}


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: str) -> int:
    hours, _, mins = text.partition(":")
    return int(hours) * 60 + int(mins or 0)


#: Closed callbacks remembered for the call records that may still name them (a reached
#: callback's call record is written after the callback closed).
_CLOSED_MEMORY = 10_000


def queue_callback_id(store_id: int) -> str:
    """The queue's name for a callback the store numbered."""
    return f"cb-{store_id}"


@dataclass(slots=True)
class _Known:
    store_id: int
    attempts_written: int = 0
    closed: bool = False


@dataclass(slots=True)
class QueuePersistence:
    """Writes the dispatcher's records to the store and reads them back at start."""

    store: AnyStore
    utc_offset_h: float
    dnis: str
    #: Called once when a callback is closed (reached, failed, cancelled), with its store id:
    #: the ticket workflow moves the ticket on from a follow-up call's outcome.
    on_closed: Callable[[Callback, int], Awaitable[None]] | None = None
    _known: dict[str, _Known] = field(default_factory=dict)  # open callbacks
    _closed: OrderedDict[str, _Known] = field(default_factory=OrderedDict)  # the latest closed ones
    _store_ids: set[int] = field(default_factory=set)  # store ids of the open ones
    _creates: int = 0  # callbacks created by us so far (started)
    _creating: int = 0  # ... and not yet finished
    _closes: int = 0  # callbacks closed by us so far

    @property
    def open_callbacks(self) -> int:
        """How many open callbacks the adapter is tracking (closed ones are let go)."""
        return len(self._known)

    # -- start-up ------------------------------------------------------------------------

    async def restore(self) -> tuple[list[AgentStateRecord], list[Callback]]:
        """The agents' last states and every open callback, as the dispatcher takes them."""
        agents: list[AgentStateRecord] = []
        for stored in await self.store.load_agent_states():
            try:
                state = AgentState(stored.state)
            except ValueError:
                continue  # a state this version no longer has: the agent starts afresh
            agents.append(
                AgentStateRecord(
                    stored.agent_id, state, stored.reason, stored.since, stored.work, stored.wrap_up_until
                )
            )
        callbacks = [self._from_store(record) for record in await self.store.pending_callbacks()]
        return agents, callbacks

    async def restore_live(self) -> tuple[list[LiveCall], float | None]:
        """The calls still live when the service stopped (as written ahead), and the last
        instant the service saw the PBX (the start of an unseen end's window)."""
        calls: list[LiveCall] = []
        for stored in await self.store.live_calls():
            try:
                state = LiveState(stored.state or "")
                priority = PriorityClass[stored.priority.upper()] if stored.priority else None
            except (ValueError, KeyError):
                continue  # a record this version cannot read: it stays as it is
            calls.append(
                LiveCall(
                    call_id=stored.call_id,
                    direction=stored.direction,
                    state=state,
                    number=stored.caller_number,
                    priority=priority,
                    arrived_at=stored.arrived_at,
                    offered_at=stored.offered_at,
                    answered_at=stored.answered_at,
                    agent_id=stored.agent_id,
                    offers=stored.offers,
                    wait_s=stored.wait_s,
                    callback_id=stored.callback_queue_id,
                )
            )
        return calls, await self.store.last_heartbeat()

    async def new_callbacks(self) -> list[ScheduleCallback]:
        """Callbacks another process (the ticket workflow) put in the store since we last looked."""
        creates_before, closes_before = self._creates, self._closes
        pending = await self.store.pending_callbacks()
        if self._creating or self._creates != creates_before or self._closes != closes_before:
            # One of our own creations may be in this listing before we learnt its id, or a
            # callback closed meanwhile may still be listed as pending; the next look will
            # tell them apart.
            return []
        fresh: list[ScheduleCallback] = []
        for record in pending:
            if record.id in self._store_ids:
                continue
            qid = record.queue_id or queue_callback_id(record.id)
            self._remember(qid, record.id)
            fresh.append(
                ScheduleCallback(
                    callback_id=qid,
                    kind=CallbackKind(record.kind.value),
                    number=record.number,
                    due_at=record.due_at,
                    ticket_id=str(record.ticket_id) if record.ticket_id is not None else None,
                    max_attempts=record.max_attempts,
                    retry_spacing_s=record.retry_spacing_s,
                    calling_hours=self._hours(record),
                )
            )
        return fresh

    def _remember(self, qid: str, store_id: int) -> _Known:
        known = self._known[qid] = _Known(store_id)
        self._store_ids.add(store_id)
        return known

    def _hours(self, record: CallbackRecord) -> CallingHours:
        return CallingHours(
            _minutes(record.window_start), _minutes(record.window_end), self.utc_offset_h * 3600
        )

    def _from_store(self, record: CallbackRecord) -> Callback:
        qid = record.queue_id or queue_callback_id(record.id)
        self._remember(qid, record.id)
        # An attempt under way when the service stopped stays in progress: the dispatcher holds
        # it until the PBX's channel listing says whether its call still runs.
        in_progress = record.status is StoredStatus.IN_PROGRESS
        return Callback(
            callback_id=qid,
            kind=CallbackKind(record.kind.value),
            number=record.number,
            due_at=record.due_at,
            created_at=record.created_at,
            calling_hours=self._hours(record),
            max_attempts=record.max_attempts,
            retry_spacing_s=record.retry_spacing_s,
            attempts=record.attempts,
            status=CallbackStatus.IN_PROGRESS if in_progress else CallbackStatus.PENDING,
            ticket_id=str(record.ticket_id) if record.ticket_id is not None else None,
            origin_call_id=record.origin_call_id,
        )

    # -- writes --------------------------------------------------------------------------

    async def persist(self, command: PersistAgentState | PersistCallback | RecordCall | TrackCall) -> None:
        """Write one of the dispatcher's records durably (the store commits before returning)."""
        if isinstance(command, PersistAgentState):
            record = command.record
            await self.store.save_agent_state(
                StoredAgentState(
                    agent_id=record.agent_id,
                    state=record.state.value,
                    reason=record.pause_reason,
                    since=record.since,
                    work=record.work,
                    wrap_up_until=record.wrap_up_until,
                )
            )
        elif isinstance(command, PersistCallback):
            await self._save_callback(command.callback)
        elif isinstance(command, TrackCall):
            await self.store.merge_call(self._live(command.call))
        else:
            await self.store.merge_call(self._call(command.record))

    async def _save_callback(self, callback: Callback) -> None:
        known = self._known.get(callback.callback_id) or self._closed.get(callback.callback_id)
        if known is None:
            hours = callback.calling_hours
            self._creates += 1
            self._creating += 1
            try:
                created = await self.store.create_callback(
                    NewCallback(
                        kind=StoredKind(callback.kind.value),
                        number=callback.number,
                        due_at=callback.due_at,
                        window_start=_hhmm(hours.start_min),
                        window_end=_hhmm(hours.end_min),
                        max_attempts=callback.max_attempts,
                        retry_spacing_s=callback.retry_spacing_s,
                        ticket_id=int(callback.ticket_id)
                        if callback.ticket_id and callback.ticket_id.isdigit()
                        else None,
                        origin_call_id=callback.origin_call_id,
                        created_at=callback.created_at,
                        queue_id=callback.callback_id,
                    )
                )
            finally:
                self._creating -= 1
            known = self._remember(callback.callback_id, created.id)
        for attempt in callback.history[known.attempts_written :]:
            await self.store.update_callback(
                known.store_id,
                at=attempt.ended_at,
                attempt=StoredAttempt(
                    callback_id=known.store_id,
                    at=attempt.started_at,
                    outcome=attempt.outcome.value,
                    dial_status=attempt.dial_status,
                    call_id=attempt.call_id,
                    counted=attempt.counted,
                ),
            )
            known.attempts_written += 1
        last = callback.history[-1].outcome.value if callback.history else None
        await self.store.update_callback(
            known.store_id,
            at=callback.history[-1].ended_at if callback.history else callback.created_at,
            status=_STATUS_TO_STORE[callback.status],
            due_at=callback.due_at,
            outcome=callback.closed_reason or last,
        )
        if not callback.status.open and not known.closed:
            known.closed = True
            self._forget(callback.callback_id, known)
            if self.on_closed is not None:
                await self.on_closed(callback, known.store_id)

    def _forget(self, qid: str, known: _Known) -> None:
        """A closed callback leaves the open set; the latest few stay for late call records."""
        self._closes += 1
        self._known.pop(qid, None)
        self._store_ids.discard(known.store_id)
        self._closed[qid] = known
        if len(self._closed) > _CLOSED_MEMORY:
            self._closed.popitem(last=False)

    def _callback_store_id(self, callback_id: str | None) -> int | None:
        if callback_id is None:
            return None
        known = self._known.get(callback_id) or self._closed.get(callback_id)
        return known.store_id if known is not None else None

    def _live(self, call: LiveCall) -> StoredCall:
        escalated = call.priority is PriorityClass.ESCALATED
        inbound = call.direction is Direction.INBOUND
        return StoredCall(
            call_id=call.call_id,
            direction=call.direction,
            caller_number=call.number,
            dnis=self.dnis if inbound else call.number,
            arrived_at=call.arrived_at if inbound else None,
            offered_at=call.offered_at,
            answered_at=call.answered_at,
            wait_s=call.wait_s,
            agent_id=call.agent_id,
            escalated=escalated,
            escalation_reasons=("ivr_priority",) if escalated else (),
            callback_id=self._callback_store_id(call.callback_id),
            state=call.state.value,
            priority=call.priority.name.lower() if call.priority is not None else None,
            offers=call.offers,
            callback_queue_id=call.callback_id,
        )

    def _call(self, record: CallRecord) -> StoredCall:
        answered = record.answered_at
        callback_store_id = self._callback_store_id(record.callback_id)
        escalated = record.priority is PriorityClass.ESCALATED
        return StoredCall(
            call_id=record.call_id,
            direction=record.direction,
            caller_number=record.number,
            dnis=self.dnis if record.direction is Direction.INBOUND else record.number,
            arrived_at=record.started_at if record.direction is Direction.INBOUND else None,
            offered_at=record.started_at if record.direction is Direction.CALLBACK else None,
            answered_at=answered,
            ended_at=record.ended_at,
            wait_s=record.wait_s,
            # An end not seen has no talk time to tell: none is invented (see README).
            talk_s=(record.ended_at - answered)
            if answered is not None and not record.end_uncertain
            else None,
            agent_id=record.agent_id,
            outcome=_OUTCOME_TO_STORE[record.outcome],
            escalated=escalated,
            escalation_reasons=("ivr_priority",) if escalated else (),
            callback_id=callback_store_id,
            state=LiveState.ENDED.value,
            priority=record.priority.name.lower() if record.priority is not None else None,
            offers=record.offers,
            end_uncertain=record.end_uncertain,
            last_seen_at=record.last_seen_at,
            callback_queue_id=record.callback_id,
        )

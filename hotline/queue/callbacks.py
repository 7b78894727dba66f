"""The callbacks owed to citizens: return calls (回拨) and follow-ups (回访), and their statuses.

A :class:`hotline.queue.work.Callback` is the persisted promise.  :class:`CallbackBook` keeps
the open ones, schedules new ones (one return call per number at most), cancels them, restores
them at start and settles each attempt's result into the callback's next status, by the
:data:`CALLBACK_TRANSITIONS` table (:class:`IllegalCallbackTransition` otherwise).  Dialling is
:mod:`hotline.queue.callback_flow`'s business.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import replace

from hotline.queue.commands import PersistCallback
from hotline.queue.flow import FlowContext
from hotline.queue.inputs import ScheduleCallback
from hotline.queue.work import (
    AttemptOutcome,
    Callback,
    CallbackAttempt,
    CallbackKind,
    CallbackStatus,
    WaitingCall,
)

_DIALLABLE_RE = re.compile(r"\+?[0-9]{3,20}\Z")
#: Closed callbacks remembered so a copy scheduled again (the store's, after a restart's
#: resync closed it) is not dialled a second time (bounded memory).
_CLOSED_MEMORY = 20_000

CS = CallbackStatus
#: status -> the statuses a callback may move to.  Closed callbacks move no more.
CALLBACK_TRANSITIONS: dict[CallbackStatus, frozenset[CallbackStatus]] = {
    CS.PENDING: frozenset({CS.PENDING, CS.IN_PROGRESS, CS.CANCELLED, CS.FAILED}),
    CS.IN_PROGRESS: frozenset({CS.PENDING, CS.REACHED, CS.FAILED, CS.CANCELLED}),
    CS.REACHED: frozenset(),
    CS.FAILED: frozenset(),
    CS.CANCELLED: frozenset(),
}


def diallable(number: str) -> bool:
    """True when ``number`` may be dialled (digits only, an optional leading +)."""
    return _DIALLABLE_RE.match(number) is not None


class IllegalCallbackTransition(Exception):
    """A callback status change the table does not allow (e.g. out of a closed status)."""

    def __init__(self, callback_id: str, from_status: CallbackStatus, to_status: CallbackStatus) -> None:
        self.callback_id = callback_id
        self.from_status = from_status
        self.to_status = to_status
        super().__init__(f"callback {callback_id}: {from_status.value} -> {to_status.value} is not allowed")


def moved(callback: Callback, status: CallbackStatus, **changes: object) -> Callback:
    """``callback`` in ``status`` (with ``changes``), by :data:`CALLBACK_TRANSITIONS`."""
    if status not in CALLBACK_TRANSITIONS[callback.status]:
        raise IllegalCallbackTransition(callback.callback_id, callback.status, status)
    return replace(callback, status=status, **changes)  # type: ignore[arg-type]


class CallbackBook:
    """The open callbacks, by id, and the return call owed per number."""

    def __init__(self, ctx: FlowContext) -> None:
        self._ctx = ctx
        #: Callbacks the store says were under way when we stopped: held off the queue until
        #: the PBX's channel listing says whether their call still runs (CallbackLegCreated).
        self._unsettled: dict[str, Callback] = {}
        self._callbacks: dict[str, Callback] = {}  # open callbacks (pending or in progress)
        self._return_by_number: dict[str, str] = {}
        self._closed: OrderedDict[str, None] = OrderedDict()

    def open(self) -> list[Callback]:
        """Every open callback (pending or in progress)."""
        return list(self._callbacks.values())

    def get(self, callback_id: str) -> Callback | None:
        """The open callback ``callback_id``."""
        return self._callbacks.get(callback_id)

    def unsettled(self, callback_id: str) -> Callback | None:
        """The restored in-progress callback ``callback_id`` the resync has not settled yet."""
        return self._unsettled.get(callback_id)

    def settle(self, callback_id: str) -> None:
        """The resync found the call of the unsettled ``callback_id``: it is no longer unsettled."""
        self._unsettled.pop(callback_id, None)

    def take_off_queue(self, callback_id: str) -> Callback | None:
        """A pending callback found already running on the PBX: off the queue, in progress."""
        callback = self._callbacks.get(callback_id)
        if callback is None or callback.status is not CallbackStatus.PENDING:
            return None
        self._ctx.router.remove_callback(callback_id)
        self._ctx.log("callback.found_running", callback_id=callback_id)
        return self.begin(callback)

    def begin(self, callback: Callback) -> Callback:
        """``callback`` is being dialled: in progress."""
        callback = moved(callback, CallbackStatus.IN_PROGRESS)
        self._callbacks[callback.callback_id] = callback
        self._ctx.emit(PersistCallback(callback))
        return callback

    # -- restore -------------------------------------------------------------------------

    def restore(self, pending: list[Callback]) -> None:
        """Take up the open callbacks the store kept; those under way wait for the resync."""
        ctx = self._ctx
        for callback in pending:
            if not callback.status.open or callback.callback_id in self._callbacks:
                continue
            if not diallable(callback.number):
                self._reject(callback)
                continue
            self._callbacks[callback.callback_id] = callback
            if callback.kind is CallbackKind.RETURN_CALL:
                self._return_by_number[callback.number] = callback.callback_id
            if callback.status is CallbackStatus.IN_PROGRESS:
                self._unsettled[callback.callback_id] = callback
            else:
                ctx.router.add_callback(callback, ctx.now)

    def release_unsettled(self) -> None:
        """The PBX has listed its channels: a restored callback under way whose call was not
        found ended while the service was down, and how is unknown (AMI keeps no history: the
        citizen may have been dialled, even reached).  Dialling them again could ring them a
        second time, so the callback is closed as cancelled (``end_unseen``) for a supervisor
        to judge, never re-dialled on its own."""
        ctx = self._ctx
        for callback in self._unsettled.values():
            unseen = CallbackAttempt(ctx.now, ctx.now, "", AttemptOutcome.ABORTED, "restart")
            callback = moved(
                callback,
                CallbackStatus.CANCELLED,
                closed_reason="end_unseen",
                history=(*callback.history, unseen),
            )
            self.close(callback)
            ctx.stats.callbacks_cancelled += 1
            ctx.emit(PersistCallback(callback))
            ctx.log(
                "callback.end_unseen",
                "warning",
                callback_id=callback.callback_id,
                why="its call ended while the service was down",
            )
        self._unsettled.clear()

    def reached_while_away(self, callback_id: str, reached: CallbackAttempt) -> None:
        """An unsettled callback's call had reached the citizen and ended while the service was
        down: the callback is done (reached), never dialled again."""
        callback = self._unsettled.pop(callback_id, None)
        if callback is None:
            return
        settled = self.settle_attempt(callback_id, reached, give_up=None, cancel_requested=None)
        if settled is not None:
            self.close(settled)

    def _reject(self, callback: Callback) -> None:
        """A callback that cannot be dialled is closed as failed, so its ticket moves on."""
        callback = replace(callback, status=CallbackStatus.FAILED, closed_reason="invalid_number")
        self._ctx.stats.callbacks_failed += 1
        self._ctx.emit(PersistCallback(callback))
        self._ctx.log(
            "callback.rejected", "warning", callback_id=callback.callback_id, why="number cannot be dialled"
        )

    # -- scheduling ----------------------------------------------------------------------

    def on_schedule(self, event: ScheduleCallback) -> None:
        """Someone asks for a callback."""
        ctx = self._ctx
        if event.callback_id in self._callbacks:
            ctx.ignore(event, "callback already pending", callback_id=event.callback_id)
            return
        if event.callback_id in self._closed:
            ctx.ignore(event, "callback already closed", callback_id=event.callback_id)
            return
        settings = ctx.settings
        callback = Callback(
            callback_id=event.callback_id,
            kind=event.kind,
            number=event.number.strip(),
            due_at=event.due_at,
            created_at=ctx.now,
            calling_hours=event.calling_hours or ctx.calling_hours,
            max_attempts=event.max_attempts or settings.callback_max_attempts,
            retry_spacing_s=(
                settings.callback_retry_spacing_s if event.retry_spacing_s is None else event.retry_spacing_s
            ),
            ticket_id=event.ticket_id,
        )
        if not diallable(callback.number):
            self._reject(callback)
            return
        self._add(callback)

    def schedule_return_call(self, call: WaitingCall) -> None:
        """The caller of ``call`` hung up unanswered: owe them one return call."""
        ctx = self._ctx
        number = call.caller_number.strip()
        if not diallable(number):
            ctx.log("callback.not_scheduled", call_id=call.call_id, why="no number to call back")
            return
        existing = self._callbacks.get(self._return_by_number.get(number, ""))
        if existing is not None:
            ctx.log(
                "callback.not_scheduled",
                call_id=call.call_id,
                why="a return call is already owed",
                callback_id=existing.callback_id,
            )
            return
        settings = ctx.settings
        self._add(
            Callback(
                callback_id=f"rc-{call.call_id}",
                kind=CallbackKind.RETURN_CALL,
                number=number,
                due_at=ctx.now + settings.return_call_delay_s,
                created_at=ctx.now,
                calling_hours=ctx.calling_hours,
                max_attempts=settings.callback_max_attempts,
                retry_spacing_s=settings.callback_retry_spacing_s,
                origin_call_id=call.call_id,
            )
        )

    def _add(self, callback: Callback) -> None:
        ctx = self._ctx
        self._callbacks[callback.callback_id] = callback
        if callback.kind is CallbackKind.RETURN_CALL:
            self._return_by_number[callback.number] = callback.callback_id
        ctx.router.add_callback(callback, ctx.now)
        ctx.stats.callbacks_scheduled += 1
        ctx.emit(PersistCallback(callback))
        ctx.log(
            "callback.scheduled",
            callback_id=callback.callback_id,
            kind=callback.kind.value,
            number=callback.number,
            due_at=callback.due_at,
            ticket_id=callback.ticket_id,
            origin_call_id=callback.origin_call_id,
        )

    def close_return_calls(self, number: str) -> None:
        """The citizen got through: a pending return call to them is no longer owed."""
        callback = self._callbacks.get(self._return_by_number.get(number, ""))
        if callback is not None and callback.status is CallbackStatus.PENDING:
            self._cancel_pending(callback, "called_again")

    def close(self, callback: Callback) -> None:
        """``callback`` is done: forget it."""
        self._callbacks.pop(callback.callback_id, None)
        if self._return_by_number.get(callback.number) == callback.callback_id:
            del self._return_by_number[callback.number]
        self.remember_closed(callback.callback_id)

    def remember_closed(self, callback_id: str) -> None:
        """``callback_id`` is done: a copy of it scheduled again is not dialled."""
        self._closed[callback_id] = None
        if len(self._closed) > _CLOSED_MEMORY:
            self._closed.popitem(last=False)

    def _cancel_pending(self, callback: Callback, reason: str) -> None:
        ctx = self._ctx
        ctx.router.remove_callback(callback.callback_id)
        callback = replace(callback, status=CallbackStatus.CANCELLED, closed_reason=reason)
        self.close(callback)
        ctx.stats.callbacks_cancelled += 1
        ctx.emit(PersistCallback(callback))
        ctx.log("callback.cancelled", callback_id=callback.callback_id, reason=reason)

    def cancel(self, callback_id: str, reason: str) -> bool:
        """Withdraw ``callback_id`` at once if it is pending (or unsettled); False otherwise."""
        callback = self._callbacks.get(callback_id)
        if callback is None:
            return False
        if callback.status is CallbackStatus.PENDING or callback_id in self._unsettled:
            self._unsettled.pop(callback_id, None)
            self._cancel_pending(callback, reason)
            return True
        return False

    def settle_attempt(
        self,
        callback_id: str,
        record: CallbackAttempt,
        *,
        give_up: str | None,
        cancel_requested: str | None,
    ) -> Callback | None:
        """Record an attempt's result and move the callback on: retry, done, or back in place.

        Returns the callback as it now is (None if it is not open).
        """
        ctx = self._ctx
        callback = self._callbacks.get(callback_id)
        if callback is None:
            return None
        outcome = record.outcome
        history = (*callback.history, record)
        attempts = callback.attempts + (1 if outcome.counted else 0)
        next_due: float | None = None
        if outcome is AttemptOutcome.REACHED:
            callback = moved(callback, CallbackStatus.REACHED, attempts=attempts, history=history)
            ctx.stats.callbacks_reached += 1
        elif give_up or cancel_requested or (outcome.counted and attempts >= callback.max_attempts):
            failed = bool(give_up) or not cancel_requested
            reason = give_up or cancel_requested or "attempts_exhausted"
            status = CallbackStatus.FAILED if failed else CallbackStatus.CANCELLED
            callback = moved(callback, status, attempts=attempts, closed_reason=reason, history=history)
            if failed:
                ctx.stats.callbacks_failed += 1
            else:
                ctx.stats.callbacks_cancelled += 1
        else:
            due_at = ctx.now + callback.retry_spacing_s if outcome.counted else callback.due_at
            callback = moved(
                callback, CallbackStatus.PENDING, attempts=attempts, due_at=due_at, history=history
            )
            next_due = due_at
        ctx.emit(PersistCallback(callback))
        if callback.status is CallbackStatus.PENDING:
            self._callbacks[callback.callback_id] = callback
            ctx.router.add_callback(callback, ctx.now)
        elif callback.status is CallbackStatus.REACHED:
            self._callbacks[callback.callback_id] = callback  # closed when the conversation ends
        else:
            self.close(callback)
        ctx.log(
            "callback.result",
            callback_id=callback.callback_id,
            agent_id=record.agent_id,
            outcome=outcome.value,
            dial_status=record.dial_status,
            counted=outcome.counted,
            attempts=callback.attempts,
            status=callback.status.value,
            next_due_at=next_due,
        )
        return callback

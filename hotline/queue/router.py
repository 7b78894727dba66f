"""The router: given who is ready and what waits, what to do next.  Pure: no I/O, no clock.

Policy (DESIGN.md section 5, issue 3):

1. A waiting inbound call goes to a ready agent who may take it (skills): the best call first
   (priority class, then calls returned after ring-no-answer, then the longest waiting), and
   among the ready agents who may take it the longest idle (or the first in the configured
   order).  When an agent becomes ready with calls waiting, this gives that agent the best call
   it may take; when a call arrives with agents ready, the longest-idle of them.
2. If a call still waits that no ready agent may take, a callback whose agent leg is up and
   whose citizen is still ringing may be pre-empted for it (configurable), one per waiting call.
3. Only then may a ready agent start a due callback (return calls before follow-ups, earliest
   due first, within calling hours), and only while more than ``inbound_reserve`` agents are
   ready.  Because step 1 matched every ready agent who could take a waiting call, no callback
   ever starts while an inbound call waits that its agent could take.

:class:`Router` keeps every collection indexed (binary heaps per skill with lazy deletion and
periodic compaction), so a decision costs O(k log n) for k skills, n waiting items.
:class:`NaiveRouter` implements the same policy by sorting everything on every decision; it is
the benchmark's baseline and the property tests' oracle.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from hotline.queue.work import Callback, WaitingCall

#: A waiting call's heap entry: (class, tier, enqueued_at, Uniqueid order, seq, call id).
_CallEntry = tuple[int, int, float, tuple[int, int], int, str]


class AgentChoice(enum.StrEnum):
    """Which of several ready agents gets a call."""

    LONGEST_IDLE = "longest_idle"
    CONFIG_ORDER = "config_order"


@dataclass(frozen=True, slots=True)
class OfferCall:
    """Offer ``call`` to ``agent_id`` (ring the agent)."""

    call: WaitingCall
    agent_id: str


@dataclass(frozen=True, slots=True)
class OfferCallback:
    """Start ``callback`` with ``agent_id`` (agent leg first)."""

    callback: Callback
    agent_id: str


@dataclass(frozen=True, slots=True)
class PreemptCallback:
    """Cancel the citizen dial of the callback ``agent_id`` is on: a call of ``skill`` needs the agent."""

    agent_id: str
    skill: str | None


RoutingDecision = OfferCall | OfferCallback | PreemptCallback


class RoutingPolicy(Protocol):
    """What the dispatcher (and the benchmarks) need of a router."""

    inbound_reserve: int
    preempt: bool

    def register_agent(self, agent_id: str, skills: Iterable[str], order: int) -> None: ...
    def set_agent_ready(self, agent_id: str, since: float) -> None: ...
    def set_agent_not_ready(self, agent_id: str) -> None: ...
    def set_preemptible(self, agent_id: str, since: float) -> None: ...
    def clear_preemptible(self, agent_id: str) -> None: ...
    def preemption_finished(self, skill: str | None) -> None: ...
    def add_call(self, call: WaitingCall) -> None: ...
    def remove_call(self, call_id: str) -> WaitingCall | None: ...
    def add_callback(self, callback: Callback, now: float) -> None: ...
    def remove_callback(self, callback_id: str) -> Callback | None: ...
    def route_next(self, now: float) -> RoutingDecision | None: ...


_E = TypeVar("_E", bound=tuple[object, ...])

# A heap is rebuilt without its dead entries when it holds more than twice the live ones plus
# this slack: amortised O(1) per removal, and memory stays proportional to what is live.
_COMPACT_SLACK = 32


def _compact(heap: list[_E], live: int, is_live: Callable[[_E], bool]) -> None:
    if len(heap) > 2 * live + _COMPACT_SLACK:
        heap[:] = [entry for entry in heap if is_live(entry)]
        heapq.heapify(heap)


@dataclass(slots=True)
class _CallbackSlot:
    callback: Callback
    seq: int  # order among equal keys: when the router first got it
    version: int  # which heap entry is the live one
    in_due: bool


class _AgentIndex:
    """Agents keyed by a number (idle since, ringing since, configured order), per skill.

    ``None`` is the index of every member; each skill has its own index of the members who
    have it.  Entries are ``(key, seq, agent_id)``; an entry is live while ``seq`` is the
    member's current one.
    """

    __slots__ = ("_heaps", "_live", "_members", "_seq")

    def __init__(self) -> None:
        self._members: dict[str, tuple[int, frozenset[str]]] = {}
        self._heaps: dict[str | None, list[tuple[float, int, str]]] = {}
        self._live: dict[str | None, int] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._members

    def add(self, agent_id: str, key: float, skills: frozenset[str]) -> None:
        if agent_id in self._members:
            self.discard(agent_id)
        self._seq += 1
        seq = self._seq
        self._members[agent_id] = (seq, skills)
        entry = (key, seq, agent_id)
        for skill in (None, *skills):
            heap = self._heaps.setdefault(skill, [])
            heapq.heappush(heap, entry)
            self._live[skill] = self._live.get(skill, 0) + 1

    def discard(self, agent_id: str) -> None:
        member = self._members.pop(agent_id, None)
        if member is None:
            return
        for skill in (None, *member[1]):
            live = self._live[skill] - 1
            self._live[skill] = live
            heap = self._heaps[skill]
            if live == 0:
                heap.clear()
            else:
                _compact(heap, live, self._is_live)

    def _is_live(self, entry: tuple[float, int, str]) -> bool:
        member = self._members.get(entry[2])
        return member is not None and member[0] == entry[1]

    def head(self, skill: str | None) -> str | None:
        """The member with the lowest key among those with ``skill`` (None: among all)."""
        heap = self._heaps.get(skill)
        if not heap:
            return None
        members = self._members
        while heap:
            _key, seq, agent_id = heap[0]
            member = members.get(agent_id)
            if member is not None and member[0] == seq:
                return agent_id
            heapq.heappop(heap)
        return None

    def ids(self) -> Iterator[str]:
        return iter(self._members)


class Router:
    """The indexed router: O(k log n) per decision (k skills in use, n waiting items).

    The router is told every change of the routing state (agents ready or not, calls waiting or
    not, callbacks pending, callbacks pre-emptible) and :meth:`route_next` returns one decision
    at a time, already applied to its own state: the call or callback is no longer waiting and
    the agent no longer ready (or pre-emptible).  Call it until it returns None.
    """

    def __init__(
        self,
        *,
        inbound_reserve: int = 0,
        preempt: bool = True,
        agent_choice: AgentChoice = AgentChoice.LONGEST_IDLE,
    ) -> None:
        self.inbound_reserve = inbound_reserve
        self.preempt = preempt
        self.agent_choice = agent_choice
        self._skills: dict[str, frozenset[str]] = {}
        self._order: dict[str, int] = {}
        self._ready = _AgentIndex()
        self._preemptible = _AgentIndex()
        self._preempting: dict[str | None, int] = {}
        self._seq = 0
        # Inbound calls: one heap per required skill; entries (class, tier, enqueued_at, seq, id).
        self._calls: dict[str, tuple[WaitingCall, int]] = {}
        self._call_heaps: dict[str | None, list[_CallEntry]] = {}
        self._waiting: dict[str | None, int] = {}
        # Callbacks: due ones by (kind rank, due_at, seq); the others by when they become due.
        self._callbacks: dict[str, _CallbackSlot] = {}
        self._due: list[tuple[int, float, int, int, str]] = []
        self._future: list[tuple[float, int, int, str]] = []
        self._due_live = 0
        self._future_live = 0

    # -- agents --------------------------------------------------------------------------

    def register_agent(self, agent_id: str, skills: Iterable[str], order: int) -> None:
        """Declare an agent, its skills and its place in the configured order."""
        self._skills[agent_id] = frozenset(skills)
        self._order[agent_id] = order

    def set_agent_ready(self, agent_id: str, since: float) -> None:
        """The agent is ready (idle) since ``since``."""
        key = since if self.agent_choice is AgentChoice.LONGEST_IDLE else float(self._order[agent_id])
        self._ready.add(agent_id, key, self._skills[agent_id])

    def set_agent_not_ready(self, agent_id: str) -> None:
        """The agent is no longer ready (no-op if it was not)."""
        self._ready.discard(agent_id)

    def set_preemptible(self, agent_id: str, since: float) -> None:
        """The agent is on a callback whose citizen is being dialled since ``since``."""
        self._preemptible.add(agent_id, since, self._skills[agent_id])

    def clear_preemptible(self, agent_id: str) -> None:
        """The agent's callback can no longer be pre-empted (answered, ended...)."""
        self._preemptible.discard(agent_id)

    def preemption_finished(self, skill: str | None) -> None:
        """A pre-emption decided for a call of ``skill`` is over (its agent is free, or it failed)."""
        count = self._preempting.get(skill, 0)
        if count > 1:
            self._preempting[skill] = count - 1
        else:
            self._preempting.pop(skill, None)

    @property
    def ready_count(self) -> int:
        """How many agents are ready."""
        return len(self._ready)

    def ready_agents(self) -> Iterator[str]:
        """The ready agents' ids (any order)."""
        return self._ready.ids()

    # -- inbound calls -------------------------------------------------------------------

    def add_call(self, call: WaitingCall) -> None:
        """A call waits (again).  Re-adding a waiting call replaces it."""
        if call.call_id in self._calls:
            self.remove_call(call.call_id)
        self._seq += 1
        seq = self._seq
        self._calls[call.call_id] = (call, seq)
        priority, tier, enqueued_at, order = call.sort_key()
        heap = self._call_heaps.setdefault(call.skill, [])
        heapq.heappush(heap, (priority, tier, enqueued_at, order, seq, call.call_id))
        self._waiting[call.skill] = self._waiting.get(call.skill, 0) + 1

    def remove_call(self, call_id: str) -> WaitingCall | None:
        """The call no longer waits (answered elsewhere, abandoned...); returns it if it did."""
        slot = self._calls.pop(call_id, None)
        if slot is None:
            return None
        call = slot[0]
        live = self._waiting[call.skill] - 1
        if live == 0:
            del self._waiting[call.skill]
            del self._call_heaps[call.skill]
        else:
            self._waiting[call.skill] = live
            _compact(self._call_heaps[call.skill], live, self._call_live)
        return call

    def _call_live(self, entry: _CallEntry) -> bool:
        slot = self._calls.get(entry[5])
        return slot is not None and slot[1] == entry[4]

    def _call_head(self, heap: list[_CallEntry]) -> _CallEntry:
        calls = self._calls
        while True:
            entry = heap[0]
            slot = calls.get(entry[5])
            if slot is not None and slot[1] == entry[4]:
                return entry
            heapq.heappop(heap)

    def call(self, call_id: str) -> WaitingCall | None:
        """The waiting call with this id, if it waits."""
        slot = self._calls.get(call_id)
        return slot[0] if slot else None

    def waiting_calls(self) -> Iterator[WaitingCall]:
        """Every waiting call (any order)."""
        return (slot[0] for slot in self._calls.values())

    @property
    def waiting_count(self) -> int:
        """How many inbound calls wait."""
        return len(self._calls)

    def may_take_waiting_call(self, agent_id: str) -> bool:
        """True when a waiting call exists that this agent may take (an audit for callbacks)."""
        waiting = self._waiting
        return None in waiting or any(skill in waiting for skill in self._skills.get(agent_id, ()))

    # -- callbacks -----------------------------------------------------------------------

    def add_callback(self, callback: Callback, now: float) -> None:
        """A callback is pending: due now (within calling hours) or later."""
        if callback.callback_id in self._callbacks:
            self.remove_callback(callback.callback_id)
        self._seq += 1
        slot = _CallbackSlot(callback, self._seq, 0, False)
        self._callbacks[callback.callback_id] = slot
        if callback.due_at <= now and callback.calling_hours.contains(now):
            self._push_due(slot)
        else:
            self._push_future(slot, callback.eligible_at(now))

    def _push_due(self, slot: _CallbackSlot) -> None:
        slot.version += 1
        slot.in_due = True
        rank, due_at = slot.callback.sort_key()
        heapq.heappush(self._due, (rank, due_at, slot.seq, slot.version, slot.callback.callback_id))
        self._due_live += 1

    def _push_future(self, slot: _CallbackSlot, at: float) -> None:
        slot.version += 1
        slot.in_due = False
        heapq.heappush(self._future, (at, slot.seq, slot.version, slot.callback.callback_id))
        self._future_live += 1

    def remove_callback(self, callback_id: str) -> Callback | None:
        """The callback is no longer pending; returns it if it was."""
        slot = self._callbacks.pop(callback_id, None)
        if slot is None:
            return None
        if slot.in_due:
            self._due_live -= 1
            _compact(self._due, self._due_live, self._due_entry_live)
        else:
            self._future_live -= 1
            _compact(self._future, self._future_live, self._future_entry_live)
        return slot.callback

    def _due_entry_live(self, entry: tuple[int, float, int, int, str]) -> bool:
        slot = self._callbacks.get(entry[4])
        return slot is not None and slot.in_due and slot.version == entry[3]

    def _future_entry_live(self, entry: tuple[float, int, int, str]) -> bool:
        slot = self._callbacks.get(entry[3])
        return slot is not None and not slot.in_due and slot.version == entry[2]

    def _promote(self, now: float) -> None:
        future = self._future
        while future and future[0][0] <= now:
            entry = heapq.heappop(future)
            if self._future_entry_live(entry):
                self._future_live -= 1
                self._push_due(self._callbacks[entry[3]])

    def next_callback_at(self, now: float) -> float | None:
        """When the next not-yet-due callback becomes due, after ``now`` (for a wake-up timer).

        Callbacks already due at ``now`` are moved among the due ones first, so the answer is
        always in the future: a timer armed with it cannot fire again at once.
        """
        self._promote(now)
        future = self._future
        while future:
            if self._future_entry_live(future[0]):
                return future[0][0]
            heapq.heappop(future)
        return None

    @property
    def callback_count(self) -> int:
        """How many callbacks are pending (due or not)."""
        return len(self._callbacks)

    def pending_callbacks(self) -> Iterator[Callback]:
        """Every pending callback (any order)."""
        return (slot.callback for slot in self._callbacks.values())

    # -- the decision --------------------------------------------------------------------

    def route_next(self, now: float) -> RoutingDecision | None:
        """The next thing to do, applied to the router's state; None when nothing is to be done."""
        ready = self._ready
        if len(ready) and self._call_heaps:
            best: _CallEntry | None = None
            best_skill: str | None = None
            for skill, heap in self._call_heaps.items():
                head = self._call_head(heap)
                if (best is None or head < best) and ready.head(skill) is not None:
                    best, best_skill = head, skill
            if best is not None:
                agent_id = ready.head(best_skill)
                assert agent_id is not None
                call = self.remove_call(best[5])
                assert call is not None
                ready.discard(agent_id)
                return OfferCall(call, agent_id)
        if self.preempt and len(self._preemptible) and self._call_heaps:
            decision = self._preemption()
            if decision is not None:
                return decision
        if len(ready) > self.inbound_reserve and self._callbacks:
            return self._next_callback(now)
        return None

    def _preemption(self) -> PreemptCallback | None:
        heads = sorted((self._call_head(heap), skill) for skill, heap in self._call_heaps.items())
        for _head, skill in heads:
            if self._waiting[skill] <= self._preempting.get(skill, 0):
                continue  # enough agents are already being freed for these calls
            agent_id = self._preemptible.head(skill)
            if agent_id is not None:
                self._preemptible.discard(agent_id)
                self._preempting[skill] = self._preempting.get(skill, 0) + 1
                return PreemptCallback(agent_id, skill)
        return None

    def _next_callback(self, now: float) -> OfferCallback | None:
        self._promote(now)
        due = self._due
        while due:
            entry = due[0]
            if not self._due_entry_live(entry):
                heapq.heappop(due)
                continue
            slot = self._callbacks[entry[4]]
            if not slot.callback.calling_hours.contains(now):
                # Due but the calling hours closed: wait for them to open again.
                heapq.heappop(due)
                self._due_live -= 1
                self._push_future(slot, slot.callback.calling_hours.next_open(now))
                continue
            agent_id = self._ready.head(None)
            assert agent_id is not None
            self.remove_callback(entry[4])
            self._ready.discard(agent_id)
            return OfferCallback(slot.callback, agent_id)
        return None


class NaiveRouter:
    """The same policy as :class:`Router`, by sorting everything on every decision: O(n log n).

    Deliberately straightforward: it is the baseline of ``bench/routing.py`` and the oracle the
    property tests compare :class:`Router` with (same inputs, same decisions, same tie-breaks).
    """

    def __init__(
        self,
        *,
        inbound_reserve: int = 0,
        preempt: bool = True,
        agent_choice: AgentChoice = AgentChoice.LONGEST_IDLE,
    ) -> None:
        self.inbound_reserve = inbound_reserve
        self.preempt = preempt
        self.agent_choice = agent_choice
        self._skills: dict[str, frozenset[str]] = {}
        self._order: dict[str, int] = {}
        self._seq = 0
        self._agent_seq = 0
        self._ready: dict[str, tuple[float, int]] = {}
        self._preemptible: dict[str, tuple[float, int]] = {}
        self._preempting: dict[str | None, int] = {}
        self._calls: dict[str, tuple[WaitingCall, int]] = {}
        self._callbacks: dict[str, tuple[Callback, int]] = {}

    def register_agent(self, agent_id: str, skills: Iterable[str], order: int) -> None:
        """See :meth:`Router.register_agent`."""
        self._skills[agent_id] = frozenset(skills)
        self._order[agent_id] = order

    def set_agent_ready(self, agent_id: str, since: float) -> None:
        """See :meth:`Router.set_agent_ready`."""
        self._agent_seq += 1
        key = since if self.agent_choice is AgentChoice.LONGEST_IDLE else float(self._order[agent_id])
        self._ready.pop(agent_id, None)
        self._ready[agent_id] = (key, self._agent_seq)

    def set_agent_not_ready(self, agent_id: str) -> None:
        """See :meth:`Router.set_agent_not_ready`."""
        self._ready.pop(agent_id, None)

    def set_preemptible(self, agent_id: str, since: float) -> None:
        """See :meth:`Router.set_preemptible`."""
        self._agent_seq += 1
        self._preemptible[agent_id] = (since, self._agent_seq)

    def clear_preemptible(self, agent_id: str) -> None:
        """See :meth:`Router.clear_preemptible`."""
        self._preemptible.pop(agent_id, None)

    def preemption_finished(self, skill: str | None) -> None:
        """See :meth:`Router.preemption_finished`."""
        count = self._preempting.get(skill, 0)
        if count > 1:
            self._preempting[skill] = count - 1
        else:
            self._preempting.pop(skill, None)

    def add_call(self, call: WaitingCall) -> None:
        """See :meth:`Router.add_call`."""
        self._calls.pop(call.call_id, None)
        self._seq += 1
        self._calls[call.call_id] = (call, self._seq)

    def remove_call(self, call_id: str) -> WaitingCall | None:
        """See :meth:`Router.remove_call`."""
        slot = self._calls.pop(call_id, None)
        return slot[0] if slot else None

    def add_callback(self, callback: Callback, now: float) -> None:
        """See :meth:`Router.add_callback`."""
        self._callbacks.pop(callback.callback_id, None)
        self._seq += 1
        self._callbacks[callback.callback_id] = (callback, self._seq)

    def remove_callback(self, callback_id: str) -> Callback | None:
        """See :meth:`Router.remove_callback`."""
        slot = self._callbacks.pop(callback_id, None)
        return slot[0] if slot else None

    def _may_take(self, agent_id: str, call: WaitingCall) -> bool:
        return call.skill is None or call.skill in self._skills[agent_id]

    def route_next(self, now: float) -> RoutingDecision | None:
        """See :meth:`Router.route_next`."""
        calls = sorted(self._calls.values(), key=lambda slot: (slot[0].sort_key(), slot[1]))
        ready = sorted(self._ready.items(), key=lambda item: item[1])
        for call, _seq in calls:
            for agent_id, _key in ready:
                if self._may_take(agent_id, call):
                    del self._calls[call.call_id]
                    del self._ready[agent_id]
                    return OfferCall(call, agent_id)
        if self.preempt and self._preemptible:
            waiting: dict[str | None, int] = {}
            for call, _seq in calls:
                waiting[call.skill] = waiting.get(call.skill, 0) + 1
            candidates = sorted(self._preemptible.items(), key=lambda item: item[1])
            seen: set[str | None] = set()
            for call, _seq in calls:
                if call.skill in seen:
                    continue
                seen.add(call.skill)
                if waiting[call.skill] <= self._preempting.get(call.skill, 0):
                    continue
                for agent_id, _key in candidates:
                    if self._may_take(agent_id, call):
                        del self._preemptible[agent_id]
                        self._preempting[call.skill] = self._preempting.get(call.skill, 0) + 1
                        return PreemptCallback(agent_id, call.skill)
        if len(ready) > self.inbound_reserve:
            due = sorted(
                (
                    (callback.sort_key(), seq, callback)
                    for callback, seq in self._callbacks.values()
                    if callback.due_at <= now and callback.calling_hours.contains(now)
                ),
                key=lambda item: (item[0], item[1]),
            )
            if due:
                callback = due[0][2]
                agent_id = ready[0][0]
                del self._callbacks[callback.callback_id]
                del self._ready[agent_id]
                return OfferCallback(callback, agent_id)
        return None

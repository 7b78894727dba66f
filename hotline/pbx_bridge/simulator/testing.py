"""Drive the simulator's call model without sockets or an event loop (for unit tests).

    harness = ModelHarness()
    linkedid = harness.model.place_inbound_call("13800000001", "张三", "normal", None)
    harness.advance(5)
    [m.event for m in harness.events]

The events are :class:`~hotline.pbx_bridge.codec.AmiMessage` objects, exactly what a client
would decode from the wire, so they can feed the bridge's translator directly.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hotline.pbx_bridge.codec import AmiMessage
from hotline.pbx_bridge.simulator.behaviour import AgentBehaviour, CitizenBehaviour
from hotline.pbx_bridge.simulator.model import Cancellable, Headers
from hotline.pbx_bridge.simulator.pbx import PbxModel
from hotline.pbx_bridge.simulator.phones import PhoneBook
from hotline.pbx_bridge.simulator.server import DEFAULT_DIALPLAN
from hotline.settings import DialplanSettings

#: The epoch of the captures (2026-11-28 04:14:36 UTC), so ids and times look alike.
CAPTURE_EPOCH = 1795839276.0


class _ManualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """A clock that only moves when told to, and the timers that run as it moves."""

    def __init__(self, start: float = CAPTURE_EPOCH) -> None:
        self.now = start
        self._queue: list[tuple[float, int, _ManualTimer]] = []
        self._seq = 0

    def clock(self) -> float:
        """The current (simulated) epoch time."""
        return self.now

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Cancellable:
        timer = _ManualTimer(callback)
        heapq.heappush(self._queue, (self.now + max(0.0, delay_s), self._seq, timer))
        self._seq += 1
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due, in order."""
        until = self.now + seconds
        while self._queue and self._queue[0][0] <= until:
            when, _, timer = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            if not timer.cancelled:
                timer.callback()
        self.now = until

    @property
    def pending(self) -> int:
        """Timers still waiting (cancelled ones excluded)."""
        return sum(1 for _, _, timer in self._queue if not timer.cancelled)


@dataclass
class ModelHarness:
    """A :class:`PbxModel` on a :class:`ManualScheduler`, recording what it emits."""

    dialplan: DialplanSettings = DEFAULT_DIALPLAN
    agents: Mapping[str, AgentBehaviour] = field(default_factory=dict)
    citizens: Mapping[str, CitizenBehaviour] = field(default_factory=dict)
    agent_answer_delay_s: float = 0.5
    caller_patience_s: float | None = None
    scheduler: ManualScheduler = field(default_factory=ManualScheduler)
    events: list[AmiMessage] = field(default_factory=list)
    #: Agents' SIP softphones (see :mod:`~hotline.pbx_bridge.simulator.phones`); none by default.
    phones: PhoneBook = field(default_factory=PhoneBook)
    #: manager.conf ``channelvars`` (shown as ``ChanVariable`` lines); none by default.
    channelvars: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.model = PbxModel(
            clock=self.scheduler.clock,
            scheduler=self.scheduler,
            emit=self._record,
            dialplan=self.dialplan,
            agents=dict(self.agents),
            citizens=dict(self.citizens),
            agent_answer_delay_s=self.agent_answer_delay_s,
            caller_patience_s=self.caller_patience_s,
            rng=random.Random(0),
            phones=self.phones,
            channelvars=self.channelvars,
        )

    def _record(self, headers: Headers) -> None:
        self.events.append(AmiMessage(tuple(headers)))

    def advance(self, seconds: float) -> None:
        """Let simulated time pass."""
        self.scheduler.advance(seconds)

    def take(self) -> list[AmiMessage]:
        """The events recorded since the last call."""
        taken, self.events = self.events, []
        return taken

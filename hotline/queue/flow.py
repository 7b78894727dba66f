"""What the queue's flows share while one event is handled: the clock, the output, the timers.

The dispatcher owns one :class:`FlowContext` and hands it to each flow (inbound calls,
callbacks, agents).  A flow reads ``now``, appends commands through :meth:`FlowContext.emit`
and :meth:`FlowContext.log`, and arms its own timers; nothing here decides anything.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from hotline.queue.commands import CancelTimer, Command, Log, StartTimer
from hotline.queue.router import Router
from hotline.queue.work import CallingHours
from hotline.settings import QueueSettings

_FINISHED_MEMORY = 20_000

TimerTarget = tuple[str, str]
"""What a timer guards: (kind, id).  The kind names the flow that owns it."""


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


class FlowContext:
    """The shared plumbing of one dispatcher: clock, command output, timers, counters.

    ``connected`` is True while the PBX link is up.  ``finished`` remembers recent call ids
    (inbound or callback) that are over, so a late or repeated event about them is ignored.
    """

    def __init__(
        self,
        settings: QueueSettings,
        router: Router,
        *,
        ring_timeout_s: int,
        citizen_timeout_s: int,
        connected: bool,
    ) -> None:
        self.settings = settings
        self.router = router
        self.ring_timeout_s = ring_timeout_s
        self.citizen_timeout_s = citizen_timeout_s
        start_min, end_min = settings.calling_hours_minutes()
        self.calling_hours = CallingHours(start_min, end_min, settings.utc_offset_h * 3600.0)
        self.connected = connected
        #: When the PBX was last seen (the link dropped then): the start of the window in which
        #: the calls that vanished meanwhile ended.
        self.last_seen_at: float | None = None
        self.now = 0.0
        self.out: list[Command] = []
        self.stats = DispatcherStats()
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._timers: dict[str, TimerTarget] = {}  # armed key -> what it guards
        self._armed: dict[TimerTarget, str] = {}  # what it guards -> armed key
        self._timer_generation = 0

    # -- output --------------------------------------------------------------------------

    def emit(self, command: Command) -> None:
        """Append ``command`` to the current event's output."""
        self.out.append(command)

    def log(self, event: str, level: str = "info", **fields: object) -> None:
        """Append one structured log line."""
        self.out.append(Log(event, fields, level))

    def ignore(self, event: object, why: str, **fields: object) -> None:
        """Log (at debug) an input that does not fit the state."""
        self.log("queue.event_ignored", "debug", input=type(event).__name__, why=why, **fields)

    # -- timers --------------------------------------------------------------------------

    def arm(self, kind: str, ident: str, at: float) -> None:
        """(Re)arm the timer of (kind, ident).  Keys carry a generation, so a timer that fires
        after it was replaced or cancelled can never be mistaken for the current one."""
        self.disarm(kind, ident)
        self._timer_generation += 1
        key = f"{kind}:{ident}:{self._timer_generation}" if ident else f"{kind}:{self._timer_generation}"
        self._timers[key] = (kind, ident)
        self._armed[(kind, ident)] = key
        self.emit(StartTimer(key, at))

    def disarm(self, kind: str, ident: str) -> None:
        """Disarm the timer of (kind, ident), if armed."""
        key = self._armed.pop((kind, ident), None)
        if key is not None:
            del self._timers[key]
            self.emit(CancelTimer(key))

    def fired(self, key: str) -> TimerTarget | None:
        """What the timer ``key`` guarded, or None if it was cancelled or replaced meanwhile."""
        target = self._timers.pop(key, None)
        if target is not None:
            del self._armed[target]
        return target

    # -- finished calls ------------------------------------------------------------------

    def remember_finished(self, call_id: str) -> None:
        """Remember that ``call_id`` is over (bounded memory)."""
        self._finished[call_id] = None
        if len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)

    def is_finished(self, call_id: str) -> bool:
        """True when ``call_id`` is a call recently over."""
        return call_id in self._finished

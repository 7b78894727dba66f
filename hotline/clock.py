"""The service's clock: wall time for production, a sped-up clock for the demo.

Decision code never reads a clock; the runtime reads one of these and passes ``now`` in.
Times are POSIX seconds; ``delay_until`` converts a due time into real seconds to sleep.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """What the runtime needs of a clock."""

    def now(self) -> float:
        """The current time, POSIX seconds."""
        ...

    def delay_until(self, at: float) -> float:
        """Real seconds from now until ``at`` (0 when ``at`` has passed)."""
        ...


class WallClock:
    """Real time."""

    def now(self) -> float:
        """``time.time()``."""
        return time.time()

    def delay_until(self, at: float) -> float:
        """Seconds until ``at``."""
        return max(0.0, at - time.time())


class ScaledClock:
    """Time that runs ``speed`` times faster than the event loop's clock, from ``start``."""

    def __init__(self, speed: float, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time()
        self._start = time.time() if start is None else start

    def now(self) -> float:
        """Simulated POSIX seconds."""
        return self._start + (self._loop.time() - self._origin) * self.speed

    def delay_until(self, at: float) -> float:
        """Real seconds until simulated time ``at``."""
        return max(0.0, (at - self.now()) / self.speed)


class AnchoredClock:
    """Time that runs ``speed`` times faster than the wall clock, read from the wall clock.

    ``now = start + (time.time() - anchor) * speed``: two processes given the same three
    numbers read the same time, so a service restarted mid-run (``hotline serve --clock-speed``)
    continues the timeline of the run it replaces, and of a simulator sped up alike.
    """

    def __init__(self, speed: float, start: float, anchor: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = start
        self._anchor = anchor

    def now(self) -> float:
        """Simulated POSIX seconds."""
        return self._start + (time.time() - self._anchor) * self.speed

    def delay_until(self, at: float) -> float:
        """Real seconds until simulated time ``at``."""
        return max(0.0, (at - self.now()) / self.speed)

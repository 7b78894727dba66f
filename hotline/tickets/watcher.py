"""The SLA watcher: a periodic task that reloads calendar data when it changed and sweeps the
deadlines (``sla.warning`` / ``sla.breached``, supervision).  The decisions are in
:mod:`hotline.tickets.sla` and :meth:`TicketService.sla_sweep`; this only owns the timing.

Use it either as an owned task::

    async with SlaWatcher(service, interval_s=60.0, timeout_s=60.0):
        ...                      # the task is cancelled and awaited on leaving

or put :meth:`SlaWatcher.run` into the application's ``TaskGroup``.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import structlog

from hotline.tickets.errors import TicketError
from hotline.tickets.repository import RepositoryError
from hotline.tickets.service import TicketService
from hotline.tickets.sla_sweep import SweepResult


class SlaWatcher:
    """Sweeps every ``interval_s`` (after ``backlog_pause_s`` while a backlog remains: each sweep
    handles at most ``sweep_batch`` clocks); a failed sweep is logged and tried again next time."""

    def __init__(
        self, service: TicketService, *, interval_s: float, timeout_s: float, backlog_pause_s: float = 0.2
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.service = service
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.backlog_pause_s = min(backlog_pause_s, interval_s)
        self.sweeps = 0
        self.last: SweepResult | None = None
        self._task: asyncio.Task[None] | None = None
        self._log = structlog.get_logger("hotline.tickets.sla")

    async def run_once(self) -> SweepResult:
        """Reload the calendar if its files changed, then sweep once (bounded by ``timeout_s``)."""
        async with asyncio.timeout(self.timeout_s):
            await self.service.refresh_calendar()
            result = await self.service.sla_sweep()
        self.sweeps += 1
        self.last = result
        return result

    async def run(self) -> None:
        """Sweep forever (until cancelled)."""
        self._log.info("sla.watcher_started", interval_s=self.interval_s)
        try:
            while True:
                delay = self.interval_s
                try:
                    result = await self.run_once()
                except (RepositoryError, TicketError, TimeoutError, OSError) as exc:
                    self._log.error("sla.sweep_failed", error=str(exc), kind=type(exc).__name__)
                else:
                    if result.more:  # a backlog (e.g. midnight): go on soon, in bounded steps
                        delay = self.backlog_pause_s
                await asyncio.sleep(delay)
        finally:
            self._log.info("sla.watcher_stopped", sweeps=self.sweeps)

    async def __aenter__(self) -> SlaWatcher:
        self._task = asyncio.create_task(self.run(), name="sla-watcher")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])  # does not swallow our own cancellation
        if not task.cancelled() and task.exception() is not None:
            self._log.error("sla.watcher_crashed", error=repr(task.exception()))

"""The SLA sweep's decision: which clocks are due for a warning or a breach now.  Pure.

A clock is warned once, at ``warn_at`` (the start of the working day before its due day), and
breached once, at ``due_at`` (24:00 of its due day).  The marks are stored with the clock, so a
restarted service does not repeat them.  When a clock is found already past its end and never
warned (the service was down through the warning), only the breach is reported: its warning is
marked as suppressed, never sent late.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace

from hotline.tickets.model import Deadline


class AlertKind(enum.StrEnum):
    """What the watcher logs."""

    WARNING = "warning"  # sla.warning
    BREACH = "breach"  # sla.breached (and supervision opens)


@dataclass(frozen=True, slots=True)
class SlaAlert:
    """One alert and the clock as it must be stored after it (version + 1)."""

    kind: AlertKind
    clock: Deadline
    warning_suppressed: bool = False


def due_now(clocks: Iterable[Deadline], now: float) -> list[SlaAlert]:
    """The alerts due at ``now``, at most one per clock."""
    alerts: list[SlaAlert] = []
    for clock in clocks:
        if clock.met_at is not None or clock.breached_at is not None:
            continue
        if now >= clock.due_at:
            suppressed = clock.warned_at is None
            marked = replace(
                clock,
                breached_at=now,
                warned_at=clock.warned_at if clock.warned_at is not None else now,
                version=clock.version + 1,
            )
            alerts.append(SlaAlert(AlertKind.BREACH, marked, warning_suppressed=suppressed))
        elif clock.warned_at is None and now >= clock.warn_at:
            alerts.append(
                SlaAlert(AlertKind.WARNING, replace(clock, warned_at=now, version=clock.version + 1))
            )
    return alerts

"""The SLA watcher as an owned periodic task: it sweeps, reloads calendar data, and stops cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hotline.tickets.model import Action
from hotline.tickets.service import Created
from hotline.tickets.taxonomy import Taxonomy
from hotline.tickets.watcher import SlaWatcher
from tests.integration.tickets.conftest import Clock, at, draft, open_service

pytestmark = pytest.mark.usefixtures("both_stores")


async def _until(condition: Any, limit_s: float = 5.0) -> None:
    """Poll ``condition`` (the watcher has no event to wait on: it is observed from outside)."""
    async with asyncio.timeout(limit_s):
        while not condition():
            await asyncio.sleep(0.005)


async def test_the_watcher_sweeps_periodically_once_per_deadline(
    tmp_path: Path, taxonomy: Taxonomy, calendar_dir: Path, logs: list[dict[str, Any]]
) -> None:
    clock = Clock(at(2025, 9, 26, 10))
    async with open_service(tmp_path / "h.db", taxonomy, clock, calendar_dir) as service:
        created = await service.create(draft(), actor="1001")
        assert isinstance(created, Created)
        await service.transition(created.ticket.number, Action.DISPATCH, actor="1001")
        watcher = SlaWatcher(service, interval_s=0.01, timeout_s=5.0)
        async with watcher:
            await _until(lambda: watcher.sweeps >= 2)
            clock.now = at(2025, 10, 9, 8)  # the warning day of the staged-feedback deadline
            await _until(lambda: any(e["event"] == "sla.warning" for e in logs))
            seen = watcher.sweeps
            await _until(lambda: watcher.sweeps >= seen + 3)
            clock.now = at(2025, 10, 11, 8)  # past it
            await _until(lambda: any(e["event"] == "sla.breached" for e in logs))
            seen = watcher.sweeps
            await _until(lambda: watcher.sweeps >= seen + 3)
            task = watcher._task
        assert task is not None and task.done()
    assert [e["event"] for e in logs].count("sla.warning") == 1
    assert [e["event"] for e in logs].count("sla.breached") == 1
    assert any(e["event"] == "sla.watcher_stopped" for e in logs)


async def test_the_watcher_picks_up_a_new_calendar_year(
    tmp_path: Path, taxonomy: Taxonomy, calendar_dir: Path, logs: list[dict[str, Any]]
) -> None:
    clock = Clock(at(2026, 12, 21, 10))
    async with open_service(tmp_path / "h.db", taxonomy, clock, calendar_dir) as service:
        created = await service.create(draft(), actor="1001")
        assert isinstance(created, Created) and created.ticket.provisional
        async with SlaWatcher(service, interval_s=0.01, timeout_s=5.0):
            (calendar_dir / "2027.toml").write_text(
                'year = 2027\nholidays = ["2027-01-01"]\n', encoding="utf-8"
            )
            await _until(lambda: any(e["event"] == "calendar.recomputed" for e in logs))
        view = await service.get(created.ticket.number)
        assert not view.ticket.provisional

"""The queue figures and the reconnect backoff, without a broker."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from structlog.testing import capture_logs

from hotline.bus.figures import DayCounts, TodayFigures, queue_figures
from hotline.bus.service import AgentBus, Backoff
from hotline.events import CallArrived, Direction
from hotline.queue import DispatcherStats
from hotline.queue.inputs import AgentPause
from hotline.settings import load_settings
from hotline.store.records import CallOutcome as StoredOutcome
from hotline.store.records import CallRecord as StoredCall
from tests.unit.queue.helpers import Harness


def test_figures_count_waiting_by_class_and_agents_by_state() -> None:
    h = Harness("1001", "1002", "1003")
    h.feed(AgentPause("1001", "lunch"))
    h.feed(AgentPause("1002", "lunch"))
    h.feed(AgentPause("1003", "lunch"))
    h.feed(CallArrived("c1", "Local/a", "u1", "13800000001", "甲", priority="urgent"), after=1.0)
    h.feed(CallArrived("c2", "Local/b", "u2", "13800000002", "乙"), after=1.0)
    figures = queue_figures(h.dispatcher, h.now + 10.0, 8.0, 15.0)
    assert figures["waiting"] == {"escalated": 1, "normal": 1}
    assert figures["waiting_total"] == 2
    assert figures["longest_wait_s"] == 11.0
    assert figures["agents"]["paused"] == 3 and figures["agents"]["ready"] == 0
    assert figures["service_level"] is None and figures["abandon_rate"] is None
    assert figures["at"].endswith("+08:00") and figures["pbx_connected"] is True


def test_backoff_doubles_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 4.0, random.Random(1))
    delays = [backoff.delay() for _ in range(8)]
    steps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(step / 2 <= d <= step for d, step in zip(delays, steps, strict=True))
    assert len(set(delays)) == len(delays)  # jittered: no two alike
    backoff.reset()
    assert backoff.delay() <= 0.5


def test_a_fault_while_observing_never_reaches_the_dispatcher(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness("1001")
    bus = AgentBus(load_settings(environ={}).mqtt, h.dispatcher, lambda _e: None, now=lambda: h.now)

    def broken(*_args: object) -> bytes:
        raise RuntimeError("injected")

    monkeypatch.setattr("hotline.bus.contract.agent_state", broken)  # a fault nothing else causes
    commands = h.feed(AgentPause("1001", "lunch"))
    with capture_logs() as logs:
        bus.observe(AgentPause("1001", "lunch"), commands)
    assert [e["event"] for e in logs] == ["mqtt.observe_failed"]


def _call(
    call_id: str, arrived: float, *, answered: float | None = None, abandoned: float | None = None
) -> StoredCall:
    return StoredCall(
        call_id=call_id,
        direction=Direction.INBOUND,
        caller_number="13800000001",
        dnis="12345",
        arrived_at=arrived,
        answered_at=arrived + answered if answered is not None else None,
        wait_s=answered if answered is not None else abandoned,
        ended_at=arrived + (abandoned if abandoned is not None else 60.0),
        outcome=StoredOutcome.ANSWERED if answered is not None else StoredOutcome.ABANDONED,
    )


def test_the_days_figures_are_the_stores_before_the_start_plus_the_dispatchers_since() -> None:
    noon = datetime(2026, 12, 1, 12, tzinfo=timezone(timedelta(hours=8))).timestamp()
    today = TodayFigures(8.0, 15.0)
    stats = DispatcherStats(calls_answered=4, answered_within_threshold=4, total_answer_wait_s=8.0)
    records = [
        _call("a", noon - 7200, answered=5.0),
        _call("b", noon - 3600, answered=25.0),
        _call("c", noon - 600, abandoned=30.0),
        _call("late", noon - 5, answered=10.0),  # answered after the seed: the dispatcher counts it
        _call("yesterday", noon - 13 * 3600, answered=1.0),
    ]
    today.seed(records, DayCounts.of(stats), noon)
    assert today.counts(stats, noon) == DayCounts(2, 1, 30.0, 1)
    stats.calls_answered += 1
    stats.answered_within_threshold += 1
    stats.total_answer_wait_s += 10.0
    assert today.counts(stats, noon + 60) == DayCounts(3, 2, 40.0, 1)
    midnight = noon + 12 * 3600
    assert today.counts(stats, midnight + 1) == DayCounts()  # a new day starts from zero
    stats.calls_abandoned += 1
    assert today.counts(stats, midnight + 60) == DayCounts(abandoned=1)


def test_figures_show_the_days_counts_when_given() -> None:
    h = Harness("1001")
    figures = queue_figures(h.dispatcher, h.now, 8.0, 15.0, DayCounts(4, 3, 40.0, 1))
    assert figures["calls_answered"] == 4 and figures["service_level"] == 0.75
    assert figures["asa_s"] == 10.0 and figures["abandon_rate"] == 0.2

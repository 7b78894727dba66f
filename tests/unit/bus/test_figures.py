"""The queue figures and the reconnect backoff, without a broker."""

from __future__ import annotations

import random

import pytest
from structlog.testing import capture_logs

from hotline.bus.figures import queue_figures
from hotline.bus.service import AgentBus, Backoff
from hotline.events import CallArrived
from hotline.queue.inputs import AgentPause
from hotline.settings import load_settings
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

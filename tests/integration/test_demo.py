"""``hotline demo`` end to end, briefly: its own broker, agents driven by MQTT, the store kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import structlog

from hotline.demo import DemoOptions, run_demo
from hotline.events import Direction
from hotline.settings import load_settings
from hotline.store import CallOutcome, Store


async def test_the_demo_goes_through_mqtt_and_keeps_its_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    options = DemoOptions(minutes=6.0, speed=60.0, seed=3, live=False, db=db, drain_minutes=10.0)
    try:
        status = await asyncio.wait_for(run_demo(load_settings(environ={}), options, asyncio.Event()), 120)
    finally:
        structlog.reset_defaults()  # the demo logged to its own file, closed now

    out = capsys.readouterr().out
    assert status == 0, out
    assert "Erlang C sizing: 1.8 calls/min" in out
    assert "MQTT broker on 127.0.0.1:" in out
    line = next(text for text in out.splitlines() if text.startswith("MQTT (127.0.0.1:"))
    assert "login 9" in line and "refused 0" in line
    assert "calls unaccounted for: 0" in out
    async with Store.open(db) as store:
        records = await store.calls_between(0, 1e12)
    answered = int(next(t for t in out.splitlines() if t.startswith("calls answered:")).split(":")[1])
    inbound = [r for r in records if r.direction is Direction.INBOUND and r.outcome is CallOutcome.ANSWERED]
    assert answered > 0 and len(inbound) == answered

"""``hotline calls list|show`` on a real store file: one line or JSON object per call, masked
callers unless ``--reveal``, uncertain ends shown as such, linked tickets named."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from hotline.cli import main
from hotline.events import Direction
from hotline.store import CallOutcome, CallRecord, Store

_CHINA = dt.timezone(dt.timedelta(hours=8))
NINE = dt.datetime(2026, 11, 28, 9, 0, tzinfo=_CHINA).timestamp()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hotline.db"
    monkeypatch.setenv("HOTLINE_STORE_PATH", str(path))

    async def fill() -> None:
        async with Store.open(path) as store:
            await store.merge_call(
                CallRecord(
                    call_id="1795831200.1",
                    direction=Direction.INBOUND,
                    caller_number="13800138001",
                    dnis="12345",
                    arrived_at=NINE,
                    answered_at=NINE + 12,
                    ended_at=NINE + 300,
                    wait_s=12.0,
                    agent_id="1001",
                    outcome=CallOutcome.ANSWERED,
                    state="ended",
                    priority="escalated",
                    end_uncertain=True,
                    last_seen_at=NINE + 200,
                )
            )
            await store.merge_call(
                CallRecord(
                    call_id="1795831260.5",
                    direction=Direction.INBOUND,
                    caller_number="13800138002",
                    dnis="12345",
                    arrived_at=NINE + 60,
                    state="waiting",
                    priority="normal",
                )
            )
            await store.merge_call(  # another day: not listed
                CallRecord(
                    call_id="1795744800.3",
                    direction=Direction.INBOUND,
                    caller_number="13800138003",
                    dnis="12345",
                    arrived_at=NINE - 86_400,
                    state="ended",
                )
            )

    asyncio.run(fill())
    return path


def test_calls_list_json_masks_callers_and_says_when_an_end_is_uncertain(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "list", "--day", "2026-11-28", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["call_id"] for r in rows] == ["1795831200.1", "1795831260.5"]
    first = rows[0]
    assert (
        first["caller"] == "138****8001" and first["kind"] == "inbound" and first["priority"] == "escalated"
    )
    assert (first["wait_s"], first["talk_s"], first["agent"], first["outcome"]) == (
        12.0,
        None,
        "1001",
        "answered",
    )
    assert first["end_uncertain"] is True and first["last_seen"].startswith("2026-11-28T09:03:20")
    assert first["arrived"].startswith("2026-11-28T09:00:00") and first["tickets"] == []
    assert rows[1]["state"] == "waiting" and rows[1]["outcome"] is None


def test_calls_list_text_reveal_and_show(store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calls", "list", "--day", "2026-11-28", "--reveal"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 2 and "13800138001" in out and "end_uncertain" in out
    assert main(["calls", "show", "1795831200.1"]) == 0
    shown = capsys.readouterr().out
    assert "138****8001" in shown and "13800138001" not in shown and "answered" in shown
    assert main(["calls", "show", "nope"]) == 1
    assert "no call 'nope'" in capsys.readouterr().err


def test_a_bad_day_is_one_line_naming_the_problem(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["calls", "list", "--day", "28/11/2026"])
    assert "expected a date like 2026-11-28" in capsys.readouterr().err


def test_today_and_yesterday_name_the_local_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--day today`` / ``yesterday`` as ``hotline report`` takes them (local days in Asia/Shanghai)."""
    path = tmp_path / "hotline.db"
    monkeypatch.setenv("HOTLINE_STORE_PATH", str(path))
    today_noon = dt.datetime.now(_CHINA).replace(hour=12, minute=0, second=0, microsecond=0)

    async def fill() -> None:
        async with Store.open(path) as store:
            for call_id, at in (("t.1", today_noon), ("y.1", today_noon - dt.timedelta(days=1))):
                await store.merge_call(
                    CallRecord(
                        call_id=call_id,
                        direction=Direction.INBOUND,
                        caller_number="13800138001",
                        dnis="12345",
                        arrived_at=at.timestamp(),
                        state="waiting",
                    )
                )

    asyncio.run(fill())
    capsys.readouterr()  # the store's own lines while filling
    for day, expected in (("today", ["t.1"]), ("yesterday", ["y.1"])):
        assert main(["calls", "list", "--day", day, "--json"]) == 0
        assert [json.loads(line)["call_id"] for line in capsys.readouterr().out.splitlines()] == expected

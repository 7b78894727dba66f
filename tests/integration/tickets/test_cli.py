"""The CLI through ``hotline.cli.main``: taxonomy check, tickets, report with its chart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from hotline.cli import main
from hotline.events import Direction
from hotline.settings import load_settings
from hotline.store import CallOutcome, CallRecord
from hotline.tickets.cli import open_store


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("HOTLINE_STORE_PATH", str(db))
    yield db
    structlog.reset_defaults()  # main() configured logging onto this test's captured streams


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_taxonomy_check_prints_counts_per_level(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "taxonomy", "check")
    assert code == 0
    assert "valid" in out
    for label in ("level 1 行业领域", "level 2 问题类型", "level 3 问题表现", "level 4 权责事项"):
        assert label in out


def test_taxonomy_check_reports_problems(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("code,parent,level,name,department\n01,,1,城市管理,\n0101,09,2,x,\n", encoding="utf-8")
    code, out, _ = _run(capsys, "taxonomy", "check", "--file", str(bad))
    assert code == 1 and "parent 09 does not exist" in out


def test_tickets_from_create_to_show(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    create = [
        "tickets",
        "create",
        "--type",
        "complaint",
        "--class",
        "01010101",
        "--location",
        "沈阳市皇姑区三台子街道",
        "--description",
        "共享单车堆在盲道上",
        "--request",
        "清理",
        "--name",
        "王小明",
        "--number",
        "13912345678",
        "--call",
        "1764300000.12",
        "--external-call",
        "--actor",
        "1001",
    ]
    code, out, err = _run(capsys, *create)
    assert code == 0 and out.startswith("created 12345-"), err
    number = out.split()[1]
    assert "staged_feedback" in out and "closing" in out
    code, out, _ = _run(capsys, *create)
    assert code == 3 and "probable duplicate" in out and number in out
    code, out, _ = _run(capsys, "tickets", "list", "--open")
    assert number in out and "13912345678" not in out
    assert _run(capsys, "tickets", "transition", number, "dispatch", "--actor", "1001")[0] == 0
    code, _, err = _run(capsys, "tickets", "transition", number, "close")
    assert code == 1 and "from: dispatched" in err and "to: closed" in err
    code, _, err = _run(capsys, "tickets", "transition", number, "extend", "--days", "41")
    assert code == 1 and "at most 40" in err
    assert _run(capsys, "tickets", "transition", number, "extend", "--days", "5")[0] == 0
    code, _, err = _run(capsys, "tickets", "link", number, "1764390000.3")
    assert code == 2 and "no call 1764390000.3 in the call records" in err and len(err.splitlines()) == 1
    assert _run(capsys, "tickets", "link", number, "1764390000.3", "--external")[0] == 0
    code, out, _ = _run(capsys, "tickets", "show", number)
    assert code == 0
    assert "王*" in out and "139****5678" in out and "13912345678" not in out
    assert "1764390000.3" in out and "repeat" in out and "extend" in out
    code, out, _ = _run(capsys, "tickets", "show", number, "--reveal")
    assert "13912345678" in out and "王小明" in out
    code, _, err = _run(capsys, "tickets", "show", "12345-20000101-000001")
    assert code == 1 and "no ticket" in err


def test_report_with_chart(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    settings = load_settings()

    async def seed() -> None:
        async with open_store(settings) as store:
            for i in range(4):
                await store.upsert_call(
                    CallRecord(
                        call_id=f"1764291600.{i}",
                        direction=Direction.INBOUND,
                        caller_number="13800138000",
                        dnis="12345",
                        arrived_at=1_764_291_600.0 + i * 60,  # 2025-11-28 09:00 +08:00
                        wait_s=float(5 * i),
                        outcome=CallOutcome.ANSWERED if i < 3 else CallOutcome.ABANDONED,
                    )
                )

    asyncio.run(seed())
    chart = tmp_path / "report.png"
    code, out, err = _run(capsys, "report", "--day", "2025-11-28", "--chart", str(chart))
    assert code == 0, err
    summary = {
        line.split()[0]: line.split()[-1]
        for line in out.split("【总览】")[1].split("【")[0].splitlines()[2:-1]
    }
    assert summary["呼入量"] == "4" and summary["放弃量(等待≥5秒)"] == "1"
    assert summary["服务水平SL1(15秒内接通/呼入)"] == "75.0%"
    assert chart.read_bytes()[:4] == b"\x89PNG"


def test_tickets_needing_attention_are_listed(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "tickets", "list", "--needs-attention")
    assert code == 0 and "no tickets need attention" in out
    create = ["tickets", "create", "--type", "complaint", "--class", "01010101", "--location", "皇姑区"]
    code, out, err = _run(
        capsys, *create, "--description", "占道", "--request", "清理", "--number", "13912345678"
    )
    assert code == 0, err
    number = out.split()[1]
    settings = load_settings()

    async def mark() -> None:
        async with open_store(settings) as store:
            ticket = await store.get_ticket(number)
            assert ticket is not None
            await store.mark_attention(ticket.id, "follow-up call could not be dialled: cannot_dial", at=0.0)

    asyncio.run(mark())
    code, out, _ = _run(capsys, "tickets", "list", "--needs-attention")
    assert code == 0 and number in out and "could not be dialled" in out and "13912345678" not in out

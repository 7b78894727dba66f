"""The report from a real SQLite file: the store's queries, and ``hotline report`` in every format."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import structlog

from hotline.cli import main
from hotline.reports import charts
from hotline.reports.compute import build_report, totals
from hotline.reports.load import load_range, load_with_previous, previous_totals
from hotline.reports.model import Report, ReportData, ReportOptions, Totals
from hotline.store import Store
from hotline.store.reports import AgentStateRow, agent_state_history
from hotline.tickets.taxonomy import Taxonomy, load_taxonomy
from tests.integration.reports.conftest import STORED_CALLS, seed
from tests.unit.reports import known_day as k

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(ROOT / "config" / "taxonomy.csv")


@pytest.fixture
def db(tmp_path: Path, taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "report.db"
    asyncio.run(seed(path, taxonomy))
    monkeypatch.setenv("HOTLINE_STORE_PATH", str(path))
    yield path
    structlog.reset_defaults()  # main() configured logging onto this test's captured streams


def test_the_store_returns_the_known_day(db: Path, taxonomy: Taxonomy) -> None:
    async def read() -> tuple[ReportData, Report, list[AgentStateRow]]:
        async with Store.open(db) as store:
            data = await load_range(store, k.options())
            history = await agent_state_history(store, k.options().start, k.options().end)
            return data, build_report(data, k.options(), taxonomy), history

    data, report, history = asyncio.run(read())
    assert sorted(data.calls, key=lambda c: c.call_id) == sorted(STORED_CALLS, key=lambda c: c.call_id)
    # The history inside the day in time order, and 1001's last change before it (logged out the
    # evening before); nothing else before the day.
    assert history == k.history_rows(k.HISTORY)
    c = report.totals.calls
    # The same figures as from the rows in tests/unit/reports/test_compute.py.
    figures = (c.offered, c.answered, c.abandoned, c.short_abandoned, c.other, c.in_progress)
    assert figures == (10, 5, 2, 2, 1, 1)
    assert c.end_uncertain == 2 and c.avg_talk_s == pytest.approx(102.5)  # no talk time for call 6
    assert c.service_level == pytest.approx(3 / 10) and c.service_level_excl_short == pytest.approx(3 / 8)
    a, b = report.agents
    assert (a.ready_s, b.ring_no_answer) == (28540, 1)
    t = report.totals
    assert (t.tickets_opened, t.tickets_closed) == (3, 2)  # t1-t3; t3 resolved, the old one closed
    assert t.satisfaction_rate == 1.0
    # The old complaint's staged feedback (due 10 October) was met by the feedback of 9 October.
    assert (t.due, t.on_time, t.late) == (1, 1, 0)
    complaint = {g.key: g for g in report.by_type}["complaint"]
    assert (complaint.opened, complaint.supervised, complaint.returned) == (2, 1, 1)
    top = {(r.level, r.rank): (r.name, r.count) for r in report.top}
    assert top[(4, 1)] == ("共享单车停放秩序日常监管", 2)


def test_a_range_and_the_one_before(db: Path, taxonomy: Taxonomy) -> None:
    options = k.options(first_day=date(2025, 10, 3), last_day=k.DAY)  # 8 days: from 25 September before

    async def read() -> tuple[ReportData, Totals]:
        async with Store.open(db) as store:
            return await load_with_previous(store, options)

    current, previous = asyncio.run(read())
    report = build_report(current, options, taxonomy, previous=previous)
    assert previous == totals(current_of(db, options.previous()), options.previous())
    assert len(report.trend) == 8 and [d.calls.offered for d in report.trend] == [0] * 7 + [10]
    opened = {c.metric: c for c in report.comparison}["tickets_opened"]
    assert (opened.current, opened.previous) == (3, 1)  # the old ticket was accepted on 26 September


def current_of(db: Path, options: ReportOptions) -> ReportData:
    async def read() -> ReportData:
        async with Store.open(db) as store:
            return await load_range(store, options)

    return asyncio.run(read())


@pytest.mark.parametrize("now", [k.NOW, k.at(12)])
def test_the_sums_in_sql_equal_the_sums_in_python(db: Path, now: float) -> None:
    """``range_counts`` (the previous range of the comparison) against :func:`totals` on the rows."""
    ranges = ((k.DAY, k.DAY), (date(2025, 9, 26), k.DAY), (date(2025, 10, 11), date(2025, 10, 12)))
    for first, last in ranges:
        options = k.options(first_day=first, last_day=last, now=now)
        length = last - first
        following = k.options(
            first_day=last + timedelta(days=1), last_day=last + timedelta(days=1) + length, now=now
        )
        assert following.previous() == options

        async def read(after: ReportOptions = following) -> Totals:
            async with Store.open(db) as store:
                return await previous_totals(store, after)

        assert asyncio.run(read()) == totals(current_of(db, options), options)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_terminal_text(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "report", "--day", "2025-10-10")
    assert code == 0, err
    assert "12345热线运行报表 2025-10-10" in out
    assert "【时段报表(30分钟)】" in out and "【坐席报表】" in out and "【超期工单(报表生成时)】" in out
    (line,) = [x for x in out.splitlines() if x.strip().startswith("09:00")]
    assert line.split()[:6] == ["09:00", "09:30", "5", "3", "1", "1"]  # offered, answered, abandoned, short


def test_json_has_one_key_per_section(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "report", "--day", "2025-10-10", "--json", "--interval", "60")
    assert code == 0, err
    doc = json.loads(out)
    assert list(doc) == [
        "meta",
        "summary",
        "intervals",
        "agents",
        "agent_pauses",
        "tickets_by_type",
        "tickets_by_department",
        "satisfaction",
        "top_classes",
        "overdue",
        "escalations",
        "escalation_reasons",
        "trend",
        "comparison",
    ]
    assert len(doc["intervals"]) == 24 and doc["meta"]["interval_min"] == 60
    summary = {row["metric"]: row["value"] for row in doc["summary"]}
    assert summary["offered"] == 10 and summary["service_level"] == 0.3
    # the day's two alerts (not the day before's): 30 s and 130 s to acknowledge
    assert doc["escalations"] == [
        {
            "raised": 2,
            "urgent": 1,
            "sensitive": 1,
            "acknowledged": 2,
            "acknowledged_in_time": 1,
            "reescalated": 1,
            "exhausted": 0,
            "median_ack_s": 80.0,
            "incidents": 1,
        }
    ]
    assert doc["escalation_reasons"] == [
        {"source": "语音导航选择紧急", "level": "突发应急", "alerts": 1},
        {"source": "工单关键词", "level": "敏感事件", "alerts": 1},
        {"source": "短期重复来电", "level": "敏感事件", "alerts": 1},
    ]


def test_csv_files_are_utf8_with_a_bom(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "csv"
    code, out, err = _run(capsys, "report", "--day", "2025-10-10", "--csv", str(out_dir))
    assert code == 0, err
    assert f"CSV: 13 files in {out_dir}" in out
    names = sorted(p.name for p in out_dir.iterdir())
    assert "intervals.csv" in names and "tickets_by_department.csv" in names and len(names) == 13
    raw = (out_dir / "intervals.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][:3] == ["时段开始", "时段结束", "呼入量"]
    nine = next(r for r in rows if r[0] == "09:00")
    assert nine[2] == "5" and rows[0].index("服务水平SL1") and nine[rows[0].index("服务水平SL1")] == "40.0"


def test_html_is_self_contained_with_chinese_charts(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "r.html"
    code, out, err = _run(capsys, "report", "--from", "2025-10-04", "--to", "2025-10-10", "--html", str(page))
    assert code == 0, err
    assert f"HTML: {page}" in out
    text = page.read_text(encoding="utf-8")
    assert "http" not in text.lower()
    assert "<script" not in text and "<link" not in text
    assert text.count('src="data:image/png;base64,') == 4  # intervals, trend, departments, top
    assert "每日趋势" in text and "共享单车管理" in text


def test_the_chosen_font_has_the_chinese_glyphs() -> None:
    font = charts.find_cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (scripts/test.sh installs fonts-wqy-microhei when root)")
    assert charts.has_glyphs(font.path)
    assert charts.has_glyphs(font.path, "呼入接通服务水平每日趋势按时率满意率热点问题类型承办部门")
    assert not charts.has_glyphs(font.path, "\U0001fbff")  # the check can fail: an unassigned code point


def test_without_a_cjk_font_charts_fall_back_to_codes_and_say_so_once(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "find_cjk_font", lambda: None)
    page, png = tmp_path / "r.html", tmp_path / "c.png"
    code, _, err = _run(capsys, "report", "--day", "2025-10-10", "--html", str(page), "--chart", str(png))
    assert code == 0
    assert err.count("no CJK font found") == 1
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "no CJK font found" in page.read_text(encoding="utf-8")


def test_bad_ranges_are_refused_in_one_line(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "report", "--from", "2025-10-10", "--to", "2025-10-01")
    assert code == 2 and err.strip().count("\n") == 0 and "before it starts" in err
    code, _, err = _run(capsys, "report", "--day", "2025-10-10", "--from", "2025-10-01")
    assert code == 2 and "not both" in err

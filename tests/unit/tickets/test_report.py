"""The daily report's figures, its text and its chart."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from hotline.events import Direction
from hotline.store.records import CallOutcome, CallRecord
from hotline.tickets.deadlines import DeadlineCalculator
from hotline.tickets.model import DeadlineKind, TicketType
from hotline.tickets.report import DayReport, build_report, render_text
from hotline.tickets.taxonomy import Taxonomy
from tests.unit.tickets.conftest import at


def _call(
    i: int, outcome: CallOutcome | None, wait: float | None, direction: Direction = Direction.INBOUND
) -> CallRecord:
    start = at(2025, 10, 10, 9) + i * 60
    return CallRecord(
        call_id=f"1760000000.{i}",
        direction=direction,
        caller_number=f"139{i:08d}",
        dnis="12345",
        arrived_at=start if direction is Direction.INBOUND else None,
        offered_at=start,
        answered_at=start + wait if wait is not None and outcome is CallOutcome.ANSWERED else None,
        ended_at=start + 300,
        wait_s=wait,
        outcome=outcome,
    )


def _report(calc: DeadlineCalculator, taxonomy: Taxonomy) -> DayReport:
    calls = [
        _call(1, CallOutcome.ANSWERED, 5.0),
        _call(2, CallOutcome.ANSWERED, 12.0),
        _call(3, CallOutcome.ANSWERED, 40.0),
        _call(4, CallOutcome.ABANDONED, 30.0),
        _call(5, CallOutcome.LOST, None),
        _call(6, CallOutcome.ANSWERED, 2.0, Direction.CALLBACK),
        _call(7, CallOutcome.NO_ANSWER, None, Direction.CALLBACK),
    ]
    (feedback,) = calc.plan(TicketType.CONSULTATION, 1, date(2025, 9, 26), 1)  # due 10 October
    staged, _closing = calc.plan(TicketType.COMPLAINT, 2, date(2025, 9, 26), 1)  # staged due 10 October
    clocks = [
        replace(feedback, met_at=at(2025, 10, 10, 18)),  # on time
        replace(feedback, ticket_id=3, met_at=at(2025, 10, 13, 9)),  # late
        replace(feedback, ticket_id=4),  # not met, the day is over: late
        staged,  # not met: late
        replace(staged, ticket_id=5, met_at=at(2025, 10, 1)),  # on time
    ]
    return build_report(
        date(2025, 10, 10),
        calls=calls,
        tickets_opened=9,
        tickets_closed=4,
        opened_per_classification={"01010101": 3, "01010102": 2, "02010101": 4, "99": 1},
        clocks_due=clocks,
        satisfaction={"satisfied": 6, "basically_satisfied": 2, "not_satisfied": 2, "unreachable": 3},
        taxonomy=taxonomy,
        threshold_s=15.0,
        now=at(2025, 10, 11, 8),
        top_n=3,
    )


def test_the_figures(calc: DeadlineCalculator, taxonomy: Taxonomy) -> None:
    report = _report(calc, taxonomy)
    assert (report.offered, report.answered, report.abandoned, report.other_outcomes) == (5, 3, 1, 1)
    assert report.answered_within == 2 and report.service_level == pytest.approx(2 / 5)
    assert report.average_wait_s == pytest.approx(19.0)
    assert (report.callbacks, report.callbacks_reached) == (2, 1)
    stats = {s.kind: s for s in report.deadlines}
    assert (stats[DeadlineKind.FEEDBACK].on_time, stats[DeadlineKind.FEEDBACK].late) == (1, 2)
    assert stats[DeadlineKind.STAGED_FEEDBACK].rate == pytest.approx(0.5)
    assert report.satisfaction_rate == pytest.approx(8 / 10)
    top = [(c.code, c.count) for c in report.top]
    assert top == [("0101", 5), ("0201", 4), ("99", 1)]
    assert report.top[0].label == "城市管理 / 共享单车管理"


def test_pending_clocks_are_left_out_of_the_rate(calc: DeadlineCalculator, taxonomy: Taxonomy) -> None:
    report = _report(calc, taxonomy)
    early = build_report(
        report.day,
        calls=[],
        tickets_opened=0,
        tickets_closed=0,
        opened_per_classification={},
        clocks_due=calc.plan(TicketType.CONSULTATION, 1, date(2025, 9, 26), 1),
        satisfaction={},
        taxonomy=taxonomy,
        threshold_s=15.0,
        now=at(2025, 10, 10, 12),
    )
    (stats,) = early.deadlines
    assert (stats.pending, stats.rate) == (1, None)
    assert early.service_level is None and early.satisfaction_rate is None


def test_the_text(calc: DeadlineCalculator, taxonomy: Taxonomy) -> None:
    text = render_text(_report(calc, taxonomy))
    for expected in (
        "daily report for 2025-10-10",
        "offered (inbound)        5",
        "service level (15 s)   40.0 %",
        "opened                   9",
        "closed                   4",
        "feedback",
        "satisfaction rate        80.0 %",
        "1. 城市管理 / 共享单车管理 [0101]  5",
    ):
        assert expected in text, expected


def test_the_chart_is_a_png(calc: DeadlineCalculator, taxonomy: Taxonomy, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from hotline.tickets.chart import render_chart

    path = render_chart(_report(calc, taxonomy), tmp_path / "out" / "report.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_without_a_cjk_font_the_chart_shows_no_missing_glyphs(
    calc: DeadlineCalculator, taxonomy: Taxonomy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    import warnings

    from hotline.tickets import chart

    monkeypatch.setattr(chart, "find_cjk_font", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chart.render_chart(_report(calc, taxonomy), tmp_path / "report.png")
    assert not [w for w in caught if "missing from" in str(w.message)]

"""The report's figures on the known day (``known_day.py``): every value worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from hotline.reports.compute import SERVICE_SEEN_SLACK_S, build_report, totals
from hotline.reports.model import IntervalRow, Report, ReportData
from hotline.tickets.taxonomy import Taxonomy, load_taxonomy
from tests.unit.reports import known_day as k

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(ROOT / "config" / "taxonomy.csv")


@pytest.fixture(scope="module")
def report(taxonomy: Taxonomy) -> Report:
    return build_report(k.data(), k.options(), taxonomy)


def _interval(report: Report, start: str) -> IntervalRow:
    (row,) = [r for r in report.intervals if r.start == start]
    return row


def test_day_totals(report: Report) -> None:
    c = report.totals.calls
    # offered: calls 1-9 and 11 (10 is live); answered 1, 2, 3, 6, 9; long abandons 4 and 11
    # (11's end is uncertain: never short); short abandons 5 and 8; other: 7 (lost).
    assert (c.offered, c.answered, c.abandoned, c.short_abandoned, c.other) == (10, 5, 2, 2, 1)
    assert (c.in_progress, c.end_uncertain) == (1, 2)
    assert c.answered_within == 3  # waits 5, 12, 8 <= 15 s
    assert c.service_level == pytest.approx(3 / 10)
    assert c.service_level_excl_short == pytest.approx(3 / (10 - 2))
    assert c.asa_s == pytest.approx((5 + 12 + 40 + 20 + 8) / 5)
    # Talk: calls 1, 2, 3, 9 — call 6's end is uncertain, no talk time invented for it.
    assert c.avg_talk_s == pytest.approx((100 + 200 + 60 + 50) / 4)
    assert c.avg_wrap_s == pytest.approx((30 + 60 + 30) / 3)  # 1001: 30 s, 60 s; 1002: 30 s
    assert c.aht_s == pytest.approx(102.5 + 40)
    assert c.longest_wait_s == 40
    assert (c.callbacks, c.callbacks_reached) == (2, 1)


def test_intervals_by_hand(report: Report) -> None:
    assert len(report.intervals) == 48
    nine = _interval(report, "09:00").calls  # calls 1-5
    assert (nine.offered, nine.answered, nine.abandoned, nine.short_abandoned) == (5, 3, 1, 1)
    assert nine.service_level == pytest.approx(2 / 5)  # waits 5 and 12
    assert nine.service_level_excl_short == pytest.approx(2 / 4)
    assert nine.asa_s == pytest.approx(19.0)
    assert nine.avg_talk_s == pytest.approx(120.0)
    assert nine.aht_s == pytest.approx(120.0 + 40.0)
    assert nine.longest_wait_s == 40
    half = _interval(report, "09:30").calls  # call 6 (uncertain end), 7 (lost), callback 12
    assert (half.offered, half.answered, half.other, half.end_uncertain) == (2, 1, 1, 1)
    assert half.service_level == 0.0 and half.asa_s == 20.0
    assert half.avg_talk_s is None and half.aht_s is None
    assert (half.callbacks, half.callbacks_reached) == (1, 1)
    ten = _interval(report, "10:00").calls  # 8 short, 9 answered, 10 live, 11 uncertain abandon
    assert (ten.offered, ten.short_abandoned, ten.abandoned, ten.in_progress) == (3, 1, 1, 1)
    assert ten.service_level == pytest.approx(1 / 3)
    assert ten.service_level_excl_short == pytest.approx(1 / 2)
    assert ten.longest_wait_s == 8  # 11's wait (uncertain abandon) does not count
    late = _interval(report, "10:30").calls  # only callback 13, not reached
    assert (late.offered, late.callbacks, late.callbacks_reached) == (0, 1, 0)
    assert late.service_level is None


def test_an_interval_without_calls_shows_zeros(report: Report) -> None:
    row = _interval(report, "08:00")
    c = row.calls
    assert (row.start, row.end) == ("08:00", "08:30")
    assert (c.offered, c.answered, c.abandoned, c.short_abandoned, c.callbacks) == (0, 0, 0, 0, 0)
    assert [r.start for r in report.intervals][:3] == ["00:00", "00:30", "01:00"]


@pytest.mark.parametrize("minutes, rows", [(15, 96), (60, 24)])
def test_interval_length(taxonomy: Taxonomy, minutes: int, rows: int) -> None:
    report = build_report(k.data(), k.options(interval_min=minutes), taxonomy)
    assert len(report.intervals) == rows
    assert sum(r.calls.offered for r in report.intervals) == 10


def test_agents_by_hand(report: Report) -> None:
    a, b = report.agents
    assert a.agent_id == "1001" and b.agent_id == "1002"
    assert (a.inbound, a.callbacks) == (3, 1)  # calls 1, 3, 9 and callback 12
    assert a.avg_talk_s == pytest.approx((100 + 60 + 50 + 90) / 4)
    assert a.avg_wrap_s == pytest.approx(45.0)
    # ready 08:00-09:00, 09:02:15-09:10:35, 09:12:40-12:00, 13:00-17:00
    assert a.ready_s == pytest.approx(3600 + 500 + 10040 + 14400)
    assert (a.busy_s, a.wrap_s, a.paused_s, a.ring_no_answer) == (160, 90, 3600, 0)
    assert a.occupancy == pytest.approx((160 + 90) / (28540 + 10 + 160 + 90))
    assert (b.inbound, b.callbacks) == (2, 0)
    assert b.avg_talk_s == 200  # call 6's end is uncertain
    assert b.ready_s == pytest.approx(2100 + 3058 + 17700)
    assert (b.busy_s, b.wrap_s, b.paused_s, b.ring_no_answer) == (200, 30, 280 + 3600, 1)
    assert b.occupancy == pytest.approx(230 / (22858 + 32 + 200 + 30))
    pauses = {(p.agent_id, p.reason): (p.seconds, p.times) for p in report.pauses}
    assert pauses == {
        ("1001", "lunch"): (3600, 1),
        ("1002", "no_answer"): (280, 1),
        ("1002", "training"): (3600, 1),
    }


def test_agent_time_stops_when_the_report_is_made(taxonomy: Taxonomy) -> None:
    report = build_report(k.data(), k.options(now=k.at(10)), taxonomy)
    a = report.agents[0]
    assert a.ready_s == pytest.approx(3600 + 500 + (10 * 3600 - k.at(9, 12, 40) + k.at(0)) % 86400)
    assert a.paused_s == 0


def test_agent_time_stops_at_the_services_last_heartbeat(taxonomy: Taxonomy) -> None:
    """A service stopped (or killed) at 10:00 does not keep its agents ready until the report
    is made at 18:00: the last heartbeat bounds every agent's last state."""
    data = replace(k.data(), service_last_seen=k.at(10) - SERVICE_SEEN_SLACK_S)
    stopped = build_report(data, k.options(now=k.at(18)), taxonomy)
    made_at_ten = build_report(k.data(), k.options(now=k.at(10)), taxonomy)
    assert stopped.agents == made_at_ten.agents
    running = replace(k.data(), service_last_seen=k.at(17, 59, 59))
    assert (
        build_report(running, k.options(now=k.at(18)), taxonomy).agents[0].ready_s > stopped.agents[0].ready_s
    )


def test_without_agent_history_the_times_are_unknown(taxonomy: Taxonomy) -> None:
    report = build_report(replace(k.data(), agent_history=None), k.options(), taxonomy)
    a = report.agents[0]
    assert (a.inbound, a.callbacks) == (3, 1)
    assert (a.ready_s, a.paused_s, a.ring_no_answer, a.occupancy, a.avg_wrap_s) == (None,) * 5
    assert report.totals.calls.avg_wrap_s is None and report.totals.calls.aht_s == pytest.approx(102.5)
    assert not report.agent_history


def test_tickets_by_type_and_department(report: Report) -> None:
    by_type = {g.key: g for g in report.by_type}
    complaint, consultation = by_type["complaint"], by_type["consultation"]
    assert complaint.label == "投诉" and consultation.label == "咨询"
    assert (complaint.opened, complaint.closed, complaint.extended, complaint.returned) == (2, 0, 1, 1)
    assert (complaint.supervised, complaint.reopened) == (1, 0)
    assert (complaint.on_time, complaint.late, complaint.on_time_rate) == (0, 2, 0.0)
    assert (consultation.opened, consultation.closed, consultation.reopened) == (1, 1, 1)
    assert (consultation.on_time, consultation.late, consultation.on_time_rate) == (2, 0, 1.0)
    by_dept = {g.key: g for g in report.by_department}
    assert (by_dept[k.D1].opened, by_dept[k.D1].on_time_rate) == (2, 1.0)
    assert (by_dept[k.D2].opened, by_dept[k.D2].returned, by_dept[k.D2].on_time_rate) == (1, 1, 0.0)
    assert [g.key for g in report.by_department] == [k.D1, k.D2]  # most opened first
    assert report.totals.on_time_rate == pytest.approx(2 / 4)


def test_pending_clocks_are_left_out_of_the_rate(taxonomy: Taxonomy) -> None:
    report = build_report(k.data(), k.options(now=k.at(18)), taxonomy)  # the due day is not over
    d2 = {g.key: g for g in report.by_department}[k.D2]
    assert (d2.on_time, d2.late, d2.pending) == (0, 1, 1)  # 14 was met after its end; 15 still runs
    assert d2.on_time_rate == 0.0
    d1 = {g.key: g for g in report.by_department}[k.D1]
    assert (d1.on_time, d1.late, d1.pending) == (2, 0, 0)
    running = build_report(replace(k.data(), clocks_due=[k.CLOCKS[2]]), k.options(now=k.at(18)), taxonomy)
    assert running.totals.on_time_rate is None  # nothing decided yet


def test_satisfaction(report: Report) -> None:
    counts = {s.key: (s.label, s.count) for s in report.satisfaction}
    assert counts == {
        "satisfied": ("满意", 1),
        "basically_satisfied": ("基本满意", 1),
        "not_satisfied": ("不满意", 1),
        "unreachable": ("无法联系", 1),
    }
    assert report.totals.satisfaction_rate == pytest.approx(2 / 3)  # unreachable left out


def test_top_problem_types_by_name_along_the_four_levels(report: Report) -> None:
    top = {(t.level, t.rank): (t.name, t.count) for t in report.top}
    assert top[(1, 1)] == ("城市管理", 3)
    assert top[(2, 1)] == ("共享单车管理", 2) and top[(2, 2)] == ("市容环境卫生", 1)
    assert top[(3, 1)] == ("共享单车乱停乱放、占用人行道和盲道", 2)
    assert top[(4, 1)] == ("共享单车停放秩序日常监管", 2)
    (row,) = [t for t in report.top if t.level == 4 and t.rank == 1]
    assert row.path.startswith("城市管理 / 共享单车管理 / ") and row.level_label == "权责事项"


def test_overdue_list(report: Report) -> None:
    (row,) = report.overdue
    assert (row.number, row.department, row.kind, row.days_late) == (
        "12345-20250926-000015",
        k.D2,
        "closing",
        1,
    )
    assert row.ticket_type == "投诉" and row.classification == "生活垃圾收运监管"


def _week_data(first: date, per_day: int) -> ReportData:
    calls = []
    for i in range(7):
        day = first + timedelta(days=i)
        for j in range(per_day + i):
            calls.append(k.inbound(i * 100 + j, k.at(9, j, day=day), "answered", 10.0, 60.0, "1001"))
    return ReportData(calls=calls, agent_history=None, opened=[], closed=[], steps=[], clocks_due=[])


def test_a_seven_day_range_has_seven_trend_rows_and_a_comparison(taxonomy: Taxonomy) -> None:
    first = date(2025, 10, 13)
    options = k.options(first_day=first, last_day=first + timedelta(days=6))
    previous = options.previous()
    assert (previous.first_day, previous.last_day) == (date(2025, 10, 6), date(2025, 10, 12))
    report = build_report(
        _week_data(first, 3), options, taxonomy, previous=totals(_week_data(previous.first_day, 1), previous)
    )
    assert [d.day for d in report.trend] == [first + timedelta(days=i) for i in range(7)]
    assert [d.calls.offered for d in report.trend] == [3, 4, 5, 6, 7, 8, 9]
    assert all(d.calls.service_level == 1.0 for d in report.trend)
    offered = {c.metric: c for c in report.comparison}["offered"]
    assert (offered.current, offered.previous, offered.change) == (42, 28, 14)  # 3..9 vs 1..7
    assert sum(r.calls.offered for r in report.intervals) == 42  # the intervals sum the 7 days


def test_an_empty_day(taxonomy: Taxonomy) -> None:
    empty = ReportData(calls=[], agent_history=None, opened=[], closed=[], steps=[], clocks_due=[])
    report = build_report(empty, k.options(), taxonomy, previous=totals(empty, k.options().previous()))
    assert len(report.intervals) == 48 and all(r.calls.offered == 0 for r in report.intervals)
    assert report.totals.calls.service_level is None and report.agents == ()
    assert len(report.trend) == 1 and report.trend[0].calls.offered == 0

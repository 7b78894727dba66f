"""Invariants of the report's call figures over generated calls (hypothesis)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.reports.compute import build_report, totals
from hotline.reports.model import ReportData, Totals
from hotline.store.reports import ReportCall
from hotline.tickets.taxonomy import load_taxonomy
from tests.unit.reports import known_day as k

TAXONOMY = load_taxonomy(Path(__file__).resolve().parents[3] / "config" / "taxonomy.csv")
OUTCOMES = st.sampled_from([None, "answered", "abandoned", "lost", "failed"])


@st.composite
def calls(draw: st.DrawFn) -> ReportCall:
    n = draw(st.integers(0, 10**6))
    arrived = k.at(0) + draw(st.floats(0, 86399.0))
    outcome = draw(OUTCOMES)
    wait = draw(st.one_of(st.none(), st.floats(0, 600)))
    talk = draw(st.one_of(st.none(), st.floats(0, 3600)))
    uncertain = draw(st.booleans()) and outcome in ("answered", "abandoned")
    if draw(st.booleans()):
        return k.inbound(n, arrived, outcome, wait, talk, "1001", uncertain=uncertain)
    return k.callback(n, arrived, draw(st.booleans()), talk, "1002")


@settings(max_examples=60, deadline=None)
@given(st.lists(calls(), max_size=40), st.sampled_from([15, 30, 60]))
def test_call_figures_add_up(rows: list[ReportCall], minutes: int) -> None:
    data = ReportData(calls=rows, agent_history=None, opened=[], closed=[], steps=[], clocks_due=[])
    options = k.options(interval_min=minutes)
    report = build_report(data, options, TAXONOMY)
    c = report.totals.calls
    assert c.offered == c.answered + c.abandoned + c.short_abandoned + c.other
    inbound = [r for r in rows if r.direction == "inbound"]
    assert c.offered + c.in_progress == len(inbound)
    assert c.callbacks == len(rows) - len(inbound)
    assert c.answered_within <= c.answered
    if c.service_level is not None and c.service_level_excl_short is not None:
        assert 0.0 <= c.service_level <= c.service_level_excl_short <= 1.0
    for name in ("offered", "answered", "abandoned", "short_abandoned", "callbacks", "end_uncertain"):
        assert sum(getattr(i.calls, name) for i in report.intervals) == getattr(c, name)
        assert sum(getattr(d.calls, name) for d in report.trend) == getattr(c, name)
    # one pass or the totals alone: the same figures (sums in another order may differ in the
    # last bit of a float, nothing more)
    one_pass, alone = _flat(report.totals), _flat(totals(data, options))
    assert one_pass.keys() == alone.keys()
    for name, value in one_pass.items():
        expected = alone[name]
        assert value == (expected if expected is None else pytest.approx(expected, rel=1e-12)), name


def _flat(totals: Totals) -> dict[str, object]:
    """The totals' figures by name, the call figures' among them, for an approximate comparison."""
    figures = dataclasses.asdict(totals)
    calls = figures.pop("calls")
    return {**figures, **{f"calls.{key}": value for key, value in calls.items()}}

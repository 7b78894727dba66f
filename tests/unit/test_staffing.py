"""Erlang C staffing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.staffing import answered_within, erlang_c, size


def test_erlang_c_matches_closed_forms() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2: 2 rho^2 / (1 + rho) at rho = 0.5
    assert erlang_c(3, 3.0) == 1.0  # overloaded: everybody waits


def test_the_fewest_agents_that_meet_the_target() -> None:
    sizing = size(1.8, 164.0, target=0.8, threshold_s=15.0, shrinkage=0.08)
    assert sizing.load == pytest.approx(4.92)
    assert sizing.agents == 8
    assert answered_within(7, sizing.load, 164.0, 15.0) < 0.8 <= sizing.predicted
    assert sizing.staffed == math.ceil(8 / 0.92)
    assert "4.92 Erlangs" in sizing.describe() and "9 agents rostered" in sizing.describe()


@given(st.floats(0.1, 30.0), st.floats(30.0, 600.0), st.floats(0.5, 0.95))
def test_one_agent_fewer_would_miss_the_target(rate: float, handle: float, target: float) -> None:
    sizing = size(rate, handle, target=target)
    assert sizing.predicted >= target
    assert answered_within(sizing.agents - 1, sizing.load, handle, 15.0) < target


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="more than 0"):
        size(0.0, 100.0)
    with pytest.raises(ValueError, match="target"):
        size(1.0, 100.0, target=1.0)

"""Erlang C staffing: how many agents answer a share of calls within a threshold.

M/M/c with offered load ``a = rate × handle time`` Erlangs: the probability that a call waits is
Erlang C, and the share answered within ``t`` is ``1 - C(c, a) · exp(-(c - a) · t / handle)``.
It ignores abandonment, so it errs on the side of more agents.  ``hotline demo`` staffs its
simulated centre with it and prints the sizing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_c(agents: int, load: float) -> float:
    """Probability that a call waits, ``agents`` servers, ``load`` Erlangs (1 when overloaded)."""
    if agents <= load:
        return 1.0
    b = 1.0
    for k in range(1, agents + 1):  # Erlang B by its recurrence, then C from B
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1 - b))


def answered_within(agents: int, load: float, handle_s: float, threshold_s: float) -> float:
    """Share of calls answered within ``threshold_s``."""
    if agents <= load:
        return 0.0
    return 1.0 - erlang_c(agents, load) * math.exp(-(agents - load) * threshold_s / handle_s)


@dataclass(frozen=True, slots=True)
class Sizing:
    """The answer, with what it rests on."""

    calls_per_minute: float
    handle_s: float
    load: float
    target: float
    threshold_s: float
    agents: int  # by Erlang C
    predicted: float  # share within the threshold with ``agents``
    shrinkage: float  # share of time away (breaks)
    staffed: int  # agents rostered so ``agents`` are there despite the shrinkage

    def describe(self) -> str:
        """One paragraph for the demo's output."""
        return (
            f"Erlang C sizing: {self.calls_per_minute:g} calls/min x {self.handle_s:.0f} s handle time "
            f"= {self.load:.2f} Erlangs; {self.agents} agents answer {self.predicted:.1%} within "
            f"{self.threshold_s:g} s (target {self.target:.0%}); with {self.shrinkage:.0%} of time on "
            f"breaks, {self.staffed} agents rostered"
        )


def size(
    calls_per_minute: float,
    handle_s: float,
    *,
    target: float = 0.8,
    threshold_s: float = 15.0,
    shrinkage: float = 0.0,
) -> Sizing:
    """The fewest agents that answer ``target`` of calls within ``threshold_s``."""
    if calls_per_minute <= 0 or handle_s <= 0:
        raise ValueError("calls per minute and handle time must be more than 0")
    if not 0 < target < 1 or not 0 <= shrinkage < 1:
        raise ValueError("target must be in (0, 1) and shrinkage in [0, 1)")
    load = calls_per_minute / 60.0 * handle_s
    agents = max(1, math.floor(load) + 1)
    while answered_within(agents, load, handle_s, threshold_s) < target:
        agents += 1
    staffed = math.ceil(agents / (1.0 - shrinkage))
    predicted = answered_within(agents, load, handle_s, threshold_s)
    return Sizing(
        calls_per_minute, handle_s, load, target, threshold_s, agents, predicted, shrinkage, staffed
    )

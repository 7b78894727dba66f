"""Shared builders for the escalation unit tests: the shipped keyword lists and a small roster."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.escalation.alerts import Roster, RosterTier
from hotline.escalation.keywords import KeywordMatcher, load_keyword_lists

CONFIG = Path(__file__).resolve().parents[3] / "config" / "escalation"


@pytest.fixture(scope="session")
def matcher() -> KeywordMatcher:
    """The shipped lists, built once."""
    return KeywordMatcher(load_keyword_lists(CONFIG / "keywords.toml"))


@pytest.fixture
def roster() -> Roster:
    """Shift lead (120 s) -> duty manager (300 s) -> centre director (600 s)."""
    return Roster(
        (
            RosterTier("shift_lead", "2001", 120.0, "Local/2001@agents"),
            RosterTier("duty_manager", "3001", 300.0),
            RosterTier("centre_director", "4001", 600.0),
        )
    )

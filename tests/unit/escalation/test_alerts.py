"""The acknowledgement state machine: once per tier, stops at the top, ack stops the timer."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.escalation.alerts import (
    TRANSITIONS,
    Alert,
    AlertKind,
    AlertNotice,
    AlertState,
    AlertTrigger,
    ArmAckTimer,
    DisarmAckTimer,
    Roster,
    RosterTier,
    ack_timed_out,
    acknowledge,
    raise_alert,
    resume,
)
from hotline.escalation.errors import IllegalAlertTransition
from hotline.escalation.model import Level


def _raise(roster: Roster, now: float = 1000.0) -> Alert:
    alert, effects = raise_alert(
        roster, alert_id="ESC-1", kind=AlertKind.CALL, level=Level.URGENT, reasons=("ivr:urgent",), now=now
    )
    assert effects == [AlertNotice("raised", alert, roster[0], now), ArmAckTimer("ESC-1", now + 120.0)]
    return alert


def test_unacknowledged_goes_up_once_per_tier_and_stops_at_the_top(roster: Roster) -> None:
    alert = _raise(roster)
    events = []
    now = 1000.0
    for _ in range(10):  # far more timer firings than tiers
        now = alert.deadline_at if alert.deadline_at is not None else now + 1000.0
        alert, effects = ack_timed_out(roster, alert, now)
        events += [(e.event, e.tier.role) for e in effects if isinstance(e, AlertNotice)]
    assert events == [
        ("reescalated", "duty_manager"),
        ("reescalated", "centre_director"),
        ("exhausted", "centre_director"),
    ]
    assert alert.state is AlertState.EXHAUSTED and alert.reescalations == 2 and alert.deadline_at is None


def test_deadlines_run_from_the_missed_deadline(roster: Roster) -> None:
    alert = _raise(roster, now=0.0)
    alert, effects = ack_timed_out(roster, alert, 500.0)  # fired late (e.g. after a restart)
    assert alert.deadline_at == 120.0 + 300.0
    assert ArmAckTimer("ESC-1", 420.0) in effects


def test_an_early_or_stale_timer_changes_nothing(roster: Roster) -> None:
    alert = _raise(roster)
    assert ack_timed_out(roster, alert, 1000.0 + 119.0) == (alert, [])
    done, _ = acknowledge(roster, alert, "2001", 1010.0)
    assert ack_timed_out(roster, done, 5000.0) == (done, [])


def test_acknowledging_disarms_the_timer(roster: Roster) -> None:
    alert = _raise(roster)
    done, effects = acknowledge(roster, alert, "2001", 1030.0)
    assert effects[0] == DisarmAckTimer("ESC-1")
    assert done.state is AlertState.ACKNOWLEDGED and done.acknowledged_by == "2001"
    assert resume(done) == []


def test_a_second_acknowledgement_is_an_illegal_transition(roster: Roster) -> None:
    done, _ = acknowledge(roster, _raise(roster), "2001", 1030.0)
    with pytest.raises(IllegalAlertTransition, match="acknowledge not allowed in state acknowledged"):
        acknowledge(roster, done, "3001", 1040.0)


def test_an_exhausted_alert_can_still_be_acknowledged(roster: Roster) -> None:
    alert = _raise(roster)
    while alert.state is AlertState.PENDING:
        assert alert.deadline_at is not None
        alert, _ = ack_timed_out(roster, alert, alert.deadline_at)
    done, _ = acknowledge(roster, alert, "4001", 99_999.0)
    assert done.state is AlertState.ACKNOWLEDGED


def test_resume_rearms_at_the_stored_deadline(roster: Roster) -> None:
    alert = _raise(roster)
    assert resume(alert) == [ArmAckTimer("ESC-1", 1120.0)]


def test_every_target_of_the_table_is_a_state() -> None:
    assert set(TRANSITIONS.values()) <= set(AlertState)
    assert all(state.open for (state, _trigger) in TRANSITIONS)


def test_a_roster_needs_a_tier_with_a_positive_timeout() -> None:
    with pytest.raises(ValueError, match="at least one tier"):
        Roster(())
    with pytest.raises(ValueError, match="ack_timeout_s must be positive"):
        Roster((RosterTier("shift_lead", "2001", 0.0),))


@given(
    timeouts=st.lists(st.floats(min_value=1.0, max_value=1e4), min_size=1, max_size=5),
    fire_times=st.lists(st.floats(min_value=0.0, max_value=1e6), max_size=40),
)
def test_reescalations_never_exceed_the_tiers_above(timeouts: list[float], fire_times: list[float]) -> None:
    roster = Roster(tuple(RosterTier(f"t{i}", str(i), t) for i, t in enumerate(timeouts)))
    alert, _ = raise_alert(roster, alert_id="A", kind=AlertKind.CALL, level=Level.URGENT, reasons=(), now=0.0)
    seen_tiers = [alert.tier]
    for at in sorted(fire_times):
        alert, effects = ack_timed_out(roster, alert, at)
        notices = [e for e in effects if isinstance(e, AlertNotice)]
        assert len(notices) <= 1
        seen_tiers.append(alert.tier)
    assert alert.reescalations <= len(timeouts) - 1
    assert seen_tiers == sorted(seen_tiers)  # only ever up
    assert all(b - a <= 1 for a, b in itertools.pairwise(seen_tiers))  # one tier per firing
    assert alert.state in (AlertState.PENDING, AlertState.EXHAUSTED)
    assert {t for _, t in TRANSITIONS} == set(AlertTrigger)

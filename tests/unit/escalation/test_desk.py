"""The escalation desk: signals become one alert per call, a FlagCall for the queue, timers."""

from __future__ import annotations

import pytest

from hotline.escalation.alerts import AlertNotice, ArmAckTimer, DisarmAckTimer, Roster
from hotline.escalation.desk import (
    Acknowledge,
    AgentEscalated,
    ArmWaitTimer,
    CallAnswered,
    CallStarted,
    DeskTimerFired,
    EscalationDesk,
    EscalationRules,
    FlagCall,
    SignalRecorded,
    TicketWritten,
)
from hotline.escalation.errors import UnknownAlert
from hotline.escalation.hotspots import HotspotConfig, IncidentDetected
from hotline.escalation.keywords import KeywordMatcher
from hotline.escalation.model import Level, Source
from hotline.escalation.signals import TaxonomyFlags, WatchList

NUMBER = "13800000001"


@pytest.fixture
def desk(matcher: KeywordMatcher, roster: Roster) -> EscalationDesk:
    watch = WatchList(b"k")
    watch.add(watch.entry_for("13900000009", Level.SENSITIVE, "earlier petition"))
    rules = EscalationRules(
        keywords=matcher,
        watch_list=watch,
        taxonomy=TaxonomyFlags({"060301": Level.URGENT}),
        roster=roster,
        ivr_markers={"urgent": Level.URGENT},
        long_wait_s=60.0,
        hotspots=HotspotConfig(min_count=3, p_threshold=1e-3),
    )
    return EscalationDesk(rules)


def _flags(effects: list[object]) -> list[FlagCall]:
    return [e for e in effects if isinstance(e, FlagCall)]


def test_an_ivr_urgent_call_is_flagged_alerted_and_timed(desk: EscalationDesk) -> None:
    effects = desk.handle(CallStarted("c1", NUMBER, "urgent"), 100.0)
    assert _flags(effects) == [FlagCall("c1", Level.URGENT, ("ivr:urgent",))]
    assert ArmWaitTimer("c1", 160.0) in effects
    assert ArmAckTimer("ESC-000001", 220.0) in effects
    recorded = [e for e in effects if isinstance(e, SignalRecorded)]
    assert [(r.signal.source, r.call_id) for r in recorded] == [(Source.IVR, "c1")]


def test_an_ordinary_call_raises_nothing(desk: EscalationDesk) -> None:
    assert desk.handle(CallStarted("c1", NUMBER, ""), 100.0) == []


def test_a_watched_number_is_flagged_sensitive(desk: EscalationDesk) -> None:
    effects = desk.handle(CallStarted("c1", "139-0000-0009"), 100.0)
    assert _flags(effects) == [FlagCall("c1", Level.SENSITIVE, ("watch_list:earlier petition",))]


def test_the_third_call_from_one_number_is_flagged(desk: EscalationDesk) -> None:
    assert desk.handle(CallStarted("c1", NUMBER), 0.0) == []
    assert desk.handle(CallStarted("c2", NUMBER), 3600.0) == []
    flags = _flags(desk.handle(CallStarted("c3", NUMBER), 7200.0))
    assert [(f.call_id, f.level) for f in flags] == [("c3", Level.SENSITIVE)]
    assert flags[0].reasons[0].startswith("repeat_calls:")


def test_a_repeat_caller_with_an_overdue_ticket_is_flagged(desk: EscalationDesk) -> None:
    assert desk.handle(CallStarted("c1", NUMBER, overdue_tickets=("T-1",)), 0.0) == []  # first call
    flags = _flags(desk.handle(CallStarted("c2", NUMBER, overdue_tickets=("T-1",)), 60.0))
    assert flags == [FlagCall("c2", Level.SENSITIVE, ("overdue_repeat:T-1",))]


def test_a_keyword_in_a_ticket_flags_the_ticket_and_its_live_call(desk: EscalationDesk) -> None:
    desk.handle(CallStarted("c1", NUMBER), 0.0)
    effects = desk.handle(TicketWritten("T-1", "01040301", ("楼下饭店起火了，火势很大",), call_id="c1"), 30.0)
    assert _flags(effects) == [FlagCall("c1", Level.URGENT, ("keyword:火势,起火",))]
    raised = [n for n in effects if isinstance(n, AlertNotice)]
    assert [(n.event, n.alert.call_id, n.alert.ticket_id) for n in raised] == [("raised", "c1", "T-1")]


def test_a_negated_keyword_raises_nothing(desk: EscalationDesk) -> None:
    desk.handle(CallStarted("c1", NUMBER), 0.0)
    assert (
        desk.handle(TicketWritten("T-1", "01040301", ("不是火灾，是邻居在烧烤",), call_id="c1"), 30.0) == []
    )


def test_a_marked_classification_flags_the_ticket(desk: EscalationDesk) -> None:
    effects = desk.handle(TicketWritten("T-1", "06030101", ("小区燃气管线有隐患",)), 30.0)
    notices = [n for n in effects if isinstance(n, AlertNotice)]
    assert notices[0].alert.reasons == ("taxonomy:060301",)


def test_more_signals_update_one_alert_and_raise_the_level(desk: EscalationDesk) -> None:
    desk.handle(AgentEscalated("1001", Level.SENSITIVE, "citizen says media", call_id="c1"), 0.0)
    effects = desk.handle(TicketWritten("T-1", "01040301", ("家里着火了",), call_id="c1"), 10.0)
    assert _flags(effects) == [
        FlagCall("c1", Level.URGENT, ("agent:1001:citizen says media", "keyword:着火"))
    ]
    notices = [n for n in effects if isinstance(n, AlertNotice)]
    assert [(n.event, n.alert.alert_id) for n in notices] == [("updated", "ESC-000001")]
    assert len(desk.alerts) == 1


def test_a_flagged_call_still_waiting_gets_a_long_wait_signal_once(desk: EscalationDesk) -> None:
    desk.handle(CallStarted("c1", NUMBER, "urgent"), 0.0)
    effects = desk.handle(DeskTimerFired("wait:c1"), 60.0)
    recorded = [e.signal.source for e in effects if isinstance(e, SignalRecorded)]
    assert recorded == [Source.LONG_WAIT]
    assert desk.handle(CallAnswered("c1"), 61.0)
    assert desk.handle(DeskTimerFired("wait:c1"), 120.0) == []


def test_ack_stops_the_timer_and_a_late_timer_is_harmless(desk: EscalationDesk) -> None:
    desk.handle(CallStarted("c1", NUMBER, "urgent"), 0.0)
    effects = desk.handle(Acknowledge("ESC-000001", "2001"), 30.0)
    assert DisarmAckTimer("ESC-000001") in effects
    assert desk.handle(DeskTimerFired("ack:ESC-000001"), 120.0) == []
    with pytest.raises(UnknownAlert):
        desk.handle(Acknowledge("ESC-000001", "2001"), 31.0)


def test_an_unacknowledged_alert_climbs_the_roster(desk: EscalationDesk) -> None:
    desk.handle(CallStarted("c1", NUMBER, "urgent"), 0.0)
    events = []
    for at in (120.0, 420.0, 1020.0, 5000.0):
        events += [
            (n.event, n.tier.role)
            for n in desk.handle(DeskTimerFired("ack:ESC-000001"), at)
            if isinstance(n, AlertNotice)
        ]
    assert events == [
        ("reescalated", "duty_manager"),
        ("reescalated", "centre_director"),
        ("exhausted", "centre_director"),
    ]


def test_a_burst_of_tickets_opens_an_incident_alert(desk: EscalationDesk) -> None:
    effects = []
    for i in range(3):
        effects += desk.handle(
            TicketWritten(f"T-{i}", "13010101", ("停水了",), "沈河区青年大街1号"), i * 60.0
        )
    detected = [e for e in effects if isinstance(e, IncidentDetected)]
    assert len(detected) == 1 and detected[0].incident.ticket_ids == ("T-0", "T-1", "T-2")
    notices = [n for n in effects if isinstance(n, AlertNotice)]
    assert notices[0].alert.incident_id == detected[0].incident.incident_id


def test_a_reloaded_watch_list_applies_to_the_next_call(desk: EscalationDesk) -> None:
    from hotline.escalation.desk import WatchListLoaded

    watch = desk.rules.watch_list
    assert desk.handle(CallStarted("c1", "13500000005"), 0.0) == []
    desk.handle(WatchListLoaded((watch.entry_for("13500000005", Level.URGENT, "threat"),)), 1.0)
    assert _flags(desk.handle(CallStarted("c2", "13500000005"), 2.0)) == [
        FlagCall("c2", Level.URGENT, ("watch_list:threat",))
    ]
    desk.handle(WatchListLoaded(()), 3.0)
    assert _flags(desk.handle(CallStarted("c3", "13900000009"), 4.0)) == []  # removed from the list too

"""The known day (``tests/unit/reports/known_day.py``) written to a real SQLite file through the
store's and the ticket service's own writers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hotline.escalation.alerts import (
    AlertKind,
    AlertNotice,
    Roster,
    RosterTier,
    ack_timed_out,
    acknowledge,
    raise_alert,
)
from hotline.escalation.hotspots import Incident, Slot
from hotline.escalation.model import Level, Signal, Source
from hotline.events import Direction
from hotline.store import CallOutcome, CallRecord, Store
from hotline.store.escalations import EscalationStore
from hotline.store.reports import ReportCall, log_agent_states
from hotline.tickets.model import Action, Satisfaction, TicketType
from hotline.tickets.service import Created, TicketService
from hotline.tickets.taxonomy import Taxonomy
from hotline.tickets.workdays import WorkingCalendar
from tests.integration.tickets.conftest import draft
from tests.unit.reports import known_day as k


def _stored(call: ReportCall) -> CallRecord:
    return CallRecord(
        call_id=call.call_id,
        direction=Direction(call.direction),
        caller_number="13912345678",
        dnis="12345",
        arrived_at=call.arrived_at,
        offered_at=call.offered_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        wait_s=call.wait_s,
        talk_s=call.talk_s,
        agent_id=call.agent_id,
        outcome=CallOutcome(call.outcome) if call.outcome else None,
        state=None if call.outcome is None else "ended",
        end_uncertain=bool(call.end_uncertain),
    )


#: The known day's calls, the end-uncertain ones included (issue 8's column).
STORED_CALLS = list(k.CALLS)


async def _create(service: TicketService, at: float, **changes: object) -> str:
    outcome = await service.create(draft(**changes), actor="1001", allow_duplicate=True, at=at)
    assert isinstance(outcome, Created)
    return outcome.ticket.number


async def seed(path: Path, taxonomy: Taxonomy) -> None:
    """Calls, agent state history and tickets of the known day (and one follow-up of a ticket
    accepted on 26 September whose staged feedback is due that day)."""
    async with Store.open(path) as store:
        for call in STORED_CALLS:
            await store.upsert_call(_stored(call))
        await log_agent_states(store, list(k.HISTORY))
        service = TicketService(store, taxonomy, WorkingCalendar.load(None), tz=k.TZ, clock=lambda: k.at(9))
        old = await _create(service, k.at(10, day=date(2025, 9, 26)), citizen_number="13800138000")
        await service.transition(old, Action.DISPATCH, actor="1001", at=k.at(11, day=date(2025, 9, 26)))
        await service.transition(old, Action.FEEDBACK, actor="dept", at=k.at(16, day=date(2025, 10, 9)))
        await service.record_follow_up(old, Satisfaction.BASICALLY_SATISFIED, actor="1003", at=k.at(14))
        t1 = await _create(service, k.at(9, 3), classification=k.X)
        t2 = await _create(service, k.at(9, 30), classification=k.Y)
        t3 = await _create(service, k.at(10), classification=k.X, ticket_type=TicketType.CONSULTATION)
        await service.transition(t1, Action.DISPATCH, actor="1001", at=k.at(9, 40))
        await service.transition(t1, Action.SUPERVISE, actor="boss", at=k.at(13))
        await service.transition(t2, Action.DISPATCH, actor="1001", at=k.at(9, 45))
        await service.transition(t2, Action.RETURN, actor="dept", reason="非本部门职责", at=k.at(12))
        await service.transition(t3, Action.RESOLVE, actor="1001", at=k.at(10, 5))
        await _escalations(EscalationStore(store))


ROSTER = Roster((RosterTier("shift_lead", "1901", 100.0), RosterTier("duty_manager", "1902", 200.0)))


async def _raise(
    esc: EscalationStore, alert_id: str, at: float, sources: tuple[Source, ...], level: Level
) -> None:
    alert, effects = raise_alert(
        ROSTER, alert_id=alert_id, kind=AlertKind.CALL, level=level, reasons=sources, now=at, call_id=alert_id
    )
    notice = next(e for e in effects if isinstance(e, AlertNotice))
    signals = [(Signal(s, level), at, alert_id, None) for s in sources]
    await esc.save_alert_with_signals(alert, "raised", notice.tier, at, signals)


async def _escalations(esc: EscalationStore) -> None:
    """The known day's escalations: an IVR-urgent call acknowledged in 30 s; a sensitive call
    (repeat caller + keyword) re-escalated once, acknowledged 130 s after it was raised; a hot
    spot; and an alert of the day before, which the day's report leaves out."""
    await _raise(esc, "ESC-1", k.at(9, 10), (Source.IVR,), Level.URGENT)
    await _raise(esc, "ESC-2", k.at(11), (Source.REPEAT_CALLS, Source.KEYWORD), Level.SENSITIVE)
    await _raise(esc, "ESC-0", k.at(11, day=date(2025, 10, 9)), (Source.KEYWORD,), Level.URGENT)
    first = await esc.alert("ESC-1")
    second = await esc.alert("ESC-2")
    assert first is not None and second is not None
    done, _ = acknowledge(ROSTER, first, "1901", k.at(9, 10) + 30)
    await esc.save_alert(done, "acknowledged", ROSTER[0], k.at(9, 10) + 30)
    up, _ = ack_timed_out(ROSTER, second, k.at(11) + 100)
    await esc.save_alert(up, "reescalated", ROSTER[1], k.at(11) + 100)
    late, _ = acknowledge(ROSTER, up, "1902", k.at(11) + 130)
    await esc.save_alert(late, "acknowledged", ROSTER[1], k.at(11) + 130)
    slot = Slot("130101", "沈河区青年大街")
    await esc.save_incident(Incident("INC-1", slot, k.at(15), 6, 0.2, 1e-7, last_ticket_at=k.at(15)))

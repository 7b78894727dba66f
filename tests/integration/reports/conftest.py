"""The known day (``tests/unit/reports/known_day.py``) written to a real SQLite file through the
store's and the ticket service's own writers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hotline.events import Direction
from hotline.store import CallOutcome, CallRecord, Store
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

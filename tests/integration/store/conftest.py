"""Store tests use a real SQLite file in ``tmp_path``; every log line is checked for personal data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import structlog

from hotline.tickets.model import (
    Action,
    Channel,
    LinkRole,
    Ticket,
    TicketChange,
    TicketLink,
    TicketState,
    TicketType,
    Transition,
)

#: Citizens' data used by these tests: none of it may reach a log line.
PERSONAL = ("13912345678", "13800138000", "13700001111", "王小明", "李秀英")


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured
    for entry in captured:
        text = repr(entry)
        for value in PERSONAL:
            assert value not in text, f"personal data in log line {entry.get('event')}"


def ticket_change(
    ticket_id: int, day_seq: int, day: date = date(2026, 11, 28), *, call_id: str | None = None
) -> TicketChange:
    """A minimal new ticket (with its accept row and optionally an ``opened`` link)."""
    ticket = Ticket(
        id=ticket_id,
        number=f"12345-{day:%Y%m%d}-{day_seq:06d}",
        accepted_on=day,
        day_seq=day_seq,
        created_at=1_764_300_000.0,
        updated_at=1_764_300_000.0,
        channel=Channel.PHONE,
        ticket_type=TicketType.COMPLAINT,
        classification="01010101",
        department="区城市管理局",
        occurred="",
        location="皇姑区",
        description="共享单车占道",
        current_situation="",
        request="清理",
        respondent="",
        citizen_name="王小明",
        citizen_number="13912345678",
        state=TicketState.ACCEPTED,
        version=1,
    )
    accept = Transition(
        ticket_id=ticket_id,
        seq=1,
        at=ticket.created_at,
        actor="t",
        action=Action.ACCEPT,
        from_state=None,
        to_state=TicketState.ACCEPTED,
    )
    links = ()
    if call_id:
        links = (
            TicketLink(
                ticket_id=ticket_id, call_id=call_id, role=LinkRole.OPENED, at=ticket.created_at, actor="t"
            ),
        )
    return TicketChange(ticket=ticket, transitions=(accept,), links=links)

"""Fixtures for the pure ticket code: the real calendar (chinese-calendar), Shanghai time, the
shipped taxonomy, and a ticket factory."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from hotline.tickets.deadlines import DeadlineCalculator, WorkflowRules
from hotline.tickets.model import Channel, Deadline, Ticket, TicketState, TicketType
from hotline.tickets.taxonomy import Taxonomy, load_taxonomy
from hotline.tickets.workdays import WorkingCalendar

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[3]


def at(*parts: int) -> float:
    """An instant in Shanghai time: ``at(2025, 9, 26, 10)``."""
    return datetime(*parts, tzinfo=TZ).timestamp()  # type: ignore[arg-type, misc]


@pytest.fixture(scope="session")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.load(ROOT / "config" / "calendar")


@pytest.fixture(scope="session")
def calc(calendar: WorkingCalendar) -> DeadlineCalculator:
    return DeadlineCalculator(calendar, TZ)


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy(ROOT / "config" / "taxonomy.csv")


@pytest.fixture(scope="session")
def rules() -> WorkflowRules:
    return WorkflowRules()


MakeTicket = Callable[..., tuple[Ticket, list[Deadline]]]


@pytest.fixture(scope="session")
def make_ticket(calc: DeadlineCalculator) -> MakeTicket:
    """A ticket accepted at ``accepted`` (an instant) with its planned clocks."""

    def make(
        ticket_type: TicketType = TicketType.COMPLAINT,
        accepted: float | None = None,
        state: TicketState = TicketState.ACCEPTED,
        **changes: Any,
    ) -> tuple[Ticket, list[Deadline]]:
        created = at(2025, 9, 26, 10) if accepted is None else accepted
        day: date = calc.local_date(created)
        ticket = Ticket(
            id=7,
            number=f"12345-{day:%Y%m%d}-000007",
            accepted_on=day,
            day_seq=7,
            created_at=created,
            updated_at=created,
            channel=Channel.PHONE,
            ticket_type=ticket_type,
            classification="01010101",
            department="区城市管理局",
            occurred="昨天下午",
            location="沈阳市皇姑区三台子街道",
            description="共享单车占用人行道",
            current_situation="仍未清理",
            request="清理",
            respondent="某共享单车运营企业",
            citizen_name="王小明",
            citizen_number="13912345678",
            state=state,
            version=1,
        )
        clocks = calc.plan(ticket_type, ticket.id, day, 1)
        ticket = replace(ticket, provisional=any(c.provisional for c in clocks), **changes)
        return ticket, clocks

    return make

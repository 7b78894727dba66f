"""Ticket-service tests on a real SQLite file, with a settable clock.  Every log line written
during a test is checked: no citizen's number or name may appear in it."""

from __future__ import annotations

import contextlib
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from hotline.events import Direction
from hotline.store import CallbackRecord, CallRecord, Store
from hotline.store.factory import AnyStore
from hotline.tickets.model import Channel, TicketType
from hotline.tickets.service import TicketDraft, TicketService
from hotline.tickets.taxonomy import Taxonomy, load_taxonomy
from hotline.tickets.workdays import WorkingCalendar
from tests.integration.conftest import OpenStore

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[3]
#: The citizens of these tests.  None of this may reach a log line.
PERSONAL = ("13912345678", "13800138000", "0245-86661234", "王小明", "李秀英")


def at(*parts: int) -> float:
    """An instant in Shanghai time."""
    return datetime(*parts, tzinfo=TZ).timestamp()  # type: ignore[arg-type, misc]


class Clock:
    """A settable clock for the service."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[dict[str, Any]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured
    for entry in captured:
        text = repr(entry)
        for value in PERSONAL:
            assert value not in text, f"personal data in log line {entry.get('event')}"


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy(ROOT / "config" / "taxonomy.csv")


@pytest.fixture
def calendar_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "calendar"
    directory.mkdir()
    return directory


#: How :func:`open_service` opens its store: the SQLite file, or — in a module marked
#: ``pytestmark = pytest.mark.usefixtures("both_stores")`` — each store in turn.
_opener: list[OpenStore] = [Store.open]


@pytest.fixture
def both_stores(open_store: OpenStore) -> Iterator[None]:
    """Run the test on SQLite and on the private PostgreSQL (see ``tests/integration/conftest.py``)."""
    _opener.append(open_store)
    try:
        yield
    finally:
        _opener.pop()


@contextlib.asynccontextmanager
async def open_service(
    path: Path,
    taxonomy: Taxonomy,
    clock: Clock,
    calendar_dir: Path | None = None,
    callbacks: list[CallbackRecord] | None = None,
) -> AsyncIterator[TicketService]:
    """A store on ``path`` and a service over it (closed on exit: like stopping the service)."""
    async with _opener[-1](path) as store:
        yield TicketService(
            store,
            taxonomy,
            WorkingCalendar.load(calendar_dir),
            tz=TZ,
            calendar_dir=calendar_dir,
            clock=clock,
            on_callback=callbacks.append if callbacks is not None else None,
        )


async def record_call(store: AnyStore, call_id: str, at: float = 1_764_291_600.0) -> None:
    """A call in the call records (a ticket may only link calls the hotline took)."""
    await store.upsert_call(
        CallRecord(
            call_id=call_id,
            direction=Direction.INBOUND,
            caller_number="13912345678",
            dnis="12345",
            arrived_at=at,
            answered_at=at + 5,
            wait_s=5.0,
            agent_id="1001",
        )
    )


def draft(**changes: Any) -> TicketDraft:
    """A complaint about shared bicycles on the pavement, from 王小明."""
    base = TicketDraft(
        ticket_type=TicketType.COMPLAINT,
        channel=Channel.PHONE,
        classification="01010101",
        occurred="近一周每天早晚高峰",
        location="沈阳市皇姑区三台子街道辽河街与黄河北大街交汇处",
        description="大量共享单车堆放在人行道和盲道上，行人只能走机动车道",
        current_situation="仍然堆放，无人清理",
        request="尽快清理，督促运营企业规范停放",
        respondent="某共享单车运营企业",
        citizen_name="王小明",
        citizen_number="13912345678",
    )
    return replace(base, **changes)

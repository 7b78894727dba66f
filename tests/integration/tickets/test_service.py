"""The ticket service end to end on a real file: creation and links, duplicates, the closed loop
with its follow-up call, persistence across a restart (the SLA watcher does not repeat itself),
unknown calendar years, concurrent writers, and personal data kept out of the logs."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import structlog

from hotline.log import processors
from hotline.store import CallbackKind, CallbackRecord, CallbackStatus
from hotline.tickets.errors import (
    AlreadyLinked,
    IllegalTransition,
    TicketBusy,
    TicketNotFound,
    UnknownClassification,
)
from hotline.tickets.model import (
    Action,
    DeadlineKind,
    LinkRole,
    Satisfaction,
    Ticket,
    TicketState,
    TicketType,
)
from hotline.tickets.service import Created, DuplicateSuspected, TicketService
from hotline.tickets.taxonomy import Taxonomy
from tests.integration.tickets.conftest import PERSONAL, Clock, at, draft, open_service, record_call

pytestmark = pytest.mark.usefixtures("both_stores")


async def _create(service: TicketService, **kwargs: Any) -> Created:
    if kwargs.get("call_id"):
        await record_call(service.store, kwargs["call_id"])
    outcome = await service.create(draft(**kwargs.pop("draft", {})), actor="1001", **kwargs)
    assert isinstance(outcome, Created)
    return outcome


async def test_create_link_and_show(tmp_path: Path, taxonomy: Taxonomy, logs: list[dict[str, Any]]) -> None:
    clock = Clock(at(2026, 11, 28, 9, 30))
    async with open_service(tmp_path / "h.db", taxonomy, clock) as service:
        first = await _create(service, call_id="1764293400.101")
        second = await _create(
            service,
            call_id="1764293400.101",  # the same call opens a second matter
            draft={
                "classification": "02010101",
                "ticket_type": TicketType.HELP,
                "description": "拖欠三个月工资",
            },
        )
        assert first.ticket.number == "12345-20261128-000001"
        assert second.ticket.number == "12345-20261128-000002"
        assert first.ticket.department == "区城市管理局"
        assert second.ticket.department == "市人力资源和社会保障局（劳动保障监察支队）"
        await record_call(service.store, "1764380000.7")
        await service.link(first.ticket.number, "1764380000.7", LinkRole.REPEAT, actor="1002")
        with pytest.raises(AlreadyLinked):
            await service.link(first.ticket.number, "1764380000.7", LinkRole.REPEAT, actor="1002")
        with pytest.raises(TicketNotFound):
            await service.link("12345-20261128-000099", "1.1", LinkRole.REPEAT, actor="1002")
        view = await service.get(first.ticket.number)
        assert [(k.call_id, k.role) for k in view.links] == [
            ("1764293400.101", LinkRole.OPENED),
            ("1764380000.7", LinkRole.REPEAT),
        ]
        assert [(t.seq, t.action, t.actor) for t in view.transitions] == [(1, Action.ACCEPT, "1001")]
        assert {c.kind: c.due_on for c in view.deadlines} == {
            DeadlineKind.STAGED_FEEDBACK: date(2026, 12, 4),
            DeadlineKind.CLOSING: date(2026, 12, 18),
        }
        assert {k.ticket_id for k in await service.store.links_for_call("1764293400.101")} == {
            first.ticket.id,
            second.ticket.id,
        }
        with pytest.raises(UnknownClassification):
            await service.create(draft(classification="0101"), actor="1001")
    events = [e["event"] for e in logs]
    assert events.count("ticket.created") == 2 and "ticket.linked" in events


async def test_a_probable_duplicate_is_offered_for_linking(tmp_path: Path, taxonomy: Taxonomy) -> None:
    clock = Clock(at(2026, 11, 28, 9, 30))
    async with open_service(tmp_path / "h.db", taxonomy, clock) as service:
        first = await _create(service, call_id="1.1")
        await record_call(service.store, "1.2")
        again = await service.create(draft(), actor="1002", call_id="1.2")
        assert isinstance(again, DuplicateSuspected)
        assert [t.number for t in again.existing] == [first.ticket.number]
        other_matter = await service.create(draft(classification="01010201"), actor="1002")
        assert isinstance(other_matter, Created)
        other_caller = await service.create(draft(citizen_number="13800138000"), actor="1002")
        assert isinstance(other_caller, Created)
        forced = await _create(service, allow_duplicate=True)
        assert forced.ticket.duplicate_of == first.ticket.number
        assert len(await service.store.list_tickets()) == 4


async def test_the_closed_loop_with_the_follow_up_call(tmp_path: Path, taxonomy: Taxonomy) -> None:
    clock = Clock(at(2025, 9, 26, 10))
    callbacks: list[CallbackRecord] = []
    async with open_service(tmp_path / "h.db", taxonomy, clock, callbacks=callbacks) as service:
        number = (await _create(service)).ticket.number
        await service.transition(number, Action.DISPATCH, actor="1001", at=at(2025, 9, 26, 11))
        await service.transition(number, Action.START, actor="区城市管理局", at=at(2025, 9, 28, 9))
        ticket = await service.transition(
            number, Action.FEEDBACK, actor="区城市管理局", at=at(2025, 10, 9, 16)
        )
        assert ticket.state is TicketState.CALLBACK
        (callback,) = callbacks
        assert callback.kind is CallbackKind.FOLLOW_UP and callback.ticket_id == ticket.id
        assert callback.number == "13912345678" and callback.status is CallbackStatus.PENDING
        assert [c.id for c in await service.store.pending_callbacks()] == [callback.id]
        with pytest.raises(IllegalTransition):
            await service.transition(number, Action.FEEDBACK, actor="区城市管理局")
        closed = await service.record_follow_up(
            number,
            Satisfaction.BASICALLY_SATISFIED,
            actor="1003",
            call_id="1760000000.5",
            callback_id=callback.id,
        )
        assert closed.state is TicketState.CLOSED and closed.satisfaction is Satisfaction.BASICALLY_SATISFIED
        assert await service.store.pending_callbacks() == []
        done = await service.store.get_callback(callback.id)
        assert (
            done is not None and done.status is CallbackStatus.DONE and done.outcome == "basically_satisfied"
        )
        view = await service.get(number)
        assert [t.action for t in view.transitions] == [
            Action.ACCEPT,
            Action.DISPATCH,
            Action.START,
            Action.FEEDBACK,
            Action.START_CALLBACK,
            Action.EVALUATE,
            Action.CLOSE,
        ]
        assert [t.seq for t in view.transitions] == list(range(1, 8))
        assert all(c.met_on_time() for c in view.deadlines)
        assert view.links[-1].role is LinkRole.FOLLOW_UP


async def test_not_satisfied_reopens_and_unreachable_closes(tmp_path: Path, taxonomy: Taxonomy) -> None:
    clock = Clock(at(2026, 2, 12, 10))
    callbacks: list[CallbackRecord] = []
    async with open_service(tmp_path / "h.db", taxonomy, clock, callbacks=callbacks) as service:
        a = (await _create(service)).ticket.number
        b = (
            await _create(service, draft={"citizen_number": "13800138000", "citizen_name": "李秀英"})
        ).ticket.number
        for number in (a, b):
            await service.transition(number, Action.DISPATCH, actor="1001")
            await service.transition(number, Action.FEEDBACK, actor="dept", at=at(2026, 2, 13, 9))
        reopened = await service.record_follow_up(
            a, Satisfaction.NOT_SATISFIED, actor="1003", callback_id=callbacks[0].id, at=at(2026, 2, 13, 15)
        )
        assert reopened.state is TicketState.REOPENED and reopened.round == 2
        clocks = await service.store.deadlines(reopened.id)
        assert {(c.round, c.kind, c.due_on) for c in clocks if c.round == 2} == {
            (2, DeadlineKind.STAGED_FEEDBACK, date(2026, 2, 27)),
            (2, DeadlineKind.CLOSING, date(2026, 3, 12)),
        }
        unreachable = await service.record_follow_up_for_callback(  # as the queue reports it
            callbacks[1].id, Satisfaction.UNREACHABLE, actor="system", at=at(2026, 2, 14, 20)
        )
        assert unreachable.number == b
        assert unreachable.state is TicketState.CLOSED
        failed = await service.store.get_callback(callbacks[1].id)
        assert failed is not None and failed.status is CallbackStatus.FAILED


async def test_everything_survives_a_restart_and_the_watcher_does_not_repeat(
    tmp_path: Path, taxonomy: Taxonomy, logs: list[dict[str, Any]]
) -> None:
    path = tmp_path / "h.db"
    clock = Clock(at(2025, 9, 26, 10))
    async with open_service(path, taxonomy, clock) as service:
        numbers = [
            (await _create(service, call_id=f"1758852000.{i}", allow_duplicate=True)).ticket.number
            for i in range(3)
        ]
        for number in numbers:
            await service.transition(number, Action.DISPATCH, actor="1001", reason="交办区城管局")
        await record_call(service.store, "1759000000.1")
        await service.link(numbers[0], "1759000000.1", LinkRole.REPEAT, actor="1002")
        await service.transition(numbers[1], Action.STAGED_FEEDBACK, actor="dept", at=at(2025, 9, 30, 9))
        before = [await service.get(n) for n in numbers]
        # 9 October 00:00: the working day before the staged-feedback deadline (10 October)
        first = await service.sla_sweep(at=at(2025, 10, 9, 0, 5))
        assert (first.warnings, first.breaches) == (2, 0)  # numbers[1] already met it
    # --- stop; start again --------------------------------------------------------------------
    async with open_service(path, taxonomy, clock) as service:
        after = [await service.get(n) for n in numbers]
        assert [v.ticket for v in after] == [v.ticket for v in before]
        assert [v.transitions for v in after] == [v.transitions for v in before]
        assert [v.links for v in after] == [v.links for v in before]
        assert all(
            c.warned_at is not None
            for v in after
            for c in v.deadlines
            if c.kind is DeadlineKind.STAGED_FEEDBACK and c.met_at is None
        )
        again = await service.sla_sweep(at=at(2025, 10, 9, 0, 6))
        assert (again.warnings, again.breaches) == (0, 0)
        breach = await service.sla_sweep(at=at(2025, 10, 11, 0, 1))
        assert (breach.warnings, breach.breaches, breach.supervisions) == (0, 2, 2)
    async with open_service(path, taxonomy, clock) as service:
        once_more = await service.sla_sweep(at=at(2025, 10, 11, 0, 2))
        assert (once_more.warnings, once_more.breaches) == (0, 0)
        supervised = await service.get(numbers[0])
        assert supervised.ticket.supervision_count == 1
        last = supervised.transitions[-1]
        assert (last.action, last.actor, last.from_state, last.to_state) == (
            Action.SUPERVISE,
            "sla",
            TicketState.DISPATCHED,
            TicketState.DISPATCHED,
        )
        assert "staged_feedback deadline passed" in last.reason
    warnings = [e for e in logs if e["event"] == "sla.warning"]
    breaches = [e for e in logs if e["event"] == "sla.breached"]
    assert sorted(e["ticket_id"] for e in warnings) == sorted([numbers[0], numbers[2]])
    assert sorted(e["ticket_id"] for e in breaches) == sorted([numbers[0], numbers[2]])
    assert all(e["supervision"] for e in breaches)


async def test_an_unknown_year_is_provisional_until_its_data_arrives(
    tmp_path: Path, taxonomy: Taxonomy, calendar_dir: Path, logs: list[dict[str, Any]]
) -> None:
    clock = Clock(at(2026, 12, 21, 10))
    async with open_service(tmp_path / "h.db", taxonomy, clock, calendar_dir) as service:
        a = await _create(service, allow_duplicate=True)
        b = await _create(service, allow_duplicate=True)
        c = await _create(service, draft={"ticket_type": TicketType.CONSULTATION}, allow_duplicate=True)
        assert a.ticket.provisional and b.ticket.provisional and not c.ticket.provisional
        closing = {d.kind: d for d in a.deadlines}[DeadlineKind.CLOSING]
        assert closing.provisional and closing.due_on == date(2027, 1, 11)
        unknown = [e for e in logs if e["event"] == "calendar.unknown_year"]
        assert len(unknown) == 1 and unknown[0]["year"] == 2027  # once per year
        assert await service.refresh_calendar() == 0  # nothing changed yet
        (calendar_dir / "2027.toml").write_text(
            'year = 2027\nsource = "test"\nholidays = ["2027-01-01"]\nworkdays = []\n', encoding="utf-8"
        )
        assert await service.refresh_calendar() == 2
        view = await service.get(a.ticket.number)
        assert not view.ticket.provisional
        fixed = {d.kind: d for d in view.deadlines}[DeadlineKind.CLOSING]
        assert not fixed.provisional and fixed.due_on == date(2027, 1, 12)
        assert fixed.due_at == service.calc.end_of(date(2027, 1, 12))
        assert any(e["event"] == "calendar.recomputed" and e["clocks"] == 2 for e in logs)


async def test_concurrent_actions_on_one_ticket_are_serialised(tmp_path: Path, taxonomy: Taxonomy) -> None:
    clock = Clock(at(2025, 9, 26, 10))
    async with open_service(tmp_path / "h.db", taxonomy, clock) as service:
        number = (await _create(service)).ticket.number
        await service.transition(number, Action.DISPATCH, actor="1001")
        results = await asyncio.gather(
            *(service.transition(number, Action.SUPERVISE, actor=f"boss{i}") for i in range(8))
        )
        assert sorted(t.version for t in results) == list(range(3, 11))
        view = await service.get(number)
        assert [t.seq for t in view.transitions] == list(range(1, 11))
        assert view.ticket.supervision_count == 8


async def test_personal_data_is_masked_in_the_json_log_lines(tmp_path: Path, taxonomy: Taxonomy) -> None:
    """Through the service's real processor chain: every line written, scanned."""
    out = io.StringIO()
    structlog.configure(
        processors=[*processors(), structlog.processors.JSONRenderer(ensure_ascii=False)],
        logger_factory=structlog.WriteLoggerFactory(file=out),
    )
    try:
        clock = Clock(at(2026, 12, 21, 10))
        async with open_service(tmp_path / "h.db", taxonomy, clock) as service:
            created = await _create(service, call_id="1766282400.3")
            await service.create(draft(), actor="1001")  # duplicate suspected
            number = created.ticket.number
            await service.transition(number, Action.DISPATCH, actor="1001", reason="请联系13912345678王小明")
            await service.transition(number, Action.FEEDBACK, actor="dept")
            await service.record_follow_up(
                number, Satisfaction.SATISFIED, actor="1003", call_id="1766300000.1"
            )
            await service.sla_sweep(at=at(2027, 3, 1))
    finally:
        structlog.reset_defaults()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 8
    for line in lines:
        json.loads(line)
        for value in PERSONAL:
            assert value not in line, line
    assert not any("请联系" in line for line in lines)  # free text (may hold anything) is not logged


async def test_not_found(tmp_path: Path, taxonomy: Taxonomy) -> None:
    async with open_service(tmp_path / "h.db", taxonomy, Clock(0.0)) as service:
        with pytest.raises(TicketNotFound):
            await service.get("12345-20261128-000001")
        with pytest.raises(TicketNotFound):
            await service.transition("12345-20261128-000001", Action.DISPATCH, actor="x")


def test_draft_repr_hides_the_citizen() -> None:
    text = repr(draft()) + repr(replace(draft(), citizen_number="13800138000"))
    assert not any(value in text for value in PERSONAL)


async def test_a_year_added_while_stopped_is_applied_at_start(
    tmp_path: Path, taxonomy: Taxonomy, calendar_dir: Path
) -> None:
    path = tmp_path / "h.db"
    clock = Clock(at(2026, 12, 21, 10))
    async with open_service(path, taxonomy, clock, calendar_dir) as service:
        number = (await _create(service)).ticket.number
    (calendar_dir / "2027.toml").write_text('year = 2027\nholidays = ["2027-01-01"]\n', encoding="utf-8")
    async with open_service(path, taxonomy, clock, calendar_dir) as service:
        assert (await service.get(number)).ticket.provisional  # as stored
        assert await service.refresh_calendar() == 1  # the watcher's first sweep does this
        view = await service.get(number)
        assert not view.ticket.provisional
        assert {c.kind: c.due_on for c in view.deadlines}[DeadlineKind.CLOSING] == date(2027, 1, 12)
        assert await service.refresh_calendar() == 0


async def test_two_writers_on_one_file_never_lose_an_update(tmp_path: Path, taxonomy: Taxonomy) -> None:
    """Two services with their own connections (as two processes have): no shared in-process lock,
    so only the version check keeps them apart.  Every action lands exactly once, or says it
    lost the race (:class:`TicketBusy`, after its retries): none is lost silently."""
    clock = Clock(at(2025, 9, 26, 10))
    path = tmp_path / "h.db"
    async with open_service(path, taxonomy, clock) as one, open_service(path, taxonomy, clock) as two:
        number = (await _create(one)).ticket.number
        await two.transition(number, Action.DISPATCH, actor="1001")
        results = await asyncio.gather(
            *(
                (one if i % 2 else two).transition(number, Action.SUPERVISE, actor=f"boss{i}")
                for i in range(12)
            ),
            return_exceptions=True,
        )
        landed = [r for r in results if isinstance(r, Ticket)]
        lost = [r for r in results if isinstance(r, TicketBusy)]
        assert len(landed) + len(lost) == 12 and len(landed) >= 2
        assert all("lost the race" in str(e) and "changed nothing" in str(e) for e in lost)
        assert len({t.version for t in landed}) == len(landed)
        view = await one.get(number)
        assert view.ticket.supervision_count == len(landed)
        assert [t.seq for t in view.transitions] == list(range(1, 3 + len(landed)))

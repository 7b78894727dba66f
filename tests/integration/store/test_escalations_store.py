"""Escalation records in a real SQLite file: alerts survive a reopen, figures for the report,
the watch list holds hashes only, incidents with their tickets, the CLI lists them."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from hotline.cli import main
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
from hotline.escalation.signals import WatchList
from hotline.store import Store
from hotline.store.escalations import EscalationStore

ROSTER = Roster(
    (
        RosterTier("shift_lead", "1901", 100.0),
        RosterTier("duty_manager", "1902", 200.0),
        RosterTier("centre_director", "1903", 300.0),
    )
)
T0 = 1_795_839_276.0


async def _raise(esc: EscalationStore, alert_id: str, at: float, source: Source, level: Level) -> None:
    alert, effects = raise_alert(
        ROSTER,
        alert_id=alert_id,
        kind=AlertKind.CALL,
        level=level,
        reasons=(source.value,),
        now=at,
        call_id=f"c-{alert_id}",
    )
    notice = next(e for e in effects if isinstance(e, AlertNotice))
    await esc.save_alert_with_signals(
        alert, "raised", notice.tier, at, [(Signal(source, level), at, alert.call_id, None)]
    )


async def test_an_open_alert_survives_a_reopen_with_its_deadline(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    async with Store.open(path) as store:
        esc = EscalationStore(store)
        await _raise(esc, "ESC-000001", T0, Source.IVR, Level.URGENT)
    async with Store.open(path) as store:
        esc = EscalationStore(store)
        (alert,) = await esc.open_alerts()
        assert (alert.alert_id, alert.deadline_at, alert.call_id) == (
            "ESC-000001",
            T0 + 100.0,
            "c-ESC-000001",
        )
        assert await esc.next_alert_seq() == 2
        assert [s[1:] for s in await esc.signals("ESC-000001")] == [("ivr", "urgent", "")]


async def test_figures_for_the_report(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "h.db") as store:
        esc = EscalationStore(store)
        await _raise(esc, "ESC-000001", T0, Source.IVR, Level.URGENT)
        await _raise(esc, "ESC-000002", T0 + 10, Source.KEYWORD, Level.SENSITIVE)
        await _raise(esc, "ESC-000003", T0 + 20, Source.KEYWORD, Level.URGENT)
        a1 = await esc.alert("ESC-000001")
        a2 = await esc.alert("ESC-000002")
        assert a1 is not None and a2 is not None
        done, _ = acknowledge(ROSTER, a1, "1901", T0 + 30)  # in time, 30 s
        await esc.save_alert(done, "acknowledged", ROSTER[0], T0 + 30)
        up, _ = ack_timed_out(ROSTER, a2, T0 + 110)
        await esc.save_alert(up, "reescalated", ROSTER[1], T0 + 110)
        late, _ = acknowledge(ROSTER, up, "1902", T0 + 130)  # after one re-escalation, 120 s
        await esc.save_alert(late, "acknowledged", ROSTER[1], T0 + 130)
        await esc.save_incident(
            Incident("INC-000001", Slot("130101", "沈河区青年大街"), T0, 5, 0.1, 1e-7, last_ticket_at=T0),
            [("T1", T0), ("T2", T0)],
        )
        figures = await esc.figures(T0 - 1, T0 + 3600)
    assert figures.raised == 3
    assert figures.by_level == {"urgent": 2, "sensitive": 1}
    assert figures.by_reason_level == {
        ("ivr", "urgent"): 1,
        ("keyword", "sensitive"): 1,
        ("keyword", "urgent"): 1,
    }
    assert (figures.acknowledged, figures.acknowledged_in_time, figures.reescalated) == (2, 1, 1)
    assert figures.median_ack_s == pytest.approx(75.0)
    assert figures.incidents == 1


async def test_the_watch_list_stores_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    watch = WatchList(b"secret")
    async with Store.open(path) as store:
        esc = EscalationStore(store)
        await esc.add_watch(watch.entry_for("13800000001", Level.SENSITIVE, "earlier petition"), T0)
        (entry,) = await esc.watch_entries()
    assert entry.digest == watch.digest("13800000001")
    raw = path.read_bytes() + (
        path.with_name("h.db-wal").read_bytes() if path.with_name("h.db-wal").exists() else b""
    )
    assert b"13800000001" not in raw


async def test_incidents_keep_their_tickets_and_close(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "h.db") as store:
        esc = EscalationStore(store)
        incident = Incident("INC-000007", Slot("130101", "沈河区青年大街"), T0, 5, 0.1, 1e-7, ("T1",), T0)
        await esc.save_incident(incident, [("T1", T0)])
        await esc.link_incident_ticket("INC-000007", "T2", T0 + 60)
        (found,) = await esc.open_incidents()
        assert found.ticket_ids == ("T1", "T2") and found.last_ticket_at == T0 + 60
        assert await esc.incident_for_tickets(["T2", "T9"]) == ["INC-000007"]
        assert await esc.next_incident_seq() == 8
        from dataclasses import replace

        await esc.save_incident(replace(found, closed_at=T0 + 4000))
        assert await esc.open_incidents() == []


def test_the_cli_lists_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    path = tmp_path / "h.db"

    async def seed() -> None:
        async with Store.open(path) as store:
            await _raise(EscalationStore(store), "ESC-000001", T0, Source.KEYWORD, Level.URGENT)

    asyncio.run(seed())
    monkeypatch.setenv("HOTLINE_STORE_PATH", str(path))
    try:
        _cli_checks(capsys)
    finally:
        structlog.reset_defaults()  # main() configured logging onto this test's captured streams


def _cli_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["escalations", "list"]) == 0
    out = capsys.readouterr().out
    assert "ESC-000001" in out and "urgent" in out and "pending" in out and "shift_lead" in out
    assert main(["escalations", "show", "ESC-000001"]) == 0
    out = capsys.readouterr().out
    assert "keyword" in out and "raised" in out
    assert main(["escalations", "show", "ESC-999999"]) == 1
    assert main(["escalations", "watch", "add", "13800000001", "--level", "loud"]) == 2


async def test_a_callers_overdue_tickets_and_the_ticket_intake(tmp_path: Path) -> None:
    from dataclasses import replace

    from hotline.settings import load_settings
    from hotline.tickets.model import Channel, TicketType
    from hotline.tickets.service import Created, TicketDraft, TicketService

    settings = load_settings(environ={})
    async with Store.open(tmp_path / "h.db") as store:
        tickets = TicketService.from_settings(settings, store)
        numbers = []
        for classification in ("01010101", "13010101"):
            created = await tickets.create(
                TicketDraft(
                    ticket_type=TicketType.COMPLAINT,
                    channel=Channel.PHONE,
                    classification=classification,
                    occurred="上周",
                    location="沈阳市和平区中华路",
                    description="共享单车堆在人行道上",
                    current_situation="仍然堵塞",
                    request="尽快清理",
                    respondent="",
                    citizen_name="",
                    citizen_number="13800000009",
                ),
                actor="1001",
            )
            assert isinstance(created, Created)
            numbers.append((created.ticket.number, created.deadlines))
        esc = EscalationStore(store)
        assert await esc.overdue_tickets_for_caller("13800000009") == []
        (late_number, late_clocks), _ = numbers
        clock = late_clocks[0]
        assert await store.save_deadlines([replace(clock, breached_at=T0, version=clock.version + 1)]) == [
            None
        ]
        assert await esc.overdue_tickets_for_caller("13800000009") == [late_number]
        assert await esc.overdue_tickets_for_caller("13800000008") == []
        intake = await esc.tickets_since(0)
        assert [t.number for t in intake] == [n for n, _ in numbers]
        assert intake[0].texts == ("共享单车堆在人行道上", "仍然堵塞", "尽快清理")
        assert await esc.tickets_since(intake[-1].id) == []

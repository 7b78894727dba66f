"""The outbox: ticket events written with the change they announce, kept until acknowledged."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from hotline.bus.alerts import SupervisorAlert
from hotline.store import Store, StoreConflict
from hotline.tickets.model import LinkRole, TicketLink
from tests.integration.store.conftest import ticket_change


async def test_a_created_ticket_and_its_link_are_announced_in_the_same_commit(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "h.db") as store:
        change = await store.create_ticket(
            date(2026, 11, 28), lambda i, s: ticket_change(i, s, call_id="1795.9")
        )
        assert change.ticket is not None
        pending = await store.pending_outbox()
        kinds = [json.loads(p.entry.payload)["type"] for p in pending]
        assert kinds == ["created", "linked"]
        first = json.loads(pending[0].entry.payload)
        assert first["v"] == 1 and first["ticket"] == change.ticket.number and first["to"] == "accepted"
        assert pending[0].entry.topic == "tickets/events"
        assert len({p.entry.event_id for p in pending}) == 2
        assert "13912345678" not in pending[0].entry.payload and "王小明" not in pending[0].entry.payload
        await store.add_link(
            TicketLink(
                ticket_id=change.ticket.id, call_id="1795.10", role=LinkRole.REPEAT, at=1.0, actor="1001"
            )
        )
        last = (await store.pending_outbox(after_seq=pending[-1].seq))[0]
        assert json.loads(last.entry.payload)["ticket"] == change.ticket.number


async def test_a_failed_change_announces_nothing(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "h.db") as store:
        change = await store.create_ticket(date(2026, 11, 28), lambda i, s: ticket_change(i, s))
        before = await store.outbox_count()
        stale = ticket_change(change.ticket.id, 1)  # type: ignore[union-attr]
        with pytest.raises(StoreConflict):
            await store.save_ticket_change(replace(stale, previous_version=99))
        assert await store.outbox_count() == before


async def test_acknowledged_messages_are_forgotten_and_the_rest_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    async with Store.open(path) as store:
        await store.add_outbox([SupervisorAlert("agent_escalation", "1001", "1795.1", "threat").entry(5.0)])
        await store.add_outbox([SupervisorAlert("agent_escalation", "1002", "1795.2", "abuse").entry(6.0)])
        first, second = await store.pending_outbox()
        await store.ack_outbox([first.seq])
    async with Store.open(path) as store:
        [left] = await store.pending_outbox()
        assert left == second
        body = json.loads(left.entry.payload)
        assert (
            body["type"] == "agent_escalation"
            and body["agent"] == "1002"
            and body["event_id"].startswith("al-")
        )
        assert left.entry.topic == "supervisors/alerts"
    assert sqlite3.connect(path).execute("SELECT count(*) FROM outbox").fetchone()[0] == 1


async def test_a_callers_tickets_for_the_screen_pop_newest_first(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "h.db") as store:
        made = [
            await store.create_ticket(date(2026, 11, 28), lambda i, s: ticket_change(i, s)) for _ in range(3)
        ]
        found = await store.caller_tickets("13912345678", 2)
        assert [t.number for t, _ in found] == [made[2].ticket.number, made[1].ticket.number]  # type: ignore[union-attr]
        assert await store.caller_tickets("13000000000", 5) == []

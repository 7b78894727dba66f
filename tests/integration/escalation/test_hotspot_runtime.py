"""A hot spot through the runtime and a real store: tickets written by another process (the
ticket service on its own connection) are read by the intake, the incident is detected, stored
with its tickets, and a caller of one of them is found linked to it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

from structlog.testing import capture_logs

from hotline.alerting import EscalationRuntime
from hotline.clock import WallClock
from hotline.settings import load_settings
from hotline.store import Store
from hotline.store.escalations import EscalationStore
from hotline.tickets.model import Channel, TicketType
from hotline.tickets.service import Created, TicketDraft, TicketService


async def test_a_burst_of_tickets_in_one_street_opens_a_stored_incident(tmp_path: Path) -> None:
    settings = load_settings(environ={"HOTLINE_STORE_PATH": str(tmp_path / "h.db")})
    async with Store.open(tmp_path / "h.db") as store, Store.open(tmp_path / "h.db") as writer:
        tickets = TicketService.from_settings(settings, writer)
        runtime = await EscalationRuntime.restore(
            settings.escalation,
            EscalationStore(store),
            WallClock(),
            known_codes=[n.code for n in tickets.taxonomy],
            ticket_intake_interval_s=0.05,
        )
        with capture_logs() as logs:
            task = asyncio.create_task(runtime.run())
            numbers = []
            for i in range(6):
                created = await tickets.create(
                    TicketDraft(
                        ticket_type=TicketType.HELP,
                        channel=Channel.PHONE,
                        classification="13010101",
                        occurred="刚才",
                        location=f"沈阳市沈河区青年大街{100 + i}号",
                        description="路面有水管爆裂，水往外冒，家里停水了",
                        current_situation="还在冒水",
                        request="尽快抢修",
                        respondent="",
                        citizen_name="",
                        citizen_number=f"1360000001{i}",
                    ),
                    actor="1001",
                )
                assert isinstance(created, Created)
                numbers.append(created.ticket.number)
            escalations = EscalationStore(store)
            # Done when the store holds the incident with all six tickets and its alert (the log
            # line of a link may come before its write is committed).
            async with asyncio.timeout(10):
                while True:
                    incidents = await escalations.open_incidents()
                    alerts = await escalations.list_alerts()
                    if incidents and len(incidents[0].ticket_ids) == len(numbers) and alerts:
                        break
                    await asyncio.sleep(0.02)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        (incident,) = await escalations.open_incidents()
        (alert,) = await escalations.list_alerts()
        assert await escalations.incidents_for_caller("13600000013") == [incident.incident_id]
    detected = [e for e in logs if e["event"] == "incident.detected"]
    assert len(detected) == 1 and detected[0]["place"] == "沈河区青年大街"
    assert incident.slot.classification == "130101" and incident.ticket_ids == tuple(numbers)
    assert alert.incident_id == incident.incident_id and alert.kind.value == "incident"
    assert dataclasses.asdict(alert)["level"].label == "urgent"

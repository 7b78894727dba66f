"""Each signal through the whole service (store, dispatcher, AMI bridge, escalation runtime)
against the simulator over real TCP, on a sped-up clock (see ``test_service_end_to_end``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from hotline.escalation.alerts import AlertState
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, PbxSimulator
from hotline.queue.agents import AgentState
from hotline.queue.inputs import AgentPause, AgentReady
from hotline.settings import RosterTierConfig, load_settings
from hotline.store import Store
from hotline.store.escalations import EscalationStore
from hotline.tickets.model import Channel, TicketType
from hotline.tickets.service import Created, TicketDraft, TicketService
from tests.integration.test_service_end_to_end import SPEED, Harness

AGENTS = ("1001", "1002", "1003", "1004", "1005")


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = load_settings(environ={})
    # Short acknowledgement limits (simulated seconds) so a test sees the whole roster.
    roster = (
        RosterTierConfig(
            role="shift_lead", supervisor="1901", device="Local/1901@agents", ack_timeout_s=60.0
        ),
        RosterTierConfig(
            role="duty_manager", supervisor="1902", device="Local/1902@agents", ack_timeout_s=90.0
        ),
        RosterTierConfig(
            role="centre_director", supervisor="1903", device="Local/1903@agents", ack_timeout_s=120.0
        ),
    )
    escalation = dataclasses.replace(settings.escalation, roster=roster, long_wait_s=3600.0)
    settings = dataclasses.replace(settings, escalation=escalation)
    sim = PbxSimulator(
        port=0, time_scale=1.0 / SPEED, dialplan=settings.dialplan, seed=7, channelvars=SHIPPED_CHANNELVARS
    )
    await sim.start()
    h = Harness(settings, sim, tmp_path)
    try:
        yield h
    finally:
        with contextlib.suppress(Exception):
            await h.stop()
        await sim.close()


async def _wait(condition: Any, seconds: float, what: str) -> None:
    try:
        async with asyncio.timeout(seconds):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}") from None


def _events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


async def _pause_all(h: Harness) -> None:
    service = h.service
    assert service is not None
    for agent in AGENTS:
        service.inbox.put_nowait(AgentPause(agent, "meeting"))
    await _wait(
        lambda: all(h.dispatcher.agent(a).state is AgentState.PAUSED for a in AGENTS), 5, "agents paused"
    )


async def test_an_ivr_urgent_call_behind_ten_normal_calls_is_offered_first(harness: Harness) -> None:
    h = harness
    with capture_logs() as logs:
        service = await h.start()
        await _pause_all(h)
        for i in range(10):
            h.sim.place_inbound_call(f"1380000010{i}", "", patience_s=3600.0)
        await _wait(lambda: h.dispatcher.snapshot(h.clock.now()).waiting_inbound == 10, 5, "10 waiting")
        urgent = h.sim.place_inbound_call("13900000077", "", priority="urgent", patience_s=3600.0)
        await _wait(lambda: _events(logs, "escalation.raised"), 5, "the urgent call raised")
        service.inbox.put_nowait(AgentReady("1001"))
        await _wait(lambda: _events(logs, "call.offered"), 5, "an offer")
    first = _events(logs, "call.offered")[0]
    assert first["call_id"] == urgent and first["priority"] == "escalated"
    raised = _events(logs, "escalation.raised")
    assert [(r["call_id"], r["escalation_level"], r["reasons"]) for r in raised] == [
        (urgent, "urgent", ["ivr:urgent"])
    ]


async def test_the_third_call_from_one_number_is_flagged_and_jumps_the_queue(harness: Harness) -> None:
    h = harness
    with capture_logs() as logs:
        service = await h.start()
        await _pause_all(h)
        for i in range(3):
            h.sim.place_inbound_call(f"1380000020{i}", "", patience_s=3600.0)
        calls = [h.sim.place_inbound_call("13700000001", "", patience_s=3600.0) for _ in range(3)]
        await _wait(lambda: _events(logs, "call.flagged"), 10, "a flag")
        service.inbox.put_nowait(AgentReady("1001"))
        await _wait(lambda: _events(logs, "call.offered"), 5, "an offer")
    flagged = _events(logs, "call.flagged")
    assert [f["call_id"] for f in flagged] == [calls[2]]
    assert flagged[0]["reasons"][0].startswith("repeat_calls:3 calls")
    assert _events(logs, "call.offered")[0]["call_id"] == calls[2]
    assert not any("13700000001" in repr(entry) for entry in _events(logs, "escalation.raised"))


async def _ticket(h: Harness, description: str, call_id: str) -> str:
    settings = h.settings
    async with Store.open(settings.store.path) as store:
        tickets = TicketService.from_settings(settings, store, clock=h.clock.now)
        created = await tickets.create(
            TicketDraft(
                ticket_type=TicketType.HELP,
                channel=Channel.PHONE,
                classification="01040301",
                occurred="刚才",
                location="沈阳市和平区中华路12号",
                description=description,
                current_situation="正在发生",
                request="请尽快处理",
                respondent="",
                citizen_name="王小明",
                citizen_number="13600000001",
            ),
            actor="1001",
            call_id=call_id,
        )
    assert isinstance(created, Created)
    return created.ticket.number


async def test_a_keyword_typed_in_a_ticket_flags_the_ticket_and_its_live_call(harness: Harness) -> None:
    h = harness
    with capture_logs() as logs:
        await h.start()
        await _pause_all(h)
        call = h.sim.place_inbound_call("13600000001", "", patience_s=3600.0)
        await _wait(lambda: h.dispatcher.snapshot(h.clock.now()).waiting_inbound == 1, 5, "the call waits")
        number = await _ticket(h, "楼下饭店后厨起火了，火势很大", call)
        await _wait(lambda: _events(logs, "call.flagged"), 10, "the call flagged")
        await _wait(lambda: _events(logs, "escalation.recording_started"), 10, "the recording")
        await _wait(lambda: _events(logs, "escalation.raised"), 10, "the alert")
        assert call in h.sim.model.live_calls()  # still up
    raised = _events(logs, "escalation.raised")
    assert [(r["call_id"], r["ticket_id"], r["escalation_level"]) for r in raised] == [
        (call, number, "urgent")
    ]
    assert raised[0]["reasons"] == ["keyword:火势,起火"]
    assert [f["call_id"] for f in _events(logs, "call.flagged")] == [call]
    assert h.sim.recordings and h.sim.recordings[0][1].startswith(f"hotline-{call}-")
    async with Store.open(h.settings.store.path) as store:
        record = await store.get_call(call)
    assert record is not None and record.escalated and record.escalation_reasons == ("keyword:火势,起火",)
    assert record.recording_ref == h.sim.recordings[0][1]


async def test_a_negated_keyword_flags_nothing(harness: Harness) -> None:
    h = harness
    with capture_logs() as logs:
        service = await h.start()
        await _pause_all(h)
        call = h.sim.place_inbound_call("13600000001", "", patience_s=3600.0)
        await _wait(lambda: h.dispatcher.snapshot(h.clock.now()).waiting_inbound == 1, 5, "the call waits")
        await _ticket(h, "邻居家冒烟，过去一看不是火灾，是在屋里熏腊肉", call)
        escalation = service.escalation
        assert escalation is not None
        before = escalation.handled
        await _wait(lambda: escalation.handled > before, 10, "the ticket read by the desk")
    assert _events(logs, "escalation.raised") == [] and _events(logs, "call.flagged") == []


async def test_an_unacknowledged_alert_climbs_once_per_tier_and_stops_at_the_top(harness: Harness) -> None:
    h = harness
    with capture_logs() as logs:
        await h.start()
        h.sim.place_inbound_call("13900000078", "", priority="urgent", patience_s=3600.0)
        # 60 + 90 + 120 simulated seconds, then well beyond
        await _wait(
            lambda: _events(logs, "escalation.unacknowledged"), (60 + 90 + 120) / SPEED + 5, "the top"
        )
        await asyncio.sleep(400 / SPEED)
    reesc = _events(logs, "escalation.reescalated")
    assert [(r["tier"], r["supervisor"]) for r in reesc] == [
        ("duty_manager", "1902"),
        ("centre_director", "1903"),
    ]
    assert len(_events(logs, "escalation.unacknowledged")) == 1
    async with Store.open(h.settings.store.path) as store:
        (alert,) = await EscalationStore(store).list_alerts()
        history = await EscalationStore(store).events(alert.alert_id)
    assert alert.state is AlertState.EXHAUSTED and alert.reescalations == 2
    assert [e[1] for e in history] == ["raised", "reescalated", "reescalated", "exhausted"]


async def test_acknowledging_stops_the_timer(harness: Harness) -> None:
    h = harness
    with capture_logs() as logs:
        service = await h.start()
        h.sim.place_inbound_call("13900000079", "", priority="urgent", patience_s=3600.0)
        await _wait(lambda: _events(logs, "escalation.raised"), 5, "raised")
        escalation = service.escalation
        assert escalation is not None
        alert_id = _events(logs, "escalation.raised")[0]["alert_id"]
        assert f"ack:{alert_id}" in escalation.armed()
        escalation.acknowledge(alert_id, "1901")
        await _wait(lambda: _events(logs, "escalation.acknowledged"), 5, "acknowledged")
        assert f"ack:{alert_id}" not in escalation.armed()
        await asyncio.sleep(200 / SPEED)  # past the first two deadlines
    assert _events(logs, "escalation.reescalated") == []
    ack = _events(logs, "escalation.acknowledged")[0]
    assert ack["acknowledged_by"] == "1901" and ack["ack_s"] >= 0

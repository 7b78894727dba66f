"""Urgent and sensitive calls over MQTT (issue 11), with a real mosquitto, the simulator over TCP
and a real SQLite file: alerts reach supervisors through the outbox, a supervisor acknowledges or
takes a call over with commands, and a screen-pop names the caller's open incident."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt

from hotline.bus.contract import Topics
from hotline.escalation.alerts import AlertState
from hotline.pbx_bridge.simulator import AgentBehaviour
from hotline.store import Store
from hotline.store.escalations import EscalationStore
from tests.integration.bus.conftest import BusHarness

TOPICS = Topics("hotline/v1")


class Supervisor:
    """A supervisor's client: sends commands, collects replies."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def collect(self) -> None:
        async for msg in self.client.messages:
            self.replies.put_nowait(json.loads(msg.payload))  # type: ignore[arg-type]

    async def command(self, **fields: object) -> dict[str, Any]:
        await self.client.publish(TOPICS.supervisor_commands, json.dumps({"v": 1, **fields}).encode(), qos=1)
        return await asyncio.wait_for(self.replies.get(), 10)


async def test_an_alert_goes_out_and_a_supervisor_acknowledges_it(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    async with (
        h.board("supervisor") as board,
        aiomqtt.Client(
            h.broker.host, h.broker.port, username="supervisor", password=h.broker.password("supervisor")
        ) as client,
    ):
        sup = Supervisor(client)
        await client.subscribe(TOPICS.supervisor_replies, qos=1)
        task = asyncio.create_task(sup.collect())
        try:
            call = h.sim.place_inbound_call("13900000066", "", priority="urgent", patience_s=600.0)
            raised = await board.wait_for("alert", type="escalation_raised", call_id=call)
            assert raised["level"] == "urgent" and raised["reasons"] == ["ivr:urgent"]
            assert raised["supervisor"] == "1901" and "13900000066" not in json.dumps(raised)
            alert_id = raised["alert_id"]
            refused = await sup.command(id="a0", cmd="ack_alert", alert_id="ESC-999999", supervisor="1901")
            assert refused["ok"] is False and "no open alert ESC-999999" in refused["error"]
            ok = await sup.command(id="a1", cmd="ack_alert", alert_id=alert_id, supervisor="1901")
            assert ok == {"v": 1, "id": "a1", "ok": True}
            acked = await board.wait_for("alert", type="escalation_acknowledged", alert_id=alert_id)
            assert acked["acknowledged_by"] == "1901"
            again = await sup.command(id="a2", cmd="ack_alert", alert_id=alert_id, supervisor="1902")
            assert again["ok"] is False
        finally:
            task.cancel()
    async with Store.open(h.settings.store.path) as store:
        alert = await EscalationStore(store).alert(alert_id)
        assert alert is not None and alert.state is AlertState.ACKNOWLEDGED
        assert await store.outbox_count() == 0  # both messages were published and acknowledged


async def test_a_supervisor_takes_over_a_flagged_call(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    async with (
        h.desktop("1001") as desk,
        aiomqtt.Client(
            h.broker.host, h.broker.port, username="supervisor", password=h.broker.password("supervisor")
        ) as client,
    ):
        sup = Supervisor(client)
        await client.subscribe(TOPICS.supervisor_replies, qos=1)
        task = asyncio.create_task(sup.collect())
        try:
            assert (await desk.command("login"))["ok"] is True
            call = h.sim.place_inbound_call("13900000067", "", priority="urgent", patience_s=600.0)
            await desk.wait_for("state", agent="1001", state="busy_inbound")
            ok = await sup.command(id="t1", cmd="take_over", call_id=call, supervisor="1901")
            assert ok["ok"] is True, ok
            await h.until(lambda: bool(h.sim.model.spies), "the supervisor's phone listens")
            bad = await sup.command(id="t2", cmd="take_over", call_id="no-such-call", supervisor="1901")
            assert bad["ok"] is False and "not connected to an agent" in bad["error"]
        finally:
            task.cancel()
    wire = b"".join(h.sim.received)
    assert b"Context: hotline-supervise\r\nExten: spy\r\n" in wire
    (spy,) = h.sim.model.spies
    assert spy[1].startswith("Local/1001@agents") and f"HOTLINE_SPY_TARGET={spy[1]}".encode() in wire


async def test_a_caller_linked_to_an_open_incident_shows_it_in_the_screen_pop(bus: BusHarness) -> None:
    from hotline.tickets.model import Channel, TicketType
    from hotline.tickets.service import Created, TicketDraft, TicketService

    h = bus
    service = await h.start()
    await h.mqtt_up()
    settings = h.settings
    async with Store.open(settings.store.path) as store:
        tickets = TicketService.from_settings(settings, store, clock=h.clock.now)
        for i in range(5):  # a burst: five callers, one burst water main, one street
            created = await tickets.create(
                TicketDraft(
                    ticket_type=TicketType.HELP,
                    channel=Channel.PHONE,
                    classification="13010101",
                    occurred="刚才",
                    location=f"沈阳市沈河区青年大街{200 + i}号",
                    description="路面水管爆裂，家里停水",
                    current_situation="还在冒水",
                    request="尽快抢修",
                    respondent="",
                    citizen_name="",
                    citizen_number=f"1370000000{i}",
                ),
                actor="1001",
            )
            assert isinstance(created, Created)
    assert service.escalation is not None
    async with Store.open(settings.store.path) as store, asyncio.timeout(15):  # the incident is stored
        while not (stored := await EscalationStore(store).open_incidents()):
            await asyncio.sleep(0.05)
    (incident,) = stored
    async with h.desktop("1001") as desk:
        assert (await desk.command("login"))["ok"] is True
        h.sim.place_inbound_call("13700000003", "", patience_s=600.0)
        offer = await asyncio.wait_for(desk.offers.get(), 10)
    assert offer["incidents"] == [incident.incident_id]


async def test_a_call_found_talking_after_a_restart_can_be_taken_over(bus: BusHarness) -> None:
    """After a restart the resync finds a talking call only as its bridge; the bridge names the
    caller's leg, so the take-over spies the agent's (seen on Asterisk 22.10.1: it was refused)."""
    h = bus
    h.autologin = True
    h.sim.set_agent_behaviour("1001", AgentBehaviour.answering(after_s=1.0, talk_s=6000.0))
    await h.start()
    call = h.sim.place_inbound_call("13900000068", "", priority="urgent", patience_s=600.0)
    await h.until(lambda: h.dispatcher.stats.calls_answered == 1, "the call is answered")
    await h.stop()
    await h.start()
    await h.mqtt_up()
    async with aiomqtt.Client(
        h.broker.host, h.broker.port, username="supervisor", password=h.broker.password("supervisor")
    ) as client:
        sup = Supervisor(client)
        await client.subscribe(TOPICS.supervisor_replies, qos=1)
        task = asyncio.create_task(sup.collect())
        try:
            ok = await sup.command(id="t3", cmd="take_over", call_id=call, supervisor="1901")
            assert ok["ok"] is True, ok
            await h.until(lambda: bool(h.sim.model.spies), "the supervisor's phone listens")
        finally:
            task.cancel()
    (spy,) = h.sim.model.spies
    assert spy[1].startswith("Local/1001@agents")

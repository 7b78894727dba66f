"""Supervisors' commands, escalations to their alerts, ticket links and the queue's figures."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import aiomqtt
import pytest

from hotline.bus.contract import Topics
from hotline.events import Direction
from hotline.queue import AgentState
from hotline.store import CallOutcome, CallRecord, Store
from tests.integration.bus.conftest import BusHarness
from tests.integration.bus.test_desktops import CALLER, _open_ticket

TOPICS = Topics("hotline/v1")


async def test_a_supervisor_sets_an_agents_state_and_gets_replies(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with aiomqtt.Client(
        h.broker.host, h.broker.port, username="supervisor", password=h.broker.password("supervisor")
    ) as sup:
        await sup.subscribe(TOPICS.supervisor_replies, qos=1)

        async def collect() -> None:
            async for msg in sup.messages:
                replies.put_nowait(json.loads(msg.payload))  # type: ignore[arg-type]

        task = asyncio.create_task(collect())
        try:

            async def command(**fields: object) -> dict[str, Any]:
                await sup.publish(TOPICS.supervisor_commands, json.dumps({"v": 1, **fields}).encode(), qos=1)
                return await asyncio.wait_for(replies.get(), 10)

            assert (await command(id="s1", cmd="set_state", agent="1003", state="paused", reason="coaching"))[
                "ok"
            ] is False  # logged out: nothing to pause
            async with h.desktop("1003") as desk:
                assert (await desk.command("login"))["ok"] is True
                ok = await command(id="s2", cmd="set_state", agent="1003", state="paused", reason="coaching")
                assert ok == {"v": 1, "id": "s2", "ok": True}
                state = await desk.wait_for("state", agent="1003", state="paused")
                assert state["reason"] == "coaching"
                bad = await command(id="s3", cmd="set_state", agent="9999", state="ready")
                assert bad["ok"] is False and "unknown agent" in bad["error"]
                assert (await command(id="s4", cmd="set_state", agent="1003", state="ready"))["ok"] is True
                await desk.wait_for("state", agent="1003", state="ready")
        finally:
            task.cancel()
    assert h.dispatcher.agent("1003").state is AgentState.READY  # type: ignore[union-attr]


@pytest.mark.parametrize("escalation", [True, False], ids=["escalation-desk", "no-escalation-desk"])
async def test_escalation_reaches_supervisors_and_a_link_is_announced(
    bus: BusHarness, escalation: bool
) -> None:
    h = bus
    h.base = dataclasses.replace(
        h.base, escalation=dataclasses.replace(h.base.escalation, enabled=escalation)
    )
    await h.start()
    await h.mqtt_up()
    ticket = await _open_ticket(h, CALLER)
    async with h.board("supervisor") as board, h.desktop("1001") as desk:
        await board.wait_for("ticket_event", type="created", ticket=ticket)
        assert (await desk.command("login"))["ok"] is True
        call = h.sim.place_inbound_call(CALLER, "周八", patience_s=600.0)
        offer = await asyncio.wait_for(desk.offers.get(), 10)
        assert offer["call_id"] == call
        await desk.wait_for("state", agent="1001", state="busy_inbound")  # talking: its record is written
        reply = await desk.command("escalate", call_id=call, reason="threatens self-harm")
        assert reply["ok"] is True
        if escalation:  # the escalation desk raises it, with its tiers and acknowledgement
            alert = await board.wait_for("alert", type="escalation_raised", call_id=call)
            assert alert["level"] == "urgent" and alert["supervisor"]
            ack = {"v": 1, "id": "a1", "cmd": "ack_alert", "alert_id": alert["alert_id"], "supervisor": "S01"}
            await board.client.publish(TOPICS.supervisor_commands, json.dumps(ack).encode(), qos=1)
            done = await board.wait_for("alert", type="escalation_acknowledged", alert_id=alert["alert_id"])
            assert done["acknowledged_by"] == "S01"
        else:  # no escalation desk: the bus's own alert
            alert = await board.wait_for("alert", type="agent_escalation")
            assert alert["agent"] == "1001" and alert["call_id"] == call
            assert alert["reason"] == "threatens self-harm"
        assert alert["event_id"].startswith("al-")

        async with Store.open(h.settings.store.path) as store:  # the call's record is written ahead
            async with asyncio.timeout(10):
                while await store.get_call(call) is None:
                    await asyncio.sleep(0.05)
        linked = await desk.command("link_ticket", call_id=call, ticket=ticket)
        assert linked["ok"] is True
        event = await board.wait_for("ticket_event", type="linked", ticket=ticket)
        assert event["call_id"] == call and event["actor"] == "1001"
        missing = await desk.command("link_ticket", call_id=call, ticket="12345-20000101-000001")
        assert missing["ok"] is False and "12345-20000101-000001" in missing["error"]


async def test_the_queue_figures_are_published_and_retained(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    async with h.desktop("1001") as desk:
        assert (await desk.command("login"))["ok"] is True
        assert (await desk.command("pause", reason="lunch"))["ok"] is True
        h.sim.place_inbound_call("13800001212", "孙二", priority="urgent", patience_s=600.0)
        h.sim.place_inbound_call("13800001213", "孙三", patience_s=600.0)
        await h.until(lambda: len(h.dispatcher.waiting_calls()) == 2, "two calls wait")
        stats = await desk.wait_for("stats", waiting_total=2)
    assert stats["waiting"] == {"escalated": 1, "normal": 1}
    assert stats["agents"]["paused"] == 1 and stats["agents"]["logged_out"] == 4
    assert stats["longest_wait_s"] >= 0 and stats["pbx_connected"] is True
    assert stats["service_level_threshold_s"] == 15.0
    async with h.board() as board:  # a newcomer gets the retained figures at once
        await h.until(lambda: board.stats is not None, "retained stats")
        assert board.stats is not None and board.stats["v"] == 1


async def test_an_urgent_calls_escalation_reaches_supervisors_through_the_outbox(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    async with h.board("supervisor") as board:
        call = h.sim.place_inbound_call("13800003434", "褚四", priority="urgent", patience_s=600.0)
        alert = await board.wait_for("alert", type="escalation_raised", call_id=call)
    assert alert["v"] == 1 and alert["event_id"].startswith("al-")
    assert alert["level"] and alert["reasons"]
    assert "13800003434" not in json.dumps(alert, ensure_ascii=False)
    async with Store.open(h.settings.store.path) as store:
        async with asyncio.timeout(10):
            while await store.outbox_count():
                await asyncio.sleep(0.05)  # acknowledged by the broker, then forgotten


async def test_the_days_figures_include_the_calls_before_a_restart(bus: BusHarness) -> None:
    """The wallboard counts since local midnight: calls the store recorded this morning, before
    the service (re)started, are in the figures; yesterday's and callbacks are not."""
    h = bus
    nine = h.clock.now()
    morning = [
        _inbound("m1", nine - 3600, answered_after=5.0),
        _inbound("m2", nine - 3000, answered_after=30.0),
        _inbound("m3", nine - 2400, abandoned_after=40.0),
        _inbound("y1", nine - 86_400, answered_after=3.0),  # yesterday
        dataclasses.replace(_inbound("cb", nine - 1800, answered_after=2.0), direction=Direction.CALLBACK),
    ]
    async with Store.open(h.settings.store.path) as store:
        for record in morning:
            await store.upsert_call(record)
    await h.start()
    await h.mqtt_up()
    async with h.board() as board:
        await h.until(lambda: board.stats is not None, "figures published")
        stats = board.stats
    assert stats is not None
    assert stats["calls_answered"] == 2 and stats["calls_abandoned"] == 1
    assert stats["service_level"] == 0.5 and stats["asa_s"] == 17.5
    assert stats["abandon_rate"] == round(1 / 3, 4)


def _inbound(
    call_id: str, arrived: float, *, answered_after: float | None = None, abandoned_after: float | None = None
) -> CallRecord:
    """An inbound call of the store: answered after a wait, or abandoned after one."""
    wait = answered_after if answered_after is not None else abandoned_after
    assert wait is not None
    return CallRecord(
        call_id=call_id,
        direction=Direction.INBOUND,
        caller_number="13800001234",
        dnis="12345",
        arrived_at=arrived,
        answered_at=arrived + wait if answered_after is not None else None,
        ended_at=arrived + wait + (120 if answered_after is not None else 0),
        wait_s=wait,
        outcome=CallOutcome.ANSWERED if answered_after is not None else CallOutcome.ABANDONED,
        state="ended",
    )

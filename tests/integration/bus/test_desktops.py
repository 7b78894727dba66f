"""Agents' desktops against the service over a real mosquitto: commands, replies, screen-pops,
state, the broker's ACL and the service's own checks, presence."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiomqtt
import pytest
from structlog.testing import capture_logs

from hotline.bus.contract import Topics
from hotline.queue import AgentState
from hotline.store import Store
from hotline.tickets.model import Channel, TicketType
from hotline.tickets.service import Created, TicketDraft, TicketService
from tests.integration.bus.conftest import GRACE_S, BusHarness

CALLER = "13800007777"


async def _open_ticket(h: BusHarness, number: str) -> str:
    """A ticket for ``number``, made by another process (as the tickets CLI would)."""
    settings = h.settings
    async with Store.open(settings.store.path) as store:
        tickets = TicketService.from_settings(settings, store, clock=h.clock.now)
        created = await tickets.create(
            TicketDraft(
                ticket_type=TicketType.COMPLAINT,
                channel=Channel.PHONE,
                classification="01010101",
                occurred="昨天晚上",
                location="沈阳市和平区中华路",
                description="夜间施工噪音",
                current_situation="仍在施工",
                request="停止夜间施工",
                respondent="某建筑公司",
                citizen_name="周八",
                citizen_number=number,
            ),
            actor="1001",
        )
        assert isinstance(created, Created)
        return created.ticket.number


async def test_an_agent_logs_in_gets_the_screen_pop_and_the_call_then_pauses(bus: BusHarness) -> None:
    with capture_logs() as logs:
        await _login_offer_call_pause(bus)
    assert any(entry["event"] == "mqtt.connected" for entry in logs)
    assert bus.broker.password("hotline") not in repr(logs)  # the service's MQTT password, nowhere
    # The bus's own lines never carry the screen-pop's caller (the queue's are masked when rendered).
    ours = [e for e in logs if str(e["event"]).startswith(("mqtt.", "outbox.", "agent.desktop"))]
    assert ours and CALLER not in repr(ours) and "周八" not in repr(ours)


async def _login_offer_call_pause(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    ticket = await _open_ticket(h, CALLER)
    async with h.desktop("1001") as desk:
        assert h.dispatcher.agent("1001").state is AgentState.LOGGED_OUT  # type: ignore[union-attr]
        reply = await desk.command("login")
        assert reply["ok"] is True
        await desk.wait_for("state", agent="1001", state="ready")
        assert h.dispatcher.agent("1001").state is AgentState.READY  # type: ignore[union-attr]

        call = h.sim.place_inbound_call(CALLER, "周八", patience_s=600.0)
        offer = await asyncio.wait_for(desk.offers.get(), 10)
        assert offer["v"] == 1
        assert offer["call_id"] == call
        assert offer["kind"] == "inbound"
        assert offer["number"] == CALLER
        assert offer["priority"] == "normal"
        assert offer["waited_s"] is not None and offer["waited_s"] >= 0
        [shown] = offer["tickets"]
        assert shown["number"] == ticket and shown["open"] is True and shown["due"]
        await desk.wait_for("state", agent="1001", state="busy_inbound")
        await h.until(lambda: h.dispatcher.stats.calls_answered == 1, "the call was answered by 1001")

        reply = await desk.command("pause", reason="lunch")
        assert reply["ok"] is True
        paused = await desk.wait_for("state", agent="1001", state="paused")
        assert paused["reason"] == "lunch"
        assert paused["since"].endswith("+08:00")
        record = h.dispatcher.agent("1001")
        assert record is not None and record.pause_reason == "lunch"

        refused = await desk.command("end_wrap_up")
        assert refused["ok"] is False and "not in wrap-up" in refused["error"]


async def test_another_agent_can_neither_read_nor_command_1001(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    topics = Topics("hotline/v1")
    seen_by_1002: list[str] = []
    async with (
        h.desktop("1001") as desk,
        aiomqtt.Client(
            h.broker.host, h.broker.port, username="1002", password=h.broker.password("1002")
        ) as intruder,
    ):
        await intruder.subscribe(topics.offers("1001"), qos=1)
        await intruder.subscribe(topics.replies("1001"), qos=1)
        await intruder.subscribe(topics.commands("1001"), qos=1)

        async def listen() -> None:
            async for msg in intruder.messages:
                seen_by_1002.append(str(msg.topic))

        listener = asyncio.create_task(listen())
        try:
            assert (await desk.command("login"))["ok"] is True
            await desk.wait_for("state", agent="1001", state="ready")
            # 1002 tries to log 1001 out and to pause it: the broker drops both.
            for cmd in (
                {"v": 1, "id": "x1", "cmd": "logout"},
                {"v": 1, "id": "x2", "cmd": "pause", "reason": "x"},
            ):
                await intruder.publish(topics.commands("1001"), json.dumps(cmd).encode(), qos=1)
            h.sim.place_inbound_call(CALLER, "周八", patience_s=600.0)
            offer = await asyncio.wait_for(desk.offers.get(), 10)
            assert offer["number"] == CALLER
            await desk.wait_for("state", agent="1001", state="busy_inbound")
            await asyncio.sleep(0.3)  # give a wrongly delivered message time to arrive
        finally:
            listener.cancel()
    assert seen_by_1002 == []
    record = h.dispatcher.agent("1001")
    assert record is not None and record.state in (AgentState.BUSY_INBOUND, AgentState.WRAP_UP)
    assert h.dispatcher.agent("1002").state is AgentState.LOGGED_OUT  # type: ignore[union-attr]


async def test_the_service_refuses_a_command_naming_another_agent(bus: BusHarness) -> None:
    """Had the broker let it through, a command acts only on the agent whose topic it came on."""
    h = bus
    await h.start()
    await h.mqtt_up()
    async with h.desktop("1002") as desk:
        reply = await desk.command("login", agent="1001")
        assert reply["ok"] is False
        assert "1001" in reply["error"] and "1002" in reply["error"]
    assert h.dispatcher.agent("1001").state is AgentState.LOGGED_OUT  # type: ignore[union-attr]
    assert h.dispatcher.agent("1002").state is AgentState.LOGGED_OUT  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"v":1,"id":"b1","cmd":"dance"}', "unknown cmd 'dance'"),
        (b'{"v":1,"id":"b2","cmd":"pause"}', "missing field 'reason'"),
        (b'{"v":1,"id":"b3","cmd":"pause","reason":7}', "field 'reason' must be a string"),
        (b'{"v":2,"id":"b4","cmd":"ready"}', "unsupported version"),
        (b'{"v":1,"cmd":"ready"}', "missing field 'id'"),
        (b'{"v":1,"id":"b5","cmd":"ready","pad":"' + b"x" * 5000 + b'"}', "payload too large"),
        (b'{"v":1,"id":"b6","cmd":"pause","reason":"a\\r\\nAction: Hangup"}', "line break"),
        (b"[1,2]", "must be a JSON object"),
    ],
)
async def test_a_bad_command_gets_an_error_reply_and_never_stalls_others(
    bus: BusHarness, payload: bytes, problem: str
) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    topics = Topics("hotline/v1")
    async with h.desktop("1002") as bad, h.desktop("1001") as good:
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with aiomqtt.Client(
            h.broker.host, h.broker.port, username="1002", password=h.broker.password("1002")
        ) as listener:
            await listener.subscribe(topics.replies("1002"), qos=1)

            async def collect() -> None:
                async for msg in listener.messages:
                    replies.put_nowait(json.loads(msg.payload))  # type: ignore[arg-type]

            task = asyncio.create_task(collect())
            try:
                await bad.send_raw(payload)
                assert (await good.command("login"))["ok"] is True
                reply = await asyncio.wait_for(replies.get(), 10)
            finally:
                task.cancel()
    assert reply["ok"] is False
    assert problem in reply["error"]
    assert h.dispatcher.agent("1002").state is AgentState.LOGGED_OUT  # type: ignore[union-attr]
    assert h.dispatcher.agent("1001").state is AgentState.READY  # type: ignore[union-attr]


async def test_a_desktop_that_drops_off_is_paused_and_only_its_own_command_makes_it_ready(
    bus: BusHarness,
) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    # A desktop in its own process, SIGKILLed: its TCP connection goes without a DISCONNECT,
    # so the broker publishes its last will (presence offline).
    script = (
        "import asyncio, sys\n"
        "from hotline.bus.desktop import AgentDesktop\n"
        "async def main():\n"
        f"    async with AgentDesktop.connect('{h.broker.host}', {h.broker.port}, '1001', "
        f"'{h.broker.password('1001')}') as desk:\n"
        "        print((await desk.command('login'))['ok'], flush=True)\n"
        "        await asyncio.sleep(3600)\n"
        "asyncio.run(main())\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert line.strip() == b"True"
        await h.until(
            lambda: h.dispatcher.agent("1001").state is AgentState.READY,  # type: ignore[union-attr]
            "1001 logged in from its desktop",
        )
    finally:
        process.kill()
        await process.wait()
    await h.until(
        lambda: h.dispatcher.agent("1001").state is AgentState.PAUSED,  # type: ignore[union-attr]
        "1001 was paused after its desktop vanished",
        timeout_s=GRACE_S + 5,
    )
    record = h.dispatcher.agent("1001")
    assert record is not None and record.pause_reason == "desktop_offline"

    call = h.sim.place_inbound_call(CALLER, "周八", patience_s=600.0)
    async with h.desktop("1001") as back:
        await asyncio.sleep(GRACE_S)  # online again, but still paused: no call offered
        assert h.dispatcher.agent("1001").state is AgentState.PAUSED  # type: ignore[union-attr]
        assert back.offers.empty()
        assert (await back.command("ready"))["ok"] is True
        offer = await asyncio.wait_for(back.offers.get(), 10)
        assert offer["call_id"] == call

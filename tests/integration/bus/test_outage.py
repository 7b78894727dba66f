"""The broker goes away: calls keep being routed, retained state is right afterwards, and no
outbox message is lost, not even across a SIGKILL of the service during the outage."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from hotline.queue import AgentState
from hotline.store import CallOutcome, Store
from hotline.tickets.model import Action
from hotline.tickets.service import TicketService
from tests.integration.bus.conftest import BusHarness
from tests.integration.bus.test_desktops import _open_ticket


async def test_broker_killed_and_restarted_mid_run(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    async with h.desktop("1001") as one, h.desktop("1002") as two:
        assert (await one.command("login"))["ok"] is True
        assert (await two.command("login"))["ok"] is True
        assert (await two.command("pause", reason="training"))["ok"] is True
        await two.wait_for("state", agent="1002", state="paused")

    await h.broker.kill()
    assert h.service is not None and h.service.bus is not None
    await h.until(lambda: not h.service.bus.connected.is_set(), "the service saw the broker go")  # type: ignore[union-attr]
    # Routing goes on without the broker: both calls are answered by 1001, one after the other.
    for i in range(2):
        h.sim.place_inbound_call(f"1380000900{i}", "吴九", patience_s=900.0)
    await h.until(lambda: h.dispatcher.stats.calls_answered == 2, "both calls answered", timeout_s=20)
    ticket = await _open_ticket(h, "13800009009")  # its events wait in the outbox

    # The broker comes back empty (no retained message survived) and, until the board has
    # subscribed, refuses the service (so the board cannot miss what the service sends first).
    right = h.broker.users["hotline"]
    h.broker.users["hotline"] = "not-yet"
    await h.broker.start()
    async with h.board() as board:
        h.broker.users["hotline"] = right
        await h.broker.reload()
        await h.mqtt_up()
        await board.wait_for("ticket_event", type="created", ticket=ticket)
        await h.until(
            lambda: len(board.states) == 5 and board.status is not None, "retained state republished"
        )
        for record in h.dispatcher.agents():
            if record.state is AgentState.BUSY_INBOUND or record.agent_id == "1001":
                continue  # 1001 moves on (wrap-up, ready) while we look
            assert board.states[record.agent_id]["state"] == record.state.value
        assert board.states["1002"]["state"] == "paused" and board.states["1002"]["reason"] == "training"
        assert board.status is not None and board.status["status"] == "online"


def _service_env(h: BusHarness) -> dict[str, str]:
    s = h.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(
        {
            "HOTLINE_AMI_PORT": str(h.sim.port),
            "HOTLINE_AMI_RECONNECT_MIN_S": "0.05",
            "HOTLINE_AMI_RECONNECT_MAX_S": "0.2",
            "HOTLINE_STORE_PATH": s.store.path,
            "HOTLINE_HEALTH_FILE": s.health.file,
            "HOTLINE_MQTT_ENABLED": "true",
            "HOTLINE_MQTT_HOST": h.broker.host,
            "HOTLINE_MQTT_PORT": str(h.broker.port),
            "HOTLINE_MQTT_PASSWORD": h.broker.password("hotline"),
            "HOTLINE_MQTT_RECONNECT_MIN_S": "0.05",
            "HOTLINE_MQTT_RECONNECT_MAX_S": "0.3",
            "HOTLINE_MQTT_OUTBOX_POLL_S": "0.2",
            "HOTLINE_QUEUE_WRAP_UP_S": "0.5",
        }
    )
    return env


@contextlib.asynccontextmanager
async def _service_process(h: BusHarness, log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """``hotline serve`` in its own process (agents log in by ``autologin``)."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline", "serve", env=_service_env(h), stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()


async def _calls_answered(path: str) -> int:
    async with Store.open(path) as store:
        return sum(1 for c in await store.calls_between(0, 1e12) if c.outcome is CallOutcome.ANSWERED)


async def test_no_outbox_message_is_lost_across_a_sigkill_during_the_outage(
    bus: BusHarness, tmp_path: Path
) -> None:
    h = bus
    log = tmp_path / "service.log"
    path = h.settings.store.path
    async with h.board() as board:
        async with _service_process(h, log) as service:
            await board.wait_for("status", timeout_s=30, status="online")
            await board.wait_for("state", agent="1001", state="ready")
            await h.broker.kill()
            # While the broker is away: calls are routed, tickets change (events into the outbox).
            for i in range(3):
                h.sim.place_inbound_call(f"1390000700{i}", "郑十", patience_s=900.0)
            numbers = [await _open_ticket(h, f"1370000800{i}") for i in range(3)]
            async with Store.open(path) as store:
                tickets = TicketService.from_settings(h.settings, store, clock=h.clock.now)
                await tickets.transition(numbers[0], Action.DISPATCH, actor="1001")
            async with asyncio.timeout(30):
                while await _calls_answered(path) < 3:
                    await asyncio.sleep(0.1)
            async with Store.open(path) as store:
                pending = await store.pending_outbox(limit=1000)
            assert len(pending) >= 4  # 3 created + 1 transitioned, at least (links too)
            service.send_signal(signal.SIGKILL)
            await service.wait()

    right = h.broker.users["hotline"]
    h.broker.users["hotline"] = "not-yet"
    await h.broker.start()
    wanted = {p.entry.event_id for p in pending}
    seen: set[str] = set()
    async with h.board() as board:
        h.broker.users["hotline"] = right
        await h.broker.reload()
        async with _service_process(h, log):
            async with asyncio.timeout(30):
                while not wanted <= seen:
                    kind, data = await board.changes.get()
                    if kind == "ticket_event":
                        seen.add(str(data["event_id"]))
            await h.until(lambda: board.status is not None and "1001" in board.states, "status and state")
            assert board.status is not None and board.status["status"] == "online"
            assert board.states["1001"]["state"] in {"ready", "busy_inbound", "wrap_up", "offered"}
            async with Store.open(path) as store:
                async with asyncio.timeout(10):
                    while await store.outbox_count():
                        await asyncio.sleep(0.1)
    assert wanted <= seen


async def test_the_service_starts_and_routes_without_its_broker(bus: BusHarness) -> None:
    h = bus
    await h.broker.stop()
    h.autologin = True
    await h.start()  # does not wait for MQTT
    assert h.service is not None and h.service.bus is not None
    assert not h.service.bus.connected.is_set()
    h.sim.place_inbound_call("13800006006", "冯六", patience_s=900.0)
    await h.until(lambda: h.dispatcher.stats.calls_answered == 1, "the call was answered without a broker")
    await h.broker.start()
    async with h.board() as board:
        await h.mqtt_up()
        await h.until(lambda: len(board.states) == 5, "every agent's state published once the broker came")


async def test_the_service_status_follows_the_pbx_link(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    async with h.board() as board:
        await h.until(
            lambda: board.status is not None and board.status["pbx_connected"] is True, "status online"
        )
        restart = asyncio.create_task(h.sim.restart(down_s=1.0))
        await board.wait_for("status", status="online", pbx_connected=False)
        await restart
        await board.wait_for("status", status="online", pbx_connected=True)

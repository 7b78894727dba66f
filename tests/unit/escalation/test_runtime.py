"""The escalation runtime without a PBX or a store: order of effects, messages for the bus, timers."""

from __future__ import annotations

import asyncio
import contextlib

from hotline.alerting import EscalationRuntime, build_rules
from hotline.clock import WallClock
from hotline.escalation.alerts import SupervisorAlertMessage
from hotline.escalation.desk import EscalationDesk
from hotline.escalation.model import Level
from hotline.events import CallArrived, CallEnded
from hotline.queue import inputs as queue_inputs
from hotline.settings import load_settings


async def test_a_flag_reaches_the_queue_and_the_bus_and_an_ack_disarms() -> None:
    settings = load_settings(environ={}).escalation
    queue: asyncio.Queue[queue_inputs.QueueInput] = asyncio.Queue()
    sent: list[SupervisorAlertMessage] = []

    async def publish(message: SupervisorAlertMessage) -> None:
        sent.append(message)

    runtime = EscalationRuntime(
        EscalationDesk(build_rules(settings)), settings, WallClock(), queue_inbox=queue, publish=publish
    )
    task = asyncio.create_task(runtime.run())
    try:
        runtime.observe(CallArrived("c1", "Local/x;1", "u1", "13800000001", "", "urgent"), [])
        flag = await asyncio.wait_for(queue.get(), 2)
        assert flag == queue_inputs.FlagCall("c1", "urgent", ("ivr:urgent",))
        async with asyncio.timeout(2):
            while not sent:
                await asyncio.sleep(0.01)
        (raised,) = sent
        body = raised.body()
        assert (body["type"], body["level"], body["role"], body["call_id"]) == (
            "escalation_raised",
            "urgent",
            "shift_lead",
            "c1",
        )
        assert "13800000001" not in repr(body)
        assert f"ack:{raised.alert_id}" in runtime.armed() and "wait:c1" in runtime.armed()
        runtime.observe(CallEnded("c1", 16, "Normal Clearing"), [])
        runtime.acknowledge(raised.alert_id, "1901")
        async with asyncio.timeout(2):
            while len(sent) < 2:
                await asyncio.sleep(0.01)
        assert sent[1].kind == "escalation_acknowledged" and sent[1].acknowledged_by == "1901"
        assert runtime.armed() == {}
        runtime.escalate("1001", Level.SENSITIVE, "citizen mentions the press", call_id=None, ticket_id="T-1")
        async with asyncio.timeout(2):
            while len(sent) < 3:
                await asyncio.sleep(0.01)
        assert sent[2].kind == "escalation_raised" and sent[2].reasons == (
            "agent:1001:citizen mentions the press",
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_failing_input_is_logged_and_the_loop_goes_on() -> None:
    from structlog.testing import capture_logs

    from hotline.escalation.desk import TicketWritten

    settings = load_settings(environ={}).escalation
    queue: asyncio.Queue[queue_inputs.QueueInput] = asyncio.Queue()
    runtime = EscalationRuntime(
        EscalationDesk(build_rules(settings)), settings, WallClock(), queue_inbox=queue
    )
    with capture_logs() as logs:
        task = asyncio.create_task(runtime.run())
        try:
            runtime.submit(TicketWritten("T-1", "01040301", ("x",), None))  # type: ignore[arg-type]  # a bug
            runtime.observe(CallArrived("c2", "Local/y;1", "u2", "13800000002", "", "urgent"), [])
            flag = await asyncio.wait_for(queue.get(), 2)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert flag.call_id == "c2"
    assert [e["input"] for e in logs if e["event"] == "escalation.handler_crashed"] == ["TicketWritten"]

"""``hotline agent`` and ``hotline wallboard`` as processes, against the service over mosquitto."""

from __future__ import annotations

import asyncio
import os
import sys

from hotline.queue import AgentState
from tests.integration.bus.conftest import BusHarness


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}


async def _read_until(stream: asyncio.StreamReader, needle: str, seen: list[str]) -> None:
    async with asyncio.timeout(20):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"output ended before {needle!r}: {seen}")
            seen.append(line.rstrip())
            if needle in line:
                return


async def test_the_agent_terminal_logs_in_shows_the_screen_pop_and_pauses(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "agent", "--id", "1001",
        "--host", h.broker.host, "--port", str(h.broker.port), "--password", h.broker.password("1001"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=_env(),
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    seen: list[str] = []
    try:
        await _read_until(process.stdout, "connected to", seen)
        process.stdin.write(b"l\n")
        await _read_until(process.stdout, "state: 1001 ready", seen)
        call = h.sim.place_inbound_call("13800005555", "钱一", patience_s=600.0)
        await _read_until(process.stdout, f"RINGING: inbound call {call}", seen)
        await _read_until(process.stdout, "caller   13800005555", seen)
        await _read_until(process.stdout, "state: 1001 busy_inbound", seen)
        process.stdin.write(b"p\n")
        await _read_until(process.stdout, "pause needs a reason", seen)
        process.stdin.write(b"p lunch\n")
        await _read_until(process.stdout, "pause: ok", seen)
        process.stdin.write(b"q\n")
        await process.stdin.drain()
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    record = h.dispatcher.agent("1001")
    assert record is not None and record.state is not AgentState.LOGGED_OUT


async def test_the_wallboard_prints_the_figures(bus: BusHarness) -> None:
    h = bus
    await h.start()
    await h.mqtt_up()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "wallboard", "--updates", "2",
        "--host", h.broker.host, "--port", str(h.broker.port), "--password", h.broker.password("wallboard"),
        stdout=asyncio.subprocess.PIPE, env=_env(),
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    text = out.decode()
    assert process.returncode == 0
    assert "waiting 0 (urgent 0, normal 0)" in text
    assert "logged out 5" in text
    assert "1001:logged_out" in text

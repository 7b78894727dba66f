"""``kill -9`` of a real ``hotline serve`` process between an alert and its acknowledgement.

The test runs the PBX simulator on loopback; the service runs as a child process with its log on
stdout (JSON lines).  An IVR-urgent call raises an alert; the process is SIGKILLed before anyone
acknowledges; a second process on the same database must (a) not raise the alert again, (b) take
it back with its stored deadline, and (c) move it up the roster once when the remaining time runs
out, the next deadline counted from the stored one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hotline.escalation.alerts import AlertState
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, PbxSimulator
from hotline.settings import load_settings
from hotline.store import Store
from hotline.store.escalations import EscalationStore

ROOT = Path(__file__).resolve().parents[3]
TIERS = (("shift_lead", "1901", 4.0), ("duty_manager", "1902", 3.0), ("centre_director", "1903", 3.0))


class ServiceProcess:
    """``python -m hotline serve`` as a child; its JSON log lines collected as they come."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.lines: list[dict[str, Any]] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("HOTLINE_DEFAULTS", None)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline", "serve", "--config", str(self.config),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            with contextlib.suppress(ValueError):
                self.lines.append(json.loads(line))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [entry for entry in self.lines if entry.get("event") == name]

    async def wait_for(self, name: str, seconds: float = 20.0, count: int = 1) -> list[dict[str, Any]]:
        try:
            async with asyncio.timeout(seconds):
                while len(self.events(name)) < count:
                    if self.proc is not None and self.proc.returncode is not None:
                        raise AssertionError(
                            f"service exited ({self.proc.returncode}) before {name}: {self.lines[-5:]}"
                        )
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"no {name} within {seconds} s; last lines: {self.lines[-5:]}") from None
        return self.events(name)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        if self._reader is not None:
            await self._reader

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await self._reader


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    settings = load_settings(environ={})
    simulator = PbxSimulator(port=0, dialplan=settings.dialplan, seed=3, channelvars=SHIPPED_CHANNELVARS)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.close()


def _config(tmp_path: Path, port: int) -> Path:
    roster = "".join(
        f'\n[[escalation.roster]]\nrole = "{role}"\nsupervisor = "{sid}"\ndevice = "Local/{sid}@agents"\n'
        f"ack_timeout_s = {timeout}\n"
        for role, sid, timeout in TIERS
    )
    path = tmp_path / "site.toml"
    path.write_text(
        f"[ami]\nport = {port}\nreconnect_min_s = 0.1\nreconnect_max_s = 0.5\n"
        f'[store]\npath = "{tmp_path / "hotline.db"}"\n'
        f'[health]\nfile = "{tmp_path / "health"}"\n'
        f"{roster}",
        encoding="utf-8",
    )
    return path


async def test_a_kill_between_raise_and_ack_loses_neither_the_alert_nor_its_timer(
    sim: PbxSimulator, tmp_path: Path
) -> None:
    config = _config(tmp_path, sim.port)
    first = ServiceProcess(config)
    await first.start()
    try:
        await first.wait_for("ami.connected")
        call = sim.place_inbound_call("13900000088", "", priority="urgent", patience_s=3600.0)
        (raised,) = await first.wait_for("escalation.raised")
    finally:
        await first.kill()  # before any acknowledgement, long before the first deadline
    assert raised["call_id"] == call and first.events("escalation.reescalated") == []

    async with Store.open(tmp_path / "hotline.db") as store:
        (stored,) = await EscalationStore(store).open_alerts()
    assert stored.alert_id == raised["alert_id"] and stored.state is AlertState.PENDING and stored.tier == 0
    assert stored.deadline_at == pytest.approx(stored.raised_at + TIERS[0][2])

    second = ServiceProcess(config)
    await second.start()
    try:
        (restored,) = await second.wait_for("escalation.restored")
        assert restored["pending"] == [stored.alert_id]
        (up,) = await second.wait_for("escalation.reescalated", seconds=30)
        assert (up["alert_id"], up["tier"], up["supervisor"]) == (stored.alert_id, "duty_manager", "1902")
        # The new deadline counts from the stored one, not from the restart.
        assert up["ack_deadline_at"] == pytest.approx(stored.deadline_at + TIERS[1][2])
        assert second.events("escalation.raised") == []  # the same alert, not a new one
    finally:
        await second.stop()

    async with Store.open(tmp_path / "hotline.db") as store:
        escalations = EscalationStore(store)
        alerts = await escalations.list_alerts()
        history = [e[1] for e in await escalations.events(stored.alert_id)]
    assert [a.alert_id for a in alerts] == [stored.alert_id]
    assert history[:2] == ["raised", "reescalated"] and history.count("raised") == 1

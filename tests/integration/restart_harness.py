"""The real service process (``python -m hotline serve``) against the simulator over TCP, killed
with SIGKILL and started again on the same database.

Time runs ``speed`` times faster for the simulator and the service alike (``serve --clock-speed``
reads the same wall-clock anchor), so a restarted service continues the simulated run.  What
really happened is taken from the PBX's own event stream (:class:`Truth`), never from the
service, so the service's records can be checked against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.pbx_bridge.simulator import PbxSimulator
from hotline.pbx_bridge.simulator.model import Headers

_NUMBER_RE = re.compile(r"([0-9]{5,})@")


@dataclass
class Truth:
    """What the PBX did, from the events it sent (POSIX seconds of the simulated clock)."""

    arrived: dict[str, float] = field(default_factory=dict)  # inbound Linkedid -> HotlineEnqueue
    numbers: dict[str, str] = field(default_factory=dict)  # inbound Linkedid -> caller number
    answered: dict[str, float] = field(default_factory=dict)  # Linkedid -> first BridgeEnter
    ended: dict[str, float] = field(default_factory=dict)  # Linkedid -> its last Hangup
    citizen_dials: Counter[str] = field(default_factory=Counter)  # number -> callback dials
    _legs: dict[str, set[str]] = field(default_factory=dict)

    def see(self, headers: Headers, now: float) -> None:
        event = dict(headers)
        name = event.get("Event")
        linkedid = event.get("Linkedid", "")
        if name == "Newchannel":
            self._legs.setdefault(linkedid, set()).add(event.get("Uniqueid", ""))
        elif name == "Hangup":
            legs = self._legs.get(linkedid, set())
            legs.discard(event.get("Uniqueid", ""))
            if not legs:
                self.ended.setdefault(linkedid, now)
        elif name == "UserEvent" and event.get("UserEvent") == "HotlineEnqueue":
            self.arrived.setdefault(linkedid, now)
            self.numbers.setdefault(linkedid, event.get("CallerIDNum", ""))
        elif name == "BridgeEnter":
            self.answered.setdefault(linkedid, now)
        elif name == "DialBegin" and event.get("Context") == "hotline-callback":
            match = _NUMBER_RE.search(event.get("DialString", ""))
            if match:
                self.citizen_dials[match.group(1)] += 1


class TruthSimulator(PbxSimulator):
    """The simulator, keeping a :class:`Truth` of every event it sends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.truth = Truth()

    def broadcast(self, headers: Headers) -> None:
        self.truth.see(headers, self.now())
        super().broadcast(headers)


def site_config(
    workdir: Path,
    port: int,
    agents: Sequence[str],
    *,
    queue: dict[str, object] | None = None,
    dialplan: dict[str, object] | None = None,
) -> Path:
    """A ``--config`` file: the simulator's port, this run's database, these agents."""

    def table(values: dict[str, object]) -> str:
        return "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())

    queue_values: dict[str, object] = {"snapshot_interval_s": 0.0, **(queue or {})}
    text = (
        f'[ami]\nhost = "127.0.0.1"\nport = {port}\nreconnect_min_s = 0.05\nreconnect_max_s = 0.2\n'
        f"[store]\npath = {json.dumps(str(workdir / 'hotline.db'))}\n"
        f"[health]\nfile = {json.dumps(str(workdir / 'hotline.health'))}\ninterval_s = 0.2\n"
        f'[log]\nlevel = "info"\n'
        f"[queue]\n{table(queue_values)}"
        f"[dialplan]\n{table(dialplan or {})}"
    )
    for agent in agents:
        text += f'[[agents]]\nid = "{agent}"\ndevice = "Local/{agent}@agents"\nautologin = true\n'
    path = workdir / "site.toml"
    path.write_text(text)
    return path


class ServiceProcess:
    """``python -m hotline serve`` on a sped-up clock; killed and restarted at will."""

    def __init__(self, sim: TruthSimulator, workdir: Path, config: Path, speed: float) -> None:
        self.sim = sim
        self.workdir = workdir
        self.config = config
        self.speed = speed
        self.db_path = workdir / "hotline.db"
        self.health = workdir / "hotline.health"
        # The same instant on both clocks: the simulator's and the wall clock.
        self.clock_start = f"{sim.now()!r}@{time.time()!r}"
        self.runs = 0
        self._proc: asyncio.subprocess.Process | None = None

    def log_path(self, run: int) -> Path:
        return self.workdir / f"service-{run}.log"

    async def start(self, timeout_s: float = 20.0) -> float:
        """Start the service; returns the simulated time at which it had connected and resynced."""
        self.runs += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        with self.log_path(self.runs).open("wb") as out:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hotline",
                "--config",
                str(self.config),
                "serve",
                "--clock-speed",
                str(self.speed),
                "--clock-start",
                self.clock_start,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        await until(self.health.exists, timeout_s, "the service connected and resynced", self.logs)
        return self.sim.now()

    async def kill(self) -> float:
        """SIGKILL: no drain, no goodbye.  Returns the simulated time of the kill."""
        assert self._proc is not None
        at = self.sim.now()
        os.kill(self._proc.pid, signal.SIGKILL)
        await self._proc.wait()
        self._proc = None
        with contextlib.suppress(FileNotFoundError):
            self.health.unlink()  # a killed service cannot remove it
        return at

    async def stop(self) -> None:
        """SIGTERM (a clean stop), SIGKILL if it does not end in time."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await self._proc.wait()
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
            self._proc = None

    def logs(self, run: int | None = None) -> list[dict[str, Any]]:
        """The JSON log lines of one run (default: every run)."""
        runs = [run] if run is not None else range(1, self.runs + 1)
        lines: list[dict[str, Any]] = []
        for r in runs:
            path = self.log_path(r)
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(line))
        return lines

    # -- the database, read as an auditor would ------------------------------------------

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        if not self.db_path.exists():
            return []
        conn = sqlite3.connect(self.db_path, timeout=10)
        try:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.OperationalError:
            return []  # the schema is not there yet
        finally:
            conn.close()

    def call(self, call_id: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM call_records WHERE call_id = ?", (call_id,))
        return rows[0] if rows else None

    def agent(self, agent_id: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM agent_states WHERE agent_id = ?", (agent_id,))
        return rows[0] if rows else None


async def until(
    condition: Callable[[], object],
    timeout_s: float,
    what: str,
    detail: Callable[[], object] | None = None,
) -> None:
    """Wait (real seconds) until ``condition()`` is true."""
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}: {detail() if detail else ''}") from None

"""The service with MQTT on: a real mosquitto of our own (free loopback port, the shipped ACL, a
generated password file), the AMI simulator over TCP, a real SQLite file; time sped up."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hotline.app import HotlineService
from hotline.bus.broker import LocalBroker
from hotline.bus.desktop import AgentDesktop, BoardClient
from hotline.clock import ScaledClock
from hotline.demo import demo_settings
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, AgentBehaviour, PbxSimulator
from hotline.queue import Dispatcher
from hotline.settings import Secret, Settings, load_settings

SPEED = 50.0
AGENTS = ("1001", "1002", "1003", "1004", "1005")
GRACE_S = 0.6
_CHINA = dt.timezone(dt.timedelta(hours=8))


def _nine_am() -> float:
    return dt.datetime.now(_CHINA).replace(hour=9, minute=0, second=0, microsecond=0).timestamp()


class BusHarness:
    """Simulator + broker + service (agents logged out: they log in over MQTT)."""

    def __init__(self, base: Settings, sim: PbxSimulator, broker: LocalBroker, workdir: Path) -> None:
        self.base = base
        self.sim = sim
        self.broker = broker
        self.workdir = workdir
        self.clock = ScaledClock(SPEED, start=_nine_am())
        self.service: HotlineService | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.autologin = False  # agents log in over MQTT unless a test says otherwise

    @property
    def settings(self) -> Settings:
        s = demo_settings(self.base, self.sim.port, self.workdir)
        ami = dataclasses.replace(s.ami, reconnect_min_s=0.05, reconnect_max_s=0.2)
        mqtt = dataclasses.replace(
            s.mqtt,
            enabled=True,
            host=self.broker.host,
            port=self.broker.port,
            username="hotline",
            password=Secret(self.broker.password("hotline")),
            reconnect_min_s=0.05,
            reconnect_max_s=0.3,
            stats_interval_s=0.3,
            presence_grace_s=GRACE_S,
            outbox_poll_s=0.2,
        )
        agents = tuple(dataclasses.replace(a, autologin=self.autologin) for a in s.agents)
        return dataclasses.replace(s, ami=ami, mqtt=mqtt, agents=agents)

    async def start(self) -> HotlineService:
        self._stop = asyncio.Event()
        self.service = HotlineService(self.settings, clock=self.clock)
        self.service.callback_intake_interval_s = 0.1
        self._task = asyncio.create_task(self.service.run(self._stop), name="test-service")
        await asyncio.wait_for(self.service.started.wait(), 5)
        assert self.service.client is not None and self.service.bus is not None
        await asyncio.wait_for(self.service.client.connected.wait(), 5)
        return self.service

    async def mqtt_up(self) -> None:
        assert self.service is not None and self.service.bus is not None
        await asyncio.wait_for(self.service.bus.connected.wait(), 10)

    async def stop(self) -> None:
        if self._stop is not None and self._task is not None and not self._task.done():
            self._stop.set()
            await asyncio.wait_for(self._task, 15)

    async def kill(self) -> None:
        """As far as the service's state goes, a SIGKILL: no drain, no goodbye on MQTT."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def dispatcher(self) -> Dispatcher:
        assert self.service is not None and self.service.dispatcher is not None
        return self.service.dispatcher

    async def until(self, condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                while not condition():
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"timed out waiting until {what}") from None

    def desktop(self, agent_id: str, *, password: str | None = None) -> AgentDesktop:
        return AgentDesktop.connect(
            self.broker.host, self.broker.port, agent_id, password or self.broker.password(agent_id)
        )

    def board(self, user: str = "wallboard") -> BoardClient:
        return BoardClient.connect(self.broker.host, self.broker.port, user, self.broker.password(user))


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[LocalBroker]:
    broker = LocalBroker.for_agents(tmp_path / "broker", AGENTS)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@contextlib.asynccontextmanager
async def harness(
    tmp_path: Path, broker: LocalBroker, kind: type[BusHarness] = BusHarness
) -> AsyncIterator[BusHarness]:
    """The simulator (agents answer after 1 s and talk 20 s) and a service harness over ``broker``."""
    settings = load_settings(environ={})
    sim = PbxSimulator(
        port=0,
        time_scale=1.0 / SPEED,
        dialplan=settings.dialplan,
        seed=11,
        channelvars=SHIPPED_CHANNELVARS,
    )
    await sim.start()
    for agent in AGENTS:
        sim.set_agent_behaviour(agent, AgentBehaviour.answering(after_s=1.0, talk_s=20.0))
    h = kind(settings, sim, broker, tmp_path)
    try:
        yield h
    finally:
        with contextlib.suppress(Exception):
            await h.stop()
        await sim.close()


@pytest.fixture
async def bus(tmp_path: Path, broker: LocalBroker) -> AsyncIterator[BusHarness]:
    async with harness(tmp_path, broker) as h:
        yield h

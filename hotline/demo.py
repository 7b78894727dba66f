"""``hotline demo``: the real service against the built-in PBX simulator, with simulated traffic.

Everything real runs — the AMI bridge over loopback TCP, the dispatcher and router, the store
(a fresh SQLite file), the logs — against :class:`~hotline.pbx_bridge.simulator.PbxSimulator`.
A traffic generator places Poisson arrivals of citizens with exponential patience; simulated
agents answer after a few seconds and talk for an exponential time; follow-up callbacks
(回访) are scheduled now and then; abandoned calls become return calls (回拨) by the queue's own
rules.  Time runs ``speed`` times faster than the wall clock (simulator and service alike), so
30 simulated minutes take 90 s at the default speed of 20.

MQTT: the demo starts its own mosquitto on a free loopback port (with the shipped ACL) and prints
its address; the simulated agents log in, take breaks and end wrap-up by commands from their own
desktops (:mod:`hotline.demo_desktops`).  The centre is staffed by Erlang C for about 80 % of
calls answered within the service-level threshold (:mod:`hotline.staffing`).  Without mosquitto
the agents log in by ``autologin`` and the demo says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from hotline.app import HotlineService
from hotline.bus.broker import BrokerUnavailable, LocalBroker
from hotline.clock import ScaledClock
from hotline.demo_desktops import DemoDesktops, DeskCounts, DeskHabits
from hotline.log import configure_logging
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, AgentBehaviour, PbxSimulator
from hotline.queue.commands import Command, ConnectCallToAgent, StartCallback
from hotline.queue.dispatcher import DispatcherStats, QueueSnapshot
from hotline.queue.inputs import QueueInput, ScheduleCallback
from hotline.queue.work import CallbackKind
from hotline.settings import AgentConfig, Secret, Settings
from hotline.staffing import Sizing, size

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
_CHINA = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the demo simulates."""

    minutes: float = 10.0
    speed: float = 20.0
    seed: int = 12345
    live: bool = True
    calls_per_minute: float = 1.8
    mean_talk_s: float = 150.0
    mean_patience_s: float = 90.0
    urgent_share: float = 0.05
    follow_ups_per_hour: float = 6.0
    drain_minutes: float = 15.0
    log_file: Path | None = None
    db: Path | None = None  # keep the store here (for `hotline report`); else a temporary file
    mqtt: bool = True  # start a private mosquitto and drive the agents through it
    service_level_target: float = 0.8
    mean_answer_s: float = 4.0  # simulated agents answer after 2-6 s


@dataclass(slots=True)
class DemoResult:
    """The summary's figures."""

    stats: DispatcherStats
    placed: int
    threshold_s: float
    unaccounted: int
    callbacks_while_inbound_waited: int
    sizing: Sizing | None = None
    callbacks_started: int = 0  # distinct callbacks (a pre-empted one restarts: not counted twice)
    desks: DeskCounts | None = None
    mqtt_address: str | None = None


class TrafficGenerator:
    """Citizens calling in, and how the simulated agents and citizens behave on each call."""

    def __init__(self, sim: PbxSimulator, options: DemoOptions, rng: random.Random) -> None:
        self._sim = sim
        self._options = options
        self._rng = rng
        self.placed: list[str] = []
        #: Our own count, independent of the dispatcher's: callbacks started while an inbound
        #: call its agent could take was still waiting after the decision.
        self.callbacks_while_inbound_waited = 0
        self.callbacks_started: set[str] = set()
        self.service: HotlineService | None = None

    def caller(self) -> tuple[str, str]:
        number = f"1{self._rng.choice('3578')}{self._rng.randrange(10**9):09d}"
        name = self._rng.choice(_SURNAMES) + "".join(
            self._rng.choice(_GIVEN) for _ in range(self._rng.choice((1, 2)))
        )
        return number, name

    async def arrivals(self, until: float, clock: ScaledClock) -> None:
        """Poisson arrivals until simulated time ``until``."""
        rate_per_s = self._options.calls_per_minute / 60.0
        while True:
            gap = self._rng.expovariate(rate_per_s)
            if clock.now() + gap >= until:
                return
            await asyncio.sleep(gap / clock.speed)
            number, name = self.caller()
            priority = "urgent" if self._rng.random() < self._options.urgent_share else "normal"
            patience = self._rng.expovariate(1.0 / self._options.mean_patience_s)
            with contextlib.suppress(Exception):  # the PBX may be restarting: the citizen tries later
                self.placed.append(
                    self._sim.place_inbound_call(number, name, priority=priority, patience_s=patience)
                )

    def observe(self, _event: QueueInput, commands: list[Command]) -> None:
        """Before an agent's phone rings, decide how that agent answers and how long they talk."""
        for command in commands:
            if isinstance(command, StartCallback):
                self._check_inbound_first(command)
                self.callbacks_started.add(command.callback_id)
            if isinstance(command, ConnectCallToAgent | StartCallback):
                extension = command.device.split("/", 1)[-1].split("@", 1)[0]
                talk = max(20.0, self._rng.expovariate(1.0 / self._options.mean_talk_s))
                self._sim.set_agent_behaviour(
                    extension, AgentBehaviour.answering(after_s=self._rng.uniform(2.0, 6.0), talk_s=talk)
                )

    def _check_inbound_first(self, command: StartCallback) -> None:
        dispatcher = self.service.dispatcher if self.service else None
        if dispatcher is None:
            return
        agent = next((a for a in self._agents if a.id == command.agent_id), None)
        skills = set(agent.skills) if agent else set()
        if any(call.skill is None or call.skill in skills for call in dispatcher.waiting_calls()):
            self.callbacks_while_inbound_waited += 1

    _agents: tuple[AgentConfig, ...] = ()


def demo_settings(settings: Settings, port: int, workdir: Path) -> Settings:
    """The service's settings pointed at the simulator and a fresh database."""
    ami = dataclasses.replace(
        settings.ami,
        host="127.0.0.1",
        port=port,
        username=settings.simulator.username,
        secret=Secret(settings.simulator.secret.reveal()),
    )
    store = dataclasses.replace(settings.store, path=str(workdir / "hotline.db"))
    health = dataclasses.replace(settings.health, file=str(workdir / "hotline.health"))
    return dataclasses.replace(settings, ami=ami, store=store, health=health)


def _live_line(now: float, snap: QueueSnapshot, stats: DispatcherStats) -> str:
    clock = dt.datetime.fromtimestamp(now, _CHINA).strftime("%H:%M:%S")
    return (
        f"[{clock}] waiting {snap.waiting_inbound:3d} (longest {snap.longest_wait_s:5.0f}s) "
        f"callbacks due {snap.waiting_callbacks:2d} | agents ready {snap.agents_ready} "
        f"busy {snap.agents_busy} "
        f"wrap-up {snap.agents_wrap_up} paused {snap.agents_paused} | arrived {stats.calls_arrived} "
        f"answered {stats.calls_answered} abandoned {stats.calls_abandoned} | "
        f"callbacks reached {stats.callbacks_reached} failed {stats.callbacks_failed}"
    )


async def _live_view(service: HotlineService, clock: ScaledClock, out: TextIO) -> None:
    tty = out.isatty()
    while True:
        await asyncio.sleep(0.5 if tty else 5.0)
        if service.dispatcher is None:
            continue
        line = _live_line(clock.now(), service.dispatcher.snapshot(clock.now()), service.dispatcher.stats)
        out.write(("\r" + line[:160]) if tty else line + "\n")
        out.flush()


async def _follow_ups(
    service: HotlineService,
    options: DemoOptions,
    rng: random.Random,
    clock: ScaledClock,
    traffic: TrafficGenerator,
    until: float,
) -> None:
    """Now and then a department's feedback is in and a follow-up call (回访) falls due."""
    if options.follow_ups_per_hour <= 0:
        return
    serial = 0
    while True:
        gap = rng.expovariate(options.follow_ups_per_hour / 3600.0)
        if clock.now() + gap >= until:
            return
        await asyncio.sleep(gap / clock.speed)
        if service.runtime is None:
            continue
        serial += 1
        number, _ = traffic.caller()
        service.inbox.put_nowait(
            ScheduleCallback(f"demo-fu-{serial}", CallbackKind.FOLLOW_UP, number, clock.now(), ticket_id=None)
        )


async def _until_settled(service: HotlineService, clock: ScaledClock, stop: asyncio.Event) -> None:
    """Return once no call waits and no agent is busy (or on ``stop``)."""
    for _ in iter(int, 1):  # the dispatcher's figures are polled: nothing signals "settled"
        if stop.is_set() or _settled(service, clock):
            return
        await asyncio.sleep(0.2)


def _settled(service: HotlineService, clock: ScaledClock) -> bool:
    if service.dispatcher is None:
        return True
    snap = service.dispatcher.snapshot(clock.now())
    return snap.waiting_inbound == 0 and snap.agents_busy == 0 and snap.waiting_callbacks == 0


async def run_demo(settings: Settings, options: DemoOptions, stop: asyncio.Event) -> int:
    """Run the demo; prints the summary on stdout and returns the exit status."""
    rng = random.Random(options.seed)
    with tempfile.TemporaryDirectory(prefix="hotline-demo-") as tmp:
        workdir = Path(tmp)
        log_path = options.log_file or workdir / "hotline.log.jsonl"
        with log_path.open("w", encoding="utf-8") as log_stream:
            configure_logging(settings.log.level, log_stream)
            result = await _run(settings, options, stop, rng, workdir)
        lines = log_path.read_text(encoding="utf-8").count("\n")
    _print_summary(result, options, lines, options.log_file)
    violations = result.callbacks_while_inbound_waited + result.stats.callbacks_started_while_inbound_waited
    return 0 if violations == 0 and result.unaccounted == 0 else 1


def demo_sizing(settings: Settings, options: DemoOptions, habits: DeskHabits) -> Sizing:
    """Erlang C staffing for the demo's traffic (handle time: answer + talk + wrap-up)."""
    handle_s = options.mean_answer_s + options.mean_talk_s + settings.queue.wrap_up_s
    return size(
        options.calls_per_minute,
        handle_s,
        target=options.service_level_target,
        threshold_s=settings.queue.service_level_threshold_s,
        shrinkage=habits.shrinkage,
    )


def staffed_agents(settings: Settings, count: int, *, autologin: bool) -> tuple[AgentConfig, ...]:
    """``count`` agents 1001, 1002, ... on the dialplan's device template."""
    template = settings.dialplan.agent_device_template
    return tuple(
        AgentConfig(id=str(1001 + i), device=template.format(agent=str(1001 + i)), autologin=autologin)
        for i in range(count)
    )


async def _start_broker(workdir: Path, agent_ids: list[str]) -> LocalBroker | None:
    try:
        broker = LocalBroker.for_agents(workdir / "mosquitto", agent_ids)
        await broker.start()
    except (BrokerUnavailable, OSError) as exc:
        print(f"hotline demo: no MQTT ({exc}); agents log in by autologin", flush=True)
        return None
    return broker


def _announce(broker: LocalBroker, prefix: str, sizing: Sizing) -> str:
    address = f"{broker.host}:{broker.port}"
    print(sizing.describe(), flush=True)
    print(
        f"MQTT broker on {address} (topic prefix {prefix}); watch it with\n"
        f"  hotline wallboard --port {broker.port} --password {broker.password('wallboard')}\n"
        f"  hotline agent --id 1001 --port {broker.port} --password {broker.password('1001')}\n"
        f"  mosquitto_sub -h {broker.host} -p {broker.port} -u supervisor "
        f"-P {broker.password('supervisor')} -t '{prefix}/#' -v",
        flush=True,
    )
    return address


async def _run(
    settings: Settings, options: DemoOptions, stop: asyncio.Event, rng: random.Random, workdir: Path
) -> DemoResult:
    # Start the simulated day at 09:00 Beijing time so callbacks fall within calling hours.
    today = dt.datetime.now(_CHINA).replace(hour=9, minute=0, second=0, microsecond=0)
    clock = ScaledClock(options.speed, start=today.timestamp())
    habits = DeskHabits()
    sizing = demo_sizing(settings, options, habits)
    agent_ids = [str(1001 + i) for i in range(sizing.staffed)]
    broker = await _start_broker(workdir, agent_ids) if options.mqtt else None
    if broker is None:
        print(sizing.describe(), flush=True)
    agents = staffed_agents(settings, sizing.staffed, autologin=broker is None)
    sim = PbxSimulator(
        port=0,
        username=settings.simulator.username,
        secret=settings.simulator.secret.reveal(),
        time_scale=1.0 / options.speed,
        dialplan=settings.dialplan,
        seed=options.seed,
        channelvars=SHIPPED_CHANNELVARS,
        # Agents configured on PJSIP devices get simulated softphones (registered at start).
        sip_phones=[a.device.split("/", 1)[1] for a in agents if a.device.startswith("PJSIP/")],
    )
    try:
        async with sim:
            service_settings = demo_settings(settings, sim.port, workdir)
            service_settings = dataclasses.replace(service_settings, agents=agents)
            if options.db is not None:
                store = dataclasses.replace(service_settings.store, path=str(options.db))
                service_settings = dataclasses.replace(service_settings, store=store)
            address = None
            if broker is not None:
                mqtt = dataclasses.replace(
                    service_settings.mqtt,
                    enabled=True,
                    host=broker.host,
                    port=broker.port,
                    username="hotline",
                    password=Secret(broker.password("hotline")),
                )
                service_settings = dataclasses.replace(service_settings, mqtt=mqtt)
                address = _announce(broker, mqtt.topic_prefix, sizing)
            service = HotlineService(service_settings, clock=clock)
            traffic = TrafficGenerator(sim, options, rng)
            traffic.service = service
            traffic._agents = service_settings.agents
            service.observer = traffic.observe
            desks = (
                DemoDesktops(broker, agent_ids, service_settings.mqtt.topic_prefix, clock, rng, habits)
                if broker is not None
                else None
            )
            service_stop = asyncio.Event()
            until = clock.now() + options.minutes * 60.0
            async with asyncio.TaskGroup() as tasks:
                running = tasks.create_task(service.run(service_stop), name="demo-service")
                await service.started.wait()
                assert service.client is not None
                await service.client.connected.wait()
                helpers = []
                if desks is not None:
                    assert service.bus is not None
                    await service.bus.connected.wait()
                    helpers.append(tasks.create_task(desks.run(), name="demo-desktops"))
                helpers += [
                    tasks.create_task(traffic.arrivals(until, clock), name="demo-arrivals"),
                    tasks.create_task(
                        _follow_ups(service, options, rng, clock, traffic, until), name="demo-follow-ups"
                    ),
                ]
                if options.live:
                    helpers.append(
                        tasks.create_task(_live_view(service, clock, sys.stderr), name="demo-live-view")
                    )
                # Traffic for the simulated period, then let the calls in progress finish.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(clock.delay_until(until)):
                        await stop.wait()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(options.drain_minutes * 60.0 / clock.speed):
                        await _until_settled(service, clock, stop)
                for task in helpers:
                    task.cancel()
                assert service.dispatcher is not None
                stats = service.dispatcher.stats
                service_stop.set()
                await running
            if options.live:
                sys.stderr.write("\n")
    finally:
        if broker is not None:
            await broker.stop()
    ended = stats.calls_answered + stats.calls_abandoned + stats.calls_lost
    waiting = len(traffic.placed) - ended
    return DemoResult(
        stats,
        len(traffic.placed),
        settings.queue.service_level_threshold_s,
        max(waiting, 0),
        traffic.callbacks_while_inbound_waited,
        sizing=sizing,
        callbacks_started=len(traffic.callbacks_started),
        desks=desks.counts if desks is not None else None,
        mqtt_address=address,
    )


def _print_summary(result: DemoResult, options: DemoOptions, log_lines: int, log_file: Path | None) -> None:
    s = result.stats
    level = s.service_level
    asa = s.average_speed_of_answer_s
    print(f"hotline demo: {options.minutes:g} simulated minutes at {options.speed:g}x, seed {options.seed}")
    print(f"calls offered: {s.calls_arrived}")
    print(f"calls answered: {s.calls_answered}")
    print(f"calls abandoned: {s.calls_abandoned}")
    print(f"calls lost: {s.calls_lost}")
    print(f"calls unaccounted for: {result.unaccounted}")
    within = s.answered_within_threshold
    sl = f"{within / s.calls_arrived:.1%}" if s.calls_arrived else "n/a"
    of_answered = f"{level:.1%}" if level is not None else "n/a"
    print(
        f"service level (answered within {result.threshold_s:g} s, of calls offered): {sl} "
        f"({within} calls; {of_answered} of those answered)"
    )
    print(f"average speed of answer: {asa:.1f} s" if asa is not None else "average speed of answer: n/a")
    print(f"ring-no-answer: {s.ring_no_answer}")
    restarts = max(s.callbacks_started - result.callbacks_started, 0)
    print(
        f"callbacks scheduled: {s.callbacks_scheduled}, started: {result.callbacks_started} "
        f"({s.callbacks_started} attempts dialled, {restarts} of them restarts after a pre-emption), "
        f"reached: {s.callbacks_reached}, failed: {s.callbacks_failed}, pre-empted: {s.callbacks_preempted}"
    )
    if result.sizing is not None:
        print(result.sizing.describe())
    if result.desks is not None:
        sent = ", ".join(f"{cmd} {n}" for cmd, n in sorted(result.desks.sent.items()))
        refused = sum(result.desks.refused.values())
        print(
            f"MQTT ({result.mqtt_address}): desktop commands {sent}; refused {refused}; "
            f"screen-pops received {result.desks.offers}"
        )
    violations = max(result.callbacks_while_inbound_waited, s.callbacks_started_while_inbound_waited)
    print(f"callbacks started while an eligible inbound call waited: {violations}")
    if options.db is not None:
        day = dt.datetime.now(_CHINA).date().isoformat()
        print(f"store kept at {options.db}: HOTLINE_STORE_PATH={options.db} hotline report --day {day}")
    where = str(log_file) if log_file else "(a temporary file, removed)"
    print(f"log lines written: {log_lines} to {where}")

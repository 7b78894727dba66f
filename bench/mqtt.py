"""MQTT: the command -> reply round trip through the service, and how fast it publishes for
1,000 agents, each beside a bare aiomqtt baseline on the same private mosquitto.

1. Round trip: an agent's desktop sends ``pause``/``ready`` in turn and waits for each reply
   (desktop -> broker -> service -> dispatcher -> service -> broker -> desktop), against a bare
   client publishing QoS 1 to a topic it subscribes to (client -> broker -> client).
2. Publishing for 1,000 agents: 1,000 logins put in the service's inbox -> the time until a
   subscriber has all 1,000 retained ``state`` messages; 1,000 calls placed in the simulator for
   1,000 ready agents -> the time until it has all 1,000 ``offers`` (screen-pops, each with its
   store lookup of the caller's tickets).  Baseline: one bare client publishing 1,000 QoS 1
   messages of the same size to the same subscriber.

    python -m bench.mqtt [--round-trips 500] [--agents 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import aiomqtt

from hotline.app import HotlineService
from hotline.bus.broker import LocalBroker
from hotline.bus.contract import TCP_NODELAY_OPTION
from hotline.bus.desktop import AgentDesktop
from hotline.demo import demo_settings, staffed_agents
from hotline.log import configure_logging
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, AgentBehaviour, PbxSimulator
from hotline.queue.commands import ConnectCallToAgent
from hotline.queue.inputs import AgentLogin
from hotline.settings import Secret, load_settings

QUIET = logging.getLogger("bench.mqtt.aiomqtt")
QUIET.setLevel(logging.ERROR)


def bare_client(broker: LocalBroker, user: str) -> aiomqtt.Client:
    """A plain aiomqtt client with the socket option the service's clients use (no Nagle)."""
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=user,
        password=broker.password(user),
        socket_options=[TCP_NODELAY_OPTION],
        logger=QUIET,
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def bare_round_trips(broker: LocalBroker, n: int) -> list[float]:
    """QoS 1 publish to a topic the same client subscribes to, one at a time."""
    times: list[float] = []
    async with bare_client(broker, "hotline") as c:
        await c.subscribe("hotline/v1/bench/echo", qos=1)
        messages = c.messages
        for i in range(n):
            start = time.perf_counter()
            await c.publish("hotline/v1/bench/echo", f'{{"v":1,"id":"b-{i}","cmd":"ready"}}'.encode(), qos=1)
            await messages.__anext__()
            times.append(time.perf_counter() - start)
    return times


async def bare_burst(broker: LocalBroker, count: int, size: int) -> float:
    """Seconds for one client to get ``count`` QoS 1 messages of ``size`` bytes to a subscriber."""
    payload = b"x" * size
    async with (
        bare_client(broker, "supervisor") as sub,
        bare_client(broker, "hotline") as pub,
    ):
        await sub.subscribe("hotline/v1/agents/+/offers", qos=1)
        start = time.perf_counter()
        await asyncio.gather(
            *(pub.publish(f"hotline/v1/agents/{i}/offers", payload, qos=1) for i in range(count))
        )
        got = 0
        async for _ in sub.messages:
            got += 1
            if got == count:
                break
        return time.perf_counter() - start


async def collect(broker: LocalBroker, topic: str, count: int, ready: asyncio.Event) -> tuple[float, int]:
    """(seconds from the first to the ``count``th message, total bytes)."""
    async with bare_client(broker, "supervisor") as sub:
        await sub.subscribe(topic, qos=1)
        ready.set()
        first = 0.0
        got = 0
        size = 0
        async for msg in sub.messages:
            if msg.retain:
                continue  # left from before the measurement
            if got == 0:
                first = time.perf_counter()
            got += 1
            size += len(msg.payload) if isinstance(msg.payload, bytes) else 0
            if got == count:
                return time.perf_counter() - first, size
    raise AssertionError("subscription ended")


async def run(round_trips: int, agents: int) -> None:
    configure_logging("error")
    settings = load_settings(environ={})
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        work = Path(tmp)
        ids = [str(1001 + i) for i in range(agents)]
        broker = LocalBroker.for_agents(work / "broker", ids)
        await broker.start()
        sim = PbxSimulator(
            port=0, dialplan=settings.dialplan, time_scale=1.0, channelvars=SHIPPED_CHANNELVARS, seed=1
        )
        try:
            async with sim:
                s = demo_settings(settings, sim.port, work)
                mqtt = dataclasses.replace(
                    s.mqtt,
                    enabled=True,
                    host=broker.host,
                    port=broker.port,
                    password=Secret(broker.password("hotline")),
                    stats_interval_s=60.0,
                )
                queue = dataclasses.replace(s.queue, snapshot_interval_s=0.0)
                s = dataclasses.replace(
                    s, mqtt=mqtt, queue=queue, agents=staffed_agents(s, agents, autologin=False)
                )
                for agent in ids:
                    sim.set_agent_behaviour(agent, AgentBehaviour.never_answering())
                service = HotlineService(s)
                connects: list[float] = []

                def routed(_event: object, commands: list[object]) -> None:
                    connects.extend(
                        time.perf_counter() for c in commands if isinstance(c, ConnectCallToAgent)
                    )

                service.observer = routed
                stop = asyncio.Event()
                task = asyncio.create_task(service.run(stop))
                await service.started.wait()
                assert service.client is not None and service.bus is not None
                await service.client.connected.wait()
                await service.bus.connected.wait()

                bare = await bare_round_trips(broker, round_trips)
                trips: list[float] = []
                async with AgentDesktop.connect(
                    broker.host, broker.port, "1001", broker.password("1001")
                ) as desk:
                    await desk.command("login")
                    for i in range(round_trips):
                        start = time.perf_counter()
                        reply = (
                            await desk.command("pause", reason="bench")
                            if i % 2 == 0
                            else await desk.command("ready")
                        )
                        trips.append(time.perf_counter() - start)
                        assert reply["ok"], reply
                    await desk.command("ready")

                ready = asyncio.Event()
                states = asyncio.create_task(collect(broker, "hotline/v1/agents/+/state", agents - 1, ready))
                await ready.wait()
                start = time.perf_counter()
                for agent in ids[1:]:
                    service.inbox.put_nowait(AgentLogin(agent))
                state_s, state_bytes = await states
                state_total = time.perf_counter() - start

                ready = asyncio.Event()
                offers = asyncio.create_task(collect(broker, "hotline/v1/agents/+/offers", agents, ready))
                await ready.wait()
                start = time.perf_counter()
                for i in range(agents):
                    sim.place_inbound_call(f"138{i:08d}", "市民", patience_s=3600.0)
                offer_s, offer_bytes = await offers
                offer_total = time.perf_counter() - start
                routing_s = connects[-1] - connects[0] if len(connects) > 1 else 0.0
                published = service.bus.published
                stop.set()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 30)
            bare_state = await bare_burst(broker, agents - 1, max(1, state_bytes // (agents - 1)))
            bare_offer = await bare_burst(broker, agents, max(1, offer_bytes // agents))
        finally:
            await broker.stop()

    ms = 1000.0
    print(f"mosquitto on loopback; {os.cpu_count()} CPUs; {round_trips} round trips; {agents} agents")
    print("command -> reply round trip through the service (pause/ready, QoS 1 both ways):")
    print(
        f"  service  p50 {statistics.median(trips) * ms:6.2f} ms  p99 {percentile(trips, 99) * ms:6.2f} ms"
        f"  mean {statistics.fmean(trips) * ms:6.2f} ms"
    )
    print(
        f"  bare     p50 {statistics.median(bare) * ms:6.2f} ms  p99 {percentile(bare, 99) * ms:6.2f} ms"
        f"  (aiomqtt publish -> subscribe, same broker)"
    )
    print(f"  ratio p50 service/bare {statistics.median(trips) / statistics.median(bare):.1f}x")
    n_state = agents - 1
    print(f"publishing for {agents} agents:")
    print(
        f"  state    {n_state} in {state_s:.3f} s first-to-last = {n_state / state_s:,.0f}/s "
        f"({state_total:.3f} s from the first login put in; {state_bytes // n_state} B each)"
    )
    print(
        f"  offers   {agents} in {offer_s:.3f} s first-to-last = {agents / offer_s:,.0f}/s; the dispatcher "
        f"decided them over {routing_s:.3f} s ({len(connects)} offers; {offer_total:.3f} s from the first "
        f"call placed, incl. AMI; {offer_bytes // agents} B each)"
    )
    print(
        f"  bare     {n_state} QoS 1 messages {n_state / bare_state:,.0f}/s, "
        f"{agents} offer-sized {agents / bare_offer:,.0f}/s (one client -> broker -> subscriber)"
    )
    print(
        f"  ratio state/bare {bare_state / state_s:.2f}, offers/bare {bare_offer / offer_s:.2f}; "
        f"service published {published} messages"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=500)
    parser.add_argument("--agents", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.round_trips, args.agents))


if __name__ == "__main__":
    main()

"""A softphone that dies while idle: how long its next caller waits, against a plain ring-no-answer.

The whole service runs against the simulator over TCP on a sped-up clock.  Two agents on PJSIP
phones; the first in line is offered each call.  Scenario ``dead``: its softphone is killed
(no de-registration) just before a call arrives, so the call rings the dead contact until the
simulated qualify finds it out (2-7 s, as in the pjsip captures) and the service takes the offer
back and gives the call to the other agent.  Baseline ``rona``, measured in the same run: the
first agent's phone works but nobody answers, so the call waits for the full ring timeout before
it goes to the other agent (what a dead phone cost before its reachability was followed).
Printed: the caller's wait until answered, per scenario (mean, max over the trials), and the
ratio.

    python -m bench.dead_phone [--trials 20] [--speed 50]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
from pathlib import Path

from hotline.app import HotlineService
from hotline.clock import ScaledClock
from hotline.demo import demo_settings
from hotline.log import configure_logging
from hotline.pbx_bridge.simulator import SHIPPED_CHANNELVARS, AgentBehaviour, PbxSimulator
from hotline.queue.agents import AgentState
from hotline.settings import AgentConfig, Settings, load_settings

PHONES = ("1001", "1002")


def _settings(base: Settings) -> Settings:
    agents = tuple(AgentConfig(id=a, device=f"PJSIP/{a}", autologin=True) for a in PHONES)
    dialplan = dataclasses.replace(base.dialplan, agent_device_template="PJSIP/{agent}")
    queue = dataclasses.replace(base.queue, agent_choice="config_order")
    return dataclasses.replace(base, agents=agents, dialplan=dialplan, queue=queue)


async def trial(scenario: str, seed: int, speed: float, workdir: Path) -> float:
    """One call; returns its wait (simulated seconds) until an agent answered."""
    base = _settings(load_settings(environ={}))
    sim = PbxSimulator(
        port=0,
        time_scale=1.0 / speed,
        dialplan=base.dialplan,
        seed=seed,
        channelvars=SHIPPED_CHANNELVARS,
        sip_phones=PHONES,
    )
    async with sim:
        clock = ScaledClock(speed)
        settings = demo_settings(base, sim.port, workdir)
        service = HotlineService(settings, clock=clock)
        answered = asyncio.Event()

        def watch(_event: object, _commands: object) -> None:
            record = service.dispatcher.agent("1002") if service.dispatcher is not None else None
            if record is not None and record.state is AgentState.BUSY_INBOUND:
                answered.set()

        service.observer = watch
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        await asyncio.wait_for(service.started.wait(), 10)
        assert service.client is not None
        await asyncio.wait_for(service.client.connected.wait(), 10)
        sim.set_agent_behaviour("1002", AgentBehaviour.answering(after_s=0.5, talk_s=60.0))
        if scenario == "dead":
            sim.kill_phone("1001")
        else:
            sim.set_agent_behaviour("1001", AgentBehaviour.never_answering())
        arrived = clock.now()
        sim.place_inbound_call("13800000999", "周八")
        await asyncio.wait_for(answered.wait(), 120 / speed + 10)
        waited = clock.now() - arrived
        stop.set()
        await asyncio.wait_for(task, 15)
    return waited


async def main(trials: int, speed: float) -> None:
    configure_logging("error")
    waits: dict[str, list[float]] = {"dead": [], "rona": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(trials):
            for scenario in waits:
                workdir = Path(tmp) / f"{scenario}-{i}"
                workdir.mkdir()
                waits[scenario].append(await trial(scenario, seed=i, speed=speed, workdir=workdir))
    ring = load_settings(environ={}).dialplan.ring_timeout_s
    print(f"caller's wait until answered, {trials} trials, ring timeout {ring} s, speed x{speed:g}")
    for scenario, label in (("dead", "phone dies idle, offer taken back"), ("rona", "baseline: full RONA")):
        values = waits[scenario]
        print(f"  {label:36s} mean {statistics.mean(values):6.2f} s   max {max(values):6.2f} s")
    ratio = statistics.mean(waits["dead"]) / statistics.mean(waits["rona"])
    print(f"  ratio dead/rona (mean): {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--speed", type=float, default=50.0)
    args = parser.parse_args()
    asyncio.run(main(args.trials, args.speed))

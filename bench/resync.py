"""Resync after a reconnect: time from connect to "calls rebuilt" with N live channels.

The simulator holds N/2 waiting inbound calls (two Local halves each); the AMI client connects,
logs in, waits for FullyBooted, lists ``CoreShowChannels`` and rebuilds its calls.  Printed: the
time to the first connect and to a reconnect after a dropped connection, per channel count,
beside the bare cost of the listing itself (the same action read by a plain socket loop).

    python bench/resync.py [--channels 100 1000 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import time

from hotline.events import DomainEvent, PbxConnected
from hotline.log import configure_logging
from hotline.pbx_bridge.codec import AmiFramer, encode_action
from hotline.pbx_bridge.connection import AmiClient
from hotline.pbx_bridge.simulator import PbxSimulator
from hotline.settings import load_settings


async def bare_listing(port: int) -> float:
    """Log in and read one CoreShowChannels listing with a plain loop; seconds for the listing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framer = AmiFramer()
    writer.write(encode_action("Login", "b-1", [("Username", "hotline"), ("Secret", "hotline-secret")]))
    start = 0.0
    done = False
    while not done:
        data = await reader.read(65536)
        for frame in framer.feed(data):
            if frame.startswith(b"Response: Success\r\nActionID: b-1"):
                start = time.perf_counter()
                writer.write(encode_action("CoreShowChannels", "b-2"))
            elif frame.startswith(b"Event: CoreShowChannelsComplete"):
                done = True
    elapsed = time.perf_counter() - start
    writer.close()
    return elapsed


async def measure(channels: int) -> tuple[float, float, float]:
    settings = load_settings(environ={})
    sim = PbxSimulator(port=0, dialplan=settings.dialplan, caller_patience_s=None, time_scale=1.0)
    async with sim:
        for i in range(channels // 2):
            sim.place_inbound_call(f"138{i:08d}", "市民")
        # Let every call reach music on hold (the simulator runs in real time here).
        for _ in range(600):
            if len(sim.live_channels()) >= channels:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        bare = await bare_listing(sim.port)
        ami = dataclasses.replace(
            settings.ami, port=sim.port, reconnect_min_s=0.01, reconnect_max_s=0.02, action_timeout_s=30.0
        )
        connected = asyncio.Event()

        def emit(event: DomainEvent) -> None:
            if isinstance(event, PbxConnected):
                connected.set()

        start = time.perf_counter()
        async with AmiClient(ami, settings.dialplan, emit) as client:
            await connected.wait()
            first = time.perf_counter() - start
            assert len(client.translator.live_calls) == channels // 2
            connected.clear()
            start = time.perf_counter()
            sim.drop_connections()
            await connected.wait()
            again = time.perf_counter() - start
            assert len(client.translator.live_calls) == channels // 2
    return first, again, bare


async def run(counts: list[int]) -> None:
    print(f"{'channels':>9} {'first connect':>14} {'reconnect':>10} {'bare listing':>13}  ratio")
    for n in counts:
        first, again, bare = await measure(n)
        print(
            f"{n:9d} {first * 1000:11.0f} ms {again * 1000:7.0f} ms {bare * 1000:10.0f} ms  "
            f"{again / bare:5.1f}x bare"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[100, 1000, 4000])
    args = parser.parse_args()
    with open(os.devnull, "w") as devnull:
        configure_logging("info", devnull)
        asyncio.run(run(args.channels))


if __name__ == "__main__":
    main()

"""AMI ingest: events/s through our bridge vs plain panoramisk vs a bare readuntil loop.

A local TCP server sends the same realistic stream to each reader: the events of real calls as
Asterisk 22 sent them (the captures of an inbound call answered by an agent and of a callback,
CEL excluded: Newexten/VarSet first, then Newchannel, Newstate, DialBegin/End, BridgeEnter/Leave,
Hangup, ...), renumbered so every copy is a distinct call.  Each reader is timed from connect to
its last event; the best of a few rounds is printed, with the ratios measured in the same run.

    python bench/ami_ingest.py [--events 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from hotline.events import CallArrived, CallEnded, DomainEvent
from hotline.log import configure_logging
from hotline.pbx_bridge.codec import AmiFramer, decode_frame
from hotline.pbx_bridge.connection import HotlineAmiProtocol
from hotline.pbx_bridge.translator import AmiTranslator
from hotline.settings import load_settings

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "ami-transcripts"
#: The real captures: the shared folder when present, else the copy kept with the tests.
CAPTURES = _SHARED if _SHARED.is_dir() else Path(__file__).resolve().parents[1] / "tests" / "captures"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
_UNIQUEID = re.compile(rb"17958\d{5}\.(\d+)")


def call_templates() -> list[list[bytes]]:
    """Event frames of real calls (responses, CEL and Cdr left out)."""
    templates = []
    for name in ("03-inbound-to-agent", "06-callback-success"):
        framer = AmiFramer()
        frames = framer.feed((CAPTURES / f"{name}.recv.ami").read_bytes())
        events = [
            f
            for f in frames
            if f.startswith(b"Event: ") and not f.startswith((b"Event: CEL\r", b"Event: Cdr\r"))
        ]
        events = [f for f in events if b"\r\nActionID: " not in f]
        templates.append(events)
    return templates


def build_stream(n_events: int) -> tuple[bytes, int, int]:
    """(stream bytes, number of events, number of calls)."""
    templates = call_templates()
    parts = [BANNER]
    count = calls = 0
    while count < n_events:
        template = templates[calls % len(templates)]
        # Renumber the call: every Uniqueid/Linkedid gets this copy's own epoch part.
        epoch = b"%d." % (1_000_000_000 + calls)
        for frame in template:
            parts.append(_UNIQUEID.sub(lambda m, e=epoch: e + m.group(1), frame) + b"\r\n\r\n")
        count += len(template)
        calls += 1
    return b"".join(parts), count, calls


def header_lines_per_event(stream: bytes) -> float:
    frames = AmiFramer().feed(stream)
    return sum(f.count(b"\r\n") + 1 for f in frames) / len(frames)


async def serve_once(stream: bytes) -> tuple[asyncio.Server, int]:
    async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(stream)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def bare_loop(port: int, expected: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    await reader.readuntil(b"\r\n")  # banner
    count = 0
    while count < expected:
        block = await reader.readuntil(b"\r\n\r\n")
        lines = block.decode("utf-8").split("\r\n")
        if lines:
            count += 1
    writer.close()
    return count


async def our_bridge(port: int, expected: int) -> int:
    sink: asyncio.Queue[DomainEvent] = asyncio.Queue()
    translator = AmiTranslator(load_settings(environ={}).dialplan)
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: HotlineAmiProtocol(translator, sink.put_nowait), "127.0.0.1", port
    )
    await protocol.lost
    # Drain the domain events as the dispatcher would, and check the translation is right.
    arrived = ended = 0
    while not sink.empty():
        event = sink.get_nowait()
        arrived += isinstance(event, CallArrived)
        ended += isinstance(event, CallEnded)
    assert protocol.frames_received == expected, (protocol.frames_received, expected)
    our_bridge.last_counts = (arrived, ended)  # type: ignore[attr-defined]
    return int(protocol.frames_received)


async def plain_panoramisk(port: int, expected: int) -> int:
    done = asyncio.get_running_loop().create_future()
    count = 0

    def noop(_manager: Manager, _event: object) -> None:
        nonlocal count
        count += 1
        if count >= expected and not done.done():
            done.set_result(None)

    manager = Manager(
        host="127.0.0.1",
        port=port,
        protocol_factory=AMIProtocol,
        ping_delay=3600,
        reconnect_timeout=3600,
        loop=asyncio.get_running_loop(),
    )
    manager.register_event("*", noop)
    await manager.connect()
    await asyncio.wait_for(done, 120)
    manager.close()
    return count


async def timed(
    reader: Callable[[int, int], Awaitable[int]], stream: bytes, expected: int, rounds: int
) -> float:
    best = float("inf")
    for _ in range(rounds):
        server, port = await serve_once(stream)
        start = time.perf_counter()
        got = await reader(port, expected)
        elapsed = time.perf_counter() - start
        server.close()
        await server.wait_closed()
        assert got >= expected, (reader.__name__, got, expected)
        best = min(best, elapsed)
    return expected / best


async def run(args: argparse.Namespace) -> None:
    stream, n, calls = build_stream(args.events)
    mix = collections.Counter(decode_frame(f).event for f in AmiFramer().feed(stream))
    print(
        f"stream: {n} events, {calls} calls, {len(stream) / 1e6:.1f} MB, "
        f"{header_lines_per_event(stream):.1f} header lines/event"
    )
    print("mix: " + ", ".join(f"{k} {v / n:.0%}" for k, v in mix.most_common(8)))
    bare = await timed(bare_loop, stream, n, args.rounds)
    ours = await timed(our_bridge, stream, n, args.rounds)
    arrived, ended = our_bridge.last_counts  # type: ignore[attr-defined]
    plain = await timed(plain_panoramisk, stream, n, args.rounds)
    print(f"bare readuntil+split loop : {bare:10,.0f} events/s")
    print(f"our bridge + translation  : {ours:10,.0f} events/s  ({arrived} calls arrived, {ended} ended)")
    print(f"plain panoramisk (no-op)  : {plain:10,.0f} events/s")
    print(
        f"ratio ours/bare {ours / bare:.2f} (target >= 0.5); panoramisk/bare {plain / bare:.2f}; "
        f"ours/panoramisk {ours / plain:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # The service's own logging, JSON lines, to nowhere: its cost is part of the bridge's.
    with open(os.devnull, "w") as devnull:
        configure_logging("info", devnull)
        asyncio.run(run(args))


if __name__ == "__main__":
    main()

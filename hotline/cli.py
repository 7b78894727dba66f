"""Command line: ``hotline serve | demo | simulate-pbx | tickets | report | taxonomy``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from hotline.log import configure_logging
from hotline.settings import Settings, SettingsError, load_settings


def _run_until_signalled(main: Callable[[asyncio.Event], Coroutine[Any, Any, int]]) -> int:
    """Run ``main(stop)``; SIGINT/SIGTERM set ``stop`` so it can shut down cleanly."""

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await main(stop)

    return asyncio.run(runner())


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.app import run_service

    async def main(stop: asyncio.Event) -> int:
        await run_service(settings, stop)
        return 0

    return _run_until_signalled(main)


def _simulate_pbx(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.pbx_bridge.simulator import run_simulator

    async def main(stop: asyncio.Event) -> int:
        task = asyncio.create_task(run_simulator(settings.simulator, settings.dialplan), name="simulator")
        await stop.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return 0

    return _run_until_signalled(main)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.demo import DemoOptions, run_demo

    options = DemoOptions(
        minutes=args.minutes,
        speed=args.speed,
        seed=args.seed,
        live=not args.no_live,
        calls_per_minute=args.rate,
        log_file=args.log_file,
    )

    async def main(stop: asyncio.Event) -> int:
        return await run_demo(settings, options, stop)

    return _run_until_signalled(main)


def _health(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.health import is_healthy

    healthy = is_healthy(Path(settings.health.file), settings.health.interval_s)
    print("healthy: AMI connected" if healthy else "unhealthy: AMI not connected")
    return 0 if healthy else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="hotline", description="12345 hotline call-queue server")
    parser.add_argument("--config", type=Path, help="TOML file layered over config/hotline.toml")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service against the configured Asterisk")
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="the service against the built-in PBX simulator, with traffic")
    demo.add_argument("--minutes", type=float, default=10.0, help="simulated minutes of traffic")
    demo.add_argument("--speed", type=float, default=20.0, help="speed-up factor of the simulated clock")
    demo.add_argument("--seed", type=int, default=12345, help="random seed of the traffic")
    demo.add_argument("--rate", type=float, default=1.8, help="inbound calls per simulated minute")
    demo.add_argument("--log-file", type=Path, help="keep the service's JSON log lines in this file")
    demo.add_argument("--no-live", action="store_true", help="no live view on stderr")
    demo.set_defaults(func=_demo)

    health = sub.add_parser("health", help="exit 0 while the running service is connected to Asterisk")
    health.set_defaults(func=_health)

    sim = sub.add_parser("simulate-pbx", help="run the AMI-speaking PBX simulator alone")
    sim.set_defaults(func=_simulate_pbx)

    try:
        from hotline.tickets.cli import register
    except ImportError:  # pragma: no cover - tickets not installed in a trimmed build
        pass
    else:
        register(sub)

    # `hotline report` (issue 13): intervals, agents, tickets, trends.
    from hotline.reports.cli import register as register_report

    register_report(sub)
    return parser


def _config_first(argv: list[str]) -> list[str]:
    """Accept ``--config PATH`` after the subcommand too (``hotline serve --config site.toml``)."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return [arg, argv[i + 1], *argv[:i], *argv[i + 2 :]]
        if arg.startswith("--config="):
            return [arg, *argv[:i], *argv[i + 1 :]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hotline`` console script."""
    parser = build_parser()
    args = parser.parse_args(_config_first(list(sys.argv[1:] if argv is None else argv)))
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log.level)
    result: int = args.func(args, settings)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

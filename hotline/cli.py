"""Command line: ``hotline serve | demo | simulate-pbx | tickets | report | taxonomy | calls | db``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import typing
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
        await run_service(settings, stop, clock_speed=args.clock_speed, clock_start=args.clock_start)
        return 0

    return _run_until_signalled(main)


def _clock_start(text: str) -> tuple[float, float]:
    """``START@ANCHOR``: simulated POSIX seconds ``START`` at wall-clock second ``ANCHOR``."""
    start, sep, anchor = text.partition("@")
    try:
        return float(start), float(anchor if sep else start)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected START@ANCHOR (POSIX seconds), got {text!r}") from exc


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
        db=args.db,
        mqtt=not args.no_mqtt,
    )

    async def main(stop: asyncio.Event) -> int:
        return await run_demo(settings, options, stop)

    return _run_until_signalled(main)


def _health(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.health import is_healthy, unhealthy_reason

    path, interval_s = Path(settings.health.file), settings.health.interval_s
    healthy = is_healthy(path, interval_s)
    print("healthy: AMI connected" if healthy else f"unhealthy: {unhealthy_reason(path, interval_s)}")
    return 0 if healthy else 1


# ---- MQTT clients (hotline.bus): `hotline agent`, `hotline wallboard` -------------------------


def _mqtt_address(args: argparse.Namespace, settings: Settings) -> tuple[str, int, str]:
    mqtt = settings.mqtt
    return args.host or mqtt.host, args.port or mqtt.port, args.prefix or mqtt.topic_prefix


def _agent(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from hotline.bus.terminal import run_agent

    host, port, prefix = _mqtt_address(args, settings)
    password = args.password or os.environ.get("HOTLINE_AGENT_PASSWORD", "")
    return asyncio.run(run_agent(host, port, args.id, password, prefix))


def _wallboard(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from hotline.bus.terminal import run_wallboard

    host, port, prefix = _mqtt_address(args, settings)
    password = args.password or os.environ.get("HOTLINE_WALLBOARD_PASSWORD", "")
    try:
        return asyncio.run(run_wallboard(host, port, args.user, password, prefix, updates=args.updates))
    except KeyboardInterrupt:
        return 0


def _add_mqtt_clients(sub: Any) -> None:
    for name, helptext, func in (
        ("agent", "an agent's terminal desktop over MQTT (state, screen-pops, keys)", _agent),
        ("wallboard", "the live queue board over MQTT", _wallboard),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--host", help="broker host (default: [mqtt] host)")
        p.add_argument("--port", type=int, help="broker port (default: [mqtt] port)")
        p.add_argument("--prefix", help="topic prefix (default: [mqtt] topic_prefix)")
        p.add_argument("--password", help="MQTT password (else $HOTLINE_AGENT_PASSWORD or ..._WALLBOARD_...)")
        if name == "agent":
            p.add_argument("--id", required=True, help="the agent id (its MQTT username)")
        else:
            p.add_argument("--user", default="wallboard", help="MQTT username (wallboard or supervisor)")
            p.add_argument("--updates", type=int, default=0, help="stop after this many updates (0 = never)")
        p.set_defaults(func=func)


# ---- bad input and unusable files: one line on stderr, exit 2 (issue 9) ----------------------

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), not the usage text."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _undecodable_argument(argv: Sequence[str]) -> str | None:
    """The first argument that is not valid UTF-8 (Python keeps its bytes as surrogates)."""
    for i, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return (
                f"argument {i} is not valid UTF-8 text ({arg.encode('utf-8', 'backslashreplace').decode()!r})"
            )
    return None


def _operator_error(exc: BaseException) -> str | None:
    """The one line for an error the operator can fix (an unusable store, a bad data file, a
    file that cannot be read), searched through exception groups; None for anything else."""
    from hotline.store.errors import StoreError
    from hotline.tickets.errors import TicketError

    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            line = _operator_error(inner)
            if line is not None:
                return line
        return None
    if isinstance(exc, StoreError | TicketError | SettingsError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return None


def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        result: int = args.func(args, settings)
    except Exception as exc:
        line = _operator_error(exc)
        if line is None:
            raise
        print(f"hotline: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return result


# ---- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(prog="hotline", description="12345 hotline call-queue server")
    parser.add_argument("--config", type=Path, help="TOML file layered over config/hotline.toml")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service against the configured Asterisk")
    # A sped-up clock, for tests and demos against the simulator (never in production).
    serve.add_argument("--clock-speed", type=float, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--clock-start", type=_clock_start, default=None, help=argparse.SUPPRESS)
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="the service against the built-in PBX simulator, with traffic")
    demo.add_argument("--minutes", type=float, default=10.0, help="minutes of traffic, in simulated time")
    demo.add_argument("--speed", type=float, default=20.0, help="speed-up factor of the simulated clock")
    demo.add_argument("--seed", type=int, default=12345, help="random seed of the traffic")
    demo.add_argument("--rate", type=float, default=1.8, help="inbound calls per simulated minute")
    demo.add_argument("--log-file", type=Path, help="keep the service's JSON log lines in this file")
    demo.add_argument("--no-live", action="store_true", help="no live view on stderr")
    demo.add_argument("--db", type=Path, help="keep the SQLite store here (for `hotline report` afterwards)")
    demo.add_argument("--no-mqtt", action="store_true", help="no private broker: agents log in by autologin")
    demo.set_defaults(func=_demo)

    health = sub.add_parser("health", help="exit 0 while the running service is connected to Asterisk")
    health.set_defaults(func=_health)

    sim = sub.add_parser("simulate-pbx", help="run the AMI-speaking PBX simulator alone")
    sim.set_defaults(func=_simulate_pbx)

    _add_mqtt_clients(sub)

    try:
        from hotline.tickets.cli import register
    except ImportError:  # pragma: no cover - tickets not installed in a trimmed build
        pass
    else:
        register(typing.cast("argparse._SubParsersAction[argparse.ArgumentParser]", sub))

    # -- call records (issue 8): ``hotline calls list|show`` --
    from hotline.calls_cli import register as register_calls

    register_calls(sub)

    # -- escalations (issue 11) --
    from hotline.escalation.cli import register as register_escalations

    register_escalations(typing.cast("argparse._SubParsersAction[argparse.ArgumentParser]", sub))

    # -- reports (issue 13): ``hotline report`` --
    from hotline.reports.cli import register as register_report

    register_report(typing.cast("argparse._SubParsersAction[argparse.ArgumentParser]", sub))

    # -- the store's schema (issue 12): ``hotline db migrate|status``, SQLite or PostgreSQL --
    from hotline.db_cli import register as register_db

    register_db(sub)
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
    arguments = list(sys.argv[1:] if argv is None else argv)
    undecodable = _undecodable_argument(arguments)
    if undecodable is not None:
        print(f"hotline: {undecodable}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args = parser.parse_args(_config_first(arguments))
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    configure_logging(settings.log.level)
    return _run_command(args, settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

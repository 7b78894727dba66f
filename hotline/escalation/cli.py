"""CLI: ``hotline escalations list|show|figures|watch``.

Reads (and, for the watch list, writes) the store; the running service is not needed.  The watch
list takes a number on the command line and stores only its keyed hash (HMAC with
``[escalation] secret``), so the number itself is never written anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from datetime import date, datetime

from hotline.escalation.model import Level
from hotline.escalation.signals import WatchList
from hotline.log import configure_logging
from hotline.settings import Settings
from hotline.store import StoreError
from hotline.store.escalations import EscalationStore
from hotline.store.factory import open_store

EXIT_REFUSED = 1
EXIT_USAGE = 2


def _run(settings: Settings, body: Callable[[EscalationStore], Awaitable[int]]) -> int:
    configure_logging(settings.log.level, stream=sys.stderr)  # stdout carries the output

    async def main() -> int:
        async with open_store(settings.store) as store:  # SQLite or PostgreSQL (issue 12)
            return await body(EscalationStore(store))

    try:
        return asyncio.run(main())
    except StoreError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def _when(at: float | None, tz: zoneinfo.ZoneInfo) -> str:
    return datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d %H:%M:%S") if at is not None else "-"


def _list(args: argparse.Namespace, settings: Settings) -> int:
    tz = zoneinfo.ZoneInfo(settings.tickets.timezone)
    roles = [t.role for t in settings.escalation.roster]

    async def body(escalations: EscalationStore) -> int:
        alerts = await escalations.list_alerts(open_only=args.open, limit=args.limit)
        print(
            f"{'alert':<11} {'raised':<19} {'level':<9} {'state':<12} {'with':<15} "
            f"{'call':<18} {'ticket':<22} reasons"
        )
        for a in alerts:
            role = roles[min(a.tier, len(roles) - 1)] if roles else str(a.tier)
            subject = a.call_id or (a.incident_id or "-")
            print(
                f"{a.alert_id:<11} {_when(a.raised_at, tz):<19} {a.level.label:<9} {a.state.value:<12} "
                f"{role:<15} {subject:<18} {a.ticket_id or '-':<22} {'; '.join(a.reasons)}"
            )
        print(f"{len(alerts)} alert(s)")
        return 0

    return _run(settings, body)


def _show(args: argparse.Namespace, settings: Settings) -> int:
    tz = zoneinfo.ZoneInfo(settings.tickets.timezone)

    async def body(escalations: EscalationStore) -> int:
        alert = await escalations.alert(args.alert)
        if alert is None:
            print(f"hotline: no alert {args.alert}", file=sys.stderr)
            return EXIT_REFUSED
        print(f"{alert.alert_id}  {alert.kind.value}  {alert.level.label}  {alert.state.value}")
        print(
            f"  raised {_when(alert.raised_at, tz)}  call {alert.call_id or '-'}  "
            f"ticket {alert.ticket_id or '-'}"
        )
        if alert.incident_id:
            print(f"  incident {alert.incident_id}")
        if alert.deadline_at is not None:
            print(f"  to acknowledge by {_when(alert.deadline_at, tz)}")
        if alert.acknowledged_at is not None:
            print(f"  acknowledged by {alert.acknowledged_by} at {_when(alert.acknowledged_at, tz)}")
        print("  signals:")
        for at, source, level, detail in await escalations.signals(alert.alert_id):
            print(f"    {_when(at, tz)}  {source:<15} {level:<9} {detail}")
        print("  history:")
        for at, event, tier, role, supervisor in await escalations.events(alert.alert_id):
            print(f"    {_when(at, tz)}  {event:<12} tier {tier} {role} ({supervisor})")
        return 0

    return _run(settings, body)


def _figures(args: argparse.Namespace, settings: Settings) -> int:
    tz = zoneinfo.ZoneInfo(settings.tickets.timezone)
    start = datetime.combine(args.day, datetime.min.time(), tz).timestamp()
    end = start + 86_400.0 * args.days

    async def body(escalations: EscalationStore) -> int:
        f = await escalations.figures(start, end)
        print(
            f"escalations {args.day} (+{args.days} d): raised {f.raised}  "
            f"by level {dict(sorted(f.by_level.items()))}"
        )
        for (source, level), count in sorted(f.by_reason_level.items()):
            print(f"  {source:<15} {level:<9} {count}")
        median = f"{f.median_ack_s:.0f} s" if f.median_ack_s is not None else "-"
        print(
            f"acknowledged {f.acknowledged} (in time {f.acknowledged_in_time})  "
            f"re-escalated {f.reescalated}  unacknowledged at the top {f.exhausted}  "
            f"median time to acknowledge {median}  incidents {f.incidents}"
        )
        return 0

    return _run(settings, body)


def _watch_add(args: argparse.Namespace, settings: Settings) -> int:
    try:
        level = Level.parse(args.level)
    except ValueError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return EXIT_USAGE
    digits = "".join(ch for ch in args.number if ch.isdigit())
    if not 5 <= len(digits) <= 20:
        print("hotline: watch add: expected a phone number", file=sys.stderr)
        return EXIT_USAGE
    watch = WatchList(settings.escalation.secret.reveal().encode("utf-8"))
    entry = watch.entry_for(args.number, level, args.reason)

    async def body(escalations: EscalationStore) -> int:
        await escalations.add_watch(entry, time.time())
        print(
            f"watch list: added {entry.digest[:16]}… ({level.label}); a running service reads it within 30 s"
        )
        return 0

    return _run(settings, body)


def _watch_list(args: argparse.Namespace, settings: Settings) -> int:
    async def body(escalations: EscalationStore) -> int:
        entries = await escalations.watch_entries()
        for e in entries:
            print(f"{e.digest[:16]}…  {e.level.label:<9} {e.reason}")
        print(
            f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} (keyed hashes; numbers are not stored)"
        )
        return 0

    return _run(settings, body)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a day like 2026-11-28, got {text!r}") from exc


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``escalations`` to the ``hotline`` command."""
    esc = subparsers.add_parser(
        "escalations", help="urgent/sensitive alerts: list, show, figures, watch list"
    )
    sub = esc.add_subparsers(dest="escalations_command", required=True)

    p = sub.add_parser("list", help="newest alerts first")
    p.add_argument("--open", action="store_true", help="only alerts not yet acknowledged")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=_list)

    p = sub.add_parser("show", help="one alert with its signals and history")
    p.add_argument("alert", help="e.g. ESC-000042")
    p.set_defaults(func=_show)

    p = sub.add_parser("figures", help="raised by reason and level, acknowledgement, incidents")
    p.add_argument("--day", type=_day, default=date.today())
    p.add_argument("--days", type=int, default=1)
    p.set_defaults(func=_figures)

    watch = sub.add_parser("watch", help="the watch list (numbers kept only as keyed hashes)")
    wsub = watch.add_subparsers(dest="watch_command", required=True)
    p = wsub.add_parser("add", help="flag every call from this number")
    p.add_argument("number")
    p.add_argument("--level", default="sensitive", help="urgent or sensitive")
    p.add_argument("--reason", default="", help="why (no personal data)")
    p.set_defaults(func=_watch_add)
    p = wsub.add_parser("list", help="the entries (hashes only)")
    p.set_defaults(func=_watch_list)

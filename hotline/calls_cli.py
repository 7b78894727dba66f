"""Call records for people: ``hotline calls list --day YYYY-MM-DD [--json] [--reveal]`` and
``hotline calls show CALL_ID``.

One line (or one JSON object) per call, from the same store query the daily report counts
(``Store.calls_between``).  The caller's number is masked unless ``--reveal`` is given.  A call
whose end was not seen (the service was down or the PBX away when it ended) says so:
``end_uncertain`` with the window between ``last_seen`` and ``ended``, and no talk time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import zoneinfo
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

from hotline.log import configure_logging, mask_number
from hotline.settings import Settings
from hotline.store import CallRecord, StoreError
from hotline.store.factory import AnyStore as Store
from hotline.store.factory import open_store
from hotline.store.postgres import PgStore
from hotline.tickets.cli import CENTRE_NEEDS_POSTGRESQL

EXIT_NOT_FOUND = 1


def _day(text: str) -> date | str:
    if text in ("today", "yesterday"):  # as ``hotline report --day`` takes them
        return text
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-11-28 (or today, yesterday), got {text!r}"
        ) from exc


def _iso(at: float | None, tz: zoneinfo.ZoneInfo) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, tz).isoformat(timespec="milliseconds")


def call_view(
    call: CallRecord, tickets: list[str], tz: zoneinfo.ZoneInfo, *, reveal: bool = False
) -> dict[str, Any]:
    """The fields a person reads about one call (the caller masked unless ``reveal``)."""
    return {
        "call_id": call.call_id,
        "kind": call.direction.value,
        "caller": call.caller_number if reveal else mask_number(call.caller_number),
        "priority": call.priority,
        "state": call.state,
        "arrived": _iso(call.arrived_at, tz),
        "offered": _iso(call.offered_at, tz),
        "answered": _iso(call.answered_at, tz),
        "ended": _iso(call.ended_at, tz),
        "wait_s": None if call.wait_s is None else round(call.wait_s, 3),
        "talk_s": None if call.talk_s is None else round(call.talk_s, 3),
        "agent": call.agent_id,
        "outcome": call.outcome.value if call.outcome is not None else None,
        "offers": call.offers,
        "end_uncertain": call.end_uncertain,
        "last_seen": _iso(call.last_seen_at, tz) if call.end_uncertain else None,
        "tickets": tickets,
    }


def _line(view: dict[str, Any]) -> str:
    def show(value: object) -> str:
        return "-" if value is None else str(value)

    arrived = view["arrived"] or view["offered"]
    uncertain = f" end_uncertain(after {view['last_seen']})" if view["end_uncertain"] else ""
    return (
        f"{view['call_id']}  {view['kind']:<8}  {view['caller']:<13}  {show(view['priority']):<9}  "
        f"{show(arrived)}  wait={show(view['wait_s'])}  talk={show(view['talk_s'])}  "
        f"agent={show(view['agent'])}  {show(view['outcome'] or view['state'])}{uncertain}  "
        f"tickets={','.join(view['tickets']) or '-'}"
    )


async def _tickets_of(store: Store, call_id: str) -> list[str]:
    links = await store.links_for_call(call_id)
    numbers = await store.ticket_numbers(link.ticket_id for link in links)
    return [numbers[link.ticket_id] for link in links if link.ticket_id in numbers]


def _run(settings: Settings, body: Callable[[Store], Awaitable[int]]) -> int:
    configure_logging(settings.log.level, stream=sys.stderr)  # stdout carries the output
    s = settings.store

    async def main() -> int:
        async with open_store(s) as store:
            return await body(store)

    try:
        return asyncio.run(main())
    except StoreError as exc:
        print(f"hotline calls: {exc}", file=sys.stderr)
        return 2


def _list(args: argparse.Namespace, settings: Settings) -> int:
    tz = zoneinfo.ZoneInfo(settings.tickets.timezone)
    today = datetime.now(tz).date()
    day: date = (
        args.day
        if isinstance(args.day, date)
        else today - timedelta(days=1)
        if args.day == "yesterday"
        else today
    )
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)

    async def body(store: Store) -> int:
        if args.centre is not None and not isinstance(store, PgStore):
            print(CENTRE_NEEDS_POSTGRESQL, file=sys.stderr)
            return 2
        window = (start.timestamp(), end.timestamp())
        calls = (
            await store.calls_between(*window, centre=args.centre)
            if isinstance(store, PgStore)
            else await store.calls_between(*window)
        )
        for call in calls:
            view = call_view(call, await _tickets_of(store, call.call_id), tz, reveal=args.reveal)
            print(json.dumps(view, ensure_ascii=False) if args.json else _line(view))
        return 0

    return _run(settings, body)


def _show(args: argparse.Namespace, settings: Settings) -> int:
    tz = zoneinfo.ZoneInfo(settings.tickets.timezone)

    async def body(store: Store) -> int:
        call = await store.get_call(args.call_id)
        if call is None:
            print(f"hotline calls: no call {args.call_id!r}", file=sys.stderr)
            return EXIT_NOT_FOUND
        view = call_view(call, await _tickets_of(store, call.call_id), tz, reveal=args.reveal)
        if args.json:
            print(json.dumps(view, ensure_ascii=False))
        else:
            for key, value in view.items():
                print(f"{key:<14} {'-' if value is None or value == [] else value}")
        return 0

    return _run(settings, body)


def register(subparsers: Any) -> None:
    """Add ``calls list`` and ``calls show`` to the ``hotline`` command."""
    calls = subparsers.add_parser("calls", help="call records: one line or JSON object per call")
    sub = calls.add_subparsers(dest="calls_command", required=True)
    listing = sub.add_parser("list", help="the calls of one day (by arrival, callbacks by start)")
    listing.add_argument("--day", type=_day, help="the day (YYYY-MM-DD, today or yesterday; default today)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument("--reveal", action="store_true", help="show callers' numbers unmasked")
    listing.add_argument("--centre", help="only this instance's calls (PostgreSQL; default: the province)")
    listing.set_defaults(func=_list)
    show = sub.add_parser("show", help="one call's record")
    show.add_argument("call_id", help="the call's id (Asterisk's Linkedid)")
    show.add_argument("--json", action="store_true", help="as one JSON object")
    show.add_argument("--reveal", action="store_true", help="show the caller's number unmasked")
    show.set_defaults(func=_show)

"""``hotline report``: the report of a day or a range, as text, CSV, JSON, HTML and PNG."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import zoneinfo
from datetime import date, datetime, timedelta
from pathlib import Path

from hotline.log import configure_logging
from hotline.reports.compute import build_report
from hotline.reports.load import load_with_previous
from hotline.reports.model import INTERVALS_MIN, Report, ReportOptions
from hotline.settings import Settings
from hotline.store import Store, StoreError
from hotline.tickets.errors import TicketError
from hotline.tickets.taxonomy import Taxonomy, load_taxonomy

EXIT_USAGE = 2


def _day(text: str) -> date | str:
    if text in ("today", "yesterday"):
        return text
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-11-28 (or today, yesterday), got {text!r}"
        ) from exc


def _resolve(value: date | str | None, today: date) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return today if value == "today" else today - timedelta(days=1)


def options_from_args(args: argparse.Namespace, settings: Settings, now: float) -> ReportOptions:
    """The range and thresholds asked for (``--day`` or ``--from/--to``; default today)."""
    tz = zoneinfo.ZoneInfo(settings.tickets.timezone)
    today = datetime.fromtimestamp(now, tz).date()
    day = _resolve(args.day, today)
    first = _resolve(args.from_day, today)
    last = _resolve(args.to_day, today)
    if day is not None and (first is not None or last is not None):
        raise ValueError("give --day or --from/--to, not both")
    if day is not None:
        first = last = day
    elif first is None and last is None:
        first = last = today
    elif first is None or last is None:
        first = last = first or last
    assert first is not None and last is not None
    return ReportOptions(
        first_day=first,
        last_day=last,
        tz=tz,
        interval_min=args.interval or settings.report.interval_min,
        threshold_s=settings.queue.service_level_threshold_s,
        short_abandon_s=settings.report.short_abandon_s,
        service_level_target=settings.report.service_level_target,
        top_n=settings.report.top_classifications,
        overdue_limit=settings.report.overdue_limit,
        now=now,
    )


async def make_report(settings: Settings, options: ReportOptions, taxonomy: Taxonomy) -> Report:
    """Read the range (and the previous one) from the configured store and compute the report."""
    from hotline.tickets.cli import open_store

    async with open_store(settings) as store:
        if not isinstance(store, Store):  # issue 12: the report reads the SQLite tables so far
            raise StoreError("hotline report reads the SQLite store only; [store] url names PostgreSQL")
        current, previous = await load_with_previous(store, options)
    return build_report(current, options, taxonomy, previous=previous)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.reports.formats import render_json, render_text, write_csv
    from hotline.tickets.service import resolve_data_path

    configure_logging(settings.log.level, stream=sys.stderr)
    try:
        options = options_from_args(args, settings, time.time())
    except ValueError as exc:
        print(f"hotline: report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        taxonomy = load_taxonomy(resolve_data_path(settings.tickets.taxonomy_file))
        report = asyncio.run(make_report(settings, options, taxonomy))
    except (TicketError, StoreError) as exc:
        print(f"hotline: report: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(render_json(report))
    else:
        sys.stdout.write(render_text(report))
    done = sys.stderr if args.json else sys.stdout
    if args.csv is not None:
        paths = write_csv(report, args.csv)
        print(f"CSV: {len(paths)} files in {args.csv}", file=done)
    if args.html is not None or args.chart is not None:
        from hotline.reports.charts import NO_CJK_FONT, ChartUnavailable, all_charts, find_cjk_font
        from hotline.reports.charts import intervals_chart as interval_png
        from hotline.reports.html import render_html

        try:
            font = find_cjk_font()
            notes = [] if font is not None else [NO_CJK_FONT]
            if font is None:
                print(f"hotline: report: {NO_CJK_FONT}", file=sys.stderr)  # once per run
            if args.chart is not None:
                args.chart.parent.mkdir(parents=True, exist_ok=True)
                args.chart.write_bytes(interval_png(report, font))
                print(f"chart: {args.chart}", file=done)
            if args.html is not None:
                args.html.parent.mkdir(parents=True, exist_ok=True)
                page = render_html(report, all_charts(report, font), notes)
                args.html.write_text(page, encoding="utf-8")
                print(f"HTML: {args.html}", file=done)
        except ChartUnavailable as exc:
            print(f"hotline: report: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report`` to the ``hotline`` command."""
    p = subparsers.add_parser(
        "report",
        help="intervals, agents, tickets and trends of a day or a range (text, CSV, JSON, HTML)",
    )
    p.add_argument("--day", type=_day, help="one day: YYYY-MM-DD, today or yesterday (default today)")
    p.add_argument(
        "--from", dest="from_day", type=_day, metavar="DAY", help="first day of a range (--to defaults to it)"
    )
    p.add_argument(
        "--to", dest="to_day", type=_day, metavar="DAY", help="last day of a range (--from defaults to it)"
    )
    p.add_argument(
        "--interval", type=int, choices=INTERVALS_MIN, help="interval length in minutes (report.interval_min)"
    )
    p.add_argument("--csv", type=Path, metavar="DIR", help="write one CSV per section (UTF-8 with BOM)")
    p.add_argument("--json", action="store_true", help="print JSON (one key per section) instead of text")
    p.add_argument("--html", type=Path, metavar="FILE", help="write one self-contained HTML page")
    p.add_argument("--chart", type=Path, metavar="PATH", help="write the interval chart as a PNG")
    p.set_defaults(func=_report)

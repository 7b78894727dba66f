"""Ticket store benchmark: prints figures, never asserts (targets: >= 5,000 tickets/s, sweep < 1 s).

1. **Tickets created per second**, through ``TicketService.create`` exactly as an agent's request
   goes: duplicate check (a read), ticket number, clocks from the working-day calendar, and one
   atomic write of the ticket, its clocks, its ``opened`` call link and its ``accept`` audit row,
   acknowledged only once committed (WAL, ``synchronous = FULL``: durable).  Many agents create at
   once, so writes share commits (group commit); the same load with one commit per write
   (``max_batch = 1``) is the baseline, and the ratio is printed.
2. **One SLA sweep over 1,000,000 open tickets**: the tickets are imported in bulk (accepted over
   the last 200 working days, 5,000 a day, none of their clocks met; earlier sweeps' marks already
   made).  The sweep runs at 00:00:30 on a working day, when one day's clocks fall due at once
   (the worst moment of the day): every warning and breach is committed (breaches also open
   supervision: a ticket update and an audit row each) and logged as a JSON line.  A second sweep
   a minute later (nothing due: the steady state) is timed too.

Run: ``python bench/tickets.py [--tickets 20000] [--open 1000000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sys
import tempfile
import time
import zoneinfo
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import structlog

from hotline.log import processors
from hotline.store import Store
from hotline.tickets.deadlines import DeadlineCalculator
from hotline.tickets.model import (
    Action,
    Channel,
    LinkRole,
    Ticket,
    TicketChange,
    TicketLink,
    TicketState,
    TicketType,
    Transition,
)
from hotline.tickets.service import Created, TicketDraft, TicketService, project_root
from hotline.tickets.sla import due_now
from hotline.tickets.taxonomy import Level, Taxonomy, load_taxonomy
from hotline.tickets.workdays import WorkingCalendar

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
TYPES = [TicketType.COMPLAINT, TicketType.HELP, TicketType.CONSULTATION, TicketType.REPORT, TicketType.SUGGESTION]


def _log_to(stream: io.StringIO) -> None:
    """The service's JSON log lines (with masking), written to memory."""
    structlog.configure(
        processors=[*processors(), structlog.processors.JSONRenderer(ensure_ascii=False)],
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )


def _service(store: Store, taxonomy: Taxonomy, calendar: WorkingCalendar, now: float) -> TicketService:
    return TicketService(store, taxonomy, calendar, tz=TZ, clock=lambda: now, sweep_batch=20_000)


async def bench_create(
    workdir: Path, taxonomy: Taxonomy, calendar: WorkingCalendar, count: int, agents: int, max_batch: int
) -> tuple[float, Store]:
    """Create ``count`` tickets with ``agents`` concurrent creators; returns (tickets/s, store)."""
    items = [n.code for n in taxonomy if n.level is Level.RESPONSIBILITY_ITEM]
    now = datetime(2026, 11, 27, 10, tzinfo=TZ).timestamp()
    path = workdir / f"create-{max_batch}.db"
    rng = random.Random(12345)
    drafts = [
        TicketDraft(
            ticket_type=rng.choice(TYPES),
            channel=Channel.PHONE,
            classification=rng.choice(items),
            location="沈阳市皇姑区三台子街道",
            description="共享单车堆放在人行道上，行人无法通过",
            request="尽快清理",
            citizen_name="王小明",
            citizen_number=f"139{i:08d}",
        )
        for i in range(count)
    ]
    async with Store.open(path, synchronous="full", max_batch=max_batch) as store:
        service = _service(store, taxonomy, calendar, now)
        queue = list(reversed(drafts))

        async def agent(n: int) -> None:
            while queue:
                draft = queue.pop()
                outcome = await service.create(draft, actor=f"{1000 + n}", call_id=f"{now:.0f}.{len(queue)}")
                assert isinstance(outcome, Created)

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for n in range(agents):
                group.create_task(agent(n))
        elapsed = time.perf_counter() - started
        stats = store.stats
        rows = await store.list_tickets(limit=1)
        assert rows and rows[0].day_seq == count
    print(
        f"  max_batch={max_batch:<5} {count:>7,} tickets in {elapsed:6.2f} s = {count / elapsed:9,.0f} tickets/s"
        f"  ({stats.commits:,} commits, {stats.operations / max(stats.commits, 1):.1f} writes/commit)"
    )
    return count / elapsed, store


def _seed_changes(
    calc: DeadlineCalculator, day: date, ids: list[tuple[int, int]], classification: str, department: str
) -> list[TicketChange]:
    created = datetime(day.year, day.month, day.day, 10, tzinfo=TZ).timestamp()
    changes = []
    for i, (ticket_id, seq) in enumerate(ids):
        ticket_type = TicketType.COMPLAINT if i % 2 else TicketType.HELP
        ticket = Ticket(
            id=ticket_id,
            number=f"12345-{day:%Y%m%d}-{seq:06d}",
            accepted_on=day,
            day_seq=seq,
            created_at=created,
            updated_at=created,
            channel=Channel.PHONE,
            ticket_type=ticket_type,
            classification=classification,
            department=department,
            occurred="",
            location="沈阳市",
            description="共享单车占用人行道",
            current_situation="",
            request="清理",
            respondent="",
            citizen_name="王小明",
            citizen_number=f"138{ticket_id:08d}",
            state=TicketState.DISPATCHED,
            version=1,
            dispatched_at=created,
        )
        clocks = calc.plan(ticket_type, ticket_id, day, 1)
        accept = Transition(
            ticket_id=ticket_id,
            seq=1,
            at=created,
            actor="seed",
            action=Action.ACCEPT,
            from_state=None,
            to_state=TicketState.ACCEPTED,
        )
        link = TicketLink(ticket_id=ticket_id, call_id=f"{created:.0f}.{seq}", role=LinkRole.OPENED, at=created, actor="seed")
        changes.append(TicketChange(ticket=ticket, deadlines=tuple(clocks), transitions=(accept,), links=(link,)))
    return changes


def _premark(changes: list[TicketChange], before: float) -> list[TicketChange]:
    """The marks earlier sweeps made: what fell due before ``before`` is already warned/breached."""
    marked = []
    for change in changes:
        clocks = []
        for clock in change.deadlines:
            alerts = due_now([clock], before)
            clocks.append(replace(alerts[0].clock, version=1) if alerts else clock)
        marked.append(replace(change, deadlines=tuple(clocks)))
    return marked


async def bench_sweep(workdir: Path, taxonomy: Taxonomy, calendar: WorkingCalendar, open_tickets: int) -> None:
    calc = DeadlineCalculator(calendar, TZ)
    sweep_day = date(2026, 11, 27)  # a Friday
    now = datetime(sweep_day.year, sweep_day.month, sweep_day.day, 0, 0, 30, tzinfo=TZ).timestamp()
    previous_sweep = now - 60
    per_day = 5_000
    days = []
    day = sweep_day - timedelta(days=1)
    while len(days) * per_day < open_tickets:
        if calendar.is_workday(day):
            days.append(day)
        day -= timedelta(days=1)
    item = taxonomy.item("01010101")
    path = workdir / "sweep.db"
    started = time.perf_counter()
    async with Store.open(path, synchronous="off", max_batch=1) as store:
        left = open_tickets
        for day in reversed(days):
            n = min(per_day, left)
            left -= n
            ids = await store.allocate_ticket_identities(day, n)
            changes = _premark(_seed_changes(calc, day, ids, item.code, item.department or ""), previous_sweep)
            await store.import_changes(changes)
    print(
        f"  seeded {open_tickets:,} open tickets ({2 * open_tickets:,} clocks) over {len(days)} working days "
        f"in {time.perf_counter() - started:.0f} s"
    )
    logs = io.StringIO()
    _log_to(logs)
    async with Store.open(path, synchronous="full") as store:
        service = _service(store, taxonomy, calendar, now)
        result = await service.sla_sweep(at=now)
        lines = logs.getvalue().count("\n")
        print(
            f"  sweep at 00:00:30 over {open_tickets:,} open tickets: {result.seconds * 1000:7.0f} ms"
            f"  ({result.warnings:,} warnings, {result.breaches:,} breaches, {result.supervisions:,} supervisions"
            f" committed; {lines:,} log lines)"
        )
        again = await service.sla_sweep(at=now + 60)
        print(
            f"  next sweep a minute later:          {again.seconds * 1000:7.1f} ms"
            f"  ({again.warnings} warnings, {again.breaches} breaches: nothing repeated)"
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=20_000, help="tickets to create (group commit)")
    parser.add_argument("--baseline", type=int, default=2_000, help="tickets for the one-commit-per-write baseline")
    parser.add_argument("--agents", type=int, default=500, help="concurrent creators")
    parser.add_argument("--open", type=int, default=1_000_000, help="open tickets for the sweep")
    parser.add_argument("--keep", type=Path, help="keep the database files in this directory")
    args = parser.parse_args()
    _log_to(io.StringIO())
    taxonomy = load_taxonomy(project_root() / "config" / "taxonomy.csv")
    calendar = WorkingCalendar.load(project_root() / "config" / "calendar")
    with tempfile.TemporaryDirectory(prefix="bench-tickets-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print("tickets created per second (durable: WAL, synchronous=FULL; ticket + 2 clocks + link + audit row)")
        grouped, _ = await bench_create(workdir, taxonomy, calendar, args.tickets, args.agents, 2000)
        single, _ = await bench_create(workdir, taxonomy, calendar, args.baseline, args.agents, 1)
        print(f"  group commit / one commit per write: {grouped / single:.1f}x   (target >= 5,000 tickets/s)")
        print()
        print("SLA sweep (target < 1 s)")
        await bench_sweep(workdir, taxonomy, calendar, args.open)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

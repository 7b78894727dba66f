"""Ticket store benchmark: prints figures, never asserts (targets: >= 5,000 tickets/s, sweep < 1 s).

1. **Tickets created per second**, through ``TicketService.create`` exactly as an agent's request
   goes: the call's record looked up (it must exist), then one transaction that decides the
   duplicate rule, allocates the ticket's id and day number from the database's counters and
   writes the ticket, its clocks, its ``opened`` call link and its ``accept`` audit row,
   acknowledged only once committed (WAL, ``synchronous = FULL``: durable).  Many agents create at
   once, so writes share commits (group commit).  Two baselines are measured in the same run (the
   machine is shared, so absolute rates move with its load; the ratios much less): the very rows
   the service committed, inserted again into an empty file by plain ``sqlite3`` with as many
   commits (the rate and the process CPU per ticket of both are printed, and their ratios), and
   the same load with one commit per write (``max_batch = 1``).  Then
   the same load from **4 writer processes on one file** (each with a quarter of the agents; the
   rate is all tickets over the time from the common start to the last one committed).
2. **One SLA sweep over 1,000,000 open tickets**: the tickets and their clocks are imported in
   bulk (accepted over the last 200 working days, 5,000 a day, dispatched, none of their clocks
   met; the marks of earlier sweeps already made).  The sweep runs at 00:00:30 on a working day,
   when a whole day's clocks fall due at once (the worst moment of the day): every warning and
   breach is committed (a breach also opens supervision: a ticket update and an audit row) and
   logged as a JSON line through the service's masking processors.  A sweep handles at most
   ``sla.sweep_batch`` clocks (the watcher goes on 0.2 s later while a backlog remains, so the
   event loop shared with the dispatcher is never held for long); the whole midnight backlog and
   the next, steady-state sweep are timed too.

3. **PostgreSQL** (``--store postgresql://user@host:5432/db``; password from ``PGPASSWORD``): the
   same creations by 1 and by 4 writer processes (instances of a province sharing the database),
   and the same sweep over 1,000,000 open tickets (imported with ``COPY``), printed beside the
   SQLite figures in the same run.  Each PostgreSQL run uses a fresh database ``<db>_bench_<n>``
   created beside the given one (needs CREATEDB) and dropped after.

Run: ``python -m bench.tickets [--tickets 20000] [--processes 4] [--open 1000000] [--keep DIR]
[--store URL]`` (1-2 min on a quiet machine, PostgreSQL included; longer under load).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import zoneinfo
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from hotline.events import Direction
from hotline.log import processors
from hotline.store import CallRecord, Store
from hotline.store.factory import AnyStore
from hotline.store.postgres import PgStore, redact
from hotline.tickets.deadlines import DeadlineCalculator
from hotline.tickets.model import Channel, Deadline, Ticket, TicketChange, TicketState, TicketType
from hotline.tickets.service import Created, TicketDraft, TicketService, project_root
from hotline.tickets.sla import due_now
from hotline.tickets.taxonomy import Level, Taxonomy, load_taxonomy
from hotline.tickets.workdays import WorkingCalendar

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
TYPES = [
    TicketType.COMPLAINT,
    TicketType.HELP,
    TicketType.CONSULTATION,
    TicketType.REPORT,
    TicketType.SUGGESTION,
]


def _log_to(stream: io.StringIO) -> None:
    """The service's JSON log lines (with masking), written to memory."""
    structlog.configure(
        processors=[*processors(), structlog.processors.JSONRenderer(ensure_ascii=False)],
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )


def _service(store: AnyStore, taxonomy: Taxonomy, calendar: WorkingCalendar, now: float) -> TicketService:
    return TicketService(store, taxonomy, calendar, tz=TZ, clock=lambda: now)


# ---- 1. creation ------------------------------------------------------------------------------


NOW = datetime(2026, 11, 27, 10, tzinfo=TZ).timestamp()


def _drafts(taxonomy: Taxonomy, count: int, first: int = 0) -> list[TicketDraft]:
    items = [n.code for n in taxonomy if n.level is Level.RESPONSIBILITY_ITEM]
    rng = random.Random(12345 + first)
    return [
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
        for i in range(first, first + count)
    ]


def _open(target: str, **options: object) -> contextlib.AbstractAsyncContextManager[AnyStore]:
    """The store named by ``target``: a SQLite file, or a ``postgresql://`` URL."""
    if target.startswith("postgresql"):
        return PgStore.open(target, **options)  # type: ignore[arg-type]
    options.pop("instance_id", None)  # one file, one centre
    return Store.open(target, synchronous="full", **options)  # type: ignore[arg-type]


async def _record_calls(store: AnyStore, call_ids: list[str]) -> None:
    """The calls the tickets are opened from (a ticket links only calls in the call records)."""
    for i in range(0, len(call_ids), 1000):
        await asyncio.gather(
            *(
                store.upsert_call(
                    CallRecord(
                        call_id=call_id,
                        direction=Direction.INBOUND,
                        caller_number="13900000000",
                        dnis="12345",
                        arrived_at=NOW,
                    )
                )
                for call_id in call_ids[i : i + 1000]
            )
        )


async def _create_all(
    service: TicketService, drafts: list[TicketDraft], call_ids: list[str], agents: int
) -> None:
    queue = list(reversed(list(zip(drafts, call_ids, strict=True))))

    async def agent(n: int) -> None:
        while queue:
            draft, call_id = queue.pop()
            outcome = await service.create(draft, actor=f"{1000 + n}", call_id=call_id)
            assert isinstance(outcome, Created)

    async with asyncio.TaskGroup() as group:
        for n in range(agents):
            group.create_task(agent(n))


async def bench_create(
    workdir: Path,
    taxonomy: Taxonomy,
    calendar: WorkingCalendar,
    count: int,
    agents: int,
    max_batch: int,
    *,
    raw_baseline: bool = False,
) -> float:
    """Create ``count`` tickets with ``agents`` concurrent creators; returns tickets per second."""
    drafts = _drafts(taxonomy, count)
    call_ids = [f"{NOW:.0f}.{i}" for i in range(count)]
    async with Store.open(
        workdir / f"create-{max_batch}.db", synchronous="full", max_batch=max_batch
    ) as store:
        await _record_calls(store, call_ids)
        service = _service(store, taxonomy, calendar, NOW)
        commits_before, operations_before = store.stats.commits, store.stats.operations
        started, cpu_started = time.perf_counter(), time.process_time()
        await _create_all(service, drafts, call_ids, agents)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        commits = store.stats.commits - commits_before
        operations = store.stats.operations - operations_before
        newest = await store.list_tickets(limit=1)
        assert newest and newest[0].day_seq == count
    rate = count / elapsed
    print(
        f"  max_batch={max_batch:<5} {count:>7,} tickets in {elapsed:6.2f} s = {rate:7,.0f} tickets/s"
        f"  ({commits:,} commits, {operations / max(commits, 1):.1f} writes per commit;"
        f" CPU {cpu / count * 1e6:.0f} us per ticket)"
    )
    if raw_baseline:
        raw, raw_cpu = await asyncio.to_thread(
            _raw_insert_rate, workdir / f"create-{max_batch}.db", workdir / "raw.db", count, commits
        )
        print(
            f"  raw SQLite, same rows {count:>7,} tickets in {count / raw:6.2f} s = {raw:7,.0f} tickets/s"
            f"  ({commits:,} commits; executemany per table, nothing else;"
            f" CPU {raw_cpu * 1e6:.0f} us per ticket)"
        )
        print(
            f"  service vs raw SQLite inserts of its own rows: {rate / raw:.2f} of the rate,"
            f" {cpu / count / raw_cpu:.1f}x the CPU per ticket"
        )
    return rate


#: The tables one creation writes, parents first (the outbox: the ``created`` and ``linked`` events).
_CREATED_TABLES = ("tickets", "deadlines", "ticket_links", "transitions", "outbox")


def _raw_insert_rate(source: Path, target: Path, count: int, commits: int) -> tuple[float, float]:
    """The baseline measured in the same run: the rows ``count`` creations committed in
    ``source`` (tickets, clocks, links, audit rows, outbox rows) inserted again into an empty file
    with the same schema by plain ``sqlite3`` — one ``executemany`` per table and group, one
    commit per group, ``commits`` groups, the same pragmas (WAL, synchronous=FULL, foreign keys)
    — and nothing else (no duplicate rule, no counters, no Python objects).  Returns tickets/s
    and the process's CPU seconds per ticket (this thread is the only busy one then)."""
    with contextlib.closing(sqlite3.connect(source)) as src:
        schema = [r[0] for r in src.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")]
        version = src.execute("PRAGMA user_version").fetchone()[0]
        call_ids = [r[0] for r in src.execute("SELECT call_id FROM ticket_links")]
        calls = src.execute(
            "SELECT * FROM call_records WHERE call_id IN (SELECT call_id FROM ticket_links)"
        ).fetchall()
        per_ticket: dict[str, dict[int, list[tuple[object, ...]]]] = {}
        columns: dict[str, str] = {}
        for table in _CREATED_TABLES:
            cursor = src.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cursor.description]
            key = names.index("id" if table == "tickets" else "ticket_id") if table != "outbox" else -1
            rows = cursor.fetchall()
            groups: dict[int, list[tuple[object, ...]]] = {}
            if table == "outbox":  # seq is the database's; the ticket is named in the payload
                names = names[1:]
                payload = names.index("payload")
                for row in rows:
                    groups.setdefault(int(json.loads(row[1 + payload])["ticket_id"]), []).append(row[1:])
            else:
                for row in rows:
                    groups.setdefault(int(row[key]), []).append(row)
            per_ticket[table] = groups
            columns[table] = (
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            )
    assert len(call_ids) == count
    target.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(target, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        for sql in schema:
            if not sql.startswith("CREATE TABLE sqlite_"):
                conn.execute(sql)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("PRAGMA foreign_keys = ON")
        with conn:  # (not timed) the calls the links name
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO call_records VALUES ({', '.join('?' * len(calls[0]))})", calls)
        ids = sorted(per_ticket["tickets"])
        size = -(-len(ids) // max(commits, 1))
        started, cpu_started = time.perf_counter(), time.process_time()
        for i in range(0, len(ids), size):
            chunk = ids[i : i + size]
            conn.execute("BEGIN IMMEDIATE")
            for table in _CREATED_TABLES:
                groups = per_ticket[table]
                conn.executemany(columns[table], [row for t in chunk for row in groups.get(t, ())])
            conn.execute("COMMIT")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return count / elapsed, cpu / count


async def _worker(db: str, first: int, count: int, agents: int, start_at: float) -> None:
    """One of several writer processes: ``count`` tickets from ``start_at`` (epoch), then one
    JSON line ``{"count", "end"}`` on stdout."""
    taxonomy = load_taxonomy(project_root() / "config" / "taxonomy.csv")
    calendar = WorkingCalendar.load(project_root() / "config" / "calendar")
    drafts = _drafts(taxonomy, count, first)
    call_ids = [f"{NOW:.0f}.{i}" for i in range(first, first + count)]
    async with _open(db, instance_id=f"w{first}") as store:
        service = _service(store, taxonomy, calendar, NOW)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        await _create_all(service, drafts, call_ids, agents)
        print(json.dumps({"count": count, "end": time.time()}))


async def bench_processes(
    db: str, taxonomy: Taxonomy, count: int, agents: int, processes: int, label: str = "one file"
) -> float:
    """``count`` tickets from ``processes`` writer processes on one store (a SQLite file or a
    PostgreSQL URL); returns tickets/s."""
    async with _open(db) as store:
        await _record_calls(store, [f"{NOW:.0f}.{i}" for i in range(count)])
    share = count // processes
    start_at = time.time() + 5.0  # every process has loaded its data and opened the file by then
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.tickets",
            "--worker",
            str(db),
            str(p * share),
            str(share),
            str(max(agents // processes, 1)),
            repr(start_at),
            cwd=project_root(),
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        for p in range(processes)
    ]
    ends = []
    for proc in procs:
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"writer process failed ({proc.returncode})")
        ends.append(json.loads(out.decode().strip().splitlines()[-1])["end"])
    elapsed = max(ends) - start_at
    async with _open(db) as store:
        newest = await store.list_tickets(limit=1)
        assert newest and newest[0].day_seq == share * processes  # unique and contiguous
    rate = share * processes / elapsed
    print(
        f"  {processes} processes  {share * processes:>7,} tickets in {elapsed:6.2f} s = "
        f"{rate:7,.0f} tickets/s  ({label}; {max(agents // processes, 1)} agents per process)"
    )
    return rate


@contextlib.asynccontextmanager
async def fresh_database(url: str, suffix: str) -> AsyncIterator[str]:
    """A new database beside the one ``url`` names (dropped on leaving): its URL."""
    parts = urlsplit(url)
    name = f"{parts.path.strip('/')}_bench_{suffix}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# ---- 2. the SLA sweep -------------------------------------------------------------------------


def _clock_for(template: Deadline, ticket_id: int) -> Deadline:
    return Deadline(
        ticket_id=ticket_id,
        round=template.round,
        kind=template.kind,
        start_on=template.start_on,
        working_days=template.working_days,
        months=template.months,
        extension_days=template.extension_days,
        due_on=template.due_on,
        due_at=template.due_at,
        warn_at=template.warn_at,
        provisional=template.provisional,
        unknown_years=template.unknown_years,
        version=1,
        warned_at=template.warned_at,
        breached_at=template.breached_at,
    )


def _seed_changes(
    calc: DeadlineCalculator,
    day: date,
    ids: list[tuple[int, int]],
    item: tuple[str, str],
    marked_before: float,
) -> list[TicketChange]:
    """Open tickets accepted on ``day`` (dispatched, nothing met), with the marks that earlier
    sweeps (up to ``marked_before``) made on their clocks."""
    created = datetime(day.year, day.month, day.day, 10, tzinfo=TZ).timestamp()
    templates: dict[TicketType, list[Deadline]] = {}
    for ticket_type in (TicketType.COMPLAINT, TicketType.HELP):
        marked = []
        for clock in calc.plan(ticket_type, 0, day, 1):
            alerts = due_now([clock], marked_before)
            marked.append(alerts[0].clock if alerts else clock)
        templates[ticket_type] = marked
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
            classification=item[0],
            department=item[1],
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
        clocks = tuple(_clock_for(t, ticket_id) for t in templates[ticket_type])
        changes.append(TicketChange(ticket=ticket, deadlines=clocks))
    return changes


async def _seed(
    target: str, calendar: WorkingCalendar, taxonomy: Taxonomy, open_tickets: int, now: float
) -> None:
    calc = DeadlineCalculator(calendar, TZ)
    sweep_day = datetime.fromtimestamp(now, TZ).date()
    per_day = 5_000
    days: list[date] = []
    day = sweep_day - timedelta(days=1)
    while len(days) * per_day < open_tickets:
        if calendar.is_workday(day):
            days.append(day)
        day -= timedelta(days=1)
    node = taxonomy.item("01010101")
    item = (node.code, node.department or "")
    started = time.perf_counter()
    seeding = (
        PgStore.open(target, max_batch=1, write_timeout_s=600.0)
        if target.startswith("postgresql")
        else Store.open(target, synchronous="off", max_batch=1)
    )
    async with seeding as store:
        left = open_tickets
        pending: asyncio.Task[None] | None = None
        for day in reversed(days):
            n = min(per_day, left)
            left -= n
            ids = await store.allocate_ticket_identities(day, n)
            changes = _seed_changes(calc, day, ids, item, now - 60)  # the previous sweep ran a minute ago
            if pending is not None:
                await pending  # one import in flight while the next day is built
            pending = asyncio.create_task(store.import_changes(changes))
        if pending is not None:
            await pending
    print(
        f"  seeded {open_tickets:,} open tickets ({2 * open_tickets:,} clocks) accepted over {len(days)} "
        f"working days, in {time.perf_counter() - started:.0f} s"
    )


async def bench_sweep(
    target: str, taxonomy: Taxonomy, calendar: WorkingCalendar, open_tickets: int, logs: io.StringIO
) -> float:
    """Returns the time of the first (largest) sweep, in seconds."""
    sweep_day = date(2026, 11, 27)  # a Friday
    now = datetime(sweep_day.year, sweep_day.month, sweep_day.day, 0, 0, 30, tzinfo=TZ).timestamp()
    await _seed(target, calendar, taxonomy, open_tickets, now)
    async with _open(target, write_timeout_s=600.0) as store:
        service = _service(store, taxonomy, calendar, now)
        before = logs.getvalue().count("\n")
        cpu_started = time.process_time()
        first = await service.sla_sweep(at=now)
        cpu = time.process_time() - cpu_started
        lines = logs.getvalue().count("\n") - before
        print(
            f"  one sweep at 00:00:30 over {open_tickets:,} open tickets: {first.seconds * 1000:5.0f} ms"
            f" (CPU {cpu * 1000:.0f} ms)"
            f"  ({first.warnings:,} warnings, {first.breaches:,} breaches + supervisions committed,"
            f" {lines:,} log lines; at most {service.sweep_batch:,} clocks per sweep)"
        )
        sweeps, alerts, seconds, longest = 1, first.warnings + first.breaches, first.seconds, first.seconds
        result = first
        while result.more:
            result = await service.sla_sweep(at=now + sweeps * 0.2)
            sweeps += 1
            alerts += result.warnings + result.breaches
            seconds += result.seconds
            longest = max(longest, result.seconds)
        print(
            f"  the whole midnight backlog: {alerts:,} alerts in {sweeps} sweeps, {seconds:.2f} s of work"
            f" (longest sweep {longest * 1000:.0f} ms)"
        )
        again = await service.sla_sweep(at=now + 60)
        print(
            f"  the next sweep (steady state): {again.seconds * 1000:.1f} ms"
            f"  ({again.warnings} warnings, {again.breaches} breaches: nothing repeated)"
        )
    return first.seconds


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=20_000, help="tickets to create (group commit)")
    parser.add_argument(
        "--baseline", type=int, default=2_000, help="tickets for the one-commit-per-write run"
    )
    parser.add_argument("--agents", type=int, default=500, help="concurrent creators")
    parser.add_argument("--open", type=int, default=1_000_000, help="open tickets for the sweep")
    parser.add_argument("--keep", type=Path, help="keep the database files in this directory")
    parser.add_argument("--processes", type=int, default=4, help="writer processes on one file")
    parser.add_argument("--store", help="also PostgreSQL: postgresql://user@host:5432/db (PGPASSWORD)")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _log_to(io.StringIO())  # stdout carries the worker's result line
        db, first, count, agents, start_at = args.worker
        await _worker(db, int(first), int(count), int(agents), float(start_at))
        return 0
    logs = io.StringIO()
    _log_to(logs)
    taxonomy = load_taxonomy(project_root() / "config" / "taxonomy.csv")
    calendar = WorkingCalendar.load(project_root() / "config" / "calendar")
    with tempfile.TemporaryDirectory(prefix="bench-tickets-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(
            "tickets created per second (durable: WAL, synchronous=FULL; ticket + clocks + link + audit row)"
        )
        grouped = await bench_create(
            workdir, taxonomy, calendar, args.tickets, args.agents, 2000, raw_baseline=True
        )
        single = await bench_create(workdir, taxonomy, calendar, args.baseline, args.agents, 1)
        print(f"  group commit vs one commit per write: {grouped / single:.1f}x")
        print(f"  => {grouped:,.0f} tickets/s (target >= 5,000)")
        several = await bench_processes(
            str(workdir / "create-processes.db"), taxonomy, args.tickets, args.agents, args.processes
        )
        print(f"  => {several:,.0f} tickets/s from {args.processes} writer processes on one file")
        if args.store:
            print()
            print(f"PostgreSQL {redact(args.store)} (durable: commit waits for the WAL flush), same load")
            rates = {}
            for processes in (1, 4):
                async with fresh_database(args.store, f"w{processes}") as url:
                    rates[processes] = await bench_processes(
                        url, taxonomy, args.tickets, args.agents, processes, "PostgreSQL"
                    )
            print(
                f"  => PostgreSQL {rates[1]:,.0f} tickets/s with 1 writer process, {rates[4]:,.0f} with 4"
                f" (target >= 5,000 with 4); SQLite {grouped:,.0f} with 1, {several:,.0f} with"
                f" {args.processes}"
            )
        print()
        print("SLA sweep (SQLite)")
        sweep_s = await bench_sweep(str(workdir / "sweep.db"), taxonomy, calendar, args.open, logs)
        print(f"  => one sweep over {args.open:,} open tickets: {sweep_s:.2f} s (target < 1 s)")
        if args.store:
            print()
            print("SLA sweep (PostgreSQL)")
            async with fresh_database(args.store, "sweep") as url:
                pg_sweep_s = await bench_sweep(url, taxonomy, calendar, args.open, logs)
            print(
                f"  => one sweep over {args.open:,} open tickets: {pg_sweep_s:.2f} s on PostgreSQL,"
                f" {sweep_s:.2f} s on SQLite (target < 1 s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

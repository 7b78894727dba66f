"""Report benchmark: prints figures, never asserts (target: a month's report in < 2 s on SQLite).

Generates ``--days`` days (default 30) ending yesterday (``--through today``: today), and
``--before`` days (default 30) before them so the comparison with the previous range reads a real
month too, into a fresh SQLite file through the store's own writers.  Per day: ``--calls``
inbound calls (default 3,000, with waits, answers, abandons, short abandons, lost calls) and
callbacks; the agent state history those calls imply (60 agents: ready, offered, busy, wrap-up,
a lunch pause, a ring-no-answer now and then); ``--tickets`` tickets (default 500: types and
classifications from ``config/taxonomy.csv``, dispatched, some extended, returned, supervised,
reopened, evaluated and closed; clocks due a week later, met on time, late or not at all).

Then times ``hotline report --from FIRST --to LAST`` as the CLI runs it, phase by phase: the
store's reads (the range and the previous range of the same length, which the comparison needs),
the computation, the terminal text + JSON + CSV, and (apart, since it is drawing) the charts and
the HTML page.  Each phase runs ``--repeat`` times; the best and the median are printed.

Run: ``python -m bench.report [--days 30] [--before 30] [--calls 3000] [--tickets 500] [--db PATH]``.
``--db PATH`` keeps the generated file (e.g. to try ``hotline report`` on it:
``HOTLINE_STORE_PATH=PATH hotline report --day yesterday --html r.html``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import zoneinfo
from datetime import date, datetime, timedelta
from pathlib import Path

from hotline.events import Direction
from hotline.log import configure_logging
from hotline.reports.compute import build_report
from hotline.reports.load import load_with_previous
from hotline.reports.model import ReportOptions
from hotline.store import CallOutcome, CallRecord, Store
from hotline.store.reports import AgentStateEntry, log_agent_states
from hotline.tickets.model import (
    Action,
    Channel,
    Deadline,
    DeadlineKind,
    Ticket,
    TicketChange,
    TicketState,
    TicketType,
    Transition,
)
from hotline.tickets.taxonomy import Level, Taxonomy, load_taxonomy

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parent.parent
AGENTS = [str(1001 + i) for i in range(60)]


def _local(day: date, seconds: float) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=TZ).timestamp() + seconds


def _calls_and_history(
    day: date, n_calls: int, rng: random.Random, first_id: int
) -> tuple[list[CallRecord], list[AgentStateEntry]]:
    """A day of calls and the agent state changes they imply, 08:00-20:00."""
    calls: list[CallRecord] = []
    history: list[AgentStateEntry] = []
    per_agent = n_calls // len(AGENTS)
    n = first_id
    for agent in AGENTS:
        t = _local(day, 8 * 3600 + rng.uniform(0, 600))
        history.append(AgentStateEntry(agent, "ready", None, t))
        lunch_done = False
        for _ in range(per_agent):
            if not lunch_done and t > _local(day, 12 * 3600):
                history.append(AgentStateEntry(agent, "paused", "lunch", t))
                t += 3600
                history.append(AgentStateEntry(agent, "ready", None, t))
                lunch_done = True
            n += 1
            t += rng.expovariate(1 / 240)  # idle until the next call
            wait = rng.expovariate(1 / 14)
            arrived = t - wait
            call_id = f"{int(arrived)}.{n}"
            roll = rng.random()
            if roll < 0.07:  # abandoned (a third of them short) or lost: the agent stays ready
                short = roll < 0.025
                waited = rng.uniform(0.5, 4.9) if short else wait + rng.uniform(1, 60)
                lost = roll > 0.068
                calls.append(
                    CallRecord(
                        call_id=call_id,
                        direction=Direction.INBOUND,
                        caller_number=f"139{n:08d}",
                        dnis="12345",
                        arrived_at=arrived,
                        ended_at=arrived + waited,
                        wait_s=None if lost else waited,
                        outcome=CallOutcome.LOST if lost else CallOutcome.ABANDONED,
                    )
                )
                continue
            if roll < 0.08:  # ring-no-answer: paused, then ready again
                history.append(AgentStateEntry(agent, "offered", None, t - 5))
                history.append(AgentStateEntry(agent, "paused", "no_answer", t + 10))
                t += 120
                history.append(AgentStateEntry(agent, "ready", None, t))
                continue
            talk = rng.uniform(60, 400)
            wrap = rng.uniform(10, 60)
            history.append(AgentStateEntry(agent, "offered", None, t - 4))
            history.append(AgentStateEntry(agent, "busy_inbound", None, t))
            history.append(AgentStateEntry(agent, "wrap_up", None, t + talk))
            history.append(AgentStateEntry(agent, "ready", None, t + talk + wrap))
            calls.append(
                CallRecord(
                    call_id=call_id,
                    direction=Direction.INBOUND,
                    caller_number=f"139{n:08d}",
                    dnis="12345",
                    arrived_at=arrived,
                    offered_at=t - 4,
                    answered_at=t,
                    ended_at=t + talk,
                    wait_s=wait,
                    talk_s=talk,
                    agent_id=agent,
                    outcome=CallOutcome.ANSWERED,
                )
            )
            t += talk + wrap
        history.append(AgentStateEntry(agent, "logged_out", None, max(t, _local(day, 20 * 3600))))
    for i in range(n_calls // 15):  # return calls and follow-ups
        n += 1
        start = _local(day, rng.uniform(9 * 3600, 19 * 3600))
        reached = rng.random() < 0.7
        calls.append(
            CallRecord(
                call_id=f"{int(start)}.{n}",
                direction=Direction.CALLBACK,
                caller_number=f"139{n:08d}",
                dnis=f"139{n:08d}",
                offered_at=start,
                answered_at=start + 15 if reached else None,
                ended_at=start + (120 if reached else 30),
                talk_s=105 if reached else None,
                agent_id=AGENTS[i % len(AGENTS)] if reached else None,
                outcome=CallOutcome.ANSWERED if reached else CallOutcome.NO_ANSWER,
            )
        )
    return calls, history


def _tickets(
    day: date, ids: list[tuple[int, int]], items: list[tuple[str, str]], rng: random.Random
) -> list[TicketChange]:
    changes = []
    types = list(TicketType)
    satisfactions = ["satisfied", "satisfied", "basically_satisfied", "not_satisfied", "unreachable"]
    for ticket_id, seq in ids:
        created = _local(day, rng.uniform(8 * 3600, 20 * 3600))
        code, department = rng.choice(items)
        ticket_type = rng.choice(types)
        steps: list[tuple[Action, float, tuple[tuple[str, str], ...]]] = [
            (Action.ACCEPT, created, ()),
            (Action.DISPATCH, created + 1800, ()),
        ]
        roll = rng.random()
        for action, share in (
            (Action.EXTEND, 0.05),
            (Action.RETURN, 0.03),
            (Action.SUPERVISE, 0.05),
        ):
            if rng.random() < share:
                steps.append((action, created + rng.uniform(3600, 5 * 86400), ()))
        closed_at = None
        state = TicketState.DISPATCHED
        if roll < 0.4:
            answer = rng.choice(satisfactions)
            evaluated = created + rng.uniform(86400, 6 * 86400)
            steps.append((Action.EVALUATE, evaluated, (("satisfaction", answer),)))
            if answer == "not_satisfied":
                steps.append((Action.REOPEN, evaluated + 60, ()))
                state = TicketState.REOPENED
            else:
                closed_at = evaluated + 60
                steps.append((Action.CLOSE, closed_at, ()))
                state = TicketState.CLOSED
        transitions = tuple(
            Transition(
                ticket_id=ticket_id,
                seq=i + 1,
                at=at,
                actor="bench",
                action=action,
                from_state=None if i == 0 else TicketState.DISPATCHED,
                to_state=state,
                detail=detail,
            )
            for i, (action, at, detail) in enumerate(steps)
        )
        due_on = day + timedelta(days=7)
        due_at = _local(due_on + timedelta(days=1), 0)
        met = rng.random()
        clock = Deadline(
            ticket_id=ticket_id,
            round=1,
            kind=DeadlineKind.FEEDBACK,
            start_on=day,
            working_days=5,
            months=None,
            extension_days=0,
            due_on=due_on,
            due_at=due_at,
            warn_at=due_at - 2 * 86400,
            provisional=False,
            unknown_years=(),
            version=1,
            met_at=due_at - 86400 * 3 if met < 0.8 else (due_at + 86400 if met < 0.9 else None),
        )
        ticket = Ticket(
            id=ticket_id,
            number=f"12345-{day:%Y%m%d}-{seq:06d}",
            accepted_on=day,
            day_seq=seq,
            created_at=created,
            updated_at=max(at for _, at, _ in steps),
            channel=Channel.PHONE,
            ticket_type=ticket_type,
            classification=code,
            department=department,
            occurred="",
            location="沈阳市",
            description="样例",
            current_situation="",
            request="处理",
            respondent="",
            citizen_name="王小明",
            citizen_number=f"138{ticket_id:08d}",
            state=state,
            version=len(transitions),
            dispatched_at=created + 1800,
            closed_at=closed_at,
        )
        changes.append(TicketChange(ticket=ticket, transitions=transitions, deadlines=(clock,)))
    return changes


async def generate(path: Path, days: list[date], n_calls: int, n_tickets: int, taxonomy: Taxonomy) -> None:
    """Fill ``path`` with ``days`` of calls, agent state history and tickets."""
    rng = random.Random(12345)
    items = [(n.code, n.department or "") for n in taxonomy if n.level is Level.RESPONSIBILITY_ITEM]
    async with Store.open(path, synchronous="normal") as store:
        next_id = 0
        for day in days:
            calls, history = _calls_and_history(day, n_calls, rng, next_id)
            next_id += len(calls) + 1
            for i in range(0, len(calls), 1000):
                await asyncio.gather(*(store.upsert_call(c) for c in calls[i : i + 1000]))
            await log_agent_states(store, history)
            ids = await store.allocate_ticket_identities(day, n_tickets)
            await store.import_changes(_tickets(day, ids, items, rng))


def _stats(samples: list[float]) -> str:
    return f"best {min(samples) * 1000:7.1f} ms, median {statistics.median(samples) * 1000:7.1f} ms"


async def run(args: argparse.Namespace) -> None:
    configure_logging("warning", stream=sys.stderr)
    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.csv")
    today = datetime.now(TZ).date()
    last = today if args.through == "today" else today - timedelta(days=1)
    span = args.days + args.before
    generated = [last - timedelta(days=span - 1 - i) for i in range(span)]
    days = generated[args.before :]
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "report.db"
        t0 = time.perf_counter()
        await generate(path, generated, args.calls, args.tickets, taxonomy)
        print(
            f"generated {len(generated)} days ({args.before} of them before the range) x {args.calls} calls, "
            f"{args.tickets} tickets "
            f"into {path} in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 1e6:.0f} MB)"
        )
        options = ReportOptions(first_day=days[0], last_day=days[-1], tz=TZ, now=time.time())
        from hotline.reports.formats import render_json, render_text, write_csv

        reads, computes, formats, totals, drawing, baseline = [], [], [], [], [], []
        report = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            async with Store.open(path) as store:
                current, previous = await load_with_previous(store, options)
                reads.append(time.perf_counter() - t0)
                # Baseline, same run: the service's own read of the range's call records.
                b0 = time.perf_counter()
                await store.calls_between(options.start, options.end)
                baseline.append(time.perf_counter() - b0)
            t1 = time.perf_counter()
            report = build_report(current, options, taxonomy, previous=previous)
            t2 = time.perf_counter()
            render_text(report)
            render_json(report)
            write_csv(report, Path(tmp) / "csv")
            t3 = time.perf_counter()
            computes.append(t2 - t1)
            formats.append(t3 - t2)
            totals.append(reads[-1] + (t3 - t1))
        assert report is not None
        print(
            f"report {days[0]} .. {days[-1]}: {len(current.calls):,} call records, "
            f"{len(current.agent_history or []):,} agent state changes, {len(current.opened):,} tickets "
            f"opened, {len(current.steps):,} workflow steps, {len(current.clocks_due):,} clocks due"
        )
        print(f"  store reads (range + previous range)  {_stats(reads)}")
        print(f"  computation                           {_stats(computes)}")
        print(f"  text + JSON + CSV                     {_stats(formats)}")
        print(f"  total (target < 2 s)                  {_stats(totals)}")
        print(
            f"  baseline: Store.calls_between over the range  {_stats(baseline)}; "
            f"report / baseline (medians) {statistics.median(totals) / statistics.median(baseline):.2f}"
        )
        from hotline.reports.charts import all_charts, find_cjk_font
        from hotline.reports.html import render_html

        font = find_cjk_font()
        for _ in range(max(1, args.repeat // 2)):
            t0 = time.perf_counter()
            render_html(report, all_charts(report, font))
            drawing.append(time.perf_counter() - t0)
        print(f"  charts + HTML (apart; font {font.name if font else 'none'})  {_stats(drawing)}")
        c = report.totals.calls
        print(
            f"  figures: offered {c.offered:,}, SL1 {c.service_level or 0:.1%}, "
            f"SL2 {c.service_level_excl_short or 0:.1%}, ASA {c.asa_s or 0:.1f} s, AHT {c.aht_s or 0:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument(
        "--before", type=int, default=30, help="days generated before the range (its comparison reads them)"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", type=Path, help="keep the generated database here")
    parser.add_argument(
        "--through", choices=("yesterday", "today"), default="yesterday", help="the last day generated"
    )
    asyncio.run(run(parser.parse_args()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

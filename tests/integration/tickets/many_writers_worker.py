"""One writer process of ``test_many_writers``: creates tickets on a shared file and prints one
JSON line per ticket request (what came back), then exits 0; any error exits non-zero.

Run: ``python -m tests.integration.tickets.many_writers_worker DB WORKER COUNT`` (``DB``: a SQLite
file, or a ``postgresql://`` URL: then the worker is instance ``w<WORKER>`` of a province).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from hotline.log import configure_logging
from hotline.store import Store
from hotline.store.postgres import PgStore
from hotline.tickets.service import Created, TicketService
from hotline.tickets.taxonomy import load_taxonomy
from hotline.tickets.workdays import WorkingCalendar
from tests.integration.tickets.conftest import ROOT, TZ, at, draft

MATTERS = 50
AT = at(2026, 12, 1, 10, 0)  # a Tuesday: every ticket of the run is accepted on one day
CONCURRENCY = 16  # requests in flight per process (agents sharing one service)


def matter_number(i: int) -> str:
    """The citizen of shared matter ``i`` (0..49)."""
    return f"1390000{i:04d}"


def own_number(worker: int, i: int) -> str:
    """A citizen with a matter of their own."""
    return f"1371{worker:02d}{i:05d}"


async def main(db: Path | str, worker: int, count: int) -> None:
    configure_logging("warning", stream=sys.stderr)  # stdout carries the results
    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.csv")
    opened = (
        PgStore.open(str(db), instance_id=f"w{worker}")
        if str(db).startswith("postgresql")
        else Store.open(db)
    )
    async with opened as store:
        service = TicketService(store, taxonomy, WorkingCalendar.load(None), tz=TZ, clock=lambda: AT)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> dict[str, object]:
            shared = i % 2 == 0
            number = matter_number((i // 2 + worker * 7) % MATTERS) if shared else own_number(worker, i)
            call_id = f"{1764554400 + worker}.{i}"
            async with gate:
                outcome = await service.create(
                    draft(citizen_number=number), actor=f"w{worker}", call_id=call_id, external_call=True
                )
            if isinstance(outcome, Created):
                return {"call": call_id, "caller": number, "created": outcome.ticket.number}
            return {"call": call_id, "caller": number, "linked": outcome.existing[0].number}

        for result in await asyncio.gather(*(one(i) for i in range(count))):
            print(json.dumps(result))


if __name__ == "__main__":
    target = sys.argv[1]
    asyncio.run(
        main(target if target.startswith("postgresql") else Path(target), int(sys.argv[2]), int(sys.argv[3]))
    )

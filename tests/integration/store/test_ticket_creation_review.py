"""PostgreSQL creations numbered once a batch is decided (``_Txn.finish``): a refusal met while a
later creation settles the queue (SQLite: the same promise)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

from hotline.tickets.model import LinkRole, Ticket, TicketChange, TicketLink
from tests.integration.conftest import OpenStore
from tests.integration.store.conftest import ticket_change

DAY = date(2026, 12, 1)
Build = Callable[[int, int], TicketChange]
Duplicate = Callable[[Sequence[Ticket]], TicketChange | None]


class Refused(Exception):
    pass


def _for(caller: str, *, refuse: bool = False) -> Build:
    def build(i: int, s: int) -> TicketChange:
        if refuse:
            raise Refused(f"refused after seeing {i}/{s}")
        change = ticket_change(i, s, DAY)
        assert change.ticket is not None
        return replace(change, ticket=replace(change.ticket, citizen_number=caller))

    return build


def _link_to_oldest(call_id: str) -> Duplicate:
    def duplicate(open_tickets: Sequence[Ticket]) -> TicketChange | None:
        if not open_tickets:
            return None
        link = TicketLink(
            ticket_id=open_tickets[0].id, call_id=call_id, role=LinkRole.REPEAT, at=0.0, actor="t"
        )
        return TicketChange(ticket=None, links=(link,))

    return duplicate


async def test_a_build_refused_while_a_later_creation_settles_the_batch(
    tmp_path: Path, open_store: OpenStore
) -> None:
    """Caller A's creation is queued, then refused by its own ``build`` when caller A's second
    creation settles the queue: only that creation is refused, the others of the batch are made,
    and the day's numbers stay contiguous."""
    a, b = "13900000001", "13900000002"
    async with open_store(tmp_path / "h.db") as store:
        results = await asyncio.gather(
            store.create_ticket(DAY, _for(a, refuse=True), citizen_number=a, duplicate=_link_to_oldest("c0")),
            store.create_ticket(DAY, _for(b), citizen_number=b, duplicate=_link_to_oldest("c1")),
            store.create_ticket(DAY, _for(a), citizen_number=a, duplicate=_link_to_oldest("c2")),
            return_exceptions=True,
        )
        assert store.stats.largest_batch == 3  # one batch
        assert isinstance(results[0], Refused), results
        assert isinstance(results[1], TicketChange) and results[1].ticket is not None, results
        assert isinstance(results[2], TicketChange) and results[2].ticket is not None, results
        made = await store.list_tickets(accepted_on=DAY, limit=100)
        assert sorted(t.day_seq for t in made) == [1, 2]
        following = await store.create_ticket(DAY, _for("13900000003"))
        assert following.ticket is not None and following.ticket.day_seq == 3

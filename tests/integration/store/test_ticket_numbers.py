"""Ticket ids and day numbers come from the database inside the creating transaction: a creation
that fails or is refused uses no number (no gap), and a batch replayed after another write's
failure keeps the numbers contiguous."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from hotline.store import Store, StoreIntegrityError
from hotline.store.errors import StoreMissingReference
from hotline.tickets.model import LinkRole, TicketChange, TicketLink
from tests.integration.store.conftest import ticket_change

DAY = date(2026, 12, 1)


class Refused(Exception):
    pass


def _refuse(ticket_id: int, day_seq: int) -> TicketChange:
    raise Refused(f"refused after seeing {ticket_id}/{day_seq}")


async def _seqs(store: Store) -> list[int]:
    return sorted(t.day_seq for t in await store.list_tickets(accepted_on=DAY, limit=1000))


async def test_a_refused_or_failed_creation_leaves_no_gap(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "h.db") as store:
        await store.create_ticket(DAY, lambda i, s: ticket_change(i, s, DAY))
        with pytest.raises(Refused):
            await store.create_ticket(DAY, _refuse)
        with pytest.raises(StoreMissingReference):
            await store.create_ticket(
                DAY, lambda i, s: ticket_change(i, s, DAY), recorded_call="no-such-call"
            )
        # A ticket whose rows break a constraint (its link names a ticket that does not exist).
        broken = lambda i, s: TicketChange(  # noqa: E731
            ticket=ticket_change(i, s, DAY).ticket,
            links=(TicketLink(ticket_id=999_999, call_id="c", role=LinkRole.OPENED, at=0.0, actor="t"),),
        )
        with pytest.raises(StoreIntegrityError):
            await store.create_ticket(DAY, broken)
        last = await store.create_ticket(DAY, lambda i, s: ticket_change(i, s, DAY))
        assert last.ticket is not None and last.ticket.day_seq == 2
        assert await _seqs(store) == [1, 2]


async def test_numbers_stay_contiguous_when_a_batch_is_replayed(tmp_path: Path) -> None:
    """Creations share a commit with a write that fails: the batch is replayed one operation at
    a time, and the counters roll back with the failed attempt."""
    async with Store.open(tmp_path / "h.db") as store:
        bad_link = TicketLink(ticket_id=424_242, call_id="x", role=LinkRole.REPEAT, at=0.0, actor="t")
        results = await asyncio.gather(
            *(store.create_ticket(DAY, lambda i, s: ticket_change(i, s, DAY)) for _ in range(20)),
            store.add_link(bad_link),
            *(store.create_ticket(DAY, lambda i, s: ticket_change(i, s, DAY)) for _ in range(20)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, StoreIntegrityError) for r in results) == 1
        assert store.stats.replays >= 1
        assert await _seqs(store) == list(range(1, 41))

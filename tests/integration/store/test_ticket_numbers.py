"""Ticket ids and day numbers come from the database inside the creating transaction: a creation
that fails or is refused uses no number (no gap), and a batch replayed after another write's
failure keeps the numbers contiguous — on SQLite and on PostgreSQL (where a batch's numbers are
allocated only once all its creations are decided)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from hotline.store import StoreIntegrityError
from hotline.store.errors import StoreMissingReference
from hotline.store.factory import AnyStore
from hotline.tickets.model import LinkRole, Ticket, TicketChange, TicketLink
from tests.integration.conftest import OpenStore
from tests.integration.store.conftest import ticket_change

DAY = date(2026, 12, 1)


class Refused(Exception):
    pass


def _refuse(ticket_id: int, day_seq: int) -> TicketChange:
    raise Refused(f"refused after seeing {ticket_id}/{day_seq}")


async def _seqs(store: AnyStore) -> list[int]:
    return sorted(t.day_seq for t in await store.list_tickets(accepted_on=DAY, limit=1000))


async def test_a_refused_or_failed_creation_leaves_no_gap(tmp_path: Path, open_store: OpenStore) -> None:
    async with open_store(tmp_path / "h.db") as store:
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


async def test_numbers_stay_contiguous_when_a_batch_is_replayed(
    tmp_path: Path, open_store: OpenStore
) -> None:
    """Creations share a commit with a write that fails: the batch is replayed one operation at
    a time, and the counters roll back with the failed attempt."""
    async with open_store(tmp_path / "h.db") as store:
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


async def test_a_creation_refused_inside_a_batch_leaves_no_gap(tmp_path: Path, open_store: OpenStore) -> None:
    """The refusal comes from ``build`` itself, amid creations committed together."""
    async with open_store(tmp_path / "h.db") as store:
        results = await asyncio.gather(
            *(
                store.create_ticket(DAY, _refuse if n == 4 else lambda i, s: ticket_change(i, s, DAY))
                for n in range(10)
            ),
            return_exceptions=True,
        )
        assert store.stats.largest_batch == 10
        assert [type(r).__name__ for r in results].count("Refused") == 1
        assert await _seqs(store) == list(range(1, 10))
        ids = sorted(t.id for t in await store.list_tickets(accepted_on=DAY, limit=1000))
        assert ids == list(range(ids[0], ids[0] + 9))


def _link_to_oldest(call_id: str) -> object:
    def duplicate(open_tickets: Sequence[Ticket]) -> TicketChange | None:
        if not open_tickets:
            return None
        link = TicketLink(
            ticket_id=open_tickets[0].id, call_id=call_id, role=LinkRole.REPEAT, at=0.0, actor="t"
        )
        return TicketChange(ticket=None, links=(link,))

    return duplicate


async def test_one_citizen_twice_in_one_batch_makes_one_ticket(tmp_path: Path, open_store: OpenStore) -> None:
    """Creations committed together: the second for a citizen sees the first (created in the same
    transaction) and links to it; other citizens' tickets are numbered around it, in order."""
    callers = ["13900000001", "13900000002", "13900000001", "13900000003", "13900000001"]

    def build_for(caller: str, call_id: str) -> object:
        def build(i: int, s: int) -> TicketChange:
            change = ticket_change(i, s, DAY, call_id=call_id)
            assert change.ticket is not None
            return replace(change, ticket=replace(change.ticket, citizen_number=caller))

        return build

    async with open_store(tmp_path / "h.db") as store:
        results = await asyncio.gather(
            *(
                store.create_ticket(
                    DAY,
                    build_for(caller, f"c{n}"),  # type: ignore[arg-type]
                    citizen_number=caller,
                    duplicate=_link_to_oldest(f"c{n}"),  # type: ignore[arg-type]
                )
                for n, caller in enumerate(callers)
            )
        )
        assert store.stats.largest_batch == len(callers)  # all in one transaction
        created = [r.ticket for r in results if r.ticket is not None]
        assert [t.citizen_number for t in created] == ["13900000001", "13900000002", "13900000003"]
        assert [t.day_seq for t in created] == [1, 2, 3]
        first = created[0]
        assert [k.call_id for k in results[2].links] == ["c2"] and results[2].links[0].ticket_id == first.id
        assert sorted(k.call_id for k in await store.links(first.id)) == ["c0", "c2", "c4"]
        assert await _seqs(store) == [1, 2, 3]

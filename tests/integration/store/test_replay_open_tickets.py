"""A creation replayed one by one whose rows fail is forgotten with its savepoint: a later
creation for the same caller in the replay does not link to the ticket that was never written."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date
from pathlib import Path

from hotline.tickets.model import LinkRole, TicketChange, TicketLink
from tests.integration.conftest import OpenStore
from tests.integration.store.test_ticket_creation_review import _for, _link_to_oldest

DAY = date(2026, 12, 1)


async def test_a_replay_forgets_a_creation_whose_rows_failed(tmp_path: Path, open_store: OpenStore) -> None:
    a = "13900000001"

    def broken(i: int, s: int) -> TicketChange:
        change = _for(a)(i, s)
        bad = TicketLink(ticket_id=999_999, call_id="c", role=LinkRole.OPENED, at=0.0, actor="t")
        return replace(change, links=(bad,))

    async with open_store(tmp_path / "h.db") as store:
        results = await asyncio.gather(
            store.create_ticket(DAY, broken, citizen_number=a, duplicate=_link_to_oldest("c0")),
            store.create_ticket(DAY, _for(a), citizen_number=a, duplicate=_link_to_oldest("c1")),
            return_exceptions=True,
        )
        assert type(results[0]).__name__ == "StoreIntegrityError", results
        assert isinstance(results[1], TicketChange) and results[1].ticket is not None, results
        assert [t.citizen_number for t in await store.open_tickets_for_caller(a)] == [a]

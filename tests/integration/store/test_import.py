"""Bulk import (``import_changes``): the rows of tickets reserved with
``allocate_ticket_identities`` go in at once; on PostgreSQL (``COPY``) the planner's statistics
are refreshed once an import has half filled a table, so the SLA sweep's keyed updates are
planned as index lookups right after a large import."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hotline.store.errors import StoreTimeout
from hotline.store.postgres import PgStore
from tests.integration.conftest import OpenStore
from tests.integration.store.conftest import ticket_change
from tests.postgres import PrivatePostgres

DAY = date(2026, 11, 27)


async def test_imported_tickets_are_stored_and_numbered(tmp_path: Path, open_store: OpenStore) -> None:
    async with open_store(tmp_path / "h.db") as store:
        ids = await store.allocate_ticket_identities(DAY, 30)
        await store.import_changes([ticket_change(i, s, DAY) for i, s in ids])
        stored = await store.list_tickets(accepted_on=DAY, limit=100)
        assert sorted(t.day_seq for t in stored) == list(range(1, 31))
        after = await store.create_ticket(DAY, lambda i, s: ticket_change(i, s, DAY))
        assert after.ticket is not None and after.ticket.day_seq == 31
        assert len(await store.transitions(ids[0][0])) == 1


async def _analysed(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT relname, analyze_count FROM pg_stat_user_tables "
            "WHERE relname IN ('tickets', 'transitions')"
        )
        return {str(r[0]): int(r[1]) for r in rows}
    finally:
        await conn.close()


async def test_an_import_that_half_fills_a_table_refreshes_its_statistics(
    postgres_server: PrivatePostgres,
) -> None:
    url = postgres_server.create_database("imports")
    async with PgStore.open(url) as store:
        ids = await store.allocate_ticket_identities(DAY, 200)
        await store.import_changes([ticket_change(i, s, DAY) for i, s in ids])
        first = await _analysed(url)
        assert first == {"tickets": 1, "transitions": 1}  # never analysed before: analysed now
        ids = await store.allocate_ticket_identities(DAY, 10)
        await store.import_changes([ticket_change(i, s, DAY) for i, s in ids])
        assert await _analysed(url) == first  # 10 more rows of 210: the statistics still hold


async def test_a_failed_statistics_refresh_leaves_the_import_committed(
    postgres_server: PrivatePostgres, monkeypatch: pytest.MonkeyPatch, logs: list[dict[str, Any]]
) -> None:
    url = postgres_server.create_database("imports_failing_analyze")
    async with PgStore.open(url) as store:
        real_run = store._run

        async def run(what: str, fn: Any) -> Any:
            if what == "refresh statistics":  # a fault the test cannot cause otherwise
                raise StoreTimeout(what, 0.1)
            return await real_run(what, fn)

        monkeypatch.setattr(store, "_run", run)
        ids = await store.allocate_ticket_identities(DAY, 20)
        await store.import_changes([ticket_change(i, s, DAY) for i, s in ids])
        assert len(await store.list_tickets(accepted_on=DAY, limit=100)) == 20
    assert [e["event"] for e in logs if e["event"].startswith("store.analy")] == ["store.analyze_failed"]

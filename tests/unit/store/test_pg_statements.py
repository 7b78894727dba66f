"""The PostgreSQL store's statements built from the tables' columns (no database needed)."""

from __future__ import annotations

from datetime import date

from hotline.store.postgres import sql as q


def test_a_plain_insert_copies_rows_with_days_as_dates_and_flags_as_booleans() -> None:
    row = (
        7,
        1,
        "closing",
        "2026-11-27",
        15,
        None,
        0,
        "2026-12-18",
        1.5,
        1.0,
        1,
        "",
        None,
        None,
        None,
        2.0,
        1,
    )
    assert q.INSERT_DEADLINE.columns[:4] == ("ticket_id", "round", "kind", "start_on")
    (copied,) = q.INSERT_DEADLINE.copy_records([row])
    assert copied[3] == date(2026, 11, 27) and copied[7] == date(2026, 12, 18)
    assert copied[10] is True and copied[6] == 0  # provisional: a flag; extension_days: a number
    assert copied[:3] == row[:3] and copied[8:10] == row[8:10]


def test_an_insert_with_a_conflict_rule_is_never_copied() -> None:
    """``COPY`` cannot skip a row that exists: such inserts stay statements."""
    assert q.INSERT_LINK.columns and not q.INSERT_LINK_IF_NEW.columns
    assert not q.MARK_ATTENTION.columns and not q.UPDATE_TICKET.columns


def test_rows_without_typed_columns_are_copied_as_they_are() -> None:
    row = ("te-1", "ticket_event", "hotline/tickets/events", "{}", 1.0)
    assert q.INSERT_OUTBOX.copy_records([row]) == [row]

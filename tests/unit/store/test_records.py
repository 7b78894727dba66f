"""Store records keep personal data out of their repr; statements batch in order."""

from __future__ import annotations

from hotline.events import Direction
from hotline.store.records import CallbackKind, CallRecord, NewCallback
from hotline.store.sqlite import _runs
from hotline.store.tickets import _INSERT_LINK, _INSERT_TICKET


def test_numbers_are_not_in_the_repr() -> None:
    call = CallRecord(call_id="1.1", direction=Direction.INBOUND, caller_number="13912345678", dnis="12345")
    callback = NewCallback(
        kind=CallbackKind.RETURN_CALL,
        number="13912345678",
        due_at=1.0,
        window_start="08:00",
        window_end="21:00",
        max_attempts=3,
        retry_spacing_s=900.0,
        created_at=0.0,
    )
    assert "13912345678" not in repr(call) and "13912345678" not in repr(callback)


def test_runs_merge_only_consecutive_statements_of_one_kind() -> None:
    stmts = [(_INSERT_TICKET, (1,)), (_INSERT_TICKET, (2,)), (_INSERT_LINK, (3,)), (_INSERT_TICKET, (4,))]
    runs = _runs(stmts)
    assert [(sql.table, rows) for sql, rows in runs] == [
        ("tickets", [(1,), (2,)]),
        ("ticket_links", [(3,)]),
        ("tickets", [(4,)]),
    ]

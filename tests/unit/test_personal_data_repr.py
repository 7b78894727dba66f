"""A repr() (in an exception, a log line, a failed assertion) never shows a citizen's number or name."""

from __future__ import annotations

import dataclasses

import pytest

from hotline.events import CallArrived, Direction
from hotline.queue.commands import StartCallback
from hotline.queue.inputs import ScheduleCallback
from hotline.queue.work import Callback, CallbackKind, CallOutcome, CallRecord, WaitingCall
from hotline.store.records import CallbackRecord, NewCallback
from hotline.store.records import CallRecord as StoreCallRecord
from hotline.tickets.model import FollowUpRequest, Ticket
from hotline.tickets.service import TicketDraft

NUMBER = "13912345678"
NAME = "欧阳修"

OBJECTS = [
    CallArrived("1.1", "PJSIP/trunk-00000001", "1.1", NUMBER, NAME, priority="urgent"),
    WaitingCall("1.1", "PJSIP/trunk-00000001", NUMBER, caller_name=NAME),
    Callback("cb-1", CallbackKind.RETURN_CALL, NUMBER, due_at=1.0, created_at=0.0),
    CallRecord("1.1", Direction.INBOUND, NUMBER, 0.0, 1.0, CallOutcome.ABANDONED),
    StartCallback("cb-1", 1, "1005", "PJSIP/1005", NUMBER, CallbackKind.FOLLOW_UP, None, 20, 30),
    ScheduleCallback("cb-1", CallbackKind.FOLLOW_UP, NUMBER, due_at=1.0),
]


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: type(o).__name__)
def test_the_repr_keeps_the_rest_but_not_the_number_or_name(obj: object) -> None:
    text = repr(obj)
    assert NUMBER not in text and NAME not in text
    assert "1.1" in text or "cb-1" in text  # the ids are still there to debug with
    # In an exception message too.
    assert NUMBER not in str(RuntimeError(obj)) and NUMBER not in repr(RuntimeError(obj))


def test_the_values_are_still_there_and_still_compared() -> None:
    call = OBJECTS[1]
    assert isinstance(call, WaitingCall)
    assert call.caller_number == NUMBER and call.caller_name == NAME
    assert call != dataclasses.replace(call, caller_number="13800000001")


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (CallArrived, {"caller_number", "caller_name"}),
        (WaitingCall, {"caller_number", "caller_name"}),
        (Callback, {"number"}),
        (CallRecord, {"number"}),
        (StartCallback, {"number"}),
        (ScheduleCallback, {"number"}),
        (StoreCallRecord, {"caller_number"}),
        (NewCallback, {"number"}),
        (CallbackRecord, {"number"}),
        (FollowUpRequest, {"number"}),
        (TicketDraft, {"citizen_number", "citizen_name"}),
        (Ticket, {"citizen_number", "citizen_name"}),  # its ``number`` is the ticket's
    ],
    ids=lambda v: v.__qualname__ if isinstance(v, type) else "",
)
def test_every_personal_field_is_kept_out_of_repr(cls: type, fields: set[str]) -> None:
    declared = {f.name: f for f in dataclasses.fields(cls)}
    for name in fields:
        assert not declared[name].repr, f"{cls.__name__}.{name}"

"""The outbox's payload encoder writes exactly what ``json.dumps`` writes."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hotline.store.outbox import (
    TICKET_EVENTS_TOPIC,
    encode_payload,
    message,
    new_event_id,
    ticket_event_entries,
)
from hotline.tickets.model import (
    Action,
    Channel,
    LinkRole,
    Ticket,
    TicketChange,
    TicketLink,
    TicketState,
    TicketType,
    Transition,
)

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and the infinities too (json.dumps writes them as NaN / Infinity)
    st.text(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@given(st.dictionaries(st.text(), _VALUES, max_size=8))
def test_payload_is_what_json_dumps_writes(body: dict[str, Any]) -> None:
    assert encode_payload(body) == json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def test_message_payload_carries_its_event_id_and_body() -> None:
    entry = message(
        "ticket_event", "tickets/events", {"ticket": "12345-20261127-000001", "at": 1.5}, 1.5, id_prefix="te"
    )
    assert json.loads(entry.payload) == {
        "v": 1,
        "event_id": entry.event_id,
        "ticket": "12345-20261127-000001",
        "at": 1.5,
    }
    assert entry.event_id.startswith("te-") and len(entry.event_id) == 3 + 32


def test_event_ids_differ() -> None:
    assert len({new_event_id("te") for _ in range(1000)}) == 1000


def _reference_entries(change: TicketChange, numbers: dict[int, str]) -> list[tuple[str, dict[str, Any]]]:
    """The ticket events as ``json.dumps`` of dicts wrote them (before the payloads were joined
    field by field): ``(kind, payload without its event id)``."""
    known = dict(numbers)
    if change.ticket is not None:
        known[change.ticket.id] = change.ticket.number
    out: list[tuple[str, dict[str, Any]]] = []
    for t in change.transitions:
        body: dict[str, Any] = {
            "v": 1,
            "type": "created" if t.action is Action.ACCEPT else "transitioned",
            "ticket": known.get(t.ticket_id),
            "ticket_id": t.ticket_id,
            "action": t.action.value,
            "from": t.from_state.value if t.from_state is not None else None,
            "to": t.to_state.value,
            "actor": t.actor,
            "at": t.at,
        }
        if change.ticket is not None and t.ticket_id == change.ticket.id:
            body["classification"] = change.ticket.classification
            body["ticket_type"] = change.ticket.ticket_type.value
        out.append(("ticket_event", body))
    for link in change.links:
        body = {
            "v": 1,
            "type": "linked",
            "ticket": known.get(link.ticket_id),
            "ticket_id": link.ticket_id,
            "call_id": link.call_id,
            "role": link.role.value,
            "actor": link.actor,
            "at": link.at,
        }
        out.append(("ticket_event", body))
    return out


@given(
    actor=st.text(max_size=8),
    call_id=st.text(max_size=12),
    at=st.floats(min_value=0, max_value=2e9),
    classification=st.text(max_size=10),
    with_ticket=st.booleans(),
    accept=st.booleans(),
)
def test_ticket_events_are_the_json_of_their_fields(
    actor: str, call_id: str, at: float, classification: str, with_ticket: bool, accept: bool
) -> None:
    ticket = Ticket(
        id=7,
        number="12345-20261127-000007",
        accepted_on=date(2026, 11, 27),
        day_seq=7,
        created_at=at,
        updated_at=at,
        channel=Channel.PHONE,
        ticket_type=TicketType.COMPLAINT,
        classification=classification,
        department="d",
        occurred="",
        location="l",
        description="d",
        current_situation="",
        request="r",
        respondent="",
        citizen_name="王小明",
        citizen_number="13900000001",
        state=TicketState.ACCEPTED,
        version=1,
    )
    audit = Transition(
        ticket_id=7,
        seq=1,
        at=at,
        actor=actor,
        action=Action.ACCEPT if accept else Action.DISPATCH,
        from_state=None if accept else TicketState.ACCEPTED,
        to_state=TicketState.ACCEPTED if accept else TicketState.DISPATCHED,
        reason="",
    )
    links = (
        TicketLink(ticket_id=7, call_id=call_id, role=LinkRole.OPENED, at=at, actor=actor),
        TicketLink(ticket_id=9, call_id=call_id, role=LinkRole.REPEAT, at=at, actor=actor),
    )
    change = TicketChange(ticket=ticket if with_ticket else None, transitions=(audit,), links=links)
    numbers = {9: "12345-20261126-000009"}
    entries = ticket_event_entries(change, numbers)
    expected = _reference_entries(change, numbers)
    assert [e.kind for e in entries] == [k for k, _ in expected]
    for entry, (_, body) in zip(entries, expected, strict=True):
        payload = json.loads(entry.payload)
        assert payload.pop("event_id") == entry.event_id
        assert payload == body
        assert entry.topic == TICKET_EVENTS_TOPIC
        assert entry.payload == encode_payload(
            {"v": 1, "event_id": entry.event_id, **{k: v for k, v in body.items() if k != "v"}}
        )


def test_event_ids_made_later_sort_later() -> None:
    """Time-ordered ids keep the outbox's unique index growing at its end."""
    first = new_event_id("te")
    time.sleep(0.002)
    later = [new_event_id("te") for _ in range(100)]
    assert all(first < other for other in later)
    assert all(len(i) == 3 + 32 and int(i[3:], 16) >= 0 for i in later)

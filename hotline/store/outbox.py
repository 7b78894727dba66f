"""The outbox: messages that must reach the MQTT bus, kept in the store until the broker has them.

A message that announces a change (a ticket event, an escalation alert) is written in the same
transaction as the change, so either both are committed or neither is.  The bus publishes the
rows in ``seq`` order with QoS 1 and deletes each once the broker acknowledged it
(:meth:`hotline.store.Store.ack_outbox`); a restart or a broker outage therefore loses none, and
a crash between the acknowledgement and the delete sends one again: receivers drop a duplicate
by its ``event_id``.

Topics are stored relative to ``[mqtt] topic_prefix`` (``tickets/events``), so a prefix change
never strands a row.  Payloads are JSON text, ``{"v": 1, "event_id": ..., ...}``; they carry no
citizen's number or name (the topics are shared by every desktop).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from hotline.tickets.model import Action, TicketChange

#: The outbox's topics (relative to the prefix).
TICKET_EVENTS_TOPIC = "tickets/events"
SUPERVISOR_ALERTS_TOPIC = "supervisors/alerts"

OUTBOX_COLUMNS = ("event_id", "kind", "topic", "payload", "created_at")
INSERT_OUTBOX_SQL = f"INSERT INTO outbox ({', '.join(OUTBOX_COLUMNS)}) VALUES (?, ?, ?, ?, ?)"
PENDING_OUTBOX_SQL = f"SELECT seq, {', '.join(OUTBOX_COLUMNS)} FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?"
DELETE_OUTBOX_SQL = "DELETE FROM outbox WHERE seq = ?"
COUNT_OUTBOX_SQL = "SELECT count(*) FROM outbox"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One message to publish: ``topic`` relative to the prefix, ``payload`` JSON text."""

    event_id: str
    kind: str
    topic: str
    payload: str
    created_at: float

    def row(self) -> tuple[Any, ...]:
        """The row's values, in :data:`OUTBOX_COLUMNS` order."""
        return (self.event_id, self.kind, self.topic, self.payload, self.created_at)


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """A stored outbox row not yet acknowledged by the broker (``seq``: its place in the order)."""

    seq: int
    entry: OutboxEntry


def new_event_id(prefix: str) -> str:
    """A unique id for a message (receivers drop duplicates by it): 32 hex digits, the
    millisecond of its making (48 bits) then 80 random bits, as a UUIDv7 orders them.

    Ids made one after another sort one after another, so the outbox's unique index on
    ``event_id`` grows at its end instead of at random pages (a creation writes two messages
    in its transaction: random ids made the index the dearest part of the outbox rows)."""
    return f"{prefix}-{time.time_ns() // 1_000_000 & 0xFFFFFFFFFFFF:012x}{os.urandom(10).hex()}"


def _json_value(value: Any) -> str:
    """``value`` as ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` writes it; the
    flat scalars of an event are written directly (a ticket's creation writes two messages inside
    the creating transaction, and ``json.dumps`` builds an encoder per call)."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_payload(body: dict[str, Any]) -> str:
    """A flat JSON object, byte for byte what ``json.dumps(body, ensure_ascii=False,
    separators=(",", ":"))`` makes (keys are strings)."""
    return "{" + ",".join([f"{encode_basestring(k)}:{_json_value(v)}" for k, v in body.items()]) + "}"


def message(kind: str, topic: str, body: dict[str, Any], at: float, *, id_prefix: str) -> OutboxEntry:
    """An outbox entry whose payload is ``{"v": 1, "event_id": ..., **body}``."""
    event_id = new_event_id(id_prefix)
    payload = encode_payload({"v": 1, "event_id": event_id, **body})
    return OutboxEntry(event_id, kind, topic, payload, at)


def ticket_event_entries(change: TicketChange, numbers: dict[int, str] | None = None) -> list[OutboxEntry]:
    """The ticket events a change announces: ``created`` (the ``accept`` audit row), ``transitioned``
    (every other audit row), ``linked`` (every call linked).  ``numbers`` names tickets the change
    does not carry itself (a bare link).

    The payloads are written field by field (the same text as :func:`message`; the enums are
    ``StrEnum``, written as their value): a creation runs this inside its transaction, so it is
    kept to string joins."""
    ticket = change.ticket
    known = numbers or {}
    entries: list[OutboxEntry] = []
    for t in change.transitions:
        kind = "created" if t.action is Action.ACCEPT else "transitioned"
        event_id = new_event_id("te")
        name = ticket.number if ticket is not None and t.ticket_id == ticket.id else known.get(t.ticket_id)
        tail = ""
        if ticket is not None and t.ticket_id == ticket.id:
            tail = (
                f',"classification":{_json_value(ticket.classification)}'
                f',"ticket_type":{encode_basestring(ticket.ticket_type)}'
            )
        payload = (
            f'{{"v":1,"event_id":"{event_id}","type":"{kind}","ticket":{_json_value(name)}'
            f',"ticket_id":{_json_value(t.ticket_id)},"action":{encode_basestring(t.action)}'
            f',"from":{"null" if t.from_state is None else encode_basestring(t.from_state)}'
            f',"to":{encode_basestring(t.to_state)},"actor":{_json_value(t.actor)}'
            f',"at":{_json_value(t.at)}{tail}}}'
        )
        entries.append(OutboxEntry(event_id, "ticket_event", TICKET_EVENTS_TOPIC, payload, t.at))
    for link in change.links:
        event_id = new_event_id("te")
        name = (
            ticket.number if ticket is not None and link.ticket_id == ticket.id else known.get(link.ticket_id)
        )
        payload = (
            f'{{"v":1,"event_id":"{event_id}","type":"linked","ticket":{_json_value(name)}'
            f',"ticket_id":{_json_value(link.ticket_id)},"call_id":{_json_value(link.call_id)}'
            f',"role":{encode_basestring(link.role)},"actor":{_json_value(link.actor)}'
            f',"at":{_json_value(link.at)}}}'
        )
        entries.append(OutboxEntry(event_id, "ticket_event", TICKET_EVENTS_TOPIC, payload, link.at))
    return entries


def pending_from_rows(rows: Sequence[Sequence[Any]]) -> list[PendingMessage]:
    """Rows of :data:`PENDING_OUTBOX_SQL` as values."""
    return [
        PendingMessage(int(r[0]), OutboxEntry(str(r[1]), str(r[2]), str(r[3]), str(r[4]), float(r[5])))
        for r in rows
    ]

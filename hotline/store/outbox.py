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
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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
    """A unique id for a message (receivers drop duplicates by it)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def message(kind: str, topic: str, body: dict[str, Any], at: float, *, id_prefix: str) -> OutboxEntry:
    """An outbox entry whose payload is ``{"v": 1, "event_id": ..., **body}``."""
    event_id = new_event_id(id_prefix)
    payload = json.dumps({"v": 1, "event_id": event_id, **body}, ensure_ascii=False, separators=(",", ":"))
    return OutboxEntry(event_id, kind, topic, payload, at)


def ticket_event_entries(change: TicketChange, numbers: dict[int, str] | None = None) -> list[OutboxEntry]:
    """The ticket events a change announces: ``created`` (the ``accept`` audit row), ``transitioned``
    (every other audit row), ``linked`` (every call linked).  ``numbers`` names tickets the change
    does not carry itself (a bare link)."""
    known = dict(numbers or {})
    if change.ticket is not None:
        known[change.ticket.id] = change.ticket.number
    entries: list[OutboxEntry] = []
    for t in change.transitions:
        kind = "created" if t.action is Action.ACCEPT else "transitioned"
        body: dict[str, Any] = {
            "type": kind,
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
        entries.append(message("ticket_event", TICKET_EVENTS_TOPIC, body, t.at, id_prefix="te"))
    for link in change.links:
        body = {
            "type": "linked",
            "ticket": known.get(link.ticket_id),
            "ticket_id": link.ticket_id,
            "call_id": link.call_id,
            "role": link.role.value,
            "actor": link.actor,
            "at": link.at,
        }
        entries.append(message("ticket_event", TICKET_EVENTS_TOPIC, body, link.at, id_prefix="te"))
    return entries


def pending_from_rows(rows: Sequence[Sequence[Any]]) -> list[PendingMessage]:
    """Rows of :data:`PENDING_OUTBOX_SQL` as values."""
    return [
        PendingMessage(int(r[0]), OutboxEntry(str(r[1]), str(r[2]), str(r[3]), str(r[4]), float(r[5])))
        for r in rows
    ]

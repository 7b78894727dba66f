"""Escalations in the store: alerts, their signals and history, incidents, the watch list.

:class:`EscalationStore` wraps the service's one :class:`~hotline.store.sqlite.Store` (same file,
same group-committing writer): every write here is committed before the call returns, so an alert
raised is an alert on disk, with its acknowledgement deadline, before anything else is done about
it; a restart reads the open ones back (:meth:`open_alerts`) and the runner re-arms their timers
at the stored deadlines.

Only keyed hashes of numbers are stored (the watch list); figures for ``hotline report`` come from
:meth:`figures`.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hotline.escalation.alerts import Alert, AlertKind, AlertState, RosterTier
from hotline.escalation.hotspots import Incident, Slot
from hotline.escalation.model import Level, Signal
from hotline.escalation.signals import WatchEntry
from hotline.store.outbox import OutboxEntry
from hotline.store.sql import _Sql, _Stmt
from hotline.store.sqlite import Store
from hotline.store.tickets import _INSERT_OUTBOX

_ALERT_COLUMNS = (
    "alert_id kind level reasons raised_at tier deadline_at state call_id ticket_id incident_id "
    "acknowledged_by acknowledged_at reescalations updated_at"
).split()
_SELECT = ", ".join(_ALERT_COLUMNS[:-1])
_UPSERT_ALERT = _Sql(
    f"INSERT INTO escalations ({', '.join(_ALERT_COLUMNS)}) VALUES ({', '.join('?' * len(_ALERT_COLUMNS))}) "
    "ON CONFLICT (alert_id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _ALERT_COLUMNS[1:]),
    "escalations",
    10,
)
_INSERT_SIGNAL = _Sql(
    "INSERT INTO escalation_signals (alert_id, at, source, level, detail, call_id, ticket_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    "escalation_signals",
    11,
)
_INSERT_EVENT = _Sql(
    "INSERT INTO escalation_events (alert_id, at, event, tier, role, supervisor) VALUES (?, ?, ?, ?, ?, ?)",
    "escalation_events",
    12,
)
_UPSERT_INCIDENT = _Sql(
    "INSERT INTO incidents (incident_id, classification, place, opened_at, count, baseline, p_value, "
    "last_ticket_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (incident_id) DO UPDATE SET "
    "last_ticket_at = max(incidents.last_ticket_at, excluded.last_ticket_at), "
    "closed_at = coalesce(excluded.closed_at, incidents.closed_at)",
    "incidents",
    13,
)
_LINK_INCIDENT_TICKET = _Sql(
    "INSERT INTO incident_tickets (incident_id, ticket_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    "incident_tickets",
    14,
)
_UPSERT_WATCH = _Sql(
    "INSERT INTO watch_list (digest, level, reason, added_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (digest) DO UPDATE SET level = excluded.level, reason = excluded.reason",
    "watch_list",
    15,
)
_DELETE_WATCH = _Sql("DELETE FROM watch_list WHERE digest = ?", "watch_list", 15)
#: A live call's record gets its flag (and later its recording) before the call ends; the call's
#: final record fills in the rest (see ``_CALL_KEEP`` in the store).
_FLAG_CALL = _Sql(
    "INSERT INTO call_records (call_id, direction, caller_number, dnis, escalated, escalation_reasons, "
    "updated_at) VALUES (?, 'inbound', '', '', 1, ?, ?) ON CONFLICT (call_id) DO UPDATE SET escalated = 1, "
    "escalation_reasons = excluded.escalation_reasons, updated_at = excluded.updated_at",
    "call_records",
    0,
)
_SET_RECORDING = _Sql(
    "INSERT INTO call_records (call_id, direction, caller_number, dnis, escalated, escalation_reasons, "
    "recording_ref, updated_at) VALUES (?, 'inbound', '', '', 1, '[]', ?, ?) "
    "ON CONFLICT (call_id) DO UPDATE SET recording_ref = excluded.recording_ref, "
    "updated_at = excluded.updated_at",
    "call_records",
    0,
)


def _alert_row(a: Alert, at: float) -> tuple[Any, ...]:
    return (
        a.alert_id,
        a.kind.value,
        a.level.label,
        json.dumps(list(a.reasons), ensure_ascii=False),
        a.raised_at,
        a.tier,
        a.deadline_at,
        a.state.value,
        a.call_id,
        a.ticket_id,
        a.incident_id,
        a.acknowledged_by,
        a.acknowledged_at,
        a.reescalations,
        at,
    )


def _alert_from_row(r: Sequence[Any]) -> Alert:
    return Alert(
        alert_id=r[0],
        kind=AlertKind(r[1]),
        level=Level.parse(r[2]),
        reasons=tuple(json.loads(r[3])),
        raised_at=r[4],
        tier=r[5],
        deadline_at=r[6],
        state=AlertState(r[7]),
        call_id=r[8],
        ticket_id=r[9],
        incident_id=r[10],
        acknowledged_by=r[11],
        acknowledged_at=r[12],
        reescalations=r[13],
    )


@dataclass(frozen=True, slots=True)
class NewTicketText:
    """A ticket as the escalation desk reads it: what the agent typed, where, and its call."""

    id: int
    number: str
    classification: str
    location: str
    texts: tuple[str, ...]
    created_at: float
    call_id: str | None


@dataclass(frozen=True, slots=True)
class EscalationFigures:
    """What ``hotline report`` shows about escalations in a period."""

    raised: int = 0
    by_level: dict[str, int] = field(default_factory=dict)
    by_reason_level: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, level) -> alerts
    acknowledged: int = 0
    acknowledged_in_time: int = 0  # by the first tier, before its deadline
    reescalated: int = 0  # alerts that went up at least one tier
    exhausted: int = 0  # the top tier's time ran out too
    median_ack_s: float | None = None
    incidents: int = 0


class EscalationStore:
    """Escalation records in the service's store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- writes -----------------------------------------------------------------------------------

    async def save_alert(self, alert: Alert, event: str, tier: RosterTier, at: float) -> None:
        """Store the alert as it now is and one history line (``raised``, ``reescalated`` ...)."""
        stmts: list[_Stmt] = [
            (_UPSERT_ALERT, _alert_row(alert, at)),
            (_INSERT_EVENT, (alert.alert_id, at, event, alert.tier, tier.role, tier.supervisor_id)),
        ]
        await self._store._write(stmts, "escalation")

    async def save_signals(
        self, alert_id: str, signals: Sequence[tuple[Signal, float, str | None, str | None]]
    ) -> None:
        """Store signals (signal, at, call, ticket) of an alert already saved or in the same batch."""
        stmts: list[_Stmt] = [
            (_INSERT_SIGNAL, (alert_id, at, s.source.value, s.level.label, s.detail, call_id, ticket_id))
            for s, at, call_id, ticket_id in signals
        ]
        if stmts:
            await self._store._write(stmts, "escalation signals")

    async def save_alert_with_signals(
        self,
        alert: Alert,
        event: str,
        tier: RosterTier,
        at: float,
        signals: Sequence[tuple[Signal, float, str | None, str | None]],
        outbox: Sequence[OutboxEntry] = (),
    ) -> None:
        """The alert, its history line, its new signals and the supervisors' message (the MQTT
        outbox) in one transaction: either all are committed or none."""
        stmts: list[_Stmt] = [
            (_UPSERT_ALERT, _alert_row(alert, at)),
            (_INSERT_EVENT, (alert.alert_id, at, event, alert.tier, tier.role, tier.supervisor_id)),
        ]
        stmts += [
            (
                _INSERT_SIGNAL,
                (alert.alert_id, s_at, s.source.value, s.level.label, s.detail, call_id, ticket_id),
            )
            for s, s_at, call_id, ticket_id in signals
        ]
        stmts += [(_INSERT_OUTBOX, entry.row()) for entry in outbox]
        await self._store._write(stmts, "escalation")

    async def flag_call(self, call_id: str, reasons: Sequence[str], at: float) -> None:
        """Mark the call's record escalated with its reasons (before the call ends)."""
        await self._store._write(
            [(_FLAG_CALL, (call_id, json.dumps(list(reasons), ensure_ascii=False), at))], "call flag"
        )

    async def set_recording(self, call_id: str, file_name: str, at: float) -> None:
        """Keep the recording's file name in the call's record."""
        await self._store._write([(_SET_RECORDING, (call_id, file_name, at))], "call recording")

    async def save_incident(self, incident: Incident, ticket_ids: Sequence[tuple[str, float]] = ()) -> None:
        """Store (or update) an incident and link tickets (ticket, at) to it."""
        i = incident
        stmts: list[_Stmt] = [
            (
                _UPSERT_INCIDENT,
                (
                    i.incident_id,
                    i.slot.classification,
                    i.slot.place,
                    i.opened_at,
                    i.count,
                    i.baseline,
                    i.p_value,
                    i.last_ticket_at,
                    i.closed_at,
                ),
            )
        ]
        stmts += [(_LINK_INCIDENT_TICKET, (i.incident_id, t, at)) for t, at in ticket_ids]
        await self._store._write(stmts, "incident")

    async def link_incident_ticket(self, incident_id: str, ticket_id: str, at: float) -> None:
        """Link one more ticket to an open incident."""
        await self._store._write(
            [
                (_LINK_INCIDENT_TICKET, (incident_id, ticket_id, at)),
                (
                    _Sql(
                        "UPDATE incidents SET last_ticket_at = max(last_ticket_at, ?) WHERE incident_id = ?",
                        "incidents",
                        13,
                    ),
                    (at, incident_id),
                ),
            ],
            "incident link",
        )

    async def add_watch(self, entry: WatchEntry, at: float) -> None:
        """Put a keyed hash on the watch list."""
        await self._store._write(
            [(_UPSERT_WATCH, (entry.digest, entry.level.label, entry.reason, at))], "watch"
        )

    async def remove_watch(self, digest: str) -> None:
        """Take a keyed hash off the watch list."""
        await self._store._write([(_DELETE_WATCH, (digest,))], "watch")

    # -- reads ------------------------------------------------------------------------------------

    async def open_alerts(self) -> list[Alert]:
        """Every alert not yet acknowledged (for a restart), oldest first."""
        rows = await self._store._read(
            f"SELECT {_SELECT} FROM escalations WHERE state != 'acknowledged' ORDER BY raised_at",
            (),
        )
        return [_alert_from_row(r) for r in rows]

    async def alert(self, alert_id: str) -> Alert | None:
        """One alert by id."""
        rows = await self._store._read(f"SELECT {_SELECT} FROM escalations WHERE alert_id = ?", (alert_id,))
        return _alert_from_row(rows[0]) if rows else None

    async def list_alerts(self, *, open_only: bool = False, limit: int = 50) -> list[Alert]:
        """The latest alerts, newest first."""
        where = "WHERE state != 'acknowledged' " if open_only else ""
        rows = await self._store._read(
            f"SELECT {_SELECT} FROM escalations {where}ORDER BY raised_at DESC LIMIT ?",
            (limit,),
        )
        return [_alert_from_row(r) for r in rows]

    async def events(self, alert_id: str) -> list[tuple[float, str, int, str, str]]:
        """An alert's history: (at, event, tier, role, supervisor), in order."""
        rows = await self._store._read(
            "SELECT at, event, tier, role, supervisor FROM escalation_events WHERE alert_id = ? ORDER BY id",
            (alert_id,),
        )
        return [(float(r[0]), str(r[1]), int(r[2]), str(r[3]), str(r[4])) for r in rows]

    async def signals(self, alert_id: str) -> list[tuple[float, str, str, str]]:
        """An alert's signals: (at, source, level, detail), in order."""
        rows = await self._store._read(
            "SELECT at, source, level, detail FROM escalation_signals WHERE alert_id = ? ORDER BY id",
            (alert_id,),
        )
        return [(float(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    async def open_incidents(self) -> list[Incident]:
        """Incidents still taking tickets, with their tickets."""
        rows = await self._store._read(
            "SELECT incident_id, classification, place, opened_at, count, baseline, p_value, last_ticket_at "
            "FROM incidents WHERE closed_at IS NULL ORDER BY opened_at",
            (),
        )
        found = []
        for r in rows:
            tickets = await self._store._read(
                "SELECT ticket_id FROM incident_tickets WHERE incident_id = ? ORDER BY at", (r[0],)
            )
            found.append(
                Incident(
                    incident_id=r[0],
                    slot=Slot(r[1], r[2]),
                    opened_at=r[3],
                    count=r[4],
                    baseline=r[5],
                    p_value=r[6],
                    ticket_ids=tuple(str(t[0]) for t in tickets),
                    last_ticket_at=r[7],
                )
            )
        return found

    async def incident_for_tickets(self, ticket_ids: Sequence[str]) -> list[str]:
        """Open incidents any of ``ticket_ids`` is linked to (for a caller's screen-pop)."""
        if not ticket_ids:
            return []
        marks = ", ".join("?" * len(ticket_ids))
        rows = await self._store._read(
            f"SELECT DISTINCT t.incident_id FROM incident_tickets t JOIN incidents i USING (incident_id) "
            f"WHERE i.closed_at IS NULL AND t.ticket_id IN ({marks}) ORDER BY t.incident_id",
            tuple(ticket_ids),
        )
        return [str(r[0]) for r in rows]

    async def incidents_for_caller(self, number: str) -> list[str]:
        """Open incidents one of the caller's tickets is linked to (for the agent's screen-pop)."""
        rows = await self._store._read(
            "SELECT DISTINCT l.incident_id FROM tickets t JOIN incident_tickets l ON l.ticket_id = t.number "
            "JOIN incidents i ON i.incident_id = l.incident_id WHERE t.citizen_number = ? "
            "AND i.closed_at IS NULL ORDER BY l.incident_id",
            (number,),
        )
        return [str(r[0]) for r in rows]

    async def watch_entries(self) -> list[WatchEntry]:
        """The whole watch list (keyed hashes)."""
        rows = await self._store._read("SELECT digest, level, reason FROM watch_list ORDER BY added_at", ())
        return [WatchEntry(str(r[0]), Level.parse(r[1]), str(r[2])) for r in rows]

    async def next_alert_seq(self) -> int:
        """The number after the highest ``ESC-NNNNNN`` stored."""
        rows = await self._store._read(
            "SELECT max(alert_id) FROM escalations WHERE alert_id LIKE 'ESC-%'", ()
        )
        top = rows[0][0]
        return int(str(top)[4:]) + 1 if top else 1

    async def next_incident_seq(self) -> int:
        """The number after the highest ``INC-NNNNNN`` stored."""
        rows = await self._store._read(
            "SELECT max(incident_id) FROM incidents WHERE incident_id LIKE 'INC-%'", ()
        )
        top = rows[0][0]
        return int(str(top)[4:]) + 1 if top else 1

    async def tickets_since(self, last_id: int, limit: int = 500) -> list[NewTicketText]:
        """Tickets with an id above ``last_id`` (oldest first), with their opening call if linked."""
        rows = await self._store._read(
            "SELECT t.id, t.number, t.classification, t.location, t.description, t.current_situation, "
            "t.request, t.created_at, (SELECT l.call_id FROM ticket_links l WHERE l.ticket_id = t.id "
            "ORDER BY l.at LIMIT 1) FROM tickets t WHERE t.id > ? ORDER BY t.id LIMIT ?",
            (last_id, limit),
        )
        return [
            NewTicketText(
                id=int(r[0]),
                number=str(r[1]),
                classification=str(r[2]),
                location=str(r[3]),
                texts=(str(r[4]), str(r[5]), str(r[6])),
                created_at=float(r[7]),
                call_id=str(r[8]) if r[8] is not None else None,
            )
            for r in rows
        ]

    async def last_ticket_id(self) -> int:
        """The highest ticket id stored (0 when none)."""
        rows = await self._store._read("SELECT coalesce(max(id), 0) FROM tickets", ())
        return int(rows[0][0])

    async def ticket_history(self, since: float) -> list[tuple[str, str, float]]:
        """(classification, location, created_at) of tickets created since ``since`` (hot-spot baseline)."""
        rows = await self._store._read(
            "SELECT classification, location, created_at FROM tickets WHERE created_at >= ? "
            "ORDER BY created_at",
            (since,),
        )
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

    async def overdue_tickets_for_caller(self, number: str) -> list[str]:
        """Numbers of the caller's open tickets with a breached, unmet deadline."""
        rows = await self._store._read(
            "SELECT DISTINCT t.number FROM tickets t JOIN deadlines d ON d.ticket_id = t.id "
            "WHERE t.citizen_number = ? AND t.state != 'closed' AND d.breached_at IS NOT NULL "
            "AND d.met_at IS NULL ORDER BY t.number",
            (number,),
        )
        return [str(r[0]) for r in rows]

    async def figures(self, start: float, end: float) -> EscalationFigures:
        """Escalations raised in ``[start, end)``: by level and reason, acknowledgement, incidents."""
        alerts = await self._store._read(
            "SELECT alert_id, level, state, reescalations, raised_at, acknowledged_at, kind FROM escalations "
            "WHERE raised_at >= ? AND raised_at < ?",
            (start, end),
        )
        by_level: dict[str, int] = {}
        ack_delays: list[float] = []
        in_time = reescalated = exhausted = 0
        for _id, level, state, reesc, raised_at, acked_at, _kind in alerts:
            by_level[level] = by_level.get(level, 0) + 1
            if state == AlertState.ACKNOWLEDGED.value and acked_at is not None:
                ack_delays.append(float(acked_at) - float(raised_at))
                if int(reesc) == 0:
                    in_time += 1
            if int(reesc) > 0:
                reescalated += 1
            if state == AlertState.EXHAUSTED.value:
                exhausted += 1
        reasons = await self._store._read(
            "SELECT s.source, s.level, count(DISTINCT s.alert_id) FROM escalation_signals s "
            "JOIN escalations e USING (alert_id) WHERE e.raised_at >= ? AND e.raised_at < ? "
            "GROUP BY s.source, s.level",
            (start, end),
        )
        incidents = await self._store._read(
            "SELECT count(*) FROM incidents WHERE opened_at >= ? AND opened_at < ?", (start, end)
        )
        return EscalationFigures(
            raised=len(alerts),
            by_level=by_level,
            by_reason_level={(str(r[0]), str(r[1])): int(r[2]) for r in reasons},
            acknowledged=len(ack_delays),
            acknowledged_in_time=in_time,
            reescalated=reescalated,
            exhausted=exhausted,
            median_ack_s=statistics.median(ack_delays) if ack_delays else None,
            incidents=int(incidents[0][0]),
        )

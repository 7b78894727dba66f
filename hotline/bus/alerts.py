"""Alerts for supervisors (``p/supervisors/alerts``): always through the outbox, so a restart or a
broker outage loses none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hotline.store.outbox import SUPERVISOR_ALERTS_TOPIC, OutboxEntry, message


@dataclass(frozen=True, slots=True)
class SupervisorAlert:
    """An alert for supervisors (``p/supervisors/alerts``), published through the outbox.

    Build one and pass it to :meth:`AgentBus.raise_alert`, or store ``alert.entry(at)`` in the
    same transaction as the change it announces (``Store.add_outbox`` or a store method that
    takes entries)."""

    kind: str
    agent_id: str | None = None
    call_id: str | None = None
    reason: str = ""
    detail: tuple[tuple[str, str], ...] = ()

    def entry(self, at: float) -> OutboxEntry:
        """The outbox row that carries it."""
        body: dict[str, Any] = {
            "type": self.kind,
            "agent": self.agent_id,
            "call_id": self.call_id,
            "reason": self.reason,
            "at": at,
            **dict(self.detail),
        }
        return message("escalation_alert", SUPERVISOR_ALERTS_TOPIC, body, at, id_prefix="al")

"""Alerts to supervisors and their acknowledgement: a state machine with a roster of tiers.

An alert goes to the first tier of the roster (shift lead), who must acknowledge it within that
tier's time limit; if nobody does, it goes up one tier (duty manager, then centre director),
exactly once per tier, and stays with the top tier (``exhausted``) until someone acknowledges it.

States and triggers are enums; :data:`TRANSITIONS` is the whole table; anything else raises
:class:`IllegalAlertTransition`.  Pure: every function takes ``now`` and returns the new alert
(frozen) plus the effects the runner must carry out (arm/disarm the ack timer, notify).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from hotline.escalation.errors import IllegalAlertTransition
from hotline.escalation.model import Level


class AlertState(enum.StrEnum):
    """Where an alert stands."""

    PENDING = "pending"  # with a tier, its ack timer running
    EXHAUSTED = "exhausted"  # the top tier's time ran out too: no timer, still waiting for an ack
    ACKNOWLEDGED = "acknowledged"  # someone took it: done

    @property
    def open(self) -> bool:
        """True until acknowledged."""
        return self is not AlertState.ACKNOWLEDGED


class AlertTrigger(enum.StrEnum):
    """What can happen to an alert."""

    ACKNOWLEDGE = "acknowledge"
    REESCALATE = "reescalate"  # the tier's time ran out and a higher tier exists
    TOP_REACHED = "top_reached"  # the top tier's time ran out


TRANSITIONS: dict[tuple[AlertState, AlertTrigger], AlertState] = {
    (AlertState.PENDING, AlertTrigger.ACKNOWLEDGE): AlertState.ACKNOWLEDGED,
    (AlertState.PENDING, AlertTrigger.REESCALATE): AlertState.PENDING,
    (AlertState.PENDING, AlertTrigger.TOP_REACHED): AlertState.EXHAUSTED,
    (AlertState.EXHAUSTED, AlertTrigger.ACKNOWLEDGE): AlertState.ACKNOWLEDGED,
}


class AlertKind(enum.StrEnum):
    """What the alert is about."""

    CALL = "call"  # an urgent/sensitive call or ticket
    INCIDENT = "incident"  # a hot spot: many callers, one incident


@dataclass(frozen=True, slots=True)
class RosterTier:
    """One tier of the escalation roster: who is told, and how long they have to acknowledge."""

    role: str  # shift_lead, duty_manager, centre_director ...
    supervisor_id: str
    ack_timeout_s: float
    device: str = ""  # the supervisor's phone, for a take-over (ChanSpy); may be empty


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert.  ``tier`` indexes the roster; ``deadline_at`` is set only while pending."""

    alert_id: str
    kind: AlertKind
    level: Level
    reasons: tuple[str, ...]
    raised_at: float
    tier: int = 0
    deadline_at: float | None = None
    state: AlertState = AlertState.PENDING
    call_id: str | None = None
    ticket_id: str | None = None
    incident_id: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    reescalations: int = 0

    @property
    def timer_key(self) -> str:
        """The name of this alert's ack timer."""
        return f"ack:{self.alert_id}"


def _step(alert: Alert, trigger: AlertTrigger) -> AlertState:
    target = TRANSITIONS.get((alert.state, trigger))
    if target is None:
        raise IllegalAlertTransition(alert.alert_id, alert.state.value, trigger.value)
    return target


@dataclass(frozen=True, slots=True)
class ArmAckTimer:
    """(Re)arm the alert's ack timer to fire at ``at``."""

    alert_id: str
    at: float


@dataclass(frozen=True, slots=True)
class DisarmAckTimer:
    """Disarm the alert's ack timer (acknowledged, or nobody above to tell)."""

    alert_id: str


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """Tell the world what happened to an alert: store it, log it, publish it.

    ``event``: ``raised``, ``updated`` (new reasons or a higher level), ``reescalated``,
    ``exhausted`` (top tier's time ran out) or ``acknowledged``.  ``tier`` is who is told now.
    """

    event: str
    alert: Alert
    tier: RosterTier
    at: float


AlertEffect = ArmAckTimer | DisarmAckTimer | AlertNotice


class Roster:
    """The ordered tiers (lowest first); at least one."""

    def __init__(self, tiers: tuple[RosterTier, ...]) -> None:
        if not tiers:
            raise ValueError("the escalation roster needs at least one tier")
        for tier in tiers:
            if tier.ack_timeout_s <= 0:
                raise ValueError(f"roster tier {tier.role}: ack_timeout_s must be positive")
        self.tiers = tiers

    def __getitem__(self, index: int) -> RosterTier:
        return self.tiers[min(index, len(self.tiers) - 1)]

    @property
    def top(self) -> int:
        """Index of the top tier."""
        return len(self.tiers) - 1


def raise_alert(
    roster: Roster,
    *,
    alert_id: str,
    kind: AlertKind,
    level: Level,
    reasons: tuple[str, ...],
    now: float,
    call_id: str | None = None,
    ticket_id: str | None = None,
    incident_id: str | None = None,
) -> tuple[Alert, list[AlertEffect]]:
    """A new alert, with the first tier and its timer."""
    first = roster[0]
    alert = Alert(
        alert_id=alert_id,
        kind=kind,
        level=level,
        reasons=reasons,
        raised_at=now,
        deadline_at=now + first.ack_timeout_s,
        call_id=call_id,
        ticket_id=ticket_id,
        incident_id=incident_id,
    )
    assert alert.deadline_at is not None
    return alert, [AlertNotice("raised", alert, first, now), ArmAckTimer(alert_id, alert.deadline_at)]


def add_reasons(
    roster: Roster, alert: Alert, level: Level, reasons: tuple[str, ...], now: float
) -> tuple[Alert, list[AlertEffect]]:
    """More signals for an open alert: merged reasons, the higher level; notify only on news."""
    merged = alert.reasons + tuple(r for r in reasons if r not in alert.reasons)
    top_level = max(alert.level, level)
    if merged == alert.reasons and top_level == alert.level:
        return alert, []
    updated = replace(alert, reasons=merged, level=top_level)
    if not alert.state.open:
        return updated, []
    return updated, [AlertNotice("updated", updated, roster[alert.tier], now)]


def ack_timed_out(roster: Roster, alert: Alert, now: float) -> tuple[Alert, list[AlertEffect]]:
    """The ack timer fired: up one tier (from the missed deadline), or exhausted at the top.

    A late or stale timer (the alert is no longer pending, or its deadline lies ahead) changes
    nothing, so a timer can never move an alert up twice for one tier.
    """
    if alert.state is not AlertState.PENDING or alert.deadline_at is None or now < alert.deadline_at:
        return alert, []
    if alert.tier >= roster.top:
        _step(alert, AlertTrigger.TOP_REACHED)
        done = replace(alert, state=AlertState.EXHAUSTED, deadline_at=None)
        return done, [AlertNotice("exhausted", done, roster[done.tier], now), DisarmAckTimer(alert.alert_id)]
    _step(alert, AlertTrigger.REESCALATE)
    tier = alert.tier + 1
    # From the missed deadline, not from now: after a restart the tiers keep their own clocks.
    deadline = alert.deadline_at + roster[tier].ack_timeout_s
    up = replace(alert, tier=tier, deadline_at=deadline, reescalations=alert.reescalations + 1)
    return up, [AlertNotice("reescalated", up, roster[tier], now), ArmAckTimer(alert.alert_id, deadline)]


def acknowledge(roster: Roster, alert: Alert, by: str, now: float) -> tuple[Alert, list[AlertEffect]]:
    """Someone acknowledged: done, timer off.  A second ack raises :class:`IllegalAlertTransition`."""
    _step(alert, AlertTrigger.ACKNOWLEDGE)
    done = replace(
        alert, state=AlertState.ACKNOWLEDGED, deadline_at=None, acknowledged_by=by, acknowledged_at=now
    )
    return done, [DisarmAckTimer(alert.alert_id), AlertNotice("acknowledged", done, roster[alert.tier], now)]


def resume(alert: Alert) -> list[AlertEffect]:
    """After a restart: re-arm a pending alert's timer at its stored deadline (past: fires at once)."""
    if alert.state is AlertState.PENDING and alert.deadline_at is not None:
        return [ArmAckTimer(alert.alert_id, alert.deadline_at)]
    return []


@dataclass(frozen=True, slots=True)
class SupervisorAlertMessage:
    """What supervisors' desktops get on ``p/supervisors/alerts`` (the bus publishes it).

    ``kind``: ``escalation_raised``, ``escalation_updated``, ``escalation_reescalated``,
    ``escalation_unacknowledged`` (the top tier's time ran out), ``escalation_acknowledged``.
    Never carries a citizen's number: calls and tickets are named by their ids.
    """

    kind: str
    alert_id: str
    alert_kind: str
    level: str
    reasons: tuple[str, ...]
    tier: int
    role: str
    supervisor: str
    at: float
    call_id: str | None = None
    ticket_id: str | None = None
    incident_id: str | None = None
    ack_deadline_at: float | None = None
    acknowledged_by: str | None = None

    @classmethod
    def of(cls, notice: AlertNotice) -> SupervisorAlertMessage:
        """The message announcing ``notice``."""
        a = notice.alert
        kind = "escalation_unacknowledged" if notice.event == "exhausted" else f"escalation_{notice.event}"
        return cls(
            kind=kind,
            alert_id=a.alert_id,
            alert_kind=a.kind.value,
            level=a.level.label,
            reasons=a.reasons,
            tier=a.tier,
            role=notice.tier.role,
            supervisor=notice.tier.supervisor_id,
            at=notice.at,
            call_id=a.call_id,
            ticket_id=a.ticket_id,
            incident_id=a.incident_id,
            ack_deadline_at=a.deadline_at,
            acknowledged_by=a.acknowledged_by,
        )

    def body(self) -> dict[str, object]:
        """The JSON body: every field by its name, ``kind`` as ``type`` (the bus adds ``"v": 1``
        and an ``event_id``)."""
        return {
            "type": self.kind,
            "alert_id": self.alert_id,
            "alert_kind": self.alert_kind,
            "level": self.level,
            "reasons": list(self.reasons),
            "tier": self.tier,
            "role": self.role,
            "supervisor": self.supervisor,
            "at": self.at,
            "call_id": self.call_id,
            "ticket_id": self.ticket_id,
            "incident_id": self.incident_id,
            "ack_deadline_at": self.ack_deadline_at,
            "acknowledged_by": self.acknowledged_by,
        }

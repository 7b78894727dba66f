"""The escalation desk: every signal in, flags, alerts and incidents out.  Pure and synchronous.

``EscalationDesk.handle(input, now) -> list[effect]`` is the whole interface, like the queue's
dispatcher: the runner (:mod:`hotline.alerting`) feeds it calls, tickets, agents' flags,
acknowledgements and fired timers, and carries out what comes back — flag the call in the queue
(:class:`FlagCall`), arm/disarm timers, store and log and publish alerts, link tickets to incidents.

One alert per call (or per ticket without a call, or per incident): later signals about the same
call are added to its alert (its level only goes up), so a supervisor gets one thing to acknowledge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from hotline.escalation.alerts import (
    Alert,
    AlertEffect,
    AlertKind,
    AlertNotice,
    Roster,
    ack_timed_out,
    acknowledge,
    add_reasons,
    raise_alert,
)
from hotline.escalation.errors import UnknownAlert
from hotline.escalation.hotspots import (
    HotspotConfig,
    HotspotDetector,
    HotspotEffect,
    IncidentDetected,
)
from hotline.escalation.keywords import KeywordMatcher
from hotline.escalation.model import Level, Signal, Source, highest_level
from hotline.escalation.signals import (
    RepeatCalls,
    TaxonomyFlags,
    WatchEntry,
    WatchList,
    agent_signal,
    ivr_signal,
    overdue_repeat_signal,
)


@dataclass(frozen=True, slots=True)
class EscalationRules:
    """Everything the desk decides with, built once from settings and data files."""

    keywords: KeywordMatcher
    watch_list: WatchList
    taxonomy: TaxonomyFlags
    roster: Roster
    ivr_markers: Mapping[str, Level]
    repeat_threshold: int = 3
    repeat_window_s: float = 86_400.0
    repeat_level: Level = Level.SENSITIVE
    overdue_level: Level = Level.SENSITIVE
    long_wait_s: float = 60.0
    hotspots: HotspotConfig = field(default_factory=HotspotConfig)


# -- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    """An inbound call arrived (the queue's ``CallArrived``); ``overdue_tickets``: the caller's late ones."""

    call_id: str
    number: str = field(repr=False)  # the citizen's: never in a repr
    ivr_value: str = ""
    overdue_tickets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """An agent took the call (its wait is over)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class CallFinished:
    """The call ended (its alert, if any, stays open until acknowledged)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class TicketWritten:
    """A ticket was created or its text changed: ``texts`` are what the agent typed (not the location)."""

    ticket_id: str
    classification: str
    texts: tuple[str, ...]
    location: str = ""
    call_id: str | None = None
    new: bool = True  # counts for hot spots only when new


@dataclass(frozen=True, slots=True)
class AgentEscalated:
    """The agent's own flag (the desktop's ``escalate`` command)."""

    agent_id: str
    level: Level
    reason: str
    call_id: str | None = None
    ticket_id: str | None = None


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """A supervisor acknowledged an alert."""

    alert_id: str
    by: str


@dataclass(frozen=True, slots=True)
class DeskTimerFired:
    """A timer the desk armed fired (``ack:<alert>`` or ``wait:<call>``)."""

    key: str


@dataclass(frozen=True, slots=True)
class WatchListLoaded:
    """The watch list as the store now holds it (keyed hashes), reloaded while running."""

    entries: tuple[WatchEntry, ...]


DeskInput = (
    CallStarted
    | CallAnswered
    | CallFinished
    | TicketWritten
    | AgentEscalated
    | Acknowledge
    | DeskTimerFired
    | WatchListLoaded
)


# -- effects ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlagCall:
    """Move the call to the urgent class now (queue input), whatever state it is in."""

    call_id: str
    level: Level
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SignalRecorded:
    """Store one signal of an alert (its source and level), for the records and the report."""

    alert_id: str
    signal: Signal
    at: float
    call_id: str | None = None
    ticket_id: str | None = None


@dataclass(frozen=True, slots=True)
class ArmWaitTimer:
    """Fire ``DeskTimerFired("wait:<call>")`` at ``at`` (a flagged call still waiting then)."""

    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class DisarmWaitTimer:
    """The call is no longer waiting."""

    call_id: str


DeskEffect = FlagCall | SignalRecorded | ArmWaitTimer | DisarmWaitTimer | AlertEffect | HotspotEffect


class EscalationDesk:
    """Holds the open alerts, the flagged calls, the repeat-call counts and the hot-spot detector."""

    def __init__(
        self,
        rules: EscalationRules,
        *,
        restored_alerts: tuple[Alert, ...] = (),
        next_seq: int = 1,
    ) -> None:
        self.rules = rules
        self.roster: Roster = rules.roster
        self.repeat_calls = RepeatCalls(
            threshold=rules.repeat_threshold, window_s=rules.repeat_window_s, level=rules.repeat_level
        )
        self.hotspots = HotspotDetector(rules.hotspots)
        self.alerts: dict[str, Alert] = {a.alert_id: a for a in restored_alerts if a.state.open}
        self._by_call: dict[str, str] = {a.call_id: a.alert_id for a in self.alerts.values() if a.call_id}
        self._by_ticket: dict[str, str] = {
            a.ticket_id: a.alert_id for a in self.alerts.values() if a.ticket_id
        }
        self._flagged: dict[str, Level] = {}  # live calls moved to the urgent class
        self._waiting: dict[str, float] = {}  # live calls still on hold: since when
        self._seq = next_seq

    def flagged_level(self, call_id: str) -> Level | None:
        """The level a live call was flagged with (None: not flagged)."""
        return self._flagged.get(call_id)

    # -- the one entry point ------------------------------------------------------------------

    def handle(self, event: DeskInput, now: float) -> list[DeskEffect]:
        """Decide what ``event`` means; the effects are in the order they must be carried out."""
        if isinstance(event, CallStarted):
            return self._call_started(event, now)
        if isinstance(event, CallAnswered):
            self._waiting.pop(event.call_id, None)
            return [DisarmWaitTimer(event.call_id)]
        if isinstance(event, CallFinished):
            self._waiting.pop(event.call_id, None)
            self._flagged.pop(event.call_id, None)
            self._by_call.pop(event.call_id, None)
            return [DisarmWaitTimer(event.call_id)]
        if isinstance(event, TicketWritten):
            return self._ticket_written(event, now)
        if isinstance(event, AgentEscalated):
            signal = agent_signal(event.agent_id, event.level, event.reason)
            return self._signals(
                (signal,), now, call_id=event.call_id, ticket_id=event.ticket_id, kind=AlertKind.CALL
            )
        if isinstance(event, Acknowledge):
            return self._acknowledge(event, now)
        if isinstance(event, WatchListLoaded):
            self.rules.watch_list.replace_all(event.entries)
            return []
        return self._timer(event.key, now)

    # -- handlers ------------------------------------------------------------------------------

    def _call_started(self, event: CallStarted, now: float) -> list[DeskEffect]:
        self._waiting[event.call_id] = now
        signals: list[Signal] = []
        ivr = ivr_signal(event.ivr_value, self.rules.ivr_markers)
        if ivr is not None:
            signals.append(ivr)
        watched = self.rules.watch_list.signal(event.number)
        if watched is not None:
            signals.append(watched)
        digest = self.rules.watch_list.digest(event.number)
        repeated = self.repeat_calls.observe(digest, now)
        if repeated is not None:
            signals.append(repeated)
        if self.repeat_calls.count(digest, now) >= 2:  # a repeat caller: is one of its tickets late?
            overdue = overdue_repeat_signal(event.overdue_tickets, self.rules.overdue_level)
            if overdue is not None:
                signals.append(overdue)
        if not signals:
            return []
        return self._signals(tuple(signals), now, call_id=event.call_id, ticket_id=None, kind=AlertKind.CALL)

    def _ticket_written(self, event: TicketWritten, now: float) -> list[DeskEffect]:
        effects: list[DeskEffect] = []
        signals = list(self.rules.keywords.signals(event.texts))
        marked = self.rules.taxonomy.signal(event.classification)
        if marked is not None:
            signals.append(marked)
        if signals:
            effects += self._signals(
                tuple(signals), now, call_id=event.call_id, ticket_id=event.ticket_id, kind=AlertKind.CALL
            )
        if event.new:
            for found in self.hotspots.observe(event.ticket_id, event.classification, event.location, now):
                effects.append(found)
                if isinstance(found, IncidentDetected):
                    incident = found.incident
                    minutes = self.rules.hotspots.window_s / 60
                    reason = (
                        f"hotspot:{incident.slot.label} {incident.count} in {minutes:g} min"
                        f" (baseline {incident.baseline:.2f}, p={incident.p_value:.1e})"
                    )
                    alert_id = self._next_id()
                    alert, raised = raise_alert(
                        self.roster,
                        alert_id=alert_id,
                        kind=AlertKind.INCIDENT,
                        level=Level.URGENT,
                        reasons=(reason,),
                        now=now,
                        incident_id=incident.incident_id,
                    )
                    self.alerts[alert_id] = alert
                    effects += raised
        return effects

    def _signals(
        self,
        signals: tuple[Signal, ...],
        now: float,
        *,
        call_id: str | None,
        ticket_id: str | None,
        kind: AlertKind,
    ) -> list[DeskEffect]:
        level = highest_level(signals)
        assert level is not None
        reasons = tuple(s.reason for s in signals)
        effects: list[DeskEffect] = []
        existing = None
        if call_id is not None and call_id in self._by_call:
            existing = self.alerts.get(self._by_call[call_id])
        if existing is None and ticket_id is not None and ticket_id in self._by_ticket:
            existing = self.alerts.get(self._by_ticket[ticket_id])
        if existing is not None:
            alert, changed = add_reasons(self.roster, existing, level, reasons, now)
            if ticket_id is not None and alert.ticket_id is None:
                alert = replace(alert, ticket_id=ticket_id)
            self.alerts[alert.alert_id] = alert
            alert_effects: list[AlertEffect] = changed
        else:
            alert, alert_effects = raise_alert(
                self.roster,
                alert_id=self._next_id(),
                kind=kind,
                level=level,
                reasons=reasons,
                now=now,
                call_id=call_id,
                ticket_id=ticket_id,
            )
            self.alerts[alert.alert_id] = alert
        if alert.call_id is None and call_id is not None:
            alert = replace(alert, call_id=call_id)
            self.alerts[alert.alert_id] = alert
        if call_id is not None:
            self._by_call[call_id] = alert.alert_id
        if ticket_id is not None:
            self._by_ticket[ticket_id] = alert.alert_id
        effects += [SignalRecorded(alert.alert_id, s, now, call_id, ticket_id) for s in signals]
        if call_id is not None:
            flagged = self._flagged.get(call_id)
            if flagged is None or alert.level > flagged:
                self._flagged[call_id] = alert.level
                effects.append(FlagCall(call_id, alert.level, alert.reasons))
                since = self._waiting.get(call_id)
                if flagged is None and since is not None:
                    effects.append(ArmWaitTimer(call_id, since + self.rules.long_wait_s))
        effects += alert_effects
        return effects

    def _acknowledge(self, event: Acknowledge, now: float) -> list[DeskEffect]:
        alert = self.alerts.get(event.alert_id)
        if alert is None:
            raise UnknownAlert(event.alert_id)
        _done, effects = acknowledge(self.roster, alert, event.by, now)
        del self.alerts[event.alert_id]
        return list(effects)

    def _timer(self, key: str, now: float) -> list[DeskEffect]:
        kind, _, name = key.partition(":")
        if kind == "ack":
            alert = self.alerts.get(name)
            if alert is None:
                return []
            moved, effects = ack_timed_out(self.roster, alert, now)
            self.alerts[name] = moved
            return list(effects)
        if kind == "wait":
            level = self._flagged.get(name)
            since = self._waiting.get(name)
            if level is None or since is None:
                return []
            signal = Signal(Source.LONG_WAIT, level, f">{self.rules.long_wait_s:g} s")
            return self._signals((signal,), now, call_id=name, ticket_id=None, kind=AlertKind.CALL)
        return []

    def _next_id(self) -> str:
        alert_id = f"ESC-{self._seq:06d}"
        self._seq += 1
        return alert_id


def notices(effects: list[DeskEffect]) -> list[AlertNotice]:
    """The alert notices among ``effects`` (tests and the runner's logging)."""
    return [e for e in effects if isinstance(e, AlertNotice)]

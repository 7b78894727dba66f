"""The escalation runtime: feeds the escalation desk one ordered stream and carries out its effects.

Inputs come from the queue (every event the dispatcher handled, through its observer: calls
arriving, answered, ending), from the store (new tickets, polled), from supervisors and agents
(acknowledgements, the ``escalate`` command — through the bus) and from its own timers.  One task
takes them in order, asks :class:`~hotline.escalation.desk.EscalationDesk`, and carries out the
effects in order:

1. a flagged call goes to the queue at once (``FlagCall`` into the dispatcher's inbox) and, when
   configured, the PBX starts recording it (``MixMonitor``, file name kept in the call record);
2. the alert, its signals and its history line are written to the store and **committed** before
   the next input is taken, so a ``kill -9`` after a raise loses neither the alert nor its ack
   deadline (a restart re-arms the timer at the stored deadline);
3. the log line (``escalation.raised`` ...) and the supervisors' message (``publish``, the bus).

No broker: the alert still goes to the log and the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from hotline.clock import Clock
from hotline.escalation.alerts import (
    AlertNotice,
    ArmAckTimer,
    DisarmAckTimer,
    Roster,
    RosterTier,
    SupervisorAlertMessage,
    resume,
)
from hotline.escalation.desk import (
    Acknowledge,
    AgentEscalated,
    ArmWaitTimer,
    CallAnswered,
    CallFinished,
    CallStarted,
    DeskEffect,
    DeskInput,
    DeskTimerFired,
    DisarmWaitTimer,
    EscalationDesk,
    EscalationRules,
    FlagCall,
    SignalRecorded,
    TicketWritten,
    WatchListLoaded,
)
from hotline.escalation.errors import EscalationError
from hotline.escalation.hotspots import (
    HotspotConfig,
    IncidentClosed,
    IncidentDetected,
    TicketJoinedIncident,
)
from hotline.escalation.keywords import KeywordMatcher, load_keyword_lists
from hotline.escalation.model import Level
from hotline.escalation.signals import WatchList, load_taxonomy_flags
from hotline.events import CallAbandoned, CallArrived, CallBridged, CallEnded
from hotline.pbx_bridge.actions import PbxActions
from hotline.pbx_bridge.errors import AmiError
from hotline.queue import inputs as queue_inputs
from hotline.settings import EscalationSettings
from hotline.store.errors import StoreError
from hotline.store.escalations import EscalationStore
from hotline.store.outbox import SUPERVISOR_ALERTS_TOPIC
from hotline.store.outbox import message as outbox_message
from hotline.tickets.phone import InvalidPhoneNumber, normalise_number
from hotline.tickets.service import resolve_data_path

log = structlog.get_logger("hotline.escalation")

#: Where supervisors' messages go (the bus's ``raise_alert``); None: log and store only.
AlertPublisher = Callable[[SupervisorAlertMessage], Awaitable[None]]

_DAY_S = 86_400.0
#: The shipped HMAC key of ``config/hotline.toml``: a site must set its own.
SHIPPED_SECRET = "change-me-escalation-hmac-key"
#: The ticket intake reloads the watch list every this many rounds (30 s at the default 1 s).
WATCH_RELOAD_ROUNDS = 30


def build_rules(settings: EscalationSettings, known_codes: Iterable[str] | None = None) -> EscalationRules:
    """The desk's rules from settings and the shipped data files (paths as ``tickets`` resolves them).

    ``known_codes``: the taxonomy's codes, so a flag on a node that does not exist fails start-up.
    """

    def path(name: str) -> Path:
        return resolve_data_path(name)

    markers = {v.lower(): Level.URGENT for v in settings.ivr_urgent_values}
    markers.update({v.lower(): Level.SENSITIVE for v in settings.ivr_sensitive_values})
    codes = set(known_codes) if known_codes is not None else None
    return EscalationRules(
        keywords=KeywordMatcher(load_keyword_lists(path(settings.keywords_file))),
        watch_list=WatchList(settings.secret.reveal().encode("utf-8")),
        taxonomy=load_taxonomy_flags(path(settings.taxonomy_flags_file), codes),
        roster=Roster(
            tuple(RosterTier(t.role, t.supervisor, t.ack_timeout_s, t.device) for t in settings.roster)
        ),
        ivr_markers=markers,
        repeat_threshold=settings.repeat_calls,
        repeat_window_s=settings.repeat_window_s,
        repeat_level=Level.parse(settings.repeat_level),
        overdue_level=Level.parse(settings.overdue_level),
        long_wait_s=settings.long_wait_s,
        hotspots=HotspotConfig(
            window_s=settings.hotspot_window_s,
            baseline_days=settings.hotspot_baseline_days,
            p_threshold=settings.hotspot_p_threshold,
            min_count=settings.hotspot_min_count,
            min_rate=settings.hotspot_min_rate,
            quiet_close_s=settings.hotspot_quiet_close_s,
        ),
    )


@dataclass(frozen=True, slots=True)
class _CallSeen:
    """A call arrived (from the queue's observer); the runtime adds the caller's overdue tickets."""

    call_id: str
    channel: str
    number: str = field(repr=False)  # the citizen's: never in a repr
    priority: str = ""


class EscalationRuntime:
    """Owns the desk's loop, its timers, the ticket intake, and the effects' I/O."""

    def __init__(
        self,
        desk: EscalationDesk,
        settings: EscalationSettings,
        clock: Clock,
        *,
        store: EscalationStore | None = None,
        queue_inbox: asyncio.Queue[queue_inputs.QueueInput] | None = None,
        actions: PbxActions | None = None,
        publish: AlertPublisher | None = None,
        outbox_written: Callable[[], None] | None = None,
        last_ticket_id: int = 0,
        ticket_intake_interval_s: float = 1.0,
    ) -> None:
        self.desk = desk
        self.settings = settings
        self._clock = clock
        self._store = store
        self._queue_inbox = queue_inbox
        self._actions = actions
        self.publish = publish
        #: With a bus: alerts go to the store's outbox in the alert's own transaction, and this
        #: wakes the bus to publish them (QoS 1, kept until the broker has them).
        self.outbox_written = outbox_written
        self.inbox: asyncio.Queue[DeskInput | _CallSeen] = asyncio.Queue()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._channels: dict[str, str] = {}  # live call -> the caller's channel
        self._agent_channels: dict[str, str] = {}  # answered call -> the agent's channel
        self._recording: set[str] = set()
        self._last_ticket_id = last_ticket_id
        self.ticket_intake_interval_s = ticket_intake_interval_s
        self.handled = 0

    @classmethod
    async def restore(
        cls,
        settings: EscalationSettings,
        store: EscalationStore,
        clock: Clock,
        *,
        known_codes: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> EscalationRuntime:
        """Build from the store: open alerts (timers re-armed on :meth:`run`), the watch list,
        the id counters, open incidents and four weeks of tickets for the hot-spot baseline."""
        rules = build_rules(settings, known_codes)
        if settings.secret.reveal() == SHIPPED_SECRET:
            log.warning("escalation.default_secret", key="escalation.secret")
        for entry in await store.watch_entries():
            rules.watch_list.add(entry)
        alerts = await store.open_alerts()
        desk = EscalationDesk(rules, restored_alerts=tuple(alerts), next_seq=await store.next_alert_seq())
        now = clock.now()
        since = now - settings.hotspot_baseline_days * _DAY_S - settings.hotspot_window_s
        for classification, location, at in await store.ticket_history(since):
            desk.hotspots.seed(classification, location, at)
        next_incident = await store.next_incident_seq()
        for incident in await store.open_incidents():
            desk.hotspots.restore(incident, next_incident - 1)
        desk.hotspots.restore_seq(next_incident - 1)
        runtime = cls(
            desk, settings, clock, store=store, last_ticket_id=await store.last_ticket_id(), **kwargs
        )
        if alerts:
            log.info("escalation.restored", open_alerts=len(alerts), pending=[a.alert_id for a in alerts])
        return runtime

    # -- inputs ------------------------------------------------------------------------------

    def submit(self, item: DeskInput) -> None:
        """Hand the desk an input (an acknowledgement, an agent's flag, a ticket ...)."""
        self.inbox.put_nowait(item)

    def acknowledge(self, alert_id: str, by: str) -> None:
        """A supervisor acknowledged ``alert_id``."""
        self.submit(Acknowledge(alert_id, by))

    def escalate(
        self, agent_id: str, level: Level, reason: str, call_id: str | None, ticket_id: str | None = None
    ) -> None:
        """The agent's own flag (the desktop's ``escalate`` command)."""
        self.submit(AgentEscalated(agent_id, level, reason, call_id=call_id, ticket_id=ticket_id))

    def acknowledge_checked(self, alert_id: str, by: str) -> str | None:
        """Acknowledge ``alert_id`` if it is open; else the reason it cannot be."""
        if alert_id not in self.desk.alerts:
            return f"no open alert {alert_id}"
        self.acknowledge(alert_id, by)
        return None

    async def incidents_for_caller(self, number: str) -> list[str]:
        """Open incidents one of the caller's tickets is linked to (for the screen-pop)."""
        if self._store is None:
            return []
        try:
            canonical = normalise_number(number)
        except InvalidPhoneNumber:
            return []
        return await self._store.incidents_for_caller(canonical)

    def observe(self, event: object, commands: object = None) -> None:
        """The queue runtime's observer: calls arriving, answered and ending."""
        if isinstance(event, CallArrived):
            if not event.resynced:
                self.inbox.put_nowait(
                    _CallSeen(event.call_id, event.channel, event.caller_number, event.priority)
                )
            else:
                self._channels.setdefault(event.call_id, event.channel)
        elif isinstance(event, CallBridged):
            caller = self._channels.get(event.call_id)
            if caller is None and event.caller_channel:  # found talking by a resync
                caller = self._channels[event.call_id] = event.caller_channel
            others = [c for c in event.channels if c != caller]
            if caller is not None and others:
                self._agent_channels[event.call_id] = others[0]
            self.inbox.put_nowait(CallAnswered(event.call_id))
        elif isinstance(event, CallAbandoned | CallEnded):
            self.inbox.put_nowait(CallFinished(event.call_id))

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled: re-arm restored timers, then take inputs in order."""
        try:
            async with asyncio.TaskGroup() as tasks:
                for alert in list(self.desk.alerts.values()):
                    for effect in resume(alert):
                        if isinstance(effect, ArmAckTimer):
                            self._arm(alert.timer_key, effect.at)
                if self._store is not None:
                    tasks.create_task(self._ticket_intake(), name="escalation-ticket-intake")
                while True:
                    item = await self.inbox.get()
                    try:
                        await self._handle(item)
                    except Exception as exc:  # a bug here must not stop the service's routing
                        log.error("escalation.handler_crashed", input=type(item).__name__, error=repr(exc))
        finally:
            for handle in self._timers.values():
                handle.cancel()
            self._timers.clear()

    async def _handle(self, item: DeskInput | _CallSeen) -> None:
        now = self._clock.now()
        if isinstance(item, _CallSeen):
            self._channels[item.call_id] = item.channel
            overdue: tuple[str, ...] = ()
            digest = self.desk.rules.watch_list.digest(item.number)
            if self._store is not None and self.desk.repeat_calls.count(digest, now) >= 1:
                try:
                    overdue = tuple(
                        await self._store.overdue_tickets_for_caller(normalise_number(item.number))
                    )
                except InvalidPhoneNumber:
                    overdue = ()  # a withheld or odd caller ID: no ticket can name it
                except StoreError as exc:
                    log.error("escalation.lookup_failed", call_id=item.call_id, error=str(exc))
            desk_input: DeskInput = CallStarted(item.call_id, item.number, item.priority, overdue)
        else:
            desk_input = item
            if isinstance(item, CallFinished):
                self._channels.pop(item.call_id, None)
                self._agent_channels.pop(item.call_id, None)
                self._recording.discard(item.call_id)
        try:
            effects = self.desk.handle(desk_input, now)
        except EscalationError as exc:
            log.warning("escalation.input_refused", input=type(desk_input).__name__, error=str(exc))
            return
        self.handled += 1
        await self._carry_out(effects, now)

    # -- effects -------------------------------------------------------------------------------

    async def _carry_out(self, effects: list[DeskEffect], now: float) -> None:
        # The queue first: a flagged call must jump the queue before anything is written.
        for effect in effects:
            if isinstance(effect, FlagCall) and self._queue_inbox is not None:
                self._queue_inbox.put_nowait(
                    queue_inputs.FlagCall(effect.call_id, effect.level.label, effect.reasons)
                )
        signals: dict[str, list[SignalRecorded]] = {}
        for effect in effects:
            if isinstance(effect, SignalRecorded):
                signals.setdefault(effect.alert_id, []).append(effect)
        noticed = {e.alert.alert_id for e in effects if isinstance(e, AlertNotice)}
        for alert_id, recorded in signals.items():
            if alert_id not in noticed:
                await self._write(self._save_signals(alert_id, recorded), "signals")
        for effect in effects:
            match effect:
                case FlagCall():
                    await self._flagged(effect, now)
                case AlertNotice():
                    await self._notice(effect, signals.pop(effect.alert.alert_id, []))
                case ArmAckTimer():
                    self._arm(f"ack:{effect.alert_id}", effect.at)
                case DisarmAckTimer():
                    self._disarm(f"ack:{effect.alert_id}")
                case ArmWaitTimer():
                    self._arm(f"wait:{effect.call_id}", effect.at)
                case DisarmWaitTimer():
                    self._disarm(f"wait:{effect.call_id}")
                case IncidentDetected():
                    await self._incident(effect)
                case TicketJoinedIncident():
                    log.info(
                        "incident.ticket_linked", incident_id=effect.incident_id, ticket_id=effect.ticket_id
                    )
                    if self._store is not None:
                        await self._write(
                            self._store.link_incident_ticket(effect.incident_id, effect.ticket_id, effect.at),
                            "incident link",
                        )
                case IncidentClosed():
                    log.info("incident.closed", incident_id=effect.incident.incident_id)
                    if self._store is not None:
                        await self._write(self._store.save_incident(effect.incident), "incident")
                case _:
                    pass

    async def _save_signals(self, alert_id: str, recorded: list[SignalRecorded]) -> None:
        assert self._store is not None
        await self._store.save_signals(alert_id, [(r.signal, r.at, r.call_id, r.ticket_id) for r in recorded])

    async def _flagged(self, effect: FlagCall, now: float) -> None:
        if self._store is not None:
            await self._write(self._store.flag_call(effect.call_id, effect.reasons, now), "call flag")
        channel = self._channels.get(effect.call_id)
        if not self.settings.record_flagged_calls or self._actions is None or channel is None:
            return
        if effect.call_id in self._recording:
            return
        file_name = self.settings.recording_template.format(
            call=effect.call_id, time=time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        )
        try:
            await self._actions.start_recording(channel, file_name)
        except AmiError as exc:
            log.error("escalation.recording_failed", call_id=effect.call_id, error=str(exc))
            return
        self._recording.add(effect.call_id)
        log.info("escalation.recording_started", call_id=effect.call_id, file=file_name)
        if self._store is not None:
            await self._write(self._store.set_recording(effect.call_id, file_name, now), "call recording")

    async def _notice(self, notice: AlertNotice, recorded: list[SignalRecorded]) -> None:
        a = notice.alert
        message = SupervisorAlertMessage.of(notice)
        via_outbox = self._store is not None and self.outbox_written is not None
        if self._store is not None:
            outbox = (
                [
                    outbox_message(
                        "escalation_alert", SUPERVISOR_ALERTS_TOPIC, message.body(), notice.at, id_prefix="al"
                    )
                ]
                if via_outbox
                else []
            )
            await self._write(
                self._store.save_alert_with_signals(
                    a,
                    notice.event,
                    notice.tier,
                    notice.at,
                    [(r.signal, r.at, r.call_id, r.ticket_id) for r in recorded],
                    outbox,
                ),
                "alert",
            )
            if via_outbox and self.outbox_written is not None:
                self.outbox_written()
        fields: dict[str, Any] = {
            "alert_id": a.alert_id,
            "alert_kind": a.kind.value,
            "call_id": a.call_id,
            "ticket_id": a.ticket_id,
            "incident_id": a.incident_id,
            "escalation_level": a.level.label,
            "reasons": list(a.reasons),
            "tier": notice.tier.role,
            "supervisor": notice.tier.supervisor_id,
        }
        if notice.event == "raised":
            log.warning("escalation.raised", ack_deadline_at=a.deadline_at, **fields)
        elif notice.event == "updated":
            log.warning("escalation.updated", **fields)
        elif notice.event == "reescalated":
            log.warning(
                "escalation.reescalated",
                reescalations=a.reescalations,
                ack_deadline_at=a.deadline_at,
                **fields,
            )
        elif notice.event == "exhausted":
            log.error("escalation.unacknowledged", reescalations=a.reescalations, **fields)
        else:
            ack_s = (a.acknowledged_at or notice.at) - a.raised_at
            log.info(
                "escalation.acknowledged", acknowledged_by=a.acknowledged_by, ack_s=round(ack_s, 3), **fields
            )
        if self.publish is not None and not via_outbox:
            try:
                await self.publish(message)
            except Exception as exc:  # the bus is best effort here: the store and the log have it
                log.error("escalation.publish_failed", alert_id=a.alert_id, error=repr(exc))

    async def _incident(self, effect: IncidentDetected) -> None:
        i = effect.incident
        log.warning(
            "incident.detected",
            incident_id=i.incident_id,
            classification=i.slot.classification,
            place=i.slot.place,
            count=i.count,
            baseline=round(i.baseline, 3),
            p_value=i.p_value,
            tickets=list(i.ticket_ids),
        )
        if self._store is not None:
            await self._write(
                self._store.save_incident(i, [(t, i.opened_at) for t in i.ticket_ids]), "incident"
            )

    async def _write(self, write: Awaitable[None], what: str) -> None:
        try:
            await write
        except StoreError as exc:  # logged; the desk's decision stands and routing goes on
            log.error("escalation.store_failed", what=what, error=str(exc))

    # -- timers --------------------------------------------------------------------------------

    def _arm(self, key: str, at: float) -> None:
        self._disarm(key)
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(key, None)
            self.inbox.put_nowait(DeskTimerFired(key))

        self._timers[key] = loop.call_later(self._clock.delay_until(at), fire)

    def _disarm(self, key: str) -> None:
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()

    def armed(self) -> dict[str, float]:
        """The armed timers and when they fire (loop time), for tests and status."""
        return {key: handle.when() for key, handle in self._timers.items()}

    # -- take-over ------------------------------------------------------------------------------

    async def take_over(self, call_id: str, supervisor_id: str) -> str:
        """Ring the supervisor's device and let it listen to the call's agent (ChanSpy)."""
        if self._actions is None:
            raise EscalationError("no PBX connection for a take-over")
        channel = self._agent_channels.get(call_id)
        if channel is None:
            raise EscalationError(f"call {call_id} is not connected to an agent")
        tier = next((t for t in self.desk.roster.tiers if t.supervisor_id == supervisor_id), None)
        if tier is None or not tier.device:
            raise EscalationError(f"supervisor {supervisor_id} has no device in the roster")
        action_id = await self._actions.supervise(tier.device, channel)
        log.warning("escalation.takeover", call_id=call_id, supervisor=supervisor_id, device=tier.device)
        return action_id

    # -- tickets --------------------------------------------------------------------------------

    async def _ticket_intake(self) -> None:
        """New tickets (from any process writing the store) go to the desk, oldest first; the
        watch list is reloaded every ``WATCH_RELOAD_ROUNDS`` rounds (``hotline escalations watch``
        writes it from another process)."""
        assert self._store is not None
        rounds = 0
        while True:
            rounds += 1
            if rounds % WATCH_RELOAD_ROUNDS == 0:
                try:
                    self.submit(WatchListLoaded(tuple(await self._store.watch_entries())))
                except StoreError as exc:
                    log.error("escalation.ticket_intake_failed", error=str(exc))
            try:
                for ticket in await self._store.tickets_since(self._last_ticket_id):
                    self._last_ticket_id = ticket.id
                    self.submit(
                        TicketWritten(
                            ticket.number,
                            ticket.classification,
                            ticket.texts,
                            ticket.location,
                            call_id=ticket.call_id,
                        )
                    )
            except StoreError as exc:
                log.error("escalation.ticket_intake_failed", error=str(exc))
            await asyncio.sleep(self.ticket_intake_interval_s)

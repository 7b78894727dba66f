"""The one place that wires the service together (the wazo-calld ``controller`` role).

Start-up order: open the store, read back agents and open callbacks, build the dispatcher, then
connect to Asterisk; the AMI bridge, timers, the PBX action tasks and the callback intake all
feed one inbox that the dispatcher consumes in order.  Stopping drains the records still to be
written, then cancels and awaits every task, and closes AMI and the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from hotline.alerting import EscalationRuntime
from hotline.bus.service import AgentBus
from hotline.clock import AnchoredClock, Clock, WallClock
from hotline.health import keep_health_file
from hotline.pbx_bridge.actions import PbxActions
from hotline.pbx_bridge.connection import AmiClient
from hotline.persistence import QueuePersistence
from hotline.queue.commands import Command
from hotline.queue.dispatcher import Dispatcher
from hotline.queue.inputs import QueueInput
from hotline.queue.work import Callback, CallbackKind, CallbackStatus
from hotline.runtime import QueueRuntime
from hotline.settings import Settings
from hotline.store import Store, StoreError
from hotline.store.escalations import EscalationStore
from hotline.store.factory import AnyStore, describe, open_store
from hotline.tickets.errors import TicketError
from hotline.tickets.model import LinkRole, Satisfaction
from hotline.tickets.service import TicketService
from hotline.tickets.watcher import SlaWatcher

log = structlog.get_logger("hotline.app")

#: How often the store is asked for callbacks another process scheduled (follow-ups from tickets).
CALLBACK_INTAKE_INTERVAL_S = 5.0
#: How often the store is told the PBX is still seen (the precision of an unseen end's window).
HEARTBEAT_INTERVAL_S = 1.0
#: How long a stop waits for records still to be written.
DRAIN_TIMEOUT_S = 10.0


class HotlineService:
    """The running service; ``dispatcher`` and ``runtime`` exist once ``started`` is set."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or WallClock()
        self.dispatcher: Dispatcher | None = None
        self.runtime: QueueRuntime | None = None
        self.client: AmiClient | None = None
        self.bus: AgentBus | None = None
        self.inbox: asyncio.Queue[QueueInput] = asyncio.Queue()
        #: Called with every input and the commands it produced (the demo watches through it).
        self.observer: Callable[[QueueInput, list[Command]], None] | None = None
        self.started = asyncio.Event()
        self.callback_intake_interval_s = CALLBACK_INTAKE_INTERVAL_S
        #: Urgent and sensitive calls (issue 11); set once ``started`` is, when enabled.
        self.escalation: EscalationRuntime | None = None
        self.heartbeat_interval_s = HEARTBEAT_INTERVAL_S

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set."""
        s = self.settings
        log.info(
            "service.starting",
            ami_host=s.ami.host,
            ami_port=s.ami.port,
            store=describe(s.store),
            instance=s.store.instance_id,
        )
        async with open_store(s.store) as store:
            persistence = QueuePersistence(store, s.queue.utc_offset_h, s.dialplan.hotline_caller_id)
            agents, callbacks = await persistence.restore()
            live_calls, last_seen_at = await persistence.restore_live()
            dispatcher = Dispatcher.from_settings(
                s,
                restored_agents=agents,
                pending_callbacks=callbacks,
                live_calls=live_calls,
                last_seen_at=last_seen_at,
            )
            log.info(
                "service.restored",
                agents=len(agents),
                callbacks=len(callbacks),
                live_calls=len(live_calls),
                last_seen_at=last_seen_at,
            )
            inbox = self.inbox
            tickets = TicketService.from_settings(s, store, clock=self.clock.now)
            persistence.on_closed = _follow_up_outcome(tickets)
            watcher = SlaWatcher(tickets, interval_s=s.sla.sweep_interval_s, timeout_s=s.sla.sweep_timeout_s)
            # MQTT ([mqtt]): desktops' commands into the inbox, the dispatcher's decisions out.
            bus = (
                AgentBus(
                    s.mqtt,
                    dispatcher,
                    inbox.put_nowait,
                    now=self.clock.now,
                    utc_offset_h=s.queue.utc_offset_h,
                    service_level_threshold_s=s.queue.service_level_threshold_s,
                    store=store,
                    tickets=tickets,
                )
                if s.mqtt.enabled
                else None
            )
            async with AmiClient(s.ami, s.dialplan, inbox.put_nowait) as client:
                # -- escalation (issue 11): fed by the queue's observer, flags calls back into it
                escalation: EscalationRuntime | None = None
                observer = self.observer
                if s.escalation.enabled and not isinstance(store, Store):
                    # issue 12: escalations keep their tables in the SQLite store only so far
                    log.warning(
                        "escalation.unavailable", reason="the PostgreSQL store has no escalations yet"
                    )
                elif s.escalation.enabled:
                    assert isinstance(store, Store)
                    escalation = await EscalationRuntime.restore(
                        s.escalation,
                        EscalationStore(store),
                        self.clock,
                        known_codes=[node.code for node in tickets.taxonomy],
                        queue_inbox=inbox,
                        actions=PbxActions(client, s.dialplan),
                        publish=bus.publish_alert if bus is not None else None,  # via the outbox
                        # with a store, the outbox row is written in the alert's own transaction
                        outbox_written=bus.outbox_written if bus is not None else None,
                    )
                    observer = _observers(self.observer, escalation.observe)
                    if bus is not None:  # desktops' escalate; supervisors' ack_alert and take_over
                        bus.escalation = escalation
                self.escalation = escalation
                runtime = QueueRuntime(
                    dispatcher,
                    PbxActions(client, s.dialplan),
                    self.clock,
                    inbox,
                    persistence=persistence,
                    observer=_observers(observer, bus.observe if bus else None),
                )
                self.dispatcher, self.runtime, self.client, self.bus = dispatcher, runtime, client, bus
                async with asyncio.TaskGroup() as tasks:
                    if bus is not None:
                        mqtt_task = tasks.create_task(bus.run(), name="mqtt-bus")
                    owned = [
                        tasks.create_task(runtime.run(), name="dispatcher"),
                        tasks.create_task(
                            keep_health_file(
                                Path(s.health.file),
                                s.health.interval_s,
                                client.connected,
                                lambda: client.last_disconnect_reason,
                            ),
                            name="health-file",
                        ),
                        tasks.create_task(
                            _callback_intake(persistence, inbox, self.callback_intake_interval_s),
                            name="callback-intake",
                        ),
                        tasks.create_task(watcher.run(), name="sla-watcher"),
                        tasks.create_task(
                            _heartbeat(store, self.clock, client.connected, self.heartbeat_interval_s),
                            name="pbx-heartbeat",
                        ),
                    ]
                    if escalation is not None:
                        owned.append(tasks.create_task(escalation.run(), name="escalation"))
                    self.started.set()
                    await stop.wait()
                    log.info("service.stopping")
                    try:
                        async with asyncio.timeout(DRAIN_TIMEOUT_S):
                            await runtime.drain_records()
                    except TimeoutError:
                        log.error("service.drain_timeout", timeout_s=DRAIN_TIMEOUT_S)
                    if bus is not None:
                        await bus.close()
                        owned.append(mqtt_task)
                    for task in owned:
                        task.cancel()
        log.info("service.stopped")


def _observers(
    *observers: Callable[[QueueInput, list[Command]], None] | None,
) -> Callable[[QueueInput, list[Command]], None] | None:
    """Every given observer, called in turn with each input and its commands."""
    present = [o for o in observers if o is not None]
    if len(present) <= 1:
        return present[0] if present else None

    def both(event: QueueInput, commands: list[Command]) -> None:
        for observer in present:
            observer(event, commands)

    return both


#: Why the queue closes a callback it never could dial (no attempt reached the citizen's phone).
_UNDIALLABLE = frozenset({"invalid_number", "cannot_dial"})


def _follow_up_outcome(tickets: TicketService) -> Callable[[Callback, int], Awaitable[None]]:
    """A closed follow-up callback (回访) moves its ticket on.

    Reached: the follow-up call is linked to the ticket (the agent then records the citizen's
    satisfaction). Failed after every attempt: the ticket is evaluated as unreachable and closed.
    Failed because the number cannot be dialled at all: the ticket is not closed by that — it
    goes to the list a person looks at (``hotline tickets list --needs-attention``).
    """

    async def closed(callback: Callback, store_id: int) -> None:
        if callback.kind is not CallbackKind.FOLLOW_UP or callback.ticket_id is None:
            return
        try:
            if callback.status is CallbackStatus.FAILED and callback.closed_reason in _UNDIALLABLE:
                await tickets.follow_up_undiallable(store_id, callback.closed_reason or "")
            elif callback.status is CallbackStatus.FAILED:
                await tickets.record_follow_up_for_callback(store_id, Satisfaction.UNREACHABLE, actor="queue")
            elif callback.status is CallbackStatus.REACHED and callback.history:
                call_id = callback.history[-1].call_id
                ticket = await tickets.store.get_ticket_by_id(int(callback.ticket_id))
                if call_id and ticket is not None:
                    await tickets.link(
                        ticket.number, call_id, LinkRole.FOLLOW_UP, actor="queue", from_pbx=True
                    )
        except (TicketError, StoreError, ValueError) as exc:
            log.error("follow_up.ticket_update_failed", callback_id=callback.callback_id, error=str(exc))

    return closed


async def _callback_intake(
    persistence: QueuePersistence, inbox: asyncio.Queue[QueueInput], interval_s: float
) -> None:
    """Hand the dispatcher the callbacks the ticket workflow scheduled in the store."""
    while True:
        try:
            for schedule in await persistence.new_callbacks():
                inbox.put_nowait(schedule)
        except StoreError as exc:
            log.error("callback_intake.failed", error=str(exc))
        await asyncio.sleep(interval_s)


async def _heartbeat(store: AnyStore, clock: Clock, connected: asyncio.Event, interval_s: float) -> None:
    """Keep in the store the last instant the PBX was seen: after a crash, a call that vanished
    ended between this instant and the next resync (its record's uncertain window)."""
    while True:
        if connected.is_set():
            try:
                await store.save_heartbeat(clock.now())
            except StoreError as exc:
                log.error("heartbeat.write_failed", error=str(exc))
        await asyncio.sleep(interval_s)


async def run_service(
    settings: Settings,
    stop: asyncio.Event,
    *,
    clock_speed: float | None = None,
    clock_start: tuple[float, float] | None = None,
) -> None:
    """``hotline serve``: the service against the configured Asterisk until ``stop`` is set.

    ``clock_speed``/``clock_start`` (tests and demos against the simulator only): time runs
    ``clock_speed`` times faster, from simulated ``start`` at wall-clock ``anchor``; the
    service's own periodic work (heartbeat, callback intake) speeds up alike.
    """
    if clock_speed is None:
        await HotlineService(settings).run(stop)
        return
    start, anchor = clock_start if clock_start is not None else (time.time(), time.time())
    service = HotlineService(settings, clock=AnchoredClock(clock_speed, start, anchor))
    service.heartbeat_interval_s = HEARTBEAT_INTERVAL_S / clock_speed
    service.callback_intake_interval_s = CALLBACK_INTAKE_INTERVAL_S / clock_speed
    await service.run(stop)

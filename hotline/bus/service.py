"""The service's side of MQTT: desktop and supervisor commands in; replies, agents' state,
screen-pops, queue figures, the service's status and the outbox out.

Like the AMI bridge it only translates: a checked command becomes one of the dispatcher's
inputs (``AgentLogin`` ...) put in the one inbox; what the dispatcher decided comes back through
the runtime's observer (:meth:`AgentBus.observe`, called with every input and the commands it
produced), so the reply says what really happened (``RejectAgentCommand`` -> an error reply) and
``PersistAgentState`` becomes the agent's retained state.

aiomqtt 2.x does not reconnect: :meth:`AgentBus.run` does, with capped, jittered backoff, and
republishes every retained message (agents' state, queue figures, service status) after each
connect.  While the broker is away nothing stalls the queue: replies and offers are dropped
(a desktop that cannot hear the broker cannot take a call either), retained state is kept and
republished, and outbox messages stay in the store until the broker acknowledges them.

A desktop whose presence turns ``offline`` (its last will) is paused with reason
``desktop_offline`` after ``[mqtt] presence_grace_s``, and only its own command makes it ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiomqtt
import structlog

from hotline.bus import contract
from hotline.bus.alerts import SupervisorAlert
from hotline.bus.contract import DesktopCommand, SupervisorCommand, Topics
from hotline.bus.errors import PayloadError
from hotline.bus.figures import DayCounts, QueueView, TodayFigures, queue_figures, screen_pop_tickets
from hotline.escalation.alerts import SupervisorAlertMessage
from hotline.escalation.model import Level
from hotline.events import CallAbandoned, CallArrived, CallEnded, PbxConnected, PbxDisconnected
from hotline.queue import (
    AgentState,
    AgentStateRecord,
    PriorityClass,
)
from hotline.queue.commands import (
    Command,
    ConnectCallToAgent,
    PersistAgentState,
    RejectAgentCommand,
    StartCallback,
)
from hotline.queue.inputs import (
    AgentEndWrapUp,
    AgentLogin,
    AgentLogout,
    AgentPause,
    AgentReady,
    QueueInput,
)
from hotline.queue.work import priority_class_of
from hotline.settings import MqttSettings
from hotline.store import StoreError
from hotline.store.factory import AnyStore
from hotline.store.outbox import SUPERVISOR_ALERTS_TOPIC, message
from hotline.store.postgres import PgStore
from hotline.tickets.errors import TicketError
from hotline.tickets.model import LinkRole
from hotline.tickets.service import TicketService

log = structlog.get_logger("hotline.bus")
#: aiomqtt's own logger warns on every burst of QoS 1 publishes ("pending publish calls"), which
#: the send loop makes on purpose; its errors still show.
MQTT_LIBRARY_LOG = logging.getLogger("hotline.bus.aiomqtt")
MQTT_LIBRARY_LOG.setLevel(logging.ERROR)

DESKTOP_OFFLINE = "desktop_offline"
#: Open or earlier tickets shown in a screen-pop, newest first.
SCREEN_POP_TICKETS = 5

AgentInput = AgentLogin | AgentLogout | AgentReady | AgentPause | AgentEndWrapUp


class EscalationDesk(Protocol):
    """What the bus asks of the escalation runtime (``hotline.alerting.EscalationRuntime``)."""

    def escalate(
        self, agent_id: str, level: Level, reason: str, call_id: str | None, ticket_id: str | None = None
    ) -> None: ...

    def acknowledge(self, alert_id: str, by: str) -> None: ...

    def acknowledge_checked(self, alert_id: str, by: str) -> str | None:
        """Acknowledge if the alert is open; else the reason it cannot be."""
        ...

    async def take_over(self, call_id: str, supervisor_id: str) -> str:
        """Ring the supervisor's phone to listen to the call (ChanSpy)."""
        ...

    async def incidents_for_caller(self, number: str) -> list[str]:
        """Open incidents the caller's tickets belong to (screen-pop)."""
        ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for the broker."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(slots=True)
class _CallSeen:
    number: str
    priority: str
    arrived_at: float
    offers: int = 0


class Backoff:
    """Capped exponential backoff with full jitter (many desktops never retry in step)."""

    def __init__(self, first_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self._first = first_s
        self._cap = cap_s
        self._next = first_s
        self._rng = rng or random.Random()

    def reset(self) -> None:
        """After a good connection."""
        self._next = self._first

    def delay(self) -> float:
        """The next wait: up to the current step, which doubles to the cap."""
        step = self._next
        self._next = min(self._next * 2, self._cap)
        return step * (0.5 + self._rng.random() / 2)


class AgentBus:
    """The service's MQTT client; run it as one task of the service's TaskGroup."""

    def __init__(
        self,
        settings: MqttSettings,
        queue: QueueView,
        submit: Callable[[QueueInput], None],
        *,
        now: Callable[[], float],
        utc_offset_h: float = 8.0,
        service_level_threshold_s: float = 15.0,
        store: AnyStore | None = None,
        tickets: TicketService | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self._queue = queue
        self._submit = submit
        self._now = now
        self._offset = utc_offset_h
        self._threshold = service_level_threshold_s
        self._today = TodayFigures(utc_offset_h, service_level_threshold_s)
        self._figures_ready = False  # the day's figures are seeded (or could not be): publish them
        self._store = store
        self._tickets = tickets
        #: Set once the escalation runtime exists: an agent's ``escalate`` and a supervisor's
        #: ``ack_alert`` go to it (without it, ``escalate`` becomes an ``agent_escalation`` alert).
        self.escalation: EscalationDesk | None = None
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self._out: asyncio.Queue[Outgoing] = asyncio.Queue()
        self._waiting: dict[
            int, tuple[AgentInput, str, str, bool]
        ] = {}  # id(input) -> (input, agent, id, sup)
        self._calls: dict[str, _CallSeen] = {}
        self._grace: dict[str, asyncio.TimerHandle] = {}
        self._tasks: asyncio.TaskGroup | None = None
        self._outbox_wake = asyncio.Event()
        self._started_at = now()
        self.published = 0
        self.connects = 0

    # ---- the runtime's observer (synchronous, on the dispatcher's task) ---------------------

    def observe(self, event: QueueInput, commands: list[Command]) -> None:
        """Turn what the dispatcher decided into messages (replies, state, offers).

        Runs on the dispatcher's task: a fault here is logged, never raised into the queue."""
        try:
            self._observe(event, commands)
        except Exception as exc:
            log.error("mqtt.observe_failed", input=type(event).__name__, error=repr(exc))

    def _observe(self, event: QueueInput, commands: list[Command]) -> None:
        if isinstance(event, CallArrived):
            self._calls[event.call_id] = _CallSeen(
                event.caller_number, event.priority, self._now() - event.waited_s
            )
        elif isinstance(event, CallEnded | CallAbandoned):
            self._calls.pop(event.call_id, None)
        elif isinstance(event, PbxConnected | PbxDisconnected) and self.connected.is_set():
            self._send(Outgoing(self.topics.service_status, self._status("online"), retain=True))
        pending = self._waiting.pop(id(event), None)
        if pending is not None and pending[0] is event:
            _, agent_id, command_id, supervisor = pending
            refused = next(
                (c.reason for c in commands if isinstance(c, RejectAgentCommand) and c.agent_id == agent_id),
                None,
            )
            topic = self.topics.supervisor_replies if supervisor else self.topics.replies(agent_id)
            self._send(Outgoing(topic, contract.reply(command_id, refused)))
        for command in commands:
            if isinstance(command, PersistAgentState):
                self._publish_state(command.record)
            elif isinstance(command, ConnectCallToAgent):
                self._offer_inbound(command)
            elif isinstance(command, StartCallback):
                self._offer_callback(command)

    # ---- the connection ------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, listen and publish until cancelled; reconnect after every loss."""
        backoff = Backoff(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                tasks.create_task(self._send_loop(), name="mqtt-send")
                tasks.create_task(self._stats_loop(), name="mqtt-stats")
                tasks.create_task(self._outbox_loop(), name="mqtt-outbox")
                while True:
                    try:
                        await self._session(backoff)
                    except aiomqtt.MqttError as exc:
                        if _tls_refused(exc):  # a configuration fault, not a passing outage
                            log.error(
                                "mqtt.tls_refused",
                                error=str(exc),
                                ca_file=self.settings.tls_ca_file or "(the system's CAs)",
                            )
                        else:
                            log.warning("mqtt.disconnected", error=str(exc))
                    except (OSError, ValueError) as exc:  # e.g. an unreadable TLS CA file
                        log.error("mqtt.session_failed", error=repr(exc))
                    finally:
                        self._client = None
                        self.connected.clear()
                    await asyncio.sleep(backoff.delay())
        finally:
            self._tasks = None
            for handle in self._grace.values():
                handle.cancel()
            self._grace.clear()

    def _client_for_session(self) -> aiomqtt.Client:
        s = self.settings
        tls_context: ssl.SSLContext | None = None
        if s.tls:
            tls_context = ssl.create_default_context(cafile=s.tls_ca_file or None)
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username or None,
            password=s.password.reveal() or None,
            identifier=s.client_id,
            will=aiomqtt.Will(self.topics.service_status, contract.encode({"status": "offline"}), 1, True),
            keepalive=s.keepalive_s,
            timeout=s.connect_timeout_s,
            tls_context=tls_context,
            clean_session=True,
            logger=MQTT_LIBRARY_LOG,
            socket_options=[contract.TCP_NODELAY_OPTION],
        )

    async def _session(self, backoff: Backoff) -> None:
        async with self._client_for_session() as client:
            self._client = client
            for topic in self.topics.subscriptions():
                await client.subscribe(topic, qos=1, timeout=self.settings.publish_timeout_s)
            self.connects += 1
            backoff.reset()
            log.info(
                "mqtt.connected", host=self.settings.host, port=self.settings.port, connects=self.connects
            )
            self.connected.set()
            self._republish_retained()
            self._outbox_wake.set()
            async for msg in client.messages:
                try:
                    self._on_message(str(msg.topic), _payload_bytes(msg.payload))
                except Exception as exc:  # a bug must not drop the connection nor stall others
                    log.error("mqtt.message_failed", topic=str(msg.topic), error=repr(exc))

    def _republish_retained(self) -> None:
        """After a (re)connect the broker may have lost or never had our retained messages."""
        self._send(Outgoing(self.topics.service_status, self._status("online"), retain=True))
        for record in self._queue.agents():
            self._publish_state(record)
        self._publish_stats()

    async def close(self) -> None:
        """Say the service is offline (a clean stop; a crash leaves it to the last will)."""
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await client.publish(
                    self.topics.service_status,
                    self._status("offline"),
                    qos=1,
                    retain=True,
                    timeout=self.settings.publish_timeout_s,
                )

    def _status(self, status: str) -> bytes:
        return contract.encode(
            {
                "status": status,
                "since": contract.local_time(self._started_at, self._offset),
                "pbx_connected": self._queue.pbx_connected,
                "topic_prefix": self.settings.topic_prefix,
            }
        )

    # ---- sending ---------------------------------------------------------------------------

    def _send(self, message: Outgoing) -> None:
        self._out.put_nowait(message)

    async def _send_loop(self) -> None:
        """Publish in order; what is queued together goes out together (paho keeps the order)."""
        while True:
            batch = [await self._out.get()]
            while not self._out.empty() and len(batch) < 1000:
                batch.append(self._out.get_nowait())
            client = self._client
            if client is None or not self.connected.is_set():
                continue  # retained ones are republished on connect; the rest is moot by then
            try:
                await asyncio.gather(
                    *(
                        client.publish(
                            m.topic,
                            m.payload,
                            qos=m.qos,
                            retain=m.retain,
                            timeout=self.settings.publish_timeout_s,
                        )
                        for m in batch
                    )
                )
                self.published += len(batch)
            except (aiomqtt.MqttError, TimeoutError) as exc:
                log.warning("mqtt.publish_failed", messages=len(batch), error=str(exc) or type(exc).__name__)

    def _publish_state(self, record: AgentStateRecord) -> None:
        payload = contract.agent_state(
            record.agent_id, record.state.value, record.pause_reason, record.since, self._offset
        )
        self._send(Outgoing(self.topics.state(record.agent_id), payload, retain=True))

    # ---- screen-pops -------------------------------------------------------------------------

    def _offer_inbound(self, command: ConnectCallToAgent) -> None:
        seen = self._calls.get(command.call_id)
        if seen is not None:
            seen.offers += 1
        priority = priority_class_of(seen.priority) if seen else PriorityClass.NORMAL
        body: dict[str, Any] = {
            "call_id": command.call_id,
            "kind": "inbound",
            "number": seen.number if seen else "",
            "priority": priority.name.lower(),
            "flags": [seen.priority] if seen and priority is PriorityClass.ESCALATED else [],
            "waited_s": round(self._now() - seen.arrived_at, 1) if seen else None,
            "returned": bool(seen and seen.offers > 1),  # offered before, not answered: head of its class
        }
        self._spawn_offer(command.agent_id, body)

    def _offer_callback(self, command: StartCallback) -> None:
        body: dict[str, Any] = {
            "call_id": None,
            "callback_id": command.callback_id,
            "kind": "callback",
            "callback_kind": command.kind.value,
            "attempt": command.attempt,
            "number": command.number,
            "priority": "callback",
            "flags": [],
            "waited_s": None,
            "ticket_id": command.ticket_id,
        }
        self._spawn_offer(command.agent_id, body)

    def _spawn_offer(self, agent_id: str, body: dict[str, Any]) -> None:
        if self._tasks is None or not self.connected.is_set():
            return  # its desktop could not see it anyway
        self._tasks.create_task(self._publish_offer(agent_id, body), name=f"mqtt-offer-{agent_id}")

    async def _publish_offer(self, agent_id: str, body: dict[str, Any]) -> None:
        number = str(body.get("number") or "")
        tickets: list[dict[str, Any]] = []
        if number and self._store is not None:
            try:
                tickets = await self._caller_tickets(number)
            except (StoreError, TimeoutError) as exc:
                body["tickets_error"] = str(exc) or type(exc).__name__
        body["tickets"] = tickets
        if number and self.escalation is not None:  # the caller's open incidents (hot spots)
            try:
                body["incidents"] = await self.escalation.incidents_for_caller(number)
            except (StoreError, TimeoutError) as exc:
                body["incidents_error"] = str(exc) or type(exc).__name__
        self._send(Outgoing(self.topics.offers(agent_id), contract.encode(body)))

    async def _caller_tickets(self, number: str) -> list[dict[str, Any]]:
        assert self._store is not None
        async with asyncio.timeout(self.settings.publish_timeout_s):
            found = await self._store.caller_tickets(number, SCREEN_POP_TICKETS)
        return screen_pop_tickets(found)

    # ---- queue figures -----------------------------------------------------------------------

    def stats_payload(self) -> bytes:
        """The queue's figures now (``p/queue/stats``): the day's since local midnight."""
        now = self._now()
        day = self._today.counts(self._queue.stats, now)
        return contract.encode(queue_figures(self._queue, now, self._offset, self._threshold, day))

    async def _seed_figures(self) -> None:
        """Start the day's figures from the store's call records of today, so a restart does not
        show a fresh day (this instance's calls only, on a province's shared database)."""
        try:
            if self._store is None:
                return
            at = self._now()
            counted = DayCounts.of(self._queue.stats)
            start = self._today.day_start(at)
            if isinstance(self._store, PgStore):
                records = await self._store.calls_between(start, at, centre=self._store.instance_id)
            else:
                records = await self._store.calls_between(start, at)
            self._today.seed(records, counted, at)
        except StoreError as exc:  # the figures then count from this start
            log.warning("mqtt.figures_unseeded", error=str(exc))
        finally:
            self._figures_ready = True

    async def _stats_loop(self) -> None:
        await self._seed_figures()
        while True:
            if self.connected.is_set():
                self._publish_stats()
            await asyncio.sleep(self.settings.stats_interval_s)

    def _publish_stats(self) -> None:
        if not self._figures_ready:  # the stats loop publishes them once seeded
            return
        try:
            payload = self.stats_payload()
        except Exception as exc:  # figures are for people: never let them stop the bus
            log.error("mqtt.stats_failed", error=repr(exc))
            return
        self._send(Outgoing(self.topics.queue_stats, payload, qos=0, retain=True))

    # ---- the outbox ------------------------------------------------------------------------

    def outbox_written(self) -> None:
        """Someone wrote outbox rows in their own transaction (escalation alerts): publish soon."""
        self._outbox_wake.set()

    async def raise_alert(self, alert: SupervisorAlert) -> None:
        """Store an alert for supervisors; the outbox publishes it (QoS 1, until acknowledged)."""
        if self._store is None:
            raise StoreError("no store: alerts need the outbox")
        await self._store.add_outbox([alert.entry(self._now())])
        self._outbox_wake.set()

    async def publish_alert(self, alert: SupervisorAlertMessage) -> None:
        """An escalation's message for supervisors (``hotline.alerting``'s publisher): stored in the
        outbox, so it reaches ``p/supervisors/alerts`` even across a broker outage or a restart."""
        if self._store is None:
            raise StoreError("no store: alerts need the outbox")
        body = dataclasses.asdict(alert)
        body["type"] = body.pop("kind")
        body["reasons"] = list(alert.reasons)
        await self._store.add_outbox(
            [message("escalation_alert", SUPERVISOR_ALERTS_TOPIC, body, alert.at, id_prefix="al")]
        )
        self._outbox_wake.set()

    async def _outbox_loop(self) -> None:
        """Publish stored messages in order, each until the broker acknowledges it, then forget it."""
        if self._store is None:
            return
        store = self._store
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.outbox_poll_s):
                    await self._outbox_wake.wait()
            self._outbox_wake.clear()
            await self.connected.wait()
            try:
                await self._drain_outbox(store)
            except StoreError as exc:
                log.error("outbox.read_failed", error=str(exc))

    async def _drain_outbox(self, store: AnyStore) -> None:
        while (client := self._client) is not None and self.connected.is_set():
            pending = await store.pending_outbox(limit=200)
            if not pending:
                return
            acked: list[int] = []
            try:
                for item in pending:
                    await client.publish(
                        self.topics.absolute(item.entry.topic),
                        item.entry.payload.encode(),
                        qos=1,
                        timeout=self.settings.publish_timeout_s,
                    )
                    acked.append(item.seq)
            except (aiomqtt.MqttError, TimeoutError) as exc:
                log.warning("outbox.publish_failed", pending=len(pending) - len(acked), error=str(exc))
                await store.ack_outbox(acked)
                return  # the next connect wakes us again
            await store.ack_outbox(acked)
            log.info("outbox.published", messages=len(acked))

    # ---- messages in -------------------------------------------------------------------------

    def _on_message(self, topic: str, payload: bytes) -> None:
        kind, agent_id = self.topics.classify(topic)
        try:
            if kind == "commands" and agent_id is not None:
                self._on_desktop_command(agent_id, payload)
            elif kind == "presence" and agent_id is not None:
                self._on_presence(agent_id, contract.parse_presence(payload))
            elif kind == "supervisor_commands":
                self._on_supervisor_command(payload)
        except PayloadError as exc:
            command_id = exc.command_id or contract.command_id_of(payload)
            log.warning("mqtt.command_refused", topic=topic, agent_id=agent_id, problem=exc.problem)
            if kind == "commands" and agent_id is not None:
                self._send(Outgoing(self.topics.replies(agent_id), contract.reply(command_id, exc.problem)))
            elif kind == "supervisor_commands":
                self._send(Outgoing(self.topics.supervisor_replies, contract.reply(command_id, exc.problem)))

    def _known_agent(self, agent_id: str, command_id: str) -> None:
        if self._queue.agent(agent_id) is None:
            raise PayloadError(f"unknown agent {agent_id!r}", command_id)

    def _on_desktop_command(self, agent_id: str, payload: bytes) -> None:
        command = contract.parse_agent_command(agent_id, payload, max_bytes=self.settings.max_payload_bytes)
        self._known_agent(agent_id, command.command_id)
        if command.cmd in ("escalate", "link_ticket"):
            if self._tasks is None:
                raise PayloadError("the service is stopping", command.command_id)
            self._tasks.create_task(self._ticket_or_alert(command), name=f"mqtt-{command.cmd}-{agent_id}")
            return
        queue_input = _queue_input(command)
        if isinstance(queue_input, AgentReady | AgentLogin):
            self._cancel_grace(agent_id)  # its own command: the desktop is there
        self._forward(queue_input, agent_id, command.command_id, supervisor=False)

    def _on_supervisor_command(self, payload: bytes) -> None:
        command = contract.parse_supervisor_command(payload, max_bytes=self.settings.max_payload_bytes)
        if command.cmd in ("ack_alert", "take_over"):
            self._on_escalation_command(command)
            return
        self._known_agent(command.agent_id, command.command_id)
        self._forward(_supervisor_input(command), command.agent_id, command.command_id, supervisor=True)

    def _on_escalation_command(self, command: SupervisorCommand) -> None:
        """``ack_alert`` (refused when the alert is not open), or ``take_over`` a call (issue 11)."""
        if self.escalation is None:
            raise PayloadError("escalation is not enabled here", command.command_id)
        if command.cmd == "ack_alert":
            refused = self.escalation.acknowledge_checked(command.alert_id, command.supervisor)
            log.info(
                "mqtt.command", supervisor=command.supervisor, command="ack_alert", id=command.command_id
            )
            self._send(Outgoing(self.topics.supervisor_replies, contract.reply(command.command_id, refused)))
            return
        if self._tasks is None:
            raise PayloadError("the service is stopping", command.command_id)
        self._tasks.create_task(self._take_over(command), name=f"mqtt-take-over-{command.call_id}")

    async def _take_over(self, command: SupervisorCommand) -> None:
        assert self.escalation is not None
        error: str | None = None
        try:
            await self.escalation.take_over(command.call_id, command.supervisor)
        except Exception as exc:  # refused (no such call/supervisor) or the PBX said no: reply why
            error = str(exc) or type(exc).__name__
            log.warning("mqtt.command_failed", command="take_over", error=error)
        self._send(Outgoing(self.topics.supervisor_replies, contract.reply(command.command_id, error)))

    def _forward(self, queue_input: AgentInput, agent_id: str, command_id: str, *, supervisor: bool) -> None:
        self._waiting[id(queue_input)] = (queue_input, agent_id, command_id, supervisor)
        log.info("mqtt.command", agent_id=agent_id, command=type(queue_input).__name__, id=command_id)
        self._submit(queue_input)

    async def _ticket_or_alert(self, command: DesktopCommand) -> None:
        error: str | None = None
        try:
            if command.cmd == "link_ticket":
                if self._tickets is None:
                    raise PayloadError("tickets are not available here", command.command_id)
                await self._tickets.link(
                    command.ticket, command.call_id, LinkRole.REPEAT, actor=command.agent_id
                )
            elif self.escalation is not None:  # the escalation desk raises, tiers and tracks it
                self.escalation.escalate(
                    command.agent_id, Level.parse(command.level), command.reason, command.call_id
                )
            else:
                await self.raise_alert(
                    SupervisorAlert("agent_escalation", command.agent_id, command.call_id, command.reason)
                )
        except (PayloadError, TicketError, StoreError) as exc:
            error = str(exc)
            log.warning("mqtt.command_failed", agent_id=command.agent_id, command=command.cmd, error=error)
        self._send(Outgoing(self.topics.replies(command.agent_id), contract.reply(command.command_id, error)))

    # ---- presence ----------------------------------------------------------------------------

    def _on_presence(self, agent_id: str, presence: str) -> None:
        if self._queue.agent(agent_id) is None:
            return
        if presence == contract.PRESENCE_ONLINE:
            self._cancel_grace(agent_id)
            return
        if agent_id in self._grace:
            return
        loop = asyncio.get_running_loop()
        self._grace[agent_id] = loop.call_later(self.settings.presence_grace_s, self._desktop_gone, agent_id)
        log.info("agent.desktop_offline", agent_id=agent_id, grace_s=self.settings.presence_grace_s)

    def _cancel_grace(self, agent_id: str) -> None:
        handle = self._grace.pop(agent_id, None)
        if handle is not None:
            handle.cancel()

    def _desktop_gone(self, agent_id: str) -> None:
        self._grace.pop(agent_id, None)
        record = self._queue.agent(agent_id)
        if record is None or record.state in (AgentState.LOGGED_OUT, AgentState.PAUSED):
            return
        log.warning("agent.desktop_lost", agent_id=agent_id, state=record.state.value)
        self._submit(AgentPause(agent_id, DESKTOP_OFFLINE))


def _queue_input(command: DesktopCommand) -> AgentInput:
    match command.cmd:
        case "login":
            return AgentLogin(command.agent_id)
        case "logout":
            return AgentLogout(command.agent_id)
        case "ready":
            return AgentReady(command.agent_id)
        case "pause":
            return AgentPause(command.agent_id, command.reason)
        case _:
            return AgentEndWrapUp(command.agent_id)


def _supervisor_input(command: SupervisorCommand) -> AgentInput:
    match command.state:
        case "ready":
            return AgentReady(command.agent_id)
        case "paused":
            return AgentPause(command.agent_id, command.reason)
        case _:
            return AgentLogout(command.agent_id)


def _tls_refused(exc: aiomqtt.MqttError) -> bool:
    """Whether the broker's TLS handshake failed (its certificate not trusted, a TLS mismatch):
    aiomqtt keeps the SSL error as the context of its own."""
    return isinstance(exc.__context__, ssl.SSLError) or str(exc).startswith("[SSL")


def _payload_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    return b"" if payload is None else str(payload).encode()

"""The AMI connection: login, FullyBooted, keep-alive, reconnect, resync; actions with timeouts.

panoramisk 1.4 is kept where it serves: :class:`HotlineAmiProtocol` is a
``panoramisk.ami_protocol.AMIProtocol`` (so it also plugs into a ``panoramisk.Manager`` as its
``protocol_factory``), but every path that reads or writes bytes is ours, because each of
panoramisk's faults sits inside those paths and cannot be closed from outside:

* it decodes each TCP chunk on its own with ``errors='ignore'`` -> we split raw bytes into whole
  frames first (:class:`~hotline.pbx_bridge.codec.AmiFramer`), then decode;
* it never checks the ``Ping`` reply -> a watchdog sends ``Ping`` with a timeout and drops a
  half-open connection;
* its actions have no timeout -> every action runs under ``asyncio.timeout``;
* it re-sends unanswered actions after a reconnect (a second ``Originate`` calls a citizen
  twice) -> pending actions fail with :class:`ConnectionLostError` and nothing is ever re-sent;
* an exception in an event handler drops its connection, and coroutine handlers run as
  untracked, unordered tasks -> the protocol only translates (never raising) and puts domain
  events on one ``asyncio.Queue``, consumed in order by the dispatcher's own task.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from panoramisk.ami_protocol import AMIProtocol

from hotline.events import (
    CallAbandoned,
    CallArrived,
    CallEnded,
    DomainEvent,
    PbxConnected,
    PbxDisconnected,
)
from hotline.pbx_bridge.codec import (
    AmiFramer,
    AmiMessage,
    RemoteProtocolError,
    decode_frame,
    encode_action,
    frame_name,
)
from hotline.pbx_bridge.errors import (
    ActionFailedError,
    ActionTimeoutError,
    AmiError,
    AuthenticationError,
    ConnectionLostError,
    NotConnectedError,
)
from hotline.pbx_bridge.translator import AmiTranslator
from hotline.settings import AmiSettings, DialplanSettings

log = structlog.get_logger("hotline.pbx_bridge")

_RESPONSE = b"Response"
_FULLY_BOOTED = b"FullyBooted"
_SHUTDOWN = b"Shutdown"


@dataclass(slots=True)
class _PendingAction:
    name: str
    future: asyncio.Future[list[AmiMessage]]
    is_list: bool = False
    hold_events: bool = False
    messages: list[AmiMessage] = field(default_factory=list)


class HotlineAmiProtocol(AMIProtocol):  # type: ignore[misc]
    """One AMI connection's byte handling: framing, response matching, event translation."""

    def __init__(self, translator: AmiTranslator, emit: Callable[[DomainEvent], None]) -> None:
        super().__init__()
        self._translator = translator
        self._emit = emit
        self._framer = AmiFramer()
        self._pending: dict[str, _PendingAction] = {}
        self._held: list[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.banner: asyncio.Future[str] = loop.create_future()
        self.lost: asyncio.Future[str] = loop.create_future()
        self.fully_booted = asyncio.Event()
        self.frames_received = 0

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.transport = transport
        self.closed = False

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._framer.feed(data)
        except RemoteProtocolError as exc:
            log.warning("ami.bad_frame", error=str(exc))
            return
        if not self.banner.done() and self._framer.banner is not None:
            self.banner.set_result(self._framer.banner)
        for frame in frames:
            self.frames_received += 1
            try:
                self._handle_frame(frame)
            except Exception as exc:  # a bad frame must never take the connection down
                log.error(
                    "ami.frame_error", error=repr(exc), frame_head=frame[:80].decode("utf-8", "replace")
                )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_pending("connection closed" if exc is None else f"connection error: {exc}")
        if not self.lost.done():
            self.lost.set_result("connection closed by peer" if exc is None else f"connection error: {exc}")

    # -- frames --------------------------------------------------------------------------

    def _handle_frame(self, frame: bytes) -> None:
        name = frame_name(frame)
        if (name == _RESPONSE or (self._pending and b"\r\nActionID: " in frame)) and self._match_response(
            frame, name
        ):
            return
        if name == _FULLY_BOOTED:
            self.fully_booted.set()
        elif name == _SHUTDOWN:
            self.close_with("asterisk shutdown")
        elif self._held is not None:
            self._held.append(frame)
        elif self._translator.wants(name):
            self._translate(frame, name)

    def _translate(self, frame: bytes, name: bytes) -> None:
        recoded = self._translator.recoded_frames
        events = self._translator.feed_frame(frame, name)
        if self._translator.recoded_frames != recoded:
            log.warning(
                "ami.bad_encoding",
                event_name=name.decode("ascii", "replace"),
                note="not UTF-8; decoded as GB18030 or with replacement characters",
            )
        for event in events:
            if isinstance(event, CallArrived | CallAbandoned | CallEnded):
                log_call_event(event)
            self._emit(event)

    def _match_response(self, frame: bytes, name: bytes) -> bool:
        message = decode_frame(frame)
        if message.recoded:
            log.warning(
                "ami.bad_encoding", note="frame was not UTF-8; decoded as GB18030 or with replacements"
            )
        action_id = message.action_id
        pending = self._pending.get(action_id) if action_id else None
        if pending is None:
            return False
        if name == _RESPONSE:
            if message.get("EventList") == "start" and message.response == "Success":
                pending.is_list = True
                if pending.hold_events and self._held is None:
                    self._held = []  # a second listing of the same resync keeps what is held
                return True
            del self._pending[action_id]  # type: ignore[arg-type]
            if not pending.future.done():
                pending.future.set_result([message])
            return True
        if not pending.is_list:
            return False  # e.g. OriginateResponse after its action completed: an event
        pending.messages.append(message)
        if message.get("EventList") == "Complete":
            del self._pending[action_id]  # type: ignore[arg-type]
            if not pending.future.done():
                pending.future.set_result(pending.messages)
        return True

    # -- actions -------------------------------------------------------------------------

    def submit(
        self, name: str, action_id: str, headers: Sequence[tuple[str, str]], *, hold_events: bool = False
    ) -> asyncio.Future[list[AmiMessage]]:
        """Encode (checking every header) and write one action; the future gets its response."""
        payload = encode_action(name, action_id, headers)  # raises before anything is written
        if self._transport is None or self.closed or self._transport.is_closing():
            raise NotConnectedError(name)
        future: asyncio.Future[list[AmiMessage]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _PendingAction(name, future, hold_events=hold_events)
        self._transport.write(payload)
        return future

    def forget(self, action_id: str) -> None:
        """Drop a pending action (it timed out): a late response is then treated as an event."""
        self._pending.pop(action_id, None)

    def release_held(self) -> None:
        """Translate the events held back while a resync listing streamed in."""
        held, self._held = self._held or [], None
        for frame in held:
            try:
                self._translate(frame, frame_name(frame))
            except Exception as exc:
                log.error("ami.frame_error", error=repr(exc))

    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for action_id, action in pending.items():
            if not action.future.done():
                action.future.set_exception(ConnectionLostError(action.name, action_id, reason))

    def close_with(self, reason: str) -> None:
        """Close the transport; pending actions fail and are never re-sent."""
        self._fail_pending(reason)
        if not self.lost.done():
            self.lost.set_result(reason)
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        """panoramisk's close() queues unanswered actions for re-sending; ours never does."""
        self.close_with("closed by us")


#: Failed logins in a row after which (and after every this many more) one error-level line says
#: so: a wrong secret is retried with backoff, but never silently.
LOGIN_FAILURES_PER_ERROR = 5


class AmiClient:
    """Keeps one logged-in AMI connection alive and feeds domain events to ``emit``.

    Use as an async context manager: entering starts the connection supervisor in an owned
    TaskGroup; leaving cancels it and awaits it.  ``emit`` is called with every domain event in
    wire order, plus ``PbxConnected``/``PbxDisconnected`` (e.g. an ``asyncio.Queue.put_nowait``).
    """

    def __init__(
        self,
        settings: AmiSettings,
        dialplan: DialplanSettings,
        emit: Callable[[DomainEvent], None],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._dialplan = dialplan
        self._emit = emit
        self._rng = rng or random.Random()
        self.translator = AmiTranslator(dialplan)
        self._protocol: HotlineAmiProtocol | None = None
        self._ids = itertools.count(1)
        self._prefix = f"hotline-{self._rng.randrange(16**6):06x}"
        self._task_group: asyncio.TaskGroup | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        self.last_disconnect_reason = ""
        self.login_failures = 0  # in a row; 0 after a login that succeeded

    async def __aenter__(self) -> AmiClient:
        self._task_group = asyncio.TaskGroup()
        await self._task_group.__aenter__()
        self._supervisor = self._task_group.create_task(self._supervise(), name="ami-supervisor")
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._task_group is not None and self._supervisor is not None
        self._supervisor.cancel()
        if self._protocol is not None:
            self._protocol.close_with("service stopping")
        await self._task_group.__aexit__(None, None, None)
        self._task_group = None
        self._supervisor = None

    # -- supervisor ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        delay = self._settings.reconnect_min_s
        while True:
            reason = ""
            try:
                reason = await self._session()
                delay = self._settings.reconnect_min_s
            except AuthenticationError as exc:
                self.login_failures += 1
                n = self.login_failures
                reason = f"AMI login refused for user {exc.username!r} ({exc.message}), {n} time(s) in a row"
                log.warning("ami.login_failed", username=exc.username, message=exc.message, failures=n)
                if n % LOGIN_FAILURES_PER_ERROR == 0:
                    log.error(
                        "ami.login_failing",
                        username=exc.username,
                        message=exc.message,
                        failures=n,
                        hint="check ami.username and ami.secret against the PBX's manager.conf",
                    )
            except (OSError, TimeoutError, AmiError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                was_connected = self.connected.is_set()
                self.connected.clear()
                self._protocol = None
            self.last_disconnect_reason = reason
            if was_connected:
                log.warning("ami.disconnected", reason=reason)
                self._emit(PbxDisconnected(reason))
            else:
                log.warning("ami.connect_failed", reason=reason, retry_in_s=round(delay, 2))
            # Full jitter on a capped exponential backoff: many clients never retry in step.
            await asyncio.sleep(delay * (0.5 + self._rng.random()))
            delay = min(delay * 2, self._settings.reconnect_max_s)

    async def _session(self) -> str:
        """One connection's life: connect, log in, resync, serve; returns why it ended."""
        s = self._settings
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(s.connect_timeout_s):
            _, protocol = await loop.create_connection(
                lambda: HotlineAmiProtocol(self.translator, self._emit), s.host, s.port
            )
        self._protocol = protocol
        try:
            # An Asterisk that is still starting may accept and then say nothing (or reset).
            async with asyncio.timeout(s.connect_timeout_s):
                await asyncio.wait({protocol.banner, protocol.lost}, return_when=asyncio.FIRST_COMPLETED)
            if protocol.lost.done():
                return protocol.lost.result()
            await self._login(protocol)
            self.login_failures = 0
            async with asyncio.timeout(s.fully_booted_timeout_s):
                await protocol.fully_booted.wait()
            channels = await self._resync(protocol)
            self.connections += 1
            self.connected.set()
            log.info("ami.connected", host=s.host, port=s.port, connection=self.connections)
            self._emit(PbxConnected(channels))
            async with asyncio.TaskGroup() as session:
                pinger = session.create_task(self._keepalive(protocol), name="ami-pinger")
                reason = await protocol.lost
                pinger.cancel()
            return reason
        finally:
            protocol.close_with("session ended")

    async def _login(self, protocol: HotlineAmiProtocol) -> None:
        s = self._settings
        try:
            await self._call(
                protocol, "Login", [("Username", s.username), ("Secret", s.secret.reveal()), ("Events", "on")]
            )
        except ActionFailedError as exc:
            raise AuthenticationError(s.username, exc.message) from exc

    async def _resync(self, protocol: HotlineAmiProtocol) -> int:
        _, items = await self._call(protocol, "CoreShowChannels", [], hold_events=True)
        channels = [m for m in items if m.event == "CoreShowChannel"]
        for event in self.translator.resync(channels):
            log_call_event(event)
            self._emit(event)
        # Device states too: an agent whose phone is not registered must not be offered the
        # first call (DeviceStateChange only reports changes, so a phone that was already
        # unavailable when we connected would otherwise look ready).
        devices = 0
        try:
            _, listed = await self._call(protocol, "DeviceStateList", [], hold_events=True)
        except ActionFailedError as exc:  # an AMI user without the privilege: say so, go on
            log.warning("ami.device_states_unavailable", message=exc.message)
        else:
            states = self.translator.device_states(listed)
            devices = len(states)
            for event in states:
                self._emit(event)
        protocol.release_held()
        log.info(
            "ami.resynced", channels=len(channels), calls=len(self.translator.live_calls), devices=devices
        )
        return len(channels)

    async def _keepalive(self, protocol: HotlineAmiProtocol) -> None:
        s = self._settings
        while True:
            await asyncio.sleep(s.ping_interval_s)
            try:
                await self._call(protocol, "Ping", [], timeout_s=s.ping_timeout_s)
            except ActionTimeoutError:
                # Half-open: the socket looks fine but nothing comes back.
                protocol.close_with("ping timeout")
                return
            except AmiError:
                return

    # -- actions -------------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    async def _call(
        self,
        protocol: HotlineAmiProtocol,
        name: str,
        headers: Sequence[tuple[str, str]],
        *,
        timeout_s: float | None = None,
        hold_events: bool = False,
    ) -> tuple[str, list[AmiMessage]]:
        action_id = self._next_id()
        future = protocol.submit(name, action_id, headers, hold_events=hold_events)
        limit = self._settings.action_timeout_s if timeout_s is None else timeout_s
        try:
            async with asyncio.timeout(limit):
                messages = await future
        except TimeoutError as exc:
            protocol.forget(action_id)
            raise ActionTimeoutError(name, action_id, limit) from exc
        if messages[0].response == "Error":
            raise ActionFailedError(name, action_id, messages[0].get("Message"))
        return action_id, messages

    async def send_action(
        self, name: str, headers: Sequence[tuple[str, str]] = (), *, timeout_s: float | None = None
    ) -> tuple[str, list[AmiMessage]]:
        """Send one action on the live connection; return its ActionID and response message(s).

        Raises :class:`NotConnectedError` when there is no live connection (nothing is queued
        for later: the caller decides), :class:`HeaderInjectionError` before sending a value
        with CR/LF/NUL, :class:`ActionTimeoutError`, :class:`ActionFailedError` with
        Asterisk's message, or :class:`ConnectionLostError`.
        """
        protocol = self._protocol
        if protocol is None or not self.connected.is_set():
            raise NotConnectedError(name)
        return await self._call(protocol, name, headers, timeout_s=timeout_s)

    def drop(self, reason: str = "dropped by us") -> None:
        """Close the current connection (the supervisor reconnects)."""
        if self._protocol is not None:
            self._protocol.close_with(reason)


def log_call_event(event: DomainEvent) -> None:
    """The bridge's own summary lines for calls arriving, being abandoned, and ending."""
    if isinstance(event, CallArrived):
        log.info(
            "call.enqueued",
            call_id=event.call_id,
            caller_number=event.caller_number,
            caller_name=event.caller_name,
            priority=event.priority,
            resynced=event.resynced,
        )
    elif isinstance(event, CallAbandoned):
        log.info("call.abandoned", call_id=event.call_id, cause=event.cause, cause_text=event.cause_text)
    elif isinstance(event, CallEnded):
        log.info(
            "call.ended",
            call_id=event.call_id,
            cause=event.cause,
            cause_text=event.cause_text,
            reason=str(event.reason),
        )

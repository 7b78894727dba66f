"""The AMI session layer: a real asyncio TCP server that talks like Asterisk 22's manager.

It is built on ``loop.create_server`` with a Protocol per connection, so it starts no tasks at
all: requests are answered from ``data_received`` and every delay is a loop timer that
:meth:`PbxSimulator.close` cancels.  The call model itself lives in :mod:`.pbx`.

Requests are read the way Asterisk reads them (line by line, ``\\n`` or ``\\r\\n``, keys in any
case, ``Key:value`` without a space), and answered in the captures' exact wording.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import hashlib
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import structlog

from hotline.pbx_bridge.codec import AmiMessage, decode_frame, encode_message
from hotline.pbx_bridge.simulator import events as ev
from hotline.pbx_bridge.simulator.behaviour import AgentBehaviour, CitizenBehaviour
from hotline.pbx_bridge.simulator.dialplan import split_dial_string
from hotline.pbx_bridge.simulator.model import UNKNOWN, Cancellable, ChannelInfo, Headers, Originate
from hotline.pbx_bridge.simulator.pbx import DEFAULT_ORIGINATE_TIMEOUT_S, PbxModel
from hotline.pbx_bridge.simulator.phones import PhoneBook
from hotline.pbx_bridge.translator import CALLBACK_ID_VARIABLE
from hotline.settings import DialplanSettings

#: The captures' dialplan names (``config/hotline.toml`` ships the same defaults).
DEFAULT_DIALPLAN = DialplanSettings(
    inbound_context="hotline-inbound",
    hold_exten="hold",
    connect_context="hotline-connect",
    connect_exten_template="agent-{agent}",
    callback_context="hotline-callback",
    enqueue_user_event="HotlineEnqueue",
    agent_failed_user_event="HotlineAgentFailed",
    callback_result_user_event="HotlineCallbackResult",
    agent_device_template="Local/{agent}@agents",
    citizen_dial_template="Local/{number}@caller-sim",
    hotline_caller_id="12345",
    ring_timeout_s=20,
    callback_timeout_s=30,
    priority_variable="HOTLINE_IVR",
)

#: Asterisk's wait before it answers a failed login (manager.c sleeps 1 s).
AUTH_FAILURE_DELAY_S = 1.0
#: ``core restart now``: calls are hung up, then this long before ``Event: Shutdown``.
SHUTDOWN_DELAY_S = 1.1
#: Share of the restart's down time during which connections are accepted and reset at once.
RESET_SHARE = 0.2
#: A client that lets this much output pile up is cut off (Asterisk's ``writetimeout``).
MAX_WRITE_BUFFER = 32 * 1024 * 1024
#: A request line longer than this is dropped, as Asterisk does.
MAX_LINE = 64 * 1024
#: Actions every authenticated user may run (Asterisk registers them with no authority).
_UNPRIVILEGED = frozenset({"login", "logoff", "ping", "events", "challenge", "listcommands"})
_CAUSE_MAX = 127


#: The ``channelvars`` of the shipped ``config/asterisk/manager.conf``.
SHIPPED_CHANNELVARS = (CALLBACK_ID_VARIABLE, "HOTLINE_IVR")


class PbxUnavailableError(RuntimeError):
    """The simulated PBX is restarting (or closed): it cannot take a call now."""


@dataclass(frozen=True, slots=True)
class AmiUser:
    """A manager.conf user."""

    secret: str
    writable: bool = True


class _Timers:
    """Loop timers in simulated seconds, all of which :meth:`cancel_all` can withdraw."""

    def __init__(self, sim: PbxSimulator) -> None:
        self._sim = sim
        self._live: set[_Timer] = set()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Cancellable:
        timer = _Timer(self, callback)
        timer.handle = self._sim.loop.call_later(max(0.0, delay_s) * self._sim.time_scale, timer.fire)
        self._live.add(timer)
        return timer

    def discard(self, timer: _Timer) -> None:
        self._live.discard(timer)

    def cancel_all(self) -> None:
        for timer in list(self._live):
            timer.cancel()

    def run(self, callback: Callable[[], None]) -> None:
        self._sim.guarded(callback)


class _Timer:
    __slots__ = ("_callback", "_owner", "handle")

    def __init__(self, owner: _Timers, callback: Callable[[], None]) -> None:
        self._owner = owner
        self._callback = callback
        self.handle: asyncio.TimerHandle | None = None

    def fire(self) -> None:
        self._owner.discard(self)
        self._owner.run(self._callback)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self._owner.discard(self)


class _RequestReader:
    """Splits client bytes into requests the way Asterisk does: lines, a blank line ends one."""

    __slots__ = ("_buffer", "_lines")

    def __init__(self) -> None:
        self._buffer = b""
        self._lines: list[bytes] = []

    def feed(self, data: bytes) -> list[list[bytes]]:
        parts = (self._buffer + data).split(b"\n")
        self._buffer = parts.pop()
        if len(self._buffer) > MAX_LINE:
            self._buffer = b""
        requests: list[list[bytes]] = []
        for raw in parts:
            line = raw.rstrip(b"\r")
            if line:
                if len(line) <= MAX_LINE:
                    self._lines.append(line)
            else:
                # Even a blank line with nothing before it is a (headerless) request.
                requests.append(self._lines)
                self._lines = []
        return requests


def _header(msg: AmiMessage, key: str) -> str:
    """Asterisk's ``astman_get_header``: key in any case, value without leading blanks."""
    wanted = key.lower()
    for k, v in msg.headers:
        if k.lower() == wanted:
            return v.strip()
    return ""


def _header_all(msg: AmiMessage, key: str) -> list[str]:
    wanted = key.lower()
    return [v.strip() for k, v in msg.headers if k.lower() == wanted]


def _action_id(msg: AmiMessage) -> str | None:
    return _header(msg, "ActionID") or None


def _parse_callerid(text: str) -> tuple[str, str]:
    """``"张三" <13800000001>`` -> (number, name); a bare ``12345`` is a number."""
    match = re.fullmatch(r'\s*(?:"(?P<q>[^"]*)"|(?P<n>[^<]*?))\s*<(?P<num>[^>]*)>\s*', text)
    if match is None:
        return (text.strip() or UNKNOWN, UNKNOWN)
    name = match.group("q") if match.group("q") is not None else (match.group("n") or "")
    return (match.group("num") or UNKNOWN, name or UNKNOWN)


def _originate_variables(values: list[str]) -> list[tuple[str, str]]:
    """``Variable:`` headers; one header may carry several, comma-separated (as Asterisk allows)."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        for item in value.split(","):
            key, sep, val = item.partition("=")
            if sep and key.strip():
                pairs.append((key.strip(), val))
    return pairs


class _State(enum.Enum):
    CONNECTED = "connected"  # banner sent, not logged in
    AUTH_FAILING = "auth_failing"  # wrong credentials: the refusal comes in a second
    LOGGED_IN = "logged_in"
    CLOSED = "closed"


class _AmiSession(asyncio.Protocol):
    """One manager connection."""

    def __init__(self, sim: PbxSimulator) -> None:
        self._sim = sim
        self._reader = _RequestReader()
        self.transport: asyncio.Transport | None = None
        self.state = _State.CONNECTED
        self.username = ""
        self.writable = False
        self.categories: frozenset[str] | None = None  # None: every event category
        self.banner_sent = False
        self.remote = "IPV4/TCP/127.0.0.1/0"
        self.session_id = ""
        self.session_tv = 0.0
        self._timer: Cancellable | None = None

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sim = self._sim
        if sim.resetting:
            transport.abort()  # Asterisk going down: accepted, then reset with no byte sent
            return
        peer = transport.get_extra_info("peername") or ("127.0.0.1", 0)
        self.remote = f"IPV4/TCP/{peer[0]}/{peer[1]}"
        self.session_id = f"0x7f{sim.rng.getrandbits(40):010x}"
        sim.sessions.add(self)
        if sim.auth_timeout_s is not None:
            self._timer = sim.session_timers.call_later(sim.auth_timeout_s, self._auth_timed_out)
        if not sim.silent:
            self.send_banner()

    def data_received(self, data: bytes) -> None:
        sim = self._sim
        sim.received.append(data)
        if sim.silent or self.state is _State.CLOSED:
            return  # half-open: nothing gets through any more
        for lines in self._reader.feed(data):
            if self.state in (_State.AUTH_FAILING, _State.CLOSED):
                return
            message = decode_frame(b"\r\n".join(lines))
            sim.actions_received.append(message)
            sim.guarded(functools.partial(self._handle, message))

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = _State.CLOSED
        if self._timer is not None:
            self._timer.cancel()
        self._sim.sessions.discard(self)

    # -- output ------------------------------------------------------------------------

    def send_banner(self) -> None:
        if not self.banner_sent and self.transport is not None:
            self.banner_sent = True
            self.transport.write(ev.BANNER)

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or self.state is _State.CLOSED or self._sim.silent or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self._sim.log.warning("simulator.client_too_slow", remote=self.remote)
            transport.abort()

    def send(self, headers: Headers) -> None:
        self.write(encode_message(headers))

    def respond(self, status: str, action_id: str | None, *extra: tuple[str, str]) -> None:
        headers: Headers = [("Response", status)]
        if action_id is not None:
            headers.append(("ActionID", action_id))
        headers.extend(extra)
        self.send(headers)

    def error(self, action_id: str | None, message: str) -> None:
        self.respond("Error", action_id, ("Message", message))

    def wants(self, category: str) -> bool:
        return self.categories is None or category in self.categories

    def close(self) -> None:
        """Close after the pending output is flushed."""
        self.state = _State.CLOSED
        if self.transport is not None:
            self.transport.close()

    # -- requests ----------------------------------------------------------------------

    def _handle(self, msg: AmiMessage) -> None:
        sim = self._sim
        action = _header(msg, "Action")
        action_id = _action_id(msg)
        if not action:
            self.error(action_id, "Missing action in request")
            sim.security_event(self, ev.request_bad_format, "NONE")
            return
        name = action.lower()
        if self.state is not _State.LOGGED_IN and name not in ("login", "logoff", "challenge"):
            self.error(action_id, "Permission denied")
            return
        handler = _HANDLERS.get(name)
        if handler is None:
            self.error(
                action_id,
                f"Invalid/unknown command: {action}. Use Action: ListCommands to show available commands.",
            )
            sim.security_event(self, ev.request_bad_format, action)
            return
        if self.state is _State.LOGGED_IN and not self.writable and name not in _UNPRIVILEGED:
            self.error(action_id, "Permission denied")
            sim.security_event(self, ev.request_not_allowed, action)
            return
        handler(self, msg, action_id)

    def _auth_timed_out(self) -> None:
        self._timer = None
        if self.state is _State.CONNECTED:
            self.close()

    def _login(self, msg: AmiMessage, action_id: str | None) -> None:
        sim = self._sim
        user = sim.users.get(_header(msg, "Username"))
        if user is None or not self._secret_ok(msg, user):
            # Asterisk answers a failed login only after a second, then hangs up.
            self.state = _State.AUTH_FAILING
            if self._timer is not None:
                self._timer.cancel()
            self._timer = sim.session_timers.call_later(AUTH_FAILURE_DELAY_S, lambda: self._refuse(action_id))
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.state = _State.LOGGED_IN
        self.username = _header(msg, "Username")
        self.writable = user.writable
        self.categories = _event_mask(_header(msg, "Events"), self.categories)
        self.session_tv = sim.now()
        self.respond("Success", action_id, ("Message", "Authentication accepted"))
        sim.logged_in(self)

    def _secret_ok(self, msg: AmiMessage, user: AmiUser) -> bool:
        if _header(msg, "AuthType").lower() == "md5":
            digest = hashlib.md5((self._sim.challenge + user.secret).encode()).hexdigest()
            return _header(msg, "Key") == digest
        return _header(msg, "Secret") == user.secret

    def _refuse(self, action_id: str | None) -> None:
        self._timer = None
        if self.transport is not None and not self.transport.is_closing() and not self._sim.silent:
            self.transport.write(
                encode_message(
                    [("Response", "Error"), *_aid(action_id), ("Message", "Authentication failed")]
                )
            )
        self.close()

    def _challenge(self, msg: AmiMessage, action_id: str | None) -> None:
        self._sim.challenge = f"{self._sim.rng.getrandbits(30):09d}"[:9]
        self.respond("Success", action_id, ("Challenge", self._sim.challenge))

    def _logoff(self, msg: AmiMessage, action_id: str | None) -> None:
        self.respond("Goodbye", action_id, ("Message", "Thanks for all the fish."))
        self.close()

    def _ping(self, msg: AmiMessage, action_id: str | None) -> None:
        self.respond("Success", action_id, ("Ping", "Pong"), ("Timestamp", f"{self._sim.now():.6f}"))

    def _events(self, msg: AmiMessage, action_id: str | None) -> None:
        self.categories = _event_mask(_header(msg, "EventMask"), self.categories)
        self.respond("Success", action_id, ("Events", "Off" if self.categories == frozenset() else "On"))

    def _originate(self, msg: AmiMessage, action_id: str | None) -> None:
        sim = self._sim
        channel = _header(msg, "Channel")
        if not channel:
            return self.error(action_id, "Channel not specified")
        if split_dial_string(channel) is None:
            return self.error(action_id, "Invalid channel")
        priority = _header(msg, "Priority")
        if priority and not priority.isdigit():
            return self.error(action_id, "Invalid priority")
        timeout_text = _header(msg, "Timeout")
        try:
            timeout_s = int(timeout_text) / 1000 if timeout_text else DEFAULT_ORIGINATE_TIMEOUT_S
        except ValueError:
            return self.error(action_id, "Invalid timeout")
        callerid = _header(msg, "CallerID")
        caller_num, caller_name = _parse_callerid(callerid) if callerid else (UNKNOWN, UNKNOWN)
        application = _header(msg, "Application") or None
        asynchronous = _header(msg, "Async").lower() in ("true", "yes", "1", "on", "y", "t")
        originate = Originate(
            action_id=action_id,
            dial_string=channel,
            context=None if application else (_header(msg, "Context") or "default"),
            exten=None if application else (_header(msg, "Exten") or "s"),
            application=application,
            data=_header(msg, "Data"),
            timeout_s=timeout_s if timeout_s > 0 else DEFAULT_ORIGINATE_TIMEOUT_S,
            caller_num=caller_num,
            caller_name=caller_name,
            variables=_originate_variables(_header_all(msg, "Variable")),
            async_=asynchronous,
        )
        if asynchronous:
            self.respond("Success", action_id, ("Message", "Originate successfully queued"))
        else:
            originate.on_done = lambda ok: (
                self.respond("Success", action_id, ("Message", "Originate successfully queued"))
                if ok
                else self.error(action_id, "Originate failed")
            )
        sim.model.originate(originate)

    def _redirect(self, msg: AmiMessage, action_id: str | None) -> None:
        model = self._sim.model
        name, context, exten = _header(msg, "Channel"), _header(msg, "Context"), _header(msg, "Exten")
        priority = _header(msg, "Priority")
        problem = next(
            (
                text
                for bad, text in (
                    (not name, "Channel not specified"),
                    (not context, "Context not specified"),
                    (not exten, "Exten not specified"),
                    (not priority, "Priority not specified"),
                    (not priority.isdigit() or int(priority) < 1, "Priority is invalid"),
                )
                if bad
            ),
            None,
        )
        if problem is not None:
            return self.error(action_id, problem)
        targets = [name]
        extra = _header(msg, "ExtraChannel")
        if extra:
            targets.append(extra)
        channels = []
        for target in targets:
            ch = model.find(target)
            if ch is None:
                return self.error(action_id, f"Channel does not exist: {target}")
            channels.append(ch)
        self.respond("Success", action_id, ("Message", "Redirect successful"))
        for ch in channels:
            if not ch.hung_up:
                model.redirect(ch, context, exten)

    def _hangup(self, msg: AmiMessage, action_id: str | None) -> None:
        model = self._sim.model
        name = _header(msg, "Channel")
        if not name:
            return self.error(action_id, "No channel specified")
        cause_text = _header(msg, "Cause")
        cause: int | None = None
        if cause_text:
            cause = int(cause_text) if cause_text.isdigit() and int(cause_text) <= _CAUSE_MAX else 0
        if len(name) > 1 and name.startswith("/") and name.endswith("/"):
            return self._hangup_matching(name[1:-1], cause, action_id)
        ch = model.find(name)
        if ch is None:
            return self.error(action_id, "No such channel")
        self.respond("Success", action_id, ("Message", "Channel Hungup"))
        model.hangup_channel(ch, cause)

    def _hangup_matching(self, pattern: str, cause: int | None, action_id: str | None) -> None:
        model = self._sim.model
        try:
            regex = re.compile(pattern)
        except re.error:
            return self.error(action_id, "Invalid regex")
        matched = [ch for ch in model.channels.values() if regex.search(ch.name)]
        self.respond(
            "Success", action_id, ("EventList", "start"), ("Message", "Channels hung up will follow")
        )
        for ch in matched:
            self.send([("Event", "ChannelHungup"), *_aid(action_id), ("Channel", ch.name)])
        self.send(ev.list_complete("ChannelsHungupListComplete", action_id, len(matched)))
        for ch in matched:
            if not ch.hung_up:
                model.hangup_channel(ch, cause)

    def _setvar(self, msg: AmiMessage, action_id: str | None) -> None:
        model = self._sim.model
        name, variable = _header(msg, "Channel"), _header(msg, "Variable")
        if not variable:
            return self.error(action_id, "No variable specified")
        ch = model.find(name) if name else None
        if name and ch is None:
            return self.error(action_id, "No such channel")
        self.respond("Success", action_id, ("Message", "Variable Set"))
        model.set_variable(ch, variable, _header(msg, "Value"))

    def _mixmonitor(self, msg: AmiMessage, action_id: str | None) -> None:
        # app_mixmonitor's manager_mixmonitor: these checks and messages, then the ID.
        model = self._sim.model
        name = _header(msg, "Channel")
        if not name:
            return self.error(action_id, "No channel specified")
        ch = model.find(name)
        if ch is None or ch.hung_up:
            return self.error(action_id, "No such channel")
        file_name = _header(msg, "File") or f"{ch.uniqueid}.wav"
        self._sim.recordings.append((ch.name, file_name))
        self.respond("Success", action_id, ("MixMonitorID", f"0x{id(ch) & 0xFFFFFFFF:08x}"))

    def _stop_mixmonitor(self, msg: AmiMessage, action_id: str | None) -> None:
        model = self._sim.model
        name = _header(msg, "Channel")
        if not name:
            return self.error(action_id, "No channel specified")
        ch = model.find(name)
        if ch is None or ch.hung_up:
            return self.error(action_id, "No such channel")
        if not any(channel == ch.name for channel, _ in self._sim.recordings):
            return self.error(action_id, "Could not stop monitoring channel")
        self.respond("Success", action_id, ("Message", "Stopped monitoring channel"))

    def _getvar(self, msg: AmiMessage, action_id: str | None) -> None:
        model = self._sim.model
        name, variable = _header(msg, "Channel"), _header(msg, "Variable")
        if not variable:
            return self.error(action_id, "No variable specified")
        ch = model.find(name) if name else None
        if name and ch is None:
            return self.error(action_id, "No such channel")
        self.respond(
            "Success", action_id, ("Variable", variable), ("Value", model.get_variable(ch, variable))
        )

    def _status(self, msg: AmiMessage, action_id: str | None) -> None:
        model = self._sim.model
        name = _header(msg, "Channel")
        if name:
            ch = model.find(name)
            if ch is None:
                return self.error(action_id, "No such channel")
            channels = [ch]
        else:
            channels = list(model.channels.values())
        self.respond("Success", action_id, ("EventList", "start"), ("Message", "Channel status will follow"))
        now = self._sim.now()
        for ch in channels:
            self.send(_with_action_id(ev.status_item(ch, action_id or "", now), action_id))
        self.send(ev.list_complete("StatusComplete", action_id, len(channels), with_items=True))

    def _core_show_channels(self, msg: AmiMessage, action_id: str | None) -> None:
        channels = list(self._sim.model.channels.values())
        self.respond("Success", action_id, ("EventList", "start"), ("Message", "Channels will follow"))
        now = self._sim.now()
        for ch in channels:
            self.send(_with_action_id(ev.core_show_channel(ch, action_id or "", now), action_id))
        self.send(ev.list_complete("CoreShowChannelsComplete", action_id, len(channels)))

    def _bridge_list(self, msg: AmiMessage, action_id: str | None) -> None:
        bridges = list(self._sim.model.bridges.values())
        self.respond("Success", action_id, ("EventList", "start"), ("Message", "Bridge listing will follow"))
        for bridge in bridges:
            self.send(_with_action_id(ev.bridge_list_item(bridge, action_id or ""), action_id))
        self.send(ev.list_complete("BridgeListComplete", action_id, len(bridges)))

    def _device_state_list(self, msg: AmiMessage, action_id: str | None) -> None:
        devices = list(self._sim.model.devices.items())
        self.respond(
            "Success", action_id, ("EventList", "start"), ("Message", "Device State Changes will follow")
        )
        for device, state in devices:
            self.send(_with_action_id(ev.device_state_change(device, state, action_id or ""), action_id))
        self.send(ev.list_complete("DeviceStateListComplete", action_id, len(devices)))

    def _core_status(self, msg: AmiMessage, action_id: str | None) -> None:
        model = self._sim.model
        started = model.started
        self.respond(
            "Success",
            action_id,
            ("CoreStartupDate", time.strftime("%Y-%m-%d", time.gmtime(started))),
            ("CoreStartupTime", time.strftime("%H:%M:%S", time.gmtime(started))),
            ("CoreReloadDate", time.strftime("%Y-%m-%d", time.gmtime(started))),
            ("CoreReloadTime", time.strftime("%H:%M:%S", time.gmtime(started))),
            ("CoreCurrentCalls", str(len(model.calls))),
            ("CoreProcessedCalls", str(model.processed_calls)),
        )

    def _core_settings(self, msg: AmiMessage, action_id: str | None) -> None:
        self.respond(
            "Success",
            action_id,
            ("AMIversion", ev.AMI_VERSION),
            ("AsteriskVersion", ev.ASTERISK_VERSION),
            ("SystemName", ""),
            ("CoreMaxCalls", "0"),
            ("CoreMaxLoadAvg", "0.000000"),
            ("CoreRunUser", ""),
            ("CoreRunGroup", ""),
            ("CoreMaxFilehandles", "8192"),
            ("CoreRealTimeEnabled", "No"),
            ("CoreCDRenabled", "Yes"),
            ("CoreHTTPenabled", "No"),
            ("SoundsSearchCustomDir", "No"),
        )

    def _command(self, msg: AmiMessage, action_id: str | None) -> None:
        """A few harmless CLI commands; anything else fails the way the CLI does."""
        model = self._sim.model
        command = " ".join(_header(msg, "Command").split())
        outputs: dict[str, list[str]] = {
            "core show channels count": [
                f"{len(model.channels)} active channels",
                f"{len(model.calls)} active calls",
                f"{model.processed_calls} calls processed",
            ],
            "core show version": [
                f"Asterisk {ev.ASTERISK_VERSION} built by root @ vm on a x86_64 running Linux (simulated)"
            ],
            "core show uptime": [f"System uptime: {self._sim.uptime()} seconds"],
        }
        lines = outputs.get(command.lower())
        if lines is None:
            failure = (
                f"No such command '{command}' (type 'core show help {command}' for other possible commands)"
            )
            self.respond("Error", action_id, ("Message", "Command output follows"), ("Output", failure))
            return
        self.respond(
            "Success", action_id, ("Message", "Command output follows"), *(("Output", line) for line in lines)
        )


def _aid(action_id: str | None) -> Headers:
    return [("ActionID", action_id)] if action_id is not None else []


def _with_action_id(headers: Headers, action_id: str | None) -> Headers:
    """List items carry the request's ActionID; without one Asterisk leaves the header out."""
    return headers if action_id is not None else [(k, v) for k, v in headers if k != "ActionID"]


def _event_mask(text: str, current: frozenset[str] | None) -> frozenset[str] | None:
    """Login ``Events:`` / ``EventMask:``: on, off, or a list of categories (call, user...)."""
    value = text.strip().lower()
    if not value:
        return current
    if value in ("on", "yes", "true", "all", "1"):
        return None
    if value in ("off", "no", "false", "none", "0"):
        return frozenset()
    return frozenset(part.strip() for part in value.split(",") if part.strip())


_Handler = Callable[[_AmiSession, AmiMessage, str | None], None]
_HANDLERS: Mapping[str, _Handler] = {
    "login": _AmiSession._login,
    "logoff": _AmiSession._logoff,
    "challenge": _AmiSession._challenge,
    "ping": _AmiSession._ping,
    "events": _AmiSession._events,
    "originate": _AmiSession._originate,
    "redirect": _AmiSession._redirect,
    "hangup": _AmiSession._hangup,
    "setvar": _AmiSession._setvar,
    "getvar": _AmiSession._getvar,
    "mixmonitor": _AmiSession._mixmonitor,
    "stopmixmonitor": _AmiSession._stop_mixmonitor,
    "status": _AmiSession._status,
    "coreshowchannels": _AmiSession._core_show_channels,
    "bridgelist": _AmiSession._bridge_list,
    "devicestatelist": _AmiSession._device_state_list,
    "corestatus": _AmiSession._core_status,
    "coresettings": _AmiSession._core_settings,
    "command": _AmiSession._command,
}


class PbxSimulator:
    """A fake Asterisk 22 for tests, ``hotline demo`` and benchmarks: AMI over real TCP.

    Every delay (agents answering, ring timeouts, the restart's down time...) is in simulated
    seconds and runs ``time_scale`` times as long on the loop's clock, so ``time_scale=0.05``
    plays a scenario 20 times faster.  Scenario controls (:meth:`place_inbound_call`,
    :meth:`hangup_call`, ...) must be called from the loop the simulator runs on.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "hotline",
        secret: str = "hotline-secret",
        time_scale: float = 1.0,
        agents: Mapping[str, AgentBehaviour] | None = None,
        dialplan: DialplanSettings | None = None,
        seed: int = 0,
        citizens: Mapping[str, CitizenBehaviour] | None = None,
        readonly_users: Mapping[str, str] | None = None,
        agent_answer_delay_s: float = 0.5,
        caller_patience_s: float | None = 120.0,
        auth_timeout_s: float | None = 30.0,
        start_epoch: float | None = None,
        channelvars: Sequence[str] = (),
        sip_phones: Sequence[str] = (),
        unregistered_phones: Sequence[str] = (),
    ) -> None:
        """``agents``/``citizens`` override the captures' dialplan per extension or number.

        ``readonly_users`` (name -> secret) may log in and read events but run no action that
        needs write permission (like manager.conf's ``monitor``).  ``caller_patience_s`` is how
        long an inbound citizen waits before abandoning when :meth:`place_inbound_call` gives
        no patience (None: forever).  ``auth_timeout_s``: unauthenticated sockets are closed
        after this long (manager.conf ``authtimeout``).  ``start_epoch``: the simulated wall-clock
        time at :meth:`start` (default: the real time then), to share a timeline with a service
        that runs on a scaled clock too.  ``channelvars``: manager.conf's, shown as ``ChanVariable``
        lines in channel events (the captures were taken without; the shipped manager.conf sets
        ``HOTLINE_CALLBACK_ID``).  ``sip_phones``: agents' PJSIP endpoints (``"1001"``...) that
        register like the softphones of the pjsip captures (all registered at start except
        ``unregistered_phones``); see :meth:`register_phone`.  Without them any ``PJSIP/1XXX``
        answers as its agent behaviour says.
        """
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self._host = host
        self._requested_port = port
        self._port = port
        self.time_scale = time_scale
        self._dialplan = dialplan or DEFAULT_DIALPLAN
        self.rng = random.Random(seed)
        self._agents: dict[str, AgentBehaviour] = dict(agents or {})
        self._citizens: dict[str, CitizenBehaviour] = dict(citizens or {})
        self.users: dict[str, AmiUser] = {username: AmiUser(secret)}
        for name, user_secret in (readonly_users or {}).items():
            self.users[name] = AmiUser(user_secret, writable=False)
        self._agent_delay_s = agent_answer_delay_s
        self._patience_s = caller_patience_s
        self._channelvars = tuple(channelvars)
        self.phone_book = PhoneBook.of(sip_phones, unregistered_phones)
        self.auth_timeout_s = auth_timeout_s
        self.log = structlog.get_logger("hotline.pbx_bridge.simulator")
        #: Every raw chunk any client sent, in arrival order.
        self.received: list[bytes] = []
        #: Every request decoded from those chunks, in order (including malformed ones).
        self.actions_received: list[AmiMessage] = []
        #: (channel, file) of every MixMonitor started (issue 11).
        self.recordings: list[tuple[str, str]] = []
        #: Exceptions raised inside the simulator's callbacks (tests assert it stays empty).
        self.errors: list[BaseException] = []
        self.sessions: set[_AmiSession] = set()
        self.silent = False
        self.resetting = False
        self.challenge = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._model: PbxModel | None = None
        self._pbx_timers: _Timers | None = None
        self._session_timers: _Timers | None = None
        self._start_epoch = start_epoch
        self._epoch0 = 0.0
        self._loop_t0 = 0.0
        self._down = False
        self._closed = False
        self._boot_broadcast_pending = False
        self._closing: asyncio.Event | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving (``port=0`` picks a free port: see :attr:`port`)."""
        if self._server is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        self._epoch0 = time.time() if self._start_epoch is None else self._start_epoch
        self._loop_t0 = self._loop.time()
        self._pbx_timers = _Timers(self)
        self._session_timers = _Timers(self)
        self._model = self._new_model()
        await self._listen(self._requested_port)
        self.log.info("simulator.started", host=self._host, port=self._port, time_scale=self.time_scale)

    async def close(self) -> None:
        """Stop listening, drop every client, cancel every timer; nothing keeps running."""
        if self._closed:
            return
        self._closed = True
        if self._closing is not None:
            self._closing.set()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.abort()
        self.sessions.clear()
        if server is not None:
            await server.wait_closed()
        for timers in (self._pbx_timers, self._session_timers):
            if timers is not None:
                timers.cancel_all()
        self.log.info("simulator.closed", port=self._port)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self._port

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the simulator is not started")
        return self._loop

    @property
    def model(self) -> PbxModel:
        """The call model (for white-box tests)."""
        if self._model is None:
            raise RuntimeError("the simulator is not started")
        return self._model

    @property
    def session_timers(self) -> _Timers:
        assert self._session_timers is not None
        return self._session_timers

    def now(self) -> float:
        """Simulated wall-clock time (epoch seconds); runs 1/time_scale times as fast."""
        return self._epoch0 + (self.loop.time() - self._loop_t0) / self.time_scale

    def uptime(self) -> int:
        return int(self.now() - self.model.started)

    # -- scenario control ----------------------------------------------------------------

    def place_inbound_call(
        self, number: str, name: str = "", *, priority: str = "normal", patience_s: float | None = None
    ) -> str:
        """A citizen dials 12345; returns the call's Linkedid.

        The call runs ``hotline-inbound`` (HotlineEnqueue, then music on hold).  A ``priority``
        other than ``"normal"`` sets the IVR variable (``dialplan.priority_variable``) before the
        UserEvent.  If ``patience_s`` (default: the simulator's ``caller_patience_s``) passes
        before the call is bridged to an agent, the citizen hangs up.

        Raises :class:`PbxUnavailableError` while the PBX restarts.
        """
        self._check_up()
        return self.model.place_inbound_call(number, name, priority, patience_s)

    def hangup_call(self, call_id: str, cause: int = 16) -> None:
        """The citizen of call ``call_id`` (a Linkedid) hangs up; a call already gone is ignored."""
        if self._model is not None and not self._down:
            self._model.hangup_call(call_id, cause)

    def set_agent_behaviour(self, agent: str, behaviour: AgentBehaviour) -> None:
        """How agent extension ``agent`` (``"1001"``) reacts to the next call."""
        self._agents[agent] = behaviour

    def set_citizen_behaviour(self, number: str, behaviour: CitizenBehaviour) -> None:
        """How citizen ``number`` reacts to the next callback (and how long they talk)."""
        self._citizens[number] = behaviour

    def register_phone(self, endpoint: str) -> None:
        """Agent ``endpoint``'s softphone (re)starts and registers (``PhoneControlError`` if unknown)."""
        self._check_up()
        self.model.phones.register(endpoint)

    def unregister_phone(self, endpoint: str) -> None:
        """The softphone de-registers gracefully: unavailable at once."""
        self._check_up()
        self.model.phones.unregister(endpoint)

    def kill_phone(self, endpoint: str) -> None:
        """The softphone dies without a word: Unreachable after the next qualify (2-7 s later)."""
        self._check_up()
        self.model.kill_phone(endpoint)

    def drop_connections(self) -> None:
        """Cut every client socket at once (a network drop); the PBX keeps its calls."""
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.abort()

    def stop_answering(self, enabled: bool = True) -> None:
        """Half-open: sockets stay up but nothing is sent or processed until re-enabled."""
        self.silent = enabled
        if not enabled:
            for session in list(self.sessions):
                session.send_banner()

    def send_garbage(self, data: bytes) -> None:
        """Write raw bytes to every connected client."""
        for session in list(self.sessions):
            session.write(data)

    def live_channels(self) -> list[ChannelInfo]:
        """Every live channel, oldest first."""
        return self.model.live_channels() if self._model is not None else []

    def live_calls(self) -> list[str]:
        """Linkedids of the calls with any channel up."""
        return self.model.live_calls() if self._model is not None else []

    async def restart(self, down_s: float = 1.5) -> None:
        """``core restart now`` (capture 10): calls hung up, ``Shutdown``, sockets closed, no
        service for ``down_s``, then back with Uniqueids counting from 0 again and
        ``FullyBooted`` sent twice to the first client that logs in."""
        if self._down or self._closed:
            return
        self._down = True
        self.model.shutdown()
        if await self._pause(SHUTDOWN_DELAY_S):
            return
        self.broadcast(ev.shutdown(restart=True))
        for session in list(self.sessions):
            session.close()
        # Asterisk first accepts and resets, then refuses outright (capture 10, r01 and r02).
        self.resetting = True
        if await self._pause(down_s * RESET_SHARE):
            return
        await self._stop_listening()
        self.resetting = False
        if await self._pause(down_s * (1 - RESET_SHARE)):
            return
        assert self._pbx_timers is not None
        self._pbx_timers.cancel_all()
        self._model = self._new_model()
        self._boot_broadcast_pending = True
        await self._listen(self._port)
        self._down = False
        self.log.info("simulator.restarted", port=self._port)

    # -- plumbing used by the sessions ---------------------------------------------------

    def guarded(self, callback: Callable[[], None]) -> None:
        """Run a callback; a bug in the simulator is logged and kept, not raised into asyncio."""
        try:
            callback()
        except Exception as exc:
            self.errors.append(exc)
            self.log.exception("simulator.callback_failed")

    def broadcast(self, headers: Headers) -> None:
        """Send an event to every logged-in client whose event mask takes its category."""
        category = headers[1][1].split(",", 1)[0].lower() if len(headers) > 1 else ""
        data = encode_message(headers)
        for session in list(self.sessions):
            if session.state is _State.LOGGED_IN and session.wants(category):
                session.write(data)

    def security_event(self, session: _AmiSession, build: Callable[..., Headers], action: str) -> None:
        self.broadcast(
            build(
                now=self.now(),
                account=session.username,
                session_id=session.session_id,
                local=f"IPV4/TCP/{self._host}/{self._port}",
                remote=session.remote,
                session_tv=session.session_tv or self.now(),
                action=action,
            )
        )

    def logged_in(self, session: _AmiSession) -> None:
        """After ``Authentication accepted``: FullyBooted (twice right after a restart), then
        the SuccessfulAuth security event."""
        uptime = self.uptime()
        if session.wants("system"):
            session.send(ev.fully_booted(uptime, uptime, broadcast=False))
        if self._boot_broadcast_pending:
            self._boot_broadcast_pending = False
            self.broadcast(ev.fully_booted(uptime, uptime, broadcast=True))
        self.broadcast(
            ev.successful_auth(
                now=self.now(),
                account=session.username,
                session_id=session.session_id,
                local=f"IPV4/TCP/{self._host}/{self._port}",
                remote=session.remote,
                session_tv=session.session_tv,
            )
        )

    # -- internals -----------------------------------------------------------------------

    def _new_model(self) -> PbxModel:
        assert self._pbx_timers is not None
        return PbxModel(
            clock=self.now,
            scheduler=self._pbx_timers,
            emit=self.broadcast,
            dialplan=self._dialplan,
            agents=self._agents,
            citizens=self._citizens,
            agent_answer_delay_s=self._agent_delay_s,
            caller_patience_s=self._patience_s,
            rng=self.rng,
            channelvars=self._channelvars,
            phones=self.phone_book,
        )

    def _check_up(self) -> None:
        if self._model is None or self._down or self._closed:
            raise PbxUnavailableError("the simulated PBX is not running (restarting or closed)")

    async def _listen(self, port: int) -> None:
        self._server = await self.loop.create_server(
            lambda: _AmiSession(self), self._host, port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _pause(self, simulated_s: float) -> bool:
        """Sleep for simulated seconds; True when :meth:`close` interrupted it."""
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), simulated_s * self.time_scale)
        except TimeoutError:
            return False
        return True

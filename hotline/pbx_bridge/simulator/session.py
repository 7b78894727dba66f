"""One AMI manager connection to the simulated PBX: login, authority, output, dispatch.

An :class:`AmiSession` is the asyncio Protocol of one client socket.  It sends the banner,
logs the client in (plain or MD5 challenge, refusing a second late as Asterisk does), keeps
its event mask and write permission, writes events and replies, and dispatches every other
request to :data:`~.manager_actions.MANAGER_ACTIONS`.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hotline.pbx_bridge.codec import AmiMessage, decode_frame, encode_message
from hotline.pbx_bridge.simulator import events as ev
from hotline.pbx_bridge.simulator.ami_requests import RequestReader, action_id_headers, header
from hotline.pbx_bridge.simulator.manager_actions import MANAGER_ACTIONS
from hotline.pbx_bridge.simulator.model import Cancellable, Headers

if TYPE_CHECKING:
    from hotline.pbx_bridge.simulator.server import PbxSimulator

#: Asterisk's wait before it answers a failed login (manager.c sleeps 1 s).
AUTH_FAILURE_DELAY_S = 1.0
#: A client that lets this much output pile up is cut off (Asterisk's ``writetimeout``).
MAX_WRITE_BUFFER = 32 * 1024 * 1024
#: Actions every authenticated user may run (Asterisk registers them with no authority).
_UNPRIVILEGED = frozenset({"login", "logoff", "ping", "events", "challenge", "listcommands"})


@dataclass(frozen=True, slots=True)
class AmiUser:
    """A manager.conf user."""

    secret: str
    writable: bool = True


class SessionState(enum.Enum):
    """Where a manager connection stands."""

    CONNECTED = "connected"  # banner sent, not logged in
    AUTH_FAILING = "auth_failing"  # wrong credentials: the refusal comes in a second
    LOGGED_IN = "logged_in"
    CLOSED = "closed"


class AmiSession(asyncio.Protocol):
    """One manager connection."""

    def __init__(self, sim: PbxSimulator) -> None:
        #: The simulator this connection belongs to (its model, clock and timers).
        self.sim = sim
        self._reader = RequestReader()
        self.transport: asyncio.Transport | None = None
        self.state = SessionState.CONNECTED
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
        sim = self.sim
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
        sim = self.sim
        sim.received.append(data)
        if sim.silent or self.state is SessionState.CLOSED:
            return  # half-open: nothing gets through any more
        for lines in self._reader.feed(data):
            if self.state in (SessionState.AUTH_FAILING, SessionState.CLOSED):
                return
            message = decode_frame(b"\r\n".join(lines))
            sim.actions_received.append(message)
            sim.guarded(functools.partial(self._handle, message))

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = SessionState.CLOSED
        if self._timer is not None:
            self._timer.cancel()
        self.sim.sessions.discard(self)

    # -- output ------------------------------------------------------------------------

    def send_banner(self) -> None:
        if not self.banner_sent and self.transport is not None:
            self.banner_sent = True
            self.transport.write(ev.BANNER)

    def write(self, data: bytes) -> None:
        transport = self.transport
        if (
            transport is None
            or self.state is SessionState.CLOSED
            or self.sim.silent
            or transport.is_closing()
        ):
            return
        transport.write(data)
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.sim.log.warning("simulator.client_too_slow", remote=self.remote)
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
        self.state = SessionState.CLOSED
        if self.transport is not None:
            self.transport.close()

    # -- requests ----------------------------------------------------------------------

    def _handle(self, msg: AmiMessage) -> None:
        sim = self.sim
        action = header(msg, "Action")
        action_id = _action_id(msg)
        if not action:
            self.error(action_id, "Missing action in request")
            sim.security_event(self, ev.request_bad_format, "NONE")
            return
        name = action.lower()
        if self.state is not SessionState.LOGGED_IN and name not in ("login", "logoff", "challenge"):
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
        if self.state is SessionState.LOGGED_IN and not self.writable and name not in _UNPRIVILEGED:
            self.error(action_id, "Permission denied")
            sim.security_event(self, ev.request_not_allowed, action)
            return
        handler(self, msg, action_id)

    def _auth_timed_out(self) -> None:
        self._timer = None
        if self.state is SessionState.CONNECTED:
            self.close()

    def _login(self, msg: AmiMessage, action_id: str | None) -> None:
        sim = self.sim
        user = sim.users.get(header(msg, "Username"))
        if user is None or not self._secret_ok(msg, user):
            # Asterisk answers a failed login only after a second, then hangs up.
            self.state = SessionState.AUTH_FAILING
            if self._timer is not None:
                self._timer.cancel()
            self._timer = sim.session_timers.call_later(AUTH_FAILURE_DELAY_S, lambda: self._refuse(action_id))
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.state = SessionState.LOGGED_IN
        self.username = header(msg, "Username")
        self.writable = user.writable
        self.categories = _event_mask(header(msg, "Events"), self.categories)
        self.session_tv = sim.now()
        self.respond("Success", action_id, ("Message", "Authentication accepted"))
        sim.logged_in(self)

    def _secret_ok(self, msg: AmiMessage, user: AmiUser) -> bool:
        if header(msg, "AuthType").lower() == "md5":
            digest = hashlib.md5((self.sim.challenge + user.secret).encode()).hexdigest()
            return header(msg, "Key") == digest
        return header(msg, "Secret") == user.secret

    def _refuse(self, action_id: str | None) -> None:
        self._timer = None
        if self.transport is not None and not self.transport.is_closing() and not self.sim.silent:
            self.transport.write(
                encode_message(
                    [
                        ("Response", "Error"),
                        *action_id_headers(action_id),
                        ("Message", "Authentication failed"),
                    ]
                )
            )
        self.close()

    def _challenge(self, msg: AmiMessage, action_id: str | None) -> None:
        self.sim.challenge = f"{self.sim.rng.getrandbits(30):09d}"[:9]
        self.respond("Success", action_id, ("Challenge", self.sim.challenge))

    def _logoff(self, msg: AmiMessage, action_id: str | None) -> None:
        self.respond("Goodbye", action_id, ("Message", "Thanks for all the fish."))
        self.close()

    def _ping(self, msg: AmiMessage, action_id: str | None) -> None:
        self.respond("Success", action_id, ("Ping", "Pong"), ("Timestamp", f"{self.sim.now():.6f}"))

    def _events(self, msg: AmiMessage, action_id: str | None) -> None:
        self.categories = _event_mask(header(msg, "EventMask"), self.categories)
        self.respond("Success", action_id, ("Events", "Off" if self.categories == frozenset() else "On"))


def _action_id(msg: AmiMessage) -> str | None:
    return header(msg, "ActionID") or None


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


_Handler = Callable[[AmiSession, AmiMessage, str | None], None]
_HANDLERS: Mapping[str, _Handler] = {
    "login": AmiSession._login,
    "logoff": AmiSession._logoff,
    "challenge": AmiSession._challenge,
    "ping": AmiSession._ping,
    "events": AmiSession._events,
    **MANAGER_ACTIONS,
}

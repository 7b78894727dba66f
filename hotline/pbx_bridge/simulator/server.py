"""The simulated PBX's server: a real asyncio TCP listener that talks like Asterisk 22's manager.

It is built on ``loop.create_server`` with a Protocol per connection, so it starts no tasks at
all: requests are answered from ``data_received`` and every delay is a loop timer that
:meth:`PbxSimulator.close` cancels.  :class:`PbxSimulator` owns the listener, the clock, the
call model (:mod:`.pbx`) and the scenario controls tests drive (calls, phones, drops,
restarts).  One client connection is a :class:`~.session.AmiSession` (:mod:`.session`),
whose actions on calls are in :mod:`.manager_actions`.

Requests are read the way Asterisk reads them (:mod:`.ami_requests`: line by line, ``\\n`` or
``\\r\\n``, keys in any case, ``Key:value`` without a space), and answered in the captures'
exact wording.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self

import structlog

from hotline.pbx_bridge.codec import AmiMessage, encode_message
from hotline.pbx_bridge.simulator import events as ev
from hotline.pbx_bridge.simulator.behaviour import AgentBehaviour, CitizenBehaviour
from hotline.pbx_bridge.simulator.manager_actions import (
    _originate_variables as _originate_variables,  # re-exported: unit tests import it from here
)
from hotline.pbx_bridge.simulator.manager_actions import (
    _parse_callerid as _parse_callerid,  # re-exported: unit tests import it from here
)
from hotline.pbx_bridge.simulator.model import Cancellable, ChannelInfo, Headers
from hotline.pbx_bridge.simulator.pbx import PbxModel
from hotline.pbx_bridge.simulator.phones import PhoneBook
from hotline.pbx_bridge.simulator.session import AmiSession, AmiUser, SessionState
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

#: ``core restart now``: calls are hung up, then this long before ``Event: Shutdown``.
SHUTDOWN_DELAY_S = 1.1
#: Share of the restart's down time during which connections are accepted and reset at once.
RESET_SHARE = 0.2


#: The ``channelvars`` of the shipped ``config/asterisk/manager.conf``.
SHIPPED_CHANNELVARS = (CALLBACK_ID_VARIABLE, "HOTLINE_IVR")


class PbxUnavailableError(RuntimeError):
    """The simulated PBX is restarting (or closed): it cannot take a call now."""


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
        self.sessions: set[AmiSession] = set()
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
            if session.state is SessionState.LOGGED_IN and session.wants(category):
                session.write(data)

    def security_event(self, session: AmiSession, build: Callable[..., Headers], action: str) -> None:
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

    def logged_in(self, session: AmiSession) -> None:
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
            lambda: AmiSession(self), self._host, port, reuse_address=True
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

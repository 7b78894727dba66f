"""MQTT clients of the contract, as an agent's desktop or a wallboard would write them.

:class:`AgentDesktop` logs in as the agent (username = agent id), leaves ``offline`` as its last
will on its presence topic, announces ``online``, and sends commands that it matches with their
replies by ``id``.  :class:`BoardClient` only listens (the wallboard, supervisors' screens).
``hotline agent`` and ``hotline wallboard`` (:mod:`hotline.bus.terminal`) are built on them, and
so are the integration tests: what they do is what an integrator's desktop plugin does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import aiomqtt

from hotline.bus.contract import PRESENCE_OFFLINE, PRESENCE_ONLINE, TCP_NODELAY_OPTION, Topics, encode
from hotline.bus.errors import BusError

REPLY_TIMEOUT_S = 10.0
_LIBRARY_LOG = logging.getLogger("hotline.bus.aiomqtt")
_LIBRARY_LOG.setLevel(logging.ERROR)


class NoReply(BusError):
    """The service did not answer a command in time."""


def _json(payload: object) -> dict[str, Any] | None:
    if not isinstance(payload, bytes | bytearray):
        return None
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


class _Listener:
    """A connected client with one owned reader task."""

    def __init__(self, client: aiomqtt.Client, topics: Topics) -> None:
        self.client = client
        self.topics = topics
        self._reader: asyncio.Task[None] | None = None
        self.status: dict[str, Any] | None = None
        self.stats: dict[str, Any] | None = None
        self.states: dict[str, dict[str, Any]] = {}
        self.changes: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def __aenter__(self) -> Self:
        await self.client.__aenter__()
        try:
            await self._subscribe()
        except BaseException:
            await self.client.__aexit__(None, None, None)
            raise
        self._reader = asyncio.create_task(self._read(), name="mqtt-desktop-reader")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._reader
        with contextlib.suppress(aiomqtt.MqttError):
            await self.client.__aexit__(exc_type, exc, tb)

    async def _subscribe(self) -> None:
        raise NotImplementedError

    async def _read(self) -> None:
        async for msg in self.client.messages:
            data = _json(msg.payload)
            if data is not None:
                self._on(str(msg.topic), data)

    def _on(self, topic: str, data: dict[str, Any]) -> None:
        if topic == self.topics.service_status:
            self.status = data
            self.changes.put_nowait(("status", data))
        elif topic == self.topics.queue_stats:
            self.stats = data
            self.changes.put_nowait(("stats", data))
        elif topic.endswith("/state") and isinstance(data.get("agent"), str):
            self.states[data["agent"]] = data
            self.changes.put_nowait(("state", data))
        elif topic.endswith("/alerts"):
            self.changes.put_nowait(("alert", data))
        elif topic.endswith("/tickets/events"):
            self.changes.put_nowait(("ticket_event", data))

    async def wait_for(
        self, kind: str, timeout_s: float = REPLY_TIMEOUT_S, **fields: object
    ) -> dict[str, Any]:
        """The next change of ``kind`` whose payload has every given field value."""
        async with asyncio.timeout(timeout_s):
            while True:
                got_kind, data = await self.changes.get()
                if got_kind == kind and all(data.get(k) == v for k, v in fields.items()):
                    return data


class AgentDesktop(_Listener):
    """An agent's desktop: ``async with AgentDesktop.connect(...) as desk: await desk.command("ready")``."""

    def __init__(self, client: aiomqtt.Client, topics: Topics, agent_id: str) -> None:
        super().__init__(client, topics)
        self.agent_id = agent_id
        self.offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        agent_id: str,
        password: str,
        *,
        prefix: str = "hotline/v1",
        timeout_s: float = 5.0,
    ) -> AgentDesktop:
        """A desktop for ``agent_id`` (connects on ``async with``)."""
        topics = Topics(prefix)
        client = aiomqtt.Client(
            host,
            port,
            username=agent_id,
            password=password,
            # Unique: a second desktop of the same agent (a supervisor watching) never takes over the first.
            identifier=f"desktop-{agent_id}-{uuid.uuid4().hex[:8]}",
            will=aiomqtt.Will(topics.presence(agent_id), PRESENCE_OFFLINE.encode(), 1, True),
            timeout=timeout_s,
            keepalive=10,
            logger=_LIBRARY_LOG,
            socket_options=[TCP_NODELAY_OPTION],
        )
        return cls(client, topics, agent_id)

    async def _subscribe(self) -> None:
        await self.client.subscribe(f"{self.topics.prefix}/agents/{self.agent_id}/#", qos=1)
        await self.client.subscribe(self.topics.queue_stats, qos=0)
        await self.client.subscribe(self.topics.service_status, qos=1)
        await self.client.subscribe(f"{self.topics.prefix}/tickets/events", qos=1)
        await self.client.publish(
            self.topics.presence(self.agent_id), PRESENCE_ONLINE.encode(), qos=1, retain=True
        )

    def _on(self, topic: str, data: dict[str, Any]) -> None:
        if topic == self.topics.replies(self.agent_id):
            future = self._replies.pop(str(data.get("id")), None)
            if future is not None and not future.done():
                future.set_result(data)
        elif topic == self.topics.offers(self.agent_id):
            self.offers.put_nowait(data)
        else:
            super()._on(topic, data)

    async def send_raw(self, payload: bytes, *, agent_id: str | None = None) -> None:
        """Publish ``payload`` as-is on a commands topic (tests of the edge's checks)."""
        await self.client.publish(self.topics.commands(agent_id or self.agent_id), payload, qos=1)

    async def command(
        self, cmd: str, *, timeout_s: float = REPLY_TIMEOUT_S, **fields: object
    ) -> dict[str, Any]:
        """:meth:`send` with the fields as keywords."""
        return await self.send(cmd, fields, timeout_s=timeout_s)

    async def send(
        self, cmd: str, fields: Mapping[str, object], *, timeout_s: float = REPLY_TIMEOUT_S
    ) -> dict[str, Any]:
        """Send ``cmd``; the service's reply: ``{"ok": true}`` or ``{"ok": false, "error": ...}``."""
        command_id = f"{self.agent_id}-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[command_id] = future
        await self.client.publish(
            self.topics.commands(self.agent_id), encode({"id": command_id, "cmd": cmd, **fields}), qos=1
        )
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError as exc:
            raise NoReply(f"no reply to {cmd} ({command_id}) within {timeout_s}s") from exc
        finally:
            self._replies.pop(command_id, None)

    @property
    def state(self) -> dict[str, Any] | None:
        """This agent's last published state."""
        return self.states.get(self.agent_id)


class BoardClient(_Listener):
    """A wallboard or a supervisor's screen: every agent's state, the figures, alerts."""

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        prefix: str = "hotline/v1",
        timeout_s: float = 5.0,
    ) -> BoardClient:
        """A listener as ``username`` (``wallboard`` or ``supervisor``)."""
        client = aiomqtt.Client(
            host,
            port,
            username=username,
            password=password,
            timeout=timeout_s,
            keepalive=10,
            logger=_LIBRARY_LOG,
            socket_options=[TCP_NODELAY_OPTION],
        )
        return cls(client, Topics(prefix))

    async def _subscribe(self) -> None:
        p = self.topics.prefix
        # The figures last: the retained states arrive before the first figures are shown.
        for topic in (
            f"{p}/agents/+/state",
            self.topics.service_status,
            f"{p}/supervisors/alerts",
            f"{p}/tickets/events",
            self.topics.queue_stats,
        ):
            await self.client.subscribe(topic, qos=1)

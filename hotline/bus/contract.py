"""The MQTT contract, sans I/O: topic names, and payloads checked at the edge or built for it.

Every payload is JSON with ``"v": 1``.  Parsing never trusts the outside: malformed JSON, a
payload over the size limit, a wrong ``v``, an unknown ``cmd``, a missing field or a field of the
wrong type raise :class:`PayloadError` naming the problem (and the command's ``id`` when it could
be read, so the error reply can name it).  The README's "Agents' desktops on MQTT" section is the
table of topics; this module is its code.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hotline.bus.errors import PayloadError

VERSION = 1
#: A command larger than this is refused unread.
MAX_PAYLOAD_BYTES = 4096
#: Longest accepted string field (reason codes, ids, ticket numbers).
MAX_FIELD_CHARS = 200

AGENT_COMMANDS = frozenset({"login", "logout", "ready", "pause", "end_wrap_up", "escalate", "link_ticket"})
SUPERVISOR_COMMANDS = frozenset({"set_state", "ack_alert", "take_over"})
#: Levels an agent's ``escalate`` may name (default ``urgent``).
ESCALATION_LEVELS = frozenset({"urgent", "sensitive"})
#: States a supervisor may set for an agent.
SUPERVISOR_STATES = frozenset({"ready", "paused", "logged_out"})
#: Commands and replies are small and answered at once: Nagle's algorithm (with the peer's
#: delayed ACK) would hold each second write for ~40 ms.
TCP_NODELAY_OPTION = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
PRESENCE_ONLINE = "online"
PRESENCE_OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic tree under one prefix (``[mqtt] topic_prefix``, default ``hotline/v1``)."""

    prefix: str

    def agent(self, agent_id: str, leaf: str) -> str:
        """``p/agents/{agent}/{leaf}``."""
        return f"{self.prefix}/agents/{agent_id}/{leaf}"

    def commands(self, agent_id: str) -> str:
        """Where the agent's desktop sends commands."""
        return self.agent(agent_id, "commands")

    def replies(self, agent_id: str) -> str:
        """Where the service answers them."""
        return self.agent(agent_id, "replies")

    def state(self, agent_id: str) -> str:
        """The agent's state (retained)."""
        return self.agent(agent_id, "state")

    def offers(self, agent_id: str) -> str:
        """Screen-pops for the agent."""
        return self.agent(agent_id, "offers")

    def presence(self, agent_id: str) -> str:
        """The desktop's presence (retained; its last will says offline)."""
        return self.agent(agent_id, "presence")

    @property
    def queue_stats(self) -> str:
        """The queue's figures (retained, QoS 0)."""
        return f"{self.prefix}/queue/stats"

    @property
    def service_status(self) -> str:
        """The service's status (retained; its last will says offline)."""
        return f"{self.prefix}/service/status"

    @property
    def supervisor_commands(self) -> str:
        """Commands from supervisors."""
        return f"{self.prefix}/supervisors/commands"

    @property
    def supervisor_replies(self) -> str:
        """Replies to supervisors."""
        return f"{self.prefix}/supervisors/replies"

    def absolute(self, relative: str) -> str:
        """A topic stored relative to the prefix (the outbox's), made whole."""
        return f"{self.prefix}/{relative}"

    def subscriptions(self) -> list[str]:
        """What the service listens to."""
        return [
            f"{self.prefix}/agents/+/commands",
            f"{self.prefix}/agents/+/presence",
            self.supervisor_commands,
        ]

    def classify(self, topic: str) -> tuple[str, str | None]:
        """``("commands", "1001")``, ``("presence", "1001")``, ``("supervisor_commands", None)``
        or ``("other", None)``."""
        if topic == self.supervisor_commands:
            return "supervisor_commands", None
        head = f"{self.prefix}/agents/"
        if topic.startswith(head):
            agent, _, leaf = topic[len(head) :].partition("/")
            if agent and leaf in ("commands", "presence") and "/" not in agent:
                return leaf, agent
        return "other", None


@dataclass(frozen=True, slots=True)
class DesktopCommand:
    """A checked command from an agent's desktop; acts only on ``agent_id`` (the topic's)."""

    agent_id: str
    command_id: str
    cmd: str
    reason: str = ""
    call_id: str = ""
    ticket: str = ""
    level: str = ""


@dataclass(frozen=True, slots=True)
class SupervisorCommand:
    """A checked supervisor command: ``set_state`` of ``agent_id`` (``reason`` for a pause),
    ``ack_alert`` of ``alert_id`` by ``supervisor``, or ``take_over`` (listen to) ``call_id`` on
    ``supervisor``'s phone."""

    command_id: str
    cmd: str
    agent_id: str = ""
    state: str = ""
    reason: str = ""
    alert_id: str = ""
    supervisor: str = ""
    call_id: str = ""


def _decode(payload: bytes, max_bytes: int) -> dict[str, Any]:
    if len(payload) > max_bytes:
        raise PayloadError(f"payload too large ({len(payload)} bytes, limit {max_bytes})")
    try:
        data = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PayloadError("payload is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise PayloadError(f"malformed JSON ({exc.msg} at char {exc.pos})") from exc
    except RecursionError as exc:
        raise PayloadError("malformed JSON (nested too deep)") from exc
    if not isinstance(data, dict):
        raise PayloadError(f"payload must be a JSON object, got {type(data).__name__}")
    return data


def _text(data: dict[str, Any], key: str, command_id: str | None, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise PayloadError(f"missing field {key!r}", command_id)
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"field {key!r} must be a string, got {type(value).__name__}", command_id)
    value = value.strip()
    if required and not value:
        raise PayloadError(f"field {key!r} must not be empty", command_id)
    if len(value) > MAX_FIELD_CHARS:
        raise PayloadError(f"field {key!r} is longer than {MAX_FIELD_CHARS} characters", command_id)
    if any(ch in value for ch in "\r\n\0"):
        # Values may end up in AMI headers or log lines: no line breaks, ever.
        raise PayloadError(f"field {key!r} contains a line break or NUL", command_id)
    return value


def _head(data: dict[str, Any], commands: frozenset[str]) -> tuple[str, str]:
    raw_id = data.get("id")
    command_id = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= MAX_FIELD_CHARS else None
    if raw_id is None:
        raise PayloadError("missing field 'id'")
    if command_id is None:
        raise PayloadError("field 'id' must be a non-empty string of at most 200 characters")
    if "\n" in command_id or "\r" in command_id or "\0" in command_id:
        raise PayloadError("field 'id' contains a line break or NUL")
    version = data.get("v")
    if version != VERSION or isinstance(version, bool):
        raise PayloadError(f"unsupported version v={version!r} (expected {VERSION})", command_id)
    cmd = _text(data, "cmd", command_id)
    if cmd not in commands:
        raise PayloadError(f"unknown cmd {cmd!r} (known: {', '.join(sorted(commands))})", command_id)
    return command_id, cmd


def parse_agent_command(
    agent_id: str, payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES
) -> DesktopCommand:
    """Check a payload that came on ``agents/{agent_id}/commands``."""
    data = _decode(payload, max_bytes)
    command_id, cmd = _head(data, AGENT_COMMANDS)
    named = data.get("agent")
    if named is not None and named != agent_id:
        # The broker's ACL should have stopped it; the service checks again.
        raise PayloadError(f"command names agent {named!r} but came on agent {agent_id}'s topic", command_id)
    if cmd == "pause":
        return DesktopCommand(agent_id, command_id, cmd, reason=_text(data, "reason", command_id))
    if cmd == "escalate":
        level = _text(data, "level", command_id, required=False) or "urgent"
        if level not in ESCALATION_LEVELS:
            raise PayloadError(f"unknown level {level!r} (known: sensitive, urgent)", command_id)
        return DesktopCommand(
            agent_id,
            command_id,
            cmd,
            call_id=_text(data, "call_id", command_id),
            reason=_text(data, "reason", command_id),
            level=level,
        )
    if cmd == "link_ticket":
        return DesktopCommand(
            agent_id,
            command_id,
            cmd,
            call_id=_text(data, "call_id", command_id),
            ticket=_text(data, "ticket", command_id),
        )
    return DesktopCommand(agent_id, command_id, cmd)


def parse_supervisor_command(payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> SupervisorCommand:
    """Check a payload that came on ``supervisors/commands``."""
    data = _decode(payload, max_bytes)
    command_id, cmd = _head(data, SUPERVISOR_COMMANDS)
    if cmd == "ack_alert":
        alert_id = _text(data, "alert_id", command_id)
        return SupervisorCommand(
            command_id, cmd, alert_id=alert_id, supervisor=_text(data, "supervisor", command_id)
        )
    if cmd == "take_over":
        call_id = _text(data, "call_id", command_id)
        return SupervisorCommand(
            command_id, cmd, call_id=call_id, supervisor=_text(data, "supervisor", command_id)
        )
    agent_id = _text(data, "agent", command_id)
    state = _text(data, "state", command_id)
    if state not in SUPERVISOR_STATES:
        raise PayloadError(
            f"unknown state {state!r} (known: {', '.join(sorted(SUPERVISOR_STATES))})", command_id
        )
    reason = _text(data, "reason", command_id, required=state == "paused")
    return SupervisorCommand(command_id, cmd, agent_id, state, reason)


def parse_presence(payload: bytes) -> str:
    """``online`` or ``offline``: plain text, or ``{"v": 1, "presence": ...}``."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError("presence payload too large")
    text = payload.decode("utf-8", errors="replace").strip()
    if text in (PRESENCE_ONLINE, PRESENCE_OFFLINE):
        return text
    data = _decode(payload, MAX_PAYLOAD_BYTES)
    value = data.get("presence", data.get("status"))
    if value not in (PRESENCE_ONLINE, PRESENCE_OFFLINE):
        raise PayloadError(f"presence must be 'online' or 'offline', got {value!r}")
    return str(value)


def command_id_of(payload: bytes) -> str | None:
    """The ``id`` of a payload that failed its checks, when one can be read (for the error reply)."""
    try:
        data = json.loads(payload[:MAX_PAYLOAD_BYTES].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and len(value) <= MAX_FIELD_CHARS else None


# ---- payloads the service sends -------------------------------------------------------------


def encode(body: dict[str, Any]) -> bytes:
    """``{"v": 1, **body}`` as compact UTF-8 JSON."""
    return json.dumps({"v": VERSION, **body}, ensure_ascii=False, separators=(",", ":")).encode()


def local_time(at: float, utc_offset_h: float) -> str:
    """An instant as ISO 8601 in the hotline's local time (``2026-12-01T11:30:00+08:00``)."""
    zone = timezone(timedelta(hours=utc_offset_h))
    return datetime.fromtimestamp(at, UTC).astimezone(zone).isoformat(timespec="seconds")


def reply(command_id: str | None, error: str | None = None) -> bytes:
    """``{"v":1,"id":...,"ok":true}`` or ``{..., "ok":false,"error":...}``."""
    if error is None:
        return encode({"id": command_id, "ok": True})
    return encode({"id": command_id, "ok": False, "error": error})


def agent_state(agent_id: str, state: str, reason: str | None, since: float, utc_offset_h: float) -> bytes:
    """The retained state of one agent."""
    return encode(
        {"agent": agent_id, "state": state, "reason": reason, "since": local_time(since, utc_offset_h)}
    )

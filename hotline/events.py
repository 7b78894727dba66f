"""Domain events: what happened on the PBX, in the hotline's own words.

The PBX bridge translates AMI into these; the dispatcher consumes them.  They carry no AMI
spelling and no panoramisk type, so the deciding code (``hotline.queue``, ``hotline.tickets``)
never imports the bridge.  Every call is keyed by ``call_id`` = Asterisk's ``Linkedid``; a leg of
a call by its ``Uniqueid``.  Devices are the dial target without Asterisk's per-channel suffix
(``Local/1001@agents``, ``PJSIP/1001``), so the dispatcher can map them to agents.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Direction(enum.StrEnum):
    """Who started the call."""

    INBOUND = "inbound"
    CALLBACK = "callback"


class EndReason(enum.StrEnum):
    """Why a call ended, as far as the hotline is concerned."""

    HANGUP = "hangup"
    LOST_DURING_DISCONNECT = "lost_during_disconnect"


@dataclass(frozen=True, slots=True)
class CallArrived:
    """An inbound call entered the hotline and waits on hold (the IVR's ``HotlineEnqueue``).

    ``resynced`` is true when the call was found waiting by a resync, not seen arriving; then
    ``waited_s`` is how long its channel had existed already (Asterisk's ``Duration``), so the
    caller's wait is not restarted by our reconnect.  ``ringing_agent`` (resync only) names the
    agent whose device the call was found dialling (it was in the connect context, not bridged).
    """

    call_id: str
    channel: str
    uniqueid: str
    caller_number: str = field(repr=False)  # personal data: never in a repr
    caller_name: str = field(repr=False)
    priority: str = "normal"
    resynced: bool = False
    waited_s: float = 0.0
    ringing_agent: str = ""


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    """A waiting inbound call hung up before it was bridged to an agent."""

    call_id: str
    channel: str
    cause: int
    cause_text: str


@dataclass(frozen=True, slots=True)
class AgentRinging:
    """A device is being dialled for a call (an inbound offer, or a callback's agent leg)."""

    call_id: str
    device: str
    agent_channel: str
    direction: Direction


@dataclass(frozen=True, slots=True)
class AgentDialEnded:
    """The dial of a device ended: ``dial_status`` is Asterisk's (ANSWER, NOANSWER, BUSY, ...)."""

    call_id: str
    device: str
    dial_status: str
    direction: Direction

    @property
    def answered(self) -> bool:
        """True when the agent picked up."""
        return self.dial_status == "ANSWER"


@dataclass(frozen=True, slots=True)
class AgentDialFailed:
    """The dialplan reports that connecting a waiting call to an agent failed (back on hold)."""

    call_id: str
    agent: str
    dial_status: str


@dataclass(frozen=True, slots=True)
class CallBridged:
    """Caller (or citizen) and agent are talking: both legs are in one bridge.

    ``caller_channel``: the caller's channel of an inbound call — the member that is the call's
    first leg (its Uniqueid is the call's Linkedid); '' for a callback or when that leg is not in
    the bridge.  After a restart the resync finds a talking call only as its bridge: this tells
    the caller's leg from the agent's."""

    call_id: str
    bridge_id: str
    channels: tuple[str, str]
    caller_channel: str = ""


@dataclass(frozen=True, slots=True)
class CitizenRinging:
    """A callback's agent leg is up and the citizen's number is being dialled."""

    call_id: str
    citizen_channel: str


@dataclass(frozen=True, slots=True)
class CitizenDialEnded:
    """The dial of the citizen in a callback ended (ANSWER, BUSY, NOANSWER, CONGESTION, ...)."""

    call_id: str
    dial_status: str


@dataclass(frozen=True, slots=True)
class CallbackLegCreated:
    """A channel created by our Originate carries the callback id we set on it."""

    call_id: str
    callback_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """Asterisk's final word on an Originate: ``reason`` 4 answered, 5 busy, 3 no answer, ..."""

    action_id: str
    success: bool
    reason: int
    call_id: str | None
    channel: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The last channel of a call hung up (or the call vanished while we were disconnected)."""

    call_id: str
    cause: int
    cause_text: str
    reason: EndReason = EndReason.HANGUP


@dataclass(frozen=True, slots=True)
class DeviceStateChanged:
    """Asterisk's device state for a device (NOT_INUSE, INUSE, RINGING, UNAVAILABLE, ...)."""

    device: str
    state: str


@dataclass(frozen=True, slots=True)
class DeviceReachability:
    """A SIP device's registration or contact turned reachable or unreachable.

    From PJSIP's ``PeerStatus`` (the endpoint as a whole) and ``ContactStatus`` (one registered
    contact).  It comes before, or instead of, the ``DeviceStateChanged`` it implies: a phone
    that dies while it is being dialled is reported ``Unreachable`` mid-ring, while its device
    state stays unchanged until the dial ends (capture pjsip/11e).  ``detail`` says which event
    and status it was (``PeerStatus Unreachable``, ``ContactStatus Removed``...).
    """

    device: str
    reachable: bool
    detail: str


@dataclass(frozen=True, slots=True)
class PbxConnected:
    """The bridge logged in, Asterisk is fully booted and the resync is complete."""

    channels: int


@dataclass(frozen=True, slots=True)
class PbxDisconnected:
    """The AMI connection is gone; ``reason`` says why."""

    reason: str


DomainEvent = (
    CallArrived
    | CallAbandoned
    | AgentRinging
    | AgentDialEnded
    | AgentDialFailed
    | CallBridged
    | CitizenRinging
    | CitizenDialEnded
    | CallbackLegCreated
    | OriginateResult
    | CallEnded
    | DeviceStateChanged
    | DeviceReachability
    | PbxConnected
    | PbxDisconnected
)

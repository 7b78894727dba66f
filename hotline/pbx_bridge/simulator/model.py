"""The simulator's data: channels, bridges and the call records that group them.

Plain mutable records, no behaviour beyond small derived properties: :mod:`.pbx` owns every
state change, :mod:`.events` only reads them to build Asterisk-shaped messages.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

#: One AMI message as (key, value) pairs in wire order; repeats allowed.
Headers = list[tuple[str, str]]

UNKNOWN = "<unknown>"


class Cancellable(Protocol):
    """A scheduled callback that can be withdrawn (``asyncio.TimerHandle`` fits)."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Runs callbacks later; delays are in *simulated* seconds (the server scales them)."""

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Cancellable: ...


class ChannelState(enum.IntEnum):
    """Asterisk's ``ast_channel_state`` numbers, as sent in ``ChannelState``."""

    DOWN = 0
    RING = 4
    RINGING = 5
    UP = 6
    BUSY = 7

    @property
    def desc(self) -> str:
        """The ``ChannelStateDesc`` text."""
        return self.name.capitalize()


class Activity(enum.Enum):
    """What a channel is doing right now: decides how a Redirect or a hangup unwinds it."""

    IDLE = "idle"  # between dialplan steps, or a Local ;1 half waiting for its far side
    RINGING = "ringing"  # the far side of a dial, not answered yet
    WAITING = "waiting"  # in Wait()/Busy()/Congestion() with a timer
    HOLD = "hold"  # in MusicOnHold()
    DIALLING = "dialling"  # running Dial(), callees not answered yet
    BRIDGED = "bridged"  # Dial() answered, in a two-party bridge


#: Hangup causes the captures show, with Asterisk's ``Cause-txt``.
CAUSE_TEXT: dict[int, str] = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    21: "Call Rejected",
    34: "Circuit/channel congestion",
}


def cause_text(cause: int) -> str:
    """``Cause-txt`` for a hangup cause."""
    return CAUSE_TEXT.get(cause, "Unknown")


@dataclass(eq=False, slots=True)
class CdrRecord:
    """One finished CDR row of a channel (a failed Dial attempt, say), sent at hangup."""

    destination_channel: str
    last_app: str
    last_data: str
    answered: float | None
    end: float
    disposition: str


@dataclass(eq=False, slots=True)
class Channel:
    """One Asterisk channel (a Local half or an endpoint channel such as ``PJSIP/1001-...``)."""

    name: str
    uniqueid: str
    linkedid: str
    created: float
    device: str  # what DeviceStateChange names, e.g. ``Local/1001@agents``
    local_device: bool  # Local devices report INUSE/NOT_INUSE in pairs, never RINGING
    context: str
    exten: str
    priority: int = 1
    state: ChannelState = ChannelState.DOWN
    caller_num: str = UNKNOWN
    caller_name: str = UNKNOWN
    connected_num: str = UNKNOWN
    connected_name: str = UNKNOWN
    app: str = ""
    app_data: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    #: manager.conf ``channelvars``: shown as ``ChanVariable`` lines in every channel block.
    manager_vars: tuple[str, ...] = ()
    answered: float | None = None
    peer: Channel | None = None  # the other half of a Local pair
    half: int = 0  # 1 or 2 for Local halves, 0 otherwise
    activity: Activity = Activity.IDLE
    timer: Cancellable | None = None  # the pending step of the current activity
    talk_timer: Cancellable | None = None  # a far end's hang-up after its talk time
    talk_s: float | None = None  # set on a far end that hangs up after talking this long
    bridge: Bridge | None = None
    dial: Dial | None = None  # the Dial() this channel runs (caller side)
    dialled_by: Dial | None = None  # the dial that created this channel (callee side)
    last_dial_peer: str = ""  # DestinationChannel of the answered Dial, for the CDR
    pending_originate: Originate | None = None  # its OriginateResponse is still to be sent
    cdrs: list[CdrRecord] = field(default_factory=list)
    user_field: str = ""
    mixmonitors: int = 0  # MixMonitor recordings running on the channel (AMI MixMonitor)
    hung_up: bool = False

    @property
    def bridge_id(self) -> str:
        """The bridge the channel is in, or ''."""
        return self.bridge.uniqueid if self.bridge is not None else ""

    @property
    def far(self) -> Channel:
        """The half that runs the far side's dialplan: ``;2`` of a Local pair, else itself."""
        return self.peer if self.half == 1 and self.peer is not None else self


@dataclass(eq=False, slots=True)
class Bridge:
    """A basic two-party bridge made by Dial()."""

    uniqueid: str
    dial: Dial | None = None  # the Dial() that made it: tells caller from callee
    members: list[Channel] = field(default_factory=list)


class DialMode(enum.Enum):
    """Who dials: Originate's own dial (no source channel) or the Dial() application."""

    ORIGINATE = "originate"
    APP = "app"


@dataclass(eq=False, slots=True)
class Originate:
    """One Originate request (from AMI or from :meth:`PbxModel.place_inbound_call`)."""

    action_id: str | None
    dial_string: str
    context: str | None
    exten: str | None
    application: str | None
    data: str
    timeout_s: float
    caller_num: str = UNKNOWN
    caller_name: str = UNKNOWN
    variables: list[tuple[str, str]] = field(default_factory=list)
    async_: bool = True
    #: For a synchronous Originate: told once whether the call was answered.
    on_done: Callable[[bool], None] | None = None


@dataclass(eq=False, slots=True)
class Dial:
    """One outgoing dial attempt to a single destination."""

    mode: DialMode
    caller: Channel | None  # None for Originate's dial
    callee: Channel  # the near channel: ``;1`` of a Local pair or the endpoint channel
    resource: str  # ``DialString`` header: the part after ``Tech/``
    app_data: str  # Dial()'s argument text, for CEL/CDR
    #: APP mode: Dial() returned and the caller goes on in the dialplan with this DIALSTATUS.
    on_return: Callable[[str], None] | None = None
    originate: Originate | None = None  # ORIGINATE mode
    go_on: bool = False  # Dial option ``g``: the caller goes on when the callee hangs up
    timer: Cancellable | None = None
    done: bool = False  # the ringing phase is over (answered, failed or cancelled)


@dataclass(eq=False, slots=True)
class Call:
    """Every channel sharing one Linkedid."""

    linkedid: str
    channels: list[Channel] = field(default_factory=list)
    citizen: Channel | None = None  # the channel that stands for the citizen's handset


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A read-only snapshot of a live channel, for test assertions."""

    name: str
    uniqueid: str
    linkedid: str
    state: str
    context: str
    exten: str
    application: str
    application_data: str
    bridge_id: str
    caller_num: str
    caller_name: str
    variables: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, ch: Channel) -> ChannelInfo:
        """Snapshot ``ch``."""
        return cls(
            name=ch.name,
            uniqueid=ch.uniqueid,
            linkedid=ch.linkedid,
            state=ch.state.desc,
            context=ch.context,
            exten=ch.exten,
            application=ch.app,
            application_data=ch.app_data,
            bridge_id=ch.bridge_id,
            caller_num=ch.caller_num,
            caller_name=ch.caller_name,
            variables=tuple(ch.variables.items()),
        )

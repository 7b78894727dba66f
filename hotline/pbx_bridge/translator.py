"""AMI messages -> domain events (sans-I/O).

The translator keeps just enough of Asterisk's picture to speak in calls rather than channels:
which legs (Uniqueids) each call (Linkedid) still has, which channel of an inbound call waits
on hold, which calls are our callbacks, which bridges hold which channels.  It is fed frames in
the order they arrived and returns the domain events they mean; it never raises on odd input.

Quirks it copes with (all visible in the captures): repeated headers in ``UserEvent``; key
spellings that differ between event types (only the channel-event spellings are read here);
``OriginateResponse`` after the channel already runs dialplan; ``DialBegin`` with no ``DialEnd``
(the call's end settles it); ``Cdr`` before ``Hangup`` (Cdr is not read).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hotline.events import (
    AgentDialEnded,
    AgentDialFailed,
    AgentRinging,
    CallAbandoned,
    CallArrived,
    CallbackLegCreated,
    CallBridged,
    CallEnded,
    CitizenDialEnded,
    CitizenRinging,
    DeviceReachability,
    DeviceStateChanged,
    Direction,
    DomainEvent,
    EndReason,
    OriginateResult,
)
from hotline.pbx_bridge.codec import AmiMessage, decode_frame, frame_name
from hotline.settings import DialplanSettings

#: The channel variable our Originate sets on a callback's channels.
CALLBACK_ID_VARIABLE = "HOTLINE_CALLBACK_ID"
#: Older dialplans (and the captures) mark callbacks with the ticket id instead.
LEGACY_CALLBACK_VARIABLE = "TICKET_ID"

#: PJSIP ``PeerStatus`` values (the endpoint as a whole) -> reachable?  Others (``Rejected``...)
#: say nothing about whether the phone can be dialled.
PEER_REACHABLE = {
    "Reachable": True,
    "Registered": True,
    "Lagged": True,
    "Unreachable": False,
    "Unregistered": False,
}
#: PJSIP ``ContactStatus`` values -> reachable?  ``NonQualified`` is a contact just registered and
#: not qualified yet (capture pjsip/11a); ``Removed`` its de-registration or expiry; ``Updated`` and
#: ``Unknown`` change nothing.
CONTACT_REACHABLE = {
    "Reachable": True,
    "NonQualified": True,
    "Created": True,
    "Unreachable": False,
    "Removed": False,
}

_CHANNEL_SUFFIX_RE = re.compile(r"-[0-9a-fA-F]{8}(?:;[12])?\Z")


def device_of(channel: str) -> str:
    """The device a channel belongs to: ``Local/1001@agents-00000002;1`` -> ``Local/1001@agents``."""
    return _CHANNEL_SUFFIX_RE.sub("", channel)


def _int(text: str, default: int = 0) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _channel_variable(msg: AmiMessage, name: str) -> str:
    """A ``ChanVariable: NAME=value`` header's value (manager.conf ``channelvars``), or ''."""
    wanted = name + "="
    for value in msg.get_all("ChanVariable"):
        if value.startswith(wanted):
            return value[len(wanted) :]
    return ""


def _duration_s(text: str) -> float:
    """Asterisk's ``HH:MM:SS`` channel duration in seconds (0 when absent or odd)."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return 0.0
    hours, minutes, seconds = (int(p) for p in parts)
    return float(hours * 3600 + minutes * 60 + seconds)


@dataclass(slots=True)
class _Call:
    """What the translator knows of one call (one Linkedid)."""

    legs: set[str] = field(default_factory=set)
    waiting_channel: str = ""  # the inbound channel on hold / being connected, until bridged
    waiting_uniqueid: str = ""
    bridged: bool = False
    callback: bool = False
    callback_named: bool = False  # a resync reported its CallbackLegCreated
    priority: str = "normal"
    first_cause: int | None = None
    first_cause_text: str = ""


class AmiTranslator:
    """Turns AMI messages into :mod:`hotline.events` domain events."""

    def __init__(self, dialplan: DialplanSettings) -> None:
        self._dialplan = dialplan
        self._calls: dict[str, _Call] = {}
        self._leg_call: dict[str, str] = {}  # Uniqueid -> Linkedid
        self._bridges: dict[str, dict[str, str]] = {}  # bridge id -> {Uniqueid: channel}
        #: Frames that were not valid UTF-8 (decoded as GB18030 or with replacements).
        self.recoded_frames = 0
        watched = (dialplan.priority_variable, CALLBACK_ID_VARIABLE, LEGACY_CALLBACK_VARIABLE)
        self._watched_vars = frozenset(watched)
        self._watched_var_bytes = tuple(f"Variable: {v}\r\n".encode() for v in watched)
        self._handlers: dict[bytes, Callable[[AmiMessage], Iterable[DomainEvent]]] = {
            b"Newchannel": self._on_newchannel,
            b"VarSet": self._on_varset,
            b"UserEvent": self._on_user_event,
            b"DialBegin": self._on_dial_begin,
            b"DialEnd": self._on_dial_end,
            b"BridgeEnter": self._on_bridge_enter,
            b"BridgeLeave": self._on_bridge_leave,
            b"Hangup": self._on_hangup,
            b"OriginateResponse": self._on_originate_response,
            b"DeviceStateChange": self._on_device_state,
            b"PeerStatus": self._on_peer_status,
            b"ContactStatus": self._on_contact_status,
        }

    # -- feeding -------------------------------------------------------------------------

    def wants(self, name: bytes) -> bool:
        """True when frames with this event name can yield domain events."""
        return name in self._handlers

    def feed_frame(self, frame: bytes, name: bytes | None = None) -> list[DomainEvent]:
        """Translate one raw frame; cheap for the many frames that mean nothing to us.

        ``name`` is the frame's event name when the caller already read it.
        """
        if name is None:
            name = frame_name(frame)
        handler = self._handlers.get(name)
        if handler is None:
            return []
        # VarSet is the commonest event of all; decode only the few variables we watch.
        if name == b"VarSet" and not any(v in frame for v in self._watched_var_bytes):
            return []
        message = decode_frame(frame)
        if message.recoded:
            self.recoded_frames += 1
        return list(handler(message))

    def feed(self, message: AmiMessage) -> list[DomainEvent]:
        """Translate one decoded message."""
        name = (message.event or "").encode()
        handler = self._handlers.get(name)
        return list(handler(message)) if handler is not None else []

    @property
    def live_calls(self) -> frozenset[str]:
        """Linkedids of the calls with at least one live channel."""
        return frozenset(self._calls)

    # -- resync --------------------------------------------------------------------------

    def resync(self, channels: Iterable[AmiMessage]) -> list[DomainEvent]:
        """Rebuild the picture from a ``CoreShowChannels`` listing taken after a (re)connect.

        Events come in this order: calls we knew that are gone end (``lost_during_disconnect``);
        our callbacks' legs are named (``CallbackLegCreated``, from the ``HOTLINE_CALLBACK_ID``
        that manager.conf ``channelvars`` shows); inbound calls found on hold, or found dialling
        an agent and not yet bridged, are reported as arrived (``resynced=True``, with the agent
        they ring); every bridge of two or more channels is reported as ``CallBridged``, so a
        call answered while we were away is known as answered.
        """
        previous = self._calls
        self._calls = {}
        self._leg_call = {}
        self._bridges = {}
        events: list[DomainEvent] = []
        waiting: list[tuple[str, AmiMessage]] = []
        callback_legs: list[CallbackLegCreated] = []
        for msg in channels:
            uniqueid = msg.get("Uniqueid")
            linkedid = msg.get("Linkedid") or uniqueid
            if not uniqueid:
                continue
            old = previous.get(linkedid)
            call = self._calls.get(linkedid)
            if call is None:
                call = _Call()
                if old is not None:
                    call.callback, call.priority = old.callback, old.priority
                    call.first_cause, call.first_cause_text = old.first_cause, old.first_cause_text
                self._calls[linkedid] = call
            call.legs.add(uniqueid)
            self._leg_call[uniqueid] = linkedid
            bridge_id = msg.get_any("BridgeId", "BridgeID")
            if bridge_id:
                self._bridges.setdefault(bridge_id, {})[uniqueid] = msg.get("Channel")
            callback_id = _channel_variable(msg, CALLBACK_ID_VARIABLE)
            if callback_id and not call.callback_named:
                call.callback = call.callback_named = True
                callback_legs.append(CallbackLegCreated(linkedid, callback_id, msg.get("Channel")))
            ivr = _channel_variable(msg, self._dialplan.priority_variable)
            if ivr:  # manager.conf channelvars: the IVR's priority survives our restart
                call.priority = ivr
            context = msg.get("Context")
            if context == self._dialplan.inbound_context and msg.get("Exten") == self._dialplan.hold_exten:
                waiting.append((linkedid, msg))
            elif context == self._dialplan.connect_context and self._agent_of_connect_exten(msg.get("Exten")):
                waiting.append((linkedid, msg))
        bridged: list[CallBridged] = []
        for bridge_id, members in self._bridges.items():
            if len(members) >= 2:
                first, second = list(members.values())[:2]
                linkedid = self._leg_call[next(iter(members))]
                self._calls[linkedid].bridged = True
                caller = "" if self._calls[linkedid].callback else members.get(linkedid, "")
                bridged.append(CallBridged(linkedid, bridge_id, (first, second), caller))
        for linkedid in previous:
            if linkedid not in self._calls:
                events.append(CallEnded(linkedid, 0, "", EndReason.LOST_DURING_DISCONNECT))
        events.extend(callback_legs)
        for linkedid, msg in waiting:
            call = self._calls[linkedid]
            if call.bridged or call.callback:
                continue  # a connect-context caller already talking to its agent
            call.waiting_channel = msg.get("Channel")
            call.waiting_uniqueid = msg.get("Uniqueid")
            ringing = ""
            if msg.get("Context") == self._dialplan.connect_context:
                ringing = self._agent_of_connect_exten(msg.get("Exten"))
            events.append(
                CallArrived(
                    call_id=linkedid,
                    channel=call.waiting_channel,
                    uniqueid=call.waiting_uniqueid,
                    caller_number=msg.get("CallerIDNum"),
                    caller_name=msg.get("CallerIDName"),
                    priority=call.priority,
                    resynced=True,
                    waited_s=_duration_s(msg.get("Duration")),
                    ringing_agent=ringing,
                )
            )
        events.extend(bridged)
        return events

    def device_states(self, items: Iterable[AmiMessage]) -> list[DomainEvent]:
        """The ``DeviceStateChange`` items of a ``DeviceStateList`` (asked at every (re)connect)
        as state changes, so an agent whose phone is not registered is known as unavailable
        before the first call is offered (the list names configured endpoints only: pjsip/11a)."""
        return [
            DeviceStateChanged(m.get("Device"), m.get("State"))
            for m in items
            if m.event == "DeviceStateChange" and m.get("Device") and m.get("State")
        ]

    def _agent_of_connect_exten(self, exten: str) -> str:
        """``agent-1005`` -> ``1005`` by the dialplan's template; '' when it does not match."""
        prefix, _, suffix = self._dialplan.connect_exten_template.partition("{agent}")
        if len(exten) > len(prefix) + len(suffix) and exten.startswith(prefix) and exten.endswith(suffix):
            return exten[len(prefix) : len(exten) - len(suffix)]
        return ""

    # -- handlers ------------------------------------------------------------------------

    def _call_for(self, msg: AmiMessage) -> tuple[str, _Call]:
        linkedid = msg.get("Linkedid") or msg.get("Uniqueid")
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = _Call()
        return linkedid, call

    def _on_newchannel(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        uniqueid = msg.get("Uniqueid")
        linkedid, call = self._call_for(msg)
        call.legs.add(uniqueid)
        self._leg_call[uniqueid] = linkedid
        return ()

    def _on_varset(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        variable = msg.get("Variable")
        if variable not in self._watched_vars:
            return ()
        linkedid, call = self._call_for(msg)
        call.legs.add(msg.get("Uniqueid"))
        self._leg_call[msg.get("Uniqueid")] = linkedid
        value = msg.get("Value")
        if variable == self._dialplan.priority_variable:
            call.priority = value or "normal"
            return ()
        if value and not call.callback:
            call.callback = True
            return (CallbackLegCreated(linkedid, value, msg.get("Channel")),)
        return ()

    def _on_user_event(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        name = msg.get("UserEvent")
        linkedid, call = self._call_for(msg)
        if name == self._dialplan.enqueue_user_event:
            # Asterisk puts the channel's own Channel/Uniqueid/CallerIDNum first and the
            # dialplan's copies after; the first ones are the channel's truth.
            priority = msg.get_last(self._dialplan.priority_variable) or call.priority
            call.priority = priority or "normal"
            call.waiting_channel = msg.get("Channel")
            call.waiting_uniqueid = msg.get("Uniqueid")
            call.bridged = False
            call.legs.add(call.waiting_uniqueid)
            self._leg_call[call.waiting_uniqueid] = linkedid
            return (
                CallArrived(
                    call_id=linkedid,
                    channel=call.waiting_channel,
                    uniqueid=call.waiting_uniqueid,
                    caller_number=msg.get("CallerIDNum"),
                    caller_name=msg.get("CallerIDName"),
                    priority=call.priority,
                ),
            )
        if name == self._dialplan.agent_failed_user_event:
            return (AgentDialFailed(linkedid, msg.get_last("Agent"), msg.get_last("DialStatus")),)
        return ()

    def _dial_kind(self, msg: AmiMessage) -> tuple[str, str]:
        """(kind, call id): kind is 'inbound-agent', 'callback-agent', 'citizen' or ''."""
        if "Channel" in msg:
            context = msg.get("Context")
            linkedid = msg.get("Linkedid")
            if context == self._dialplan.connect_context:
                return "inbound-agent", linkedid
            if context == self._dialplan.callback_context:
                return "citizen", linkedid
            return "", linkedid
        # No source channel: the dial Originate makes itself.  It is a callback's agent leg
        # when that call carries our callback variable (its VarSet comes first).
        linkedid = msg.get("DestLinkedid")
        call = self._calls.get(linkedid)
        if call is not None and call.callback:
            return "callback-agent", linkedid
        return "", linkedid

    def _on_dial_begin(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        kind, linkedid = self._dial_kind(msg)
        dest = msg.get("DestChannel")
        if kind == "inbound-agent":
            return (AgentRinging(linkedid, device_of(dest), dest, Direction.INBOUND),)
        if kind == "callback-agent":
            return (AgentRinging(linkedid, device_of(dest), dest, Direction.CALLBACK),)
        if kind == "citizen":
            return (CitizenRinging(linkedid, dest),)
        return ()

    def _on_dial_end(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        kind, linkedid = self._dial_kind(msg)
        status = msg.get("DialStatus")
        dest = msg.get("DestChannel")
        if kind == "inbound-agent":
            return (AgentDialEnded(linkedid, device_of(dest), status, Direction.INBOUND),)
        if kind == "callback-agent":
            return (AgentDialEnded(linkedid, device_of(dest), status, Direction.CALLBACK),)
        if kind == "citizen":
            return (CitizenDialEnded(linkedid, status),)
        return ()

    def _on_bridge_enter(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        bridge_id = msg.get("BridgeUniqueid")
        members = self._bridges.setdefault(bridge_id, {})
        members[msg.get("Uniqueid")] = msg.get("Channel")
        linkedid, call = self._call_for(msg)
        if len(members) == 2 and not call.bridged:
            call.bridged = True
            first, second = members.values()
            caller = "" if call.callback else members.get(linkedid, "")
            return (CallBridged(linkedid, bridge_id, (first, second), caller),)
        return ()

    def _on_bridge_leave(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        members = self._bridges.get(msg.get("BridgeUniqueid"))
        if members is not None:
            members.pop(msg.get("Uniqueid"), None)
            if not members:
                del self._bridges[msg.get("BridgeUniqueid")]
        return ()

    def _on_hangup(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        uniqueid = msg.get("Uniqueid")
        linkedid = self._leg_call.pop(uniqueid, None) or msg.get("Linkedid")
        call = self._calls.get(linkedid)
        if call is None:
            return ()
        events: list[DomainEvent] = []
        cause = _int(msg.get("Cause"))
        cause_text = msg.get("Cause-txt")
        if call.first_cause is None:
            call.first_cause, call.first_cause_text = cause, cause_text
        if uniqueid == call.waiting_uniqueid and not call.bridged:
            events.append(CallAbandoned(linkedid, call.waiting_channel, cause, cause_text))
            call.waiting_uniqueid = ""
        call.legs.discard(uniqueid)
        if not call.legs:
            del self._calls[linkedid]
            events.append(CallEnded(linkedid, call.first_cause, call.first_cause_text))
        return events

    def _on_originate_response(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        uniqueid = msg.get("Uniqueid")
        known = uniqueid and uniqueid != "<unknown>"
        call_id = self._leg_call.get(uniqueid, uniqueid) if known else None
        return (
            OriginateResult(
                action_id=msg.get("ActionID"),
                success=msg.get("Response") == "Success",
                reason=_int(msg.get("Reason")),
                call_id=call_id,
                channel=msg.get("Channel"),
            ),
        )

    def _on_device_state(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        if msg.action_id:  # a DeviceStateList item, not a change
            return ()
        return (DeviceStateChanged(msg.get("Device"), msg.get("State")),)

    def _on_peer_status(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        status = msg.get("PeerStatus")
        reachable = PEER_REACHABLE.get(status)
        peer = msg.get("Peer")
        if reachable is None or not peer:
            return ()
        return (DeviceReachability(peer, reachable, f"PeerStatus {status}"),)

    def _on_contact_status(self, msg: AmiMessage) -> Iterable[DomainEvent]:
        status = msg.get("ContactStatus")
        reachable = CONTACT_REACHABLE.get(status)
        endpoint = msg.get("EndpointName") or msg.get("AOR")
        if reachable is None or not endpoint:
            return ()
        # Only PJSIP sends ContactStatus; its devices are named by the endpoint.
        return (DeviceReachability(f"PJSIP/{endpoint}", reachable, f"ContactStatus {status}"),)

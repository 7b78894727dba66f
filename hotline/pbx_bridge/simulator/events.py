"""Builders for Asterisk-22-shaped AMI messages.

Every function returns headers in the exact key spelling and order the captures in
``shared/ami-transcripts`` show (channel events say ``Uniqueid``, CEL says ``UniqueID``/
``CallerIDnum``, ``CoreShowChannel`` says ``BridgeId`` and ``Status`` says ``BridgeID``...).
Pure functions of their arguments: times are passed in as epoch seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from hotline.pbx_bridge.simulator.model import UNKNOWN, Bridge, Channel, Headers, cause_text

CALL = "call,all"
DIALPLAN = "dialplan,all"
SYSTEM = "system,all"
SECURITY = "security,all"
USER = "user,all"
CDR = "cdr,all"

AMI_VERSION = "11.0.0"
ASTERISK_VERSION = "22.10.1"
BANNER = f"Asterisk Call Manager/{AMI_VERSION}\r\n".encode()


def fmt_tv(t: float) -> str:
    """``EventTV``/``SessionTV``: ``2026-11-28T04:14:35.353+0000``."""
    ms = int((t - int(t)) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ms:03d}+0000"


def fmt_time(t: float) -> str:
    """CEL ``EventTime`` and CDR times: ``2026-11-28 04:14:36``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def fmt_duration(seconds: float) -> str:
    """``CoreShowChannel`` ``Duration``: ``00:00:03``."""
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def callerid_all(ch: Channel) -> str:
    """``${CALLERID(all)}``: ``"张三" <13800000001>``."""
    name = "" if ch.caller_name == UNKNOWN else ch.caller_name
    num = "" if ch.caller_num == UNKNOWN else ch.caller_num
    return f'"{name}" <{num}>'


# -- channel events ----------------------------------------------------------------------


def snapshot(ch: Channel, prefix: str = "") -> Headers:
    """The channel block every channel event carries, optionally prefixed (``Dest``...).

    With manager.conf ``channelvars``, Asterisk ends the block with one ``ChanVariable:
    NAME=value`` line per configured variable (empty when the channel has not set it).
    """
    block = [
        (f"{prefix}Channel", ch.name),
        (f"{prefix}ChannelState", str(int(ch.state))),
        (f"{prefix}ChannelStateDesc", ch.state.desc),
        (f"{prefix}CallerIDNum", ch.caller_num),
        (f"{prefix}CallerIDName", ch.caller_name),
        (f"{prefix}ConnectedLineNum", ch.connected_num),
        (f"{prefix}ConnectedLineName", ch.connected_name),
        (f"{prefix}Language", "en"),
        (f"{prefix}AccountCode", ""),
        (f"{prefix}Context", ch.context),
        (f"{prefix}Exten", ch.exten),
        (f"{prefix}Priority", str(ch.priority)),
        (f"{prefix}Uniqueid", ch.uniqueid),
        (f"{prefix}Linkedid", ch.linkedid),
    ]
    for name in ch.manager_vars:
        block.append((f"{prefix}ChanVariable", f"{name}={ch.variables.get(name, '')}"))
    return block


def _channel_event(name: str, privilege: str, ch: Channel, extra: Iterable[tuple[str, str]] = ()) -> Headers:
    return [("Event", name), ("Privilege", privilege), *snapshot(ch), *extra]


def newchannel(ch: Channel) -> Headers:
    return _channel_event("Newchannel", CALL, ch)


def newstate(ch: Channel) -> Headers:
    return _channel_event("Newstate", CALL, ch)


def newcallerid(ch: Channel) -> Headers:
    return _channel_event(
        "NewCallerid", CALL, ch, [("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")]
    )


def newconnectedline(ch: Channel) -> Headers:
    return _channel_event("NewConnectedLine", CALL, ch)


def newexten(ch: Channel, app: str, data: str) -> Headers:
    return _channel_event(
        "Newexten", DIALPLAN, ch, [("Extension", ch.exten), ("Application", app), ("AppData", data)]
    )


def varset(ch: Channel, variable: str, value: str) -> Headers:
    return _channel_event("VarSet", DIALPLAN, ch, [("Variable", variable), ("Value", value)])


def hangup(ch: Channel, cause: int) -> Headers:
    return _channel_event("Hangup", CALL, ch, [("Cause", str(cause)), ("Cause-txt", cause_text(cause))])


def hangup_request(ch: Channel, cause: int) -> Headers:
    return _channel_event("HangupRequest", CALL, ch, [("Cause", str(cause))])


def soft_hangup_request(ch: Channel, cause: int) -> Headers:
    return _channel_event("SoftHangupRequest", CALL, ch, [("Cause", str(cause))])


def moh_start(ch: Channel) -> Headers:
    return _channel_event("MusicOnHoldStart", CALL, ch, [("Class", "default")])


def moh_stop(ch: Channel) -> Headers:
    return _channel_event("MusicOnHoldStop", CALL, ch)


def mixmonitor_start(ch: Channel) -> Headers:
    return _channel_event("MixMonitorStart", CALL, ch)


def mixmonitor_stop(ch: Channel) -> Headers:
    return _channel_event("MixMonitorStop", CALL, ch)


def chanspy(started: bool, spyer: Channel, spyee: Channel) -> Headers:
    """``ChanSpyStart``/``ChanSpyStop``: the spyer's block prefixed ``Spyer``, the spied
    channel's ``Spyee`` (as Asterisk 22.10.1 sent them)."""
    name = "ChanSpyStart" if started else "ChanSpyStop"
    return [("Event", name), ("Privilege", CALL), *snapshot(spyer, "Spyer"), *snapshot(spyee, "Spyee")]


def user_event(ch: Channel, name: str, extra: Iterable[tuple[str, str]]) -> Headers:
    """``UserEvent``: the channel's own block, then ``UserEvent``, then the dialplan's headers.

    The dialplan's ``Channel``/``Uniqueid``/``CallerIDNum`` repeat the channel block's keys on
    purpose: that is what Asterisk sends.
    """
    return [("Event", "UserEvent"), ("Privilege", USER), *snapshot(ch), ("UserEvent", name), *extra]


def local_bridge(one: Channel, two: Channel) -> Headers:
    return [
        ("Event", "LocalBridge"),
        ("Privilege", CALL),
        *snapshot(one, "LocalOne"),
        *snapshot(two, "LocalTwo"),
        ("Context", two.context),
        ("Exten", two.exten),
        ("LocalOptimization", "Yes"),
    ]


def dial_begin(caller: Channel | None, dest: Channel, dial_string: str) -> Headers:
    source = snapshot(caller) if caller is not None else []
    return [
        ("Event", "DialBegin"),
        ("Privilege", CALL),
        *source,
        *snapshot(dest, "Dest"),
        ("DialString", dial_string),
    ]


def dial_end(caller: Channel | None, dest: Channel, status: str) -> Headers:
    source = snapshot(caller) if caller is not None else []
    return [
        ("Event", "DialEnd"),
        ("Privilege", CALL),
        *source,
        *snapshot(dest, "Dest"),
        ("DialStatus", status),
    ]


# -- bridges -----------------------------------------------------------------------------


def bridge_headers(bridge: Bridge) -> Headers:
    return [
        ("BridgeUniqueid", bridge.uniqueid),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("BridgeCreator", UNKNOWN),
        ("BridgeName", UNKNOWN),
        ("BridgeNumChannels", str(len(bridge.members))),
        ("BridgeVideoSourceMode", "none"),
    ]


def bridge_create(bridge: Bridge) -> Headers:
    return [("Event", "BridgeCreate"), ("Privilege", CALL), *bridge_headers(bridge)]


def bridge_destroy(bridge: Bridge) -> Headers:
    return [("Event", "BridgeDestroy"), ("Privilege", CALL), *bridge_headers(bridge)]


def bridge_enter(bridge: Bridge, ch: Channel) -> Headers:
    return [("Event", "BridgeEnter"), ("Privilege", CALL), *bridge_headers(bridge), *snapshot(ch)]


def bridge_leave(bridge: Bridge, ch: Channel) -> Headers:
    return [("Event", "BridgeLeave"), ("Privilege", CALL), *bridge_headers(bridge), *snapshot(ch)]


# -- CEL and CDR (the noise around the interesting events) -------------------------------


def cel(ch: Channel, event_name: str, now: float, *, peer: str = "", extra: str = "") -> Headers:
    """A CEL record as ``cel_manager`` sends it (note ``CallerIDnum``/``UniqueID``/``LinkedID``)."""
    started = event_name == "CHAN_START"
    num = "" if started or ch.caller_num == UNKNOWN else ch.caller_num
    name = "" if started or ch.caller_name == UNKNOWN else ch.caller_name
    ani = num if ch.half != 2 and ch.answered is not None else ""
    return [
        ("Event", "CEL"),
        ("Privilege", CALL),
        ("EventName", event_name),
        ("AccountCode", ""),
        ("CallerIDnum", num),
        ("CallerIDname", name),
        ("CallerIDani", ani),
        ("CallerIDrdnis", ""),
        ("CallerIDdnid", ""),
        ("Exten", ch.exten),
        ("Context", ch.context),
        ("Channel", ch.name),
        ("Application", "" if started else ch.app),
        ("AppData", "" if started else ch.app_data),
        ("EventTime", fmt_time(now)),
        ("AMAFlags", "DOCUMENTATION"),
        ("UniqueID", ch.uniqueid),
        ("LinkedID", ch.linkedid),
        ("Userfield", ""),
        ("Peer", peer),
        ("PeerAccount", ""),
        ("Extra", extra),
    ]


def cel_hangup_extra(cause: int) -> str:
    return f'{{"hangupcause":{cause},"hangupsource":"","dialstatus":""}}'


def cel_bridge_extra(bridge: Bridge) -> str:
    return f'{{"bridge_id":"{bridge.uniqueid}","bridge_technology":"simple_bridge"}}'


def cdr(
    ch: Channel,
    *,
    destination_channel: str,
    last_app: str,
    last_data: str,
    answered: float | None,
    end: float,
    disposition: str,
) -> Headers:
    """One ``Cdr`` event (``cdr_manager``); note the spelling ``UniqueID``."""
    source = "" if ch.caller_num == UNKNOWN else ch.caller_num
    return [
        ("Event", "Cdr"),
        ("Privilege", CDR),
        ("AccountCode", ""),
        ("Source", source),
        ("Destination", ch.exten),
        ("DestinationContext", ch.context),
        ("CallerID", callerid_all(ch)),
        ("Channel", ch.name),
        ("DestinationChannel", destination_channel),
        ("LastApplication", last_app),
        ("LastData", last_data),
        ("StartTime", fmt_time(ch.created)),
        ("AnswerTime", fmt_time(answered) if answered is not None else ""),
        ("EndTime", fmt_time(end)),
        ("Duration", str(int(end - ch.created))),
        ("BillableSeconds", str(int(end - answered)) if answered is not None else "0"),
        ("Disposition", disposition),
        ("AMAFlags", "DOCUMENTATION"),
        ("UniqueID", ch.uniqueid),
        ("UserField", ch.user_field),
    ]


def device_state_change(device: str, state: str, action_id: str | None = None) -> Headers:
    """A broadcast state change, or (with ``action_id``) one item of a DeviceStateList."""
    if action_id is not None:
        return [("Event", "DeviceStateChange"), ("ActionID", action_id), ("Device", device), ("State", state)]
    return [("Event", "DeviceStateChange"), ("Privilege", CALL), ("Device", device), ("State", state)]


def originate_response(
    *,
    action_id: str | None,
    success: bool,
    channel: str,
    reason: int,
    uniqueid: str,
    caller_num: str,
    caller_name: str,
    context: str | None,
    exten: str | None,
    application: str | None,
    data: str,
    chan_vars: Iterable[tuple[str, str]] = (),
) -> Headers:
    """``OriginateResponse``; without an ActionID the header is left out, as Asterisk does.

    ``chan_vars``: manager.conf ``channelvars`` of the new channel; Asterisk names the channel
    in the key (``ChanVariable(Local/1001@agents-00000002;1): NAME=value``), and sends none on
    failure (there is no channel)."""
    headers: Headers = [("Event", "OriginateResponse"), ("Privilege", CALL)]
    if action_id is not None:
        headers.append(("ActionID", action_id))
    headers += [("Response", "Success" if success else "Failure"), ("Channel", channel)]
    if application is not None:
        headers += [("Application", application), ("Data", data)]
    else:
        headers += [("Context", context or ""), ("Exten", exten or "")]
    headers += [
        ("Reason", str(reason)),
        ("Uniqueid", uniqueid),
        ("CallerIDNum", caller_num),
        ("CallerIDName", caller_name),
    ]
    headers += [(f"ChanVariable({channel})", f"{name}={value}") for name, value in chan_vars]
    return headers


# -- system and security -----------------------------------------------------------------


def fully_booted(uptime: int, last_reload: int, *, broadcast: bool) -> Headers:
    """The login-time copy, or the boot-time broadcast (its keys come in another order)."""
    if broadcast:
        return [
            ("Event", "FullyBooted"),
            ("Privilege", SYSTEM),
            ("Status", "Fully Booted"),
            ("Uptime", str(uptime)),
            ("LastReload", str(last_reload)),
        ]
    return [
        ("Event", "FullyBooted"),
        ("Privilege", SYSTEM),
        ("Uptime", str(uptime)),
        ("LastReload", str(last_reload)),
        ("Status", "Fully Booted"),
    ]


def shutdown(*, restart: bool) -> Headers:
    return [
        ("Event", "Shutdown"),
        ("Privilege", SYSTEM),
        ("Shutdown", "Cleanly"),
        ("Restart", "True" if restart else "False"),
    ]


def _security_head(name: str, now: float, severity: str) -> Headers:
    return [
        ("Event", name),
        ("Privilege", SECURITY),
        ("EventTV", fmt_tv(now)),
        ("Severity", severity),
        ("Service", "AMI"),
        ("EventVersion", "1"),
    ]


def successful_auth(
    *, now: float, account: str, session_id: str, local: str, remote: str, session_tv: float
) -> Headers:
    return [
        *_security_head("SuccessfulAuth", now, "Informational"),
        ("AccountID", account),
        ("SessionID", session_id),
        ("LocalAddress", local),
        ("RemoteAddress", remote),
        ("UsingPassword", "0"),
        ("SessionTV", fmt_tv(session_tv)),
    ]


def request_bad_format(
    *, now: float, account: str, session_id: str, local: str, remote: str, session_tv: float, action: str
) -> Headers:
    return [
        *_security_head("RequestBadFormat", now, "Error"),
        ("SessionID", session_id),
        ("LocalAddress", local),
        ("RemoteAddress", remote),
        ("RequestType", f"Action: {action}"),
        ("SessionTV", fmt_tv(session_tv)),
        ("AccountID", account),
    ]


def request_not_allowed(
    *, now: float, account: str, session_id: str, local: str, remote: str, session_tv: float, action: str
) -> Headers:
    return [
        *_security_head("RequestNotAllowed", now, "Error"),
        ("AccountID", account),
        ("SessionID", session_id),
        ("LocalAddress", local),
        ("RemoteAddress", remote),
        ("RequestType", f"Action: {action}"),
        ("SessionTV", fmt_tv(session_tv)),
    ]


# -- list items (responses to list actions) ----------------------------------------------


def core_show_channel(ch: Channel, action_id: str, now: float) -> Headers:
    return [
        ("Event", "CoreShowChannel"),
        ("ActionID", action_id),
        *snapshot(ch),
        ("Application", ch.app),
        ("ApplicationData", ch.app_data),
        ("Duration", fmt_duration(now - ch.created)),
        ("BridgeId", ch.bridge_id),
    ]


def status_item(ch: Channel, action_id: str, now: float) -> Headers:
    """One ``Status`` list item; here ``ActionID`` comes last and the bridge is ``BridgeID``."""
    return [
        ("Event", "Status"),
        ("Privilege", "Call"),
        *snapshot(ch),
        ("Type", ch.name.partition("/")[0]),
        ("DNID", ""),
        ("EffectiveConnectedLineNum", ch.connected_num),
        ("EffectiveConnectedLineName", ch.connected_name),
        ("TimeToHangup", "0"),
        ("BridgeID", ch.bridge_id),
        ("Application", ch.app),
        ("Data", ch.app_data),
        ("Nativeformats", "(slin)"),
        ("Readformat", "slin"),
        ("Readtrans", ""),
        ("Writeformat", "slin"),
        ("Writetrans", ""),
        ("Callgroup", "0"),
        ("Pickupgroup", "0"),
        ("Seconds", str(int(now - ch.created))),
        ("ActionID", action_id),
    ]


def bridge_list_item(bridge: Bridge, action_id: str) -> Headers:
    return [("Event", "BridgeListItem"), ("ActionID", action_id), *bridge_headers(bridge)]


def list_complete(event: str, action_id: str | None, items: int, *, with_items: bool = False) -> Headers:
    """The closing event of a list action (``...Complete``, ``EventList: Complete``)."""
    headers: Headers = [("Event", event)]
    if action_id is not None:
        headers.append(("ActionID", action_id))
    headers += [("EventList", "Complete"), ("ListItems", str(items))]
    if with_items:
        headers.append(("Items", str(items)))
    return headers

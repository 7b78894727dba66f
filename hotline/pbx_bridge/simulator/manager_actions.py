"""The manager actions a logged-in AMI session runs on the simulated PBX.

Originate, Redirect, Hangup, Setvar/Getvar, MixMonitor, the status lists and a few CLI
commands, answered in the captures' exact wording.  Each handler takes the
:class:`~.session.AmiSession` that received the request; :data:`MANAGER_ACTIONS` maps the
lower-cased action name to it (login and the other session actions live in :mod:`.session`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from hotline.pbx_bridge.codec import AmiMessage
from hotline.pbx_bridge.simulator import events as ev
from hotline.pbx_bridge.simulator.ami_requests import action_id_headers, header, header_all
from hotline.pbx_bridge.simulator.dialplan import split_dial_string
from hotline.pbx_bridge.simulator.model import UNKNOWN, Headers, Originate
from hotline.pbx_bridge.simulator.pbx import DEFAULT_ORIGINATE_TIMEOUT_S

if TYPE_CHECKING:
    from hotline.pbx_bridge.simulator.session import AmiSession

_CAUSE_MAX = 127


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


def _with_action_id(headers: Headers, action_id: str | None) -> Headers:
    """List items carry the request's ActionID; without one Asterisk leaves the header out."""
    return headers if action_id is not None else [(k, v) for k, v in headers if k != "ActionID"]


def originate(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``Originate``: a call from a dial string into a context or an application."""
    sim = session.sim
    channel = header(msg, "Channel")
    if not channel:
        return session.error(action_id, "Channel not specified")
    if split_dial_string(channel) is None:
        return session.error(action_id, "Invalid channel")
    priority = header(msg, "Priority")
    if priority and not priority.isdigit():
        return session.error(action_id, "Invalid priority")
    timeout_text = header(msg, "Timeout")
    try:
        timeout_s = int(timeout_text) / 1000 if timeout_text else DEFAULT_ORIGINATE_TIMEOUT_S
    except ValueError:
        return session.error(action_id, "Invalid timeout")
    callerid = header(msg, "CallerID")
    caller_num, caller_name = _parse_callerid(callerid) if callerid else (UNKNOWN, UNKNOWN)
    application = header(msg, "Application") or None
    asynchronous = header(msg, "Async").lower() in ("true", "yes", "1", "on", "y", "t")
    originate = Originate(
        action_id=action_id,
        dial_string=channel,
        context=None if application else (header(msg, "Context") or "default"),
        exten=None if application else (header(msg, "Exten") or "s"),
        application=application,
        data=header(msg, "Data"),
        timeout_s=timeout_s if timeout_s > 0 else DEFAULT_ORIGINATE_TIMEOUT_S,
        caller_num=caller_num,
        caller_name=caller_name,
        variables=_originate_variables(header_all(msg, "Variable")),
        async_=asynchronous,
    )
    if asynchronous:
        session.respond("Success", action_id, ("Message", "Originate successfully queued"))
    else:
        originate.on_done = lambda ok: (
            session.respond("Success", action_id, ("Message", "Originate successfully queued"))
            if ok
            else session.error(action_id, "Originate failed")
        )
    sim.model.originate(originate)


def redirect(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``Redirect``: send a channel (and ``ExtraChannel``) to ``Context,Exten,Priority``."""
    model = session.sim.model
    name, context, exten = header(msg, "Channel"), header(msg, "Context"), header(msg, "Exten")
    priority = header(msg, "Priority")
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
        return session.error(action_id, problem)
    targets = [name]
    extra = header(msg, "ExtraChannel")
    if extra:
        targets.append(extra)
    channels = []
    for target in targets:
        ch = model.find(target)
        if ch is None:
            return session.error(action_id, f"Channel does not exist: {target}")
        channels.append(ch)
    session.respond("Success", action_id, ("Message", "Redirect successful"))
    for ch in channels:
        if not ch.hung_up:
            model.redirect(ch, context, exten)


def hangup(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``Hangup``: one channel by name, or every channel matching ``/regex/``."""
    model = session.sim.model
    name = header(msg, "Channel")
    if not name:
        return session.error(action_id, "No channel specified")
    cause_text = header(msg, "Cause")
    cause: int | None = None
    if cause_text:
        cause = int(cause_text) if cause_text.isdigit() and int(cause_text) <= _CAUSE_MAX else 0
    if len(name) > 1 and name.startswith("/") and name.endswith("/"):
        return _hangup_matching(session, name[1:-1], cause, action_id)
    ch = model.find(name)
    if ch is None:
        return session.error(action_id, "No such channel")
    session.respond("Success", action_id, ("Message", "Channel Hungup"))
    model.hangup_channel(ch, cause)


def _hangup_matching(session: AmiSession, pattern: str, cause: int | None, action_id: str | None) -> None:
    model = session.sim.model
    try:
        regex = re.compile(pattern)
    except re.error:
        return session.error(action_id, "Invalid regex")
    matched = [ch for ch in model.channels.values() if regex.search(ch.name)]
    session.respond("Success", action_id, ("EventList", "start"), ("Message", "Channels hung up will follow"))
    for ch in matched:
        session.send([("Event", "ChannelHungup"), *action_id_headers(action_id), ("Channel", ch.name)])
    session.send(ev.list_complete("ChannelsHungupListComplete", action_id, len(matched)))
    for ch in matched:
        if not ch.hung_up:
            model.hangup_channel(ch, cause)


def setvar(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``Setvar``: a channel variable, or a global one without ``Channel``."""
    model = session.sim.model
    name, variable = header(msg, "Channel"), header(msg, "Variable")
    if not variable:
        return session.error(action_id, "No variable specified")
    ch = model.find(name) if name else None
    if name and ch is None:
        return session.error(action_id, "No such channel")
    session.respond("Success", action_id, ("Message", "Variable Set"))
    model.set_variable(ch, variable, header(msg, "Value"))


def mixmonitor(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``MixMonitor``: start recording a channel (recorded in ``sim.recordings``).

    app_mixmonitor's manager_mixmonitor: these checks and messages; the answer is a bare
    ``Response: Success`` (a ``MixMonitorID`` only with option ``i``, which the service does not
    use), then ``MixMonitorStart``.  A second MixMonitor on the channel is a second recording.
    """
    model = session.sim.model
    name = header(msg, "Channel")
    if not name:
        return session.error(action_id, "No channel specified")
    ch = model.find(name)
    if ch is None or ch.hung_up:
        return session.error(action_id, "No such channel")
    file_name = header(msg, "File") or f"{ch.uniqueid}.wav"
    session.sim.recordings.append((ch.name, file_name))
    session.respond("Success", action_id)
    model.start_mixmonitor(ch)


def stop_mixmonitor(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``StopMixMonitor``: stop one running recording; a bare ``Response: Success``, then
    ``MixMonitorStop``; none running (never started, or already stopped): an error."""
    model = session.sim.model
    name = header(msg, "Channel")
    if not name:
        return session.error(action_id, "No channel specified")
    ch = model.find(name)
    if ch is None or ch.hung_up:
        return session.error(action_id, "No such channel")
    if ch.mixmonitors == 0:
        return session.error(action_id, "Could not stop monitoring channel")
    session.respond("Success", action_id)
    model.stop_mixmonitor(ch)


def getvar(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``Getvar``: a channel variable or function, or a global one without ``Channel``."""
    model = session.sim.model
    name, variable = header(msg, "Channel"), header(msg, "Variable")
    if not variable:
        return session.error(action_id, "No variable specified")
    ch = model.find(name) if name else None
    if name and ch is None:
        return session.error(action_id, "No such channel")
    session.respond("Success", action_id, ("Variable", variable), ("Value", model.get_variable(ch, variable)))


def status(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``Status``: one channel or all of them, as a list of ``Status`` events."""
    model = session.sim.model
    name = header(msg, "Channel")
    if name:
        ch = model.find(name)
        if ch is None:
            return session.error(action_id, "No such channel")
        channels = [ch]
    else:
        channels = list(model.channels.values())
    session.respond("Success", action_id, ("EventList", "start"), ("Message", "Channel status will follow"))
    now = session.sim.now()
    for ch in channels:
        session.send(_with_action_id(ev.status_item(ch, action_id or "", now), action_id))
    session.send(ev.list_complete("StatusComplete", action_id, len(channels), with_items=True))


def core_show_channels(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``CoreShowChannels``: every live channel as a list."""
    channels = list(session.sim.model.channels.values())
    session.respond("Success", action_id, ("EventList", "start"), ("Message", "Channels will follow"))
    now = session.sim.now()
    for ch in channels:
        session.send(_with_action_id(ev.core_show_channel(ch, action_id or "", now), action_id))
    session.send(ev.list_complete("CoreShowChannelsComplete", action_id, len(channels)))


def bridge_list(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``BridgeList``: every live bridge as a list."""
    bridges = list(session.sim.model.bridges.values())
    session.respond("Success", action_id, ("EventList", "start"), ("Message", "Bridge listing will follow"))
    for bridge in bridges:
        session.send(_with_action_id(ev.bridge_list_item(bridge, action_id or ""), action_id))
    session.send(ev.list_complete("BridgeListComplete", action_id, len(bridges)))


def device_state_list(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``DeviceStateList``: the last state of every device as a list."""
    devices = list(session.sim.model.devices.items())
    session.respond(
        "Success", action_id, ("EventList", "start"), ("Message", "Device State Changes will follow")
    )
    for device, state in devices:
        session.send(_with_action_id(ev.device_state_change(device, state, action_id or ""), action_id))
    session.send(ev.list_complete("DeviceStateListComplete", action_id, len(devices)))


def core_status(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``CoreStatus``: start-up time and call counts."""
    model = session.sim.model
    started = model.started
    session.respond(
        "Success",
        action_id,
        ("CoreStartupDate", time.strftime("%Y-%m-%d", time.gmtime(started))),
        ("CoreStartupTime", time.strftime("%H:%M:%S", time.gmtime(started))),
        ("CoreReloadDate", time.strftime("%Y-%m-%d", time.gmtime(started))),
        ("CoreReloadTime", time.strftime("%H:%M:%S", time.gmtime(started))),
        ("CoreCurrentCalls", str(len(model.calls))),
        ("CoreProcessedCalls", str(model.processed_calls)),
    )


def core_settings(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """``CoreSettings``: the versions and settings of the captures' Asterisk."""
    session.respond(
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


def command(session: AmiSession, msg: AmiMessage, action_id: str | None) -> None:
    """A few harmless CLI commands; anything else fails the way the CLI does."""
    model = session.sim.model
    command = " ".join(header(msg, "Command").split())
    outputs: dict[str, list[str]] = {
        "core show channels count": [
            f"{len(model.channels)} active channels",
            f"{len(model.calls)} active calls",
            f"{model.processed_calls} calls processed",
        ],
        "core show version": [
            f"Asterisk {ev.ASTERISK_VERSION} built by root @ vm on a x86_64 running Linux (simulated)"
        ],
        "core show uptime": [f"System uptime: {session.sim.uptime()} seconds"],
    }
    lines = outputs.get(command.lower())
    if lines is None:
        failure = f"No such command '{command}' (type 'core show help {command}' for other possible commands)"
        session.respond("Error", action_id, ("Message", "Command output follows"), ("Output", failure))
        return
    session.respond(
        "Success", action_id, ("Message", "Command output follows"), *(("Output", line) for line in lines)
    )


#: Lower-cased action name -> handler, for the actions beyond the session's own.
MANAGER_ACTIONS: Mapping[str, Callable[[AmiSession, AmiMessage, str | None], None]] = {
    "originate": originate,
    "redirect": redirect,
    "hangup": hangup,
    "setvar": setvar,
    "getvar": getvar,
    "mixmonitor": mixmonitor,
    "stopmixmonitor": stop_mixmonitor,
    "status": status,
    "coreshowchannels": core_show_channels,
    "bridgelist": bridge_list,
    "devicestatelist": device_state_list,
    "corestatus": core_status,
    "coresettings": core_settings,
    "command": command,
}

"""The simulated PBX's live state and the primitive steps every other part takes on it.

:class:`Switchboard` holds channels, calls, bridges, device states and globals; creates
channels (Local pairs and endpoints) with Asterisk's ids; runs single dialplan priorities,
sets variables, answers, writes CEL records, reports device states and Originate results.
The dialling (:mod:`.dialling`), hanging up (:mod:`.hangups`) and dialplan contexts
(:mod:`.contexts`) all work through one :class:`Switchboard`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence

from hotline.pbx_bridge.simulator import events as ev
from hotline.pbx_bridge.simulator.behaviour import AgentBehaviour, CitizenBehaviour
from hotline.pbx_bridge.simulator.model import (
    UNKNOWN,
    Bridge,
    Call,
    Cancellable,
    Channel,
    ChannelInfo,
    ChannelState,
    Headers,
    Originate,
    Scheduler,
)
from hotline.pbx_bridge.simulator.phones import PhoneBook, SipPhones
from hotline.settings import DialplanSettings


class Switchboard:
    """The PBX's live state and its primitive, event-emitting steps (sans-I/O)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        scheduler: Scheduler,
        emit: Callable[[Headers], None],
        dialplan: DialplanSettings,
        agents: Mapping[str, AgentBehaviour],
        citizens: Mapping[str, CitizenBehaviour],
        agent_answer_delay_s: float,
        caller_patience_s: float | None,
        rng: random.Random,
        channelvars: Sequence[str],
        phones: PhoneBook,
    ) -> None:
        self.clock = clock
        self._channelvars = tuple(channelvars)
        self.scheduler = scheduler
        self.emit = emit
        self.dialplan = dialplan
        #: Shared with the owner, so behaviours changed there apply to the next dial.
        self.agents = agents
        self.citizens = citizens
        self.agent_answer_delay_s = agent_answer_delay_s
        self.caller_patience_s = caller_patience_s
        self.rng = rng
        self.started = clock()
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, Call] = {}
        self.bridges: dict[str, Bridge] = {}
        #: Last state sent per device, for DeviceStateList.
        self.devices: dict[str, str] = {}
        self.device_channels: dict[str, set[Channel]] = {}
        #: (supervisor channel, spied channel) of every ChanSpy run (issue 11).
        self.spies: list[tuple[str, str]] = []
        #: (spyer, spied) of every ChanSpy listening now.
        self.spying: list[tuple[Channel, Channel]] = []
        #: Agents' SIP softphones (empty: every ``PJSIP/1XXX`` answers, as before the pjsip captures).
        self.phones = SipPhones(
            phones,
            clock=clock,
            scheduler=scheduler,
            emit=emit,
            set_device_state=self._phone_device_state,
            rng=self.rng,
        )
        self.devices.update(self.phones.device_states())
        self.globals: dict[str, str] = {
            "HOTLINE_NUMBER": dialplan.hotline_caller_id,
            "DEFAULT_RING_TIMEOUT": str(dialplan.ring_timeout_s),
            "DEFAULT_CALLBACK_TIMEOUT": str(dialplan.callback_timeout_s),
        }
        self.processed_calls = 0
        self._seq = 0
        self._local_seq = 0
        self._endpoint_seq = 0
        #: ``core restart`` under way: dials return nothing more and Originates fail.
        self.shutting_down = False

    def find(self, name: str) -> Channel | None:
        """The live channel called ``name``."""
        return self.channels.get(name)

    def live_channels(self) -> list[ChannelInfo]:
        """Snapshots of every live channel, oldest first."""
        return [ChannelInfo.of(ch) for ch in self.channels.values()]

    def live_calls(self) -> list[str]:
        """Linkedids of the calls with at least one channel up."""
        return list(self.calls)

    def set_variable(self, ch: Channel | None, name: str, value: str) -> None:
        """Setvar: a channel variable (with its VarSet event), or a global one."""
        if ch is None:
            self.globals[name] = value
        elif name.upper() == "CDR(USERFIELD)":
            ch.user_field = value
        else:
            self.set_var(ch, name, value)

    def get_variable(self, ch: Channel | None, name: str) -> str:
        """Getvar: a channel variable (falling back to globals) or one of a few functions."""
        if ch is not None:
            functions = {
                "CHANNEL": ch.name,
                "CHANNEL(NAME)": ch.name,
                "UNIQUEID": ch.uniqueid,
                "CHANNEL(LINKEDID)": ch.linkedid,
                "CALLERID(NUM)": ch.caller_num,
                "CALLERID(NAME)": ch.caller_name,
                "CALLERID(ALL)": ev.callerid_all(ch),
                "EXTEN": ch.exten,
                "CONTEXT": ch.context,
                "CDR(USERFIELD)": ch.user_field,
            }
            if name.upper() in functions:
                return functions[name.upper()]
            if name in ch.variables:
                return ch.variables[name]
        return self.globals.get(name, "")

    def now(self) -> float:
        """The current epoch time, from the injected clock."""
        return self.clock()

    def _next_uniqueid(self) -> str:
        uniqueid = f"{int(self.now())}.{self._seq}"
        self._seq += 1
        return uniqueid

    def new_bridge_id(self) -> str:
        """A fresh bridge id (a UUID4 from the seeded generator, so runs repeat)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _new_channel(
        self,
        *,
        name: str,
        linkedid: str | None,
        device: str,
        local_device: bool,
        context: str,
        exten: str,
        state: ChannelState,
        half: int = 0,
    ) -> Channel:
        uniqueid = self._next_uniqueid()
        ch = Channel(
            name=name,
            uniqueid=uniqueid,
            linkedid=linkedid or uniqueid,
            created=self.now(),
            device=device,
            local_device=local_device,
            context=context,
            exten=exten,
            state=state,
            half=half,
            manager_vars=self._channelvars,
        )
        self.channels[name] = ch
        self.device_channels.setdefault(device, set()).add(ch)
        call = self.calls.get(ch.linkedid)
        if call is None:
            call = self.calls[ch.linkedid] = Call(ch.linkedid)
            self.processed_calls += 1
        call.channels.append(ch)
        return ch

    def goto(self, ch: Channel, context: str, exten: str) -> None:
        """Move ``ch`` to ``context,exten`` before its first priority."""
        ch.context, ch.exten, ch.priority = context, exten, 0

    def step(self, ch: Channel, app: str, data: str) -> None:
        """Run one dialplan priority: the Newexten every application starts with."""
        ch.priority += 1
        ch.app, ch.app_data = app, data
        self.emit(ev.newexten(ch, app, data))

    def set_var(self, ch: Channel, name: str, value: str) -> None:
        """Set a channel variable and send its VarSet."""
        ch.variables[name] = value
        self.emit(ev.varset(ch, name, value))

    def cel(self, ch: Channel, name: str, *, peer: str = "", extra: str = "") -> None:
        """Send a CEL record of ``ch`` stamped now."""
        self.emit(ev.cel(ch, name, self.now(), peer=peer, extra=extra))

    def answer(self, ch: Channel) -> None:
        """The channel goes Up: remember when, send its Newstate."""
        ch.state = ChannelState.UP
        ch.answered = self.now()
        self.emit(ev.newstate(ch))

    def after(self, delay_s: float, step: Callable[[], None]) -> Cancellable:
        """Run ``step`` after ``delay_s`` on the injected scheduler."""
        return self.scheduler.call_later(delay_s, step)

    def cancel_timers(self, ch: Channel) -> None:
        """Stop the channel's dialplan and talk timers."""
        for timer in (ch.timer, ch.talk_timer):
            if timer is not None:
                timer.cancel()
        ch.timer = ch.talk_timer = None

    def _device_state(self, ch: Channel) -> str:
        # A Local device drops to NOT_INUSE as soon as either half of its pair goes (captures
        # 02-07 show NOT_INUSE twice); only other calls to the same device keep it in use.
        live = [c for c in self.device_channels.get(ch.device, ()) if not c.hung_up and c is not ch.peer]
        if any(c.state in (ChannelState.UP, ChannelState.BUSY) for c in live):
            return "INUSE"
        if not ch.local_device and any(c.state in (ChannelState.RING, ChannelState.RINGING) for c in live):
            return "RINGING"
        return self.phones.idle_state(ch.device) or "NOT_INUSE"

    def _phone_device_state(self, device: str, state: str) -> None:
        """A phone registered or was lost: its device changes now, unless a channel of it is up
        (then when that channel ends, as the dead phone of capture pjsip/11e shows)."""
        if any(not c.hung_up for c in self.device_channels.get(device, ())):
            return
        if self.devices.get(device) != state:
            self.devices[device] = state
            self.emit(ev.device_state_change(device, state))

    def kill_phone(self, endpoint: str) -> None:
        """An agent's softphone dies without de-registering; a dial ringing it is never answered."""
        self.phones.kill(endpoint)
        phone = self.phones.phone(endpoint)
        assert phone is not None
        for ch in self.device_channels.get(phone.device, set()):
            if ch.dialled_by is not None and not ch.dialled_by.done and ch.timer is not None:
                ch.timer.cancel()  # its answer will never come
                ch.timer = None

    def emit_device(self, ch: Channel, state: str | None = None) -> None:
        """Send the channel's device's new state (or ``state`` if given)."""
        state = state or self._device_state(ch)
        if not ch.local_device and self.devices.get(ch.device) == state:
            return  # endpoint devices report changes only; Local ones repeat per half
        self.devices[ch.device] = state
        self.emit(ev.device_state_change(ch.device, state))

    def new_local_pair(self, resource: str, exten: str, context: str, linkedid: str | None) -> Channel:
        """A Local channel pair ``;1``/``;2`` for ``resource``; returns the near half."""
        base = f"Local/{resource}-{self._local_seq:08x}"
        self._local_seq += 1
        halves = []
        for half, state in ((1, ChannelState.DOWN), (2, ChannelState.RING)):
            halves.append(
                self._new_channel(
                    name=f"{base};{half}",
                    linkedid=linkedid,
                    device=f"Local/{resource}",
                    local_device=True,
                    context=context,
                    exten=exten,
                    state=state,
                    half=half,
                )
            )
            linkedid = halves[0].linkedid
        one, two = halves
        one.peer, two.peer = two, one
        return one

    def new_endpoint(self, tech: str, resource: str, linkedid: str | None) -> Channel:
        """A PJSIP/SIP/IAX2 channel for ``resource`` (``number@trunk`` or an endpoint)."""
        number, at, trunk = resource.partition("@")
        endpoint = trunk if at else number
        name = f"{tech}/{endpoint}-{self._endpoint_seq:08x}"
        self._endpoint_seq += 1
        return self._new_channel(
            name=name,
            linkedid=linkedid,
            device=f"{tech}/{endpoint}",
            local_device=False,
            context="from-internal",
            exten=number,
            state=ChannelState.DOWN,
        )

    def originate_succeeded(self, o: Originate, ch: Channel) -> None:
        """The OriginateResponse of success (async Originates only)."""
        if o.async_:
            self.emit(
                ev.originate_response(
                    action_id=o.action_id,
                    success=True,
                    channel=ch.name,
                    reason=4,
                    uniqueid=ch.uniqueid,
                    caller_num=o.caller_num,
                    caller_name=o.caller_name,
                    context=o.context,
                    exten=o.exten,
                    application=o.application,
                    data=o.data,
                    chan_vars=[(name, ch.variables.get(name, "")) for name in ch.manager_vars],
                )
            )

    def flush_originate(self, ch: Channel) -> None:
        """Send a callback's withheld OriginateResponse, if any."""
        originate, ch.pending_originate = ch.pending_originate, None
        if originate is not None:
            self.originate_succeeded(originate, ch)

    def originate_failed(self, o: Originate, reason: int) -> None:
        """On failure ``Channel`` is the dial string as sent and the Uniqueid is unknown."""
        if o.async_:
            self.emit(
                ev.originate_response(
                    action_id=o.action_id,
                    success=False,
                    channel=o.dial_string,
                    reason=reason,
                    uniqueid=UNKNOWN,
                    caller_num=o.caller_num,
                    caller_name=o.caller_name,
                    context=o.context,
                    exten=o.exten,
                    application=o.application,
                    data=o.data,
                )
            )
        if o.on_done is not None:
            o.on_done(False)

"""The simulated PBX's call model, without I/O.

:class:`PbxModel` holds channels, Local-channel halves, bridges and device states, runs the
shipped dialplan (``config/asterisk/extensions_hotline.conf``) step by step and reports every
change as an Asterisk-shaped AMI event through the ``emit`` callback it is given.  Time comes
from an injected clock and timers from an injected :class:`~.model.Scheduler`, so unit tests
drive it with a manual clock and the server with the event loop.

Event order follows the captures of a real Asterisk 22 closely (Asterisk itself interleaves
some of them differently from run to run): ``Cdr`` before ``Hangup``, ``OriginateResponse``
of a callback after its channel already runs dialplan, ``DialBegin`` without ``DialEnd`` when
an Originate times out, duplicate headers in ``HotlineEnqueue``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence

from hotline.pbx_bridge.actions import SUPERVISE_CONTEXT, SUPERVISE_EXTEN
from hotline.pbx_bridge.simulator import events as ev
from hotline.pbx_bridge.simulator.behaviour import AgentBehaviour, CitizenBehaviour
from hotline.pbx_bridge.simulator.dialplan import (
    AGENTS_CONTEXT,
    CITIZEN_CONTEXT,
    CITIZEN_WAIT_S,
    ENDPOINT_TECHS,
    FIXED_CITIZEN_CONTEXTS,
    IMPATIENT_CONTEXT,
    FarOutcome,
    FarPlan,
    agent_from_exten,
    endpoint_plan,
    local_plan,
    pattern_matches,
    seconds_text,
    split_dial_string,
)
from hotline.pbx_bridge.simulator.model import (
    UNKNOWN,
    Activity,
    Bridge,
    Call,
    Cancellable,
    CdrRecord,
    Channel,
    ChannelInfo,
    ChannelState,
    Dial,
    DialMode,
    Headers,
    Originate,
    Scheduler,
)
from hotline.pbx_bridge.simulator.phones import PhoneBook, PhoneState, SipPhones
from hotline.settings import DialplanSettings

#: Variables Dial() clears on the caller before it starts (the VarSet noise of the captures).
_DIAL_RESET_VARS = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)
#: OriginateResponse ``Reason`` for the cause a callee hung up with before answering.
_REASON_BY_CAUSE = {17: 5, 34: 8, 19: 3, 21: 0}
#: DIALSTATUS for the cause a callee hung up with before answering.
_STATUS_BY_CAUSE = {17: "BUSY", 34: "CONGESTION"}
_DISPOSITION_BY_STATUS = {"BUSY": "BUSY", "CONGESTION": "CONGESTION", "CHANUNAVAIL": "FAILED"}
_CITIZEN_CONTEXTS = frozenset({CITIZEN_CONTEXT, IMPATIENT_CONTEXT, *FIXED_CITIZEN_CONTEXTS})
DEFAULT_ORIGINATE_TIMEOUT_S = 30.0
SERVICE_NAME = "gov-12345"


def _seconds(text: str, default: float) -> float:
    try:
        value = float(text)
    except ValueError:
        return default
    return value if value > 0 else default


class PbxModel:
    """The PBX's live state and the dialplan semantics that change it (sans-I/O)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        scheduler: Scheduler,
        emit: Callable[[Headers], None],
        dialplan: DialplanSettings,
        agents: Mapping[str, AgentBehaviour],
        citizens: Mapping[str, CitizenBehaviour],
        agent_answer_delay_s: float = 0.5,
        caller_patience_s: float | None = None,
        rng: random.Random | None = None,
        channelvars: Sequence[str] = (),
        phones: PhoneBook | None = None,
    ) -> None:
        self._clock = clock
        self._channelvars = tuple(channelvars)
        self._scheduler = scheduler
        self._emit = emit
        self._dialplan = dialplan
        #: Shared with the owner, so behaviours changed there apply to the next dial.
        self.agents = agents
        self.citizens = citizens
        self.agent_answer_delay_s = agent_answer_delay_s
        self.caller_patience_s = caller_patience_s
        self._rng = rng or random.Random(0)
        self.started = clock()
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, Call] = {}
        self.bridges: dict[str, Bridge] = {}
        #: Last state sent per device, for DeviceStateList.
        self.devices: dict[str, str] = {}
        self._device_channels: dict[str, set[Channel]] = {}
        #: (supervisor channel, spied channel) of every ChanSpy run (issue 11).
        self.spies: list[tuple[str, str]] = []
        #: Agents' SIP softphones (empty: every ``PJSIP/1XXX`` answers, as before the pjsip captures).
        self.phones = SipPhones(
            phones or PhoneBook(),
            clock=clock,
            scheduler=scheduler,
            emit=emit,
            set_device_state=self._phone_device_state,
            rng=self._rng,
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
        self._shutting_down = False

    # -- queries -------------------------------------------------------------------------

    def find(self, name: str) -> Channel | None:
        """The live channel called ``name``."""
        return self.channels.get(name)

    def live_channels(self) -> list[ChannelInfo]:
        """Snapshots of every live channel, oldest first."""
        return [ChannelInfo.of(ch) for ch in self.channels.values()]

    def live_calls(self) -> list[str]:
        """Linkedids of the calls with at least one channel up."""
        return list(self.calls)

    # -- operations ----------------------------------------------------------------------

    def place_inbound_call(self, number: str, name: str, priority: str, patience_s: float | None) -> str:
        """A citizen calls 12345: like ``Originate Local/<number>@caller-sim`` into hotline-inbound.

        Returns the call's Linkedid.
        """
        patience = self.caller_patience_s if patience_s is None else patience_s
        variables: list[tuple[str, str]] = []
        if priority != "normal":
            variables.append((self._dialplan.priority_variable, priority))
        if patience is not None:
            variables.append(("CITIZEN_WAIT", seconds_text(patience)))
        behaviour = self.citizens.get(number)
        plan = FarPlan(
            FarOutcome.ANSWER,
            f"citizen {number} on the line",
            wait_s=CITIZEN_WAIT_S if patience is None else patience,
            talk_s=behaviour.talk_s if behaviour is not None else None,
            abandon_after_s=patience,
        )
        originate = Originate(
            action_id=None,
            dial_string=f"Local/{number}@{CITIZEN_CONTEXT}",
            context=self._dialplan.inbound_context,
            exten=self.globals["HOTLINE_NUMBER"],
            application=None,
            data="",
            timeout_s=DEFAULT_ORIGINATE_TIMEOUT_S,
            caller_num=number,
            caller_name=name or UNKNOWN,
            variables=variables,
        )
        dial = self._start_dial(
            mode=DialMode.ORIGINATE,
            caller=None,
            dial_string=originate.dial_string,
            timeout_s=originate.timeout_s,
            app_data="",
            originate=originate,
            plan_override=plan,
        )
        assert isinstance(dial, Dial)  # a caller-sim Local channel always exists
        return dial.callee.linkedid

    def originate(self, originate: Originate) -> bool:
        """Start an Originate; False when it failed at once (no channel could be made)."""
        if self._shutting_down:
            self._originate_failed(originate, 0)
            return False
        result = self._start_dial(
            mode=DialMode.ORIGINATE,
            caller=None,
            dial_string=originate.dial_string,
            timeout_s=originate.timeout_s,
            app_data="",
            originate=originate,
        )
        if isinstance(result, str):  # unknown technology: not even a channel
            self._originate_failed(originate, 0)
            return False
        return True

    def redirect(self, ch: Channel, context: str, exten: str) -> None:
        """AMI Redirect: leave whatever the channel does and run ``context,exten,1``."""
        later: list[Callable[[], None]] = []
        self._unwind(ch, 0, later)
        for step in later:
            step()
        if not ch.hung_up:
            self._run_context(ch, context, exten)

    def hangup_channel(self, ch: Channel, cause: int | None) -> None:
        """AMI Hangup.  Without a cause Asterisk reports 0, or 16 once Dial() bridged the channel."""
        if cause is None:
            cause = 16 if ch.activity is Activity.BRIDGED else 0
        self.hangup(ch, cause)

    def hangup_call(self, linkedid: str, cause: int = 16) -> bool:
        """The citizen of call ``linkedid`` hangs up; False when the call is gone."""
        call = self.calls.get(linkedid)
        if call is None or not call.channels:
            return False
        target = call.citizen if call.citizen is not None and not call.citizen.hung_up else call.channels[0]
        self.hangup(target, cause)
        return True

    def set_variable(self, ch: Channel | None, name: str, value: str) -> None:
        """Setvar: a channel variable (with its VarSet event), or a global one."""
        if ch is None:
            self.globals[name] = value
        elif name.upper() == "CDR(USERFIELD)":
            ch.user_field = value
        else:
            self._set(ch, name, value)

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

    def shutdown(self) -> None:
        """``core restart``: every channel gets a shutdown soft-hangup, then hangs up."""
        self._shutting_down = True
        channels = list(self.channels.values())
        for ch in channels:
            self._emit(ev.soft_hangup_request(ch, 4))
        for ch in channels:
            self.hangup(ch, 0)

    # -- small helpers -------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock()

    def _next_uniqueid(self) -> str:
        uniqueid = f"{int(self._now())}.{self._seq}"
        self._seq += 1
        return uniqueid

    def _new_bridge_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

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
            created=self._now(),
            device=device,
            local_device=local_device,
            context=context,
            exten=exten,
            state=state,
            half=half,
            manager_vars=self._channelvars,
        )
        self.channels[name] = ch
        self._device_channels.setdefault(device, set()).add(ch)
        call = self.calls.get(ch.linkedid)
        if call is None:
            call = self.calls[ch.linkedid] = Call(ch.linkedid)
            self.processed_calls += 1
        call.channels.append(ch)
        return ch

    def _goto(self, ch: Channel, context: str, exten: str) -> None:
        ch.context, ch.exten, ch.priority = context, exten, 0

    def _step(self, ch: Channel, app: str, data: str) -> None:
        """Run one dialplan priority: the Newexten every application starts with."""
        ch.priority += 1
        ch.app, ch.app_data = app, data
        self._emit(ev.newexten(ch, app, data))

    def _set(self, ch: Channel, name: str, value: str) -> None:
        ch.variables[name] = value
        self._emit(ev.varset(ch, name, value))

    def _cel(self, ch: Channel, name: str, *, peer: str = "", extra: str = "") -> None:
        self._emit(ev.cel(ch, name, self._now(), peer=peer, extra=extra))

    def _answer(self, ch: Channel) -> None:
        ch.state = ChannelState.UP
        ch.answered = self._now()
        self._emit(ev.newstate(ch))

    def _after(self, delay_s: float, step: Callable[[], None]) -> Cancellable:
        return self._scheduler.call_later(delay_s, step)

    def _cancel_timers(self, ch: Channel) -> None:
        for timer in (ch.timer, ch.talk_timer):
            if timer is not None:
                timer.cancel()
        ch.timer = ch.talk_timer = None

    def _device_state(self, ch: Channel) -> str:
        # A Local device drops to NOT_INUSE as soon as either half of its pair goes (captures
        # 02-07 show NOT_INUSE twice); only other calls to the same device keep it in use.
        live = [c for c in self._device_channels.get(ch.device, ()) if not c.hung_up and c is not ch.peer]
        if any(c.state in (ChannelState.UP, ChannelState.BUSY) for c in live):
            return "INUSE"
        if not ch.local_device and any(c.state in (ChannelState.RING, ChannelState.RINGING) for c in live):
            return "RINGING"
        return self.phones.idle_state(ch.device) or "NOT_INUSE"

    def _phone_device_state(self, device: str, state: str) -> None:
        """A phone registered or was lost: its device changes now, unless a channel of it is up
        (then when that channel ends, as the dead phone of capture pjsip/11e shows)."""
        if any(not c.hung_up for c in self._device_channels.get(device, ())):
            return
        if self.devices.get(device) != state:
            self.devices[device] = state
            self._emit(ev.device_state_change(device, state))

    def kill_phone(self, endpoint: str) -> None:
        """An agent's softphone dies without de-registering; a dial ringing it is never answered."""
        self.phones.kill(endpoint)
        phone = self.phones.phone(endpoint)
        assert phone is not None
        for ch in self._device_channels.get(phone.device, set()):
            if ch.dialled_by is not None and not ch.dialled_by.done and ch.timer is not None:
                ch.timer.cancel()  # its answer will never come
                ch.timer = None

    def _emit_device(self, ch: Channel, state: str | None = None) -> None:
        state = state or self._device_state(ch)
        if not ch.local_device and self.devices.get(ch.device) == state:
            return  # endpoint devices report changes only; Local ones repeat per half
        self.devices[ch.device] = state
        self._emit(ev.device_state_change(ch.device, state))

    # -- creating and dialling channels --------------------------------------------------

    def _start_dial(
        self,
        *,
        mode: DialMode,
        caller: Channel | None,
        dial_string: str,
        timeout_s: float,
        app_data: str,
        originate: Originate | None = None,
        on_return: Callable[[str], None] | None = None,
        go_on: bool = False,
        plan_override: FarPlan | None = None,
    ) -> Dial | str:
        """Create the callee channel(s), send DialBegin and start the far side's dialplan.

        Returns the Dial, or ``"CHANUNAVAIL"`` when no channel could be created at all.
        """
        parsed = split_dial_string(dial_string)
        if parsed is None:
            return "CHANUNAVAIL"
        tech, resource = parsed
        linkedid = caller.linkedid if caller is not None else None
        is_citizen = False
        if tech == "Local":
            exten, _, context = resource.partition("@")
            context = context or "default"
            plan = plan_override or local_plan(
                context,
                exten,
                agents=self.agents,
                citizens=self.citizens,
                agent_delay_s=self.agent_answer_delay_s,
            )
            is_citizen = context in _CITIZEN_CONTEXTS
            near = self._new_local_pair(resource, exten, context, linkedid)
        elif tech in ENDPOINT_TECHS:
            if self.phones.manages(tech, resource):
                phone = self.phones.phone(resource)
                if phone is None or not phone.dialable:
                    # Unregistered, Unreachable or no such endpoint: no channel at all (pjsip/11c).
                    return "CHANUNAVAIL"
                if phone.state is PhoneState.DEAD:
                    plan_override = FarPlan(FarOutcome.SILENT, None)
            plan = plan_override or endpoint_plan(
                resource, agents=self.agents, citizens=self.citizens, agent_delay_s=self.agent_answer_delay_s
            )
            if plan is None:
                return "CHANUNAVAIL"
            is_citizen = "@" in resource
            near = self._new_endpoint(tech, resource, linkedid)
        else:
            return "CHANUNAVAIL"
        far = near.far
        dial = Dial(
            mode=mode,
            caller=caller,
            callee=near,
            resource=resource,
            app_data=app_data,
            on_return=on_return,
            originate=originate,
            go_on=go_on,
        )
        near.dialled_by = far.dialled_by = dial
        if caller is not None:
            caller.dial = dial
            caller.activity = Activity.DIALLING
        if mode is DialMode.ORIGINATE and originate is not None:
            self._announce_originated(near, originate)
        else:
            assert caller is not None
            self._announce_dialled(near, caller, resource)
        if is_citizen:
            self.calls[near.linkedid].citizen = far
        if plan is None:
            self._fail_unroutable(dial)
            return dial
        far.talk_s = plan.talk_s
        self._emit(ev.dial_begin(caller, near, resource))
        if caller is not None and caller.pending_originate is not None:
            self._flush_originate(caller)
        dial.timer = self._scheduler.call_later(timeout_s, lambda: self._dial_timeout(dial))
        self._far_start(dial, plan)
        return dial

    def _new_local_pair(self, resource: str, exten: str, context: str, linkedid: str | None) -> Channel:
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

    def _new_endpoint(self, tech: str, resource: str, linkedid: str | None) -> Channel:
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

    def _announce_originated(self, near: Channel, o: Originate) -> None:
        """Originate's creation events: Newchannel x2, AppDial2, CEL, variables, caller id."""
        far = near.far
        local = far is not near
        near.app, near.app_data = "AppDial2", "(Outgoing Line)"
        self._emit(ev.newchannel(near))
        if local:
            self._emit(ev.newchannel(far))
            self._emit(ev.newexten(near, near.app, near.app_data))
        self._cel(near, "CHAN_START")
        if local:
            self._cel(far, "CHAN_START")
        has_cid = o.caller_num != UNKNOWN or o.caller_name != UNKNOWN
        for ch in (near, far) if local else (near,):
            for key, value in o.variables:
                self._set(ch, key, value)
            if has_cid:
                ch.caller_num = ch.connected_num = o.caller_num
                ch.caller_name = ch.connected_name = o.caller_name
                self._emit(ev.newcallerid(ch))
                self._emit(ev.newconnectedline(ch))
        if local:
            self._emit(ev.local_bridge(near, far))

    def _announce_dialled(self, near: Channel, caller: Channel, resource: str) -> None:
        """Dial()'s creation events; the callee shows the caller's extension as its caller id."""
        far = near.far
        local = far is not near
        self._emit(ev.newchannel(near))
        self._cel(near, "CHAN_START")
        if local:
            self._cel(far, "CHAN_START")
            self._emit(ev.newchannel(far))
        self._set(near, "DIALEDPEERNUMBER", resource)
        near.caller_num, near.caller_name = (
            (caller.exten, caller.caller_name)
            if local
            else (
                caller.caller_num,
                caller.caller_name,
            )
        )
        near.connected_num, near.connected_name = caller.caller_num, caller.caller_name
        near.app, near.app_data = "AppDial", "(Outgoing Line)"
        if local:
            near.exten = caller.exten
            self._emit(ev.newexten(near, near.app, near.app_data))
        self._emit(ev.newcallerid(near))
        self._emit(ev.newconnectedline(near))
        if local:
            self._set(far, "DIALEDPEERNUMBER", resource)
            far.caller_num, far.caller_name = caller.caller_num, caller.caller_name
            far.connected_num, far.connected_name = caller.exten, caller.caller_name
            self._emit(ev.newcallerid(far))
            self._emit(ev.newconnectedline(far))
            self._emit(ev.local_bridge(near, far))

    def _far_start(self, dial: Dial, plan: FarPlan) -> None:
        """The dialled side starts: rings, answers later, or fails at once."""
        near = dial.callee
        far = near.far
        local = far is not near
        far.activity = Activity.RINGING
        if local and plan.noop is not None:
            self._step(far, "NoOp", plan.noop)
        match plan.outcome:
            case FarOutcome.ANSWER | FarOutcome.RING:
                if not local:
                    far.state = ChannelState.RINGING
                    self._emit(ev.newstate(far))
                    self._emit_device(far)
                if plan.outcome is FarOutcome.RING:
                    if local:
                        self._step(far, "Wait", seconds_text(plan.wait_s))
                    if plan.ring_limit_s is not None:
                        far.timer = self._after(plan.ring_limit_s, lambda: self._far_gives_up(far))
                elif plan.answer_after_s > 0:
                    if local:
                        self._step(far, "Wait", seconds_text(plan.answer_after_s))
                    far.timer = self._after(plan.answer_after_s, lambda: self._far_answer(dial, plan))
                else:
                    self._far_answer(dial, plan)
            case FarOutcome.BUSY | FarOutcome.CONGESTION:
                busy = plan.outcome is FarOutcome.BUSY
                if local:
                    self._step(far, "Busy" if busy else "Congestion", "5")
                    far.state = ChannelState.BUSY
                    self._emit(ev.newstate(far))
                    self._emit_device(far)
                self._dial_fails(dial, "BUSY" if busy else "CONGESTION", 17 if busy else 34)
            case FarOutcome.REJECT:
                if local:
                    self._step(far, "Hangup", "21")
                self.hangup(far, 21)
            case FarOutcome.SILENT:
                pass  # no provisional response: no Newstate, no DialState, no device change

    def _far_gives_up(self, far: Channel) -> None:
        if far.hung_up:
            return
        if far.half == 2:
            self._step(far, "Hangup", "")
        self.hangup(far, 16)

    def _far_answer(self, dial: Dial, plan: FarPlan) -> None:
        """The dialled side picks up: ORIGINATE runs its dialplan, Dial() bridges."""
        if dial.done:
            return
        near = dial.callee
        far = near.far
        local = far is not near
        far.timer = None
        if local:
            self._step(far, "Answer", "")
            self._answer(far)
            self._emit_device(far)
            self._cel(far, "ANSWER")
        dial.done = True
        if dial.timer is not None:
            dial.timer.cancel()
        near.dialled_by = far.dialled_by = None
        if dial.mode is DialMode.ORIGINATE:
            originate = dial.originate
            assert originate is not None
            if local:
                near.answered = self._now()
                self._cel(near, "ANSWER")
            # A callback's OriginateResponse comes once its channel already runs dialplan
            # (captures 06/07); other originates report as soon as the line is up (02-05).
            if originate.context == self._dialplan.callback_context:
                near.pending_originate = originate
            else:
                self._originate_succeeded(originate, near)
            self._answer(near)
            self._emit_device(near)
            self._emit(ev.dial_end(None, near, "ANSWER"))
            near.activity = Activity.IDLE
            if originate.on_done is not None:
                originate.on_done(True)
            self._run_originated(near, originate)
            if not near.hung_up and near.pending_originate is not None:
                self._flush_originate(near)
            if local:
                self._far_settle(far, plan)
            return
        caller = dial.caller
        assert caller is not None
        self._answer(near)
        self._emit_device(near)
        self._set(caller, "DIALSTATUS", "ANSWER")
        self._set(caller, "DIALEDPEERNAME", near.name)
        self._set(caller, "DIALEDPEERNUMBER", dial.resource)
        self._emit(ev.dial_end(caller, near, "ANSWER"))
        self._bridge(dial)
        if local:
            self._far_settle(far, plan)

    def _far_settle(self, far: Channel, plan: FarPlan) -> None:
        """After answering, the far side's dialplan waits (and may leave by itself)."""
        if far.hung_up:
            return
        self._step(far, "Wait", seconds_text(plan.wait_s))
        far.activity = Activity.WAITING
        if plan.hangup_after_answer_s is not None:
            far.timer = self._after(plan.hangup_after_answer_s, lambda: self._far_gives_up(far))
        elif plan.abandon_after_s is not None:
            far.timer = self._after(plan.abandon_after_s, lambda: self._abandon(far))

    def _abandon(self, far: Channel) -> None:
        """The inbound citizen's patience ran out: gone, unless an agent already talks to them."""
        far.timer = None
        near = far.peer
        if far.hung_up or (near is not None and near.activity is Activity.BRIDGED):
            return
        self._step(far, "Hangup", "")
        self.hangup(far, 16)

    def _bridge(self, dial: Dial) -> None:
        caller, callee = dial.caller, dial.callee
        assert caller is not None
        bridge = Bridge(self._new_bridge_id(), dial)
        self.bridges[bridge.uniqueid] = bridge
        self._emit(ev.bridge_create(bridge))
        callee.exten = ""
        self._emit(ev.newexten(callee, callee.app, callee.app_data))
        extra = ev.cel_bridge_extra(bridge)
        for member, peer in ((callee, ""), (caller, callee.name)):
            bridge.members.append(member)
            member.bridge = bridge
            member.activity = Activity.BRIDGED
            self._emit(ev.bridge_enter(bridge, member))
            self._cel(member, "BRIDGE_ENTER", peer=peer, extra=extra)
        self._set(callee, "BRIDGEPEER", caller.name)
        self._set(caller, "BRIDGEPEER", callee.name)
        caller.last_dial_peer = callee.name
        for member in (callee, caller):
            self._start_talk(member.far)

    def _start_talk(self, ch: Channel) -> None:
        if ch.talk_s is not None and ch.talk_timer is None and not ch.hung_up:
            ch.talk_timer = self._after(ch.talk_s, lambda: self._talk_over(ch))

    def _talk_over(self, ch: Channel) -> None:
        ch.talk_timer = None
        if not ch.hung_up:
            self.hangup(ch, 16)

    # -- how dials end -------------------------------------------------------------------

    def _dial_timeout(self, dial: Dial) -> None:
        if dial.done:
            return
        dial.done = True
        near = dial.callee
        if dial.mode is DialMode.ORIGINATE:
            originate = dial.originate
            assert originate is not None
            # No DialEnd here: Asterisk's originate gives up silently (capture 07, A2 and C1).
            self._teardown(
                near, 19, 19, request_cause=19, between=lambda: self._originate_failed(originate, 3)
            )
            return
        caller = dial.caller
        assert caller is not None
        self._record_failed_dial(caller, dial, "NOANSWER")
        self._teardown(near, 0, 0, request_cause=0, after_near=lambda: self._dial_returns(dial, "NOANSWER"))

    def _dial_fails(self, dial: Dial, status: str, far_cause: int) -> None:
        """The far side signalled BUSY or CONGESTION: the dialler hangs the callee up."""
        dial.done = True
        if dial.timer is not None:
            dial.timer.cancel()
        near = dial.callee
        if dial.mode is DialMode.ORIGINATE:
            originate = dial.originate
            assert originate is not None
            self._emit(ev.dial_end(None, near, status))
            reason = 5 if status == "BUSY" else 8
            self._teardown(
                near, 0, far_cause, request_cause=0, between=lambda: self._originate_failed(originate, reason)
            )
            return
        caller = dial.caller
        assert caller is not None
        self._record_failed_dial(caller, dial, status)
        self._teardown(
            near, 0, far_cause, request_cause=0, after_near=lambda: self._dial_returns(dial, status)
        )

    def _callee_gone(self, dial: Dial, cause: int) -> None:
        """The callee hung up before answering (rejected, gave up, was hung up by AMI)."""
        status = _STATUS_BY_CAUSE.get(cause, "NOANSWER")
        if dial.mode is DialMode.ORIGINATE:
            originate = dial.originate
            assert originate is not None
            self._emit(ev.dial_end(None, dial.callee, status))
            self._originate_failed(originate, _REASON_BY_CAUSE.get(cause, 1))
            return
        caller = dial.caller
        assert caller is not None
        if caller.hung_up:
            return
        self._record_failed_dial(caller, dial, status)
        self._dial_returns(dial, status)

    def _fail_unroutable(self, dial: Dial) -> None:
        """A Local channel to a missing extension: created, then destroyed, no DialBegin (07 A5)."""
        dial.done = True
        near = dial.callee
        far = near.far
        self._final_hangup(far, 0, disposition="FAILED", device_state="INVALID")
        if dial.mode is DialMode.ORIGINATE:
            assert dial.originate is not None
            self._originate_failed(dial.originate, 0)
            self._final_hangup(near, 0, disposition="FAILED", device_state="INVALID")
            return
        assert dial.caller is not None
        self._final_hangup(near, 0, disposition="FAILED", device_state="INVALID")
        self._set(dial.caller, "DIALSTATUS", "CHANUNAVAIL")
        self._dial_returns(dial, "CHANUNAVAIL")

    def _record_failed_dial(self, caller: Channel, dial: Dial, status: str) -> None:
        """DIALSTATUS, DialEnd and a CDR row of the attempt on the dialling channel."""
        self._set(caller, "DIALSTATUS", status)
        self._emit(ev.dial_end(caller, dial.callee, status))
        caller.cdrs.append(
            CdrRecord(
                destination_channel=dial.callee.name,
                last_app="Dial",
                last_data=dial.app_data,
                answered=caller.answered,
                end=self._now(),
                disposition=_DISPOSITION_BY_STATUS.get(status, "NO ANSWER"),
            )
        )

    def _dial_returns(self, dial: Dial, status: str) -> None:
        """Dial() returns to the dialplan of the caller (if it is still there)."""
        caller = dial.caller
        assert caller is not None
        caller.dial = None
        caller.activity = Activity.IDLE
        if caller.hung_up:
            return
        self._cel(caller, "APP_END")
        if self._shutting_down:
            return
        if dial.on_return is not None:
            dial.on_return(status)

    def _teardown(
        self,
        near: Channel,
        near_cause: int,
        far_cause: int,
        *,
        request_cause: int | None,
        between: Callable[[], None] | None = None,
        after_near: Callable[[], None] | None = None,
    ) -> None:
        """The dialler hangs up a callee that never got bridged (both Local halves).

        ``between`` runs after the far half is asked to hang up, ``after_near`` once the near
        half is gone: the far half of a Local pair finishes last, as in the captures.
        """
        far = near.far
        local = far is not near
        later: list[Callable[[], None]] = []
        if local and request_cause is not None and not far.hung_up:
            self._emit(ev.hangup_request(far, request_cause))
        if between is not None:
            between()
        self._unwind(near, near_cause, later)
        self._final_hangup(near, near_cause)
        if after_near is not None:
            after_near()
        if local and not far.hung_up:
            self._unwind(far, far_cause, later)
            self._emit(ev.soft_hangup_request(far, 16))
            self._final_hangup(far, far_cause)
        for step in later:
            step()

    # -- Originate results ---------------------------------------------------------------

    def _originate_succeeded(self, o: Originate, ch: Channel) -> None:
        if o.async_:
            self._emit(
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
                )
            )

    def _flush_originate(self, ch: Channel) -> None:
        originate, ch.pending_originate = ch.pending_originate, None
        if originate is not None:
            self._originate_succeeded(originate, ch)

    def _originate_failed(self, o: Originate, reason: int) -> None:
        """On failure ``Channel`` is the dial string as sent and the Uniqueid is unknown."""
        if o.async_:
            self._emit(
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

    # -- hanging up ----------------------------------------------------------------------

    def hangup(self, ch: Channel, cause: int, *, soft_cause: int | None = 16) -> None:
        """Hang ``ch`` up with ``cause``; its Local partner follows, bridge peers after that."""
        if ch.hung_up:
            return
        if soft_cause is not None:
            self._emit(ev.soft_hangup_request(ch, soft_cause))
        later: list[Callable[[], None]] = []
        self._unwind(ch, cause, later)
        partner = ch.peer if ch.peer is not None and not ch.peer.hung_up else None
        if partner is not None:
            self._emit(ev.hangup_request(partner, cause))
        self._final_hangup(ch, cause)
        if partner is not None and not partner.hung_up:
            self._unwind(partner, cause, later)
            self._emit(ev.soft_hangup_request(partner, 16))
            self._final_hangup(partner, cause)
        for step in later:
            step()

    def _unwind(self, ch: Channel, cause: int, later: list[Callable[[], None]]) -> None:
        """Stop what ``ch`` is doing (for a hangup or a Redirect); queue what follows from it."""
        self._cancel_timers(ch)
        activity, ch.activity = ch.activity, Activity.IDLE
        if activity is Activity.HOLD:
            self._emit(ev.moh_stop(ch))
            self._cel(ch, "APP_END")
        elif activity is Activity.DIALLING and ch.dial is not None and not ch.dial.done:
            dial = ch.dial
            dial.done = True
            if dial.timer is not None:
                dial.timer.cancel()
            ch.dial = None
            self._emit(ev.dial_end(ch, dial.callee, "CANCEL"))
            later.append(lambda: self._teardown(dial.callee, 0, 0, request_cause=0))
        elif activity is Activity.BRIDGED and ch.bridge is not None:
            bridge = ch.bridge
            self._leave_bridge(ch, bridge)
            later.append(lambda: self._bridge_party_left(bridge, ch))
        dialled_by = ch.dialled_by
        if dialled_by is not None and not dialled_by.done:
            dialled_by.done = True
            if dialled_by.timer is not None:
                dialled_by.timer.cancel()
            later.append(lambda: self._callee_gone(dialled_by, cause))

    def _leave_bridge(self, ch: Channel, bridge: Bridge) -> None:
        self._set(ch, "BRIDGEPEER", "")
        bridge.members.remove(ch)
        ch.bridge = None
        self._emit(ev.bridge_leave(bridge, ch))
        self._cel(ch, "BRIDGE_EXIT", extra=ev.cel_bridge_extra(bridge))

    def _bridge_party_left(self, bridge: Bridge, left: Channel) -> None:
        """One side left a Dial() bridge: the other is hung up, or (Dial option g) goes on."""
        dial = bridge.dial
        for other in list(bridge.members):
            if other.hung_up or other.bridge is not bridge:
                continue
            goes_on = (
                dial is not None and dial.go_on and other is dial.caller and left is dial.callee
            ) and not self._shutting_down
            if goes_on and dial is not None:
                other.activity = Activity.IDLE
                self._leave_bridge(other, bridge)
                self._destroy_if_empty(bridge)
                self._dial_returns(dial, "ANSWER")
            else:
                self.hangup(other, 16, soft_cause=None)  # the bridge ends it: no soft hangup
        self._destroy_if_empty(bridge)

    def _destroy_if_empty(self, bridge: Bridge) -> None:
        if not bridge.members and self.bridges.pop(bridge.uniqueid, None) is not None:
            self._emit(ev.bridge_destroy(bridge))

    def _final_hangup(
        self, ch: Channel, cause: int, *, disposition: str | None = None, device_state: str | None = None
    ) -> None:
        """The channel is gone: its CDR rows (before the Hangup, as Asterisk often sends them),
        the Hangup, CEL records and the device's new state."""
        if ch.hung_up:
            return
        if ch.pending_originate is not None:
            self._flush_originate(ch)  # it was answered: the Originate succeeded before it ended
        ch.hung_up = True
        self._cancel_timers(ch)
        now = self._now()
        for record in ch.cdrs:
            self._emit(
                ev.cdr(
                    ch,
                    destination_channel=record.destination_channel,
                    last_app=record.last_app,
                    last_data=record.last_data,
                    answered=record.answered,
                    end=record.end,
                    disposition=record.disposition,
                )
            )
        if disposition is None:
            disposition = "ANSWERED" if ch.answered is not None else _disposition_for(cause)
        self._emit(
            ev.cdr(
                ch,
                destination_channel=ch.last_dial_peer,
                last_app=ch.app,
                last_data=ch.app_data,
                answered=ch.answered,
                end=now,
                disposition=disposition,
            )
        )
        self._emit(ev.hangup(ch, cause))
        self._cel(ch, "HANGUP", extra=ev.cel_hangup_extra(cause))
        self._cel(ch, "CHAN_END")
        del self.channels[ch.name]
        self._device_channels.get(ch.device, set()).discard(ch)
        self._emit_device(ch, device_state)
        call = self.calls.get(ch.linkedid)
        if call is not None:
            call.channels.remove(ch)
            if not call.channels:
                self._cel(ch, "LINKEDID_END")
                del self.calls[ch.linkedid]

    # -- the dialplan ----------------------------------------------------------------------

    def _run_originated(self, ch: Channel, o: Originate) -> None:
        if o.application is not None:
            self._run_application(ch, o.application, o.data)
        else:
            self._run_context(ch, o.context or "", o.exten or "")

    def _run_application(self, ch: Channel, app: str, data: str) -> None:
        ch.app, ch.app_data = app, data
        if app.lower() == "wait":
            ch.activity = Activity.WAITING
            ch.timer = self._after(_seconds(data, 0.0), lambda: self._app_finished(ch))
        elif app.lower() == "musiconhold":
            self._start_hold(ch)
        else:
            self.hangup(ch, 0, soft_cause=None)  # no such application

    def _app_finished(self, ch: Channel) -> None:
        ch.timer = None
        if not ch.hung_up:
            self.hangup(ch, 16)

    def _run_context(self, ch: Channel, context: str, exten: str) -> None:
        d = self._dialplan
        if context == d.inbound_context:
            if exten == d.hold_exten:
                return self._run_hold(ch)
            if exten == self.globals["HOTLINE_NUMBER"]:
                return self._run_inbound(ch)
        elif context == d.connect_context:
            agent = agent_from_exten(d.connect_exten_template, exten)
            if agent is not None:
                return self._run_connect(ch, exten, agent)
        elif context == d.callback_context:
            if pattern_matches("_X.", exten):
                return self._run_callback(ch, exten)
        elif context == SUPERVISE_CONTEXT:
            if exten == SUPERVISE_EXTEN:
                return self._run_spy(ch, exten)
        else:
            plan = local_plan(
                context,
                exten,
                agents=self.agents,
                citizens=self.citizens,
                agent_delay_s=self.agent_answer_delay_s,
            )
            if plan is not None:
                return self._run_plan_here(ch, context, exten, plan)
        # No such extension: Asterisk hangs the channel up.
        self._goto(ch, context, exten)
        self.hangup(ch, 0, soft_cause=None)

    def _run_spy(self, ch: Channel, exten: str) -> None:
        """``[hotline-supervise]``: ChanSpy(${HOTLINE_SPY_TARGET},qE) — listens until the target ends."""
        self._goto(ch, SUPERVISE_CONTEXT, exten)
        target = ch.variables.get("HOTLINE_SPY_TARGET", "")
        self._step(ch, "ChanSpy", f"{target},qE")
        self.spies.append((ch.name, target))
        ch.activity = Activity.WAITING
        ch.timer = self._after(3600.0, lambda: self._app_finished(ch))

    def _run_inbound(self, ch: Channel) -> None:
        """``[hotline-inbound]`` 12345: answer, stamp, announce (HotlineEnqueue), then hold."""
        d = self._dialplan
        self._goto(ch, d.inbound_context, self.globals["HOTLINE_NUMBER"])
        self._step(ch, "NoOp", f"Hotline inbound call from {ev.callerid_all(ch)}")
        self._step(ch, "Answer", "")
        if ch.state is not ChannelState.UP:
            self._answer(ch)
        epoch = str(int(self._now()))
        self._step(ch, "Set", f"HOTLINE_ENTER_EPOCH={epoch}")
        self._set(ch, "HOTLINE_ENTER_EPOCH", epoch)
        self._step(ch, "Set", f"HOTLINE_SERVICE={SERVICE_NAME}")
        self._set(ch, "HOTLINE_SERVICE", SERVICE_NAME)
        self._step(ch, "Set", f"CDR(userfield)=hotline-{self.globals['HOTLINE_NUMBER']}")
        ch.user_field = f"hotline-{self.globals['HOTLINE_NUMBER']}"
        ivr = ch.variables.get(d.priority_variable, "")
        extra = [
            ("Channel", ch.name),
            ("Uniqueid", ch.uniqueid),
            ("CallerIDNum", ch.caller_num),
            (d.priority_variable, ivr),
        ]
        self._step(ch, "UserEvent", ",".join([d.enqueue_user_event, *(f"{k}: {v}" for k, v in extra)]))
        self._emit(ev.user_event(ch, d.enqueue_user_event, extra))
        self._step(ch, "Goto", f"{d.hold_exten},1")
        self._run_hold(ch)

    def _run_hold(self, ch: Channel) -> None:
        """``hold``: MusicOnHold(default,600), then Hangup()."""
        self._goto(ch, self._dialplan.inbound_context, self._dialplan.hold_exten)
        self._step(ch, "NoOp", f"{ch.name} waiting for an agent")
        self._step(ch, "MusicOnHold", "default,600")
        self._start_hold(ch)
        ch.timer = self._after(600.0, lambda: self._hold_over(ch))

    def _start_hold(self, ch: Channel) -> None:
        ch.activity = Activity.HOLD
        self._emit(ev.moh_start(ch))
        self._cel(ch, "APP_START")

    def _hold_over(self, ch: Channel) -> None:
        ch.timer = None
        if ch.hung_up:
            return
        ch.activity = Activity.IDLE
        self._emit(ev.moh_stop(ch))
        self._cel(ch, "APP_END")
        self._step(ch, "Hangup", "")
        self.hangup(ch, 16)

    def _run_connect(self, ch: Channel, exten: str, agent: str) -> None:
        """``[hotline-connect]``: ring the agent; on failure tell the service and go back on hold."""
        self._goto(ch, self._dialplan.connect_context, exten)
        self._step(ch, "NoOp", f"connect {ch.name} to agent {agent}")
        ring = ch.variables.get("RING_TIMEOUT") or self.globals["DEFAULT_RING_TIMEOUT"]
        self._step(ch, "Set", f"RT={ring}")
        self._set(ch, "RT", ring)
        device = ch.variables.get("HOTLINE_AGENT_DEVICE") or f"Local/{agent}@{AGENTS_CONTEXT}"
        self._step(ch, "Set", f"AGENT_DIAL={device}")
        self._set(ch, "AGENT_DIAL", device)
        timeout = _seconds(ring, float(self._dialplan.ring_timeout_s))
        self._app_dial(
            ch, device, timeout, f"{device},{ring}", lambda status: self._agent_failed(ch, agent, status)
        )

    def _agent_failed(self, ch: Channel, agent: str, status: str) -> None:
        d = self._dialplan
        self._step(ch, "GotoIf", "0?done")
        extra = [("Agent", agent), ("DialStatus", status)]
        self._step(ch, "UserEvent", ",".join([d.agent_failed_user_event, *(f"{k}: {v}" for k, v in extra)]))
        self._emit(ev.user_event(ch, d.agent_failed_user_event, extra))
        self._step(ch, "Goto", f"{d.inbound_context},{d.hold_exten},1")
        self._run_hold(ch)

    def _run_callback(self, ch: Channel, exten: str) -> None:
        """``[hotline-callback]``: the agent is on the line; dial the citizen (option g)."""
        self._goto(ch, self._dialplan.callback_context, exten)
        ticket = ch.variables.get("TICKET_ID", "")
        callback_id = ch.variables.get("HOTLINE_CALLBACK_ID", "")
        self._step(ch, "NoOp", f"callback {callback_id} ticket {ticket} to {exten}")
        wait = ch.variables.get("CALLBACK_TIMEOUT") or self.globals["DEFAULT_CALLBACK_TIMEOUT"]
        self._step(ch, "Set", f"TMO={wait}")
        self._set(ch, "TMO", wait)
        dest = ch.variables.get("HOTLINE_CITIZEN_DIAL") or f"Local/{exten}@{CITIZEN_CONTEXT}"
        self._step(ch, "Set", f"CITIZEN_DIAL={dest}")
        self._set(ch, "CITIZEN_DIAL", dest)
        timeout = _seconds(wait, float(self._dialplan.callback_timeout_s))
        self._app_dial(
            ch, dest, timeout, f"{dest},{wait},g", lambda status: self._callback_done(ch, status), True
        )

    def _callback_done(self, ch: Channel, status: str) -> None:
        d = self._dialplan
        extra = [
            ("Ticket", ch.variables.get("TICKET_ID", "")),
            ("CallbackId", ch.variables.get("HOTLINE_CALLBACK_ID", "")),
            ("DialStatus", status),
        ]
        self._step(
            ch, "UserEvent", ",".join([d.callback_result_user_event, *(f"{k}: {v}" for k, v in extra)])
        )
        self._emit(ev.user_event(ch, d.callback_result_user_event, extra))
        self._step(ch, "Hangup", "")
        self.hangup(ch, 16)

    def _app_dial(
        self,
        caller: Channel,
        dial_string: str,
        timeout_s: float,
        app_data: str,
        on_return: Callable[[str], None],
        go_on: bool = False,
    ) -> None:
        """The Dial() application on ``caller``."""
        self._step(caller, "Dial", app_data)
        self._cel(caller, "APP_START")
        for name in _DIAL_RESET_VARS:
            self._set(caller, name, "")
        result = self._start_dial(
            mode=DialMode.APP,
            caller=caller,
            dial_string=dial_string,
            timeout_s=timeout_s,
            app_data=app_data,
            on_return=on_return,
            go_on=go_on,
        )
        if isinstance(result, str):
            self._set(caller, "DIALSTATUS", result)
            self._cel(caller, "APP_END")
            caller.activity = Activity.IDLE
            on_return(result)

    def _run_plan_here(self, ch: Channel, context: str, exten: str, plan: FarPlan) -> None:
        """An answered channel sent straight into ``agents``/``caller-sim`` (capture 07, A1-A5)."""
        self._goto(ch, context, exten)
        if plan.noop is not None:
            self._step(ch, "NoOp", plan.noop)
        match plan.outcome:
            case FarOutcome.ANSWER | FarOutcome.RING:
                if plan.outcome is FarOutcome.ANSWER:
                    self._step(ch, "Answer", "")
                self._step(ch, "Wait", seconds_text(plan.wait_s))
                ch.activity = Activity.WAITING
                ch.timer = self._after(plan.wait_s, lambda: self._far_gives_up(ch))
            case FarOutcome.BUSY:
                self._step(ch, "Busy", "5")
                self.hangup(ch, 17)
            case FarOutcome.CONGESTION:
                self._step(ch, "Congestion", "5")
                self.hangup(ch, 34)
            case FarOutcome.REJECT:
                self._step(ch, "Hangup", "21")
                self.hangup(ch, 21)


def _disposition_for(cause: int) -> str:
    return {17: "BUSY", 34: "CONGESTION"}.get(cause, "NO ANSWER")

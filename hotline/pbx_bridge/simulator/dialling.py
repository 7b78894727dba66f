"""Dialling in the simulated PBX: Dial() and Originate, the far ends, answer, timeout and failure.

:class:`Dialler` creates the callee channel(s) of a dial string, announces them the way the
captures show, plays the far side's :class:`~.dialplan.FarPlan` (ring, answer, busy, reject,
silence), bridges an answered Dial() and ends a dial that times out or fails.
"""

from __future__ import annotations

from collections.abc import Callable

from hotline.pbx_bridge.simulator import events as ev
from hotline.pbx_bridge.simulator.channels import Switchboard
from hotline.pbx_bridge.simulator.dialplan import (
    CITIZEN_CONTEXT,
    ENDPOINT_TECHS,
    FIXED_CITIZEN_CONTEXTS,
    IMPATIENT_CONTEXT,
    FarOutcome,
    FarPlan,
    endpoint_plan,
    local_plan,
    seconds_text,
    split_dial_string,
)
from hotline.pbx_bridge.simulator.hangups import Hangups
from hotline.pbx_bridge.simulator.model import (
    UNKNOWN,
    Activity,
    Bridge,
    Channel,
    ChannelState,
    Dial,
    DialMode,
    Originate,
)
from hotline.pbx_bridge.simulator.phones import PhoneState

_CITIZEN_CONTEXTS = frozenset({CITIZEN_CONTEXT, IMPATIENT_CONTEXT, *FIXED_CITIZEN_CONTEXTS})


class Dialler:
    """Dials and their far ends on a :class:`Switchboard`.

    ``run_originated`` runs an answered Originate's dialplan or application (the
    :class:`~.contexts.ContextRunner`'s, which itself dials through this object).
    """

    def __init__(
        self, board: Switchboard, hangups: Hangups, run_originated: Callable[[Channel, Originate], None]
    ) -> None:
        self._board = board
        self._hangups = hangups
        self._run_originated = run_originated

    def start_dial(
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
                agents=self._board.agents,
                citizens=self._board.citizens,
                agent_delay_s=self._board.agent_answer_delay_s,
            )
            is_citizen = context in _CITIZEN_CONTEXTS
            near = self._board.new_local_pair(resource, exten, context, linkedid)
        elif tech in ENDPOINT_TECHS:
            if self._board.phones.manages(tech, resource):
                phone = self._board.phones.phone(resource)
                if phone is None or not phone.dialable:
                    # Unregistered, Unreachable or no such endpoint: no channel at all (pjsip/11c).
                    return "CHANUNAVAIL"
                if phone.state is PhoneState.DEAD:
                    plan_override = FarPlan(FarOutcome.SILENT, None)
            plan = plan_override or endpoint_plan(
                resource,
                agents=self._board.agents,
                citizens=self._board.citizens,
                agent_delay_s=self._board.agent_answer_delay_s,
            )
            if plan is None:
                return "CHANUNAVAIL"
            is_citizen = "@" in resource
            near = self._board.new_endpoint(tech, resource, linkedid)
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
            self._board.calls[near.linkedid].citizen = far
        if plan is None:
            self._fail_unroutable(dial)
            return dial
        far.talk_s = plan.talk_s
        self._board.emit(ev.dial_begin(caller, near, resource))
        if caller is not None and caller.pending_originate is not None:
            self._board.flush_originate(caller)
        dial.timer = self._board.scheduler.call_later(timeout_s, lambda: self._dial_timeout(dial))
        self._far_start(dial, plan)
        return dial

    def _announce_originated(self, near: Channel, o: Originate) -> None:
        """Originate's creation events: Newchannel x2, AppDial2, CEL, variables, caller id."""
        far = near.far
        local = far is not near
        near.app, near.app_data = "AppDial2", "(Outgoing Line)"
        self._board.emit(ev.newchannel(near))
        if local:
            self._board.emit(ev.newchannel(far))
            self._board.emit(ev.newexten(near, near.app, near.app_data))
        self._board.cel(near, "CHAN_START")
        if local:
            self._board.cel(far, "CHAN_START")
        has_cid = o.caller_num != UNKNOWN or o.caller_name != UNKNOWN
        for ch in (near, far) if local else (near,):
            for key, value in o.variables:
                self._board.set_var(ch, key, value)
            if has_cid:
                ch.caller_num = ch.connected_num = o.caller_num
                ch.caller_name = ch.connected_name = o.caller_name
                self._board.emit(ev.newcallerid(ch))
                self._board.emit(ev.newconnectedline(ch))
        if local:
            self._board.emit(ev.local_bridge(near, far))

    def _announce_dialled(self, near: Channel, caller: Channel, resource: str) -> None:
        """Dial()'s creation events; the callee shows the caller's extension as its caller id."""
        far = near.far
        local = far is not near
        self._board.emit(ev.newchannel(near))
        self._board.cel(near, "CHAN_START")
        if local:
            self._board.cel(far, "CHAN_START")
            self._board.emit(ev.newchannel(far))
        self._board.set_var(near, "DIALEDPEERNUMBER", resource)
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
            self._board.emit(ev.newexten(near, near.app, near.app_data))
        self._board.emit(ev.newcallerid(near))
        self._board.emit(ev.newconnectedline(near))
        if local:
            self._board.set_var(far, "DIALEDPEERNUMBER", resource)
            far.caller_num, far.caller_name = caller.caller_num, caller.caller_name
            far.connected_num, far.connected_name = caller.exten, caller.caller_name
            self._board.emit(ev.newcallerid(far))
            self._board.emit(ev.newconnectedline(far))
            self._board.emit(ev.local_bridge(near, far))

    def _far_start(self, dial: Dial, plan: FarPlan) -> None:
        """The dialled side starts: rings, answers later, or fails at once."""
        near = dial.callee
        far = near.far
        local = far is not near
        far.activity = Activity.RINGING
        if local and plan.outcome is not FarOutcome.SILENT:
            far.priority = 0  # its first application (the step below) runs at priority 1
        if local and plan.noop is not None:
            self._board.step(far, "NoOp", plan.noop)
        match plan.outcome:
            case FarOutcome.ANSWER | FarOutcome.RING:
                if not local:
                    far.state = ChannelState.RINGING
                    self._board.emit(ev.newstate(far))
                    self._board.emit_device(far)
                if plan.outcome is FarOutcome.RING:
                    if local:
                        self._board.step(far, "Wait", seconds_text(plan.wait_s))
                    if plan.ring_limit_s is not None:
                        far.timer = self._board.after(plan.ring_limit_s, lambda: self.far_gives_up(far))
                elif plan.answer_after_s > 0:
                    if local:
                        self._board.step(far, "Wait", seconds_text(plan.answer_after_s))
                    far.timer = self._board.after(plan.answer_after_s, lambda: self._far_answer(dial, plan))
                else:
                    self._far_answer(dial, plan)
            case FarOutcome.BUSY | FarOutcome.CONGESTION:
                busy = plan.outcome is FarOutcome.BUSY
                if local:
                    self._board.step(far, "Busy" if busy else "Congestion", "5")
                    far.state = ChannelState.BUSY
                    self._board.emit(ev.newstate(far))
                    self._board.emit_device(far)
                self._dial_fails(dial, "BUSY" if busy else "CONGESTION", 17 if busy else 34)
            case FarOutcome.REJECT:
                if local:
                    self._board.step(far, "Hangup", "21")
                self._hangups.hangup(far, 21)
            case FarOutcome.SILENT:
                pass  # no provisional response: no Newstate, no DialState, no device change

    def far_gives_up(self, far: Channel) -> None:
        """The far side's Wait() ran out (or it never answers): it hangs up."""
        if far.hung_up:
            return
        if far.half == 2:
            self._board.step(far, "Hangup", "")
        self._hangups.hangup(far, 16)

    def _far_answer(self, dial: Dial, plan: FarPlan) -> None:
        """The dialled side picks up: ORIGINATE runs its dialplan, Dial() bridges."""
        if dial.done:
            return
        near = dial.callee
        far = near.far
        local = far is not near
        far.timer = None
        if local:
            self._board.step(far, "Answer", "")
            self._board.answer(far)
            self._board.emit_device(far)
            self._board.cel(far, "ANSWER")
        dial.done = True
        if dial.timer is not None:
            dial.timer.cancel()
        near.dialled_by = far.dialled_by = None
        if dial.mode is DialMode.ORIGINATE:
            originate = dial.originate
            assert originate is not None
            if local:
                near.answered = self._board.now()
                self._board.cel(near, "ANSWER")
            # A callback's OriginateResponse comes once its channel already runs dialplan
            # (captures 06/07); other originates report as soon as the line is up (02-05).
            if originate.context == self._board.dialplan.callback_context:
                near.pending_originate = originate
            else:
                self._board.originate_succeeded(originate, near)
            self._board.answer(near)
            self._board.emit_device(near)
            self._board.emit(ev.dial_end(None, near, "ANSWER"))
            near.activity = Activity.IDLE
            if originate.on_done is not None:
                originate.on_done(True)
            self._run_originated(near, originate)
            if not near.hung_up and near.pending_originate is not None:
                self._board.flush_originate(near)
            if local:
                self._far_settle(far, plan)
            return
        caller = dial.caller
        assert caller is not None
        self._board.answer(near)
        self._board.emit_device(near)
        self._board.set_var(caller, "DIALSTATUS", "ANSWER")
        self._board.set_var(caller, "DIALEDPEERNAME", near.name)
        self._board.set_var(caller, "DIALEDPEERNUMBER", dial.resource)
        self._board.emit(ev.dial_end(caller, near, "ANSWER"))
        self._bridge(dial)
        if local:
            self._far_settle(far, plan)

    def _far_settle(self, far: Channel, plan: FarPlan) -> None:
        """After answering, the far side's dialplan waits (and may leave by itself)."""
        if far.hung_up:
            return
        self._board.step(far, "Wait", seconds_text(plan.wait_s))
        far.activity = Activity.WAITING
        if plan.hangup_after_answer_s is not None:
            far.timer = self._board.after(plan.hangup_after_answer_s, lambda: self.far_gives_up(far))
        elif plan.abandon_after_s is not None:
            far.timer = self._board.after(plan.abandon_after_s, lambda: self._abandon(far))

    def _abandon(self, far: Channel) -> None:
        """The inbound citizen's patience ran out: gone, unless an agent already talks to them."""
        far.timer = None
        near = far.peer
        if far.hung_up or (near is not None and near.activity is Activity.BRIDGED):
            return
        self._board.step(far, "Hangup", "")
        self._hangups.hangup(far, 16)

    def _bridge(self, dial: Dial) -> None:
        caller, callee = dial.caller, dial.callee
        assert caller is not None
        bridge = Bridge(self._board.new_bridge_id(), dial)
        self._board.bridges[bridge.uniqueid] = bridge
        self._board.emit(ev.bridge_create(bridge))
        callee.exten = ""
        self._board.emit(ev.newexten(callee, callee.app, callee.app_data))
        extra = ev.cel_bridge_extra(bridge)
        for member, peer in ((callee, ""), (caller, callee.name)):
            bridge.members.append(member)
            member.bridge = bridge
            member.activity = Activity.BRIDGED
            self._board.emit(ev.bridge_enter(bridge, member))
            self._board.cel(member, "BRIDGE_ENTER", peer=peer, extra=extra)
        self._board.set_var(callee, "BRIDGEPEER", caller.name)
        self._board.set_var(caller, "BRIDGEPEER", callee.name)
        caller.last_dial_peer = callee.name
        for member in (callee, caller):
            self._start_talk(member.far)

    def _start_talk(self, ch: Channel) -> None:
        if ch.talk_s is not None and ch.talk_timer is None and not ch.hung_up:
            ch.talk_timer = self._board.after(ch.talk_s, lambda: self._talk_over(ch))

    def _talk_over(self, ch: Channel) -> None:
        ch.talk_timer = None
        if not ch.hung_up:
            self._hangups.hangup(ch, 16)

    def _dial_timeout(self, dial: Dial) -> None:
        if dial.done:
            return
        dial.done = True
        near = dial.callee
        if dial.mode is DialMode.ORIGINATE:
            originate = dial.originate
            assert originate is not None
            # No DialEnd here: Asterisk's originate gives up silently (capture 07, A2 and C1).
            self._hangups.teardown(
                near, 19, 19, request_cause=19, between=lambda: self._board.originate_failed(originate, 3)
            )
            return
        caller = dial.caller
        assert caller is not None
        self._hangups.record_failed_dial(caller, dial, "NOANSWER")
        self._hangups.teardown(
            near, 0, 0, request_cause=0, after_near=lambda: self._hangups.dial_returns(dial, "NOANSWER")
        )

    def _dial_fails(self, dial: Dial, status: str, far_cause: int) -> None:
        """The far side signalled BUSY or CONGESTION: the dialler hangs the callee up."""
        dial.done = True
        if dial.timer is not None:
            dial.timer.cancel()
        near = dial.callee
        if dial.mode is DialMode.ORIGINATE:
            originate = dial.originate
            assert originate is not None
            self._board.emit(ev.dial_end(None, near, status))
            reason = 5 if status == "BUSY" else 8
            self._hangups.teardown(
                near,
                0,
                far_cause,
                request_cause=0,
                between=lambda: self._board.originate_failed(originate, reason),
            )
            return
        caller = dial.caller
        assert caller is not None
        self._hangups.record_failed_dial(caller, dial, status)
        self._hangups.teardown(
            near, 0, far_cause, request_cause=0, after_near=lambda: self._hangups.dial_returns(dial, status)
        )

    def _fail_unroutable(self, dial: Dial) -> None:
        """A Local channel to a missing extension: created, then destroyed, no DialBegin (07 A5)."""
        dial.done = True
        near = dial.callee
        far = near.far
        self._hangups.final_hangup(far, 0, disposition="FAILED", device_state="INVALID")
        if dial.mode is DialMode.ORIGINATE:
            assert dial.originate is not None
            self._board.originate_failed(dial.originate, 0)
            self._hangups.final_hangup(near, 0, disposition="FAILED", device_state="INVALID")
            return
        assert dial.caller is not None
        self._hangups.final_hangup(near, 0, disposition="FAILED", device_state="INVALID")
        self._board.set_var(dial.caller, "DIALSTATUS", "CHANUNAVAIL")
        self._hangups.dial_returns(dial, "CHANUNAVAIL")

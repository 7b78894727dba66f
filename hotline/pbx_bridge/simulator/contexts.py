"""The shipped dialplan's contexts, run step by step on the simulated PBX.

:class:`ContextRunner` executes ``config/asterisk/extensions_hotline.conf``: inbound (answer,
stamp, HotlineEnqueue), hold, connect (ring an agent), callback (dial a citizen), supervise
(ChanSpy), the simulated far ends' contexts, and the applications an Originate may run.
"""

from __future__ import annotations

from collections.abc import Callable

from hotline.pbx_bridge.actions import SUPERVISE_CONTEXT, SUPERVISE_EXTEN
from hotline.pbx_bridge.simulator import events as ev
from hotline.pbx_bridge.simulator.channels import Switchboard
from hotline.pbx_bridge.simulator.dialling import Dialler
from hotline.pbx_bridge.simulator.dialplan import (
    AGENTS_CONTEXT,
    CITIZEN_CONTEXT,
    FarOutcome,
    FarPlan,
    agent_from_exten,
    local_plan,
    pattern_matches,
    seconds_text,
)
from hotline.pbx_bridge.simulator.hangups import Hangups
from hotline.pbx_bridge.simulator.model import (
    Activity,
    Channel,
    ChannelState,
    DialMode,
    Originate,
)

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
SERVICE_NAME = "gov-12345"


def _seconds(text: str, default: float) -> float:
    try:
        value = float(text)
    except ValueError:
        return default
    return value if value > 0 else default


class ContextRunner:
    """Runs dialplan contexts and applications on channels of a :class:`Switchboard`."""

    def __init__(self, board: Switchboard, hangups: Hangups, dialler: Dialler) -> None:
        self._board = board
        self._hangups = hangups
        self._dialler = dialler

    def run_originated(self, ch: Channel, o: Originate) -> None:
        """An answered Originate's channel runs its application or its context."""
        if o.application is not None:
            self._run_application(ch, o.application, o.data)
        else:
            self.run_context(ch, o.context or "", o.exten or "")

    def _run_application(self, ch: Channel, app: str, data: str) -> None:
        ch.app, ch.app_data = app, data
        if app.lower() == "wait":
            ch.activity = Activity.WAITING
            ch.timer = self._board.after(_seconds(data, 0.0), lambda: self._app_finished(ch))
        elif app.lower() == "musiconhold":
            self._start_hold(ch)
        else:
            self._hangups.hangup(ch, 0, soft_cause=None)  # no such application

    def _app_finished(self, ch: Channel) -> None:
        ch.timer = None
        if not ch.hung_up:
            self._hangups.hangup(ch, 16)

    def run_context(self, ch: Channel, context: str, exten: str) -> None:
        """Run ``context,exten,1`` on ``ch``; an unknown extension hangs the channel up."""
        d = self._board.dialplan
        if context == d.inbound_context:
            if exten == d.hold_exten:
                return self._run_hold(ch)
            if exten == self._board.globals["HOTLINE_NUMBER"]:
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
                agents=self._board.agents,
                citizens=self._board.citizens,
                agent_delay_s=self._board.agent_answer_delay_s,
            )
            if plan is not None:
                return self._run_plan_here(ch, context, exten, plan)
        # No such extension: Asterisk hangs the channel up.
        self._board.goto(ch, context, exten)
        self._hangups.hangup(ch, 0, soft_cause=None)

    def _run_spy(self, ch: Channel, exten: str) -> None:
        """``[hotline-supervise]``: ChanSpy(${HOTLINE_SPY_TARGET},qdES), then Hangup().

        As Asterisk 22.10.1 did: ``ChanSpyStart`` once it listens; when the spied channel hangs
        up, ``ChanSpyStop`` and the supervisor's channel runs Hangup() (option E, see
        :meth:`Hangups.final_hangup`); no such channel: Hangup() at once (option S).
        """
        self._board.goto(ch, SUPERVISE_CONTEXT, exten)
        target = ch.variables.get("HOTLINE_SPY_TARGET", "")
        self._board.step(ch, "NoOp", f"supervisor {ch.caller_num} listens to {target}")
        self._board.step(ch, "GotoIf", f"{0 if target else 1}?none")
        if not target:
            ch.priority = 4  # (none)
            self._board.step(ch, "Playback", "beeperr")
            self._board.step(ch, "Hangup", "")
            return self._hangups.hangup(ch, 16)
        self._board.step(ch, "ChanSpy", f"{target},qdES")
        self._board.spies.append((ch.name, target))
        spyee = self._board.find(target)
        if spyee is None or spyee.hung_up:
            self._board.step(ch, "Hangup", "")
            return self._hangups.hangup(ch, 16)
        ch.activity = Activity.WAITING
        self._board.spying.append((ch, spyee))
        self._board.emit(ev.chanspy(True, ch, spyee))

    def _run_inbound(self, ch: Channel) -> None:
        """``[hotline-inbound]`` 12345: answer, stamp, announce (HotlineEnqueue), then hold."""
        d = self._board.dialplan
        self._board.goto(ch, d.inbound_context, self._board.globals["HOTLINE_NUMBER"])
        self._board.step(ch, "NoOp", f"Hotline inbound call from {ev.callerid_all(ch)}")
        self._board.step(ch, "Answer", "")
        if ch.state is not ChannelState.UP:
            self._board.answer(ch)
        epoch = str(int(self._board.now()))
        self._board.step(ch, "Set", f"HOTLINE_ENTER_EPOCH={epoch}")
        self._board.set_var(ch, "HOTLINE_ENTER_EPOCH", epoch)
        self._board.step(ch, "Set", f"HOTLINE_SERVICE={SERVICE_NAME}")
        self._board.set_var(ch, "HOTLINE_SERVICE", SERVICE_NAME)
        self._board.step(ch, "Set", f"CDR(userfield)=hotline-{self._board.globals['HOTLINE_NUMBER']}")
        ch.user_field = f"hotline-{self._board.globals['HOTLINE_NUMBER']}"
        ivr = ch.variables.get(d.priority_variable, "")
        extra = [
            ("Channel", ch.name),
            ("Uniqueid", ch.uniqueid),
            ("CallerIDNum", ch.caller_num),
            (d.priority_variable, ivr),
        ]
        self._board.step(ch, "UserEvent", ",".join([d.enqueue_user_event, *(f"{k}: {v}" for k, v in extra)]))
        self._board.emit(ev.user_event(ch, d.enqueue_user_event, extra))
        self._board.step(ch, "Goto", f"{d.hold_exten},1")
        self._run_hold(ch)

    def _run_hold(self, ch: Channel) -> None:
        """``hold``: MusicOnHold(default,600), then Hangup()."""
        self._board.goto(ch, self._board.dialplan.inbound_context, self._board.dialplan.hold_exten)
        self._board.step(ch, "NoOp", f"{ch.name} waiting for an agent")
        self._board.step(ch, "MusicOnHold", "default,600")
        self._start_hold(ch)
        ch.timer = self._board.after(600.0, lambda: self._hold_over(ch))

    def _start_hold(self, ch: Channel) -> None:
        ch.activity = Activity.HOLD
        self._board.emit(ev.moh_start(ch))
        self._board.cel(ch, "APP_START")

    def _hold_over(self, ch: Channel) -> None:
        ch.timer = None
        if ch.hung_up:
            return
        ch.activity = Activity.IDLE
        self._board.emit(ev.moh_stop(ch))
        self._board.cel(ch, "APP_END")
        self._board.step(ch, "Hangup", "")
        self._hangups.hangup(ch, 16)

    def _run_connect(self, ch: Channel, exten: str, agent: str) -> None:
        """``[hotline-connect]``: ring the agent; on failure tell the service and go back on hold."""
        self._board.goto(ch, self._board.dialplan.connect_context, exten)
        self._board.step(ch, "NoOp", f"connect {ch.name} to agent {agent}")
        ring = ch.variables.get("RING_TIMEOUT") or self._board.globals["DEFAULT_RING_TIMEOUT"]
        self._board.step(ch, "Set", f"RT={ring}")
        self._board.set_var(ch, "RT", ring)
        device = ch.variables.get("HOTLINE_AGENT_DEVICE") or f"Local/{agent}@{AGENTS_CONTEXT}"
        self._board.step(ch, "Set", f"AGENT_DIAL={device}")
        self._board.set_var(ch, "AGENT_DIAL", device)
        timeout = _seconds(ring, float(self._board.dialplan.ring_timeout_s))
        self._app_dial(
            ch, device, timeout, f"{device},{ring}", lambda status: self._agent_failed(ch, agent, status)
        )

    def _agent_failed(self, ch: Channel, agent: str, status: str) -> None:
        d = self._board.dialplan
        self._board.step(ch, "GotoIf", "0?done")
        extra = [("Agent", agent), ("DialStatus", status)]
        self._board.step(
            ch, "UserEvent", ",".join([d.agent_failed_user_event, *(f"{k}: {v}" for k, v in extra)])
        )
        self._board.emit(ev.user_event(ch, d.agent_failed_user_event, extra))
        self._board.step(ch, "Goto", f"{d.inbound_context},{d.hold_exten},1")
        self._run_hold(ch)

    def _run_callback(self, ch: Channel, exten: str) -> None:
        """``[hotline-callback]``: the agent is on the line; dial the citizen (option g)."""
        self._board.goto(ch, self._board.dialplan.callback_context, exten)
        ticket = ch.variables.get("TICKET_ID", "")
        callback_id = ch.variables.get("HOTLINE_CALLBACK_ID", "")
        self._board.step(ch, "NoOp", f"callback {callback_id} ticket {ticket} to {exten}")
        wait = ch.variables.get("CALLBACK_TIMEOUT") or self._board.globals["DEFAULT_CALLBACK_TIMEOUT"]
        self._board.step(ch, "Set", f"TMO={wait}")
        self._board.set_var(ch, "TMO", wait)
        dest = ch.variables.get("HOTLINE_CITIZEN_DIAL") or f"Local/{exten}@{CITIZEN_CONTEXT}"
        self._board.step(ch, "Set", f"CITIZEN_DIAL={dest}")
        self._board.set_var(ch, "CITIZEN_DIAL", dest)
        timeout = _seconds(wait, float(self._board.dialplan.callback_timeout_s))
        self._app_dial(
            ch, dest, timeout, f"{dest},{wait},g", lambda status: self._callback_done(ch, status), True
        )

    def _callback_done(self, ch: Channel, status: str) -> None:
        d = self._board.dialplan
        extra = [
            ("Ticket", ch.variables.get("TICKET_ID", "")),
            ("CallbackId", ch.variables.get("HOTLINE_CALLBACK_ID", "")),
            ("DialStatus", status),
        ]
        self._board.step(
            ch, "UserEvent", ",".join([d.callback_result_user_event, *(f"{k}: {v}" for k, v in extra)])
        )
        self._board.emit(ev.user_event(ch, d.callback_result_user_event, extra))
        self._board.step(ch, "Hangup", "")
        self._hangups.hangup(ch, 16)

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
        self._board.step(caller, "Dial", app_data)
        self._board.cel(caller, "APP_START")
        for name in _DIAL_RESET_VARS:
            self._board.set_var(caller, name, "")
        result = self._dialler.start_dial(
            mode=DialMode.APP,
            caller=caller,
            dial_string=dial_string,
            timeout_s=timeout_s,
            app_data=app_data,
            on_return=on_return,
            go_on=go_on,
        )
        if isinstance(result, str):
            self._board.set_var(caller, "DIALSTATUS", result)
            self._board.cel(caller, "APP_END")
            caller.activity = Activity.IDLE
            on_return(result)

    def _run_plan_here(self, ch: Channel, context: str, exten: str, plan: FarPlan) -> None:
        """An answered channel sent straight into ``agents``/``caller-sim`` (capture 07, A1-A5)."""
        self._board.goto(ch, context, exten)
        if plan.noop is not None:
            self._board.step(ch, "NoOp", plan.noop)
        match plan.outcome:
            case FarOutcome.ANSWER | FarOutcome.RING:
                if plan.outcome is FarOutcome.ANSWER:
                    self._board.step(ch, "Answer", "")
                self._board.step(ch, "Wait", seconds_text(plan.wait_s))
                ch.activity = Activity.WAITING
                ch.timer = self._board.after(plan.wait_s, lambda: self._dialler.far_gives_up(ch))
            case FarOutcome.BUSY:
                self._board.step(ch, "Busy", "5")
                self._hangups.hangup(ch, 17)
            case FarOutcome.CONGESTION:
                self._board.step(ch, "Congestion", "5")
                self._hangups.hangup(ch, 34)
            case FarOutcome.REJECT:
                self._board.step(ch, "Hangup", "21")
                self._hangups.hangup(ch, 21)

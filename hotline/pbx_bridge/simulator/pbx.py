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

The model is composed of collaborating parts, each owning one concern: the live state and
primitive steps (:mod:`.channels`), dialling (:mod:`.dialling`), hanging up (:mod:`.hangups`)
and the dialplan's contexts (:mod:`.contexts`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

from hotline.pbx_bridge.simulator import events as ev
from hotline.pbx_bridge.simulator.behaviour import AgentBehaviour, CitizenBehaviour
from hotline.pbx_bridge.simulator.channels import Switchboard
from hotline.pbx_bridge.simulator.contexts import ContextRunner
from hotline.pbx_bridge.simulator.dialling import Dialler
from hotline.pbx_bridge.simulator.dialplan import (
    CITIZEN_CONTEXT,
    CITIZEN_WAIT_S,
    FarOutcome,
    FarPlan,
    seconds_text,
)
from hotline.pbx_bridge.simulator.hangups import Hangups
from hotline.pbx_bridge.simulator.model import (
    UNKNOWN,
    Activity,
    Bridge,
    Call,
    Channel,
    ChannelInfo,
    Dial,
    DialMode,
    Headers,
    Originate,
    Scheduler,
)
from hotline.pbx_bridge.simulator.phones import PhoneBook, SipPhones
from hotline.settings import DialplanSettings

DEFAULT_ORIGINATE_TIMEOUT_S = 30.0


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
        self._board = Switchboard(
            clock=clock,
            scheduler=scheduler,
            emit=emit,
            dialplan=dialplan,
            agents=agents,
            citizens=citizens,
            agent_answer_delay_s=agent_answer_delay_s,
            caller_patience_s=caller_patience_s,
            rng=rng or random.Random(0),
            channelvars=channelvars,
            phones=phones or PhoneBook(),
        )
        self._hangups = Hangups(self._board)
        self._dialler = Dialler(self._board, self._hangups, run_originated=self._run_originated)
        self._contexts = ContextRunner(self._board, self._hangups, self._dialler)

    # -- state -----------------------------------------------------------------------------

    @property
    def agents(self) -> Mapping[str, AgentBehaviour]:
        """Agents' behaviours, shared with the owner (changes apply to the next dial)."""
        return self._board.agents

    @property
    def citizens(self) -> Mapping[str, CitizenBehaviour]:
        """Citizens' behaviours, shared with the owner (changes apply to the next dial)."""
        return self._board.citizens

    @property
    def agent_answer_delay_s(self) -> float:
        """How long an agent without a behaviour rings before answering."""
        return self._board.agent_answer_delay_s

    @property
    def caller_patience_s(self) -> float | None:
        """How long an inbound citizen waits before hanging up (None: as long as the hold lasts)."""
        return self._board.caller_patience_s

    @property
    def started(self) -> float:
        """When the model started (epoch seconds)."""
        return self._board.started

    @property
    def channels(self) -> dict[str, Channel]:
        """Live channels by name, oldest first."""
        return self._board.channels

    @property
    def calls(self) -> dict[str, Call]:
        """Live calls by Linkedid."""
        return self._board.calls

    @property
    def bridges(self) -> dict[str, Bridge]:
        """Live bridges by id."""
        return self._board.bridges

    @property
    def devices(self) -> dict[str, str]:
        """Last state sent per device, for DeviceStateList."""
        return self._board.devices

    @property
    def spies(self) -> list[tuple[str, str]]:
        """(supervisor channel, spied channel) of every ChanSpy run (issue 11)."""
        return self._board.spies

    @property
    def phones(self) -> SipPhones:
        """Agents' SIP softphones (empty: every ``PJSIP/1XXX`` answers)."""
        return self._board.phones

    @property
    def globals(self) -> dict[str, str]:
        """Global dialplan variables."""
        return self._board.globals

    @property
    def processed_calls(self) -> int:
        """Calls begun since the start."""
        return self._board.processed_calls

    # -- queries ---------------------------------------------------------------------------

    def find(self, name: str) -> Channel | None:
        """The live channel called ``name``."""
        return self._board.find(name)

    def live_channels(self) -> list[ChannelInfo]:
        """Snapshots of every live channel, oldest first."""
        return self._board.live_channels()

    def live_calls(self) -> list[str]:
        """Linkedids of the calls with at least one channel up."""
        return self._board.live_calls()

    # -- operations ------------------------------------------------------------------------

    def place_inbound_call(self, number: str, name: str, priority: str, patience_s: float | None) -> str:
        """A citizen calls 12345: like ``Originate Local/<number>@caller-sim`` into hotline-inbound.

        Returns the call's Linkedid.
        """
        patience = self._board.caller_patience_s if patience_s is None else patience_s
        variables: list[tuple[str, str]] = []
        if priority != "normal":
            variables.append((self._board.dialplan.priority_variable, priority))
        if patience is not None:
            variables.append(("CITIZEN_WAIT", seconds_text(patience)))
        behaviour = self._board.citizens.get(number)
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
            context=self._board.dialplan.inbound_context,
            exten=self._board.globals["HOTLINE_NUMBER"],
            application=None,
            data="",
            timeout_s=DEFAULT_ORIGINATE_TIMEOUT_S,
            caller_num=number,
            caller_name=name or UNKNOWN,
            variables=variables,
        )
        dial = self._dialler.start_dial(
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
        if self._board.shutting_down:
            self._board.originate_failed(originate, 0)
            return False
        result = self._dialler.start_dial(
            mode=DialMode.ORIGINATE,
            caller=None,
            dial_string=originate.dial_string,
            timeout_s=originate.timeout_s,
            app_data="",
            originate=originate,
        )
        if isinstance(result, str):  # unknown technology: not even a channel
            self._board.originate_failed(originate, 0)
            return False
        return True

    def redirect(self, ch: Channel, context: str, exten: str) -> None:
        """AMI Redirect: leave whatever the channel does and run ``context,exten,1``."""
        later: list[Callable[[], None]] = []
        self._hangups.unwind(ch, 0, later)
        for step in later:
            step()
        if not ch.hung_up:
            self._contexts.run_context(ch, context, exten)

    def hangup_channel(self, ch: Channel, cause: int | None) -> None:
        """AMI Hangup.  Without a cause Asterisk reports 0, or 16 once Dial() bridged the channel."""
        if cause is None:
            cause = 16 if ch.activity is Activity.BRIDGED else 0
        self._hangups.hangup(ch, cause)

    def hangup_call(self, linkedid: str, cause: int = 16) -> bool:
        """The citizen of call ``linkedid`` hangs up; False when the call is gone."""
        call = self._board.calls.get(linkedid)
        if call is None or not call.channels:
            return False
        target = call.citizen if call.citizen is not None and not call.citizen.hung_up else call.channels[0]
        self._hangups.hangup(target, cause)
        return True

    def shutdown(self) -> None:
        """``core restart``: every channel gets a shutdown soft-hangup, then hangs up."""
        self._board.shutting_down = True
        channels = list(self._board.channels.values())
        for ch in channels:
            self._board.emit(ev.soft_hangup_request(ch, 4))
        for ch in channels:
            self._hangups.hangup(ch, 0)

    def hangup(self, ch: Channel, cause: int, *, soft_cause: int | None = 16) -> None:
        """Hang ``ch`` up with ``cause``; its Local partner follows, bridge peers after that."""
        self._hangups.hangup(ch, cause, soft_cause=soft_cause)

    def set_variable(self, ch: Channel | None, name: str, value: str) -> None:
        """Setvar: a channel variable (with its VarSet event), or a global one."""
        self._board.set_variable(ch, name, value)

    def get_variable(self, ch: Channel | None, name: str) -> str:
        """Getvar: a channel variable (falling back to globals) or one of a few functions."""
        return self._board.get_variable(ch, name)

    def start_mixmonitor(self, ch: Channel) -> None:
        """AMI MixMonitor on a live channel: one more recording, ``MixMonitorStart``."""
        ch.mixmonitors += 1
        self._board.emit(ev.mixmonitor_start(ch))

    def stop_mixmonitor(self, ch: Channel) -> bool:
        """AMI StopMixMonitor: stops one recording (``MixMonitorStop``); False when none runs."""
        if ch.mixmonitors == 0:
            return False
        ch.mixmonitors -= 1
        self._board.emit(ev.mixmonitor_stop(ch))
        return True

    def kill_phone(self, endpoint: str) -> None:
        """An agent's softphone dies without de-registering; a dial ringing it is never answered."""
        self._board.kill_phone(endpoint)

    def _run_originated(self, ch: Channel, originate: Originate) -> None:
        self._contexts.run_originated(ch, originate)

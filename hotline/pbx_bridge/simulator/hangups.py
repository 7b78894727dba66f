"""How channels end in the simulated PBX: hangups, teardown of unbridged callees, bridges left.

:class:`Hangups` stops what a channel does (:meth:`Hangups.unwind`, shared with Redirect),
hangs it and its Local partner up with the captures' event order (``Cdr`` before ``Hangup``),
ends Dial() bridges, and returns a failed Dial() to the caller's dialplan.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from hotline.pbx_bridge.simulator import events as ev
from hotline.pbx_bridge.simulator.channels import Switchboard
from hotline.pbx_bridge.simulator.model import (
    Activity,
    Bridge,
    CdrRecord,
    Channel,
    Dial,
    DialMode,
)

#: OriginateResponse ``Reason`` for the cause a callee hung up with before answering.
_REASON_BY_CAUSE = {17: 5, 34: 8, 19: 3, 21: 0}
#: DIALSTATUS for the cause a callee hung up with before answering.
_STATUS_BY_CAUSE = {17: "BUSY", 34: "CONGESTION"}
_DISPOSITION_BY_STATUS = {"BUSY": "BUSY", "CONGESTION": "CONGESTION", "CHANUNAVAIL": "FAILED"}


class Hangups:
    """Ending channels, bridges and failed dials on a :class:`Switchboard`."""

    def __init__(self, board: Switchboard) -> None:
        self._board = board

    # -- hanging up --------------------------------------------------------------------

    def hangup(self, ch: Channel, cause: int, *, soft_cause: int | None = 16) -> None:
        """Hang ``ch`` up with ``cause``; its Local partner follows, bridge peers after that."""
        if ch.hung_up:
            return
        if soft_cause is not None:
            self._board.emit(ev.soft_hangup_request(ch, soft_cause))
        later: list[Callable[[], None]] = []
        self.unwind(ch, cause, later)
        partner = ch.peer if ch.peer is not None and not ch.peer.hung_up else None
        if partner is not None:
            self._board.emit(ev.hangup_request(partner, cause))
        self.final_hangup(ch, cause)
        if partner is not None and not partner.hung_up:
            self.unwind(partner, cause, later)
            self._board.emit(ev.soft_hangup_request(partner, 16))
            self.final_hangup(partner, cause)
        for step in later:
            step()

    def unwind(self, ch: Channel, cause: int, later: list[Callable[[], None]]) -> None:
        """Stop what ``ch`` is doing (for a hangup or a Redirect); queue what follows from it."""
        self._board.cancel_timers(ch)
        activity, ch.activity = ch.activity, Activity.IDLE
        if activity is Activity.HOLD:
            self._board.emit(ev.moh_stop(ch))
            self._board.cel(ch, "APP_END")
        elif activity is Activity.DIALLING and ch.dial is not None and not ch.dial.done:
            dial = ch.dial
            dial.done = True
            if dial.timer is not None:
                dial.timer.cancel()
            ch.dial = None
            self._board.emit(ev.dial_end(ch, dial.callee, "CANCEL"))
            later.append(lambda: self.teardown(dial.callee, 0, 0, request_cause=0))
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
        self._board.set_var(ch, "BRIDGEPEER", "")
        bridge.members.remove(ch)
        ch.bridge = None
        self._board.emit(ev.bridge_leave(bridge, ch))
        self._board.cel(ch, "BRIDGE_EXIT", extra=ev.cel_bridge_extra(bridge))

    def _bridge_party_left(self, bridge: Bridge, left: Channel) -> None:
        """One side left a Dial() bridge: the other is hung up, or (Dial option g) goes on."""
        dial = bridge.dial
        for other in list(bridge.members):
            if other.hung_up or other.bridge is not bridge:
                continue
            goes_on = (
                dial is not None and dial.go_on and other is dial.caller and left is dial.callee
            ) and not self._board.shutting_down
            if goes_on and dial is not None:
                other.activity = Activity.IDLE
                self._leave_bridge(other, bridge)
                self._destroy_if_empty(bridge)
                self.dial_returns(dial, "ANSWER")
            else:
                self.hangup(other, 16, soft_cause=None)  # the bridge ends it: no soft hangup
        self._destroy_if_empty(bridge)

    def _destroy_if_empty(self, bridge: Bridge) -> None:
        if not bridge.members and self._board.bridges.pop(bridge.uniqueid, None) is not None:
            self._board.emit(ev.bridge_destroy(bridge))

    def final_hangup(
        self, ch: Channel, cause: int, *, disposition: str | None = None, device_state: str | None = None
    ) -> None:
        """The channel is gone: its CDR rows (before the Hangup, as Asterisk often sends them),
        the Hangup, CEL records and the device's new state."""
        if ch.hung_up:
            return
        if ch.pending_originate is not None:
            self._board.flush_originate(ch)  # it was answered: the Originate succeeded before it ended
        self._end_spying(ch)
        ch.hung_up = True
        self._board.cancel_timers(ch)
        now = self._board.now()
        for record in ch.cdrs:
            self._board.emit(
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
        self._board.emit(
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
        self._board.emit(ev.hangup(ch, cause))
        self._board.cel(ch, "HANGUP", extra=ev.cel_hangup_extra(cause))
        self._board.cel(ch, "CHAN_END")
        del self._board.channels[ch.name]
        self._board.device_channels.get(ch.device, set()).discard(ch)
        self._board.emit_device(ch, device_state)
        call = self._board.calls.get(ch.linkedid)
        if call is not None:
            call.channels.remove(ch)
            if not call.channels:
                self._board.cel(ch, "LINKEDID_END")
                del self._board.calls[ch.linkedid]

    def _end_spying(self, ch: Channel) -> None:
        """A ChanSpy ends when its spyer or the spied channel goes (``ChanSpyStop`` before that
        channel's Hangup); the spyer of a channel that went runs Hangup() next (option E)."""
        ended = [(spyer, spyee) for spyer, spyee in self._board.spying if ch is spyer or ch is spyee]
        if not ended:
            return
        self._board.spying[:] = [pair for pair in self._board.spying if pair not in ended]
        for spyer, spyee in ended:
            self._board.emit(ev.chanspy(False, spyer, spyee))
            if ch is spyee:
                self._board.after(0.0, functools.partial(self._spy_returned, spyer))

    def _spy_returned(self, spyer: Channel) -> None:
        if spyer.hung_up:
            return
        spyer.activity = Activity.IDLE
        self._board.step(spyer, "Hangup", "")
        self.hangup(spyer, 16)

    # -- a callee that never got bridged, and the dial it ends --------------------------

    def teardown(
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
            self._board.emit(ev.hangup_request(far, request_cause))
        if between is not None:
            between()
        self.unwind(near, near_cause, later)
        self.final_hangup(near, near_cause)
        if after_near is not None:
            after_near()
        if local and not far.hung_up:
            self.unwind(far, far_cause, later)
            self._board.emit(ev.soft_hangup_request(far, 16))
            self.final_hangup(far, far_cause)
        for step in later:
            step()

    def _callee_gone(self, dial: Dial, cause: int) -> None:
        """The callee hung up before answering (rejected, gave up, was hung up by AMI)."""
        status = _STATUS_BY_CAUSE.get(cause, "NOANSWER")
        if dial.mode is DialMode.ORIGINATE:
            originate = dial.originate
            assert originate is not None
            self._board.emit(ev.dial_end(None, dial.callee, status))
            self._board.originate_failed(originate, _REASON_BY_CAUSE.get(cause, 1))
            return
        caller = dial.caller
        assert caller is not None
        if caller.hung_up:
            return
        self.record_failed_dial(caller, dial, status)
        self.dial_returns(dial, status)

    def record_failed_dial(self, caller: Channel, dial: Dial, status: str) -> None:
        """DIALSTATUS, DialEnd and a CDR row of the attempt on the dialling channel."""
        self._board.set_var(caller, "DIALSTATUS", status)
        self._board.emit(ev.dial_end(caller, dial.callee, status))
        caller.cdrs.append(
            CdrRecord(
                destination_channel=dial.callee.name,
                last_app="Dial",
                last_data=dial.app_data,
                answered=caller.answered,
                end=self._board.now(),
                disposition=_DISPOSITION_BY_STATUS.get(status, "NO ANSWER"),
            )
        )

    def dial_returns(self, dial: Dial, status: str) -> None:
        """Dial() returns to the dialplan of the caller (if it is still there)."""
        caller = dial.caller
        assert caller is not None
        caller.dial = None
        caller.activity = Activity.IDLE
        if caller.hung_up:
            return
        self._board.cel(caller, "APP_END")
        if self._board.shutting_down:
            return
        if dial.on_return is not None:
            dial.on_return(status)


def _disposition_for(cause: int) -> str:
    return {17: "BUSY", 34: "CONGESTION"}.get(cause, "NO ANSWER")

"""The hotline's operations on the PBX, expressed as AMI actions.

Each operation is one or two actions on :class:`~hotline.pbx_bridge.connection.AmiClient`; every
header value is checked by the codec (CR, LF or NUL raise ``HeaderInjectionError`` and nothing is
sent), every action has a timeout, and ``Response: Error`` becomes ``ActionFailedError`` carrying
Asterisk's message.  The dial strings come from the templates in ``[dialplan]`` so the same
dialplan serves ``PJSIP/1001`` + a trunk in production and ``Local/...`` channels in tests.
"""

from __future__ import annotations

import re

from hotline.pbx_bridge.connection import AmiClient
from hotline.pbx_bridge.errors import ActionTimeoutError, AmiError, ConnectionLostError
from hotline.pbx_bridge.translator import CALLBACK_ID_VARIABLE
from hotline.settings import DialplanSettings

#: Channel variables the shipped dialplan reads.
AGENT_DEVICE_VARIABLE = "HOTLINE_AGENT_DEVICE"
CITIZEN_DIAL_VARIABLE = "HOTLINE_CITIZEN_DIAL"
RING_TIMEOUT_VARIABLE = "RING_TIMEOUT"
CALLBACK_TIMEOUT_VARIABLE = "CALLBACK_TIMEOUT"

#: The supervisor take-over (issue 11): the spied channel travels in this variable to the
#: shipped ``[hotline-supervise]`` context, which runs ``ChanSpy(${HOTLINE_SPY_TARGET},qE)``.
SPY_TARGET_VARIABLE = "HOTLINE_SPY_TARGET"
SUPERVISE_CONTEXT = "hotline-supervise"
SUPERVISE_EXTEN = "spy"

_NUMBER_RE = re.compile(r"\+?[0-9]{3,20}\Z")
#: A channel name as Asterisk makes them (``PJSIP/1001-0000002a``, ``Local/1001@agents-00000002;1``):
#: no comma, pipe or parenthesis can reach ChanSpy's argument list.
_CHANNEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/@;:._+\-]{0,127}\Z")
#: A recording's file name: no directory part, no option separators.
_FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}\Z")
_AGENT_RE = re.compile(r"[A-Za-z0-9_\-]{1,32}\Z")


class InvalidDialTargetError(AmiError):
    """A number or agent id that cannot be dialled safely; nothing was sent."""

    def __init__(self, what: str, value: str) -> None:
        super().__init__(f"invalid {what}: {value!r}")
        self.what = what
        self.value = value


class RedirectNotSentError(AmiError):
    """A ``Setvar`` before the Redirect got no answer, so the Redirect itself was never sent:
    the call certainly still waits where it was (unlike a Redirect without an answer)."""

    def __init__(self, channel_step: str) -> None:
        super().__init__(f"Redirect not sent: {channel_step}")
        self.step = channel_step


class PbxActions:
    """Redirect, originate, hang up, set variables — the only ways the service acts on calls."""

    def __init__(self, client: AmiClient, dialplan: DialplanSettings) -> None:
        self._client = client
        self._dialplan = dialplan

    def citizen_dial_string(self, number: str) -> str:
        """The dial string for a citizen's number (from ``citizen_dial_template``)."""
        if not _NUMBER_RE.match(number):
            raise InvalidDialTargetError("citizen number", number)
        return self._dialplan.citizen_dial_template.format(number=number)

    def agent_device(self, agent_id: str) -> str:
        """The device of an agent (from ``agent_device_template``) when none is configured."""
        if not _AGENT_RE.match(agent_id):
            raise InvalidDialTargetError("agent id", agent_id)
        return self._dialplan.agent_device_template.format(agent=agent_id)

    async def set_variable(self, channel: str, name: str, value: str) -> None:
        """``Setvar`` on a live channel."""
        await self._client.send_action("Setvar", [("Channel", channel), ("Variable", name), ("Value", value)])

    async def redirect_to_agent(
        self, channel: str, agent_id: str, device: str, *, ring_timeout_s: int | None = None
    ) -> None:
        """Send a waiting call to the connect context, which dials ``device``.

        The device and ring timeout travel as channel variables set just before the Redirect.
        """
        if not _AGENT_RE.match(agent_id):
            raise InvalidDialTargetError("agent id", agent_id)
        timeout = self._dialplan.ring_timeout_s if ring_timeout_s is None else ring_timeout_s
        try:
            await self.set_variable(channel, AGENT_DEVICE_VARIABLE, device)
            await self.set_variable(channel, RING_TIMEOUT_VARIABLE, str(timeout))
        except (ActionTimeoutError, ConnectionLostError) as exc:
            raise RedirectNotSentError(str(exc)) from exc
        await self._client.send_action(
            "Redirect",
            [
                ("Channel", channel),
                ("Context", self._dialplan.connect_context),
                ("Exten", self._dialplan.connect_exten_template.format(agent=agent_id)),
                ("Priority", "1"),
            ],
        )

    async def return_to_hold(self, channel: str) -> None:
        """Redirect a waiting call back to the hold extension (music on hold, no new enqueue)."""
        await self._client.send_action(
            "Redirect",
            [
                ("Channel", channel),
                ("Context", self._dialplan.inbound_context),
                ("Exten", self._dialplan.hold_exten),
                ("Priority", "1"),
            ],
        )

    async def originate_callback(
        self,
        callback_id: str,
        device: str,
        number: str,
        *,
        agent_ring_timeout_s: int | None = None,
        citizen_timeout_s: int | None = None,
    ) -> str:
        """Start a callback, agent leg first; returns the ActionID its ``OriginateResponse`` carries.

        ``HOTLINE_CALLBACK_ID`` on the new channels lets the translator tie the call to the
        callback (``CallbackLegCreated``) before ``OriginateResponse`` arrives.
        """
        dial = self.citizen_dial_string(number)
        ring = self._dialplan.ring_timeout_s if agent_ring_timeout_s is None else agent_ring_timeout_s
        citizen = self._dialplan.callback_timeout_s if citizen_timeout_s is None else citizen_timeout_s
        action_id, _ = await self._client.send_action(
            "Originate",
            [
                ("Channel", device),
                ("Context", self._dialplan.callback_context),
                ("Exten", number),
                ("Priority", "1"),
                ("CallerID", self._dialplan.hotline_caller_id),
                ("Timeout", str(ring * 1000)),
                ("Async", "true"),
                ("Variable", f"{CALLBACK_ID_VARIABLE}={callback_id}"),
                ("Variable", f"{CITIZEN_DIAL_VARIABLE}={dial}"),
                ("Variable", f"{CALLBACK_TIMEOUT_VARIABLE}={citizen}"),
            ],
        )
        return action_id

    async def hangup(self, channel: str, cause: int = 16) -> None:
        """Hang up one channel (16 = normal clearing)."""
        await self._client.send_action("Hangup", [("Channel", channel), ("Cause", str(cause))])

    # -- supervisor take-over and recording (issue 11) -----------------------------------------

    async def supervise(
        self, supervisor_device: str, agent_channel: str, *, ring_timeout_s: int | None = None
    ) -> str:
        """Ring the supervisor's device; once answered it listens to ``agent_channel`` (ChanSpy).

        An ``Originate`` of the device into ``[hotline-supervise]``; the target travels as the
        ``HOTLINE_SPY_TARGET`` variable, checked to be a channel name (so it cannot smuggle
        ChanSpy options).  Returns the ActionID its ``OriginateResponse`` carries.
        """
        if not _CHANNEL_RE.match(agent_channel):
            raise InvalidDialTargetError("channel to listen to", agent_channel)
        if not _CHANNEL_RE.match(supervisor_device):
            raise InvalidDialTargetError("supervisor device", supervisor_device)
        ring = self._dialplan.ring_timeout_s if ring_timeout_s is None else ring_timeout_s
        action_id, _ = await self._client.send_action(
            "Originate",
            [
                ("Channel", supervisor_device),
                ("Context", SUPERVISE_CONTEXT),
                ("Exten", SUPERVISE_EXTEN),
                ("Priority", "1"),
                ("CallerID", self._dialplan.hotline_caller_id),
                ("Timeout", str(ring * 1000)),
                ("Async", "true"),
                ("Variable", f"{SPY_TARGET_VARIABLE}={agent_channel}"),
            ],
        )
        return action_id

    async def start_recording(self, channel: str, file_name: str) -> None:
        """``MixMonitor`` the whole call on ``channel`` into ``file_name`` (Asterisk's monitor dir).

        Option ``b`` is not used: a flagged call is recorded from the flag on, hold included.
        """
        if not _CHANNEL_RE.match(channel):
            raise InvalidDialTargetError("channel to record", channel)
        if not _FILE_RE.match(file_name):
            raise InvalidDialTargetError("recording file name", file_name)
        await self._client.send_action("MixMonitor", [("Channel", channel), ("File", file_name)])

    async def stop_recording(self, channel: str) -> None:
        """``StopMixMonitor`` on ``channel``."""
        if not _CHANNEL_RE.match(channel):
            raise InvalidDialTargetError("channel to record", channel)
        await self._client.send_action("StopMixMonitor", [("Channel", channel)])

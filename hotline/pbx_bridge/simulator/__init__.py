"""A fake Asterisk 22 that speaks AMI over real TCP, the way the captures show.

It serves the integration tests, ``hotline demo`` (where no Asterisk exists) and the load
benchmarks.  :class:`PbxSimulator` is the server; the call model behind it
(:mod:`.pbx`) runs the shipped dialplan ``config/asterisk/extensions_hotline.conf``.
"""

from __future__ import annotations

import asyncio

from hotline.pbx_bridge.simulator.behaviour import AgentBehaviour, CitizenBehaviour, CitizenOutcome
from hotline.pbx_bridge.simulator.model import ChannelInfo
from hotline.pbx_bridge.simulator.phones import PhoneControlError, PhoneState
from hotline.pbx_bridge.simulator.server import (
    DEFAULT_DIALPLAN,
    SHIPPED_CHANNELVARS,
    PbxSimulator,
    PbxUnavailableError,
)
from hotline.settings import DialplanSettings, SimulatorSettings

__all__ = [
    "DEFAULT_DIALPLAN",
    "SHIPPED_CHANNELVARS",
    "AgentBehaviour",
    "ChannelInfo",
    "CitizenBehaviour",
    "CitizenOutcome",
    "PbxSimulator",
    "PbxUnavailableError",
    "PhoneControlError",
    "PhoneState",
    "run_simulator",
]


async def run_simulator(settings: SimulatorSettings, dialplan: DialplanSettings) -> None:
    """Serve the simulator (``hotline simulate-pbx``) until the calling task is cancelled."""
    simulator = PbxSimulator(
        host=settings.host,
        port=settings.port,
        username=settings.username,
        secret=settings.secret.reveal(),
        dialplan=dialplan,
        agent_answer_delay_s=settings.agent_answer_delay_s,
        caller_patience_s=settings.caller_patience_s,
        channelvars=SHIPPED_CHANNELVARS,
    )
    async with simulator:
        await asyncio.Event().wait()

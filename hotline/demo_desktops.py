"""The demo's simulated agents at their desktops: they log in, take breaks and end wrap-up early,
each by an MQTT command on its own account (:class:`hotline.bus.desktop.AgentDesktop`), so the
demo's main job goes through the same path as a real desktop."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from hotline.bus.broker import LocalBroker
from hotline.bus.desktop import AgentDesktop, NoReply
from hotline.clock import ScaledClock

BREAK_REASON = "break"


@dataclass(frozen=True, slots=True)
class DeskHabits:
    """How the simulated agents behave (simulated seconds)."""

    breaks_per_hour: float = 1.0
    mean_break_s: float = 300.0
    end_wrap_up_early: float = 0.5  # share of wrap-ups ended by a command before the timer

    @property
    def shrinkage(self) -> float:
        """Share of time on breaks."""
        return min(0.9, self.breaks_per_hour * self.mean_break_s / 3600.0)


@dataclass(slots=True)
class DeskCounts:
    """What the desktops sent, and what the service answered."""

    sent: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    offers: int = 0


class DemoDesktops:
    """One desktop per agent; run as a task, cancel to stop."""

    def __init__(
        self,
        broker: LocalBroker,
        agent_ids: Sequence[str],
        prefix: str,
        clock: ScaledClock,
        rng: random.Random,
        habits: DeskHabits | None = None,
    ) -> None:
        self._broker = broker
        self._agents = list(agent_ids)
        self._prefix = prefix
        self._clock = clock
        self._rng = rng
        self.habits = habits or DeskHabits()
        self.counts = DeskCounts()

    async def run(self) -> None:
        """Connect every desktop, log in, then live the day."""
        async with contextlib.AsyncExitStack() as stack:
            desks = [
                await stack.enter_async_context(
                    AgentDesktop.connect(
                        self._broker.host, self._broker.port, a, self._broker.password(a), prefix=self._prefix
                    )
                )
                for a in self._agents
            ]
            async with asyncio.TaskGroup() as tasks:
                for desk in desks:
                    tasks.create_task(self._day(desk), name=f"demo-desk-{desk.agent_id}")

    async def _send(self, desk: AgentDesktop, cmd: str, **fields: object) -> bool:
        self.counts.sent[cmd] += 1
        try:
            reply = await desk.send(cmd, fields)
        except NoReply:
            self.counts.refused[cmd] += 1
            return False
        if not reply.get("ok"):
            self.counts.refused[cmd] += 1
            return False
        return True

    def _sim_sleep(self, seconds: float) -> float:
        return max(0.0, seconds / self._clock.speed)

    async def _day(self, desk: AgentDesktop) -> None:
        await self._send(desk, "login")
        habits = self.habits
        next_break = self._next_break()
        while True:
            try:
                async with asyncio.timeout(self._sim_sleep(next_break - self._clock.now())):
                    kind, data = await desk.changes.get()
            except TimeoutError:
                await self._take_break(desk)
                next_break = self._next_break()
                continue
            while not desk.offers.empty():
                desk.offers.get_nowait()
                self.counts.offers += 1
            if (
                kind == "state"
                and data.get("agent") == desk.agent_id
                and data.get("state") == "wrap_up"
                and self._rng.random() < habits.end_wrap_up_early
            ):
                await asyncio.sleep(self._sim_sleep(self._rng.uniform(2.0, 6.0)))
                if (desk.state or {}).get("state") == "wrap_up":
                    await self._send(desk, "end_wrap_up")

    def _next_break(self) -> float:
        rate = self.habits.breaks_per_hour / 3600.0
        return self._clock.now() + (self._rng.expovariate(rate) if rate > 0 else 1e12)

    async def _take_break(self, desk: AgentDesktop) -> None:
        """Pause (during a call the break starts when it ends), rest, then ready again."""
        if not await self._send(desk, "pause", reason=BREAK_REASON):
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._sim_sleep(1800.0)):
                while (desk.state or {}).get("state") != "paused":
                    await desk.changes.get()
        await asyncio.sleep(self._sim_sleep(self._rng.expovariate(1.0 / self.habits.mean_break_s)))
        await self._send(desk, "ready")

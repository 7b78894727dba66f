"""A harness for driving the dispatcher with event sequences, as the runner would."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

from hotline.events import PbxConnected
from hotline.queue.agents import AgentStateRecord
from hotline.queue.commands import CancelTimer, Command, Log, StartTimer
from hotline.queue.dispatcher import Dispatcher
from hotline.queue.inputs import QueueInput, TimerFired
from hotline.queue.work import Callback, LiveCall
from hotline.settings import AgentConfig, QueueSettings

#: 2026-11-28 10:00:00 +08:00: inside the default calling hours.
T0 = 1_795_831_200.0

C = TypeVar("C")


def queue_settings(**overrides: Any) -> QueueSettings:
    """Queue settings for tests: the shipped defaults, made explicit, with overrides."""
    values: dict[str, Any] = {
        "wrap_up_s": 10.0,
        "inbound_reserve": 0,
        "preempt_callbacks": True,
        "agent_choice": "longest_idle",
        "service_level_threshold_s": 15.0,
        "snapshot_interval_s": 0.0,
        "pbx_grace_s": 10.0,
        "action_retry_s": 2.0,
        "return_call_delay_s": 60.0,
        "callback_hours_start": "08:00",
        "callback_hours_end": "21:00",
        "utc_offset_h": 8.0,
        "callback_max_attempts": 3,
        "callback_retry_spacing_s": 900.0,
    }
    values.update(overrides)
    return QueueSettings(**values)


def agent_configs(*ids: str, skills: dict[str, tuple[str, ...]] | None = None) -> tuple[AgentConfig, ...]:
    skills = skills or {}
    return tuple(
        AgentConfig(id=i, device=f"Local/{i}@agents", skills=skills.get(i, ()), autologin=True) for i in ids
    )


class Harness:
    """Feeds events at a simulated time, remembers armed timers, collects commands."""

    def __init__(
        self,
        *agent_ids: str,
        connected: bool = True,
        restored_agents: Iterable[AgentStateRecord] = (),
        pending_callbacks: Iterable[Callback] = (),
        live_calls: Iterable[LiveCall] = (),
        last_seen_at: float | None = None,
        skills: dict[str, tuple[str, ...]] | None = None,
        **overrides: Any,
    ) -> None:
        self.now = T0
        self.timers: dict[str, float] = {}
        self.history: list[Command] = []
        self.dispatcher = Dispatcher(
            queue_settings(**overrides),
            agent_configs(*(agent_ids or ("1001",)), skills=skills),
            ring_timeout_s=20,
            citizen_timeout_s=30,
            restored_agents=restored_agents,
            pending_callbacks=pending_callbacks,
            live_calls=live_calls,
            last_seen_at=last_seen_at,
            strict=True,
        )
        self.started = self._track(self.dispatcher.start(self.now))
        if connected:
            self.feed(PbxConnected(channels=0))

    def _track(self, commands: list[Command]) -> list[Command]:
        for command in commands:
            if isinstance(command, StartTimer):
                self.timers[command.key] = command.at
            elif isinstance(command, CancelTimer):
                self.timers.pop(command.key, None)
        self.history.extend(commands)
        return commands

    def feed(self, event: QueueInput, *, after: float = 0.0) -> list[Command]:
        self.now += after
        return self._track(self.dispatcher.handle(event, self.now))

    def timer(self, prefix: str) -> str:
        keys = [key for key in self.timers if key.startswith(prefix)]
        assert len(keys) == 1, (prefix, self.timers)
        return keys[0]

    def fire(self, prefix: str) -> list[Command]:
        key = self.timer(prefix)
        at = self.timers.pop(key)
        self.now = max(self.now, at)
        return self._track(self.dispatcher.handle(TimerFired(key), self.now))

    def state(self, agent_id: str) -> str:
        record = self.dispatcher.agent(agent_id)
        assert record is not None
        return record.state.value


def of(commands: Iterable[Command], kind: type[C]) -> list[C]:
    return [c for c in commands if isinstance(c, kind)]


def one(commands: Iterable[Command], kind: type[C]) -> C:
    found = of(commands, kind)
    assert len(found) == 1, (kind.__name__, commands)
    return found[0]


def logs(commands: Iterable[Command], event: str) -> list[dict[str, object]]:
    return [dict(c.fields) for c in commands if isinstance(c, Log) and c.event == event]


def without_logs(commands: Iterable[Command]) -> list[Command]:
    return [c for c in commands if not isinstance(c, Log)]


def replace(obj: C, **changes: Any) -> C:
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]

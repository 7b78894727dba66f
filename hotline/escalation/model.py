"""What an escalation is made of: a level, the signals that raised it, and where each came from."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Level(enum.IntEnum):
    """How grave a flag is; a higher value wins when several signals agree on one call."""

    SENSITIVE = 1  # 敏感事件: media, petitions, gatherings ...
    URGENT = 2  # 突发应急: fire, gas, collapse, injury, self-harm ...

    @property
    def label(self) -> str:
        """The lower-case name used in logs, the store and MQTT payloads."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Level:
        """``"urgent"`` / ``"sensitive"`` (any case) -> the level; ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError as exc:
            raise ValueError(f"unknown escalation level {text!r} (expected urgent or sensitive)") from exc


class Source(enum.StrEnum):
    """Where a signal came from."""

    IVR = "ivr"  # the IVR's channel variable (HOTLINE_IVR=urgent)
    WATCH_LIST = "watch_list"  # the caller's number is on the watch list (HMAC match)
    REPEAT_CALLS = "repeat_calls"  # N calls from one number within the window
    OVERDUE_REPEAT = "overdue_repeat"  # a repeat caller whose ticket is overdue
    KEYWORD = "keyword"  # a word in the ticket's text or the agent's notes
    AGENT = "agent"  # the agent's own flag from the desktop
    TAXONOMY = "taxonomy"  # the ticket's classification node is marked urgent/sensitive
    LONG_WAIT = "long_wait"  # an already-flagged call waited beyond the threshold


@dataclass(frozen=True, slots=True)
class Signal:
    """One reason to escalate: its source, its level, and a short detail (never a phone number)."""

    source: Source
    level: Level
    detail: str = ""

    @property
    def reason(self) -> str:
        """``source:detail`` (or just the source), as logged and stored."""
        return f"{self.source.value}:{self.detail}" if self.detail else self.source.value


def highest_level(signals: Iterable[Signal]) -> Level | None:
    """The gravest level among ``signals`` (None when there are none)."""
    levels = [s.level for s in signals]
    return max(levels) if levels else None

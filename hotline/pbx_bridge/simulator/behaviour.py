"""How simulated agents' softphones and citizens' handsets react when they are dialled."""

from __future__ import annotations

import enum
from dataclasses import dataclass


def _check_delay(name: str, value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class AgentBehaviour:
    """An agent's softphone: answers after ``answer_after_s``, or rings forever, or is busy.

    ``never`` rings until the caller's ring timeout; ``busy`` rejects at once with BUSY.
    ``talk_s``: the agent hangs up that long after the call is bridged (None: talks until the
    other side hangs up).
    """

    answer_after_s: float = 0.5
    never: bool = False
    busy: bool = False
    talk_s: float | None = None

    def __post_init__(self) -> None:
        if self.never and self.busy:
            raise ValueError("an agent cannot be both 'never' and 'busy'")
        _check_delay("answer_after_s", self.answer_after_s)
        _check_delay("talk_s", self.talk_s)

    @classmethod
    def answering(cls, after_s: float = 0.5, talk_s: float | None = None) -> AgentBehaviour:
        """Answers after ``after_s`` seconds."""
        return cls(answer_after_s=after_s, talk_s=talk_s)

    @classmethod
    def never_answering(cls) -> AgentBehaviour:
        """Rings until the ring timeout (like agent 1999 in the captures)."""
        return cls(never=True)

    @classmethod
    def busy_line(cls) -> AgentBehaviour:
        """Busy at once (like agent 1888 in the captures)."""
        return cls(busy=True)


class CitizenOutcome(enum.StrEnum):
    """What a dialled citizen's line does."""

    ANSWER = "answer"
    BUSY = "busy"
    NOANSWER = "noanswer"
    CONGESTION = "congestion"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class CitizenBehaviour:
    """A citizen's handset when the hotline calls back (or while talking on an inbound call).

    ``outcome`` may be given as its string value (``"busy"``).  ``answer_after_s`` and ``talk_s``
    only matter for ``answer``; ``talk_s`` counts from the moment the call is bridged.
    """

    outcome: CitizenOutcome = CitizenOutcome.ANSWER
    answer_after_s: float = 0.0
    talk_s: float | None = None

    def __post_init__(self) -> None:
        # Accept "busy" as well as CitizenOutcome.BUSY: tests and the demo write it short.
        object.__setattr__(self, "outcome", CitizenOutcome(self.outcome))
        _check_delay("answer_after_s", self.answer_after_s)
        _check_delay("talk_s", self.talk_s)

    @classmethod
    def answer(cls, after_s: float = 0.0, talk_s: float | None = None) -> CitizenBehaviour:
        """Picks up after ``after_s`` seconds."""
        return cls(CitizenOutcome.ANSWER, after_s, talk_s)

    @classmethod
    def busy(cls) -> CitizenBehaviour:
        """Line busy (cause 17)."""
        return cls(CitizenOutcome.BUSY)

    @classmethod
    def noanswer(cls) -> CitizenBehaviour:
        """Rings until the dial times out."""
        return cls(CitizenOutcome.NOANSWER)

    @classmethod
    def congestion(cls) -> CitizenBehaviour:
        """Network congestion (cause 34)."""
        return cls(CitizenOutcome.CONGESTION)

    @classmethod
    def reject(cls) -> CitizenBehaviour:
        """Declines the call (cause 21)."""
        return cls(CitizenOutcome.REJECT)

"""The dialplan the simulator obeys, as data and pure functions.

It mirrors ``config/asterisk/extensions_hotline.conf``: which extensions exist in the test-only
contexts (``agents``, ``caller-sim``, ...), what their far side does when dialled, and Asterisk's
extension-pattern rules (``_age[n]t-X.``: a lowercase ``n`` is a wildcard too).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from hotline.pbx_bridge.simulator.behaviour import AgentBehaviour, CitizenBehaviour, CitizenOutcome

AGENTS_CONTEXT = "agents"
CITIZEN_CONTEXT = "caller-sim"
IMPATIENT_CONTEXT = "caller-sim-impatient"
#: Direct-originate failure targets of the captures (07): every number behaves the same.
FIXED_CITIZEN_CONTEXTS: Mapping[str, CitizenOutcome] = {
    "citizen-busy": CitizenOutcome.BUSY,
    "citizen-congestion": CitizenOutcome.CONGESTION,
    "citizen-noanswer": CitizenOutcome.NOANSWER,
    "citizen-hangup": CitizenOutcome.REJECT,
}
#: The captures' special citizens (exact extensions beat ``_X.``).
DEFAULT_CITIZENS: Mapping[str, CitizenBehaviour] = {
    "13900000404": CitizenBehaviour.busy(),
    "13900000408": CitizenBehaviour.noanswer(),
    "13900000503": CitizenBehaviour.congestion(),
}
#: The captures' special agents: 1999 never answers, 1888 is busy.
DEFAULT_AGENTS: Mapping[str, AgentBehaviour] = {
    "1999": AgentBehaviour.never_answering(),
    "1888": AgentBehaviour.busy_line(),
}
#: Channel technologies the simulator can "call" as single-channel endpoints.
ENDPOINT_TECHS = frozenset({"PJSIP", "SIP", "IAX2", "DAHDI"})
AGENT_WAIT_S = 300  # Wait(300) after an agent answers
CITIZEN_WAIT_S = 120  # caller-sim's default Wait(120)
IMPATIENT_WAIT_S = 5  # caller-sim-impatient's Wait(5)
NOANSWER_WAIT_S = 60  # Wait(60) of a citizen who never answers


def seconds_text(value: float) -> str:
    """A delay as dialplan text: ``20``, ``0.5``."""
    return f"{value:g}"


# -- extension patterns ------------------------------------------------------------------

_CLASSES = {"X": "0123456789", "Z": "123456789", "N": "23456789"}


def pattern_matches(pattern: str, exten: str) -> bool:
    """Whether ``exten`` matches the dialplan extension ``pattern`` as Asterisk decides it.

    A pattern starts with ``_``; ``X``/``Z``/``N`` (either case) are digit classes, ``[...]``
    a set (with ``a-b`` ranges), ``.`` one or more of anything, ``!`` zero or more.  Anything
    else must match literally; a pattern without ``_`` is a literal extension.
    """
    if not pattern.startswith("_"):
        return pattern == exten
    i, pos = 1, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == ".":
            return pos < len(exten)
        if ch == "!":
            return True
        if pos >= len(exten):
            return False
        got = exten[pos]
        if ch.upper() in _CLASSES:
            if got not in _CLASSES[ch.upper()]:
                return False
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                return False
            if got not in _expand_set(pattern[i + 1 : end]):
                return False
            i = end
        elif ch != got:
            return False
        i += 1
        pos += 1
    return pos == len(exten)


def _expand_set(body: str) -> str:
    chars: list[str] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            chars.extend(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
            i += 3
        else:
            chars.append(body[i])
            i += 1
    return "".join(chars)


def _literal(text: str) -> str:
    return "".join(f"[{c}]" if c.upper() in _CLASSES or c in ".![" else c for c in text)


def template_pattern(template: str) -> str:
    """The extension pattern for a connect template: ``agent-{agent}`` -> ``_age[n]t-X.``.

    Letters that are wildcards in Asterisk patterns are bracketed so they match literally.
    """
    prefix, _, suffix = template.partition("{agent}")
    return f"_{_literal(prefix)}X.{_literal(suffix)}"


def agent_from_exten(template: str, exten: str) -> str | None:
    """The agent of a connect extension (``agent-1001`` -> ``1001``), or None if it does not match."""
    if not pattern_matches(template_pattern(template), exten):
        return None
    prefix, _, suffix = template.partition("{agent}")
    return exten[len(prefix) : len(exten) - len(suffix) if suffix else None]


def split_dial_string(dial_string: str) -> tuple[str, str] | None:
    """``Local/1001@agents`` -> ``("Local", "1001@agents")``; None without ``Tech/``."""
    tech, sep, resource = dial_string.partition("/")
    if not sep or not tech or not resource:
        return None
    return tech, resource


# -- what the far side of a dial does ----------------------------------------------------


class FarOutcome(enum.Enum):
    """How the dialled side ends its ringing."""

    ANSWER = "answer"
    RING = "ring"  # rings until the caller gives up (or ring_limit_s, then hangs up)
    BUSY = "busy"
    CONGESTION = "congestion"
    REJECT = "reject"
    SILENT = "silent"  # a dead SIP contact: the INVITE goes nowhere, the leg stays Down (pjsip/11e)


@dataclass(frozen=True, slots=True)
class FarPlan:
    """The dialplan a dialled extension runs, reduced to what the simulator needs."""

    outcome: FarOutcome
    noop: str | None  # the NoOp() text of priority 1, if the extension starts with one
    answer_after_s: float = 0.0
    wait_s: float = 0.0  # the Wait() after Answer(), shown in Newexten/CoreShowChannel
    talk_s: float | None = None  # hang up this long after being bridged (simulator control)
    hangup_after_answer_s: float | None = None  # the far side's own Wait(n) then Hangup()
    ring_limit_s: float | None = None  # a RING far side hangs up by itself after this long
    abandon_after_s: float | None = None  # an inbound citizen's patience: gone unless bridged by then


def agent_plan(exten: str, agents: Mapping[str, AgentBehaviour], default_delay_s: float) -> FarPlan | None:
    """``[agents]``: explicit behaviours first, then 1999/1888, then ``_1XXX`` auto-answer."""
    behaviour = agents.get(exten) or DEFAULT_AGENTS.get(exten)
    if behaviour is None:
        if not pattern_matches("_1XXX", exten):
            return None
        behaviour = AgentBehaviour(answer_after_s=default_delay_s)
    if behaviour.busy:
        return FarPlan(FarOutcome.BUSY, None)
    if behaviour.never:
        return FarPlan(FarOutcome.RING, f"agent {exten} rings but never answers", wait_s=AGENT_WAIT_S)
    return FarPlan(
        FarOutcome.ANSWER,
        f"agent {exten} auto-answer",
        answer_after_s=behaviour.answer_after_s,
        wait_s=AGENT_WAIT_S,
        talk_s=behaviour.talk_s,
    )


def citizen_plan(number: str, citizens: Mapping[str, CitizenBehaviour]) -> FarPlan | None:
    """``[caller-sim]``: explicit behaviours first, then the captures' special numbers, then ``_X.``."""
    behaviour = citizens.get(number) or DEFAULT_CITIZENS.get(number)
    if behaviour is None:
        if not pattern_matches("_X.", number):
            return None
        behaviour = CitizenBehaviour()
    return _citizen_outcome_plan(number, behaviour)


def _citizen_outcome_plan(number: str, behaviour: CitizenBehaviour) -> FarPlan:
    match behaviour.outcome:
        case CitizenOutcome.BUSY:
            return FarPlan(FarOutcome.BUSY, f"citizen {number} is busy")
        case CitizenOutcome.CONGESTION:
            return FarPlan(FarOutcome.CONGESTION, f"citizen {number} network congestion")
        case CitizenOutcome.NOANSWER:
            return FarPlan(
                FarOutcome.RING,
                f"citizen {number} never answers",
                wait_s=NOANSWER_WAIT_S,
                ring_limit_s=NOANSWER_WAIT_S,
            )
        case CitizenOutcome.REJECT:
            return FarPlan(FarOutcome.REJECT, f"citizen {number} rejects the call")
        case _:
            return FarPlan(
                FarOutcome.ANSWER,
                f"citizen {number} on the line",
                answer_after_s=behaviour.answer_after_s,
                wait_s=CITIZEN_WAIT_S,
                talk_s=behaviour.talk_s,
            )


def local_plan(
    context: str,
    exten: str,
    *,
    agents: Mapping[str, AgentBehaviour],
    citizens: Mapping[str, CitizenBehaviour],
    agent_delay_s: float,
) -> FarPlan | None:
    """The plan of ``Local/exten@context``; None when the dialplan has no such extension."""
    if context == AGENTS_CONTEXT:
        return agent_plan(exten, agents, agent_delay_s)
    if context == CITIZEN_CONTEXT:
        return citizen_plan(exten, citizens)
    if not pattern_matches("_X.", exten):
        return None
    if context == IMPATIENT_CONTEXT:
        return FarPlan(
            FarOutcome.ANSWER, None, wait_s=IMPATIENT_WAIT_S, hangup_after_answer_s=IMPATIENT_WAIT_S
        )
    fixed = FIXED_CITIZEN_CONTEXTS.get(context)
    if fixed is None:
        return None
    plan = _citizen_outcome_plan(exten, CitizenBehaviour(fixed))
    # These contexts have no NoOp() line (see the captures' dialplan).
    return FarPlan(plan.outcome, None, wait_s=plan.wait_s, ring_limit_s=plan.ring_limit_s)


def endpoint_plan(
    resource: str,
    *,
    agents: Mapping[str, AgentBehaviour],
    citizens: Mapping[str, CitizenBehaviour],
    agent_delay_s: float,
) -> FarPlan | None:
    """An endpoint such as ``PJSIP/1001`` (an agent's phone) or ``PJSIP/1390...@trunk`` (a citizen)."""
    number, at, _trunk = resource.partition("@")
    if at:
        return citizen_plan(number, citizens)
    behaviour = (
        agents.get(number) or DEFAULT_AGENTS.get(number) or AgentBehaviour(answer_after_s=agent_delay_s)
    )
    if behaviour.busy:
        return FarPlan(FarOutcome.BUSY, None)
    if behaviour.never:
        return FarPlan(FarOutcome.RING, None)
    return FarPlan(FarOutcome.ANSWER, None, answer_after_s=behaviour.answer_after_s, talk_s=behaviour.talk_s)

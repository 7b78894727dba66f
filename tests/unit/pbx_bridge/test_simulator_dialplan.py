"""The simulator's dialplan rules, and the shipped dialplan file they mirror."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hotline.pbx_bridge.simulator import DEFAULT_DIALPLAN, AgentBehaviour, CitizenBehaviour, CitizenOutcome
from hotline.pbx_bridge.simulator.dialplan import (
    FarOutcome,
    agent_from_exten,
    citizen_plan,
    endpoint_plan,
    local_plan,
    pattern_matches,
    split_dial_string,
    template_pattern,
)

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "asterisk" / "extensions_hotline.conf"


@pytest.mark.parametrize(
    ("pattern", "exten", "matches"),
    [
        ("_age[n]t-X.", "agent-1001", True),
        ("_age[n]t-X.", "agent-1", False),  # '.' needs at least one more character
        ("_agent-X.", "agent-1001", False),  # the lowercase n is a 2-9 wildcard
        ("_agent-X.", "age5t-1001", True),
        ("_X.", "13900000002", True),
        ("_X.", "1", False),
        ("_X.", "hold", False),
        ("_1XXX", "1001", True),
        ("_1XXX", "10010", False),
        ("_1XXX", "2001", False),
        ("_NXX", "199", False),
        ("_ZX!", "12", True),
        ("_ZX!", "1", False),
        ("_[1-3]X", "29", True),
        ("_[1-3]X", "49", False),
        ("12345", "12345", True),
        ("12345", "1234", False),
    ],
)
def test_asterisk_extension_patterns(pattern: str, exten: str, matches: bool) -> None:
    assert pattern_matches(pattern, exten) is matches


def test_connect_template_becomes_the_shipped_pattern() -> None:
    assert template_pattern("agent-{agent}") == "_age[n]t-X."
    assert agent_from_exten("agent-{agent}", "agent-1001") == "1001"
    assert agent_from_exten("agent-{agent}", "agent-") is None
    assert agent_from_exten("agent-{agent}", "1001") is None
    assert template_pattern("zx{agent}") == "_[z][x]X."


def test_dial_strings_split_on_the_technology() -> None:
    assert split_dial_string("Local/1001@agents") == ("Local", "1001@agents")
    assert split_dial_string("PJSIP/13900000002@trunk") == ("PJSIP", "13900000002@trunk")
    assert split_dial_string("garbage") is None
    assert split_dial_string("Local/") is None


def test_default_agents_follow_the_captures() -> None:
    assert local_plan("agents", "1001", agents={}, citizens={}, agent_delay_s=0.5) is not None
    plans = {
        ext: local_plan("agents", ext, agents={}, citizens={}, agent_delay_s=0.5)
        for ext in ("1001", "1999", "1888")
    }
    assert plans["1001"] is not None and plans["1001"].outcome is FarOutcome.ANSWER
    assert plans["1001"].answer_after_s == 0.5
    assert plans["1999"] is not None and plans["1999"].outcome is FarOutcome.RING
    assert plans["1888"] is not None and plans["1888"].outcome is FarOutcome.BUSY
    assert (
        local_plan("agents", "2001", agents={}, citizens={}, agent_delay_s=0.5) is None
    )  # no such extension


def test_explicit_behaviours_override_the_dialplan() -> None:
    plan = local_plan(
        "agents",
        "1999",
        agents={"1999": AgentBehaviour(answer_after_s=2, talk_s=30)},
        citizens={},
        agent_delay_s=0.5,
    )
    assert plan is not None and plan.outcome is FarOutcome.ANSWER
    assert (plan.answer_after_s, plan.talk_s) == (2, 30)
    plan = local_plan(
        "agents", "2001", agents={"2001": AgentBehaviour(busy=True)}, citizens={}, agent_delay_s=0.5
    )
    assert plan is not None and plan.outcome is FarOutcome.BUSY


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("13900000404", FarOutcome.BUSY),
        ("13900000408", FarOutcome.RING),
        ("13900000503", FarOutcome.CONGESTION),
        ("13900000002", FarOutcome.ANSWER),
    ],
)
def test_default_citizens_follow_the_captures(number: str, outcome: FarOutcome) -> None:
    plan = citizen_plan(number, {})
    assert plan is not None and plan.outcome is outcome


def test_citizen_behaviours() -> None:
    assert CitizenBehaviour("busy").outcome is CitizenOutcome.BUSY  # type: ignore[arg-type]
    plan = citizen_plan("13900000002", {"13900000002": CitizenBehaviour.reject()})
    assert plan is not None and plan.outcome is FarOutcome.REJECT
    plan = citizen_plan("13900000002", {"13900000002": CitizenBehaviour.answer(after_s=3, talk_s=10)})
    assert plan is not None and (plan.answer_after_s, plan.talk_s) == (3, 10)
    assert citizen_plan("anonymous", {}) is None


def test_test_only_contexts() -> None:
    impatient = local_plan("caller-sim-impatient", "13800000055", agents={}, citizens={}, agent_delay_s=0)
    assert impatient is not None and impatient.hangup_after_answer_s == 5
    hangup = local_plan("citizen-hangup", "13900000777", agents={}, citizens={}, agent_delay_s=0)
    assert hangup is not None and hangup.outcome is FarOutcome.REJECT
    assert local_plan("no-such-context", "13900000000", agents={}, citizens={}, agent_delay_s=0) is None


def test_endpoints_are_agents_or_citizens_behind_a_trunk() -> None:
    agent = endpoint_plan("1888", agents={}, citizens={}, agent_delay_s=0.5)
    assert agent is not None and agent.outcome is FarOutcome.BUSY
    citizen = endpoint_plan("13900000404@trunk", agents={}, citizens={}, agent_delay_s=0.5)
    assert citizen is not None and citizen.outcome is FarOutcome.BUSY


def test_behaviours_are_validated() -> None:
    with pytest.raises(ValueError, match="both"):
        AgentBehaviour(never=True, busy=True)
    with pytest.raises(ValueError, match="answer_after_s"):
        AgentBehaviour(answer_after_s=-1)
    with pytest.raises(ValueError):
        CitizenBehaviour("maybe")  # type: ignore[arg-type]
    assert AgentBehaviour.never_answering().never
    assert AgentBehaviour.busy_line().busy


def test_the_shipped_dialplan_has_what_the_simulator_runs() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    contexts = set(re.findall(r"^\[([\w-]+)\]", text, re.MULTILINE))
    d = DEFAULT_DIALPLAN
    assert {d.inbound_context, d.connect_context, d.callback_context} <= contexts
    assert {"agents", "caller-sim", "caller-sim-impatient"} <= contexts
    assert f"exten => {template_pattern(d.connect_exten_template)},1," in text
    assert f"exten => {d.hotline_caller_id},1," in text
    assert f"exten => {d.hold_exten},1," in text
    assert f"UserEvent({d.enqueue_user_event},Channel: ${{CHANNEL}},Uniqueid: ${{UNIQUEID}}," in text
    assert f"{d.priority_variable}: ${{{d.priority_variable}}})" in text
    assert f"UserEvent({d.agent_failed_user_event},Agent: ${{EXTEN:6}},DialStatus: ${{DIALSTATUS}})" in text
    assert f"UserEvent({d.callback_result_user_event},Ticket:" in text
    for variable in ("HOTLINE_AGENT_DEVICE", "HOTLINE_CITIZEN_DIAL", "RING_TIMEOUT", "CALLBACK_TIMEOUT"):
        assert "${" + variable + "}" in text
    # No [globals]/[general]: an included file's copy would be ignored by pbx_config.
    assert "globals" not in contexts and "general" not in contexts

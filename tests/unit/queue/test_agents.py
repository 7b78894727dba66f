"""The agent state machine: the transition table is the only way an agent changes state."""

from __future__ import annotations

import itertools

import pytest

from hotline.queue.agents import (
    TRANSITIONS,
    Agent,
    AgentState,
    AgentTrigger,
    IllegalAgentTransition,
    device_extension,
    device_of_channel,
)

S, T = AgentState, AgentTrigger


def make(state: AgentState = S.LOGGED_OUT) -> Agent:
    agent = Agent("1001", "Local/1001@agents", frozenset(), 0)
    agent.state = state
    return agent


@pytest.mark.parametrize(("state", "trigger"), list(itertools.product(AgentState, AgentTrigger)))
def test_every_pair_follows_the_table(state: AgentState, trigger: AgentTrigger) -> None:
    agent = make(state)
    target = TRANSITIONS.get((state, trigger))
    if target is None:
        with pytest.raises(IllegalAgentTransition) as info:
            agent.apply(trigger, 5.0, "reason")
        assert (info.value.agent, info.value.from_state, info.value.trigger) == ("1001", state, trigger)
        assert isinstance(info.value.to, AgentState)
        assert agent.state is state  # nothing changed
    else:
        transition = agent.apply(trigger, 5.0, "reason")
        assert agent.state is target
        assert (transition.previous, transition.state, transition.trigger) == (state, target, trigger)


def test_a_normal_day() -> None:
    agent = make()
    steps = [
        (T.LOGIN, S.READY),
        (T.OFFER_INBOUND, S.OFFERED),
        (T.ANSWER_INBOUND, S.BUSY_INBOUND),
        (T.CALL_ENDED, S.WRAP_UP),
        (T.END_WRAP_UP, S.READY),
        (T.OFFER_CALLBACK, S.OFFERED),
        (T.ANSWER_CALLBACK, S.BUSY_CALLBACK),
        (T.RELEASE, S.READY),
        (T.LOGOUT, S.LOGGED_OUT),
    ]
    for trigger, state in steps:
        agent.apply(trigger, 1.0)
        assert agent.state is state


def test_ring_no_answer_pauses_with_the_reason() -> None:
    agent = make(S.OFFERED)
    agent.apply(T.NO_ANSWER, 3.0, "no_answer")
    assert (agent.state, agent.pause_reason, agent.since) == (S.PAUSED, "no_answer", 3.0)
    agent.apply(T.READY, 4.0)
    assert (agent.state, agent.pause_reason) == (S.READY, None)


def test_a_repeated_ready_keeps_the_idle_start() -> None:
    agent = make(S.PAUSED)
    agent.apply(T.READY, 10.0)
    agent.apply(T.READY, 20.0)
    assert agent.since == 10.0


def test_a_lost_device_remembers_the_pause() -> None:
    agent = make(S.READY)
    agent.apply(T.PAUSE, 1.0, "lunch")
    agent.apply(T.DEVICE_LOST, 2.0)
    assert (agent.state, agent.pause_reason) == (S.DEVICE_UNAVAILABLE, "lunch")
    agent.apply(T.DEVICE_BACK_PAUSED, 3.0)
    assert (agent.state, agent.pause_reason) == (S.PAUSED, "lunch")


def test_pending_pause_survives_the_call_and_wrap_up() -> None:
    agent = make(S.BUSY_INBOUND)
    agent.pending_pause = "training"
    agent.apply(T.CALL_ENDED, 1.0)
    assert agent.pending_pause == "training"
    agent.apply(T.PAUSE, 2.0, agent.pending_pause)
    assert (agent.state, agent.pause_reason, agent.pending_pause) == (S.PAUSED, "training", None)


def test_illegal_transition_names_everything() -> None:
    agent = make(S.BUSY_INBOUND)
    with pytest.raises(IllegalAgentTransition) as info:
        agent.apply(T.LOGOUT, 1.0)
    assert info.value.to is S.LOGGED_OUT
    assert "busy_inbound" in str(info.value) and "logout" in str(info.value)


@pytest.mark.parametrize(
    ("channel", "device"),
    [
        ("Local/1001@agents-00000002;1", "Local/1001@agents"),
        ("Local/1001@agents-0000000f;2", "Local/1001@agents"),
        ("PJSIP/1001-0000000a", "PJSIP/1001"),
        ("Local/1001@agents", "Local/1001@agents"),
    ],
)
def test_device_of_channel(channel: str, device: str) -> None:
    assert device_of_channel(channel) == device


def test_device_extension() -> None:
    assert device_extension("Local/1999@agents") == "1999"
    assert device_extension("PJSIP/1001") == "1001"


def test_a_phone_lost_while_it_rings_ends_the_offer_and_comes_back_ready() -> None:
    agent = make(S.OFFERED)
    agent.apply(T.DEVICE_LOST, 2.0)
    assert (agent.state, agent.pause_reason) == (S.DEVICE_UNAVAILABLE, None)
    agent.apply(T.DEVICE_BACK, 3.0)
    assert agent.state is S.READY


def test_a_pause_of_the_phone_ends_when_the_phone_is_back() -> None:
    agent = make(S.OFFERED)
    agent.apply(T.NO_ANSWER, 1.0, "dial_failed")
    agent.apply(T.DEVICE_BACK, 2.0)
    assert (agent.state, agent.pause_reason, agent.since) == (S.READY, None, 2.0)

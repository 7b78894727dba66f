"""Random payloads on a command topic never crash the service's bus nor touch another agent."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.bus.service import AgentBus
from hotline.queue.agents import AgentState
from hotline.queue.commands import RejectAgentCommand
from hotline.queue.inputs import AgentLogin, QueueInput
from hotline.settings import load_settings
from tests.unit.queue.helpers import Harness

VICTIM = "1001"
SENDER = "1002"

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_commands = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 2, "1", True, None]),
        "id": st.text(max_size=12) | st.integers(),
        "cmd": st.sampled_from(
            ["login", "logout", "ready", "pause", "end_wrap_up", "escalate", "link_ticket", "fly", ""]
        ),
        "reason": st.text(max_size=20) | st.integers(),
        "agent": st.sampled_from([VICTIM, SENDER, "9999", 1001]),
        "call_id": st.text(max_size=10),
        "ticket": st.text(max_size=10),
        "extra": _json_values,
    },
)
_payloads = (
    st.binary(max_size=300)
    | _commands.map(lambda d: json.dumps(d).encode())
    | _json_values.map(lambda v: json.dumps(v).encode())
)


@settings(max_examples=300, deadline=None)
@given(payloads=st.lists(_payloads, min_size=1, max_size=8))
def test_random_payloads_never_crash_nor_change_another_agent(payloads: list[bytes]) -> None:
    harness = Harness(VICTIM, SENDER, "1003")
    harness.feed(AgentLogin(VICTIM))
    before = {r.agent_id: r for r in harness.dispatcher.agents() if r.agent_id != SENDER}
    submitted: list[QueueInput] = []
    bus = AgentBus(
        load_settings(environ={}).mqtt, harness.dispatcher, submitted.append, now=lambda: harness.now
    )
    for payload in payloads:
        bus._on_message(f"hotline/v1/agents/{SENDER}/commands", payload)
    for event in submitted:
        assert getattr(event, "agent_id", None) == SENDER
        commands = harness.feed(event, after=1.0)
        bus.observe(event, commands)
        assert not any(isinstance(c, RejectAgentCommand) and c.agent_id != SENDER for c in commands)
    after = {r.agent_id: r for r in harness.dispatcher.agents() if r.agent_id != SENDER}
    assert after == before
    assert after[VICTIM].state is AgentState.READY
    # Every payload got exactly one reply (ok or error); nothing went to another agent's topics.
    sent = []
    while not bus._out.empty():
        sent.append(bus._out.get_nowait())
    assert all(m.topic.startswith(f"hotline/v1/agents/{SENDER}/") for m in sent)
    assert len([m for m in sent if m.topic.endswith("/replies")]) == len(payloads)

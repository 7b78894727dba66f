"""The MQTT contract's checks at the edge, and the payloads the service builds."""

from __future__ import annotations

import json

import pytest

from hotline.bus import contract
from hotline.bus.contract import Topics, parse_agent_command, parse_presence, parse_supervisor_command
from hotline.bus.errors import PayloadError


def _cmd(**fields: object) -> bytes:
    return json.dumps({"v": 1, "id": "c-17", **fields}).encode()


def test_each_desktop_command_is_read_with_its_fields() -> None:
    assert parse_agent_command("1001", _cmd(cmd="login")).cmd == "login"
    pause = parse_agent_command("1001", _cmd(cmd="pause", reason=" lunch "))
    assert (pause.agent_id, pause.command_id, pause.reason) == ("1001", "c-17", "lunch")
    escalate = parse_agent_command("1001", _cmd(cmd="escalate", call_id="1795.1", reason="threat"))
    assert (escalate.call_id, escalate.reason) == ("1795.1", "threat")
    link = parse_agent_command(
        "1001", _cmd(cmd="link_ticket", call_id="1795.1", ticket="12345-20261201-000001")
    )
    assert link.ticket == "12345-20261201-000001"


@pytest.mark.parametrize(
    ("payload", "problem", "command_id"),
    [
        (b"\xff\xfe", "not UTF-8", None),
        (b"{", "malformed JSON", None),
        (b'"ready"', "must be a JSON object, got str", None),
        (_cmd(cmd="fly"), "unknown cmd 'fly'", "c-17"),
        (_cmd(), "missing field 'cmd'", "c-17"),
        (_cmd(cmd=3), "field 'cmd' must be a string, got int", "c-17"),
        (_cmd(cmd="pause"), "missing field 'reason'", "c-17"),
        (_cmd(cmd="pause", reason=""), "field 'reason' must not be empty", "c-17"),
        (_cmd(cmd="escalate", reason="x"), "missing field 'call_id'", "c-17"),
        (_cmd(cmd="link_ticket", call_id="1"), "missing field 'ticket'", "c-17"),
        (json.dumps({"v": 2, "id": "a", "cmd": "ready"}).encode(), "unsupported version v=2", "a"),
        (json.dumps({"v": True, "id": "a", "cmd": "ready"}).encode(), "unsupported version", "a"),
        (json.dumps({"id": "a", "cmd": "ready"}).encode(), "unsupported version v=None", "a"),
        (json.dumps({"v": 1, "cmd": "ready"}).encode(), "missing field 'id'", None),
        (
            json.dumps({"v": 1, "id": 5, "cmd": "ready"}).encode(),
            "field 'id' must be a non-empty string",
            None,
        ),
        (_cmd(cmd="pause", reason="x\r\nAction: Originate"), "line break", "c-17"),
        (_cmd(cmd="pause", reason="x" * 201), "longer than 200", "c-17"),
        (_cmd(cmd="ready", agent="1002"), "names agent '1002' but came on agent 1001's topic", "c-17"),
        (b"[" * 100_000, "too large", None),
    ],
)
def test_a_bad_command_is_refused_naming_the_problem(
    payload: bytes, problem: str, command_id: str | None
) -> None:
    with pytest.raises(PayloadError) as info:
        parse_agent_command("1001", payload)
    assert problem in info.value.problem
    assert info.value.command_id == command_id


def test_deeply_nested_json_is_refused_not_crashing() -> None:
    with pytest.raises(PayloadError):
        parse_agent_command("1001", b"[" * 3000 + b"]" * 3000, max_bytes=10_000)


def test_supervisor_commands_set_an_agents_state() -> None:
    command = parse_supervisor_command(_cmd(cmd="set_state", agent="1003", state="paused", reason="meeting"))
    assert (command.agent_id, command.state, command.reason) == ("1003", "paused", "meeting")
    with pytest.raises(PayloadError, match="missing field 'reason'"):
        parse_supervisor_command(_cmd(cmd="set_state", agent="1003", state="paused"))
    with pytest.raises(PayloadError, match="unknown state 'busy'"):
        parse_supervisor_command(_cmd(cmd="set_state", agent="1003", state="busy"))


def test_presence_is_plain_text_or_json() -> None:
    assert parse_presence(b"offline") == "offline"
    assert parse_presence(b'{"v":1,"presence":"online"}') == "online"
    with pytest.raises(PayloadError):
        parse_presence(b"away")


def test_topics_classify_only_what_the_service_listens_to() -> None:
    topics = Topics("hotline/v1")
    assert topics.classify("hotline/v1/agents/1001/commands") == ("commands", "1001")
    assert topics.classify("hotline/v1/agents/1001/presence") == ("presence", "1001")
    assert topics.classify("hotline/v1/supervisors/commands") == ("supervisor_commands", None)
    assert topics.classify("hotline/v1/agents/1001/state") == ("other", None)
    assert topics.classify("other/v1/agents/1001/commands") == ("other", None)
    assert topics.subscriptions() == [
        "hotline/v1/agents/+/commands",
        "hotline/v1/agents/+/presence",
        "hotline/v1/supervisors/commands",
    ]


def test_replies_and_state_carry_the_version_and_local_time() -> None:
    assert json.loads(contract.reply("c-1")) == {"v": 1, "id": "c-1", "ok": True}
    assert json.loads(contract.reply("c-1", "no")) == {"v": 1, "id": "c-1", "ok": False, "error": "no"}
    state = json.loads(contract.agent_state("1001", "paused", "lunch", 1_795_831_200.0, 8.0))
    assert state == {
        "v": 1,
        "agent": "1001",
        "state": "paused",
        "reason": "lunch",
        "since": "2026-11-28T10:00:00+08:00",
    }


def test_escalate_takes_an_optional_level_and_supervisors_acknowledge_alerts() -> None:
    assert parse_agent_command("1001", _cmd(cmd="escalate", call_id="1.2", reason="fire")).level == "urgent"
    sensitive = parse_agent_command(
        "1001", _cmd(cmd="escalate", call_id="1.2", reason="media", level="sensitive")
    )
    assert sensitive.level == "sensitive"
    with pytest.raises(PayloadError, match="unknown level 'grave'"):
        parse_agent_command("1001", _cmd(cmd="escalate", call_id="1.2", reason="x", level="grave"))
    ack = parse_supervisor_command(_cmd(cmd="ack_alert", alert_id="ESC-20261201-0001", supervisor="S01"))
    assert (ack.cmd, ack.alert_id, ack.supervisor) == ("ack_alert", "ESC-20261201-0001", "S01")
    with pytest.raises(PayloadError, match="missing field 'supervisor'"):
        parse_supervisor_command(_cmd(cmd="ack_alert", alert_id="ESC-1"))

"""Logging: JSON lines with timestamp/level/event and bound context; personal data masked."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from hotline.log import configure_logging, mask_name, mask_number, mask_personal_data, mask_text


def _lines(run: object) -> list[dict[str, object]]:
    stream = io.StringIO()
    configure_logging("debug", stream)
    try:
        run()  # type: ignore[operator]
    finally:
        structlog.contextvars.clear_contextvars()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_the_required_keys() -> None:
    def run() -> None:
        with structlog.contextvars.bound_contextvars(call_id="1795839282.2", agent_id="1001"):
            structlog.get_logger().info("call.offered", wait_s=3.5)

    (line,) = _lines(run)
    assert line["event"] == "call.offered" and line["level"] == "info"
    assert line["call_id"] == "1795839282.2" and line["agent_id"] == "1001" and line["wait_s"] == 3.5
    assert str(line["timestamp"]).endswith("Z") and "T" in str(line["timestamp"])


def test_numbers_and_names_are_masked_whatever_key_they_hide_under() -> None:
    def run() -> None:
        log = structlog.get_logger()
        log.info(
            "x",
            caller_number="13800000001",
            caller_name="李四",
            note="called from 13912345678 today",
            nested={"whatever": "+8613700001111", "CallerIDName": "王五"},
            callerid='"赵六" <13800000005>',
            landline="024-23456789",
            items=["13800000009"],
        )

    (line,) = _lines(run)
    text = json.dumps(line, ensure_ascii=False)
    for secret in [
        "13800000001",
        "李四",
        "13912345678",
        "13700001111",
        "王五",
        "赵六",
        "13800000005",
        "23456789",
        "13800000009",
    ]:
        assert secret not in text, secret
    assert line["caller_number"] == "138****0001"
    assert line["caller_name"] == "李*"


def test_ids_and_timestamps_are_not_taken_for_numbers() -> None:
    def run() -> None:
        structlog.get_logger().info(
            "call.ended", call_id="1795839282.2", uniqueid="1795839314.16", epoch_ms="1795839282911"
        )

    (line,) = _lines(run)
    assert line["call_id"] == "1795839282.2" and line["uniqueid"] == "1795839314.16"
    assert line["epoch_ms"] == "1795839282911"


def test_mask_helpers() -> None:
    assert mask_number("13800000001") == "138****0001"
    assert mask_name("欧阳修") == "欧**"
    assert mask_text('"李四" <13800000003>') == '"李*" <138****0003>'


def _masked(**fields: object) -> dict[str, object]:
    def run() -> None:
        structlog.get_logger().info("x", **fields)

    (line,) = _lines(run)
    return line


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("8613800000001", "86138****0001"),
        ("008613800000001", "0086138****0001"),
        ("+8613800000001", "+86138****0001"),
        ("+86 138 0000 0001", "+86 138 **** 0001"),
        ("013800000001", "0138****0001"),
        ("138-0000-0001", "138-****-0001"),
        ("138 0000 0001", "138 **** 0001"),
        ("138-0000 0001", "138-**** 0001"),
        ("024-88886666", "024-****6666"),
        ("024 88886666", "024 ****6666"),
        ("(024)88886666", "(024)****6666"),
        ("（024）88886666", "（024）****6666"),
        ("(024) 8888-6666", "(024) ****-6666"),
        ("0755-2345678", "0755-***5678"),
        ("+86 24 88886666", "+86 24 ****6666"),
        ("请回电13800000001.", "请回电138****0001."),
        ("Local/13800000001@caller-sim-00000001;1", "Local/138****0001@caller-sim-00000001;1"),
    ],
)
def test_numbers_are_masked_in_every_spelling(written: str, masked: str) -> None:
    assert mask_text(written) == masked
    line = _masked(note=f"回拨 {written} 未接")
    assert line["note"] == f"回拨 {masked} 未接"


@pytest.mark.parametrize(
    "kept",
    [
        "1005",
        "PJSIP/1005",
        "Local/1005@agents",
        "12345",
        "12345-20261128-000042",
        "1732790000.12",
        "1795839282911",
        "2026-11-28T08:00:00.123456Z",
        "2026-11-28T08:00:00+08:00",
        "2026-11-28 08:00:00",
        "wait 35.5 s, 3 agents, 12 calls",
    ],
)
def test_extensions_ticket_numbers_ids_and_times_are_not_mangled(kept: str) -> None:
    assert mask_text(kept) == kept
    line = _masked(note=kept, agent_id=kept, ticket_id=kept, uniqueid=kept)
    assert line["note"] == line["agent_id"] == line["ticket_id"] == line["uniqueid"] == kept
    if not kept.isdigit() or len(kept) < 7:  # under a number key, 7-15 bare digits are a number
        line = _masked(exten=kept, number=kept, callee=kept, caller_number=kept)
        assert line["exten"] == line["number"] == line["callee"] == line["caller_number"] == kept


def test_numbers_given_as_ints_are_masked() -> None:
    line = _masked(caller=13800000001, whatever=8613800000001, callee_num=88886666)
    assert line["caller"] == "138****0001"
    assert line["whatever"] == "86138****0001"
    assert line["callee_num"] == "****6666"


def test_ints_that_are_not_numbers_stay_ints() -> None:
    line = _masked(epoch_ms=1795839282911, count=12, agent=1005, exten=1005, citizens=3, ok=True)
    assert line["epoch_ms"] == 1795839282911 and line["count"] == 12
    assert line["agent"] == 1005 and line["exten"] == 1005 and line["citizens"] == 3
    assert line["ok"] is True


def test_values_inside_sets_tuples_and_dict_keys_are_masked() -> None:
    out = mask_personal_data(
        None,
        "info",
        {
            "numbers": {"13800000001", "13900000002"},
            "frozen": frozenset({"13800000003"}),
            "pair": ("13800000004", 13800000005),
            "by_caller": {"13800000006": 2, 13800000007: 1},
            "deep": [{"x": ({"13800000008"},)}],
        },
    )
    assert out["numbers"] == {"138****0001", "139****0002"}
    assert out["frozen"] == frozenset({"138****0003"})
    assert out["pair"] == ("138****0004", "138****0005")
    assert out["by_caller"] == {"138****0006": 2, "138****0007": 1}
    assert out["deep"] == [{"x": ({"138****0008"},)}]
    # And through the JSON renderer (a set is written as its repr).
    text = json.dumps(_masked(numbers={"13800000001"}, pair=("13800000004",)), ensure_ascii=False)
    assert "13800000001" not in text and "13800000004" not in text


def test_other_objects_are_masked_in_the_repr_the_renderer_would_write() -> None:
    class Leaky:
        def __repr__(self) -> str:
            return "Leaky(number='13800000001', name='李四')"

    line = _masked(obj=Leaky(), error=ValueError("bad number 13800000002"))
    assert line["obj"] == "Leaky(number='138****0001', name='李四')"
    assert "13800000002" not in str(line["error"])


@pytest.mark.parametrize(
    "key",
    [
        "callee",
        "callee_number",
        "caller",
        "callerid",
        "CallerIDNum",
        "ConnectedLineNum",
        "connected_line",
        "exten",
        "Exten",
        "dest",
        "dial_string",
        "citizen_number",
        "contact_number",
        "phone",
        "mobile",
        "ani",
        "cid_num",
    ],
)
def test_number_keys_mask_numbers_that_do_not_look_like_chinese_numbers(key: str) -> None:
    line = _masked(**{key: "88886666"})
    assert line[key] == "****6666"
    line = _masked(**{key: "+1 415-555-0100"})
    assert line[key] == "+1 41*-***-0100"


def test_number_keys_leave_extensions_and_non_numbers_alone() -> None:
    line = _masked(callee="1005", exten="1005", dnis="12345", dial_status="NOANSWER", dest="PJSIP/1005")
    assert line["callee"] == line["exten"] == "1005" and line["dnis"] == "12345"
    assert line["dial_status"] == "NOANSWER" and line["dest"] == "PJSIP/1005"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("callee", '"赵六" <13800000005>'),
        ("connected_line", '"赵六" <13800000005>'),
        ("callerid", '"赵六" <13800000005>'),
        ("ConnectedLineName", "赵六"),
        ("callee_name", "赵六"),
        ("citizen", "赵六"),
    ],
)
def test_caller_ids_and_names_under_callee_and_connected_line_keys(key: str, value: str) -> None:
    line = _masked(**{key: value})
    assert "赵六" not in str(line[key]) and "13800000005" not in str(line[key])
    assert str(line[key]).startswith(("赵", '"赵'))


def test_names_of_things_are_not_taken_for_personal_names() -> None:
    line = _masked(event_name="Newchannel", channel_name="PJSIP/1001-00000001", task_name="sla-watcher")
    assert line["event_name"] == "Newchannel" and line["task_name"] == "sla-watcher"
    assert line["channel_name"] == "PJSIP/1001-00000001"

"""Logging: JSON lines with timestamp/level/event and bound context; personal data masked."""

from __future__ import annotations

import io
import json

import structlog

from hotline.log import configure_logging, mask_name, mask_number, mask_text


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

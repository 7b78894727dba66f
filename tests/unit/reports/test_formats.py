"""The formats on the known day: aligned Chinese tables, CSV values, JSON sections."""

from __future__ import annotations

import json
from pathlib import Path

from hotline.reports.compute import build_report
from hotline.reports.formats import render_json, render_text, show, width, write_csv
from hotline.reports.tables import sections
from hotline.tickets.taxonomy import load_taxonomy
from tests.unit.reports import known_day as k

TAXONOMY = load_taxonomy(Path(__file__).resolve().parents[3] / "config" / "taxonomy.csv")


def test_values_as_people_read_them() -> None:
    assert (show(None, "pct"), show(0.375, "pct"), show(19.0, "sec"), show(3, "int")) == (
        "-",
        "37.5%",
        "19.0",
        "3",
    )
    assert width("呼入量") == 6 and width("SL1") == 3


def test_text_columns_line_up_with_chinese_labels() -> None:
    text = render_text(build_report(k.data(), k.options(), TAXONOMY))
    block = text.split("【坐席报表】")[1].split("【")[0].splitlines()[1:4]
    header, first, second = block
    # Right-aligned numeric columns end at the same terminal column in every line.
    assert width(header) == width(first.rstrip()) == width(second.rstrip())
    assert first.split()[:3] == ["1001", "3", "1"]


def test_csv_rates_are_percent_and_unknown_is_empty(tmp_path: Path) -> None:
    report = build_report(k.data(), k.options(), TAXONOMY)
    write_csv(report, tmp_path)
    lines = (tmp_path / "intervals.csv").read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    nine = next(line.split(",") for line in lines if line.startswith("09:00"))
    eight = next(line.split(",") for line in lines if line.startswith("08:00"))
    assert nine[header.index("服务水平SL1")] == "40.0" and nine[header.index("平均应答(秒)")] == "19.0"
    assert eight[header.index("服务水平SL1")] == "" and eight[header.index("呼入量")] == "0"


def test_json_sections_match_the_tables() -> None:
    report = build_report(k.data(), k.options(), TAXONOMY)
    doc = json.loads(render_json(report))
    assert list(doc)[1:] == [s.key for s in sections(report)]
    nine = next(r for r in doc["intervals"] if r["start"] == "09:00")
    assert nine["service_level"] == 0.4 and nine["service_level_excl_short"] == 0.5
    assert doc["agents"][1]["ring_no_answer"] == 1

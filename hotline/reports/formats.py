"""The report as terminal text, CSV files (UTF-8 with a BOM) and JSON."""

from __future__ import annotations

import csv
import json
import math
import unicodedata
from pathlib import Path
from typing import Any

from hotline.reports.model import Report
from hotline.reports.tables import Section, definitions, sections


def show(value: Any, kind: str) -> str:
    """A value as a person reads it (``-`` for unknown)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "sec":
        return f"{value:.1f}"
    if kind == "int" and isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _kind(section: Section, row: dict[str, Any], key: str, default: str) -> str:
    # Summary and comparison rows carry the kind of their own values.
    if key in ("value", "current", "previous", "change") and "kind" in row:
        kind = str(row["kind"])
        return "pct_change" if key == "change" and kind == "pct" else kind
    return default


def cell(section: Section, row: dict[str, Any], key: str, default: str) -> str:
    kind = _kind(section, row, key, default)
    value = row.get(key)
    if kind == "pct_change":
        return "-" if value is None else f"{value * 100:+.1f}个百分点"
    return show(value, kind)


def width(text: str) -> int:
    """Columns a string takes in a terminal (Chinese characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, size: int, right: bool) -> str:
    gap = " " * max(0, size - width(text))
    return gap + text if right else text + gap


def table_text(section: Section) -> list[str]:
    """One section as aligned lines."""
    cols = [c for c in section.columns if not c.key.endswith("metric") and c.key != "key"]
    if section.key in ("summary", "comparison"):
        cols = [c for c in section.columns if c.key not in ("metric",)]
    head = [c.label for c in cols]
    body = [[cell(section, row, c.key, c.kind) for c in cols] for row in section.rows]
    sizes = [max([width(h)] + [width(b[i]) for b in body]) for i, h in enumerate(head)]
    numeric = [c.kind != "text" or c.key in ("value", "current", "previous", "change") for c in cols]
    lines = [f"【{section.title}】" + (f"  {section.note}" if section.note else "")]
    lines.append("  " + "  ".join(_pad(h, sizes[i], numeric[i]) for i, h in enumerate(head)))
    if not body:
        lines.append("  (无)")
    for cells in body:
        lines.append("  " + "  ".join(_pad(v, sizes[i], numeric[i]) for i, v in enumerate(cells)).rstrip())
    return lines


def render_text(report: Report) -> str:
    """The whole report for a terminal."""
    lines = list(definitions(report))
    for section in sections(report):
        lines.append("")
        lines.extend(table_text(section))
    return "\n".join(lines) + "\n"


def _csv_value(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if kind in ("pct", "pct_change"):
        return round(value * 100, 2)  # percent, as a number Excel can sum and chart
    if kind == "sec":
        return round(value, 1)
    return value


def write_csv(report: Report, directory: Path) -> list[Path]:
    """One file per section in ``directory``, UTF-8 with a BOM (Excel on a Chinese Windows reads
    it right), the first row the Chinese column names; rates in percent, times in seconds."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for section in sections(report):
        path = directory / f"{section.key}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            out = csv.writer(f)
            out.writerow([c.label for c in section.columns])
            for row in section.rows:
                out.writerow(
                    [_csv_value(row.get(c.key), _kind(section, row, c.key, c.kind)) for c in section.columns]
                )
        written.append(path)
    return written


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value


def to_json(report: Report) -> dict[str, Any]:
    """``{"meta": ..., "<section>": [row, ...], ...}``: one key per section; rates as fractions
    (0-1), times in seconds, ``null`` for unknown."""
    o = report.options
    doc: dict[str, Any] = {
        "meta": {
            "first_day": o.first_day.isoformat(),
            "last_day": o.last_day.isoformat(),
            "interval_min": o.interval_min,
            "service_level_threshold_s": o.threshold_s,
            "short_abandon_s": o.short_abandon_s,
            "service_level_target": o.service_level_target,
            "agent_history": report.agent_history,
            "definitions": definitions(report),
        }
    }
    for section in sections(report):
        doc[section.key] = [{k: _json_value(v) for k, v in row.items()} for row in section.rows]
    return doc


def render_json(report: Report) -> str:
    """:func:`to_json` as text (UTF-8, Chinese kept readable)."""
    return json.dumps(to_json(report), ensure_ascii=False, indent=1) + "\n"

"""Every log event named in the code is in ``docs/events.md`` (at the level the code uses)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.event_catalogue import ROOT, catalogue, level_of, message, uncatalogued

_METHODS = {"debug", "info", "warning", "warn", "error", "critical", "exception", "msg"}


def _events_in_code() -> set[tuple[str, str]]:
    """``(event, level)`` of every ``log.<level>("a.b", ...)`` and dispatcher ``_log("a.b", level)``."""
    found: set[tuple[str, str]] = set()
    for path in (ROOT / "hotline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str) and "." in first.value):
                continue
            name = first.value
            if not all(part.isidentifier() and part.islower() for part in name.split(".")):
                continue
            if node.func.attr in _METHODS:
                found.add((name, level_of(node.func.attr)))
            elif node.func.attr in ("_log", "log"):
                level = node.args[1] if len(node.args) > 1 else None
                found.add((name, level.value if isinstance(level, ast.Constant) else "info"))
    return found


def test_every_event_in_the_code_is_catalogued() -> None:
    events = _events_in_code()
    assert len(events) > 50  # the scan found the code's events
    missing = uncatalogued(events)
    assert not missing, message(missing)


def test_the_catalogue_names_no_event_the_code_lacks() -> None:
    named = {name for name, _ in _events_in_code()}
    stale = sorted(set(catalogue()) - named)
    assert not stale, f"docs/events.md lists events no code logs: {', '.join(stale)}"


def test_a_missing_event_is_named_in_the_message() -> None:
    missing = uncatalogued(
        [("ticket.created", "info"), ("ticket.exploded", "error"), ("sla.warning", "info")]
    )
    assert missing == ["sla.warning (info)", "ticket.exploded (error)"]
    assert "ticket.exploded (error)" in message(missing)
    assert Path(ROOT / "docs" / "events.md").exists()

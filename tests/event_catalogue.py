"""The event catalogue ``docs/events.md`` as data, and a pytest plugin that records every log
event a test session emits (``-p tests.event_catalogue`` with ``EVENT_RECORD_FILE`` set)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "docs" / "events.md"
_ROW = re.compile(r"^\| `(?P<name>[a-z_]+(?:\.[a-z_]+)+)` \| (?P<levels>[a-z/ ]+) \|")
_LEVEL = {"warn": "warning", "exception": "error", "msg": "info", "fatal": "critical"}


def catalogue() -> dict[str, set[str]]:
    """Event name -> the levels the catalogue lists for it."""
    found: dict[str, set[str]] = {}
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            found[match["name"]] = {level.strip() for level in match["levels"].split("/")}
    return found


def level_of(method: str) -> str:
    return _LEVEL.get(method, method)


def uncatalogued(emitted: Iterable[tuple[str, str]]) -> list[str]:
    """``name (level)`` of each emitted event missing from the catalogue or at an unlisted level."""
    known = catalogue()
    missing = {
        f"{name} ({level})" for name, level in emitted if name not in known or level not in known[name]
    }
    return sorted(missing)


def message(missing: list[str]) -> str:
    return (
        f"{len(missing)} event(s) logged but not in docs/events.md (add a row: name, level, fields, "
        "when, what to do): " + ", ".join(missing)
    )


# ---- the recording plugin -----------------------------------------------------------------------

_seen: set[tuple[str, str]] = set()


def pytest_configure(config: Any) -> None:
    if not os.environ.get("EVENT_RECORD_FILE"):
        return
    from structlog._base import BoundLoggerBase

    original = BoundLoggerBase._process_event

    def recording(self: Any, method_name: str, event: Any, event_kw: dict[str, Any]) -> Any:
        if isinstance(event, str):
            _seen.add((event, level_of(method_name)))
        return original(self, method_name, event, event_kw)

    BoundLoggerBase._process_event = recording  # type: ignore[method-assign]


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    path = os.environ.get("EVENT_RECORD_FILE")
    if path:
        Path(path).write_text(json.dumps(sorted(_seen)), encoding="utf-8")

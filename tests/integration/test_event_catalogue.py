"""The end-to-end suite's log output against ``docs/events.md``: the suite runs in a subprocess
with a plugin that records every event it logs; an event logged but not catalogued fails, and the
message lists every such event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.event_catalogue import ROOT, message, uncatalogued

SUITE = "tests/integration/test_service_end_to_end.py"


def test_the_end_to_end_suite_logs_only_catalogued_events(tmp_path: Path) -> None:
    record = tmp_path / "events.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["EVENT_RECORD_FILE"] = str(record)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.event_catalogue",
            SUITE,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert record.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    emitted = [(name, level) for name, level in json.loads(record.read_text())]
    assert len({name for name, _ in emitted}) > 20, emitted  # the suite's service really ran
    missing = uncatalogued(emitted)
    assert not missing, message(missing)

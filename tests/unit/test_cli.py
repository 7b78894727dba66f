"""The command line: a bad configuration stops start-up with one line naming the key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from hotline.cli import main


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # main() configures structlog to write to this test's captured stdout; undo that after.
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize("where", ["before", "after", "equals"])
def test_bad_key_stops_serve_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[ami]\nhost = "pbx"\npingg_interval_s = 3\n')
    argv = {
        "before": ["--config", str(site), "serve"],
        "after": ["serve", "--config", str(site)],
        "equals": ["serve", f"--config={site}"],
    }[where]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "ami.pingg_interval_s" in err and "unknown key" in err


def test_health_is_unhealthy_without_a_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_HEALTH_FILE", str(tmp_path / "absent.health"))
    assert main(["health"]) == 1
    assert "unhealthy" in capsys.readouterr().out

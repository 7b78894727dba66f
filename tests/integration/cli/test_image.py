"""What the container image relies on, without Docker: the environment its ``Dockerfile`` sets
(read from the file), a site file, the real ``hotline serve`` against the AMI simulator over TCP,
and ``hotline health`` run exactly as the ``HEALTHCHECK`` runs it."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.pbx_bridge.connection import LOGIN_FAILURES_PER_ERROR
from hotline.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
WAIT_S = 20


def _dockerfile_env() -> dict[str, str]:
    """The ``ENV`` the image sets."""
    found: dict[str, str] = {}
    for block in re.findall(r"^ENV (.+?)(?<!\\)$", DOCKERFILE, flags=re.M | re.S):
        for word in shlex.split(block.replace("\\\n", " ")):
            name, _, value = word.partition("=")
            found[name] = value
    return found


def _healthcheck() -> list[str]:
    match = re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", DOCKERFILE, flags=re.M)
    assert match is not None
    command: list[str] = json.loads(match.group(1))
    return command


def image_env(site: Path) -> dict[str, str]:
    """The image's environment on this machine: its paths (``/etc/hotline/defaults`` holds a copy
    of ``config/``) mapped onto the checkout; the image's own defaults file copied with them."""
    defaults = str(ROOT / "config")
    image_file = site.with_name("image.toml")
    image_file.write_text(
        (ROOT / "config" / "image.toml")
        .read_text(encoding="utf-8")
        .replace("/etc/hotline/defaults", defaults),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    for name, value in _dockerfile_env().items():
        env[name] = (
            value.replace("/etc/hotline/defaults/image.toml", str(image_file))
            .replace("/etc/hotline/defaults", defaults)
            .replace("/etc/hotline/site/hotline.toml", str(site))
        )
    return env


def test_the_image_sets_defaults_only() -> None:
    env = _dockerfile_env()
    # No HOTLINE_<SECTION>_<KEY>: those would beat the site file.
    assert {k for k in env if k.startswith("HOTLINE_")} == {
        "HOTLINE_DEFAULTS",
        "HOTLINE_IMAGE_CONFIG",
        "HOTLINE_SITE_CONFIG",
    }
    assert _healthcheck() == ["hotline", "health"]  # the site file comes from HOTLINE_SITE_CONFIG
    assert "COPY --from=build /wheels" not in DOCKERFILE  # no layer keeps the wheels
    assert "requirements.lock" in DOCKERFILE and (ROOT / "requirements.lock").exists()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def test_the_site_file_wins_over_the_image(tmp_path: Path) -> None:
    site = tmp_path / "hotline.toml"
    site.write_text(
        f'[store]\npath = "{tmp_path / "site.db"}"\n'
        f'[tickets]\ncalendar_dir = "{tmp_path / "calendar"}"\n'
        "[health]\ninterval_s = 60\n",
        encoding="utf-8",
    )
    settings = load_settings(environ=image_env(site), defaults_path=None)
    assert settings.store.path == str(tmp_path / "site.db")
    assert settings.tickets.calendar_dir == str(tmp_path / "calendar")
    assert settings.health.interval_s == 60
    # What the site does not set keeps the image's value.
    assert settings.tickets.taxonomy_file == str(ROOT / "config" / "taxonomy.csv")
    assert settings.health.file == "/tmp/hotline.health"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    config = tmp_path / "sim.toml"
    config.write_text(f"[simulator]\nport = {port}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "--config", str(config), "simulate-pbx"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=WAIT_S)


def _site(tmp_path: Path, port: int, secret: str = "hotline-secret") -> Path:
    site = tmp_path / "hotline.toml"
    site.write_text(
        f'[store]\npath = "{tmp_path / "h.db"}"\n'
        f'[ami]\nport = {port}\nsecret = "{secret}"\nreconnect_min_s = 0.05\nreconnect_max_s = 0.1\n'
        f'[health]\ninterval_s = 60\nfile = "{tmp_path / "hotline.health"}"\n',
        encoding="utf-8",
    )
    return site


def _health(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hotline", *_healthcheck()[1:]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=WAIT_S)


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_health_stays_healthy_with_the_sites_interval_while_ami_is_up(tmp_path: Path, simulator: int) -> None:
    env = image_env(_site(tmp_path, simulator))
    service = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve"], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    health_file = tmp_path / "hotline.health"
    try:
        _wait_for(health_file)
        # 20 s since the last touch: stale for the default 5 s interval, fresh for the site's 60 s.
        past = time.time() - 20
        os.utime(health_file, (past, past))
        result = _health(env)
        assert result.returncode == 0 and result.stdout.startswith("healthy"), result.stdout + result.stderr
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=WAIT_S)
    result = _health(env)
    assert result.returncode == 1 and result.stdout.startswith("unhealthy")


def test_a_wrong_secret_is_an_error_once_per_n_failures_and_health_says_why(
    tmp_path: Path, simulator: int
) -> None:
    env = image_env(_site(tmp_path, simulator, secret="not-the-secret"))
    service = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve"], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    failing: list[dict[str, object]] = []
    failed = 0
    try:
        assert service.stdout is not None
        deadline = time.monotonic() + WAIT_S
        while len(failing) < 2 and time.monotonic() < deadline:
            line = service.stdout.readline()
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            failed += entry["event"] == "ami.login_failed"
            if entry["event"] == "ami.login_failing":
                failing.append(entry)
        _wait_for(tmp_path / "hotline.health.why")
        result = _health(env)
    finally:
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=WAIT_S)
    assert [e["failures"] for e in failing] == [LOGIN_FAILURES_PER_ERROR, 2 * LOGIN_FAILURES_PER_ERROR]
    assert all(e["level"] == "error" for e in failing) and failed >= 2 * LOGIN_FAILURES_PER_ERROR
    assert result.returncode == 1
    assert "unhealthy: AMI login refused for user 'hotline'" in result.stdout, result.stdout
    assert "not-the-secret" not in result.stdout

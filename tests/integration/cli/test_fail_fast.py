"""Every row of issue 9's table, through the real ``hotline`` command in a subprocess: the
process ends (or refuses) within 10 s with one line naming the problem, and nothing already
stored changes.  (Many writers at once: ``tests/integration/tickets/test_many_writers.py``.)"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hotline.store.schema import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[3]
LIMIT_S = 10  # the bound: a hang shows as TimeoutExpired


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def said(self) -> list[str]:
        """stderr's lines for a person (the JSON log lines left out)."""
        return [line for line in self.err.splitlines() if line.strip() and not line.startswith("{")]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}


def hotline(tmp_path: Path, *args: str | bytes, site: str = "") -> Result:
    """``hotline --config site.toml ARGS`` (the site file always names a store under tmp_path)."""
    config = tmp_path / "site.toml"
    store = "" if "[store]" in site else f'[store]\npath = "{tmp_path / "h.db"}"\n'
    config.write_text(store + site, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "hotline", "--config", str(config), *args],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        timeout=LIMIT_S,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode("utf-8", "replace"))


def _one_line(result: Result, *words: str) -> None:
    assert result.code != 0, result.out
    assert len(result.said) == 1, result.err
    for word in words:
        assert word in result.said[0], result.said


def _fingerprint(*paths: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "-" for p in paths]


CREATE = (
    "tickets", "create", "--type", "complaint", "--class", "01010101", "--location", "沈阳市皇姑区",
    "--description", "共享单车堆在盲道上", "--request", "清理", "--number", "13912345678",
)  # fmt: skip


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    """A database holding one ticket (closed cleanly: a single file to fingerprint)."""
    result = hotline(tmp_path, *CREATE)
    assert result.code == 0, result.err
    db = tmp_path / "h.db"
    assert not (tmp_path / "h.db-wal").exists() or (tmp_path / "h.db-wal").stat().st_size == 0
    return db


def _tickets(db: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT number, state, version FROM tickets ORDER BY id"))


# ---- an unusable store -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [("tickets", "list"), ("tickets", "show", "12345-20261201-000001"), ("serve",)]
)
def test_a_file_that_is_not_a_database(tmp_path: Path, command: tuple[str, ...]) -> None:
    db = tmp_path / "h.db"
    db.write_bytes(b"taxonomy export, not a database\n" * 200)
    before = _fingerprint(db)
    _one_line(hotline(tmp_path, *command), str(db), "not an SQLite database")
    assert _fingerprint(db) == before


@pytest.mark.parametrize("command", [("tickets", "list"), ("serve",)])
def test_a_store_that_cannot_be_written(tmp_path: Path, command: tuple[str, ...]) -> None:
    blocker = tmp_path / "var"
    blocker.write_text("a file where the store's directory should be")
    site = f'[store]\npath = "{blocker / "h.db"}"\n'
    config = tmp_path / "other.toml"
    config.write_text(site, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "hotline", "--config", str(config), *command],
        cwd=tmp_path, env=_env(), capture_output=True, timeout=LIMIT_S,
    )  # fmt: skip
    _one_line(
        Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode()), str(blocker), "cannot create"
    )


def test_a_store_on_a_read_only_file_system(tmp_path: Path) -> None:
    _one_line(
        hotline(tmp_path, "tickets", "list", site='[store]\npath = "/proc/hotline.db"\n'), "/proc/hotline.db"
    )


def test_a_store_from_a_newer_release(tmp_path: Path, stored: Path) -> None:
    conn = sqlite3.connect(stored, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = _fingerprint(stored)
    for command in (("tickets", "list"), ("serve",)):
        _one_line(hotline(tmp_path, *command), f"schema version {SCHEMA_VERSION + 3} is newer")
    assert _fingerprint(stored) == before


def test_a_store_locked_past_the_busy_timeout(tmp_path: Path, stored: Path) -> None:
    before = _tickets(stored)
    holder = sqlite3.connect(stored, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        site = f'[store]\npath = "{stored}"\nbusy_timeout_ms = 300\n'
        result = hotline(tmp_path, *CREATE, "--allow-duplicate", site=site)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.code == 2
    assert result.said and "locked" in result.said[-1], result.err
    assert _tickets(stored) == before


# ---- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("site", "words"),
    [
        ("[ami]\nport = 99999\n", ["ami.port", "99999", "1-65535"]),
        ("[ami]\nport = -1\n", ["ami.port", "-1", "1-65535"]),
        ("[health]\ninterval_s = 0\n", ["health.interval_s", "0", "more than 0"]),
        ("[ami]\nping_interval_s = -1\n", ["ami.ping_interval_s", "-1", "more than 0"]),
        ('[log]\nlevel = "verbose"\n', ["log.level", "verbose", "debug, info, warning, error, critical"]),
    ],
)
def test_a_value_out_of_range_stops_serve(tmp_path: Path, site: str, words: list[str]) -> None:
    result = hotline(tmp_path, "serve", site=site)
    assert result.code == 2
    _one_line(result, *words)
    assert not (tmp_path / "h.db").exists()  # refused before anything was opened


def test_a_missing_taxonomy_stops_serve_and_the_cli(tmp_path: Path, stored: Path) -> None:
    before = _tickets(stored)
    site = f'[tickets]\ntaxonomy_file = "{tmp_path / "missing.csv"}"\n'
    for command in (("serve",), ("tickets", "list"), ("taxonomy", "check")):
        _one_line(hotline(tmp_path, *command, site=site), "missing.csv", "cannot read")
    assert _tickets(stored) == before


def test_a_malformed_taxonomy_stops_serve(tmp_path: Path) -> None:
    bad = tmp_path / "t.csv"
    bad.write_text("code,parent,level,name,department\n01,,1,城市管理,\n0101,09,2,x,\n", encoding="utf-8")
    _one_line(
        hotline(tmp_path, "serve", site=f'[tickets]\ntaxonomy_file = "{bad}"\n'), "parent 09 does not exist"
    )


# ---- data files in the encodings an office has ------------------------------------------------


def _gbk_copies(tmp_path: Path) -> str:
    """The shipped taxonomy and registry saved as Excel saves them on a Chinese Windows."""
    taxonomy = tmp_path / "taxonomy-gbk.csv"
    taxonomy.write_bytes((ROOT / "config" / "taxonomy.csv").read_text(encoding="utf-8").encode("gb18030"))
    departments = tmp_path / "departments-bom.csv"
    departments.write_bytes(b"\xef\xbb\xbf" + (ROOT / "config" / "departments.csv").read_bytes())
    return f'[tickets]\ntaxonomy_file = "{taxonomy}"\ndepartments_file = "{departments}"\n'


def test_gbk_and_bom_data_files_are_read(tmp_path: Path) -> None:
    site = _gbk_copies(tmp_path)
    check = hotline(tmp_path, "taxonomy", "check", site=site)
    assert check.code == 0, check.err
    assert "read as gb18030" in check.out and "read as utf-8-sig" in check.out and "valid" in check.out
    created = hotline(tmp_path, *CREATE, site=site)
    assert created.code == 0 and "区城市管理局" in created.out, created.err
    listed = hotline(tmp_path, "tickets", "list", site=site)
    assert listed.code == 0 and "共享单车" in listed.out
    decoded = [json.loads(line) for line in listed.err.splitlines() if line.startswith("{")]
    assert {(e["event"], e["encoding"]) for e in decoded if e["event"] == "data_file.decoded"} == {
        ("data_file.decoded", "gb18030"),
        ("data_file.decoded", "utf-8-sig"),
    }


def test_serve_reads_a_gbk_taxonomy(tmp_path: Path) -> None:
    """``serve`` gets past its data files (then waits for Asterisk, which is not there)."""
    site = _gbk_copies(tmp_path) + '[ami]\nport = 1\nconnect_timeout_s = 0.5\n[health]\nfile = "h.health"\n'
    config = tmp_path / "site.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "h.db"}"\n' + site, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline", "--config", str(config), "serve"],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        seen: list[str] = []
        deadline = time.monotonic() + LIMIT_S
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if '"ami.' in line:  # trying Asterisk: the data files were read
                break
        assert any('"data_file.decoded"' in s and "gb18030" in s for s in seen), seen
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=LIMIT_S)


def test_a_file_in_another_encoding_is_refused_naming_the_line(tmp_path: Path) -> None:
    damaged = tmp_path / "t.csv"
    text = (ROOT / "config" / "taxonomy.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    data = "".join(text[:6]).encode() + b"01,,1,\xff\xfe broken,\n" + "".join(text[6:]).encode()
    damaged.write_bytes(data)
    _one_line(
        hotline(tmp_path, "taxonomy", "check", "--file", str(damaged)), "t.csv", "line 7", "not valid UTF-8"
    )
    utf16 = tmp_path / "u.csv"
    utf16.write_bytes("code,parent,level,name,department\n".encode("utf-16"))
    _one_line(hotline(tmp_path, "taxonomy", "check", "--file", str(utf16)), "u.csv", "line 1", "UTF-16")


# ---- bad input on the command line ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        (*CREATE[:-1], b"139\xff\xfe"),
        ("tickets", "show", b"12345-\xff"),
        ("tickets", "list", "--caller", b"\xc3\x28"),
    ],
)
def test_invalid_utf8_in_an_argument(tmp_path: Path, stored: Path, args: tuple[str | bytes, ...]) -> None:
    before = _tickets(stored)
    result = hotline(tmp_path, *args)
    assert result.code == 2
    _one_line(result, "not valid UTF-8")
    assert _tickets(stored) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((*CREATE[:-1], "13800000000' OR '1'='1"), ["citizen number", "not a diallable number"]),
        ((*CREATE[:-1], "12345"), ["not a diallable number", "11 digits"]),
        ((*CREATE, "--call", "1764300000.99"), ["no call 1764300000.99 in the call records"]),
        ((*CREATE, "--description", "长" * 5000), ["description", "5000 characters", "at most 4000"]),
        (("tickets", "create", "--type", "complaint"), ["required"]),
        (("tickets", "list", "--caller", "not a number"), ["--caller", "not a diallable number"]),
        (("tickets", "list", "--day", "2026-13-01"), ["2026-13-01"]),
        (("tickets", "show", "12345-20991231-000001"), ["no ticket"]),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, stored: Path, args: tuple[str, ...], words: list[str]) -> None:
    before = _tickets(stored)
    _one_line(hotline(tmp_path, *args), *words)
    assert _tickets(stored) == before


def test_a_made_up_department_is_refused(tmp_path: Path, stored: Path) -> None:
    ((number, _state, _version),) = _tickets(stored)
    before = _tickets(stored)
    result = hotline(tmp_path, "tickets", "transition", number, "dispatch", "--department", "市不存在局")
    assert result.code == 2
    _one_line(result, "department", "市不存在局", "not in the department registry")
    assert _tickets(stored) == before
    assert (
        hotline(tmp_path, "tickets", "transition", number, "dispatch", "--department", "区城市管理局").code
        == 0
    )

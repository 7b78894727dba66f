"""``hotline db status|migrate`` on both stores: status reads only, migrate applies what is
missing once, a newer schema is refused, a password in the URL is refused without echoing it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from hotline.cli import main
from hotline.store.postgres import SCHEMA_VERSION as PG_VERSION
from hotline.store.schema import SCHEMA_VERSION
from tests.postgres import PrivatePostgres


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture
def store_url(
    store_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    if store_kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'var' / 'hotline.db'}"
    else:
        server: PrivatePostgres = request.getfixturevalue("postgres_server")
        url = server.create_database(f"cli_{tmp_path.name[-20:].replace('-', '_')}")
    monkeypatch.setenv("HOTLINE_STORE_URL", url)
    return url


def test_status_then_migrate_then_status(
    store_kind: str, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    latest = SCHEMA_VERSION if store_kind == "sqlite" else PG_VERSION
    assert main(["db", "status"]) == 1
    out = capsys.readouterr().out
    assert f"store: {store_kind}" in out
    assert ("no database yet" in out) if store_kind == "sqlite" else (f"version 0 of {latest}" in out)
    assert main(["db", "migrate"]) == 0
    assert f"version 0 -> {latest}" in capsys.readouterr().out
    assert main(["db", "migrate"]) == 0
    assert f"version {latest} (up to date)" in capsys.readouterr().out
    assert main(["db", "status"]) == 0
    assert f"version {latest} of {latest} (up to date)" in capsys.readouterr().out


def test_a_newer_sqlite_file_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    monkeypatch.setenv("HOTLINE_STORE_URL", f"sqlite:///{path}")
    assert main(["db", "status"]) == 2
    assert "newer than this program" in capsys.readouterr().out
    assert main(["db", "migrate"]) == 2
    assert "newer than this program" in capsys.readouterr().err


def test_a_password_in_the_url_is_refused_and_never_echoed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOTLINE_STORE_URL", "postgresql://hotline:s3cret-pw@127.0.0.1:1/hotline")
    assert main(["db", "status"]) == 2
    captured = capsys.readouterr()
    assert "store.url" in captured.err and "PGPASSWORD" in captured.err
    assert "s3cret-pw" not in captured.err + captured.out


def test_an_unreachable_server_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.postgres import free_port

    monkeypatch.setenv("HOTLINE_STORE_URL", f"postgresql://hotline@127.0.0.1:{free_port()}/hotline")
    assert main(["db", "status"]) == 2
    err = capsys.readouterr().err
    assert "cannot connect" in err and len(err.strip().splitlines()) == 1


def test_centre_narrows_the_province_and_is_refused_on_sqlite(
    store_kind: str, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from hotline.settings import load_settings
    from hotline.store.factory import open_store
    from hotline.store.postgres import PgStore
    from tests.integration.store.conftest import ticket_change

    async def fill() -> None:
        if store_kind == "sqlite":
            async with open_store(load_settings().store):
                return
        for centre, ids in (("shenyang", (1, 2, 3)), ("dalian", (4, 5))):
            async with PgStore.open(store_url, instance_id=centre) as store:
                for i in ids:
                    await store.save_ticket_change(ticket_change(i, i))

    asyncio.run(fill())
    capsys.readouterr()
    if store_kind == "sqlite":
        assert main(["tickets", "list", "--centre", "shenyang"]) == 2
        assert "--centre" in capsys.readouterr().err
        assert main(["calls", "list", "--centre", "shenyang"]) == 2
        return
    assert main(["tickets", "list", "--centre", "shenyang"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["tickets", "list", "--centre", "dalian"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["tickets", "list"]) == 0  # the province
    assert len(capsys.readouterr().out.strip().splitlines()) == 5

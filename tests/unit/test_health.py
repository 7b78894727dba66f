"""The health file loop: touched while connected, removed otherwise, and never killed by an OSError."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from structlog.testing import capture_logs

from hotline.health import is_healthy, keep_health_file

INTERVAL_S = 0.01


async def _until(condition: object, timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(INTERVAL_S / 2)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_the_file_is_fresh_while_connected_and_gone_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "hotline.health"
    connected = asyncio.Event()
    connected.set()
    task = asyncio.create_task(keep_health_file(path, INTERVAL_S, connected))
    await _until(path.exists)
    assert is_healthy(path, INTERVAL_S)
    connected.clear()
    await _until(lambda: not path.exists())
    connected.set()
    await _until(path.exists)
    await _stop(task)
    assert not path.exists()


async def test_a_file_that_cannot_be_written_is_logged_once_and_the_loop_goes_on(tmp_path: Path) -> None:
    directory = tmp_path / "missing"
    path = directory / "hotline.health"
    connected = asyncio.Event()
    connected.set()
    with capture_logs() as logs:
        task = asyncio.create_task(keep_health_file(path, INTERVAL_S, connected))
        await asyncio.sleep(INTERVAL_S * 10)  # many failed writes
        assert not task.done()
        failures = [e for e in logs if e["event"] == "health.write_failed"]
        assert len(failures) == 1, logs
        assert failures[0]["path"] == str(path) and failures[0]["log_level"] == "warning"
        assert "No such file or directory" in failures[0]["error"]

        directory.mkdir()  # the streak ends: the file comes back, recovery is logged once
        await _until(path.exists)
        await _until(lambda: any(e["event"] == "health.write_recovered" for e in logs))

        path.unlink()
        directory.rmdir()  # a second streak is logged again
        await _until(lambda: sum(e["event"] == "health.write_failed" for e in logs) == 2)
        assert not task.done()
        await _stop(task)  # removing the file at the end fails quietly too
    assert [e["event"] for e in logs] == [
        "health.write_failed",
        "health.write_recovered",
        "health.write_failed",
    ]


async def test_a_file_that_cannot_be_removed_does_not_stop_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "hotline.health"
    path.mkdir()  # a directory where the file should be: neither written nor unlinked
    connected = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(keep_health_file(path, INTERVAL_S, connected))
        await asyncio.sleep(INTERVAL_S * 5)
        connected.set()
        await asyncio.sleep(INTERVAL_S * 5)
        assert not task.done()
        await _stop(task)
    assert [e["event"] for e in logs] == ["health.write_failed"]
    assert path.is_dir()


async def test_the_file_follows_a_connect_and_a_loss_without_waiting_for_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "hotline.health"
    connected = asyncio.Event()
    task = asyncio.create_task(keep_health_file(path, 3600.0, connected))  # an interval never reached
    await asyncio.sleep(0.1)
    assert not path.exists()
    connected.set()
    await _until(path.exists)
    assert is_healthy(path, 3600.0)
    connected.clear()
    await _until(lambda: not path.exists())
    await _stop(task)

"""A health file that exists and is fresh only while the AMI connection is up.

Containers and process supervisors check it with ``hotline health`` (exit 0 = healthy), so the
service needs no HTTP listener for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import structlog

log = structlog.get_logger("hotline.health")


async def keep_health_file(path: Path, interval_s: float, connected: asyncio.Event) -> None:
    """Touch ``path`` every ``interval_s`` while ``connected`` is set; remove it otherwise.

    A file that cannot be written or removed (a missing directory, a full disk, permissions)
    never stops the loop: ``health.write_failed`` is logged once when a run of failures starts
    and ``health.write_recovered`` when it ends; meanwhile the file just goes stale, which is
    what the check reports.
    """
    failing = False
    try:
        while True:
            # A few bytes on a local file: cheaper than a thread hop, never worth awaiting.
            try:
                if connected.is_set():
                    _touch(path)
                else:
                    _remove(path)
            except OSError as exc:
                if not failing:
                    log.warning("health.write_failed", path=str(path), error=str(exc))
                    failing = True
            else:
                if failing:
                    log.info("health.write_recovered", path=str(path))
                    failing = False
            await asyncio.sleep(interval_s)
    finally:
        with contextlib.suppress(OSError):
            _remove(path)


def _touch(path: Path) -> None:
    path.write_text(f"{time.time():.0f}\n")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def is_healthy(path: Path, interval_s: float, now: float | None = None) -> bool:
    """True when the file exists and was refreshed within three intervals."""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age <= 3 * interval_s

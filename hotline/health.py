"""A health file that exists and is fresh only while the AMI connection is up.

Containers and process supervisors check it with ``hotline health`` (exit 0 = healthy), so the
service needs no HTTP listener for that.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import structlog

log = structlog.get_logger("hotline.health")
_DOWN_POLL_S = 1.0


def why_path(path: Path) -> Path:
    """The file beside the health file saying why the service is not healthy."""
    return path.with_name(path.name + ".why")


async def keep_health_file(
    path: Path, interval_s: float, connected: asyncio.Event, why: Callable[[], str] | None = None
) -> None:
    """Touch ``path`` every ``interval_s`` while ``connected`` is set; remove it otherwise, and
    then write ``why()`` (e.g. "AMI login refused ... 15 times in a row") into
    :func:`why_path`, so ``hotline health`` can say why.

    The file follows a change of ``connected`` at once (within :data:`WATCH_S`): healthy as
    soon as AMI is connected and resynced, unhealthy as soon as it is lost.

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
                    _remove(why_path(path))
                else:
                    _remove(path)
                    reason = why() if why is not None else ""
                    if reason:
                        why_path(path).write_text(reason + "\n", encoding="utf-8")
            except OSError as exc:
                if not failing:
                    log.warning("health.write_failed", path=str(path), error=str(exc))
                    failing = True
            else:
                if failing:
                    log.info("health.write_recovered", path=str(path))
                    failing = False
            # While down, look again within a second anyway: the reason beside the file stays
            # current (a login failing again and again).
            await _until_change_or(
                connected, interval_s if connected.is_set() else min(interval_s, _DOWN_POLL_S)
            )
    finally:
        with contextlib.suppress(OSError):
            _remove(path)
        with contextlib.suppress(OSError):
            _remove(why_path(path))


#: How often the connection flag is looked at between refreshes: the file follows a connect
#: (after its resync) or a loss within this, not within a whole ``interval_s``.
WATCH_S = 0.05


async def _until_change_or(connected: asyncio.Event, interval_s: float) -> None:
    """Sleep ``interval_s``, or less if the connection comes up or goes down meanwhile."""
    loop = asyncio.get_running_loop()
    state = connected.is_set()
    deadline = loop.time() + interval_s
    while connected.is_set() == state:
        left = deadline - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(WATCH_S, left))


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


def unhealthy_reason(path: Path, interval_s: float, now: float | None = None) -> str:
    """Why :func:`is_healthy` is false, as the running service last wrote it (fresh within
    three intervals), or a generic reason."""
    try:
        stat = why_path(path).stat()
        if (time.time() if now is None else now) - stat.st_mtime <= 3 * interval_s:
            text = why_path(path).read_text(encoding="utf-8").strip()
            if text:
                return text
    except (OSError, UnicodeDecodeError):
        pass
    if path.exists():
        return f"health file {path} not refreshed within {3 * interval_s:g} s (service stalled or stopped)"
    return "AMI not connected (or the service is not running)"

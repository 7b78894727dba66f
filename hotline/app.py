"""The one place that wires the service together (the wazo-calld ``controller`` role)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from hotline.events import DomainEvent
from hotline.health import keep_health_file
from hotline.pbx_bridge.connection import AmiClient
from hotline.settings import Settings

log = structlog.get_logger("hotline.app")


async def _drain(inbox: asyncio.Queue[DomainEvent]) -> None:
    while True:
        event = await inbox.get()
        log.debug("domain.event", kind=type(event).__name__)


async def run_service(settings: Settings, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set: AMI bridge -> one ordered inbox -> the dispatcher."""
    inbox: asyncio.Queue[DomainEvent] = asyncio.Queue()
    log.info("service.starting", ami_host=settings.ami.host, ami_port=settings.ami.port)
    async with AmiClient(settings.ami, settings.dialplan, inbox) as client, asyncio.TaskGroup() as tasks:
        owned = [
            tasks.create_task(_drain(inbox), name="dispatcher"),
            tasks.create_task(
                keep_health_file(Path(settings.health.file), settings.health.interval_s, client.connected),
                name="health-file",
            ),
        ]
        await stop.wait()
        for task in owned:
            task.cancel()
    log.info("service.stopped")

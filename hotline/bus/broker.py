"""A private mosquitto on a free loopback port, with the shipped ACL and a generated password file.

Used by ``hotline demo``, the integration tests and ``bench/mqtt.py``, so none of them ever
talks to a broker that happens to run on the machine.  ``kill()`` (SIGKILL) and ``start()``
again on the same port are what the outage tests do.  With :class:`BrokerTls` it also listens
with TLS on a second port (``tls_port``), as a site's broker would for the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hotline.bus.errors import BusError
from hotline.settings import default_config_path

#: Where Debian's package puts the broker (not always on a user's PATH).
_SBIN = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
START_TIMEOUT_S = 10.0


class BrokerUnavailable(BusError):
    """mosquitto is not installed (``scripts/test.sh``/``scripts/demo.sh`` install it) or would not start."""


def shipped_acl() -> Path:
    """``config/mosquitto/acl``."""
    return default_config_path().parent / "mosquitto" / "acl"


def find_mosquitto() -> tuple[str, str]:
    """Paths of ``mosquitto`` and ``mosquitto_passwd``."""
    broker = shutil.which("mosquitto") or next((p for p in _SBIN if os.access(p, os.X_OK)), None)
    passwd = shutil.which("mosquitto_passwd") or next(
        (p for p in ("/usr/bin/mosquitto_passwd",) if os.access(p, os.X_OK)), None
    )
    if broker is None or passwd is None:
        raise BrokerUnavailable(
            "mosquitto is not installed (Debian: apt-get install mosquitto; scripts/test.sh does it as root)"
        )
    return broker, passwd


def free_port() -> int:
    """A TCP port nobody listens on now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """The broker's TLS listener: the CA that signed its certificate, the certificate, its key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


class LocalBroker:
    """One mosquitto process in ``workdir``; ``users`` maps username -> password."""

    def __init__(
        self, workdir: Path, users: dict[str, str], *, port: int | None = None, tls: BrokerTls | None = None
    ) -> None:
        self.workdir = workdir
        self.users = dict(users)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.tls = tls
        self.tls_port = free_port() if tls is not None else None
        self._process: asyncio.subprocess.Process | None = None
        self._broker, self._passwd = find_mosquitto()

    @classmethod
    def for_agents(
        cls, workdir: Path, agents: Iterable[str], *, port: int | None = None, tls: BrokerTls | None = None
    ) -> LocalBroker:
        """Accounts for the service (``hotline``), ``supervisor``, ``wallboard`` and each agent,
        each with the password ``pw-<username>``."""
        names = ["hotline", "supervisor", "wallboard", *agents]
        return cls(workdir, {name: f"pw-{name}" for name in names}, port=port, tls=tls)

    def password(self, user: str) -> str:
        """The password made for ``user``."""
        return self.users[user]

    def _write_files(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        passwd = self.workdir / "mosquitto.passwd"
        passwd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()), encoding="utf-8")
        passwd.chmod(0o600)
        # -U hashes the plain file in place, in one run however many agents there are.
        subprocess.run([self._passwd, "-U", str(passwd)], check=True, capture_output=True, timeout=60)
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous false",
            f"password_file {passwd}",
            f"acl_file {shipped_acl()}",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "max_queued_messages 100000",
            "set_tcp_nodelay true",
        ]
        if self.tls is not None:  # the TLS options apply to the listener named just before them
            lines += [
                f"listener {self.tls_port} {self.host}",
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.cert_file}",
                f"keyfile {self.tls.key_file}",
            ]
        if os.geteuid() == 0:
            lines.append(f"user {getpass.getuser()}")  # root: keep it, or it cannot read the files
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return conf

    async def start(self) -> None:
        """Start (or restart, on the same port) and wait until it accepts connections."""
        conf = self._write_files()
        log = (self.workdir / "mosquitto.log").open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                self._broker, "-c", str(conf), stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                while True:
                    if self._process.returncode is not None:
                        raise BrokerUnavailable(f"mosquitto exited with {self._process.returncode}")
                    try:
                        _, writer = await asyncio.open_connection(self.host, self.port)
                    except OSError:
                        await asyncio.sleep(0.05)
                        continue
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
                    return
        except TimeoutError as exc:
            await self.kill()
            raise BrokerUnavailable(
                f"mosquitto did not listen on port {self.port} within {START_TIMEOUT_S}s"
            ) from exc

    async def reload(self) -> None:
        """Rewrite the password file from ``users`` and have the broker re-read it (SIGHUP)."""
        self._write_files()
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGHUP)

    async def kill(self) -> None:
        """SIGKILL: the broker vanishes with everything it held (no persistence)."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        """A clean stop."""
        await self._end(signal.SIGTERM)

    async def _end(self, sig: int) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            async with asyncio.timeout(5):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    @property
    def running(self) -> bool:
        """True while the process lives."""
        return self._process is not None and self._process.returncode is None

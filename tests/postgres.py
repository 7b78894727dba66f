"""A private PostgreSQL server for the tests: ``initdb`` into a temporary directory, ``pg_ctl``
start on a free loopback port, stopped (and the directory removed) at the end.  Never a server
that happens to be running on the machine.

The binaries come from the Debian ``postgresql`` package (``scripts/test.sh`` installs it where
missing).  ``initdb`` refuses to run as root: as root, the server runs as the ``postgres`` user
(``runuser``), in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _bin_dir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise RuntimeError(
        "PostgreSQL's initdb/pg_ctl not found: install the Debian 'postgresql' package "
        "(scripts/test.sh does when run as root)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """One throw-away server; :meth:`url` names a database on it (as the ``postgres`` superuser,
    trust authentication on loopback only)."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        self._options = ""
        if self._as_postgres:
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    def start(self, *, durable: bool = False) -> None:
        """``durable``: fsync on (benchmarks); tests run without it."""
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"
        )
        self._options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300 "
            "-c shared_buffers=256MB"
        )
        if not durable:
            self._options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self.resume()

    def resume(self) -> None:
        """Start the server (again, on the same data and port)."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            self._options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def halt(self) -> None:
        """Stop the server at once (as if the database machine went away); :meth:`resume` brings it back."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database; its URL."""
        self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-q",
            "-c",
            f'CREATE DATABASE "{name}"',
        )
        return self.url(name)


@contextlib.contextmanager
def private_postgres(*, durable: bool = False) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start(durable=durable)
        yield server
    finally:
        server.stop()

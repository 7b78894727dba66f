"""The service reaches its broker over TLS (``[mqtt] tls``, ``tls_ca_file``): a private mosquitto
with a TLS listener whose certificate a test CA signed (``trustme``), beside a plain listener the
test's desktops use.  A broker whose certificate the service cannot verify is refused, said so in
the log, and calls are routed meanwhile."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import trustme
from structlog.testing import capture_logs

from hotline.bus.broker import BrokerTls, LocalBroker
from hotline.settings import Settings
from tests.integration.bus.conftest import AGENTS, BusHarness, harness


class TlsHarness(BusHarness):
    """The service connects to the broker's TLS port, trusting ``ca_file``."""

    ca_file: Path

    @property
    def settings(self) -> Settings:
        s = super().settings
        port = self.broker.tls_port
        assert port is not None
        mqtt = dataclasses.replace(s.mqtt, port=port, tls=True, tls_ca_file=str(self.ca_file))
        return dataclasses.replace(s, mqtt=mqtt)


@contextlib.asynccontextmanager
async def _harness(tmp_path: Path, trusted: trustme.CA | None) -> AsyncIterator[TlsHarness]:
    """A broker whose certificate its own CA signed; the service trusts ``trusted`` (None: that CA)."""
    broker_ca = trustme.CA()
    issued = broker_ca.issue_cert("127.0.0.1")
    files = BrokerTls(tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")
    broker_ca.cert_pem.write_to_path(str(files.ca_file))
    issued.cert_chain_pems[0].write_to_path(str(files.cert_file))
    issued.private_key_pem.write_to_path(str(files.key_file))
    broker = LocalBroker.for_agents(tmp_path / "broker", AGENTS, tls=files)
    ca_file = tmp_path / "trusted-ca.pem"
    (broker_ca if trusted is None else trusted).cert_pem.write_to_path(str(ca_file))
    await broker.start()
    try:
        async with harness(tmp_path, broker, TlsHarness) as h:
            assert isinstance(h, TlsHarness)
            h.ca_file = ca_file
            yield h
    finally:
        await broker.stop()


async def test_the_service_talks_to_its_broker_over_tls(tmp_path: Path) -> None:
    async with _harness(tmp_path, trusted=None) as h:
        await h.start()
        await h.mqtt_up()
        async with h.desktop("1001") as desk:  # on the plain listener: the service is on the TLS one
            assert (await desk.command("login"))["ok"] is True
            assert (await desk.command("pause", reason="lunch"))["ok"] is True
            state = await desk.wait_for("state", state="paused")
        assert state["reason"] == "lunch"


async def test_a_broker_the_service_cannot_verify_is_refused_and_calls_still_route(tmp_path: Path) -> None:
    async with _harness(tmp_path, trusted=trustme.CA()) as h:  # another CA than the broker's
        h.autologin = True
        with capture_logs() as logs:
            await h.start()
            h.sim.place_inbound_call("13800007007", "褚七", patience_s=900.0)
            await h.until(lambda: h.dispatcher.stats.calls_answered == 1, "the call was answered")
            await h.until(
                lambda: any(e["event"] == "mqtt.tls_refused" for e in logs), "the TLS failure was logged"
            )
        assert h.service is not None and h.service.bus is not None
        assert not h.service.bus.connected.is_set()
        failure = next(e for e in logs if e["event"] == "mqtt.tls_refused")
        assert "CERTIFICATE_VERIFY_FAILED" in failure["error"] and failure["log_level"] == "error"
        assert failure["ca_file"] == str(h.ca_file)
        assert not any(e["event"] == "mqtt.disconnected" for e in logs)

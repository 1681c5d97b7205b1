"""Chat over TLS (wss:// and TLS IRC) when a certificate is configured."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from tests.system.harness import NodeProcess
from tests.system.irc_client import IrcClient

pytestmark = pytest.mark.system


def self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


async def test_tls_listeners(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    node = NodeProcess(tmp_path / "node", chat_tls_cert=str(cert), chat_tls_key=str(key))
    clients: list[IrcClient] = []
    try:
        node.create_user("tls_ch")
        ctx = ssl.create_default_context(cafile=str(cert))
        wss = await IrcClient.ws(node.ready["chat_wss_port"], tls=ctx)
        ircs = await IrcClient.tcp(node.ready["chat_ircs_port"], tls=ctx)
        plain = await IrcClient.tcp(node.chat_irc_port)
        clients += [wss, ircs, plain]
        assert wss.subprotocol == "irc"
        for i, c in enumerate(clients):
            await c.login(f"justinfan{i + 100}", None)
            await c.join("tls_ch")
        # the same room across plain and TLS listeners
        assert all(c.seen(lambda m: m.command == "ROOMSTATE") for c in clients)
        with pytest.raises(ssl.SSLError):  # a client that does not trust the certificate
            await IrcClient.tcp(node.ready["chat_ircs_port"], tls=ssl.create_default_context())
    finally:
        for c in clients:
            await c.close()
        node.stop()


def test_bad_certificate_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "nope.pem"
    bad.write_text("not a certificate")
    with pytest.raises(RuntimeError) as err:
        NodeProcess(tmp_path / "n", chat_tls_cert=str(bad))
    assert "STREAMHUB_CHAT_TLS_CERT" in str(err.value)

"""With a CA bundle (HSM_CA_BUNDLE), the operator's SDK clients keep their TLS connections alive between requests.

Regression: azure-core's aiohttp transport turns `connection_verify=<path>` into a new SSLContext per request, and
aiohttp pools connections per context, so every request opened a new TCP + TLS connection (found with
bench/bench_operator_scale.py: the handshakes were the operator's main CPU cost). The server here is a real local
HTTPS server that counts accepted connections; the Key Vault clients' first request is bodiless and unauthenticated
(the challenge flow), so a server answering 200 needs no token.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.core.rest import HttpRequest
from azure.identity.aio import ClientSecretCredential

from hsm_devtools.pki import generate_pki
from hsm_operator.azure.clients import AzureClients
from hsm_operator.settings import config_from_env


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        body = b'{"value": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0

    def get_request(self) -> Any:
        request = super().get_request()
        self.connections += 1
        return request


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[_CountingServer, Path]]:
    pki = generate_pki(tmp_path / "pki")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.serving_cert, pki.serving_key)
    server = _CountingServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, pki.ca_cert
    finally:
        server.shutdown()
        server.server_close()


async def test_requests_of_one_client_share_one_tls_connection(https_server: tuple[_CountingServer, Path]) -> None:
    server, ca_file = https_server
    config = config_from_env({"HSM_CA_BUNDLE": str(ca_file)})
    azure = AzureClients(config)
    credential = ClientSecretCredential("t", "c", "s")
    url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        keys = azure.key_client(url, credential)
        for _ in range(5):
            response = await keys.send_request(HttpRequest("GET", f"{url}/keys"))
            assert response.status_code == 200
            await response.read()
        assert server.connections == 1  # one handshake for five requests (was five)
    finally:
        await azure.close()
        await credential.close()


async def test_an_untrusted_server_is_still_refused(https_server: tuple[_CountingServer, Path], tmp_path: Path) -> None:
    server, _ = https_server
    other_ca = generate_pki(tmp_path / "other").ca_cert
    azure = AzureClients(config_from_env({"HSM_CA_BUNDLE": str(other_ca)}))
    credential = ClientSecretCredential("t", "c", "s")
    url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        keys = azure.key_client(url, credential)
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            await keys.send_request(HttpRequest("GET", f"{url}/keys"), retry_total=0)
    finally:
        await azure.close()
        await credential.close()

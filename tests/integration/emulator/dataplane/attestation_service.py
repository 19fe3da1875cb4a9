"""A tiny attestation service for Secure Key Release tests: a real HTTPS server with its own CA and signing keys.

Like Microsoft Azure Attestation it publishes OpenID Connect metadata per issuer
(``<issuer>/.well-known/openid-configuration`` -> ``jwks_uri``) and a JWKS whose keys carry ``kid``, ``kty`` and
``x5c``; ``token(...)`` issues attestation-style JWTs (RS256) for one of its issuers, with ``x-ms-runtime.keys``
holding the target environment's key encryption key. Each issuer is a path (``/a``, ``/b``) with its own key. The
emulator under test trusts the service's CA through ``server.trustedIssuerCaFiles``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def _b64u_int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def rsa_public_jwk(key: rsa.RSAPublicKey, kid: str, **extra: Any) -> dict[str, Any]:
    numbers = key.public_numbers()
    return {"kid": kid, "kty": "RSA", "n": _b64u_int(numbers.n), "e": _b64u_int(numbers.e), **extra}


def _certificate(subject: str, key: Any, issuer_name: str, issuer_key: Any, *, ca: bool, san: str | None) -> Any:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san is not None:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


class AttestationService:
    """Start with ``with AttestationService(dir) as service:``; ``service.issuer("a")`` is an issuer URL."""

    def __init__(self, directory: Path, issuers: tuple[str, ...] = ("a", "b")) -> None:
        self.directory = directory
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _certificate("attestation test CA", ca_key, "attestation test CA", ca_key, ca=True, san=None)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = _certificate("127.0.0.1", server_key, "attestation test CA", ca_key, ca=False, san="127.0.0.1")
        self.ca_file = directory / "attestation-ca.crt"
        self.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        cert_file, key_file = directory / "attestation.crt", directory / "attestation.key"
        cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self.signing_keys: dict[str, rsa.RSAPrivateKey] = {}
        self._jwks: dict[str, dict[str, Any]] = {}
        for name in issuers:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            cert = _certificate(f"signer {name}", key, f"signer {name}", key, ca=False, san=None)
            der = cert.public_bytes(serialization.Encoding.DER)
            self.signing_keys[name] = key
            self._jwks[name] = {
                "keys": [rsa_public_jwk(key.public_key(), f"signer-{name}", x5c=[base64.b64encode(der).decode()])]
            }
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/", 1)
                name, rest = parts[0], (parts[1] if len(parts) > 1 else "")
                if name not in service._jwks:
                    body, status = {"error": "unknown issuer"}, 404
                elif rest == ".well-known/openid-configuration":
                    issuer = service.issuer(name)
                    body, status = {"issuer": issuer, "jwks_uri": f"{issuer}/certs"}, 200
                elif rest == "certs":
                    body, status = service._jwks[name], 200
                else:
                    body, status = {"error": "not found"}, 404
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def issuer(self, name: str) -> str:
        return f"https://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> AttestationService:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def token(
        self,
        issuer: str,
        claims: dict[str, Any],
        runtime_keys: list[dict[str, Any]],
        *,
        lifetime: int = 600,
        issued_at: int | None = None,
        signing_key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """An attestation token of issuer ``issuer`` ("a"/"b") with ``claims`` and ``x-ms-runtime.keys``."""
        now = int(time.time()) if issued_at is None else issued_at
        payload = {
            "iss": self.issuer(issuer),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "x-ms-runtime": {"keys": runtime_keys},
            **claims,
        }
        key = signing_key or self.signing_keys[issuer]
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": f"signer-{issuer}"})

"""Load generator: N concurrent official async SDK clients against one Managed HSM (the emulator's, or any).

Each client has its own credential, `KeyClient` and `CryptographyClient` and loops over a fixed mix until the time
is up: get key, sign (remote: the SDK cannot sign with a public key), verify and encrypt (sent with the client's
public `send_request`, because `CryptographyClient` would do them locally once it has the public key), decrypt the
ciphertext it just got (remote), and list keys (one page). Every call's latency is recorded; any exception or
wrong answer is an error. Used by tests/integration/emulator/hostile/test_load.py (asserts zero errors) and by
bench/bench_load.py (records the figures); never imported by the product packages.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.rest import HttpRequest
from azure.keyvault.keys import KeyProperties
from azure.keyvault.keys.aio import KeyClient
from azure.keyvault.keys.crypto import EncryptionAlgorithm, SignatureAlgorithm
from azure.keyvault.keys.crypto.aio import CryptographyClient

OPERATIONS = ("get", "sign", "verify", "encrypt", "decrypt", "list")
API_VERSION = "7.6"
T = TypeVar("T")


@dataclass
class LoadReport:
    clients: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})
    errors: list[str] = field(default_factory=list)

    @property
    def operations(self) -> int:
        return sum(len(samples) for samples in self.latencies.values())

    @property
    def throughput(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        """Figures in milliseconds and operations per second, per operation and overall."""
        every = [sample for samples in self.latencies.values() for sample in samples]
        rows = {op: _figures(samples, self.seconds) for op, samples in self.latencies.items()}
        return {
            "clients": self.clients,
            "seconds": round(self.seconds, 1),
            "operations": self.operations,
            "errors": len(self.errors),
            "overall": _figures(every, self.seconds),
            "per_operation": rows,
        }

    def table(self) -> str:
        summary = self.summary()
        lines = [
            f"{self.clients} clients, {summary['seconds']} s, {self.operations} operations, {len(self.errors)} errors",
            f"{'operation':<10} {'count':>7} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8}",
        ]
        for name, row in [*summary["per_operation"].items(), ("all", summary["overall"])]:
            lines.append(f"{name:<10} {row['count']:>7} {row['ops_per_s']:>8} {row['p50_ms']:>8} {row['p99_ms']:>8}")
        return "\n".join(lines)


def _figures(samples: list[float], seconds: float) -> dict[str, Any]:
    if not samples:
        return {"count": 0, "ops_per_s": 0.0, "p50_ms": None, "p99_ms": None}
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "count": len(samples),
        "ops_per_s": round(len(samples) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
    }


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def prepare_key(vault_url: str, credential: AsyncTokenCredential, ca_file: str, name: str) -> str:
    """Create (a new version of) the RSA key the load uses; returns its versioned id."""
    async with KeyClient(vault_url, credential, verify_challenge_resource=False, connection_verify=ca_file) as keys:
        key = await keys.create_rsa_key(name, size=2048)
    assert key.id is not None
    return key.id


async def run_load(
    vault_url: str,
    credential_factory: Callable[[], AsyncTokenCredential],
    ca_file: str,
    *,
    key_id: str,
    clients: int = 50,
    seconds: float = 60.0,
) -> LoadReport:
    """Run `clients` concurrent SDK clients for `seconds` against `key_id` (see the module docstring)."""
    report = LoadReport(clients=clients, seconds=seconds)
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(
        *(_client(index, vault_url, credential_factory, ca_file, key_id, deadline, report) for index in range(clients))
    )
    report.seconds = time.monotonic() - started
    return report


async def _client(
    index: int,
    vault_url: str,
    credential_factory: Callable[[], AsyncTokenCredential],
    ca_file: str,
    key_id: str,
    deadline: float,
    report: LoadReport,
) -> None:
    credential = credential_factory()
    options: dict[str, Any] = {"verify_challenge_resource": False, "connection_verify": ca_file}
    name, version = key_id.rstrip("/").split("/")[-2:]

    async def timed(operation: str, call: Awaitable[T]) -> T | None:
        began = time.perf_counter()
        try:
            result = await call
        except Exception as exc:  # every failure is a finding; the report names it
            report.errors.append(f"client {index} {operation}: {type(exc).__name__}: {exc}")
            return None
        report.latencies[operation].append(time.perf_counter() - began)
        return result

    async with credential, KeyClient(vault_url, credential, **options) as keys:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            request = HttpRequest("POST", f"/keys/{name}/{version}/{path}?api-version={API_VERSION}", json=body)
            response = await keys.send_request(request)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

        async def list_one_page() -> list[KeyProperties]:
            pages = keys.list_properties_of_keys(max_page_size=25).by_page()
            return [item async for item in await anext(pages)]

        async with CryptographyClient(key_id, credential, **options) as crypto:
            while time.monotonic() < deadline:
                await timed("get", keys.get_key(name))
                digest = hashlib.sha256(os.urandom(16)).digest()
                signed = await timed("sign", crypto.sign(SignatureAlgorithm.rs256, digest))
                if signed is not None:
                    body = {"alg": "RS256", "digest": _b64u(digest), "value": _b64u(signed.signature)}
                    verified = await timed("verify", post("verify", body))
                    if verified is not None and verified.get("value") is not True:
                        report.errors.append(f"client {index} verify: a fresh signature did not verify")
                plaintext = os.urandom(32)
                encrypted = await timed("encrypt", post("encrypt", {"alg": "RSA-OAEP-256", "value": _b64u(plaintext)}))
                if encrypted is not None:
                    ciphertext = base64.urlsafe_b64decode(str(encrypted["value"]) + "==")
                    decrypted = await timed("decrypt", crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, ciphertext))
                    if decrypted is not None and decrypted.plaintext != plaintext:
                        report.errors.append(f"client {index} decrypt: the plaintext did not round-trip")
                await timed("list", list_one_page())

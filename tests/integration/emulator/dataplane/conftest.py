"""Session fixtures of the data-plane acceptance tests: one emulator process, one activated HSM, role holders.

Everything goes through the official SDKs with the emulator's CA; nothing here reaches into the emulator's code.
The emulator runs as `python -m hsm_emulator serve` on free ports and is stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope
from azure.keyvault.keys import KeyClient
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

NAMESPACE = uuid.UUID("6f1b6c52-3a0e-4a39-9a5d-0d7c1e0d4a11")
TENANT = str(uuid.uuid5(NAMESPACE, "tenant"))
OTHER_TENANT = str(uuid.uuid5(NAMESPACE, "other-tenant"))
SUBSCRIPTION = str(uuid.uuid5(NAMESPACE, "subscription"))
RESOURCE_GROUP = "rg-dataplane"
PRINCIPALS = (
    "hsm-admin",
    "crypto-user",
    "crypto-officer",
    "auditor",
    "no-role",
    "sub-owner",
    "global-admin",
    "group-member",
    "policy-admin",
    "scoped-user",
    "custom-user",
    "disabled-later",
)
GROUP = str(uuid.uuid5(NAMESPACE, "group:crypto-users"))
OWNER_ROLE = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"


def object_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"object:{name}"))


def app_id(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"app:{name}"))


def _free_block(size: int) -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size >= 65535:
            continue
        try:
            sockets = []
            for port in range(base, base + size + 1):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port block")


@dataclass
class Emulator:
    url: str
    ca: str
    process: subprocess.Popen[bytes]
    credentials: dict[str, ClientSecretCredential] = field(default_factory=dict)

    def credential(self, name: str, tenant: str = TENANT) -> ClientSecretCredential:
        key = f"{name}@{tenant}"
        if key not in self.credentials:
            self.credentials[key] = ClientSecretCredential(
                tenant,
                app_id(name),
                f"secret-{name}",
                authority=self.url,
                disable_instance_discovery=True,
                connection_verify=self.ca,
            )
        return self.credentials[key]


def _config() -> dict[str, Any]:
    return {
        "tenants": [
            {
                "id": TENANT,
                "globalAdministrators": [object_id("global-admin")],
                "servicePrincipals": [
                    {"objectId": object_id(n), "appId": app_id(n), "displayName": n, "clientSecret": f"secret-{n}"}
                    for n in PRINCIPALS
                ],
                "groups": [{"objectId": GROUP, "displayName": "crypto-users", "members": [object_id("group-member")]}],
            },
            {
                "id": OTHER_TENANT,
                "servicePrincipals": [
                    {
                        "objectId": object_id("stranger"),
                        "appId": app_id("stranger"),
                        "displayName": "stranger",
                        "clientSecret": "secret-stranger",
                    }
                ],
            },
        ],
        "subscriptions": [
            {
                "id": SUBSCRIPTION,
                "tenantId": TENANT,
                "resourceGroups": [{"name": RESOURCE_GROUP, "location": "westeurope"}],
            }
        ],
        "roleAssignments": [
            {
                "scope": f"/subscriptions/{SUBSCRIPTION}",
                "roleDefinitionName": "Owner",
                "principalId": object_id("sub-owner"),
            },
        ],
    }


@contextlib.contextmanager
def running_emulator(directory: Path, config_document: dict[str, Any]) -> Iterator[Emulator]:
    """Start `python -m hsm_emulator serve` with `config_document` on free ports; stop it on exit."""
    config = directory / "config.yaml"
    config.write_text(yaml.safe_dump(config_document))
    base = _free_block(8)
    log = (directory / "emulator.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hsm_emulator",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(directory / "data"),
            "--port",
            str(base),
            "--hsm-ports",
            f"{base + 1}-{base + 8}",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        env={**os.environ, "PYTHONPATH": str(Path("operator").resolve())},
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    if "ready" not in line:
        process.kill()
        raise RuntimeError(f"emulator did not start: {line!r}; see {directory / 'emulator.log'}")
    emulator = Emulator(url=f"https://127.0.0.1:{base}", ca=str(directory / "data" / "tls" / "ca.crt"), process=process)
    try:
        yield emulator
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def dp_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator(tmp_path_factory.mktemp("dataplane-emulator"), _config()) as emulator:
        yield emulator


def make_certificate(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = time.time()
    import datetime as dt

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.fromtimestamp(now - 60, dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(now + 86400, dt.UTC))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def certificate_jwk(certificate: x509.Certificate) -> dict[str, Any]:
    import base64

    numbers = certificate.public_key().public_numbers()  # type: ignore[union-attr]
    der = certificate.public_bytes(serialization.Encoding.DER)

    def b64u(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def int_b64u(value: int) -> str:
        return b64u(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {
        "kid": certificate.subject.rfc4514_string(),
        "kty": "RSA",
        "key_ops": ["verify", "encrypt", "wrapKey"],
        "n": int_b64u(numbers.n),
        "e": int_b64u(numbers.e),
        "x5c": [base64.b64encode(der).decode()],
        "alg": "RSA-OAEP-256",
        "x5t#S256": b64u(certificate.fingerprint(hashes.SHA256())),
    }


@pytest.fixture(scope="session")
def sd_certificates() -> list[tuple[rsa.RSAPrivateKey, x509.Certificate]]:
    return [make_certificate(f"sd-{index}") for index in range(3)]


def create_hsm(emulator: Emulator, name: str, admins: list[str], *, purge_protection: bool = False) -> str:
    """Create an HSM through ARM (as the subscription owner); returns its hsmUri."""
    client = KeyVaultManagementClient(
        emulator.credential("sub-owner"),
        SUBSCRIPTION,
        base_url=emulator.url,
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=emulator.ca,
        polling_interval=0.1,
    )
    poller = client.managed_hsms.begin_create_or_update(
        RESOURCE_GROUP,
        name,
        {
            "location": "westeurope",
            "sku": {"family": "B", "name": "Standard_B1"},
            "properties": {
                "tenantId": TENANT,
                "initialAdminObjectIds": admins,
                "softDeleteRetentionInDays": 7,
                "enablePurgeProtection": purge_protection,
            },
        },
    )
    hsm = poller.result()
    return str(hsm.properties.hsm_uri).rstrip("/")


def activate(emulator: Emulator, hsm_uri: str, certificates: list[tuple[rsa.RSAPrivateKey, x509.Certificate]]) -> str:
    client = SecurityDomainClient(
        hsm_uri, emulator.credential("hsm-admin"), verify_challenge_resource=False, connection_verify=emulator.ca
    )
    poller = client.begin_download(
        {"certificates": [certificate_jwk(c) for _, c in certificates], "required": 2}, polling_interval=0.1
    )
    result = poller.result()
    return str(result.value)


@dataclass
class ActiveHsm:
    uri: str
    emulator: Emulator
    security_domain: str

    def keys(self, who: str = "crypto-user") -> KeyClient:
        return KeyClient(
            self.uri, self.emulator.credential(who), verify_challenge_resource=False, connection_verify=self.emulator.ca
        )

    def access(self, who: str = "hsm-admin") -> KeyVaultAccessControlClient:
        return KeyVaultAccessControlClient(
            self.uri, self.emulator.credential(who), verify_challenge_resource=False, connection_verify=self.emulator.ca
        )


CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
CRYPTO_OFFICER = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
AUDITOR = "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
POLICY_ADMIN = "4bd23610-cdcf-4971-bdee-bdc562cc28e4"


@pytest.fixture(scope="session")
def active_hsm(dp_emulator: Emulator, sd_certificates: list[tuple[rsa.RSAPrivateKey, x509.Certificate]]) -> ActiveHsm:
    uri = create_hsm(dp_emulator, "dp-main", [object_id("hsm-admin")])
    security_domain = activate(dp_emulator, uri, sd_certificates)
    hsm = ActiveHsm(uri, dp_emulator, security_domain)
    access = hsm.access()
    for who, role in (
        ("crypto-user", CRYPTO_USER),
        ("crypto-officer", CRYPTO_OFFICER),
        ("auditor", AUDITOR),
        ("policy-admin", POLICY_ADMIN),
    ):
        access.create_role_assignment(KeyVaultRoleScope.GLOBAL, role, object_id(who))
    access.create_role_assignment(KeyVaultRoleScope.GLOBAL, CRYPTO_USER, GROUP)
    return hsm

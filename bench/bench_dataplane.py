"""Data-plane throughput of the emulator through the official SDKs, beside in-process `cryptography`.

Measures:
- sign/verify per second (RS256, PS256 with RSA-2048, ES256 with P-256, ES384 with P-384), encrypt/decrypt per second
  (RSA-OAEP-256, A256GCM with 4 KiB) and wrap/unwrap (A256KW) through CryptographyClient, beside the same operation
  done locally by `cryptography` and the published per-partition limit of the real service;
- the local RBAC decision time with 10, 1,000 and 10,000 role assignments on the HSM, beside the 10-assignment figure
  (must stay flat: the decision reads only the caller's assignments, indexed by principal);
- key creation rate per key type through KeyClient (published: 1 create/s per HSM).

Run alone: `.venv/bin/python bench/bench_dataplane.py [--quick] [--operations 200]`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, SignatureAlgorithm
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

if __package__ in (None, ""):  # run as `python bench/bench_dataplane.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.framework import Row, median, rate, standalone
from hsm_devtools import security_officers
from hsm_devtools.emulator_process import EmulatorProcess, standard_directory
from hsm_emulator.dataplane import hsm_state, keys_store, rbac_service, rbac_store, roles, settings_service
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.dataplane.rbac_store import StoredAssignment
from hsm_emulator.identity import Principal
from hsm_emulator.storage import Database

CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
CRYPTO_GROUP = "crypto through the SDK (CryptographyClient -> emulator)"
DECISION_GROUP = "local RBAC authorization decision (in process, real SQLite)"
CREATE_GROUP = "key creation through the SDK (KeyClient -> emulator)"
IN_PROCESS = "in-process cryptography"

# Published ops/s for one partition and one key (AZURE-API.md §9), by the case names used below.
PUBLISHED: dict[str, float] = {
    "RS256 sign (RSA-2048)": 1100,
    "RS256 verify (RSA-2048)": 10000,
    "PS256 sign (RSA-2048)": 1100,
    "PS256 verify (RSA-2048)": 10000,
    "ES256 sign (P-256)": 260,
    "ES256 verify (P-256)": 130,
    "ES384 sign (P-384)": 165,
    "ES384 verify (P-384)": 82,
    "RSA-OAEP-256 encrypt (RSA-2048)": 10000,
    "RSA-OAEP-256 decrypt (RSA-2048)": 1100,
    "A256GCM encrypt 4 KiB": 8000,
    "A256GCM decrypt 4 KiB": 8000,
    "A256KW wrap": 9000,
    "A256KW unwrap": 9000,
}


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _certificate_jwk(index: int) -> dict[str, Any]:
    return security_officers.certificate_jwk(f"bench-sd-{index}")


def sdk_figures(operations: int, quick: bool) -> list[Row]:
    directory = standard_directory()
    with tempfile.TemporaryDirectory() as state:
        emulator = EmulatorProcess(Path(state), directory.config()).start()
        try:
            ca = str(emulator.ca_file)

            def credential(name: str) -> ClientSecretCredential:
                sp = directory.sp(name)
                return ClientSecretCredential(
                    sp.tenant_id,
                    sp.app_id,
                    sp.secret,
                    authority=emulator.url,
                    disable_instance_discovery=True,
                    connection_verify=ca,
                )

            arm = KeyVaultManagementClient(
                credential("sub-owner"),
                directory.subscription_id,
                base_url=emulator.url,
                credential_scopes=["https://management.azure.com/.default"],
                connection_verify=ca,
                polling_interval=0.1,
            )
            hsm = arm.managed_hsms.begin_create_or_update(
                directory.resource_groups[0],
                "bench-hsm",
                {
                    "location": directory.location,
                    "sku": {"family": "B", "name": "Standard_B1"},
                    "properties": {
                        "tenantId": directory.tenant_id,
                        "initialAdminObjectIds": [directory.sp("hsm-admin").object_id],
                        "softDeleteRetentionInDays": 7,
                        "enablePurgeProtection": False,
                    },
                },
            ).result()
            uri = str(hsm.properties.hsm_uri).rstrip("/")
            options = {"verify_challenge_resource": False, "connection_verify": ca}
            SecurityDomainClient(uri, credential("hsm-admin"), **options).begin_download(
                {"certificates": [_certificate_jwk(i) for i in range(3)], "required": 2}, polling_interval=0.1
            ).result()
            KeyVaultAccessControlClient(uri, credential("hsm-admin"), **options).create_role_assignment(
                KeyVaultRoleScope.GLOBAL, CRYPTO_USER, directory.sp("crypto-user").object_id
            )
            user = credential("crypto-user")
            keys = KeyClient(uri, user, **options)
            return [*_crypto_figures(keys, user, options, operations), *_create_figures(keys, quick)]
        finally:
            emulator.stop()


def _service_call(keys: KeyClient, kid: str, operation: str, **fields: bytes | str) -> Callable[[], object]:
    """One key operation sent to the HSM through the SDK's pipeline (auth, retries) as the REST call.

    CryptographyClient computes verify, RSA encrypt and key wrap locally from the downloaded public key (and for an
    oct-HSM key, whose `k` is never returned, it silently wraps with a random local key), so those figures would not
    measure the service. These go to `POST {kid}/{operation}` instead; private-key operations use CryptographyClient.
    """
    body = {name: _b64u(value) if isinstance(value, bytes) else value for name, value in fields.items()}
    request = HttpRequest("POST", f"{kid}/{operation}", json=body)  # send_request adds the client's api-version

    def call() -> object:
        response = keys.send_request(request)
        if response.status_code != 200:
            raise RuntimeError(f"{operation} failed: {response.status_code} {response.text()}")
        return response

    return call


def _crypto_figures(keys: KeyClient, user: ClientSecretCredential, options: dict[str, Any], count: int) -> list[Row]:
    rsa_key = keys.create_rsa_key("bench-rsa", size=2048)
    ec_key = keys.create_ec_key("bench-ec", curve="P-256")
    ec384_key = keys.create_ec_key("bench-ec384", curve="P-384")
    aes_key = keys.create_oct_key("bench-aes", size=256)
    local_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    local_ec = ec.generate_private_key(ec.SECP256R1())
    local_ec384 = ec.generate_private_key(ec.SECP384R1())
    aes_bytes = secrets.token_bytes(32)
    local_aes = AESGCM(aes_bytes)
    digest = hashlib.sha256(b"bench").digest()
    digest384 = hashlib.sha384(b"bench").digest()
    rsa_client = CryptographyClient(rsa_key, user, **options)
    ec_client = CryptographyClient(ec_key, user, **options)
    ec384_client = CryptographyClient(ec384_key, user, **options)
    aes_client = CryptographyClient(aes_key, user, **options)
    rs_sig = rsa_client.sign(SignatureAlgorithm.rs256, digest).signature
    ps_sig = rsa_client.sign(SignatureAlgorithm.ps256, digest).signature
    es_sig = ec_client.sign(SignatureAlgorithm.es256, digest).signature
    es384_sig = ec384_client.sign(SignatureAlgorithm.es384, digest384).signature
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
    sha256 = utils.Prehashed(hashes.SHA256())
    sha384 = utils.Prehashed(hashes.SHA384())
    rsa_ct = base64.urlsafe_b64decode(
        _service_call(keys, rsa_key.id, "encrypt", alg="RSA-OAEP-256", value=b"x" * 32)().json()["value"] + "=="
    )
    gcm = aes_client.encrypt(EncryptionAlgorithm.a256_gcm, b"x" * 4096)
    wrapped = base64.urlsafe_b64decode(
        _service_call(keys, aes_key.id, "wrapkey", alg="A256KW", value=b"k" * 32)().json()["value"] + "=="
    )
    local_rs = local_rsa.sign(digest, padding.PKCS1v15(), sha256)
    local_ps = local_rsa.sign(digest, pss, sha256)
    local_es = local_ec.sign(digest, ec.ECDSA(sha256))
    local_es384 = local_ec384.sign(digest384, ec.ECDSA(sha384))
    local_ct = local_rsa.public_key().encrypt(b"x" * 32, oaep)
    nonce = os.urandom(12)
    local_gcm = local_aes.encrypt(nonce, b"x" * 4096, None)
    local_wrapped = aes_key_wrap(aes_bytes, b"k" * 32)
    rsa_public, ec_public, ec384_public = local_rsa.public_key(), local_ec.public_key(), local_ec384.public_key()
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "RS256 sign (RSA-2048)",
            lambda: rsa_client.sign(SignatureAlgorithm.rs256, digest),
            lambda: local_rsa.sign(digest, padding.PKCS1v15(), sha256),
        ),
        (
            "RS256 verify (RSA-2048)",
            _service_call(keys, rsa_key.id, "verify", alg="RS256", digest=digest, value=rs_sig),
            lambda: rsa_public.verify(local_rs, digest, padding.PKCS1v15(), sha256),
        ),
        (
            "PS256 sign (RSA-2048)",
            lambda: rsa_client.sign(SignatureAlgorithm.ps256, digest),
            lambda: local_rsa.sign(digest, pss, sha256),
        ),
        (
            "PS256 verify (RSA-2048)",
            _service_call(keys, rsa_key.id, "verify", alg="PS256", digest=digest, value=ps_sig),
            lambda: rsa_public.verify(local_ps, digest, pss, sha256),
        ),
        (
            "ES256 sign (P-256)",
            lambda: ec_client.sign(SignatureAlgorithm.es256, digest),
            lambda: local_ec.sign(digest, ec.ECDSA(sha256)),
        ),
        (
            "ES256 verify (P-256)",
            _service_call(keys, ec_key.id, "verify", alg="ES256", digest=digest, value=es_sig),
            lambda: ec_public.verify(local_es, digest, ec.ECDSA(sha256)),
        ),
        (
            "ES384 sign (P-384)",
            lambda: ec384_client.sign(SignatureAlgorithm.es384, digest384),
            lambda: local_ec384.sign(digest384, ec.ECDSA(sha384)),
        ),
        (
            "ES384 verify (P-384)",
            _service_call(keys, ec384_key.id, "verify", alg="ES384", digest=digest384, value=es384_sig),
            lambda: ec384_public.verify(local_es384, digest384, ec.ECDSA(sha384)),
        ),
        (
            "RSA-OAEP-256 encrypt (RSA-2048)",
            _service_call(keys, rsa_key.id, "encrypt", alg="RSA-OAEP-256", value=b"x" * 32),
            lambda: rsa_public.encrypt(b"x" * 32, oaep),
        ),
        (
            "RSA-OAEP-256 decrypt (RSA-2048)",
            lambda: rsa_client.decrypt(EncryptionAlgorithm.rsa_oaep_256, rsa_ct),
            lambda: local_rsa.decrypt(local_ct, oaep),
        ),
        (
            "A256GCM encrypt 4 KiB",
            lambda: aes_client.encrypt(EncryptionAlgorithm.a256_gcm, b"x" * 4096),
            lambda: local_aes.encrypt(os.urandom(12), b"x" * 4096, None),
        ),
        (
            "A256GCM decrypt 4 KiB",
            lambda: aes_client.decrypt(
                EncryptionAlgorithm.a256_gcm, gcm.ciphertext, iv=gcm.iv, authentication_tag=gcm.tag
            ),
            lambda: local_aes.decrypt(nonce, local_gcm, None),
        ),
        (
            "A256KW wrap",
            _service_call(keys, aes_key.id, "wrapkey", alg="A256KW", value=b"k" * 32),
            lambda: aes_key_wrap(aes_bytes, b"k" * 32),
        ),
        (
            "A256KW unwrap",
            _service_call(keys, aes_key.id, "unwrapkey", alg="A256KW", value=wrapped),
            lambda: aes_key_unwrap(aes_bytes, local_wrapped),
        ),
    ]
    return [
        Row(
            CRYPTO_GROUP,
            name,
            rate(remote, count),
            "ops/s",
            rate(local, count * 5),
            IN_PROCESS,
            published=PUBLISHED[name],
        )
        for name, remote, local in cases
    ]


def _create_figures(keys: KeyClient, quick: bool) -> list[Row]:
    scale = 2 if quick else 1
    kinds: list[tuple[str, Callable[[str], object], int]] = [
        ("RSA-HSM 2048", lambda n: keys.create_rsa_key(n, size=2048), 10 // scale),
        ("RSA-HSM 4096", lambda n: keys.create_rsa_key(n, size=4096), 3),
        ("EC-HSM P-256", lambda n: keys.create_ec_key(n, curve="P-256"), 20 // scale),
        ("oct-HSM 256", lambda n: keys.create_oct_key(n, size=256), 20 // scale),
    ]
    rows = []
    for label, create, count in kinds:
        prefix = label.replace(" ", "-").lower()
        started = time.perf_counter()
        for index in range(count):
            create(f"{prefix}-{index}")
        created = count / (time.perf_counter() - started)
        rows.append(Row(CREATE_GROUP, f"create {label}", created, "keys/s", published=1))
    return rows


def decision_figures() -> list[Row]:
    """Median time of one authorization decision as the HSM's assignment count grows (in process, real SQLite)."""
    figures = []
    for total in (10, 1_000, 10_000):
        with tempfile.TemporaryDirectory() as directory:
            database = Database.open(Path(directory))
            database.migrate(
                [*keys_store.MIGRATIONS, *rbac_store.MIGRATIONS, *hsm_state.MIGRATIONS, *settings_service.MIGRATIONS]
            )
            caller = str(uuid.uuid4())
            with database.transaction() as tx:
                for index in range(total - 1):
                    rbac_store.insert_assignment(
                        tx,
                        "bench",
                        StoredAssignment(str(uuid.uuid4()), f"/keys/k{index % 500}", CRYPTO_USER, str(uuid.uuid4())),
                    )
                rbac_store.insert_assignment(
                    tx, "bench", StoredAssignment(str(uuid.uuid4()), "/keys/k1", CRYPTO_USER, caller)
                )
            hsm = HsmContext("bench", "bench", "t", "https://127.0.0.1:1", 7, False, b"\0" * 32)
            principal = Principal("t", caller, "ServicePrincipal", None, "bench", frozenset(), False)
            samples = []
            for _ in range(500):
                started = time.perf_counter()
                with database.read() as tx:
                    allowed = rbac_service.is_allowed(tx, hsm, principal, roles.DataAction.SIGN, "/keys/k1")
                samples.append(time.perf_counter() - started)
                assert allowed
            database.close()
        figures.append((total, median(samples) * 1e6))
    smallest = figures[0][1]
    return [
        Row(
            DECISION_GROUP,
            f"decision with {total:,} role assignments",
            micros,
            "us",
            smallest,
            f"same decision with {figures[0][0]} assignments",
            higher_is_better=False,
        )
        for total, micros in figures
    ]


def collect(arguments: argparse.Namespace) -> list[Row]:
    operations = arguments.operations or (60 if arguments.quick else 200)
    sdk = sdk_figures(operations, arguments.quick)
    crypto = [row for row in sdk if row.group == CRYPTO_GROUP]
    return [*crypto, *decision_figures(), *(row for row in sdk if row.group != CRYPTO_GROUP)]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--operations", type=int, default=None, help="SDK calls per crypto operation (default 200)")


if __name__ == "__main__":
    sys.exit(standalone(__doc__.splitlines()[0], collect, configure, stem="dataplane"))

"""Data-plane throughput of the emulator through the official SDKs, beside in-process `cryptography`.

Measures (prints a table, writes bench/results/bench_dataplane.json):
- sign/verify per second (RS256, ES256) and encrypt/decrypt per second (RSA-OAEP-256, A256GCM) through
  CryptographyClient, with the same operation done locally by `cryptography` and the ratio;
- the local RBAC decision time with 10, 1,000 and 10,000 role assignments on the HSM (must stay flat: the decision
  reads only the caller's assignments, indexed by principal);
- key creation rate per key type through KeyClient.

    .venv/bin/python bench/bench_dataplane.py [--operations 200]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "operator"))

from azure.identity import ClientSecretCredential
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, SignatureAlgorithm
from azure.keyvault.securitydomain import SecurityDomainClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from hsm_devtools.emulator_process import EmulatorProcess, standard_directory
from hsm_emulator.dataplane import hsm_state, keys_store, rbac_service, rbac_store, roles, settings_service
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.dataplane.rbac_store import StoredAssignment
from hsm_emulator.identity import Principal
from hsm_emulator.storage import Database

RESULTS = Path(__file__).resolve().parent / "results" / "bench_dataplane.json"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"


def per_second(operation: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        operation()
    return count / (time.perf_counter() - started)


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _certificate_jwk(index: int) -> dict[str, Any]:
    import datetime as dt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench-sd-{index}")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    numbers = key.public_key().public_numbers()
    return {
        "kid": f"bench-sd-{index}",
        "kty": "RSA",
        "key_ops": ["verify", "encrypt", "wrapKey"],
        "n": _b64u(numbers.n.to_bytes(256, "big")),
        "e": _b64u(numbers.e.to_bytes(3, "big")),
        "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()],
        "alg": "RSA-OAEP-256",
        "x5t#S256": _b64u(cert.fingerprint(hashes.SHA256())),
    }


def sdk_figures(operations: int) -> dict[str, Any]:
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
            return {"crypto": _crypto_figures(keys, user, options, operations), "create": _create_figures(keys)}
        finally:
            emulator.stop()


def _crypto_figures(
    keys: KeyClient, user: ClientSecretCredential, options: dict[str, Any], count: int
) -> list[dict[str, Any]]:
    rsa_key = keys.create_rsa_key("bench-rsa", size=2048)
    ec_key = keys.create_ec_key("bench-ec", curve="P-256")
    aes_key = keys.create_oct_key("bench-aes", size=256)
    local_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    local_ec = ec.generate_private_key(ec.SECP256R1())
    local_aes = AESGCM(secrets.token_bytes(32))
    digest = hashlib.sha256(b"bench").digest()
    rsa_client = CryptographyClient(rsa_key, user, **options)
    ec_client = CryptographyClient(ec_key, user, **options)
    aes_client = CryptographyClient(aes_key, user, **options)
    rs_sig = rsa_client.sign(SignatureAlgorithm.rs256, digest).signature
    es_sig = ec_client.sign(SignatureAlgorithm.es256, digest).signature
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    rsa_ct = rsa_client.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"x" * 32).ciphertext
    gcm = aes_client.encrypt(EncryptionAlgorithm.a256_gcm, b"x" * 4096)
    local_rs = local_rsa.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    local_es = local_ec.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    local_ct = local_rsa.public_key().encrypt(b"x" * 32, oaep)
    nonce = os.urandom(12)
    local_gcm = local_aes.encrypt(nonce, b"x" * 4096, None)
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "RS256 sign",
            lambda: rsa_client.sign(SignatureAlgorithm.rs256, digest),
            lambda: local_rsa.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())),
        ),
        (
            "RS256 verify",
            lambda: rsa_client.verify(SignatureAlgorithm.rs256, digest, rs_sig),
            lambda: local_rsa.public_key().verify(
                local_rs, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
            ),
        ),
        (
            "ES256 sign",
            lambda: ec_client.sign(SignatureAlgorithm.es256, digest),
            lambda: local_ec.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()))),
        ),
        (
            "ES256 verify",
            lambda: ec_client.verify(SignatureAlgorithm.es256, digest, es_sig),
            lambda: local_ec.public_key().verify(local_es, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256()))),
        ),
        (
            "RSA-OAEP-256 encrypt",
            lambda: rsa_client.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"x" * 32),
            lambda: local_rsa.public_key().encrypt(b"x" * 32, oaep),
        ),
        (
            "RSA-OAEP-256 decrypt",
            lambda: rsa_client.decrypt(EncryptionAlgorithm.rsa_oaep_256, rsa_ct),
            lambda: local_rsa.decrypt(local_ct, oaep),
        ),
        (
            "A256GCM encrypt 4KB",
            lambda: aes_client.encrypt(EncryptionAlgorithm.a256_gcm, b"x" * 4096),
            lambda: local_aes.encrypt(os.urandom(12), b"x" * 4096, None),
        ),
        (
            "A256GCM decrypt 4KB",
            lambda: aes_client.decrypt(
                EncryptionAlgorithm.a256_gcm, gcm.ciphertext, iv=gcm.iv, authentication_tag=gcm.tag
            ),
            lambda: local_aes.decrypt(nonce, local_gcm, None),
        ),
    ]
    figures = []
    for name, remote, local in cases:
        through_sdk = per_second(remote, count)
        in_process = per_second(local, count * 5)
        figures.append(
            {
                "operation": name,
                "sdk_per_second": round(through_sdk, 1),
                "in_process_per_second": round(in_process, 1),
                "ratio": round(in_process / through_sdk, 1),
            }
        )
    return figures


def _create_figures(keys: KeyClient) -> list[dict[str, Any]]:
    kinds: list[tuple[str, Callable[[str], object], int]] = [
        ("RSA-HSM 2048", lambda n: keys.create_rsa_key(n, size=2048), 10),
        ("RSA-HSM 4096", lambda n: keys.create_rsa_key(n, size=4096), 3),
        ("EC-HSM P-256", lambda n: keys.create_ec_key(n, curve="P-256"), 20),
        ("oct-HSM 256", lambda n: keys.create_oct_key(n, size=256), 20),
    ]
    figures = []
    for label, create, count in kinds:
        prefix = label.replace(" ", "-").lower()
        started = time.perf_counter()
        for index in range(count):
            create(f"{prefix}-{index}")
        figures.append({"key_type": label, "created_per_second": round(count / (time.perf_counter() - started), 1)})
    return figures


def decision_figures() -> list[dict[str, Any]]:
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
        figures.append({"assignments": total, "median_microseconds": round(statistics.median(samples) * 1e6, 1)})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=200, help="SDK calls per crypto operation")
    args = parser.parse_args()
    results = {"decision": decision_figures(), **sdk_figures(args.operations)}
    print(f"{'operation':<24}{'SDK ops/s':>12}{'in-process ops/s':>20}{'ratio':>8}")
    for row in results["crypto"]:
        print(f"{row['operation']:<24}{row['sdk_per_second']:>12}{row['in_process_per_second']:>20}{row['ratio']:>8}")
    print(f"\n{'role assignments':<24}{'decision (us, median)':>24}")
    for row in results["decision"]:
        print(f"{row['assignments']:<24}{row['median_microseconds']:>24}")
    print(f"\n{'key type':<24}{'created/s':>12}")
    for row in results["create"]:
        print(f"{row['key_type']:<24}{row['created_per_second']:>12}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    main()

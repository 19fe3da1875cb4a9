"""Disaster recovery through the official SecurityDomainClient and KeyVaultBackupClient.

A second HSM is created, takes over the first one's security domain (transfer key, client-side re-wrap with quorum
private keys by the `hsm-emulator security-domain restore-blob` CLI, upload) and restores the first one's backup;
its keys then verify signatures made by the first HSM. With fewer than quorum keys, or with a tampered upload, the
new HSM stays unusable.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

from tests.integration.emulator.backup.conftest import POLL, ActiveHsm, BackupEnv
from tests.unit.emulator.securitydomain.officers import Holder

pytestmark = pytest.mark.integration


def _restore_blob(directory: Path, officers: list[Holder]) -> subprocess.CompletedProcess[str]:
    """The client-side re-wrap, as an operator runs it (CONTRACT.md section 2)."""
    arguments = ["--security-domain-file", "SD.json", "--transfer-key-file", "TK.json", "--output", "UPLOAD.json"]
    for index, officer in enumerate(officers):
        (directory / f"k{index}.pem").write_bytes(officer.key_pem)
        (directory / f"c{index}.pem").write_bytes(officer.certificate_pem)
        arguments += ["--key", f"k{index}.pem", "--certificate", f"c{index}.pem"]
    command = [sys.executable, "-m", "hsm_emulator", "security-domain", "restore-blob", *arguments]
    return subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=60, check=False)


def _tamper(upload_value: str) -> str:
    """Flip one character in the middle of the longest string of the upload document (its ciphertext)."""
    document = json.loads(upload_value)
    strings: list[tuple[int, list[Any] | dict[str, Any], Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, str):
                strings.append((len(value), node, key))
            else:
                walk(value)

    walk(document)
    _, parent, key = max(strings, key=lambda entry: entry[0])
    text = parent[key]
    middle = len(text) // 2
    parent[key] = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]
    return json.dumps(document)


def _crypto(env: BackupEnv, uri: str, name: str) -> CryptographyClient:
    return CryptographyClient(
        env.keys(uri).get_key(name),
        env.credential("crypto-user"),
        verify_challenge_resource=False,
        connection_verify=str(env.process.ca_file),
    )


def test_new_hsm_recovers_the_security_domain_and_restores_the_backup(
    backup_env: BackupEnv, source_hsm: ActiveHsm, tmp_path: Path
) -> None:
    source_keys = backup_env.keys(source_hsm.uri)
    source_keys.create_rsa_key("dr-rsa", size=2048)
    digest = hashlib.sha256(b"signed by the first HSM").digest()
    signature = _crypto(backup_env, source_hsm.uri, "dr-rsa").sign(SignatureAlgorithm.rs256, digest).signature
    source_backups = backup_env.backups(source_hsm.uri)
    folder_url = source_backups.begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL).result()
    folder_url = folder_url.folder_url

    uri = backup_env.create_hsm("bk-dr")
    domain = backup_env.security_domain(uri)
    transfer_key = domain.get_transfer_key()
    assert transfer_key.key_format == "jwk"
    (tmp_path / "SD.json").write_text(json.dumps({"value": source_hsm.security_domain}))
    (tmp_path / "TK.json").write_text(json.dumps(transfer_key.as_dict()))

    # One officer of three (quorum 2): the re-wrap fails, nothing can be uploaded, the HSM stays unusable.
    too_few = _restore_blob(tmp_path, source_hsm.officers[:1])
    assert too_few.returncode == 1
    assert "Not enough keys" in too_few.stderr
    with pytest.raises(HttpResponseError) as not_active:
        backup_env.keys(uri).create_ec_key("too-early", curve="P-256")
    assert not_active.value.status_code == 403
    assert "not activated" in str(not_active.value)
    assert domain.get_upload_status().status == "InProgress"

    quorum = _restore_blob(tmp_path, source_hsm.officers[1:])
    assert quorum.returncode == 0, quorum.stderr
    upload = json.loads((tmp_path / "UPLOAD.json").read_text())

    # A modified upload: Failed, HSM unchanged.
    with pytest.raises(HttpResponseError):
        domain.begin_upload({"value": _tamper(upload["value"])}, polling_interval=0).result()
    failed = domain.get_upload_status()
    assert failed.status == "Failed"
    assert "HSM is unchanged" in failed.status_details
    assert backup_env.activation_status("bk-dr") == "NotActivated"

    assert domain.begin_upload(upload, polling_interval=0).result() is None
    assert domain.get_upload_status().status == "Success"
    assert backup_env.activation_status("bk-dr") == "Active"

    # Same security domain: the first HSM's backup restores here, and its keys work.
    backup_env.backups(uri).begin_restore(folder_url, sas_token=backup_env.sas, **POLL).result()
    restored = _crypto(backup_env, uri, "dr-rsa")
    assert restored.verify(SignatureAlgorithm.rs256, digest, signature).is_valid
    new_signature = restored.sign(SignatureAlgorithm.rs256, digest).signature
    assert (
        _crypto(backup_env, source_hsm.uri, "dr-rsa").verify(SignatureAlgorithm.rs256, digest, new_signature).is_valid
    )
    assert backup_env.keys(uri).get_key("dr-rsa").key.n == source_keys.get_key("dr-rsa").key.n

    # Now the HSM holds keys: another upload would orphan them and is refused.
    with pytest.raises(ResourceExistsError) as conflict:
        domain.begin_upload(upload, polling_interval=0).result()
    assert "holds no keys" in str(conflict.value)


def test_upload_needs_a_transfer_key_first(backup_env: BackupEnv) -> None:
    uri = backup_env.create_hsm("bk-no-tk")
    with pytest.raises(HttpResponseError) as failure:
        backup_env.security_domain(uri).begin_upload({"value": "{}"}, polling_interval=0).result()
    assert failure.value.status_code == 400
    assert "GET /securitydomain/upload" in str(failure.value)

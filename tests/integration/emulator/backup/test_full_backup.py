"""Full backup to Azurite and full / selective restore, through the official KeyVaultBackupClient.

An HSM holding keys of every type with several versions, tags, a rotation policy, a custom role and assignments is
backed up; the keys are deleted and purged; a restore brings every one back with the same versions, and a
signature made before the backup verifies with the restored key. Selective restore brings back one key only.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.administration import KeyVaultDataAction, KeyVaultPermission, KeyVaultRoleScope
from azure.keyvault.keys import (
    KeyClient,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
    KeyType,
)
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, SignatureAlgorithm

from tests.integration.emulator.backup.conftest import POLL, ActiveHsm, BackupEnv, expect_failed, job_status

pytestmark = pytest.mark.integration


def _populate(keys: KeyClient, prefix: str) -> dict[str, list[str]]:
    """Keys of every type, several versions; returns name -> version ids in creation order."""
    versions: dict[str, list[str]] = {}
    rsa = f"{prefix}-rsa"
    versions[rsa] = [keys.create_rsa_key(rsa, size=2048, hardware_protected=True).properties.version for _ in range(2)]
    ec = f"{prefix}-ec"
    versions[ec] = [
        keys.create_ec_key(
            ec, curve="P-256", hardware_protected=True, tags={"team": "payments", "n": str(i)}
        ).properties.version
        for i in range(3)
    ]
    oct_name = f"{prefix}-oct"
    versions[oct_name] = [keys.create_oct_key(oct_name, size=256, hardware_protected=True).properties.version]
    keys.update_key_rotation_policy(
        oct_name,
        KeyRotationPolicy(
            lifetime_actions=[KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")],
            expires_in="P90D",
        ),
    )
    keys.update_key_properties(ec, versions[ec][0], enabled=False)
    return versions


def _purge_all(env: BackupEnv, hsm: ActiveHsm) -> None:
    keys = env.keys(hsm.uri)
    for key in list(keys.list_properties_of_keys()):
        env.purge(hsm.uri, key.name)
    assert list(keys.list_properties_of_keys()) == []


def _state(keys: KeyClient, names: list[str]) -> dict[str, object]:
    """Everything a restore must bring back, per key and version."""
    state: dict[str, object] = {}
    for name in names:
        for props in keys.list_properties_of_key_versions(name):
            key = keys.get_key(name, props.version)
            state[f"{name}/{props.version}"] = (
                key.key_type,
                key.key.n or key.key.x,
                props.enabled,
                props.tags,
                props.created_on,
                tuple(key.key_operations),
            )
    return state


def test_full_backup_and_restore_bring_back_every_key_version_role_and_signature(
    backup_env: BackupEnv, source_hsm: ActiveHsm
) -> None:
    keys = backup_env.keys(source_hsm.uri)
    access = backup_env.access(source_hsm.uri)
    prefix = f"full-{uuid.uuid4().hex[:6]}"
    versions = _populate(keys, prefix)
    rsa_name, ec_name, oct_name = f"{prefix}-rsa", f"{prefix}-ec", f"{prefix}-oct"
    before = _state(keys, list(versions))
    digest = hashlib.sha256(b"signed before the backup").digest()
    rsa_signature = (
        CryptographyClient(
            keys.get_key(rsa_name),
            backup_env.credential("crypto-user"),
            verify_challenge_resource=False,
            connection_verify=str(backup_env.process.ca_file),
        )
        .sign(SignatureAlgorithm.ps256, digest)
        .signature
    )
    oct_crypto = CryptographyClient(
        keys.get_key(oct_name),
        backup_env.credential("crypto-user"),
        verify_challenge_resource=False,
        connection_verify=str(backup_env.process.ca_file),
    )
    sealed = oct_crypto.encrypt(EncryptionAlgorithm.a256_gcm, b"secret before backup")
    custom_role = access.set_role_definition(
        KeyVaultRoleScope.GLOBAL,
        role_name=f"{prefix}-reader",
        permissions=[KeyVaultPermission(data_actions=[KeyVaultDataAction.READ_HSM_KEY])],
    )
    auditor = backup_env.directory.sp("auditor").object_id
    scoped = access.create_role_assignment(f"/keys/{ec_name}", custom_role.id, auditor)
    assignments_before = {a.name for a in access.list_role_assignments(KeyVaultRoleScope.GLOBAL)}

    backups = backup_env.backups(source_hsm.uri, who="rg-contributor")  # the Backup role alone suffices
    poller = backups.begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL)
    result = poller.result()
    folder = result.folder_url.rsplit("/", 1)[1]
    assert re.fullmatch(r"mhsm-bk-source-\d{14}", folder), result.folder_url
    assert result.folder_url == f"{backup_env.container_url}/{folder}"
    status = job_status(backups, poller)
    assert status["status"] == "Succeeded"
    assert status["error"] is None
    assert status["azureStorageBlobContainerUri"] == result.folder_url
    assert status["endTime"] >= status["startTime"]

    blobs = backup_env.azurite.blob_names("backups", prefix=folder)
    assert sorted(blobs) == [f"{folder}/backup.json", f"{folder}/backup.sealed"]
    manifest = json.loads(backup_env.azurite.read_blob("backups", f"{folder}/backup.json"))
    assert manifest["keyCount"] >= 3
    assert manifest["sourceHsm"] == "bk-source"
    sealed_payload = backup_env.azurite.read_blob("backups", f"{folder}/backup.sealed")
    assert prefix.encode() not in sealed_payload  # sealed: not even key names are readable in storage

    _purge_all(backup_env, source_hsm)
    access.delete_role_assignment(f"/keys/{ec_name}", scoped.name)
    access.delete_role_definition(KeyVaultRoleScope.GLOBAL, custom_role.name)

    restorer = backup_env.backups(source_hsm.uri, who="sub-contributor")  # the Restore role alone suffices
    restore = restorer.begin_restore(result.folder_url, sas_token=backup_env.sas, **POLL)
    assert restore.result() is None
    restored_status = job_status(restorer, restore)
    assert restored_status["status"] == "Succeeded"
    assert "azureStorageBlobContainerUri" not in restored_status

    assert _state(keys, list(versions)) == before
    for name, ids in versions.items():
        assert [p.version for p in keys.list_properties_of_key_versions(name)] == ids
    policy = keys.get_key_rotation_policy(oct_name)
    assert policy.expires_in == "P90D"
    assert policy.lifetime_actions[0].time_after_create == "P30D"
    restored_rsa = CryptographyClient(
        keys.get_key(rsa_name),
        backup_env.credential("crypto-user"),
        verify_challenge_resource=False,
        connection_verify=str(backup_env.process.ca_file),
    )
    assert restored_rsa.verify(SignatureAlgorithm.ps256, digest, rsa_signature).is_valid
    oct_again = CryptographyClient(
        keys.get_key(oct_name),
        backup_env.credential("crypto-user"),
        verify_challenge_resource=False,
        connection_verify=str(backup_env.process.ca_file),
    )
    plain = oct_again.decrypt(
        EncryptionAlgorithm.a256_gcm, sealed.ciphertext, iv=sealed.iv, authentication_tag=sealed.tag
    )
    assert plain.plaintext == b"secret before backup"
    assert access.get_role_definition(KeyVaultRoleScope.GLOBAL, custom_role.name).role_name == f"{prefix}-reader"
    assert access.get_role_assignment(f"/keys/{ec_name}", scoped.name).properties.principal_id == auditor
    assert {a.name for a in access.list_role_assignments(KeyVaultRoleScope.GLOBAL)} == assignments_before


def test_selective_restore_brings_back_one_key_only(backup_env: BackupEnv, source_hsm: ActiveHsm) -> None:
    keys = backup_env.keys(source_hsm.uri)
    prefix = f"sel-{uuid.uuid4().hex[:6]}"
    first = [keys.create_ec_key(f"{prefix}-a", curve="P-256").properties.version for _ in range(2)]
    keys.create_oct_key(f"{prefix}-b", size=256, hardware_protected=True)
    backups = backup_env.backups(source_hsm.uri)
    folder_url = backups.begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL).result().folder_url
    for name in (f"{prefix}-a", f"{prefix}-b"):
        backup_env.purge(source_hsm.uri, name)

    poller = backups.begin_restore(folder_url, sas_token=backup_env.sas, key_name=f"{prefix}-a", **POLL)
    assert poller.result() is None
    status = job_status(backups, poller)
    assert status["status"] == "Succeeded"
    assert f"{prefix}-a" in status["statusDetails"]
    assert [p.version for p in keys.list_properties_of_key_versions(f"{prefix}-a")] == first
    with pytest.raises(ResourceNotFoundError):
        keys.get_key(f"{prefix}-b")


def test_selective_restore_of_a_key_not_in_the_backup_fails_cleanly(
    backup_env: BackupEnv, source_hsm: ActiveHsm
) -> None:
    backups = backup_env.backups(source_hsm.uri)
    folder_url = backups.begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL).result().folder_url
    poller = backups.begin_restore(folder_url, sas_token=backup_env.sas, key_name="never-existed", **POLL)
    assert "Key never-existed is not in the backup" in str(expect_failed(poller))
    status = job_status(backups, poller)
    assert status["status"] == "Failed"
    assert status["error"]["innererror"]["code"] == "KeyNotFoundInBackup"
    assert "never-existed" in status["error"]["message"]


def test_pre_backup_and_pre_restore_checks(backup_env: BackupEnv, source_hsm: ActiveHsm) -> None:
    backups = backup_env.backups(source_hsm.uri)
    assert backups.begin_pre_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL).result() is None
    folder_url = backups.begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL).result().folder_url
    assert backups.begin_pre_restore(folder_url, sas_token=backup_env.sas, **POLL).result() is None
    read_only = backup_env.azurite.container_sas("backups", "rl")
    failed = backups.begin_pre_backup(backup_env.container_url, sas_token=read_only, **POLL)
    expect_failed(failed)
    status = job_status(backups, failed)
    assert status["status"] == "Failed"
    assert status["error"]["innererror"]["code"] == "AuthorizationPermissionMismatch"


def test_key_types_survive_with_their_type(backup_env: BackupEnv, source_hsm: ActiveHsm) -> None:
    """Every key type comes back as the same type (RSA-HSM, EC-HSM, oct-HSM)."""
    keys = backup_env.keys(source_hsm.uri)
    prefix = f"kt-{uuid.uuid4().hex[:6]}"
    _populate(keys, prefix)
    backups = backup_env.backups(source_hsm.uri)
    folder_url = backups.begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL).result().folder_url
    _purge_all(backup_env, source_hsm)
    backups.begin_restore(folder_url, sas_token=backup_env.sas, **POLL).result()
    kinds = {k.name: keys.get_key(k.name).key_type for k in keys.list_properties_of_keys() if k.name.startswith(prefix)}
    assert kinds == {f"{prefix}-rsa": KeyType.rsa_hsm, f"{prefix}-ec": KeyType.ec_hsm, f"{prefix}-oct": KeyType.oct_hsm}

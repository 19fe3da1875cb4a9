"""Every way a backup or restore can go wrong ends in a Failed job with a useful error and no partial state.

Storage problems are Azurite's real answers to a real SAS token (missing container, missing permission, expired,
signed for another container, storage stopped mid-backup); archive problems are a modified blob and a backup from
an HSM with another security domain. After a failed restore the HSM holds exactly what it held before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from hsm_devtools.azurite import AzuriteProcess
from tests.integration.emulator.backup.conftest import (
    CONTAINER,
    POLL,
    ActiveHsm,
    BackupEnv,
    expect_failed,
    expired_sas,
    job_status,
    wait_for_job,
)
from tests.integration.emulator.backup.gate_proxy import GateProxy

pytestmark = pytest.mark.integration


def _snapshot(env: BackupEnv, hsm: ActiveHsm) -> list[tuple[str, list[str | None]]]:
    keys = env.keys(hsm.uri)
    return sorted(
        (k.name, [v.version for v in keys.list_properties_of_key_versions(k.name)])
        for k in keys.list_properties_of_keys()
    )


@pytest.fixture(scope="module")
def good_backup(backup_env: BackupEnv, source_hsm: ActiveHsm) -> str:
    """A key on the source HSM and a complete backup folder of it."""
    backup_env.keys(source_hsm.uri).create_ec_key(f"fail-{uuid.uuid4().hex[:6]}", curve="P-256")
    backups = backup_env.backups(source_hsm.uri)
    return str(backups.begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL).result().folder_url)


def _failed_backup(env: BackupEnv, hsm: ActiveHsm, container_url: str, sas: str) -> dict[str, object]:
    backups = env.backups(hsm.uri)
    poller = backups.begin_backup(container_url, sas_token=sas, **POLL)
    error = expect_failed(poller)
    status = job_status(backups, poller)
    assert status["status"] == "Failed"
    assert status["endTime"] is not None
    assert status["error"]["message"] in str(error)  # the SDK's exception carries the job's error
    folder = str(status["azureStorageBlobContainerUri"]).rsplit("/", 1)[1]
    assert env.azurite.blob_names(CONTAINER, prefix=folder) == []  # nothing half-written
    return status


@pytest.mark.parametrize(
    ("case", "inner_code", "phrase"),
    [
        ("missing container", "ContainerNotFound", "create the container"),
        ("read-only SAS", "AuthorizationPermissionMismatch", "lacks a permission"),
        # Azure answers AuthenticationFailed or AuthorizationFailure here; Azurite the latter
        ("expired SAS", "AuthorizationFailure", "expired"),
        ("SAS of another container", "AuthorizationFailure", "another container"),
    ],
)
def test_backup_storage_failures_end_in_failed_job(
    backup_env: BackupEnv, source_hsm: ActiveHsm, case: str, inner_code: str, phrase: str
) -> None:
    azurite = backup_env.azurite
    container_url, sas = backup_env.container_url, backup_env.sas
    if case == "missing container":
        container_url, sas = azurite.container_url("does-not-exist"), azurite.container_sas("does-not-exist")
    elif case == "read-only SAS":
        sas = azurite.container_sas(CONTAINER, "rl")
    elif case == "expired SAS":
        sas = expired_sas(azurite)
    else:
        azurite.create_container("elsewhere")
        sas = azurite.container_sas("elsewhere")
    status = _failed_backup(backup_env, source_hsm, container_url, sas)
    assert status["error"]["code"] == "BackupFailed"
    assert status["error"]["innererror"]["code"] == inner_code
    assert phrase in status["error"]["message"]


def test_bad_storage_parameters_are_400_before_any_job(backup_env: BackupEnv, source_hsm: ActiveHsm) -> None:
    backups = backup_env.backups(source_hsm.uri)
    for url, sas, fragment in (
        ("ftp://storage/backups", backup_env.sas, "not an http(s) URL"),
        (backup_env.container_url + "/extra/segments", backup_env.sas, "must be the URL of a blob container"),
        (backup_env.container_url, "", "token is required"),
    ):
        with pytest.raises(HttpResponseError) as failure:
            backups.begin_backup(url, sas_token=sas, **POLL)
        assert failure.value.status_code == 400
        assert fragment in str(failure.value)
    with pytest.raises(HttpResponseError) as failure:
        backups.begin_backup(backup_env.container_url, use_managed_identity=True, **POLL)
    assert failure.value.status_code == 400
    assert "useManagedIdentity" in str(failure.value)


def _failed_restore(env: BackupEnv, hsm: ActiveHsm, folder_url: str, sas: str) -> dict[str, object]:
    before = _snapshot(env, hsm)
    backups = env.backups(hsm.uri)
    poller = backups.begin_restore(folder_url, sas_token=sas, **POLL)
    expect_failed(poller)
    status = job_status(backups, poller)
    assert status["status"] == "Failed"
    assert status["error"]["code"] == "RestoreFailed"
    assert _snapshot(env, hsm) == before  # no partial state
    return status


def test_restore_with_expired_sas_fails_and_changes_nothing(
    backup_env: BackupEnv, source_hsm: ActiveHsm, good_backup: str
) -> None:
    status = _failed_restore(backup_env, source_hsm, good_backup, expired_sas(backup_env.azurite))
    assert status["error"]["innererror"]["code"] == "AuthorizationFailure"


def test_restore_of_a_missing_folder_fails(backup_env: BackupEnv, source_hsm: ActiveHsm) -> None:
    status = _failed_restore(
        backup_env, source_hsm, f"{backup_env.container_url}/mhsm-bk-source-19990101000000", backup_env.sas
    )
    assert status["error"]["innererror"]["code"] == "BlobNotFound"
    assert "not a complete Managed HSM backup" in status["error"]["message"]


def test_corrupted_backup_blob_fails_restore_and_changes_nothing(
    backup_env: BackupEnv, source_hsm: ActiveHsm, good_backup: str
) -> None:
    azurite = backup_env.azurite
    folder = good_backup.rsplit("/", 1)[1]
    manifest = azurite.read_blob(CONTAINER, f"{folder}/backup.json")
    payload = bytearray(azurite.read_blob(CONTAINER, f"{folder}/backup.sealed"))
    payload[len(payload) // 2] ^= 0x01
    tampered = f"tampered-{uuid.uuid4().hex[:6]}"
    azurite.write_blob(CONTAINER, f"{tampered}/backup.json", manifest)
    azurite.write_blob(CONTAINER, f"{tampered}/backup.sealed", bytes(payload))
    status = _failed_restore(backup_env, source_hsm, f"{backup_env.container_url}/{tampered}", backup_env.sas)
    assert status["error"]["innererror"]["code"] == "BackupCorrupted"
    assert "modified" in status["error"]["message"]


def test_backup_of_another_security_domain_does_not_restore(
    backup_env: BackupEnv, source_hsm: ActiveHsm, foreign_hsm: ActiveHsm
) -> None:
    backup_env.keys(foreign_hsm.uri).create_ec_key("foreign-only", curve="P-256")
    foreign_backup = (
        backup_env.backups(foreign_hsm.uri)
        .begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL)
        .result()
        .folder_url
    )
    status = _failed_restore(backup_env, source_hsm, foreign_backup, backup_env.sas)
    assert status["error"]["innererror"]["code"] == "SecurityDomainMismatch"
    assert "bk-foreign" in status["error"]["message"]
    assert "different security domain" in status["error"]["message"]


@pytest.fixture
def gated(azurite: AzuriteProcess) -> Iterator[Callable[[AzuriteProcess], GateProxy]]:
    proxies: list[GateProxy] = []

    def make(target: AzuriteProcess) -> GateProxy:
        assert target.port is not None
        proxies.append(GateProxy(target.port))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()


def test_one_job_at_a_time_second_gets_409(
    backup_env: BackupEnv, source_hsm: ActiveHsm, good_backup: str, gated: Callable[[AzuriteProcess], GateProxy]
) -> None:
    proxy = gated(backup_env.azurite)
    backups = backup_env.backups(source_hsm.uri)
    held = backups.begin_backup(proxy.url(f"devstoreaccount1/{CONTAINER}"), sas_token=backup_env.sas, **POLL)
    assert proxy.wait_for_connection()  # the job is now blocked talking to storage
    assert job_status(backups, held)["status"] == "InProgress"
    for start in (
        lambda: backups.begin_backup(backup_env.container_url, sas_token=backup_env.sas, **POLL),
        lambda: backups.begin_restore(good_backup, sas_token=backup_env.sas, **POLL),
    ):
        with pytest.raises(ResourceExistsError) as conflict:
            start()
        assert conflict.value.status_code == 409
        assert "already in progress" in str(conflict.value)
    proxy.gate.set()
    assert held.result().folder_url.startswith(proxy.url("devstoreaccount1/backups/mhsm-bk-source-"))


@pytest.mark.reliability  # the "storage down mid-job" fault of the reliability suite (see tests/reliability/)
def test_azurite_stopped_mid_backup_fails_the_job(
    backup_env: BackupEnv,
    source_hsm: ActiveHsm,
    fresh_azurite: Callable[[], AzuriteProcess],
    gated: Callable[[AzuriteProcess], GateProxy],
) -> None:
    storage = fresh_azurite()
    storage.create_container(CONTAINER)
    proxy = gated(storage)
    backups = backup_env.backups(source_hsm.uri)
    poller = backups.begin_backup(
        proxy.url(f"devstoreaccount1/{CONTAINER}"), sas_token=storage.container_sas(CONTAINER), **POLL
    )
    assert proxy.wait_for_connection()  # the job is writing to storage ...
    storage.stop()  # ... and storage goes away
    proxy.gate.set()
    status = wait_for_job(backups, poller)
    assert status["status"] == "Failed"
    assert status["error"]["innererror"]["code"] == "StorageUnavailable"
    assert "could not be reached" in status["error"]["message"]
    storage.start()  # same port and data: nothing of the failed backup is there
    assert storage.blob_names(CONTAINER) == []

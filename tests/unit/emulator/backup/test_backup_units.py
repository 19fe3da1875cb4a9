"""In-process parts of full backup/restore: storage URL parsing, the sealed archive, the job records."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsm_emulator.dataplane import backup_archive, blobstore, jobs, keys_service, keys_store, models, rbac_store
from hsm_emulator.dataplane.backup_archive import ArchiveError
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.dataplane.jobs import JobKind
from hsm_emulator.errors import AzureError
from hsm_emulator.storage import Database

NOW = 1_700_000_000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(tmp_path)
    database.migrate([*keys_store.MIGRATIONS, *rbac_store.MIGRATIONS, *jobs.MIGRATIONS])
    yield database
    database.close()


def hsm(hsm_id: str, master_key: bytes) -> HsmContext:
    return HsmContext(hsm_id, hsm_id, "t", "https://127.0.0.1:8444", 7, False, master_key)


# ------------------------------------------------------------------------------------------------ storage URLs


def test_host_style_and_path_style_container_urls() -> None:
    azure = blobstore.locate_container("https://acct.blob.core.windows.net/backups", "?sv=1&sig=x", False)
    assert (azure.account_url, azure.container, azure.sas_token) == (
        "https://acct.blob.core.windows.net",
        "backups",
        "sv=1&sig=x",
    )
    azurite = blobstore.locate_container("http://127.0.0.1:10000/devstoreaccount1/backups/", "sv=1", False)
    assert (azurite.account_url, azurite.container) == ("http://127.0.0.1:10000/devstoreaccount1", "backups")


def test_folder_split_the_sdk_way_is_rejoined() -> None:
    """The SDK splits an Azurite folder URL after the account; the HSM finds the container again."""
    location, folder = blobstore.locate_folder(
        "http://127.0.0.1:10000/devstoreaccount1", "backups/mhsm-h-20250101000000", "sv=1", False
    )
    assert (location.container, folder) == ("backups", "mhsm-h-20250101000000")
    location, folder = blobstore.locate_folder("https://a.blob.core.windows.net/c", "mhsm-x-1", "sv=1", False)
    assert (location.url, folder) == ("https://a.blob.core.windows.net/c", "mhsm-x-1")


@pytest.mark.parametrize(
    ("url", "token", "managed", "message"),
    [
        ("ftp://a/c", "sv=1", False, "not an http(s) URL"),
        ("https://a.blob.core.windows.net", "sv=1", False, "got 0 segment"),
        ("https://a.blob.core.windows.net/c?sv=1", "sv=1", False, "must not carry a query string"),
        ("http://127.0.0.1:10000", "sv=1", False, "names no storage account"),
        ("https://a.blob.core.windows.net/c", None, False, "token is required"),
        ("https://a.blob.core.windows.net/c", "sv=1", True, "useManagedIdentity is not supported"),
    ],
)
def test_bad_locations_are_named(url: str, token: str | None, managed: bool, message: str) -> None:
    with pytest.raises(blobstore.InvalidStorageLocation, match=re.escape(message)):
        blobstore.locate_container(url, token, managed)


# ------------------------------------------------------------------------------------------------ archive


def _with_keys(db: Database, h: HsmContext) -> None:
    with db.transaction() as tx:
        for kty in ("EC", "oct-HSM", "EC"):
            body = {"kty": kty} if kty == "EC" else {"kty": kty, "key_size": 256}
            keys_service.create_key(tx, h, f"k-{kty}", models.KeyCreateParameters.model_validate(body), NOW)


def test_archive_round_trip_into_another_hsm_of_the_same_security_domain(db: Database) -> None:
    master = secrets.token_bytes(32)
    source, target = hsm("src", master), hsm("dst", master)
    _with_keys(db, source)
    with db.read() as tx:
        archive = backup_archive.capture(tx, source, "src", NOW)
    manifest = backup_archive.parse_manifest(archive.manifest)
    payload = backup_archive.open_archive(manifest, archive.payload, target)
    with db.transaction() as tx:
        backup_archive.replace_state(tx, target, payload)
    with db.read() as tx:
        for name in ("k-EC", "k-oct-HSM"):
            original = [v.version for v in keys_store.all_versions(tx, "src", name)]
            assert [v.version for v in keys_store.all_versions(tx, "dst", name)] == original
        # material was re-sealed for the target HSM: its crypto gate opens it
        kid, _ = keys_service.key_for_operation(tx, target, "k-EC", None, "sign", NOW)
    assert "/keys/k-EC/" in kid


def test_archive_of_another_security_domain_or_modified_is_refused(db: Database) -> None:
    source = hsm("src", secrets.token_bytes(32))
    _with_keys(db, source)
    with db.read() as tx:
        archive = backup_archive.capture(tx, source, "src", NOW)
    manifest = backup_archive.parse_manifest(archive.manifest)
    with pytest.raises(ArchiveError) as foreign:
        backup_archive.open_archive(manifest, archive.payload, hsm("other", secrets.token_bytes(32)))
    assert foreign.value.inner_code == "SecurityDomainMismatch"
    tampered = bytearray(archive.payload)
    tampered[-1] ^= 1
    with pytest.raises(ArchiveError) as corrupt:
        backup_archive.open_archive(manifest, bytes(tampered), source)
    assert corrupt.value.inner_code == "BackupCorrupted"
    with pytest.raises(ArchiveError, match="not valid"):
        backup_archive.parse_manifest(b'{"formatVersion": 1}')


# ------------------------------------------------------------------------------------------------ jobs


def test_one_job_at_a_time_and_interrupted_jobs_fail_on_start(db: Database) -> None:
    with db.transaction() as tx:
        job = jobs.start_job(tx, "h", JobKind.BACKUP, NOW, "https://a/c/mhsm-h-1")
        with pytest.raises(AzureError) as conflict:
            jobs.start_job(tx, "h", JobKind.RESTORE, NOW)
        assert conflict.value.status == 409
        jobs.start_job(tx, "other-hsm", JobKind.RESTORE, NOW)  # per HSM
    rendered = job.render()
    assert rendered["status"] == "InProgress"
    assert rendered["azureStorageBlobContainerUri"] == "https://a/c/mhsm-h-1"
    assert jobs.fail_interrupted_jobs(db, NOW + 5) == 2
    with db.read() as tx:
        failed = jobs.get_job(tx, "h", job.job_id, backup_family=True).render()
        with pytest.raises(AzureError) as wrong_family:
            jobs.get_job(tx, "h", job.job_id, backup_family=False)
    assert failed["status"] == "Failed"
    assert failed["error"]["code"] == "JobInterrupted"
    assert failed["endTime"] == NOW + 5
    assert wrong_family.value.status == 404

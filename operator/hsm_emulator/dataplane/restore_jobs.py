"""Restore from a full backup: ``PUT /restore``, ``PUT /keys/{name}/restore``, ``PUT /prerestore`` and their status.

Why this module exists: it is the HTTP face of the restore jobs. Like a backup, the request is checked up front and
answered 202; the job then reads the folder's manifest and sealed payload with the customer's SAS token, checks
that the backup comes from an HSM holding this HSM's security domain and that it is intact, and only then replaces
the HSM's state in ONE transaction: either every key, role definition and role assignment is the backup's, or
nothing changed (a failure at any step leaves the HSM as it was). A selective restore replaces one key (all its
versions). ``GET /restore/{jobId}/pending`` reports all three kinds, as the real service does.
"""

from __future__ import annotations

import asyncio

from fastapi.responses import JSONResponse, Response

from hsm_emulator.dataplane import backup_archive, blobstore, jobs, keys_service, scopes
from hsm_emulator.dataplane.backup import accepted, storage_failure, storage_location_error
from hsm_emulator.dataplane.backup_archive import ArchiveError, Payload
from hsm_emulator.dataplane.backup_models import RestoreOperationParameters, SelectiveKeyRestoreOperationParameters
from hsm_emulator.dataplane.call import Call
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.dataplane.jobs import JobFailure, JobKind, JobRunner
from hsm_emulator.dataplane.roles import DataAction
from hsm_emulator.dataplane.routes import NAME, register
from hsm_emulator.storage import Database

RESTORE_FAILED = "RestoreFailed"


def _archive_failure(code: str, exc: ArchiveError) -> JobFailure:
    return JobFailure(code, exc.message, exc.inner_code)


async def _fetch(location: blobstore.ContainerLocation, folder: str, hsm: HsmContext, code: str) -> Payload:
    """Read, verify and open the backup in ``folder``; every problem is a JobFailure with ``code``."""
    async with blobstore.BlobFolder(location, folder) as blobs:
        try:
            manifest = backup_archive.parse_manifest(await blobs.read(backup_archive.MANIFEST_BLOB))
            # Refuse a foreign security domain before downloading the (possibly large) payload.
            backup_archive.check_security_domain(manifest, hsm)
            sealed = await blobs.read(manifest.payload.blob)
        except blobstore.StorageError as exc:
            raise storage_failure(code, exc) from None
        except ArchiveError as exc:
            raise _archive_failure(code, exc) from None
    try:
        return await asyncio.to_thread(backup_archive.open_archive, manifest, sealed, hsm)
    except ArchiveError as exc:
        raise _archive_failure(code, exc) from None


def _replace_state(db: Database, hsm: HsmContext, payload: Payload) -> None:
    try:
        with db.transaction() as tx:
            backup_archive.replace_state(tx, hsm, payload)
    except ArchiveError as exc:
        raise _archive_failure(RESTORE_FAILED, exc) from None


def _replace_key(db: Database, hsm: HsmContext, entry: backup_archive.KeyEntry) -> None:
    try:
        with db.transaction() as tx:
            backup_archive.replace_key(tx, hsm, entry)
    except ArchiveError as exc:
        raise _archive_failure(RESTORE_FAILED, exc) from None


async def _run_restore(db: Database, hsm: HsmContext, location: blobstore.ContainerLocation, folder: str) -> str:
    payload = await _fetch(location, folder, hsm, RESTORE_FAILED)
    await asyncio.to_thread(_replace_state, db, hsm, payload)
    counts = backup_archive.summary(payload)
    return (
        f"Full restore completed from {location.folder_url(folder)}: {counts['keys']} key(s), "
        f"{counts['roleDefinitions']} custom role definition(s), {counts['roleAssignments']} role assignment(s)"
    )


async def _run_selective_restore(
    db: Database, hsm: HsmContext, location: blobstore.ContainerLocation, folder: str, key_name: str
) -> str:
    payload = await _fetch(location, folder, hsm, RESTORE_FAILED)
    try:
        entry = backup_archive.find_key(payload, key_name)
    except ArchiveError as exc:
        raise _archive_failure(RESTORE_FAILED, exc) from None
    await asyncio.to_thread(_replace_key, db, hsm, entry)
    return f"Selective key restore completed: key {entry.name} ({len(entry.versions)} version(s))"


async def _run_pre_restore(hsm: HsmContext, location: blobstore.ContainerLocation, folder: str) -> str:
    payload = await _fetch(location, folder, hsm, "PreRestoreFailed")
    return f"Pre-restore check succeeded: the backup holds {len(payload.keys)} key(s) and can be restored here"


def _folder(
    storage_resource_uri: str, folder: str, token: str | None, managed: bool
) -> tuple[blobstore.ContainerLocation, str]:
    try:
        return blobstore.locate_folder(storage_resource_uri, folder, token, managed)
    except blobstore.InvalidStorageLocation as exc:
        raise storage_location_error(exc) from None


@register("PUT", "/restore")
async def start_restore(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.RESTORE_START, scopes.HSM_SCOPE)
    body = await call.body(RestoreOperationParameters)
    sas = body.sas_token_parameters
    location, folder = _folder(sas.storage_resource_uri, body.folder_to_restore, sas.token, sas.use_managed_identity)
    with call.db.transaction() as tx:
        job = jobs.start_job(tx, call.hsm.id, JobKind.RESTORE, call.now(), location.folder_url(folder))
    hsm, db = call.hsm, call.db
    call.emulator.require(JobRunner).spawn(job, lambda: _run_restore(db, hsm, location, folder))
    return accepted(call, job)


@register("PUT", "/prerestore")
async def start_pre_restore(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.RESTORE_START, scopes.HSM_SCOPE)
    body = await call.body(RestoreOperationParameters)
    sas = body.sas_token_parameters
    location, folder = _folder(sas.storage_resource_uri, body.folder_to_restore, sas.token, sas.use_managed_identity)
    with call.db.transaction() as tx:
        job = jobs.start_job(tx, call.hsm.id, JobKind.PRE_RESTORE, call.now(), location.folder_url(folder))
    hsm = call.hsm
    call.emulator.require(JobRunner).spawn(job, lambda: _run_pre_restore(hsm, location, folder))
    return accepted(call, job)


@register("PUT", f"/keys/{NAME}/restore")
async def start_selective_restore(call: Call, m: dict[str, str]) -> Response:
    key_name = keys_service.validate_name(m["name"])
    call.authorize(DataAction.RESTORE_START, scopes.key_scope(key_name))
    body = await call.body(SelectiveKeyRestoreOperationParameters)
    sas = body.sas_token_parameters
    location, folder = _folder(sas.storage_resource_uri, body.folder, sas.token, sas.use_managed_identity)
    with call.db.transaction() as tx:
        job = jobs.start_job(tx, call.hsm.id, JobKind.SELECTIVE_RESTORE, call.now(), location.folder_url(folder))
    hsm, db = call.hsm, call.db
    call.emulator.require(JobRunner).spawn(job, lambda: _run_selective_restore(db, hsm, location, folder, key_name))
    return accepted(call, job)


@register("GET", "/restore/(?P<job>[^/]+)/pending")
async def restore_status(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.RESTORE_STATUS, scopes.HSM_SCOPE)
    with call.db.read() as tx:
        return JSONResponse(jobs.get_job(tx, call.hsm.id, m["job"], backup_family=False).render())

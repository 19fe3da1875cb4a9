"""Full backup of an HSM to Azure Blob Storage: ``POST /backup``, ``POST /prebackup``, ``GET /backup/{jobId}/pending``.

Why this module exists: it is the HTTP face of the backup job. The request is checked up front (RBAC, body,
storage URL, token present: 400 before any job exists), a job row is recorded (409 while another backup or restore
runs), the caller gets 202 with ``Azure-AsyncOperation`` + ``Retry-After: 1``, and the job then snapshots the HSM in
one read transaction (in a worker thread, so the event loop keeps serving) and writes the sealed archive to the
folder ``mhsm-<hsm name>-<YYYYMMDDHHmmss>`` of the container with the customer's SAS token. Any storage failure ends
the job ``Failed`` with the storage's own reason; the manifest is written last, so a failed backup never looks
complete to a restore.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from fastapi.responses import JSONResponse, Response

from hsm_emulator.dataplane import backup_archive, blobstore, jobs, scopes
from hsm_emulator.dataplane.backup_models import SasTokenParameter
from hsm_emulator.dataplane.call import Call
from hsm_emulator.dataplane.errors import bad_parameter
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.dataplane.jobs import Job, JobFailure, JobKind, JobRunner
from hsm_emulator.dataplane.roles import DataAction
from hsm_emulator.dataplane.routes import register
from hsm_emulator.errors import AzureError
from hsm_emulator.storage import Database, Transaction

FOLDER_TIME_FORMAT = "%Y%m%d%H%M%S"
BACKUP_FAILED = "BackupFailed"


def accepted(call: Call, job: Job) -> JSONResponse:
    """The 202 of every job-starting call: the job's status plus where to poll it."""
    family = "backup" if job.kind.is_backup else "restore"
    polling_url = f"{call.hsm.base_url}/{family}/{job.job_id}/pending?api-version={call.api_version}"
    headers = {"Azure-AsyncOperation": polling_url, "Retry-After": "1"}
    return JSONResponse(job.render(), status_code=202, headers=headers)


def storage_location_error(exc: blobstore.InvalidStorageLocation) -> AzureError:
    return bad_parameter(str(exc), "InvalidStorageLocation")


def storage_failure(code: str, exc: blobstore.StorageError) -> JobFailure:
    return JobFailure(code, exc.message, exc.code)


def _folder_name(tx: Transaction, hsm: HsmContext, location: blobstore.ContainerLocation, now: int) -> str:
    """``mhsm-<name>-<UTC YYYYMMDDHHmmss>``; a later second when a backup of this HSM already used that name."""
    moment = now
    while True:
        folder = f"mhsm-{hsm.name}-{dt.datetime.fromtimestamp(moment, dt.UTC).strftime(FOLDER_TIME_FORMAT)}"
        if not jobs.folder_url_taken(tx, hsm.id, location.folder_url(folder)):
            return folder
        moment += 1


def _capture(db: Database, hsm: HsmContext, now: int) -> backup_archive.Archive:
    with db.read() as tx:
        return backup_archive.capture(tx, hsm, hsm.name, now)


async def _run_backup(
    db: Database, hsm: HsmContext, location: blobstore.ContainerLocation, folder: str, now: int
) -> str:
    archive = await asyncio.to_thread(_capture, db, hsm, now)
    async with blobstore.BlobFolder(location, folder) as blobs:
        try:
            await blobs.write(backup_archive.PAYLOAD_BLOB, archive.payload)
            await blobs.write(backup_archive.MANIFEST_BLOB, archive.manifest)
        except blobstore.StorageError as exc:
            raise storage_failure(BACKUP_FAILED, exc) from None
    return f"Full backup completed: {archive.key_count} key(s) written to {blobs.url}"


async def _run_pre_backup(location: blobstore.ContainerLocation, job_id: str) -> str:
    # The check a backup needs: the token may create and delete blobs in that container, and storage answers.
    async with blobstore.BlobFolder(location, f"mhsm-prebackup-check-{job_id}") as blobs:
        try:
            await blobs.write("probe", b"")
            await blobs.delete("probe")
        except blobstore.StorageError as exc:
            raise storage_failure("PreBackupFailed", exc) from None
    return f"Pre-backup check succeeded: a full backup can be written to {location.url}"


def _location(body: SasTokenParameter) -> blobstore.ContainerLocation:
    try:
        return blobstore.locate_container(body.storage_resource_uri, body.token, body.use_managed_identity)
    except blobstore.InvalidStorageLocation as exc:
        raise storage_location_error(exc) from None


@register("POST", "/backup")
async def start_backup(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.BACKUP_START, scopes.HSM_SCOPE)
    location = _location(await call.body(SasTokenParameter))
    now = call.now()
    with call.db.transaction() as tx:
        folder = _folder_name(tx, call.hsm, location, now)
        job = jobs.start_job(tx, call.hsm.id, JobKind.BACKUP, now, location.folder_url(folder))
    hsm, db = call.hsm, call.db
    call.emulator.require(JobRunner).spawn(job, lambda: _run_backup(db, hsm, location, folder, now))
    return accepted(call, job)


@register("POST", "/prebackup")
async def start_pre_backup(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.BACKUP_START, scopes.HSM_SCOPE)
    location = _location(await call.body(SasTokenParameter))
    with call.db.transaction() as tx:
        job = jobs.start_job(tx, call.hsm.id, JobKind.PRE_BACKUP, call.now())
    call.emulator.require(JobRunner).spawn(job, lambda: _run_pre_backup(location, job.job_id))
    return accepted(call, job)


@register("GET", "/backup/(?P<job>[^/]+)/pending")
async def backup_status(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.BACKUP_STATUS, scopes.HSM_SCOPE)
    with call.db.read() as tx:
        return JSONResponse(jobs.get_job(tx, call.hsm.id, m["job"], backup_family=True).render())

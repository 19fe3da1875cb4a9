"""Long-running administrative jobs of an HSM (full backup, restore, selective key restore, pre-checks).

Why this module exists: the real service runs at most one backup or restore per HSM at a time, answers 202 at once
and reports progress at ``/backup/{jobId}/pending`` or ``/restore/{jobId}/pending``. Jobs are rows in SQLite, so
their status survives a restart; a job still ``InProgress`` when the emulator starts was cut short by a crash or a
stop and is marked ``Failed`` (its work is transactional, so nothing of it was applied). The work itself runs as an
asyncio task owned by :class:`JobRunner`, which the data plane's lifespan cancels on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from hsm_emulator.dataplane import errors
from hsm_emulator.errors import AzureError
from hsm_emulator.storage import Database, Migration, Transaction

if TYPE_CHECKING:
    from hsm_emulator.runtime import Emulator

MIGRATIONS = (
    Migration(
        "dataplane.jobs",
        1,
        (
            """CREATE TABLE IF NOT EXISTS dp_jobs (
                hsm_id TEXT NOT NULL,
                job_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                status_details TEXT NOT NULL,
                error_code TEXT,
                error_inner_code TEXT,
                error_message TEXT,
                start_time INTEGER NOT NULL,
                end_time INTEGER,
                folder_url TEXT,
                PRIMARY KEY (hsm_id, job_id)
            )""",
            "CREATE INDEX IF NOT EXISTS dp_jobs_running ON dp_jobs (hsm_id, status)",
        ),
    ),
)

logger = logging.getLogger(__name__)


class JobKind(StrEnum):
    BACKUP = "backup"
    PRE_BACKUP = "prebackup"
    RESTORE = "restore"
    PRE_RESTORE = "prerestore"
    SELECTIVE_RESTORE = "selectiverestore"

    @property
    def is_backup(self) -> bool:
        """Backup-family jobs report at /backup/{id}/pending, the others at /restore/{id}/pending."""
        return self in (JobKind.BACKUP, JobKind.PRE_BACKUP)


class JobStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


_RUNNING_DETAILS = {
    JobKind.BACKUP: "Full backup is in progress",
    JobKind.PRE_BACKUP: "Pre-backup check is in progress",
    JobKind.RESTORE: "Full restore is in progress",
    JobKind.PRE_RESTORE: "Pre-restore check is in progress",
    JobKind.SELECTIVE_RESTORE: "Selective key restore is in progress",
}


class JobFailure(Exception):
    """How a job failed: rendered as the job's ``error`` ({code, message, innererror})."""

    def __init__(self, code: str, message: str, inner_code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.inner_code = inner_code


@dataclass(frozen=True)
class Job:
    hsm_id: str
    job_id: str
    kind: JobKind
    status: JobStatus
    status_details: str
    error: JobFailure | None
    start_time: int
    end_time: int | None
    folder_url: str | None

    def render(self) -> dict[str, Any]:
        """FullBackupOperation / RestoreOperation / SelectiveKeyRestoreOperation (backuprestore.json)."""
        error = None
        if self.error is not None:
            error = {
                "code": self.error.code,
                "message": self.error.message,
                "innererror": {"code": self.error.inner_code} if self.error.inner_code else None,
            }
        body: dict[str, Any] = {
            "status": self.status.value,
            "statusDetails": self.status_details,
            "error": error,
            "jobId": self.job_id,
            "startTime": self.start_time,
            "endTime": self.end_time,
        }
        if self.kind is JobKind.BACKUP:
            body["azureStorageBlobContainerUri"] = self.folder_url
        return body


def _job(row: Any) -> Job:
    error = None
    if row["error_code"] is not None:
        error = JobFailure(row["error_code"], row["error_message"] or "", row["error_inner_code"])
    return Job(
        hsm_id=row["hsm_id"],
        job_id=row["job_id"],
        kind=JobKind(row["kind"]),
        status=JobStatus(row["status"]),
        status_details=row["status_details"],
        error=error,
        start_time=row["start_time"],
        end_time=row["end_time"],
        folder_url=row["folder_url"],
    )


def running_job(tx: Transaction, hsm_id: str) -> Job | None:
    row = tx.one("SELECT * FROM dp_jobs WHERE hsm_id = ? AND status = ?", (hsm_id, JobStatus.IN_PROGRESS.value))
    return _job(row) if row else None


def folder_url_taken(tx: Transaction, hsm_id: str, folder_url: str) -> bool:
    return tx.one("SELECT 1 FROM dp_jobs WHERE hsm_id = ? AND folder_url = ?", (hsm_id, folder_url)) is not None


def start_job(tx: Transaction, hsm_id: str, kind: JobKind, now: int, folder_url: str | None = None) -> Job:
    """Record a new InProgress job; 409 Conflict while another backup or restore of this HSM runs."""
    running = running_job(tx, hsm_id)
    if running is not None:
        raise errors.conflict(
            f"A {running.kind.value} operation (job {running.job_id}) is already in progress on this Managed HSM; "
            "only one backup or restore can run at a time. Retry when it has finished.",
            inner_code="OperationInProgress",
        )
    job = Job(
        hsm_id=hsm_id,
        job_id=uuid.uuid4().hex,
        kind=kind,
        status=JobStatus.IN_PROGRESS,
        status_details=_RUNNING_DETAILS[kind],
        error=None,
        start_time=now,
        end_time=None,
        folder_url=folder_url,
    )
    tx.execute(
        "INSERT INTO dp_jobs (hsm_id, job_id, kind, status, status_details, start_time, folder_url)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (hsm_id, job.job_id, kind.value, job.status.value, job.status_details, now, folder_url),
    )
    return job


def finish_job(tx: Transaction, job: Job, now: int, details: str) -> None:
    tx.execute(
        "UPDATE dp_jobs SET status = ?, status_details = ?, end_time = ? WHERE hsm_id = ? AND job_id = ?",
        (JobStatus.SUCCEEDED.value, details, now, job.hsm_id, job.job_id),
    )


def fail_job(tx: Transaction, job: Job, now: int, failure: JobFailure) -> None:
    tx.execute(
        "UPDATE dp_jobs SET status = ?, status_details = ?, end_time = ?, error_code = ?, error_inner_code = ?,"
        " error_message = ? WHERE hsm_id = ? AND job_id = ?",
        (
            JobStatus.FAILED.value,
            failure.message,
            now,
            failure.code,
            failure.inner_code,
            failure.message,
            job.hsm_id,
            job.job_id,
        ),
    )


def get_job(tx: Transaction, hsm_id: str, job_id: str, *, backup_family: bool) -> Job:
    row = tx.one("SELECT * FROM dp_jobs WHERE hsm_id = ? AND job_id = ?", (hsm_id, job_id))
    job = _job(row) if row else None
    if job is None or job.kind.is_backup != backup_family:
        what = "backup" if backup_family else "restore"
        raise AzureError(f"No {what} job with id {job_id} exists on this Managed HSM.", code="NotFound", status=404)
    return job


def fail_interrupted_jobs(db: Database, now: int) -> int:
    """Start-up: jobs still InProgress were cut short by a stop or crash; returns how many were marked Failed."""
    with db.transaction() as tx:
        cursor = tx.execute(
            "UPDATE dp_jobs SET status = ?, status_details = ?, end_time = ?, error_code = ?, error_message = ?"
            " WHERE status = ?",
            (
                JobStatus.FAILED.value,
                _INTERRUPTED,
                now,
                "JobInterrupted",
                _INTERRUPTED,
                JobStatus.IN_PROGRESS.value,
            ),
        )
        return int(cursor.rowcount)


_INTERRUPTED = (
    "The operation was interrupted because the Managed HSM service restarted; nothing of it was applied. "
    "Start it again."
)

Work = Callable[[], Awaitable[str]]  # returns the statusDetails of success; raises JobFailure


class JobRunner:
    """Runs job bodies as asyncio tasks and records their outcome; one per emulator (``emulator.require``)."""

    def __init__(self, db: Database, clock: Callable[[], int]) -> None:
        self._db = db
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, job: Job, work: Work) -> None:
        task = asyncio.get_running_loop().create_task(self._run(job, work), name=f"hsm-job-{job.job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job, work: Work) -> None:
        failure: JobFailure | None = None
        details = ""
        try:
            details = await work()
        except JobFailure as exc:
            failure = exc
        except asyncio.CancelledError:
            self._record(job, JobFailure("JobInterrupted", _INTERRUPTED))
            raise
        except Exception as exc:  # a bug: the job still ends Failed rather than InProgress forever
            logger.exception("job %s (%s) failed unexpectedly", job.job_id, job.kind.value)
            failure = JobFailure("InternalError", f"The {job.kind.value} job failed unexpectedly: {exc}")
        self._record(job, failure, details)

    def _record(self, job: Job, failure: JobFailure | None, details: str = "") -> None:
        with self._db.transaction() as tx:
            if failure is None:
                finish_job(tx, job, self._clock(), details)
            else:
                fail_job(tx, job, self._clock(), failure)

    async def wait_idle(self) -> None:
        """Wait until every running job has ended (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.wait_idle()


@contextlib.asynccontextmanager
async def running(runner: JobRunner) -> AsyncIterator[None]:
    """While the server runs; on shutdown running jobs are cancelled and recorded as Failed."""
    try:
        yield
    finally:
        await runner.cancel_all()


def start(emulator: Emulator) -> None:
    """Plane start hook: fail the jobs a previous run left InProgress, then offer the runner to the routes."""
    interrupted = fail_interrupted_jobs(emulator.db, emulator.now())
    if interrupted:
        logger.warning("marked %d interrupted backup/restore job(s) Failed", interrupted)
    emulator.provide(JobRunner(emulator.db, emulator.now))


def lifespan(emulator: Emulator) -> AbstractAsyncContextManager[None]:
    """Plane lifespan hook: running jobs are cancelled (and recorded Failed) when the server stops."""
    return running(emulator.require(JobRunner))

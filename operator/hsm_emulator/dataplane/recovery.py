"""Security-domain recovery: bring a fresh HSM up with the master key of an existing security domain.

Why this module exists: disaster recovery needs a new HSM to take over an old HSM's security domain, so the old
HSM's full backup can be restored into it. The three calls (securitydomain.json):

- ``GET /securitydomain/upload`` -> ``{"key_format": "jwk", "transfer_key": {...}}``: the HSM's transfer (exchange)
  key. Its private part is kept sealed under the emulator's hardware root key and reused until an upload succeeds.
- ``POST /securitydomain/upload`` body ``{"value": <restore-blob output>}`` -> 202 + ``Azure-AsyncOperation`` and
  ``{"status", "status_details"}``. The upload is opened with the transfer key (the library in
  ``hsm_emulator.securitydomain`` checks wrapping, fingerprint and integrity); on success, in ONE transaction, the
  HSM's master key becomes the domain's, the transfer key is consumed and the HSM is activated (ARM
  ``activationStatus: Active`` too). A tampered, foreign or mis-wrapped upload ends ``Failed`` and changes nothing.
  The upload is processed within the request, but the 202 reports ``InProgress`` (the documented shape) and the
  outcome is read from the status endpoint, which is how the SDK's poller learns of a failure.
- ``GET /securitydomain/upload/pending`` -> the outcome of the last upload.

Emulator decision (the real service does not document uploads into an HSM that is already in use): an upload is
accepted only while the HSM holds no keys (active or soft-deleted) and no backup/restore job runs, whether or not
the HSM was activated; otherwise 409 Conflict. Replacing the master key under existing keys would make them
unreadable, which no real HSM allows. All three calls work before activation, like the download.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from hsm_emulator.crypto import sealing
from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.dataplane import errors, hsm_state, jobs, keys_store, scopes
from hsm_emulator.dataplane.call import Call
from hsm_emulator.dataplane.roles import DataAction
from hsm_emulator.dataplane.routes import register
from hsm_emulator.management import service as management
from hsm_emulator.securitydomain import TransferKey, create_transfer_key, open_upload
from hsm_emulator.storage import Migration, Transaction

MIGRATIONS = (
    Migration(
        "dataplane.recovery",
        1,
        (
            """CREATE TABLE IF NOT EXISTS dp_sd_recovery (
                hsm_id TEXT PRIMARY KEY,
                sealed_transfer_key BLOB,
                upload_status TEXT,
                upload_details TEXT,
                updated INTEGER NOT NULL
            )""",
        ),
    ),
)

SUCCESS = "Success"  # the security-domain operations say "Success", not "Succeeded"
FAILED = "Failed"
IN_PROGRESS = "InProgress"


class UploadBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    value: StrictStr


def _binding(hsm_id: str) -> bytes:
    return f"mhsm-sd-transfer-key:{hsm_id}".encode()


def _stored_transfer_key(tx: Transaction, root_key: bytes, hsm_id: str) -> TransferKey | None:
    row = tx.one("SELECT sealed_transfer_key FROM dp_sd_recovery WHERE hsm_id = ?", (hsm_id,))
    if row is None or row["sealed_transfer_key"] is None:
        return None
    return TransferKey.from_pem(sealing.unseal(root_key, bytes(row["sealed_transfer_key"]), _binding(hsm_id)))


def _store_transfer_key(tx: Transaction, root_key: bytes, hsm_id: str, key: TransferKey, now: int) -> TransferKey:
    """Keep ``key`` unless a concurrent request stored one first (then that one wins, for both callers)."""
    existing = _stored_transfer_key(tx, root_key, hsm_id)
    if existing is not None:
        return existing
    tx.execute(
        "INSERT INTO dp_sd_recovery (hsm_id, sealed_transfer_key, updated) VALUES (?, ?, ?)"
        " ON CONFLICT (hsm_id) DO UPDATE SET sealed_transfer_key = excluded.sealed_transfer_key,"
        " updated = excluded.updated",
        (hsm_id, sealing.seal(root_key, key.to_pem(), _binding(hsm_id)), now),
    )
    return key


def _record_upload(tx: Transaction, hsm_id: str, status: str, details: str, now: int, *, consume_key: bool) -> None:
    tx.execute(
        "INSERT INTO dp_sd_recovery (hsm_id, upload_status, upload_details, updated) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (hsm_id) DO UPDATE SET upload_status = excluded.upload_status,"
        " upload_details = excluded.upload_details, updated = excluded.updated",
        (hsm_id, status, details, now),
    )
    if consume_key:
        tx.execute("UPDATE dp_sd_recovery SET sealed_transfer_key = NULL WHERE hsm_id = ?", (hsm_id,))


def _status(status: str, details: str) -> dict[str, Any]:
    return {"status": status, "status_details": details}


def _check_empty(tx: Transaction, call: Call) -> None:
    count = keys_store.count_keys(tx, call.hsm.id)
    if count:
        raise errors.conflict(
            f"Managed HSM {call.hsm.name} holds {count} key(s): a security domain can be uploaded only into an HSM "
            "that holds no keys (its keys would become unreadable). Use a new HSM for recovery.",
            inner_code="HsmNotEmpty",
        )
    running = jobs.running_job(tx, call.hsm.id)
    if running is not None:
        raise errors.conflict(
            f"A {running.kind.value} operation (job {running.job_id}) is in progress; upload the security domain "
            "when it has finished.",
            inner_code="OperationInProgress",
        )


def _upload(call: Call, transfer_key: TransferKey, value: str) -> None:
    """Open the upload and switch the HSM over, recording the outcome. Runs in a worker thread."""
    now = call.now()
    try:
        master_key = open_upload(value, transfer_key)
    except CryptoError as exc:
        details = f"The security domain upload failed and the HSM is unchanged: {exc.message}"
        with call.db.transaction() as tx:
            _record_upload(tx, call.hsm.id, FAILED, details, now, consume_key=False)
        return
    details = "The security domain was restored; the HSM is active."
    with call.db.transaction() as tx:
        _check_empty(tx, call)  # again, inside the switching transaction: nothing can slip in between
        hsm_state.replace_master_key(tx, call.emulator.hardware_root_key, call.hsm.id, master_key)
        _record_upload(tx, call.hsm.id, SUCCESS, details, now, consume_key=True)
        management.mark_activated(call.db, call.hsm.id)  # joins this transaction: all or nothing


@register("GET", "/securitydomain/upload", before_activation=True)
async def get_transfer_key(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.SD_TRANSFER_KEY_READ, scopes.HSM_SCOPE)
    root_key = call.emulator.hardware_root_key
    with call.db.read() as tx:
        key = _stored_transfer_key(tx, root_key, call.hsm.id)
    if key is None:
        fresh = await asyncio.to_thread(create_transfer_key)  # RSA key generation: not on the event loop
        with call.db.transaction() as tx:
            key = _store_transfer_key(tx, root_key, call.hsm.id, fresh, call.now())
    return JSONResponse(key.response())


@register("POST", "/securitydomain/upload", before_activation=True)
async def upload_security_domain(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.SD_UPLOAD, scopes.HSM_SCOPE)
    raw = await call.request.body()
    try:
        body = UploadBody.model_validate(json.loads(raw))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError):
        raise errors.bad_parameter(
            "The request body must be a JSON object with a string 'value': the security domain prepared for this "
            "HSM's transfer key (restore-blob output)."
        ) from None
    with call.db.read() as tx:
        _check_empty(tx, call)
        transfer_key = _stored_transfer_key(tx, call.emulator.hardware_root_key, call.hsm.id)
    if transfer_key is None:
        raise errors.bad_parameter(
            "This HSM has no pending transfer key: get one with GET /securitydomain/upload, run restore-blob with it, "
            "then upload the result.",
            "TransferKeyNotFound",
        )
    await asyncio.to_thread(_upload, call, transfer_key, body.value)
    # The outcome is recorded already, but the 202 says InProgress as the real service's does: the SDK poller only
    # raises for a Failed status it reads while polling (an initial Failed would be returned as success).
    polling_url = f"{call.hsm.base_url}/securitydomain/upload/pending?api-version={call.api_version}"
    return JSONResponse(
        _status(IN_PROGRESS, "The security domain upload is being processed."),
        status_code=202,
        headers={"Azure-AsyncOperation": polling_url, "Retry-After": "1"},
    )


@register("GET", "/securitydomain/upload/pending", before_activation=True)
async def upload_status(call: Call, m: dict[str, str]) -> Response:
    call.authorize(DataAction.SD_UPLOAD_READ, scopes.HSM_SCOPE)
    with call.db.read() as tx:
        row = tx.one("SELECT upload_status, upload_details FROM dp_sd_recovery WHERE hsm_id = ?", (call.hsm.id,))
    if row is not None and row["upload_status"] is not None:
        return JSONResponse(_status(row["upload_status"], row["upload_details"]))
    if call.activated:
        return JSONResponse(_status(SUCCESS, "No security domain was uploaded; the HSM is active."))
    return JSONResponse(_status(IN_PROGRESS, "Waiting for a security domain upload."))

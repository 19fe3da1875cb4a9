"""Activation by security-domain download: the only data-plane call a new HSM accepts.

``POST /securitydomain/download`` (3-10 certificates, quorum 2..N, caller allowed ``securitydomain/download/action``)
answers 202 with the security domain (the HSM's master key protected by a Shamir split among the certificates) and
``Azure-AsyncOperation`` + ``Retry-After: 1``; the HSM becomes Active in the management plane too.

A second download on an already active HSM is refused with 409 Conflict (emulator decision: the real service's
behaviour is not documented; refusing keeps one security domain per HSM, which the recovery story relies on).
"""

from __future__ import annotations

import json
from typing import Any

from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.dataplane import errors, hsm_state
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.errors import AzureError
from hsm_emulator.management import service as management
from hsm_emulator.securitydomain.download import create_security_domain
from hsm_emulator.storage import Database


def download(db: Database, hsm: HsmContext, body: dict[str, Any], already_active: bool, now: int) -> str:
    """Create the security domain for the HSM's master key and activate the HSM; returns the SD JSON string."""
    if already_active:
        raise errors.conflict(
            f"The security domain of Managed HSM {hsm.name} has already been downloaded and the HSM is active; it "
            "can be downloaded only once.",
            inner_code="SecurityDomainAlreadyDownloaded",
        )
    try:
        security_domain = create_security_domain(hsm.master_key, body)
    except CryptoError as exc:
        raise AzureError(exc.message, code="BadParameter", inner_code=exc.inner_code, status=400) from None
    certificates = body.get("certificates") or []
    with db.transaction() as tx:
        hsm_state.record_download(tx, hsm.id, now, int(body.get("required", 2)), len(certificates))
    management.mark_activated(db, hsm.id)
    return security_domain


def status(downloaded: bool) -> dict[str, Any]:
    if not downloaded:
        return {"status": "InProgress", "status_details": "The security domain download has not completed."}
    return {"status": "Success", "status_details": "The security domain download completed; the HSM is active."}


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.bad_parameter(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise errors.bad_parameter("The request body must be a JSON object (CertificateInfoObject).")
    return document

"""Server-side recovery step: open an uploaded security domain with this HSM's transfer key.

The result is the master key of the HSM the domain was downloaded from, so the recovering HSM can decrypt that
HSM's key material and backups. Errors distinguish a blob made for another transfer key, a malformed document and a
tampered one.
"""

from __future__ import annotations

from hsm_emulator.securitydomain import jwe
from hsm_emulator.securitydomain.document import UploadDocument, parse_document
from hsm_emulator.securitydomain.encdata import open_master_key
from hsm_emulator.securitydomain.errors import SecurityDomainError
from hsm_emulator.securitydomain.restore import UPLOAD_KEY_BYTES
from hsm_emulator.securitydomain.transfer import TransferKey


def open_upload(upload_value: str, transfer_key: TransferKey) -> bytes:
    """The recovered master key; ``upload_value`` is the ``value`` of the upload body (or the whole body)."""
    document = parse_document(UploadDocument, upload_value, "security domain upload")
    if document.wrapped_key.x5t_256 != transfer_key.thumbprint:
        raise SecurityDomainError(
            "The security domain was wrapped to another transfer key (WrappedKey.x5t_256 "
            f"{document.wrapped_key.x5t_256}, this HSM's is {transfer_key.thumbprint}): fetch the transfer key with "
            "GET /securitydomain/upload and run restore-blob again."
        )
    try:
        upload_key = jwe.decrypt_with_private_key(transfer_key.private_key, document.wrapped_key.enc_key, "WrappedKey")
    except SecurityDomainError as error:
        raise SecurityDomainError(
            f"The security domain's WrappedKey does not open with this HSM's transfer key ({error.message})"
        ) from None
    if len(upload_key) != UPLOAD_KEY_BYTES:
        raise SecurityDomainError(f"The security domain's WrappedKey holds {len(upload_key)} bytes, not 32.")
    return open_master_key(
        upload_key, document.enc_data, document.fingerprint, failure="The uploaded security domain was modified"
    )

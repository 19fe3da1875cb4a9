"""The Managed HSM security domain: how an HSM's master key leaves it (download, split among certificate holders
with Shamir's scheme) and comes back (restore-blob on the client, upload into a new HSM).

Public API (all errors are ``SecurityDomainError``, a ``CryptoError``):

* ``parse_certificate_info(body)`` / ``create_security_domain(master_key, body_or_parsed) -> str`` (download)
* ``create_transfer_key() -> TransferKey`` (``.response()`` for GET /securitydomain/upload, ``.to_pem()``/``from_pem``)
* ``restore_blob(sd_json, transfer_key_response, [(key_pem, cert_pem), ...]) -> str`` (client side)
* ``open_upload(upload_value, transfer_key) -> master_key`` (server side)
* ``master_key_fingerprint(master_key) -> str`` (compare security domains without revealing keys)
"""

from hsm_emulator.securitydomain.certificates import CertificateSet, parse_certificate_info
from hsm_emulator.securitydomain.document import master_key_fingerprint
from hsm_emulator.securitydomain.download import create_security_domain
from hsm_emulator.securitydomain.errors import NotEnoughSharesError, SecurityDomainError
from hsm_emulator.securitydomain.restore import restore_blob
from hsm_emulator.securitydomain.transfer import TransferKey, create_transfer_key
from hsm_emulator.securitydomain.upload import open_upload

__all__ = [
    "CertificateSet",
    "NotEnoughSharesError",
    "SecurityDomainError",
    "TransferKey",
    "create_security_domain",
    "create_transfer_key",
    "master_key_fingerprint",
    "open_upload",
    "parse_certificate_info",
    "restore_blob",
]

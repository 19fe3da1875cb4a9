"""Client-side recovery step (``restore-blob``): re-wrap a downloaded security domain to a new HSM's transfer key.

What ``az keyvault security-domain restore-blob`` does: decrypt at least a quorum of shares with the certificate
holders' private keys, recombine the domain key, open the master key (checked against the fingerprint), seal it
under a fresh key and wrap that key to the transfer key. Keys whose certificate holds no share are skipped; when
fewer than the quorum remain, the error says how many were usable, how many are required, and why each key failed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from hsm_emulator.securitydomain import jwe, shamir
from hsm_emulator.securitydomain.certificates import SecurityDomainJsonWebKey, ShareHolder, share_holder
from hsm_emulator.securitydomain.document import (
    FORMAT_VERSION,
    SecurityDomainDocument,
    UploadDocument,
    WrappedKey,
    certificate_thumbprint,
    parse_document,
    to_json,
    validate,
)
from hsm_emulator.securitydomain.encdata import open_master_key, seal_master_key
from hsm_emulator.securitydomain.errors import NotEnoughSharesError, SecurityDomainError

UPLOAD_KEY_BYTES = 32
KeyAndCertificate = tuple[bytes, bytes]  # (private key PEM, certificate PEM)


def restore_blob(sd_json: str, transfer_key: Mapping[str, Any] | str, private_keys: Sequence[KeyAndCertificate]) -> str:
    """Return the upload document (a JSON string: the ``value`` of ``POST /securitydomain/upload``).

    ``sd_json`` is the download result (``{"value": ...}`` or the document itself), ``transfer_key`` the
    ``GET /securitydomain/upload`` result (or its ``transfer_key`` JWK), ``private_keys`` PEM (key, certificate) pairs.
    """
    document = parse_document(SecurityDomainDocument, sd_json, "security domain")
    exchange = _transfer_key_holder(transfer_key)
    shares = _decrypt_shares(document, private_keys)
    domain_key = shamir.combine(shares)
    master_key = open_master_key(
        domain_key,
        document.enc_data,
        document.fingerprint,
        failure="The decrypted shares do not recombine to this security domain's key",
    )
    upload_key = secrets.token_bytes(UPLOAD_KEY_BYTES)
    wrapped = jwe.encrypt_to_public_key(
        exchange.public_key, upload_key, {"kid": exchange.kid, "x5t#S256": exchange.thumbprint}
    )
    upload = UploadDocument(
        enc_data=seal_master_key(upload_key, master_key),
        wrapped_key=WrappedKey(enc_key=wrapped, x5t_256=exchange.thumbprint),
        fingerprint=document.fingerprint,
        version=FORMAT_VERSION,
    )
    return to_json(upload)


def _transfer_key_holder(transfer_key: Mapping[str, Any] | str) -> ShareHolder:
    data: Any = transfer_key
    try:
        if isinstance(data, str):
            data = json.loads(data)
        if isinstance(data, Mapping) and "transfer_key" in data:
            if data.get("key_format", "jwk") != "jwk":
                raise SecurityDomainError(f"Invalid transfer key: key_format is {data.get('key_format')!r}, not 'jwk'.")
            data = data["transfer_key"]
            if isinstance(data, str):  # some service versions send the JWK as a JSON string
                data = json.loads(data)
    except ValueError:
        raise SecurityDomainError("Invalid transfer key: not valid JSON.") from None
    jwk = validate(SecurityDomainJsonWebKey, data, "transfer key")
    return share_holder(jwk, "transfer_key", what="transfer key")


def _decrypt_shares(document: SecurityDomainDocument, private_keys: Sequence[KeyAndCertificate]) -> list[shamir.Share]:
    shares_by_thumbprint = {share.x5t_256: share for share in document.shared_keys.enc_shares}
    required = document.shared_keys.required
    shares: dict[int, shamir.Share] = {}
    problems: list[str] = []
    for number, (key_pem, certificate_pem) in enumerate(private_keys, start=1):
        private_key, certificate = _load_pair(key_pem, certificate_pem, number)
        thumbprint = certificate_thumbprint(certificate)
        enc_share = shares_by_thumbprint.get(thumbprint)
        if enc_share is None:
            subject = certificate.subject.rfc4514_string()
            problems.append(f"key {number} ({subject}) holds no share of this security domain")
            continue
        try:
            share = shamir.Share.from_bytes(
                jwe.decrypt_with_private_key(private_key, enc_share.enc_key, f"the share of key {number}")
            )
        except SecurityDomainError as error:
            problems.append(error.message.rstrip("."))
            continue
        shares.setdefault(share.x, share)  # the same key given twice counts once
    if len(shares) < required:
        reasons = f": {'; '.join(problems)}" if problems else ""
        raise NotEnoughSharesError(
            f"Not enough keys to restore the security domain: {len(shares)} usable share(s), {required} required "
            f"(quorum), from {len(private_keys)} key(s) given{reasons}."
        )
    return list(shares.values())


def _load_pair(key_pem: bytes, certificate_pem: bytes, number: int) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    try:
        private_key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise SecurityDomainError(
            f"Key {number} is not an unencrypted PEM private key (decrypt password-protected keys first)."
        ) from None
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        raise SecurityDomainError(f"Certificate {number} is not a PEM X.509 certificate.") from None
    if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.public_key() != certificate.public_key():
        raise SecurityDomainError(f"Key {number} does not belong to certificate {number}: their public keys differ.")
    return private_key, certificate

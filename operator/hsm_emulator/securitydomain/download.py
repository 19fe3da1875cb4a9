"""Security-domain download: split the HSM's master key protection among the customer's certificates.

A random domain key is split with Shamir's scheme (threshold = quorum, one share per certificate); each share is
encrypted to its certificate's RSA key; the master key is encrypted under a key derived from the domain key. Only a
quorum of private keys can rebuild the domain key and so the master key (see ``document`` for the wire shape).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from hsm_emulator.securitydomain import jwe, shamir
from hsm_emulator.securitydomain.certificates import CertificateSet, parse_certificate_info
from hsm_emulator.securitydomain.document import (
    FORMAT_VERSION,
    EncShare,
    SecurityDomainDocument,
    SharedKeys,
    master_key_fingerprint,
    to_json,
)
from hsm_emulator.securitydomain.encdata import seal_master_key

DOMAIN_KEY_BYTES = 32


def create_security_domain(master_key: bytes, certificates: CertificateSet | Mapping[str, Any]) -> str:
    """The SD document (a JSON string: the ``value`` of the download response) for ``master_key``.

    ``certificates`` is the request body (``CertificateInfoObject``) or its parsed form from
    ``parse_certificate_info``; invalid input raises ``SecurityDomainError`` naming the field.
    """
    certificate_set = certificates if isinstance(certificates, CertificateSet) else parse_certificate_info(certificates)
    domain_key = secrets.token_bytes(DOMAIN_KEY_BYTES)
    enc_data = seal_master_key(domain_key, master_key)
    shares = shamir.split(domain_key, certificate_set.required, len(certificate_set.holders))
    enc_shares = [
        EncShare(
            enc_key=jwe.encrypt_to_public_key(
                holder.public_key, share.to_bytes(), {"kid": holder.kid, "x5t#S256": holder.thumbprint}
            ),
            x5t_256=holder.thumbprint,
        )
        for holder, share in zip(certificate_set.holders, shares, strict=True)
    ]
    document = SecurityDomainDocument(
        enc_data=enc_data,
        shared_keys=SharedKeys(enc_shares=enc_shares, required=certificate_set.required),
        fingerprint=master_key_fingerprint(master_key),
        version=FORMAT_VERSION,
    )
    return to_json(document)

"""EncData: the security domain's payload, encrypted under keys derived from one 256-bit key.

Download seals the master key under the Shamir-shared domain key; restore-blob opens it with the recombined key and
seals it again under a fresh key that travels wrapped to the transfer key. Both ends check the master key against
the document's fingerprint, so foreign shares or a mixed-up document fail with a clear message.
"""

from __future__ import annotations

from hsm_emulator.securitydomain import jwe
from hsm_emulator.securitydomain.document import (
    KDF_NAME,
    MASTER_KEY_BYTES,
    MASTER_KEY_TAG,
    Datum,
    EncData,
    derive_data_key,
    master_key_fingerprint,
)
from hsm_emulator.securitydomain.errors import SecurityDomainError


def seal_master_key(key: bytes, master_key: bytes) -> EncData:
    if len(master_key) != MASTER_KEY_BYTES:
        raise SecurityDomainError(f"An HSM master key is {MASTER_KEY_BYTES} bytes; got {len(master_key)}.")
    entry = jwe.encrypt_direct(derive_data_key(key, MASTER_KEY_TAG), master_key, kid=MASTER_KEY_TAG)
    return EncData(data=[Datum(compact_jwe=entry, tag=MASTER_KEY_TAG)], kdf=KDF_NAME)


def open_master_key(key: bytes, enc_data: EncData, fingerprint: str, failure: str) -> bytes:
    """Decrypt the master key entry; ``failure`` explains what a wrong key means to the caller."""
    entries = [datum for datum in enc_data.data if datum.tag == MASTER_KEY_TAG]
    if len(entries) != 1:
        raise SecurityDomainError(f"The security domain must hold exactly one {MASTER_KEY_TAG!r} entry in EncData.")
    try:
        master_key = jwe.decrypt_direct(
            derive_data_key(key, MASTER_KEY_TAG), entries[0].compact_jwe, f"EncData entry {MASTER_KEY_TAG!r}"
        )
    except SecurityDomainError as error:
        raise SecurityDomainError(f"{failure} ({error.message})") from None
    if len(master_key) != MASTER_KEY_BYTES or master_key_fingerprint(master_key) != fingerprint:
        raise SecurityDomainError(f"{failure} (the recovered master key does not match the domain's Fingerprint).")
    return master_key

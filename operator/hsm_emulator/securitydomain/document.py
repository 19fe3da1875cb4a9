"""The security domain's wire documents and the small derivations they share.

The shapes mirror the real service's as the Azure CLI reads them (``az keyvault security-domain restore-blob``):

* download (``POST /securitydomain/download`` -> ``{"value": <this document as a JSON string>}``)::

    {"EncData": {"data": [{"compact_jwe": <dir/A256GCM JWE, kid=tag>, "tag": "hsm_backup"}], "kdf": "sp108_kdf"},
     "SharedKeys": {"enc_shares": [{"enc_key": <RSA-OAEP-256/A256GCM JWE of one share>, "x5t_256": <x5t#S256>}],
                    "required": <quorum>},
     "Fingerprint": <master key fingerprint>, "version": "1.0"}

  Shamir's shares recombine to a random *domain key*; each EncData entry is encrypted under a key derived from it
  with SP 800-108 (counter mode, HMAC-SHA512, label = the entry's tag). The "hsm_backup" entry holds the HSM's
  master key. The real service uses A256CBC-HS512 inside its JWEs; we use A256GCM (also authenticated, simpler).

* upload (``POST /securitydomain/upload`` body ``{"value": <this document as a JSON string>}``, made by restore-blob)::

    {"EncData": <as above, re-encrypted under a fresh key>,
     "WrappedKey": {"enc_key": <RSA-OAEP-256/A256GCM JWE of that key to the transfer key>, "x5t_256": <its x5t#S256>},
     "Fingerprint": <master key fingerprint>, "version": "1.0"}

``Fingerprint`` identifies the master key without revealing it, so a recombination from foreign shares or an
upload meant for another domain fails with a clear message.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hsm_emulator.crypto.jwk import b64url_encode
from hsm_emulator.securitydomain.errors import SecurityDomainError

FORMAT_VERSION = "1.0"
KDF_NAME = "sp108_kdf"
MASTER_KEY_TAG = "hsm_backup"
MASTER_KEY_BYTES = 32
_FINGERPRINT_CONTEXT = b"managed-hsm-emulator/master-key-fingerprint/v1\x00"


class WireModel(BaseModel):
    """Wire documents: fields by their wire names (aliases), unknown fields ignored, immutable."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class Datum(WireModel):
    compact_jwe: str
    tag: str = Field(min_length=1)


class EncData(WireModel):
    data: list[Datum] = Field(min_length=1)
    kdf: Literal["sp108_kdf"]


class EncShare(WireModel):
    enc_key: str
    x5t_256: str


class SharedKeys(WireModel):
    enc_shares: list[EncShare] = Field(min_length=2)
    required: int = Field(ge=2, le=10)


class SecurityDomainDocument(WireModel):
    """What download returns (as a JSON string in ``value``) and restore-blob reads."""

    enc_data: EncData = Field(alias="EncData")
    shared_keys: SharedKeys = Field(alias="SharedKeys")
    fingerprint: str = Field(alias="Fingerprint")
    version: Literal["1.0"]


class WrappedKey(WireModel):
    enc_key: str
    x5t_256: str


class UploadDocument(WireModel):
    """What restore-blob writes (as a JSON string in ``value``) and upload opens."""

    enc_data: EncData = Field(alias="EncData")
    wrapped_key: WrappedKey = Field(alias="WrappedKey")
    fingerprint: str = Field(alias="Fingerprint")
    version: Literal["1.0"]


def to_json(document: BaseModel) -> str:
    return json.dumps(document.model_dump(by_alias=True, mode="json"), separators=(",", ":"))


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_document(model: type[ModelT], text: str, what: str) -> ModelT:
    """Parse a JSON document, accepting the ``{"value": "..."}`` envelope the REST API wraps it in."""
    try:
        data: Any = json.loads(text)
        if isinstance(data, dict) and set(data) == {"value"} and isinstance(data["value"], str):
            data = json.loads(data["value"])
    except (ValueError, TypeError):
        raise SecurityDomainError(f"The {what} is not valid JSON.") from None
    return validate(model, data, what)


def validate(model: type[ModelT], data: object, what: str) -> ModelT:
    """Validate with pydantic and report the first problem by its field path, e.g. ``certificates[1].x5c``."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        location = field_path(first["loc"]) or "(document)"
        raise SecurityDomainError(f"Invalid {what}: {location}: {first['msg']}.") from None


def field_path(location: Sequence[int | str]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def sp800_108(key: bytes, label: bytes, context: bytes, length: int) -> bytes:
    """NIST SP 800-108 KDF in counter mode with HMAC-SHA512: PRF(key, [i]32 || label || 0x00 || context || [L]32),
    the construction the real security domain names ``sp108_kdf`` (checked against the Azure CLI's test vector)."""
    kdf = KBKDFHMAC(
        algorithm=hashes.SHA512(),
        mode=Mode.CounterMode,
        length=length,
        rlen=4,
        llen=4,
        location=CounterLocation.BeforeFixed,
        label=label,
        context=context,
        fixed=None,
    )
    return kdf.derive(key)


def derive_data_key(domain_key: bytes, tag: str) -> bytes:
    """The 256-bit key of one EncData entry: sp108_kdf with label = the entry's tag and an empty context."""
    return sp800_108(domain_key, tag.encode("utf-8"), b"", 32)


def master_key_fingerprint(master_key: bytes) -> str:
    """A one-way identifier of an HSM master key: equal fingerprints mean the same security domain."""
    return b64url_encode(hashlib.sha256(_FINGERPRINT_CONTEXT + master_key).digest())


def certificate_thumbprint(certificate: x509.Certificate) -> str:
    """x5t#S256: base64url SHA-256 of the certificate's DER encoding."""
    return b64url_encode(hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest())

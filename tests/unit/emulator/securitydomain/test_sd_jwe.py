"""Compact JWE (RSA-OAEP-256 / dir with A256GCM): interoperable structure, and every failure named."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hsm_emulator.crypto.jwk import b64url_decode, b64url_encode
from hsm_emulator.securitydomain import jwe
from hsm_emulator.securitydomain.errors import SecurityDomainError
from tests.unit.emulator.securitydomain.officers import Holder

KEY = bytes(range(32))


def test_rsa_jwe_follows_rfc7516(holders: list[Holder]) -> None:
    compact = jwe.encrypt_to_public_key(holders[0].private_key.public_key(), b"share", {"kid": "k1"})
    header_text, encrypted_key, iv, ciphertext, tag = compact.split(".")
    assert json.loads(b64url_decode(header_text, "h")) == {"kid": "k1", "alg": "RSA-OAEP-256", "enc": "A256GCM"}
    # decrypt by hand with plain cryptography, as any JOSE library would
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    cek = holders[0].private_key.decrypt(b64url_decode(encrypted_key, "k"), oaep)
    sealed = b64url_decode(ciphertext, "c") + b64url_decode(tag, "t")
    assert AESGCM(cek).decrypt(b64url_decode(iv, "i"), sealed, header_text.encode()) == b"share"
    assert jwe.decrypt_with_private_key(holders[0].private_key, compact, "share") == b"share"


def test_rsa_jwe_for_another_key_fails_clearly(holders: list[Holder]) -> None:
    compact = jwe.encrypt_to_public_key(holders[0].private_key.public_key(), b"share", {})
    with pytest.raises(SecurityDomainError, match="Cannot decrypt share 1: it was not encrypted to this key"):
        jwe.decrypt_with_private_key(holders[1].private_key, compact, "share 1")


def test_direct_jwe_round_trip_and_wrong_key() -> None:
    compact = jwe.encrypt_direct(KEY, b"payload", kid="hsm_backup")
    assert compact.split(".")[1] == ""  # dir: no encrypted key
    assert jwe.decrypt_direct(KEY, compact, "entry") == b"payload"
    with pytest.raises(SecurityDomainError, match="Cannot decrypt entry: wrong key, or the data was modified"):
        jwe.decrypt_direct(bytes(32), compact, "entry")


def test_header_is_authenticated() -> None:
    compact = jwe.encrypt_direct(KEY, b"payload", kid="hsm_backup")
    _, *rest = compact.split(".")
    forged = b64url_encode(json.dumps({"alg": "dir", "enc": "A256GCM", "kid": "other"}).encode())
    with pytest.raises(SecurityDomainError, match="data was modified"):
        jwe.decrypt_direct(KEY, ".".join([forged, *rest]), "entry")


@pytest.mark.parametrize("part", [2, 3, 4])
def test_tampered_parts_are_detected(part: int) -> None:
    pieces = jwe.encrypt_direct(KEY, b"payload", kid="t").split(".")
    raw = bytearray(b64url_decode(pieces[part], "p"))
    raw[0] ^= 1
    pieces[part] = b64url_encode(bytes(raw))
    with pytest.raises(SecurityDomainError, match="modified"):
        jwe.decrypt_direct(KEY, ".".join(pieces), "entry")


@pytest.mark.parametrize(
    ("compact", "message"),
    [
        ("a.b.c", "not a compact JWE"),
        (42, "not a compact JWE"),
        ("!!.a.b.c.d", "not valid base64url or JSON"),
        (b64url_encode(b"not json") + ".a.b.c.d", "not valid base64url or JSON"),
        (b64url_encode(b'{"alg":"RSA1_5","enc":"A256GCM"}') + "..AAAA.AAAA.AAAA", "alg='RSA1_5'"),
        (b64url_encode(b'{"alg":"dir","enc":"A128CBC-HS256"}') + "..AAAA.AAAA.AAAA", "enc='A128CBC-HS256'"),
        (b64url_encode(b'{"alg":"dir","enc":"A256GCM"}') + "..AAAA.AAAA.AAAA", "iv or tag of the wrong length"),
    ],
)
def test_malformed_jwe_is_rejected(compact: object, message: str) -> None:
    with pytest.raises(SecurityDomainError, match=message):
        jwe.decrypt_direct(KEY, compact, "entry")  # type: ignore[arg-type]

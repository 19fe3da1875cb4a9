"""Hashes of passwords and client secrets: the directory never stores either in the clear.

Passwords are often guessable, so they get scrypt. Client secrets in Azure are long random strings; a salted
SHA-256 is enough for them and keeps the token endpoint fast (it is benchmarked).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**12, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    return f"sha256${_b64(salt)}${_b64(hashlib.sha256(salt + secret.encode()).digest())}"


def verify(candidate: str, stored: str) -> bool:
    """Constant-time check of `candidate` against a hash made by `hash_password` or `hash_secret`."""
    scheme, _, rest = stored.partition("$")
    if scheme == "scrypt":
        n, r, p, salt, digest = rest.split("$")
        actual = hashlib.scrypt(candidate.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    elif scheme == "sha256":
        salt, digest = rest.split("$")
        actual = hashlib.sha256(base64.b64decode(salt) + candidate.encode()).digest()
    else:
        raise ValueError(f"unknown credential hash scheme {scheme!r}")
    return hmac.compare_digest(actual, base64.b64decode(digest))

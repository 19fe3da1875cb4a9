"""base64url without padding, the encoding of every binary value on the Key Vault wire."""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")


class InvalidBase64(ValueError):
    """The text is not base64url."""


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str, field: str) -> bytes:
    """Decode base64url with or without padding; the error names ``field``."""
    if not _ALPHABET.match(text):
        raise InvalidBase64(f"The value of '{field}' is not valid base64url.")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise InvalidBase64(f"The value of '{field}' is not valid base64url (impossible length).")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64(f"The value of '{field}' is not valid base64url.") from exc

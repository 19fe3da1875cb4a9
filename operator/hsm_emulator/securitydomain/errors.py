"""The security domain's error type: a ``CryptoError``, so a route needs one ``except`` for both packages."""

from __future__ import annotations

from hsm_emulator.crypto.errors import BAD_PARAMETER, CryptoError


class SecurityDomainError(CryptoError):
    """A bad certificate set, a malformed or tampered blob, too few usable shares, or the wrong transfer key."""

    def __init__(self, message: str, code: str = BAD_PARAMETER, inner_code: str | None = None) -> None:
        super().__init__(code, message, inner_code)


class NotEnoughSharesError(SecurityDomainError):
    """Fewer shares could be decrypted than the quorum needs (the CLI exits 1 with this message)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, inner_code="NotEnoughShares")

"""The one error type the crypto layer raises.

Callers (the data plane's routes) turn it into the Azure error body without looking inside the message: ``code``
is the Azure error code to return (almost always ``BadParameter``, HTTP 400), ``message`` reads like the service's.
"""

from __future__ import annotations

BAD_PARAMETER = "BadParameter"


class CryptoError(Exception):
    """A request the HSM cannot carry out: bad algorithm, key type, size, iv, tag, ciphertext or key material."""

    def __init__(self, code: str, message: str, inner_code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.inner_code = inner_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


def bad_parameter(message: str, inner_code: str | None = None) -> CryptoError:
    """The common case: the caller sent something the service rejects with 400 BadParameter."""
    return CryptoError(BAD_PARAMETER, message, inner_code)

"""Shamir's secret sharing over GF(256), byte by byte.

Each byte of the secret is the constant term of its own random polynomial of degree ``threshold - 1``; share ``x``
holds the value of every polynomial at ``x`` (1..255). Any ``threshold`` shares interpolate the polynomials back at
0; fewer reveal nothing about the secret. The field is GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1, so
addition is XOR and multiplication uses log/exp tables of the generator 3. Coefficients come from ``secrets``.
Constant time is not a goal: this runs inside the emulator and on the operator's workstation.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from hsm_emulator.securitydomain.errors import SecurityDomainError

MAX_SHARES = 255


def _tables() -> tuple[list[int], list[int]]:
    exp = [0] * 510
    log = [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        # multiply by the generator 3: value * 2 (reduced by 0x11B) XOR value
        doubled = value << 1
        if doubled & 0x100:
            doubled ^= 0x11B
        value = doubled ^ value
    for power in range(255, 510):  # so exp[log a + log b] needs no modulo
        exp[power] = exp[power - 255]
    return exp, log


_EXP, _LOG = _tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if a == 0:
        return 0
    return _EXP[(_LOG[a] - _LOG[b]) % 255]


@dataclass(frozen=True)
class Share:
    """One share: the evaluation point ``x`` (1..255) and one byte per byte of the secret."""

    x: int
    y: bytes

    def to_bytes(self) -> bytes:
        return bytes([self.x]) + self.y

    @classmethod
    def from_bytes(cls, data: bytes) -> Share:
        if len(data) < 2 or data[0] == 0:
            raise SecurityDomainError("A security domain share is malformed.")
        return cls(data[0], data[1:])


def split(secret: bytes, threshold: int, count: int) -> list[Share]:
    """Split ``secret`` into ``count`` shares, any ``threshold`` of which recover it."""
    if not secret:
        raise SecurityDomainError("The secret to split must not be empty.")
    if not 2 <= threshold <= count <= MAX_SHARES:
        raise SecurityDomainError(f"Invalid sharing: need 2 <= threshold ({threshold}) <= shares ({count}) <= 255.")
    # coefficients[i] holds the random coefficients of x^1..x^(t-1) for secret byte i
    coefficients = [secrets.token_bytes(threshold - 1) for _ in secret]
    shares = []
    for x in range(1, count + 1):
        values = bytearray()
        for constant, higher in zip(secret, coefficients, strict=True):
            accumulator = 0
            for coefficient in reversed(higher):  # Horner's rule, highest degree first
                accumulator = _mul(accumulator, x) ^ coefficient
            values.append(_mul(accumulator, x) ^ constant)
        shares.append(Share(x, bytes(values)))
    return shares


def combine(shares: Sequence[Share]) -> bytes:
    """Interpolate the secret from shares. With fewer than the threshold the result is meaningless, not an error:
    callers must verify it (the security domain checks a fingerprint and an authenticated payload)."""
    if len(shares) < 2:
        raise SecurityDomainError("At least two shares are needed to recover a secret.")
    xs = [share.x for share in shares]
    if len(set(xs)) != len(xs) or not all(1 <= x <= MAX_SHARES for x in xs):
        raise SecurityDomainError("Shares must have distinct evaluation points from 1 to 255.")
    length = len(shares[0].y)
    if any(len(share.y) != length for share in shares):
        raise SecurityDomainError("Shares of different secrets cannot be combined: their lengths differ.")
    # Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); subtraction is XOR in GF(2^8)
    weights = []
    for i, xi in enumerate(xs):
        weight = 1
        for j, xj in enumerate(xs):
            if i != j:
                weight = _mul(weight, _div(xj, xj ^ xi))
        weights.append(weight)
    secret = bytearray(length)
    for weight, share in zip(weights, shares, strict=True):
        for position, value in enumerate(share.y):
            secret[position] ^= _mul(weight, value)
    return bytes(secret)

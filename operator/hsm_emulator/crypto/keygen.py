"""Key generation for the three Managed HSM key types, with the service's size, curve and exponent rules."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hsm_emulator.crypto.errors import bad_parameter
from hsm_emulator.crypto.material import (
    CURVE_NAMES,
    CURVES,
    KEY_TYPE_ALIASES,
    OCT_KEY_SIZES,
    RSA_KEY_SIZES,
    CurveName,
    EcKey,
    KeyMaterial,
    OctKey,
    RsaKey,
)

DEFAULT_RSA_SIZE = 2048
DEFAULT_CURVE: CurveName = "P-256"
DEFAULT_OCT_SIZE = 256
DEFAULT_PUBLIC_EXPONENT = 65537
# OpenSSL (through cryptography) generates keys only with these exponents.
PUBLIC_EXPONENTS: tuple[int, ...] = (3, 65537)


def generate_rsa(size: int = DEFAULT_RSA_SIZE, public_exponent: int = DEFAULT_PUBLIC_EXPONENT) -> RsaKey:
    if size not in RSA_KEY_SIZES:
        raise bad_parameter(
            f"Invalid key_size {size} for RSA-HSM; supported sizes are 2048, 3072 and 4096.", "KeySizeNotSupported"
        )
    if public_exponent not in PUBLIC_EXPONENTS:
        raise bad_parameter(f"Invalid public_exponent {public_exponent}; supported values are 3 and 65537.")
    return RsaKey(rsa.generate_private_key(public_exponent=public_exponent, key_size=size))


def generate_ec(curve: str = DEFAULT_CURVE) -> EcKey:
    if curve not in CURVE_NAMES:
        raise bad_parameter(
            f"Invalid curve {curve!r} for EC-HSM; supported curves are {', '.join(CURVE_NAMES)}.", "CurveNotSupported"
        )
    name: CurveName = curve
    return EcKey(ec.generate_private_key(CURVES[name]), name)


def generate_oct(size: int = DEFAULT_OCT_SIZE) -> OctKey:
    if size not in OCT_KEY_SIZES:
        raise bad_parameter(
            f"Invalid key_size {size} for oct-HSM; supported sizes are 128, 192 and 256.", "KeySizeNotSupported"
        )
    return OctKey(secrets.token_bytes(size // 8))


def generate_key(
    kty: str, *, size: int | None = None, curve: str | None = None, public_exponent: int | None = None
) -> KeyMaterial:
    """Create-key semantics: ``kty`` may be the plain or the -HSM name; parameters that do not fit are errors."""
    key_type = KEY_TYPE_ALIASES.get(kty)
    if key_type is None:
        raise bad_parameter(
            f"Invalid kty value: {kty}; expected one of {', '.join(KEY_TYPE_ALIASES)}.", "KeyTypeNotSupported"
        )
    if key_type == "RSA-HSM":
        if curve is not None:
            raise bad_parameter("crv is only valid for EC keys.")
        return generate_rsa(size or DEFAULT_RSA_SIZE, public_exponent or DEFAULT_PUBLIC_EXPONENT)
    if public_exponent is not None:
        raise bad_parameter("public_exponent is only valid for RSA keys.")
    if key_type == "EC-HSM":
        if size is not None:
            raise bad_parameter("key_size is not valid for EC keys; choose the curve with crv.")
        return generate_ec(curve or DEFAULT_CURVE)
    if curve is not None:
        raise bad_parameter("crv is only valid for EC keys.")
    return generate_oct(size or DEFAULT_OCT_SIZE)

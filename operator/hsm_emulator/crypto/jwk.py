"""JSON Web Key conversion: key handles to and from the JWK fields Azure puts on the wire.

``public_jwk`` is what GET returns (never private fields; nothing at all for oct keys); ``import_jwk`` validates a
private JWK from a key import (sizes, curves, consistency of every RSA parameter, the EC point); ``private_jwk`` and
``serialize_private``/``deserialize_private`` are the emulator's own storage form, sealed before they are stored.
Binary fields are base64url without padding, as everywhere in Key Vault.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from typing import Any

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
    coordinate_bytes,
)

_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")


# ------------------------------------------------------------------------------------------------ base64url


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(value: object, field: str) -> bytes:
    """Decode base64url, with or without padding; anything else is an error naming ``field``."""
    if not isinstance(value, str) or not _BASE64URL.match(value) or len(value.rstrip("=")) % 4 == 1:
        raise bad_parameter(f"{field} is not a valid base64url string.")
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise bad_parameter(f"{field} is not a valid base64url string.") from None


def _int_to_b64(value: int, length: int | None = None) -> str:
    return b64url_encode(value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big"))


def _b64_to_int(jwk: Mapping[str, Any], name: str, prefix: str) -> int:
    raw = b64url_decode(jwk[name], f"{prefix}.{name}")
    if not raw:
        raise bad_parameter(f"{prefix}.{name} must not be empty.")
    return int.from_bytes(raw, "big")


# --------------------------------------------------------------------------------------------- export


def public_jwk(key: KeyMaterial) -> dict[str, Any]:
    """The public JWK fields of a key (no ``kid``/``key_ops``: the data plane adds those). oct keys show no key."""
    if isinstance(key, RsaKey):
        numbers = key.private_key.public_key().public_numbers()
        return {"kty": key.kty, "n": _int_to_b64(numbers.n), "e": _int_to_b64(numbers.e)}
    if isinstance(key, EcKey):
        point = key.private_key.public_key().public_numbers()
        width = coordinate_bytes(key.curve)
        return {"kty": key.kty, "crv": key.curve, "x": _int_to_b64(point.x, width), "y": _int_to_b64(point.y, width)}
    return {"kty": key.kty}


def private_jwk(key: KeyMaterial) -> dict[str, Any]:
    """Every field of the key, private ones included: the storage form, never sent to a client."""
    if isinstance(key, RsaKey):
        numbers = key.private_key.private_numbers()
        return {
            **public_jwk(key),
            "d": _int_to_b64(numbers.d),
            "p": _int_to_b64(numbers.p),
            "q": _int_to_b64(numbers.q),
            "dp": _int_to_b64(numbers.dmp1),
            "dq": _int_to_b64(numbers.dmq1),
            "qi": _int_to_b64(numbers.iqmp),
        }
    if isinstance(key, EcKey):
        width = coordinate_bytes(key.curve)
        return {**public_jwk(key), "d": _int_to_b64(key.private_key.private_numbers().private_value, width)}
    return {"kty": key.kty, "k": b64url_encode(key.secret)}


def serialize_private(key: KeyMaterial) -> bytes:
    """Key material as bytes for sealing and storage (the private JWK as compact JSON)."""
    return json.dumps(private_jwk(key), separators=(",", ":"), sort_keys=True).encode("utf-8")


def deserialize_private(data: bytes) -> KeyMaterial:
    """Reverse ``serialize_private``."""
    try:
        jwk = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad_parameter("Stored key material is not a JSON Web Key.") from None
    if not isinstance(jwk, dict):
        raise bad_parameter("Stored key material is not a JSON Web Key.")
    return import_jwk(jwk, field_prefix="stored key")


# --------------------------------------------------------------------------------------------- import


def import_jwk(jwk: Mapping[str, Any], field_prefix: str = "key") -> KeyMaterial:
    """Build a key handle from a private JWK (key import); every problem names the offending field."""
    if not isinstance(jwk, Mapping):
        raise bad_parameter(f"{field_prefix} must be a JSON Web Key object.")
    kty_value = jwk.get("kty")
    if jwk.get("key_hsm") is not None:
        raise bad_parameter(
            f"{field_prefix}.key_hsm: bring-your-own-key (BYOK) transfer blobs are not supported by the emulator; "
            "import the key's private JWK fields instead."
        )
    kty = KEY_TYPE_ALIASES.get(kty_value) if isinstance(kty_value, str) else None
    if kty is None:
        raise bad_parameter(
            f"{field_prefix}.kty: invalid key type {kty_value!r}; expected one of {', '.join(KEY_TYPE_ALIASES)}.",
            "KeyTypeNotSupported",
        )
    if kty == "RSA-HSM":
        return _import_rsa(jwk, field_prefix)
    if kty == "EC-HSM":
        return _import_ec(jwk, field_prefix)
    return _import_oct(jwk, field_prefix)


def _require(jwk: Mapping[str, Any], names: tuple[str, ...], prefix: str, what: str) -> None:
    missing = [name for name in names if jwk.get(name) in (None, "")]
    if missing:
        fields = ", ".join(f"{prefix}.{name}" for name in missing)
        raise bad_parameter(f"{what} import needs the private key: missing {fields}.")


def _import_rsa(jwk: Mapping[str, Any], prefix: str) -> RsaKey:
    _require(jwk, ("n", "e", "d"), prefix, "RSA key")
    n, e, d = (_b64_to_int(jwk, name, prefix) for name in ("n", "e", "d"))
    if n.bit_length() not in RSA_KEY_SIZES:
        raise bad_parameter(
            f"{prefix}.n: RSA key size {n.bit_length()} is not supported; use 2048, 3072 or 4096 bits.",
            "KeySizeNotSupported",
        )
    if e < 3 or e % 2 == 0 or e >= n:
        raise bad_parameter(f"{prefix}.e: {e} is not a valid RSA public exponent.")
    if not 1 < d < n:
        raise bad_parameter(f"{prefix}.d is out of range for the modulus.")
    if jwk.get("p") and jwk.get("q"):
        p, q = _b64_to_int(jwk, "p", prefix), _b64_to_int(jwk, "q", prefix)
        if p * q != n:
            raise bad_parameter(f"{prefix}.p and {prefix}.q are inconsistent: p * q does not equal n.")
    elif jwk.get("p") or jwk.get("q"):
        raise bad_parameter(f"{prefix}.p and {prefix}.q must be given together.")
    else:
        try:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
        except ValueError:
            raise bad_parameter(f"{prefix}.d is inconsistent with {prefix}.n and {prefix}.e.") from None
    if (d * e) % math.lcm(p - 1, q - 1) != 1:
        raise bad_parameter(f"{prefix}.d is inconsistent with {prefix}.e, {prefix}.p and {prefix}.q.")
    derived = {"dp": d % (p - 1), "dq": d % (q - 1), "qi": pow(q, -1, p)}
    for name, value in derived.items():
        if jwk.get(name) not in (None, "") and _b64_to_int(jwk, name, prefix) != value:
            raise bad_parameter(f"{prefix}.{name} is inconsistent with the other RSA parameters.")
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=derived["dp"],
        dmq1=derived["dq"],
        iqmp=derived["qi"],
        public_numbers=rsa.RSAPublicNumbers(e, n),
    )
    try:
        return RsaKey(numbers.private_key())
    except ValueError as error:
        raise bad_parameter(f"{prefix}: invalid RSA key ({error}).") from None


def _import_ec(jwk: Mapping[str, Any], prefix: str) -> EcKey:
    curve_value = jwk.get("crv")
    if curve_value not in CURVE_NAMES:
        raise bad_parameter(
            f"{prefix}.crv: invalid curve {curve_value!r}; expected one of {', '.join(CURVE_NAMES)}.",
            "CurveNotSupported",
        )
    curve: CurveName = curve_value
    _require(jwk, ("x", "y", "d"), prefix, "EC key")
    width = coordinate_bytes(curve)
    values: dict[str, int] = {}
    for name in ("x", "y", "d"):
        raw = b64url_decode(jwk[name], f"{prefix}.{name}")
        if len(raw) != width:
            raise bad_parameter(f"{prefix}.{name} must be {width} bytes for curve {curve}; got {len(raw)}.")
        values[name] = int.from_bytes(raw, "big")
    try:
        private_key = ec.derive_private_key(values["d"], CURVES[curve])
    except ValueError:
        raise bad_parameter(f"{prefix}.d is not a valid private key on curve {curve}.") from None
    point = private_key.public_key().public_numbers()
    if (point.x, point.y) != (values["x"], values["y"]):
        raise bad_parameter(f"{prefix}.x and {prefix}.y do not match the public point of {prefix}.d on {curve}.")
    return EcKey(private_key, curve)


def _import_oct(jwk: Mapping[str, Any], prefix: str) -> OctKey:
    _require(jwk, ("k",), prefix, "oct key")
    secret = b64url_decode(jwk["k"], f"{prefix}.k")
    if len(secret) * 8 not in OCT_KEY_SIZES:
        raise bad_parameter(
            f"{prefix}.k: AES key size {len(secret) * 8} bits is not supported; use 128, 192 or 256 bits.",
            "KeySizeNotSupported",
        )
    return OctKey(secret)

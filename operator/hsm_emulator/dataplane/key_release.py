"""Secure Key Release: ``POST /keys/{name}/{version}/release`` hands an exportable key to an attested environment.

Checks, in order (after the route's one RBAC decision for ``keys/release/action``): the key exists and is not
deleted, the version exists, it is enabled, it is exportable, it has a release policy; then the target (an
attestation token, a JWT) is verified and the policy evaluated:

1. the token parses as a JWT signed with an asymmetric algorithm (400 BadParameter otherwise);
2. its ``iss`` is the ``authority`` of at least one branch of the policy (403 Forbidden otherwise);
3. its signature verifies with a key of that authority's JWKS, found through OpenID Connect discovery over HTTPS
   (``<authority>/.well-known/openid-configuration`` -> ``jwks_uri``; the same fetcher and CA handling as workload
   identity federation, so ``server.trustedIssuerCaFiles`` makes a private attestation service trusted), and it has
   ``exp`` and is within ``nbf``/``exp`` (with the emulator's clock skew) (400 BadParameter otherwise);
4. the claims satisfy one matching branch (``release_policy.evaluate``) (403 Forbidden naming the unmet claims);
5. ``x-ms-runtime.keys`` holds an RSA key with a ``kid`` usable for encryption (``use``/``key_use`` "enc" or
   ``key_ops`` containing "encrypt"), the first such key is the key encryption key (400 BadParameter otherwise).

The answer is ``{"value": <JWS>}``, signed RS256 by the HSM's own release signing key (one RSA-2048 key and a
self-signed certificate per HSM, made on first use and kept sealed under the emulator's hardware root key); the
JWS header carries ``x5c``, ``x5t#S256`` and ``kid`` (= the thumbprint) so a client can verify it. The payload is
``{"request": {...}, "response": {"key": <KeyBundle>}}`` whose ``key.key_hsm`` is base64url of
``{"schema_version": "1.0", "header": {"kid": <KEK kid>, "alg": "dir", "enc": <enc>}, "ciphertext": ...}`` with
ciphertext = RSA-OAEP(KEK, ephemeral AES-256 key) || AES key wrap with padding (RFC 5649) of the key material
(PKCS#8 DER for RSA and EC keys, the raw bytes for oct keys). ``enc`` selects the OAEP hash: CKM_RSA_AES_KEY_WRAP
SHA-1, RSA_AES_KEY_WRAP_256 SHA-256, RSA_AES_KEY_WRAP_384 SHA-384 (default CKM_RSA_AES_KEY_WRAP).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from cryptography.x509.oid import NameOID

from hsm_emulator.crypto import sealing
from hsm_emulator.crypto.material import EcKey, KeyMaterial, RsaKey
from hsm_emulator.dataplane import b64, errors, keys_service, material_codec, release_policy
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.errors import AzureError
from hsm_emulator.identity.federation import ASSERTION_ALGORITHMS, JwksCache, JwksError
from hsm_emulator.storage import Migration, Transaction

ENCRYPTION_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "CKM_RSA_AES_KEY_WRAP": hashes.SHA1,
    "RSA_AES_KEY_WRAP_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_384": hashes.SHA384,
}
DEFAULT_ENCRYPTION_ALGORITHM = "CKM_RSA_AES_KEY_WRAP"
MIN_KEK_BITS = 2048
MAX_TARGET_CHARS = 64 * 1024
_SIGNING_KEY_BITS = 2048
_CERT_VALIDITY = dt.timedelta(days=3650)

MIGRATIONS = (
    Migration(
        "dataplane.release_signing",
        1,
        (
            """CREATE TABLE IF NOT EXISTS dp_release_signing_keys (
                hsm_id TEXT PRIMARY KEY,
                sealed_private_key BLOB NOT NULL,
                certificate BLOB NOT NULL
            )""",
        ),
    ),
)


def _cannot_verify(reason: str) -> AzureError:
    return errors.bad_parameter(f"Target environment attestation statement cannot be verified: {reason}")


# ------------------------------------------------------------------------------------------------ key checks


@dataclass(frozen=True)
class Releasable:
    """A key version that passed every check on the HSM's side, with its parsed policy and material."""

    bundle: dict[str, Any]
    policy: release_policy.ReleasePolicy
    material: KeyMaterial


def releasable_version(tx: Transaction, hsm: HsmContext, name: str, version: str | None) -> Releasable:
    key = keys_service.active_key(tx, hsm, name)
    record = keys_service.version_of(tx, hsm, key, version)
    if not record.enabled:
        raise errors.forbidden("Operation release is not allowed on a disabled key.", "KeyDisabled")
    if not record.exportable:
        raise errors.bad_parameter(
            f"Key {key.name} is not exportable: only a key created or imported with attributes.exportable = true "
            "and a release policy can be released."
        )
    if record.release_policy is None:
        raise errors.bad_parameter(f"Key {key.name} has no release policy, so it cannot be released.")
    try:
        policy = release_policy.parse(b64.decode(str(record.release_policy["data"]), "release_policy.data"))
    except (b64.InvalidBase64, release_policy.PolicyError) as exc:
        raise errors.bad_parameter(f"Key Release Policy: {exc}") from None
    material = material_codec.unseal(hsm.master_key, hsm.id, key.name, record.version, record.sealed_material)
    return Releasable(keys_service.render_bundle(hsm, key, record), policy, material)


# ------------------------------------------------------------------------------------------------ the target


@dataclass(frozen=True)
class VerifiedTarget:
    claims: dict[str, Any]
    kek_kid: str
    kek: rsa.RSAPublicKey


async def verify_target(
    target: str, policy: release_policy.ReleasePolicy, jwks: JwksCache, *, now: int, skew: int
) -> VerifiedTarget:
    if len(target) > MAX_TARGET_CHARS:
        raise _cannot_verify(f"the attestation token is longer than {MAX_TARGET_CHARS} characters.")
    try:
        header = jwt.get_unverified_header(target)
        unverified = jwt.decode(target, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise _cannot_verify(f"the target is not a JSON Web Token ({exc}).") from None
    algorithm = header.get("alg")
    if algorithm not in ASSERTION_ALGORITHMS:
        raise _cannot_verify(
            f"the attestation token is signed with '{algorithm}'; expected one of {', '.join(ASSERTION_ALGORITHMS)}."
        )
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise _cannot_verify("the attestation token has no 'iss' claim.")
    branches = release_policy.branches_for_issuer(policy, issuer)
    if not branches:
        authorities = ", ".join(a.authority for a in policy.authorities)
        raise errors.forbidden(
            f"The key release policy does not trust the issuer '{issuer}' of the attestation token "
            f"(authorities: {authorities})."
        )
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    try:
        key = await jwks.key_for(issuer, kid)
    except JwksError as exc:
        raise _cannot_verify(f"{exc.message}.") from None
    try:
        claims = jwt.decode(
            target,
            key,
            algorithms=[algorithm],
            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise _cannot_verify(f"the signature of the attestation token is invalid ({exc}).") from None
    _check_lifetime(claims, now, skew)
    if not any(release_policy.evaluate(branch.condition, claims) for branch in branches):
        unmet: list[str] = []
        for branch in branches:
            unmet += [name for name in release_policy.unmet_claims(branch.condition, claims) if name not in unmet]
        raise errors.forbidden(
            "Target environment attestation statement does not satisfy the key release policy: unmet claim "
            f"conditions on {', '.join(unmet)}."
        )
    kek_kid, kek = _key_encryption_key(claims)
    return VerifiedTarget(claims, kek_kid, kek)


def _check_lifetime(claims: dict[str, Any], now: int, skew: int) -> None:
    expires, not_before = claims.get("exp"), claims.get("nbf")
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise _cannot_verify("the attestation token has no integer 'exp' claim.")
    if not_before is not None and (not isinstance(not_before, int) or isinstance(not_before, bool)):
        raise _cannot_verify("the 'nbf' claim of the attestation token is not an integer.")
    if now > expires + skew:
        raise _cannot_verify(f"the attestation token expired at {expires} (now {now}).")
    if not_before is not None and now + skew < not_before:
        raise _cannot_verify(f"the attestation token is not valid before {not_before} (now {now}).")


def _usable_for_encryption(jwk: dict[str, Any]) -> bool:
    key_ops = jwk.get("key_ops")
    return (
        jwk.get("use") == "enc"
        or jwk.get("key_use") == "enc"
        or (isinstance(key_ops, list) and any(op in ("encrypt", "Encrypt") for op in key_ops))
    )


def _key_encryption_key(claims: dict[str, Any]) -> tuple[str, rsa.RSAPublicKey]:
    runtime = claims.get("x-ms-runtime")
    keys = runtime.get("keys") if isinstance(runtime, dict) else None
    if not isinstance(keys, list):
        raise _cannot_verify("the attestation token has no 'x-ms-runtime.keys' key set.")
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "RSA-HSM") or not _usable_for_encryption(jwk):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _cannot_verify("the key encryption key in 'x-ms-runtime.keys' has no 'kid'.")
        try:
            public = jwt.PyJWK.from_dict({"kty": "RSA", "n": jwk.get("n"), "e": jwk.get("e")}).key
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise _cannot_verify(f"the key encryption key '{kid}' is not a valid RSA key ({exc}).") from None
        if not isinstance(public, rsa.RSAPublicKey) or public.key_size < MIN_KEK_BITS:
            raise _cannot_verify(f"the key encryption key '{kid}' must be an RSA key of at least {MIN_KEK_BITS} bits.")
        return kid, public
    raise _cannot_verify(
        "'x-ms-runtime.keys' holds no RSA key usable for encryption (use 'enc' or key_ops containing 'encrypt')."
    )


# ------------------------------------------------------------------------------------------------ the answer


def _material_bytes(material: KeyMaterial) -> bytes:
    if isinstance(material, RsaKey | EcKey):
        return material.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    return material.secret


def wrap_for_target(material: KeyMaterial, kek_kid: str, kek: rsa.RSAPublicKey, enc: str) -> str:
    """The ``key_hsm`` value: the key material wrapped to the target's key encryption key with ``enc``."""
    digest = ENCRYPTION_ALGORITHMS[enc]
    transport_key = secrets.token_bytes(32)
    wrapped_transport_key = kek.encrypt(
        transport_key, padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)
    )
    ciphertext = wrapped_transport_key + aes_key_wrap_with_padding(transport_key, _material_bytes(material))
    envelope = {
        "schema_version": "1.0",
        "header": {"kid": kek_kid, "alg": "dir", "enc": enc},
        "ciphertext": b64.encode(ciphertext),
    }
    return b64.encode(json.dumps(envelope, separators=(",", ":")).encode())


@dataclass(frozen=True)
class SigningIdentity:
    private_key: rsa.RSAPrivateKey
    certificate_der: bytes

    @property
    def thumbprint(self) -> str:
        return b64.encode(hashlib.sha256(self.certificate_der).digest())


def _binding(hsm_id: str) -> bytes:
    return f"mhsm-release-signing-key:{hsm_id}".encode()


@lru_cache(maxsize=256)
def _open_identity(root_key: bytes, hsm_id: str, sealed: bytes, certificate: bytes) -> SigningIdentity:
    der = sealing.unseal(root_key, sealed, _binding(hsm_id))
    private_key = serialization.load_der_private_key(der, password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    return SigningIdentity(private_key, certificate)


def signing_identity(tx: Transaction, root_key: bytes, hsm: HsmContext, now: int) -> SigningIdentity:
    """The HSM's release signing key and certificate, created on first use."""
    row = tx.one("SELECT sealed_private_key, certificate FROM dp_release_signing_keys WHERE hsm_id = ?", (hsm.id,))
    if row is not None:
        return _open_identity(root_key, hsm.id, bytes(row["sealed_private_key"]), bytes(row["certificate"]))
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=_SIGNING_KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{hsm.name} key release")])
    issued = dt.datetime.fromtimestamp(now, dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued - dt.timedelta(minutes=5))
        .not_valid_after(issued + _CERT_VALIDITY)
        .sign(private_key, hashes.SHA256())
    )
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    certificate_der = certificate.public_bytes(serialization.Encoding.DER)
    tx.execute(
        "INSERT INTO dp_release_signing_keys (hsm_id, sealed_private_key, certificate) VALUES (?, ?, ?)",
        (hsm.id, sealing.seal(root_key, der, _binding(hsm.id)), certificate_der),
    )
    return SigningIdentity(private_key, certificate_der)


def release_response(
    releasable: Releasable,
    target: VerifiedTarget,
    identity: SigningIdentity,
    *,
    enc: str,
    nonce: str | None,
    api_version: str,
) -> dict[str, str]:
    bundle = json.loads(json.dumps(releasable.bundle))  # a deep copy: the key JWK gains key_hsm
    bundle["key"]["key_hsm"] = wrap_for_target(releasable.material, target.kek_kid, target.kek, enc)
    request: dict[str, Any] = {"api-version": api_version, "enc": enc, "kid": bundle["key"]["kid"]}
    if nonce is not None:
        request["nonce"] = nonce
    headers = {
        "kid": identity.thumbprint,
        "x5t#S256": identity.thumbprint,
        "x5c": [base64.b64encode(identity.certificate_der).decode("ascii")],
    }
    token = jwt.encode(
        {"request": request, "response": {"key": bundle}}, identity.private_key, algorithm="RS256", headers=headers
    )
    return {"value": token}


def check_encryption_algorithm(enc: str | None) -> str:
    if enc is None:
        return DEFAULT_ENCRYPTION_ALGORITHM
    if enc not in ENCRYPTION_ALGORITHMS:
        raise errors.bad_parameter(
            f"Invalid enc value: {enc}; expected one of {', '.join(ENCRYPTION_ALGORITHMS)}.", "InvalidParameter"
        )
    return enc

"""Workload identity federation: checking a `client_assertion` against the client's federated credentials.

Like Entra: the assertion's `iss`, `sub` and `aud` must match one federated credential of the application exactly,
its signature must verify with a key from the issuer's JWKS (OIDC discovery over HTTPS), and it must be within its
validity window. An issuer that is this emulator itself (a token we minted for `api://AzureADTokenExchange`) is
verified with our own keys, so the flow is testable without another server. JWKS documents are cached briefly.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from hsm_emulator.errors import OAuthError
from hsm_emulator.identity.directory import FederatedCredential
from hsm_emulator.identity.signing_keys import SigningKeys
from hsm_emulator.settings import Settings

# Asymmetric algorithms only: a symmetric one would let anyone holding the public key forge assertions.
ASSERTION_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
_FETCH_TIMEOUT_SECONDS = 5
_MIN_REFRESH_SECONDS = 30
_MAX_DOCUMENT_BYTES = 1 << 20


def _invalid_client(aadsts: int, description: str, status: int = 401) -> OAuthError:
    return OAuthError(status, "invalid_client", aadsts, description)


class JwksError(Exception):
    """The signing keys of an issuer could not be used: unreachable metadata/JWKS (``unreachable``) or no key with
    the token's ``kid`` (``unknown_kid``). Each caller turns it into its own protocol's error."""

    def __init__(self, message: str, *, unknown_kid: bool) -> None:
        super().__init__(message)
        self.message = message
        self.unknown_kid = unknown_kid


@dataclass
class _CachedJwks:
    fetched_at: float
    jwks: jwt.PyJWKSet


class JwksCache:
    """Issuer -> JWKS, fetched over HTTPS with system trust + the emulator CA + configured CA files.

    Shared by workload identity federation (client assertions) and Secure Key Release (attestation tokens).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._entries: dict[str, _CachedJwks] = {}
        self._ssl = ssl.create_default_context()
        own_ca = settings.tls_dir / "ca.crt"
        for ca_file in (own_ca, *settings.trusted_issuer_ca_files):
            if Path(ca_file).is_file():
                self._ssl.load_verify_locations(cafile=str(ca_file))

    async def key_for(self, issuer: str, kid: str | None) -> Any:
        entry = self._entries.get(issuer)
        now = time.monotonic()
        stale = entry is None or now - entry.fetched_at > self._settings.jwks_cache_seconds
        if not stale and entry is not None and _find(entry.jwks, kid) is None:
            stale = now - entry.fetched_at > _MIN_REFRESH_SECONDS  # rotated keys: refetch, but not on every request
        if stale:
            jwks = await asyncio.to_thread(self._fetch, issuer)
            entry = _CachedJwks(now, jwks)
            self._entries[issuer] = entry
        assert entry is not None
        key = _find(entry.jwks, kid)
        if key is None:
            raise JwksError(f"no key '{kid}' in the JWKS of issuer '{issuer}'", unknown_kid=True)
        return key.key

    def _fetch(self, issuer: str) -> jwt.PyJWKSet:
        discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            discovery = self._get_json(discovery_url)
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
                raise ValueError(f"{discovery_url} has no https jwks_uri")
            return jwt.PyJWKSet.from_dict(self._get_json(jwks_uri))
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise JwksError(f"cannot read the signing keys of issuer '{issuer}' ({exc})", unknown_kid=False) from None

    def _get_json(self, url: str) -> dict[str, Any]:
        if not url.startswith("https://"):
            raise ValueError(f"{url} is not an https URL")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - https only
        with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT_SECONDS, context=self._ssl) as response:  # noqa: S310
            document = json.loads(response.read(_MAX_DOCUMENT_BYTES))
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not return a JSON object")
        return document


def _find(jwks: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
    if kid is None:
        return jwks.keys[0] if len(jwks.keys) == 1 else None
    return next((k for k in jwks.keys if k.key_id == kid), None)


async def verify_assertion(
    assertion: str,
    credentials: list[FederatedCredential],
    *,
    settings: Settings,
    own_keys: SigningKeys,
    tenant_exists: Callable[[str], bool],
    jwks_cache: JwksCache,
    now: int,
) -> FederatedCredential:
    """Return the federated credential the assertion satisfies, or raise the OAuthError Entra would give."""
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise OAuthError(400, "invalid_request", 50027, f"JWT token is invalid or malformed: {exc}.") from None
    issuer, subject, audience = unverified.get("iss"), unverified.get("sub"), unverified.get("aud")
    audiences = [audience] if isinstance(audience, str) else list(audience or [])
    matching = [c for c in credentials if c.issuer == issuer]
    if not matching:
        raise _invalid_client(
            700211,
            f"No matching federated identity record found for presented assertion issuer '{issuer}'. "
            "Please check your federated identity credential Subject, Audience and Issuer against the presented "
            "assertion.",
        )
    matching = [c for c in matching if c.subject == subject]
    if not matching:
        raise _invalid_client(
            700213,
            f"No matching federated identity record found for presented assertion subject '{subject}'. "
            "Please check your federated identity credential Subject, Audience and Issuer against the presented "
            "assertion.",
        )
    matching = [c for c in matching if set(c.audiences) & set(audiences)]
    if not matching:
        raise _invalid_client(
            700212,
            f"No matching federated identity record found for presented assertion audience "
            f"'{','.join(map(str, audiences))}'. Please check your federated identity credential Subject, Audience "
            "and Issuer against the presented assertion.",
        )
    algorithm = header.get("alg")
    if algorithm not in ASSERTION_ALGORITHMS:
        raise _invalid_client(
            700027, f"Client assertion failed signature validation: algorithm '{algorithm}' is not allowed."
        )
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    assert isinstance(issuer, str)
    key: Any = _own_key(issuer, kid, settings, own_keys, tenant_exists)
    if key is None:
        try:
            key = await jwks_cache.key_for(issuer, kid)
        except JwksError as exc:
            if exc.unknown_kid:
                raise _invalid_client(700027, f"Client assertion failed signature validation: {exc.message}.") from None
            raise _invalid_client(50166, f"Request to External OIDC endpoint failed: {exc.message}.") from None
    try:
        claims = jwt.decode(
            assertion,
            key,
            algorithms=[algorithm],
            options={
                "verify_aud": False,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["exp"],
            },
        )
    except jwt.PyJWTError as exc:
        raise _invalid_client(700027, f"Client assertion failed signature validation: {exc}.") from None
    skew = settings.clock_skew_seconds
    expires, not_before = claims.get("exp"), claims.get("nbf", claims.get("iat", now))
    if (
        not isinstance(expires, int)
        or not isinstance(not_before, int)
        or now > expires + skew
        or now + skew < not_before
    ):
        raise OAuthError(
            400,
            "invalid_client",
            700024,
            f"Client assertion is not within its valid time range. Current time: {now}, assertion "
            f"valid from {not_before} to {expires}.",
        )
    return matching[0]


def own_issuer_tenant(settings: Settings, issuer: str) -> str | None:
    """The tenant id if `issuer` has the shape of this emulator's issuer URL, else None."""
    prefix, suffix = settings.main_url + "/", "/v2.0"
    if issuer.startswith(prefix) and issuer.endswith(suffix):
        tenant = issuer[len(prefix) : -len(suffix)]
        return tenant if tenant and "/" not in tenant else None
    return None


def _own_key(
    issuer: str, kid: str | None, settings: Settings, keys: SigningKeys, tenant_exists: Callable[[str], bool]
) -> Any:
    tenant = own_issuer_tenant(settings, issuer)
    if tenant is None or not tenant_exists(tenant):
        return None
    key = keys.public_key(kid) if kid else None
    if key is None:
        raise _invalid_client(700027, "Client assertion failed signature validation: unknown signing key.")
    return key

"""JOSE header attacks on `authenticate()`: the verifier picks its key by `kid` from its own key set only.

Complements test_authenticate.py (claims, alg none, HS256-with-public-key, unknown kid, tampering): here the token
names a key elsewhere (`jku`, `x5u`), carries its own (`jwk`, `x5c`), plays with `kid` (path traversal, SQL, not a
string) or declares critical extensions (`crit`). A listening socket stands in for the attacker's URL: the
emulator must never connect to it.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from hsm_emulator.identity.signing_keys import SigningKeys

from .conftest import HSM, InProcess

ATTACKER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def trap() -> Iterator[socket.socket]:
    """A listening socket; a connection to it would mean the emulator fetched an attacker-supplied URL."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.setblocking(False)
        yield listener


def _trap_url(trap: socket.socket) -> str:
    return f"https://127.0.0.1:{trap.getsockname()[1]}/keys.json"


def _no_connection(trap: socket.socket) -> bool:
    try:
        trap.accept()[0].close()
    except BlockingIOError:
        return True
    return False


async def _status(inproc: InProcess, token: str) -> tuple[int, str]:
    response = await inproc.client.get(
        f"{HSM}/probe/hsm",
        params={"tenant": inproc.directory.tenant_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code, response.text


def _attacker_jwk() -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(ATTACKER.public_key()))
    jwk["kid"] = "attacker"
    return jwk


@pytest.mark.parametrize("parameter", ["jku", "x5u", "jwk", "x5c"])
async def test_attacker_key_named_or_embedded_in_the_header_is_ignored(
    inproc: InProcess, trap: socket.socket, parameter: str
) -> None:
    value: Any = {
        "jku": _trap_url(trap),
        "x5u": _trap_url(trap),
        "jwk": _attacker_jwk(),
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    }[parameter]
    claims = inproc.claims_for("crypto-user")
    for kid in ("attacker", inproc.emulator.require(SigningKeys).active.kid):
        token = jwt.encode(claims, ATTACKER, algorithm="RS256", headers={"kid": kid, parameter: value})
        status, body = await _status(inproc, token)
        assert status == 401, body
    assert _no_connection(trap)


@pytest.mark.parametrize("parameter", ["jku", "x5u"])
async def test_a_genuine_token_with_a_foreign_key_url_is_verified_with_our_key_and_nothing_is_fetched(
    inproc: InProcess, trap: socket.socket, parameter: str
) -> None:
    token = inproc.forge(inproc.claims_for("crypto-user"), **{parameter: _trap_url(trap)})
    status, body = await _status(inproc, token)
    assert status == 200, body
    assert _no_connection(trap)


@pytest.mark.parametrize(
    "kid",
    ["../../../../etc/passwd", "..%2F..%2Fhardware-root.key", "' OR '1'='1", "", "\x00", "k" * 10_000, 7, None, ["a"]],
)
async def test_hostile_kid_values_are_unknown_keys(inproc: InProcess, kid: Any) -> None:
    claims = inproc.claims_for("crypto-user")
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    signature = inproc.emulator.require(SigningKeys).active.private_key.sign(signing_input.encode(), *_pkcs1_sha256())
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    status, body = await _status(inproc, token)
    assert status == 401, body
    assert "error" in json.loads(body)


def _pkcs1_sha256() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PKCS1v15(), hashes.SHA256()


def _hand_signed(inproc: InProcess, header: dict[str, Any]) -> str:
    signing_input = f"{_b64(header)}.{_b64(inproc.claims_for('crypto-user'))}"
    signature = inproc.emulator.require(SigningKeys).active.private_key.sign(signing_input.encode(), *_pkcs1_sha256())
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@pytest.mark.parametrize("crit", [None, ["exp-extension"], ["b64"], [], "b64", [1]])
async def test_critical_extensions_are_refused(inproc: InProcess, crit: Any) -> None:
    """RFC 7515 4.1.11: a recipient that does not understand a listed extension must reject the JWS.
    The `None` case (same hand-made token, no `crit`) shows the others fail only because of `crit`."""
    kid = inproc.emulator.require(SigningKeys).active.kid
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": kid, "exp-extension": 1}
    if crit is not None:
        header.update(crit=crit, b64=False)
    status, body = await _status(inproc, _hand_signed(inproc, header))
    assert status == (200 if crit is None else 401), body

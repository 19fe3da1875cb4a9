"""Token attacks against the running emulator over real HTTPS (uvicorn's HTTP parser included).

The claim-level list of issue 3 (expired, not yet valid, wrong audience/tenant/issuer, bad signature, alg none,
HS256 with the public key, unknown kid, disabled/deleted principal, removed group member) is covered in-process by
tests/unit/emulator/identity/test_authenticate.py, and jku/x5u/jwk/x5c, kid traversal and crit by
test_token_header_attacks.py next to it; ARM's refusal of data-plane and foreign-tenant tokens by
tests/integration/emulator/management/test_bad_input.py. Here: genuine tokens replayed across tenants and planes,
oversized tokens, and Authorization header tricks that only a real server parses, raw over TLS where httpx would
refuse to send them. After each hostile request the server must still answer a normal one.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.emulator.hostile.conftest import ARM, DATA_PLANE, GRAPH, OTHER_SUBSCRIPTION, Hostile

pytestmark = pytest.mark.integration
GRAPH_LIST = "/v1.0/servicePrincipals"
ROLE_ASSIGNMENTS = "/providers/Microsoft.Authorization/roleAssignments?api-version=7.6"


def _get(hostile: Hostile, base: str, path: str, authorization: str | None) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    with httpx.Client(base_url=base, verify=hostile.ssl_context(), timeout=20) as http:
        return http.get(path, headers=headers)


def _arm_groups(hostile: Hostile, subscription: str) -> str:
    return f"/subscriptions/{subscription}/resourcegroups?api-version=2021-04-01"


def _assert_alive(hostile: Hostile) -> None:
    token = hostile.token("hsm-admin", DATA_PLANE)
    assert _get(hostile, hostile.fuzz_hsm_uri, ROLE_ASSIGNMENTS, f"Bearer {token}").status_code == 200


# ------------------------------------------------------------------------------------------------ replay across tenants


def test_a_tenant_a_token_is_refused_by_tenant_b_hsm_and_the_reverse(hostile: Hostile) -> None:
    tenant_a = hostile.token("hsm-admin", DATA_PLANE)
    tenant_b = hostile.token("other-tenant-sp", DATA_PLANE)
    # control: each token works on its own tenant's HSM
    assert _get(hostile, hostile.fuzz_hsm_uri, ROLE_ASSIGNMENTS, f"Bearer {tenant_a}").status_code == 200
    assert _get(hostile, hostile.foreign_hsm_uri, ROLE_ASSIGNMENTS, f"Bearer {tenant_b}").status_code == 200
    for uri, token, tenant in (
        (hostile.foreign_hsm_uri, tenant_a, hostile.directory.other_tenant_id),
        (hostile.fuzz_hsm_uri, tenant_b, hostile.directory.tenant_id),
    ):
        response = _get(hostile, uri, ROLE_ASSIGNMENTS, f"Bearer {token}")
        assert response.status_code == 401, response.text
        assert "wrong issuer" in response.json()["error"]["message"]
        # the challenge names the HSM's own tenant, so a client asks for the right token next
        assert f'/{tenant}"' in response.headers["WWW-Authenticate"]


def test_a_tenant_a_arm_token_is_refused_on_a_tenant_b_subscription(hostile: Hostile) -> None:
    tenant_a = hostile.token("sub-owner", ARM)
    tenant_b = hostile.token("other-tenant-sp", ARM)
    assert _get(hostile, hostile.url, _arm_groups(hostile, OTHER_SUBSCRIPTION), f"Bearer {tenant_b}").status_code == 200
    response = _get(hostile, hostile.url, _arm_groups(hostile, OTHER_SUBSCRIPTION), f"Bearer {tenant_a}")
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "InvalidAuthenticationTokenTenant"


# ------------------------------------------------------------------------------------------------ replay across planes


@pytest.mark.parametrize("audience", [ARM, GRAPH, "api://AzureADTokenExchange"])
def test_tokens_of_other_audiences_are_refused_on_the_data_plane(hostile: Hostile, audience: str) -> None:
    token = hostile.token("hsm-admin", audience)
    response = _get(hostile, hostile.fuzz_hsm_uri, ROLE_ASSIGNMENTS, f"Bearer {token}")
    assert response.status_code == 401, response.text
    assert f"Found token with aud={audience.rstrip('/')}" in response.json()["error"]["message"]


@pytest.mark.parametrize("audience", [DATA_PLANE, GRAPH])
def test_tokens_of_other_audiences_are_refused_on_arm(hostile: Hostile, audience: str) -> None:
    token = hostile.token("sub-owner", audience)
    response = _get(hostile, hostile.url, _arm_groups(hostile, hostile.directory.subscription_id), f"Bearer {token}")
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


@pytest.mark.parametrize("audience", [DATA_PLANE, ARM])
def test_tokens_of_other_audiences_are_refused_on_the_directory(hostile: Hostile, audience: str) -> None:
    token = hostile.token("sub-owner", audience)
    response = _get(hostile, hostile.url, GRAPH_LIST, f"Bearer {token}")
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    # control: the same principal's Graph token is authenticated (what it may then read is Graph's business)
    assert _get(hostile, hostile.url, GRAPH_LIST, f"Bearer {hostile.token('sub-owner', GRAPH)}").status_code != 401


# ------------------------------------------------------------------------------------------------ oversized tokens


@pytest.mark.parametrize("size", [8 * 1024, 60 * 1024, 1024 * 1024])
@pytest.mark.parametrize("plane", ["data", "arm"])
def test_oversized_tokens_are_refused_cleanly(hostile: Hostile, size: int, plane: str) -> None:
    genuine = hostile.token("hsm-admin", DATA_PLANE if plane == "data" else ARM)
    header, payload, signature = genuine.split(".")
    padded = f"{header}.{payload}{'A' * size}.{signature}"
    base, path = (
        (hostile.fuzz_hsm_uri, ROLE_ASSIGNMENTS)
        if plane == "data"
        else (hostile.url, _arm_groups(hostile, hostile.directory.subscription_id))
    )
    status, _ = _raw_request(hostile, base, path, [("Authorization", f"Bearer {padded}")])
    # 401 (read and refused) or 400/431 (the HTTP parser's header limit); never a 5xx, a hang or a reset connection
    assert status in (400, 401, 431), status
    _assert_alive(hostile)


# ------------------------------------------------------------------------------------------------ header tricks


def _raw_request(hostile: Hostile, base: str, path: str, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """One HTTP/1.1 request written byte for byte over TLS (httpx refuses CR/LF in values and merges duplicates)."""
    parts = urlsplit(base)
    assert parts.hostname is not None
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with (
        socket.create_connection((parts.hostname, parts.port or 443), timeout=30) as raw,
        hostile.ssl_context().wrap_socket(raw, server_hostname=parts.hostname) as tls,
    ):
        # the server may answer and close before reading a 1 MB header; the status is what counts
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            tls.sendall(request)
        response = b""
        try:
            while chunk := tls.recv(65536):
                response += chunk
        except (ConnectionResetError, ssl.SSLError):
            pass
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1]), response


def test_header_tricks_on_the_data_plane(hostile: Hostile) -> None:
    token = hostile.token("hsm-admin", DATA_PLANE)
    other = hostile.token("crypto-user", DATA_PLANE)
    base, path = hostile.fuzz_hsm_uri, ROLE_ASSIGNMENTS
    cases: list[tuple[str, list[tuple[str, str]], set[int]]] = [
        # RFC 7235: the scheme is case-insensitive; RFC 6750: 1*SP between scheme and token
        ("lowercase scheme", [("Authorization", f"bearer {token}")], {200}),
        ("uppercase scheme", [("Authorization", f"BEARER {token}")], {200}),
        ("extra spaces", [("Authorization", f"Bearer    {token}")], {200}),
        ("tab instead of space", [("Authorization", f"Bearer\t{token}")], {401}),
        ("no token", [("Authorization", "Bearer")], {401}),
        ("only spaces", [("Authorization", "Bearer     ")], {401}),
        ("other scheme", [("Authorization", f"Basic {token}")], {401}),
        ("PoP scheme", [("Authorization", f"PoP {token}")], {401}),
        ("two tokens in one header", [("Authorization", f"Bearer {token} {token}")], {401}),
        ("comma-joined", [("Authorization", f"Bearer {token}, Bearer {other}")], {401}),
        ("trailing junk", [("Authorization", f"Bearer {token}.x")], {401}),
        ("two headers, valid first", [("Authorization", f"Bearer {token}"), ("Authorization", "Bearer junk")], {401}),
        ("two headers, valid last", [("Authorization", "Bearer junk"), ("Authorization", f"Bearer {token}")], {401}),
        ("two valid headers", [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {other}")], {401}),
        ("CR inside the value", [("Authorization", f"Bearer {token}\rX-Injected: 1")], {400, 401}),
        # a bare LF ends the line (RFC 9112 2.2 lets a recipient accept it): the token stays whole and the injected
        # line is a header of its own that grants nothing
        ("LF inside the value", [("Authorization", f"Bearer {token}\nX-Injected: 1")], {200, 400}),
        ("LF then a second token", [("Authorization", f"Bearer junk\nAuthorization: Bearer {token}")], {400, 401}),
        ("NUL inside the value", [("Authorization", f"Bearer {token}\x00")], {400, 401}),
        ("obs-fold continuation", [("Authorization", "Bearer"), (" " + token, "")], {400, 401}),
        ("space before colon", [("Authorization ", f"Bearer {token}")], {400, 401}),
    ]
    for name, headers, expected in cases:
        status, response = _raw_request(hostile, base, path, headers)
        assert status in expected, f"{name}: {status} {response[:300]!r}"
        if status == 401:
            assert b"WWW-Authenticate" in response or b"www-authenticate" in response, name
    _assert_alive(hostile)


def test_two_authorization_headers_are_refused_with_a_clear_message(hostile: Hostile) -> None:
    token = hostile.token("hsm-admin", DATA_PLANE)
    status, response = _raw_request(
        hostile, hostile.fuzz_hsm_uri, ROLE_ASSIGNMENTS, [("Authorization", f"Bearer {token}")] * 2
    )
    assert status == 401
    assert b"carries 2 Authorization headers" in response
    arm_token = hostile.token("sub-owner", ARM)
    status, response = _raw_request(
        hostile,
        hostile.url,
        _arm_groups(hostile, hostile.directory.subscription_id),
        [("Authorization", f"Bearer {arm_token}")] * 2,
    )
    assert status == 401
    assert b"InvalidAuthenticationToken" in response

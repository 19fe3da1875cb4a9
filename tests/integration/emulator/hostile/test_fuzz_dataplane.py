"""Property-based hostile input on the data plane, over HTTPS with a real token (raw HTTP: the SDK would refuse
most of these bodies client-side). Property: never a 5xx, and a 4xx leaves the HSM's state exactly as it was
(keys with their versions, attributes and tags, deleted keys, rotation policies, role assignments and definitions).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.integration.emulator.hostile.conftest import DATA_PLANE, Hostile, create_unactivated_hsm
from tests.integration.emulator.hostile.strategies import (
    B64URL_JUNK,
    FUZZ,
    field_values,
    json_values,
    mutated,
    path_segments,
    raw_bodies,
)
from tests.integration.emulator.hostile.strategies import check as check_property
from tests.integration.emulator.hostile.strategies import encode as encode_body

pytestmark = pytest.mark.integration
API = {"api-version": "7.6"}
KEYS = ("fz-rsa", "fz-ec", "fz-oct")
PROVIDERS = "providers/Microsoft.Authorization"
CRYPTO_USER_ID = (
    "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b"
)


class DataPlane:
    """Raw HTTPS to one HSM as hsm-admin (Administrator + Crypto User + Crypto Officer) and its state snapshot."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def send(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> httpx.Response:
        content = None if body is None else encode_body(body)
        headers = {"Content-Type": "application/json"} if content is not None else {}
        return self.http.request(
            method, path, params=API if params is None else params, content=content, headers=headers
        )

    def raw(self, method: str, target: str, body: Any = None) -> httpx.Response:
        """Send `target` byte for byte as the request line's target (no client-side path normalisation)."""
        content = None if body is None else encode_body(body)
        return self.http.request(method, "/", content=content, extensions={"target": target.encode()})

    def snapshot(self) -> dict[str, Any]:
        def get(path: str) -> Any:
            response = self.http.get(path, params=API)
            assert response.status_code == 200, response.text
            return response.json()

        keys = get("/keys?maxresults=25")
        state: dict[str, Any] = {
            "keys": sorted(
                (item["kid"], item["attributes"]["updated"], repr(item.get("tags"))) for item in keys["value"]
            ),
            "more": keys.get("nextLink") is not None,
            "deleted": sorted(item["kid"] for item in get("/deletedkeys")["value"]),
            "assignments": sorted(
                a["id"] + a["properties"]["scope"] for a in get(f"/{PROVIDERS}/roleAssignments")["value"]
            ),
            "definitions": sorted(
                d["id"] + repr(d["properties"]) for d in get(f"/{PROVIDERS}/roleDefinitions")["value"]
            ),
        }
        for name in KEYS:
            versions = get(f"/keys/{name}/versions")["value"]
            state[name] = sorted(
                (v["kid"], repr(v["attributes"]), repr(v.get("tags")), repr(v.get("key_ops"))) for v in versions
            )
            policy = self.http.get(f"/keys/{name}/rotationpolicy", params=API)
            state[f"{name}-policy"] = policy.status_code, policy.text if policy.status_code == 200 else ""
        return state

    def check(self, send: Any, *, read_only: bool = False) -> httpx.Response:
        return check_property(send, self.snapshot, read_only=read_only)


@pytest.fixture(scope="module")
def dp(hostile: Hostile) -> Iterator[DataPlane]:
    with hostile.http(hostile.fuzz_hsm_uri, hostile.token("hsm-admin", DATA_PLANE)) as http:
        plane = DataPlane(http)
        for name, body in zip(
            KEYS,
            (
                {"kty": "RSA-HSM", "key_size": 2048},
                {"kty": "EC-HSM", "crv": "P-256"},
                {"kty": "oct-HSM", "key_size": 256},
            ),
            strict=True,
        ):
            assert plane.send("POST", f"/keys/{name}/create", body).status_code == 200
        yield plane


# ------------------------------------------------------------------------------------------------ key bodies

ATTRIBUTES = field_values(
    [
        {"enabled": "yes"},
        {"enabled": None},
        {"nbf": -1},
        {"exp": 2**63},
        {"exp": 2**64 + 5},
        {"nbf": 10**30},
        {"nbf": 2_000_000_000, "exp": 1_000_000_000},
        {"exportable": True},
        {"exp": 1.5},
        {"created": "x", "recoveryLevel": 7},
    ]
)
TAGS = field_values(
    [
        {"k": 1},
        {"k": None},
        {f"t{i}": "v" for i in range(16)},
        {"k" * 300: "v"},
        {"k": "v" * 300},
        {"": ""},
        {"é": "💥"},
        ["k", "v"],
    ]
)
KEY_OPS = field_values(
    [["encrypt", "bogus"], ["ENCRYPT"], [], ["sign", "sign"], "sign", [1], ["import", "export"], ["wrapKey"] * 50]
)
CREATE_FIELDS = {
    "kty": field_values(["RSA", "RSA-HSM", "EC", "EC-HSM", "oct", "oct-HSM", "rsa-hsm", "", "DSA", "OKP"]),
    "key_size": field_values(
        [0, -1, 1, 128, 192, 256, 512, 1024, 2047, 3072, 4096, 8192, 2**31, 2**64, "2048", 2048.0]
    ),
    "crv": field_values(["P-256", "P-256K", "P-384", "P-521", "P-224", "Ed25519", "", "p-256"]),
    "public_exponent": field_values([3, 65537, 1, 2, 0, -65537, 2**64, 65536]),
    "key_ops": KEY_OPS,
    "attributes": ATTRIBUTES,
    "tags": TAGS,
    "release_policy": field_values([{"data": "!!"}, {"contentType": 1}, {"immutable": "no"}, {}]),
}


@FUZZ
@given(
    name=st.sampled_from(KEYS),
    body=mutated({"kty": "RSA-HSM", "key_size": 2048}, CREATE_FIELDS) | raw_bodies,
)
@example(name="fz-rsa", body={"kty": "RSA-HSM", "key_size": 2048, "attributes": {"exp": 2**64 + 5}})
@example(name="fz-rsa", body={"kty": "RSA-HSM", "key_size": 2048, "attributes": {"nbf": 10**30}})
@example(name="fz-rsa", body={"kty": "RSA-HSM", "key_size": 2048, "public_exponent": 2**64})
@example(name="fz-rsa", body={"kty": "RSA-HSM", "key_size": 2**31})
@example(name="fz-ec", body={"kty": "EC-HSM", "crv": "P-256", "key_size": 2048})
def test_create_key_bodies(dp: DataPlane, name: str, body: Any) -> None:
    dp.check(lambda: dp.send("POST", f"/keys/{name}/create", body))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


JWK_FIELDS = {
    "kty": field_values(["RSA", "RSA-HSM", "EC", "oct", "oct-HSM", "", "EC-HSM"]),
    "k": B64URL_JUNK,
    "n": B64URL_JUNK,
    "e": B64URL_JUNK,
    "d": B64URL_JUNK,
    "p": B64URL_JUNK,
    "q": B64URL_JUNK,
    "crv": field_values(["P-256", "P-384", "X25519", ""]),
    "x": B64URL_JUNK,
    "y": B64URL_JUNK,
    "key_hsm": B64URL_JUNK,
    "key_ops": KEY_OPS,
}


@st.composite
def import_bodies(draw: st.DrawFn) -> Any:
    jwk = draw(mutated({"kty": "oct-HSM", "k": _b64(b"\x01" * 32)}, JWK_FIELDS))
    return draw(
        mutated(
            {"key": jwk, "Hsm": True},
            {
                "key": st.just(jwk) | json_values,
                "Hsm": field_values([False, "true", 1]),
                "attributes": ATTRIBUTES,
                "tags": TAGS,
            },
        )
    )


@FUZZ
@given(name=st.sampled_from(KEYS), body=import_bodies() | raw_bodies)
@example(name="fz-oct", body={"key": {"kty": "oct-HSM", "k": "_-_-"}})
@example(name="fz-oct", body={"key": {"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "AQAB"}})
@example(name="fz-ec", body={"key": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AQ"}})
def test_import_key_bodies(dp: DataPlane, name: str, body: Any) -> None:
    dp.check(lambda: dp.send("PUT", f"/keys/{name}", body))


@FUZZ
@given(
    name=st.sampled_from(KEYS),
    version=st.sampled_from(["", "/0123456789abcdef0123456789abcdef", "/zz"]),
    body=mutated(
        {"tags": {"a": "b"}},
        {"key_ops": KEY_OPS, "attributes": ATTRIBUTES, "tags": TAGS, "release_policy": json_values},
    )
    | raw_bodies,
)
def test_update_key_bodies(dp: DataPlane, name: str, version: str, body: Any) -> None:
    dp.check(lambda: dp.send("PATCH", f"/keys/{name}{version}", body))


# ------------------------------------------------------------------------------------------------ crypto

ALGORITHMS = [
    "RSA-OAEP",
    "RSA-OAEP-256",
    "RSA1_5",
    "RS256",
    "PS512",
    "ES256",
    "ES256K",
    "ES512",
    "A256GCM",
    "A128GCM",
    "A256CBC",
    "A256CBCPAD",
    "A256KW",
    "CKM_AES_KEY_WRAP",
    "HS256",
    "none",
    "",
    "rsa-oaep",
]
CRYPTO_FIELDS = {
    "alg": field_values(ALGORITHMS),
    "value": B64URL_JUNK,
    "iv": B64URL_JUNK,
    "tag": B64URL_JUNK,
    "aad": B64URL_JUNK,
    "digest": B64URL_JUNK,
}


@FUZZ
@given(
    name=st.sampled_from(KEYS),
    operation=st.sampled_from(["encrypt", "decrypt", "wrapkey", "unwrapkey", "sign", "verify"]),
    body=mutated({"alg": "RSA-OAEP-256", "value": _b64(b"x" * 32)}, CRYPTO_FIELDS) | raw_bodies,
)
@example(name="fz-oct", operation="decrypt", body={"alg": "A256GCM", "value": "AA", "iv": "", "tag": "AA"})
@example(name="fz-oct", operation="encrypt", body={"alg": "A256CBC", "value": "AAAA", "iv": "AA"})
@example(name="fz-oct", operation="unwrapkey", body={"alg": "A256KW", "value": "AAAA"})
@example(name="fz-ec", operation="sign", body={"alg": "ES256", "value": "AA"})
@example(name="fz-rsa", operation="verify", body={"alg": "PS512", "digest": "AA", "value": "AA"})
@example(name="fz-rsa", operation="decrypt", body={"alg": "RSA1_5", "value": "AA"})
def test_crypto_operation_bodies(dp: DataPlane, name: str, operation: str, body: Any) -> None:
    dp.check(lambda: dp.send("POST", f"/keys/{name}/{operation}", body), read_only=True)


# ------------------------------------------------------------------------------------------------ rotation policy

DURATIONS = ["P28D", "P1Y", "P0D", "PT1H", "P-1D", "P99999999999Y", "P1Y2M3DT4H5M6S", "1 year", "", "P", "PT"]
POLICY_FIELDS = {
    "lifetimeActions": field_values(
        [
            [{"trigger": {"timeAfterCreate": d}, "action": {"type": "Rotate"}} for d in ("P1D", "P-1D")],
            [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}],
            [{"trigger": {}, "action": {"type": "Rotate"}}],
            [{"trigger": {"timeAfterCreate": "P1D", "timeBeforeExpiry": "P1D"}, "action": {"type": "rotate"}}],
            [{"trigger": {"timeAfterCreate": 5}, "action": {}}],
            [{"trigger": {"timeAfterCreate": "P99999999999Y"}, "action": {"type": "Rotate"}}],
            [None],
            {},
        ]
    ),
    "attributes": st.one_of(st.sampled_from(DURATIONS).map(lambda d: {"expiryTime": d}), json_values),
}


@FUZZ
@given(
    name=st.sampled_from(KEYS),
    body=mutated(
        {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}]}, POLICY_FIELDS
    )
    | raw_bodies,
)
@example(name="fz-rsa", body={"attributes": {"expiryTime": "P99999999999Y"}})
@example(
    name="fz-rsa",
    body={"lifetimeActions": [{"trigger": {"timeAfterCreate": "P99999999999Y"}, "action": {"type": "Rotate"}}]},
)
def test_rotation_policy_bodies(dp: DataPlane, name: str, body: Any) -> None:
    dp.check(lambda: dp.send("PUT", f"/keys/{name}/rotationpolicy", body))


# ------------------------------------------------------------------------------------------------ local RBAC

SCOPES = [
    "",
    "/keys",
    "/keys/fz-rsa",
    "/keys/%2e%2e",
    "/keys/a/b",
    "/certificates",
    "/keys/%C3%A9",
    "//",
    "/keys/" + "k" * 200,
]
ROLE_IDS = [
    CRYPTO_USER_ID,
    "/" + CRYPTO_USER_ID,
    "21dbd100-6940-42c2-9190-5d6cb909625b",
    "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/00000000-0000-0000-0000-000000000000",
    "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/not-a-guid",
    "/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b",
    "",
]
PRINCIPAL_IDS = [
    str(uuid.UUID(int=7)),
    "not-a-guid",
    "",
    "00000000-0000-0000-0000-000000000000",
    "{" + str(uuid.UUID(int=8)) + "}",
]
ASSIGNMENT_NAMES = [str(uuid.UUID(int=9)), "not-a-guid", "a" * 300, "%2F", "..", "%C3%A9"]


@FUZZ
@given(
    scope=st.sampled_from(SCOPES),
    name=st.sampled_from(ASSIGNMENT_NAMES) | path_segments,
    body=mutated(
        {"properties": {"roleDefinitionId": CRYPTO_USER_ID, "principalId": str(uuid.UUID(int=7))}},
        {
            "properties": st.one_of(
                st.fixed_dictionaries(
                    {"roleDefinitionId": field_values(ROLE_IDS), "principalId": field_values(PRINCIPAL_IDS)}
                ),
                json_values,
            )
        },
    )
    | raw_bodies,
)
@example(scope="/keys/a/b", name=str(uuid.UUID(int=9)), body={"properties": {"roleDefinitionId": CRYPTO_USER_ID}})
def test_role_assignment_bodies_and_scopes(dp: DataPlane, scope: str, name: str, body: Any) -> None:
    dp.check(lambda: dp.raw("PUT", f"{scope}/{PROVIDERS}/roleAssignments/{name}?api-version=7.6", body))


PERMISSIONS = field_values(
    [
        [{"dataActions": ["Microsoft.KeyVault/managedHsm/keys/read/action"]}],
        [{"dataActions": ["Microsoft.KeyVault/managedHsm/keys/bogus"]}],
        [{"dataActions": ["*"]}],
        [{"actions": [1]}],
        [{"notDataActions": "x"}],
        [None],
        [{"dataActions": ["Microsoft.KeyVault/managedHsm/keys/read/action"] * 500}],
    ]
)


@FUZZ
@given(
    name=st.sampled_from([str(uuid.UUID(int=11)), "21dbd100-6940-42c2-9190-5d6cb909625b", "x", ""]) | path_segments,
    scope=st.sampled_from(["", "/keys", "/keys/fz-rsa", "/x"]),
    body=mutated(
        {
            "properties": {
                "roleName": "fuzz role",
                "type": "CustomRole",
                "permissions": [{"dataActions": ["Microsoft.KeyVault/managedHsm/keys/read/action"]}],
                "assignableScopes": ["/"],
            }
        },
        {
            "properties": st.one_of(
                st.fixed_dictionaries(
                    {
                        "roleName": field_values(["", "Managed HSM Crypto User", "r" * 1000]),
                        "type": field_values(["CustomRole", "AKVBuiltInRole", "customrole"]),
                        "permissions": PERMISSIONS,
                        "assignableScopes": field_values([["/keys"], ["/", "/keys"], [], ["/subscriptions/x"], "/"]),
                        "description": field_values(["d" * 5000, None]),
                    }
                ),
                json_values,
            )
        },
    )
    | raw_bodies,
)
@example(name="21dbd100-6940-42c2-9190-5d6cb909625b", scope="", body={"properties": {"roleName": "overwrite"}})
def test_role_definition_bodies(dp: DataPlane, name: str, scope: str, body: Any) -> None:
    dp.check(lambda: dp.raw("PUT", f"{scope}/{PROVIDERS}/roleDefinitions/{name}?api-version=7.6", body))


# ------------------------------------------------------------------------------------------------ backup / restore

STORAGE_URIS = [
    "https://127.0.0.1:1/backups",
    "http://127.0.0.1:1/backups",
    "https://127.0.0.1:1/",
    "ftp://x/y",
    "not a url",
    "",
    "https://[::1",
    "https://127.0.0.1:99999/c",
    "https://127.0.0.1:port/c",
    "https://user:pass@127.0.0.1:1/c/d/e",
]
SAS_FIELDS = {
    "storageResourceUri": field_values(STORAGE_URIS),
    "token": field_values(["sv=2020&sig=abc", "", "?sig=x"]),
    "useManagedIdentity": field_values([True, "false", 1]),
}


@FUZZ
@given(
    endpoint=st.sampled_from([("POST", "/backup"), ("POST", "/prebackup")]),
    body=mutated({"storageResourceUri": "not a url", "token": "sv=x"}, SAS_FIELDS) | raw_bodies,
)
@example(endpoint=("POST", "/backup"), body={"storageResourceUri": "https://[::1", "token": "x"})
@example(endpoint=("POST", "/backup"), body={"storageResourceUri": "https://127.0.0.1:99999/c", "token": "x"})
def test_backup_bodies(dp: DataPlane, endpoint: tuple[str, str], body: Any) -> None:
    response = dp.check(lambda: dp.send(endpoint[0], endpoint[1], body))
    _wait_for_job(dp, response, "backup")


@FUZZ
@given(
    endpoint=st.sampled_from([("PUT", "/restore"), ("PUT", "/prerestore"), ("PUT", "/keys/fz-rsa/restore")]),
    body=mutated(
        {
            "sasTokenParameters": {"storageResourceUri": "not a url", "token": "x"},
            "folderToRestore": "f",
            "folder": "f",
        },
        {
            "sasTokenParameters": st.one_of(mutated({"storageResourceUri": "nope"}, SAS_FIELDS), json_values),
            "folderToRestore": field_values(["", "..", "../x", "a/b", "mhsm-x-20250101000000"]),
            "folder": field_values(["", "..", "a/b"]),
        },
    )
    | raw_bodies,
)
@example(
    endpoint=("PUT", "/restore"),
    body={"sasTokenParameters": {"storageResourceUri": "https://[::1", "token": "x"}, "folderToRestore": "f"},
)
def test_restore_bodies(dp: DataPlane, endpoint: tuple[str, str], body: Any) -> None:
    response = dp.check(lambda: dp.send(endpoint[0], endpoint[1], body))
    _wait_for_job(dp, response, "restore")


def _wait_for_job(dp: DataPlane, response: httpx.Response, family: str) -> None:
    """A 202 started a job against an unreachable store: let it fail so the next example is not refused 409."""
    if response.status_code != 202:
        return
    job = response.json()["jobId"]
    for _ in range(200):
        status = dp.send("GET", f"/{family}/{job}/pending").json()["status"]
        if status != "InProgress":
            return
    pytest.fail(f"{family} job {job} still InProgress")


@FUZZ
@given(body=mutated({"value": "AAAA"}, {"value": B64URL_JUNK}) | raw_bodies)
def test_single_key_restore_bodies(dp: DataPlane, body: Any) -> None:
    dp.check(lambda: dp.send("POST", "/keys/restore", body))


@FUZZ
@given(body=mutated({"count": 16}, {"count": field_values([0, -1, 129, 128, 2**64, "16", 1.5, None])}) | raw_bodies)
def test_random_bytes_bodies(dp: DataPlane, body: Any) -> None:
    dp.check(lambda: dp.send("POST", "/rng", body), read_only=True)


# ------------------------------------------------------------------------------------------------ paths and queries


@FUZZ
@given(
    method=st.sampled_from(["GET", "DELETE", "PATCH", "POST"]),
    template=st.sampled_from(
        [
            "/keys/{}",
            "/keys/{}/versions",
            "/keys/{}/create",
            "/keys/{}/sign",
            "/keys/{}/0123456789abcdef0123456789abcdef",
            "/deletedkeys/{}",
            "/deletedkeys/{}/recover",
            "/keys/fz-rsa/{}",
            "/keys/fz-rsa/{}/encrypt",
            "/{}/providers/Microsoft.Authorization/roleAssignments",
            "/keys/{}/providers/Microsoft.Authorization/roleAssignments",
            "/backup/{}/pending",
            "/settings/{}",
            "/{}",
        ]
    ),
    segment=path_segments,
)
@example(method="GET", template="/keys/{}", segment="..")
@example(method="DELETE", template="/keys/{}", segment="%2e%2e")
@example(method="DELETE", template="/deletedkeys/{}", segment="k" * 4000)
def test_path_segments(dp: DataPlane, method: str, template: str, segment: str) -> None:
    # The body is one no handler accepts, so a route that reads it answers 4xx; deletes hit names that do not exist.
    body = {"kty": "bogus", "alg": "bogus", "value": "AA"} if method in ("POST", "PATCH") else None
    dp.check(lambda: dp.raw(method, template.format(segment) + "?api-version=7.6", body))


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/keys",
            "/deletedkeys",
            "/keys/fz-rsa/versions",
            "/keys/fz-rsa",
            f"/{PROVIDERS}/roleAssignments",
            f"/{PROVIDERS}/roleDefinitions",
            "/settings",
        ]
    ),
    params=st.dictionaries(
        st.sampled_from(["api-version", "maxresults", "$filter", "$top", "$skiptoken", "x"]),
        st.one_of(
            st.sampled_from(
                [
                    "7.6",
                    "7.1",
                    "",
                    "2025-07-01",
                    "0",
                    "-1",
                    "26",
                    "25",
                    "99999999999999999999",
                    "1e3",
                    "atScope()",
                    "principalId eq 'x'",
                    "principalId eq '",
                    "roleName eq 'Managed HSM Crypto User'",
                    "atScopeAndBelow() or x",
                    "$filter",
                    "%00",
                ]
            ),
            st.text(max_size=30),
        ),
        max_size=4,
    ),
)
@example(path="/keys", params={"api-version": "7.6", "maxresults": "99999999999999999999"})
@example(path="/keys", params={"api-version": "7.6", "$skiptoken": "%00"})
def test_query_parameters(dp: DataPlane, path: str, params: dict[str, str]) -> None:
    dp.check(lambda: dp.send("GET", path, params=params), read_only=True)


# ------------------------------------------------------------------------------------------------ security domain


@pytest.fixture(scope="module")
def sd_plane(hostile: Hostile) -> Iterator[DataPlane]:
    uri = create_unactivated_hsm(hostile, "sd-fuzz-hsm")
    with hostile.http(uri, hostile.token("hsm-admin", DATA_PLANE)) as http:
        yield DataPlane(http)


CERTIFICATE = {
    "kty": "RSA",
    "n": _b64(b"\xc5" * 256),
    "e": "AQAB",
    "x5c": ["MIIB"],
    "x5t#S256": "AA",
    "key_ops": ["verify"],
    "alg": "RSA-OAEP-256",
    "kid": "x",
}


@FUZZ
@given(
    body=mutated(
        {"certificates": [CERTIFICATE] * 3, "required": 2},
        {
            "certificates": field_values([[], [CERTIFICATE], [CERTIFICATE] * 11, [{}] * 3, [None], "x"]),
            "required": field_values([0, 1, 2, 3, 4, 11, -2, 2**64, "2"]),
        },
    )
    | raw_bodies,
)
@example(body={"certificates": [CERTIFICATE] * 3, "required": 2**64})
def test_security_domain_download_bodies(sd_plane: DataPlane, body: Any) -> None:
    response = sd_plane.send("POST", "/securitydomain/download", body)
    assert response.status_code < 500, response.text
    assert 400 <= response.status_code < 500, "an activation from junk certificates"
    status = sd_plane.send("GET", "/securitydomain/download/pending").json()
    assert status["status"] != "Success", status

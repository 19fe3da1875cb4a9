"""Table tests of the loop's edges: SDK error mapping, env config, Secret parsing, due checks, status patches,
and the ManagedHSM field-level diff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.core.rest import HttpRequest
from azure.core.rest._http_response_impl import HttpResponseImpl

from hsm_operator.azure import credentials
from hsm_operator.azure import errors as azure_errors
from hsm_operator.controller import Controller, status_patch
from hsm_operator.kinds import managedhsm
from hsm_operator.models.managedhsm import ManagedHSMSpec
from hsm_operator.reconciler import errors
from hsm_operator.reconciler.managed import Outcome
from hsm_operator.settings import ConfigError, config_from_env


def http_error(status: int, body: str = "", headers: dict[str, str] | None = None) -> HttpResponseError:
    request = HttpRequest("GET", "https://example.test/")
    response = HttpResponseImpl(
        request=request,
        internal_response=None,
        status_code=status,
        headers=headers or {},
        reason="",
        content_type="application/json",
        stream_download_generator=None,
    )
    response._content = body.encode()
    return HttpResponseError(response=response)


@pytest.mark.parametrize(
    ("exc", "reason", "retry_after"),
    [
        (http_error(403, '{"error":{"code":"AuthorizationFailed","message":"no"}}'), "AuthorizationFailed", None),
        (http_error(429, "", {"Retry-After": "7"}), "Throttled", 7.0),
        (http_error(429, "", {"retry-after-ms": "1500"}), "Throttled", 1.5),
        (http_error(404), "NotFound", None),
        (http_error(409, '{"error":{"code":"Conflict","message":"in a deleted state"}}'), "SoftDeletedConflict", None),
        (http_error(409, '{"error":{"code":"Conflict","message":"operation in progress"}}'), "Conflict", None),
        (http_error(400, '{"error":{"code":"BadRequest","message":"bad sku"}}'), "InvalidSpec", None),
        (http_error(503, "", {"Retry-After": "3"}), "Unavailable", 3.0),
        (ClientAuthenticationError("AADSTS7000215: Invalid client secret"), "AuthenticationFailed", None),
        (ServiceRequestError("Cannot connect to host"), "Unavailable", None),
    ],
)
def test_sdk_errors_map_to_reasons(exc: Exception, reason: str, retry_after: float | None) -> None:
    mapped = azure_errors.classify(exc)
    assert mapped is not None
    assert mapped.reason == reason
    assert mapped.retry_after == retry_after
    assert "\n" not in mapped.message


def test_unknown_exceptions_are_left_to_the_loop() -> None:
    assert azure_errors.classify(ValueError("x")) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HSM_SYNC_INTERVAL": "5"}, "HSM_SYNC_INTERVAL"),
        ({"HSM_SYNC_INTERVAL": "soon"}, "HSM_SYNC_INTERVAL"),
        ({"HSM_ARM_ENDPOINT": "http://plain"}, "HSM_ARM_ENDPOINT"),
        ({"HSM_CA_BUNDLE": "/nonexistent/ca.pem"}, "HSM_CA_BUNDLE"),
        ({"HSM_VERIFY_CHALLENGE_RESOURCE": "maybe"}, "HSM_VERIFY_CHALLENGE_RESOURCE"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_env(env)


def test_environment_defaults_and_private_authority() -> None:
    config = config_from_env(
        {"AZURE_AUTHORITY_HOST": "https://127.0.0.1:8443/", "HSM_VERIFY_CHALLENGE_RESOURCE": "false"}
    )
    assert config.arm_endpoint == "https://management.azure.com"
    assert config.sync_interval == 600
    assert config.authority_host == "https://127.0.0.1:8443"
    assert not config.authority_is_public_cloud
    assert config.verify_challenge_resource is False
    assert config_from_env({}).authority_is_public_cloud


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "Secret ns/creds .* not found"),
        ({"tenantId": b"t", "clientId": b"c"}, "lacks key\\(s\\) clientSecret"),
        ({"tenantId": b"t", "clientId": b" ", "clientSecret": b"s"}, "lacks key\\(s\\) clientId"),
        ({"tenantId": b"t", "clientId": b"c", "clientSecret": b"\xff"}, "not UTF-8"),
    ],
)
def test_credential_secret_problems_are_credentials_missing(data: dict[str, bytes] | None, message: str) -> None:
    with pytest.raises(errors.CredentialsMissing, match=message):
        credentials.parse_secret(data, namespace="ns", name="creds")


def test_credential_secret_fingerprint_hides_the_secret() -> None:
    secret = credentials.parse_secret(
        {"tenantId": b"t", "clientId": b"c", "clientSecret": b"s3cr3t"}, namespace="ns", name="creds"
    )
    assert "s3cr3t" not in repr(secret)
    assert "s3cr3t" not in secret.fingerprint


def test_status_patch_contains_only_changed_fields() -> None:
    body = {"status": {"hsmUri": "u", "drift": [], "observedGeneration": 1}}
    outcome = Outcome(status={"hsmUri": "u", "drift": [], "observedGeneration": 2, "plan": []})
    assert status_patch(body, outcome) == {"observedGeneration": 2, "plan": []}


def _controller() -> Controller:
    runtime: Any = type("R", (), {"config": config_from_env({"HSM_SYNC_INTERVAL": "100"})})()
    return Controller(managedhsm.KIND, runtime)


@pytest.mark.parametrize(
    ("age", "annotation", "due"),
    [
        (None, None, True),  # never synced
        (50, None, False),
        (200, None, True),
        (50, "40", False),  # below the floor, min(300 s, HSM_SYNC_INTERVAL) = 100 s
        (150, "120", True),  # a longer per-object interval
        (125, "120", False),
        (150, "5m", False),
        (150, "bogus", True),  # a bad annotation falls back to the default interval
    ],
)
def test_periodic_pass_runs_only_when_due(age: int | None, annotation: str | None, due: bool) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    status = {} if age is None else {"lastSyncTime": (now - timedelta(seconds=age)).isoformat().replace("+00:00", "Z")}
    annotations = {} if annotation is None else {"mhsm.dev/sync-interval": annotation}
    body = {"metadata": {"uid": "u1", "annotations": annotations}, "status": status}
    assert _controller().due(body, now=now) is due


SPEC = ManagedHSMSpec.model_validate(
    {
        "subscriptionId": "00000000-0000-0000-0000-000000000001",
        "resourceGroupName": "rg-one",
        "location": "westeurope",
        "sku": {"name": "Standard_B1"},
        "tenantId": "00000000-0000-0000-0000-000000000002",
        "initialAdminObjectIds": ["00000000-0000-0000-0000-000000000003"],
        "enablePurgeProtection": False,
        "softDeleteRetentionInDays": 7,
        "tags": {"env": "prod"},
        "networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "1.2.3.4"}, {"value": "5.6.7.8"}]},
    }
)
OBSERVED = {
    "id": "/subscriptions/s/resourceGroups/rg-one/providers/Microsoft.KeyVault/managedHSMs/h",
    "location": "West Europe",
    "sku": {"family": "B", "name": "Standard_B1"},
    "tags": {"env": "prod"},
    "properties": {
        "tenantId": "00000000-0000-0000-0000-000000000002",
        "initialAdminObjectIds": ["00000000-0000-0000-0000-000000000003"],
        "softDeleteRetentionInDays": 7,
        "enablePurgeProtection": False,
        "publicNetworkAccess": "Enabled",
        "networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "5.6.7.8"}, {"value": "1.2.3.4"}]},
    },
}


def _observed(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {**OBSERVED, "properties": dict(OBSERVED["properties"])}
    for path, value in changes.items():
        if path.startswith("properties__"):
            doc["properties"][path.removeprefix("properties__")] = value
        else:
            doc[path] = value
    return doc


@pytest.mark.parametrize(
    ("observed", "rg", "want"),
    [
        (_observed(), "rg-one", []),
        (_observed(tags={"env": "dev", "extra": "x"}), "rg-one", [("tags.env", True), ("tags.extra", True)]),
        (_observed(sku={"name": "Custom_B32"}), "rg-one", [("sku.name", False)]),
        (_observed(location="northeurope"), "rg-one", [("location", False)]),
        (_observed(properties__enablePurgeProtection=True), "rg-one", [("enablePurgeProtection", False)]),
        (_observed(properties__publicNetworkAccess="Disabled"), "rg-one", [("publicNetworkAccess", True)]),
        (
            _observed(properties__networkAcls={"defaultAction": "Allow"}),
            "rg-one",
            [("networkAcls.defaultAction", True), ("networkAcls.ipRules", True)],
        ),
        (_observed(), "rg-two", [("resourceGroupName", True)]),
    ],
)
def test_managedhsm_diff(observed: dict[str, Any], rg: str, want: list[tuple[str, bool]]) -> None:
    drift = managedhsm.diff(SPEC, observed, observed_rg=rg)
    assert [(d.path, d.mutable) for d in drift] == want


@pytest.mark.parametrize(
    ("state", "ready", "busy", "reason"),
    [
        ("Succeeded", True, False, "Available"),
        ("Provisioning", False, True, "Creating"),
        ("Updating", False, True, "Updating"),
        ("Failed", False, False, "Unavailable"),
    ],
)
def test_managedhsm_readiness(state: str, ready: bool, busy: bool, reason: str) -> None:
    readiness, is_busy = managedhsm.readiness({"properties": {"provisioningState": state}})
    assert (readiness.ready, is_busy, readiness.reason) == (ready, busy, reason)

"""The pydantic CRD models parse the example objects, apply the documented defaults, and reject what the CRDs reject.

The invalid cases are the same files the integration tests send to the real apiserver (tests/fixtures/crs), so a
rule that exists on only one side shows up here or there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from hsm_operator.models import common, hsmkey, hsmroleassignment, hsmsecuritydomain, managedhsm, registry
from tests.fixtures.crs import cases


def spec_model(body: dict[str, Any]) -> type[common.ManagedResourceSpec]:
    return registry.BY_KIND[body["kind"]].spec_model


@pytest.mark.parametrize("name", cases.valid_object_names())
def test_valid_objects_parse_and_round_trip(name: str) -> None:
    body = cases.load_object(name)
    assert body["apiVersion"] == registry.API_VERSION
    model = spec_model(body)
    spec = model.model_validate(body["spec"])
    wire = spec.to_wire()
    # Everything the user wrote survives (same camelCase names), and parsing the wire form gives the same model.
    for key in body["spec"]:
        assert key in wire
    assert model.model_validate(wire) == spec


@pytest.mark.parametrize(
    ("kind", "spec", "expected"),
    [
        (
            "HSMKey",
            {"hsmRef": {"name": "h"}, "credentialRef": {"name": "c"}, "kty": "EC-HSM", "curve": "P-384"},
            {
                "deletionPolicy": "Orphan",
                "managementPolicies": ["*"],
                "driftPolicy": "Correct",
                "createMode": "Default",
                "attributes": {"enabled": True, "exportable": False},
            },
        ),
        (
            "ManagedHSM",
            cases.load_object("managedhsm.yaml")["spec"],
            {
                "deletionPolicy": "Orphan",
                "softDeleteRetentionInDays": 7,
                "enablePurgeProtection": True,
                "publicNetworkAccess": "Enabled",
                "createMode": "default",
            },
        ),
        ("HSMRoleAssignment", cases.load_object("hsmroleassignment.yaml")["spec"], {"deletionPolicy": "Delete"}),
        (
            "HSMRoleDefinition",
            cases.load_object("hsmroledefinition.yaml")["spec"],
            {"deletionPolicy": "Delete", "assignableScopes": ["/"]},
        ),
        ("HSMSecurityDomain", cases.load_object("hsmsecuritydomain.yaml")["spec"], {"deletionPolicy": "Orphan"}),
    ],
)
def test_defaults(kind: str, spec: dict[str, Any], expected: dict[str, Any]) -> None:
    wire = registry.BY_KIND[kind].spec_model.model_validate(spec).to_wire()
    assert {key: wire[key] for key in expected} == expected


def test_retention_defaults_to_90_days() -> None:
    spec = dict(cases.load_object("managedhsm.yaml")["spec"])
    del spec["softDeleteRetentionInDays"]
    assert managedhsm.ManagedHSMSpec.model_validate(spec).soft_delete_retention_in_days == 90


def test_release_policy_content_type_default() -> None:
    spec = hsmkey.HSMKeySpec.model_validate(cases.load_object("hsmkey-exportable.yaml")["spec"])
    assert spec.release_policy is not None
    assert spec.release_policy.content_type == "application/json; charset=utf-8"
    assert spec.release_policy.data["version"] == "1.0.0"


@pytest.mark.parametrize("case", [c for c in cases.invalid_cases() if c.on == "create"], ids=lambda c: c.id)
def test_invalid_objects_are_rejected_naming_the_field(case: cases.Case) -> None:
    body = case.patched_object()
    with pytest.raises(ValidationError) as error:
        spec_model(body).model_validate(body["spec"])
    assert case.field is not None
    field_name = case.field.rsplit(".", 1)[-1]
    assert field_name in str(error.value)


@pytest.mark.parametrize("case", cases.valid_updates(), ids=lambda c: c.id)
def test_valid_updates_parse(case: cases.Case) -> None:
    body = case.patched_object()
    spec_model(body).model_validate(body["spec"])


def test_python_names_are_accepted() -> None:
    spec = hsmkey.HSMKeySpec(
        hsm_ref=common.LocalObjectReference(name="h"),
        credential_ref=common.LocalObjectReference(name="c"),
        kty=hsmkey.KeyType.RSA_HSM,
        key_size=2048,
        key_name="k1",
    )
    assert spec.to_wire()["keyName"] == "k1"
    assert spec.to_wire()["hsmRef"] == {"name": "h"}


def test_policies_are_enums_the_reconciler_can_compare() -> None:
    spec = hsmroleassignment.HSMRoleAssignmentSpec.model_validate(
        {**cases.load_object("hsmroleassignment.yaml")["spec"], "managementPolicies": ["Observe", "Delete"]}
    )
    assert spec.management_policies == [common.ManagementAction.OBSERVE, common.ManagementAction.DELETE]
    assert spec.deletion_policy is common.DeletionPolicy.DELETE
    assert spec.drift_policy is common.DriftPolicy.CORRECT


def test_repeated_set_items_are_rejected() -> None:
    spec = dict(cases.load_object("hsmkey-rsa.yaml")["spec"], keyOps=["sign", "sign"])
    with pytest.raises(ValidationError, match="keyOps must not repeat"):
        hsmkey.HSMKeySpec.model_validate(spec)


def test_status_round_trips_and_ignores_unknown_fields() -> None:
    written = hsmkey.HSMKeyStatus(
        observed_generation=3,
        conditions=[
            common.Condition(
                type="Ready",
                status=common.ConditionStatus.TRUE,
                reason="Available",
                last_transition_time=datetime(2030, 1, 1, tzinfo=UTC),
                observed_generation=3,
            )
        ],
        drift=[common.DriftEntry(path="attributes.enabled", desired="true", observed="false")],
        key_id="https://h.managedhsm.azure.net/keys/k/0123",
        version_count=2,
    ).to_wire()
    assert written["conditions"][0]["lastTransitionTime"] == "2030-01-01T00:00:00Z"
    read = hsmkey.HSMKeyStatus.model_validate({**written, "fieldOfANewerOperator": 1})
    assert read.condition("Ready") is not None
    assert read.condition("Synced") is None
    assert read.to_wire() == written


def test_status_bounds_match_the_crd() -> None:
    entry = {"path": "p", "desired": "x" * (common.MAX_VALUE_LENGTH + 1)}
    with pytest.raises(ValidationError, match="desired"):
        common.ResourceStatus.model_validate({"drift": [entry]})


def test_security_domain_constants_match_the_schema() -> None:
    spec = hsmsecuritydomain.HSMSecurityDomainSpec.model_json_schema(by_alias=True)
    certificates = spec["properties"]["certificates"]
    assert (certificates["minItems"], certificates["maxItems"]) == (3, 10)

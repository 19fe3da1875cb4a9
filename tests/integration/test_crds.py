"""The generated CRDs against the real kube-apiserver: installed, discoverable, documented, and validating.

Every example object is accepted and stored exactly as the pydantic models would complete it (same defaults); every
invalid case of tests/fixtures/crs/invalid.yaml is rejected with a message that names the field; every valid update
of valid-updates.yaml goes through, so the immutability rules do not over-reach.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hsm_devtools.kubectl import Kubectl
from hsm_operator.models import common, hsmkey, registry
from tests.fixtures.crs import cases

pytestmark = pytest.mark.integration


def create(kubectl: Kubectl, namespace: str, body: dict[str, Any], *, check: bool = True) -> Any:
    # --validate=strict: unknown fields are rejected instead of being silently pruned.
    return kubectl("create", "--validate=strict", "-n", namespace, "-f", "-", input=json.dumps(body), check=check)


def get(kubectl: Kubectl, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    result = kubectl("get", "-n", namespace, resource(body), "-o", "json")
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def patch_status(kubectl: Kubectl, namespace: str, body: dict[str, Any], patch: dict[str, Any]) -> None:
    kubectl("patch", "-n", namespace, resource(body), "--subresource=status", "--type=merge", "-p", json.dumps(patch))


def resource(body: dict[str, Any]) -> str:
    return f"{registry.BY_KIND[body['kind']].crd_name}/{body['metadata']['name']}"


def test_all_crds_are_established(crds_installed: list[str], kubectl: Kubectl) -> None:
    names = {k.crd_name for k in registry.KINDS}
    assert {name.rsplit("/", 1)[-1] for name in crds_installed} >= names
    for name in names:
        established = kubectl(
            "get", "crd", name, "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"
        ).stdout
        assert established == "True", name


def test_explain_prints_field_descriptions(crds_installed: list[str], kubectl: Kubectl) -> None:
    out = kubectl("explain", "hsmkey.spec.kty").stdout
    assert "kty" in out
    assert "RSA-HSM (needs keySize 2048/3072/4096)" in out
    out = kubectl("explain", "managedhsm.spec.softDeleteRetentionInDays").stdout
    assert "Days a deleted HSM stays recoverable" in out


@pytest.mark.parametrize("name", cases.valid_object_names())
def test_valid_object_is_stored_with_the_models_defaults(
    crds_installed: list[str], kubectl: Kubectl, namespace: str, name: str
) -> None:
    body = cases.load_object(name)
    create(kubectl, namespace, body)
    stored = get(kubectl, namespace, body)
    model = registry.BY_KIND[body["kind"]].spec_model
    # The apiserver applied the CRD defaults; the models' own defaults must give exactly the same spec.
    assert stored["spec"] == model.model_validate(body["spec"]).to_wire()
    assert model.model_validate(stored["spec"]) == model.model_validate(body["spec"])


def test_category_and_printer_columns(crds_installed: list[str], kubectl: Kubectl, namespace: str) -> None:
    for name in cases.valid_object_names():
        create(kubectl, namespace, cases.load_object(name))
    listed = kubectl("get", "hsm", "-A").stdout
    for kind in registry.KINDS:
        assert f"{kind.singular}.{registry.GROUP}/" in listed, kind.kind
    keys = kubectl("get", "hsmkey", "-n", namespace).stdout.splitlines()
    assert keys[0].split() == ["NAME", "READY", "KTY", "SIZE/CURVE", "VERSION", "ENABLED", "AGE"]
    rows = {line.split()[0]: line.split() for line in keys[1:]}
    assert rows["ec-key"][1:4] == ["EC-HSM", "P-256", "true"]
    assert rows["signing-key"][1:4] == ["RSA-HSM", "3072", "true"]
    assignments = kubectl("get", "hsmra", "-n", namespace).stdout
    assert "Managed HSM Crypto User" in assignments
    assert "/keys/team-a-signing" in assignments
    hsms = kubectl("get", "mhsm", "-n", namespace).stdout.splitlines()
    assert hsms[0].split() == ["NAME", "READY", "STATE", "ACTIVATION", "URI", "AGE"]


@pytest.mark.parametrize("case", cases.invalid_cases(), ids=lambda c: c.id)
def test_invalid_object_is_rejected_naming_the_field(
    crds_installed: list[str], kubectl: Kubectl, namespace: str, case: cases.Case
) -> None:
    if case.on == "create":
        result = create(kubectl, namespace, case.patched_object(), check=False)
    else:
        body = case.base_object()
        create(kubectl, namespace, body)
        if case.status_patch is not None:
            patch_status(kubectl, namespace, body, case.status_patch)
        result = kubectl(
            "patch", "-n", namespace, resource(body), "--type=merge", "-p", json.dumps(case.patch), check=False
        )
    assert result.returncode != 0, f"{case.id}: accepted\n{result.stdout}"
    assert case.expect is not None
    assert case.expect in result.stderr, result.stderr


@pytest.mark.parametrize("case", cases.valid_updates(), ids=lambda c: c.id)
def test_valid_update_is_accepted(
    crds_installed: list[str], kubectl: Kubectl, namespace: str, case: cases.Case
) -> None:
    body = case.base_object()
    create(kubectl, namespace, body)
    if case.status_patch is not None:
        patch_status(kubectl, namespace, body, case.status_patch)
    kubectl("patch", "-n", namespace, resource(body), "--type=merge", "-p", json.dumps(case.patch))
    stored = get(kubectl, namespace, body)
    assert (
        stored["spec"]
        == registry.BY_KIND[body["kind"]].spec_model.model_validate(case.patched_object()["spec"]).to_wire()
    )


def test_status_subresource_accepts_what_the_operator_writes(
    crds_installed: list[str], kubectl: Kubectl, namespace: str
) -> None:
    body = cases.load_object("hsmkey-rsa.yaml")
    create(kubectl, namespace, body)
    status = hsmkey.HSMKeyStatus(
        observed_generation=1,
        conditions=[
            common.Condition(
                type="Ready",
                status=common.ConditionStatus.TRUE,
                reason="Available",
                last_transition_time=datetime(2030, 1, 1, tzinfo=UTC),
                observed_generation=1,
            )
        ],
        drift=[common.DriftEntry(path="attributes.enabled", desired="true", observed="false")],
        plan=[common.PlanEntry(action="Update", path="attributes.enabled", desired="true", observed="false")],
        current_version="0123456789abcdef0123456789abcdef",
        version_count=1,
    ).to_wire()
    patch_status(kubectl, namespace, body, {"status": status})
    stored = get(kubectl, namespace, body)
    assert stored["status"] == status
    row = kubectl("get", "hsmkey", "-n", namespace, "signing-key", "--no-headers").stdout.split()
    assert row[1:5] == ["True", "RSA-HSM", "3072", "0123456789abcdef0123456789abcdef"]


def _variants() -> list[tuple[str, dict[str, Any]]]:
    """Combinations around the cross-field rules, valid and invalid: the models and the CRDs must agree on each."""
    variants: list[tuple[str, dict[str, Any]]] = []
    key = cases.load_object("hsmkey-ec.yaml")
    for kty in ("RSA-HSM", "EC-HSM", "oct-HSM"):
        for size in (None, 128, 256, 1024, 2048, 4096):
            for curve in (None, "P-256", "P-521"):
                patch = {"spec": {"kty": kty, "keySize": size, "curve": curve}}
                variants.append((f"key {kty}/{size}/{curve}", cases.merge_patch(key, patch)))
    assignment = cases.load_object("hsmroleassignment.yaml")
    scopes = {"scope": "/keys", "keyRef": {"name": "k"}}
    roles = {
        "roleName": "r",
        "roleDefinitionId": "21dbd100-6940-42c2-9190-5d6cb909625b",
        "roleDefinitionRef": {"name": "d"},
    }
    for scope_mask in range(4):
        for role_mask in range(8):
            spec = {name: (value if scope_mask >> i & 1 else None) for i, (name, value) in enumerate(scopes.items())}
            spec |= {name: (value if role_mask >> i & 1 else None) for i, (name, value) in enumerate(roles.items())}
            variants.append(
                (f"assignment {sorted(k for k, v in spec.items() if v)}", cases.merge_patch(assignment, {"spec": spec}))
            )
    domain = cases.load_object("hsmsecuritydomain.yaml")
    for count in (2, 3, 5, 10, 11):
        certificates = [{"configMapKeyRef": {"name": "c", "key": f"{i}.pem"}} for i in range(count)]
        for quorum in (1, 2, 3, 5, 10, 11):
            patch = {"spec": {"certificates": certificates, "quorum": quorum}}
            variants.append((f"domain {count} certificates, quorum {quorum}", cases.merge_patch(domain, patch)))
    return variants


def test_models_and_crds_agree_on_cross_field_rules(
    crds_installed: list[str], kubectl: Kubectl, namespace: str
) -> None:
    disagreements = []
    for label, body in _variants():
        try:
            registry.BY_KIND[body["kind"]].spec_model.model_validate(body["spec"])
            model_accepts = True
        except ValueError:
            model_accepts = False
        result = kubectl(
            "create", "--dry-run=server", "--validate=strict", "-n", namespace, "-f", "-",
            input=json.dumps(body), check=False,
        )  # fmt: skip
        if (result.returncode == 0) != model_accepts:
            disagreements.append(f"{label}: model {'accepts' if model_accepts else 'rejects'}, {result.stderr}")
    assert not disagreements, "\n".join(disagreements)

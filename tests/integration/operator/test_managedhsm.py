"""ManagedHSM end to end: real kube-apiserver + emulator process + `hsm-operator run --plane management` process.

Out-of-band changes are made with the official azure-mgmt-keyvault SDK as another principal would, and every
assertion reads what the operator recorded in the apiserver (status, Events) or what exists in the emulator.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.keyvault.models import ManagedHsm

from tests.support.emulator_fixtures import EmulatorHandle
from tests.support.operator_fixtures import OperatorHandle

pytestmark = pytest.mark.integration

RG = "rg-one"


@pytest.fixture(scope="module")
def arm(emulator: EmulatorHandle) -> Iterator[KeyVaultManagementClient]:
    """The SDK as an out-of-band actor (same contributor identity as the operator)."""
    client = KeyVaultManagementClient(
        emulator.credential("mgmt-operator"),
        emulator.directory.subscription_id,
        base_url=emulator.url,
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=str(emulator.ca_file),
    )
    with client:
        yield client


def hsm_name() -> str:
    return f"hsm-{uuid.uuid4().hex[:10]}"


def manifest(emulator: EmulatorHandle, name: str, azure_name: str, **spec: Any) -> str:
    body = {
        "apiVersion": "mhsm.dev/v1alpha1",
        "kind": "ManagedHSM",
        "metadata": {"name": name, "annotations": spec.pop("annotations", {})},
        "spec": {
            "azureName": azure_name,
            "subscriptionId": emulator.directory.subscription_id,
            "resourceGroupName": RG,
            "location": emulator.directory.location,
            "sku": {"name": "Standard_B1"},
            "tenantId": emulator.tenant_id,
            "initialAdminObjectIds": [emulator.sp("hsm-admin").object_id],
            "softDeleteRetentionInDays": 7,
            "enablePurgeProtection": False,
            **spec,
        },
    }
    return json.dumps(body)


class Cluster:
    def __init__(self, kubectl: Any, namespace: str) -> None:
        self.kubectl = kubectl
        self.namespace = namespace

    def apply(self, document: str) -> None:
        self.kubectl("apply", "-n", self.namespace, "-f", "-", input=document)

    def get(self, name: str) -> dict[str, Any] | None:
        result = self.kubectl("get", "managedhsm", name, "-n", self.namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return dict(json.loads(result.stdout))

    def annotate(self, name: str, *pairs: str) -> None:
        self.kubectl("annotate", "--overwrite", "managedhsm", name, "-n", self.namespace, *pairs)

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.kubectl(
            "patch", "managedhsm", name, "-n", self.namespace, "--type=merge", "-p", json.dumps({"spec": spec})
        )

    def delete(self, name: str) -> None:
        self.kubectl("delete", "managedhsm", name, "-n", self.namespace, "--wait=false")

    def events(self, name: str) -> list[str]:
        out = self.kubectl(
            "get", "events", "-n", self.namespace, "--field-selector", f"involvedObject.name={name}", "-o", "json"
        ).stdout
        return [str(item.get("reason")) for item in json.loads(out)["items"]]


def condition(body: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for entry in ((body or {}).get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return dict(entry)
    return {}


def eventually(check: Callable[[], Any], *, timeout: float = 90, what: str, operator: OperatorHandle) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n--- operator log tail:\n{operator.log()[-4000:]}")
        time.sleep(0.5)


@pytest.fixture
def cluster(kubectl: Any, namespace: str) -> Cluster:
    return Cluster(kubectl, namespace)


def ready(cluster: Cluster, name: str, operator: OperatorHandle) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = cluster.get(name)
        return body if condition(body, "Ready").get("status") == "True" else None

    result: dict[str, Any] = eventually(check, what=f"{name} Ready=True", operator=operator)
    return result


def test_create_update_drift_and_delete(
    emulator: EmulatorHandle,
    arm: KeyVaultManagementClient,
    cluster: Cluster,
    namespace: str,
    operator_process: Callable[..., OperatorHandle],
) -> None:
    operator = operator_process(namespace)
    azure_name = hsm_name()
    cluster.apply(manifest(emulator, "main", azure_name, tags={"env": "dev"}, deletionPolicy="Delete"))

    body = ready(cluster, "main", operator)
    status = body["status"]
    assert status["hsmUri"].startswith("https://")
    assert status["provisioningState"] == "Succeeded"
    assert status["resourceId"].lower().endswith(f"/managedhsms/{azure_name}")
    assert condition(body, "Synced")["status"] == "True"
    assert condition(body, "Ready")["observedGeneration"] == body["metadata"]["generation"]
    assert "mhsm.dev/finalizer" in body["metadata"]["finalizers"]
    # The operator writes status and its finalizer only: no kopf annotations for GitOps tools to trip over.
    assert not [key for key in body["metadata"].get("annotations") or {} if "kopf" in key]
    assert arm.managed_hsms.get(RG, azure_name).tags == {"env": "dev"}

    # A spec edit is applied.
    cluster.patch_spec("main", {"tags": {"env": "prod", "team": "a"}})
    eventually(
        lambda: arm.managed_hsms.get(RG, azure_name).tags == {"env": "prod", "team": "a"},
        what="tags updated in Azure",
        operator=operator,
    )

    # An out-of-band tag edit is corrected (driftPolicy Correct), found by a reconcile request.
    hsm = arm.managed_hsms.get(RG, azure_name)
    arm.managed_hsms.begin_update(RG, azure_name, ManagedHsm({"tags": {"env": "hacked"}})).result()
    cluster.annotate("main", f"mhsm.dev/reconcile-requested={uuid.uuid4().hex}")
    eventually(
        lambda: arm.managed_hsms.get(RG, azure_name).tags == {"env": "prod", "team": "a"},
        what="out-of-band tag edit corrected",
        operator=operator,
    )
    eventually(lambda: "DriftCorrected" in cluster.events("main"), what="DriftCorrected event", operator=operator)
    assert hsm.id is not None

    # Delete with deletionPolicy Delete: the HSM is (soft-)deleted, then the CR disappears.
    cluster.delete("main")
    eventually(lambda: cluster.get("main") is None, what="CR gone", operator=operator)
    with pytest.raises(ResourceNotFoundError):
        arm.managed_hsms.get(RG, azure_name)
    assert "Traceback" not in operator.log()


def test_report_mode_records_drift_and_writes_nothing(
    emulator: EmulatorHandle,
    arm: KeyVaultManagementClient,
    cluster: Cluster,
    namespace: str,
    operator_process: Callable[..., OperatorHandle],
) -> None:
    operator = operator_process(namespace)
    azure_name = hsm_name()
    cluster.apply(manifest(emulator, "reported", azure_name, tags={"env": "dev"}, driftPolicy="Report"))
    ready(cluster, "reported", operator)

    arm.managed_hsms.begin_update(RG, azure_name, ManagedHsm({"tags": {"env": "changed"}})).result()
    cluster.annotate("reported", f"mhsm.dev/reconcile-requested={uuid.uuid4().hex}")

    def drifted() -> dict[str, Any] | None:
        body = cluster.get("reported")
        return body if condition(body, "Drifted").get("status") == "True" else None

    body = eventually(drifted, what="Drifted=True", operator=operator)
    assert body["status"]["drift"] == [{"path": "tags.env", "desired": '"dev"', "observed": '"changed"'}]
    assert body["status"]["plan"][0]["applied"] is False
    assert arm.managed_hsms.get(RG, azure_name).tags == {"env": "changed"}  # not corrected
    assert "DriftDetected" in cluster.events("reported")

    # Orphan (the default) leaves the HSM in Azure.
    cluster.delete("reported")
    eventually(lambda: cluster.get("reported") is None, what="CR gone", operator=operator)
    assert arm.managed_hsms.get(RG, azure_name).tags == {"env": "changed"}


def test_observe_only_adopts_and_never_writes_and_paused_is_left_alone(
    emulator: EmulatorHandle,
    arm: KeyVaultManagementClient,
    cluster: Cluster,
    namespace: str,
    operator_process: Callable[..., OperatorHandle],
) -> None:
    azure_name = hsm_name()
    sp = emulator.sp("hsm-admin")
    arm.managed_hsms.begin_create_or_update(
        RG,
        azure_name,
        ManagedHsm(
            {
                "location": emulator.directory.location,
                "sku": {"family": "B", "name": "Standard_B1"},
                "tags": {"owner": "someone-else"},
                "properties": {
                    "tenantId": emulator.tenant_id,
                    "initialAdminObjectIds": [sp.object_id],
                    "softDeleteRetentionInDays": 7,
                    "enablePurgeProtection": False,
                },
            }
        ),
    ).result()
    before = arm.managed_hsms.get(RG, azure_name).as_dict()

    operator = operator_process(namespace)
    cluster.apply(manifest(emulator, "observed", azure_name, tags={"owner": "me"}, managementPolicies=["Observe"]))
    body = ready(cluster, "observed", operator)
    assert body["status"]["hsmUri"]
    assert condition(body, "Drifted")["status"] == "True"
    assert "Adopted" in cluster.events("observed")

    # Paused: a spec edit is not applied and Synced says why.
    cluster.apply(
        manifest(emulator, "paused", azure_name, tags={"owner": "me"}, annotations={"mhsm.dev/paused": "true"})
    )

    def paused() -> dict[str, Any] | None:
        body = cluster.get("paused")
        return body if condition(body, "Synced").get("reason") == "ReconcilePaused" else None

    eventually(paused, what="Synced=ReconcilePaused", operator=operator)
    after = arm.managed_hsms.get(RG, azure_name).as_dict()
    assert after["tags"] == before["tags"] == {"owner": "someone-else"}
    assert after["properties"]["provisioningState"] == before["properties"]["provisioningState"]

    cluster.delete("observed")
    cluster.delete("paused")  # paused objects keep their finalizer until unpaused
    eventually(lambda: cluster.get("observed") is None, what="observe-only CR gone", operator=operator)
    cluster.annotate("paused", "mhsm.dev/paused=false")
    eventually(lambda: cluster.get("paused") is None, what="unpaused CR gone (Orphan)", operator=operator)
    assert arm.managed_hsms.get(RG, azure_name).tags == {"owner": "someone-else"}


def test_resource_group_change_is_a_move_that_needs_resource_rights(
    emulator: EmulatorHandle,
    arm: KeyVaultManagementClient,
    cluster: Cluster,
    namespace: str,
    operator_process: Callable[..., OperatorHandle],
) -> None:
    operator = operator_process(namespace)
    azure_name = hsm_name()
    cluster.apply(manifest(emulator, "mover", azure_name))
    ready(cluster, "mover", operator)

    # "Managed HSM contributor" may not move resources between groups: reported, not retried hot.
    cluster.patch_spec("mover", {"resourceGroupName": "rg-two"})

    def forbidden() -> dict[str, Any] | None:
        body = cluster.get("mover")
        return body if condition(body, "Synced").get("reason") == "AuthorizationFailed" else None

    eventually(forbidden, what="Synced=False AuthorizationFailed", operator=operator)
    assert arm.managed_hsms.get(RG, azure_name).name == azure_name
    operator.stop()

    # With Contributor at the subscription the same spec converges: the HSM moves to rg-two.
    contributor = emulator.sp("sub-contributor")
    operator = operator_process(namespace, AZURE_CLIENT_ID=contributor.app_id, AZURE_CLIENT_SECRET=contributor.secret)

    def moved() -> dict[str, Any] | None:
        body = cluster.get("mover")
        resource_id = str(((body or {}).get("status") or {}).get("resourceId", ""))
        synced = condition(body, "Synced").get("status") == "True"
        return body if synced and "/resourcegroups/rg-two/" in resource_id.lower() else None

    eventually(moved, what="status.resourceId in rg-two", operator=operator)
    assert arm.managed_hsms.get("rg-two", azure_name).name == azure_name
    with pytest.raises(ResourceNotFoundError):
        arm.managed_hsms.get(RG, azure_name)

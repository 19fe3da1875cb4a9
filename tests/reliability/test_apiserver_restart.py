"""kube-apiserver restarts under a running operator: its watches resume, and a change made after the restart is
reconciled.

The control plane is this test's own (`ControlPlane.restart_apiserver()` stops the apiserver and starts it again on
the same port with the same certificates and etcd), so the session's cluster is never disturbed. The operator runs
the management plane against a fresh emulator; the change is a ManagedHSM's tags, checked through ARM with the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hsm_devtools import binaries, controlplane
from hsm_devtools import kubectl as kubectl_tools
from tests.reliability.conftest import RESOURCE_GROUP, Azure, eventually, start_operator
from tests.support.emulator_fixtures import EmulatorHandle
from tests.support.operator_fixtures import OperatorHandle

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

NAMESPACE = "apiserver-restart"
TIMEOUT = 120.0


@pytest.fixture
def own_control_plane(tmp_path: Path) -> Iterator[controlplane.ControlPlane]:
    try:
        directory = binaries.ensure_binaries(build=False)
    except binaries.BinariesError as error:
        pytest.fail(str(error), pytrace=False)
    plane = controlplane.ControlPlane(tmp_path / "controlplane", directory)
    plane.start()
    try:
        plane.kubectl().apply_crds(kubectl_tools.crd_manifests(binaries.REPO_ROOT / "crds"))
        yield plane
    finally:
        plane.stop()


def managed_hsm(handle: EmulatorHandle, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "mhsm.dev/v1alpha1",
        "kind": "ManagedHSM",
        "metadata": {"name": "hsm", "namespace": NAMESPACE},
        "spec": {
            "azureName": "restart-hsm",
            "subscriptionId": handle.directory.subscription_id,
            "resourceGroupName": RESOURCE_GROUP,
            "location": handle.directory.location,
            "sku": {"name": "Standard_B1"},
            "tenantId": handle.tenant_id,
            "initialAdminObjectIds": [handle.sp("hsm-admin").object_id],
            "softDeleteRetentionInDays": 7,
            "enablePurgeProtection": False,
            "tags": tags,
        },
    }


def test_operator_watches_resume_after_apiserver_restart(
    own_control_plane: controlplane.ControlPlane,
    fresh_emulator: Callable[..., EmulatorHandle],
    operators: list[OperatorHandle],
    tmp_path: Path,
) -> None:
    handle = fresh_emulator(hsm_port_count=2)
    arm = Azure(handle).arm()
    kubectl = own_control_plane.kubectl()
    kubectl("create", "namespace", NAMESPACE)
    operator = start_operator(
        handle, own_control_plane.kubeconfig_path, NAMESPACE, tmp_path / "operator.log", plane="management"
    )
    operators.append(operator)

    def arm_tags() -> dict[str, str] | None:
        hsms = {hsm.name: hsm for hsm in arm.managed_hsms.list_by_resource_group(RESOURCE_GROUP)}
        return hsms["restart-hsm"].tags if "restart-hsm" in hsms else None

    def tail() -> str:
        return operator.log()[-5000:]

    kubectl("apply", "-f", "-", input=json.dumps(managed_hsm(handle, {"phase": "before"})))
    eventually(lambda: arm_tags() == {"phase": "before"}, what="the HSM created", timeout=TIMEOUT, detail=tail)

    old_pid = own_control_plane.pids["kube-apiserver"]
    own_control_plane.restart_apiserver()
    assert own_control_plane.pids["kube-apiserver"] != old_pid
    assert own_control_plane.server_version().startswith("v1.")

    # A change made only after the restart: reconciled, so the operator's watch is live again.
    kubectl("apply", "-f", "-", input=json.dumps(managed_hsm(handle, {"phase": "after"})))
    eventually(lambda: arm_tags() == {"phase": "after"}, what="the post-restart change", timeout=TIMEOUT, detail=tail)
    assert operator.process.exit_code() is None, "the operator died instead of reconnecting"

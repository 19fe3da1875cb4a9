"""The operator is SIGKILLed in the middle of reconciling 100 HSMKeys and 3 HSMRoleAssignments, then started again;
later the emulator is SIGKILLed and restarted while the operator reconciles 30 more keys.

After each fault everything converges Ready, each key has exactly one version (a create interrupted between the
HSM's answer and the status write is adopted, not repeated), and the HSM holds exactly the declared role
assignments on top of what activation created (no orphans, no duplicates). The HSM is created and activated with
the SDK beforehand so the faults hit the data-plane reconciliation only; every check of the HSM uses the SDK.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.keyvault.administration import KeyVaultRoleScope

from hsm_devtools.kubectl import Kubectl
from tests.reliability.conftest import (
    AUDITOR_ROLE,
    CRYPTO_OFFICER_ROLE,
    CRYPTO_USER_ROLE,
    Azure,
    eventually,
    start_operator,
)
from tests.support.emulator_fixtures import EmulatorHandle
from tests.support.operator_fixtures import OperatorHandle

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

FIRST_BATCH = 100
KILL_AFTER_KEYS = 10
SECOND_BATCH = 30
CONVERGE_TIMEOUT = 150.0
ASSIGNMENTS = (  # (CR name, principal, role id, scope)
    ("auditor-all", "auditor", AUDITOR_ROLE, "/"),
    ("no-role-keys", "no-role", CRYPTO_USER_ROLE, "/keys"),
    ("officer-keys", "crypto-officer", CRYPTO_OFFICER_ROLE, "/keys"),
)


def secret(handle: EmulatorHandle, name: str, who: str) -> dict[str, Any]:
    sp = handle.sp(who)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"tenantId": sp.tenant_id, "clientId": sp.app_id, "clientSecret": sp.secret},
    }


def custom(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "mhsm.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def hsm_key(uri: str, index: int) -> dict[str, Any]:
    spec = {"hsmUri": uri, "credentialRef": {"name": "keys-cred"}, "kty": "EC-HSM", "curve": "P-256"}
    return custom("HSMKey", f"key-{index:03d}", spec)


def apply(kubectl: Kubectl, namespace: str, documents: list[dict[str, Any]]) -> None:
    for document in documents:
        document["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}))


def ready_names(kubectl: Kubectl, namespace: str, plural: str) -> set[str]:
    listing = json.loads(kubectl("get", plural, "-n", namespace, "-o", "json").stdout)
    return {
        item["metadata"]["name"]
        for item in listing["items"]
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (item.get("status") or {}).get("conditions") or []
        )
    }


def sigkill(operator: OperatorHandle) -> None:
    os.kill(operator.process.pid, signal.SIGKILL)
    operator.stop()  # reaps it


def assignments(azure: Azure, uri: str) -> set[tuple[str, str, str]]:
    """(scope, role id, principal) of every assignment visible at `/` and `/keys` (deduplicated)."""
    access = azure.access(uri)
    return {
        (
            str(getattr(a.properties.scope, "value", a.properties.scope)),
            a.properties.role_definition_id.rsplit("/", 1)[-1],
            a.properties.principal_id,
        )
        for scope in (KeyVaultRoleScope.GLOBAL, KeyVaultRoleScope.KEYS)
        for a in access.list_role_assignments(scope)
    }


def test_operator_and_emulator_killed_mid_reconcile_converge_without_duplicates(
    fresh_emulator: Callable[..., EmulatorHandle],
    kubectl: Kubectl,
    kubeconfig: Path,
    crds_installed: list[str],
    namespace: str,
    operators: list[OperatorHandle],
    tmp_path: Path,
) -> None:
    handle = fresh_emulator(hsm_port_count=2)
    azure = Azure(handle)
    uri = azure.active_hsm("opcrash")
    keys = azure.keys(uri)
    before = assignments(azure, uri)
    declared = {(scope, role, handle.sp(who).object_id) for _, who, role, scope in ASSIGNMENTS}
    assert not declared & before

    def log_tail() -> str:
        return "\n".join(f"--- {o.process.log_path}:\n{o.log()[-4000:]}" for o in operators)

    def converged(count: int) -> bool:
        return len(ready_names(kubectl, namespace, "hsmkeys")) == count and len(
            ready_names(kubectl, namespace, "hsmroleassignments")
        ) == len(ASSIGNMENTS)

    apply(kubectl, namespace, [secret(handle, "keys-cred", "crypto-user"), secret(handle, "admin-cred", "hsm-admin")])
    apply(
        kubectl,
        namespace,
        [
            custom(
                "HSMRoleAssignment",
                name,
                {
                    "hsmUri": uri,
                    "credentialRef": {"name": "admin-cred"},
                    "principalId": handle.sp(who).object_id,
                    "roleDefinitionId": role,
                    "scope": scope,
                },
            )
            for name, who, role, scope in ASSIGNMENTS
        ]
        + [hsm_key(uri, index) for index in range(FIRST_BATCH)],
    )

    def count_keys() -> int:
        return sum(1 for _ in keys.list_properties_of_keys())

    def wait_for_keys(count: int) -> None:
        # The operator creates keys fast: poll in a tight loop (a listing takes milliseconds) to strike early.
        deadline = time.monotonic() + CONVERGE_TIMEOUT
        while count_keys() < count:
            assert time.monotonic() < deadline, f"the operator never created {count} keys\n{log_tail()}"
            time.sleep(0.02)

    # 1. The operator dies (SIGKILL: no shutdown code runs) with part of the keys created.
    operators.append(start_operator(handle, kubeconfig, namespace, tmp_path / "operator-0.log", plane="data"))
    wait_for_keys(KILL_AFTER_KEYS)
    sigkill(operators[0])
    created, ready = count_keys(), len(ready_names(kubectl, namespace, "hsmkeys"))
    assert min(created, ready) < FIRST_BATCH, (
        f"the operator finished before the kill ({created} created, {ready} Ready)"
    )

    operators.append(start_operator(handle, kubeconfig, namespace, tmp_path / "operator-1.log", plane="data"))
    eventually(
        lambda: converged(FIRST_BATCH),
        what="100 keys and 3 assignments Ready",
        timeout=CONVERGE_TIMEOUT,
        detail=log_tail,
    )

    # 2. The emulator dies and comes back while the operator reconciles 30 more keys.
    apply(kubectl, namespace, [hsm_key(uri, index) for index in range(FIRST_BATCH, FIRST_BATCH + SECOND_BATCH)])
    wait_for_keys(FIRST_BATCH + 3)
    handle.process.kill()
    ready = len(ready_names(kubectl, namespace, "hsmkeys"))
    assert ready < FIRST_BATCH + SECOND_BATCH, "the operator finished the second batch before the emulator died"
    handle.process.restart()
    eventually(
        lambda: converged(FIRST_BATCH + SECOND_BATCH),
        what="130 keys Ready after the emulator restart",
        timeout=CONVERGE_TIMEOUT,
        detail=log_tail,
    )

    names = {key.name for key in keys.list_properties_of_keys()}
    assert names == {f"key-{index:03d}" for index in range(FIRST_BATCH + SECOND_BATCH)}
    duplicated = {name: n for name in names if (n := len(list(keys.list_properties_of_key_versions(name)))) != 1}
    assert duplicated == {}, "keys with more than one version"
    assert assignments(azure, uri) == before | declared
    assert operators[1].process.exit_code() is None, "the operator died"

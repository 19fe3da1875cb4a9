"""The Helm chart: lint, render with every documented option, install into a real kube-apiserver, prove the RBAC.

Without a kubelet no Pod runs, so the chart is proven by what the apiserver accepts (a real `helm install`, not only
a dry-run) and by `kubectl auth can-i` as each controller's ServiceAccount: allowed exactly what it needs, denied the
rest.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hsm_devtools import binaries, controlplane
from hsm_devtools import kubectl as kubectl_tools

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "managed-hsm-operator"


def helm(*args: str, kubeconfig: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [str(binaries.helm_path()), *args]
    if kubeconfig is not None:
        argv.append(f"--kubeconfig={kubeconfig}")
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=180)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


def render(*sets: str, namespace: str = "mhsm-system") -> list[dict[str, Any]]:
    args = ["template", "r1", str(CHART), f"--namespace={namespace}"]
    for item in sets:
        args += ["--set", item]
    docs = yaml.safe_load_all(helm(*args).stdout)
    return [d for d in docs if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def container_args(docs: list[dict[str, Any]], component: str) -> list[str]:
    for deployment in by_kind(docs, "Deployment"):
        if deployment["metadata"]["labels"]["app.kubernetes.io/component"] == component:
            return list(deployment["spec"]["template"]["spec"]["containers"][0]["args"])
    raise AssertionError(f"no {component} Deployment")


def test_lint_is_clean() -> None:
    result = helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in result.stdout


# Every documented option, each rendered on its own: the chart must render and keep its promises for each.
OPTIONS = [
    "crds.enabled=false",
    "crds.keep=false",
    "rbac.create=false",
    "syncInterval=60",
    "watchNamespaces={team-a,team-b}",
    "verbose=true",
    "peering.enabled=true",
    "probes.port=8081",
    "metrics.enabled=false",
    "metrics.port=9191",
    "caBundle.existingSecret=corp-ca",
    "management.enabled=false",
    "management.replicas=2",
    "management.serviceAccount.create=false",
    "management.serviceAccount.name=mgmt",
    "management.azure.workloadIdentity=true",
    "management.azure.authorityHost=https://login.microsoftonline.com",
    "data.enabled=false",
    "data.verifyChallengeResource=false",
    "data.serviceAccount.name=dataplane",
    "emulator.enabled=false",
    "emulator.persistence.enabled=false",
    "emulator.persistence.storageClass=fast",
    "emulator.tls.existingSecret=my-tls",
    "emulator.hsmPortCount=4",
    "image.tag=v9.9.9",
]


@pytest.mark.parametrize("option", OPTIONS)
def test_every_documented_option_renders(option: str) -> None:
    assert render(option)


def test_options_take_effect() -> None:
    assert not by_kind(render("crds.enabled=false"), "CustomResourceDefinition")
    crds = by_kind(render(), "CustomResourceDefinition")
    assert {c["metadata"]["name"] for c in crds} == {
        "managedhsms.mhsm.dev",
        "hsmsecuritydomains.mhsm.dev",
        "hsmkeys.mhsm.dev",
        "hsmroledefinitions.mhsm.dev",
        "hsmroleassignments.mhsm.dev",
    }
    assert all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in crds)
    unkept = by_kind(render("crds.keep=false"), "CustomResourceDefinition")
    assert all("helm.sh/resource-policy" not in (c["metadata"].get("annotations") or {}) for c in unkept)

    args = container_args(render("watchNamespaces={team-a,team-b}"), "data")
    assert "--namespace=team-a" in args
    assert "--namespace=team-b" in args
    assert "--all-namespaces" not in args
    assert "--peering=r1-managed-hsm-operator-management" in container_args(
        render("peering.enabled=true"), "management"
    )
    assert "--standalone" in container_args(render(), "management")

    no_emulator = render("emulator.enabled=false")
    assert not by_kind(no_emulator, "StatefulSet")
    env = {
        e["name"]: e.get("value")
        for e in by_kind(no_emulator, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["HSM_ARM_ENDPOINT"] == "https://management.azure.com"
    assert "HSM_CA_BUNDLE" not in env
    assert not by_kind(render("rbac.create=false"), "ClusterRole")


def test_unknown_values_are_rejected() -> None:
    result = helm("template", "r1", str(CHART), "--set", "emulator.enabeld=true", check=False)
    assert result.returncode != 0
    assert "enabeld" in result.stderr
    result = helm("template", "r1", str(CHART), "--set", "syncInterval=5", check=False)
    assert result.returncode != 0
    assert "syncInterval" in result.stderr


def test_chart_crds_are_the_generated_ones() -> None:
    for generated in sorted((ROOT / "crds").glob("*.yaml")):
        copy = CHART / "files" / "crds" / generated.name
        assert copy.exists(), f"{copy} missing: run `make crds`"
        assert copy.read_text() == generated.read_text(), f"{copy} differs from {generated}: run `make crds`"


def test_values_schema_is_strict_everywhere() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
            for key, child in node["properties"].items():
                walk(child, f"{path}.{key}")
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(schema, "values")


@pytest.fixture(scope="module")
def installed(e2e_plane: controlplane.ControlPlane, e2e_kubectl: kubectl_tools.Kubectl) -> str:
    """The chart really installed (default values) into the real apiserver, in namespace mhsm-system."""
    helm(
        "install",
        "r1",
        str(CHART),
        "--namespace=mhsm-system",
        "--create-namespace",
        kubeconfig=e2e_plane.kubeconfig_path,
    )
    return "mhsm-system"


def test_install_creates_every_rendered_object(installed: str, e2e_kubectl: kubectl_tools.Kubectl) -> None:
    for doc in render(namespace=installed):
        kind, name = doc["kind"], doc["metadata"]["name"]
        namespace_args = [f"--namespace={doc['metadata']['namespace']}"] if "namespace" in doc["metadata"] else []
        e2e_kubectl("get", kind, name, *namespace_args, "-o", "name")
    for crd in ("managedhsms", "hsmkeys", "hsmroleassignments", "hsmroledefinitions", "hsmsecuritydomains"):
        e2e_kubectl("wait", "--for=condition=Established", f"crd/{crd}.mhsm.dev", "--timeout=60s")


def test_install_with_every_option_flipped(
    installed: str, e2e_plane: controlplane.ControlPlane, e2e_kubectl: kubectl_tools.Kubectl
) -> None:
    """A second release with the non-default options on (CRDs owned by the first release, so off here)."""
    e2e_kubectl("create", "namespace", "team-a")
    helm(
        "install",
        "r2",
        str(CHART),
        "--namespace=mhsm-alt",
        "--create-namespace",
        "--set",
        "crds.enabled=false",
        "--set",
        "peering.enabled=true",
        "--set",
        "watchNamespaces={team-a}",
        "--set",
        "emulator.persistence.enabled=false",
        "--set",
        "metrics.enabled=false",
        "--set",
        "management.replicas=2",
        "--set",
        "data.replicas=2",
        "--set",
        "verbose=true",
        kubeconfig=e2e_plane.kubeconfig_path,
    )
    e2e_kubectl("get", "kopfpeerings.kopf.dev", "-n", "team-a", "r2-managed-hsm-operator-management")
    e2e_kubectl("get", "deployment", "-n", "mhsm-alt", "r2-managed-hsm-operator-data")


def sa(name: str) -> str:
    return f"system:serviceaccount:mhsm-system:r1-managed-hsm-operator-{name}"


# (controller, verb, resource, expected): what each controller may and may not do, cluster-wide.
RBAC_TABLE = [
    ("management", "watch", "managedhsms.mhsm.dev", True),
    ("management", "patch", "managedhsms.mhsm.dev/status", True),
    ("management", "create", "events", True),
    ("management", "get", "secrets", False),
    ("management", "list", "secrets", False),
    ("management", "get", "hsmkeys.mhsm.dev", False),
    ("management", "list", "hsmroleassignments.mhsm.dev", False),
    ("management", "patch", "hsmsecuritydomains.mhsm.dev", False),
    ("management", "get", "configmaps", False),
    ("management", "delete", "managedhsms.mhsm.dev", False),
    ("management", "create", "pods", False),
    ("data", "watch", "hsmkeys.mhsm.dev", True),
    ("data", "patch", "hsmkeys.mhsm.dev/status", True),
    ("data", "patch", "hsmroleassignments.mhsm.dev", True),
    ("data", "patch", "hsmroledefinitions.mhsm.dev/status", True),
    ("data", "patch", "hsmsecuritydomains.mhsm.dev/status", True),
    ("data", "get", "managedhsms.mhsm.dev", True),
    ("data", "watch", "managedhsms.mhsm.dev", True),
    ("data", "patch", "managedhsms.mhsm.dev", False),
    ("data", "update", "managedhsms.mhsm.dev", False),
    ("data", "patch", "managedhsms.mhsm.dev/status", False),
    ("data", "get", "secrets", True),
    ("data", "create", "secrets", True),
    ("data", "list", "secrets", False),
    ("data", "delete", "secrets", False),
    ("data", "create", "configmaps", True),
    ("data", "delete", "hsmkeys.mhsm.dev", False),
    ("data", "create", "pods", False),
]


@pytest.mark.parametrize(
    ("controller", "verb", "resource", "allowed"), RBAC_TABLE, ids=[f"{c}-{v}-{r}" for c, v, r, _ in RBAC_TABLE]
)
def test_rbac_least_privilege(
    installed: str, e2e_kubectl: kubectl_tools.Kubectl, controller: str, verb: str, resource: str, allowed: bool
) -> None:
    result = e2e_kubectl("auth", "can-i", verb, resource, "--all-namespaces", f"--as={sa(controller)}", check=False)
    assert result.stdout.strip() == ("yes" if allowed else "no"), (controller, verb, resource, result.stderr)

"""The local control plane is a real Kubernetes: version, namespace lifecycle, garbage collection, clean shutdown.

The session control plane serves the behaviour checks; lifecycle checks start their own, separate planes so that
stopping them cannot disturb other tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hsm_devtools import binaries, controlplane
from hsm_devtools import kubectl as kubectl_tools

pytestmark = pytest.mark.integration

_TINY_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.devtools.test}
spec:
  group: devtools.test
  names: {kind: Widget, plural: widgets, singular: widget, categories: [hsm]}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def _eventually(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0) but is no longer running anything.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _children_of_this_process() -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited while we looked
            continue
        if int(fields[1]) == os.getpid():
            children.add(int(stat.parent.name))
    return children


def test_version_is_the_built_kubernetes(control_plane: controlplane.ControlPlane) -> None:
    info = control_plane.version_info()
    assert re.fullmatch(r"v1\.34\.\d+", info["gitVersion"]), info
    assert (info["major"], info["minor"]) == ("1", "34")
    assert control_plane.server_url.startswith("https://127.0.0.1:")


def test_kubeconfig_is_self_contained_and_admin(kubeconfig: Path, kubectl: kubectl_tools.Kubectl) -> None:
    assert os.environ["KUBECONFIG"] == str(kubeconfig)
    assert kubeconfig.stat().st_mode & 0o077 == 0
    text = kubeconfig.read_text()
    assert "client-key-data" in text
    assert "certificate-authority-data" in text
    assert kubectl("auth", "can-i", "*", "*", "--all-namespaces").stdout.strip() == "yes"


def test_namespace_is_created_and_fully_deleted(kubectl: kubectl_tools.Kubectl) -> None:
    name = f"t-lifecycle-{os.getpid()}"
    kubectl("create", "namespace", name)
    kubectl("create", "configmap", "content", "-n", name, "--from-literal=k=v")
    # The service-account controller populates new namespaces, as in a real cluster.
    _eventually(lambda: kubectl("get", "sa", "default", "-n", name, check=False).returncode == 0, "default SA")

    kubectl("delete", "namespace", name, "--wait=true", "--timeout=60s")
    result = kubectl("get", "namespace", name, check=False)
    assert result.returncode != 0
    assert "NotFound" in result.stderr


def test_garbage_collector_deletes_owned_configmap(kubectl: kubectl_tools.Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "owner", "-n", namespace)
    owner_uid = kubectl("get", "configmap", "owner", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "dependent",
            "namespace": namespace,
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}],
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(dependent))
    kubectl("create", "configmap", "bystander", "-n", namespace)

    kubectl("delete", "configmap", "owner", "-n", namespace)  # background propagation: the GC does the rest

    def dependent_gone() -> bool:
        return kubectl("get", "configmap", "dependent", "-n", namespace, check=False).returncode != 0

    _eventually(dependent_gone, "the garbage collector to delete the dependent ConfigMap")
    assert kubectl("get", "configmap", "bystander", "-n", namespace, check=False).returncode == 0


def test_service_account_permissions_follow_rbac(kubectl: kubectl_tools.Kubectl, namespace: str) -> None:
    sa = f"system:serviceaccount:{namespace}:default"
    assert kubectl(
        "auth", "can-i", "list", "configmaps", "-n", namespace, f"--as={sa}", check=False
    ).stdout.strip() == ("no")
    kubectl(
        "create",
        "rolebinding",
        "sa-view",
        "-n",
        namespace,
        "--clusterrole=view",
        f"--serviceaccount={namespace}:default",
    )
    # `view` is an aggregated ClusterRole: only the clusterrole-aggregation controller gives it rules.
    assert kubectl("auth", "can-i", "list", "configmaps", "-n", namespace, f"--as={sa}").stdout.strip() == "yes"
    assert kubectl(
        "auth", "can-i", "delete", "configmaps", "-n", namespace, f"--as={sa}", check=False
    ).stdout.strip() == ("no")


def test_kubectl_errors_carry_the_server_message(kubectl: kubectl_tools.Kubectl, namespace: str) -> None:
    with pytest.raises(kubectl_tools.KubectlError, match="NotFound"):
        kubectl("get", "configmap", "does-not-exist", "-n", namespace)


# -- lifecycle: separate planes -----------------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_stop_ends_every_process_and_removes_etcd_data(tmp_path: Path) -> None:
    children_before = _children_of_this_process()
    plane = controlplane.ControlPlane(tmp_path / "state")
    plane.start()
    try:
        pids = plane.pids
        assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
        assert all(_alive(pid) for pid in pids.values())
        assert json.loads(plane.pid_file.read_text()) == pids
        data_dir = Path(next(a for a in _cmdline(pids["etcd"]) if a.startswith("--data-dir=")).split("=", 1)[1])
        assert data_dir.is_dir()
        assert plane.server_version().startswith("v1.34.")

        # The state dir is locked while the plane runs: a second plane cannot take it over.
        with pytest.raises(controlplane.ControlPlaneError, match="another control plane is running"):
            controlplane.ControlPlane(tmp_path / "state").start()
    finally:
        plane.stop()

    assert not any(_alive(pid) for pid in pids.values())
    assert _children_of_this_process() <= children_before
    assert not data_dir.exists()
    assert not plane.pid_file.exists()
    plane.stop()  # idempotent


def test_failed_start_stops_what_it_already_started(tmp_path: Path) -> None:
    real = binaries.ControlPlaneBinaries.from_dir(binaries.ensure_binaries())
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "etcd").symlink_to(real.etcd)
    apiserver = broken / "kube-apiserver"
    apiserver.write_text("#!/bin/sh\necho 'cannot start: injected failure' >&2\nexit 3\n")
    apiserver.chmod(0o755)
    children_before = _children_of_this_process()

    plane = controlplane.ControlPlane(tmp_path / "state", broken, startup_timeout=30)
    with pytest.raises(
        controlplane.ControlPlaneError, match=r"kube-apiserver exited with code 3(.|\n)*injected failure"
    ):
        plane.start()

    assert plane.pids == {}
    assert _children_of_this_process() <= children_before  # etcd was started, then stopped again
    # The state dir lock was released too: the next attempt fails for the real reason again, not "already running".
    with pytest.raises(controlplane.ControlPlaneError, match="kube-apiserver exited"):
        plane.start()


def _start_cli(state: Path, crd_dir: Path, output: Path) -> subprocess.Popen[bytes]:
    with output.open("w") as sink:
        cli = subprocess.Popen(
            [sys.executable, "-m", "hsm_devtools.controlplane", "up", f"--state-dir={state}", f"--crds={crd_dir}"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    _eventually(lambda: "running" in output.read_text() or cli.poll() is not None, "the CLI to come up")
    assert cli.poll() is None, output.read_text()
    return cli


def test_cli_up_applies_crds_and_stops_on_sigterm(tmp_path: Path) -> None:
    crd_dir = tmp_path / "crds"
    crd_dir.mkdir()
    (crd_dir / "widgets.yaml").write_text(_TINY_CRD)
    state = tmp_path / "state"
    output = tmp_path / "cli.out"
    cli = _start_cli(state, crd_dir, output)
    try:
        banner = output.read_text()
        assert re.search(r"kube-apiserver v1\.34\.\d+ at https://127\.0\.0\.1:\d+", banner), banner
        assert "CRDs:          widgets.devtools.test\n" in banner
        assert f"KUBECONFIG={state.resolve() / 'kubeconfig'} " in banner
        pids = json.loads((state / "pids.json").read_text())

        # The printed kubectl line works, and the CRD joined the `hsm` category.
        cli_kubectl = kubectl_tools.Kubectl(binaries.kubectl_path(), state / "kubeconfig")
        assert "widgets" in cli_kubectl("api-resources", "--categories=hsm", "-o", "name").stdout
        cli_kubectl("get", "hsm", "-A")
    finally:
        cli.send_signal(signal.SIGTERM)
        exit_code = cli.wait(timeout=60)

    assert exit_code == 0, output.read_text()
    assert not any(_alive(pid) for pid in pids.values())
    assert not (state / "pids.json").exists()


def test_killed_cli_takes_its_processes_along_and_the_next_start_frees_etcd_data(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cli = _start_cli(state, tmp_path / "no-crds", tmp_path / "cli.out")
    pids = json.loads((state / "pids.json").read_text())
    data_dir = Path((state / "etcd-data-dir").read_text().strip())
    assert data_dir.is_dir()

    cli.kill()  # SIGKILL: no handler runs; only the kernel's parent-death signal can stop the children
    cli.wait(timeout=10)
    _eventually(lambda: not any(_alive(pid) for pid in pids.values()), "the orphaned processes to exit", timeout=30)
    assert data_dir.is_dir()  # nobody could clean up tmpfs...

    with controlplane.ControlPlane(state):  # ...until the next plane in the same state dir
        assert not data_dir.exists()
    assert not (state / "etcd-data-dir").exists()

"""Fixtures for tests that need a real Kubernetes control plane (kube-apiserver + etcd + kube-controller-manager).

One control plane per test session (starting one costs seconds; the machine has 2 cores), one fresh namespace per
test. Any test that uses `control_plane` (directly or through another fixture) is marked `integration` automatically,
so `-m "not integration"` never starts a cluster. The terminal summary names the apiserver the run used, so a log
shows that the integration tier ran against a real kube-apiserver.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsm_devtools import binaries, controlplane, processes
from hsm_devtools import kubectl as kubectl_tools

_SERVER_LINE = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[controlplane.ControlPlane]:
    """A running control plane for the whole session; stopped (every process, by PID) at session end."""
    # A cold build takes many minutes, longer than the per-test timeout: fail at once with advice instead.
    plane = controlplane.ControlPlane(tmp_path_factory.mktemp("controlplane"), _built_binaries())
    plane.start()  # bounded by controlplane.STARTUP_TIMEOUT; stops what it started if it fails
    try:
        suffix = "" if plane.has_controller_manager else " (no kube-controller-manager)"
        pytestconfig.stash[_SERVER_LINE] = f"kube-apiserver {plane.server_version()} at {plane.server_url}{suffix}"
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def kubeconfig(control_plane: controlplane.ControlPlane) -> Iterator[Path]:
    """The control plane's kubeconfig; `KUBECONFIG` points at it for the whole session (kopf, SDK clients)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KUBECONFIG", str(control_plane.kubeconfig_path))
        yield control_plane.kubeconfig_path


@pytest.fixture(scope="session")
def kubectl_bin() -> Path:
    """The kubectl built with the control plane (Debian's is too old for a v1.34 server)."""
    return _built_binaries_named().require_kubectl()


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    """The helm built with the control plane (no cluster needed: `helm template` works offline)."""
    return _built_binaries_named().require_helm()


@pytest.fixture(scope="session")
def kubectl(control_plane: controlplane.ControlPlane, kubeconfig: Path) -> kubectl_tools.Kubectl:
    """`kubectl(*args, input=None, check=True)` runs the control plane's kubectl against its kubeconfig.

    Returns the `CompletedProcess` (text); with `check`, a failure raises `KubectlError` carrying kubectl's stderr.
    """
    return control_plane.kubectl()


@pytest.fixture(scope="session")
def crds_installed(kubectl: kubectl_tools.Kubectl) -> list[str]:
    """Server-side apply `crds/*.yaml` once per session and wait until Established; returns the CRD names."""
    crd_dir = binaries.REPO_ROOT / "crds"
    manifests = kubectl_tools.crd_manifests(crd_dir)
    if not manifests:
        pytest.fail(f"no CRD manifests in {crd_dir} (generate them with `make crds`)")
    return kubectl.apply_crds(manifests)


@pytest.fixture
def namespace(kubectl: kubectl_tools.Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test; deleted afterwards (the namespace controller finishes it)."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{stem}-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        # No waiting: deletion finishes in the background, and each test has its own namespace anyway.
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def _built_binaries() -> Path:
    try:
        return binaries.ensure_binaries(build=False)
    except binaries.BinariesError as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)  # outside `except`: the message alone, no chained traceback


def _built_binaries_named() -> binaries.ControlPlaneBinaries:
    directory = _built_binaries()
    try:
        return binaries.ControlPlaneBinaries.from_dir(directory)
    except binaries.BinariesError as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM (e.g. from `timeout` in make test, or CI cancelling) must unwind into fixture teardown, which stops the
    # processes the fixtures started, instead of killing pytest outright.
    processes.install_termination_handlers()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "control_plane" in getattr(item, "fixturenames", ()) and item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.integration)


def pytest_report_header(config: pytest.Config) -> str:
    return "control plane: started by the first test that needs it; the summary names the kube-apiserver used"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    line = config.stash.get(_SERVER_LINE, None)
    if line is not None:
        terminalreporter.write_sep("-", "control plane")
        terminalreporter.write_line(f"integration tier ran against {line}")

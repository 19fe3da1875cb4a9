"""A real, throwaway Kubernetes control plane as local processes: etcd, kube-apiserver, kube-controller-manager.

Integration tests and `make run` need a real apiserver (admission, RBAC, CRD validation, watches) without containers,
as controller-runtime's envtest provides. This module starts one on free loopback ports with fresh PKI, writes a
kubeconfig for an admin in `system:masters`, waits until it is really ready, and stops exactly what it started.
kube-controller-manager runs only the controllers an operator's tests notice when missing: namespace deletion, garbage
collection, and service accounts (so `kubectl auth can-i --as=system:serviceaccount:...` behaves normally).
There is no scheduler or kubelet: Pods never run.

    with ControlPlane(state_dir, ensure_binaries()) as plane:
        subprocess.run(["kubectl", f"--kubeconfig={plane.kubeconfig_path}", "get", "ns"])

CLI: `python -m hsm_devtools.controlplane up --state-dir .run/cluster` (applies `crds/*.yaml`, runs until Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import socket
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from hsm_devtools import binaries, kubeconfig, pki, processes
from hsm_devtools import kubectl as kubectl_tools

STARTUP_TIMEOUT = 60.0  # seconds; 2-core CI runners have needed 30-35 s for kube-apiserver alone (kubernetes#137743)
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KCM_CONTROLLERS = (
    "garbage-collector-controller",  # ownerReference cascades
    "namespace-controller",  # namespaces finish deleting
    "serviceaccount-controller",  # `default` ServiceAccount in every namespace
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",  # `kube-root-ca.crt` ConfigMap, as in every real cluster
    "clusterrole-aggregation-controller",  # fills admin/edit/view from aggregate-to-* labelled ClusterRoles
)
# A port chosen by binding to 0 can be taken by someone else before our child binds it; then we retry with new ports.
_PORT_CLASH = "address already in use"
_START_ATTEMPTS = 3


class ControlPlaneError(RuntimeError):
    """The control plane could not be started or used; the message says which process and where its log is."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _etcd_data_parent() -> Path | None:
    # tmpfs makes etcd's writes free; together with --unsafe-no-fsync that is most of the start-up and test time saved.
    shm = Path("/dev/shm")  # noqa: S108 - we create a private mkdtemp() directory inside it
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


class ControlPlane:
    """etcd + kube-apiserver (+ kube-controller-manager when the binary exists), owned by this object.

    `state_dir` receives the PKI, the kubeconfig and one log file per process; etcd's data goes to a fresh directory
    on /dev/shm when available (removed on stop). Every `start()` is a fresh, empty cluster.
    """

    def __init__(
        self,
        state_dir: Path,
        binaries_dir: Path | None = None,  # None: ensure_binaries() (may build once)
        *,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self._binaries_dir = binaries_dir
        self.startup_timeout = startup_timeout
        self.kubeconfig_path = self.state_dir / "kubeconfig"
        self.log_dir = self.state_dir / "logs"
        # Which processes belong to this cluster, for humans and for tests that run the CLI as a subprocess.
        self.pid_file = self.state_dir / "pids.json"
        self._processes: list[processes.ManagedProcess] = []
        self._pki: pki.ControlPlanePKI | None = None
        self._etcd_data_dir: Path | None = None
        self._lock_file: IO[str] | None = None
        self._server: str | None = None
        self._binaries: binaries.ControlPlaneBinaries | None = None
        self._apiserver_restarts = 0

    # -- public API ---------------------------------------------------------------------------------------------

    @property
    def executables(self) -> binaries.ControlPlaneBinaries:
        if self._binaries is None:
            directory = self._binaries_dir if self._binaries_dir is not None else binaries.ensure_binaries()
            self._binaries = binaries.ControlPlaneBinaries.from_dir(Path(directory))
        return self._binaries

    @property
    def server_url(self) -> str:
        if self._server is None:
            raise ControlPlaneError("the control plane is not running")
        return self._server

    @property
    def pids(self) -> dict[str, int]:
        """PID of each process this object started and has not stopped, by name."""
        return {process.name: process.pid for process in self._processes}

    @property
    def has_controller_manager(self) -> bool:
        return any(process.name == "kube-controller-manager" for process in self._processes)

    def check_running(self) -> None:
        """Raise `ProcessStartError` (with the log tail) if any of the plane's processes has exited."""
        for process in self._processes:
            process.check_running()

    def kubectl(self) -> kubectl_tools.Kubectl:
        """The control plane's own kubectl, bound to its kubeconfig."""
        return kubectl_tools.Kubectl(self.executables.require_kubectl(), self.kubeconfig_path)

    def start(self) -> None:
        """Start everything and wait until the apiserver answers `/readyz` (and kcm created the default SA)."""
        if self._processes:
            raise ControlPlaneError("the control plane is already running")
        self._take_state_dir_lock()
        try:
            self._start_with_retries()
            self.pid_file.write_text(json.dumps(self.pids, indent=2) + "\n")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the processes this object started, newest first (kcm, apiserver, etcd); safe to call twice."""
        errors: list[BaseException] = []
        while self._processes:
            process = self._processes.pop()
            try:
                process.stop()
            except Exception as error:  # keep stopping the others; report at the end
                errors.append(error)
        self._server = None
        if self._etcd_data_dir is not None:
            shutil.rmtree(self._etcd_data_dir, ignore_errors=True)
            self._etcd_data_dir = None
        if self._lock_file is not None:  # only the holder of the state dir may touch its files
            self.pid_file.unlink(missing_ok=True)
            self._etcd_data_record.unlink(missing_ok=True)
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None
        if errors:
            raise ControlPlaneError(f"errors while stopping the control plane: {errors}")

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver (SIGTERM) and start it again with the same arguments: same port, certificates and etcd
        data, so every kubeconfig keeps working. Waits for `/readyz`. For tests of clients' watch recovery.

        The new process logs to `logs/kube-apiserver-restart-<n>.log` (the first run's log is kept).
        """
        index = next((i for i, p in enumerate(self._processes) if p.name == "kube-apiserver"), None)
        if index is None:
            raise ControlPlaneError("kube-apiserver is not running")
        old = self._processes[index]
        old.stop()
        self._apiserver_restarts += 1
        log = self.log_dir / f"kube-apiserver-restart-{self._apiserver_restarts}.log"
        new = processes.ManagedProcess(old.name, old.argv, log)
        self._processes[index] = new  # same place in the stop order (after kcm, before etcd)
        new.start()
        self.pid_file.write_text(json.dumps(self.pids, indent=2) + "\n")
        processes.wait_until(
            lambda: self._get_status("/readyz") == 200,
            timeout=self.startup_timeout,
            what="the restarted kube-apiserver /readyz",
            watched=list(self._processes),
        )

    def server_version(self) -> str:
        """The apiserver's `gitVersion`, e.g. `v1.34.4`."""
        return str(self.version_info()["gitVersion"])

    def version_info(self) -> dict[str, Any]:
        """The apiserver's `/version` document."""
        status, body = self._get("/version")
        if status != 200:
            raise ControlPlaneError(f"GET /version answered {status}: {body[:200]!r}")
        info: dict[str, Any] = json.loads(body)
        return info

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- start-up -----------------------------------------------------------------------------------------------

    def _take_state_dir_lock(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock_file = (self.state_dir / ".lock").open("w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise ControlPlaneError(f"another control plane is running with state dir {self.state_dir}") from None
        self._lock_file = lock_file

    @property
    def _etcd_data_record(self) -> Path:
        return self.state_dir / "etcd-data-dir"

    def _remove_stale_etcd_data(self) -> None:
        # A run killed with SIGKILL cannot remove etcd's tmpfs directory (the kernel still stops its processes). We
        # hold the state dir's lock, so no live plane uses the directory recorded there: free the memory now.
        try:
            stale = Path(self._etcd_data_record.read_text().strip())
        except OSError:
            return
        if stale.name.startswith(("hsm-devtools-etcd-", "etcd-")):
            shutil.rmtree(stale, ignore_errors=True)
        self._etcd_data_record.unlink(missing_ok=True)

    def _start_with_retries(self) -> None:
        self._remove_stale_etcd_data()
        bins = self.executables  # resolve (and maybe build) before any process starts
        self._pki = pki.generate_pki(self.state_dir / "pki")
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                self._start_processes(bins, self._pki)
                return
            except processes.ProcessStartError as error:
                if _PORT_CLASH not in str(error) or attempt == _START_ATTEMPTS:
                    raise ControlPlaneError(str(error)) from error
                self._stop_processes_only()

    def _stop_processes_only(self) -> None:
        while self._processes:
            self._processes.pop().stop()
        if self._etcd_data_dir is not None:
            shutil.rmtree(self._etcd_data_dir, ignore_errors=True)
            self._etcd_data_dir = None

    def _start_processes(self, bins: binaries.ControlPlaneBinaries, certs: pki.ControlPlanePKI) -> None:
        deadline = time.monotonic() + self.startup_timeout

        def remaining() -> float:
            return max(1.0, deadline - time.monotonic())

        etcd_client_port, etcd_peer_port, apiserver_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_client_port}"
        peer_url = f"http://127.0.0.1:{etcd_peer_port}"
        parent = _etcd_data_parent()
        if parent is not None:
            self._etcd_data_dir = Path(tempfile.mkdtemp(prefix="hsm-devtools-etcd-", dir=parent))
        else:
            self._etcd_data_dir = Path(tempfile.mkdtemp(prefix="etcd-", dir=self.state_dir))
        self._etcd_data_record.write_text(f"{self._etcd_data_dir}\n")

        etcd = self._spawn(
            "etcd",
            [
                str(bins.etcd),
                "--name=hsm-devtools",
                f"--data-dir={self._etcd_data_dir}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=hsm-devtools={peer_url}",
                # Throwaway data: skipping fsync is what makes etcd fast on any disk.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        processes.wait_until(
            lambda: _http_ok(f"{etcd_url}/health"), timeout=remaining(), what="etcd /health", watched=[etcd]
        )

        server = f"https://127.0.0.1:{apiserver_port}"
        apiserver = self._spawn(
            "kube-apiserver",
            [
                str(bins.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                f"--secure-port={apiserver_port}",
                # Loopback advertise addresses are only accepted without an endpoint reconciler; the `kubernetes`
                # Service's endpoints are irrelevant without Pods, and this needs no default route on the host.
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--cert-dir={self.state_dir / 'pki'}",
                f"--tls-cert-file={certs.serving_cert}",
                f"--tls-private-key-file={certs.serving_key}",
                f"--client-ca-file={certs.ca_cert}",
                f"--service-account-issuer={server}",
                f"--service-account-key-file={certs.service_account_public_key}",
                f"--service-account-signing-key-file={certs.service_account_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--profiling=false",
            ],
        )
        kubeconfig.write_kubeconfig(
            self.kubeconfig_path,
            server=server,
            ca_cert=certs.ca_cert,
            client_cert=certs.admin_cert,
            client_key=certs.admin_key,
            user=pki.ADMIN_USER,
        )
        self._server = server
        # /healthz can pass before RBAC bootstrap and the CRD informers are ready; /readyz waits for them.
        processes.wait_until(
            lambda: self._get_status("/readyz") == 200,
            timeout=remaining(),
            what="kube-apiserver /readyz",
            watched=[etcd, apiserver],
        )

        if bins.kube_controller_manager is None:
            print(
                f"warning: {bins.directory} has no kube-controller-manager: namespaces will not finish deleting and "
                "owned objects will not be garbage-collected",
                file=sys.stderr,
            )
            return
        kcm = self._spawn(
            "kube-controller-manager",
            [
                str(bins.kube_controller_manager),
                f"--kubeconfig={self.kubeconfig_path}",
                "--leader-elect=false",
                "--secure-port=0",  # no serving at all: nothing to authenticate, no port to allocate
                f"--controllers={','.join(KCM_CONTROLLERS)}",
                f"--service-account-private-key-file={certs.service_account_key}",
                f"--root-ca-file={certs.ca_cert}",
                "--use-service-account-credentials=false",
            ],
        )
        # The service-account controller creating `default` proves kcm is connected and its controllers run.
        processes.wait_until(
            lambda: self._get_status("/api/v1/namespaces/default/serviceaccounts/default") == 200,
            timeout=remaining(),
            what="kube-controller-manager to create the default ServiceAccount",
            watched=[etcd, apiserver, kcm],
        )

    def _spawn(self, name: str, argv: list[str]) -> processes.ManagedProcess:
        process = processes.ManagedProcess(name, argv, self.log_dir / f"{name}.log")
        process.start()
        self._processes.append(process)
        return process

    # -- HTTP to the apiserver ----------------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        if self._pki is None:
            raise ControlPlaneError("the control plane has no PKI yet")
        context = ssl.create_default_context(cafile=str(self._pki.ca_cert))
        context.load_cert_chain(str(self._pki.admin_cert), str(self._pki.admin_key))
        return context

    def _get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        request = urllib.request.Request(self.server_url + path)  # noqa: S310 - our own https:// URL
        try:
            with urllib.request.urlopen(request, context=self._ssl_context(), timeout=timeout) as response:  # noqa: S310
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def _get_status(self, path: str) -> int | None:
        try:
            return self._get(path)[0]
        except (OSError, ssl.SSLError):  # not listening yet, or mid-start
            return None


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own http://127.0.0.1 URL
            return int(response.status) == 200
    except OSError:
        return False


# -- CLI ------------------------------------------------------------------------------------------------------------


def install_crds(plane: ControlPlane, crd_dir: Path) -> list[str]:
    """Apply `crd_dir/*.yaml` (if any) to the plane and wait until they are Established; return the CRD names."""
    return plane.kubectl().apply_crds(kubectl_tools.crd_manifests(crd_dir))


def print_banner(plane: ControlPlane, crds: list[str]) -> None:
    kubectl_bin = plane.executables.kubectl
    print(f"kube-apiserver {plane.server_version()} at {plane.server_url}")
    print(f"kubeconfig:    {plane.kubeconfig_path}")
    print(f"logs:          {plane.log_dir}")
    short_names = [name.rsplit("/", 1)[-1] for name in crds]  # drop "customresourcedefinition.apiextensions.k8s.io/"
    print(f"CRDs:          {', '.join(short_names) if crds else '(none found)'}")
    if kubectl_bin is not None:
        print(f"try:           KUBECONFIG={plane.kubeconfig_path} {kubectl_bin} get hsm -A")
    sys.stdout.flush()


@contextlib.contextmanager
def running_control_plane(state_dir: Path, crd_dir: Path) -> Iterator[ControlPlane]:
    """Start a control plane, install the CRDs and print how to reach it; stop everything on exit."""
    processes.install_termination_handlers()
    with ControlPlane(state_dir) as plane:
        crds = install_crds(plane, crd_dir)
        print_banner(plane, crds)
        yield plane


def wait_while_running(plane: ControlPlane) -> None:
    """Block until Ctrl-C/SIGTERM (KeyboardInterrupt) or until one of the plane's processes dies."""
    while True:
        plane.check_running()
        time.sleep(1.0)


# Failures a user can act on from the message alone: reported in one line, without a traceback.
EXPECTED_ERRORS = (ControlPlaneError, processes.ProcessStartError, binaries.BinariesError, kubectl_tools.KubectlError)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hsm_devtools.controlplane", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a control plane, apply the CRDs, run until Ctrl-C/SIGTERM")
    up.add_argument("--state-dir", type=Path, default=Path(".run/cluster"), help="PKI, kubeconfig and logs")
    up.add_argument("--crds", type=Path, default=binaries.REPO_ROOT / "crds", help="directory of CRD manifests")
    args = parser.parse_args(argv)

    try:
        with running_control_plane(args.state_dir, args.crds) as plane:
            print("running; press Ctrl-C to stop", flush=True)
            wait_while_running(plane)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0
    except EXPECTED_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

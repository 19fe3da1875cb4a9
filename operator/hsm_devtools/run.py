"""`make run`: the whole product locally — control plane, emulator, both controllers — with the quickstart applied.

Steps (CONTRACT.md §1), each entered on one `ExitStack` so that whatever started is stopped in reverse order on every
exit path (Ctrl-C, SIGTERM, a failing later step):

1. a local kube-apiserver + etcd + kube-controller-manager with the CRDs installed (`.run/cluster`);
2. the emulator on its embedded development defaults (`config/emulator-dev.yaml`; state in `.run/emulator`);
3. the management controller (its own identity: the emulator's `managed-hsm-operator-management` principal) and the
   data-plane controller (no identity of its own) as two processes (logs in `.run/operator`);
4. `examples/quickstart/` applied and waited for until every object in it is `Ready=True`;
5. a summary with the exact `kubectl` line to use it; then it runs until Ctrl-C / SIGTERM.

Everything lives under `--run-dir` (default `.run/` in the repository): `cluster/` (with the control plane's
`pids.json`), `emulator/`, `operator/` and `pids.json` (the emulator's and the controllers' PIDs).

State starts fresh each time (`.run/` is wiped) unless `--keep-state` is given, so a run never trips over the
leftovers of a previous one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from hsm_devtools import binaries, controlplane, emulator_process, operator_process, processes
from hsm_devtools import kubectl as kubectl_tools

QUICKSTART = binaries.REPO_ROOT / "examples" / "quickstart"
DEV_CONFIG = binaries.REPO_ROOT / "config" / "emulator-dev.yaml"
QUICKSTART_NAMESPACE = "hsm-quickstart"
MHSM_KINDS = ("managedhsms", "hsmsecuritydomains", "hsmkeys", "hsmroledefinitions", "hsmroleassignments")
MANAGEMENT_PRINCIPAL = "managed-hsm-operator-management"
PREFERRED_EMULATOR_PORT = 8443
PIDS_FILE = "pids.json"  # in the run directory: the emulator's and the controllers' PIDs


def management_identity(config: dict[str, Any]) -> operator_process.ManagementIdentity:
    """The management controller's service principal from the emulator config (by display name)."""
    for tenant in config["tenants"]:
        for sp in tenant.get("servicePrincipals", []):
            if sp.get("displayName") == MANAGEMENT_PRINCIPAL:
                return operator_process.ManagementIdentity(tenant["id"], sp["appId"], sp["clientSecret"])
    raise SystemExit(f"error: {DEV_CONFIG} has no service principal named {MANAGEMENT_PRINCIPAL!r}")


def write_pids(
    path: Path, emulator: emulator_process.EmulatorProcess, controllers: list[processes.ManagedProcess]
) -> None:
    """Which processes `make run` started besides the control plane (whose own are in cluster/pids.json)."""
    pids = {"hsm-emulator": emulator.pid, **{controller.name: controller.pid for controller in controllers}}
    path.write_text(json.dumps(pids, indent=2) + "\n")


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_ready(kubectl: kubectl_tools.Kubectl, namespace: str, timeout: float) -> None:
    """Wait until every mhsm.dev object in the namespace has Ready=True (reporting what is still pending)."""
    deadline = time.monotonic() + timeout
    pending: list[str] = []
    while time.monotonic() < deadline:
        pending = []
        for kind in MHSM_KINDS:
            items = yaml.safe_load(kubectl("get", kind, "-n", namespace, "-o", "yaml").stdout)["items"]
            for item in items:
                conditions = {c["type"]: c for c in item.get("status", {}).get("conditions", [])}
                ready = conditions.get("Ready", {})
                if ready.get("status") != "True":
                    why = ready.get("reason") or "no status yet"
                    synced = conditions.get("Synced", {})
                    if synced.get("status") == "False":
                        why = f"{synced.get('reason')}: {synced.get('message', '')}"
                    pending.append(f"{kind}/{item['metadata']['name']} ({why})")
        if not pending:
            return
        time.sleep(2)
    raise controlplane.ControlPlaneError("quickstart not Ready after {:.0f}s: {}".format(timeout, "; ".join(pending)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hsm_devtools.run", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=binaries.REPO_ROOT / ".run", help="state of everything started")
    parser.add_argument("--keep-state", action="store_true", help="keep .run/ from a previous run (default: wipe)")
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for the quickstart")
    parser.add_argument("--sync-interval", type=int, default=60, help="HSM_SYNC_INTERVAL for the controllers")
    parser.add_argument("--exit-when-ready", action="store_true", help="stop everything once ready (for tests)")
    args = parser.parse_args(argv)
    run_dir: Path = args.run_dir
    if run_dir.exists() and not args.keep_state:
        shutil.rmtree(run_dir)

    config = yaml.safe_load(DEV_CONFIG.read_text())
    try:
        with contextlib.ExitStack() as stack:
            plane = stack.enter_context(
                controlplane.running_control_plane(run_dir / "cluster", binaries.REPO_ROOT / "crds")
            )
            port = PREFERRED_EMULATOR_PORT if port_is_free(PREFERRED_EMULATOR_PORT) else None
            emulator = stack.enter_context(
                emulator_process.EmulatorProcess(run_dir / "emulator", config, port=port, log_level="info")
            )
            print(
                f"emulator:      {emulator.url} (CA {emulator.ca_file}; HSM ports {emulator.hsm_ports[0]}-"
                f"{emulator.hsm_ports[-1]})",
                flush=True,
            )
            endpoints = operator_process.AzureEndpoints(emulator.url, emulator.url, emulator.ca_file)
            identity = management_identity(config)
            controllers: list[processes.ManagedProcess] = []
            for which in ("management", "data"):
                env = operator_process.controller_env(
                    which,
                    plane.kubeconfig_path,
                    endpoints,
                    identity if which == "management" else None,
                    args.sync_interval,
                )
                controller = operator_process.start_controller(which, run_dir / "operator", env)
                stack.callback(controller.stop)
                controllers.append(controller)
            print(f"controllers:   management + data (logs in {run_dir / 'operator'})", flush=True)
            write_pids(run_dir / PIDS_FILE, emulator, controllers)

            kubectl = plane.kubectl()
            kubectl("apply", "-f", str(QUICKSTART))
            print(
                f"applied:       {QUICKSTART.relative_to(binaries.REPO_ROOT)}; waiting until every object is Ready",
                flush=True,
            )
            wait_for_ready(kubectl, QUICKSTART_NAMESPACE, args.ready_timeout)
            print_summary(plane, emulator)
            if args.exit_when_ready:
                return 0
            while True:
                plane.check_running()
                emulator.check_running()
                for controller in controllers:
                    controller.check_running()
                time.sleep(1.0)
    except KeyboardInterrupt:
        print("stopped; everything make run started has exited", file=sys.stderr)
        return 0
    except controlplane.EXPECTED_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def print_summary(plane: controlplane.ControlPlane, emulator: emulator_process.EmulatorProcess) -> None:
    kubectl_bin = plane.executables.require_kubectl()
    line = "=" * 100
    print(line)
    print("ready: the quickstart HSM is activated and every object in examples/quickstart is Ready=True")
    print(f"  kubeconfig:   {plane.kubeconfig_path}")
    print(f"  emulator:     {emulator.url}   CA file: {emulator.ca_file}")
    print(f"  use it:       KUBECONFIG={plane.kubeconfig_path} {kubectl_bin} get hsm -A")
    print("  stop:         Ctrl-C")
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""Run the two controllers (`hsm-operator run --plane management|data`) as local processes.

Used by `make run` (and usable by tests and benchmarks): each plane gets its own process and its own environment,
exactly as the chart's two Deployments do. The management controller gets the management identity of CONTRACT.md §3;
the data-plane controller gets no Azure identity at all (it only ever uses the Secrets named by the objects).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from hsm_devtools.processes import ManagedProcess, wait_until

# kopf prints this once its watchers are up; before that, objects applied would wait for the first list anyway.
_READY_MARKER = "Reconciling "


@dataclass(frozen=True)
class ManagementIdentity:
    """The management controller's own identity (a service principal holding a management-plane role only)."""

    tenant_id: str
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class AzureEndpoints:
    """Where the controllers find Entra ID and ARM, and which CA they trust (the emulator's, locally)."""

    authority_host: str
    arm_endpoint: str
    ca_bundle: Path | None
    verify_challenge_resource: bool = False


def controller_env(
    plane: str,
    kubeconfig: Path,
    endpoints: AzureEndpoints,
    identity: ManagementIdentity | None,
    sync_interval: int,
) -> dict[str, str]:
    """The environment of one controller; the data plane never sees the management identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "HSM_"))}
    env.update(
        {
            "KUBECONFIG": str(kubeconfig),
            "HSM_SYNC_INTERVAL": str(sync_interval),
            "HSM_VERIFY_CHALLENGE_RESOURCE": "true" if endpoints.verify_challenge_resource else "false",
        }
    )
    if endpoints.ca_bundle is not None:
        env["HSM_CA_BUNDLE"] = str(endpoints.ca_bundle)
    # Where Entra ID is (not who the controller is): the data plane needs it to redeem the namespaces' credentials.
    env["AZURE_AUTHORITY_HOST"] = endpoints.authority_host
    if plane == "management":
        if identity is None:
            raise ValueError("the management controller needs its identity")
        env.update(
            {
                "HSM_ARM_ENDPOINT": endpoints.arm_endpoint,
                "AZURE_TENANT_ID": identity.tenant_id,
                "AZURE_CLIENT_ID": identity.client_id,
                "AZURE_CLIENT_SECRET": identity.client_secret,
            }
        )
    return env


def start_controller(
    plane: str,
    state_dir: Path,
    env: dict[str, str],
    *,
    namespaces: list[str] | None = None,
    timeout: float = 60.0,
) -> ManagedProcess:
    """Start one controller process, wait until kopf is watching, and return it (logs in state_dir)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    scope = [f"--namespace={ns}" for ns in namespaces] if namespaces else ["--all-namespaces"]
    argv = [sys.executable, "-m", "hsm_operator", "run", f"--plane={plane}", *scope]
    process = ManagedProcess(f"hsm-operator-{plane}", argv, state_dir / f"operator-{plane}.log", env=env)
    process.start()

    def watching() -> bool:
        return _READY_MARKER in process.log_path.read_text(errors="replace")

    wait_until(watching, timeout=timeout, what=f"hsm-operator --plane={plane} watching", watched=[process])
    return process

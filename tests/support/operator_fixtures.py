"""Operator fixture: runs `hsm-operator run --plane P --namespace NS` as a subprocess against the emulator.

`operator_process(namespace, plane="management", **env)` (function-scoped factory) starts the operator with the
environment of CONTRACT.md §3 (the emulator's authority, ARM endpoint and CA; the `mgmt-operator` service principal
that holds "Managed HSM contributor" at the subscription; HSM_SYNC_INTERVAL=30 for drift tests;
HSM_VERIFY_CHALLENGE_RESOURCE=false because the emulator's HSM URLs are not under managedhsm.azure.net), waits
until kopf reports it is watching, and stops it (SIGTERM, then SIGKILL) at the end of the test. Logs go to
`<tmp>/operator-<n>.log`; `handle.log()` returns the text for assertions and failure messages.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hsm_devtools.processes import ManagedProcess, wait_until
from tests.support.emulator_fixtures import EmulatorHandle

MANAGEMENT_IDENTITY = "mgmt-operator"
READY_MARKERS = ("Reconciling ",)


@dataclass
class OperatorHandle:
    process: ManagedProcess

    def log(self) -> str:
        try:
            return self.process.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        self.process.stop(timeout=15)


def operator_env(emulator: EmulatorHandle, kubeconfig: Path, **overrides: str) -> dict[str, str]:
    sp = emulator.sp(MANAGEMENT_IDENTITY)
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "AZURE_AUTHORITY_HOST": emulator.url,
        "AZURE_TENANT_ID": sp.tenant_id,
        "AZURE_CLIENT_ID": sp.app_id,
        "AZURE_CLIENT_SECRET": sp.secret,
        "HSM_ARM_ENDPOINT": emulator.url,
        "HSM_CA_BUNDLE": str(emulator.ca_file),
        "HSM_SYNC_INTERVAL": "30",
        "HSM_VERIFY_CHALLENGE_RESOURCE": "false",
    }
    env.pop("AZURE_FEDERATED_TOKEN_FILE", None)
    env.update(overrides)
    return env


@pytest.fixture
def operator_process(
    emulator: EmulatorHandle, kubeconfig: Path, crds_installed: list[str], tmp_path: Path
) -> Iterator[Callable[..., OperatorHandle]]:
    started: list[OperatorHandle] = []

    def start(namespace: str, plane: str = "management", **env: str) -> OperatorHandle:
        argv = [sys.executable, "-m", "hsm_operator", "run", "--plane", plane, "--namespace", namespace, "--verbose"]
        process = ManagedProcess(
            f"hsm-operator-{len(started)}",
            argv,
            tmp_path / f"operator-{len(started)}.log",
            env=operator_env(emulator, kubeconfig, **env),
        )
        handle = OperatorHandle(process)
        started.append(handle)
        process.start()
        wait_until(
            lambda: any(marker in handle.log() for marker in READY_MARKERS),
            timeout=60,
            what="the operator to start",
            watched=[process],
        )
        return handle

    yield start
    for handle in started:
        handle.stop()

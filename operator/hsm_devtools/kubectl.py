"""Run the control plane's own kubectl against one kubeconfig, with errors that carry kubectl's message.

Used by the controlplane CLI (to install CRDs), by `make run` and by the test fixtures, so they all apply manifests the
same way: server-side apply, then wait for the CRDs to be Established before anyone creates custom resources.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


class KubectlError(RuntimeError):
    """kubectl exited with a non-zero status; the message holds the command and its stderr."""

    def __init__(self, argv: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        self.argv = list(argv)
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        command = " ".join(argv)
        super().__init__(f"`kubectl {command}` failed with exit code {result.returncode}: {result.stderr.strip()}")


class Kubectl:
    """A kubectl binary bound to one kubeconfig."""

    def __init__(self, binary: Path, kubeconfig: Path, *, default_timeout: float = 120.0) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.default_timeout = default_timeout

    def __call__(
        self,
        *args: str,
        input: str | None = None,  # same keyword as subprocess.run
        check: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `kubectl ARGS...`; with `check`, raise `KubectlError` on failure. Output is returned as text."""
        argv = [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            check=False,
            # A wedged apiserver must not hang the caller forever.
            timeout=self.default_timeout if timeout is None else timeout,
        )
        if check and result.returncode != 0:
            raise KubectlError(args, result)
        return result

    def apply_crds(self, manifests: Sequence[Path], *, timeout: float = 60.0) -> list[str]:
        """Server-side apply CRD manifests, wait until each is Established, and return the CRD names."""
        if not manifests:
            return []
        files = [arg for manifest in manifests for arg in ("-f", str(manifest))]
        # --force-conflicts: we own these CRDs; a previous apply by another field manager must not block the update.
        self("apply", "--server-side", "--force-conflicts", "--field-manager=hsm-devtools", *files)
        names = self("get", *files, "-o", "name").stdout.split()
        self("wait", "--for=condition=Established", f"--timeout={timeout:.0f}s", *names, timeout=timeout + 30)
        return names


def crd_manifests(crd_dir: Path) -> list[Path]:
    """The CRD manifests in `crd_dir` (`*.yaml`, sorted), or none if the directory does not exist yet."""
    return sorted(crd_dir.glob("*.yaml")) if crd_dir.is_dir() else []

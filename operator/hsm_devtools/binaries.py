"""Where the control-plane binaries come from: `$KUBEBUILDER_ASSETS`, or a one-time build into a cache.

The build itself lives in `hack/build-controlplane.sh` (shell, so CI and humans can run it without Python); this module
only runs it and names the binaries, so the fixtures, the controlplane CLI and `make` agree on one directory.
Run `python -m hsm_devtools.binaries` to build (if needed) and print the directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-controlplane.sh"

# The ecosystem's convention (controller-runtime envtest): a directory holding kube-apiserver, etcd, kubectl, ...
ASSETS_ENV = "KUBEBUILDER_ASSETS"


NOT_BUILT_EXIT_CODE = 3  # `build-controlplane.sh --check` when a build would be needed


class BinariesError(RuntimeError):
    """The control-plane binaries could not be found or built."""


@dataclass(frozen=True)
class ControlPlaneBinaries:
    """The executables of one control-plane directory. Optional ones are None when the directory lacks them."""

    directory: Path
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path | None
    kubectl: Path | None
    helm: Path | None

    @classmethod
    def from_dir(cls, directory: Path) -> ControlPlaneBinaries:
        """Name the binaries in `directory`; etcd and kube-apiserver are required, the rest optional."""

        def optional(name: str) -> Path | None:
            path = directory / name
            return path if path.is_file() and os.access(path, os.X_OK) else None

        def required(name: str) -> Path:
            path = optional(name)
            if path is None:
                hint = f"set {ASSETS_ENV} or run `make controlplane`"
                raise BinariesError(f"{directory} has no executable {name!r} ({hint})")
            return path

        return cls(
            directory=directory,
            etcd=required("etcd"),
            kube_apiserver=required("kube-apiserver"),
            kube_controller_manager=optional("kube-controller-manager"),
            kubectl=optional("kubectl"),
            helm=optional("helm"),
        )

    def require_kubectl(self) -> Path:
        # Debian's /usr/bin/kubectl is too old for a v1.34 server, so there is deliberately no fallback to $PATH.
        if self.kubectl is None:
            raise BinariesError(f"{self.directory} has no kubectl; add one or unset {ASSETS_ENV} to build it")
        return self.kubectl

    def require_helm(self) -> Path:
        if self.helm is None:
            raise BinariesError(f"{self.directory} has no helm; add one or unset {ASSETS_ENV} to build it")
        return self.helm


def ensure_binaries(*, build: bool = True) -> Path:
    """Return the directory holding the control-plane binaries, building them first if needed.

    `$KUBEBUILDER_ASSETS` wins when it holds kube-apiserver and etcd. Otherwise the build script builds once into
    `${XDG_CACHE_HOME:-~/.cache}/managed-hsm-operator/` (minutes on 2 cores) and afterwards answers at once.
    The build's progress goes to our stderr; its only stdout line is the directory. With `build=False` a missing
    build raises `BinariesError` at once instead (for callers under a timeout, such as test fixtures).
    """
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        directory = Path(assets)
        if (directory / "kube-apiserver").is_file() and (directory / "etcd").is_file():
            return directory
    if not BUILD_SCRIPT.is_file():
        raise BinariesError(f"build script {BUILD_SCRIPT} not found (is the project installed from a checkout?)")
    command = ["bash", str(BUILD_SCRIPT)] if build else ["bash", str(BUILD_SCRIPT), "--check"]
    result = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=None if build else subprocess.PIPE, text=True, check=False
    )
    if not build and result.returncode == NOT_BUILT_EXIT_CODE:
        raise BinariesError(result.stderr.strip())
    if result.returncode != 0:
        raise BinariesError(f"{BUILD_SCRIPT.name} failed with exit code {result.returncode} (its log is above)")
    lines = result.stdout.strip().splitlines()
    if not lines or not Path(lines[-1]).is_dir():
        raise BinariesError(f"{BUILD_SCRIPT.name} printed no binaries directory: {result.stdout!r}")
    return Path(lines[-1])


def find_binaries(*, build: bool = True) -> ControlPlaneBinaries:
    """`ensure_binaries()` and name what is in the directory."""
    return ControlPlaneBinaries.from_dir(ensure_binaries(build=build))


def kubectl_path(*, build: bool = True) -> Path:
    """The kubectl that matches the control plane (built with it, or from `$KUBEBUILDER_ASSETS`)."""
    return find_binaries(build=build).require_kubectl()


def helm_path(*, build: bool = True) -> Path:
    """The helm built alongside the control plane (or from `$KUBEBUILDER_ASSETS`)."""
    return find_binaries(build=build).require_helm()


def main() -> int:
    try:
        print(ensure_binaries())
    except BinariesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The e2e tier: the chart and the examples against a real kube-apiserver of their own.

The chart test installs the chart's CRDs with helm, which must own them; the rest of the suite shares a control plane
whose CRDs were applied by kubectl. A separate control plane for this tier keeps the two from fighting over ownership.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hsm_devtools import controlplane, processes
from hsm_devtools import kubectl as kubectl_tools


@pytest.fixture(scope="module")
def e2e_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controlplane.ControlPlane]:
    processes.install_termination_handlers()
    plane = controlplane.ControlPlane(tmp_path_factory.mktemp("e2e-controlplane"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def e2e_kubectl(e2e_plane: controlplane.ControlPlane) -> kubectl_tools.Kubectl:
    return e2e_plane.kubectl()

"""The container image recipe, checked without a container engine.

The Dockerfile installs the project with hack/install-image.sh; this test runs that same script into a clean
virtualenv and starts both programs from it, so a broken dependency, entry point or packaging rule fails here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_installs_with_the_tested_script() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "RUN bash hack/install-image.sh /opt/managed-hsm-operator /src" in dockerfile
    assert "FROM python:3.11" in dockerfile


def test_install_recipe_yields_both_programs(tmp_path: Path) -> None:
    venv = tmp_path / "image-venv"
    subprocess.run(
        ["bash", str(ROOT / "hack" / "install-image.sh"), str(venv), str(ROOT)],
        check=True,
        timeout=900,
        capture_output=True,
        text=True,
    )
    for program, words in (("hsm-operator", "run"), ("hsm-emulator", "serve")):
        out = subprocess.run([str(venv / "bin" / program), "--help"], check=True, capture_output=True, text=True)
        assert words in out.stdout
    # The runtime install must not depend on the dev extras.
    freeze = subprocess.run([str(venv / "bin" / "pip"), "freeze"], check=True, capture_output=True, text=True).stdout
    assert "pytest" not in freeze

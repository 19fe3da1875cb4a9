"""The package boundaries hold: import-linter contracts pass, and the `operator/` source root shadows nothing.

`operator/` is a source root, not a package: a package named `operator` would shadow the standard library module that
half of Python imports (collections, dataclasses, ...). These checks fail the suite the moment either boundary breaks.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STDLIB_OPERATOR = Path(sysconfig.get_paths()["stdlib"]) / "operator.py"


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=240
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_source_root_is_not_a_package() -> None:
    assert (REPO_ROOT / "operator").is_dir()
    assert not (REPO_ROOT / "operator" / "__init__.py").exists()


def test_import_operator_is_the_stdlib_module_in_process() -> None:
    import operator

    assert Path(operator.__file__ or "").resolve() == STDLIB_OPERATOR.resolve()
    assert operator.itemgetter(1)(("a", "b")) == "b"


def test_import_operator_is_the_stdlib_module_from_the_repo_root() -> None:
    # `python -c` puts the current directory first on sys.path: the worst case for shadowing.
    result = subprocess.run(
        [sys.executable, "-c", "import operator; print(operator.__file__)"],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT / "operator"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert Path(result.stdout.strip()).resolve() == STDLIB_OPERATOR.resolve()

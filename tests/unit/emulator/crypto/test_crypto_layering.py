"""The hazmat layer stays behind the recipe layer: only ``crypto.operations`` imports ``crypto.primitives``."""

from __future__ import annotations

import ast
from pathlib import Path

import hsm_emulator

PACKAGE_ROOT = Path(hsm_emulator.__file__).parent
PRIMITIVES = "hsm_emulator.crypto.primitives"
ALLOWED = {PACKAGE_ROOT / "crypto" / "operations.py"}


def _imports_primitives(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(alias.name == PRIMITIVES for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module == PRIMITIVES:
                return True
            if node.module == "hsm_emulator.crypto" and any(alias.name == "primitives" for alias in node.names):
                return True
    return False


def test_only_operations_imports_primitives() -> None:
    importers = {
        path
        for path in PACKAGE_ROOT.rglob("*.py")
        if _imports_primitives(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    }
    assert importers == ALLOWED, sorted(str(path.relative_to(PACKAGE_ROOT)) for path in importers - ALLOWED)

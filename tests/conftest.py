"""Registers the shared fixture plugins in `tests/support/`.

A plugin module is registered only once its file exists, so the suite still collects while teammates are writing
theirs (pytest would fail collection on a missing plugin module).
"""

from pathlib import Path

_SUPPORT = Path(__file__).parent / "support"
_PLUGINS = ("cluster_fixtures", "emulator_fixtures", "operator_fixtures", "azurite_fixtures")

pytest_plugins = [f"tests.support.{name}" for name in _PLUGINS if (_SUPPORT / f"{name}.py").is_file()]

"""The Argo CD health check (argocd/health.lua) maps our conditions to Argo CD health, run in a real Lua 5.1.

Argo CD runs resource customizations in gopher-lua (Lua 5.1 semantics), so the script is executed with lupa's Lua 5.1
runtime, fed the same live objects Argo CD would pass as `obj`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "argocd" / "health.lua").read_text()


def run_health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)

    def to_lua(value: Any) -> Any:
        if isinstance(value, dict):
            return lua.table_from({k: to_lua(v) for k, v in value.items()})
        if isinstance(value, list):
            return lua.table_from([to_lua(v) for v in value])
        return value

    lua.globals().obj = to_lua(obj)
    result = lua.execute(SCRIPT)
    return str(result["status"]), str(result["message"])


def cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "observedGeneration": 1}


def key(conditions: list[dict[str, Any]] | None, *, generation: int = 1, observed: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "mhsm.dev/v1alpha1",
        "kind": "HSMKey",
        "metadata": {"name": "k", "generation": generation},
    }
    if conditions is not None:
        body["status"] = {"observedGeneration": observed, "conditions": conditions}
    return body


CASES = [
    ("no status yet", key(None), "Progressing"),
    (
        "ready and synced",
        key([cond("Ready", "True", "Available"), cond("Synced", "True", "ReconcileSuccess")]),
        "Healthy",
    ),
    ("creating", key([cond("Ready", "False", "Creating"), cond("Synced", "True", "ReconcileSuccess")]), "Progressing"),
    ("waiting for the HSM", key([cond("Ready", "False", "WaitingForHSM", "HSM hsm1 is not activated")]), "Progressing"),
    (
        "generation not yet observed",
        key([cond("Ready", "True", "Available"), cond("Synced", "True", "ReconcileSuccess")], generation=3, observed=2),
        "Progressing",
    ),
    (
        "failed pass",
        key(
            [cond("Ready", "False", "Unavailable"), cond("Synced", "False", "AuthorizationFailed", "403 on /keys/app")]
        ),
        "Degraded",
    ),
    ("adoption blocked", key([cond("Synced", "False", "AdoptionBlocked", "kty differs")]), "Degraded"),
    (
        "drifted (report mode)",
        key(
            [
                cond("Ready", "True", "Available"),
                cond("Synced", "True", "ReconcileSuccess"),
                cond("Drifted", "True", "DriftDetected", "attributes.enabled"),
            ]
        ),
        "Degraded",
    ),
    (
        "drift cleared",
        key(
            [
                cond("Ready", "True", "Available"),
                cond("Synced", "True", "ReconcileSuccess"),
                cond("Drifted", "False", "NoDrift"),
            ]
        ),
        "Healthy",
    ),
    ("paused", key([cond("Ready", "True", "Available"), cond("Synced", "False", "ReconcilePaused")]), "Suspended"),
    (
        "unavailable",
        key([cond("Ready", "False", "Unavailable", "key disabled"), cond("Synced", "True", "ReconcileSuccess")]),
        "Degraded",
    ),
]


@pytest.mark.parametrize(("name", "obj", "expected"), CASES, ids=[c[0] for c in CASES])
def test_health_maps_conditions(name: str, obj: dict[str, Any], expected: str) -> None:
    status, message = run_health(obj)
    assert status == expected, f"{name}: {status} ({message})"
    assert message


def test_failure_message_carries_the_reason() -> None:
    _, message = run_health(key([cond("Synced", "False", "AuthorizationFailed", "403 on /keys/app")]))
    assert "AuthorizationFailed" in message
    assert "403 on /keys/app" in message


def test_argocd_cm_patch_embeds_the_same_script() -> None:
    patch = yaml.safe_load((ROOT / "argocd" / "argocd-cm-patch.yaml").read_text())
    assert patch["data"]["resource.customizations.health.mhsm.dev_*"] == SCRIPT

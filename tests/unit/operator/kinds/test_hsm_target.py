"""Resolving a data-plane CR's HSM: wait (WaitingForHSM) until the ManagedHSM is Ready and, if needed, activated."""

from __future__ import annotations

from typing import Any

import pytest

from hsm_operator.kinds.hsm_target import HsmTarget, not_activated, resolve, target_from_managed_hsm
from hsm_operator.reconciler import errors


def managed_hsm(ready: str | None = "True", uri: str | None = "https://h:1/", activation: str | None = None) -> dict:
    status: dict[str, Any] = {}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "reason": "Creating" if ready != "True" else "Ok"}]
    if uri is not None:
        status["hsmUri"] = uri
    if activation is not None:
        status["activationStatus"] = activation
    return {"status": status}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "ManagedHSM hsm does not exist"),
        ({}, "ManagedHSM hsm is not Ready"),
        (managed_hsm(ready="False"), "ManagedHSM hsm is not Ready: Creating"),
        (managed_hsm(uri=None), "has no status.hsmUri yet"),
    ],
)
def test_waits_until_ready(body: dict | None, message: str) -> None:
    with pytest.raises(errors.WaitingForHSM, match=message):
        target_from_managed_hsm("hsm", body)


def test_ready_hsm_resolves_with_activation() -> None:
    assert target_from_managed_hsm("hsm", managed_hsm(activation="Active")) == HsmTarget("https://h:1/", "Active")
    assert HsmTarget("u", "Active").active is True
    assert HsmTarget("u", "NotActivated").active is False
    assert HsmTarget("u").active is None


def test_waiting_is_paced_not_stormy() -> None:
    # The loop asks the error for its delay; waiting never backs off beyond 30 s and never spins faster than 10 s.
    assert errors.WaitingForHSM("x").delay(0) == 10.0
    assert errors.WaitingForHSM("x").delay(10) == 30.0


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("Forbidden", "The Managed HSM is not activated. Download the security domain first.", True),
        ("BadParameter", "HSM NotActivated", True),
        ("Forbidden", "Caller is not authorized to perform action on resource", False),
        (
            "AccessDenied",
            "Not authorized to access Microsoft.KeyVault/managedHsm/securitydomain/download/action",
            False,
        ),
        (None, None, False),
    ],
)
def test_not_activated_recognition(code: str | None, message: str | None, expected: bool) -> None:
    assert not_activated(code, message) is expected


class OneObject:
    """ClusterObjects with a single ManagedHSM body (what `resolve` reads)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    async def custom_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        assert (plural, namespace, name) == ("managedhsms", "ns", "hsm")
        return self.body


class Spec:
    hsm_uri = None

    class hsm_ref:  # noqa: N801 - mimics the pydantic attribute
        name = "hsm"


@pytest.mark.parametrize("activation", ["NotActivated", "Active", None])
async def test_recorded_activation_never_blocks_the_data_plane(activation: str | None) -> None:
    # The ManagedHSM's activationStatus is ARM's answer at the management controller's last pass: after the
    # HSMSecurityDomain activates the HSM it says NotActivated for up to a sync interval. Dependants must not wait
    # on that record (they did, for a whole interval); the HSM's own answer decides (`not_activated`).
    target = await resolve(OneObject(managed_hsm(activation=activation)), "ns", Spec, require_active=True)  # type: ignore[arg-type]
    assert target.uri == "https://h:1/"
    assert target.active is not False


async def test_an_hsm_that_is_not_ready_still_waits_without_any_call() -> None:
    with pytest.raises(errors.WaitingForHSM, match="is not Ready"):
        await resolve(OneObject(managed_hsm(ready="False")), "ns", Spec, require_active=True)  # type: ignore[arg-type]

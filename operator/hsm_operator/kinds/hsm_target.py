"""Which HSM a data-plane CR talks to, and whether that HSM can be used yet.

Why this module exists: every data-plane kind names its HSM the same way (`spec.hsmRef` to a ManagedHSM in the
namespace, or `spec.hsmUri`) and must wait the same way: until the ManagedHSM is Ready and, except for the
security-domain kind that activates it, until it is activated. Waiting is not a failure: it is reported as
`WaitingForHSM` and retried at a steady pace (no error storm; nothing is sent to an HSM that is not Ready).

Activation itself is judged by the data plane: with `spec.hsmUri` the operator cannot see the management plane, and a
ManagedHSM's recorded `activationStatus` lags the activation by up to a sync interval. Calls to a not-yet-activated
HSM fail there, and `not_activated` recognises that answer so the kinds report `WaitingForHSM`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hsm_operator.kinds.cluster_objects import ClusterObjects
from hsm_operator.reconciler import errors

MANAGED_HSM_PLURAL = "managedhsms"
ACTIVE = "Active"


@dataclass(frozen=True)
class HsmTarget:
    """The resolved HSM: its data-plane URL, and its activation status when the management plane told us."""

    uri: str
    activation_status: str | None = None  # None: unknown (spec.hsmUri); "Active", "NotActivated", ...

    @property
    def active(self) -> bool | None:
        return None if self.activation_status is None else self.activation_status == ACTIVE


def _condition(status: Mapping[str, Any], condition_type: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == condition_type:
            return dict(condition)
    return None


def target_from_managed_hsm(name: str, body: Mapping[str, Any] | None) -> HsmTarget:
    """Judge a ManagedHSM CR body (None = absent): its URI if Ready, else `WaitingForHSM` saying what is missing."""
    if body is None:
        raise errors.WaitingForHSM(f"ManagedHSM {name} does not exist (yet)")
    status: Mapping[str, Any] = body.get("status") or {}
    ready = _condition(status, "Ready")
    if ready is None or ready.get("status") != "True":
        detail = f": {ready.get('reason')}" if ready and ready.get("reason") else ""
        raise errors.WaitingForHSM(f"ManagedHSM {name} is not Ready{detail}")
    uri = status.get("hsmUri")
    if not uri:
        raise errors.WaitingForHSM(f"ManagedHSM {name} has no status.hsmUri yet")
    return HsmTarget(uri=str(uri), activation_status=status.get("activationStatus"))


async def resolve(cluster: ClusterObjects, namespace: str, spec: Any, *, require_active: bool) -> HsmTarget:
    """The HSM of a data-plane spec (`hsm_ref` or `hsm_uri`), waiting for readiness and, if asked, activation."""
    if spec.hsm_uri is not None:
        return HsmTarget(uri=str(spec.hsm_uri))
    name = spec.hsm_ref.name
    target = target_from_managed_hsm(name, await cluster.custom_object(MANAGED_HSM_PLURAL, namespace, name))
    if require_active and target.active is False:
        # Activation happens on the data plane (an HSMSecurityDomain download); the ManagedHSM's activationStatus is
        # what ARM said at the management controller's last pass, up to a sync interval ago. Waiting on that record
        # kept every dependant idle for a whole interval after activation, so a "not activated" record only means
        # "unknown": the HSM's own answer decides, exactly as for `spec.hsmUri` (`not_activated` -> WaitingForHSM).
        return HsmTarget(uri=target.uri)
    return target


# What a not-yet-activated HSM answers on data-plane calls (beyond the security-domain download). The real service's
# wording varies; the emulator follows it. Matched case-insensitively on the error code and message.
# "security domain" alone is not a marker: an AccessDenied for `securitydomain/download/action` must stay a 403.
_NOT_ACTIVATED_MARKERS = ("not activated", "notactivated", "not been activated", "not yet activated", "is not active")


def not_activated(code: str | None, message: str | None) -> bool:
    """Whether a data-plane error says the HSM is not activated (so the caller should wait, not fail)."""
    text = f"{code or ''} {message or ''}".lower()
    return any(marker in text for marker in _NOT_ACTIVATED_MARKERS)

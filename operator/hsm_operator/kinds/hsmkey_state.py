"""Desired versus observed state of an HSM key, compared field by field.

Why this module exists: the HSMKey external client must decide three things on every pass: may it adopt the key
that already has this name (kty/size/curve match), what differs in the mutable fields (ops, enabled, nbf, exp, tags,
release policy, rotation policy), and what to publish in status. Those decisions are pure functions of two
snapshots, so they live here, away from the SDK calls, and are tested as tables.

Conventions:
- A desired field of `None` is not managed: whatever the HSM has is accepted (the service's defaults included).
  An empty tag map is managed and means "no tags".
- Paths are relative to `spec` (`keyOps`, `attributes.enabled`, `tags.env`, `rotationPolicy`), as `FieldDrift`
  requires; shape mismatches (`kty`, `keySize`, `curve`) are `mutable=False`, which blocks adoption.
- Times are compared at whole-second precision: the service stores Unix seconds.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hsm_operator.reconciler.external import FieldDrift


def key_family(kty: str) -> str:
    """`RSA-HSM`/`RSA` -> `RSA`: Managed HSM stores every key in hardware, so only the family can differ."""
    return kty.removesuffix("-HSM")


@dataclass(frozen=True)
class KeyShape:
    """The immutable cryptographic shape of a key. `size=None` for EC, and for oct keys whose size is not readable."""

    kty: str
    size: int | None = None
    curve: str | None = None


@dataclass(frozen=True)
class LifetimeAction:
    action: str  # Rotate | Notify
    time_after_create: str | None = None
    time_before_expiry: str | None = None


@dataclass(frozen=True)
class RotationPolicyState:
    expiry_time: str | None = None
    lifetime_actions: tuple[LifetimeAction, ...] = ()

    def normalised(self) -> tuple[str | None, frozenset[tuple[str, str | None, str | None]]]:
        """Order of actions and the case of durations/action names carry no meaning for the service."""
        return (
            self.expiry_time.upper() if self.expiry_time else None,
            frozenset(
                (
                    action.action.lower(),
                    action.time_after_create.upper() if action.time_after_create else None,
                    action.time_before_expiry.upper() if action.time_before_expiry else None,
                )
                for action in self.lifetime_actions
            ),
        )

    def as_display(self) -> dict[str, Any]:
        return {
            "expiryTime": self.expiry_time,
            "lifetimeActions": [
                {
                    "action": action.action,
                    **({"timeAfterCreate": action.time_after_create} if action.time_after_create else {}),
                    **({"timeBeforeExpiry": action.time_before_expiry} if action.time_before_expiry else {}),
                }
                for action in self.lifetime_actions
            ],
        }


@dataclass(frozen=True)
class ReleasePolicyState:
    data: bytes  # the policy document as bytes (JSON), as the service stores it
    content_type: str | None = None
    immutable: bool | None = None


@dataclass(frozen=True)
class KeyState:
    """One snapshot of a key: the spec's wishes (`desired_state`) or what the HSM holds (`observed_state`)."""

    shape: KeyShape
    key_ops: frozenset[str] | None = None
    enabled: bool | None = None
    not_before: datetime.datetime | None = None
    expires: datetime.datetime | None = None
    exportable: bool | None = None
    tags: Mapping[str, str] | None = None
    release_policy: ReleasePolicyState | None = None
    rotation_policy: RotationPolicyState | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def shape_mismatches(desired: KeyShape, observed: KeyShape) -> tuple[FieldDrift, ...]:
    """Differences that forbid adopting the existing key (and that no update can fix)."""
    mismatches: list[FieldDrift] = []
    if key_family(desired.kty) != key_family(observed.kty):
        mismatches.append(FieldDrift("kty", desired.kty, observed.kty, mutable=False))
    # An unreadable observed size (oct keys return no material) cannot be held against the key.
    if desired.size is not None and observed.size is not None and desired.size != observed.size:
        mismatches.append(FieldDrift("keySize", desired.size, observed.size, mutable=False))
    if desired.curve is not None and desired.curve != observed.curve:
        mismatches.append(FieldDrift("curve", desired.curve, observed.curve, mutable=False))
    return tuple(mismatches)


def _seconds(value: datetime.datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return int(value.timestamp())


def _iso(value: datetime.datetime | None) -> str | None:
    seconds = _seconds(value)
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat().replace("+00:00", "Z")


def attribute_drift(desired: KeyState, observed: KeyState) -> tuple[FieldDrift, ...]:
    """Mutable differences in ops, attributes, tags and release policy (rotation policy: `rotation_drift`)."""
    drift: list[FieldDrift] = []
    if desired.key_ops is not None and desired.key_ops != (observed.key_ops or frozenset()):
        drift.append(FieldDrift("keyOps", sorted(desired.key_ops), sorted(observed.key_ops or ())))
    if desired.enabled is not None and desired.enabled != bool(observed.enabled):
        drift.append(FieldDrift("attributes.enabled", desired.enabled, observed.enabled))
    if desired.not_before is not None and _seconds(desired.not_before) != _seconds(observed.not_before):
        drift.append(FieldDrift("attributes.notBefore", _iso(desired.not_before), _iso(observed.not_before)))
    if desired.expires is not None and _seconds(desired.expires) != _seconds(observed.expires):
        drift.append(FieldDrift("attributes.expires", _iso(desired.expires), _iso(observed.expires)))
    if desired.exportable is not None and desired.exportable != bool(observed.exportable):
        drift.append(FieldDrift("attributes.exportable", desired.exportable, observed.exportable, mutable=False))
    if desired.tags is not None:
        observed_tags = observed.tags or {}
        for name in sorted(set(desired.tags) | set(observed_tags)):
            if desired.tags.get(name) != observed_tags.get(name):
                drift.append(FieldDrift(f"tags.{name}", desired.tags.get(name), observed_tags.get(name)))
    if desired.release_policy is not None:
        observed_policy = observed.release_policy
        if observed_policy is None or _policy_document(desired.release_policy) != _policy_document(observed_policy):
            drift.append(
                FieldDrift(
                    "releasePolicy",
                    _policy_display(desired.release_policy),
                    _policy_display(observed_policy) if observed_policy else None,
                    # An immutable release policy cannot be changed by anyone, the operator included.
                    mutable=not (observed_policy is not None and observed_policy.immutable),
                )
            )
    return tuple(drift)


def rotation_drift(desired: RotationPolicyState | None, observed: RotationPolicyState | None) -> tuple[FieldDrift, ...]:
    """The rotation policy as one unit: the service replaces it whole, so one path is the honest granularity."""
    if desired is None:
        return ()
    observed_normalised = observed.normalised() if observed is not None else (None, frozenset())
    if desired.normalised() == observed_normalised:
        return ()
    return (
        FieldDrift("rotationPolicy", desired.as_display(), observed.as_display() if observed is not None else None),
    )


def _policy_document(policy: ReleasePolicyState) -> Any:
    """Compare release policies by their JSON content, not by byte layout (the service may re-serialise)."""
    try:
        return json.loads(policy.data)
    except ValueError:
        return policy.data


def _policy_display(policy: ReleasePolicyState) -> Any:
    document = _policy_document(policy)
    return document if not isinstance(document, bytes) else document.decode("utf-8", "replace")

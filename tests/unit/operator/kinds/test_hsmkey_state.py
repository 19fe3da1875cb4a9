"""HSMKey desired-vs-observed diff as tables: adoption shape checks, attribute drift, rotation policy."""

from __future__ import annotations

import datetime

import pytest

from hsm_operator.kinds.hsmkey_state import (
    KeyShape,
    KeyState,
    LifetimeAction,
    ReleasePolicyState,
    RotationPolicyState,
    attribute_drift,
    rotation_drift,
    shape_mismatches,
)

RSA = KeyShape("RSA-HSM", size=2048)
T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("desired", "observed", "paths"),
    [
        (RSA, KeyShape("RSA-HSM", size=2048), []),
        (RSA, KeyShape("RSA", size=2048), []),  # the family is what matters on an HSM
        (RSA, KeyShape("RSA-HSM", size=3072), ["keySize"]),
        (RSA, KeyShape("EC-HSM", curve="P-256"), ["kty"]),
        (KeyShape("EC-HSM", curve="P-256"), KeyShape("EC-HSM", curve="P-384"), ["curve"]),
        (KeyShape("oct-HSM", size=256), KeyShape("oct-HSM", size=None), []),  # oct size is not readable
        (KeyShape("oct-HSM", size=256), KeyShape("RSA-HSM", size=2048), ["kty", "keySize"]),
    ],
)
def test_shape_mismatches(desired: KeyShape, observed: KeyShape, paths: list[str]) -> None:
    mismatches = shape_mismatches(desired, observed)
    assert [m.path for m in mismatches] == paths
    assert all(not m.mutable for m in mismatches)


OBSERVED = KeyState(
    shape=RSA,
    key_ops=frozenset({"sign", "verify"}),
    enabled=True,
    not_before=T0,
    expires=None,
    tags={"env": "prod", "team": "a"},
)


@pytest.mark.parametrize(
    ("reason", "desired", "want"),
    [
        ("nothing managed", KeyState(shape=RSA), []),
        (
            "all equal",
            KeyState(RSA, frozenset({"verify", "sign"}), True, T0, None, None, {"env": "prod", "team": "a"}),
            [],
        ),
        ("ops differ", KeyState(RSA, key_ops=frozenset({"sign"})), [("keyOps", ["sign"], ["sign", "verify"])]),
        ("disabled out of band", KeyState(RSA, enabled=False), [("attributes.enabled", False, True)]),
        ("sub-second difference is none", KeyState(RSA, not_before=T0 + datetime.timedelta(microseconds=5)), []),
        ("naive time is UTC", KeyState(RSA, not_before=T0.replace(tzinfo=None)), []),
        ("expires added", KeyState(RSA, expires=T0), [("attributes.expires", "2030-01-01T00:00:00Z", None)]),
        (
            "tag changed and tag extra",
            KeyState(RSA, tags={"env": "dev"}),
            [("tags.env", "dev", "prod"), ("tags.team", None, "a")],
        ),
        ("empty tag map is managed", KeyState(RSA, tags={}), [("tags.env", None, "prod"), ("tags.team", None, "a")]),
    ],
)
def test_attribute_drift(reason: str, desired: KeyState, want: list[tuple[str, object, object]]) -> None:
    got = [(d.path, d.desired, d.observed) for d in attribute_drift(desired, OBSERVED)]
    assert got == want, reason


def test_exportable_mismatch_is_immutable() -> None:
    (drift,) = attribute_drift(KeyState(RSA, exportable=True), OBSERVED)
    assert drift.path == "attributes.exportable"
    assert not drift.mutable


def test_release_policy_compared_by_json_content() -> None:
    desired = KeyState(RSA, release_policy=ReleasePolicyState(b'{"version": "1.0.0", "anyOf": []}'))
    same = KeyState(RSA, release_policy=ReleasePolicyState(b'{"anyOf":[],"version":"1.0.0"}'))
    other = KeyState(RSA, release_policy=ReleasePolicyState(b'{"anyOf":[],"version":"1.0.1"}', immutable=True))
    assert attribute_drift(desired, same) == ()
    (drift,) = attribute_drift(desired, other)
    assert drift.path == "releasePolicy"
    assert not drift.mutable  # an immutable policy cannot be corrected
    (missing,) = attribute_drift(desired, KeyState(RSA))
    assert missing.observed is None
    assert missing.mutable


POLICY = RotationPolicyState("P90D", (LifetimeAction("Rotate", time_after_create="P30D"),))


@pytest.mark.parametrize(
    ("reason", "desired", "observed", "drifted"),
    [
        ("unmanaged", None, RotationPolicyState("P1Y"), False),
        ("equal", POLICY, RotationPolicyState("p90d", (LifetimeAction("rotate", time_after_create="p30d"),)), False),
        ("absent on the HSM", POLICY, None, True),
        ("expiry differs", POLICY, RotationPolicyState("P60D", POLICY.lifetime_actions), True),
        ("trigger differs", POLICY, RotationPolicyState("P90D", (LifetimeAction("Rotate", "P31D"),)), True),
        (
            "extra notify action",
            POLICY,
            RotationPolicyState("P90D", (*POLICY.lifetime_actions, LifetimeAction("Notify", None, "P7D"))),
            True,
        ),
        (
            "order is irrelevant",
            RotationPolicyState("P90D", (LifetimeAction("Notify", None, "P7D"), LifetimeAction("Rotate", "P30D"))),
            RotationPolicyState("P90D", (LifetimeAction("Rotate", "P30D"), LifetimeAction("Notify", None, "P7D"))),
            False,
        ),
    ],
)
def test_rotation_drift(
    reason: str, desired: RotationPolicyState | None, observed: RotationPolicyState | None, drifted: bool
) -> None:
    drift = rotation_drift(desired, observed)
    assert bool(drift) == drifted, reason
    if drift:
        assert drift[0].path == "rotationPolicy"
        assert drift[0].as_status()["desired"].startswith('{"expiryTime"')

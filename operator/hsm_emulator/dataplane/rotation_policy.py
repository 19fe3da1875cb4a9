"""Key rotation policies: validation with Managed HSM's rules and the stored/wire form.

Rules (Key Vault "Configure key auto-rotation in Managed HSM"):
- ``attributes.expiryTime``: ISO-8601 duration of at least 28 days; rotated versions expire that long after creation;
- at most one ``Rotate`` action, with exactly one trigger: ``timeAfterCreate`` (at least 7 days) or
  ``timeBeforeExpiry`` (at least 7 days, and only with an ``expiryTime``); rotation must fall at least 7 days before
  expiry;
- Managed HSM does not support Event Grid notifications, so ``Notify`` actions are refused (a documented emulator
  decision: the real service's exact answer is not published).
"""

from __future__ import annotations

from typing import Any

from hsm_emulator.dataplane import durations, errors, models

MIN_EXPIRY_SECONDS = 28 * durations.DAY
MIN_TRIGGER_SECONDS = 7 * durations.DAY


def _seconds(text: str, field: str) -> int:
    try:
        return durations.to_seconds(text)
    except durations.InvalidDuration as exc:
        raise errors.bad_parameter(f"{field}: {exc}") from None


def validate(policy: models.RotationPolicyIn) -> dict[str, Any]:
    """Check a PUT body and return the stored form ``{lifetimeActions, expiryTime}``."""
    expiry_text = policy.attributes.expiry_time if policy.attributes else None
    expiry = None
    if expiry_text is not None:
        expiry = _seconds(expiry_text, "attributes.expiryTime")
        if expiry < MIN_EXPIRY_SECONDS:
            raise errors.bad_parameter(
                f"attributes.expiryTime: the key expiry time must be at least 28 days (P28D); got {expiry_text}."
            )
    actions: list[dict[str, Any]] = []
    for index, action in enumerate(policy.lifetime_actions or []):
        field = f"lifetimeActions[{index}]"
        kind = action.action.type
        if kind.lower() == "notify":
            raise errors.bad_parameter(
                f"{field}.action.type: Notify is not supported by Managed HSM (no Event Grid notifications)."
            )
        if kind.lower() != "rotate":
            raise errors.bad_parameter(f"{field}.action.type: unknown action '{kind}'; expected Rotate.")
        if actions:
            raise errors.bad_parameter("lifetimeActions: at most one Rotate action is allowed.")
        after_create, before_expiry = action.trigger.time_after_create, action.trigger.time_before_expiry
        if (after_create is None) == (before_expiry is None):
            raise errors.bad_parameter(
                f"{field}.trigger: exactly one of timeAfterCreate and timeBeforeExpiry must be set."
            )
        trigger: dict[str, str] = {}
        if after_create is not None:
            seconds = _seconds(after_create, f"{field}.trigger.timeAfterCreate")
            if seconds < MIN_TRIGGER_SECONDS:
                raise errors.bad_parameter(f"{field}.trigger.timeAfterCreate must be at least 7 days (P7D).")
            if expiry is not None and seconds > expiry - MIN_TRIGGER_SECONDS:
                raise errors.bad_parameter(
                    f"{field}.trigger.timeAfterCreate: rotation must happen at least 7 days before expiry."
                )
            trigger["timeAfterCreate"] = after_create
        if before_expiry is not None:
            if expiry is None:
                raise errors.bad_parameter(
                    f"{field}.trigger.timeBeforeExpiry requires attributes.expiryTime to be set."
                )
            seconds = _seconds(before_expiry, f"{field}.trigger.timeBeforeExpiry")
            if seconds < MIN_TRIGGER_SECONDS or seconds > expiry - MIN_TRIGGER_SECONDS:
                raise errors.bad_parameter(
                    f"{field}.trigger.timeBeforeExpiry must be at least 7 days and leave at least 7 days after "
                    "creation."
                )
            trigger["timeBeforeExpiry"] = before_expiry
        actions.append({"trigger": trigger, "action": {"type": "Rotate"}})
    return {"lifetimeActions": actions, "expiryTime": expiry_text}


def expiry_seconds(stored: dict[str, Any] | None) -> int | None:
    """How long a rotated version lives, or None."""
    if not stored or not stored.get("expiryTime"):
        return None
    return durations.to_seconds(str(stored["expiryTime"]))


def render(policy_id: str, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The wire form; a key that never had a policy answers with an empty one (no created/updated)."""
    if stored is None:
        return {"id": policy_id, "lifetimeActions": [], "attributes": {}}
    attributes: dict[str, Any] = {"created": stored["created"], "updated": stored["updated"]}
    if stored.get("expiryTime"):
        attributes["expiryTime"] = stored["expiryTime"]
    return {"id": policy_id, "lifetimeActions": stored["lifetimeActions"], "attributes": attributes}

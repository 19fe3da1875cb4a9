"""Reason constants and the one exception tree the reconcile loop understands.

Why this module exists: every failure must end as a short, specific reason in `status.conditions` and an Event,
never as a stack trace, and must be retried at a pace that suits it (Throttled honours Retry-After; a spec that can
never work is not retried hot). Kinds and `azure.errors` raise these; the loop maps them to conditions and a requeue
delay. Nothing here knows about kopf or the Azure SDK.

    ReconcileError                  (reason: ReconcileError, retried with backoff)
     +-- AuthenticationFailed       the identity could not get a token (wrong secret, disabled principal)
     +-- AuthorizationFailed        the identity has a token but lacks a role (HTTP 403)
     +-- CredentialsMissing         the credential Secret / key / environment variable is absent
     +-- WaitingForHSM              the referenced HSM is not Ready/activated yet (not a failure of this object)
     +-- Throttled                  HTTP 429 / 503 with Retry-After: retried exactly after it
     +-- Unavailable                connection errors, 5xx: retried with backoff
     +-- NotFound                   a referenced external object does not exist
     +-- Conflict                   HTTP 409 (another operation is running, name taken)
     +-- SoftDeletedConflict        the name is held by a soft-deleted object and createMode does not recover it
     +-- PermanentReconcileError    retrying cannot help until the spec (or the external object) changes
          +-- ImmutableFieldChanged an immutable field differs from the external object
          +-- AdoptionBlocked       an existing object of that name does not match the spec: we will not adopt it
          +-- InvalidSpec           the spec or an annotation cannot be acted on
          +-- PolicyInvalid         an unsupported managementPolicies combination
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

# Condition types.
READY = "Ready"
SYNCED = "Synced"
DRIFTED = "Drifted"

# Ready reasons (crossplane: Available/Unavailable from observe, Creating/Deleting from the loop).
AVAILABLE = "Available"
UNAVAILABLE = "Unavailable"
CREATING = "Creating"
DELETING = "Deleting"

# Synced reasons.
RECONCILE_SUCCESS = "ReconcileSuccess"
RECONCILE_ERROR = "ReconcileError"
RECONCILE_PAUSED = "ReconcilePaused"

# Drifted reasons.
NO_DRIFT = "NoDrift"
DRIFT_DETECTED = "DriftDetected"
DRIFT_CORRECTED = "DriftCorrected"

# Event reasons for successful actions.
EVENT_CREATED = "Created"
EVENT_RECOVERED = "Recovered"
EVENT_UPDATED = "Updated"
EVENT_DELETED = "Deleted"
EVENT_ORPHANED = "Orphaned"
EVENT_ADOPTED = "Adopted"
EVENT_DRIFT_DETECTED = "DriftDetected"
EVENT_DRIFT_CORRECTED = "DriftCorrected"
EVENT_OBSERVE_ONLY_MISSING = "ObservedResourceMissing"
EVENT_DELETE_INCOMPLETE = "DeleteIncomplete"  # e.g. a key deleted but its purge refused (purge protection)

# Requeue pacing (seconds).
DEFAULT_ERROR_DELAY = 10.0
MAX_ERROR_DELAY = 300.0
PERMANENT_ERROR_DELAY = 300.0  # still re-checked: the external object may change, or a Secret may appear
PENDING_DELAY = 5.0  # an LRO or a dependency is in flight: look again soon
CONFIRM_DELAY = 1.0  # a create the API finished synchronously (not an LRO): observe it once to confirm, promptly
MESSAGE_LIMIT = 400  # status messages stay short; no stack traces


class ReconcileError(Exception):
    """A failure the loop records as `Synced=False` with `reason` and retries after `delay()`."""

    reason: ClassVar[str] = RECONCILE_ERROR
    permanent: ClassVar[bool] = False
    # An expected wait on something else (not a failure of this object): logged at INFO, not counted as an error.
    expected: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None, drift: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.message = short(message)
        self.retry_after = retry_after
        self.drift = tuple(drift)  # FieldDrift entries to show in status.drift (what blocks adoption, for example)

    def delay(self, attempt: int = 0) -> float:
        """Seconds until the next try: Retry-After if the service said so, else an exponential backoff."""
        if self.retry_after is not None:
            return max(1.0, self.retry_after)
        if self.permanent:
            return PERMANENT_ERROR_DELAY
        return backoff(attempt)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class AuthenticationFailed(ReconcileError):
    reason = "AuthenticationFailed"


class AuthorizationFailed(ReconcileError):
    reason = "AuthorizationFailed"


class CredentialsMissing(ReconcileError):
    reason = "CredentialsMissing"


class WaitingForHSM(ReconcileError):
    reason = "WaitingForHSM"
    expected = True

    def delay(self, attempt: int = 0) -> float:
        # Waiting on another object is expected, not a failure: poll at a steady, modest pace.
        return self.retry_after if self.retry_after is not None else min(backoff(attempt), 30.0)


class Throttled(ReconcileError):
    reason = "Throttled"


class Unavailable(ReconcileError):
    reason = "Unavailable"


class NotFound(ReconcileError):
    reason = "NotFound"


class Conflict(ReconcileError):
    reason = "Conflict"


class SoftDeletedConflict(ReconcileError):
    reason = "SoftDeletedConflict"

    def delay(self, attempt: int = 0) -> float:
        # Only a spec change (createMode) or a purge resolves this; the spec change triggers a pass by itself.
        return self.retry_after if self.retry_after is not None else PERMANENT_ERROR_DELAY


class PermanentReconcileError(ReconcileError):
    permanent = True


class ImmutableFieldChanged(PermanentReconcileError):
    reason = "ImmutableFieldChanged"


class AdoptionBlocked(PermanentReconcileError):
    reason = "AdoptionBlocked"


class InvalidSpec(PermanentReconcileError):
    reason = "InvalidSpec"


class PolicyInvalid(PermanentReconcileError):
    reason = "PolicyInvalid"


def backoff(attempt: int, *, base: float = DEFAULT_ERROR_DELAY, cap: float = MAX_ERROR_DELAY) -> float:
    """Exponential backoff without hot loops: 10 s, 20 s, 40 s ... capped at 5 min."""
    return float(min(cap, base * (2 ** max(0, min(attempt, 16)))))


def short(message: str) -> str:
    """First line only, bounded: conditions are read by humans in `kubectl get`, not by debuggers."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first if len(first) <= MESSAGE_LIMIT else first[: MESSAGE_LIMIT - 3] + "..."

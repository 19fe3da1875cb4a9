"""Status conditions (`Ready`, `Synced`, `Drifted`) and how a new pass's conditions merge into the recorded ones.

Why this module exists: Kubernetes readers (kubectl wait, Argo CD health, kstatus) rely on two subtle rules that are
easy to break in each call site: `lastTransitionTime` changes only when `status` changes, and every condition carries
the `observedGeneration` it was computed for. Keeping both here means the loop only says *what* it concluded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hsm_operator.reconciler import errors

TRUE = "True"
FALSE = "False"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str = ""

    def as_status(self, *, generation: int, transition_time: str) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": transition_time,
            "observedGeneration": generation,
        }


def _flag(value: bool) -> str:
    return TRUE if value else FALSE


def ready(is_ready: bool, reason: str, message: str = "") -> Condition:
    return Condition(errors.READY, _flag(is_ready), reason, errors.short(message))


def creating(message: str = "") -> Condition:
    return Condition(errors.READY, FALSE, errors.CREATING, errors.short(message))


def deleting(message: str = "") -> Condition:
    return Condition(errors.READY, FALSE, errors.DELETING, errors.short(message))


def reconcile_success() -> Condition:
    return Condition(errors.SYNCED, TRUE, errors.RECONCILE_SUCCESS)


def reconcile_error(reason: str, message: str) -> Condition:
    # The reason is the specific one (AuthorizationFailed, Throttled, ...), more useful than ReconcileError.
    return Condition(errors.SYNCED, FALSE, reason, errors.short(message))


def reconcile_paused(message: str) -> Condition:
    return Condition(errors.SYNCED, FALSE, errors.RECONCILE_PAUSED, message)


def drifted(is_drifted: bool, reason: str, message: str = "") -> Condition:
    return Condition(errors.DRIFTED, _flag(is_drifted), reason, errors.short(message))


def now_rfc3339(clock: datetime | None = None) -> str:
    moment = clock if clock is not None else datetime.now(UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def merge(
    recorded: Sequence[Mapping[str, Any]] | None,
    updates: Iterable[Condition],
    *,
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """The recorded conditions with `updates` applied; conditions not updated are kept as they were.

    `lastTransitionTime` is carried over when the status of a condition did not change, so a pass that concludes the
    same thing again changes nothing but (possibly) `observedGeneration`, reason or message.
    """
    merged: dict[str, dict[str, Any]] = {}
    for entry in recorded or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("type"), str):
            merged[entry["type"]] = dict(entry)
    for condition in updates:
        previous = merged.get(condition.type)
        unchanged = previous is not None and previous.get("status") == condition.status
        transition = str(previous.get("lastTransitionTime", now)) if unchanged and previous is not None else now
        merged[condition.type] = condition.as_status(generation=generation, transition_time=transition)
    order = {errors.READY: 0, errors.SYNCED: 1, errors.DRIFTED: 2}
    return sorted(merged.values(), key=lambda c: (order.get(str(c.get("type")), 9), str(c.get("type"))))


def find(recorded: Sequence[Mapping[str, Any]] | None, condition_type: str) -> Mapping[str, Any] | None:
    for entry in recorded or ():
        if isinstance(entry, Mapping) and entry.get("type") == condition_type:
            return entry
    return None

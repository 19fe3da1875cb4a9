"""One kind's controller: runs the generic loop for a CR body and turns its `Outcome` into a status patch.

Why this module exists: `handlers.py` must stay a thin layer of kopf decorations, and the rules between kopf and
the loop deserve tests of their own: a spec that fails validation becomes `InvalidSpec` in status instead of a
crash; only status fields that actually changed are patched (no write storms); a periodic pass runs only when the
object's sync interval has elapsed (`lastSyncTime` + `mhsm.dev/sync-interval`, with a per-object jitter so 5,000
objects created together do not sync together); passes of one object never overlap; and every pass is measured
(`metrics.Metrics`: result, failure reason, duration, managed and drifted objects).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hsm_operator import metrics as operator_metrics
from hsm_operator.azure import errors as azure_errors
from hsm_operator.kinds import KindSpec, Runtime
from hsm_operator.reconciler import annotations as annotation_keys
from hsm_operator.reconciler import conditions, errors
from hsm_operator.reconciler.external import ManagedResource
from hsm_operator.reconciler.managed import Event, Outcome, Reconciler

JITTER_FRACTION = 0.1  # periodic syncs spread over +/-10% of the interval


@dataclass
class Controller:
    kind: KindSpec
    runtime: Runtime
    metrics: operator_metrics.Metrics = field(default_factory=operator_metrics.Metrics)  # the process's own
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # When the last pass asked to look again sooner than the sync interval (a create or update in flight, a
    # dependency not ready), the periodic timer treats the object as due from that moment: otherwise an object
    # created from a timer pass would stay "Creating" for a whole interval. In memory only: after a restart every
    # object gets a resume pass anyway.
    _due_again: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._reconciler = Reconciler(
            self.kind.connector(self.runtime),
            identity_field=self.kind.identity_field,
            classify=azure_errors.classify,
        )

    def sync_interval(self, body: Mapping[str, Any]) -> float:
        """Seconds between drift checks for this object; a bad annotation falls back to the default."""
        metadata = body.get("metadata") or {}
        config = self.runtime.config
        try:
            return annotation_keys.sync_interval(
                metadata.get("annotations") or {}, default=config.sync_interval, floor=config.annotation_floor
            )
        except annotation_keys.AnnotationError:
            return config.sync_interval

    def due(self, body: Mapping[str, Any], *, now: datetime | None = None) -> bool:
        """Whether a periodic pass should run now (never synced, or the jittered interval has elapsed)."""
        uid = str((body.get("metadata") or {}).get("uid", ""))
        again = self._due_again.get(uid)
        if again is not None and time.monotonic() >= again:
            return True
        status = body.get("status") or {}
        last = _parse_time(status.get("lastSyncTime"))
        if last is None:
            return True
        interval = self.sync_interval(body) * (1.0 + JITTER_FRACTION * _unit_jitter(uid))
        moment = now if now is not None else datetime.now(UTC)
        return (moment - last).total_seconds() >= interval

    async def reconcile(self, body: Mapping[str, Any], *, deleting: bool = False, attempt: int = 0) -> Outcome:
        """One pass of the loop for this body (serialised per object)."""
        uid = str((body.get("metadata") or {}).get("uid", ""))
        lock = self._locks.setdefault(uid, asyncio.Lock())
        async with lock:
            started = time.monotonic()
            interval = self.sync_interval(body)
            try:
                resource = self.kind.managed_resource(body, deleting=deleting)
                resource = _validated_annotations(resource)
            except errors.ReconcileError as exc:
                outcome = _invalid(body, exc)
            else:
                outcome = await self._reconciler.reconcile(resource, poll_interval=interval, attempt=attempt)
                self._remember_requeue(uid, outcome, interval)
            passed = operator_metrics.judge(outcome, sync_interval=interval)
            self.metrics.pass_finished(self.kind.kind, uid, passed, duration=time.monotonic() - started)
            return outcome

    def _remember_requeue(self, uid: str, outcome: Outcome, interval: float) -> None:
        if outcome.requeue_after is not None and outcome.requeue_after < interval:
            self._due_again[uid] = time.monotonic() + outcome.requeue_after
        else:
            self._due_again.pop(uid, None)

    def forget(self, body: Mapping[str, Any]) -> None:
        """Drop per-object memory once the object is gone."""
        uid = str((body.get("metadata") or {}).get("uid", ""))
        self._locks.pop(uid, None)
        self._due_again.pop(uid, None)
        self.metrics.forget(self.kind.kind, uid)


def status_patch(body: Mapping[str, Any], outcome: Outcome) -> dict[str, Any]:
    """Only the status fields whose value differs from the recorded status (empty: nothing to write)."""
    recorded: Mapping[str, Any] = body.get("status") or {}
    return {key: value for key, value in outcome.status.items() if recorded.get(key) != value}


def _validated_annotations(resource: ManagedResource) -> ManagedResource:
    raw = resource.annotations.get(annotation_keys.SYNC_INTERVAL)
    if raw is not None and raw.strip():
        try:
            annotation_keys.parse_duration(raw, what=annotation_keys.SYNC_INTERVAL)
        except annotation_keys.AnnotationError as exc:
            raise errors.InvalidSpec(str(exc)) from None
    return resource


def _invalid(body: Mapping[str, Any], exc: errors.ReconcileError) -> Outcome:
    metadata = body.get("metadata") or {}
    recorded = (body.get("status") or {}).get("conditions")
    now = conditions.now_rfc3339()
    merged = conditions.merge(
        recorded if isinstance(recorded, list) else None,
        [conditions.ready(False, errors.UNAVAILABLE, exc.message), conditions.reconcile_error(exc.reason, exc.message)],
        generation=int(metadata.get("generation") or 0),
        now=now,
    )
    return Outcome(
        status={"conditions": merged},
        events=(Event("Warning", exc.reason, exc.message),),
        requeue_after=exc.delay(),
        error=exc,
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _unit_jitter(uid: str) -> float:
    """A stable value in [-1, 1) per object, so its sync times spread but do not wander between passes."""
    digest = hashlib.sha256(uid.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**31 - 1.0

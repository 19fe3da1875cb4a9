"""The one generic reconcile loop: connect, observe, diff, plan, apply, record (crossplane's managed reconciler).

Why this module exists: every kind gets the same policies, conditions, drift reporting, idempotent create, adoption
rules, deletion handling and error pacing by going through this loop; a kind only supplies an `ExternalConnector`.
The loop is pure with respect to Kubernetes: it returns an `Outcome` (status to record, events to post, when to run
again) and `handlers.py` turns that into a status patch, Events and kopf's retry. That makes it testable as tables
with fake clients and no cluster (tests/unit/operator/reconciler/).

Order of one pass (comments in `reconcile` say why at each requeue):
 1. policy: invalid combination -> PolicyInvalid; paused (annotation or `[]`) -> Synced=False/ReconcilePaused, stop.
 2. deleting and the policy keeps the external object (Orphan, or no Delete) -> done, nothing touched.
 3. connect, observe.
 4. deleting: exists -> delete (requeue until gone); gone -> done.
 5. absent: observe-only -> NotFound; soft-deleted name and createMode does not recover -> SoftDeletedConflict;
    no Create policy -> NotFound; else create (idempotent). A create the API finished (keys, roles) is observed once
    more and synced as ours in the same pass (one status write: Ready=True); a long-running create, or a finished
    one not visible yet, records Ready=Creating and looks again soon.
 6. present: busy (operation in flight) -> look again soon; immutable drift -> AdoptionBlocked (not ours yet) or
    ImmutableFieldChanged (ours); mutable drift -> update when Update is allowed and (the spec changed or
    driftPolicy is Correct), else report (Drifted=True, plan entries not applied); no drift -> nothing written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from hsm_operator.models import common
from hsm_operator.reconciler import annotations as annotation_keys
from hsm_operator.reconciler import conditions, errors
from hsm_operator.reconciler.conditions import Condition
from hsm_operator.reconciler.external import (
    ExternalClient,
    ExternalConnector,
    FieldDrift,
    ManagedResource,
    Observation,
    PlanAction,
    PlanEntry,
)
from hsm_operator.reconciler.policies import Policy

logger = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
Classifier = Callable[[BaseException], errors.ReconcileError | None]


@dataclass(frozen=True)
class Event:
    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """What one pass concluded; `handlers.py` records it."""

    status: Mapping[str, Any]  # status fields to set (merged over the recorded status by the caller)
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None  # seconds until the next pass; None: only on the next change or timer
    finished_deleting: bool = False  # the external object is gone or orphaned: the finalizer may go
    error: errors.ReconcileError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# What a pass that just created the object records with its sync: the plan entry, the event, the status fields.
Created = tuple[PlanEntry, Event, Mapping[str, Any]]


def _no_classification(_: BaseException) -> errors.ReconcileError | None:
    return None


@dataclass
class Reconciler:
    """The loop for one kind. `identity_field` is the status field that records the bound external object."""

    connector: ExternalConnector
    identity_field: str
    classify: Classifier = _no_classification  # maps SDK exceptions to ReconcileErrors (azure.errors.classify)
    clock: Callable[[], datetime] | None = None  # None: real time (tests inject a fixed clock)
    pending_delay: float = errors.PENDING_DELAY
    confirm_delay: float = errors.CONFIRM_DELAY
    _now: str = field(default="", init=False)

    async def reconcile(self, resource: ManagedResource, *, poll_interval: float, attempt: int = 0) -> Outcome:
        """Run one pass. Never raises for expected failures: they come back as `Outcome.error`."""
        self._now = conditions.now_rfc3339(self.clock() if self.clock is not None else None)
        try:
            return await self._reconcile(resource, poll_interval=poll_interval)
        except errors.ReconcileError as exc:
            return self._failed(resource, exc, attempt=attempt)
        except Exception as exc:
            mapped = self.classify(exc)
            if mapped is None:
                # Unknown failure: record a short message (the type and first line), keep the trace in the log only.
                logger.exception("Unexpected error while reconciling %s", resource.key)
                mapped = errors.ReconcileError(f"{type(exc).__name__}: {exc}")
            return self._failed(resource, mapped, attempt=attempt)

    # -- the ordered loop -------------------------------------------------------------------------------------------

    async def _reconcile(self, resource: ManagedResource, *, poll_interval: float) -> Outcome:
        policy = Policy.of(resource)
        policy.validate()
        if policy.paused or annotation_keys.is_paused(resource.annotations):
            # Paused objects are left exactly as they are, including deletion (kopf retries the delete handler).
            why = "managementPolicies is empty" if policy.paused else f"annotation {annotation_keys.PAUSED} is set"
            return self._record(resource, [conditions.reconcile_paused(f"Reconciliation is paused: {why}")])

        if resource.deleting and not policy.should_delete():
            return Outcome(
                status={},
                events=(Event("Normal", errors.EVENT_ORPHANED, "External object left in place (deletion policy)"),),
                finished_deleting=True,
            )

        client = await self.connector.connect(resource)
        observation = await client.observe(resource)

        if resource.deleting:
            return await self._delete(resource, client, observation)
        if not observation.exists:
            return await self._create(resource, client, observation, policy, poll_interval=poll_interval)
        return await self._sync(resource, client, observation, policy, poll_interval=poll_interval)

    async def _delete(self, resource: ManagedResource, client: ExternalClient, observation: Observation) -> Outcome:
        if not observation.exists:
            return Outcome(status={}, finished_deleting=True)
        if not observation.busy:
            deletion = await client.delete(resource)
            event = Event("Normal", errors.EVENT_DELETED, f"Deleting {resource.kind} {observation.identity or ''}")
            events: tuple[Event, ...] = (event,)
            if deletion.warning:
                events += (Event("Warning", errors.EVENT_DELETE_INCOMPLETE, deletion.warning),)
        else:
            events = ()
        # Deletion of Azure objects is asynchronous: keep the finalizer until observe says it is gone.
        outcome = self._record(
            resource,
            [conditions.deleting("Waiting for the external object to be deleted"), conditions.reconcile_success()],
            extra=dict(observation.status),
            plan=[PlanEntry(PlanAction.DELETE)],
            requeue_after=self.pending_delay,
        )
        return _with_events(outcome, events)

    async def _create(
        self,
        resource: ManagedResource,
        client: ExternalClient,
        observation: Observation,
        policy: Policy,
        *,
        poll_interval: float,
    ) -> Outcome:
        if not policy.should_create():
            # Observe-only (or no Create): the object must exist already; check again at the poll interval.
            what = resource.external_name or resource.name
            raise errors.NotFound(f"{resource.kind} {what!r} does not exist and managementPolicies do not allow Create")
        if observation.soft_deleted and resource.create_mode in (None, "default"):
            raise errors.SoftDeletedConflict(
                "The name is held by a soft-deleted object: set spec.createMode to recover it, "
                "or purge it, or choose another name"
            )
        creation = await client.create(resource)
        status = dict(creation.status)
        if creation.identity is not None:
            status[self.identity_field] = creation.identity
        action, reason = (
            (PlanAction.RECOVER, errors.EVENT_RECOVERED) if creation.recovered else (PlanAction.CREATE, "Created")
        )
        if not creation.pending:
            # The API returned the finished object (keys, roles, the security domain): confirm it in this pass, so
            # one status write records Ready=True instead of Creating now and Available after a requeue.
            done = Event("Normal", reason, f"{reason} {resource.kind} {creation.identity or resource.name}")
            confirmed = await self._confirm_created(
                resource, client, policy, (PlanEntry(action), done, status), poll_interval=poll_interval
            )
            if confirmed is not None:
                return confirmed
        outcome = self._record(
            resource,
            [conditions.creating(f"{action.value} requested"), conditions.reconcile_success(), _no_drift()],
            extra=status,
            drift=[],
            plan=[PlanEntry(action)],
            # Observe again soon rather than waiting a full poll interval: after pending_delay while a long-running
            # create is in flight, at once (CONFIRM_DELAY) when the finished object was not visible yet.
            requeue_after=self.pending_delay if creation.pending else self.confirm_delay,
        )
        return _with_events(outcome, (Event("Normal", reason, f"{action.value} of {resource.kind} requested"),))

    async def _confirm_created(
        self,
        resource: ManagedResource,
        client: ExternalClient,
        policy: Policy,
        created: Created,
        *,
        poll_interval: float,
    ) -> Outcome | None:
        """Observe a just-created object once and sync it; None: not confirmed, record Creating and look again soon.

        Best effort: the create itself succeeded, so a miss (eventual consistency) or a failure while observing or
        correcting it must not lose that. The next pass sees Ready=Creating and the bound identity, confirms the
        object as ours (never "Adopted") and reports any failure itself.
        """
        try:
            observation = await client.observe(resource)
            if not observation.exists:
                logger.debug("%s: the created object is not visible yet; confirming on the next pass", resource.key)
                return None
            return await self._sync(
                resource,
                client,
                observation,
                policy,
                poll_interval=poll_interval,
                created=created,
            )
        except Exception as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            logger.info(
                "%s: could not confirm the create in the same pass (%s: %s); confirming on the next pass",
                resource.key,
                type(exc).__name__,
                first_line,
            )
            return None

    async def _sync(
        self,
        resource: ManagedResource,
        client: ExternalClient,
        observation: Observation,
        policy: Policy,
        *,
        poll_interval: float,
        created: Created | None = None,
    ) -> Outcome:
        """`created`: this pass just created the object (its plan entry, event and status fields): it is ours."""
        bound = _bound_identity(resource, self.identity_field)
        ours = bound is not None and (observation.identity is None or bound == observation.identity)
        created_by_us = created is not None or _last_ready_reason(resource) == errors.CREATING
        immutable = tuple(d for d in observation.drift if not d.mutable)
        if immutable:
            paths = ", ".join(d.path for d in immutable)
            if ours or created_by_us:
                raise errors.ImmutableFieldChanged(
                    f"{paths} cannot change on the existing object; delete and recreate the resource", drift=immutable
                )
            # Not ours: publish nothing about it (not even its id), so a later pass does not think it is bound.
            raise errors.AdoptionBlocked(f"An existing object does not match the spec ({paths})", drift=immutable)

        events: list[Event] = []
        plan: list[PlanEntry] = []
        status: dict[str, Any] = {}
        if created is not None:
            plan.append(created[0])
            events.append(created[1])
            status.update(created[2])
        status.update(observation.status)
        if observation.identity is not None:
            status[self.identity_field] = observation.identity
        if not ours and not created_by_us:
            events.append(Event("Normal", errors.EVENT_ADOPTED, f"Adopted existing {resource.kind}"))
            plan.append(PlanEntry(PlanAction.ADOPT))

        ready = conditions.ready(
            observation.readiness.ready, observation.readiness.reason, observation.readiness.message
        )
        if observation.busy:
            # An operation is in flight on the object: changing it now would fail with Conflict; look again soon.
            return _with_events(
                self._record(
                    resource,
                    [ready, conditions.reconcile_success(), *observation.conditions],
                    extra=status,
                    plan=plan,
                    requeue_after=self.pending_delay,
                ),
                tuple(events),
            )

        drift = observation.drift
        # Differences found on an object we adopt are drift, not a spec edit: Report must not overwrite them.
        # A create in this pass applied this generation's spec: what still differs is treated as on the next pass.
        spec_changed = (
            created is None
            and (ours or created_by_us)
            and resource.status.get("observedGeneration") != resource.generation
        )
        # A spec edit is applied with Update alone; out-of-band changes are written back only under driftPolicy Correct.
        may_write = policy.should_update() and (spec_changed or policy.should_correct_drift())
        requeue = poll_interval if observation.recheck_after is None else min(poll_interval, observation.recheck_after)
        drift_record: list[FieldDrift] = []
        if not drift:
            drifted = _no_drift()
        elif may_write:
            update = await client.update(resource, drift)
            status.update(update.status)
            plan.extend(PlanEntry.for_drift(d, applied=True) for d in drift)
            paths = ", ".join(d.path for d in drift)
            if spec_changed:
                events.append(Event("Normal", errors.EVENT_UPDATED, f"Updated {paths}"))
                drifted = _no_drift()
            else:
                events.append(Event("Normal", errors.EVENT_DRIFT_CORRECTED, f"Corrected out-of-band changes: {paths}"))
                drifted = conditions.drifted(False, errors.DRIFT_CORRECTED, f"Corrected: {paths}")
            if update.pending:
                requeue = self.pending_delay  # the update is a long-running operation: confirm it soon
        else:
            drift_record = list(drift)
            plan.extend(PlanEntry.for_drift(d, applied=False) for d in drift)
            paths = ", ".join(d.path for d in drift)
            why = "driftPolicy is Report" if policy.should_update() else "managementPolicies do not allow Update"
            drifted = conditions.drifted(True, errors.DRIFT_DETECTED, f"{paths} differ(s) from the spec ({why})")
            if _recorded_drift_paths(resource) != {d.path for d in drift}:
                # Only when the set of drifted fields changes: a standing drift must not post an Event every sync.
                events.append(Event("Warning", errors.EVENT_DRIFT_DETECTED, f"Drift in {paths} ({why})"))

        outcome = self._record(
            resource,
            [ready, conditions.reconcile_success(), drifted, *observation.conditions],
            extra=status,
            drift=drift_record,
            plan=plan,
            # Polling is the only way drift is found: come back after the (per-object) sync interval.
            requeue_after=requeue,
        )
        return _with_events(outcome, tuple(events))

    # -- recording --------------------------------------------------------------------------------------------------

    def _record(
        self,
        resource: ManagedResource,
        updates: Sequence[Condition],
        *,
        extra: Mapping[str, Any] | None = None,
        drift: Sequence[FieldDrift] | None = None,
        plan: Sequence[PlanEntry] | None = None,
        requeue_after: float | None = None,
        error: errors.ReconcileError | None = None,
    ) -> Outcome:
        recorded = resource.status.get("conditions")
        status: dict[str, Any] = dict(extra or {})
        status["conditions"] = conditions.merge(
            recorded if isinstance(recorded, list) else None,
            updates,
            generation=resource.generation,
            now=self._now,
        )[: common.MAX_CONDITIONS]
        if drift is not None:
            status["drift"] = [d.as_status() for d in drift][: common.MAX_DRIFT_ENTRIES]
        if plan is not None:
            status["plan"] = [p.as_status() for p in plan][: common.MAX_PLAN_ENTRIES]
        if error is None and any(c.type == errors.SYNCED and c.status == conditions.TRUE for c in updates):
            # observedGeneration means "this spec generation has been reconciled"; conditions carry their own
            # observedGeneration for failed passes. The loop relies on it to tell spec edits from drift.
            status["observedGeneration"] = resource.generation
            status["lastSyncTime"] = self._now
        return Outcome(status=status, requeue_after=requeue_after, error=error)

    def _failed(self, resource: ManagedResource, exc: errors.ReconcileError, *, attempt: int) -> Outcome:
        updates: list[Condition] = [conditions.reconcile_error(exc.reason, exc.message)]
        if not resource.status.get("conditions"):
            # First pass failed before anything was known: say so in Ready too, rather than leaving it absent.
            updates.insert(0, conditions.ready(False, errors.UNAVAILABLE, exc.message))
        outcome = self._record(
            resource,
            updates,
            # Show what blocks adoption / which immutable fields differ; other errors keep the recorded drift.
            drift=[d for d in exc.drift if isinstance(d, FieldDrift)] if exc.drift else None,
            requeue_after=exc.delay(_failure_streak(resource, exc, attempt)),
            error=exc,
        )
        return _with_events(outcome, (Event("Warning", exc.reason, exc.message),))


def _failure_streak(resource: ManagedResource, exc: errors.ReconcileError, attempt: int) -> int:
    """The backoff attempt for this failure: the caller's retry count only while the failure stays the same.

    kopf counts every retry of a handler, whatever failed. A dependant that waited (WaitingForHSM) for a few passes
    and then meets a different, transient failure (AuthorizationFailed while the role assignment applied with it is
    still being created) must start that failure's backoff afresh, not minutes into it.
    """
    recorded = resource.status.get("conditions")
    synced = conditions.find(recorded if isinstance(recorded, list) else None, errors.SYNCED)
    if synced is None or synced.get("status") != conditions.FALSE or synced.get("reason") != exc.reason:
        return 0
    return attempt


def _with_events(outcome: Outcome, events: tuple[Event, ...]) -> Outcome:
    return Outcome(
        status=outcome.status,
        events=outcome.events + events,
        requeue_after=outcome.requeue_after,
        finished_deleting=outcome.finished_deleting,
        error=outcome.error,
    )


def _no_drift() -> Condition:
    return conditions.drifted(False, errors.NO_DRIFT)


def _bound_identity(resource: ManagedResource, identity_field: str) -> str | None:
    value = resource.status.get(identity_field)
    return value if isinstance(value, str) and value else None


def _last_ready_reason(resource: ManagedResource) -> str | None:
    recorded = resource.status.get("conditions")
    ready = conditions.find(recorded if isinstance(recorded, list) else None, errors.READY)
    return str(ready.get("reason")) if ready is not None else None


def _recorded_drift_paths(resource: ManagedResource) -> set[str]:
    recorded = resource.status.get("drift")
    if not isinstance(recorded, list):
        return set()
    return {str(entry.get("path")) for entry in recorded if isinstance(entry, Mapping)}

"""Table tests of the generic loop with fake external clients (crossplane's reconciler_modern_test style)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import (
    Creation,
    DeletionPolicy,
    DriftPolicy,
    FieldDrift,
    ManagedResource,
    ManagementAction,
    Observation,
    Readiness,
)
from hsm_operator.reconciler.managed import Outcome, Reconciler
from tests.unit.operator.reconciler.fakes import (
    FakeClient,
    FakeConnector,
    deleted_with_warning,
    observing,
    observing_in_turn,
    raising,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
EARLIER = "2025-12-31T00:00:00Z"
POLL = 600.0
ID = "/ids/obj"
TAGS = FieldDrift("tags.env", "prod", "dev")
TAGS_ENTRY = {"path": "tags.env", "desired": '"prod"', "observed": '"dev"'}
SKU = FieldDrift("sku.name", "Standard_B1", "Custom_B32", mutable=False)


def synced_status(*, generation: int = 1, drift: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The status of an object this CR already created and reconciled at `generation`."""
    return {
        "resourceId": ID,
        "observedGeneration": generation,
        "drift": drift or [],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Available",
                "message": "",
                "lastTransitionTime": EARLIER,
                "observedGeneration": generation,
            },
            {
                "type": "Synced",
                "status": "True",
                "reason": "ReconcileSuccess",
                "message": "",
                "lastTransitionTime": EARLIER,
                "observedGeneration": generation,
            },
        ],
    }


def mr(**changes: Any) -> ManagedResource:
    base = ManagedResource(kind="ManagedHSM", namespace="ns", name="hsm1", uid="u1", generation=1, spec=None)
    return replace(base, **changes)


ONLY_OBSERVE = frozenset({ManagementAction.OBSERVE})


@dataclass
class Case:
    resource: ManagedResource
    client: FakeClient = field(default_factory=FakeClient)
    connect_error: BaseException | None = None
    classify: Any = None
    # expectations
    writes: list[str] = field(default_factory=list)
    conditions: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # type -> (status, reason)
    error: type[errors.ReconcileError] | None = None
    requeue: float | None = POLL
    events: list[str] = field(default_factory=list)
    status: Mapping[str, Any] = field(default_factory=dict)  # status fields that must have these values
    absent: tuple[str, ...] = ()  # status fields that must not be written
    finished_deleting: bool = False
    connected: bool = True
    calls: list[str] | None = None  # every client call in order (observe included), when the case says


async def _create_pending(_: ManagedResource) -> Creation:
    return Creation(identity=ID, pending=True)


ABSENT = Observation(exists=False)
CREATED = Observation(exists=True, identity=ID, status={"hsmUri": "u"})


def failing_after_first(exc: BaseException) -> Any:
    """Observe: absent the first time, then `exc` (the re-observe right after a create fails)."""
    calls = 0

    async def observe(_: ManagedResource) -> Observation:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise exc
        return ABSENT

    return observe


def creating_status() -> dict[str, Any]:
    """What a create pass records when it could not confirm the object at once."""
    status = synced_status()
    status["conditions"][0].update(status="False", reason="Creating", message="Create requested")
    return status


CASES: dict[str, Case] = {
    "absent: create finished at once, confirmed in the same pass: Ready=True, one status write": Case(
        resource=mr(),
        client=FakeClient(observe_fn=observing_in_turn(ABSENT, CREATED)),
        writes=["create"],
        calls=["observe", "create", "observe"],
        conditions={
            "Ready": ("True", "Available"),
            "Synced": ("True", "ReconcileSuccess"),
            "Drifted": ("False", "NoDrift"),
        },
        events=["Created"],  # ours: never "Adopted"
        status={
            "resourceId": ID,
            "hsmUri": "u",
            "plan": [{"action": "Create", "applied": True}],
            "drift": [],
            "observedGeneration": 1,
        },
    ),
    "absent: create finished, re-observe misses it (eventual consistency): Creating, confirm at once": Case(
        resource=mr(),
        writes=["create"],
        calls=["observe", "create", "observe"],
        conditions={"Ready": ("False", "Creating"), "Synced": ("True", "ReconcileSuccess")},
        requeue=errors.CONFIRM_DELAY,
        events=["Created"],
        status={"resourceId": ID, "plan": [{"action": "Create", "applied": True}], "observedGeneration": 1},
    ),
    "absent: create finished, re-observe fails: the create is still recorded, Creating, confirm at once": Case(
        resource=mr(),
        client=FakeClient(observe_fn=failing_after_first(errors.Throttled("Too many requests", retry_after=7))),
        writes=["create"],
        calls=["observe", "create", "observe"],
        conditions={"Ready": ("False", "Creating"), "Synced": ("True", "ReconcileSuccess")},
        requeue=errors.CONFIRM_DELAY,
        events=["Created"],
        status={"resourceId": ID, "plan": [{"action": "Create", "applied": True}]},
    ),
    "absent: created object differs in a mutable field: corrected in the same pass, as on the next one": Case(
        resource=mr(),
        client=FakeClient(observe_fn=observing_in_turn(ABSENT, replace(CREATED, drift=(TAGS,)))),
        writes=["create", "update"],
        calls=["observe", "create", "observe", "update"],
        conditions={"Ready": ("True", "Available"), "Drifted": ("False", "DriftCorrected")},
        events=["Created", "DriftCorrected"],
        status={"plan": [{"action": "Create", "applied": True}, {**TAGS_ENTRY, "action": "Update", "applied": True}]},
    ),
    "absent: created object differs under Report: reported, Create still applied": Case(
        resource=mr(drift_policy=DriftPolicy.REPORT),
        client=FakeClient(observe_fn=observing_in_turn(ABSENT, replace(CREATED, drift=(TAGS,)))),
        writes=["create"],
        conditions={"Ready": ("True", "Available"), "Drifted": ("True", "DriftDetected")},
        events=["Created", "DriftDetected"],
        status={"drift": [TAGS_ENTRY]},
    ),
    "absent: created object still busy: Ready from observe, look again after the pending delay": Case(
        resource=mr(),
        client=FakeClient(
            observe_fn=observing_in_turn(ABSENT, replace(CREATED, busy=True, readiness=Readiness(False, "Updating")))
        ),
        writes=["create"],
        conditions={"Ready": ("False", "Updating"), "Synced": ("True", "ReconcileSuccess")},
        requeue=errors.PENDING_DELAY,
        events=["Created"],
        status={"resourceId": ID, "plan": [{"action": "Create", "applied": True}]},
    ),
    "absent: create started as an LRO (pending), not re-observed, look again after the pending delay": Case(
        resource=mr(),
        client=FakeClient(observe_fn=observing_in_turn(ABSENT, CREATED), create_fn=_create_pending),
        writes=["create"],
        calls=["observe", "create"],
        conditions={"Ready": ("False", "Creating"), "Synced": ("True", "ReconcileSuccess")},
        requeue=errors.PENDING_DELAY,
        events=["Created"],
        status={"resourceId": ID, "plan": [{"action": "Create", "applied": True}]},
    ),
    "the pass after a fallback Creating: ours, no Adopted": Case(
        resource=mr(status=creating_status()),
        client=FakeClient(observe_fn=observing(CREATED)),
        conditions={"Ready": ("True", "Available")},
        status={"plan": []},
    ),
    "absent and observe-only: NotFound, nothing written": Case(
        resource=mr(management_policies=ONLY_OBSERVE),
        conditions={"Synced": ("False", "NotFound"), "Ready": ("False", "Unavailable")},
        error=errors.NotFound,
        requeue=errors.backoff(0),
        events=["NotFound"],
        absent=("observedGeneration", "resourceId"),
    ),
    "soft-deleted name, createMode default: SoftDeletedConflict": Case(
        resource=mr(),
        client=FakeClient(observe_fn=observing(Observation(exists=False, soft_deleted=True))),
        conditions={"Synced": ("False", "SoftDeletedConflict")},
        error=errors.SoftDeletedConflict,
        requeue=errors.PERMANENT_ERROR_DELAY,
        events=["SoftDeletedConflict"],
    ),
    "soft-deleted name, createMode recover: create is called": Case(
        resource=mr(create_mode="recover"),
        client=FakeClient(observe_fn=observing(Observation(exists=False, soft_deleted=True))),
        writes=["create"],
        conditions={"Ready": ("False", "Creating")},
        requeue=errors.CONFIRM_DELAY,
        events=["Created"],
    ),
    "present, ours, no drift: nothing written": Case(
        resource=mr(status=synced_status()),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, status={"hsmUri": "u"}))),
        conditions={
            "Ready": ("True", "Available"),
            "Synced": ("True", "ReconcileSuccess"),
            "Drifted": ("False", "NoDrift"),
        },
        status={"hsmUri": "u", "drift": [], "plan": [], "lastSyncTime": "2026-01-02T03:04:05Z"},
    ),
    "present, ours, expected to change soon (recheck_after): look again early, nothing written": Case(
        resource=mr(status=synced_status()),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, recheck_after=10.0))),
        conditions={"Ready": ("True", "Available"), "Synced": ("True", "ReconcileSuccess")},
        requeue=10.0,
    ),
    "present, not ours, matching: adopted": Case(
        resource=mr(),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID))),
        conditions={"Ready": ("True", "Available")},
        events=["Adopted"],
        status={"resourceId": ID, "plan": [{"action": "Adopt", "applied": True}]},
    ),
    "out-of-band drift, Correct: update, DriftCorrected": Case(
        resource=mr(status=synced_status()),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, drift=(TAGS,)))),
        writes=["update"],
        conditions={"Drifted": ("False", "DriftCorrected")},
        events=["DriftCorrected"],
        status={
            "drift": [],
            "plan": [
                {"action": "Update", "path": "tags.env", "desired": '"prod"', "observed": '"dev"', "applied": True}
            ],
        },
    ),
    "out-of-band drift, Report: nothing written, Drifted=True": Case(
        resource=mr(status=synced_status(), drift_policy=DriftPolicy.REPORT),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, drift=(TAGS,)))),
        conditions={"Drifted": ("True", "DriftDetected"), "Synced": ("True", "ReconcileSuccess")},
        events=["DriftDetected"],
        status={
            "drift": [{"path": "tags.env", "desired": '"prod"', "observed": '"dev"'}],
            "plan": [
                {"action": "Update", "path": "tags.env", "desired": '"prod"', "observed": '"dev"', "applied": False}
            ],
        },
    ),
    "standing drift, Report: no repeated Event": Case(
        resource=mr(status=synced_status(drift=[{"path": "tags.env"}]), drift_policy=DriftPolicy.REPORT),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, drift=(TAGS,)))),
        conditions={"Drifted": ("True", "DriftDetected")},
    ),
    "spec edit under Report: applied (Report is about out-of-band changes)": Case(
        resource=mr(status=synced_status(generation=1), generation=2, drift_policy=DriftPolicy.REPORT),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, drift=(TAGS,)))),
        writes=["update"],
        conditions={"Drifted": ("False", "NoDrift")},
        events=["Updated"],
        status={"observedGeneration": 2},
    ),
    "adopted object differing under Report: reported, not overwritten": Case(
        resource=mr(drift_policy=DriftPolicy.REPORT),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, drift=(TAGS,)))),
        conditions={"Drifted": ("True", "DriftDetected")},
        events=["Adopted", "DriftDetected"],
    ),
    "observe-only with drift: adopt and report, never write": Case(
        resource=mr(management_policies=ONLY_OBSERVE, status=synced_status(), generation=3),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, drift=(TAGS,)))),
        conditions={"Drifted": ("True", "DriftDetected")},
        events=["DriftDetected"],
    ),
    "existing object with a different immutable field: AdoptionBlocked, not bound": Case(
        resource=mr(),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, drift=(SKU, TAGS)))),
        conditions={"Synced": ("False", "AdoptionBlocked")},
        error=errors.AdoptionBlocked,
        requeue=errors.PERMANENT_ERROR_DELAY,
        events=["AdoptionBlocked"],
        status={"drift": [{"path": "sku.name", "desired": '"Standard_B1"', "observed": '"Custom_B32"'}]},
        absent=("resourceId", "observedGeneration"),
    ),
    "our object's immutable field differs: ImmutableFieldChanged": Case(
        resource=mr(status=synced_status()),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, drift=(SKU,)))),
        conditions={"Synced": ("False", "ImmutableFieldChanged"), "Ready": ("True", "Available")},
        error=errors.ImmutableFieldChanged,
        requeue=errors.PERMANENT_ERROR_DELAY,
        events=["ImmutableFieldChanged"],
    ),
    "operation in flight: no update, look again soon": Case(
        resource=mr(status=synced_status()),
        client=FakeClient(
            observe_fn=observing(
                Observation(exists=True, identity=ID, drift=(TAGS,), busy=True, readiness=Readiness(False, "Updating"))
            )
        ),
        conditions={"Ready": ("False", "Updating")},
        requeue=errors.PENDING_DELAY,
    ),
    "paused annotation: not even connected": Case(
        resource=mr(annotations={"mhsm.dev/paused": "true"}),
        conditions={"Synced": ("False", "ReconcilePaused")},
        requeue=None,
        connected=False,
        absent=("observedGeneration",),
    ),
    "empty managementPolicies: paused": Case(
        resource=mr(management_policies=frozenset()),
        conditions={"Synced": ("False", "ReconcilePaused")},
        requeue=None,
        connected=False,
    ),
    "Create without Observe: PolicyInvalid": Case(
        resource=mr(management_policies=frozenset({ManagementAction.CREATE})),
        conditions={"Synced": ("False", "PolicyInvalid")},
        error=errors.PolicyInvalid,
        requeue=errors.PERMANENT_ERROR_DELAY,
        events=["PolicyInvalid"],
        connected=False,
    ),
    "deleting with Orphan: done without touching Azure": Case(
        resource=mr(deleting=True, deletion_policy=DeletionPolicy.ORPHAN, status=synced_status()),
        requeue=None,
        events=["Orphaned"],
        finished_deleting=True,
        connected=False,
    ),
    "deleting without the Delete policy: orphaned": Case(
        resource=mr(deleting=True, management_policies=ONLY_OBSERVE),
        requeue=None,
        events=["Orphaned"],
        finished_deleting=True,
        connected=False,
    ),
    "deleting with Delete, present: delete and wait": Case(
        resource=mr(deleting=True, status=synced_status()),
        client=FakeClient(observe_fn=observing(Observation(exists=True, identity=ID))),
        writes=["delete"],
        conditions={"Ready": ("False", "Deleting")},
        requeue=errors.PENDING_DELAY,
        events=["Deleted"],
    ),
    "deleting, done but incomplete (purge refused): a Warning event says so": Case(
        resource=mr(deleting=True, status=synced_status()),
        client=FakeClient(
            observe_fn=observing(Observation(exists=True, identity=ID)),
            delete_fn=deleted_with_warning("key k was deleted but not purged: purge protection"),
        ),
        writes=["delete"],
        conditions={"Ready": ("False", "Deleting")},
        requeue=errors.PENDING_DELAY,
        events=["Deleted", "DeleteIncomplete"],
    ),
    "deleting with Delete, gone: finished": Case(
        resource=mr(deleting=True, status=synced_status()),
        requeue=None,
        finished_deleting=True,
    ),
    "credentials missing: CredentialsMissing, backoff": Case(
        resource=mr(),
        connect_error=errors.CredentialsMissing("Secret ns/creds not found"),
        conditions={"Synced": ("False", "CredentialsMissing")},
        error=errors.CredentialsMissing,
        requeue=errors.backoff(0),
        events=["CredentialsMissing"],
    ),
    "throttled: Retry-After honoured": Case(
        resource=mr(status=synced_status()),
        client=FakeClient(observe_fn=raising(errors.Throttled("Too many requests", retry_after=7))),
        conditions={"Synced": ("False", "Throttled"), "Ready": ("True", "Available")},
        error=errors.Throttled,
        requeue=7,
        events=["Throttled"],
    ),
    "SDK exception mapped by the classifier": Case(
        resource=mr(),
        client=FakeClient(create_fn=raising(PermissionError("nope"))),
        classify=lambda exc: errors.AuthorizationFailed("Forbidden") if isinstance(exc, PermissionError) else None,
        writes=["create"],
        conditions={"Synced": ("False", "AuthorizationFailed")},
        error=errors.AuthorizationFailed,
        requeue=errors.backoff(0),
        events=["AuthorizationFailed"],
    ),
    "unknown exception: short ReconcileError, no stack trace": Case(
        resource=mr(),
        client=FakeClient(observe_fn=raising(RuntimeError("boom\nTraceback (most recent call last): ..."))),
        conditions={"Synced": ("False", "ReconcileError")},
        error=errors.ReconcileError,
        requeue=errors.backoff(0),
        events=["ReconcileError"],
    ),
}


async def run(case: Case) -> Outcome:
    connector = FakeConnector(case.client, error=case.connect_error)
    reconciler = Reconciler(connector, identity_field="resourceId", clock=lambda: NOW)
    if case.classify is not None:
        reconciler.classify = case.classify
    outcome = await reconciler.reconcile(case.resource, poll_interval=POLL)
    assert (connector.connects > 0) == case.connected
    return outcome


@pytest.mark.parametrize("name", list(CASES))
async def test_loop(name: str) -> None:
    case = CASES[name]
    outcome = await run(case)

    assert case.client.writes == case.writes
    if case.calls is not None:
        assert case.client.calls == case.calls
    got = {c["type"]: (c["status"], c["reason"]) for c in outcome.status.get("conditions", [])}
    for kind, want in case.conditions.items():
        assert got.get(kind) == want, (kind, got)
    assert type(outcome.error) is case.error if case.error else outcome.error is None
    assert outcome.requeue_after == case.requeue
    assert [e.reason for e in outcome.events] == case.events
    for key, value in case.status.items():
        assert outcome.status.get(key) == value, key
    for key in case.absent:
        assert key not in outcome.status
    assert outcome.finished_deleting == case.finished_deleting
    for condition in outcome.status.get("conditions", []):
        if condition["type"] in case.conditions:
            assert condition["observedGeneration"] == case.resource.generation
        assert "\n" not in condition["message"]
        assert "Traceback" not in condition["message"]


async def test_transition_time_kept_when_status_unchanged() -> None:
    resource = mr(status=synced_status())
    client = FakeClient(observe_fn=observing(Observation(exists=True, identity=ID)))
    outcome = await Reconciler(FakeConnector(client), identity_field="resourceId", clock=lambda: NOW).reconcile(
        resource, poll_interval=POLL
    )
    times = {c["type"]: c["lastTransitionTime"] for c in outcome.status["conditions"]}
    assert times == {"Ready": EARLIER, "Synced": EARLIER, "Drifted": "2026-01-02T03:04:05Z"}


def failed_status(reason: str) -> dict[str, Any]:
    """The status a failed pass recorded (what kopf's next retry of the handler sees)."""
    return {"conditions": [{"type": "Synced", "status": "False", "reason": reason, "message": "x"}]}


async def test_backoff_grows_with_attempts_and_is_capped() -> None:
    client = FakeClient(observe_fn=raising(errors.Unavailable("connection refused")))
    reconciler = Reconciler(FakeConnector(client), identity_field="resourceId")
    retried = mr(status=failed_status("Unavailable"))
    delays = [(await reconciler.reconcile(retried, poll_interval=POLL, attempt=n)).requeue_after for n in (0, 1, 2, 20)]
    assert delays == [10.0, 20.0, 40.0, errors.MAX_ERROR_DELAY]


@pytest.mark.parametrize(
    "recorded",
    [
        None,  # first pass
        synced_status(),  # the previous pass succeeded (e.g. a create in flight)
        failed_status("WaitingForHSM"),  # a different failure
    ],
)
async def test_a_new_failure_starts_its_backoff_afresh(recorded: dict[str, Any] | None) -> None:
    # kopf's retry count covers every retry of the handler: a key that waited for its HSM for 4 passes and then
    # meets AuthorizationFailed (its role assignment, applied with it, is not created yet) must retry in 10 s,
    # not 160 s. This was why `make run` took ~4 minutes to converge.
    client = FakeClient(observe_fn=raising(errors.AuthorizationFailed("Forbidden")))
    reconciler = Reconciler(FakeConnector(client), identity_field="resourceId")
    outcome = await reconciler.reconcile(mr(status=recorded or {}), poll_interval=POLL, attempt=4)
    assert outcome.requeue_after == 10.0
    # ... and the same failure again continues the backoff from kopf's count.
    again = await reconciler.reconcile(mr(status=dict(outcome.status)), poll_interval=POLL, attempt=5)
    assert again.requeue_after == errors.backoff(5) > 10.0


async def test_update_receives_only_the_drift() -> None:
    client = FakeClient(observe_fn=observing(Observation(exists=True, identity=ID, drift=(TAGS,))))
    await Reconciler(FakeConnector(client), identity_field="resourceId").reconcile(
        mr(status=synced_status()), poll_interval=POLL
    )
    assert client.updated == [(TAGS,)]

"""The seam between the generic reconcile loop and one kind's external API (crossplane's ExternalClient, in Python).

Why this module exists: the loop in `reconciler.managed` must stay kind-agnostic. Everything it knows about an Azure
object arrives through the two Protocols below and the frozen result types they return, so a kind is ~200 lines of
SDK calls and a unit test can drive the loop with a fake client and no cluster.

How a kind plugs in (see `hsm_operator.kinds` for the registry the kopf handlers read):

1. Write an `ExternalConnector` whose `connect(resource)` resolves credentials (management identity from the
   environment, or the CR namespace's Secret for data-plane kinds) and returns an `ExternalClient` bound to them.
   Raise `errors.CredentialsMissing` / `errors.WaitingForHSM` (see `reconciler.errors`) when it cannot connect yet.
2. `ExternalClient.observe` reads the object (never writes) and returns an `Observation`: does it exist, what differs
   from the spec (`drift`, one `FieldDrift` per field path; `mutable=False` for fields the API cannot change), the
   status fields to publish, and whether it is usable (`Readiness`). A name held by a soft-deleted object is
   `exists=False, soft_deleted=True`.
3. `create` must be idempotent (deterministic names; "already exists" is not a failure) and may honour
   `resource.create_mode` (recover a soft-deleted object). `update(resource, drift)` receives only the mutable drift
   and must change nothing else. `delete` tolerates "already gone". None of them should block for long: start a
   long-running operation, return, and let the loop observe it again (`Creation.pending=True` asks for a quick
   requeue).
4. Export `KIND = kinds.KindSpec(...)` from the kind's module in `hsm_operator/kinds/` (kind, plural, plane, spec
   model, connector factory, the status field that records the bound external object's `identity`); the registry
   discovers it and `handlers.py` wires it: nothing there is kind-specific.

Azure SDK exceptions may escape a client: the loop maps them with the `classify` hook it is given (the kinds pass
`azure.errors.classify`), so kinds need not catch them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hsm_operator.models.common import DeletionPolicy, DriftPolicy, ManagementAction
from hsm_operator.reconciler import annotations as annotation_keys
from hsm_operator.reconciler.conditions import Condition

__all__ = [  # the policy enums live with the CRD models (single source of the schema) and are re-exported here
    "AVAILABLE",
    "Creation",
    "Deletion",
    "DeletionPolicy",
    "DriftPolicy",
    "ExternalClient",
    "ExternalConnector",
    "FieldDrift",
    "ManagedResource",
    "ManagementAction",
    "Observation",
    "PlanAction",
    "PlanEntry",
    "Readiness",
    "Update",
]


@dataclass(frozen=True)
class ManagedResource:
    """What the loop knows about one custom resource: a read-only snapshot taken when the handler was called.

    `spec` is the kind's pydantic spec model (validated at the edge); the loop reads only the policy fields below,
    which the handler extracts so that the loop never depends on a particular model class.
    """

    kind: str
    namespace: str
    name: str
    uid: str
    generation: int
    spec: Any
    annotations: Mapping[str, str] = field(default_factory=dict)
    status: Mapping[str, Any] = field(default_factory=dict)
    deleting: bool = False
    management_policies: frozenset[ManagementAction] = frozenset({ManagementAction.ALL})
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    drift_policy: DriftPolicy = DriftPolicy.CORRECT
    create_mode: str | None = None  # spec.createMode, lower-cased; None/"default" never touches soft-deleted objects

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def external_name(self) -> str | None:
        """The `mhsm.dev/external-name` annotation: adopt the external object of this name instead of the default."""
        value = self.annotations.get(annotation_keys.EXTERNAL_NAME)
        return value or None


@dataclass(frozen=True)
class FieldDrift:
    """One field whose observed value differs from the spec. Secrets are never put in `desired`/`observed`."""

    path: str  # JSON-path-like, relative to spec: "tags.env", "networkAcls.defaultAction", "resourceGroupName"
    desired: Any
    observed: Any
    mutable: bool = True  # False: the API cannot change it in place (immutable field, or adoption would be wrong)

    def as_status(self) -> dict[str, Any]:
        """The `status.drift[]` entry (values as JSON text; absent when unset on that side)."""
        return _without_none(
            {"path": self.path, "desired": _display(self.desired), "observed": _display(self.observed)}
        )


class PlanAction(enum.StrEnum):
    CREATE = "Create"
    RECOVER = "Recover"
    UPDATE = "Update"
    DELETE = "Delete"
    ADOPT = "Adopt"
    ORPHAN = "Orphan"


@dataclass(frozen=True)
class PlanEntry:
    """One change the last pass applied, or (driftPolicy Report / missing policy) would have applied."""

    action: PlanAction
    path: str | None = None  # None for whole-object actions
    desired: Any = None
    observed: Any = None
    applied: bool = True

    def as_status(self) -> dict[str, Any]:
        """The `status.plan[]` entry."""
        return _without_none(
            {
                "action": self.action.value,
                "path": self.path,
                "desired": _display(self.desired),
                "observed": _display(self.observed),
                "applied": self.applied,
            }
        )

    @classmethod
    def for_drift(cls, drift: FieldDrift, *, applied: bool) -> PlanEntry:
        return cls(PlanAction.UPDATE, drift.path, drift.desired, drift.observed, applied=applied)


@dataclass(frozen=True)
class Readiness:
    """Whether the external object is usable, as the kind judges it (crossplane's Available/Unavailable)."""

    ready: bool
    reason: str = "Available"  # Available | Creating | Unavailable | Deleting | kind-specific (e.g. WaitingForHSM)
    message: str = ""


AVAILABLE = Readiness(ready=True, reason="Available")


@dataclass(frozen=True)
class Observation:
    """The result of `ExternalClient.observe`."""

    exists: bool
    drift: tuple[FieldDrift, ...] = ()
    status: Mapping[str, Any] = field(default_factory=dict)  # status fields to publish (resourceId, hsmUri, ...)
    readiness: Readiness = AVAILABLE
    identity: str | None = None  # stable external id (ARM id, kid without version, assignment id)
    soft_deleted: bool = False  # exists=False but the name is held by a soft-deleted object
    busy: bool = False  # a long-running operation is in flight: do not create/update/delete now, observe again soon
    conditions: tuple[Condition, ...] = ()  # kind-specific conditions to record, e.g. HSMSecurityDomain's Activated
    # The object is fine but expected to change on its own soon (an HSM waiting for its security domain): look again
    # after this many seconds rather than a whole sync interval, so status follows promptly.
    recheck_after: float | None = None

    @property
    def up_to_date(self) -> bool:
        return not self.drift


@dataclass(frozen=True)
class Creation:
    status: Mapping[str, Any] = field(default_factory=dict)
    identity: str | None = None  # the created object's stable id, if the API returned it
    pending: bool = False  # the create was started (LRO) but is not finished: observe again soon
    recovered: bool = False  # a soft-deleted object was recovered rather than created anew


@dataclass(frozen=True)
class Update:
    status: Mapping[str, Any] = field(default_factory=dict)
    pending: bool = False


@dataclass(frozen=True)
class Deletion:
    pending: bool = False  # deletion started but the object still exists: the loop checks again before finishing
    warning: str | None = None  # done, but not all of what was asked (a purge refused): posted as a Warning event


class ExternalClient(Protocol):
    """Operations on one external object. All must be idempotent and none may block for long."""

    async def observe(self, resource: ManagedResource) -> Observation: ...

    async def create(self, resource: ManagedResource) -> Creation: ...

    async def update(self, resource: ManagedResource, drift: tuple[FieldDrift, ...]) -> Update: ...

    async def delete(self, resource: ManagedResource) -> Deletion: ...


class ExternalConnector(Protocol):
    """Builds an `ExternalClient` for one resource: resolves credentials and (cached) SDK clients."""

    async def connect(self, resource: ManagedResource) -> ExternalClient: ...


_MAX_DISPLAY = 1024  # models.common.MAX_VALUE_LENGTH: the apiserver rejects longer values


def _display(value: Any) -> str | None:
    """A drift/plan value as short JSON text (None stays absent): status stays small and schema-stable."""
    if value is None:
        return None
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= _MAX_DISPLAY else text[: _MAX_DISPLAY - 3] + "..."


def _without_none(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if value is not None}

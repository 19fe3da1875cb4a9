"""Types shared by every kind: policies, references, conditions, drift and plan entries, base spec and status.

Why: the generic reconciler (`hsm_operator.reconciler`) reads the same policy fields and writes the same status
shape for every kind; defining them once keeps the five CRDs uniform, as CRDS.md ("Common to every kind") requires.
The per-kind `deletionPolicy` (allowed values and default differ by kind) is declared in each kind's module.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints, field_validator, model_validator

from hsm_operator.models import base
from hsm_operator.models.base import CrdModel, StatusModel

# Bounds on status lists and strings: the apiserver rejects a status patch that exceeds them, so the reconciler
# must truncate to these sizes (and they keep the CEL cost estimates of the CRDs small).
MAX_CONDITIONS = 16
MAX_DRIFT_ENTRIES = 50
MAX_PLAN_ENTRIES = 50
MAX_PATH_LENGTH = 256
MAX_VALUE_LENGTH = 1024
MAX_MESSAGE_LENGTH = 4096

ResourceName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=base.DNS_SUBDOMAIN_MAX_LENGTH, pattern=base.DNS_SUBDOMAIN_PATTERN),
]
Guid = Annotated[
    str, StringConstraints(min_length=base.GUID_LENGTH, max_length=base.GUID_LENGTH, pattern=base.GUID_PATTERN)
]
HsmUri = Annotated[str, StringConstraints(min_length=9, max_length=2048, pattern=r"^https://[^\s/?#]+/?$")]


class ManagementAction(StrEnum):
    """What the operator may do to the external object (crossplane's management policies)."""

    ALL = "*"
    OBSERVE = "Observe"
    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"
    LATE_INITIALIZE = "LateInitialize"


class DeletionPolicy(StrEnum):
    """What happens to the external object when the CR is deleted; each kind allows a subset (see its spec)."""

    DELETE = "Delete"
    ORPHAN = "Orphan"
    PURGE = "Purge"


class DriftPolicy(StrEnum):
    """What the operator does when the external object differs from the spec."""

    CORRECT = "Correct"
    REPORT = "Report"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class LocalObjectReference(CrdModel):
    """A reference to an object in the CR's own namespace (cross-namespace references do not exist)."""

    name: ResourceName = Field(description="Name of the object, in the same namespace as this resource.")


class KeySelector(CrdModel):
    """A reference to one key of a ConfigMap or Secret in the CR's own namespace."""

    name: ResourceName = Field(description="Name of the ConfigMap or Secret, in the same namespace.")
    key: Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=base.CONFIG_MAP_KEY_PATTERN)] = Field(
        description="Key inside the ConfigMap or Secret whose value is used."
    )


class Condition(StatusModel):
    """One condition, shaped like metav1.Condition."""

    type: Annotated[str, StringConstraints(min_length=1, max_length=316)] = Field(
        description="Type of the condition: Ready, Synced, Drifted or a kind-specific one such as Activated."
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = Field(
        description="CamelCase reason for the last transition, e.g. Available, ReconcileError, AuthorizationFailed."
    )
    message: Annotated[str, StringConstraints(max_length=MAX_MESSAGE_LENGTH)] = Field(
        default="", description="Human-readable details about the last transition."
    )
    last_transition_time: datetime = Field(description="When the condition last changed its status.")
    observed_generation: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="The metadata.generation the condition was computed from."
    )


class DriftEntry(StatusModel):
    """One field where the external object differs from the spec; secret values are never shown."""

    path: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH_LENGTH)] = Field(
        description="Path of the drifted field in the spec, e.g. attributes.enabled."
    )
    desired: Annotated[str, StringConstraints(max_length=MAX_VALUE_LENGTH)] | None = Field(
        default=None, description="Desired value as JSON text; absent when the spec leaves the field unset."
    )
    observed: Annotated[str, StringConstraints(max_length=MAX_VALUE_LENGTH)] | None = Field(
        default=None, description="Observed value as JSON text; absent when the external object lacks the field."
    )


class PlanEntry(StatusModel):
    """One change the last reconcile applied, or in Report mode would apply."""

    action: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="What the change does, e.g. Create, Update, Delete, Rotate, Recover, Purge."
    )
    path: Annotated[str, StringConstraints(max_length=MAX_PATH_LENGTH)] | None = Field(
        default=None, description="The spec field the change concerns; absent for changes of the whole object."
    )
    desired: Annotated[str, StringConstraints(max_length=MAX_VALUE_LENGTH)] | None = Field(
        default=None, description="Value after the change, as JSON text."
    )
    observed: Annotated[str, StringConstraints(max_length=MAX_VALUE_LENGTH)] | None = Field(
        default=None, description="Value before the change, as JSON text."
    )
    applied: bool = Field(default=False, description="True when the change was made, false when only planned.")


class ResourceStatus(StatusModel):
    """Status fields every kind has; kinds extend it with what they observe."""

    observed_generation: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="The metadata.generation the operator last reconciled."
    )
    conditions: Annotated[list[Condition], Field(max_length=MAX_CONDITIONS)] = Field(
        default_factory=list,
        description="Current state: Ready, Synced and, where drift applies, Drifted.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    last_sync_time: datetime | None = Field(
        default=None, description="When the operator last compared the external object with the spec."
    )
    drift: Annotated[list[DriftEntry], Field(max_length=MAX_DRIFT_ENTRIES)] = Field(
        default_factory=list, description="Fields where the external object differs from the spec, at the last sync."
    )
    plan: Annotated[list[PlanEntry], Field(max_length=MAX_PLAN_ENTRIES)] = Field(
        default_factory=list, description="Changes the last reconcile applied or, with driftPolicy Report, would apply."
    )
    kopf: dict[str, Any] | None = Field(
        default=None,
        description="Handler progress kept by the operator framework (kopf), so it writes no annotations. Internal.",
    )

    def condition(self, condition_type: str) -> Condition | None:
        """The condition of the given type, if present."""
        return next((c for c in self.conditions if c.type == condition_type), None)


ManagementPolicies = Annotated[list[ManagementAction], Field(max_length=6)]


class ManagedResourceSpec(CrdModel):
    """Policy fields every kind has. `deletionPolicy` is declared per kind because its values and default differ."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (
        base.cel(
            "!has(self.managementPolicies) || !('*' in self.managementPolicies) || size(self.managementPolicies) == 1",
            "spec.managementPolicies: '*' cannot be combined with other actions",
            field_path=".managementPolicies",
        ),
        # Every reconcile starts by observing; creating or deleting blind would not be idempotent.
        base.cel(
            "!has(self.managementPolicies) || size(self.managementPolicies) == 0"
            " || '*' in self.managementPolicies || 'Observe' in self.managementPolicies",
            "spec.managementPolicies must include Observe (or be ['*'], or [] to pause)",
            field_path=".managementPolicies",
        ),
    )

    management_policies: ManagementPolicies = Field(
        default=[ManagementAction.ALL],
        description=(
            "What the operator may do to the external object: '*' (everything, the default) or a subset of "
            "Observe, Create, Update, Delete, LateInitialize that includes Observe. ['Observe'] adopts and reports "
            "but never writes; [] pauses reconciliation."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    drift_policy: DriftPolicy = Field(
        default=DriftPolicy.CORRECT,
        description=(
            "Correct (default) writes the spec back when the external object drifts; Report only records the "
            "differences in status.drift and sets the Drifted condition."
        ),
    )

    @field_validator("management_policies")
    @classmethod
    def _policies_are_a_set(cls, policies: list[ManagementAction]) -> list[ManagementAction]:
        if len(set(policies)) != len(policies):
            raise ValueError("spec.managementPolicies must not repeat an action")
        if ManagementAction.ALL in policies and len(policies) > 1:
            raise ValueError("spec.managementPolicies: '*' cannot be combined with other actions")
        if policies and ManagementAction.ALL not in policies and ManagementAction.OBSERVE not in policies:
            raise ValueError("spec.managementPolicies must include Observe (or be ['*'], or [] to pause)")
        return policies


class DataPlaneSpec(ManagedResourceSpec):
    """Fields of every data-plane kind: which HSM, and the namespace's own credentials for it."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (
        base.exactly_one(("hsmRef", "hsmUri"), path="spec"),
        base.immutable("hsmRef", path="spec"),
        base.immutable("hsmUri", path="spec"),
    )

    hsm_ref: LocalObjectReference | None = Field(
        default=None,
        description="A ManagedHSM in the same namespace whose status.hsmUri is used. Exactly one of hsmRef or hsmUri.",
    )
    hsm_uri: HsmUri | None = Field(
        default=None,
        description=(
            "Data-plane URI of an HSM not managed here, e.g. https://contoso.managedhsm.azure.net/. "
            "Exactly one of hsmRef or hsmUri."
        ),
    )
    credential_ref: LocalObjectReference = Field(
        description=(
            "Secret in the same namespace with keys tenantId, clientId and clientSecret: the identity used for "
            "this object's data-plane calls. The operator never falls back to its own identity."
        )
    )

    @model_validator(mode="after")
    def _exactly_one_hsm(self) -> DataPlaneSpec:
        if base.count_set(self, ("hsm_ref", "hsm_uri")) != 1:
            raise ValueError("exactly one of spec.hsmRef, spec.hsmUri must be set")
        return self

"""Management, deletion and drift policies: which of observe/create/update/delete the loop may do for one object.

Why this module exists: crossplane's lesson is that the policy checks must be plain set lookups decided in one
place, and that only sensible combinations are accepted (`Validate`). `["Observe"]` is observe-only (adopt and
report, never write); `[]` is paused; `["*"]` is everything; `deletionPolicy: Orphan` is folded into `should_delete`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import DeletionPolicy, DriftPolicy, ManagedResource, ManagementAction

_A = ManagementAction


def parse_management_policies(values: Iterable[str] | None) -> frozenset[ManagementAction]:
    """Parse `spec.managementPolicies`; None (unset) means everything. Unknown names raise `PolicyInvalid`."""
    if values is None:
        return frozenset({_A.ALL})
    parsed: set[ManagementAction] = set()
    for value in values:
        try:
            parsed.add(ManagementAction(value))
        except ValueError:
            allowed = ", ".join(a.value for a in ManagementAction)
            raise errors.PolicyInvalid(f"managementPolicies: unknown action {value!r} (allowed: {allowed})") from None
    return frozenset(parsed)


@dataclass(frozen=True)
class Policy:
    """The policy checker for one object (crossplane's ManagementPoliciesResolver)."""

    actions: frozenset[ManagementAction]
    deletion: DeletionPolicy
    drift: DriftPolicy

    @classmethod
    def of(cls, resource: ManagedResource) -> Policy:
        return cls(resource.management_policies, resource.deletion_policy, resource.drift_policy)

    def validate(self) -> None:
        """Reject combinations the loop cannot honour (raises `PolicyInvalid`)."""
        if _A.ALL in self.actions and len(self.actions) > 1:
            raise errors.PolicyInvalid('managementPolicies: "*" cannot be combined with other actions')
        if self.actions and _A.ALL not in self.actions and _A.OBSERVE not in self.actions:
            # Every pass starts by observing; creating or deleting blind would not be idempotent.
            raise errors.PolicyInvalid('managementPolicies: must include "Observe" (or be ["*"])')

    def _allows(self, action: ManagementAction) -> bool:
        return _A.ALL in self.actions or action in self.actions

    @property
    def paused(self) -> bool:
        return not self.actions

    @property
    def observe_only(self) -> bool:
        return self.actions == frozenset({_A.OBSERVE})

    def should_create(self) -> bool:
        return self._allows(_A.CREATE)

    def should_update(self) -> bool:
        return self._allows(_A.UPDATE)

    def should_correct_drift(self) -> bool:
        """Out-of-band changes are written back only with Update allowed and driftPolicy Correct."""
        return self.should_update() and self.drift is DriftPolicy.CORRECT

    def should_delete(self) -> bool:
        return self._allows(_A.DELETE) and self.deletion is not DeletionPolicy.ORPHAN

    def should_late_initialize(self) -> bool:
        # Accepted for compatibility, never acted on: the operator does not write spec (GitOps sees no diff).
        return self._allows(_A.LATE_INITIALIZE)

"""HSMRoleAssignment: one assignment of a role to a principal at a scope of the HSM's local RBAC.

The service has no update for assignments, so everything except the policies is immutable; the CRD refuses a
change instead of letting the operator delete and recreate an access grant behind the user's back. Exactly one
scope source and exactly one role source may be given.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, model_validator

from hsm_operator.models import base, common
from hsm_operator.models.hsmkey import KEY_NAME_CHARS

SCOPE_PATTERN = rf"^/$|^/keys$|^/keys/{KEY_NAME_CHARS}$"
ROLE_DEFINITION_ID_PATTERN = (
    r"^(/?Microsoft\.KeyVault/providers/Microsoft\.Authorization/roleDefinitions/)?"
    + base.GUID_PATTERN.removeprefix("^")
)

SCOPE_FIELDS = ("scope", "keyRef")
ROLE_FIELDS = ("roleDefinitionId", "roleName", "roleDefinitionRef")
# Everything the assignment is made of; credentialRef stays changeable so rotating the namespace's credentials
# into a new Secret does not force deleting and recreating an access grant.
IMMUTABLE_FIELDS = ("assignmentName", *SCOPE_FIELDS, *ROLE_FIELDS, "principalId")


class HSMRoleAssignmentSpec(common.DataPlaneSpec):
    """Desired role assignment."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (
        base.exactly_one(SCOPE_FIELDS, path="spec"),
        base.exactly_one(ROLE_FIELDS, path="spec"),
        *(base.immutable(name, path="spec") for name in IMMUTABLE_FIELDS),
    )

    assignment_name: common.Guid | None = Field(
        default=None,
        description="Name (GUID) of the assignment. Defaults to a UUIDv5 of HSM, scope, role and principal, so "
        "re-applying is idempotent. Immutable.",
    )
    scope: Annotated[str, StringConstraints(min_length=1, max_length=133, pattern=SCOPE_PATTERN)] | None = Field(
        default=None,
        description="Scope: '/', '/keys' (both mean all keys) or '/keys/<name>'. Exactly one of scope or keyRef. "
        "Immutable.",
    )
    key_ref: common.LocalObjectReference | None = Field(
        default=None,
        description="An HSMKey in the same namespace; the scope becomes /keys/<its keyName>. Immutable.",
    )
    role_definition_id: (
        Annotated[str, StringConstraints(min_length=36, max_length=128, pattern=ROLE_DEFINITION_ID_PATTERN)] | None
    ) = Field(
        default=None,
        description="Role definition id (GUID, or Microsoft.KeyVault/providers/Microsoft.Authorization/"
        "roleDefinitions/<guid>). Exactly one of roleDefinitionId, roleName, roleDefinitionRef. Immutable.",
    )
    role_name: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        default=None,
        description="Role name, e.g. 'Managed HSM Crypto User', resolved by listing the HSM's role definitions. "
        "Immutable.",
    )
    role_definition_ref: common.LocalObjectReference | None = Field(
        default=None, description="An HSMRoleDefinition in the same namespace. Immutable."
    )
    principal_id: common.Guid = Field(
        description="Object id (GUID) of the user, group, service principal or managed identity. Immutable."
    )
    deletion_policy: Literal[common.DeletionPolicy.DELETE, common.DeletionPolicy.ORPHAN] = Field(
        default=common.DeletionPolicy.DELETE,
        description="Delete (default) removes the assignment when this object is deleted; Orphan keeps it.",
    )

    @model_validator(mode="after")
    def _exactly_one_scope_and_role(self) -> HSMRoleAssignmentSpec:
        if base.count_set(self, ("scope", "key_ref")) != 1:
            raise ValueError("exactly one of spec.scope, spec.keyRef must be set")
        if base.count_set(self, ("role_definition_id", "role_name", "role_definition_ref")) != 1:
            raise ValueError("exactly one of spec.roleDefinitionId, spec.roleName, spec.roleDefinitionRef must be set")
        return self


class HSMRoleAssignmentStatus(common.ResourceStatus):
    """The assignment as last observed."""

    assignment_id: str | None = Field(default=None, description="Full id of the assignment in the HSM.")
    resolved_scope: str | None = Field(default=None, description="The scope used: '/', '/keys' or '/keys/<name>'.")
    resolved_role_definition_id: str | None = Field(default=None, description="The role definition id used.")
    resolved_role_name: str | None = Field(default=None, description="Name of the role used, for display.")

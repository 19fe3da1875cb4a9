"""HSMRoleDefinition: a custom Managed HSM role, reconciled through `KeyVaultAccessControlClient` at scope `/`.

Why this module exists: custom roles close the gaps of the coarse built-ins (e.g. a signer that cannot delete keys,
or `keys/rotate/action`, which Terraform users miss). The external object is named by a GUID: `spec.
roleDefinitionName`, else the `mhsm.dev/external-name` annotation, else a UUIDv5 of namespace/name, so re-applying
never duplicates a role. PUT replaces the whole definition, so an update simply writes the spec again.

Deletion is refused while an HSMRoleAssignment in the namespace still uses the role: the CR reports
`RoleDefinitionInUse` (Synced=False) and is retried, instead of hanging silently or leaving assignments that point
at nothing.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.administration import KeyVaultPermission

from hsm_operator.kinds import KindSpec, Plane
from hsm_operator.kinds.dataplane import DataPlane, DataPlaneConnector, DataPlaneRuntime, waiting_if_not_activated
from hsm_operator.kinds.deterministic_names import role_definition_name
from hsm_operator.kinds.role_definition_state import (
    PermissionState,
    RoleDefinitionState,
    observed_role_definition,
    role_definition_drift,
    role_definition_guid,
    role_definition_id,
    same_role,
)
from hsm_operator.models import registry
from hsm_operator.models.hsmroledefinition import HSMRoleDefinitionSpec
from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import (
    AVAILABLE,
    Creation,
    Deletion,
    FieldDrift,
    ManagedResource,
    Observation,
    Update,
)

KIND_NAME = "HSMRoleDefinition"
PLURAL = "hsmroledefinitions"
ASSIGNMENT_PLURAL = "hsmroleassignments"
ROLE_SCOPE = "/"  # Managed HSM keeps role definitions at `/` only
IDENTITY_FIELD = "roleDefinitionId"


class RoleDefinitionInUse(errors.Conflict):
    reason = "RoleDefinitionInUse"


def definition_name(resource: ManagedResource) -> str:
    """The GUID naming the role in the HSM."""
    spec: HSMRoleDefinitionSpec = resource.spec
    if spec.role_definition_name:
        return spec.role_definition_name.lower()
    if resource.external_name:
        return role_definition_guid(resource.external_name)
    return role_definition_name(resource.namespace, resource.name)


def desired_state(spec: HSMRoleDefinitionSpec) -> RoleDefinitionState:
    return RoleDefinitionState(
        role_name=spec.role_name,
        description=spec.description,
        permissions=tuple(
            PermissionState.of(
                p.actions, p.not_actions, [a.value for a in p.data_actions], [a.value for a in p.not_data_actions]
            )
            for p in spec.permissions
        ),
        assignable_scopes=frozenset(scope.value for scope in spec.assignable_scopes),
    )


def assignments_using(role_cr_name: str, role_guid: str, assignments: list[dict[str, Any]]) -> list[str]:
    """Names of HSMRoleAssignment CRs that use this role (by reference, id or resolved id)."""
    users: list[str] = []
    for body in assignments:
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        reference = (spec.get("roleDefinitionRef") or {}).get("name")
        by_ref = reference == role_cr_name
        by_id = same_role(spec.get("roleDefinitionId"), role_guid)
        by_resolution = same_role(status.get("resolvedRoleDefinitionId"), role_guid)
        if by_ref or by_id or by_resolution:
            users.append(str((body.get("metadata") or {}).get("name")))
    return sorted(users)


class RoleDefinitionClient:
    """`ExternalClient` for one HSMRoleDefinition."""

    def __init__(self, dataplane: DataPlane, resource: ManagedResource) -> None:
        self._dataplane = dataplane
        self._name = definition_name(resource)
        self._spec: HSMRoleDefinitionSpec = resource.spec

    def _status(self, definition: Any) -> dict[str, Any]:
        return {
            "roleDefinitionId": role_definition_id(definition.id or self._name),
            "roleType": definition.role_type,
        }

    async def observe(self, resource: ManagedResource) -> Observation:
        client = self._dataplane.access_control()
        try:
            async with waiting_if_not_activated(self._dataplane.target):
                definition = await client.get_role_definition(ROLE_SCOPE, self._name)
        except ResourceNotFoundError:
            return Observation(exists=False)
        drift = role_definition_drift(desired_state(self._spec), observed_role_definition(definition))
        return Observation(
            exists=True,
            drift=drift,
            status=self._status(definition),
            readiness=AVAILABLE,
            identity=role_definition_id(definition.id or self._name),
        )

    async def _put(self) -> Any:
        client = self._dataplane.access_control()
        return await client.set_role_definition(
            ROLE_SCOPE,
            name=self._name,
            role_name=self._spec.role_name,
            description=self._spec.description or "",
            permissions=[
                KeyVaultPermission(
                    actions=list(p.actions),
                    not_actions=list(p.not_actions),
                    data_actions=[a.value for a in p.data_actions],
                    not_data_actions=[a.value for a in p.not_data_actions],
                )
                for p in self._spec.permissions
            ],
            assignable_scopes=[scope.value for scope in self._spec.assignable_scopes],
        )

    async def create(self, resource: ManagedResource) -> Creation:
        definition = await self._put()
        return Creation(status=self._status(definition), identity=role_definition_id(definition.id or self._name))

    async def update(self, resource: ManagedResource, drift: tuple[FieldDrift, ...]) -> Update:
        # PUT replaces the definition as a whole; there is no partial update to make.
        definition = await self._put()
        return Update(status=self._status(definition))

    async def delete(self, resource: ManagedResource) -> Deletion:
        assignments = await self._dataplane.cluster.custom_objects(ASSIGNMENT_PLURAL, resource.namespace)
        users = assignments_using(resource.name, self._name, assignments)
        if users:
            raise RoleDefinitionInUse(
                f"role {self._spec.role_name} is still used by HSMRoleAssignment {', '.join(users)}; "
                "delete those first (deletion is retried)"
            )
        client = self._dataplane.access_control()
        await client.delete_role_definition(ROLE_SCOPE, self._name)  # the SDK tolerates "already gone"
        return Deletion()


def connector(runtime: DataPlaneRuntime) -> DataPlaneConnector:
    return DataPlaneConnector(runtime, RoleDefinitionClient)


KIND = KindSpec(
    resource=registry.BY_KIND[KIND_NAME],
    plane=Plane.DATA,
    connector=connector,
    identity_field=IDENTITY_FIELD,
)

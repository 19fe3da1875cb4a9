"""HSMRoleAssignment: one local RBAC grant in a Managed HSM (role x principal x scope).

Why this module exists: "who may use which key" is the point of the operator, and grants are where mistakes hurt.
The service has no update for assignments, so this client only creates, observes and deletes:

- The role comes from `roleDefinitionId`, from `roleName` (resolved by listing the HSM's role definitions, as the
  CLI does) or from `roleDefinitionRef` (an HSMRoleDefinition's `status.roleDefinitionId`).
- The scope comes from `scope`, or from `keyRef` (an HSMKey in the namespace: `/keys/<its keyName>`).
- The name is `assignmentName`, the `mhsm.dev/external-name` annotation, or a UUIDv5 of HSM + scope + role +
  principal, so re-applying the same grant (even from another cluster) addresses the same assignment.
- An assignment deleted out of band is drift (path `exists`): recreated under driftPolicy Correct, reported under
  Report. An existing assignment with that name but another role/principal/scope is never taken over.
- While the CR is being deleted, the recorded status (scope, role) is used, so deletion works even when the
  referenced HSMKey or HSMRoleDefinition is already gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from hsm_operator.kinds import KindSpec, Plane
from hsm_operator.kinds.dataplane import DataPlane, DataPlaneConnector, DataPlaneRuntime, waiting_if_not_activated
from hsm_operator.kinds.deterministic_names import role_assignment_name
from hsm_operator.kinds.role_definition_state import role_definition_id, same_role
from hsm_operator.models import registry
from hsm_operator.models.hsmroleassignment import HSMRoleAssignmentSpec
from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import (
    AVAILABLE,
    Creation,
    Deletion,
    FieldDrift,
    ManagedResource,
    Observation,
    Readiness,
    Update,
)

KIND_NAME = "HSMRoleAssignment"
PLURAL = "hsmroleassignments"
KEY_PLURAL = "hsmkeys"
ROLE_DEFINITION_PLURAL = "hsmroledefinitions"
IDENTITY_FIELD = "assignmentId"
EXISTS_PATH = "exists"  # drift path of an assignment that was deleted out of band


@dataclass(frozen=True)
class ResolvedAssignment:
    name: str
    scope: str
    role_definition_id: str
    principal_id: str
    role_name: str | None = None


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


def normalised_scope(scope: str) -> str:
    """`/`, `/keys` or `/keys/<name>`; the service may echo `/keys/` forms or a trailing slash."""
    stripped = "/" + scope.strip().strip("/")
    return stripped if stripped != "/" else "/"


class RoleAssignmentClient:
    """`ExternalClient` for one HSMRoleAssignment."""

    def __init__(self, dataplane: DataPlane, resource: ManagedResource) -> None:
        self._dataplane = dataplane
        self._spec: HSMRoleAssignmentSpec = resource.spec
        self._resolved: ResolvedAssignment | None = None

    # -- resolution ------------------------------------------------------------------------------------------------

    async def _scope(self, resource: ManagedResource) -> str:
        if self._spec.scope is not None:
            return normalised_scope(self._spec.scope)
        assert self._spec.key_ref is not None  # the model guarantees exactly one of scope / keyRef
        key_cr = await self._dataplane.cluster.custom_object(KEY_PLURAL, resource.namespace, self._spec.key_ref.name)
        if key_cr is None:
            raise errors.NotFound(f"HSMKey {self._spec.key_ref.name} (spec.keyRef) does not exist")
        key_name = (key_cr.get("spec") or {}).get("keyName") or self._spec.key_ref.name
        return f"/keys/{key_name}"

    async def _role(self, resource: ManagedResource) -> tuple[str, str | None]:
        """(full role definition id, role name if known)."""
        if self._spec.role_definition_id is not None:
            return role_definition_id(self._spec.role_definition_id), None
        if self._spec.role_definition_ref is not None:
            ref = self._spec.role_definition_ref.name
            body = await self._dataplane.cluster.custom_object(ROLE_DEFINITION_PLURAL, resource.namespace, ref)
            if body is None:
                raise errors.NotFound(f"HSMRoleDefinition {ref} (spec.roleDefinitionRef) does not exist")
            status = body.get("status") or {}
            if not status.get("roleDefinitionId"):
                raise errors.NotFound(f"HSMRoleDefinition {ref} has not been created in the HSM yet")
            return role_definition_id(str(status["roleDefinitionId"])), (body.get("spec") or {}).get("roleName")
        assert self._spec.role_name is not None
        wanted = self._spec.role_name
        client = self._dataplane.access_control()
        matches: list[str] = []
        async with waiting_if_not_activated(self._dataplane.target):
            async for definition in client.list_role_definitions("/"):
                if definition.role_name == wanted:
                    matches.append(role_definition_id(definition.id or definition.name))
        if not matches:
            raise errors.NotFound(f"the HSM has no role named {wanted!r} (spec.roleName)")
        if len(matches) > 1:
            raise errors.InvalidSpec(f"{len(matches)} roles are named {wanted!r}; use spec.roleDefinitionId instead")
        return matches[0], wanted

    async def resolve(self, resource: ManagedResource) -> ResolvedAssignment:
        if self._resolved is not None:
            return self._resolved
        recorded = resource.status
        if resource.deleting and recorded.get("resolvedScope") and recorded.get("resolvedRoleDefinitionId"):
            scope = str(recorded["resolvedScope"])
            role_id: str = str(recorded["resolvedRoleDefinitionId"])
            role_name = recorded.get("resolvedRoleName")
        else:
            scope = await self._scope(resource)
            role_id, role_name = await self._role(resource)
        principal = self._spec.principal_id.lower()
        if self._spec.assignment_name:
            name = self._spec.assignment_name.lower()
        elif resource.external_name:
            name = resource.external_name.rsplit("/", 1)[-1].lower()
        else:
            name = role_assignment_name(self._dataplane.uri, scope, role_id, principal)
        self._resolved = ResolvedAssignment(name, scope, role_id, principal, role_name)
        return self._resolved

    # -- ExternalClient --------------------------------------------------------------------------------------------

    def _status(self, resolved: ResolvedAssignment, assignment_id: str) -> dict[str, Any]:
        status: dict[str, Any] = {
            "assignmentId": assignment_id,
            "resolvedScope": resolved.scope,
            "resolvedRoleDefinitionId": resolved.role_definition_id,
        }
        if resolved.role_name:
            status["resolvedRoleName"] = resolved.role_name
        return status

    async def observe(self, resource: ManagedResource) -> Observation:
        resolved = await self.resolve(resource)
        client = self._dataplane.access_control()
        try:
            async with waiting_if_not_activated(self._dataplane.target):
                assignment = await client.get_role_assignment(resolved.scope, resolved.name)
        except ResourceNotFoundError:
            bound = resource.status.get(IDENTITY_FIELD)
            if bound and not resource.deleting:
                # It existed (we created or adopted it) and is gone: out-of-band deletion is drift, so the loop
                # recreates it under driftPolicy Correct and only reports it under Report.
                return Observation(
                    exists=True,
                    drift=(FieldDrift(EXISTS_PATH, True, False),),
                    status=self._status(resolved, str(bound)),
                    readiness=Readiness(False, errors.UNAVAILABLE, "The role assignment was deleted out of band"),
                    identity=str(bound),
                )
            return Observation(exists=False)
        properties = assignment.properties
        drift: list[FieldDrift] = []
        if not same_role(properties.role_definition_id, resolved.role_definition_id):
            drift.append(
                FieldDrift(
                    "roleDefinitionId", resolved.role_definition_id, properties.role_definition_id, mutable=False
                )
            )
        if str(properties.principal_id or "").lower() != resolved.principal_id:
            drift.append(FieldDrift("principalId", resolved.principal_id, properties.principal_id, mutable=False))
        if properties.scope is not None and normalised_scope(_text(properties.scope)) != resolved.scope:
            drift.append(FieldDrift("scope", resolved.scope, _text(properties.scope), mutable=False))
        assignment_id = str(assignment.role_assignment_id or resolved.name)
        return Observation(
            exists=True,
            drift=tuple(drift),
            status=self._status(resolved, assignment_id),
            readiness=AVAILABLE,
            identity=assignment_id,
        )

    async def _create(self, resource: ManagedResource) -> str:
        resolved = await self.resolve(resource)
        client = self._dataplane.access_control()
        try:
            assignment = await client.create_role_assignment(
                resolved.scope, resolved.role_definition_id, resolved.principal_id, name=resolved.name
            )
        except ResourceExistsError:
            # Created by an earlier pass whose result was lost: the next observe compares and adopts it.
            assignment = await client.get_role_assignment(resolved.scope, resolved.name)
        return str(assignment.role_assignment_id or resolved.name)

    async def create(self, resource: ManagedResource) -> Creation:
        assignment_id = await self._create(resource)
        resolved = await self.resolve(resource)
        return Creation(status=self._status(resolved, assignment_id), identity=assignment_id)

    async def update(self, resource: ManagedResource, drift: tuple[FieldDrift, ...]) -> Update:
        # The only mutable drift an assignment can have is its disappearance: put it back.
        if any(d.path == EXISTS_PATH for d in drift):
            assignment_id = await self._create(resource)
            return Update(status=self._status(await self.resolve(resource), assignment_id))
        return Update()

    async def delete(self, resource: ManagedResource) -> Deletion:
        resolved = await self.resolve(resource)
        await self._dataplane.access_control().delete_role_assignment(resolved.scope, resolved.name)
        return Deletion()


def connector(runtime: DataPlaneRuntime) -> DataPlaneConnector:
    return DataPlaneConnector(runtime, RoleAssignmentClient)


KIND = KindSpec(
    resource=registry.BY_KIND[KIND_NAME],
    plane=Plane.DATA,
    connector=connector,
    identity_field=IDENTITY_FIELD,
)

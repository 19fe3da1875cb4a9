"""Role definitions and assignments: id normalisation, drift tables, in-use detection, assignment observe rules.

The assignment client is driven through a small in-memory stand-in for `KeyVaultAccessControlClient` (only the
three calls it makes); the real SDK against the emulator is exercised by the integration tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.keyvault.administration import KeyVaultPermission, KeyVaultRoleScope

from hsm_operator.kinds.dataplane import DataPlane
from hsm_operator.kinds.hsm_target import HsmTarget
from hsm_operator.kinds.hsmroleassignment import EXISTS_PATH, RoleAssignmentClient
from hsm_operator.kinds.hsmroledefinition import assignments_using, definition_name, desired_state
from hsm_operator.kinds.role_definition_state import (
    PermissionState,
    RoleDefinitionState,
    role_definition_drift,
    role_definition_guid,
    role_definition_id,
    same_role,
)
from hsm_operator.models.hsmroleassignment import HSMRoleAssignmentSpec
from hsm_operator.models.hsmroledefinition import HSMRoleDefinitionSpec
from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import ManagedResource

GUID = "21dbd100-6940-42c2-9190-5d6cb909625b"
FULL = f"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{GUID}"
PRINCIPAL = "6f1b2a6e-0000-4000-8000-00000000000a"
ROTATE = "Microsoft.KeyVault/managedHsm/keys/rotate/action"


@pytest.mark.parametrize("value", [GUID, GUID.upper(), FULL, "/" + FULL, FULL.replace(GUID, GUID.upper())])
def test_role_definition_id_normalisation(value: str) -> None:
    assert role_definition_id(value) == FULL
    assert role_definition_guid(value) == GUID
    assert same_role(value, FULL)


def test_same_role_needs_both() -> None:
    assert not same_role(None, FULL)
    assert not same_role(FULL, FULL.replace("625b", "625c"))


def _state(**overrides: Any) -> RoleDefinitionState:
    values: dict[str, Any] = {
        "role_name": "signer",
        "description": "signs",
        "permissions": (PermissionState.of([], [], [ROTATE], []),),
        "assignable_scopes": frozenset({"/"}),
        "role_type": "CustomRole",
    }
    values.update(overrides)
    return RoleDefinitionState(**values)


@pytest.mark.parametrize(
    ("reason", "observed", "paths"),
    [
        ("equal", _state(), []),
        ("action case is irrelevant", _state(permissions=(PermissionState.of([], [], [ROTATE.upper()], []),)), []),
        ("renamed", _state(role_name="other"), ["roleName"]),
        ("description", _state(description=""), ["description"]),
        ("permission removed", _state(permissions=(PermissionState.of([], [], [], []),)), ["permissions"]),
        ("scopes", _state(assignable_scopes=frozenset({"/keys"})), ["assignableScopes"]),
    ],
)
def test_role_definition_drift(reason: str, observed: RoleDefinitionState, paths: list[str]) -> None:
    assert [d.path for d in role_definition_drift(_state(), observed)] == paths, reason


def test_built_in_role_is_never_adopted() -> None:
    (drift,) = role_definition_drift(_state(), _state(role_type="AKVBuiltInRole"))
    assert not drift.mutable


def test_spec_maps_to_state_and_default_name() -> None:
    spec = HSMRoleDefinitionSpec.model_validate(
        {
            "hsmRef": {"name": "hsm"},
            "credentialRef": {"name": "cred"},
            "roleName": "signer",
            "description": "signs",
            "permissions": [{"dataActions": [ROTATE]}],
        }
    )
    assert desired_state(spec) == _state(role_type=None)
    resource = ManagedResource("HSMRoleDefinition", "ns", "signer", "uid", 1, spec)
    assert definition_name(resource) == definition_name(resource)  # deterministic
    assert len(definition_name(resource)) == 36


def test_assignments_using_a_role() -> None:
    bodies = [
        {"metadata": {"name": "by-ref"}, "spec": {"roleDefinitionRef": {"name": "signer"}}},
        {"metadata": {"name": "by-id"}, "spec": {"roleDefinitionId": "/" + FULL.upper()}},
        {"metadata": {"name": "by-name"}, "spec": {"roleName": "x"}, "status": {"resolvedRoleDefinitionId": FULL}},
        {"metadata": {"name": "other"}, "spec": {"roleName": "Managed HSM Crypto User"}},
    ]
    assert assignments_using("signer", GUID, bodies) == ["by-id", "by-name", "by-ref"]


# -- role assignment client over an in-memory access-control stand-in ------------------------------------------------


@dataclass
class _Properties:
    role_definition_id: str
    principal_id: str
    scope: Any


@dataclass
class _Assignment:
    name: str
    properties: _Properties

    @property
    def role_assignment_id(self) -> str:
        return f"/providers/Microsoft.Authorization/roleAssignments/{self.name}"


@dataclass
class _Definition:
    id: str
    name: str
    role_name: str


@dataclass
class FakeAccessControl:
    assignments: dict[tuple[str, str], _Assignment] = field(default_factory=dict)
    definitions: list[_Definition] = field(default_factory=list)

    async def get_role_assignment(self, scope: str, name: str) -> _Assignment:
        try:
            return self.assignments[(scope, name)]
        except KeyError:
            raise ResourceNotFoundError("RoleAssignmentNotFound") from None

    async def create_role_assignment(self, scope: str, role: str, principal: str, *, name: str) -> _Assignment:
        if (scope, name) in self.assignments:
            raise ResourceExistsError("exists")
        # The SDK hands broad scopes back as `KeyVaultRoleScope` enums: the client must read their value.
        echoed = KeyVaultRoleScope(scope) if scope in ("/", "/keys") else scope
        self.assignments[(scope, name)] = _Assignment(name, _Properties(role, principal, echoed))
        return self.assignments[(scope, name)]

    async def delete_role_assignment(self, scope: str, name: str) -> None:
        self.assignments.pop((scope, name), None)

    async def _definitions(self) -> AsyncIterator[_Definition]:
        for definition in self.definitions:
            yield definition

    def list_role_definitions(self, scope: str) -> AsyncIterator[_Definition]:
        return self._definitions()


@dataclass
class FakeRuntime:
    access: FakeAccessControl
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @property
    def cluster(self) -> FakeRuntime:
        return self

    async def custom_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, name))

    def access_control_client(self, hsm_uri: str, credential: Any) -> FakeAccessControl:
        return self.access


def assignment_resource(status: dict[str, Any] | None = None, **fields: Any) -> ManagedResource:
    spec = HSMRoleAssignmentSpec.model_validate(
        {"hsmRef": {"name": "hsm"}, "credentialRef": {"name": "cred"}, "principalId": PRINCIPAL, **fields}
    )
    return ManagedResource("HSMRoleAssignment", "ns", "grant", "uid", 1, spec, status=status or {})


def client_for(runtime: FakeRuntime, resource: ManagedResource) -> RoleAssignmentClient:
    dataplane = DataPlane(runtime, HsmTarget("https://hsm.example:8443/", "Active"), credential=None)  # type: ignore[arg-type]
    return RoleAssignmentClient(dataplane, resource)


async def test_create_then_observe_is_in_sync() -> None:
    runtime = FakeRuntime(FakeAccessControl())
    resource = assignment_resource(scope="/keys", roleDefinitionId=GUID)
    creation = await client_for(runtime, resource).create(resource)
    assert creation.status["resolvedScope"] == "/keys"
    assert creation.status["resolvedRoleDefinitionId"] == FULL
    observation = await client_for(runtime, resource).observe(resource)
    assert observation.exists
    assert observation.drift == ()
    assert observation.identity == creation.identity


async def test_out_of_band_deletion_is_drift_only_once_bound() -> None:
    runtime = FakeRuntime(FakeAccessControl())
    fresh = assignment_resource(scope="/", roleDefinitionId=GUID)
    assert not (await client_for(runtime, fresh).observe(fresh)).exists

    bound = assignment_resource({"assignmentId": "/providers/x/roleAssignments/abc"}, scope="/", roleDefinitionId=GUID)
    observation = await client_for(runtime, bound).observe(bound)
    assert observation.exists
    assert [d.path for d in observation.drift] == [EXISTS_PATH]
    assert not observation.readiness.ready
    await client_for(runtime, bound).update(bound, observation.drift)
    assert len(runtime.access.assignments) == 1


async def test_existing_assignment_of_another_principal_is_immutable_drift() -> None:
    runtime = FakeRuntime(FakeAccessControl())
    resource = assignment_resource(scope="/", roleDefinitionId=GUID)
    client = client_for(runtime, resource)
    resolved = await client.resolve(resource)
    other = "00000000-0000-4000-8000-000000000000"
    runtime.access.assignments[("/", resolved.name)] = _Assignment(resolved.name, _Properties(FULL, other, "/"))
    observation = await client_for(runtime, resource).observe(resource)
    assert [(d.path, d.mutable) for d in observation.drift] == [("principalId", False)]


async def test_role_by_name_and_key_ref_resolution() -> None:
    access = FakeAccessControl(definitions=[_Definition(FULL, GUID, "Managed HSM Crypto User")])
    runtime = FakeRuntime(access, {("hsmkeys", "app"): {"spec": {"keyName": "app-key"}}})
    resource = assignment_resource(keyRef={"name": "app"}, roleName="Managed HSM Crypto User")
    resolved = await client_for(runtime, resource).resolve(resource)
    assert (resolved.scope, resolved.role_definition_id, resolved.role_name) == (
        "/keys/app-key",
        FULL,
        "Managed HSM Crypto User",
    )


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"keyRef": {"name": "missing"}, "roleDefinitionId": GUID}, errors.NotFound, "HSMKey missing"),
        ({"scope": "/", "roleName": "Nope"}, errors.NotFound, "no role named 'Nope'"),
        ({"scope": "/", "roleDefinitionRef": {"name": "custom"}}, errors.NotFound, "HSMRoleDefinition custom"),
    ],
)
async def test_unresolvable_references_are_named(fields: dict[str, Any], error: type[Exception], message: str) -> None:
    runtime = FakeRuntime(FakeAccessControl())
    resource = assignment_resource(**fields)
    with pytest.raises(error, match=message):
        await client_for(runtime, resource).resolve(resource)


async def test_deleting_uses_the_recorded_resolution() -> None:
    runtime = FakeRuntime(FakeAccessControl())  # the HSMKey is already gone
    recorded = {"resolvedScope": "/keys/app-key", "resolvedRoleDefinitionId": FULL, "assignmentId": "x"}
    resource = assignment_resource(recorded, keyRef={"name": "gone"}, roleDefinitionId=GUID)
    deleting = ManagedResource(**{**resource.__dict__, "deleting": True})
    resolved = await client_for(runtime, deleting).resolve(deleting)
    assert resolved.scope == "/keys/app-key"
    assert (await client_for(runtime, deleting).observe(deleting)).exists is False


def test_permission_model_round_trip() -> None:
    permission = KeyVaultPermission(data_actions=[ROTATE])
    assert PermissionState.of(permission.actions, permission.not_actions, permission.data_actions, None).data_actions

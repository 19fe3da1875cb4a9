"""ManagedHSM over the management plane (`Microsoft.KeyVault/managedHSMs`) with the official azure-mgmt-keyvault SDK.

Why this module exists: it is the ManagedHSM kind's `ExternalClient`: it reads the HSM (GET; absent -> look for a
soft-deleted HSM of that name), compares it field by field with the spec, creates it (PUT, a long-running
operation we wait on only briefly), updates the mutable fields (PATCH of tags, networkAcls, publicNetworkAccess,
enablePurgeProtection), moves it when `resourceGroupName` changes (ARM moveResources), and deletes it (soft delete).
Status comes straight from the resource; Ready means `provisioningState == Succeeded` (activation is shown in
`status.activationStatus` but is not required: the data-plane kinds wait for Active themselves).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.keyvault.models import ManagedHsm

from hsm_operator.kinds import KindSpec, Plane, Runtime
from hsm_operator.models import registry
from hsm_operator.models.managedhsm import ManagedHSMSpec
from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import (
    Creation,
    Deletion,
    ExternalClient,
    FieldDrift,
    ManagedResource,
    Observation,
    Readiness,
    Update,
)

# Waiting briefly on a long-running operation lets a fast service (or the emulator) finish within one pass;
# a slow one (a real HSM takes ~20 min) is left running and observed again by the loop.
LRO_WAIT_SECONDS = 15.0
LRO_POLL_SECONDS = 1
ACTIVATION_RECHECK = 10.0  # seconds between looks at a provisioned HSM until its security domain activates it
SKU_FAMILY = {"Standard_B1": "B", "Custom_B32": "B", "Custom_B6": "B", "Custom_C42": "C", "Custom_C10": "C"}
READY_STATES = frozenset({"Succeeded", "Activated"})
FAILED_STATES = frozenset({"Failed"})
STATE_REASON = {"Provisioning": "Creating", "Deleting": "Deleting", "Updating": "Updating"}


def azure_name(resource: ManagedResource) -> str:
    spec: ManagedHSMSpec = resource.spec
    return resource.external_name or spec.azure_name or resource.name


def _rg_of(resource_id: str | None) -> str | None:
    """The resource group in an ARM id (case-insensitive segment name)."""
    if not resource_id:
        return None
    parts = resource_id.strip("/").split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower() == "resourcegroups":
            return parts[index + 1]
    return None


def _norm_location(value: Any) -> str:
    return str(value or "").replace(" ", "").lower()


def desired_document(spec: ManagedHSMSpec) -> dict[str, Any]:
    """The ARM body (wire format) of the spec, for PUT."""
    properties: dict[str, Any] = {
        "tenantId": spec.tenant_id,
        "initialAdminObjectIds": list(spec.initial_admin_object_ids),
        "enableSoftDelete": True,
        "softDeleteRetentionInDays": spec.soft_delete_retention_in_days,
        "enablePurgeProtection": spec.enable_purge_protection,
        "publicNetworkAccess": spec.public_network_access.value,
        "createMode": spec.create_mode.value,
    }
    if spec.network_acls is not None:
        properties["networkAcls"] = spec.network_acls.model_dump(by_alias=True, exclude_none=True, mode="json")
    body: dict[str, Any] = {
        "location": spec.location,
        "sku": {"family": SKU_FAMILY[spec.sku.name.value], "name": spec.sku.name.value},
        "properties": properties,
    }
    if spec.tags is not None:
        body["tags"] = dict(spec.tags)
    return body


def diff(spec: ManagedHSMSpec, observed: Mapping[str, Any], *, observed_rg: str | None) -> tuple[FieldDrift, ...]:
    """Field-level differences between the spec and the observed ARM document (wire format)."""
    props: Mapping[str, Any] = observed.get("properties") or {}
    drift: list[FieldDrift] = []

    def immutable(path: str, desired: Any, actual: Any, *, same: bool) -> None:
        if not same:
            drift.append(FieldDrift(path, desired, actual, mutable=False))

    immutable(
        "location",
        spec.location,
        observed.get("location"),
        same=_norm_location(spec.location) == _norm_location(observed.get("location")),
    )
    observed_sku = (observed.get("sku") or {}).get("name")
    immutable("sku.name", spec.sku.name.value, observed_sku, same=str(observed_sku) == spec.sku.name.value)
    observed_tenant = props.get("tenantId")
    immutable("tenantId", spec.tenant_id, observed_tenant, same=str(observed_tenant).lower() == spec.tenant_id.lower())
    observed_admins = sorted(str(a).lower() for a in props.get("initialAdminObjectIds") or [])
    desired_admins = sorted(a.lower() for a in spec.initial_admin_object_ids)
    immutable("initialAdminObjectIds", desired_admins, observed_admins, same=observed_admins == desired_admins)
    retention = props.get("softDeleteRetentionInDays")
    immutable(
        "softDeleteRetentionInDays",
        spec.soft_delete_retention_in_days,
        retention,
        same=retention is None or int(retention) == spec.soft_delete_retention_in_days,
    )

    purge = bool(props.get("enablePurgeProtection", False))
    if purge != spec.enable_purge_protection:
        # Purge protection can be switched on but never off again.
        drift.append(FieldDrift("enablePurgeProtection", spec.enable_purge_protection, purge, mutable=not purge))
    access = props.get("publicNetworkAccess") or "Enabled"
    if str(access) != spec.public_network_access.value:
        drift.append(FieldDrift("publicNetworkAccess", spec.public_network_access.value, str(access)))
    if spec.network_acls is not None:
        wanted = spec.network_acls.model_dump(by_alias=True, exclude_none=True, mode="json")
        actual = props.get("networkAcls") or {}
        for key, value in sorted(wanted.items()):
            if _canonical(actual.get(key)) != _canonical(value):
                drift.append(FieldDrift(f"networkAcls.{key}", value, actual.get(key)))
    if spec.tags is not None:
        observed_tags: Mapping[str, Any] = observed.get("tags") or {}
        for key in sorted(set(spec.tags) | set(observed_tags)):
            if spec.tags.get(key) != observed_tags.get(key):
                drift.append(FieldDrift(f"tags.{key}", spec.tags.get(key), observed_tags.get(key)))
    if observed_rg is not None and observed_rg.lower() != spec.resource_group_name.lower():
        drift.append(FieldDrift("resourceGroupName", spec.resource_group_name, observed_rg))
    return tuple(drift)


def _canonical(value: Any) -> Any:
    """Lists of rules compare as sets (Azure may reorder them)."""
    if isinstance(value, list):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def status_fields(observed: Mapping[str, Any]) -> dict[str, Any]:
    props: Mapping[str, Any] = observed.get("properties") or {}
    security_domain: Mapping[str, Any] = props.get("securityDomainProperties") or {}
    fields = {
        "resourceId": observed.get("id"),
        "hsmUri": props.get("hsmUri"),
        "provisioningState": props.get("provisioningState"),
        "statusMessage": props.get("statusMessage"),
        "activationStatus": security_domain.get("activationStatus"),
        "scheduledPurgeDate": props.get("scheduledPurgeDate"),
    }
    return {key: value for key, value in fields.items() if value is not None}


def readiness(observed: Mapping[str, Any]) -> tuple[Readiness, bool]:
    """Ready from provisioningState, and whether an operation is in flight (busy)."""
    props: Mapping[str, Any] = observed.get("properties") or {}
    state = str(props.get("provisioningState") or "")
    message = str(props.get("statusMessage") or "")
    if state in READY_STATES:
        return Readiness(True, errors.AVAILABLE, message), False
    if state in FAILED_STATES:
        return Readiness(False, errors.UNAVAILABLE, message or "Provisioning failed"), False
    return Readiness(False, STATE_REASON.get(state, state or errors.UNAVAILABLE), message or state), True


class ManagedHsmClient:
    """`ExternalClient` for one ManagedHSM, bound to the management identity's SDK clients."""

    def __init__(self, runtime: Runtime, spec: ManagedHSMSpec) -> None:
        self._runtime = runtime
        self._hsms = runtime.azure.keyvault_management(spec.subscription_id).managed_hsms
        self._subscription = spec.subscription_id

    async def _get(self, resource_group: str, name: str) -> dict[str, Any] | None:
        try:
            found = await self._hsms.get(resource_group, name)
        except ResourceNotFoundError:
            return None
        return dict(found.as_dict()) if found is not None else None

    async def observe(self, resource: ManagedResource) -> Observation:
        spec: ManagedHSMSpec = resource.spec
        name = azure_name(resource)
        observed = await self._get(spec.resource_group_name, name)
        if observed is None:
            # A resource-group change is a move: the HSM may still sit in the group recorded in status.
            previous_rg = _rg_of(resource.status.get("resourceId"))
            if previous_rg is not None and previous_rg.lower() != spec.resource_group_name.lower():
                observed = await self._get(previous_rg, name)
        if observed is None:
            return Observation(exists=False, soft_deleted=await self._soft_deleted(name, spec.location))
        ready, busy = readiness(observed)
        status = status_fields(observed)
        return Observation(
            exists=True,
            drift=diff(spec, observed, observed_rg=_rg_of(observed.get("id"))),
            status=status,
            readiness=ready,
            identity=observed.get("id"),
            busy=busy,
            # Activation happens in the data plane (HSMSecurityDomain), which this controller cannot watch: poll a
            # provisioned but not yet activated HSM briefly so its ACTIVATION column follows within seconds.
            recheck_after=ACTIVATION_RECHECK if ready.ready and status.get("activationStatus") != "Active" else None,
        )

    async def _soft_deleted(self, name: str, location: str) -> bool:
        try:
            await self._hsms.get_deleted(name, location.replace(" ", "").lower())
        except ResourceNotFoundError:
            return False
        return True

    async def create(self, resource: ManagedResource) -> Creation:
        spec: ManagedHSMSpec = resource.spec
        body = desired_document(spec)
        poller = await self._hsms.begin_create_or_update(
            spec.resource_group_name, azure_name(resource), ManagedHsm(body), polling_interval=LRO_POLL_SECONDS
        )
        result = await _briefly(poller)
        recovered = spec.create_mode.value == "recover"
        if result is None:
            return Creation(pending=True, recovered=recovered)
        document = dict(result.as_dict())
        return Creation(status=status_fields(document), identity=document.get("id"), recovered=recovered)

    async def update(self, resource: ManagedResource, drift: tuple[FieldDrift, ...]) -> Update:
        spec: ManagedHSMSpec = resource.spec
        name = azure_name(resource)
        paths = {d.path.split(".", 1)[0] for d in drift}
        if "resourceGroupName" in paths:
            source = next(str(d.observed) for d in drift if d.path == "resourceGroupName")
            await self._move(resource, source)
            paths.discard("resourceGroupName")
            if not paths:
                return Update()
        patch: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        if "tags" in paths and spec.tags is not None:
            patch["tags"] = dict(spec.tags)
        if "publicNetworkAccess" in paths:
            properties["publicNetworkAccess"] = spec.public_network_access.value
        if "enablePurgeProtection" in paths:
            properties["enablePurgeProtection"] = spec.enable_purge_protection
        if "networkAcls" in paths and spec.network_acls is not None:
            properties["networkAcls"] = spec.network_acls.model_dump(by_alias=True, exclude_none=True, mode="json")
        if properties:
            patch["properties"] = properties
        poller = await self._hsms.begin_update(
            spec.resource_group_name, name, ManagedHsm(patch), polling_interval=LRO_POLL_SECONDS
        )
        result = await _briefly(poller)
        if result is None:
            return Update(pending=True)
        return Update(status=status_fields(dict(result.as_dict())))

    async def _move(self, resource: ManagedResource, source_rg: str) -> None:
        spec: ManagedHSMSpec = resource.spec
        resource_id = resource.status.get("resourceId") or (
            f"/subscriptions/{self._subscription}/resourceGroups/{source_rg}"
            f"/providers/Microsoft.KeyVault/managedHSMs/{azure_name(resource)}"
        )
        resources = self._runtime.azure.resource_management(self._subscription).resources
        poller = await resources.begin_move_resources(
            source_rg,
            {
                "resources": [resource_id],
                "targetResourceGroup": f"/subscriptions/{self._subscription}/resourceGroups/{spec.resource_group_name}",
            },
            polling_interval=LRO_POLL_SECONDS,
        )
        await _briefly(poller)

    async def delete(self, resource: ManagedResource) -> Deletion:
        spec: ManagedHSMSpec = resource.spec
        resource_group = _rg_of(resource.status.get("resourceId")) or spec.resource_group_name
        try:
            poller = await self._hsms.begin_delete(
                resource_group, azure_name(resource), polling_interval=LRO_POLL_SECONDS
            )
        except ResourceNotFoundError:
            return Deletion()
        done = await _briefly(poller, want_result=False)
        return Deletion(pending=not done)


async def _briefly(poller: Any, *, want_result: bool = True) -> Any:
    """Wait up to LRO_WAIT_SECONDS for a poller; None (or False) when it is still running (the loop re-observes)."""
    try:
        result = await asyncio.wait_for(poller.result(), timeout=LRO_WAIT_SECONDS)
    except TimeoutError:
        return None if want_result else False
    return result if want_result else True


class ManagedHsmConnector:
    """Connects with the management identity from the environment (never a namespace's Secret)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def connect(self, resource: ManagedResource) -> ExternalClient:
        return ManagedHsmClient(self._runtime, resource.spec)


KIND = KindSpec(
    resource=registry.BY_KIND["ManagedHSM"],
    plane=Plane.MANAGEMENT,
    connector=ManagedHsmConnector,
    identity_field="resourceId",
)

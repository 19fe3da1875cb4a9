"""The managed HSM lifecycle: create, update, soft delete, recover, purge, move; and what the data plane reads.

Provisioning is a point in time, not a background task: an HSM stores `ready_at` and shows `Provisioning` (or
`Updating`) until the clock passes it, so pollers really poll, nothing is lost on a restart, and no task can die
half way. Every function takes the caller's transaction, so a request commits all of its changes or none.

For the data plane (which must not reach into these tables itself):
- `get_hsm_by_port(db, port)` -> `ManagedHsmRecord | None`: the live HSM bound to a data-plane port; None when the
  port is free or its HSM is soft-deleted (a deleted HSM's data plane stops answering).
- `mark_activated(db, hsm_id)`: the security-domain download activated the HSM (ARM then shows `Active`).
- Data-plane tables should reference `arm_managed_hsms(hsm_id) ON DELETE CASCADE`: a purge then removes the HSM's
  keys and role assignments in the same transaction. `hsm_id` never changes, not even when the HSM moves.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hsm_emulator.management import arm_errors, models, store, timefmt
from hsm_emulator.storage import Database, Transaction

HSM_TYPE = "Microsoft.KeyVault/managedHSMs"
DELETED_HSM_TYPE = "Microsoft.KeyVault/deletedManagedHSMs"
SECONDS_PER_DAY = 86400.0

_HSM_NAME = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")


class ProvisioningState:
    SUCCEEDED = "Succeeded"
    PROVISIONING = "Provisioning"
    UPDATING = "Updating"


class ActivationStatus:
    ACTIVE = "Active"
    NOT_ACTIVATED = "NotActivated"


@dataclass(frozen=True)
class ManagementSettings:
    """What the lifecycle needs from the emulator's configuration."""

    advertised_host: str
    hsm_ports: tuple[int, ...]
    provisioning_seconds: float = 0.3
    retry_after_seconds: int = 1

    def hsm_uri(self, port: int) -> str:
        host = f"[{self.advertised_host}]" if ":" in self.advertised_host else self.advertised_host
        return f"https://{host}:{port}/"


@dataclass(frozen=True)
class ManagedHsmRecord:
    """The data plane's view of one HSM (see the module docstring)."""

    id: str
    name: str
    resource_id: str
    tenant_id: str
    location: str
    hsm_port: int
    initial_admin_object_ids: tuple[str, ...]
    soft_delete_retention_days: int
    purge_protection: bool
    activation_status: str
    status: str


def is_valid_hsm_name(name: str) -> bool:
    return _HSM_NAME.match(name) is not None


def effective_state(hsm: store.HsmRow, now: float) -> str:
    return hsm.pending_state if now < hsm.ready_at else ProvisioningState.SUCCEEDED


def normalize_location(location: str) -> str:
    """ARM stores 'West US' as 'westus'."""
    return location.replace(" ", "").lower()


def _record(hsm: store.HsmRow, now: float) -> ManagedHsmRecord:
    return ManagedHsmRecord(
        id=hsm.hsm_id,
        name=hsm.name,
        resource_id=hsm.resource_id,
        tenant_id=hsm.tenant_id,
        location=hsm.location,
        hsm_port=hsm.hsm_port,
        initial_admin_object_ids=hsm.initial_admin_object_ids,
        soft_delete_retention_days=hsm.soft_delete_retention_days,
        purge_protection=hsm.purge_protection,
        activation_status=hsm.activation_status,
        status=effective_state(hsm, now),
    )


# --- the data plane's entry points -----------------------------------------------------------------------------


def get_hsm_by_port(db: Database, port: int, now: float | None = None) -> ManagedHsmRecord | None:
    """The live HSM bound to `port`, or None (free port, or its HSM is soft-deleted or past its purge date)."""
    current = time.time() if now is None else now
    with db.read() as tx:
        hsm = store.hsm_by_port(tx, port)
    if hsm is None or hsm.deleted_at is not None:
        return None
    return _record(hsm, current)


def mark_activated(db: Database, hsm_id: str) -> None:
    """Record that the HSM's security domain was downloaded; ARM then reports `activationStatus: Active`."""
    with db.transaction() as tx:
        if not store.set_activation_status(tx, hsm_id, ActivationStatus.ACTIVE):
            raise LookupError(f"no managed HSM with id {hsm_id}")


# --- lifecycle -------------------------------------------------------------------------------------------------


def expire_purgeable(tx: Transaction, now: float) -> None:
    """Soft-deleted HSMs past their scheduled purge date are gone, as the service purges them itself."""
    tx.execute("DELETE FROM arm_managed_hsms WHERE scheduled_purge_at IS NOT NULL AND scheduled_purge_at <= ?", (now,))


def require_resource_group(tx: Transaction, subscription_id: str, resource_group: str) -> store.ResourceGroup:
    group = store.get_resource_group(tx, subscription_id, resource_group)
    if group is None:
        raise arm_errors.resource_group_not_found(resource_group)
    return group


def get_live(tx: Transaction, subscription_id: str, resource_group: str, name: str) -> store.HsmRow:
    hsm = find_live(tx, subscription_id, resource_group, name)
    if hsm is None:
        raise arm_errors.resource_not_found(HSM_TYPE, name, resource_group)
    return hsm


def find_live(tx: Transaction, subscription_id: str, resource_group: str, name: str) -> store.HsmRow | None:
    hsm = store.hsm_by_name(tx, name)
    if (
        hsm is None
        or hsm.deleted_at is not None
        or hsm.subscription_id.lower() != subscription_id.lower()
        or hsm.resource_group.lower() != resource_group.lower()
    ):
        return None
    return hsm


def create_or_update(
    tx: Transaction,
    settings: ManagementSettings,
    *,
    caller: str,
    subscription_tenant: str,
    subscription_id: str,
    resource_group: str,
    name: str,
    body: models.ManagedHsmBody,
    now: float,
) -> store.HsmRow:
    """PUT: create a new HSM, recover a soft-deleted one (`createMode: recover`), or update an existing one."""
    if not is_valid_hsm_name(name):
        raise arm_errors.invalid_hsm_name(name)
    group = require_resource_group(tx, subscription_id, resource_group)
    properties = body.properties or models.ManagedHsmProperties()
    if body.location is None or not body.location.strip():
        raise arm_errors.bad_request("The 'location' property is required to create or update a managed HSM.")
    location = normalize_location(body.location)
    existing = store.hsm_by_name(tx, name)
    if existing is not None and existing.deleted_at is not None:
        if properties.create_mode != "recover":
            raise arm_errors.name_soft_deleted(name)
        return _recover(tx, settings, existing, caller, subscription_id, group, location, now)
    if properties.create_mode == "recover":
        raise arm_errors.bad_request(
            f"No deleted managed HSM named '{name}' exists to recover (createMode 'recover' needs one)."
        )
    if existing is not None:
        if existing.subscription_id.lower() != subscription_id.lower() or existing.resource_group.lower() != (
            resource_group.lower()
        ):
            raise arm_errors.name_in_use(name)
        return _update_by_put(tx, settings, existing, caller, location, body, now)
    return _create(tx, settings, caller, subscription_tenant, subscription_id, group, name, location, body, now)


def _create(
    tx: Transaction,
    settings: ManagementSettings,
    caller: str,
    subscription_tenant: str,
    subscription_id: str,
    group: store.ResourceGroup,
    name: str,
    location: str,
    body: models.ManagedHsmBody,
    now: float,
) -> store.HsmRow:
    properties = body.properties or models.ManagedHsmProperties()
    if body.sku is None:
        raise arm_errors.bad_request("The 'sku' property is required to create a managed HSM.")
    if properties.tenant_id is None:
        raise arm_errors.bad_request("The 'properties.tenantId' property is required to create a managed HSM.")
    if properties.tenant_id.lower() != subscription_tenant.lower():
        raise arm_errors.bad_request(
            f"The tenant id '{properties.tenant_id}' does not match the tenant '{subscription_tenant}' of "
            f"subscription '{subscription_id}'. A managed HSM must use its subscription's tenant."
        )
    if not properties.initial_admin_object_ids:
        raise arm_errors.bad_request(
            "The 'properties.initialAdminObjectIds' property must list at least one object id: they become the "
            "HSM's only data-plane administrators."
        )
    if properties.enable_soft_delete is False:
        raise arm_errors.bad_request("Soft delete is always enabled for managed HSMs; 'enableSoftDelete' must be true.")
    port = _free_port(tx, settings)
    hsm = store.HsmRow(
        hsm_id=str(uuid.uuid4()),
        name=name,
        subscription_id=subscription_id,
        resource_group=group.name,
        location=location,
        tenant_id=properties.tenant_id,
        sku_family=body.sku.family,
        sku_name=body.sku.name,
        tags=dict(body.tags or {}),
        initial_admin_object_ids=tuple(dict.fromkeys(item.lower() for item in properties.initial_admin_object_ids)),
        soft_delete_retention_days=properties.soft_delete_retention_in_days or 90,
        purge_protection=True if properties.enable_purge_protection is None else properties.enable_purge_protection,
        public_network_access=properties.public_network_access or "Enabled",
        network_acls=properties.network_acls.wire() if properties.network_acls else None,
        hsm_port=port,
        activation_status=ActivationStatus.NOT_ACTIVATED,
        pending_state=ProvisioningState.PROVISIONING,
        ready_at=now + settings.provisioning_seconds,
        created_at=now,
        created_by=caller,
        updated_at=now,
        updated_by=caller,
        deleted_at=None,
        scheduled_purge_at=None,
    )
    store.insert_hsm(tx, hsm)
    return hsm


def _free_port(tx: Transaction, settings: ManagementSettings) -> int:
    used = store.used_ports(tx)
    for port in settings.hsm_ports:
        if port not in used:
            return port
    raise arm_errors.port_pool_exhausted(len(settings.hsm_ports))


def _recover(
    tx: Transaction,
    settings: ManagementSettings,
    deleted: store.HsmRow,
    caller: str,
    subscription_id: str,
    group: store.ResourceGroup,
    location: str,
    now: float,
) -> store.HsmRow:
    if deleted.subscription_id.lower() != subscription_id.lower() or deleted.resource_group.lower() != (
        group.name.lower()
    ):
        raise arm_errors.bad_request(
            f"The deleted managed HSM '{deleted.name}' can only be recovered into its original resource group "
            f"'{deleted.resource_group}' of subscription '{deleted.subscription_id}'."
        )
    if location != deleted.location:
        raise arm_errors.location_change(deleted.name, deleted.location, location, deleted.resource_group)
    recovered = replace(
        deleted,
        deleted_at=None,
        scheduled_purge_at=None,
        pending_state=ProvisioningState.PROVISIONING,
        ready_at=now + settings.provisioning_seconds,
        updated_at=now,
        updated_by=caller,
    )
    store.replace_hsm(tx, recovered)
    return recovered


def _update_by_put(
    tx: Transaction,
    settings: ManagementSettings,
    existing: store.HsmRow,
    caller: str,
    location: str,
    body: models.ManagedHsmBody,
    now: float,
) -> store.HsmRow:
    if location != existing.location:
        raise arm_errors.location_change(existing.name, existing.location, location, existing.resource_group)
    properties = body.properties or models.ManagedHsmProperties()
    if body.sku is not None and (body.sku.name, body.sku.family) != (existing.sku_name, existing.sku_family):
        raise arm_errors.bad_request("The SKU of a managed HSM cannot be changed after creation.")
    if properties.tenant_id is not None and properties.tenant_id.lower() != existing.tenant_id.lower():
        raise arm_errors.bad_request("The tenant id of a managed HSM cannot be changed after creation.")
    if properties.initial_admin_object_ids is not None and {
        item.lower() for item in properties.initial_admin_object_ids
    } != set(existing.initial_admin_object_ids):
        raise arm_errors.bad_request(
            "The 'initialAdminObjectIds' of a managed HSM are set at creation only; manage administrators with the "
            "HSM's local RBAC instead."
        )
    updated = _apply_mutable(existing, body, keep_tags_when_absent=False)
    return _commit_update(tx, settings, updated, caller, now)


def update(
    tx: Transaction,
    settings: ManagementSettings,
    *,
    caller: str,
    subscription_id: str,
    resource_group: str,
    name: str,
    body: models.ManagedHsmBody,
    now: float,
) -> store.HsmRow:
    """PATCH: tags, networkAcls, publicNetworkAccess, enablePurgeProtection (one way)."""
    existing = get_live(tx, subscription_id, resource_group, name)
    if body.location is not None and normalize_location(body.location) != existing.location:
        raise arm_errors.location_change(
            existing.name, existing.location, normalize_location(body.location), existing.resource_group
        )
    if body.sku is not None and (body.sku.name, body.sku.family) != (existing.sku_name, existing.sku_family):
        raise arm_errors.bad_request("The SKU of a managed HSM cannot be changed after creation.")
    properties = body.properties or models.ManagedHsmProperties()
    if properties.create_mode == "recover":
        raise arm_errors.bad_request("createMode 'recover' is only valid in a PUT of a deleted managed HSM.")
    if properties.tenant_id is not None and properties.tenant_id.lower() != existing.tenant_id.lower():
        raise arm_errors.bad_request("The tenant id of a managed HSM cannot be changed after creation.")
    updated = _apply_mutable(existing, body, keep_tags_when_absent=True)
    return _commit_update(tx, settings, updated, caller, now)


def _apply_mutable(existing: store.HsmRow, body: models.ManagedHsmBody, *, keep_tags_when_absent: bool) -> store.HsmRow:
    properties = body.properties or models.ManagedHsmProperties()
    if properties.enable_soft_delete is False:
        raise arm_errors.bad_request("Soft delete is always enabled for managed HSMs; 'enableSoftDelete' must be true.")
    if (
        properties.soft_delete_retention_in_days is not None
        and properties.soft_delete_retention_in_days != existing.soft_delete_retention_days
    ):
        raise arm_errors.bad_request(
            "The property 'softDeleteRetentionInDays' cannot be changed after the managed HSM is created."
        )
    purge_protection = existing.purge_protection
    if properties.enable_purge_protection is not None:
        if existing.purge_protection and not properties.enable_purge_protection:
            raise arm_errors.bad_request(
                'The property "enablePurgeProtection" cannot be set to false. Enabling the purge protection for a '
                "vault is an irreversible action."
            )
        purge_protection = properties.enable_purge_protection
    tags = existing.tags if body.tags is None and keep_tags_when_absent else dict(body.tags or {})
    return replace(
        existing,
        tags=tags,
        purge_protection=purge_protection,
        public_network_access=properties.public_network_access or existing.public_network_access,
        network_acls=properties.network_acls.wire() if properties.network_acls else existing.network_acls,
    )


def _commit_update(
    tx: Transaction, settings: ManagementSettings, updated: store.HsmRow, caller: str, now: float
) -> store.HsmRow:
    pending = updated.pending_state if now < updated.ready_at else ProvisioningState.UPDATING
    final = replace(
        updated,
        pending_state=pending,
        ready_at=max(updated.ready_at, now + settings.provisioning_seconds),
        updated_at=now,
        updated_by=caller,
    )
    store.replace_hsm(tx, final)
    return final


def soft_delete(tx: Transaction, *, subscription_id: str, resource_group: str, name: str, now: float) -> bool:
    """Soft-delete; False when there is no such live HSM (ARM then answers 204). The port stays reserved."""
    hsm = find_live(tx, subscription_id, resource_group, name)
    if hsm is None:
        return False
    store.replace_hsm(
        tx,
        replace(hsm, deleted_at=now, scheduled_purge_at=now + hsm.soft_delete_retention_days * SECONDS_PER_DAY),
    )
    return True


def get_deleted(tx: Transaction, *, subscription_id: str, location: str, name: str) -> store.HsmRow:
    hsm = store.hsm_by_name(tx, name)
    if (
        hsm is None
        or hsm.deleted_at is None
        or hsm.subscription_id.lower() != subscription_id.lower()
        or hsm.location != normalize_location(location)
    ):
        raise arm_errors.deleted_hsm_not_found(name, location)
    return hsm


def purge(tx: Transaction, *, subscription_id: str, location: str, name: str, now: float) -> store.HsmRow:
    """Hard-delete a soft-deleted HSM (and, by cascade, its data plane); refused under purge protection."""
    hsm = get_deleted(tx, subscription_id=subscription_id, location=location, name=name)
    if hsm.purge_protection and hsm.scheduled_purge_at is not None and now < hsm.scheduled_purge_at:
        raise arm_errors.purge_protected(hsm.name, timefmt.timestamp(hsm.scheduled_purge_at))
    store.delete_hsm_row(tx, hsm.hsm_id)
    return hsm


def check_name(tx: Transaction, name: str) -> dict[str, object]:
    """`checkMhsmNameAvailability`: invalid names and names held by live or soft-deleted HSMs are unavailable."""
    if not is_valid_hsm_name(name):
        return {"nameAvailable": False, "reason": "AccountNameInvalid", "message": arm_errors.HSM_NAME_RULE}
    existing = store.hsm_by_name(tx, name)
    if existing is None:
        return {"nameAvailable": True}
    state = "a soft-deleted" if existing.deleted_at is not None else "an existing"
    return {
        "nameAvailable": False,
        "reason": "AlreadyExists",
        "message": f"The name '{name}' is already in use by {state} managed HSM.",
    }


def move_hsms(
    tx: Transaction, *, subscription_id: str, source_group: str, target_group: str, names: Sequence[str], now: float
) -> list[tuple[str, str]]:
    """Move live HSMs between resource groups of one subscription; returns (old id, new id) pairs.

    Role assignments at or below a moved HSM follow it (ARM moves resource-scoped assignments with the resource).
    """
    target = require_resource_group(tx, subscription_id, target_group)
    moved: list[tuple[str, str]] = []
    for name in names:
        hsm = get_live(tx, subscription_id, source_group, name)
        relocated = replace(hsm, resource_group=target.name, updated_at=now)
        store.replace_hsm(tx, relocated)
        store.move_role_assignments(tx, hsm.resource_id.lower(), relocated.resource_id)
        moved.append((hsm.resource_id, relocated.resource_id))
    return moved

"""`Microsoft.Resources`: resource groups and moving managed HSMs between them.

Deleting a resource group that still holds live managed HSMs is refused (409 `ResourceGroupNotEmpty`): real ARM
would cascade the delete, but an emulator that silently soft-deletes HSMs with a group hides mistakes in tests.
Soft-deleted HSMs do not block (they no longer belong to a group), and role assignments at or below a deleted
group are removed with it.

A move (`moveResources`) needs `.../resourceGroups/moveResources/action` on the source group and
`.../resourceGroups/write` on the target group; it stays within one subscription, changes the resource ids and
carries resource-scoped role assignments along.
"""

from __future__ import annotations

import json

from fastapi import Response

from hsm_emulator.management import arm_errors, models, operations, rbac, scopes, service, store, wire
from hsm_emulator.management.dispatch import ApiVersions, ArmCall, RouteTable
from hsm_emulator.management.routes_hsm import begin
from hsm_emulator.storage import Transaction

RESOURCES_VERSIONS = ApiVersions(
    resource_type="resourceGroups",
    supported=(
        "2019-10-01",
        "2020-06-01",
        "2020-10-01",
        "2021-01-01",
        "2021-04-01",
        "2022-09-01",
        "2023-07-01",
        "2024-03-01",
        "2024-07-01",
        "2024-11-01",
        "2025-01-01",
        "2025-03-01",
        "2025-04-01",
    ),
    provider_registered=False,
)

RG_READ = "Microsoft.Resources/subscriptions/resourceGroups/read"
RG_WRITE = "Microsoft.Resources/subscriptions/resourceGroups/write"
RG_DELETE = "Microsoft.Resources/subscriptions/resourceGroups/delete"
RG_MOVE = "Microsoft.Resources/subscriptions/resourceGroups/moveResources/action"
RG_VALIDATE_MOVE = "Microsoft.Resources/subscriptions/resourceGroups/validateMoveResources/action"

_SUB = r"/subscriptions/(?P<subscription>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<group>[^/]+)"


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def _group_scope(call: ArmCall) -> str:
    return scopes.resource_group_scope(call.params["subscription"], call.params["group"])


async def get_group(call: ArmCall) -> Response:
    with call.emulator.db.read() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, RG_READ, _group_scope(call))
        group = service.require_resource_group(tx, call.params["subscription"], call.params["group"])
    return _json(wire.resource_group(group))


async def head_group(call: ArmCall) -> Response:
    with call.emulator.db.read() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, RG_READ, _group_scope(call))
        group = store.get_resource_group(tx, call.params["subscription"], call.params["group"])
    return Response(status_code=204 if group is not None else 404)


async def put_group(call: ArmCall) -> Response:
    with call.emulator.db.transaction() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, RG_WRITE, _group_scope(call))
        body = call.body(models.ResourceGroupBody)
        name = call.params["group"]
        if not (1 <= len(name) <= 90) or name.endswith("."):
            raise arm_errors.bad_request(
                f"Resource group name '{name}' is invalid: 1-90 characters, not ending in a period."
            )
        location = service.normalize_location(body.location)
        existing = store.get_resource_group(tx, call.params["subscription"], name)
        if existing is not None and existing.location != location:
            raise arm_errors.bad_request(
                f"Invalid resource group location '{location}'. The Resource group already exists in location "
                f"'{existing.location}'."
            )
        group = store.ResourceGroup(
            call.params["subscription"], existing.name if existing else name, location, dict(body.tags or {})
        )
        store.put_resource_group(tx, group)
    return _json(wire.resource_group(group), 200 if existing is not None else 201)


async def patch_group(call: ArmCall) -> Response:
    with call.emulator.db.transaction() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, RG_WRITE, _group_scope(call))
        body = call.body(models.ResourceGroupPatchBody)
        existing = service.require_resource_group(tx, call.params["subscription"], call.params["group"])
        group = store.ResourceGroup(
            existing.subscription_id,
            existing.name,
            existing.location,
            existing.tags if body.tags is None else dict(body.tags),
        )
        store.put_resource_group(tx, group)
    return _json(wire.resource_group(group))


async def delete_group(call: ArmCall) -> Response:
    with call.emulator.db.transaction() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, RG_DELETE, _group_scope(call))
        group = service.require_resource_group(tx, call.params["subscription"], call.params["group"])
        live = store.live_hsms(tx, group.subscription_id, group.name)
        if live:
            raise arm_errors.resource_group_not_empty(group.name, len(live))
        store.delete_resource_group(tx, group.subscription_id, group.name)
        store.delete_role_assignments_at_or_below(tx, scopes.normalize(_group_scope(call)))
    return Response(status_code=200)


async def list_groups(call: ArmCall) -> Response:
    subscription_scope = scopes.subscription_scope(call.params["subscription"])
    with call.emulator.db.read() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, RG_READ, subscription_scope)
        groups = store.list_resource_groups(tx, call.params["subscription"])
    return _json({"value": [wire.resource_group(group) for group in groups]})


def _move_plan(tx: Transaction, call: ArmCall, body: models.MoveBody) -> tuple[str, list[str]]:
    """Check a move request; returns the target group name and the HSM names to move."""
    subscription = call.params["subscription"]
    service.require_resource_group(tx, subscription, call.params["group"])
    try:
        target = scopes.parse(body.target_resource_group)
    except scopes.InvalidScope:
        raise arm_errors.bad_request(
            f"The target resource group '{body.target_resource_group}' is not a resource group id."
        ) from None
    if target.level is not scopes.ScopeLevel.RESOURCE_GROUP or target.resource_group is None:
        raise arm_errors.bad_request(
            f"The target resource group '{body.target_resource_group}' is not a resource group id."
        )
    if (target.subscription or "").lower() != subscription.lower():
        raise arm_errors.bad_request("Moving resources to another subscription is not supported by this emulator.")
    if target.resource_group.lower() == call.params["group"].lower():
        raise arm_errors.bad_request("The source and target resource groups are the same.")
    rbac.authorize(tx, call.principal, RG_WRITE, target.text)
    service.require_resource_group(tx, subscription, target.resource_group)
    names: list[str] = []
    for resource_id in body.resources:
        try:
            resource = scopes.parse(resource_id)
        except scopes.InvalidScope:
            raise arm_errors.bad_request(f"'{resource_id}' is not a resource id.") from None
        parts = scopes.tidy(resource_id).strip("/").split("/")
        if (
            resource.level is not scopes.ScopeLevel.RESOURCE
            or (resource.subscription or "").lower() != subscription.lower()
            or (resource.resource_group or "").lower() != call.params["group"].lower()
            or len(parts) != 8
            or f"{parts[5]}/{parts[6]}".lower() != service.HSM_TYPE.lower()
        ):
            raise arm_errors.bad_request(
                f"The resource '{resource_id}' is not a managed HSM in resource group '{call.params['group']}'; "
                "this emulator moves managed HSMs only."
            )
        service.get_live(tx, subscription, call.params["group"], parts[7])
        names.append(parts[7])
    return target.resource_group, names


async def move_resources(call: ArmCall) -> Response:
    with call.emulator.db.transaction() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, RG_MOVE, _group_scope(call))
        body = call.body(models.MoveBody)
        target_group, names = _move_plan(tx, call, body)
        service.move_hsms(
            tx,
            subscription_id=call.params["subscription"],
            source_group=call.params["group"],
            target_group=target_group,
            names=names,
            now=call.now,
        )
        operation = operations.start(
            tx, call, subscription_id=call.params["subscription"], location="", target_scope=_group_scope(call)
        )
    return operations.accepted(call, operation)


async def validate_move(call: ArmCall) -> Response:
    with call.emulator.db.transaction() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, RG_VALIDATE_MOVE, _group_scope(call))
        body = call.body(models.MoveBody)
        _move_plan(tx, call, body)
        operation = operations.start(
            tx, call, subscription_id=call.params["subscription"], location="", target_scope=_group_scope(call)
        )
    return operations.accepted(call, operation)


async def operation_result(call: ArmCall) -> Response:
    return operations.poll(call, call.params["operation"], keyvault=False)


def register(table: RouteTable) -> None:
    table.add("GET", _RG, RESOURCES_VERSIONS, get_group)
    table.add("HEAD", _RG, RESOURCES_VERSIONS, head_group)
    table.add("PUT", _RG, RESOURCES_VERSIONS, put_group)
    table.add("PATCH", _RG, RESOURCES_VERSIONS, patch_group)
    table.add("DELETE", _RG, RESOURCES_VERSIONS, delete_group)
    table.add("GET", _SUB + r"/resourceGroups", RESOURCES_VERSIONS, list_groups)
    table.add("POST", _RG + r"/moveResources", RESOURCES_VERSIONS, move_resources)
    table.add("POST", _RG + r"/validateMoveResources", RESOURCES_VERSIONS, validate_move)
    table.add("GET", _SUB + r"/operationresults/(?P<operation>[^/]+)", RESOURCES_VERSIONS, operation_result)

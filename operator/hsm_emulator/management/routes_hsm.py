"""`Microsoft.KeyVault/managedHSMs` over ARM: thin handlers (authorize, validate, call the service, render).

Each handler runs in one transaction: the authorization decision, the change and the operation record commit
together before the response is sent, so an acknowledged write survives a crash and a refused one leaves nothing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import Response

from hsm_emulator.management import arm_errors, models, operations, rbac, scopes, service, store, wire
from hsm_emulator.management.dispatch import API_VERSION, ApiVersions, ArmCall, RouteTable
from hsm_emulator.storage import Transaction

HSM_VERSIONS = ApiVersions(
    resource_type="managedHSMs",
    # 2026-05-15 is what the installed azure-mgmt-keyvault (14.x) sends by default; same shapes as 2025-05-01.
    supported=("2023-07-01", "2024-11-01", "2025-05-01", "2026-05-15"),
    provider_registered=True,
)
DELETED_VERSIONS = ApiVersions("deletedManagedHSMs", HSM_VERSIONS.supported, True)
OPERATION_VERSIONS = ApiVersions("locations/managedHsmOperationResults", HSM_VERSIONS.supported, True)
NAME_CHECK_VERSIONS = ApiVersions("checkMhsmNameAvailability", HSM_VERSIONS.supported, True)

READ = "Microsoft.KeyVault/managedHSMs/read"
WRITE = "Microsoft.KeyVault/managedHSMs/write"
DELETE = "Microsoft.KeyVault/managedHSMs/delete"
DELETED_LIST = "Microsoft.KeyVault/deletedManagedHsms/read"
DELETED_READ = "Microsoft.KeyVault/locations/deletedManagedHsms/read"
PURGE = "Microsoft.KeyVault/locations/deletedManagedHsms/purge/action"
CHECK_NAME = "Microsoft.KeyVault/checkMhsmNameAvailability/read"
DEFAULT_PAGE = 100

_SUB = r"/subscriptions/(?P<subscription>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<group>[^/]+)"
_KV = r"/providers/Microsoft\.KeyVault"


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def begin(tx: Transaction, call: ArmCall) -> None:
    """Per-call preamble: the subscription must exist, the caller must be of its tenant."""
    subscription = store.get_subscription(tx, call.params["subscription"])
    if subscription is None:
        raise arm_errors.subscription_not_found(call.params["subscription"])
    rbac.require_subscription_tenant(tx, call.principal, subscription.id, call.emulator.settings.main_url)
    if tx.writable:
        service.expire_purgeable(tx, call.now)


def _hsm_scope(call: ArmCall) -> str:
    return (
        f"/subscriptions/{call.params['subscription']}/resourceGroups/{call.params['group']}"
        f"/providers/Microsoft.KeyVault/managedHSMs/{call.params['name']}"
    )


async def get_hsm(call: ArmCall) -> Response:
    with call.emulator.db.read() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, READ, _hsm_scope(call))
        hsm = service.get_live(tx, call.params["subscription"], call.params["group"], call.params["name"])
    return _json(wire.managed_hsm(hsm, call.settings, call.now))


async def put_hsm(call: ArmCall) -> Response:
    with call.emulator.db.transaction() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, WRITE, _hsm_scope(call))
        body = call.body(models.ManagedHsmBody)
        subscription = store.get_subscription(tx, call.params["subscription"])
        assert subscription is not None
        hsm = service.create_or_update(
            tx,
            call.settings,
            caller=call.principal.object_id,
            subscription_tenant=subscription.tenant_id,
            subscription_id=subscription.id,
            resource_group=call.params["group"],
            name=call.params["name"],
            body=body,
            now=call.now,
        )
        operation = operations.start(
            tx, call, subscription_id=subscription.id, location=hsm.location, target_scope=hsm.resource_id
        )
    return operations.accepted(call, operation, wire.managed_hsm(hsm, call.settings, call.now))


async def patch_hsm(call: ArmCall) -> Response:
    with call.emulator.db.transaction() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, WRITE, _hsm_scope(call))
        body = call.body(models.ManagedHsmBody)
        hsm = service.update(
            tx,
            call.settings,
            caller=call.principal.object_id,
            subscription_id=call.params["subscription"],
            resource_group=call.params["group"],
            name=call.params["name"],
            body=body,
            now=call.now,
        )
        operation = operations.start(
            tx, call, subscription_id=hsm.subscription_id, location=hsm.location, target_scope=hsm.resource_id
        )
    return operations.accepted(call, operation, wire.managed_hsm(hsm, call.settings, call.now))


async def delete_hsm(call: ArmCall) -> Response:
    with call.emulator.db.transaction() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, DELETE, _hsm_scope(call))
        existing = service.find_live(tx, call.params["subscription"], call.params["group"], call.params["name"])
        if existing is None:
            return Response(status_code=204)
        service.soft_delete(
            tx,
            subscription_id=call.params["subscription"],
            resource_group=call.params["group"],
            name=call.params["name"],
            now=call.now,
        )
        operation = operations.start(
            tx,
            call,
            subscription_id=existing.subscription_id,
            location=existing.location,
            target_scope=existing.resource_id,
        )
    return operations.accepted(call, operation)


def _page(call: ArmCall, items: list[dict[str, Any]]) -> Response:
    """`$top` pages with an absolute nextLink carrying `$skiptoken` (the SDK follows nextLink verbatim)."""
    top_text = call.query("$top")
    try:
        top = int(top_text) if top_text is not None else DEFAULT_PAGE
        skip = int(call.query("$skiptoken") or 0)
    except ValueError:
        raise arm_errors.bad_request("The query parameters '$top' and '$skiptoken' must be integers.") from None
    if top < 1 or skip < 0:
        raise arm_errors.bad_request("The query parameter '$top' must be a positive integer.")
    page = items[skip : skip + top]
    body: dict[str, Any] = {"value": page}
    if skip + top < len(items):
        query = {API_VERSION: call.query(API_VERSION) or "", "$top": top, "$skiptoken": skip + top}
        body["nextLink"] = f"{call.base_url}{call.request.url.path}?{urlencode(query)}"
    return _json(body)


async def list_in_group(call: ArmCall) -> Response:
    with call.emulator.db.read() as tx:
        begin(tx, call)
        scope = scopes.resource_group_scope(call.params["subscription"], call.params["group"])
        rbac.authorize(tx, call.principal, READ, scope)
        service.require_resource_group(tx, call.params["subscription"], call.params["group"])
        hsms = store.live_hsms(tx, call.params["subscription"], call.params["group"])
    return _page(call, [wire.managed_hsm(hsm, call.settings, call.now) for hsm in hsms])


async def list_in_subscription(call: ArmCall) -> Response:
    with call.emulator.db.read() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, READ, scopes.subscription_scope(call.params["subscription"]))
        hsms = store.live_hsms(tx, call.params["subscription"])
    return _page(call, [wire.managed_hsm(hsm, call.settings, call.now) for hsm in hsms])


async def list_deleted(call: ArmCall) -> Response:
    with call.emulator.db.read() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, DELETED_LIST, scopes.subscription_scope(call.params["subscription"]))
        hsms = [hsm for hsm in store.deleted_hsms(tx, call.params["subscription"]) if not _expired(hsm, call.now)]
    return _page(call, [wire.deleted_managed_hsm(hsm) for hsm in hsms])


def _expired(hsm: store.HsmRow, now: float) -> bool:
    return hsm.scheduled_purge_at is not None and hsm.scheduled_purge_at <= now


def _deleted_scope(call: ArmCall) -> str:
    return wire.deleted_hsm_id(call.params["subscription"], call.params["location"], call.params["name"])


async def get_deleted(call: ArmCall) -> Response:
    with call.emulator.db.read() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, DELETED_READ, _deleted_scope(call))
        hsm = service.get_deleted(
            tx, subscription_id=call.params["subscription"], location=call.params["location"], name=call.params["name"]
        )
        if _expired(hsm, call.now):
            raise arm_errors.deleted_hsm_not_found(call.params["name"], call.params["location"])
    return _json(wire.deleted_managed_hsm(hsm))


async def purge_deleted(call: ArmCall) -> Response:
    with call.emulator.db.transaction() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, PURGE, _deleted_scope(call))
        hsm = service.purge(
            tx,
            subscription_id=call.params["subscription"],
            location=call.params["location"],
            name=call.params["name"],
            now=call.now,
        )
        operation = operations.start(
            tx, call, subscription_id=hsm.subscription_id, location=hsm.location, target_scope=_deleted_scope(call)
        )
    return operations.accepted(call, operation)


async def check_name(call: ArmCall) -> Response:
    with call.emulator.db.read() as tx:
        begin(tx, call)
        rbac.authorize(tx, call.principal, CHECK_NAME, scopes.subscription_scope(call.params["subscription"]))
        body = call.body(models.CheckNameBody)
        return _json(service.check_name(tx, body.name))


async def operation_result(call: ArmCall) -> Response:
    return operations.poll(call, call.params["operation"], keyvault=True)


def register(table: RouteTable) -> None:
    hsm = _RG + _KV + r"/managedHSMs/(?P<name>[^/]+)"
    table.add("GET", hsm, HSM_VERSIONS, get_hsm)
    table.add("PUT", hsm, HSM_VERSIONS, put_hsm)
    table.add("PATCH", hsm, HSM_VERSIONS, patch_hsm)
    table.add("DELETE", hsm, HSM_VERSIONS, delete_hsm)
    table.add("GET", _RG + _KV + r"/managedHSMs", HSM_VERSIONS, list_in_group)
    table.add("GET", _SUB + _KV + r"/managedHSMs", HSM_VERSIONS, list_in_subscription)
    table.add("GET", _SUB + _KV + r"/deletedManagedHSMs", DELETED_VERSIONS, list_deleted)
    deleted = _SUB + _KV + r"/locations/(?P<location>[^/]+)/deletedManagedHSMs/(?P<name>[^/]+)"
    table.add("GET", deleted, DELETED_VERSIONS, get_deleted)
    table.add("POST", deleted + "/purge", DELETED_VERSIONS, purge_deleted)
    table.add("POST", _SUB + _KV + r"/checkMhsmNameAvailability", NAME_CHECK_VERSIONS, check_name)
    operation = _SUB + _KV + r"/locations/(?P<location>[^/]+)/managedHsmOperationResults/(?P<operation>[^/]+)"
    table.add("GET", operation, OPERATION_VERSIONS, operation_result)

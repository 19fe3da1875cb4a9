"""Long-running operations as ARM pollers expect them.

A mutating call answers 202 with `Azure-AsyncOperation` and `Location` (the same status URL) and `Retry-After`.
azure-mgmt-core's ARM poller reads the status URL until `status` is terminal, then (PUT/PATCH) GETs the resource;
a Location poller sees 202 until done, then 200. Completion is a stored point in time (`completes_at`), so a
restart neither loses nor hangs an operation.

Who may poll: the caller that started the operation, or anyone allowed to read its target (the status URL sits at
subscription scope, where a caller holding a resource-scoped role has no rights; ARM lets such callers poll).
"""

from __future__ import annotations

import json
import uuid

from fastapi import Response

from hsm_emulator.management import arm_errors, rbac, store, wire
from hsm_emulator.management.dispatch import API_VERSION, ArmCall
from hsm_emulator.storage import Transaction

KEYVAULT_OPERATION_READ = "Microsoft.KeyVault/locations/managedHsmOperationResults/read"
RESOURCES_OPERATION_READ = "Microsoft.Resources/subscriptions/operationresults/read"


def start(
    tx: Transaction, call: ArmCall, *, subscription_id: str, location: str, target_scope: str
) -> store.OperationRow:
    operation = store.OperationRow(
        id=str(uuid.uuid4()),
        subscription_id=subscription_id,
        location=location,
        target_scope=target_scope,
        initiator_object_id=call.principal.object_id,
        started_at=call.now,
        completes_at=call.now + call.settings.provisioning_seconds,
    )
    store.insert_operation(tx, operation)
    return operation


def status_url(call: ArmCall, operation: store.OperationRow) -> str:
    version = call.query(API_VERSION) or ""
    if operation.location:
        path = (
            f"/subscriptions/{operation.subscription_id}/providers/Microsoft.KeyVault/locations/{operation.location}"
            f"/managedHsmOperationResults/{operation.id}"
        )
    else:
        path = f"/subscriptions/{operation.subscription_id}/operationresults/{operation.id}"
    return f"{call.base_url}{path}?{API_VERSION}={version}"


def accepted(call: ArmCall, operation: store.OperationRow, body: object | None = None) -> Response:
    url = status_url(call, operation)
    headers = {
        "Azure-AsyncOperation": url,
        "Location": url,
        "Retry-After": str(call.settings.retry_after_seconds),
    }
    content = b"" if body is None else json.dumps(body).encode()
    media = "application/json" if body is not None else None
    return Response(content=content, status_code=202, headers=headers, media_type=media)


def poll(call: ArmCall, operation_id: str, *, keyvault: bool) -> Response:
    with call.emulator.db.read() as tx:
        operation = store.get_operation(tx, operation_id)
        if operation is None or operation.subscription_id.lower() != call.params["subscription"].lower():
            raise arm_errors.operation_not_found(operation_id)
        if operation.initiator_object_id.lower() != call.principal.object_id.lower():
            action = KEYVAULT_OPERATION_READ if keyvault else RESOURCES_OPERATION_READ
            rbac.authorize(tx, call.principal, action, operation.target_scope)
    body = wire.operation_status(operation, call.now)
    if body["status"] == "InProgress":
        url = status_url(call, operation)
        headers = {"Location": url, "Retry-After": str(call.settings.retry_after_seconds)}
        return Response(json.dumps(body), status_code=202, headers=headers, media_type="application/json")
    return Response(json.dumps(body), status_code=200, media_type="application/json")

"""The data plane's error vocabulary: the codes and messages the real Managed HSM answers with.

Each helper returns an ``AzureError`` (rendered by the app's one handler as ``{"error": {code, message,
innererror}}``). Where the real service appends ``(Activity ID: <id>)`` to a message (RBAC errors, access denials),
so do we, and the same id goes into the ``x-ms-request-id`` header of that response.
"""

from __future__ import annotations

import uuid

from hsm_emulator.errors import AzureError

BAD_PARAMETER = "BadParameter"


def _with_activity_id(status: int, code: str, message: str, inner_code: str | None = None) -> AzureError:
    activity_id = str(uuid.uuid4())
    return AzureError(
        f"{message} (Activity ID: {activity_id})",
        code=code,
        inner_code=inner_code,
        status=status,
        headers={"x-ms-request-id": activity_id},
    )


def bad_parameter(message: str, inner_code: str | None = None) -> AzureError:
    return AzureError(message, code=BAD_PARAMETER, inner_code=inner_code, status=400)


def rbac_bad_parameter(message: str) -> AzureError:
    return _with_activity_id(400, BAD_PARAMETER, message)


def key_not_found(name: str) -> AzureError:
    return AzureError(f"Key not found: {name}", code="KeyNotFound", status=404)


def deleted_key_not_found(name: str) -> AzureError:
    return AzureError(f"Deleted Key not found: {name}", code="KeyNotFound", status=404)


def deleted_but_recoverable(name: str) -> AzureError:
    return AzureError(
        f"Key {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state,"
        " the key can only be recovered or purged.",
        code="Conflict",
        inner_code="ObjectIsDeletedButRecoverable",
        status=409,
    )


def forbidden(message: str, inner_code: str | None = None) -> AzureError:
    return AzureError(message, code="Forbidden", inner_code=inner_code, status=403)


def access_denied(data_action: str, scope: str) -> AzureError:
    return _with_activity_id(403, "AccessDenied", f"Not authorized to access {data_action} on {scope}")


def role_assignment_not_found() -> AzureError:
    return _with_activity_id(404, "RoleAssignmentNotFound", "Requested role assignment not found")


def role_definition_not_found() -> AzureError:
    return _with_activity_id(404, "RoleDefinitionNotFound", "Requested role definition not found")


def conflict(message: str, inner_code: str | None = None) -> AzureError:
    return AzureError(message, code="Conflict", inner_code=inner_code, status=409)

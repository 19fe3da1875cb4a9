"""Deterministic GUID names for role definitions and role assignments.

Why this module exists: Managed HSM names role definitions and assignments by a caller-chosen GUID. If the operator
picked a random one (the SDK's default is uuid4), a restart between "create sent" and "status written" would create a
duplicate. A UUIDv5 of what identifies the object makes every create idempotent: re-applying the same CR, or the
same assignment in a fresh cluster, addresses the same object, and "already exists" becomes adoption.
"""

from __future__ import annotations

import uuid

# Fixed forever: changing it would rename every object the operator ever created.
MHSM_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://mhsm.dev/")


def role_definition_name(namespace: str, name: str) -> str:
    """Default `roleDefinitionName` of an HSMRoleDefinition: UUIDv5 of `<namespace>/<name>`."""
    return str(uuid.uuid5(MHSM_NAMESPACE, f"roledefinition:{namespace}/{name}"))


def role_assignment_name(hsm_uri: str, scope: str, role_definition_id: str, principal_id: str) -> str:
    """Default `assignmentName` of an HSMRoleAssignment: UUIDv5 of HSM + scope + role + principal.

    The parts are normalised (HSM URL without trailing slash, lower case; role id without leading slash, lower case;
    principal lower case) so that spellings the service treats as equal give the same name.
    """
    parts = (
        hsm_uri.rstrip("/").lower(),
        scope,
        role_definition_id.lstrip("/").lower(),
        principal_id.lower(),
    )
    return str(uuid.uuid5(MHSM_NAMESPACE, "roleassignment:" + "|".join(parts)))

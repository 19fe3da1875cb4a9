"""The one decision of the data plane: may this principal perform this data action at this scope?

Every data-plane call ends in :func:`decide` (through ``rbac_service.authorize``), never in ad-hoc checks inside
routes. The rules are Azure RBAC's, restricted to what Managed HSM has:

- a principal is allowed when one of its assignments (made to it or to a group it is currently a member of) sits at
  a scope that covers the target, and that assignment's role grants the action;
- a role grants an action when some permission lists it in ``dataActions`` and that same permission does not list it
  in ``notDataActions`` (``*`` wildcards allowed, case-insensitive); there are no deny assignments;
- members of the tenant's Global Administrator role are implicitly Managed HSM Administrators at ``/`` (recovery).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from hsm_emulator.dataplane import roles, scopes


@dataclass(frozen=True)
class EffectiveAssignment:
    """An assignment as the decision sees it: where it applies and which role it grants."""

    scope: str
    role: roles.RoleDefinition


@lru_cache(maxsize=4096)
def _pattern(action_pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in action_pattern.split("*")) + "$", re.IGNORECASE)


def _matches_any(action: str, patterns: Iterable[str]) -> bool:
    return any(_pattern(pattern).match(action) for pattern in patterns)


def role_grants(role: roles.RoleDefinition, data_action: str) -> bool:
    """Whether ``role`` grants ``data_action`` (dataActions minus notDataActions, permission by permission)."""
    return any(
        _matches_any(data_action, permission.data_actions)
        and not _matches_any(data_action, permission.not_data_actions)
        for permission in role.permissions
    )


IMPLICIT_ADMINISTRATOR = EffectiveAssignment(scopes.HSM_SCOPE, roles.BUILT_IN_ROLES_BY_NAME[roles.ADMINISTRATOR_ID])


def decide(
    assignments: Iterable[EffectiveAssignment],
    data_action: str,
    target_scope: str,
    *,
    is_global_admin: bool,
) -> bool:
    """The decision itself, pure: ``assignments`` are those of the principal and of its current groups."""
    candidates = [IMPLICIT_ADMINISTRATOR, *assignments] if is_global_admin else assignments
    return any(
        scopes.covers(assignment.scope, target_scope) and role_grants(assignment.role, data_action)
        for assignment in candidates
    )

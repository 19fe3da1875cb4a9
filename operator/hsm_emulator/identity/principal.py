"""The authenticated caller, as every plane sees it after `authenticate()`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PrincipalKind = Literal["User", "ServicePrincipal", "ManagedIdentity"]


@dataclass(frozen=True)
class Principal:
    """Who is calling, read from the CURRENT directory (not from the token's claims).

    `group_ids` holds every group the principal belongs to, directly or through nested groups, at the time of the
    request; `is_global_admin` is true when the principal (or one of its groups) is a Global Administrator of the
    tenant (implicit Managed HSM Administrator, for recovery).
    """

    tenant_id: str
    object_id: str
    kind: PrincipalKind
    app_id: str | None
    display_name: str
    group_ids: frozenset[str]
    is_global_admin: bool

    @property
    def principal_type(self) -> Literal["User", "ServicePrincipal"]:
        """The `principalType` Azure RBAC reports: managed identities are service principals there."""
        return "User" if self.kind == "User" else "ServicePrincipal"

    def object_ids(self) -> frozenset[str]:
        """The ids a role assignment may name to reach this caller: itself and all its groups."""
        return self.group_ids | {self.object_id}

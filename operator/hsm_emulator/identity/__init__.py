"""Emulated Entra ID: the directory, the token endpoint, OIDC discovery, JWKS, the Graph-style directory API and
the one token check every plane uses.

What other parts use (see docs/emulator-design.md, "Identity and authorization"):
- `authenticate(request, audience, tenant_id=None) -> Principal` and the audiences `DATA_PLANE`, `ARM`, `GRAPH`;
  FastAPI dependencies `ArmPrincipal` / `GraphPrincipal` (data plane: call `authenticate` with the HSM's tenant).
- `Principal`: tenant_id, object_id, kind, app_id, group_ids (current membership), is_global_admin.
- `directory.get_object(tx, object_id)` to check that a principal named in a role assignment exists.
"""

from hsm_emulator.identity.audiences import ARM, DATA_PLANE, GRAPH, ApiAudience
from hsm_emulator.identity.auth import ArmPrincipal, GraphPrincipal, authenticate
from hsm_emulator.identity.principal import Principal, PrincipalKind

__all__ = [
    "ARM",
    "DATA_PLANE",
    "GRAPH",
    "ApiAudience",
    "ArmPrincipal",
    "GraphPrincipal",
    "Principal",
    "PrincipalKind",
    "authenticate",
]

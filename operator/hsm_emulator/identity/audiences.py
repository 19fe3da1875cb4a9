"""Token audiences: which `scope` yields which `aud`, and which audiences each API accepts.

Entra turns the scope `<resource>/.default` into the resource's registered audience; the audiences below are the
ones the real service uses for the resources the emulator knows. An unknown resource is refused at the token
endpoint (AADSTS500011), like Entra does for a resource that is not in the tenant.
"""

from __future__ import annotations

from dataclasses import dataclass

from hsm_emulator.errors import ErrorStyle

MANAGED_HSM_RESOURCE = "https://managedhsm.azure.net"
ARM_RESOURCE = "https://management.azure.com/"
ARM_LEGACY_RESOURCE = "https://management.core.windows.net/"
GRAPH_RESOURCE = "https://graph.microsoft.com"
TOKEN_EXCHANGE_RESOURCE = "api://AzureADTokenExchange"
KEY_VAULT_RESOURCE = "https://vault.azure.net"

# Keyed by the resource without trailing slashes: the scope may be written either way.
_AUDIENCE_BY_RESOURCE = {
    resource.rstrip("/"): resource
    for resource in (
        MANAGED_HSM_RESOURCE,
        ARM_RESOURCE,
        ARM_LEGACY_RESOURCE,
        GRAPH_RESOURCE,
        TOKEN_EXCHANGE_RESOURCE,
        KEY_VAULT_RESOURCE,
    )
}

# Scopes MSAL adds for user sign-ins; they ask for an id token / refresh token, not for a resource.
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
DEFAULT_SUFFIX = "/.default"


class ScopeError(ValueError):
    """The scope parameter names no resource, several, or one the emulator does not know."""


def audience_for_scope(scope: str) -> str:
    """'https://managedhsm.azure.net/.default' -> 'https://managedhsm.azure.net'."""
    resources = [s for s in scope.split() if s not in OIDC_SCOPES]
    if len(resources) != 1:
        raise ScopeError(
            "The provided value for the input parameter 'scope' is not valid: "
            "it must name exactly one resource as '<resource>/.default'."
        )
    requested = resources[0]
    if not requested.endswith(DEFAULT_SUFFIX):
        raise ScopeError(
            f"The provided value for the input parameter 'scope' is not valid: '{requested}' "
            "(only '<resource>/.default' scopes are supported)."
        )
    resource = requested[: -len(DEFAULT_SUFFIX)].rstrip("/")
    audience = _AUDIENCE_BY_RESOURCE.get(resource)
    if audience is None:
        raise ScopeError(f"The resource principal named {resource} was not found in the tenant.")
    return audience


def wants_id_token(scope: str) -> bool:
    return "openid" in scope.split()


@dataclass(frozen=True)
class ApiAudience:
    """An API surface that accepts tokens: the audiences it takes and how its auth errors look."""

    name: str
    accepted: frozenset[str]
    style: ErrorStyle

    def describe_accepted(self) -> str:
        return ",".join(f"'{a}'" for a in sorted(self.accepted))


DATA_PLANE = ApiAudience("data plane", frozenset({MANAGED_HSM_RESOURCE}), ErrorStyle.DATA_PLANE)
ARM = ApiAudience(
    "management plane",
    frozenset({ARM_RESOURCE, ARM_RESOURCE.rstrip("/"), ARM_LEGACY_RESOURCE}),
    ErrorStyle.ARM,
)
GRAPH = ApiAudience("directory", frozenset({GRAPH_RESOURCE, GRAPH_RESOURCE + "/"}), ErrorStyle.GRAPH)

"""The connector every data-plane kind shares: resolve the HSM, load the namespace's credential, bind SDK clients.

Why this module exists: ARCHITECTURE.md decision 3 says a data-plane CR acts only with the identity named by its own
`spec.credentialRef`, in its own namespace, so a namespace can never make the operator a confused deputy. Putting
the connect sequence in one place makes that rule hold for all four kinds by construction:

1. `hsm_target.resolve`: the HSM must be Ready (and activated, except for the kind that activates it); otherwise
   `WaitingForHSM`, and nothing is sent to the HSM.
2. the credential from `spec.credentialRef` in `resource.namespace` (a missing Secret or key is
   `CredentialsMissing`, again before any HSM call); never the operator's own identity.
3. SDK clients for that (HSM, credential) pair, cached by the runtime.

The runtime (`DataPlaneRuntime`) is what the operator core provides: Kubernetes access, credential loading and the
SDK client cache. Kinds see only this Protocol, so their tests can hand in a fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from azure.core.exceptions import HttpResponseError

from hsm_operator.kinds import hsm_target
from hsm_operator.kinds.cluster_objects import ClusterObjects
from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import ExternalClient, ManagedResource


class DataPlaneRuntime(Protocol):
    """Operator-wide services a data-plane connector needs (implemented by the operator core's wiring)."""

    @property
    def cluster(self) -> ClusterObjects: ...

    async def credential(self, namespace: str, secret_name: str) -> Any:
        """An async azure-identity credential from the Secret; raises `errors.CredentialsMissing`."""
        ...

    def key_client(self, hsm_uri: str, credential: Any) -> Any: ...

    def access_control_client(self, hsm_uri: str, credential: Any) -> Any: ...

    def security_domain_client(self, hsm_uri: str, credential: Any) -> Any: ...


@dataclass(frozen=True)
class DataPlane:
    """One pass's view of an HSM: where it is, and SDK clients bound to the CR namespace's credential."""

    runtime: DataPlaneRuntime
    target: hsm_target.HsmTarget
    credential: Any

    @property
    def cluster(self) -> ClusterObjects:
        return self.runtime.cluster

    @property
    def uri(self) -> str:
        return self.target.uri

    def keys(self) -> Any:
        """`azure.keyvault.keys.aio.KeyClient`."""
        return self.runtime.key_client(self.target.uri, self.credential)

    def access_control(self) -> Any:
        """`azure.keyvault.administration.aio.KeyVaultAccessControlClient`."""
        return self.runtime.access_control_client(self.target.uri, self.credential)

    def security_domain(self) -> Any:
        """`azure.keyvault.securitydomain.aio.SecurityDomainClient`."""
        return self.runtime.security_domain_client(self.target.uri, self.credential)


ClientFactory = Callable[[DataPlane, ManagedResource], ExternalClient]


class DataPlaneConnector:
    """`ExternalConnector` for data-plane kinds; `require_active=False` only for the kind that activates HSMs."""

    def __init__(self, runtime: DataPlaneRuntime, make_client: ClientFactory, *, require_active: bool = True) -> None:
        self._runtime = runtime
        self._make_client = make_client
        self._require_active = require_active

    async def connect(self, resource: ManagedResource) -> ExternalClient:
        spec = resource.spec
        target = await hsm_target.resolve(
            self._runtime.cluster, resource.namespace, spec, require_active=self._require_active
        )
        credential = await self._runtime.credential(resource.namespace, spec.credential_ref.name)
        return self._make_client(DataPlane(self._runtime, target, credential), resource)


def error_code(error: HttpResponseError) -> str | None:
    """The service's error code (`error.code` of the Azure error body), if any."""
    code = getattr(error, "error", None)
    value = getattr(code, "code", None)
    return str(value) if value else None


@asynccontextmanager
async def waiting_if_not_activated(target: hsm_target.HsmTarget) -> AsyncIterator[None]:
    """Turn "this HSM is not activated" answers into `WaitingForHSM` (for HSMs given by `spec.hsmUri`).

    Only errors whose code/message say so are converted; every other error passes through to the loop's mapping
    (403 -> AuthorizationFailed, 429 -> Throttled, ...).
    """
    try:
        yield
    except HttpResponseError as error:
        if error.status_code in (400, 403, 409, 503) and hsm_target.not_activated(error_code(error), error.message):
            raise errors.WaitingForHSM(f"HSM {target.uri} is not activated yet: {error.message}") from None
        raise

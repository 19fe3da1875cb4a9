"""Factories for the official async Azure SDK clients, cached for the operator's lifetime and closed on shutdown.

Why this module exists: building an SDK client means a new HTTP session and a new token cache; doing that per
reconcile would cost a token request per pass and leak sessions. Here each client is built once per
(subscription) for the management plane, and per (client type, HSM, credential) for the data plane, with the
endpoint, CA bundle (`connection_verify`) and challenge-resource check taken from `OperatorConfig`. Credentials are
cached per Secret fingerprint, so a rotated Secret gets a fresh credential (and fresh clients) automatically. Every
client gets an `AzureRequestCounter` (per retry) feeding `hsm_operator_azure_requests_total{service=...}`, where
`service` is the client's key below (`keyvault_management`, `resource_management`, `keys`, `access_control`, ...).

With a CA bundle (HSM_CA_BUNDLE) every client gets its own aiohttp session whose connector holds one SSLContext built
from the bundle, instead of `connection_verify=<path>`: azure-core's aiohttp transport builds a new SSLContext from a
path on every request and aiohttp pools connections per context object, so every request opened a new TCP + TLS
connection (bench/bench_operator_scale.py: ~5.6 handshakes per HSMKey created, the operator's main CPU cost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport
from azure.keyvault.administration.aio import KeyVaultAccessControlClient, KeyVaultBackupClient
from azure.keyvault.keys.aio import KeyClient
from azure.keyvault.securitydomain.aio import SecurityDomainClient
from azure.mgmt.keyvault.aio import KeyVaultManagementClient
from azure.mgmt.resource.resources.aio import ResourceManagementClient

from hsm_operator.azure import credentials
from hsm_operator.azure.request_metrics import AzureRequestCounter
from hsm_operator.metrics import Metrics
from hsm_operator.settings import ARM_SCOPE, OperatorConfig

logger = logging.getLogger(__name__)

_DATA_CLIENTS: dict[str, type[Any]] = {
    "keys": KeyClient,
    "access_control": KeyVaultAccessControlClient,
    "backup": KeyVaultBackupClient,
    "security_domain": SecurityDomainClient,
}


class PooledTlsTransport(AioHttpTransport):  # type: ignore[misc]  # azure-core is untyped for mypy here
    """azure-core's aiohttp transport, verifying servers with one given SSLContext set on the connection pool.

    The session is made on first use (aiohttp needs the running event loop) with the options azure-core gives the
    sessions it owns, and is closed with the client, as azure-core's own is.
    """

    session: aiohttp.ClientSession | None

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self._context = context

    async def open(self) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._context),
                trust_env=True,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        await super().open()


class AzureClients:
    """The operator-wide cache of credentials and SDK clients."""

    def __init__(self, config: OperatorConfig, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else Metrics()
        self._management_credential: Any = None
        self._management: dict[tuple[str, str], Any] = {}
        self._credentials: dict[str, Any] = {}
        self._data: dict[tuple[str, str, int], Any] = {}
        self._ssl_context: ssl.SSLContext | None = None

    # -- management plane -------------------------------------------------------------------------------------------

    def _tls(self) -> dict[str, Any]:
        """The TLS options of one new client: `connection_verify`, or a transport whose pool keeps connections."""
        verify = self.config.connection_verify
        if isinstance(verify, bool):
            return {"connection_verify": verify}
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=verify)
        return {"transport": PooledTlsTransport(self._ssl_context)}

    def _counted(self, service: str) -> dict[str, Any]:
        """Right after the retry policy: each attempt is counted once, with the status its caller saw."""
        return {"per_retry_policies": [AzureRequestCounter(self.metrics, service)]}

    def _arm_options(self, service: str) -> dict[str, Any]:
        return {
            "base_url": self.config.arm_endpoint,
            "credential_scopes": [ARM_SCOPE],
            **self._tls(),
            **self._counted(service),
        }

    def _arm_credential(self) -> Any:
        if self._management_credential is None:
            self._management_credential = credentials.management_credential(self.config)
        return self._management_credential

    def keyvault_management(self, subscription_id: str) -> KeyVaultManagementClient:
        key = ("keyvault", subscription_id)
        if key not in self._management:
            self._management[key] = KeyVaultManagementClient(
                self._arm_credential(), subscription_id, **self._arm_options("keyvault_management")
            )
        client: KeyVaultManagementClient = self._management[key]
        return client

    def resource_management(self, subscription_id: str) -> ResourceManagementClient:
        """For resource moves (`moveResources`) between resource groups."""
        key = ("resources", subscription_id)
        if key not in self._management:
            self._management[key] = ResourceManagementClient(
                self._arm_credential(), subscription_id, **self._arm_options("resource_management")
            )
        client: ResourceManagementClient = self._management[key]
        return client

    # -- data plane -------------------------------------------------------------------------------------------------

    def data_credential(self, secret: credentials.ServicePrincipalSecret) -> Any:
        """One credential (and token cache) per distinct service principal secret."""
        fingerprint = secret.fingerprint
        if fingerprint not in self._credentials:
            self._credentials[fingerprint] = credentials.service_principal_credential(secret, self.config)
        return self._credentials[fingerprint]

    def _data_client(self, kind: str, hsm_uri: str, credential: Any) -> Any:
        # The credential objects are themselves cached, so their identity is a stable part of the key.
        key = (kind, hsm_uri.rstrip("/").lower(), id(credential))
        if key not in self._data:
            self._data[key] = _DATA_CLIENTS[kind](
                hsm_uri,
                credential,
                verify_challenge_resource=self.config.verify_challenge_resource,
                **self._tls(),
                **self._counted(kind),
            )
        return self._data[key]

    def key_client(self, hsm_uri: str, credential: Any) -> Any:
        return self._data_client("keys", hsm_uri, credential)

    def access_control_client(self, hsm_uri: str, credential: Any) -> Any:
        return self._data_client("access_control", hsm_uri, credential)

    def backup_client(self, hsm_uri: str, credential: Any) -> Any:
        return self._data_client("backup", hsm_uri, credential)

    def security_domain_client(self, hsm_uri: str, credential: Any) -> Any:
        return self._data_client("security_domain", hsm_uri, credential)

    # -- lifecycle --------------------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close every client and credential (their aiohttp sessions); called from kopf's cleanup handler."""
        closables = [*self._management.values(), *self._data.values(), *self._credentials.values()]
        if self._management_credential is not None:
            closables.append(self._management_credential)
        self._management.clear()
        self._data.clear()
        self._credentials.clear()
        self._management_credential = None
        for closable in closables:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(closable.close(), timeout=5)

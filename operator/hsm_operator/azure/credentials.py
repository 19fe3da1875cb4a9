"""azure-identity credentials for the two planes.

Why this module exists: ARCHITECTURE.md decision 3. The management controller uses its own identity from the
environment (`ClientSecretCredential`, or `WorkloadIdentityCredential` when AZURE_FEDERATED_TOKEN_FILE is set);
a data-plane CR uses only the service principal in the Secret its `spec.credentialRef` names, in its own namespace,
and never falls back to the management identity. Missing pieces are `CredentialsMissing` with a message naming
exactly what is absent (never the secret value).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from azure.identity.aio import ClientSecretCredential, WorkloadIdentityCredential
from pydantic import BaseModel, ConfigDict

from hsm_operator.reconciler import errors
from hsm_operator.settings import OperatorConfig

SECRET_KEYS = ("tenantId", "clientId", "clientSecret")


class ServicePrincipalSecret(BaseModel):
    """The contents of a data-plane credential Secret (CONTRACT.md §3)."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    tenant_id: str
    client_id: str
    client_secret: str

    @property
    def fingerprint(self) -> str:
        """A stable cache key for this identity that does not reveal the secret."""
        material = "\0".join((self.tenant_id, self.client_id, self.client_secret)).encode()
        return hashlib.sha256(material).hexdigest()[:32]

    def __repr__(self) -> str:  # never print the secret
        return f"ServicePrincipalSecret(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"


def parse_secret(data: Mapping[str, bytes] | None, *, namespace: str, name: str) -> ServicePrincipalSecret:
    """Validate the Secret's data; `CredentialsMissing` names the Secret and the missing or empty keys."""
    if data is None:
        raise errors.CredentialsMissing(f"Secret {namespace}/{name} (spec.credentialRef) not found")
    values: dict[str, str] = {}
    missing: list[str] = []
    for key in SECRET_KEYS:
        raw = data.get(key)
        try:
            text = raw.decode("utf-8").strip() if raw else ""
        except UnicodeDecodeError:
            raise errors.CredentialsMissing(f"Secret {namespace}/{name}: key {key} is not UTF-8 text") from None
        if not text:
            missing.append(key)
        values[key] = text
    if missing:
        raise errors.CredentialsMissing(f"Secret {namespace}/{name} lacks key(s) {', '.join(missing)}")
    return ServicePrincipalSecret(
        tenant_id=values["tenantId"], client_id=values["clientId"], client_secret=values["clientSecret"]
    )


def _identity_options(config: OperatorConfig) -> dict[str, Any]:
    options: dict[str, Any] = {"connection_verify": config.connection_verify}
    if config.authority_host is not None:
        options["authority"] = config.authority_host
    if not config.authority_is_public_cloud:
        # A private authority (the emulator, a sovereign test tenant) has no instance-discovery endpoint.
        options["disable_instance_discovery"] = True
    return options


def service_principal_credential(secret: ServicePrincipalSecret, config: OperatorConfig) -> ClientSecretCredential:
    return ClientSecretCredential(secret.tenant_id, secret.client_id, secret.client_secret, **_identity_options(config))


def management_credential(config: OperatorConfig) -> ClientSecretCredential | WorkloadIdentityCredential:
    """The management controller's own identity, from AZURE_* variables."""
    tenant_id, client_id = config.tenant_id, config.client_id
    if not tenant_id or not client_id:
        absent = [name for name, value in (("AZURE_TENANT_ID", tenant_id), ("AZURE_CLIENT_ID", client_id)) if not value]
        raise errors.CredentialsMissing(f"management identity: {', '.join(absent)} not set")
    options = _identity_options(config)
    if config.federated_token_file:
        return WorkloadIdentityCredential(
            tenant_id=tenant_id, client_id=client_id, token_file_path=config.federated_token_file, **options
        )
    if not config.client_secret:
        raise errors.CredentialsMissing("management identity: AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE unset")
    return ClientSecretCredential(tenant_id, client_id, config.client_secret, **options)

"""The operator's configuration: environment variables (CONTRACT.md §3) and kopf's own settings.

Why this module exists: every tunable is read once, validated at the edge (a bad value stops the operator with a
message naming the variable) and then passed around as a frozen object, so no module reads `os.environ` itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import kopf
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

FINALIZER = "mhsm.dev/finalizer"
# kopf keeps its handler progress and the last-handled spec in status (not in annotations), so the operator writes
# nothing but status and its finalizer: GitOps tools see no diff caused by us. The CRDs preserve `status.kopf`.
PROGRESS_FIELD = "status.kopf.progress"
DIFFBASE_FIELD = "status.kopf.lastHandledConfiguration"

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com/.default"
DEFAULT_SYNC_INTERVAL = 600.0
SYNC_INTERVAL_FLOOR = 30.0  # the lowest HSM_SYNC_INTERVAL accepted (tests); production defaults stay at minutes
ANNOTATION_FLOOR = 300.0  # per-object `mhsm.dev/sync-interval` floor, unless HSM_SYNC_INTERVAL is lower still
PUBLIC_AUTHORITIES = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)


class ConfigError(ValueError):
    """A configuration variable has a value the operator cannot use; the message names the variable."""


class OperatorConfig(BaseModel):
    """Environment configuration (names follow the Azure SDK's where one exists)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    authority_host: str | None = None  # AZURE_AUTHORITY_HOST
    tenant_id: str | None = None  # AZURE_TENANT_ID
    client_id: str | None = None  # AZURE_CLIENT_ID
    client_secret: str | None = None  # AZURE_CLIENT_SECRET
    federated_token_file: str | None = None  # AZURE_FEDERATED_TOKEN_FILE
    arm_endpoint: str = DEFAULT_ARM_ENDPOINT  # HSM_ARM_ENDPOINT
    ca_bundle: str | None = None  # HSM_CA_BUNDLE
    sync_interval: float = DEFAULT_SYNC_INTERVAL  # HSM_SYNC_INTERVAL
    verify_challenge_resource: bool = True  # HSM_VERIFY_CHALLENGE_RESOURCE
    metrics_port: int | None = None  # HSM_METRICS_PORT: serve Prometheus /metrics there; None: no server

    @field_validator("sync_interval")
    @classmethod
    def _interval_floor(cls, value: float) -> float:
        if value < SYNC_INTERVAL_FLOOR:
            raise ValueError(f"must be at least {SYNC_INTERVAL_FLOOR:g} seconds")
        return value

    @field_validator("metrics_port")
    @classmethod
    def _port(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 65535:
            raise ValueError("must be a TCP port between 1 and 65535")
        return value

    @field_validator("arm_endpoint", "authority_host")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/") if value is not None else None

    @field_validator("ca_bundle")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None and not os.path.isfile(value):
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def annotation_floor(self) -> float:
        return min(ANNOTATION_FLOOR, self.sync_interval)

    @property
    def authority_is_public_cloud(self) -> bool:
        if self.authority_host is None:
            return True
        host = self.authority_host.removeprefix("https://").split("/", 1)[0]
        return host in PUBLIC_AUTHORITIES

    @property
    def connection_verify(self) -> str | bool:
        """What azure-core's `connection_verify` takes: the CA bundle path, or True for the system trust store."""
        return self.ca_bundle if self.ca_bundle is not None else True


_ENV_NAMES: Mapping[str, str] = {
    "AZURE_AUTHORITY_HOST": "authority_host",
    "AZURE_TENANT_ID": "tenant_id",
    "AZURE_CLIENT_ID": "client_id",
    "AZURE_CLIENT_SECRET": "client_secret",
    "AZURE_FEDERATED_TOKEN_FILE": "federated_token_file",
    "HSM_ARM_ENDPOINT": "arm_endpoint",
    "HSM_CA_BUNDLE": "ca_bundle",
    "HSM_SYNC_INTERVAL": "sync_interval",
    "HSM_VERIFY_CHALLENGE_RESOURCE": "verify_challenge_resource",
    "HSM_METRICS_PORT": "metrics_port",
}


def config_from_env(environ: Mapping[str, str] | None = None) -> OperatorConfig:
    """Read `OperatorConfig` from the environment; empty variables count as unset."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {field: env[name] for name, field in _ENV_NAMES.items() if env.get(name, "").strip()}
    try:
        return OperatorConfig(**values)
    except ValidationError as exc:
        by_field = {field: name for name, field in _ENV_NAMES.items()}
        first = exc.errors()[0]
        name = by_field.get(str(first["loc"][0]), str(first["loc"][0])) if first["loc"] else "configuration"
        raise ConfigError(f"{name}: {first['msg']}") from None


def configure_kopf(settings: kopf.OperatorSettings, *, peering_name: str | None, clusterwide: bool = False) -> None:
    """Apply our choices to kopf's settings (called from the startup handler)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field=PROGRESS_FIELD)
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field=DIFFBASE_FIELD)
    # The loop itself decides retry delays (Retry-After, backoff); this is only kopf's fallback for crashes.
    settings.execution.default_backoff = 30
    # Events carry our own reason constants; kopf's per-log-line events would flood the apiserver.
    settings.posting.enabled = True
    settings.posting.level = 100  # above CRITICAL: no log lines as events; explicit kopf.event() calls still post
    settings.posting.reporting_component = "managed-hsm-operator"
    # Peering: a ClusterKopfPeering when watching all namespaces, else a KopfPeering per namespace (kopf's model).
    settings.peering.standalone = peering_name is None
    settings.peering.name = peering_name or "managed-hsm-operator"
    settings.peering.clusterwide = clusterwide
    # Honour the apiserver's Retry-After (priority & fairness) instead of hammering it.
    settings.networking.enforce_retry_after = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330

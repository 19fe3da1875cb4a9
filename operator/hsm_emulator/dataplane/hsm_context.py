"""What the data plane needs to know about the HSM a request is for, gathered once per request.

Built by the routes from the management plane's HSM record plus this plane's own state (the unsealed master key),
then passed to every service call, so services never look HSMs up themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RETENTION_DAYS = 90


@dataclass(frozen=True)
class HsmContext:
    id: str
    name: str
    tenant_id: str
    base_url: str  # "https://127.0.0.1:8444", no trailing slash: kids and nextLinks start with it
    retention_days: int
    purge_protection: bool
    master_key: bytes

    @property
    def recovery_level(self) -> str:
        """The DeletionRecoveryLevel every key of this HSM reports (AZURE-API.md §5)."""
        base = "Recoverable" if self.retention_days >= MAX_RETENTION_DAYS else "CustomizedRecoverable"
        return base if self.purge_protection else f"{base}+Purgeable"

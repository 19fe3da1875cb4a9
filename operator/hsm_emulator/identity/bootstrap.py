"""Applying the config's `tenants` to the directory: an idempotent upsert run at every start.

Objects named in the config are created or brought back to the config's values (enabled flag, names, password,
secret, federated credentials, group members, Global Administrators). Objects created later through the Graph API
are left alone. A clash with an existing object of another kind or tenant is a config error.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hsm_emulator.config import ConfigError, EmulatorConfig, FederatedCredentialConfig
from hsm_emulator.identity import directory
from hsm_emulator.identity.directory import DirectoryConflict, FederatedCredential
from hsm_emulator.runtime import Emulator
from hsm_emulator.storage import Transaction

CONFIG_SECRET_KEY_ID = "config"


def apply_directory_config(emulator: Emulator, tx: Transaction, config: EmulatorConfig) -> None:
    now = emulator.now()
    for t_index, tenant in enumerate(config.tenants):
        directory.ensure_tenant(tx, tenant.id, now)
        where = f"tenants[{t_index}]"
        for index, user in enumerate(tenant.users):
            _upsert(
                f"{where}.users[{index}]",
                tx,
                object_id=user.objectId,
                tenant_id=tenant.id,
                kind="User",
                display_name=user.displayName or user.userPrincipalName,
                now=now,
                account_enabled=user.accountEnabled,
                user_principal_name=user.userPrincipalName,
            )
            directory.set_password(tx, user.objectId, user.password)
        for index, group in enumerate(tenant.groups):
            _upsert(
                f"{where}.groups[{index}]",
                tx,
                object_id=group.objectId,
                tenant_id=tenant.id,
                kind="Group",
                display_name=group.displayName,
                now=now,
            )
        for index, sp in enumerate(tenant.servicePrincipals):
            _upsert(
                f"{where}.servicePrincipals[{index}]",
                tx,
                object_id=sp.objectId,
                tenant_id=tenant.id,
                kind="ServicePrincipal",
                display_name=sp.displayName,
                now=now,
                account_enabled=sp.accountEnabled,
                app_id=sp.appId,
            )
            if sp.clientSecret is not None:
                directory.set_client_secret(tx, sp.objectId, CONFIG_SECRET_KEY_ID, sp.clientSecret, now, "config")
            directory.replace_federated_credentials(tx, sp.objectId, _credentials(sp.federatedCredentials))
        for index, identity in enumerate(tenant.managedIdentities):
            _upsert(
                f"{where}.managedIdentities[{index}]",
                tx,
                object_id=identity.objectId,
                tenant_id=tenant.id,
                kind="ManagedIdentity",
                display_name=identity.displayName,
                now=now,
                app_id=identity.clientId,
            )
            directory.replace_federated_credentials(tx, identity.objectId, _credentials(identity.federatedCredentials))
        for group in tenant.groups:
            for member in group.members:
                directory.add_member(tx, group.objectId, member)
        for admin in tenant.globalAdministrators:
            directory.add_global_admin(tx, tenant.id, admin)


def _upsert(field: str, tx: Transaction, **fields: Any) -> None:
    try:
        directory.upsert_object(tx, **fields)
    except DirectoryConflict as exc:
        raise ConfigError(field, str(exc)) from None


def _credentials(configured: list[FederatedCredentialConfig]) -> list[FederatedCredential]:
    credentials = []
    for item in configured:
        # A stable default name, so re-applying the same config yields the same rows.
        name = item.name or "config-" + hashlib.sha256(f"{item.issuer}\n{item.subject}".encode()).hexdigest()[:16]
        credentials.append(FederatedCredential(name, item.issuer, item.subject, tuple(item.audiences)))
    return credentials

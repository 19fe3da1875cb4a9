"""The directory's tables. Objects of every kind share one table so an object id is unique across kinds, and
deleting an object cascades to its secrets, federated credentials, memberships and Global Administrator seat."""

from hsm_emulator.storage import Migration

MIGRATIONS = (
    Migration(
        domain="identity",
        version=1,
        statements=(
            "CREATE TABLE identity_tenants (id TEXT PRIMARY KEY, created INTEGER NOT NULL)",
            """CREATE TABLE identity_objects (
                object_id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES identity_tenants(id) ON DELETE CASCADE,
                kind TEXT NOT NULL CHECK (kind IN ('User', 'Group', 'ServicePrincipal', 'ManagedIdentity')),
                display_name TEXT NOT NULL,
                account_enabled INTEGER NOT NULL DEFAULT 1,
                user_principal_name TEXT,
                app_id TEXT,
                password_hash TEXT,
                created INTEGER NOT NULL
            )""",
            "CREATE UNIQUE INDEX identity_objects_upn ON identity_objects (lower(user_principal_name)) "
            "WHERE user_principal_name IS NOT NULL",
            "CREATE UNIQUE INDEX identity_objects_app ON identity_objects (tenant_id, app_id) WHERE app_id IS NOT NULL",
            """CREATE TABLE identity_client_secrets (
                object_id TEXT NOT NULL REFERENCES identity_objects(object_id) ON DELETE CASCADE,
                key_id TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                display_name TEXT,
                created INTEGER NOT NULL,
                PRIMARY KEY (object_id, key_id)
            )""",
            """CREATE TABLE identity_federated_credentials (
                object_id TEXT NOT NULL REFERENCES identity_objects(object_id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                issuer TEXT NOT NULL,
                subject TEXT NOT NULL,
                audiences TEXT NOT NULL,
                PRIMARY KEY (object_id, name)
            )""",
            """CREATE TABLE identity_group_members (
                group_id TEXT NOT NULL REFERENCES identity_objects(object_id) ON DELETE CASCADE,
                member_id TEXT NOT NULL REFERENCES identity_objects(object_id) ON DELETE CASCADE,
                PRIMARY KEY (group_id, member_id)
            )""",
            "CREATE INDEX identity_group_members_member ON identity_group_members (member_id)",
            """CREATE TABLE identity_global_admins (
                tenant_id TEXT NOT NULL REFERENCES identity_tenants(id) ON DELETE CASCADE,
                object_id TEXT NOT NULL REFERENCES identity_objects(object_id) ON DELETE CASCADE,
                PRIMARY KEY (tenant_id, object_id)
            )""",
            """CREATE TABLE identity_signing_keys (
                kid TEXT PRIMARY KEY,
                created INTEGER NOT NULL,
                nonce BLOB NOT NULL,
                sealed_private_key BLOB NOT NULL
            )""",
        ),
    ),
)

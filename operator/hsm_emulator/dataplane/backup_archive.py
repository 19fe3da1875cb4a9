"""The content of a full backup: what is captured, how it is sealed, and how it replaces an HSM's state.

Why this module exists: a full backup must carry every key (all versions, attributes, tags, release policies,
rotation policies, soft-delete state), every custom role definition and every role assignment, readable only by an
HSM that holds the same security domain, and tamper-evident. This module is the pure part of that (no I/O beyond
the database): :func:`capture` snapshots an HSM into an :class:`Archive`, :func:`open_archive` checks and opens one,
:func:`replace_state` / :func:`replace_key` write it back in the caller's single transaction.

Folder layout (two blobs): ``backup.sealed`` holds the state as JSON, sealed (AES-256-GCM) under the HSM master
key with a fixed binding; ``backup.json`` is the manifest (written last, so its presence means the backup is
complete): format version, the source HSM, counts, the security-domain fingerprint (a one-way identifier of the
master key, so a restore into an HSM of another security domain fails with a clear message instead of "corrupt")
and the payload's SHA-256 and size (a truncated or swapped payload is named as such before decryption).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hsm_emulator.crypto import jwk, sealing
from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.dataplane import b64, keys_store, material_codec, rbac_store, roles
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.dataplane.keys_store import KeyVersionRecord
from hsm_emulator.dataplane.rbac_store import StoredAssignment
from hsm_emulator.securitydomain import master_key_fingerprint
from hsm_emulator.storage import Transaction

FORMAT_VERSION = 1
MANIFEST_BLOB = "backup.json"
PAYLOAD_BLOB = "backup.sealed"
_PAYLOAD_BINDING = b"mhsm-full-backup:v1"


class ArchiveError(Exception):
    """The backup cannot be restored here; ``inner_code`` says why (mismatch, corruption, missing key)."""

    def __init__(self, inner_code: str, message: str) -> None:
        super().__init__(message)
        self.inner_code = inner_code
        self.message = message


# ------------------------------------------------------------------------------------------------ wire models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PayloadInfo(_Strict):
    blob: str
    sha256: str
    size: int


class Manifest(_Strict):
    format_version: int = Field(alias="formatVersion")
    source_hsm: str = Field(alias="sourceHsm")
    created: int
    security_domain_fingerprint: str = Field(alias="securityDomainFingerprint")
    key_count: int = Field(alias="keyCount")
    role_definition_count: int = Field(alias="roleDefinitionCount")
    role_assignment_count: int = Field(alias="roleAssignmentCount")
    payload: PayloadInfo


class VersionEntry(_Strict):
    version: str
    kty: str
    key_ops: list[str]
    enabled: bool
    nbf: int | None
    exp: int | None
    created: int
    updated: int
    exportable: bool
    tags: dict[str, str]
    release_policy: dict[str, Any] | None
    public_jwk: dict[str, Any]
    material: str  # base64url of the serialized private JWK (the whole payload is sealed)


class KeyEntry(_Strict):
    name: str
    deleted_date: int | None
    scheduled_purge_date: int | None
    rotation_policy: dict[str, Any] | None
    versions: list[VersionEntry] = Field(min_length=1)


class PermissionEntry(_Strict):
    actions: list[str]
    not_actions: list[str] = Field(alias="notActions")
    data_actions: list[str] = Field(alias="dataActions")
    not_data_actions: list[str] = Field(alias="notDataActions")


class RoleDefinitionEntry(_Strict):
    name: str
    role_name: str = Field(alias="roleName")
    description: str
    permissions: list[PermissionEntry]


class RoleAssignmentEntry(_Strict):
    name: str
    scope: str
    role_definition_name: str = Field(alias="roleDefinitionName")
    principal_id: str = Field(alias="principalId")


class Payload(_Strict):
    format_version: int = Field(alias="formatVersion")
    keys: list[KeyEntry]
    role_definitions: list[RoleDefinitionEntry] = Field(alias="roleDefinitions")
    role_assignments: list[RoleAssignmentEntry] = Field(alias="roleAssignments")


@dataclass(frozen=True)
class Archive:
    """A sealed backup ready to upload: the manifest and payload blob contents."""

    manifest: bytes
    payload: bytes
    key_count: int


# ------------------------------------------------------------------------------------------------ capture


def _all_key_names(tx: Transaction, hsm_id: str) -> list[str]:
    # keys_store has no "every key" listing (its pages are for the API); a read of its table is all we need.
    return [str(row["name"]) for row in tx.all("SELECT name FROM dp_keys WHERE hsm_id = ? ORDER BY name", (hsm_id,))]


def _version_entry(hsm: HsmContext, name: str, record: KeyVersionRecord) -> VersionEntry:
    material = material_codec.unseal(hsm.master_key, hsm.id, name, record.version, record.sealed_material)
    return VersionEntry(
        version=record.version,
        kty=record.kty,
        key_ops=list(record.key_ops),
        enabled=record.enabled,
        nbf=record.nbf,
        exp=record.exp,
        created=record.created,
        updated=record.updated,
        exportable=record.exportable,
        tags=record.tags,
        release_policy=record.release_policy,
        public_jwk=record.public_jwk,
        material=b64.encode(jwk.serialize_private(material)),
    )


def _capture_payload(tx: Transaction, hsm: HsmContext) -> Payload:
    keys = []
    for name in _all_key_names(tx, hsm.id):
        key = keys_store.find_key(tx, hsm.id, name)
        assert key is not None
        keys.append(
            KeyEntry(
                name=key.name,
                deleted_date=key.deleted_date,
                scheduled_purge_date=key.scheduled_purge_date,
                rotation_policy=key.rotation_policy,
                versions=[_version_entry(hsm, key.name, v) for v in keys_store.all_versions(tx, hsm.id, key.name)],
            )
        )
    definitions = [
        RoleDefinitionEntry(
            name=d.name,
            role_name=d.role_name,
            description=d.description,
            permissions=[
                PermissionEntry(
                    actions=list(p.actions),
                    not_actions=list(p.not_actions),
                    data_actions=list(p.data_actions),
                    not_data_actions=list(p.not_data_actions),
                )
                for p in d.permissions
            ],
        )
        for d in rbac_store.custom_definitions(tx, hsm.id)
    ]
    assignments = [
        RoleAssignmentEntry(
            name=a.name, scope=a.scope, role_definition_name=a.role_definition_name, principal_id=a.principal_id
        )
        for a in rbac_store.all_assignments(tx, hsm.id)
    ]
    return Payload(format_version=FORMAT_VERSION, keys=keys, role_definitions=definitions, role_assignments=assignments)


def capture(tx: Transaction, hsm: HsmContext, hsm_name: str, now: int) -> Archive:
    """Snapshot the HSM (one read transaction: a consistent point in time) and seal it."""
    payload = _capture_payload(tx, hsm)
    sealed = sealing.seal(hsm.master_key, payload.model_dump_json(by_alias=True).encode(), _PAYLOAD_BINDING)
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        source_hsm=hsm_name,
        created=now,
        security_domain_fingerprint=master_key_fingerprint(hsm.master_key),
        key_count=len(payload.keys),
        role_definition_count=len(payload.role_definitions),
        role_assignment_count=len(payload.role_assignments),
        payload=PayloadInfo(blob=PAYLOAD_BLOB, sha256=hashlib.sha256(sealed).hexdigest(), size=len(sealed)),
    )
    return Archive(manifest.model_dump_json(by_alias=True, indent=2).encode(), sealed, len(payload.keys))


# ------------------------------------------------------------------------------------------------ open


def parse_manifest(raw: bytes) -> Manifest:
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise ArchiveError(
            "BackupCorrupted", f"The backup manifest {MANIFEST_BLOB} is not valid: {exc.errors()[0]['msg']}."
        ) from None
    if manifest.format_version != FORMAT_VERSION:
        raise ArchiveError(
            "BackupFormatNotSupported",
            f"The backup has format version {manifest.format_version}; this Managed HSM reads version "
            f"{FORMAT_VERSION}.",
        )
    return manifest


def check_security_domain(manifest: Manifest, hsm: HsmContext) -> None:
    if manifest.security_domain_fingerprint != master_key_fingerprint(hsm.master_key):
        raise ArchiveError(
            "SecurityDomainMismatch",
            f"The backup was made by Managed HSM {manifest.source_hsm}, which has a different security domain: a "
            "backup restores only into an HSM holding the same security domain (upload that HSM's security domain "
            "first).",
        )


def open_archive(manifest: Manifest, sealed: bytes, hsm: HsmContext) -> Payload:
    """Verify integrity and open the payload with this HSM's master key."""
    check_security_domain(manifest, hsm)
    if len(sealed) != manifest.payload.size or hashlib.sha256(sealed).hexdigest() != manifest.payload.sha256:
        raise ArchiveError(
            "BackupCorrupted",
            f"The backup blob {manifest.payload.blob} does not match its manifest (size {len(sealed)}, expected "
            f"{manifest.payload.size}, or a different SHA-256): it was modified or truncated.",
        )
    try:
        plaintext = sealing.unseal(hsm.master_key, sealed, _PAYLOAD_BINDING)
    except CryptoError:
        raise ArchiveError(
            "BackupCorrupted", f"The backup blob {manifest.payload.blob} failed its integrity check: it was modified."
        ) from None
    try:
        payload = Payload.model_validate_json(plaintext)
    except ValidationError as exc:
        raise ArchiveError("BackupCorrupted", f"The backup content is not valid: {exc.errors()[0]['msg']}.") from None
    if payload.format_version != FORMAT_VERSION:
        raise ArchiveError("BackupFormatNotSupported", f"Unsupported backup content version {payload.format_version}.")
    return payload


def find_key(payload: Payload, name: str) -> KeyEntry:
    for entry in payload.keys:
        if entry.name.lower() == name.lower():
            return entry
    raise ArchiveError("KeyNotFoundInBackup", f"Key {name} is not in the backup.")


# ------------------------------------------------------------------------------------------------ apply


def _insert_key(tx: Transaction, hsm: HsmContext, entry: KeyEntry) -> None:
    keys_store.insert_key(tx, hsm.id, entry.name)
    for version in entry.versions:
        try:
            material = jwk.deserialize_private(b64.decode(version.material, "material"))
        except (CryptoError, b64.InvalidBase64) as exc:
            raise ArchiveError("BackupCorrupted", f"Key {entry.name} version {version.version}: {exc}") from None
        keys_store.insert_version(
            tx,
            hsm.id,
            KeyVersionRecord(
                name=entry.name,
                version=version.version,
                # Versions are numbered 1..n in creation order (a version is never removed on its own), so
                # drawing the sequence again in the same order restores it exactly, counter included.
                sequence=keys_store.next_sequence(tx, hsm.id, entry.name),
                kty=version.kty,
                key_ops=tuple(version.key_ops),
                enabled=version.enabled,
                nbf=version.nbf,
                exp=version.exp,
                created=version.created,
                updated=version.updated,
                exportable=version.exportable,
                tags=version.tags,
                release_policy=version.release_policy,
                public_jwk=version.public_jwk,
                sealed_material=material_codec.seal(hsm.master_key, hsm.id, entry.name, version.version, material),
            ),
        )
    if entry.rotation_policy is not None:
        keys_store.set_rotation_policy(tx, hsm.id, entry.name, entry.rotation_policy)
    if entry.deleted_date is not None:
        keys_store.mark_deleted(tx, hsm.id, entry.name, entry.deleted_date, entry.scheduled_purge_date)


def replace_key(tx: Transaction, hsm: HsmContext, entry: KeyEntry) -> None:
    """Selective restore: the key (every version) becomes exactly what the backup holds."""
    keys_store.purge(tx, hsm.id, entry.name)
    _insert_key(tx, hsm, entry)


def replace_state(tx: Transaction, hsm: HsmContext, payload: Payload) -> None:
    """Full restore: keys, custom roles and assignments become exactly the backup's (caller's one transaction)."""
    for name in _all_key_names(tx, hsm.id):
        keys_store.purge(tx, hsm.id, name)
    for stored in rbac_store.all_assignments(tx, hsm.id):
        rbac_store.delete_assignment(tx, hsm.id, stored.name)
    for definition in rbac_store.custom_definitions(tx, hsm.id):
        rbac_store.delete_custom_definition(tx, hsm.id, definition.name)
    for entry in payload.keys:
        _insert_key(tx, hsm, entry)
    for role in payload.role_definitions:
        rbac_store.put_custom_definition(
            tx,
            hsm.id,
            roles.RoleDefinition(
                name=role.name,
                role_name=role.role_name,
                role_type=roles.CUSTOM_ROLE_TYPE,
                description=role.description,
                permissions=tuple(
                    roles.Permission(
                        actions=tuple(p.actions),
                        not_actions=tuple(p.not_actions),
                        data_actions=tuple(p.data_actions),
                        not_data_actions=tuple(p.not_data_actions),
                    )
                    for p in role.permissions
                ),
            ),
        )
    for assignment in payload.role_assignments:
        rbac_store.insert_assignment(
            tx,
            hsm.id,
            StoredAssignment(
                assignment.name, assignment.scope, assignment.role_definition_name, assignment.principal_id
            ),
        )


def summary(payload: Payload) -> dict[str, int]:
    return {
        "keys": len(payload.keys),
        "roleDefinitions": len(payload.role_definitions),
        "roleAssignments": len(payload.role_assignments),
    }

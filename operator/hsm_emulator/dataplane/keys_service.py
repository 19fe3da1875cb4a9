"""Keys of a Managed HSM: versions, attributes, tags, soft delete, recovery, rotation, single-key backup/restore.

Every function takes the open transaction, the HSM and the current time (injected for tests), applies Key Vault's
rules, writes through ``keys_store`` and returns the wire body. Private material is generated or imported through
``hsm_emulator.crypto`` and stored only sealed (``material_codec``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from hsm_emulator.crypto import jwk, keygen, sealing
from hsm_emulator.crypto.errors import CryptoError
from hsm_emulator.crypto.material import KEY_TYPE_ALIASES, EcKey, KeyMaterial, RsaKey
from hsm_emulator.dataplane import b64, errors, keys_store, material_codec, models, rotation_policy
from hsm_emulator.dataplane import release_policy as release_grammar
from hsm_emulator.dataplane.hsm_context import HsmContext
from hsm_emulator.dataplane.keys_store import KeyRecord, KeyVersionRecord
from hsm_emulator.dataplane.scopes import KEY_NAME_PATTERN
from hsm_emulator.errors import AzureError
from hsm_emulator.storage import Transaction

MAX_KEYS_PER_HSM = 5000
MAX_VERSIONS_PER_KEY = 100
MAX_TAGS = 15
MAX_TAG_LENGTH = 256
MAX_PAGE_SIZE = 25
KEY_OPERATIONS = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export")
DEFAULT_KEY_OPS: dict[str, tuple[str, ...]] = {
    "RSA-HSM": ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"),
    "EC-HSM": ("sign", "verify"),
    "oct-HSM": ("encrypt", "decrypt", "wrapKey", "unwrapKey"),
}
BACKUP_MAGIC = b"MHSM-KEY-BACKUP-1:"
_BACKUP_BINDING = b"mhsm-key-backup-v1"
# Operations that still work outside the nbf/exp window (they only undo or check earlier work).
_OPERATIONS_ALLOWED_OUTSIDE_VALIDITY = frozenset({"decrypt", "unwrapKey", "verify"})


def _crypto_error(exc: CryptoError) -> AzureError:
    return AzureError(exc.message, code=exc.code, inner_code=exc.inner_code, status=400)


# ------------------------------------------------------------------------------------------------ validation


def validate_name(name: str) -> str:
    if not KEY_NAME_PATTERN.match(name):
        raise errors.bad_parameter(
            f"The key name '{name}' is invalid: it must be 1-127 characters of letters, digits and hyphens "
            "(^[0-9a-zA-Z-]+$)."
        )
    return name


def _validate_tags(tags: dict[str, str] | None) -> dict[str, str]:
    tags = tags or {}
    if len(tags) > MAX_TAGS:
        raise errors.bad_parameter(f"Too many tags: {len(tags)}; a key can have at most {MAX_TAGS} tags.")
    for tag_name, value in tags.items():
        if not tag_name or len(tag_name) > MAX_TAG_LENGTH or len(value) > MAX_TAG_LENGTH:
            raise errors.bad_parameter(
                f"Tag '{tag_name[:40]}': tag names must be 1-{MAX_TAG_LENGTH} characters and values at most "
                f"{MAX_TAG_LENGTH} characters."
            )
    return dict(tags)


def _validate_key_ops(key_ops: list[str] | None, kty: str) -> tuple[str, ...]:
    if key_ops is None:
        return DEFAULT_KEY_OPS[kty]
    for operation in key_ops:
        if operation not in KEY_OPERATIONS:
            raise errors.bad_parameter(
                f"Invalid key_ops value: {operation}; expected any of {', '.join(KEY_OPERATIONS)}."
            )
    return tuple(dict.fromkeys(key_ops))


def _validate_window(nbf: int | None, exp: int | None) -> None:
    if nbf is not None and exp is not None and nbf >= exp:
        raise errors.bad_parameter("attributes: the activation date (nbf) must be earlier than the expiry (exp).")


def _release_policy(policy: models.ReleasePolicyIn | None) -> dict[str, Any] | None:
    """Validate a release policy (the grammar of ``release_policy.parse``, the one used at release) and return its
    stored form (``data`` as base64url of the compact policy JSON)."""
    if policy is None or policy.data is None:
        return None
    content_type = release_grammar.DEFAULT_CONTENT_TYPE if policy.content_type is None else policy.content_type
    try:
        release_grammar.check_content_type(content_type)
    except release_grammar.PolicyError as exc:
        raise errors.bad_parameter(f"release_policy.contentType: {exc}") from None
    try:
        document = b64.decode(policy.data, "release_policy.data")
        release_grammar.parse(document)
    except b64.InvalidBase64 as exc:
        raise errors.bad_parameter(str(exc)) from None
    except release_grammar.PolicyError as exc:
        raise errors.bad_parameter(f"release_policy.data: {exc}") from None
    return {
        "contentType": content_type,
        "immutable": bool(policy.immutable),
        "data": b64.encode(json.dumps(json.loads(document), separators=(",", ":")).encode()),
    }


def _check_exportable(exportable: bool, release_policy: dict[str, Any] | None) -> None:
    if exportable and release_policy is None:
        raise errors.bad_parameter("AKV.SKR.1004: Exportable keys must have release policy.")
    if release_policy is not None and not exportable:
        # The real message (Azure/azure-cli#28288).
        raise errors.bad_parameter("AKV.SKR.1005: Non-exportable keys must not have release policy.")


# ------------------------------------------------------------------------------------------------ rendering


def key_id(hsm: HsmContext, name: str, version: str | None = None) -> str:
    return f"{hsm.base_url}/keys/{name}" + (f"/{version}" if version else "")


def _attributes(hsm: HsmContext, record: KeyVersionRecord) -> dict[str, Any]:
    attributes: dict[str, Any] = {"enabled": record.enabled}
    if record.nbf is not None:
        attributes["nbf"] = record.nbf
    if record.exp is not None:
        attributes["exp"] = record.exp
    attributes.update(
        created=record.created,
        updated=record.updated,
        recoverableDays=hsm.retention_days,
        recoveryLevel=hsm.recovery_level,
        exportable=record.exportable,
    )
    return attributes


def render_bundle(hsm: HsmContext, key: KeyRecord, record: KeyVersionRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": {"kid": key_id(hsm, key.name, record.version), **record.public_jwk, "key_ops": list(record.key_ops)},
        "attributes": _attributes(hsm, record),
    }
    if record.tags:
        body["tags"] = record.tags
    if record.release_policy is not None:
        body["release_policy"] = record.release_policy
    if key.is_deleted:
        body.update(_deletion_fields(hsm, key))
    return body


def _deletion_fields(hsm: HsmContext, key: KeyRecord) -> dict[str, Any]:
    return {
        "recoveryId": f"{hsm.base_url}/deletedkeys/{key.name}",
        "deletedDate": key.deleted_date,
        "scheduledPurgeDate": key.scheduled_purge_date,
    }


def render_item(hsm: HsmContext, key: KeyRecord, record: KeyVersionRecord, *, versioned: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "kid": key_id(hsm, key.name, record.version if versioned else None),
        "attributes": _attributes(hsm, record),
    }
    if record.tags:
        item["tags"] = record.tags
    if key.is_deleted:
        item.update(_deletion_fields(hsm, key))
    return item


# ------------------------------------------------------------------------------------------------ lookups


def _purge_if_expired(tx: Transaction, hsm: HsmContext, key: KeyRecord, now: int) -> KeyRecord | None:
    """A deleted key past its scheduled purge date is gone: the service purges it on its own."""
    if key.scheduled_purge_date is not None and now >= key.scheduled_purge_date:
        keys_store.purge(tx, hsm.id, key.name)
        return None
    return key


def active_key(tx: Transaction, hsm: HsmContext, name: str) -> KeyRecord:
    key = keys_store.find_key(tx, hsm.id, name)
    if key is None or key.is_deleted:
        raise errors.key_not_found(name)
    return key


def deleted_key(tx: Transaction, hsm: HsmContext, name: str, now: int) -> KeyRecord:
    key = keys_store.find_key(tx, hsm.id, name)
    if key is not None and key.is_deleted:
        key = _purge_if_expired(tx, hsm, key, now)
    if key is None or not key.is_deleted:
        raise errors.deleted_key_not_found(name)
    return key


def version_of(tx: Transaction, hsm: HsmContext, key: KeyRecord, version: str | None) -> KeyVersionRecord:
    record = (
        keys_store.find_version(tx, hsm.id, key.name, version)
        if version
        else keys_store.latest_version(tx, hsm.id, key.name)
    )
    if record is None:
        raise errors.key_not_found(f"{key.name}/{version}" if version else key.name)
    return record


# ------------------------------------------------------------------------------------------------ writes


def _target_key_for_new_version(tx: Transaction, hsm: HsmContext, name: str) -> KeyRecord:
    """The key a create/import adds a version to, creating it when new; refuses soft-deleted names and limits."""
    key = keys_store.find_key(tx, hsm.id, name)
    if key is not None and key.is_deleted:
        raise errors.deleted_but_recoverable(key.name)
    if key is None:
        if keys_store.count_keys(tx, hsm.id) >= MAX_KEYS_PER_HSM:
            raise errors.forbidden(
                f"The Managed HSM already holds the maximum of {MAX_KEYS_PER_HSM} keys.", "QuotaExceeded"
            )
        return keys_store.insert_key(tx, hsm.id, name)
    if keys_store.count_versions(tx, hsm.id, key.name) >= MAX_VERSIONS_PER_KEY:
        raise errors.forbidden(
            f"Key {key.name} already has the maximum of {MAX_VERSIONS_PER_KEY} versions.", "QuotaExceeded"
        )
    return key


@dataclass(frozen=True)
class NewVersion:
    """Everything a new key version is made of, whichever operation creates it."""

    material: KeyMaterial
    key_ops: tuple[str, ...]
    enabled: bool
    nbf: int | None
    exp: int | None
    exportable: bool
    tags: dict[str, str]
    release_policy: dict[str, Any] | None


def _store_new_version(tx: Transaction, hsm: HsmContext, key: KeyRecord, new: NewVersion, now: int) -> KeyVersionRecord:
    version = uuid.uuid4().hex
    record = KeyVersionRecord(
        name=key.name,
        version=version,
        sequence=keys_store.next_sequence(tx, hsm.id, key.name),
        kty=new.material.kty,
        key_ops=new.key_ops,
        enabled=new.enabled,
        nbf=new.nbf,
        exp=new.exp,
        created=now,
        updated=now,
        exportable=new.exportable,
        tags=new.tags,
        release_policy=new.release_policy,
        public_jwk=jwk.public_jwk(new.material),
        sealed_material=material_codec.seal(hsm.master_key, hsm.id, key.name, version, new.material),
    )
    keys_store.insert_version(tx, hsm.id, record)
    return record


def _new_version_from(
    material: KeyMaterial,
    key_ops: list[str] | None,
    attributes: models.KeyAttributesIn | None,
    tags: dict[str, str] | None,
    release_policy_in: models.ReleasePolicyIn | None,
) -> NewVersion:
    attributes = attributes or models.KeyAttributesIn()
    _validate_window(attributes.nbf, attributes.exp)
    release_policy = _release_policy(release_policy_in)
    exportable = bool(attributes.exportable)
    _check_exportable(exportable, release_policy)
    return NewVersion(
        material=material,
        key_ops=_validate_key_ops(key_ops, material.kty),
        enabled=True if attributes.enabled is None else attributes.enabled,
        nbf=attributes.nbf,
        exp=attributes.exp,
        exportable=exportable,
        tags=_validate_tags(tags),
        release_policy=release_policy,
    )


def create_key(
    tx: Transaction, hsm: HsmContext, name: str, params: models.KeyCreateParameters, now: int
) -> dict[str, Any]:
    validate_name(name)
    if params.kty not in KEY_TYPE_ALIASES:
        raise errors.bad_parameter(f"Invalid kty value: {params.kty}", "KeyTypeNotSupported")
    # Validate the cheap parts before generating (RSA-4096 generation takes a while).
    _validate_tags(params.tags)
    _validate_key_ops(params.key_ops, KEY_TYPE_ALIASES[params.kty])
    existing = keys_store.find_key(tx, hsm.id, name)
    if existing is not None and existing.is_deleted:
        raise errors.deleted_but_recoverable(existing.name)
    try:
        material = keygen.generate_key(
            params.kty, size=params.key_size, curve=params.crv, public_exponent=params.public_exponent
        )
    except CryptoError as exc:
        raise _crypto_error(exc) from None
    new = _new_version_from(material, params.key_ops, params.attributes, params.tags, params.release_policy)
    key = _target_key_for_new_version(tx, hsm, name)
    record = _store_new_version(tx, hsm, key, new, now)
    return render_bundle(hsm, key, record)


def import_key(
    tx: Transaction, hsm: HsmContext, name: str, params: models.KeyImportParameters, now: int
) -> dict[str, Any]:
    validate_name(name)
    try:
        material = jwk.import_jwk(params.key)
    except CryptoError as exc:
        raise _crypto_error(exc) from None
    key_ops = params.key.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or not all(isinstance(op, str) for op in key_ops)):
        raise errors.bad_parameter("key.key_ops must be a list of strings.")
    new = _new_version_from(material, key_ops, params.attributes, params.tags, params.release_policy)
    key = _target_key_for_new_version(tx, hsm, name)
    record = _store_new_version(tx, hsm, key, new, now)
    return render_bundle(hsm, key, record)


def get_key(tx: Transaction, hsm: HsmContext, name: str, version: str | None) -> dict[str, Any]:
    key = active_key(tx, hsm, name)
    return render_bundle(hsm, key, version_of(tx, hsm, key, version))


def update_key(
    tx: Transaction, hsm: HsmContext, name: str, version: str | None, params: models.KeyUpdateParameters, now: int
) -> dict[str, Any]:
    key = active_key(tx, hsm, name)
    record = version_of(tx, hsm, key, version)
    changes: dict[str, Any] = {}
    if params.key_ops is not None:
        changes["key_ops"] = _validate_key_ops(params.key_ops, record.kty)
    if params.tags is not None:
        changes["tags"] = _validate_tags(params.tags)
    attributes = params.attributes
    if attributes is not None:
        if attributes.enabled is not None:
            changes["enabled"] = attributes.enabled
        if attributes.nbf is not None:
            changes["nbf"] = attributes.nbf
        if attributes.exp is not None:
            changes["exp"] = attributes.exp
        if attributes.exportable is not None and attributes.exportable != record.exportable:
            if record.exportable:
                raise errors.bad_parameter("The exportable attribute cannot be changed from true to false.")
            changes["exportable"] = True
    if params.release_policy is not None:
        if record.release_policy is not None and record.release_policy.get("immutable"):
            raise errors.bad_parameter(f"The release policy of key {key.name} is immutable and cannot be changed.")
        changes["release_policy"] = _release_policy(params.release_policy)
    updated = record.with_changes(**changes, updated=now)
    _validate_window(updated.nbf, updated.exp)
    _check_exportable(updated.exportable, updated.release_policy)
    keys_store.update_version(tx, hsm.id, updated)
    return render_bundle(hsm, key, updated)


def _page_bounds(maxresults: int | None, skip_token: str | None) -> tuple[int, int]:
    if maxresults is None:
        limit = MAX_PAGE_SIZE
    elif not 1 <= maxresults <= MAX_PAGE_SIZE:
        raise errors.bad_parameter(
            f"Invalid maxresults value: {maxresults}. The value must be between 1 and {MAX_PAGE_SIZE}."
        )
    else:
        limit = maxresults
    offset = 0
    if skip_token:
        try:
            offset = int(b64.decode(skip_token, "$skiptoken").decode("ascii"))
        except (b64.InvalidBase64, UnicodeDecodeError, ValueError):
            raise errors.bad_parameter("The $skiptoken value is invalid.") from None
        if offset < 0:
            raise errors.bad_parameter("The $skiptoken value is invalid.")
    return offset, limit


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_skip_token: str | None
    limit: int


def _page(items: list[dict[str, Any]], offset: int, limit: int) -> Page:
    # One extra row was fetched: its presence alone says whether a next page exists.
    has_more = len(items) > limit
    token = b64.encode(str(offset + limit).encode()) if has_more else None
    return Page(items[:limit], token, limit)


def list_keys(
    tx: Transaction, hsm: HsmContext, *, deleted: bool, maxresults: int | None, skip_token: str | None, now: int
) -> Page:
    offset, limit = _page_bounds(maxresults, skip_token)
    rows = keys_store.list_latest(tx, hsm.id, deleted=deleted, offset=offset, limit=limit + 1)
    items = []
    for key, record in rows:
        if deleted and _purge_if_expired(tx, hsm, key, now) is None:
            continue
        items.append(render_item(hsm, key, record, versioned=False))
    return _page(items, offset, limit)


def list_versions(
    tx: Transaction, hsm: HsmContext, name: str, *, maxresults: int | None, skip_token: str | None
) -> Page:
    offset, limit = _page_bounds(maxresults, skip_token)
    key = active_key(tx, hsm, name)
    records = keys_store.list_versions_page(tx, hsm.id, key.name, offset=offset, limit=limit + 1)
    return _page([render_item(hsm, key, record, versioned=True) for record in records], offset, limit)


def delete_key(tx: Transaction, hsm: HsmContext, name: str, now: int) -> dict[str, Any]:
    key = active_key(tx, hsm, name)
    purge_date = now + hsm.retention_days * 86400
    keys_store.mark_deleted(tx, hsm.id, key.name, now, purge_date)
    deleted = KeyRecord(key.hsm_id, key.name, now, purge_date, key.rotation_policy)
    return render_bundle(hsm, deleted, version_of(tx, hsm, deleted, None))


def get_deleted_key(tx: Transaction, hsm: HsmContext, name: str, now: int) -> dict[str, Any]:
    key = deleted_key(tx, hsm, name, now)
    return render_bundle(hsm, key, version_of(tx, hsm, key, None))


def recover_deleted_key(tx: Transaction, hsm: HsmContext, name: str, now: int) -> dict[str, Any]:
    key = deleted_key(tx, hsm, name, now)
    keys_store.mark_deleted(tx, hsm.id, key.name, None, None)
    recovered = KeyRecord(key.hsm_id, key.name, None, None, key.rotation_policy)
    return render_bundle(hsm, recovered, version_of(tx, hsm, recovered, None))


def purge_deleted_key(tx: Transaction, hsm: HsmContext, name: str, now: int) -> None:
    key = deleted_key(tx, hsm, name, now)
    if hsm.purge_protection:
        raise errors.forbidden(
            f'Operation "purge" is not allowed because purge protection is enabled for this Managed HSM. The key '
            f"{key.name} will be purged automatically after its scheduled purge date.",
            "PurgeProtectionEnabled",
        )
    keys_store.purge(tx, hsm.id, key.name)


# ------------------------------------------------------------------------------------------------ rotation


def rotation_policy_id(hsm: HsmContext, key: KeyRecord) -> str:
    return f"{key_id(hsm, key.name)}/rotationpolicy"


def get_rotation_policy(tx: Transaction, hsm: HsmContext, name: str) -> dict[str, Any]:
    key = active_key(tx, hsm, name)
    return rotation_policy.render(rotation_policy_id(hsm, key), key.rotation_policy)


def set_rotation_policy(
    tx: Transaction, hsm: HsmContext, name: str, policy: models.RotationPolicyIn, now: int
) -> dict[str, Any]:
    key = active_key(tx, hsm, name)
    stored = rotation_policy.validate(policy)
    created = key.rotation_policy["created"] if key.rotation_policy else now
    stored.update(created=created, updated=now)
    keys_store.set_rotation_policy(tx, hsm.id, key.name, stored)
    return rotation_policy.render(rotation_policy_id(hsm, key), stored)


def rotate_key(tx: Transaction, hsm: HsmContext, name: str, now: int) -> dict[str, Any]:
    # On-demand rotation works with or without a rotation policy (`az keyvault key rotate` on a fresh key); a
    # policy only adds the new version's expiry.
    key = active_key(tx, hsm, name)
    latest = version_of(tx, hsm, key, None)
    current = material_codec.unseal(hsm.master_key, hsm.id, key.name, latest.version, latest.sealed_material)
    if isinstance(current, RsaKey):
        material = keygen.generate_key(
            current.kty, size=current.size, public_exponent=current.private_key.public_key().public_numbers().e
        )
    elif isinstance(current, EcKey):
        material = keygen.generate_key(current.kty, curve=current.curve)
    else:
        material = keygen.generate_key(current.kty, size=current.size)
    if keys_store.count_versions(tx, hsm.id, key.name) >= MAX_VERSIONS_PER_KEY:
        raise errors.forbidden(
            f"Key {key.name} already has the maximum of {MAX_VERSIONS_PER_KEY} versions.", "QuotaExceeded"
        )
    lifetime = rotation_policy.expiry_seconds(key.rotation_policy)
    new = NewVersion(
        material=material,
        key_ops=latest.key_ops,
        enabled=True,
        nbf=None,
        exp=now + lifetime if lifetime else None,
        exportable=latest.exportable,
        tags=latest.tags,
        release_policy=latest.release_policy,
    )
    record = _store_new_version(tx, hsm, key, new, now)
    return render_bundle(hsm, key, record)


# ------------------------------------------------------------------------------------------------ backup / restore


def backup_key(tx: Transaction, hsm: HsmContext, name: str) -> dict[str, str]:
    """An opaque blob with every version, sealed under the master key: it restores only where that key lives."""
    key = active_key(tx, hsm, name)
    versions = []
    for record in keys_store.all_versions(tx, hsm.id, key.name):
        material = material_codec.unseal(hsm.master_key, hsm.id, key.name, record.version, record.sealed_material)
        versions.append(
            {
                "version": record.version,
                "key_ops": list(record.key_ops),
                "enabled": record.enabled,
                "nbf": record.nbf,
                "exp": record.exp,
                "created": record.created,
                "updated": record.updated,
                "exportable": record.exportable,
                "tags": record.tags,
                "release_policy": record.release_policy,
                "material": jwk.private_jwk(material),
            }
        )
    payload = json.dumps({"name": key.name, "rotation_policy": key.rotation_policy, "versions": versions})
    sealed = sealing.seal(hsm.master_key, payload.encode(), _BACKUP_BINDING)
    return {"value": b64.encode(BACKUP_MAGIC + sealed)}


def restore_key(tx: Transaction, hsm: HsmContext, params: models.KeyRestoreParameters, now: int) -> dict[str, Any]:
    try:
        blob = b64.decode(params.value, "value")
    except b64.InvalidBase64 as exc:
        raise errors.bad_parameter(str(exc)) from None
    if not blob.startswith(BACKUP_MAGIC):
        raise errors.bad_parameter("The backup blob is malformed: it is not a Managed HSM key backup.")
    try:
        payload = json.loads(sealing.unseal(hsm.master_key, blob[len(BACKUP_MAGIC) :], _BACKUP_BINDING))
    except (CryptoError, ValueError):
        raise errors.bad_parameter(
            "The backup blob cannot be restored into this Managed HSM: it was made by an HSM with a different "
            "security domain, or it was modified."
        ) from None
    name = str(payload["name"])
    existing = keys_store.find_key(tx, hsm.id, name)
    if existing is not None:
        if existing.is_deleted:
            raise errors.deleted_but_recoverable(existing.name)
        raise errors.conflict(f"Key {existing.name} already exists and cannot be overwritten by a restore.")
    if keys_store.count_keys(tx, hsm.id) >= MAX_KEYS_PER_HSM:
        raise errors.forbidden(
            f"The Managed HSM already holds the maximum of {MAX_KEYS_PER_HSM} keys.", "QuotaExceeded"
        )
    key = keys_store.insert_key(tx, hsm.id, name)
    if payload.get("rotation_policy"):
        keys_store.set_rotation_policy(tx, hsm.id, name, payload["rotation_policy"])
    record: KeyVersionRecord | None = None
    for entry in payload["versions"]:
        material = jwk.import_jwk(entry["material"])
        record = KeyVersionRecord(
            name=name,
            version=entry["version"],
            sequence=keys_store.next_sequence(tx, hsm.id, name),
            kty=material.kty,
            key_ops=tuple(entry["key_ops"]),
            enabled=entry["enabled"],
            nbf=entry["nbf"],
            exp=entry["exp"],
            created=entry["created"],
            updated=entry["updated"],
            exportable=entry["exportable"],
            tags=entry["tags"],
            release_policy=entry["release_policy"],
            public_jwk=jwk.public_jwk(material),
            sealed_material=material_codec.seal(hsm.master_key, hsm.id, name, entry["version"], material),
        )
        keys_store.insert_version(tx, hsm.id, record)
    assert record is not None
    return render_bundle(hsm, key, record)


# ------------------------------------------------------------------------------------------------ crypto access


def key_for_operation(
    tx: Transaction, hsm: HsmContext, name: str, version: str | None, operation: str, now: int
) -> tuple[str, KeyMaterial]:
    """The kid and material of a version, if ``operation`` (wire name: encrypt, wrapKey...) is allowed on it now."""
    key = active_key(tx, hsm, name)
    record = version_of(tx, hsm, key, version)
    if operation not in record.key_ops:
        raise errors.forbidden(f"Operation {operation} is not permitted on this key.", "KeyOperationForbidden")
    if not record.enabled:
        raise errors.forbidden(f"Operation {operation} is not allowed on a disabled key.", "KeyDisabled")
    if operation not in _OPERATIONS_ALLOWED_OUTSIDE_VALIDITY:
        if record.nbf is not None and now < record.nbf:
            raise errors.forbidden(
                f"Operation {operation} is not allowed on a key that is not yet valid.", "KeyNotYetValid"
            )
        if record.exp is not None and now >= record.exp:
            raise errors.forbidden(f"Operation {operation} is not allowed on an expired key.", "KeyExpired")
    material = material_codec.unseal(hsm.master_key, hsm.id, key.name, record.version, record.sealed_material)
    return key_id(hsm, key.name, record.version), material

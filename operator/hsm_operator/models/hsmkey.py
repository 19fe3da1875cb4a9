"""HSMKey: one key (all its versions) in a Managed HSM.

The key type, size and curve decide what the key is; Azure cannot change them, so they are immutable here and
cross-checked by CEL (EC needs a curve, RSA and oct need a size from their own list). Attributes, operations,
tags and the rotation policy can change and are reconciled with drift detection.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from hsm_operator.models import base, common
from hsm_operator.models.base import CrdModel

KEY_NAME_CHARS = r"[0-9a-zA-Z-]{1,127}"
KEY_NAME_PATTERN = rf"^{KEY_NAME_CHARS}$"
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=127, pattern=KEY_NAME_PATTERN)]
# ISO-8601 durations as Azure's rotation policies use them (P90D, P1Y, P18M, P2Y6M).
Duration = Annotated[str, StringConstraints(min_length=3, max_length=32, pattern=r"^P([0-9]+Y)?([0-9]+M)?([0-9]+D)?$")]
MAX_TAGS = 15
DEFAULT_RELEASE_POLICY_CONTENT_TYPE = "application/json; charset=utf-8"


class KeyType(StrEnum):
    RSA_HSM = "RSA-HSM"
    EC_HSM = "EC-HSM"
    OCT_HSM = "oct-HSM"


class Curve(StrEnum):
    P_256 = "P-256"
    P_256K = "P-256K"
    P_384 = "P-384"
    P_521 = "P-521"


class KeyOperation(StrEnum):
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    SIGN = "sign"
    VERIFY = "verify"
    WRAP_KEY = "wrapKey"
    UNWRAP_KEY = "unwrapKey"
    IMPORT = "import"
    EXPORT = "export"


class KeyCreateMode(StrEnum):
    DEFAULT = "Default"
    RECOVER = "Recover"
    CREATE_OR_RECOVER = "CreateOrRecover"
    PURGE_THEN_CREATE = "PurgeThenCreate"


class LifetimeActionType(StrEnum):
    ROTATE = "Rotate"
    NOTIFY = "Notify"


RSA_KEY_SIZES = (2048, 3072, 4096)
OCT_KEY_SIZES = (128, 192, 256)


class KeyAttributes(CrdModel):
    """Key attributes that can be managed."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (
        base.cel(
            "!has(self.notBefore) || !has(self.expires) || self.expires > self.notBefore",
            "spec.attributes.expires must be after spec.attributes.notBefore",
            field_path=".expires",
        ),
        base.immutable("exportable", path="spec.attributes"),
    )

    enabled: bool = Field(default=True, description="Whether the key may be used for cryptographic operations.")
    not_before: datetime | None = Field(
        default=None, description="RFC 3339 time before which the key may not be used (nbf)."
    )
    expires: datetime | None = Field(
        default=None, description="RFC 3339 time after which the key may not be used (exp); after notBefore."
    )
    exportable: bool = Field(
        default=False,
        description="Whether the private key can be released (secure key release); needs releasePolicy. Immutable.",
    )

    @model_validator(mode="after")
    def _expires_after_not_before(self) -> KeyAttributes:
        if self.not_before is not None and self.expires is not None and self.expires <= self.not_before:
            raise ValueError("spec.attributes.expires must be after spec.attributes.notBefore")
        return self


class ReleasePolicy(CrdModel):
    """Secure key release policy (Azure `release_policy`); the operator base64url-encodes `data` for the API."""

    content_type: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        default=DEFAULT_RELEASE_POLICY_CONTENT_TYPE, description="Media type of the policy document."
    )
    immutable: bool = Field(default=False, description="When true the policy can never change after it is set.")
    data: dict[str, Any] = Field(
        description="The release policy document as JSON (e.g. {version, anyOf: [{authority, allOf: [...]}]}).",
    )


class LifetimeAction(CrdModel):
    """One action of the rotation policy and when it triggers."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (
        base.cel(
            "has(self.timeAfterCreate) != has(self.timeBeforeExpiry)",
            "each entry of spec.rotationPolicy.lifetimeActions needs exactly one of timeAfterCreate or "
            "timeBeforeExpiry",
        ),
    )

    action: LifetimeActionType = Field(description="Rotate creates a new version; Notify emits an event (Key Vault).")
    time_after_create: Duration | None = Field(
        default=None, description="ISO-8601 duration after the version's creation, e.g. P90D."
    )
    time_before_expiry: Duration | None = Field(
        default=None, description="ISO-8601 duration before the version expires, e.g. P30D; needs expiryTime."
    )

    @model_validator(mode="after")
    def _exactly_one_trigger(self) -> LifetimeAction:
        if base.count_set(self, ("time_after_create", "time_before_expiry")) != 1:
            raise ValueError(
                "each entry of spec.rotationPolicy.lifetimeActions needs exactly one of timeAfterCreate or "
                "timeBeforeExpiry"
            )
        return self


class RotationPolicy(CrdModel):
    """Automatic rotation, done by the HSM itself."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (
        base.cel(
            "!has(self.lifetimeActions) || !self.lifetimeActions.exists(a, has(a.timeBeforeExpiry))"
            " || has(self.expiryTime)",
            "spec.rotationPolicy.expiryTime is required when a lifetime action uses timeBeforeExpiry",
            field_path=".expiryTime",
        ),
    )

    expiry_time: Duration | None = Field(
        default=None, description="ISO-8601 lifetime of each new version, e.g. P1Y (Azure requires at least 28 days)."
    )
    lifetime_actions: Annotated[list[LifetimeAction], Field(max_length=2)] | None = Field(
        default=None,
        description="At most one Rotate and one Notify action.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["action"]},
    )

    @model_validator(mode="after")
    def _expiry_for_before_expiry(self) -> RotationPolicy:
        actions = self.lifetime_actions or []
        if len({a.action for a in actions}) != len(actions):
            raise ValueError("spec.rotationPolicy.lifetimeActions must not repeat an action")
        if any(a.time_before_expiry is not None for a in actions) and self.expiry_time is None:
            raise ValueError("spec.rotationPolicy.expiryTime is required when a lifetime action uses timeBeforeExpiry")
        return self


class PublicKeyTarget(CrdModel):
    """Where the public part of the current key version is published."""

    config_map_name: common.ResourceName = Field(
        description="ConfigMap in the same namespace written with keys jwk.json and public.pem."
    )


KeyTags = Annotated[
    dict[str, Annotated[str, StringConstraints(max_length=256)]],
    Field(
        max_length=MAX_TAGS,
        json_schema_extra={
            "x-kubernetes-validations": [
                base.cel("self.all(k, size(k) >= 1 && size(k) <= 256)", "tag names must be 1 to 256 characters")
            ]
        },
    ),
]

IMMUTABLE_FIELDS = ("keyName", "kty", "keySize", "curve")

# Type-specific shape rules. Messages name the offending field; fieldPath makes the apiserver report it there.
SHAPE_RULES = (
    base.cel(
        "self.kty != 'EC-HSM' || has(self.curve)", "spec.curve is required when kty is EC-HSM", field_path=".curve"
    ),
    base.cel(
        "self.kty != 'EC-HSM' || !has(self.keySize)",
        "spec.keySize is forbidden when kty is EC-HSM (the curve decides the size)",
        field_path=".keySize",
    ),
    base.cel(
        "self.kty == 'EC-HSM' || has(self.keySize)",
        "spec.keySize is required when kty is RSA-HSM or oct-HSM",
        field_path=".keySize",
    ),
    base.cel(
        "self.kty == 'EC-HSM' || !has(self.curve)",
        "spec.curve is forbidden when kty is RSA-HSM or oct-HSM",
        field_path=".curve",
    ),
    base.cel(
        "self.kty != 'RSA-HSM' || !has(self.keySize) || self.keySize in [2048, 3072, 4096]",
        "spec.keySize must be 2048, 3072 or 4096 when kty is RSA-HSM",
        field_path=".keySize",
    ),
    base.cel(
        "self.kty != 'oct-HSM' || !has(self.keySize) || self.keySize in [128, 192, 256]",
        "spec.keySize must be 128, 192 or 256 when kty is oct-HSM",
        field_path=".keySize",
    ),
    base.cel(
        "self.kty != 'oct-HSM' || !has(self.publicKeyTo)",
        "spec.publicKeyTo is forbidden when kty is oct-HSM (a symmetric key has no public part)",
        field_path=".publicKeyTo",
    ),
    base.cel(
        "!has(self.attributes) || !self.attributes.exportable || has(self.releasePolicy)",
        "spec.releasePolicy is required when spec.attributes.exportable is true",
        field_path=".releasePolicy",
    ),
)


class HSMKeySpec(common.DataPlaneSpec):
    """Desired state of a key."""

    cel_rules: ClassVar[tuple[base.CelRule, ...]] = (
        *SHAPE_RULES,
        *(base.immutable(name, path="spec") for name in IMMUTABLE_FIELDS),
    )

    key_name: KeyName | None = Field(
        default=None,
        description="Name of the key in the HSM (1-127 letters, digits, hyphens). Defaults to metadata.name. "
        "Immutable.",
    )
    kty: KeyType = Field(
        description=(
            "Key type: RSA-HSM (needs keySize 2048/3072/4096), EC-HSM (needs curve) or oct-HSM (AES, needs "
            "keySize 128/192/256). Immutable."
        )
    )
    key_size: int | None = Field(
        default=None,
        description="Key size in bits: RSA-HSM 2048, 3072 or 4096; oct-HSM 128, 192 or 256; not for EC-HSM. Immutable.",
    )
    curve: Curve | None = Field(
        default=None, description="Elliptic curve for EC-HSM: P-256, P-256K, P-384 or P-521. Immutable."
    )
    key_ops: Annotated[list[KeyOperation], Field(max_length=8)] | None = Field(
        default=None,
        description="Permitted operations (encrypt, decrypt, sign, verify, wrapKey, unwrapKey, import, export); "
        "absent = the service default for the key type.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    attributes: KeyAttributes = Field(
        default_factory=KeyAttributes,
        description="Managed attributes: enabled, notBefore, expires, exportable.",
        json_schema_extra={"default": {}},
    )
    release_policy: ReleasePolicy | None = Field(
        default=None, description="Secure key release policy; required for exportable keys."
    )
    rotation_policy: RotationPolicy | None = Field(
        default=None, description="Automatic rotation by the HSM; absent leaves the key's rotation policy unmanaged."
    )
    tags: KeyTags | None = Field(default=None, description="Key tags (at most 15, names and values up to 256).")
    create_mode: KeyCreateMode = Field(
        default=KeyCreateMode.DEFAULT,
        description=(
            "What to do when a soft-deleted key has the name: Default fails with SoftDeletedConflict, Recover "
            "recovers it, CreateOrRecover recovers it or creates a new key, PurgeThenCreate purges it first."
        ),
    )
    public_key_to: PublicKeyTarget | None = Field(
        default=None, description="Publish the current public key (JWK and PEM) to a ConfigMap; not for oct-HSM."
    )
    deletion_policy: Literal[
        common.DeletionPolicy.DELETE, common.DeletionPolicy.ORPHAN, common.DeletionPolicy.PURGE
    ] = Field(
        default=common.DeletionPolicy.ORPHAN,
        description=(
            "Orphan (default) keeps the key when this object is deleted; Delete soft-deletes it; Purge deletes "
            "and then purges it (where purge protection allows)."
        ),
    )

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, tags: dict[str, str] | None) -> dict[str, str] | None:
        if tags is not None and any(not 1 <= len(k) <= 256 for k in tags):
            raise ValueError("tag names must be 1 to 256 characters")
        return tags

    @field_validator("key_ops")
    @classmethod
    def _ops_are_a_set(cls, ops: list[KeyOperation] | None) -> list[KeyOperation] | None:
        if ops is not None and len(set(ops)) != len(ops):
            raise ValueError("spec.keyOps must not repeat an operation")
        return ops

    @model_validator(mode="after")
    def _shape_matches_type(self) -> HSMKeySpec:
        if self.kty is KeyType.EC_HSM:
            if self.curve is None:
                raise ValueError("spec.curve is required when kty is EC-HSM")
            if self.key_size is not None:
                raise ValueError("spec.keySize is forbidden when kty is EC-HSM (the curve decides the size)")
        else:
            if self.key_size is None:
                raise ValueError("spec.keySize is required when kty is RSA-HSM or oct-HSM")
            if self.curve is not None:
                raise ValueError("spec.curve is forbidden when kty is RSA-HSM or oct-HSM")
            allowed = RSA_KEY_SIZES if self.kty is KeyType.RSA_HSM else OCT_KEY_SIZES
            if self.key_size not in allowed:
                sizes = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}"
                raise ValueError(f"spec.keySize must be {sizes} when kty is {self.kty.value}")
        if self.kty is KeyType.OCT_HSM and self.public_key_to is not None:
            raise ValueError("spec.publicKeyTo is forbidden when kty is oct-HSM (a symmetric key has no public part)")
        if self.attributes.exportable and self.release_policy is None:
            raise ValueError("spec.releasePolicy is required when spec.attributes.exportable is true")
        return self


class HSMKeyStatus(common.ResourceStatus):
    """The key as last observed."""

    key_id: str | None = Field(default=None, description="Versioned key id (kid) of the current version.")
    key_uri: str | None = Field(default=None, description="Versionless key URI.")
    current_version: str | None = Field(default=None, description="Current version of the key.")
    version_count: Annotated[int, Field(ge=0)] | None = Field(default=None, description="Number of versions.")
    recovery_level: str | None = Field(default=None, description="Azure recoveryLevel, e.g. CustomizedRecoverable.")
    created: datetime | None = Field(default=None, description="When the current version was created.")
    updated: datetime | None = Field(default=None, description="When the current version was last updated.")
    last_rotation_time: datetime | None = Field(default=None, description="When the operator last rotated the key.")
    last_rotate_request: str | None = Field(
        default=None, description="The mhsm.dev/rotate annotation value last handled (any new value rotates once)."
    )
    size_or_curve: str | None = Field(default=None, description="Key size in bits or curve name of the observed key.")

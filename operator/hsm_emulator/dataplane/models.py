"""Request bodies of the data plane as pydantic models: the edge where untrusted JSON becomes typed values.

Field names are the wire names of the swagger (``key_ops``, ``release_policy``, ``Hsm``...). Types are strict (a
number is not a string, a string is not a boolean) because the real service rejects such bodies with 400
BadParameter; unknown fields are ignored, as the service does. Response bodies are built by the services as plain
dicts in the exact wire shape, so the rendering is visible next to the data it renders.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


# Unix seconds of 0001-01-01 and 9999-12-31T23:59:59Z: the range of the service's (.NET) DateTime. Anything beyond
# is refused with 400 (it also would not fit SQLite's 64-bit INTEGER).
UNIX_TIME_MIN = -62_135_596_800
UNIX_TIME_MAX = 253_402_300_799
UnixTime = Annotated[StrictInt, Field(ge=UNIX_TIME_MIN, le=UNIX_TIME_MAX)]


class KeyAttributesIn(_Body):
    """The writable key attributes; read-only ones (created, recoveryLevel...) are ignored when sent."""

    enabled: StrictBool | None = None
    nbf: UnixTime | None = None
    exp: UnixTime | None = None
    exportable: StrictBool | None = None


class ReleasePolicyIn(_Body):
    content_type: StrictStr | None = Field(default=None, alias="contentType")
    immutable: StrictBool | None = None
    data: StrictStr | None = None


class KeyCreateParameters(_Body):
    kty: StrictStr
    key_size: StrictInt | None = None
    public_exponent: StrictInt | None = None
    key_ops: list[StrictStr] | None = None
    attributes: KeyAttributesIn | None = None
    tags: dict[str, StrictStr] | None = None
    crv: StrictStr | None = None
    release_policy: ReleasePolicyIn | None = None


class KeyImportParameters(_Body):
    hsm: StrictBool | None = Field(default=None, alias="Hsm")
    key: dict[str, Any]
    attributes: KeyAttributesIn | None = None
    tags: dict[str, StrictStr] | None = None
    release_policy: ReleasePolicyIn | None = None


class KeyUpdateParameters(_Body):
    key_ops: list[StrictStr] | None = None
    attributes: KeyAttributesIn | None = None
    tags: dict[str, StrictStr] | None = None
    release_policy: ReleasePolicyIn | None = None


class KeyOperationParameters(_Body):
    """encrypt / decrypt / wrapkey / unwrapkey."""

    alg: StrictStr
    value: StrictStr
    iv: StrictStr | None = None
    aad: StrictStr | None = None
    tag: StrictStr | None = None


class KeySignParameters(_Body):
    alg: StrictStr
    value: StrictStr


class KeyVerifyParameters(_Body):
    alg: StrictStr
    digest: StrictStr
    value: StrictStr


class KeyReleaseParameters(_Body):
    target: StrictStr
    nonce: StrictStr | None = None
    enc: StrictStr | None = None


class KeyRestoreParameters(_Body):
    value: StrictStr


class RandomBytesRequest(_Body):
    count: StrictInt


class LifetimeActionTrigger(_Body):
    time_after_create: StrictStr | None = Field(default=None, alias="timeAfterCreate")
    time_before_expiry: StrictStr | None = Field(default=None, alias="timeBeforeExpiry")


class LifetimeActionType(_Body):
    type: StrictStr


class LifetimeAction(_Body):
    trigger: LifetimeActionTrigger
    action: LifetimeActionType


class RotationPolicyAttributesIn(_Body):
    expiry_time: StrictStr | None = Field(default=None, alias="expiryTime")


class RotationPolicyIn(_Body):
    lifetime_actions: list[LifetimeAction] | None = Field(default=None, alias="lifetimeActions")
    attributes: RotationPolicyAttributesIn | None = None


class RoleAssignmentPropertiesIn(_Body):
    role_definition_id: StrictStr = Field(alias="roleDefinitionId")
    principal_id: StrictStr = Field(alias="principalId")


class RoleAssignmentCreateParameters(_Body):
    properties: RoleAssignmentPropertiesIn


class PermissionIn(_Body):
    actions: list[StrictStr] | None = None
    not_actions: list[StrictStr] | None = Field(default=None, alias="notActions")
    data_actions: list[StrictStr] | None = Field(default=None, alias="dataActions")
    not_data_actions: list[StrictStr] | None = Field(default=None, alias="notDataActions")


class RoleDefinitionPropertiesIn(_Body):
    role_name: StrictStr | None = Field(default=None, alias="roleName")
    description: StrictStr | None = None
    role_type: StrictStr | None = Field(default=None, alias="type")
    permissions: list[PermissionIn] | None = None
    assignable_scopes: list[StrictStr] | None = Field(default=None, alias="assignableScopes")


class RoleDefinitionCreateParameters(_Body):
    properties: RoleDefinitionPropertiesIn


class SettingUpdateParameters(_Body):
    value: StrictStr


class SecurityDomainJsonWebKey(_Body):
    kid: StrictStr
    kty: StrictStr
    key_ops: list[StrictStr]
    n: StrictStr
    e: StrictStr
    x5c: Annotated[list[StrictStr], Field(min_length=1)]
    use: StrictStr | None = None
    x5t: StrictStr | None = None
    x5t_s256: StrictStr = Field(alias="x5t#S256")
    alg: StrictStr


class CertificateInfoObject(_Body):
    certificates: list[SecurityDomainJsonWebKey]
    required: StrictInt = 2

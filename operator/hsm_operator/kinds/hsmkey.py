"""HSMKey: one key (all its versions) in a Managed HSM, reconciled through the async `KeyClient`.

Why this module exists: keys are what the HSM is for, and losing or silently replacing one is the worst outcome.
So this client:

- adopts an existing key of the same name only when kty/size/curve match (else `AdoptionBlocked`), and never
  creates a new version to do so;
- updates ops/enabled/nbf/exp/tags/release policy with one PATCH of the latest version, and the rotation policy
  with one PUT, only for the fields that actually differ (the loop calls `update` only with a non-empty diff);
- rotates once per new value of the `mhsm.dev/rotate` annotation (the handled value is kept in
  `status.lastRotateRequest`; a value already present when the key is created or adopted does not rotate);
- handles soft-deleted name clashes per `spec.createMode` (Default refuses, Recover, CreateOrRecover,
  PurgeThenCreate) and deletion per `deletionPolicy` (Orphan is the loop's business; Delete soft-deletes; Purge
  also purges where purge protection allows);
- publishes the current version's public key to `spec.publicKeyTo.configMapName` (never for oct keys), owned by
  the HSMKey so garbage collection removes it with the CR.

The pure comparisons live in `hsmkey_state`; this module reads the SDK objects into those snapshots and calls the SDK.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import KeyReleasePolicy, KeyRotationLifetimeAction, KeyRotationPolicy

from hsm_operator.kinds import KindSpec, Plane
from hsm_operator.kinds.cluster_objects import owner_reference
from hsm_operator.kinds.dataplane import DataPlane, DataPlaneConnector, DataPlaneRuntime, waiting_if_not_activated
from hsm_operator.kinds.hsmkey_state import (
    KeyShape,
    KeyState,
    LifetimeAction,
    ReleasePolicyState,
    RotationPolicyState,
    attribute_drift,
    key_family,
    rotation_drift,
    shape_mismatches,
)
from hsm_operator.kinds.public_key_export import PublicKeyMaterial, configmap_data, has_public_half
from hsm_operator.models import registry
from hsm_operator.models.hsmkey import HSMKeySpec
from hsm_operator.reconciler import annotations as annotation_keys
from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import (
    AVAILABLE,
    Creation,
    Deletion,
    FieldDrift,
    ManagedResource,
    Observation,
    Readiness,
    Update,
)

logger = logging.getLogger(__name__)

KIND_NAME = "HSMKey"
PLURAL = "hsmkeys"
IDENTITY_FIELD = "keyUri"
ROTATE_PATH = f"annotations[{annotation_keys.ROTATE}]"
_PROPERTY_PATHS = ("keyOps", "attributes.", "tags.", "releasePolicy")


def _text(value: Any) -> str | None:
    """SDK enums (`KeyType.rsa_hsm`) -> their wire value; None stays None."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _rfc3339(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def key_name(resource: ManagedResource) -> str:
    spec: HSMKeySpec = resource.spec
    return spec.key_name or resource.external_name or resource.name


def _release_policy_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def desired_rotation_policy(spec: HSMKeySpec) -> RotationPolicyState | None:
    policy = spec.rotation_policy
    if policy is None:
        return None
    return RotationPolicyState(
        expiry_time=policy.expiry_time,
        lifetime_actions=tuple(
            LifetimeAction(a.action.value, a.time_after_create, a.time_before_expiry)
            for a in policy.lifetime_actions or ()
        ),
    )


def desired_state(spec: HSMKeySpec) -> KeyState:
    """The spec as a `KeyState`: unset optional fields stay None (= not managed)."""
    attributes = spec.attributes
    return KeyState(
        shape=KeyShape(spec.kty.value, spec.key_size, spec.curve.value if spec.curve is not None else None),
        key_ops=frozenset(op.value for op in spec.key_ops) if spec.key_ops is not None else None,
        enabled=attributes.enabled,
        not_before=attributes.not_before,
        expires=attributes.expires,
        exportable=attributes.exportable if attributes.exportable else None,
        tags=dict(spec.tags) if spec.tags is not None else None,
        release_policy=(
            ReleasePolicyState(
                _release_policy_bytes(spec.release_policy.data),
                spec.release_policy.content_type,
                spec.release_policy.immutable,
            )
            if spec.release_policy is not None
            else None
        ),
        rotation_policy=desired_rotation_policy(spec),
    )


def observed_shape(key: Any) -> KeyShape:
    """kty/size/curve of an SDK `KeyVaultKey`. oct keys return no material, so their size is unknown (None)."""
    jwk = key.key
    kty = _text(key.key_type) or _text(jwk.kty) or ""
    size: int | None = None
    if key_family(kty) == "RSA" and jwk.n:
        size = int.from_bytes(jwk.n, "big").bit_length()
    return KeyShape(kty=kty, size=size, curve=_text(jwk.crv))


def observed_state(key: Any, rotation_policy: Any | None) -> KeyState:
    """Read an SDK `KeyVaultKey` (and its `KeyRotationPolicy`, when fetched) into a `KeyState`."""
    properties = key.properties
    release = properties.release_policy
    return KeyState(
        shape=observed_shape(key),
        key_ops=frozenset(str(_text(op)) for op in key.key_operations or ()),
        enabled=properties.enabled,
        not_before=properties.not_before,
        expires=properties.expires_on,
        exportable=properties.exportable,
        tags=dict(properties.tags or {}),
        release_policy=(
            ReleasePolicyState(release.encoded_policy, release.content_type, release.immutable)
            if release is not None and release.encoded_policy
            else None
        ),
        rotation_policy=(
            RotationPolicyState(
                rotation_policy.expires_in,
                tuple(
                    LifetimeAction(str(_text(a.action)), a.time_after_create, a.time_before_expiry)
                    for a in rotation_policy.lifetime_actions or ()
                ),
            )
            if rotation_policy is not None
            else None
        ),
    )


def key_status(key: Any, *, version_count: int | None) -> dict[str, Any]:
    """The status fields published for a key's current version."""
    properties = key.properties
    shape = observed_shape(key)
    status: dict[str, Any] = {
        "keyId": key.id,
        "keyUri": f"{properties.vault_url.rstrip('/')}/keys/{properties.name}",
        "currentVersion": properties.version,
        "recoveryLevel": _text(properties.recovery_level),
        "created": _rfc3339(properties.created_on),
        "updated": _rfc3339(properties.updated_on),
        "sizeOrCurve": shape.curve or (str(shape.size) if shape.size else None),
    }
    if version_count is not None:
        status["versionCount"] = version_count
    return {name: value for name, value in status.items() if value is not None}


def rotate_request(resource: ManagedResource) -> str | None:
    value = resource.annotations.get(annotation_keys.ROTATE, "").strip()
    return value or None


def public_key_material(key: Any) -> PublicKeyMaterial:
    jwk = key.key
    return PublicKeyMaterial(
        kid=str(key.id), kty=_text(key.key_type) or "", n=jwk.n, e=jwk.e, crv=_text(jwk.crv), x=jwk.x, y=jwk.y
    )


class KeyClientAdapter:
    """`ExternalClient` for one HSMKey."""

    def __init__(self, dataplane: DataPlane, resource: ManagedResource) -> None:
        self._dataplane = dataplane
        self._spec: HSMKeySpec = resource.spec
        self._name = key_name(resource)

    # -- observe ---------------------------------------------------------------------------------------------------

    async def _soft_deleted(self) -> bool:
        try:
            await self._dataplane.keys().get_deleted_key(self._name)
        except ResourceNotFoundError:
            return False
        except HttpResponseError as error:
            if error.status_code == 403:
                return False  # not allowed to look: a create will tell (409 -> SoftDeletedConflict)
            raise
        return True

    async def _version_count(self) -> int:
        count = 0
        async for _ in self._dataplane.keys().list_properties_of_key_versions(self._name):
            count += 1
        return count

    async def _rotation_policy(self) -> Any | None:
        try:
            return await self._dataplane.keys().get_key_rotation_policy(self._name)
        except ResourceNotFoundError:
            return None

    async def _publish_public_key(self, resource: ManagedResource, key: Any) -> None:
        target = self._spec.public_key_to
        if target is None or not has_public_half(_text(key.key_type) or ""):
            return
        await self._dataplane.cluster.apply_owned_config_map(
            resource.namespace,
            target.config_map_name,
            configmap_data(public_key_material(key)),
            owner=owner_reference(KIND_NAME, resource.name, resource.uid),
        )

    async def observe(self, resource: ManagedResource) -> Observation:
        keys = self._dataplane.keys()
        try:
            async with waiting_if_not_activated(self._dataplane.target):
                key = await keys.get_key(self._name)
        except ResourceNotFoundError:
            if resource.deleting:
                return Observation(exists=False)
            return Observation(exists=False, soft_deleted=await self._soft_deleted())

        status = key_status(key, version_count=None if resource.deleting else await self._version_count())
        desired = desired_state(self._spec)
        observed_shape_ = observed_shape(key)
        mismatches = shape_mismatches(desired.shape, observed_shape_)
        if mismatches or resource.deleting:
            return Observation(exists=True, drift=mismatches, status=status, identity=status["keyUri"])

        rotation = await self._rotation_policy() if desired.rotation_policy is not None else None
        observed = observed_state(key, rotation)
        drift = list(attribute_drift(desired, observed)) + list(
            rotation_drift(desired.rotation_policy, observed.rotation_policy)
        )

        requested = rotate_request(resource)
        bound = resource.status.get(IDENTITY_FIELD)
        if not bound:
            # First sight (created or adopted now): a rotate value already present is not a new request.
            status["lastRotateRequest"] = requested
        elif requested is not None and requested != resource.status.get("lastRotateRequest"):
            drift.append(FieldDrift(ROTATE_PATH, requested, resource.status.get("lastRotateRequest")))

        await self._publish_public_key(resource, key)
        # A key disabled against the spec cannot be used: not Ready (a key the spec disables is as declared).
        disabled_against_spec = observed.enabled is False and desired.enabled is not False
        readiness = Readiness(False, "Disabled", "The key is disabled") if disabled_against_spec else AVAILABLE
        return Observation(
            exists=True,
            drift=tuple(drift),
            status={name: value for name, value in status.items() if value is not None},
            readiness=readiness,
            identity=status["keyUri"],
        )

    # -- create ----------------------------------------------------------------------------------------------------

    def _release_policy(self) -> KeyReleasePolicy | None:
        policy = self._spec.release_policy
        if policy is None:
            return None
        return KeyReleasePolicy(
            _release_policy_bytes(policy.data), content_type=policy.content_type, immutable=policy.immutable
        )

    async def _create_key(self) -> Any:
        spec = self._spec
        attributes = spec.attributes
        return await self._dataplane.keys().create_key(
            self._name,
            spec.kty.value,
            size=spec.key_size,
            curve=spec.curve.value if spec.curve is not None else None,
            key_operations=[op.value for op in spec.key_ops] if spec.key_ops is not None else None,
            enabled=attributes.enabled,
            tags=dict(spec.tags) if spec.tags is not None else None,
            not_before=attributes.not_before,
            expires_on=attributes.expires,
            exportable=True if attributes.exportable else None,
            release_policy=self._release_policy(),
        )

    async def _set_rotation_policy(self) -> None:
        desired = desired_rotation_policy(self._spec)
        if desired is None:
            return
        policy = KeyRotationPolicy(
            expires_in=desired.expiry_time,
            lifetime_actions=[
                KeyRotationLifetimeAction(
                    a.action, time_after_create=a.time_after_create, time_before_expiry=a.time_before_expiry
                )
                for a in desired.lifetime_actions
            ],
        )
        await self._dataplane.keys().update_key_rotation_policy(self._name, policy)

    async def create(self, resource: ManagedResource) -> Creation:
        keys = self._dataplane.keys()
        mode = (resource.create_mode or "default").lower()
        recovered = False
        if mode in ("recover", "createorrecover") and (mode == "recover" or await self._soft_deleted()):
            try:
                key = await keys.recover_deleted_key(self._name)
            except ResourceNotFoundError:
                raise errors.NotFound(
                    f"createMode Recover: there is no soft-deleted key named {self._name} to recover"
                ) from None
            recovered = True
        else:
            if mode == "purgethencreate" and await self._soft_deleted():
                await keys.purge_deleted_key(self._name)
            key = await self._create_key()
            await self._set_rotation_policy()
        status = key_status(key, version_count=None)
        # A rotate annotation present at creation is not a new request.
        status["lastRotateRequest"] = rotate_request(resource)
        await self._publish_public_key(resource, key)
        return Creation(status=status, identity=status["keyUri"], recovered=recovered)

    # -- update ----------------------------------------------------------------------------------------------------

    async def update(self, resource: ManagedResource, drift: tuple[FieldDrift, ...]) -> Update:
        keys = self._dataplane.keys()
        paths = {d.path for d in drift}
        status: dict[str, Any] = {}
        if ROTATE_PATH in paths:
            # Rotate first: the property PATCH below then applies to the new current version.
            key = await keys.rotate_key(self._name)
            status.update(key_status(key, version_count=await self._version_count()))
            status["lastRotateRequest"] = rotate_request(resource)
            status["lastRotationTime"] = _rfc3339(datetime.datetime.now(datetime.UTC))
            await self._publish_public_key(resource, key)
        if any(path.startswith(_PROPERTY_PATHS) for path in paths):
            spec = self._spec
            attributes = spec.attributes
            key = await keys.update_key_properties(
                self._name,
                key_operations=(
                    [op.value for op in spec.key_ops] if spec.key_ops is not None and "keyOps" in paths else None
                ),
                enabled=attributes.enabled if "attributes.enabled" in paths else None,
                not_before=attributes.not_before if "attributes.notBefore" in paths else None,
                expires_on=attributes.expires if "attributes.expires" in paths else None,
                tags=(
                    dict(spec.tags)
                    if spec.tags is not None and any(path.startswith("tags.") for path in paths)
                    else None
                ),
                release_policy=self._release_policy() if "releasePolicy" in paths else None,
            )
            status.update(key_status(key, version_count=None))
        if "rotationPolicy" in paths:
            await self._set_rotation_policy()
        return Update(status=status)

    # -- delete ----------------------------------------------------------------------------------------------------

    async def delete(self, resource: ManagedResource) -> Deletion:
        keys = self._dataplane.keys()
        with contextlib.suppress(ResourceNotFoundError):  # already gone is fine
            await keys.delete_key(self._name, _polling_interval=1)
        if resource.deletion_policy.value == "Purge":
            try:
                await keys.purge_deleted_key(self._name)
            except ResourceNotFoundError:
                pass
            except HttpResponseError as error:
                if error.status_code != 403:
                    raise
                # Purge protection (or a missing purge right) keeps the key soft-deleted until its scheduled purge
                # date; the CR can still go, which is what its owner asked for, and a Warning event says why.
                logger.warning("Key %s was deleted but not purged: %s", self._name, error.message)
                return Deletion(warning=f"key {self._name} was deleted but not purged: {error.message}")
        return Deletion()


def connector(runtime: DataPlaneRuntime) -> DataPlaneConnector:
    return DataPlaneConnector(runtime, KeyClientAdapter)


KIND = KindSpec(
    resource=registry.BY_KIND[KIND_NAME],
    plane=Plane.DATA,
    connector=connector,
    identity_field=IDENTITY_FIELD,
)

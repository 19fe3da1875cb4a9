"""The Kubernetes objects data-plane kinds read or write besides their own CR.

Why this module exists: the data-plane kinds depend on neighbours in their namespace (the ManagedHSM whose status
holds the HSM URL, ConfigMaps/Secrets with security-domain certificates, HSMKeys named by `keyRef`,
HSMRoleDefinitions named by `roleDefinitionRef`, HSMRoleAssignments that still use a role definition) and publish
results into others (the security-domain Secret, the public-key ConfigMap). Those calls, their error mapping and the
"never overwrite what is not ours" rules are the same for every kind, so they are written once here.

Only objects in the CR's own namespace are ever touched: cross-namespace references do not exist (CRDS.md).
Every failure becomes a reconcile error with a message naming the object: a missing neighbour is `NotFound`
(retried with backoff, it may appear), an object we must not touch is `Conflict`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from hsm_operator.reconciler import errors

GROUP = "mhsm.dev"
VERSION = "v1alpha1"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "managed-hsm-operator"
RESERVED_FOR_ANNOTATION = "mhsm.dev/reserved-for"  # uid of the CR that will fill a Secret it created empty


def _api_failure(error: ApiException, what: str) -> errors.ReconcileError:
    if error.status == 403:
        return errors.AuthorizationFailed(f"the operator may not access {what}: {error.reason}")
    if error.status == 404:
        return errors.NotFound(f"{what} not found")
    if error.status == 409:
        return errors.Conflict(f"{what} was changed concurrently")
    return errors.Unavailable(f"Kubernetes API error on {what}: {error.status} {error.reason}")


class ClusterObjects:
    """Typed reads and careful writes of namespaced objects through one `kubernetes_asyncio` ApiClient."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self._core = k8s.CoreV1Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)

    # -- reads -----------------------------------------------------------------------------------------------------

    async def custom_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A `mhsm.dev/v1alpha1` object, or None when it does not exist."""
        try:
            body: dict[str, Any] = await self._custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise _api_failure(error, f"{plural} {namespace}/{name}") from None
        return body

    async def custom_objects(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        try:
            listing: dict[str, Any] = await self._custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, plural
            )
        except ApiException as error:
            raise _api_failure(error, f"{plural} in namespace {namespace}") from None
        items: list[dict[str, Any]] = listing.get("items", [])
        return items

    async def config_value(self, source: str, namespace: str, name: str, key: str) -> bytes:
        """One value of a ConfigMap (`source="configMap"`) or Secret (`source="secret"`), as bytes."""
        what = f"{'ConfigMap' if source == 'configMap' else 'Secret'} {namespace}/{name}"
        try:
            if source == "configMap":
                config_map = await self._core.read_namespaced_config_map(name, namespace)
                text = (config_map.data or {}).get(key)
                if text is None and config_map.binary_data and key in config_map.binary_data:
                    return base64.b64decode(config_map.binary_data[key])
                if text is None:
                    raise errors.NotFound(f"{what} has no key {key!r}")
                return str(text).encode("utf-8")
            secret = await self._core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            raise _api_failure(error, what) from None
        encoded = (secret.data or {}).get(key)
        if encoded is None:
            raise errors.NotFound(f"{what} has no key {key!r}")
        return base64.b64decode(encoded)

    # -- writes ----------------------------------------------------------------------------------------------------

    async def reserve_secret(self, namespace: str, name: str, *, holder: str) -> dict[str, bytes]:
        """Claim the Secret name for `holder` before producing data that could not be produced twice.

        Creates an empty Secret annotated with the holder (the CR's uid) or finds our own earlier reservation, and
        returns its current data. A Secret of that name that is somebody else's is a `Conflict`, never touched.
        """
        what = f"Secret {namespace}/{name}"
        body = k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(
                name=name,
                namespace=namespace,
                labels={MANAGED_BY_LABEL: MANAGED_BY},
                annotations={RESERVED_FOR_ANNOTATION: holder},
            ),
            type="Opaque",
        )
        try:
            await self._core.create_namespaced_secret(namespace, body)
            return {}
        except ApiException as error:
            if error.status != 409:
                raise _api_failure(error, what) from None
        try:
            existing = await self._core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            raise _api_failure(error, what) from None
        if (existing.metadata.annotations or {}).get(RESERVED_FOR_ANNOTATION) != holder:
            raise errors.Conflict(f"{what} already exists and was not created for this object; it is never overwritten")
        return {key: base64.b64decode(value) for key, value in (existing.data or {}).items()}

    async def fill_reserved_secret(self, namespace: str, name: str, data: Mapping[str, bytes]) -> None:
        """Add `data` to a Secret reserved with `reserve_secret` (a merge patch: nothing else is replaced)."""
        patch = {"data": {key: base64.b64encode(value).decode("ascii") for key, value in data.items()}}
        try:
            await self._core.patch_namespaced_secret(name, namespace, patch)
        except ApiException as error:
            raise _api_failure(error, f"Secret {namespace}/{name}") from None

    async def secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        try:
            secret = await self._core.read_namespaced_secret(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise _api_failure(error, f"Secret {namespace}/{name}") from None
        return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}

    async def apply_owned_config_map(
        self, namespace: str, name: str, data: Mapping[str, str], *, owner: k8s.V1OwnerReference
    ) -> bool:
        """Create or update a ConfigMap owned by `owner`; True if anything was written.

        A ConfigMap of that name that is not owned by `owner` is somebody else's: `Conflict`, never touched.
        No write happens when the data is already equal (no apiserver write storms on every sync).
        """
        what = f"ConfigMap {namespace}/{name}"
        try:
            existing = await self._core.read_namespaced_config_map(name, namespace)
        except ApiException as error:
            if error.status != 404:
                raise _api_failure(error, what) from None
            existing = None
        if existing is None:
            body = k8s.V1ConfigMap(
                metadata=k8s.V1ObjectMeta(
                    name=name, namespace=namespace, labels={MANAGED_BY_LABEL: MANAGED_BY}, owner_references=[owner]
                ),
                data=dict(data),
            )
            try:
                await self._core.create_namespaced_config_map(namespace, body)
            except ApiException as error:
                raise _api_failure(error, what) from None
            return True
        owners = existing.metadata.owner_references or []
        if not any(reference.uid == owner.uid for reference in owners):
            raise errors.Conflict(f"{what} exists and is not owned by {owner.kind} {owner.name}; not touched")
        if dict(existing.data or {}) == dict(data):
            return False
        try:
            await self._core.patch_namespaced_config_map(name, namespace, {"data": dict(data)})
        except ApiException as error:
            raise _api_failure(error, what) from None
        return True


def owner_reference(kind: str, name: str, uid: str) -> k8s.V1OwnerReference:
    """An owner reference to one of our CRs (garbage collection removes what it owns when it is deleted)."""
    return k8s.V1OwnerReference(
        api_version=f"{GROUP}/{VERSION}", kind=kind, name=name, uid=uid, controller=True, block_owner_deletion=False
    )

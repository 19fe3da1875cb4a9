"""HSMSecurityDomain: activate a Managed HSM by downloading its security domain, and keep the download safe.

Why this module exists: a new HSM refuses all key work until its security domain is downloaded, encrypted to a
quorum of the customers' RSA certificates. The download is the one data-plane write that can never be repeated
safely (each one is the only copy that can recover the HSM), so the order is strict:

1. build the request from the PEM certificates in the namespace's ConfigMaps/Secrets (every bad certificate is named);
2. reserve the output Secret (created empty, annotated with this CR's uid; somebody else's Secret of that name is a
   `Conflict` and nothing is downloaded);
3. `SecurityDomainClient.begin_download` (activates the HSM; the SDK polls until the service says `Success`);
4. write the result (`{"value": ...}`, the form `hsm-emulator security-domain restore-blob` and the CLI read) into
   the reserved Secret under `security-domain.json`.

An HSM that is already active (the ManagedHSM says `Active`, or the data plane reports a finished download) is only
observed and reported (`Activated=True`); no second download is made. Deleting the CR never deactivates anything
(the kind only allows `deletionPolicy: Orphan`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from hsm_operator.kinds import KindSpec, Plane
from hsm_operator.kinds.dataplane import DataPlane, DataPlaneConnector, DataPlaneRuntime
from hsm_operator.kinds.security_domain_certificates import CertificateError, certificate_info, security_domain_key
from hsm_operator.models import registry
from hsm_operator.models.hsmsecuritydomain import ACTIVATED_CONDITION, SECURITY_DOMAIN_SECRET_KEY
from hsm_operator.models.hsmsecuritydomain import HSMSecurityDomainSpec as Spec
from hsm_operator.reconciler import conditions, errors
from hsm_operator.reconciler.external import (
    AVAILABLE,
    Creation,
    Deletion,
    FieldDrift,
    ManagedResource,
    Observation,
    Update,
)

logger = logging.getLogger(__name__)

ACTIVE = "Active"
NOT_ACTIVATED = "NotActivated"
IDENTITY_FIELD = "activationStatus"
DOWNLOAD_POLL_SECONDS = 1
SECRET_WRITE_ATTEMPTS = 3


def activated_condition(active: bool, message: str) -> conditions.Condition:
    return conditions.Condition(
        ACTIVATED_CONDITION,
        conditions.TRUE if active else conditions.FALSE,
        ACTIVE if active else NOT_ACTIVATED,
        message,
    )


class SecurityDomainClientAdapter:
    """`ExternalClient` for one HSMSecurityDomain; "exists" means "the HSM is activated"."""

    def __init__(self, dataplane: DataPlane, resource: ManagedResource) -> None:
        self._dataplane = dataplane
        self._spec: Spec = resource.spec

    async def _download_finished(self) -> bool:
        """Whether the data plane reports a completed download (`Success`), i.e. the HSM is active.

        Anything else counts as "not activated": a fresh HSM answers `InProgress` (or an error) before any download,
        and this kind never leaves a download of its own in flight between passes (`create` waits for `Success`).
        """
        client = self._dataplane.security_domain()
        try:
            status = await client.get_download_status()
        except ResourceNotFoundError:
            return False
        except HttpResponseError as error:
            if error.status_code in (400, 409):
                return False  # no download was ever started on this HSM
            raise
        state = getattr(status, "status", None)
        # The SDK returns an `OperationStatus` enum; its str() is the member name, so read the wire value.
        return str(getattr(state, "value", state) or "").lower() in ("success", "succeeded")

    async def observe(self, resource: ManagedResource) -> Observation:
        target = self._dataplane.target
        # The ManagedHSM's status may lag behind (the management controller polls); the data plane knows.
        active = target.active is True or await self._download_finished()
        if not active:
            return Observation(exists=False, status={IDENTITY_FIELD: target.activation_status or NOT_ACTIVATED})
        stored = await self._dataplane.cluster.secret_data(resource.namespace, self._spec.output_secret_ref.name)
        downloaded_here = stored is not None and SECURITY_DOMAIN_SECRET_KEY in stored
        message = (
            f"security domain stored in Secret {self._spec.output_secret_ref.name}"
            if downloaded_here
            else "the HSM is active; its security domain was not downloaded by this object"
        )
        return Observation(
            exists=True,
            status={IDENTITY_FIELD: ACTIVE},
            readiness=AVAILABLE,
            conditions=(activated_condition(True, message),),
        )

    async def _request_body(self, namespace: str) -> dict[str, Any]:
        keys = []
        for index, source in enumerate(self._spec.certificates):
            if source.config_map_key_ref is not None:
                ref, kind, label = source.config_map_key_ref, "configMap", "ConfigMap"
            else:
                assert source.secret_key_ref is not None  # the model guarantees exactly one
                ref, kind, label = source.secret_key_ref, "secret", "Secret"
            pem = await self._dataplane.cluster.config_value(kind, namespace, ref.name, ref.key)
            where = f"spec.certificates[{index}] ({label} {ref.name} key {ref.key})"
            try:
                keys.append(security_domain_key(pem, source=where))
            except CertificateError as error:
                raise errors.InvalidSpec(str(error)) from None
        try:
            return certificate_info(keys, quorum=self._spec.quorum)
        except CertificateError as error:
            raise errors.InvalidSpec(f"spec.certificates: {error}") from None

    async def create(self, resource: ManagedResource) -> Creation:
        namespace = resource.namespace
        secret_name = self._spec.output_secret_ref.name
        # Certificates first: a bad or missing one must not leave an empty Secret behind.
        body = await self._request_body(namespace)
        reserved = await self._dataplane.cluster.reserve_secret(namespace, secret_name, holder=resource.uid)
        if SECURITY_DOMAIN_SECRET_KEY in reserved:
            # We stored a download before but the HSM does not report activation: never download a second domain
            # over the first one; a human must look (the Secret holds the only recovery material).
            raise errors.Conflict(
                f"Secret {namespace}/{secret_name} already holds a security domain but the HSM is not active; "
                "not downloading again"
            )
        poller = await self._dataplane.security_domain().begin_download(body, polling_interval=DOWNLOAD_POLL_SECONDS)
        security_domain = await poller.result()
        payload = json.dumps({"value": security_domain.value}).encode("utf-8")
        await self._store(namespace, secret_name, payload)
        return Creation(status={IDENTITY_FIELD: ACTIVE})

    async def _store(self, namespace: str, secret_name: str, payload: bytes) -> None:
        """Write the download; retried because losing it would leave the HSM without recovery material."""
        for attempt in range(1, SECRET_WRITE_ATTEMPTS + 1):
            try:
                await self._dataplane.cluster.fill_reserved_secret(
                    namespace, secret_name, {SECURITY_DOMAIN_SECRET_KEY: payload}
                )
                return
            except errors.ReconcileError as error:
                logger.error(
                    "Writing the security domain to Secret %s/%s failed (attempt %d): %s",
                    namespace,
                    secret_name,
                    attempt,
                    error.message,
                )
                if attempt == SECRET_WRITE_ATTEMPTS:
                    raise errors.ReconcileError(
                        f"the HSM was activated but its security domain could not be stored in Secret "
                        f"{namespace}/{secret_name}: {error.message}"
                    ) from None

    async def update(self, resource: ManagedResource, drift: tuple[FieldDrift, ...]) -> Update:
        return Update()  # nothing about an activated HSM's security domain can be changed in place

    async def delete(self, resource: ManagedResource) -> Deletion:
        return Deletion()  # deleting the CR never deactivates the HSM


def connector(runtime: DataPlaneRuntime) -> DataPlaneConnector:
    # Not `require_active`: this kind is what activates the HSM.
    return DataPlaneConnector(runtime, SecurityDomainClientAdapter, require_active=False)


KIND = KindSpec(
    resource=registry.BY_KIND["HSMSecurityDomain"],
    plane=Plane.DATA,
    connector=connector,
    identity_field=IDENTITY_FIELD,
)

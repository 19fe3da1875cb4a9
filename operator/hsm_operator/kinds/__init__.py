"""The kinds the operator reconciles, and the operator-wide runtime their connectors are built from.

How a kind plugs into the handlers (nothing in `handlers.py` is kind-specific):

1. Write `hsm_operator/kinds/<kind>.py` with an `ExternalConnector` and `ExternalClient` (see
   `reconciler.external` for the contract) and export a module-level `KIND = KindSpec(...)`:

       KIND = KindSpec(
           resource=registry.BY_KIND["HSMKey"],   # names + spec/status models, from hsm_operator.models.registry
           plane=Plane.DATA,
           connector=lambda runtime: DataPlaneConnector(runtime, make_client),
           identity_field="keyUri",               # status field recording the bound external object's identity
       )

2. `discover()` imports every module of this package and collects the `KIND`s; `hsm-operator run --plane P`
   registers handlers for the kinds of plane P only.
3. The handlers parse `spec` with the kind's spec model (a bad spec becomes `InvalidSpec`, never a crash), build a
   `ManagedResource` (policies, createMode, annotations, status), run `reconciler.managed.Reconciler` with the
   kind's connector and `azure.errors.classify`, then patch status and post Events.

`Runtime` is what connectors receive: `config` (environment), `azure` (cached SDK clients and credentials) and
`cluster` (namespaced Kubernetes reads/writes); it implements `kinds.dataplane.DataPlaneRuntime`.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from hsm_operator.azure import credentials
from hsm_operator.azure.clients import AzureClients
from hsm_operator.kinds.cluster_objects import ClusterObjects
from hsm_operator.models import registry
from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import DeletionPolicy, DriftPolicy, ExternalConnector, ManagedResource
from hsm_operator.reconciler.policies import parse_management_policies
from hsm_operator.settings import OperatorConfig


class Plane(enum.StrEnum):
    MANAGEMENT = "management"
    DATA = "data"


class Runtime:
    """Operator-wide services for connectors: one per operator process, closed at shutdown."""

    def __init__(self, config: OperatorConfig, azure: AzureClients, cluster: ClusterObjects) -> None:
        self.config = config
        self.azure = azure
        self._cluster = cluster

    @property
    def cluster(self) -> ClusterObjects:
        return self._cluster

    async def credential(self, namespace: str, secret_name: str) -> Any:
        """The data-plane credential from the Secret in the CR's own namespace (never the operator's identity)."""
        data = await self._cluster.secret_data(namespace, secret_name)
        secret = credentials.parse_secret(data, namespace=namespace, name=secret_name)
        return self.azure.data_credential(secret)

    def key_client(self, hsm_uri: str, credential: Any) -> Any:
        return self.azure.key_client(hsm_uri, credential)

    def access_control_client(self, hsm_uri: str, credential: Any) -> Any:
        return self.azure.access_control_client(hsm_uri, credential)

    def backup_client(self, hsm_uri: str, credential: Any) -> Any:
        return self.azure.backup_client(hsm_uri, credential)

    def security_domain_client(self, hsm_uri: str, credential: Any) -> Any:
        return self.azure.security_domain_client(hsm_uri, credential)


@dataclass(frozen=True)
class KindSpec:
    """One reconciled kind: its CRD definition, plane, connector factory and identity status field."""

    resource: registry.CustomResourceKind
    plane: Plane
    connector: Callable[[Runtime], ExternalConnector]
    identity_field: str

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def plural(self) -> str:
        return self.resource.plural

    def managed_resource(self, body: Mapping[str, Any], *, deleting: bool = False) -> ManagedResource:
        """The loop's view of a CR body; an invalid spec raises `InvalidSpec` naming the first bad field."""
        metadata = body.get("metadata") or {}
        raw_spec = body.get("spec") or {}
        try:
            spec = self.resource.spec_model.model_validate(raw_spec)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "spec"
            raise errors.InvalidSpec(f"spec.{where}: {first['msg']}") from None
        policies = parse_management_policies([str(p) for p in spec.management_policies])
        create_mode = getattr(spec, "create_mode", None)
        return ManagedResource(
            kind=self.kind,
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation") or 0),
            spec=spec,
            annotations=dict(metadata.get("annotations") or {}),
            status=dict(body.get("status") or {}),
            deleting=deleting,
            management_policies=policies,
            deletion_policy=DeletionPolicy(getattr(spec, "deletion_policy", DeletionPolicy.DELETE)),
            drift_policy=DriftPolicy(spec.drift_policy),
            create_mode=str(create_mode).lower() if create_mode is not None else None,
        )


def discover() -> tuple[KindSpec, ...]:
    """Every `KIND` exported by a module of this package, in `models.registry` order."""
    found: dict[str, KindSpec] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        kind = getattr(module, "KIND", None)
        if isinstance(kind, KindSpec):
            found[kind.kind] = kind
    order = [k.kind for k in registry.KINDS]
    return tuple(found[name] for name in order if name in found)


def for_plane(plane: str) -> tuple[KindSpec, ...]:
    """The kinds reconciled by `--plane management|data|all`."""
    kinds = discover()
    return kinds if plane == "all" else tuple(k for k in kinds if k.plane.value == plane)

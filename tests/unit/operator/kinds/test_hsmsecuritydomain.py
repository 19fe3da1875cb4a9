"""HSMSecurityDomain client rules: what counts as activated, validation before any write, never two downloads.

The cluster and the SecurityDomainClient are small in-memory stand-ins recording what was called; the SDK models
(`SecurityDomainOperationStatus`, `SecurityDomain`) are the real ones. The real flow runs in the integration tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.keyvault.securitydomain.models import SecurityDomain, SecurityDomainOperationStatus

from hsm_operator.kinds.dataplane import DataPlane
from hsm_operator.kinds.hsm_target import HsmTarget
from hsm_operator.kinds.hsmsecuritydomain import SecurityDomainClientAdapter
from hsm_operator.models.hsmsecuritydomain import HSMSecurityDomainSpec
from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import ManagedResource
from tests.unit.operator.kinds.certificates import rsa_certificate


@pytest.fixture(scope="module")
def pems() -> list[bytes]:
    return [rsa_certificate(f"holder-{index}")[0] for index in range(3)]


@dataclass
class FakeCluster:
    values: dict[tuple[str, str], bytes]
    secrets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    reserved: list[str] = field(default_factory=list)

    async def config_value(self, source: str, namespace: str, name: str, key: str) -> bytes:
        try:
            return self.values[(name, key)]
        except KeyError:
            raise errors.NotFound(f"{source} {namespace}/{name} has no key {key!r}") from None

    async def reserve_secret(self, namespace: str, name: str, *, holder: str) -> dict[str, bytes]:
        self.reserved.append(name)
        return self.secrets.setdefault(name, {})

    async def fill_reserved_secret(self, namespace: str, name: str, data: dict[str, bytes]) -> None:
        self.secrets[name].update(data)

    async def secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return self.secrets.get(name)


@dataclass
class FakePoller:
    value: str

    async def result(self) -> SecurityDomain:
        return SecurityDomain(value=self.value)


@dataclass
class FakeSecurityDomainClient:
    state: str = "InProgress"
    downloads: list[dict[str, Any]] = field(default_factory=list)

    async def get_download_status(self) -> SecurityDomainOperationStatus:
        return SecurityDomainOperationStatus(status=self.state)

    async def begin_download(self, body: dict[str, Any], **_: Any) -> FakePoller:
        self.downloads.append(body)
        self.state = "Success"
        return FakePoller('{"EncData": {}}')


@dataclass
class FakeRuntime:
    cluster: FakeCluster
    sd: FakeSecurityDomainClient

    def security_domain_client(self, hsm_uri: str, credential: Any) -> FakeSecurityDomainClient:
        return self.sd


def make(pems: list[bytes], *, activation: str | None = None, second: bytes | None = None) -> tuple[Any, ...]:
    values = {("certs", f"c{i}"): pem for i, pem in enumerate(pems)}
    if second is not None:
        values[("certs", "c1")] = second
    runtime = FakeRuntime(FakeCluster(values), FakeSecurityDomainClient())
    spec = HSMSecurityDomainSpec.model_validate(
        {
            "hsmRef": {"name": "hsm"},
            "credentialRef": {"name": "admin"},
            "certificates": [{"configMapKeyRef": {"name": "certs", "key": f"c{i}"}} for i in range(3)],
            "quorum": 2,
            "outputSecretRef": {"name": "sd-out"},
        }
    )
    resource = ManagedResource("HSMSecurityDomain", "ns", "activation", "uid-1", 1, spec)
    dataplane = DataPlane(runtime, HsmTarget("https://h.example", activation), credential=None)  # type: ignore[arg-type]
    return runtime, resource, SecurityDomainClientAdapter(dataplane, resource)


async def test_fresh_hsm_is_downloaded_once_and_stored(pems: list[bytes]) -> None:
    runtime, resource, client = make(pems, activation="NotActivated")
    assert not (await client.observe(resource)).exists  # a fresh HSM reports InProgress: not activated
    creation = await client.create(resource)
    assert creation.status == {"activationStatus": "Active"}
    (body,) = runtime.sd.downloads
    assert body["required"] == 2
    assert [key["kty"] for key in body["certificates"]] == ["RSA"] * 3
    assert json.loads(runtime.cluster.secrets["sd-out"]["security-domain.json"]) == {"value": '{"EncData": {}}'}

    observation = await client.observe(resource)
    assert observation.exists
    (activated,) = observation.conditions
    assert (activated.type, activated.status) == ("Activated", "True")
    assert "stored in Secret sd-out" in activated.message


async def test_active_hsm_is_only_observed(pems: list[bytes]) -> None:
    runtime, resource, client = make(pems, activation="Active")
    observation = await client.observe(resource)
    assert observation.exists
    assert "not downloaded by this object" in observation.conditions[0].message
    assert runtime.sd.downloads == []


async def test_bad_certificate_is_named_and_nothing_is_written(pems: list[bytes]) -> None:
    runtime, resource, client = make(pems, second=b"garbage")
    with pytest.raises(errors.InvalidSpec, match=r"spec.certificates\[1\] \(ConfigMap certs key c1\)"):
        await client.create(resource)
    assert runtime.cluster.reserved == []
    assert runtime.sd.downloads == []


async def test_a_stored_domain_is_never_downloaded_over(pems: list[bytes]) -> None:
    runtime, resource, client = make(pems)
    runtime.cluster.secrets["sd-out"] = {"security-domain.json": b'{"value": "old"}'}
    with pytest.raises(errors.Conflict, match="already holds a security domain"):
        await client.create(resource)
    assert runtime.sd.downloads == []

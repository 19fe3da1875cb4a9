"""Metrics: what one pass of the real loop (through `Controller`) adds to each series, the azure-core policy in a
real pipeline against an in-process HTTP server, the `/metrics` server, and HSM_METRICS_PORT validation."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from azure.core import AsyncPipelineClient
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.policies import AsyncRetryPolicy
from azure.core.rest import HttpRequest
from azure.identity.aio import ClientSecretCredential

from hsm_operator import metrics
from hsm_operator.azure.clients import AzureClients
from hsm_operator.azure.request_metrics import AzureRequestCounter
from hsm_operator.controller import Controller
from hsm_operator.kinds import managedhsm
from hsm_operator.reconciler import errors
from hsm_operator.reconciler.external import FieldDrift, Observation
from hsm_operator.settings import ConfigError, config_from_env
from tests.unit.operator.reconciler.fakes import FakeClient, FakeConnector, observing, raising

KIND = "ManagedHSM"
SPEC = {
    "subscriptionId": "00000000-0000-0000-0000-000000000001",
    "resourceGroupName": "rg-one",
    "location": "westeurope",
    "sku": {"name": "Standard_B1"},
    "tenantId": "00000000-0000-0000-0000-000000000002",
    "initialAdminObjectIds": ["00000000-0000-0000-0000-000000000003"],
    "enablePurgeProtection": False,
    "softDeleteRetentionInDays": 7,
    "tags": {"env": "prod"},
}
TAGS = FieldDrift("tags.env", "prod", "dev")


def body(uid: str, *, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": f"hsm-{uid}", "namespace": "ns", "uid": uid, "generation": 1, "annotations": {}},
        "spec": {**SPEC, **spec},
        "status": status or {},
    }


class Harness:
    """A Controller over the real loop, with a fake external client and its own Metrics."""

    def __init__(self) -> None:
        self.client = FakeClient()
        self.connector = FakeConnector(self.client)
        self.metrics = metrics.Metrics()
        self.metrics.declare_kinds([KIND])
        kind = replace(managedhsm.KIND, connector=lambda _runtime: self.connector)
        runtime: Any = type("R", (), {"config": config_from_env({"HSM_SYNC_INTERVAL": "100"})})()
        self.controller = Controller(kind, runtime, self.metrics)

    def value(self, name: str, **labels: str) -> float:
        found = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found

    def passes(self, result: str) -> float:
        return self.value("hsm_operator_reconcile_total", kind=KIND, result=result)

    async def run(self, document: dict[str, Any], *, deleting: bool = False) -> dict[str, Any]:
        outcome = await self.controller.reconcile(document, deleting=deleting)
        # What kopf would write: the next pass sees the status this one recorded.
        return {**document, "status": {**document["status"], **outcome.status}}


@pytest.fixture
def harness() -> Harness:
    return Harness()


async def test_declared_kinds_publish_zero_series(harness: Harness) -> None:
    for result in metrics.RESULTS:
        assert harness.metrics.registry.get_sample_value(
            "hsm_operator_reconcile_total", {"kind": KIND, "result": result}
        ) == pytest.approx(0.0)
    assert harness.metrics.registry.get_sample_value("hsm_operator_managed_objects", {"kind": KIND}) == 0.0
    assert harness.metrics.registry.get_sample_value("hsm_operator_drifted_objects", {"kind": KIND}) == 0.0


async def test_create_then_in_sync_then_drift_then_corrected_then_deleted(harness: Harness) -> None:
    document = await harness.run(
        body("a", driftPolicy="Report", deletionPolicy="Delete")
    )  # absent: create requested, look again soon
    assert harness.client.writes == ["create"]
    assert harness.passes(metrics.PENDING) == 1
    assert harness.value("hsm_operator_managed_objects", kind=KIND) == 1

    harness.client.observe_fn = observing(Observation(exists=True, identity="/ids/obj"))
    document = await harness.run(document)
    assert harness.passes(metrics.SUCCESS) == 1
    assert harness.value("hsm_operator_drifted_objects", kind=KIND) == 0

    # Out-of-band change under Report: the pass succeeds and the object counts as drifted, once however often seen.
    harness.client.observe_fn = observing(Observation(exists=True, identity="/ids/obj", drift=(TAGS,)))
    document = await harness.run(document)
    document = await harness.run(document)
    assert harness.passes(metrics.SUCCESS) == 3
    assert harness.value("hsm_operator_drifted_objects", kind=KIND) == 1
    assert document["status"]["drift"][0]["path"] == "tags.env"
    # A second object under driftPolicy Correct: its drift is corrected, so it does not count as drifted.
    await harness.run(body("b", driftPolicy="Correct"))
    assert harness.client.writes[-1] == "update"
    assert harness.value("hsm_operator_managed_objects", kind=KIND) == 2
    assert harness.value("hsm_operator_drifted_objects", kind=KIND) == 1

    # The drift goes away (fixed by hand): Drifted=False again.
    harness.client.observe_fn = observing(Observation(exists=True, identity="/ids/obj"))
    document = await harness.run(document)
    assert harness.value("hsm_operator_drifted_objects", kind=KIND) == 0

    # Deleting: the delete is started (pending), then the object is gone (deleted) and no longer managed.
    await harness.run(document, deleting=True)
    assert harness.passes(metrics.PENDING) == 2
    harness.client.observe_fn = observing(Observation(exists=False))
    await harness.run(document, deleting=True)
    assert harness.passes(metrics.DELETED) == 1
    assert harness.value("hsm_operator_managed_objects", kind=KIND) == 1
    assert harness.value("hsm_operator_reconcile_duration_seconds_count", kind=KIND) == 8
    assert harness.value("hsm_operator_reconcile_duration_seconds_sum", kind=KIND) >= 0
    assert harness.value("hsm_operator_reconcile_errors_total", kind=KIND, reason=errors.RECONCILE_ERROR) == 0


async def test_failures_count_by_reason_and_expected_waits_are_not_errors(harness: Harness) -> None:
    harness.client.observe_fn = raising(errors.AuthorizationFailed("no role"))
    await harness.run(body("a"))
    await harness.run(body("a"))
    harness.connector.error = errors.WaitingForHSM("ManagedHSM hsm is not Ready")
    await harness.run(body("a"))
    harness.connector.error = RuntimeError("boom")  # unknown: recorded as the generic ReconcileError reason
    await harness.run(body("a"))

    assert harness.passes(metrics.ERROR) == 3
    assert harness.passes(metrics.WAITING) == 1
    assert harness.value("hsm_operator_reconcile_errors_total", kind=KIND, reason="AuthorizationFailed") == 2
    assert harness.value("hsm_operator_reconcile_errors_total", kind=KIND, reason=errors.RECONCILE_ERROR) == 1
    assert harness.value("hsm_operator_reconcile_errors_total", kind=KIND, reason="WaitingForHSM") == 0
    assert harness.value("hsm_operator_managed_objects", kind=KIND) == 1


async def test_an_invalid_spec_is_an_error_pass_without_calling_azure(harness: Harness) -> None:
    await harness.run(body("a", softDeleteRetentionInDays="many"))
    assert harness.connector.connects == 0
    assert harness.value("hsm_operator_reconcile_errors_total", kind=KIND, reason="InvalidSpec") == 1
    assert harness.value("hsm_operator_reconcile_duration_seconds_count", kind=KIND) == 1


async def test_forget_removes_the_object_from_the_gauges(harness: Harness) -> None:
    harness.client.observe_fn = observing(Observation(exists=True, identity="/ids/obj", drift=(TAGS,)))
    document = await harness.run(body("a", driftPolicy="Report"))
    assert harness.value("hsm_operator_drifted_objects", kind=KIND) == 1
    harness.controller.forget(document)
    assert harness.value("hsm_operator_managed_objects", kind=KIND) == 0
    assert harness.value("hsm_operator_drifted_objects", kind=KIND) == 0


# -- Azure requests: the policy inside real azure-core pipelines ---------------------------------------------------


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """An in-process HTTP server: /flaky answers 503 once then 200; /forbidden answers 403."""
    calls = {"flaky": 0}

    async def flaky(_: web.Request) -> web.Response:
        calls["flaky"] += 1
        return web.Response(status=503 if calls["flaky"] == 1 else 200, headers={"Retry-After": "0"})

    async def forbidden(_: web.Request) -> web.Response:
        return web.Response(status=403)

    app = web.Application()
    app.router.add_get("/flaky", flaky)
    app.router.add_put("/forbidden", forbidden)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_each_attempt_is_counted_with_its_status_and_transport_errors_too(upstream: str) -> None:
    counters = metrics.Metrics()
    retry = AsyncRetryPolicy(retry_total=2, retry_backoff_factor=0.01)
    async with AsyncPipelineClient(
        upstream, policies=[retry], per_retry_policies=[AzureRequestCounter(counters, "keys")]
    ) as client:
        assert (await client.send_request(HttpRequest("GET", f"{upstream}/flaky"))).status_code == 200
        assert (await client.send_request(HttpRequest("PUT", f"{upstream}/forbidden"))).status_code == 403
    closed = f"http://127.0.0.1:{free_port()}"
    async with AsyncPipelineClient(
        closed, policies=[AsyncRetryPolicy(retry_total=0)], per_retry_policies=[AzureRequestCounter(counters, "arm")]
    ) as client:
        with pytest.raises(ServiceRequestError):
            await client.send_request(HttpRequest("DELETE", f"{closed}/x"))

    def count(service: str, method: str, status: str) -> float | None:
        labels = {"service": service, "method": method, "status": status}
        return counters.registry.get_sample_value("hsm_operator_azure_requests_total", labels)

    assert count("keys", "GET", "503") == 1  # the retried attempt
    assert count("keys", "GET", "200") == 1
    assert count("keys", "PUT", "403") == 1
    assert count("arm", "DELETE", metrics.TRANSPORT_ERROR) == 1


async def test_every_sdk_client_of_the_operator_carries_the_counter() -> None:
    config = config_from_env({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"})
    counters = metrics.Metrics()
    azure = AzureClients(config, counters)
    credential = ClientSecretCredential("t", "c", "s")
    uri = "https://hsm.managedhsm.azure.net"
    clients = {
        "keyvault_management": azure.keyvault_management("sub"),
        "resource_management": azure.resource_management("sub"),
        "keys": azure.key_client(uri, credential),
        "access_control": azure.access_control_client(uri, credential),
        "backup": azure.backup_client(uri, credential),
        "security_domain": azure.security_domain_client(uri, credential),
    }
    try:
        for service, client in clients.items():
            # Management clients hold the azure-core PipelineClient directly, Key Vault ones inside a generated client.
            inner = client._client
            pipeline = inner._pipeline if hasattr(inner, "_pipeline") else inner._client._pipeline
            counters_found = [
                getattr(p, "_policy", None)
                for p in pipeline._impl_policies
                if isinstance(getattr(p, "_policy", None), AzureRequestCounter)
            ]
            assert len(counters_found) == 1, service
            assert counters_found[0].service == service
            assert counters_found[0].metrics is counters
            names = [type(getattr(p, "_policy", p)).__name__ for p in pipeline._impl_policies]
            # Right after the retry policy: every attempt is seen.
            assert names[names.index("AzureRequestCounter") - 1] == "AsyncRetryPolicy", (service, names)
    finally:
        await azure.close()
        await credential.close()


# -- the /metrics server and its port -------------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[metrics.Metrics, metrics.MetricsServer]]:
    counters = metrics.Metrics()
    server = metrics.serve(counters, 0, address="127.0.0.1")
    yield counters, server
    server.close()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def test_metrics_are_served_in_the_prometheus_format(
    served: tuple[metrics.Metrics, metrics.MetricsServer],
) -> None:
    counters, server = served
    counters.declare_kinds(["HSMKey"])
    counters.pass_finished("HSMKey", "u1", metrics.PassResult(metrics.ERROR, "Throttled"), duration=0.2)
    counters.azure_response("keys", "get", 429)
    text = await asyncio.to_thread(scrape, server.port)
    assert 'hsm_operator_reconcile_total{kind="HSMKey",result="error"} 1.0' in text
    assert 'hsm_operator_reconcile_errors_total{kind="HSMKey",reason="Throttled"} 1.0' in text
    assert 'hsm_operator_reconcile_duration_seconds_bucket{kind="HSMKey",le="0.25"} 1.0' in text
    assert 'hsm_operator_azure_requests_total{method="GET",service="keys",status="429"} 1.0' in text
    assert 'hsm_operator_managed_objects{kind="HSMKey"} 1.0' in text
    assert "process_resident_memory_bytes" in text


def test_a_taken_port_is_a_clear_error(served: tuple[metrics.Metrics, metrics.MetricsServer]) -> None:
    _, server = served
    with pytest.raises(OSError, match=f"HSM_METRICS_PORT {server.port}: cannot listen on 127.0.0.1"):
        metrics.serve(metrics.Metrics(), server.port, address="127.0.0.1")


def test_closing_the_server_frees_the_port() -> None:
    server = metrics.serve(metrics.Metrics(), 0, address="127.0.0.1")
    port = server.port
    server.close()
    metrics.serve(metrics.Metrics(), port, address="127.0.0.1").close()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("9090", 9090), (" 8081 ", 8081), ("", None)],
)
def test_metrics_port_setting(value: str, expected: int | None) -> None:
    assert config_from_env({"HSM_METRICS_PORT": value}).metrics_port == expected
    assert config_from_env({}).metrics_port is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "HSM_METRICS_PORT: .*between 1 and 65535"),
        ("70000", "HSM_METRICS_PORT: .*between 1 and 65535"),
        ("http", "HSM_METRICS_PORT: .*valid integer"),
    ],
)
def test_a_bad_metrics_port_names_the_variable(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_env({"HSM_METRICS_PORT": value})


def test_a_ready_object_looked_at_early_is_a_success_not_pending() -> None:
    """An HSM awaiting activation is Ready and asks for an early look: a success; a create in flight is pending."""
    from hsm_operator.metrics import PENDING, SUCCESS, judge
    from hsm_operator.reconciler.managed import Outcome

    def outcome(ready: str) -> Outcome:
        return Outcome(status={"conditions": [{"type": "Ready", "status": ready, "reason": "x"}]}, requeue_after=10.0)

    assert judge(outcome("True"), sync_interval=600).result == SUCCESS
    assert judge(outcome("False"), sync_interval=600).result == PENDING

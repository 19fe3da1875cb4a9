"""ARM GET latency of the emulator (median, p99) beside the in-process cost of the same handler work.

The in-process figure runs what the GET handler runs (read transaction, Azure RBAC decision, lookup, rendering,
JSON) against the same kind of database without HTTP, TLS or token checks; the ratio shows what the HTTP stack
costs. Run alone: `.venv/bin/python bench/bench_arm.py [--quick] [--requests 300]`.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as `python bench/bench_arm.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.framework import Row, median, percentile, standalone
from hsm_devtools.emulator_process import EmulatorProcess, standard_directory
from hsm_emulator.config import parse_config
from hsm_emulator.management import bootstrap, models, rbac, service, store, wire
from hsm_emulator.storage import Database

GROUP = "ARM GET managedHSM (emulator over HTTPS)"
REFERENCE = "same handler work in-process"
API = "api-version=2025-05-01"


@dataclass(frozen=True)
class Caller:
    object_id: str
    tenant_id: str
    group_ids: frozenset[str] = field(default_factory=frozenset)


def hsm_body(directory_tenant: str, admin: str, location: str) -> dict[str, object]:
    return {
        "location": location,
        "sku": {"family": "B", "name": "Standard_B1"},
        "properties": {"tenantId": directory_tenant, "initialAdminObjectIds": [admin]},
    }


def over_http(requests: int) -> list[float]:
    directory = standard_directory()
    with tempfile.TemporaryDirectory() as state, EmulatorProcess(Path(state), directory.config()) as process:
        sp = directory.sp("mgmt-operator")
        status, token = process.request_token(
            directory.tenant_id,
            {
                "grant_type": "client_credentials",
                "client_id": sp.app_id,
                "client_secret": sp.secret,
                "scope": "https://management.azure.com/.default",
            },
        )
        assert status == 200, token
        url = (
            f"{process.url}/subscriptions/{directory.subscription_id}/resourceGroups/rg-one/providers/"
            f"Microsoft.KeyVault/managedHSMs/bench-hsm?{API}"
        )
        context = ssl.create_default_context(cafile=str(process.ca_file))
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        with httpx.Client(verify=context, headers=headers, timeout=10) as client:
            body = hsm_body(directory.tenant_id, directory.sp("hsm-admin").object_id, directory.location)
            assert client.put(url, json=body).status_code == 202
            for _ in range(20):  # warm-up
                client.get(url)
            samples = []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(url)
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200
    return samples


def in_process(requests: int) -> list[float]:
    directory = standard_directory()
    config = parse_config(directory.config())
    with tempfile.TemporaryDirectory() as data:
        db = Database.open(Path(data))
        db.migrate(store.MIGRATIONS)
        settings = service.ManagementSettings("127.0.0.1", tuple(range(9000, 9016)))
        caller = Caller(directory.sp("mgmt-operator").object_id, directory.tenant_id)
        now = time.time()
        with db.transaction() as tx:
            bootstrap.apply_bootstrap(tx, config, now)
            body = models.ManagedHsmBody.model_validate(
                hsm_body(directory.tenant_id, directory.sp("hsm-admin").object_id, directory.location)
            )
            service.create_or_update(
                tx, settings, caller=caller.object_id, subscription_tenant=directory.tenant_id,
                subscription_id=directory.subscription_id, resource_group="rg-one", name="bench-hsm", body=body,
                now=now,
            )  # fmt: skip
        scope = f"{directory.scope('rg-one')}/providers/Microsoft.KeyVault/managedHSMs/bench-hsm"
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            with db.read() as tx:
                rbac.authorize(tx, caller, "Microsoft.KeyVault/managedHSMs/read", scope)
                hsm = service.get_live(tx, directory.subscription_id, "rg-one", "bench-hsm")
            json.dumps(wire.managed_hsm(hsm, settings, time.time()))
            samples.append(time.perf_counter() - started)
        db.close()
    return samples


def collect(arguments: argparse.Namespace) -> list[Row]:
    requests = arguments.requests or (100 if arguments.quick else 300)
    http = [sample * 1000 for sample in over_http(requests)]
    local = [sample * 1000 for sample in in_process(requests)]
    return [
        Row(GROUP, "latency median", median(http), "ms", median(local), REFERENCE, higher_is_better=False),
        Row(
            GROUP,
            "latency p99",
            percentile(http, 0.99),
            "ms",
            percentile(local, 0.99),
            REFERENCE,
            higher_is_better=False,
        ),
    ]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=None, help="GET requests to time (default 300)")


if __name__ == "__main__":
    sys.exit(standalone(__doc__.splitlines()[0], collect, configure, stem="arm"))

"""ARM GET latency of the emulator (median, p99) beside the in-process cost of the same handler work.

The in-process figure runs what the GET handler runs (read transaction, Azure RBAC decision, lookup, rendering,
JSON) against the same kind of database without HTTP, TLS or token checks; the ratio shows what the HTTP stack
costs. Prints a table and writes bench/results/bench_arm.json.

    .venv/bin/python bench/bench_arm.py [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import ssl
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "operator"))

from hsm_devtools.emulator_process import EmulatorProcess, standard_directory
from hsm_emulator.config import parse_config
from hsm_emulator.management import bootstrap, models, rbac, service, store, wire
from hsm_emulator.storage import Database

RESULTS = Path(__file__).resolve().parent / "results" / "bench_arm.json"
API = "api-version=2025-05-01"


@dataclass(frozen=True)
class Caller:
    object_id: str
    tenant_id: str
    group_ids: frozenset[str] = field(default_factory=frozenset)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    http = over_http(args.requests)
    local = in_process(args.requests)
    rows = {
        "http_get": {"median_ms": statistics.median(http) * 1000, "p99_ms": percentile(http, 0.99) * 1000},
        "in_process": {"median_ms": statistics.median(local) * 1000, "p99_ms": percentile(local, 0.99) * 1000},
    }
    ratio = rows["http_get"]["median_ms"] / rows["in_process"]["median_ms"]
    print(f"{'ARM GET managedHSM':<22}{'median ms':>12}{'p99 ms':>12}")
    for name, row in rows.items():
        print(f"{name:<22}{row['median_ms']:>12.3f}{row['p99_ms']:>12.3f}")
    print(f"{'http / in-process':<22}{ratio:>12.1f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"requests": args.requests, **rows, "median_ratio": ratio}, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()

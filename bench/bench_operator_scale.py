"""The operator under load: the real local control plane + emulator + `hsm-operator run --plane=data` processes.

Setup (documented in README "Benchmarks"): one HSM created and activated directly with the SDK (the data-plane
controller reaches it by `spec.hsmUri`, so no ManagedHSM or management controller is involved), one credential Secret
for the `crypto-user` identity (Crypto User at `/`), the data-plane controller watching one namespace with the
production sync interval (HSM_SYNC_INTERVAL=600).

Figures:
- time-to-Ready of N HSMKeys (EC-HSM P-256) applied at once (one bulk server-side apply), from the apply until every
  object reports Ready=True, beside the same N creations made directly with KeyClient (sequential, one thread) and
  the published create limit (1 key/s per HSM, so N s);
- apiserver writes per object during that run, from the apiserver's own `apiserver_request_total` counters (verb,
  resource, subresource) before/after, minus the bulk apply itself: patches of the HSMKey, of its status subresource,
  and Events written;
- the operator's peak RSS (VmHWM) and its steady-state idle CPU (utime+stime from /proc/<pid>/stat over a window)
  with the Ready keys of the largest size (realistic steady state: every object Ready, timers ticking, N/600 s drift
  reads), then with that many plus paused HSMKeys (`mhsm.dev/paused: "true"`, applied in bulk) up to the idle target:
  they cost the operator what any object costs (watch cache, timers, one status write) without 4,000 more HSM keys.

Run alone: `.venv/bin/python bench/bench_operator_scale.py [--quick] [--sizes 100 1000] [--idle 5000]
[--idle-seconds 60]`. Needs the control-plane binaries (`make controlplane`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.keyvault.keys import KeyClient

if __package__ in (None, ""):  # run as `python bench/bench_operator_scale.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_backup import Bench
from bench.framework import Row, standalone
from hsm_devtools import binaries, controlplane, operator_process
from hsm_devtools.emulator_process import EmulatorProcess, standard_directory
from hsm_devtools.kubectl import Kubectl
from hsm_devtools.processes import ManagedProcess

GROUP_READY = "operator time-to-Ready (HSMKey EC-HSM P-256, applied at once)"
GROUP_WRITES = "apiserver writes per HSMKey (operator, whole create-to-Ready)"
GROUP_IDLE = "operator process (data plane) at rest"
NAMESPACE = "bench"
SYNC_INTERVAL = 600
METRIC = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- apiserver metrics ------------------------------------------------------------------------------------------------


def request_counts(metrics_text: str, resource: str) -> Counter[tuple[str, str]]:
    """apiserver_request_total summed by (verb, subresource) for one resource (any group, code, scope)."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in metrics_text.splitlines():
        match = METRIC.match(line)
        if match is None:
            continue
        labels = dict(LABEL.findall(match["labels"]))
        if labels.get("resource") == resource:
            counts[(labels.get("verb", ""), labels.get("subresource", ""))] += int(float(match["value"]))
    return counts


def metrics(kubectl: Kubectl) -> str:
    return kubectl("get", "--raw", "/metrics", timeout=60).stdout


WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY")


def write_delta(before: str, after: str, resource: str) -> Counter[tuple[str, str]]:
    old, new = request_counts(before, resource), request_counts(after, resource)
    return Counter({key: new[key] - old[key] for key in new if key[0] in WRITE_VERBS and new[key] > old[key]})


# -- the operator process ---------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15 of stat)


def memory_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


# -- objects ----------------------------------------------------------------------------------------------------------


def hsm_key(name: str, hsm_uri: str, batch: str, *, paused: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "labels": {"bench-batch": batch}}
    if paused:
        metadata["annotations"] = {"mhsm.dev/paused": "true"}
    return {
        "apiVersion": "mhsm.dev/v1alpha1",
        "kind": "HSMKey",
        "metadata": metadata,
        "spec": {"hsmUri": hsm_uri, "credentialRef": {"name": "keys-cred"}, "kty": "EC-HSM", "curve": "P-256"},
    }


def apply_bulk(kubectl: Kubectl, items: list[dict[str, Any]], *, workers: int = 4) -> None:
    """Server-side apply in `workers` parallel kubectl calls (each one List)."""
    chunks = [items[index::workers] for index in range(workers) if items[index::workers]]

    def apply(chunk: list[dict[str, Any]]) -> None:
        document = json.dumps({"apiVersion": "v1", "kind": "List", "items": chunk})
        kubectl("apply", "--server-side", "--field-manager=bench", "-f", "-", input=document, timeout=600)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(apply, chunks))


def condition_summary(kubectl: Kubectl, batch: str, condition: str) -> Counter[str]:
    """Count of `<status>/<reason>` of one condition over the objects of a batch."""
    found = f'.status.conditions[?(@.type=="{condition}")]'
    template = f'{{range .items[*]}}{{{found}.status}}/{{{found}.reason}}{{"\\n"}}{{end}}'
    out = kubectl("get", "hsmkeys", "-n", NAMESPACE, "-l", f"bench-batch={batch}", "-o", f"jsonpath={template}")
    return Counter(line for line in out.stdout.splitlines())


def wait_all(kubectl: Kubectl, batch: str, count: int, condition: str, wanted: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        summary = condition_summary(kubectl, batch, condition)
        done = sum(n for state, n in summary.items() if state.startswith(wanted))
        if done >= count:
            return
        if time.monotonic() > deadline:
            reached = f"{done}/{count} HSMKeys of batch {batch} reached {condition} {wanted}"
            raise RuntimeError(f"{reached} in {timeout:.0f} s: {dict(summary)}")
        time.sleep(0.5)


# -- the run ----------------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    kubectl: Kubectl
    operator: ManagedProcess
    keys: KeyClient
    hsm_uri: str


@contextmanager
def running_stack(state: Path) -> Iterator[Stack]:
    directory = standard_directory()
    with (
        controlplane.ControlPlane(state / "cluster") as plane,
        EmulatorProcess(state / "emulator", directory.config()) as emulator,
    ):
        controlplane.install_crds(plane, binaries.REPO_ROOT / "crds")
        kubectl = plane.kubectl()
        bench = Bench(emulator, directory)
        uri = bench.create_active_hsm("bench-operator")
        sp = directory.sp("crypto-user")
        kubectl("create", "namespace", NAMESPACE)
        kubectl(
            "create", "secret", "generic", "keys-cred", "-n", NAMESPACE, f"--from-literal=tenantId={sp.tenant_id}",
            f"--from-literal=clientId={sp.app_id}", f"--from-literal=clientSecret={sp.secret}",
        )  # fmt: skip
        endpoints = operator_process.AzureEndpoints(emulator.url, emulator.url, emulator.ca_file)
        env = operator_process.controller_env("data", plane.kubeconfig_path, endpoints, None, SYNC_INTERVAL)
        operator = operator_process.start_controller("data", state / "operator", env, namespaces=[NAMESPACE])
        try:
            yield Stack(kubectl, operator, KeyClient(uri, bench.credential("crypto-user"), **bench.kwargs), uri)
        finally:
            operator.stop()


def time_to_ready(stack: Stack, size: int, timeout: float) -> list[Row]:
    started = time.perf_counter()
    for index in range(size):
        stack.keys.create_ec_key(f"sdk-{size}-{index:05d}", curve="P-256")
    sdk_seconds = time.perf_counter() - started

    batch = f"ready-{size}"
    items = [hsm_key(f"op-{size}-{index:05d}", stack.hsm_uri, batch) for index in range(size)]
    before = metrics(stack.kubectl)
    started = time.perf_counter()
    apply_bulk(stack.kubectl, items)
    wait_all(stack.kubectl, batch, size, "Ready", "True", timeout)
    ready_seconds = time.perf_counter() - started
    time.sleep(2)  # writes that follow Ready (kopf's own bookkeeping) belong to the object's cost
    after = metrics(stack.kubectl)
    keys = write_delta(before, after, "hsmkeys")
    events = write_delta(before, after, "events")
    applied = sum(n for (verb, _), n in keys.items() if verb == "APPLY")
    if applied != size:
        raise RuntimeError(f"expected {size} server-side applies of hsmkeys in the apiserver counters, saw {keys}")
    object_patches = sum(n for (verb, sub), n in keys.items() if verb != "APPLY" and sub == "")
    status_patches = sum(n for (verb, sub), n in keys.items() if verb != "APPLY" and sub == "status")
    event_writes = sum(events.values())
    label = f"{size:,} keys"
    return [
        Row(GROUP_READY, f"{label}: apply -> all Ready", ready_seconds, "s", sdk_seconds,
            "same creations, KeyClient sequential", float(size), higher_is_better=False),
        Row(GROUP_READY, f"{label}: throughput", size / ready_seconds, "keys/s", size / sdk_seconds,
            "same creations, KeyClient sequential", 1.0),
        Row(GROUP_WRITES, f"{label}: HSMKey patches (finalizer, kopf state)", object_patches / size, "writes/object",
            higher_is_better=False),
        Row(GROUP_WRITES, f"{label}: status subresource patches", status_patches / size, "writes/object",
            higher_is_better=False),
        Row(GROUP_WRITES, f"{label}: Events written", event_writes / size, "writes/object", higher_is_better=False),
    ]  # fmt: skip


def idle(stack: Stack, objects: int, seconds: float, reference: Row | None) -> list[Row]:
    pid = stack.operator.pid
    time.sleep(min(5.0, seconds))  # let the last writes and follow-ups settle
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before) * 100
    cpu_row = Row(
        GROUP_IDLE, f"idle CPU with {objects:,} objects ({seconds:.0f} s window)", cpu, "% of a core",
        *((reference.value, f"same with {reference.name.split(' with ')[1].split(' (')[0]}") if reference else ()),
        higher_is_better=False,
    )  # fmt: skip
    return [
        cpu_row,
        Row(GROUP_IDLE, f"RSS with {objects:,} objects", memory_mib(pid, "VmRSS"), "MiB", higher_is_better=False),
        Row(GROUP_IDLE, f"peak RSS (VmHWM) up to {objects:,} objects", memory_mib(pid, "VmHWM"), "MiB",
            higher_is_better=False),
    ]  # fmt: skip


def run(sizes: list[int], idle_target: int, idle_seconds: float, timeout: float, state_dir: Path | None) -> list[Row]:
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-operator-") as scratch,
        running_stack(state_dir or Path(scratch)) as stack,
    ):
        for size in sizes:
            rows += time_to_ready(stack, size, timeout)
            print(
                f"  {size} HSMKeys Ready in {rows[-5].value:.1f} s (SDK alone {rows[-5].reference:.1f} s)", flush=True
            )
        ready = sum(sizes)
        first = idle(stack, ready, idle_seconds, None)
        rows += first
        if idle_target > ready:
            extra = idle_target - ready
            items = [hsm_key(f"paused-{index:05d}", stack.hsm_uri, "paused", paused=True) for index in range(extra)]
            started = time.perf_counter()
            apply_bulk(stack.kubectl, items)
            applied = time.perf_counter() - started
            wait_all(stack.kubectl, "paused", extra, "Synced", "False/ReconcilePaused", timeout)
            print(f"  {extra} paused HSMKeys applied in {applied:.1f} s, seen in {time.perf_counter() - started:.1f} s")
            rows.append(Row(GROUP_IDLE, f"bulk server-side apply of {extra:,} HSMKeys", extra / applied, "objects/s"))
            rows += idle(stack, idle_target, idle_seconds, first[0])
    return rows


def collect(arguments: argparse.Namespace) -> list[Row]:
    sizes = arguments.sizes or ([50, 200] if arguments.quick else [100, 1000])
    idle_target = arguments.idle if arguments.idle is not None else (1000 if arguments.quick else 5000)
    idle_seconds = arguments.idle_seconds or (15.0 if arguments.quick else 60.0)
    return run(sizes, idle_target, idle_seconds, arguments.ready_timeout, arguments.state_dir)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="HSMKey counts (default 100 1000)")
    parser.add_argument("--idle", type=int, default=None, help="objects for the second idle figure (default 5000)")
    parser.add_argument("--idle-seconds", type=float, default=None, help="idle CPU window (default 60)")
    parser.add_argument("--state-dir", type=Path, default=None, help="keep logs and state here (default: a temp dir)")
    parser.add_argument("--ready-timeout", type=float, default=900.0, help="give up waiting for Ready after this")


if __name__ == "__main__":
    sys.exit(standalone(__doc__.splitlines()[0], collect, configure, stem="operator-scale"))

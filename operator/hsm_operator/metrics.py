"""Prometheus metrics of one operator process, and the `/metrics` server (CRDS.md "Operations defaults").

Why this module exists: operators of the operator need rates and states without reading logs: how many passes per
kind and how they ended, why they failed, how long they took, what Azure answered (by status code), and how many
objects are managed and drifted right now. One `Metrics` object per process owns its own `CollectorRegistry` (so
tests get fresh counters) and is fed from two places only:

- `controller.Controller.reconcile` calls `pass_finished` with each pass's `Outcome` (result, reason, duration and
  the Drifted condition it recorded) and `forget` when an object is gone;
- `azure.clients.AzureClients` puts `AzureRequestCounter` (an azure-core policy built from `request_counter`) into
  every SDK client's pipeline, after the retry policy, so each HTTP attempt is counted once with its status code.

The gauges are kept from those outcomes, never from a List of the cluster: `hsm_operator_managed_objects` counts the
objects this process has reconciled and not yet forgotten, `hsm_operator_drifted_objects` those whose last recorded
`Drifted` condition is True. `serve` starts prometheus_client's HTTP server on `HSM_METRICS_PORT` (CONTRACT.md §3).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, start_http_server

from hsm_operator.reconciler import conditions, errors
from hsm_operator.reconciler.managed import Outcome

# How one pass ended (the `result` label of hsm_operator_reconcile_total).
SUCCESS = "success"  # converged (or nothing to do): next pass at the sync interval
PENDING = "pending"  # an operation was started or is in flight (create, update, delete): looking again soon
WAITING = "waiting"  # an expected wait on another object (WaitingForHSM): not counted as an error
ERROR = "error"  # a failure: also counted in hsm_operator_reconcile_errors_total by reason
DELETED = "deleted"  # the external object is gone or orphaned: the finalizer may go
RESULTS = (SUCCESS, PENDING, WAITING, ERROR, DELETED)

TRANSPORT_ERROR = "transport_error"  # the `status` of an Azure request that got no HTTP response at all

# Seconds; a pass is one observe plus at most one write, so most land well under a second against Azure.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class PassResult:
    result: str
    reason: str | None = None  # the failure's reason (errors.*), for ERROR and WAITING
    drifted: bool | None = None  # the Drifted condition the pass recorded; None: the pass said nothing about it


def judge(outcome: Outcome, *, sync_interval: float) -> PassResult:
    """Classify one pass: `sync_interval` tells a short requeue (work in flight) from the regular poll."""
    drifted = _drifted(outcome.status)
    if outcome.error is not None:
        result = WAITING if outcome.error.expected else ERROR
        return PassResult(result, outcome.error.reason, drifted)
    if outcome.finished_deleting:
        return PassResult(DELETED, None, False)
    if outcome.requeue_after is not None and outcome.requeue_after < sync_interval and not _ready(outcome.status):
        # Work in flight. A Ready object that only asked to be looked at early (an HSM awaiting activation) is a
        # success.
        return PassResult(PENDING, None, drifted)
    return PassResult(SUCCESS, None, drifted)


def _ready(status: Mapping[str, Any]) -> bool:
    recorded = status.get("conditions")
    if not isinstance(recorded, list):
        return False
    condition = conditions.find(recorded, errors.READY)
    return condition is not None and condition.get("status") == conditions.TRUE


def _drifted(status: Mapping[str, Any]) -> bool | None:
    recorded = status.get("conditions")
    if not isinstance(recorded, list):
        return None
    condition = conditions.find(recorded, errors.DRIFTED)
    return None if condition is None else condition.get("status") == conditions.TRUE


class Metrics:
    """The operator's metrics; thread-safe (prometheus_client's own locks), read by the server thread."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.reconciles = Counter(
            "hsm_operator_reconcile",
            "Reconcile passes by kind and result (success, pending, waiting, error, deleted).",
            ["kind", "result"],
            registry=self.registry,
        )
        self.errors = Counter(
            "hsm_operator_reconcile_errors",
            "Failed reconcile passes by kind and reason (the Synced condition's reason).",
            ["kind", "reason"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "hsm_operator_reconcile_duration_seconds",
            "Duration of one reconcile pass (observe, plan and apply) by kind.",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.azure_requests = Counter(
            "hsm_operator_azure_requests",
            "HTTP requests to Azure by SDK client (service), method and response status code (or transport_error).",
            ["service", "method", "status"],
            registry=self.registry,
        )
        self.managed = Gauge(
            "hsm_operator_managed_objects",
            "Objects of each kind this process reconciles (seen and not yet deleted).",
            ["kind"],
            registry=self.registry,
        )
        self.drifted = Gauge(
            "hsm_operator_drifted_objects",
            "Objects of each kind whose last pass recorded Drifted=True.",
            ["kind"],
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        self._lock = threading.Lock()
        self._managed: dict[str, set[str]] = {}
        self._drifted: dict[str, set[str]] = {}

    def declare_kinds(self, kinds: Sequence[str]) -> None:
        """Publish zero-valued series for `kinds`, so dashboards and alerts see them before the first object."""
        for kind in kinds:
            with self._lock:
                self._managed.setdefault(kind, set())
                self._drifted.setdefault(kind, set())
            self.managed.labels(kind).set(0)
            self.drifted.labels(kind).set(0)
            self.durations.labels(kind)
            for result in RESULTS:
                self.reconciles.labels(kind, result)

    def pass_finished(self, kind: str, uid: str, passed: PassResult, *, duration: float) -> None:
        """Record one pass of object `uid` of `kind`."""
        self.reconciles.labels(kind, passed.result).inc()
        if passed.result == ERROR:
            self.errors.labels(kind, passed.reason or errors.RECONCILE_ERROR).inc()
        self.durations.labels(kind).observe(max(0.0, duration))
        if passed.result == DELETED:
            self.forget(kind, uid)
            return
        with self._lock:
            managed = self._managed.setdefault(kind, set())
            managed.add(uid)
            drifted = self._drifted.setdefault(kind, set())
            if passed.drifted is True:
                drifted.add(uid)
            elif passed.drifted is False:
                drifted.discard(uid)
            counts = len(managed), len(drifted)
        self.managed.labels(kind).set(counts[0])
        self.drifted.labels(kind).set(counts[1])

    def forget(self, kind: str, uid: str) -> None:
        """The object is gone (deleted, or its finalizer released): it no longer counts as managed or drifted."""
        with self._lock:
            managed = self._managed.setdefault(kind, set())
            drifted = self._drifted.setdefault(kind, set())
            managed.discard(uid)
            drifted.discard(uid)
            counts = len(managed), len(drifted)
        self.managed.labels(kind).set(counts[0])
        self.drifted.labels(kind).set(counts[1])

    def azure_response(self, service: str, method: str, status: int | str) -> None:
        self.azure_requests.labels(service, method.upper(), str(status)).inc()


class MetricsServer:
    """prometheus_client's HTTP server (a daemon thread) serving `/metrics` of one `Metrics`; `close` stops it."""

    def __init__(self, metrics: Metrics, *, port: int, address: str = "0.0.0.0") -> None:
        try:
            server, thread = start_http_server(port, addr=address, registry=metrics.registry)
        except OSError as exc:
            raise OSError(exc.errno, f"HSM_METRICS_PORT {port}: cannot listen on {address}: {exc.strerror}") from None
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.port = int(server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(metrics: Metrics, port: int, *, address: str = "0.0.0.0") -> MetricsServer:
    """Start serving `metrics` on `address:port` (port 0: any free port, see `MetricsServer.port`)."""
    return MetricsServer(metrics, port=port, address=address)

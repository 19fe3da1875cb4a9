"""The only kopf-decorated module: wires every kind's controller into kopf for one operator process.

Per kind: `on.create`/`on.update`/`on.resume` run the loop at once (a spec or annotation change, e.g. a new
`mhsm.dev/reconcile-requested` value, is a change); `on.delete` runs it in deleting mode (kopf owns the finalizer
`mhsm.dev/finalizer` and removes it when the loop says the external object is gone or orphaned); a timer re-runs it
for drift detection. Short requeues (create in progress, errors with backoff or Retry-After) are kopf retries of the
change handler (`TemporaryError(delay=...)`); expected waits (an operation in flight, WaitingForHSM) raise
`waits.ExpectedWait` and are logged at INFO, real failures keep kopf's ERROR. Status is patched through the status
subresource, and only with the fields that changed. Every pass feeds the process's `metrics.Metrics`.

Periodic sync design (measured with `bench/bench_operator.py 5000`): one kopf timer per object, ticking at
`min(HSM_SYNC_INTERVAL, 300 s)` with a random initial delay; each tick is an in-memory check (`Controller.due`:
`lastSyncTime` + the object's sync interval with a stable +/-10% jitter) and only due objects call Azure. Measured:
a sleeping timer-shaped task costs ~2.8 KiB of Python heap (5,000 objects: ~14 MiB, on top of kopf's per-object
memories), a due check ~46 us, so 5,000 objects mean ~17 wake-ups/s at the default tick and N/interval Azure reads.
The alternative, one scheduler per kind walking a `kopf.index`, saves those tasks but must patch status and
prevent overlapping passes outside kopf's handler machinery; at this cost the timer keeps both inside kopf.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Mapping, Sequence
from typing import Any

import kopf
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from hsm_operator.azure.clients import AzureClients
from hsm_operator.controller import Controller, status_patch
from hsm_operator.kinds import KindSpec, Runtime
from hsm_operator.kinds.cluster_objects import ClusterObjects
from hsm_operator.metrics import Metrics
from hsm_operator.models import registry as crd_registry
from hsm_operator.reconciler import conditions
from hsm_operator.reconciler import errors as reconcile_errors
from hsm_operator.reconciler.managed import Outcome
from hsm_operator.settings import OperatorConfig, configure_kopf
from hsm_operator.waits import ExpectedWait

logger = logging.getLogger(__name__)

# A periodic pass that started an operation looks again in-line (up to this many times, when the loop asks to come
# back within INLINE_WAIT_LIMIT seconds) rather than waiting for the next tick.
INLINE_FOLLOW_UPS = 6
INLINE_WAIT_LIMIT = 10.0


class _Process:
    """Operator-wide state created at startup and closed at cleanup (one per `kopf.run`)."""

    def __init__(self) -> None:
        self.controllers: dict[str, Controller] = {}
        self.azure: AzureClients | None = None
        self.api_client: k8s.ApiClient | None = None

    def controller(self, kind: str) -> Controller:
        try:
            return self.controllers[kind]
        except KeyError:
            raise kopf.TemporaryError("operator is still starting", delay=5) from None

    async def close(self) -> None:
        if self.azure is not None:
            await self.azure.close()
        if self.api_client is not None:
            await self.api_client.close()


async def _kubernetes_client() -> k8s.ApiClient:
    """In-cluster service account when running in a Pod, else $KUBECONFIG / ~/.kube/config."""
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
        return k8s.ApiClient()
    except k8s_config.ConfigException:
        return await k8s_config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))


def _record(body: Mapping[str, Any], patch: kopf.Patch, outcome: Outcome) -> None:
    for key, value in status_patch(body, outcome).items():
        patch.status[key] = value
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)  # type: ignore[arg-type]


def _requeue(outcome: Outcome, *, delay: float, logger: kopf.Logger, default: str) -> kopf.TemporaryError:
    """What to raise for a short requeue: a real failure keeps kopf's ERROR; an expected wait is one INFO line."""
    error = outcome.error
    if error is not None and not error.expected:
        return kopf.TemporaryError(f"{error.reason}: {error.message}", delay=delay)
    if error is not None:
        why = f"{error.reason}: {error.message}"
    else:
        # What the pass recorded: Synced=False says paused; otherwise Ready says Creating/Deleting/Updating.
        recorded = outcome.status.get("conditions")
        listed = recorded if isinstance(recorded, list) else None
        synced = conditions.find(listed, reconcile_errors.SYNCED)
        paused = synced is not None and synced.get("reason") == reconcile_errors.RECONCILE_PAUSED
        shown = synced if paused else conditions.find(listed, reconcile_errors.READY)
        why = f"{shown.get('reason')}: {shown.get('message') or default}" if shown is not None else default
    logger.info("%s; next check in %gs", why, delay)
    return ExpectedWait(why, delay=delay)


def build_registry(
    kinds: Sequence[KindSpec],
    config: OperatorConfig,
    *,
    peering_name: str | None,  # None = standalone
    clusterwide: bool = False,
    metrics: Metrics | None = None,  # None: a fresh one (served only if the caller serves it)
) -> kopf.OperatorRegistry:
    """A registry with the handlers of `kinds` only (one per plane or all), for `kopf.run(registry=...)`."""
    registry = kopf.OperatorRegistry()
    process = _Process()
    process_metrics = metrics if metrics is not None else Metrics()
    process_metrics.declare_kinds([kind.kind for kind in kinds])

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # A custom registry does not get kopf's default login handlers: in a Pod use the service account,
        # elsewhere $KUBECONFIG (or ~/.kube/config).
        info: kopf.ConnectionInfo | None = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(
            **kwargs
        )
        return info

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_kopf(settings, peering_name=peering_name, clusterwide=clusterwide)
        process.api_client = await _kubernetes_client()
        process.azure = AzureClients(config, process_metrics)
        runtime = Runtime(config, process.azure, ClusterObjects(process.api_client))
        process.controllers = {kind.kind: Controller(kind, runtime, process_metrics) for kind in kinds}
        logger.info("Reconciling %s", ", ".join(process.controllers) or "nothing")

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await process.close()

    tick = config.annotation_floor
    for kind in kinds:
        _register_kind(registry, kind, process, tick=tick)
    return registry


def _register_kind(registry: kopf.OperatorRegistry, kind: KindSpec, process: _Process, *, tick: float) -> None:
    where = (crd_registry.GROUP, crd_registry.VERSION, kind.plural)
    name = kind.kind.lower()

    async def converge(body: kopf.Body, patch: kopf.Patch, retry: int, logger: kopf.Logger) -> None:
        controller = process.controller(kind.kind)
        outcome = await controller.reconcile(body, attempt=retry)
        _record(body, patch, outcome)
        if outcome.requeue_after is not None and outcome.requeue_after < controller.sync_interval(body):
            # Not converged yet (creating, waiting, or a failure with backoff/Retry-After): kopf re-runs this handler.
            raise _requeue(
                outcome, delay=outcome.requeue_after, logger=logger, default="waiting for the external object"
            )

    @kopf.on.create(*where, registry=registry, id=f"{name}-create", retries=None)
    async def created(body: kopf.Body, patch: kopf.Patch, retry: int, logger: kopf.Logger, **_: Any) -> None:
        await converge(body, patch, retry, logger)

    @kopf.on.update(*where, registry=registry, id=f"{name}-update", retries=None)
    async def updated(body: kopf.Body, patch: kopf.Patch, retry: int, logger: kopf.Logger, **_: Any) -> None:
        await converge(body, patch, retry, logger)

    @kopf.on.resume(*where, registry=registry, id=f"{name}-resume", retries=None)
    async def resumed(body: kopf.Body, patch: kopf.Patch, retry: int, logger: kopf.Logger, **_: Any) -> None:
        await converge(body, patch, retry, logger)

    @kopf.on.delete(*where, registry=registry, id=f"{name}-delete", retries=None)
    async def deleted(body: kopf.Body, patch: kopf.Patch, retry: int, logger: kopf.Logger, **_: Any) -> None:
        controller = process.controller(kind.kind)
        outcome = await controller.reconcile(body, deleting=True, attempt=retry)
        if outcome.finished_deleting:
            for event in outcome.events:
                kopf.event(body, type=event.type, reason=event.reason, message=event.message)
            controller.forget(body)
            return
        _record(body, patch, outcome)
        # The finalizer stays until the external object is gone (or the object is unpaused and orphaned).
        delay = outcome.requeue_after if outcome.requeue_after is not None else controller.sync_interval(body)
        raise _requeue(outcome, delay=delay, logger=logger, default="waiting for the external object to be deleted")

    @kopf.timer(
        *where,
        registry=registry,
        id=f"{name}-sync",
        interval=tick,
        initial_delay=lambda **_: random.uniform(0, tick),
    )
    async def periodic(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        if body.metadata.get("deletionTimestamp"):
            return  # the delete handler owns deleting objects
        controller = process.controller(kind.kind)
        if not controller.due(body):
            return
        # A periodic pass can be the one that creates or updates (after the event handler gave up on a long
        # backoff): then it looks again after the loop's short requeue, within this tick, instead of leaving the
        # object "Creating" until the next due time. Each follow-up sees the status the previous pass recorded.
        current: Mapping[str, Any] = body
        for _pass in range(INLINE_FOLLOW_UPS + 1):
            outcome = await controller.reconcile(current)
            _record(current, patch, outcome)
            if outcome.error is not None or outcome.requeue_after is None or outcome.requeue_after > INLINE_WAIT_LIMIT:
                return
            await asyncio.sleep(outcome.requeue_after)
            current = {**current, "status": {**(current.get("status") or {}), **outcome.status}}

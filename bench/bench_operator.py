"""How much do per-object sync timers cost? Memory per sleeping timer task and the due-check time, without a cluster.

Why: `handlers.py` runs one kopf timer per object (kopf keeps one asyncio task per timer, sleeping on a stopper
event with a timeout) plus an in-memory due check per tick. This measures both for N objects, so the choice can be
revisited with numbers: `.venv/bin/python bench/bench_operator.py [--quick] [--objects 5000]`. The whole operator
under load (time-to-Ready, apiserver writes, RSS, idle CPU) is `bench/bench_operator_scale.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/bench_operator.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.framework import Row, standalone
from hsm_operator.controller import Controller
from hsm_operator.kinds import managedhsm
from hsm_operator.settings import config_from_env

GROUP = "operator timer cost model (no cluster)"


async def _timer_like(stopper: asyncio.Event, interval: float) -> None:
    # The shape of kopf's timer loop: sleep on the stopper with a timeout, then (rarely) run the handler.
    while not stopper.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopper.wait(), timeout=interval)


async def measure(count: int) -> tuple[float, float]:
    """(KiB of Python heap per sleeping timer task, microseconds per due check) for `count` objects."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        stopper = asyncio.Event()
        tasks = [asyncio.create_task(_timer_like(stopper, 300.0)) for _ in range(count)]
        await asyncio.sleep(0.5)
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    runtime: Any = type("Runtime", (), {"config": config_from_env({"HSM_SYNC_INTERVAL": "600"})})()
    controller = Controller(managedhsm.KIND, runtime)
    now = datetime.now(UTC)
    bodies = [
        {
            "metadata": {"uid": str(uuid.uuid4()), "annotations": {}},
            "status": {"lastSyncTime": (now - timedelta(seconds=i % 900)).isoformat().replace("+00:00", "Z")},
        }
        for i in range(count)
    ]
    started = time.perf_counter()
    for body in bodies:
        controller.due(body, now=now)
    elapsed = time.perf_counter() - started
    stopper.set()
    await asyncio.gather(*tasks)
    return (used - base) / count / 1024, elapsed / count * 1e6


def collect(arguments: argparse.Namespace) -> list[Row]:
    count = arguments.objects or (1000 if arguments.quick else 5000)
    per_task, due = asyncio.run(measure(count))
    return [
        Row(GROUP, f"Python heap per sleeping timer task ({count:,} tasks)", per_task, "KiB", higher_is_better=False),
        Row(GROUP, "due check per object and tick", due, "us", higher_is_better=False),
    ]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--objects", type=int, default=None, help="objects to model (default 5000)")


if __name__ == "__main__":
    sys.exit(standalone(__doc__.splitlines()[0], collect, configure, stem="operator-timers"))

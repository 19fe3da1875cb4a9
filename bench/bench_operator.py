"""How much do per-object sync timers cost? Prints memory per sleeping timer task and the due-check throughput.

Why: `handlers.py` runs one kopf timer per object (kopf keeps one asyncio task per timer, sleeping on a stopper
event with a timeout) plus an in-memory due check per tick. This measures both for N objects without a cluster,
so the choice can be revisited with numbers: `python bench/bench_operator.py [N]` (default 5000).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hsm_operator.controller import Controller
from hsm_operator.kinds import managedhsm
from hsm_operator.settings import config_from_env


async def _timer_like(stopper: asyncio.Event, interval: float) -> None:
    # The shape of kopf's timer loop: sleep on the stopper with a timeout, then (rarely) run the handler.
    while not stopper.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopper.wait(), timeout=interval)


async def main(count: int) -> None:
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    stopper = asyncio.Event()
    tasks = [asyncio.create_task(_timer_like(stopper, 300.0)) for _ in range(count)]
    await asyncio.sleep(0.5)
    used, _ = tracemalloc.get_traced_memory()
    per_task = (used - base) / count
    print(f"timer tasks: {count}, Python heap {(used - base) / 2**20:.1f} MiB, {per_task / 1024:.2f} KiB per object")

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
    due = sum(controller.due(body, now=now) for body in bodies)
    elapsed = time.perf_counter() - started
    print(f"due checks: {count} in {elapsed * 1000:.1f} ms ({elapsed / count * 1e6:.1f} us each); {due} due now")
    print(f"wake-ups at a 300 s tick: {count / 300:.1f}/s; Azure reads at a 600 s interval: {count / 600:.1f}/s")
    stopper.set()
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))

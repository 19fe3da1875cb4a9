"""Find, report and stop processes a test run left behind, identified by a marker in their environment.

`make test` exports `HSM_DEVTOOLS_RUN_ID=<random>` to pytest; every process pytest starts (control plane, emulator,
operator, kubectl) inherits it. After pytest exits, any process still carrying that exact marker is a leak: a bug in
a fixture. This module is the last safety net. It names the leaks, so the bug gets fixed, and stops them so a shared
machine is not left with stray etcd or kube-apiserver processes. Matching on a per-run random value (never on a
process name) guarantees it touches only processes of this run.

    python -m hsm_devtools.leaks RUN_ID    # exit 0: none left; exit 1: leaks found (and stopped)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RUN_ID_ENV = "HSM_DEVTOOLS_RUN_ID"


@dataclass(frozen=True)
class LeftoverProcess:
    pid: int
    command: str


def find_leftovers(run_id: str, proc: Path = Path("/proc")) -> list[LeftoverProcess]:
    """Processes (other than this one) whose environment holds `HSM_DEVTOOLS_RUN_ID=run_id`."""
    marker = f"{RUN_ID_ENV}={run_id}".encode()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # exited meanwhile, or not ours to read
            continue
        found.append(LeftoverProcess(int(entry.name), command or "(zombie)"))
    return found


def stop_leftovers(leftovers: list[LeftoverProcess], grace: float = 10.0) -> None:
    """SIGTERM each, wait up to `grace` seconds in total, then SIGKILL whatever still runs."""
    for leftover in leftovers:
        _signal(leftover.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_running(leftover.pid) for leftover in leftovers):
        time.sleep(0.2)
    for leftover in leftovers:
        _signal(leftover.pid, signal.SIGKILL)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a zombie has exited; only its parent's wait() is missing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hsm_devtools.leaks", description=__doc__.splitlines()[0])
    parser.add_argument("run_id", help=f"the {RUN_ID_ENV} value the test run was started with")
    args = parser.parse_args(argv)
    if not args.run_id.strip():
        parser.error("run_id must not be empty")

    leftovers = find_leftovers(args.run_id)
    if not leftovers:
        print("leftover processes: none")
        return 0
    print(f"error: the test run left {len(leftovers)} process(es) running (a fixture did not stop them):")
    for leftover in leftovers:
        print(f"  pid {leftover.pid}: {leftover.command[:200]}")
    stop_leftovers(leftovers)
    print("they have been stopped")
    return 1


if __name__ == "__main__":
    sys.exit(main())

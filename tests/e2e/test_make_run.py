"""`make run` end to end: `python -m hsm_devtools.run --run-dir <tmp>` as a user runs it (CONTRACT.md section 1).

It must bring the quickstart to Ready, print the summary with a `kubectl` line that works as printed while it is up,
keep everything under `--run-dir` (the repository's `.run/` is not touched), and on Ctrl-C (SIGINT) stop every
process it started: the control plane's (`cluster/pids.json`), the emulator and both controllers (`pids.json`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hsm_devtools import binaries, processes, run

pytestmark = pytest.mark.e2e

READY_TIMEOUT = 240.0
USE_IT = re.compile(r"^\s*use it:\s+(?P<line>KUBECONFIG=\S+ \S+kubectl get hsm -A)\s*$", re.MULTILINE)


def alive(pid: int) -> bool:
    """Running (a zombie has exited: only its exit status is left)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def repo_run_dir_state() -> tuple[float, list[str]] | None:
    repo_run = binaries.REPO_ROOT / ".run"
    if not repo_run.exists():
        return None
    return repo_run.stat().st_mtime, sorted(p.name for p in repo_run.iterdir())


def test_make_run_until_ctrl_c(tmp_path: Path) -> None:
    processes.install_termination_handlers()
    run_dir = tmp_path / "run"
    repo_run_before = repo_run_dir_state()
    argv = [sys.executable, "-m", "hsm_devtools.run", "--run-dir", str(run_dir), "--ready-timeout", str(READY_TIMEOUT)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    make_run = processes.ManagedProcess("make-run", argv, tmp_path / "make-run.out", env=env)
    make_run.start()
    try:
        started = time.monotonic()

        def output() -> str:
            return make_run.log_path.read_text(errors="replace")

        processes.wait_until(
            lambda: USE_IT.search(output()) is not None and "stop:" in output(),
            timeout=READY_TIMEOUT + 60,
            what="make run's ready summary",
            watched=[make_run],
        )
        ready_after = time.monotonic() - started
        text = output()
        assert "ready: the quickstart HSM is activated and every object in examples/quickstart is Ready=True" in text
        match = USE_IT.search(text)
        assert match is not None
        line = match.group("line")
        assert f"KUBECONFIG={run_dir / 'cluster' / 'kubeconfig'} " in line

        # The printed line, exactly as a user pastes it.
        pasted = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60, check=False)
        assert pasted.returncode == 0, pasted.stderr
        rows = [row.split() for row in pasted.stdout.splitlines() if row.startswith(run.QUICKSTART_NAMESPACE)]
        names = {row[1] for row in rows}
        assert "managedhsm.mhsm.dev/quickstart-hsm" in names
        assert "hsmkey.mhsm.dev/payments-signing" in names
        assert len(rows) == 6, pasted.stdout
        assert all(row[2] == "True" for row in rows), pasted.stdout  # READY column of every kind

        plane_pids = json.loads((run_dir / "cluster" / "pids.json").read_text())
        other_pids = json.loads((run_dir / run.PIDS_FILE).read_text())
        assert {"etcd", "kube-apiserver"} <= set(plane_pids)
        assert set(other_pids) == {"hsm-emulator", "hsm-operator-management", "hsm-operator-data"}
        pids = {**plane_pids, **other_pids}
        assert all(alive(pid) for pid in pids.values()), pids

        os.kill(make_run.pid, signal.SIGINT)
        processes.wait_until(lambda: make_run.exit_code() is not None, timeout=90, what="make run to stop")
        assert make_run.exit_code() == 0, output()[-3000:]
        assert "stopped; everything make run started has exited" in output()
        left = {name: pid for name, pid in pids.items() if alive(pid)}
        assert not left, f"still running after Ctrl-C: {left}"
    finally:
        make_run.stop(timeout=30)
    assert repo_run_dir_state() == repo_run_before, "make run --run-dir touched the repository's .run/"
    print(f"make run: quickstart Ready and summary printed {ready_after:.0f}s after start")

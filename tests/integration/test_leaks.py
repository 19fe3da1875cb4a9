"""The leftover-process net of `make test` finds exactly the processes that carry its run's marker, and stops them."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from hsm_devtools import leaks

pytestmark = pytest.mark.integration


def _sleeper(run_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"], env={**os.environ, leaks.RUN_ID_ENV: run_id})


def test_finds_and_stops_only_this_runs_processes() -> None:
    run_id, other_id = uuid.uuid4().hex, uuid.uuid4().hex
    ours, theirs = _sleeper(run_id), _sleeper(other_id)
    try:
        found = leaks.find_leftovers(run_id)
        assert [leftover.pid for leftover in found] == [ours.pid]
        assert found[0].command == "sleep 60"

        leaks.stop_leftovers(found)
        assert ours.wait(timeout=15) == -15  # SIGTERM was enough
        assert theirs.poll() is None
        assert leaks.find_leftovers(run_id) == []
    finally:
        for process in (ours, theirs):
            process.kill()
            process.wait()


def test_cli_exit_status_says_whether_anything_leaked(capsys: pytest.CaptureFixture[str]) -> None:
    run_id = uuid.uuid4().hex
    assert leaks.main([run_id]) == 0
    assert "none" in capsys.readouterr().out

    leaked = _sleeper(run_id)
    try:
        assert leaks.main([run_id]) == 1
        out = capsys.readouterr().out
        assert f"pid {leaked.pid}: sleep 60" in out
        assert leaked.wait(timeout=15) == -15
    finally:
        leaked.kill()
        leaked.wait()

"""Child processes that cannot outlive the Python process that started them.

A test run that crashes, times out or is killed must not leave etcd or kube-apiserver behind on a shared machine.
Three layers make sure of it, each covering what the previous one cannot:

1. `ManagedProcess.stop()`: SIGTERM, wait, SIGKILL, by PID, called by whoever started the process (also on exceptions).
2. A registry of live processes stopped at interpreter exit (`atexit`), and `install_termination_handlers()`, which
   turns SIGTERM/SIGHUP into `KeyboardInterrupt` so `finally` blocks, context managers and pytest fixture teardown run.
3. On Linux, `PR_SET_PDEATHSIG`: the kernel sends SIGTERM to the child when its parent dies, even by SIGKILL.
   The signal fires when the *thread* that forked the child exits, so start processes from the main thread (or from a
   thread that lives as long as the process), as the control plane and the fixtures do.

Every child runs in its own session so a terminal's Ctrl-C reaches only us and we stop children in a chosen order
(apiserver before etcd). Output goes to a log file in the state directory for debugging.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

_PR_SET_PDEATHSIG = 1
# Resolved here, in the parent: the child must only make the system call, not load libraries (see _die_with_parent).
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None

_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


def _die_with_parent() -> None:
    # Runs in the child between fork and exec, where only async-signal-safe work belongs: one prctl(2) call.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class ProcessStartError(RuntimeError):
    """A child process exited or never became ready; the message names its log file."""


class ManagedProcess:
    """One child process with a name, a log file and a stop that always finishes."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, *, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._env = env
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._popen.pid

    def start(self) -> None:
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")  # one log per run: a restart must not mix two runs
        preexec: Callable[[], None] | None = _die_with_parent if _prctl is not None else None
        try:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._env,
                start_new_session=True,
                preexec_fn=preexec,  # see _die_with_parent: a single prctl call, safe after fork
            )
        except OSError as error:
            self._log.close()
            raise ProcessStartError(f"cannot start {self.name} ({self.argv[0]}): {error}") from error
        with _live_lock:
            _live.add(self)

    def exit_code(self) -> int | None:
        """None while running (or never started), else the exit status."""
        return None if self._popen is None else self._popen.poll()

    def check_running(self) -> None:
        """Raise `ProcessStartError` with the tail of the log if the process has exited."""
        code = self.exit_code()
        if code is not None:
            raise ProcessStartError(f"{self.name} exited with code {code}; log {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to `timeout` seconds, then SIGKILL. Safe to call more than once."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                popen.terminate()
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                popen.wait()
        with _live_lock:
            _live.discard(self)
        if self._log is not None:
            self._log.close()
            self._log = None


def stop_all_live() -> None:
    """Stop every process this interpreter started and has not stopped yet, newest first."""
    with _live_lock:
        remaining = sorted(_live, key=lambda process: process.pid, reverse=True)
    for process in remaining:
        process.stop()


atexit.register(stop_all_live)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


def install_termination_handlers() -> None:
    """Make SIGTERM and SIGHUP unwind the stack like Ctrl-C, unless someone else already handles them.

    Only possible from the main thread; elsewhere it does nothing (layers 1 and 3 still apply).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _raise_keyboard_interrupt)


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    watched: Sequence[ManagedProcess] = (),
) -> None:
    """Poll `condition` until it is true; fail early if a watched process dies, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        for process in watched:
            process.check_running()
        if condition():
            return
        if time.monotonic() > deadline:
            logs = "".join(f"\n--- {p.name} ({p.log_path}):\n{p.log_tail()}" for p in watched)
            raise ProcessStartError(f"timed out after {timeout:.0f}s waiting for {what}{logs}")
        time.sleep(interval)

"""`make run`: start the local stack under `.run/`, print how to reach it, run until Ctrl-C / SIGTERM.

The stack is a list of steps entered in order on an `ExitStack`, so whatever started is stopped in reverse order on
every exit path (Ctrl-C, SIGTERM, a failing later step). Today the stack is the control plane with the CRDs installed
(`.run/cluster`); the emulator and the operator join as further steps when they exist (CONTRACT.md §1).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from hsm_devtools import binaries, controlplane


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hsm_devtools.run", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=binaries.REPO_ROOT / ".run", help="state of everything started")
    args = parser.parse_args(argv)
    run_dir: Path = args.run_dir

    try:
        with contextlib.ExitStack() as stack:
            plane = stack.enter_context(
                controlplane.running_control_plane(run_dir / "cluster", binaries.REPO_ROOT / "crds")
            )
            print("running; press Ctrl-C to stop", flush=True)
            controlplane.wait_while_running(plane)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0
    except controlplane.EXPECTED_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench` / `python -m bench`: run every benchmark, print one table, write the results as JSON.

    python -m bench                       # everything (~10 min on 2 cores)
    python -m bench --quick               # smaller sizes and fewer operations (~3 min)
    python -m bench --only dataplane arm  # some benchmarks only
    python -m bench --compare bench/results/20261129T050000000000Z.json   # run, then print the change per figure
    python -m bench --diff A.json B.json  # compare two result files, run nothing

Each benchmark is also runnable alone (`python bench/bench_<name>.py --help`). A benchmark that fails is reported and
the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

if __package__ in (None, ""):  # run as `python bench/__main__.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    bench_arm,
    bench_backup,
    bench_crypto_inprocess,
    bench_dataplane,
    bench_identity,
    bench_operator,
    bench_operator_scale,
)
from bench.framework import BenchError, Row, compare, load_results, render_table, write_results

BENCHMARKS: dict[str, ModuleType] = {
    "crypto-inprocess": bench_crypto_inprocess,
    "identity": bench_identity,
    "arm": bench_arm,
    "dataplane": bench_dataplane,
    "backup": bench_backup,
    "operator-timers": bench_operator,
    "operator-scale": bench_operator_scale,
}


def benchmark_arguments(module: ModuleType, quick: bool) -> argparse.Namespace:
    """The benchmark's own defaults (what `python bench/bench_x.py [--quick]` would use)."""
    parser = argparse.ArgumentParser()
    configure: Callable[[argparse.ArgumentParser], None] | None = getattr(module, "configure", None)
    if configure is not None:
        configure(parser)
    arguments = parser.parse_args([])
    arguments.quick = quick
    return arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer operations")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None, help="run only these")
    parser.add_argument("--compare", type=Path, default=None, metavar="A.json", help="print the change from A.json")
    parser.add_argument("--diff", type=Path, nargs=2, default=None, metavar=("A.json", "B.json"), help="compare only")
    parser.add_argument("--no-write", action="store_true", help="write no JSON results")
    arguments = parser.parse_args(argv)

    try:
        if arguments.diff is not None:
            before, after = (load_results(path) for path in arguments.diff)
            print(compare(after, before))
            return 0
        previous = load_results(arguments.compare) if arguments.compare is not None else None
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    names = arguments.only or list(BENCHMARKS)
    rows: list[Row] = []
    failed: list[str] = []
    durations: dict[str, float] = {}
    for name in names:
        module = BENCHMARKS[name]
        print(f"== {name} ...", flush=True)
        started = time.monotonic()
        try:
            rows += module.collect(benchmark_arguments(module, arguments.quick))
        except Exception:  # a failing benchmark must not cost the figures of the others
            failed.append(name)
            traceback.print_exc()
        durations[name] = round(time.monotonic() - started, 1)
        print(f"== {name}: {durations[name]:.0f} s", flush=True)

    print()
    print(render_table(rows))
    if not arguments.no_write and rows:
        meta = {"benchmarks": names, "quick": arguments.quick, "seconds": durations, "failed": failed}
        path = write_results(rows, meta=meta)
        print(f"\nresults: {path} (and {path.parent / 'latest.json'})")
    if previous is not None:
        print(f"\nchange from {arguments.compare}:")
        print(compare(rows, previous))
    print(f"\ntotal {sum(durations.values()):.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

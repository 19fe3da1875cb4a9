"""The shared shape of every benchmark: a result row, one table, JSON results and a comparison between two runs.

Each figure is a `Row`: what was measured (`value`, `unit`) beside a reference measured in the same run
(`reference`, `reference_source`: in-process `cryptography`, direct SDK calls, the smallest case, ...) and, where
Microsoft publishes one, the Managed HSM service limit (`published`, AZURE-API.md §9). `ratio` is always
`value / reference` (and `published_ratio` is `value / published`), so a ratio reads the same way in every row:
"this figure is N times its reference". Whether bigger is better is the row's `higher_is_better`.

Results are written as `bench/results/<UTC timestamp>.json` plus `bench/results/latest.json`; `compare()` prints the
change of every figure between two such files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCHEMA = "managed-hsm-operator/bench/v1"
PUBLISHED_SOURCE = "Managed HSM service limits (AZURE-API.md §9: one partition, one key; up to 3x with 3 partitions)"


class BenchError(ValueError):
    """A result file or row that cannot be used, with the reason."""


@dataclass(frozen=True)
class Row:
    """One figure beside its reference(s)."""

    group: str  # the benchmark it belongs to, e.g. "crypto (SDK)"
    name: str  # what was measured, e.g. "ES256 sign"
    value: float
    unit: str  # "ops/s", "ms", "s", "MiB", "writes/object", ...
    reference: float | None = None  # measured in the same run, same unit
    reference_source: str = ""  # what the reference is, e.g. "in-process cryptography"
    published: float | None = None  # Microsoft's published limit for the real service, same unit
    higher_is_better: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        if not self.group or not self.name:
            raise BenchError(f"a row needs a group and a name (got group={self.group!r}, name={self.name!r})")
        if not self.unit:
            raise BenchError(f"row {self.key}: the unit is missing")
        for label in ("value", "reference", "published"):
            number = getattr(self, label)
            if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
                raise BenchError(f"row {self.key}: {label} must be a number, got {number!r}")
            if number is not None and not math.isfinite(number):
                raise BenchError(f"row {self.key}: {label} must be finite, got {number!r}")
        if self.reference is not None and not self.reference_source:
            raise BenchError(f"row {self.key}: a reference needs a reference_source saying what it is")

    @property
    def key(self) -> str:
        return f"{self.group} / {self.name}"

    @property
    def ratio(self) -> float | None:
        """value / reference (None without a reference, or when the reference is 0)."""
        return _ratio(self.value, self.reference)

    @property
    def published_ratio(self) -> float | None:
        """value / published limit (None without a published figure)."""
        return _ratio(self.value, self.published)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = _round(self.ratio)
        data["published_ratio"] = _round(self.published_ratio)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        known = {f.name for f in fields(cls)}
        missing = {"group", "name", "value", "unit"} - data.keys()
        if missing:
            raise BenchError(f"result row {data!r} lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in data.items() if k in known})


def _ratio(value: float, reference: float | None) -> float | None:
    if reference is None or reference == 0:
        return None
    return value / reference


def _round(number: float | None) -> float | None:
    return None if number is None else float(f"{number:.4g}")


# -- measuring --------------------------------------------------------------------------------------------------------


def rate(operation: Callable[[], object], count: int, *, warm_up: int = 1) -> float:
    """Operations per second of `count` sequential calls (after `warm_up` untimed calls)."""
    if count < 1:
        raise BenchError(f"count must be at least 1, got {count}")
    for _ in range(warm_up):
        operation()
    started = time.perf_counter()
    for _ in range(count):
        operation()
    return count / (time.perf_counter() - started)


def rate_for(operation: Callable[[], object], seconds: float) -> float:
    """Operations per second of as many sequential calls as fit in `seconds` (at least one)."""
    operation()
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while count == 0 or time.perf_counter() < deadline:
        operation()
        count += 1
    return count / (time.perf_counter() - started)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in [0, 1])."""
    if not samples:
        raise BenchError("percentile of no samples")
    if not 0 <= fraction <= 1:
        raise BenchError(f"percentile fraction must be within [0, 1], got {fraction}")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def median(samples: Sequence[float]) -> float:
    if not samples:
        raise BenchError("median of no samples")
    return statistics.median(samples)


# -- output -----------------------------------------------------------------------------------------------------------


def format_number(number: float | None) -> str:
    if number is None:
        return "-"
    magnitude = abs(number)
    if magnitude >= 1000:
        return f"{number:,.0f}"
    if magnitude >= 100:
        return f"{number:.0f}"
    if magnitude >= 10:
        return f"{number:.1f}"
    if magnitude >= 0.01 or number == 0:
        return f"{number:.2f}"
    return f"{number:.2g}"


def format_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{format_number(ratio)}x"


HEADERS = ("figure", "value", "unit", "reference", "reference is", "ratio", "published", "vs published")


def render_table(rows: Iterable[Row]) -> str:
    """One text table of every row, grouped by benchmark in the order given."""
    lines: list[list[str]] = []
    group: str | None = None
    groups: list[int] = []  # indexes of group header lines
    for row in rows:
        if row.group != group:
            group = row.group
            groups.append(len(lines))
            lines.append([f"[{group}]"])
        lines.append(
            [
                f"  {row.name}",
                format_number(row.value),
                row.unit,
                format_number(row.reference),
                row.reference_source or "-",
                format_ratio(row.ratio),
                format_number(row.published),
                format_ratio(row.published_ratio),
            ]
        )
    widths = [len(h) for h in HEADERS]
    for line in lines:
        if len(line) == len(HEADERS):
            widths = [max(w, len(cell)) for w, cell in zip(widths, line, strict=True)]
    numeric = {1, 3, 5, 6, 7}

    def render(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if index in numeric else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [render(HEADERS), render(["-" * w for w in widths])]
    out.extend(line[0] if len(line) == 1 else render(line) for line in lines)
    return "\n".join(out)


def results_document(rows: Sequence[Row], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": {"python": platform.python_version(), "machine": platform.machine(), "cpus": _cpu_count()},
        "published_source": PUBLISHED_SOURCE,
        "meta": meta or {},
        "rows": [row.to_json() for row in rows],
    }


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


def write_results(
    rows: Sequence[Row], directory: Path = RESULTS_DIR, *, meta: dict[str, Any] | None = None, stem: str = ""
) -> Path:
    """Write `<directory>/<stem><UTC timestamp>.json` and `<directory>/<stem>latest.json`; return the first."""
    directory.mkdir(parents=True, exist_ok=True)
    document = json.dumps(results_document(rows, meta), indent=2) + "\n"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{stem}{stamp}.json"
    path.write_text(document)
    (directory / f"{stem}latest.json").write_text(document)
    return path


def load_results(path: Path) -> list[Row]:
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise BenchError(f"cannot read results file {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise BenchError(f"results file {path} is not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA or not isinstance(document.get("rows"), list):
        raise BenchError(f"{path} is not a benchmark results file (expected schema {SCHEMA!r} and a rows list)")
    return [Row.from_json(row) for row in document["rows"]]


def compare(current: Sequence[Row], previous: Sequence[Row]) -> str:
    """A table of every figure's change from `previous` to `current` ("better"/"worse" by the row's direction).

    Figures of `previous` missing from `current` are listed as "gone" when their benchmark ran, and only counted when
    it did not (a `--only` run).
    """
    before = {row.key: row for row in previous}
    width = max([len("figure"), *(len(row.key) for row in (*current, *previous))])
    lines = [f"{'figure':<{width}} {'before':>12} {'now':>12} {'unit':<14} {'change':>8}  verdict"]
    for row in current:
        old = before.pop(row.key, None)
        if old is None:
            lines.append(f"{row.key:<{width}} {'-':>12} {format_number(row.value):>12} {row.unit:<14} {'new':>8}")
            continue
        if old.unit != row.unit:
            lines.append(f"{row.key:<{width}} unit changed from {old.unit!r} to {row.unit!r}; not compared")
            continue
        change = (row.value - old.value) / old.value if old.value else None
        verdict = ""
        if change is not None and abs(change) >= 0.05:
            verdict = "better" if (change > 0) == row.higher_is_better else "worse"
        shown = "-" if change is None else f"{change:+.0%}"
        lines.append(
            f"{row.key:<{width}} {format_number(old.value):>12} {format_number(row.value):>12} {row.unit:<14} "
            f"{shown:>8}  {verdict}".rstrip()
        )
    groups_run = {row.group for row in current}
    not_run = 0
    for key, old in before.items():
        if old.group in groups_run:
            lines.append(f"{key:<{width}} {format_number(old.value):>12} {'-':>12} {old.unit:<14} {'gone':>8}")
        else:
            not_run += 1
    if not_run:
        lines.append(f"({not_run} figures of benchmarks that did not run this time are not compared)")
    return "\n".join(lines)


# -- running one benchmark on its own -------------------------------------------------------------------------------


def standalone(
    description: str,
    collect: Callable[[argparse.Namespace], list[Row]],
    configure: Callable[[argparse.ArgumentParser], None] | None = None,
    *,
    stem: str,
) -> int:
    """`python bench/bench_x.py [--quick] [options]`: run one benchmark, print its table, write its JSON."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer operations")
    parser.add_argument("--no-write", action="store_true", help="print only; write no JSON")
    if configure is not None:
        configure(parser)
    arguments = parser.parse_args()
    rows = collect(arguments)
    print(render_table(rows))
    if not arguments.no_write:
        path = write_results(rows, meta={"benchmarks": [stem], "quick": arguments.quick}, stem=f"{stem}-")
        print(f"results: {path}")
    return 0

"""The benchmark framework's table, ratio, JSON and comparison logic (no benchmark is run here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from bench import __main__ as run_all
from bench.bench_operator_scale import request_counts, write_delta
from bench.framework import (
    SCHEMA,
    BenchError,
    Row,
    compare,
    format_number,
    load_results,
    percentile,
    rate,
    render_table,
    write_results,
)

SIGN = Row("crypto", "ES256 sign", 400.0, "ops/s", 40_000.0, "in-process cryptography", published=260.0)
LATENCY = Row("arm", "GET median", 2.0, "ms", 0.5, "in-process handler", higher_is_better=False)
PLAIN = Row("operator", "RSS", 300.0, "MiB", higher_is_better=False)


def test_ratios_are_value_over_reference_and_over_published() -> None:
    assert SIGN.ratio == pytest.approx(0.01)
    assert SIGN.published_ratio == pytest.approx(400 / 260)
    assert LATENCY.ratio == pytest.approx(4.0)
    assert PLAIN.ratio is None
    assert PLAIN.published_ratio is None
    assert Row("g", "zero reference", 1.0, "s", 0.0, "nothing").ratio is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"group": ""}, "needs a group and a name"),
        ({"unit": ""}, "unit is missing"),
        ({"value": math.nan}, "value must be finite"),
        ({"value": True}, "value must be a number"),
        ({"published": "fast"}, "published must be a number"),
        ({"reference": 1.0, "reference_source": ""}, "needs a reference_source"),
    ],
)
def test_bad_rows_are_refused_with_the_reason(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"group": "g", "name": "n", "value": 1.0, "unit": "s"}
    with pytest.raises(BenchError, match=message):
        Row(**{**base, **fields})  # type: ignore[arg-type]


def test_the_table_shows_each_figure_beside_its_references_grouped_by_benchmark() -> None:
    table = render_table([SIGN, LATENCY, PLAIN])
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["figure", "value", "unit"]
    assert {"[crypto]", "[arm]", "[operator]"} <= set(lines)
    sign = next(line for line in lines if "ES256 sign" in line).split()
    assert sign[2:6] == ["400", "ops/s", "40,000", "in-process"]
    assert sign[-3:] == ["0.01x", "260", "1.54x"]
    rss = next(line for line in lines if "RSS" in line)
    assert rss.split()[-4:] == ["-", "-", "-", "-"]  # no reference, no ratio, no published figure
    # Columns line up: every data line is as wide as the header or narrower (trailing blanks stripped).
    assert all(len(line) <= len(lines[0]) for line in lines if not line.startswith("["))


def test_number_formatting() -> None:
    assert [format_number(n) for n in (12345.6, 123.4, 12.34, 1.234, 0.001234, 0.0, None)] == [
        "12,346",
        "123",
        "12.3",
        "1.23",
        "0.0012",
        "0.00",
        "-",
    ]


def test_results_are_written_with_a_timestamp_and_as_latest_and_read_back(tmp_path: Path) -> None:
    path = write_results([SIGN, LATENCY, PLAIN], tmp_path, meta={"quick": True})
    assert path.parent == tmp_path
    assert path.name != "latest.json"
    assert path.read_text() == (tmp_path / "latest.json").read_text()
    document = json.loads(path.read_text())
    assert document["schema"] == SCHEMA
    assert document["meta"] == {"quick": True}
    assert document["rows"][0]["ratio"] == 0.01
    assert document["rows"][0]["published_ratio"] == pytest.approx(1.538)
    assert load_results(path) == [SIGN, LATENCY, PLAIN]


def test_unusable_result_files_are_named_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="cannot read results file"):
        load_results(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(BenchError, match="is not JSON"):
        load_results(tmp_path / "broken.json")
    (tmp_path / "other.json").write_text(json.dumps({"results": []}))
    with pytest.raises(BenchError, match="not a benchmark results file"):
        load_results(tmp_path / "other.json")
    (tmp_path / "partial.json").write_text(json.dumps({"schema": SCHEMA, "rows": [{"group": "g", "name": "n"}]}))
    with pytest.raises(BenchError, match="lacks unit, value"):
        load_results(tmp_path / "partial.json")


def test_compare_says_better_or_worse_by_the_rows_direction() -> None:
    before = [SIGN, LATENCY, PLAIN, Row("arm", "gone figure", 1.0, "s"), Row("skipped", "figure", 1.0, "s")]
    after = [
        Row("crypto", "ES256 sign", 500.0, "ops/s", 40_000.0, "in-process cryptography"),  # faster: better
        Row("arm", "GET median", 3.0, "ms", 0.5, "in-process handler", higher_is_better=False),  # slower: worse
        Row("operator", "RSS", 301.0, "MiB", higher_is_better=False),  # within 5 %: no verdict
        Row("new", "figure", 1.0, "s"),
    ]
    lines = {line.split("  ")[0].strip(): line for line in compare(after, before).splitlines()[1:]}
    assert lines["crypto / ES256 sign"].endswith("+25%  better")
    assert lines["arm / GET median"].endswith("+50%  worse")
    assert lines["operator / RSS"].endswith("+0%")
    assert lines["new / figure"].rstrip().endswith("new")
    assert lines["arm / gone figure"].rstrip().endswith("gone")
    assert "skipped / figure" not in lines  # its benchmark did not run: counted, not listed
    assert (
        compare(after, before).splitlines()[-1]
        == "(1 figures of benchmarks that did not run this time are not compared)"
    )
    changed_unit = compare([Row("arm", "GET median", 2.0, "s")], [LATENCY])
    assert "unit changed from 'ms' to 's'; not compared" in changed_unit


def test_percentile_and_rate_refuse_nonsense() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile(list(map(float, range(1, 101))), 0.99) == 99.0
    with pytest.raises(BenchError, match="no samples"):
        percentile([], 0.5)
    with pytest.raises(BenchError, match="within"):
        percentile([1.0], 1.5)
    with pytest.raises(BenchError, match="at least 1"):
        rate(lambda: None, 0)
    calls: list[int] = []
    assert rate(lambda: calls.append(1), 10, warm_up=2) > 0
    assert len(calls) == 12


def metric(resource: str, verb: str, value: int, *, subresource: str = "", code: str = "200") -> str:
    """One apiserver_request_total sample line as the apiserver's /metrics prints it."""
    group = "" if resource == "events" else "mhsm.dev"
    labels = (
        f'code="{code}",component="apiserver",dry_run="",group="{group}",resource="{resource}",scope="resource",'
        f'subresource="{subresource}",verb="{verb}",version="v1alpha1"'
    )
    return f"apiserver_request_total{{{labels}}} {value}"


METRICS_BEFORE = "\n".join(
    [
        "# HELP apiserver_request_total Counter of apiserver requests",
        metric("hsmkeys", "APPLY", 0, code="201"),
        metric("hsmkeys", "PATCH", 4, subresource="status"),
        metric("hsmkeys", "LIST", 1),
    ]
)
METRICS_AFTER = "\n".join(
    [
        metric("hsmkeys", "APPLY", 10, code="201"),
        metric("hsmkeys", "PATCH", 24, subresource="status"),
        metric("hsmkeys", "PATCH", 1, subresource="status", code="409"),
        metric("hsmkeys", "PATCH", 10),
        metric("hsmkeys", "LIST", 9),
        metric("events", "POST", 10, code="201"),
    ]
)


def test_apiserver_write_counts_per_verb_and_subresource() -> None:
    assert request_counts(METRICS_AFTER, "hsmkeys")[("PATCH", "status")] == 25  # all codes summed
    writes = write_delta(METRICS_BEFORE, METRICS_AFTER, "hsmkeys")
    assert writes == {("APPLY", ""): 10, ("PATCH", "status"): 21, ("PATCH", ""): 10}  # reads (LIST) left out
    assert write_delta(METRICS_BEFORE, METRICS_AFTER, "events") == {("POST", ""): 10}


def test_every_benchmark_runs_alone_and_from_make_bench_with_its_own_defaults() -> None:
    for name, module in run_all.BENCHMARKS.items():
        assert callable(module.collect), name
        for quick in (False, True):
            arguments = run_all.benchmark_arguments(module, quick)
            assert arguments.quick is quick


def test_make_bench_diff_compares_two_files_and_refuses_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_results([SIGN], tmp_path / "a")
    second = write_results([Row("crypto", "ES256 sign", 200.0, "ops/s")], tmp_path / "b")
    assert run_all.main(["--diff", str(first), str(second)]) == 0
    assert "-50%  worse" in capsys.readouterr().out
    assert run_all.main(["--compare", str(tmp_path / "nope.json")]) == 2
    assert "cannot read results file" in capsys.readouterr().err

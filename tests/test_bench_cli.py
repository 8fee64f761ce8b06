"""``xpgrad bench``: the CLI end to end on a tiny preset (nothing asserted on
how fast anything ran), and the ratio, flag, table and plot logic on
synthetic timings."""

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("xpgrad") is None:  # a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xpgrad.bench import cli, report, runtime  # noqa: E402
from xpgrad.bench.cli import main  # noqa: E402
from xpgrad.bench.impls import build  # noqa: E402
from xpgrad.bench.problems import Spec, make_inputs  # noqa: E402
from xpgrad.bench.runner import Result, Runner  # noqa: E402
from xpgrad.bench.suite import namespace_spec  # noqa: E402
from xpgrad.bench import timing  # noqa: E402
from xpgrad.bench.timing import (  # noqa: E402
    MAX_SPREAD,
    MIN_ROUNDS,
    Ratio,
    Timing,
    calibrate,
    measure,
)

TINY = ["--quick", "--ops", "matmul", "--dtypes", "float64", "--max-size", "8", "--repeat", "1",
        "--passes", "2", "--min-time", "0.0005", "--pause", "0", "--no-progress"]


@pytest.fixture
def without(monkeypatch):
    """``without("torch")`` makes ``import torch`` fail for the rest of the test."""

    def block(name):
        monkeypatch.setitem(sys.modules, name, None)
        if name == "torch":
            monkeypatch.setattr(runtime, "_TORCH", {})

    return block


@pytest.fixture
def no_timing(monkeypatch):
    """Fail the test if the CLI gets as far as timing anything."""

    def refuse(self, specs):
        raise AssertionError("the run started timing")

    monkeypatch.setattr(Runner, "run", refuse)


# -- the CLI end to end ---------------------------------------------------------


def test_table_and_json_without_torch(tmp_path, capsys, without):
    without("torch")
    path = tmp_path / "bench.json"
    assert main(TINY + ["--json", str(path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("case "))
    assert header.split() == ["case", "shape", "time", "GFLOP/s", "x", "ideal", "notes"]
    assert "(2,2)@(2,2)" in out and "(8,8)@(8,8)" in out
    # torch's absence is said once, not once per row
    assert len(re.findall("torch not installed", out)) == 2  # the note and the version line
    assert "x torch: not measured in any case: torch not installed" in out
    data = json.loads(path.read_text())
    results = data["results"]
    assert {r["kind"] for r in results} == {"dispatch", "chain"}
    for r in results:
        assert r["op"] == "matmul" and r["dtype"] == "float64" and r["device"] == "cpu"
        assert r["impls"]["xpgrad"]["gflops"] > 0 and r["flops"] > 0
        # one round in each of the two passes
        assert len(r["impls"]["xpgrad"]["samples_s"]) == len(r["impls"]["ideal"]["samples_s"]) == 2
        assert r["impls"]["xpgrad"]["peak_backward_bytes"] > 0 and r["grad_bytes"] > 0
        ideal = r["ratios"]["ideal"]
        assert ideal["low"] <= ideal["median"] <= ideal["high"] and ideal["rounds"] == 2
        assert r["rounds_per_pass"] == [1, 1]
        assert ideal["flag"] == f"2 rounds (< {MIN_ROUNDS})"
        assert "torch" not in r["ratios"] and r["unavailable"]["torch"] == "torch not installed"
    assert data["meta"]["noise"]["ratios"] == len(results)
    assert data["meta"]["noise"]["flagged"] == len(results)


def test_torch_column(tmp_path, capsys):
    pytest.importorskip("torch")
    path = tmp_path / "bench.json"
    assert main(TINY + ["--kinds", "chain", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "x torch" in out.splitlines()[3]
    for r in json.loads(path.read_text())["results"]:
        assert r["ratios"]["torch"]["median"] > 0
        assert len(r["impls"]["torch"]["samples_s"]) == 2


def test_lines_fit_120_columns(capsys):
    assert main(TINY) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 120


def test_counts_agree(tmp_path, capsys):
    """The header's case count, the progress bar's and the JSON's agree."""
    path = tmp_path / "bench.json"
    argv = [a for a in TINY if a != "--no-progress"] + ["--no-torch", "--json", str(path)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    cases, passes = map(int, re.search(r"(\d+) cases .*; (\d+) passes", captured.out).groups())
    steps = re.findall(r"pass (\d+)/(\d+), case (\d+)/(\d+):", captured.err)
    assert len(steps) == cases * passes == 4 * 2
    assert {(int(p), int(c)) for p, _, c, _ in steps} == {
        (p, c) for p in range(1, passes + 1) for c in range(1, cases + 1)}
    assert {(int(n), int(m)) for _, n, _, m in steps} == {(passes, cases)}
    assert len(json.loads(path.read_text())["results"]) == cases


# -- the namespace kind ---------------------------------------------------------

HAS_MAX = hasattr(importlib.import_module("xpgrad.array_api"), "max")
NAMESPACE_OPS = ["chain10", "exp", "tanh", pytest.param("logsumexp", marks=pytest.mark.skipif(
    not HAS_MAX, reason="xpgrad.array_api.max is not differentiable in this version"))]


def test_namespace_chain_end_to_end(tmp_path, capsys):
    path = tmp_path / "bench.json"
    argv = [a if a != "matmul" else "chain10" for a in TINY]
    assert main(argv + ["--kinds", "namespace", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "chain10 namespace  a(2,2) b(2,2)" in out and "a(8,8) b(8,8)" in out
    results = json.loads(path.read_text())["results"]
    assert [r["shapes"][0] for r in results] == [[2, 2], [8, 8]]
    for r in results:
        n = r["shapes"][0][0]
        assert r["ratios"]["ideal"]["median"] > 0
        assert ("torch" in r["ratios"]) == (runtime.torch_module()[0] is not None)
        assert r["grad_bytes"] == 2 * n * n * 8  # da and db in float64
        assert r["impls"]["xpgrad"]["peak_backward_bytes"] >= r["grad_bytes"]


@pytest.mark.parametrize("op", [p for p in NAMESPACE_OPS if p != "chain10"])
def test_namespace_memory_bound_figures(op):
    spec = namespace_spec(op, 64, dtype="float32")
    runner = Runner(passes=2, rounds=1, min_rounds=1, min_time=0.0005, pause=0, torch=False)
    (res,) = runner.run([spec])
    assert res.ratio("ideal").rounds == 2 and res.ratio("ideal").median > 0
    nbytes = 64 * 64 * 4
    assert res.grad_bytes == nbytes
    for name in ("xpgrad", "ideal"):
        # Each backward makes its gradient; each forward keeps its output and e = exp(...).
        assert res.peak_bytes[name] >= nbytes
        assert res.kept_bytes[name] >= nbytes
    assert f"(kept {report.format_bytes(res.kept_bytes['xpgrad'])} + grads 16K)" in \
        report.table([res])
    assert res.as_dict()["kept_bytes"] == res.kept_bytes


@pytest.mark.parametrize("op", NAMESPACE_OPS)
def test_namespace_implementations_agree_with_torch(op):
    """xpgrad's namespace and the hand-derived gradients against torch autograd, float64."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    rt = runtime.Runtime("cpu")
    spec = namespace_spec(op, 6, dtype="float64")
    inputs = make_inputs(spec, rt, seed=3)
    ref = [t.numpy() for t in build(spec, "torch", rt, inputs).results()]
    assert len(ref) == (3 if op == "chain10" else 2)
    for impl in ("namespace", "ideal"):
        got = build(spec, impl, rt, inputs).results()
        assert [np.shape(g) for g in got] == [np.shape(r) for r in ref]
        for g, r in zip(got, ref):
            np.testing.assert_allclose(np.asarray(g), r, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fields", [dict(op="exp", kind="membound", api="namespace"),
                                    dict(op="matmul", kind="namespace", api="namespace"),
                                    dict(op="tanh", kind="namespace", api="tensor")])
def test_namespace_spec_goes_with_its_kind_and_api(fields):
    shapes = ((4, 4), (4, 4)) if fields["op"] == "matmul" else ((4, 4),)
    with pytest.raises(ValueError, match="go with kind and api 'namespace'"):
        Spec(shapes=shapes, **fields)


def test_chain10_takes_one_shape():
    with pytest.raises(ValueError, match="chain10 takes two inputs of one shape"):
        Spec("chain10", "namespace", ((4, 4), (4, 5)), api="namespace")


# -- failing fast ---------------------------------------------------------------


def test_plot_without_matplotlib_fails_before_timing(tmp_path, capsys, without, no_timing):
    without("matplotlib")
    png = tmp_path / "bench.png"
    assert main(TINY + ["--plot", str(png)]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err
    assert not png.exists()


@pytest.mark.parametrize("devices", ["tpu", "cuda:0,cpu", "cpu,cuda:7"])
def test_unavailable_device_fails_before_timing(devices, capsys, no_timing):
    if importlib.util.find_spec("cupy") is not None and devices != "tpu":
        pytest.skip("CuPy is installed: cuda devices may exist")
    assert main(TINY + ["--devices", devices]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xpgrad bench: ") and ("not available" in err or "unknown" in err)
    assert err.count("xpgrad bench") == 1


def test_unwritable_output_fails_before_timing(tmp_path, capsys, monkeypatch, no_timing):
    asked = []
    monkeypatch.setattr(cli.os, "access", lambda path, mode: asked.append(path) and False)
    assert main(TINY + ["--json", str(tmp_path / "new" / "deeper" / "bench.json")]) == 2
    assert asked == [str(tmp_path)]  # the nearest folder that exists
    assert f"--json {tmp_path}" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--ops", "conv"], ["--dtypes", "int8"], ["--repeat", "0"],
                                  ["--min-time", "-1"], ["--kinds", "gemm", "--max-size", "8"]])
def test_bad_arguments(argv, capsys, no_timing):
    assert main(argv) == 2
    assert capsys.readouterr().err


# -- ratios, spreads and flags on synthetic timings ------------------------------


def test_ratio_pairs_rounds():
    """Noise shared by a round cancels: each impl's samples vary 5x, the ratio not at all."""
    mine = [1.0, 2.0, 5.0, 3.0, 4.0, 1.5] * 2
    r = Ratio.of([2 * t for t in mine], mine)
    assert (r.median, r.low, r.high, r.rounds, r.spread, r.flag) == (2.0, 2.0, 2.0, 12, 0.0, "")


def test_ratio_deciles_and_flag():
    # per-round ratios 1.00, 1.01 .. 1.10: the 10th and 90th percentiles are 1.01 and 1.09
    r = Ratio.of([1 + i / 100 for i in range(11)], [1.0] * 11)
    assert (r.low, r.median, r.high, r.rounds) == pytest.approx((1.01, 1.05, 1.09, 11))
    assert r.spread == pytest.approx(0.08 / 1.05) and r.flag == ""
    assert report.format_ratio(r) == "1.05±4%"
    # 1.0, 1.1 .. 2.0: spread 0.8 / 1.5, over the limit
    wide = Ratio.of([1 + i / 10 for i in range(11)], [1.0] * 11)
    assert (wide.low, wide.median, wide.high) == pytest.approx((1.1, 1.5, 1.9))
    assert wide.spread > MAX_SPREAD and wide.flag == "spread 53% (> 40%)"
    assert report.format_ratio(wide) == "1.50±27%?"
    # too few rounds is flagged even with no spread
    few = MIN_ROUNDS - 1
    assert Ratio.of([1.0] * few, [1.0] * few).flag == f"{few} rounds (< {MIN_ROUNDS})"
    assert Ratio.of([3.0], [2.0]) == Ratio(1.5, 1.5, 1.5, 1)


def test_spread_takes_in_every_pass():
    """A drift between passes widens the spread beyond the pooled percentiles."""
    ratios = [1.0] * 40 + [1.6] * 3  # the last, short pass drifted
    pooled = Ratio.of(ratios, [1.0] * 43)
    assert (pooled.low, pooled.median, pooled.high) == (1.0, 1.0, 1.0)
    r = Ratio.of(ratios, [1.0] * 43, passes=[10, 10, 10, 10, 3])
    assert (r.median, r.low, r.high, r.rounds) == pytest.approx((1.0, 1.0, 1.6, 43))
    assert r.flag == "spread 60% (> 40%)"
    # passes that agree leave the percentiles as they are
    assert Ratio.of(ratios[:40], [1.0] * 40, passes=[10] * 4) == Ratio.of(ratios[:40], [1.0] * 40)


def test_overlap():
    a, b, c = Ratio(1.0, 0.9, 1.1, 5), Ratio(1.2, 1.1, 1.3, 5), Ratio(1.3, 1.15, 1.4, 5)
    assert a.overlaps(b) and b.overlaps(a) and b.overlaps(c) and not a.overlaps(c)


class FakeClock:
    """A clock that only the calls being timed move."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def cost(self, seconds):
        def call():
            self.now += seconds

        return call


def test_measure_calibrates_and_pairs_rounds():
    clock = FakeClock()
    costs = {"xpgrad": 2.5e-3, "ideal": 1.3e-3, "torch": 2.2e-3}
    fns = {name: clock.cost(seconds) for name, seconds in costs.items()}
    timings = measure(fns, rounds=6, min_time=0.01, clock=clock,
                      family={"torch": "torch"}, pause=0)
    # batches aim at 1.2 x min_time: ceil(12 / 2.5) = 5 calls, ceil(12 / 1.3) = 10, ...
    assert {n: t.number for n, t in timings.items()} == {"xpgrad": 5, "ideal": 10, "torch": 6}
    for name in fns:
        assert timings[name].samples == pytest.approx([costs[name]] * 6)
    assert Ratio.of(timings["xpgrad"].samples, timings["torch"].samples).median == \
        pytest.approx(2.5 / 2.2)


def test_calibration_shrugs_off_one_hiccup():
    """One slow call must not leave a fast implementation with one-call batches."""
    clock, costs = FakeClock(), iter([5e-3] + [1e-5] * 10_000)  # the first call stalls

    def call():
        clock.now += next(costs)

    number, per_call = calibrate(call, min_time=2e-3, clock=clock)
    assert number >= 200 and per_call == pytest.approx(1e-5)


def test_measure_reuses_calls_per_batch():
    """A later pass keeps the first pass's calls per batch: no calibration batch runs."""
    clock = FakeClock()
    timings = measure({"a": clock.cost(1e-3)}, rounds=2, warmup=0, number={"a": 3}, clock=clock)
    assert timings["a"].number == 3 and timings["a"].samples == pytest.approx([1e-3, 1e-3])
    assert clock.now == pytest.approx(2 * 3 * 1e-3)


def test_measure_runs_families_in_blocks(monkeypatch):
    """NumPy's implementations interleave round by round, the first rotating; torch's
    rounds follow in a block, after one pause; warmup goes the other way round."""
    clock, seen, sleeps = FakeClock(), [], []
    monkeypatch.setattr(timing.time, "sleep", sleeps.append)

    def call(name):
        def run():
            seen.append(name)
            clock.now += 1e-3  # long enough to have woken a thread pool

        return run

    fns = {name: call(name) for name in ("xpgrad", "ideal", "torch")}
    timings = measure(fns, rounds=3, family={"torch": "torch"}, pause=0.3, clock=clock,
                      number={"xpgrad": 1, "ideal": 1, "torch": 1})
    assert seen == ["torch", "xpgrad", "ideal",  # warmup
                    "xpgrad", "ideal", "ideal", "xpgrad", "xpgrad", "ideal",  # rounds 0-2
                    "torch", "torch", "torch"]
    assert sleeps == [0.3, 0.3]  # torch -> NumPy after warmup, NumPy -> torch
    assert all(len(t.samples) == 3 for t in timings.values())


def test_measure_budget_cuts_every_block_alike():
    clock = FakeClock()
    fns = {"a": clock.cost(1.0), "b": clock.cost(1.0), "t": clock.cost(2.0)}
    timings = measure(fns, rounds=9, min_rounds=3, min_time=0.5, budget=0.1, clock=clock,
                      family={"t": "torch"})
    assert [len(timings[n].samples) for n in fns] == [3, 3, 3]


# -- the table and the plot on synthetic results ---------------------------------


def _result(spec, seconds, **fields):
    """A Result whose impls took ``seconds[name]`` (a list, one per round)."""
    res = Result(spec, **fields)
    res.timings = {name: Timing(list(s), 1) for name, s in seconds.items()}
    return res


def _synthetic():
    noisy = [1e-3, 5e-3, 1e-3, 9e-3, 2e-3] * 3
    steady = [1e-3] * 15
    big = 4096
    return [
        _result(Spec("linear", "gemm", ((big, big), (big, big), (big,)), dtype="float32"),
                {"xpgrad": steady, "ideal": steady, "torch": noisy}),
        _result(Spec("add_bias", "membound", ((16, 64, 32, 32), (64,)), dtype="float32"),
                {"xpgrad": noisy, "ideal": steady}, missing={"torch": "torch has no such"}),
        _result(Spec("matmul", "bcast-w", ((1024, 128, 128), (128, 128)), phase="backward",
                     needs=(False, True), dtype="float64"),
                {"xpgrad": steady, "ideal": noisy, "naive": noisy, "torch": steady},
                peak_bytes={"xpgrad": 131_584, "naive": 67_240_000}),
        _result(Spec("linear", "half", ((256, 256), (256, 256), (256,)), dtype="bfloat16"),
                {"xpgrad": [2e-5] * 15, "ideal": noisy, "native": noisy, "torch": noisy},
                errors={"xpgrad": 3.4e-4, "native": 3.6e-3}),
    ]


def test_table_width_and_sections():
    text = report.table(_synthetic())
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert [line for line in lines if line.startswith("-- ")] == [
        "-- cpu, float32", "-- cpu, float64", "-- cpu, bfloat16"]
    assert "x torch: not measured in 1 case: torch has no such" in text
    row = next(line for line in lines if "bcast-w" in line)
    assert row.endswith("naive 0.50±89%?, mem 128K vs 64M")
    half = next(line for line in lines if "half" in line)
    assert half.endswith("own 0.01±89%?, err 3e-4 vs 4e-3")
    # the notes are cut to the room the other columns leave
    narrow = report.table(_synthetic(), width=100).split("\n\n")[0].splitlines()
    assert max(len(line) for line in narrow) <= 100
    assert next(line for line in narrow if "half" in line).endswith("...")
    # an ASCII terminal gets "+-"
    ascii_text = report.table(_synthetic(), pm="+-")
    assert "±" not in ascii_text and "naive 0.50+-89%?" in ascii_text
    assert max(len(line) for line in ascii_text.splitlines()) <= 120


def test_noise_summary():
    results = _synthetic()
    summary = report.noise(results)
    ratios = [r for res in results for r in res.ratios().values()]
    assert summary["ratios"] == len(ratios) == 9
    assert summary["flagged"] == sum(bool(r.flag) for r in ratios) > 0
    assert summary["worst_spread"] == max(r.spread for r in ratios)
    assert "flagged" in report.noise_line(summary)


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    results = _synthetic()
    results.append(_result(Spec("linear", "gemm", ((1024, 1024), (1024, 1024), (1024,)),
                                dtype="float32"), {"xpgrad": [1e-2] * 15, "ideal": [1e-2] * 15}))
    report.plot(png, results)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

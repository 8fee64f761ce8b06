"""``xpgrad bench``: the CLI end to end on a tiny preset (nothing asserted on
how fast anything ran), and the ratio, flag, table and plot logic on
synthetic timings."""

import dataclasses
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("xpgrad") is None:  # a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xpgrad.bench import cli, impls, problems, report, runtime, suite  # noqa: E402
from xpgrad.bench.cli import main  # noqa: E402
from xpgrad.bench.impls import build  # noqa: E402
from xpgrad.bench.problems import ScikitLearnMissing, Spec, make_inputs, mlp_shapes  # noqa: E402
from xpgrad.bench.runner import Result, Runner  # noqa: E402
from xpgrad.bench.suite import mlp_spec, namespace_spec, softmax_ce_spec  # noqa: E402
from xpgrad.bench.tape import Tape  # noqa: E402
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


def test_ctrl_c_ends_the_run_with_a_line_and_no_file(tmp_path, capsys, monkeypatch):
    def interrupted(self, specs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, "run", interrupted)
    path = tmp_path / "bench.json"
    assert main(TINY + ["--json", str(path)]) == 130  # the shell's code for SIGINT
    err = capsys.readouterr().err
    assert "xpgrad bench: interrupted after" in err and "Traceback" not in err
    assert not path.exists()


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
HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
NEEDS_MAX = pytest.mark.skipif(not HAS_MAX, reason="xpgrad.array_api.max is not "
                                                   "differentiable in this version")
NEEDS_SKLEARN = pytest.mark.skipif(not HAS_SKLEARN, reason="mlp_step needs scikit-learn")
NAMESPACE_OPS = ["chain10", "exp", "tanh", pytest.param("logsumexp", marks=NEEDS_MAX)]
#: Every op of the namespace kind, with the marks its xpgrad version needs.
ALL_NAMESPACE_OPS = NAMESPACE_OPS + [pytest.param("softmax_ce", marks=NEEDS_MAX),
                                     pytest.param("mlp_step", marks=[NEEDS_MAX, NEEDS_SKLEARN])]


def _small_namespace_spec(op, dtype="float64"):
    """A few-microsecond case of each namespace op."""
    if op == "softmax_ce":
        return softmax_ce_spec(7, 5, dtype=dtype)
    if op == "mlp_step":
        return mlp_spec(8, rows=40, dtype=dtype)
    return namespace_spec(op, 6, dtype=dtype)


def test_namespace_chain_end_to_end(tmp_path, capsys):
    path = tmp_path / "bench.json"
    argv = [a if a != "matmul" else "chain10" for a in TINY]
    assert main(argv + ["--kinds", "namespace", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "-- cpu, float64, namespace kind (xpgrad.array_api)" in out
    assert re.search(r"^chain10 +a\(2,2\) b\(2,2\) ", out, re.MULTILINE) and "a(8,8) b(8,8)" in out
    header = next(line for line in out.splitlines() if line.startswith("case "))
    assert "x tape" in header and "GFLOP/s" not in header
    results = json.loads(path.read_text())["results"]
    assert [r["shapes"][0] for r in results] == [[2, 2], [8, 8]]
    for r in results:
        n = r["shapes"][0][0]
        assert r["ratios"]["ideal"]["median"] > 0 and r["ratios"]["tape"]["median"] > 0
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


#: Results per forward and backward: the output, then one gradient per input
#: that gets one (mlp_step: the loss, then w1, b1, w2, b2's).
RESULTS = {"chain10": 3, "softmax_ce": 2, "mlp_step": 5}
#: Steps compared: mlp_step's later steps start from the weights its Adam updated.
STEPS = {"mlp_step": 3}


def _steps(spec, impl, rt, inputs):
    """``[output, *gradients]`` of each of the first steps, as NumPy arrays."""
    built = build(spec, impl, rt, inputs)
    return [[np.asarray(r.detach().numpy() if impl == "torch" else r) for r in built.results()]
            for _ in range(STEPS.get(spec.op, 1))]


def _assert_same_steps(got, ref, what):
    assert len(got) == len(ref)
    for step, (g_step, r_step) in enumerate(zip(got, ref)):
        assert [np.shape(g) for g in g_step] == [np.shape(r) for r in r_step], (what, step)
        for i, (g, r) in enumerate(zip(g_step, r_step)):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-14,
                                       err_msg=f"{what}, step {step}, result {i}")


@pytest.mark.parametrize("op", ALL_NAMESPACE_OPS)
def test_namespace_implementations_agree_with_torch(op):
    """xpgrad's namespace, the hand-derived gradients and the tape against torch
    autograd, float64 (mlp_step: three training steps, so Adam's too)."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    rt = runtime.Runtime("cpu")
    spec = _small_namespace_spec(op)
    inputs = make_inputs(spec, rt, seed=3)
    ref = _steps(spec, "torch", rt, inputs)
    assert len(ref[0]) == RESULTS.get(op, 2)
    for impl in ("namespace", "ideal", "tape"):
        _assert_same_steps(_steps(spec, impl, rt, inputs), ref, impl)


@pytest.mark.parametrize("op", ALL_NAMESPACE_OPS)
def test_namespace_xpgrad_tape_and_ideal_agree(op):
    """Without torch: xpgrad, the tape and the ideal give the same outputs and
    gradients, and the steps move (the Adam update is in what is compared)."""
    rt = runtime.Runtime("cpu")
    spec = _small_namespace_spec(op)
    inputs = make_inputs(spec, rt, seed=5)
    ref = _steps(spec, "ideal", rt, inputs)
    assert len(ref[0]) == RESULTS.get(op, 2)
    for impl in ("namespace", "tape"):
        _assert_same_steps(_steps(spec, impl, rt, inputs), ref, impl)
    if op == "mlp_step":
        losses = [float(step[0]) for step in ref]
        assert losses[0] > losses[1] > losses[2]  # Adam descends
        assert not np.allclose(ref[0][1], ref[1][1], rtol=1e-6)  # from new weights


def test_mlp_step_is_the_digits_problem():
    pytest.importorskip("sklearn")
    rt = runtime.Runtime("cpu")
    spec = mlp_spec(64)
    assert spec.shapes == mlp_shapes(1797, 64) == (
        (1797, 64), (1797,), (64, 64), (64,), (64, 10), (10,))
    inputs = make_inputs(spec, rt)
    assert inputs["x"].dtype == np.float64 and inputs["labels"].dtype == np.int64
    assert inputs["x"].min() == 0 and inputs["x"].max() == 1  # the pixels (0..16) / 16
    assert set(np.unique(inputs["labels"])) == set(range(10))
    assert np.abs(inputs["w1"]).max() <= 1 / 8 and np.abs(inputs["w2"]).max() <= 1 / 8
    assert spec.grads == (False, False, True, True, True, True)
    assert spec.flops > 0 and report._shape(spec) == "x(1797,64) hidden 64"


def test_tape_against_xpgrad_on_every_op():
    """Each of the tape's ops, with broadcasting and a tied max, against xpgrad's
    gradients of the same expression."""
    import xpgrad
    import xpgrad.array_api as xpa

    if not HAS_MAX:
        pytest.skip("xpgrad.array_api.max is not differentiable in this version")
    rng = np.random.default_rng(1)
    x, w, b = rng.uniform(0.1, 1.0, (5, 4)), rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, 3)
    x[2, 1] = x[2, 3] = 2.0  # a tie for the row max
    labels = np.array([0, 2, 1, 1, 0])

    def expression(xp, x, w, b, labels):
        z = xp.add(xp.matmul(xp.tanh(x), w), b)  # b broadcast along the rows
        s = xp.square(z)
        z = xp.subtract(xp.multiply(xp.exp(z), xp.sin(z)), xp.log(xp.add(s, xp.exp(z))))
        y = xp.maximum(z, xp.log1p(s))
        picked = xp.take_along_axis(y, xp.expand_dims(labels, axis=-1), axis=-1)
        top = xp.max(x, axis=-1, keepdims=True)
        return xp.add(xp.add(xp.mean(picked), xp.sum(xp.sum(y, axis=0))), xp.sum(top))

    tape = Tape(np)
    leaves = [tape.leaf(a) for a in (x, w, b)]
    out = expression(tape, *leaves, labels)
    tape.backward(out)
    tensors = [xpgrad.tensor(a, requires_grad=True) for a in (x, w, b)]
    ref = expression(xpa, *tensors, xpgrad.tensor(labels))
    ref.backward()
    np.testing.assert_allclose(out.value, ref.data, rtol=1e-12)
    for leaf, t in zip(leaves, tensors):
        np.testing.assert_allclose(leaf.grad, t.grad, rtol=1e-10, atol=1e-14)
    # the tie shares the max's gradient evenly (1/2 each), as xpgrad and torch do
    tanh_part = Tape(np)
    (xt,) = [tanh_part.leaf(x)]
    tanh_part.backward(tanh_part.sum(tanh_part.max(xt, axis=-1)))
    assert xt.grad[2, 1] == xt.grad[2, 3] == 0.5 and xt.grad.sum() == 5


@NEEDS_MAX
def test_namespace_new_cases_through_the_runner():
    """softmax_ce and mlp_step through the Runner: every implementation timed, the
    memory figures, the rows and their tape ratios in the table."""
    specs = [softmax_ce_spec(64, 10, dtype="float32")]
    if HAS_SKLEARN:
        specs.append(mlp_spec(8, rows=64))
    runner = Runner(passes=2, rounds=1, min_rounds=1, min_time=0.0005, pause=0, torch=False)
    results = runner.run(specs)
    for res in results:
        assert set(res.timings) == {"xpgrad", "ideal", "tape"}
        assert res.ratio("tape").rounds == 2 and res.ratio("tape").median > 0
        assert res.grad_bytes > 0 and res.peak_bytes["tape"] > 0 and res.kept_bytes["tape"] > 0
    assert results[0].grad_bytes == 64 * 10 * 4  # the logits' gradient only, in float32
    rt = runtime.Runtime("cpu")
    inputs = make_inputs(results[0].spec, rt)
    for impl in ("ideal", "tape"):
        assert [r.dtype for r in build(results[0].spec, impl, rt, inputs).results()] == [
            np.float32, np.float32]
    if HAS_SKLEARN:
        assert results[1].grad_bytes == (64 * 8 + 8 + 8 * 10 + 10) * 8
    text = report.table(results)
    assert max(len(line) for line in text.splitlines()) <= 120
    header = next(line for line in text.splitlines() if line.startswith("case "))
    assert header.split()[:8] == ["case", "shape", "time", "x", "ideal", "x", "tape", "notes"]
    row = next(line for line in text.splitlines() if line.startswith("softmax_ce "))
    assert row.split()[1] == "x(64,10)"
    assert report.format_ratio(results[0].ratio("tape")) in row
    assert "mem " in row and "kept " in row  # not cut: the block has room for its notes
    if HAS_SKLEARN:
        assert "mlp_step    x(64,64) hidden 8" in text
    assert set(results[0].as_dict()["ratios"]) == {"ideal", "tape"}


def test_tape_is_a_namespace_baseline():
    rt = runtime.Runtime("cpu")
    spec = Spec("matmul", "gemm", ((4, 4), (4, 4)))
    with pytest.raises(ValueError, match="'tape' is a baseline of the namespace kind"):
        build(spec, "tape", rt, make_inputs(spec, rt))


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


@pytest.mark.parametrize("op, shapes, match", [
    ("softmax_ce", ((4, 5), (5,)), "softmax_ce takes logits x"),
    ("softmax_ce", ((4, 5, 2), (4,)), "softmax_ce takes logits x"),
    ("mlp_step", mlp_shapes(1798, 8), r"n <= 1797"),
    ("mlp_step", ((10, 64), (10,), (64, 8), (8,), (8, 10), (9,)), r"b2 \(10,\)"),
    ("mlp_step", ((10, 32), (10,), (32, 8), (8,), (8, 10), (10,)), r"x \(n, 64\)"),
])
def test_new_namespace_cases_check_their_shapes(op, shapes, match):
    with pytest.raises(ValueError, match=match):
        Spec(op, "namespace", shapes, api="namespace")


def test_mlp_step_without_scikit_learn(monkeypatch, without):
    without("sklearn")
    without("sklearn.datasets")
    monkeypatch.setattr(problems, "digits", problems.digits.__wrapped__)  # no cached data
    rt = runtime.Runtime("cpu")
    with pytest.raises(ScikitLearnMissing, match="pip install scikit-learn"):
        make_inputs(mlp_spec(8, rows=16), rt)


def test_cli_without_scikit_learn(capsys, without, no_timing):
    """Named in --ops, mlp_step without scikit-learn ends the run before any timing;
    otherwise it is left out with a note."""
    without("sklearn")
    assert main(["--quick", "--kinds", "namespace", "--ops", "mlp_step,chain10"]) == 2
    err = capsys.readouterr().err
    assert "--ops mlp_step needs scikit-learn" in err and "pip install scikit-learn" in err
    assert main(["--quick", "--kinds", "namespace", "--list"]) == 0
    captured = capsys.readouterr()
    assert "skipping mlp_step" in captured.err and "pip install scikit-learn" in captured.err
    assert "mlp_step" not in captured.out and "softmax_ce" in captured.out


@NEEDS_MAX
def test_cli_namespace_kind_end_to_end(tmp_path, capsys, monkeypatch):
    """The whole namespace kind through the CLI, with a preset shrunk to tiny
    arrays: every case has its tape ratio, in table and JSON."""
    tiny = dataclasses.replace(suite.PRESETS["quick"], namespace_sizes=(16,),
                               softmax_ce_shapes=((32, 10),), mlp_hidden=(4,))
    monkeypatch.setitem(suite.PRESETS, "quick", tiny)
    path = tmp_path / "bench.json"
    argv = [a for a in TINY if a not in ("--max-size", "8")] + ["--dtypes", "float32,float64"]
    argv = [a if a != "matmul" else ",".join(problems.NAMESPACE_OPS) for a in argv]
    assert main(argv + ["--kinds", "namespace", "--no-torch", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    ops = [r["op"] for r in json.loads(path.read_text())["results"]]
    expected = ["exp", "tanh", "logsumexp", "softmax_ce", "chain10", "chain10"]
    assert ops == expected + (["mlp_step"] if HAS_SKLEARN else [])
    for r in json.loads(path.read_text())["results"]:
        assert r["ratios"]["tape"]["rounds"] == 2 and "tape" in r["impls"]
    rows = [line for line in out.splitlines() if line.split(" ", 1)[0] in ops]
    assert len(rows) == len(ops)
    # x ideal and x tape, then the notes, whole
    assert all(re.search(r" \S+±\d+%\?? +\S+±\d+%\?? +mem .*\(kept .* \+ grads .*\)$", line)
               for line in rows), rows
    assert max(len(line) for line in out.splitlines()) <= 120


# -- the higher kind ------------------------------------------------------------

HAS_TORCH = importlib.util.find_spec("torch") is not None
NEEDS_TORCH = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
#: hvp and hessian at 8x8 in float64 (the 512x512 hvp is over --max-size 8).
HIGHER_TINY = [a if a != "matmul" else "hvp,hessian" for a in TINY] + ["--kinds", "higher"]
HIGHER_SECTION = ("-- cpu, float64, higher kind (xpgrad.hvp, xpgrad.hessian; "
                  "ideal = xpgrad.value_and_grad)")
#: torch's first forward-mode call (torch.func.jvp) scripts its decompositions.
TORCH_JIT_WARNING = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning")


@TORCH_JIT_WARNING
@pytest.mark.parametrize("with_torch", [pytest.param(True, marks=NEEDS_TORCH), False])
def test_higher_kind_end_to_end(with_torch, tmp_path, capsys, without):
    """hvp and hessian through the CLI: x ideal (over value_and_grad) and x torch (over
    torch.func) in the table and the JSON, or x torch left out with a note without
    torch; xpgrad's and torch's results checked against the derivatives by hand."""
    if not with_torch:
        without("torch")
    path = tmp_path / "bench.json"
    assert main(HIGHER_TINY + ["--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 120
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("-- ")] == [HIGHER_SECTION]
    header = next(line for line in lines if line.startswith("case "))
    torch_column = ["x", "torch"] if with_torch else []
    assert header.split() == ["case", "shape", "time", "x", "ideal", *torch_column, "notes"]
    rows = {line.split()[0]: line for line in lines if line.split(" ", 1)[0] in ("hvp", "hessian")}
    assert set(rows) == {"hvp", "hessian"}
    if not with_torch:
        assert "x torch: not measured in any case: torch not installed" in out
    results = json.loads(path.read_text())["results"]
    assert [(r["op"], r["shape"]) for r in results] == [("hvp", "a(8,8) w(8,8) v(8,8)"),
                                                        ("hessian", "a(8,8) w(8,8)")]
    baselines = {"ideal", "torch"} if with_torch else {"ideal"}
    for r in results:
        assert (r["kind"], r["api"], r["dtype"]) == ("higher", "transforms", "float64")
        row = rows[r["op"]]
        assert row.split()[1] == "w(8,8)"
        # both ratios, as the JSON has them, in the row
        assert set(r["ratios"]) == baselines
        for name in baselines:
            ratio = Ratio(*(r["ratios"][name][k] for k in ("median", "low", "high", "rounds")))
            assert ratio.rounds == 2 and ratio.median > 0
            assert report.format_ratio(ratio) in row
        errors = {n: impl["max_rel_error"] for n, impl in r["impls"].items()
                  if "max_rel_error" in impl}
        assert set(errors) == {"xpgrad"} | baselines - {"ideal"}
        assert max(errors.values()) < 1e-12 and "err " in row
        # the result of one call: H v (8, 8) or H (8, 8, 8, 8), float64
        assert r["grad_bytes"] == 8 * (8 ** 2 if r["op"] == "hvp" else 8 ** 4)
        assert r["impls"]["xpgrad"]["peak_backward_bytes"] >= r["grad_bytes"]


def test_higher_kind_lists_and_defaults(capsys, no_timing):
    """hvp at 8 and 512 and hessian at 8 only, in float32 and float64: listed, in the
    default ops and kinds of every preset, and described in --help."""
    expected = [(op, n, dtype) for dtype in ("float32", "float64")
                for op, n in (("hvp", 8), ("hvp", 512), ("hessian", 8))]
    assert main(["--quick", "--kinds", "higher", "--list"]) == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [(cells[0], cells[1], cells[2]) for cells in listed] == [
        (op, "higher", "transforms") for op, _, _ in expected]
    assert [(cells[0], int(re.search(r"w\((\d+),", " ".join(cells)).group(1)), cells[-2])
            for cells in listed] == expected
    assert main(["--quick", "--ops", "hessian", "--dtypes", "float64", "--list"]) == 0
    assert "a(8,8) w(8,8)" in capsys.readouterr().out
    for preset in suite.PRESETS.values():
        specs = suite.cli_specs(preset, ["cpu"], cli.DEFAULT_DTYPES.split(","))
        assert [(s.op, s.shapes[1][0], s.dtype) for s in specs if s.kind == "higher"] == expected
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "higher: xpgrad.hvp at 8x8 and 512x512 and xpgrad.hessian at 8x8 only" in text
    assert "does not fit in memory" in text and "torch.func" in text


@TORCH_JIT_WARNING
@pytest.mark.parametrize("op", problems.HIGHER_OPS)
def test_higher_implementations_agree(op):
    """xpgrad's transform and torch.func's against the derivatives derived by hand, and
    the hand derivation against central differences of the gradient derived by hand;
    the ideal is value_and_grad."""
    rt = runtime.Runtime("cpu")
    spec = suite.higher_spec(op, 5)
    inputs = make_inputs(spec, rt, seed=2)
    a, w = inputs["a"], inputs["w"]
    assert np.abs(a).max() <= 1 / np.sqrt(5)  # a @ w stays where tanh bends

    def value_and_grad(w):
        t = np.tanh(a @ w)
        return np.sum(t * t), a.T @ (2 * t * (1 - t * t))

    (ref,) = impls.higher_reference(spec, inputs)
    eps = 1e-6
    steps = [inputs["v"]] if op == "hvp" else list(np.eye(25).reshape(25, 5, 5))
    slopes = [(value_and_grad(w + eps * d)[1] - value_and_grad(w - eps * d)[1]) / (2 * eps)
              for d in steps]
    expected = slopes[0] if op == "hvp" else np.stack(slopes).reshape(5, 5, 5, 5).transpose(
        2, 3, 0, 1)  # [k, l, i, j] -> [i, j, k, l]
    np.testing.assert_allclose(ref, expected, rtol=1e-6, atol=1e-8)
    (got,) = build(spec, "xpgrad", rt, inputs).results()
    assert got.shape == ((5, 5) if op == "hvp" else (5, 5, 5, 5))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    for result, by_hand in zip(build(spec, "ideal", rt, inputs).results(), value_and_grad(w),
                               strict=True):
        np.testing.assert_allclose(result, by_hand, rtol=1e-12)
    if HAS_TORCH:
        (theirs,) = build(spec, "torch", rt, inputs).results()
        np.testing.assert_allclose(theirs.numpy(), ref, rtol=1e-12, atol=1e-14)


def test_wrong_higher_result_ends_the_run(capsys, monkeypatch):
    """A wrong hvp is caught before its case is timed: exit status 1, the error on
    stderr, no table."""
    import xpgrad

    def refuse(*args, **kwargs):
        raise AssertionError("a wrong result was timed")

    monkeypatch.setattr(xpgrad, "hvp", lambda f, x, v: v)
    monkeypatch.setattr("xpgrad.bench.runner.measure", refuse)
    argv = [a if a != "hvp,hessian" else "hvp" for a in HIGHER_TINY]
    assert main(argv + ["--no-torch"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("xpgrad bench: hvp higher a(8,8) w(8,8) v(8,8) float64 cpu: "
                                   "xpgrad's result is off by a relative error of ")
    assert "derived by hand (tolerance 1e-10)" in captured.err


@pytest.mark.parametrize("fields, match", [
    ({"op": "hvp", "kind": "namespace", "api": "transforms"}, "go with kind 'higher' and api"),
    ({"op": "hessian", "kind": "higher", "api": "functional"}, "go with kind 'higher' and api"),
    ({"op": "hvp", "kind": "higher", "api": "transforms", "shapes": ((4, 4), (4, 4), (4, 5))},
     "square"),
])
def test_higher_spec_goes_with_its_kind_and_api(fields, match):
    fields = {"shapes": ((4, 4),) * len(problems.INPUT_NAMES[fields["op"]]), **fields}
    with pytest.raises(ValueError, match=match):
        Spec(**fields)
    with pytest.raises(ValueError, match="'transforms' is the higher kind's xpgrad"):
        build(Spec("matmul", "gemm", ((4, 4), (4, 4))), "transforms", runtime.Runtime("cpu"), {})


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


@pytest.mark.parametrize("where", ["folder", "folder/", "under_a_file", "bad_suffix"])
def test_an_output_path_that_cannot_be_a_file_fails_before_timing(where, tmp_path, capsys, no_timing):
    # the check walked up to a writable folder and passed: the run timed every
    # case, then ended in IsADirectoryError or FileExistsError, results lost
    (tmp_path / "afile").write_text("")
    option, path, says = {
        "folder": ("--json", str(tmp_path), "is a folder; name a file in it"),
        "folder/": ("--plot", str(tmp_path) + "/", "is a folder; name a file in it"),
        "under_a_file": ("--json", str(tmp_path / "afile" / "x.json"), f"{tmp_path / 'afile'} is a file, not a folder"),
        "bad_suffix": ("--plot", str(tmp_path / "x.xyz"), "matplotlib cannot write .xyz files"),
    }[where]
    if option == "--plot":
        pytest.importorskip("matplotlib")
    assert main(TINY + [option, path]) == 2
    assert f"xpgrad bench: {option} {path}: {says}" in capsys.readouterr().err


def test_a_plot_without_suffix_is_named_as_written_and_devices_are_timed_once(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(TINY + ["--no-torch", "--devices", "cpu,cpu", "--plot", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'run.png'}" in out and (tmp_path / "run.png").exists()
    assert "cases on cpu in" in out  # "cpu, cpu", each case twice, before


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


def _namespace_synthetic():
    steady = [1e-3] * 15
    return [
        _result(softmax_ce_spec(8192, 1000, dtype="float32"),
                {"xpgrad": [3e-3] * 15, "ideal": steady, "tape": [2e-3] * 15, "torch": steady},
                peak_bytes={"xpgrad": 94 << 20, "ideal": 31 << 20}, grad_bytes=31 << 20,
                kept_bytes={"xpgrad": 63 << 20}),
        _result(mlp_spec(64), {"xpgrad": steady, "ideal": steady, "tape": [2e-3] * 15},
                peak_bytes={"xpgrad": 1 << 20, "ideal": 2 << 20}, grad_bytes=38_000,
                kept_bytes={"xpgrad": 3 << 20}),
    ]


def test_table_namespace_block():
    """The namespace kind's cases come in a block of their own after the others,
    with an x tape column and no GFLOP/s, and keep their notes whole."""
    text = report.table(_synthetic() + _namespace_synthetic())
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120
    headers = [line.split() for line in lines if line.startswith("case ")]
    assert headers == [["case", "shape", "time", "GFLOP/s", "x", "ideal", "x", "torch", "notes"],
                       ["case", "shape", "time", "x", "ideal", "x", "tape", "x", "torch",
                        "notes"]]
    assert [line for line in lines if line.startswith("-- ")][-2:] == [
        "-- cpu, float32, namespace kind (xpgrad.array_api)",
        "-- cpu, float64, namespace kind (xpgrad.array_api)"]
    ce = next(line for line in lines if line.startswith("softmax_ce "))
    assert ce.split()[:6] == ["softmax_ce", "x(8192,1000)", "3", "ms", "3.00±0%", "1.50±0%"]
    assert ce.endswith("mem 94M vs 31M (kept 63M + grads 31M)")
    mlp = next(line for line in lines if line.startswith("mlp_step "))
    assert mlp.split()[:7] == ["mlp_step", "x(1797,64)", "hidden", "64", "1", "ms", "1.00±0%"]
    assert "0.50±0%  " in mlp and " - " in mlp  # no torch timings in this row
    assert report.noise(_namespace_synthetic())["worst"].endswith("x(8192,1000) float32 cpu")


def test_plot(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at
    png = tmp_path / "bench.png"
    results = _synthetic() + _namespace_synthetic()
    results.append(_result(Spec("linear", "gemm", ((1024, 1024), (1024, 1024), (1024,)),
                                dtype="float32"), {"xpgrad": [1e-2] * 15, "ideal": [1e-2] * 15}))
    report.plot(png, results)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    ratio_axes, gflops_axes = fig.axes[:3], fig.axes[3:]
    assert [ax.get_title() for ax in ratio_axes] == [
        "xpgrad time / ideal time", "xpgrad time / tape time", "xpgrad time / torch time"]
    for ax in ratio_axes:  # drawn by savefig: the tick labels are set
        assert ax.get_xscale() == "log"
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert labels == ["0.1", "0.25", "0.5", "1", "2", "4", "10"]
    for ax in gflops_axes:
        assert ax.get_ylim()[0] == 0
    linear = gflops_axes[1]
    assert [t.get_text() for t in linear.get_xticklabels() if t.get_text()] == ["1024", "4096"]
    sizes = [t.get_fontsize() for t in fig.findobj(plt.Text) if t.get_text()]
    assert sizes and min(sizes) >= report.MIN_FONT
    plt.close(fig)
    # without tape timings no tape panel, without GEMM-bound cases no GFLOP/s panels
    figures.clear()
    report.plot(png, _synthetic()[1:2])
    assert [ax.get_title() for ax in figures[0].axes] == [
        "xpgrad time / ideal time", "xpgrad time / torch time"]
    plt.close(figures[0])


def test_a_plot_of_several_devices_keeps_them_apart(tmp_path, monkeypatch):
    # a row was named by op, kind and shape, and a GFLOP/s line by implementation and
    # dtype: the CPU's and the GPU's points of one case fell on one row, one line
    pytest.importorskip("matplotlib")
    import dataclasses

    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    cpu = _synthetic()[0]
    gpu = _result(dataclasses.replace(cpu.spec, device="cuda:0"),
                  {"xpgrad": [2e-4] * 15, "ideal": [2e-4] * 15})
    report.plot(tmp_path / "two.png", [cpu, gpu])
    (fig,) = figures
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert rows == ["linear gemm 4096x4096 cpu", "linear gemm 4096x4096 cuda:0"]
    lines = [line.get_label() for line in fig.axes[-1].get_lines()]
    assert "xpgrad float32 cpu" in lines and "xpgrad float32 cuda:0" in lines
    plt.close(fig)


def test_an_existing_file_that_cannot_be_written_fails_before_timing(tmp_path, capsys, monkeypatch,
                                                                     no_timing):
    # only the folder was asked: the run timed every case, then lost them to a
    # PermissionError; --json and --plot of one file overwrote the results
    target = tmp_path / "bench.json"
    target.write_text("{}")
    monkeypatch.setattr(cli.os, "access", lambda path, mode: str(path) != str(target))
    assert main(TINY + ["--json", str(target)]) == 2
    assert f"--json {target}: exists, and cannot be written" in capsys.readouterr().err
    monkeypatch.undo()
    pytest.importorskip("matplotlib")
    assert main(TINY + ["--json", str(tmp_path / "a.png"), "--plot", str(tmp_path / "a.png")]) == 2
    assert "--json and --plot name one file" in capsys.readouterr().err


def test_a_plot_with_gemm_cases_and_no_namespace_ones_is_laid_out(tmp_path):
    # with two ratio panels, the GFLOP/s legends beside their panels overlapped the
    # neighbour: matplotlib gave up its layout (a UserWarning) and cut the labels
    pytest.importorskip("matplotlib")
    import warnings

    steady = [1e-3] * 15
    results = []
    for dtype in ("float32", "float64"):
        for n in (256, 1024):
            results.append(_result(Spec("matmul", "gemm", ((n, n), (n, n)), dtype=dtype),
                                   {"xpgrad": steady, "ideal": steady, "torch": steady}))
            results.append(_result(Spec("linear", "gemm", ((n, n), (n, n), (n,)), dtype=dtype),
                                   {"xpgrad": steady, "ideal": steady, "torch": steady}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report.plot(tmp_path / "gemm.png", results)

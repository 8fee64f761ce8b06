"""bench/outofcore.py's cubed part in its smallest preset: X of 10 MB against an
allowed_mem of 8 MB, on cubed's threads executor.

Checks that cubed accepts the plan, that xpgrad's gradients match a NumPy
reference computed here from the same data (materialised: it is small), and
that the memory-model table has forward and backward ops, each projected
within allowed_mem.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

cubed = pytest.importorskip("cubed")

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(HERE), "bench", "outofcore.py")


def _load():
    spec = importlib.util.spec_from_file_location("xpgrad_bench_outofcore", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    mod = _load()
    work = tmp_path_factory.mktemp("cubed-work")
    argv = ["--preset", "tiny", "--executor", "threads", "--skip-dask", "--repeat", "1",
            "--work-dir", str(work), "--check-rows", "2000"]
    out = mod.main(argv)
    return mod, mod.parse_args(argv), work, out


def _reference(loss, X, y, onehot, w):
    """The losses' gradients, written here independently of the script."""
    n = X.shape[0]
    if loss == "logistic":
        z = X @ w
        loss_value = np.mean(np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0) - y * z)
        return loss_value, X.T @ (1 / (1 + np.exp(-z)) - y) / n
    logits = X @ w
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss_value = -np.mean(np.log(np.sum(p * onehot, axis=1)))
    return loss_value, X.T @ (p - onehot) / n


def test_data_larger_than_allowed_mem(run):
    _, _, _, out = run
    cfg = out["cubed"]["config"]
    assert cfg["x_bytes"] > cfg["allowed_mem"]
    assert cfg["n_chunks"] > 1


@pytest.mark.parametrize("loss", ["logistic", "softmax"])
def test_gradient_matches_numpy(run, loss):
    mod, args, work, out = run
    rec = out["cubed"]["losses"][loss]
    spec = cubed.Spec(work_dir=str(work), allowed_mem="1GB")
    X, y, onehot = cubed.compute(*mod.make_data(args, spec))
    w = np.asarray(mod.init_params(args, spec, loss).compute())
    loss_ref, grad_ref = _reference(loss, np.asarray(X), np.asarray(y), np.asarray(onehot), w)
    grad = np.asarray(rec["grad_xpgrad"])
    assert grad.shape == grad_ref.shape
    assert np.max(np.abs(grad - grad_ref)) <= 1e-10 * np.max(np.abs(grad_ref))
    assert abs(rec["loss_xpgrad"] - loss_ref) <= 1e-10 * abs(loss_ref)
    assert rec["check"]["ok"]
    assert rec["check"]["grad_xpgrad_vs_hand_max_rel_err"] < 1e-10
    # the gradient keeps the parameter's layout: one chunk, not one per element
    assert all(len(c) == 1 for c in rec["grad_chunks"])


@pytest.mark.parametrize("loss", ["logistic", "softmax"])
def test_memory_model(run, loss):
    _, _, _, out = run
    model = out["cubed"]["losses"][loss]["memory_model"]
    allowed = out["cubed"]["config"]["allowed_mem"]
    assert model["allowed_mem"] == allowed
    phases = {r["phase"] for r in model["ops"]}
    assert {"data", "forward", "backward"} <= phases
    for phase in ("forward", "backward"):
        ops = [r for r in model["ops"] if r["phase"] == phase]
        assert ops
        assert all(0 < r["projected_mem"] <= allowed for r in ops), phase
        assert all(r["num_tasks"] >= 1 for r in ops)
    # the backward's ops are attributed to xpgrad's rules
    rules = {r["rule"].split(".")[0] for r in model["ops"] if r["phase"] == "backward"}
    assert {"matmul", "mean"} <= rules
    # the plans cubed runs (fused) fit in allowed_mem
    for key in ("fused_forward", "fused_forward_backward", "fused_hand"):
        assert 0 < model[key]["max_projected_mem"] <= allowed
    assert model["fused_forward_backward"]["max_projected_mem"] >= model["fused_forward"]["max_projected_mem"]
    assert not any("rechunk" in f for f in model["flags"])


def test_work_dir_removed(run):
    _, _, work, out = run
    assert not os.path.exists(out["cubed"]["config"]["work_dir"])
    assert os.path.isdir(work)

"""The namespace kind: ``xpgrad.array_api``'s functions on Tensors.

- the ten-call element-wise chain (then a sum) at 2x2 and 8x8 in float64,
  dispatch-bound: xpgrad against torch autograd running the same calls and
  the hand-derived gradient on NumPy;
- exp, tanh and logsumexp (over the last axis, max subtracted) forward and
  backward on (n, n) float32 arrays, n = 64 ``tiny``, 256 ``small``, 2048
  ``medium`` and ``large``, and the softmax cross-entropy of float32 logits
  against integer labels, (64, 10) ``tiny``, (1024, 100) ``small``,
  (8192, 1000) ``medium`` and ``large``:
  memory-bound, against the hand-written NumPy; the peak memory of one
  backward, what the forward kept and the gradients' bytes go into
  ``extra_info``;
- one Adam training step of a tanh MLP on scikit-learn's digits data set
  in float64 (64 hidden units on all 1797 rows; 16 on 256 rows ``tiny``),
  skipped without scikit-learn.

Each runs as xpgrad, the hand-written ideal, torch, and ``tape``: a minimal
reverse-mode tape in Python over NumPy (:mod:`xpgrad.bench.tape`).
"""

import importlib.util

import pytest

from xpgrad.bench.suite import CHAIN10_SIZES, mlp_spec, namespace_spec, softmax_ce_spec

#: n of the memory-bound (n, n) arrays per ``--bench-size``.
MEMORY_BOUND_N = {"tiny": 64, "small": 256, "medium": 2048, "large": 2048}
#: (rows, classes) of softmax_ce's logits per ``--bench-size``.
SOFTMAX_CE_SHAPE = {"tiny": (64, 10), "small": (1024, 100), "medium": (8192, 1000),
                    "large": (8192, 1000)}
#: (hidden units, rows of the digits) of mlp_step per ``--bench-size``.
MLP = {"tiny": (16, 256), "small": (64, 1797), "medium": (64, 1797), "large": (64, 1797)}

IMPLS = ("namespace", "ideal", "tape", "torch")


def _record_memory(benchmark, built, rt):
    """Peak bytes of one backward and what the forward kept, outside the timing
    (torch on the CPU is not traced)."""
    if built.name == "torch":
        return
    with rt.scope():
        peak, grads = rt.peak_bytes(built.backward_probe())
        kept, _ = rt.held_bytes(built.forward)
    benchmark.extra_info.update(peak_backward_bytes=peak, kept_bytes=kept,
                                grad_bytes=sum(int(g.nbytes) for g in grads if g is not None))


@pytest.mark.dtypes(("float64",))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n", CHAIN10_SIZES, ids=lambda n: f"{n}x{n}")
def test_chain10(bench, impl, n, dtype, device):
    bench(namespace_spec("chain10", n, dtype=dtype, device=device), impl)


@pytest.mark.dtypes(("float32",))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op", ("exp", "tanh", "logsumexp"))
def test_memory_bound(bench, benchmark, request, op, impl, dtype, device):
    n = MEMORY_BOUND_N[request.config.getoption("--bench-size")]
    built, _, rt = bench(namespace_spec(op, n, dtype=dtype, device=device), impl)
    _record_memory(benchmark, built, rt)


@pytest.mark.dtypes(("float32",))
@pytest.mark.parametrize("impl", IMPLS)
def test_softmax_ce(bench, benchmark, request, impl, dtype, device):
    rows, classes = SOFTMAX_CE_SHAPE[request.config.getoption("--bench-size")]
    built, _, rt = bench(softmax_ce_spec(rows, classes, dtype=dtype, device=device), impl)
    _record_memory(benchmark, built, rt)


@pytest.mark.dtypes(("float64",))
@pytest.mark.parametrize("impl", IMPLS)
def test_mlp_step(bench, benchmark, request, impl, dtype, device):
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("mlp_step trains on scikit-learn's digits: pip install scikit-learn")
    hidden, rows = MLP[request.config.getoption("--bench-size")]
    built, _, rt = bench(mlp_spec(hidden, rows=rows, dtype=dtype, device=device), impl)
    _record_memory(benchmark, built, rt)

"""The namespace kind: ``xpgrad.array_api``'s functions on Tensors.

- the ten-call element-wise chain (then a sum) at 2x2 and 8x8 in float64,
  dispatch-bound: xpgrad against torch autograd running the same calls and
  the hand-derived gradient on NumPy;
- exp, tanh and logsumexp (over the last axis, max subtracted) forward and
  backward on (n, n) float32 arrays, n = 64 ``tiny``, 256 ``small``, 2048
  ``medium`` and ``large``:
  memory-bound, against the hand-written NumPy; the peak memory of one
  backward, what the forward kept and the gradients' bytes go into
  ``extra_info``.
"""

import pytest

import xpgrad.array_api
from xpgrad.bench.suite import CHAIN10_SIZES, namespace_spec

#: n of the memory-bound (n, n) arrays per ``--bench-size``.
MEMORY_BOUND_N = {"tiny": 64, "small": 256, "medium": 2048, "large": 2048}

IMPLS = ("namespace", "ideal", "torch")


def _record_memory(benchmark, built, rt):
    """Peak bytes of one backward and what the forward kept, outside the timing
    (torch on the CPU is not traced)."""
    if built.name == "torch":
        return
    with rt.scope():
        peak, grads = rt.peak_bytes(built.backward_probe())
        kept, _ = rt.held_bytes(built.forward)
    benchmark.extra_info.update(peak_backward_bytes=peak, kept_bytes=kept,
                                grad_bytes=sum(int(g.nbytes) for g in grads))


@pytest.mark.dtypes(("float64",))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("n", CHAIN10_SIZES, ids=lambda n: f"{n}x{n}")
def test_chain10(bench, impl, n, dtype, device):
    bench(namespace_spec("chain10", n, dtype=dtype, device=device), impl)


@pytest.mark.dtypes(("float32",))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op", ("exp", "tanh", "logsumexp"))
def test_memory_bound(bench, benchmark, request, op, impl, dtype, device):
    if op == "logsumexp" and not hasattr(xpgrad.array_api, "max"):
        pytest.skip("xpgrad.array_api.max is not differentiable in this version")
    n = MEMORY_BOUND_N[request.config.getoption("--bench-size")]
    built, _, rt = bench(namespace_spec(op, n, dtype=dtype, device=device), impl)
    _record_memory(benchmark, built, rt)

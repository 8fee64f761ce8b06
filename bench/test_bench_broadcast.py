"""Broadcast matmuls: what folding the broadcast batch into one GEMM saves.

- weight gradient of A (B, 128, 128) @ W (128, 128), B = 1, 16, 256, 1024
  by ``--bench-size``: xpgrad against the folded single GEMM (ideal), the
  naive batched product then sum, and torch; the peak memory of one
  backward goes into ``extra_info``;
- forward of (256, 128, 128) @ (128, 128) against the library's matmul;
- A (8, 1, 64, 64) @ B (1, 16, 64, 64), broadcast on both sides.
"""

import pytest

from xpgrad.bench.problems import Spec


def _record_peak(benchmark, built, rt):
    """Peak bytes of one backward, outside the timing (torch on CPU is not traced)."""
    if built.name == "torch":
        return
    with rt.scope():
        peak, grads = rt.peak_bytes(built.backward_probe())
    benchmark.extra_info["peak_backward_bytes"] = peak
    benchmark.extra_info["grad_bytes"] = sum(int(g.nbytes) for g in grads if g is not None)


@pytest.mark.dtypes(("float32", "float64"))
@pytest.mark.parametrize("impl", ("functional", "tensor", "ideal", "naive", "torch"))
def test_weight_grad(bench, benchmark, impl, batch, dtype, device):
    spec = Spec("matmul", "bcast-w", ((batch, 128, 128), (128, 128)), phase="backward",
                api="tensor" if impl == "tensor" else "functional", dtype=dtype, device=device,
                needs=(False, True))
    built, _, rt = bench(spec, impl)
    _record_peak(benchmark, built, rt)


@pytest.mark.dtypes(("float32", "float64"))
@pytest.mark.parametrize("impl", ("functional", "tensor", "ideal", "torch"))
def test_folded_forward(bench, impl, dtype, device):
    spec = Spec("matmul", "bcast-fwd", ((256, 128, 128), (128, 128)), phase="forward",
                api="tensor" if impl == "tensor" else "functional", dtype=dtype, device=device)
    bench(spec, impl)


@pytest.mark.dtypes(("float32", "float64"))
@pytest.mark.parametrize("impl", ("functional", "tensor", "ideal", "naive", "torch"))
def test_both_sides(bench, benchmark, impl, dtype, device):
    spec = Spec("matmul", "bcast-mid", ((8, 1, 64, 64), (1, 16, 64, 64)),
                api="tensor" if impl == "tensor" else "functional", dtype=dtype, device=device)
    built, _, rt = bench(spec, impl)
    _record_peak(benchmark, built, rt)

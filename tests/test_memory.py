"""Peak memory of the backward passes (a memory assertion, not a timing one).

NumPy reports its array allocations to tracemalloc, so the peak traced while
a backward runs is the most memory its temporaries and outputs held at once.
A backward that materialized the broadcast product (B, k, n) and then summed
it would peak near twice its outputs; the folded GEMM needs only the outputs.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from xpgrad import ops
from xpgrad._probe import peak_bytes

B, M, K, N = 64, 64, 64, 64


def _peak_of(fn):
    """(result, peak bytes traced above the starting point while fn ran),
    measured by the same tracemalloc probe the benchmarks use."""
    gc.collect()
    peak, result = peak_bytes(fn)
    return result, peak


def _nbytes(arrays):
    return sum(a.nbytes for a in arrays if a is not None)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return {
        "a3": rng.standard_normal((B, M, K)),
        "w": rng.standard_normal((K, N)),
        "a2": rng.standard_normal((M, K)),
        "b3": rng.standard_normal((B, K, N)),
        "g3": rng.standard_normal((B, M, N)),
        "wl": rng.standard_normal((N, K)),  # linear weight (out, in)
        "bl": rng.standard_normal(N),
    }


def test_matmul_batched_times_matrix_backward_peak(data):
    """(B, m, k) @ (k, n): grad_w is one (k, B*m) @ (B*m, n) GEMM."""
    out, ctx = ops.matmul.forward(data["a3"], data["w"])
    grads, peak = _peak_of(lambda: ops.matmul.backward(data["g3"], ctx))
    outputs = _nbytes(grads)
    assert outputs == data["a3"].nbytes + data["w"].nbytes
    assert peak <= 1.5 * outputs, f"peak {peak} B > 1.5 x outputs {outputs} B"
    # and the values are right (reference computed outside the measurement)
    np.testing.assert_allclose(grads[1], np.einsum("bmk,bmn->kn", data["a3"], data["g3"]), rtol=1e-10)


def test_matmul_matrix_times_batched_backward_peak(data):
    """(m, k) @ (B, k, n): grad_a sums over the batch its operand was broadcast along.

    Folding (B, n) into one contraction needs a permuted copy of a batched
    operand (m sits between B and n in g's layout), so the bound here is the
    outputs plus one batch-sized temporary alive at a time, not 1.5x.
    """
    out, ctx = ops.matmul.forward(data["a2"], data["b3"])
    grads, peak = _peak_of(lambda: ops.matmul.backward(data["g3"], ctx))
    outputs = _nbytes(grads)
    one_temp = max(data["g3"].nbytes, data["b3"].nbytes)
    assert peak <= outputs + 1.1 * one_temp, f"peak {peak} B > outputs {outputs} B + one {one_temp} B temporary"
    np.testing.assert_allclose(grads[0], np.einsum("bmn,bkn->mk", data["g3"], data["b3"]), rtol=1e-10)


def test_linear_3d_backward_peak(data):
    out, ctx = ops.linear.forward(data["a3"], data["wl"], data["bl"])
    grads, peak = _peak_of(lambda: ops.linear.backward(data["g3"], ctx))
    outputs = _nbytes(grads)
    assert outputs == data["a3"].nbytes + data["wl"].nbytes + data["bl"].nbytes
    assert peak <= 1.5 * outputs, f"peak {peak} B > 1.5 x outputs {outputs} B"
    np.testing.assert_allclose(grads[1], np.einsum("bmn,bmk->nk", data["g3"], data["a3"]), rtol=1e-10)
    np.testing.assert_allclose(grads[2], data["g3"].sum(axis=(0, 1)), rtol=1e-10)


def test_sum_backward_allocates_nothing_big(data):
    """The gradient of a sum is a broadcast view: no (B, m, k) copy."""
    out, ctx = ops.sum.forward(data["a3"], axis=(0, 1))
    g = np.ones(K)
    (gx,), peak = _peak_of(lambda: ops.sum.backward(g, ctx))
    assert gx.shape == (B, M, K)
    assert peak < data["a3"].nbytes / 10, f"peak {peak} B for a {data['a3'].nbytes} B input"


def test_measurement_sees_numpy_allocations():
    """Guard: if tracemalloc stopped seeing NumPy, the assertions above would pass vacuously."""
    arr, peak = _peak_of(lambda: np.ones((256, 256)))
    assert peak >= arr.nbytes

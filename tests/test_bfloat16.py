"""bfloat16 through torch tensors: dtypes kept, values close to a float64 reference.

(NumPy has no bfloat16 without ml_dtypes, and CuPy needs a GPU, so torch is
the backend where the suite can check it.)
"""

from __future__ import annotations

import numpy as np
import pytest

from xpgrad import ops
from xpgrad.testing import rel_error

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

BF16_TOL = 5e-2  # bfloat16 keeps 8 bits of mantissa


def _bf16(rng, shape):
    return torch.asarray(rng.standard_normal(shape)).to(torch.bfloat16)


def _f64(t):
    return t.to(torch.float64).numpy()


@pytest.mark.parametrize(
    "sa, sb", [((5, 8), (8, 3)), ((4, 6, 8), (8, 3)), ((2, 1, 6, 8), (1, 3, 8, 4))], ids=str
)
def test_matmul_bfloat16(sa, sb):
    rng = np.random.default_rng(3)
    a, b = _bf16(rng, sa), _bf16(rng, sb)
    out, ctx = ops.matmul.forward(a, b)
    g = _bf16(rng, tuple(out.shape))
    ga, gb = ops.matmul.backward(g, ctx)
    assert out.dtype == ga.dtype == gb.dtype == torch.bfloat16
    A, B, G = _f64(a), _f64(b), _f64(g)
    ga_ref = _sum_to(G @ np.swapaxes(B, -1, -2), sa)
    gb_ref = _sum_to(np.swapaxes(A, -1, -2) @ G, sb)
    assert rel_error(_f64(out), A @ B) <= BF16_TOL
    assert rel_error(_f64(ga), ga_ref) <= BF16_TOL
    assert rel_error(_f64(gb), gb_ref) <= BF16_TOL


def _sum_to(x, shape):
    lead = x.ndim - len(shape)
    x = x.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and x.shape[i] != 1)
    return x.sum(axis=axes, keepdims=True)


def test_linear_and_sum_bfloat16():
    rng = np.random.default_rng(4)
    x, w, b = _bf16(rng, (3, 7, 16)), _bf16(rng, (5, 16)), _bf16(rng, (5,))
    y, ctx = ops.linear.forward(x, w, b)
    g = _bf16(rng, tuple(y.shape))
    gx, gw, gb = ops.linear.backward(g, ctx)
    assert y.dtype == gx.dtype == gw.dtype == gb.dtype == torch.bfloat16
    X, W, G = _f64(x), _f64(w), _f64(g)
    assert rel_error(_f64(y), X @ W.T + _f64(b)) <= BF16_TOL
    assert rel_error(_f64(gw), G.reshape(-1, 5).T @ X.reshape(-1, 16)) <= BF16_TOL
    assert rel_error(_f64(gb), G.reshape(-1, 5).sum(0)) <= BF16_TOL
    s, sctx = ops.sum.forward(x, axis=(0, 1))
    assert s.dtype == torch.bfloat16
    assert rel_error(_f64(s), X.sum(axis=(0, 1))) <= BF16_TOL

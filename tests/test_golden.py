"""Golden values worked out by hand (not by running the code), on every backend,
through the functional rules and through the Tensor.

The seed notebook's example: a = arange(1, 13).reshape(3, 4),
b = arange(1, 13).reshape(4, 3), loss = sum(a @ b).

    d loss / d a[i, k] = sum_j b[k, j]  -> every row of a.grad is the row sums
                                           of b: [6, 15, 24, 33]
    d loss / d b[k, j] = sum_i a[i, k]  -> row k of b.grad is the k-th column
                                           sum of a repeated: 15, 18, 21, 24
    loss = [15, 18, 21, 24] . [6, 15, 24, 33] = 90 + 270 + 504 + 792 = 1656
"""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
from xpgrad import ops

from tests.support import dtype_name, host

A = np.arange(1, 13).reshape(3, 4)
B = np.arange(1, 13).reshape(4, 3)
GRAD_A = np.array([[6, 15, 24, 33]] * 3)
GRAD_B = np.array([[15] * 3, [18] * 3, [21] * 3, [24] * 3])
LOSS = 1656


def test_notebook_golden_functional(backend, dtype):
    a, b = backend.asarray(A, dtype), backend.asarray(B, dtype)
    prod, ctx_mm = ops.matmul.forward(a, b)
    loss, ctx_sum = ops.sum.forward(prod)
    assert float(host(loss)) == LOSS
    (g_prod,) = ops.sum.backward(backend.asarray(np.array(1.0), dtype), ctx_sum)
    assert tuple(g_prod.shape) == (3, 3)
    ga, gb = ops.matmul.backward(g_prod, ctx_mm)
    np.testing.assert_array_equal(host(ga), GRAD_A)
    np.testing.assert_array_equal(host(gb), GRAD_B)
    assert dtype_name(ga) == dtype_name(gb) == dtype


def test_notebook_golden_tensor(backend, dtype):
    a = xpgrad.tensor(backend.asarray(A, dtype), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(B, dtype), requires_grad=True)
    loss = (a @ b).sum()
    assert loss.item() == LOSS
    loss.backward()
    np.testing.assert_array_equal(host(a.grad), GRAD_A)
    np.testing.assert_array_equal(host(b.grad), GRAD_B)
    assert type(a.grad) is type(a.data)
    assert a.dtype == a.grad.dtype and b.dtype == b.grad.dtype


def test_notebook_golden_functions(backend):
    """The same through xpgrad.matmul / xpgrad.sum on Tensors."""
    a = xpgrad.tensor(backend.asarray(A, "float64"), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(B, "float64"), requires_grad=True)
    xpgrad.sum(xpgrad.matmul(a, b)).backward()
    np.testing.assert_array_equal(host(a.grad), GRAD_A)
    np.testing.assert_array_equal(host(b.grad), GRAD_B)


def test_add_bias_grad_b_counts_other_dims(backend, dtype):
    """x of ones (2, 3, 4), b (3,) along axis 1, loss = sum: grad_b[j] = 2 * 4 = 8."""
    x = backend.asarray(np.ones((2, 3, 4)), dtype)
    b = backend.asarray(np.array([1.0, 2.0, 3.0]), dtype)
    out, ctx = ops.add_bias.forward(x, b, axis=1)
    np.testing.assert_array_equal(host(out)[1, :, 2], [2.0, 3.0, 4.0])
    gx, gb = ops.add_bias.backward(backend.asarray(np.ones((2, 3, 4)), dtype), ctx)
    np.testing.assert_array_equal(host(gb), [8.0, 8.0, 8.0])
    np.testing.assert_array_equal(host(gx), np.ones((2, 3, 4)))


def test_add_bias_last_axis_grad_b(backend):
    """b along axis -1 of (2, 3, 5): grad_b[j] = 2 * 3 = 6 for ones upstream."""
    x = xpgrad.tensor(backend.asarray(np.zeros((2, 3, 5)), "float64"), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(np.arange(5.0)), requires_grad=True)
    xpgrad.add_bias(x, b, axis=-1).sum().backward()
    np.testing.assert_array_equal(host(b.grad), [6.0] * 5)


@pytest.mark.parametrize("x_shape, rows", [((5, 3), 5), ((2, 5, 3), 10), ((3,), 1)],
                         ids=["2d", "3d", "1d"])
def test_linear_grads_with_ones_upstream(backend, dtype, x_shape, rows):
    """y = x @ w.T + b with ones upstream: grad_b = row count; grad_w[o, i] = sum of
    x[..., i]; grad_x[..., i] = sum_o w[o, i]."""
    xh = np.arange(np.prod(x_shape), dtype=float).reshape(x_shape)
    wh = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x, w = backend.asarray(xh, dtype), backend.asarray(wh, dtype)
    b = backend.asarray(np.array([10.0, 20.0]), dtype)
    y, ctx = ops.linear.forward(x, w, b)
    assert tuple(y.shape) == x_shape[:-1] + (2,)
    gx, gw, gb = ops.linear.backward(backend.asarray(np.ones(x_shape[:-1] + (2,)), dtype), ctx)
    np.testing.assert_array_equal(host(gb), [rows, rows])
    col_sums = xh.reshape(-1, 3).sum(axis=0)
    np.testing.assert_array_equal(host(gw), [col_sums, col_sums])
    np.testing.assert_array_equal(host(gx), np.broadcast_to([5.0, 7.0, 9.0], x_shape))


def test_linear_forward_hand_values(backend):
    x = backend.asarray(np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]))
    w = backend.asarray(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    b = backend.asarray(np.array([0.5, -0.5]))
    y, _ = ops.linear.forward(x, w, b)
    # row 0: [1 - 3, 4 - 6] + b = [-1.5, -2.5]; row 1: [2 + 2, 8 + 5] + b = [4.5, 12.5]
    np.testing.assert_array_equal(host(y), [[-1.5, -2.5], [4.5, 12.5]])


def test_batched_matmul_broadcast_weight_grad(backend, dtype):
    """ones (2, 3, 4) @ ones (4, 5), ones upstream: grad_w = 2 * 3 = 6 everywhere
    (summed over the batch the weight was broadcast along); grad_a = 5."""
    a = xpgrad.tensor(backend.asarray(np.ones((2, 3, 4)), dtype), requires_grad=True)
    w = xpgrad.tensor(backend.asarray(np.ones((4, 5)), dtype), requires_grad=True)
    out = a @ w
    np.testing.assert_array_equal(host(out.data), np.full((2, 3, 5), 4.0))
    out.sum().backward()
    np.testing.assert_array_equal(host(w.grad), np.full((4, 5), 6.0))
    np.testing.assert_array_equal(host(a.grad), np.full((2, 3, 4), 5.0))


def test_vector_dot_golden(backend):
    """[1, 2, 3] @ [4, 5, 6] = 32; grad_a = b, grad_b = a."""
    a = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0, 3.0])), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(np.array([4.0, 5.0, 6.0])), requires_grad=True)
    out = a @ b
    assert out.shape == ()
    assert out.item() == 32.0
    out.backward()
    np.testing.assert_array_equal(host(a.grad), [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(host(b.grad), [1.0, 2.0, 3.0])


def test_polynomial_chain_golden(backend):
    """y = sum((2x + 1)^2), x = [1, 2, 3]: y = 9 + 25 + 49 = 83, dy/dx = 4(2x + 1) = [12, 20, 28]."""
    x = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0, 3.0])), requires_grad=True)
    y = ((2.0 * x + 1.0) ** 2).sum()
    assert y.item() == 83.0
    y.backward()
    np.testing.assert_array_equal(host(x.grad), [12.0, 20.0, 28.0])


def test_mean_golden(backend):
    """d mean(x) / dx = 1 / n; mean of arange(24) = 11.5."""
    x = xpgrad.tensor(backend.asarray(np.arange(24.0).reshape(2, 3, 4)), requires_grad=True)
    m = x.mean()
    assert m.item() == 11.5
    m.backward()
    np.testing.assert_allclose(host(x.grad), np.full((2, 3, 4), 1 / 24), rtol=1e-15)


def test_quotient_golden(backend):
    """f = sum(a / b), a = [1, 2], b = [4, 8]: df/da = 1/b = [0.25, 0.125];
    df/db = -a/b^2 = [-1/16, -2/64]."""
    a = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0])), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(np.array([4.0, 8.0])), requires_grad=True)
    (a / b).sum().backward()
    np.testing.assert_array_equal(host(a.grad), [0.25, 0.125])
    np.testing.assert_array_equal(host(b.grad), [-0.0625, -0.03125])

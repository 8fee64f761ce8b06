"""matmul over every rank combination, broadcast batch dimensions, zero-size
dimensions, and the shapes it must refuse (with messages naming both shapes).

Reference gradients come from ``np_matmul_grads`` below, a direct NumPy
transcription of the math (promote 1-D operands, multiply, sum over the
broadcast axes), independent of xpgrad's folded GEMM plans.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import xpgrad
from xpgrad import ops

from tests.support import dtype_name, host, tol

# JAX compiles each shape afresh (0.3 s a case): every 4th JAX case here in a
# plain run, all with --backend jax (tests/conftest.py).
pytestmark = pytest.mark.jax_sample(4)


def _unbroadcast(x, shape):
    """Sum ``x`` down to ``shape`` (the plain way: leading axes, then 1-axes)."""
    while x.ndim > len(shape):
        x = x.sum(axis=0)
    for i, d in enumerate(shape):
        if d == 1 and x.shape[i] != 1:
            x = x.sum(axis=i, keepdims=True)
    return x


def np_matmul_grads(a, b, g):
    """Gradients of sum(matmul(a, b) * g) with respect to a and b."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    out_shape = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1])
    g2 = g.reshape(out_shape)
    ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
    gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
    return _unbroadcast(ga, a2.shape).reshape(a.shape), _unbroadcast(gb, b2.shape).reshape(b.shape)


def _check(backend, a_shape, b_shape, rng, dtype="float64"):
    ah = rng.standard_normal(a_shape).astype(dtype).astype(np.float64)
    bh = rng.standard_normal(b_shape).astype(dtype).astype(np.float64)
    a, b = backend.asarray(ah, dtype), backend.asarray(bh, dtype)
    out, ctx = ops.matmul.forward(a, b)
    expected = np.matmul(ah, bh)
    assert tuple(out.shape) == np.shape(expected), (a_shape, b_shape)
    np.testing.assert_allclose(host(out).astype(np.float64), expected, **tol(dtype))
    gh = rng.standard_normal(np.shape(expected)).astype(dtype).astype(np.float64)
    ga, gb = ops.matmul.backward(backend.asarray(gh, dtype), ctx)
    ra, rb = np_matmul_grads(ah, bh, gh)
    assert tuple(ga.shape) == a_shape and tuple(gb.shape) == b_shape
    assert dtype_name(ga) == dtype_name(gb) == dtype
    np.testing.assert_allclose(host(ga).astype(np.float64), ra, **tol(dtype))
    np.testing.assert_allclose(host(gb).astype(np.float64), rb, **tol(dtype))
    return ga, gb


# Every rank pair 1..4 x 1..4, with different batch sizes so a transposed
# batch would be caught, and m, k, n all different.
M, K, N = 3, 4, 2
_A = {1: (K,), 2: (M, K), 3: (2, M, K), 4: (3, 2, M, K)}
_B = {1: (K,), 2: (K, N), 3: (2, K, N), 4: (3, 1, K, N)}
RANKS = list(itertools.product(range(1, 5), range(1, 5)))


@pytest.mark.parametrize("ra, rb", RANKS, ids=[f"{a}d@{b}d" for a, b in RANKS])
def test_rank_combinations(backend, dtype, ra, rb, rng):
    _check(backend, _A[ra], _B[rb], rng, dtype)


BROADCAST = [
    ((2, 1, 3, 4), (1, 5, 4, 2)),
    ((8, 1, 2, 3), (1, 16, 3, 2)),
    ((4, 2, 3), (3, 5)),
    ((2, 3), (4, 3, 5)),
    ((1, 2, 3), (4, 3, 5)),
    ((4, 2, 3), (1, 3, 5)),
    ((3, 1, 2, 3), (4, 3, 5)),
    ((4, 2, 3), (3, 1, 3, 5)),
    ((1, 1, 2, 3), (1, 1, 3, 5)),
    ((2, 1, 1, 2, 3), (3, 1, 3, 2)),
    ((5,), (2, 3, 5, 4)),
    ((2, 3, 4, 5), (5,)),
    ((1, 3), (2, 1, 3, 1)),
]


@pytest.mark.parametrize("a_shape, b_shape", BROADCAST, ids=[f"{a}@{b}" for a, b in BROADCAST])
def test_broadcast_batch_dims(backend, a_shape, b_shape, rng):
    _check(backend, a_shape, b_shape, rng)


ZERO = [
    ((0, 4), (4, 3)),  # m = 0
    ((3, 0), (0, 2)),  # k = 0: the product is all zeros
    ((3, 4), (4, 0)),  # n = 0
    ((0, 3, 4), (4, 2)),  # batch 0, weight broadcast: grad_w must be zeros
    ((3, 4), (0, 4, 2)),
    ((2, 0, 4), (1, 4, 3)),
    ((2, 1, 3, 4), (0, 4, 2)),
    ((0,), (0,)),  # empty dot product = 0
    ((0,), (0, 3)),
    ((3, 0), (0,)),
]


@pytest.mark.parametrize("a_shape, b_shape", ZERO, ids=[f"{a}@{b}" for a, b in ZERO])
def test_zero_size_dims(backend, a_shape, b_shape, rng):
    if backend.name == "cubed" and (a_shape, b_shape) in (((0, 3, 4), (4, 2)), ((2, 0, 4), (1, 4, 3))):
        pytest.skip("cubed 0.27's matmul fails inside on these (reduce() of an empty iterable)")
    ga, gb = _check(backend, a_shape, b_shape, rng)
    # Where the other side is empty the gradient is an empty sum: exactly 0.
    for grad in (ga, gb):
        h = host(grad)
        assert np.all(np.isfinite(h))


def test_zero_batch_weight_grad_is_exactly_zero(backend):
    if backend.name == "cubed":
        pytest.skip("cubed 0.27's matmul fails inside on an empty batch (reduce() of an empty iterable)")
    a = xpgrad.tensor(backend.asarray(np.ones((0, 3, 4))), requires_grad=True)
    w = xpgrad.tensor(backend.asarray(np.ones((4, 2))), requires_grad=True)
    (a @ w).sum().backward()
    np.testing.assert_array_equal(host(w.grad), np.zeros((4, 2)))
    assert tuple(a.grad.shape) == (0, 3, 4)


def test_k_zero_forward_is_zeros(backend):
    out, _ = ops.matmul.forward(backend.asarray(np.ones((2, 0))), backend.asarray(np.ones((0, 3))))
    np.testing.assert_array_equal(host(out), np.zeros((2, 3)))


MIXED = [("float32", "float64", "float64"), ("float64", "float32", "float64"),
         ("float16", "float32", "float32"), ("float16", "float64", "float64")]


@pytest.mark.parametrize("da, db, dout", MIXED, ids=[f"{a}@{b}" for a, b, _ in MIXED])
@pytest.mark.parametrize("shapes", [((2, 3), (3, 4)), ((2, 2, 3), (3, 4))], ids=["2d", "3d@2d"])
def test_mixed_dtype_grads_keep_each_input_dtype(backend, da, db, dout, shapes):
    """float32 @ float64: the output promotes, each gradient keeps its input's dtype."""
    (sa, sb) = shapes
    ah = np.arange(np.prod(sa), dtype=float).reshape(sa)
    bh = np.arange(12.0).reshape(3, 4)
    a, b = backend.asarray(ah, da), backend.asarray(bh, db)
    out, ctx = ops.matmul.forward(a, b)
    assert dtype_name(out) == dout
    np.testing.assert_array_equal(host(out), ah @ bh)  # small integers: exact in float16 too
    ga, gb = ops.matmul.backward(backend.asarray(np.ones(tuple(out.shape)), dout), ctx)
    assert dtype_name(ga) == da and dtype_name(gb) == db
    ra, rb = np_matmul_grads(ah, bh, np.ones(tuple(out.shape)))
    np.testing.assert_array_equal(host(ga), ra)
    np.testing.assert_array_equal(host(gb), rb)


# -- shapes that must raise ------------------------------------------------

BAD = [
    ((), (3,), "0-d a"),
    ((3,), (), "0-d b"),
    ((), (), "both 0-d"),
    ((3, 4), (3, 4), "inner 2d"),
    ((3, 4), (3,), "inner 2d@1d"),
    ((4,), (3, 2), "inner 1d@2d"),
    ((4,), (5,), "inner 1d@1d"),
    ((2, 3, 4), (2, 5, 2), "inner batched"),
    ((2, 3, 4), (3, 4, 5), "batch 2 vs 3"),
    ((2, 1, 3, 4), (3, 4, 4, 2), "batch 4d"),
    ((5, 2, 3), (4, 2, 3, 2), "batch 5 vs 4,2"),
]


@pytest.mark.parametrize("a_shape, b_shape, why", BAD, ids=[w for *_, w in BAD])
def test_invalid_shapes_raise_naming_both(backend, a_shape, b_shape, why):
    a = backend.asarray(np.ones(a_shape))
    b = backend.asarray(np.ones(b_shape))
    with pytest.raises(ValueError) as info:
        ops.matmul.forward(a, b)
    msg = str(info.value)
    assert "matmul" in msg
    assert repr(a_shape) in msg and repr(b_shape) in msg, msg


def test_invalid_shapes_raise_through_tensor():
    a = xpgrad.tensor(np.ones((3, 4)), requires_grad=True)
    b = xpgrad.tensor(np.ones((4,)), requires_grad=True)
    with pytest.raises(ValueError, match=r"matmul.*\(3, 4\).*\(3, 4\)"):
        a @ a
    with pytest.raises(ValueError, match=r"matmul.*\(4,\).*\(3, 4\)"):
        b @ a


@pytest.mark.parametrize(
    "x_shape, w_shape, b_shape, named",
    [
        ((5, 3), (4, 2), None, [(5, 3), (4, 2)]),
        ((5, 3), (3,), None, [(5, 3), (3,)]),
        ((5, 3), (2, 4, 3), None, [(5, 3), (2, 4, 3)]),
        ((), (4, 3), None, [(), (4, 3)]),
        ((5, 3), (4, 3), (3,), [(3,), (4, 3)]),
        ((5, 3), (4, 3), (1, 4), [(1, 4), (4, 3)]),
    ],
    ids=["in-mismatch", "w-1d", "w-3d", "x-0d", "b-length", "b-2d"],
)
def test_linear_errors(backend, x_shape, w_shape, b_shape, named):
    args = [backend.asarray(np.ones(s)) for s in (x_shape, w_shape)]
    if b_shape is not None:
        args.append(backend.asarray(np.ones(b_shape)))
    with pytest.raises(ValueError) as info:
        ops.linear.forward(*args)
    msg = str(info.value)
    assert "linear" in msg
    for s in named:
        assert repr(s) in msg, msg


@pytest.mark.parametrize(
    "x_shape, b_shape, axis, named",
    [
        ((2, 3, 4), (4,), 1, [(2, 3, 4), (4,)]),
        ((2, 3, 4), (3, 1), 1, [(2, 3, 4), (3, 1)]),
        ((2, 3, 4), (3,), 3, [(2, 3, 4)]),
        ((2, 3, 4), (3,), -4, [(2, 3, 4)]),
        ((), (1,), 0, [()]),
    ],
    ids=["length", "b-2d", "axis-too-big", "axis-too-negative", "x-0d"],
)
def test_add_bias_errors(backend, x_shape, b_shape, axis, named):
    with pytest.raises(ValueError) as info:
        ops.add_bias.forward(backend.asarray(np.ones(x_shape)), backend.asarray(np.ones(b_shape)), axis=axis)
    msg = str(info.value)
    assert "add_bias" in msg
    for s in named:
        assert repr(s) in msg, msg


@pytest.mark.parametrize("axis", [1.0, "1", True, None.__class__], ids=["float", "str", "bool", "type"])
def test_add_bias_axis_type_error(axis):
    with pytest.raises(TypeError, match="add_bias"):
        ops.add_bias.forward(np.ones((2, 3)), np.ones(3), axis=axis)


@pytest.mark.parametrize(
    "axis, exc",
    [(3, ValueError), (-4, ValueError), ((0, 0), ValueError), ((0, -3), ValueError), (1.5, TypeError),
     (True, TypeError), ("0", TypeError)],
    ids=["too-big", "too-negative", "repeated", "repeated-negative", "float", "bool", "str"],
)
def test_sum_axis_errors(axis, exc):
    with pytest.raises(exc, match="sum") as info:
        ops.sum.forward(np.ones((2, 3, 4)), axis=axis)
    if exc is ValueError and "range" in str(info.value):
        assert "(2, 3, 4)" in str(info.value)


def test_linear_and_add_bias_mixed_dtypes_keep_each_grad_dtype(backend):
    x = backend.asarray(np.ones((2, 3)), "float32")
    w = backend.asarray(np.full((4, 3), 2.0), "float64")
    b = backend.asarray(np.ones(4), "float64")
    y, ctx = ops.linear.forward(x, w, b)
    assert dtype_name(y) == "float64"
    np.testing.assert_array_equal(host(y), np.full((2, 4), 7.0))
    gx, gw, gb = ops.linear.backward(backend.asarray(np.ones((2, 4))), ctx)
    assert (dtype_name(gx), dtype_name(gw), dtype_name(gb)) == ("float32", "float64", "float64")
    np.testing.assert_array_equal(host(gx), np.full((2, 3), 8.0))  # sum over 4 outputs of w = 2
    np.testing.assert_array_equal(host(gw), np.full((4, 3), 2.0))  # sum over 2 rows of x = 1
    out, ctx = ops.add_bias.forward(x, backend.asarray(np.arange(3.0)), axis=1)
    gx, gb = ops.add_bias.backward(backend.asarray(np.ones((2, 3))), ctx)
    assert (dtype_name(gx), dtype_name(gb)) == ("float32", "float64")
    np.testing.assert_array_equal(host(gb), [2.0, 2.0, 2.0])

"""Property tests (hypothesis, bounded): random broadcast-compatible shapes for
matmul and the element-wise rules, and the algebra of sum_to / broadcast_axes.

Examples are few (max_examples 25-40) and derandomized by the profile in
conftest.py, so the suite stays fast and repeatable.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import xpgrad  # noqa: E402
from xpgrad import ops  # noqa: E402

from tests.support import backend_params, dtype_name, host, sampled_out  # noqa: E402
from tests.test_matmul_shapes import _unbroadcast, np_matmul_grads  # noqa: E402

# The backend fixture holds no state, so reusing it across examples is safe.
FEW = settings(max_examples=30, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

DIM = st.integers(0, 4)


@st.composite
def matmul_shapes(draw):
    """(a_shape, b_shape): ranks 1-4, dims 0-4, batch dims that broadcast."""
    ra, rb = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    m, k, n = draw(DIM), draw(DIM), draw(DIM)
    la, lb = max(ra - 2, 0), max(rb - 2, 0)
    out_batch = draw(st.lists(DIM, min_size=max(la, lb), max_size=max(la, lb)))

    def batch(length):
        dims = out_batch[len(out_batch) - length:]
        return tuple(d if draw(st.booleans()) else 1 for d in dims)

    a = (k,) if ra == 1 else batch(la) + (m, k)
    b = (k,) if rb == 1 else batch(lb) + (k, n)
    return a, b


def _values(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape)


@FEW
@given(shapes=matmul_shapes(), seed=st.integers(0, 2**32 - 1))
def test_matmul_random_shapes(backend, shapes, seed):
    if sampled_out(backend, seed, 4):  # a quarter of JAX's examples in a plain run
        return
    a_shape, b_shape = shapes
    rng = np.random.default_rng(seed)
    ah, bh = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    a, b = backend.asarray(ah, "float64"), backend.asarray(bh, "float64")
    out, ctx = ops.matmul.forward(a, b)
    expected = np.matmul(ah, bh)
    assert tuple(out.shape) == np.shape(expected)
    np.testing.assert_allclose(host(out), expected, rtol=1e-12, atol=1e-12)

    gh = rng.standard_normal(np.shape(expected))
    ga, gb = ops.matmul.backward(backend.asarray(gh), ctx)
    assert tuple(ga.shape) == a_shape and tuple(gb.shape) == b_shape
    assert dtype_name(ga) == dtype_name(gb) == "float64"
    ra, rb = np_matmul_grads(ah, bh, gh)
    np.testing.assert_allclose(host(ga), ra, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(gb), rb, rtol=1e-12, atol=1e-12)

    # Random-direction finite difference of f = sum(out * g). matmul is
    # bilinear, so the central difference is exact up to rounding.
    da, db = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    eps = 1e-3

    def f(s):
        return float(np.sum(np.matmul(ah + s * da, bh + s * db) * gh))

    numeric = (f(eps) - f(-eps)) / (2 * eps)
    analytic = float(np.sum(host(ga) * da) + np.sum(host(gb) * db))
    assert abs(numeric - analytic) <= 1e-8 * (1 + abs(numeric))


# Not on JAX: it compiles every drawn shape again (6 s), and test_rules checks
# its float32 matmul at fixed shapes.
@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch", "cubed",
                                                    "cupy")), indirect=True)
@FEW
@given(shapes=matmul_shapes(), seed=st.integers(0, 2**32 - 1))
def test_matmul_random_shapes_float32_keeps_dtype(backend, shapes, seed):
    a_shape, b_shape = shapes
    rng = np.random.default_rng(seed)
    a = backend.asarray(rng.standard_normal(a_shape), "float32")
    b = backend.asarray(rng.standard_normal(b_shape), "float32")
    out, ctx = ops.matmul.forward(a, b)
    assert dtype_name(out) == "float32"
    ga, gb = ops.matmul.backward(backend.asarray(np.ones(tuple(out.shape)), "float32"), ctx)
    assert dtype_name(ga) == dtype_name(gb) == "float32"
    assert tuple(ga.shape) == a_shape and tuple(gb.shape) == b_shape


@settings(max_examples=25, deadline=None)
@given(shapes=matmul_shapes().filter(lambda s: math.prod(s[0]) * math.prod(s[1]) <= 400),
       seed=st.integers(0, 2**32 - 1))
def test_matmul_random_shapes_gradcheck(shapes, seed):
    """Element-by-element central differences (xpgrad.testing.gradcheck) on NumPy."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    assert xpgrad.testing.gradcheck(ops.matmul, a, b, seed=seed % 1000)


@st.composite
def broadcast_pair(draw, max_rank=4):
    """(small, big): ``small`` broadcasts to ``big``."""
    big_rank = draw(st.integers(0, max_rank))
    big = tuple(draw(st.lists(DIM, min_size=big_rank, max_size=big_rank)))
    small_rank = draw(st.integers(0, big_rank))
    tail = big[big_rank - small_rank:]
    small = tuple(d if draw(st.booleans()) else 1 for d in tail)
    return small, big


def _count(small, big):
    """How many elements of ``big`` each element of ``small`` was copied to."""
    lead = len(big) - len(small)
    c = math.prod(big[:lead])
    for s, t in zip(small, big[lead:]):
        if s == 1:
            c *= t
    return c


@FEW
@given(pair=broadcast_pair(), seed=st.integers(0, 2**32 - 1))
def test_sum_to_inverts_broadcast_to(backend, pair, seed):
    if sampled_out(backend, seed, 4):  # a quarter of JAX's examples in a plain run
        return
    small, big = pair
    xh = np.random.default_rng(seed).integers(-5, 6, small).astype(np.float64)
    x = backend.asarray(xh)
    wide = backend.module.broadcast_to(x, big)
    got = xpgrad.sum_to(wide, small)
    assert tuple(got.shape) == small
    assert dtype_name(got) == "float64"
    # small integers in float64: the sums are exact
    np.testing.assert_array_equal(host(got), xh * _count(small, big))


@FEW
@given(pair=broadcast_pair())
def test_broadcast_axes_are_the_copied_axes(pair):
    small, big = pair
    axes = xpgrad.broadcast_axes(big, small)
    lead = len(big) - len(small)
    expected = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(small) if s == 1 and big[lead + i] != 1
    )
    assert axes == expected
    # summing over them and dropping/keeping the right axes gives small's shape
    y = np.ones(big).sum(axis=axes, keepdims=True)
    assert y.reshape(y.shape[lead:]).shape == small


@FEW
@given(pair=broadcast_pair(max_rank=3), seed=st.integers(0, 2**32 - 1))
def test_sum_to_matches_numpy_sum_over_broadcast_axes(pair, seed):
    small, big = pair
    y = np.random.default_rng(seed).standard_normal(big)
    got = xpgrad.sum_to(y, small)
    lead = len(big) - len(small)
    ref = y.sum(axis=tuple(range(lead))) if lead else y
    for i, s in enumerate(small):
        if s == 1:
            ref = ref.sum(axis=i, keepdims=True)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@FEW
@given(pair=broadcast_pair(max_rank=3))
def test_sum_to_rejects_shapes_that_do_not_broadcast(pair):
    small, big = pair
    # a target with one more dimension than the array can never be reached
    with pytest.raises(ValueError, match="sum_to"):
        xpgrad.sum_to(np.ones(small), (2,) + big)
    bad = [i for i, d in enumerate(big) if d not in (1,)]
    if bad:  # change one non-1 dim of the target to something different
        i = bad[0]
        target = big[:i] + (big[i] + 2,) + big[i + 1:]  # neither 1 nor big[i]
        with pytest.raises(ValueError, match="broadcast_axes"):
            xpgrad.broadcast_axes(big, target)


@FEW
@given(pair=broadcast_pair(max_rank=3), swap=st.booleans(), op=st.sampled_from(["add", "sub", "mul", "div"]),
       seed=st.integers(0, 2**32 - 1))
def test_elementwise_broadcast_grads(backend, pair, swap, op, seed):
    """Binary rules on broadcasting shapes: gradients have the inputs' shapes
    and equal the reduced full-shape derivative."""
    if sampled_out(backend, seed, 4):  # a quarter of JAX's examples in a plain run
        return
    a_shape, b_shape = pair[::-1] if swap else pair
    rng = np.random.default_rng(seed)
    ah, bh = rng.uniform(0.5, 2.0, a_shape), rng.uniform(0.5, 2.0, b_shape)
    rule = getattr(ops, op)
    out, ctx = rule.forward(backend.asarray(ah), backend.asarray(bh))
    gh = rng.standard_normal(tuple(out.shape))
    ga, gb = rule.backward(backend.asarray(gh), ctx)
    assert tuple(ga.shape) == a_shape and tuple(gb.shape) == b_shape
    A, B = np.broadcast_arrays(ah, bh)
    da, db = {
        "add": (gh, gh),
        "sub": (gh, -gh),
        "mul": (gh * B, gh * A),
        "div": (gh / B, -gh * A / B**2),
    }[op]
    np.testing.assert_allclose(host(ga), _unbroadcast(np.asarray(da), a_shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(gb), _unbroadcast(np.asarray(db), b_shape), rtol=1e-12, atol=1e-12)

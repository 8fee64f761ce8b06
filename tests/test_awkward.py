"""Awkward but valid input: strided, negative-stride, Fortran-ordered and
transposed views; NaN and inf; integer arrays; empty arrays."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpgrad
from xpgrad import ops

from tests.support import backend_params, dtype_name, host
from tests.test_matmul_shapes import np_matmul_grads

# JAX compiles each op at each shape: half of its cases here in a plain run,
# all with --backend jax (tests/conftest.py)
pytestmark = pytest.mark.jax_sample(2)

# -- views ---------------------------------------------------------------

# Each view takes a (12, 10)-shaped array (any backend's) and gives a (6, 5)
# or (5, 6) matrix that is not a plain C-contiguous array.
VIEWS = {
    "step-cols": lambda x: x[:6, ::2],
    "step-rows": lambda x: x[::2, :5],
    "step-both": lambda x: x[1::2, 1::2],
    "offset": lambda x: x[3:9, 2:7],
    "negative-rows": lambda x: x[::-2, :5],
    "negative-both": lambda x: x[10:4:-1, 9:4:-1],
    "transposed": lambda x: x[:5, :6].T,
    "fortran": None,  # built in _view: NumPy only
}
VIEW_IDS = list(VIEWS)


def _view(backend, name, rng):
    """(backend view, its values as a host array)."""
    base = rng.standard_normal((12, 10))
    if name == "fortran":
        if backend.name != "numpy":
            pytest.skip("Fortran order is a NumPy layout")
        v = np.asfortranarray(base[:6, :5])
        assert not v.flags.c_contiguous
        return v, np.array(v)
    if name.startswith("negative") and backend.name in ("torch", "cubed"):
        pytest.skip(f"{backend.name} cannot slice with a negative step")
    full = backend.asarray(base)
    v = VIEWS[name](full)
    hv = np.array(VIEWS[name](base))
    if backend.name == "numpy":
        assert not v.flags.c_contiguous or name == "offset"
    elif backend.name == "torch":
        assert not v.is_contiguous()
    return v, hv


@pytest.mark.parametrize("view", VIEW_IDS)
@pytest.mark.parametrize("side", ["a", "b"])
def test_matmul_on_views(backend, view, side, rng):
    v, hv = _view(backend, view, rng)
    m, k = hv.shape
    if side == "a":
        oh = rng.standard_normal((k, 3))
        a, b, ah, bh = v, backend.asarray(oh), hv, oh
    else:
        oh = rng.standard_normal((3, m))
        a, b, ah, bh = backend.asarray(oh), v, oh, hv
    out, ctx = ops.matmul.forward(a, b)
    np.testing.assert_allclose(host(out), ah @ bh, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(tuple(out.shape))
    ga, gb = ops.matmul.backward(backend.asarray(g), ctx)
    ra, rb = np_matmul_grads(ah, bh, g)
    np.testing.assert_allclose(host(ga), ra, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(gb), rb, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(host(v), hv)  # the view was not written to


@pytest.mark.parametrize("view", VIEW_IDS)
def test_linear_add_bias_sum_on_views(backend, view, rng):
    v, hv = _view(backend, view, rng)
    rows, feats = hv.shape
    wh, bh = rng.standard_normal((4, feats)), rng.standard_normal(4)
    y, ctx = ops.linear.forward(v, backend.asarray(wh), backend.asarray(bh))
    np.testing.assert_allclose(host(y), hv @ wh.T + bh, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal((rows, 4))
    gx, gw, gb = ops.linear.backward(backend.asarray(g), ctx)
    np.testing.assert_allclose(host(gx), g @ wh, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(gw), g.T @ hv, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(gb), g.sum(0), rtol=1e-12, atol=1e-12)

    # the view as the weight of linear, too
    xh = rng.standard_normal((3, feats))
    y, ctx = ops.linear.forward(backend.asarray(xh), v)
    np.testing.assert_allclose(host(y), xh @ hv.T, rtol=1e-12, atol=1e-12)
    gx, gw, _ = ops.linear.backward(backend.asarray(np.ones((3, rows))), ctx)
    np.testing.assert_allclose(host(gw), np.ones((rows, 3)) @ xh, rtol=1e-12, atol=1e-12)

    b = rng.standard_normal(rows)
    out, ctx = ops.add_bias.forward(v, backend.asarray(b), axis=0)
    np.testing.assert_allclose(host(out), hv + b[:, None], rtol=1e-15)
    _, gbias = ops.add_bias.backward(backend.asarray(g[:, :1] * np.ones((rows, feats))), ctx)
    np.testing.assert_allclose(host(gbias), g[:, 0] * feats, rtol=1e-12)

    s, ctx = ops.sum.forward(v, axis=0)
    np.testing.assert_allclose(host(s), hv.sum(0), rtol=1e-12)


# Batched operands that are not plain arrays: (a, b) from a (4, 6, 10) base.
BATCHED_VIEWS = {
    "strided-batch-rows": lambda base, rng: (base[:, ::2, :5], rng.standard_normal((5, 3))),
    "reversed-batch": lambda base, rng: (base[::-1, :3, :5], rng.standard_normal((4, 5, 2))),
    "per-batch-transpose": lambda base, rng: (np.swapaxes(base[:, :5, :3], -1, -2), rng.standard_normal((5, 2))),
    "fortran": lambda base, rng: (np.asfortranarray(base[:2, :3, :5]),
                                  np.asfortranarray(rng.standard_normal((1, 5, 2)))),
}


@pytest.mark.parametrize("view", list(BATCHED_VIEWS))
def test_batched_views_numpy(view, rng):
    a, b = BATCHED_VIEWS[view](rng.standard_normal((4, 6, 10)), rng)
    out, ctx = ops.matmul.forward(a, b)
    np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    ga, gb = ops.matmul.backward(g, ctx)
    ra, rb = np_matmul_grads(np.array(a), np.array(b), g)
    np.testing.assert_allclose(ga, ra, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, rb, rtol=1e-12, atol=1e-12)


def test_broadcast_view_input(rng):
    """A zero-stride (broadcast) input: read-only, and must stay untouched."""
    row = rng.standard_normal(4)
    a = np.broadcast_to(row, (3, 4))
    w = xpgrad.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    x = xpgrad.tensor(a, requires_grad=True)
    (x @ w).sum().backward()
    np.testing.assert_allclose(x.grad, np.tile(w.data.sum(1), (3, 1)), rtol=1e-12)
    np.testing.assert_allclose(w.grad, np.tile(a.sum(0)[:, None], (1, 2)), rtol=1e-12)
    assert x.grad.flags.writeable


# -- NaN and inf -----------------------------------------------------------


@pytest.fixture
def quiet():
    """NaN arithmetic may warn (NumPy's RuntimeWarning); it must not raise."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_nan_propagates_through_matmul(backend, quiet):
    ah = np.ones((3, 4))
    ah[1, 2] = np.nan
    bh = np.ones((4, 5))
    out, ctx = ops.matmul.forward(backend.asarray(ah), backend.asarray(bh))
    o = host(out)
    assert np.isnan(o[1]).all() and np.isfinite(np.delete(o, 1, axis=0)).all()
    ga, gb = ops.matmul.backward(backend.asarray(np.ones((3, 5))), ctx)
    # grad_a = g @ b.T: no NaN involved; grad_b = a.T @ g: row 2 sees the NaN
    assert np.isfinite(host(ga)).all()
    gbh = host(gb)
    assert np.isnan(gbh[2]).all() and np.isfinite(np.delete(gbh, 2, axis=0)).all()


def test_inf_propagates_through_linear(backend, quiet):
    xh = np.ones((2, 3))
    xh[0, 1] = np.inf
    wh = np.full((4, 3), 0.5)
    y, ctx = ops.linear.forward(backend.asarray(xh), backend.asarray(wh), backend.asarray(np.zeros(4)))
    yh = host(y)
    assert np.isposinf(yh[0]).all() and np.isfinite(yh[1]).all()
    gx, gw, gb = ops.linear.backward(backend.asarray(np.ones((2, 4))), ctx)
    assert np.isfinite(host(gx)).all()
    assert np.isposinf(host(gw)[:, 1]).all()
    np.testing.assert_array_equal(host(gb), [2.0] * 4)


def test_nan_and_inf_through_tensor_graph(backend, quiet):
    x = xpgrad.tensor(backend.asarray(np.array([1.0, np.nan, np.inf, 0.0])), requires_grad=True)
    y = (x * 2.0 + 1.0).sum()
    assert np.isnan(y.item())
    y.backward()  # the gradient of a linear function does not see the values
    np.testing.assert_array_equal(host(x.grad), [2.0] * 4)
    x.grad = None
    (x**2).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [2.0, np.nan, np.inf, 0.0])
    x.grad = None
    (1.0 / x).sum().backward()  # d(1/x) = -1/x^2: -1, nan, -0, -inf
    g = host(x.grad)
    assert g[0] == -1.0 and np.isnan(g[1]) and g[2] == 0.0 and np.isneginf(g[3])


def test_nan_in_sum_and_add_bias(backend, quiet):
    xh = np.zeros((2, 3))
    xh[0, 0] = np.nan
    s, ctx = ops.sum.forward(backend.asarray(xh), axis=1)
    assert np.isnan(host(s)[0]) and host(s)[1] == 0.0
    (g,) = ops.sum.backward(backend.asarray(np.array([1.0, 2.0])), ctx)
    np.testing.assert_array_equal(host(g), [[1.0] * 3, [2.0] * 3])
    out, ctx = ops.add_bias.forward(backend.asarray(np.zeros((2, 3))), backend.asarray(np.array([np.nan, 1.0, 2.0])))
    gx, gb = ops.add_bias.backward(backend.asarray(np.ones((2, 3))), ctx)
    assert np.isnan(host(out)[:, 0]).all()
    np.testing.assert_array_equal(host(gb), [2.0, 2.0, 2.0])


def test_nan_upstream_gradient(backend, quiet):
    a, b = backend.asarray(np.ones((2, 3))), backend.asarray(np.ones((3, 2)))
    out, ctx = ops.matmul.forward(a, b)
    gh = np.ones((2, 2))
    gh[0, 0] = np.nan
    ga, gb = ops.matmul.backward(backend.asarray(gh), ctx)
    assert np.isnan(host(ga)[0]).all() and np.isfinite(host(ga)[1]).all()
    assert np.isnan(host(gb)[:, 0]).all() and np.isfinite(host(gb)[:, 1]).all()


# -- integers ------------------------------------------------------------


def test_integer_matmul_forward_and_no_grads(backend):
    ah = np.arange(12).reshape(3, 4)
    bh = np.arange(8).reshape(4, 2) - 3
    a, b = backend.asarray(ah), backend.asarray(bh)
    out, ctx = ops.matmul.forward(a, b)
    assert "int" in dtype_name(out)
    np.testing.assert_array_equal(host(out), ah @ bh)
    assert ops.matmul.backward(backend.asarray(np.ones((3, 2), dtype=np.int64)), ctx) == (None, None)


@pytest.mark.parametrize(
    "rule, make, kwargs",
    [
        (ops.sum, lambda: [np.arange(12).reshape(3, 4)], {"axis": 0}),
        (ops.add_bias, lambda: [np.arange(12).reshape(3, 4), np.arange(3)], {"axis": 0}),
        (ops.linear, lambda: [np.arange(6).reshape(2, 3), np.ones((4, 3), dtype=np.int64),
                              np.arange(4)], {}),
        (ops.mul, lambda: [np.arange(6).reshape(2, 3), np.arange(3)], {}),
        (ops.add, lambda: [np.arange(6).reshape(2, 3), 5], {}),
        (ops.neg, lambda: [np.arange(4)], {}),
        (ops.pow, lambda: [np.arange(4)], {"p": 2}),
    ],
    ids=["sum", "add_bias", "linear", "mul", "add-scalar", "neg", "pow"],
)
def test_integer_rules_forward_equal_numpy_and_give_none(backend, rule, make, kwargs):
    hosts = make()
    arrays = [backend.asarray(h) if isinstance(h, np.ndarray) else h for h in hosts]
    out, ctx = rule.forward(*arrays, **kwargs)
    ref = {
        ops.sum: lambda x: x.sum(axis=0),
        ops.add_bias: lambda x, b: x + b[:, None],
        ops.linear: lambda x, w, b: x @ w.T + b,
        ops.mul: np.multiply,
        ops.add: np.add,
        ops.neg: np.negative,
        ops.pow: lambda x: x**2,
    }[rule](*hosts)
    np.testing.assert_array_equal(host(out), ref)
    grads = rule.backward(backend.asarray(np.ones(np.shape(ref), dtype=np.asarray(ref).dtype)), ctx)
    assert all(g is None for g in grads), grads


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_integer_with_float_gives_grad_only_to_float(backend, rng):
    ah = np.arange(6).reshape(2, 3)
    wh = rng.standard_normal((3, 4))
    out, ctx = ops.matmul.forward(backend.asarray(ah), backend.asarray(wh))
    np.testing.assert_allclose(host(out), ah @ wh, rtol=1e-12)
    g = rng.standard_normal((2, 4))
    ga, gw = ops.matmul.backward(backend.asarray(g), ctx)
    assert ga is None
    np.testing.assert_allclose(host(gw), ah.T @ g, rtol=1e-12)
    assert dtype_name(gw) == "float64"
    # through the Tensor: an integer constant times a float leaf
    w = xpgrad.tensor(backend.asarray(wh), requires_grad=True)
    (xpgrad.tensor(backend.asarray(ah)) @ w).sum().backward()
    np.testing.assert_allclose(host(w.grad), np.tile(ah.sum(0)[:, None], (1, 4)), rtol=1e-12)


def test_integer_inputs_skipped_by_gradcheck():
    """gradcheck checks float inputs and passes integer ones through."""
    assert xpgrad.testing.gradcheck(ops.matmul, np.arange(6).reshape(2, 3), np.ones((3, 2)))


# -- empty arrays --------------------------------------------------------


def test_empty_sum_and_mean(backend):
    x = xpgrad.tensor(backend.asarray(np.ones((0, 3))), requires_grad=True)
    s = x.sum()
    assert s.item() == 0.0
    s.backward()
    assert tuple(x.grad.shape) == (0, 3)
    s1, ctx = ops.sum.forward(backend.asarray(np.ones((0, 3))), axis=0)
    np.testing.assert_array_equal(host(s1), [0.0, 0.0, 0.0])
    (g,) = ops.sum.backward(backend.asarray(np.ones(3)), ctx)
    assert tuple(g.shape) == (0, 3)


def test_empty_linear_and_add_bias(backend):
    x = xpgrad.tensor(backend.asarray(np.ones((0, 3))), requires_grad=True)
    w = xpgrad.tensor(backend.asarray(np.ones((2, 3))), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(np.ones(2)), requires_grad=True)
    y = xpgrad.linear(x, w, b)
    assert y.shape == (0, 2)
    y.sum().backward()
    np.testing.assert_array_equal(host(w.grad), np.zeros((2, 3)))
    np.testing.assert_array_equal(host(b.grad), np.zeros(2))
    assert tuple(x.grad.shape) == (0, 3)

    z = xpgrad.tensor(backend.asarray(np.ones((2, 0, 4))), requires_grad=True)
    c = xpgrad.tensor(backend.asarray(np.ones(4)), requires_grad=True)
    xpgrad.add_bias(z, c, axis=2).sum().backward()
    np.testing.assert_array_equal(host(c.grad), np.zeros(4))
    assert tuple(z.grad.shape) == (2, 0, 4)


def test_empty_elementwise(backend):
    a = xpgrad.tensor(backend.asarray(np.ones((0, 2))), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(np.ones(2)), requires_grad=True)
    out = a * b + a / b - b
    assert out.shape == (0, 2)
    out.backward(backend.asarray(np.ones((0, 2))))
    np.testing.assert_array_equal(host(b.grad), [0.0, 0.0])
    assert tuple(a.grad.shape) == (0, 2)

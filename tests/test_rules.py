"""Every rule, on every backend: forward against NumPy, backward against
finite differences (``gradcheck``, float64) and against torch autograd, in
float32 and float64, plus float16 on the backends that have it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import xpgrad
from xpgrad import ops
from xpgrad.testing import gradcheck

from tests.support import assert_allclose, dtype_name, host, rel_err, same_library, torch_grads


# JAX compiles each op at each shape and dtype: half of its cases here in a
# plain run, all with --backend jax (tests/conftest.py)
pytestmark = pytest.mark.jax_sample(2)


@dataclass
class Case:
    """One rule applied to inputs of given shapes.

    make(rng) -> list of host float64 arrays (the differentiable inputs);
    kwargs: the rule's non-array parameters; np_fn / torch_fn: references.
    """

    id: str
    rule: object
    make: Callable
    np_fn: Callable
    torch_fn: Callable
    kwargs: dict = field(default_factory=dict)


def _n(*shape):
    return lambda rng: [rng.standard_normal(shape)]


def _shapes(*shapes, positive=()):
    def make(rng):
        out = []
        for i, s in enumerate(shapes):
            x = rng.standard_normal(s)
            if i in positive:  # keep away from 0 for div / fractional powers
                x = rng.uniform(0.5, 2.0, s)
            out.append(x)
        return out

    return make


def _np_sum(axis, keepdims):
    return lambda x: np.sum(x, axis=axis, keepdims=keepdims)


def _t_reduce(name, axis, keepdims):
    """torch.sum or torch.mean (``name``) with NumPy's axis=None + keepdims meaning."""

    def f(x):
        import torch

        reduce = getattr(torch, name)
        if axis is None:
            out = reduce(x)
            return out.reshape((1,) * x.ndim) if keepdims else out
        return reduce(x, dim=axis, keepdim=keepdims)

    return f


def _t_sum(axis, keepdims):
    return _t_reduce("sum", axis, keepdims)


def _t_mean(axis, keepdims):
    return _t_reduce("mean", axis, keepdims)


def _t_linear(x, w, b=None):
    import torch

    return torch.nn.functional.linear(x, w, b)


def _np_linear(x, w, b=None):
    y = np.matmul(x, w.T)
    return y if b is None else y + b


def _bias_view(ndim, axis, n):
    ax = axis % ndim
    return (1,) * ax + (n,) + (1,) * (ndim - ax - 1)


def _np_add_bias(axis):
    return lambda x, b: x + b.reshape(_bias_view(x.ndim, axis, b.shape[0]))


def _t_add_bias(axis):
    return lambda x, b: x + b.reshape(_bias_view(x.ndim, axis, b.shape[0]))


CASES = [
    # matmul: one representative per family here; test_matmul_shapes covers all ranks.
    Case("matmul-2d@2d", ops.matmul, _shapes((3, 4), (4, 5)), np.matmul, lambda a, b: a @ b),
    Case("matmul-3d@2d", ops.matmul, _shapes((2, 3, 4), (4, 5)), np.matmul, lambda a, b: a @ b),
    Case("matmul-2d@3d", ops.matmul, _shapes((3, 4), (2, 4, 5)), np.matmul, lambda a, b: a @ b),
    Case("matmul-bcast4d", ops.matmul, _shapes((2, 1, 3, 4), (1, 3, 4, 2)), np.matmul, lambda a, b: a @ b),
    Case("matmul-1d@2d", ops.matmul, _shapes((4,), (4, 3)), np.matmul, lambda a, b: a @ b),
    Case("matmul-2d@1d", ops.matmul, _shapes((3, 4), (4,)), np.matmul, lambda a, b: a @ b),
    Case("matmul-1d@1d", ops.matmul, _shapes((4,), (4,)), np.matmul, lambda a, b: a @ b),
    # add_bias
    Case("add_bias-2d-axis1", ops.add_bias, _shapes((4, 3), (3,)), _np_add_bias(1), _t_add_bias(1)),
    Case("add_bias-3d-axis1", ops.add_bias, _shapes((2, 3, 4), (3,)), _np_add_bias(1), _t_add_bias(1)),
    Case("add_bias-3d-axis0", ops.add_bias, _shapes((2, 3, 4), (2,)), _np_add_bias(0), _t_add_bias(0),
         {"axis": 0}),
    Case("add_bias-3d-axis-1", ops.add_bias, _shapes((2, 3, 4), (4,)), _np_add_bias(-1), _t_add_bias(-1),
         {"axis": -1}),
    Case("add_bias-4d-axis2", ops.add_bias, _shapes((2, 1, 3, 2), (3,)), _np_add_bias(2), _t_add_bias(2),
         {"axis": 2}),
    Case("add_bias-1d-axis0", ops.add_bias, _shapes((3,), (3,)), _np_add_bias(0), _t_add_bias(0),
         {"axis": 0}),
    # linear
    Case("linear-2d-bias", ops.linear, _shapes((5, 3), (4, 3), (4,)), _np_linear, _t_linear),
    Case("linear-2d-nobias", ops.linear, _shapes((5, 3), (4, 3)), _np_linear, _t_linear),
    Case("linear-3d-bias", ops.linear, _shapes((2, 5, 3), (4, 3), (4,)), _np_linear, _t_linear),
    Case("linear-4d-bias", ops.linear, _shapes((2, 1, 2, 3), (2, 3), (2,)), _np_linear, _t_linear),
    Case("linear-1d-bias", ops.linear, _shapes((3,), (4, 3), (4,)), _np_linear, _t_linear),
    # sum / mean
    Case("sum-all", ops.sum, _n(2, 3, 4), _np_sum(None, False), _t_sum(None, False)),
    Case("sum-all-keepdims", ops.sum, _n(2, 3, 4), _np_sum(None, True), _t_sum(None, True),
         {"keepdims": True}),
    Case("sum-axis1", ops.sum, _n(2, 3, 4), _np_sum(1, False), _t_sum(1, False), {"axis": 1}),
    Case("sum-axis-1-keepdims", ops.sum, _n(2, 3, 4), _np_sum(-1, True), _t_sum(-1, True),
         {"axis": -1, "keepdims": True}),
    Case("sum-axes02", ops.sum, _n(2, 3, 4), _np_sum((0, 2), False), _t_sum((0, 2), False),
         {"axis": (0, 2)}),
    Case("sum-1d", ops.sum, _n(5), _np_sum(None, False), _t_sum(None, False)),
    Case("mean-all", ops.mean, _n(2, 3, 4), lambda x: np.mean(x), _t_mean(None, False)),
    Case("mean-axes01-keepdims", ops.mean, _n(2, 3, 4), lambda x: np.mean(x, axis=(0, 1), keepdims=True),
         _t_mean((0, 1), True), {"axis": (0, 1), "keepdims": True}),
    # element-wise binary, with broadcasting on either side
    Case("add-same", ops.add, _shapes((3, 4), (3, 4)), np.add, lambda a, b: a + b),
    Case("add-bcast", ops.add, _shapes((2, 3, 4), (3, 1)), np.add, lambda a, b: a + b),
    Case("sub-bcast-left", ops.sub, _shapes((3, 1), (2, 3, 4)), np.subtract, lambda a, b: a - b),
    Case("mul-bcast", ops.mul, _shapes((4,), (2, 3, 4)), np.multiply, lambda a, b: a * b),
    Case("mul-both-bcast", ops.mul, _shapes((2, 1, 4), (3, 1)), np.multiply, lambda a, b: a * b),
    Case("div-bcast", ops.div, _shapes((2, 3, 4), (3, 4), positive=(1,)), np.divide, lambda a, b: a / b),
    Case("div-bcast-left", ops.div, _shapes((4,), (2, 3, 4), positive=(1,)), np.divide, lambda a, b: a / b),
    # pow with a scalar exponent, neg
    Case("pow-2", ops.pow, _n(3, 4), lambda x: x**2, lambda x: x**2, {"p": 2}),
    Case("pow-3", ops.pow, _n(3, 4), lambda x: x**3, lambda x: x**3, {"p": 3}),
    Case("pow-0.5", ops.pow, _shapes((3, 4), positive=(0,)), np.sqrt, lambda x: x**0.5, {"p": 0.5}),
    Case("pow--1", ops.pow, _shapes((3, 4), positive=(0,)), lambda x: 1 / x, lambda x: x**-1, {"p": -1}),
    Case("pow-1", ops.pow, _n(3, 4), lambda x: x, lambda x: x**1, {"p": 1}),
    Case("pow-0", ops.pow, _n(3, 4), lambda x: np.ones_like(x), lambda x: x**0, {"p": 0}),
    Case("neg", ops.neg, _n(3, 4), np.negative, lambda x: -x),
    # shape rules
    Case("reshape", ops.reshape, _n(2, 3, 4), lambda x: x.reshape(4, 6), lambda x: x.reshape(4, 6),
         {"shape": (4, 6)}),
    Case("reshape-infer", ops.reshape, _n(2, 3, 4), lambda x: x.reshape(-1, 4), lambda x: x.reshape(-1, 4),
         {"shape": (-1, 4)}),
    Case("permute_dims", ops.permute_dims, _n(2, 3, 4), lambda x: np.transpose(x, (2, 0, 1)),
         lambda x: x.permute(2, 0, 1), {"axes": (2, 0, 1)}),
    Case("to_device-cpu", ops.to_device, _n(2, 3), lambda x: x, lambda x: x * 1, {"device": "cpu"}),
]

IDS = [c.id for c in CASES]


def _inputs(case, backend, dtype, rng):
    """(host arrays rounded to dtype, as float64) and (backend arrays in dtype)."""
    hosts = [h.astype(dtype).astype(np.float64) for h in case.make(rng)]
    arrays = [backend.asarray(h, dtype) for h in hosts]
    return hosts, arrays


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_numpy(case, backend, dtype, rng):
    hosts, arrays = _inputs(case, backend, dtype, rng)
    out, _ = case.rule.forward(*arrays, **case.kwargs)
    expected = case.np_fn(*hosts)
    if case.rule is not ops.to_device:
        assert same_library(out, arrays[0]), "the output must stay in the inputs' library"
    assert tuple(out.shape) == np.shape(expected)
    assert dtype_name(out) == dtype
    assert_allclose(out, expected, dtype)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_gradcheck(case, backend, rng):
    _, arrays = _inputs(case, backend, "float64", rng)
    assert gradcheck(case.rule, *arrays, kwargs=case.kwargs, eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_matches_torch(case, backend, dtype, rng):
    hosts, arrays = _inputs(case, backend, dtype, rng)
    out, ctx = case.rule.forward(*arrays, **case.kwargs)
    g_host = rng.standard_normal(tuple(out.shape)).astype(dtype).astype(np.float64)
    if case.rule is ops.to_device:
        g = g_host.astype(dtype)  # the output of to_device("cpu") is NumPy on cupy
        g = g if isinstance(out, np.ndarray) else backend.asarray(g)
    else:
        g = backend.asarray(g_host, dtype)
    grads = case.rule.backward(g, ctx)
    ref_out, ref_grads = torch_grads(case.torch_fn, hosts, g_host)
    assert_allclose(out, ref_out, dtype)
    assert len(grads) >= len(arrays)
    for i, (x, got, want) in enumerate(zip(arrays, grads, ref_grads)):
        assert got is not None, f"no gradient for input {i}"
        assert same_library(got, x), f"gradient {i} left the input's library"
        assert tuple(got.shape) == tuple(x.shape), f"gradient {i} shape"
        assert dtype_name(got) == dtype, f"gradient {i} dtype"
        assert_allclose(got, want, dtype)
    for extra in grads[len(arrays):]:  # linear without a bias
        assert extra is None


# float16: a few rules, against a float64 reference, relative error <= 2e-2.
HALF_IDS = ["matmul-2d@2d", "matmul-3d@2d", "matmul-bcast4d", "linear-3d-bias", "add_bias-3d-axis1",
            "sum-axes02", "sum-all", "mul-bcast", "div-bcast"]


HALF_CASES = [c for c in CASES if c.id in HALF_IDS]


@pytest.mark.parametrize("case", HALF_CASES, ids=[c.id for c in HALF_CASES])
def test_float16_against_float64(case, backend, rng):
    backend.dtype("float16")
    hosts = [h.astype(np.float16).astype(np.float64) for h in case.make(rng)]
    arrays = [backend.asarray(h, "float16") for h in hosts]
    out, ctx = case.rule.forward(*arrays, **case.kwargs)
    assert dtype_name(out) == "float16"
    expected = case.np_fn(*hosts)
    assert rel_err(out, expected) <= 2e-2

    g_host = rng.standard_normal(tuple(out.shape)).astype(np.float16).astype(np.float64)
    grads = case.rule.backward(backend.asarray(g_host, "float16"), ctx)
    # float64 reference: the same rule on float64 copies of the rounded inputs,
    # cross-checked against torch when it is there.
    out64, ctx64 = case.rule.forward(*[backend.asarray(h, "float64") for h in hosts], **case.kwargs)
    ref = case.rule.backward(backend.asarray(g_host, "float64"), ctx64)
    for i, (x, got, want) in enumerate(zip(arrays, grads, ref)):
        assert dtype_name(got) == "float16", f"gradient {i} dtype"
        assert tuple(got.shape) == tuple(x.shape)
        assert np.all(np.isfinite(host(got)))
        assert rel_err(got, host(want)) <= 2e-2, f"gradient {i}"
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    _, tgrads = torch_grads(case.torch_fn, hosts, g_host)
    for got, want in zip(grads, tgrads):
        assert rel_err(got, want) <= 2e-2


# (id, rule, input shapes); every case is checked with each input switched off in turn.
SWITCH_OFF = [
    ("matmul-3d@2d", ops.matmul, [(2, 3, 4), (4, 5)]),
    ("matmul-2d@3d", ops.matmul, [(3, 4), (2, 4, 5)]),
    ("linear", ops.linear, [(2, 5, 3), (4, 3), (4,)]),
    ("add_bias", ops.add_bias, [(2, 3, 4), (3,)]),
    ("mul", ops.mul, [(3, 4), (4,)]),
    ("div", ops.div, [(3, 4), (4,)]),
    ("sub", ops.sub, [(3, 4), (4,)]),
]
SWITCH_OFF_CASES = [
    pytest.param(rule, shapes, off, id=f"{name}-input{off}-off")
    for name, rule, shapes in SWITCH_OFF
    for off in range(len(shapes))
]


@pytest.mark.parametrize("rule, shapes, off", SWITCH_OFF_CASES)
def test_backward_skips_inputs_switched_off(rule, shapes, off, backend, rng):
    """needs_input_grad[off] False -> gradient off is None; the others are unchanged."""
    arrays = [backend.asarray(rng.uniform(0.5, 1.5, s), "float64") for s in shapes]
    out, ctx = rule.forward(*arrays)
    g = backend.asarray(rng.standard_normal(tuple(out.shape)))
    full = rule.backward(g, ctx)
    ctx.needs_input_grad = tuple(i != off for i in range(len(ctx.needs_input_grad)))
    part = rule.backward(g, ctx)
    assert part[off] is None
    for i in range(len(arrays)):
        if i != off:
            np.testing.assert_array_equal(host(part[i]), host(full[i]))


@pytest.mark.parametrize(
    "rule, shapes",
    [(ops.matmul, [(3, 4), (4, 5)]), (ops.add_bias, [(3, 4), (4,)]), (ops.sum, [(3, 4)])],
    ids=["matmul", "add_bias", "sum"],
)
def test_backward_rejects_wrong_grad_shape(rule, shapes, rng):
    arrays = [rng.standard_normal(s) for s in shapes]
    kwargs = {"axis": 1} if rule is ops.add_bias else {}
    out, ctx = rule.forward(*arrays, **kwargs)
    bad = np.ones(tuple(out.shape) + (2,))
    with pytest.raises(ValueError) as info:
        rule.backward(bad, ctx)
    msg = str(info.value)
    assert f"{rule.__name__}.backward" in msg
    assert repr(bad.shape) in msg and repr(tuple(out.shape)) in msg


def test_sum_backward_is_a_broadcast_of_grad(rng):
    """Hand-derived: d sum(x, axis=1) / dx[i, j, k] = g[i, k]."""
    x = rng.standard_normal((2, 3, 4))
    out, ctx = ops.sum.forward(x, axis=1)
    g = rng.standard_normal((2, 4))
    (gx,) = ops.sum.backward(g, ctx)
    for j in range(3):
        np.testing.assert_array_equal(np.asarray(gx)[:, j, :], g)


def test_mean_of_empty_axis_is_nan():
    out, _ = ops.mean.forward(np.ones((0, 3)), axis=0)
    assert out.shape == (3,)
    assert np.isnan(out).all()


def test_to_device_rule_same_device_returns_input(rng):
    x = rng.standard_normal((2, 3))
    out, ctx = ops.to_device.forward(x, "cpu")
    assert out is x
    (g,) = ops.to_device.backward(np.ones((2, 3)), ctx)
    np.testing.assert_array_equal(g, np.ones((2, 3)))


def test_xpgrad_functions_match_rules(backend, rng):
    """xpgrad.matmul/add_bias/linear/sum accept raw arrays and give the rules' values."""
    a = backend.asarray(rng.standard_normal((2, 3, 4)))
    w = backend.asarray(rng.standard_normal((5, 4)))
    b = backend.asarray(rng.standard_normal((5,)))
    bias3 = backend.asarray(rng.standard_normal((3,)))
    assert_allclose(xpgrad.matmul(a, w.T).data, np.matmul(host(a), host(w).T))
    assert_allclose(xpgrad.linear(a, w, b).data, host(a) @ host(w).T + host(b))
    assert_allclose(xpgrad.add_bias(a, bias3).data, host(a) + host(bias3)[:, None])
    assert_allclose(xpgrad.sum(a, axis=(0, 2)).data, host(a).sum(axis=(0, 2)))


def test_setitem_gradient_has_x_s_dtype_and_a_python_bool_beside_numbers_is_one():
    # dx came back in grad_out's dtype (float32, int64); logaddexp(t, True) on
    # torch failed in its backward (torch refuses a bool in its arithmetic)
    out, ctx = ops.setitem.forward(np.zeros((3, 4)), np.ones(4), 1)
    gx, gv = ops.setitem.backward(np.ones((3, 4), np.float32), ctx)
    assert gx.dtype == np.float64 and gv.dtype == np.float64
    torch = pytest.importorskip("torch")
    x = torch.tensor([0.5, 1.5], dtype=torch.float64)
    out, ctx = ops.logaddexp.forward(x, True)
    (gx, none) = ops.logaddexp.backward(torch.ones(2, dtype=torch.float64), ctx)
    np.testing.assert_allclose(gx.numpy(), 1 / (1 + np.exp(1.0 - np.array([0.5, 1.5]))))
    assert none is None

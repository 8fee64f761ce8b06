"""In-place operators on Tensors (``w -= lr * w.grad``) on every backend.

Under no_grad (or when nothing requires grad) the result is stored in the
same Tensor, which stays a leaf; on a leaf that requires grad while gradients
are recorded they raise, as in torch; with an operand that requires grad they
record. References: NumPy on host copies, hand-derived values, torch autograd.
"""

from __future__ import annotations

import operator
import re

import numpy as np
import pytest

import xpgrad
from tests.support import backend_params, dtype_name, host, same_library

# JAX compiles each op at each shape: half of its cases here in a plain run,
# all with --backend jax (tests/conftest.py)
pytestmark = pytest.mark.jax_sample(2)

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

# symbol -> (in-place operator, the NumPy operator that gives the expected values)
FLOAT_OPS = {
    "+=": (operator.iadd, np.add),
    "-=": (operator.isub, np.subtract),
    "*=": (operator.imul, np.multiply),
    "/=": (operator.itruediv, np.divide),
    "**=": (operator.ipow, np.power),
    "@=": (operator.imatmul, np.matmul),
    "//=": (operator.ifloordiv, np.floor_divide),
}
INT_OPS = {
    "//=": (operator.ifloordiv, np.floor_divide),
    "&=": (operator.iand, np.bitwise_and),
    "|=": (operator.ior, np.bitwise_or),
    "^=": (operator.ixor, np.bitwise_xor),
    "<<=": (operator.ilshift, np.left_shift),
    ">>=": (operator.irshift, np.right_shift),
}
# The operators that have gradients, with torch's out-of-place twin for the reference.
DIFF_OPS = {
    "+=": operator.add,
    "-=": operator.sub,
    "*=": operator.mul,
    "/=": operator.truediv,
    "**=": operator.pow,
    "@=": operator.matmul,
}

X = np.array([[1.5, 2.0], [0.5, 3.0]])
Y = np.array([[0.25, -1.0], [2.0, 0.75]])
IX = np.array([[5, 12], [7, 40]])
IY = np.array([[3, 10], [2, 3]])


def _operand(backend, h, kind):
    if kind == "scalar":
        return h.flat[0].item()
    if kind == "array":
        return backend.asarray(h)
    return xpgrad.tensor(backend.asarray(h))


# -- every operator, stored in place when no graph is recorded ----------------


@pytest.mark.parametrize(
    "symbol, kind",
    [(s, k) for s in FLOAT_OPS for k in ("scalar", "array", "tensor") if (s, k) != ("@=", "scalar")],
)
def test_float_operator_stores_in_place(backend, symbol, kind):
    iop, ref = FLOAT_OPS[symbol]
    t = xpgrad.tensor(backend.asarray(X))
    before = t
    other = _operand(backend, Y if symbol != "**=" else np.abs(Y), kind)
    t = iop(t, other)
    assert t is before and t.is_leaf and not t.requires_grad
    assert same_library(t.data, backend.asarray(X)) and dtype_name(t.data) == "float64"
    h_other = host(other) if kind != "scalar" else other
    np.testing.assert_allclose(host(t.data), ref(X, h_other), rtol=1e-15, atol=0)


@pytest.mark.parametrize("kind", ["scalar", "array", "tensor"])
@pytest.mark.parametrize("symbol", list(INT_OPS))
def test_integer_operator_stores_in_place(backend, symbol, kind):
    iop, ref = INT_OPS[symbol]
    t = xpgrad.tensor(backend.asarray(IX))
    before = t
    other = _operand(backend, IY, kind)
    t = iop(t, other)
    assert t is before
    assert same_library(t.data, backend.asarray(IX)) and dtype_name(t.data) == "int64"
    h_other = host(other) if kind != "scalar" else other
    np.testing.assert_array_equal(host(t.data), ref(IX, h_other))


@pytest.mark.parametrize("symbol", ["+=", "&="])
def test_an_operand_that_is_no_array_is_refused(symbol):
    t = xpgrad.tensor(IX)
    with pytest.raises(TypeError):
        t = FLOAT_OPS.get(symbol, INT_OPS.get(symbol))[0](t, "2")
    np.testing.assert_array_equal(t.data, IX)


# -- the optimizer update ---------------------------------------------------------


@pytest.mark.parametrize("symbol", ["-=", "+=", "*=", "/="])
def test_update_under_no_grad_keeps_the_leaf(backend, symbol):
    iop, ref = FLOAT_OPS[symbol]
    w = xpgrad.tensor(backend.asarray(X), requires_grad=True)
    before = w
    (w * w).sum().backward()  # grad = 2 X
    step = 0.1 * w.grad if symbol in ("-=", "+=") else backend.asarray(1.0 + 0.1 * X)
    with xpgrad.no_grad():
        w = iop(w, step)
    assert w is before and w.is_leaf and w.requires_grad
    assert same_library(w.data, backend.asarray(X))
    new = ref(X, 0.2 * X if symbol in ("-=", "+=") else 1.0 + 0.1 * X)
    np.testing.assert_allclose(host(w.data), new, rtol=1e-15)
    np.testing.assert_allclose(host(w.grad), 2 * X, rtol=1e-15)  # the gradient is kept
    # The next step differentiates at the new values.
    w.grad = None
    (w * w).sum().backward()
    np.testing.assert_allclose(host(w.grad), 2 * new, rtol=1e-15)


@pytest.mark.parametrize("symbol", list(DIFF_OPS))
def test_leaf_that_requires_grad_refuses_in_place_outside_no_grad(backend, symbol):
    w = xpgrad.tensor(backend.asarray(X), requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"{re.escape(symbol)}: a leaf tensor that requires grad .*xpgrad.no_grad"):
        FLOAT_OPS[symbol][0](w, backend.asarray(Y))
    np.testing.assert_array_equal(host(w.data), X)
    assert w.is_leaf and w.requires_grad


# -- recording ----------------------------------------------------------------------


@pytest.mark.parametrize("symbol", list(DIFF_OPS))
def test_operand_that_requires_grad_records(backend, symbol):
    iop = FLOAT_OPS[symbol][0]
    x = xpgrad.tensor(backend.asarray(X))
    y = xpgrad.tensor(backend.asarray(Y), requires_grad=True)
    x = iop(x, y)
    assert x.requires_grad and not x.is_leaf
    (x * x).sum().backward()
    tx = torch.tensor(X)
    ty = torch.tensor(Y, requires_grad=True)
    tx = DIFF_OPS[symbol](tx, ty)
    (tx * tx).sum().backward()
    np.testing.assert_allclose(host(x.data), tx.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(host(y.grad), ty.grad.numpy(), rtol=1e-13)


def test_in_place_on_a_computed_tensor_records(backend):
    w = xpgrad.tensor(backend.asarray(X), requires_grad=True)
    h = w * 2.0
    h *= w  # h = 2 w * w, recorded
    h.sum().backward()
    np.testing.assert_allclose(host(w.grad), 4 * X, rtol=1e-15)


def test_a_recorded_in_place_operator_changes_the_tensor_every_reference_sees(backend):
    # with a graph recorded, y -= ... made a new Tensor and rebound the name
    # alone: a helper that centres its argument in place (Array API code, as
    # NumPy's and torch's do) lost its change, 41 where NumPy and torch give 14
    def center_(a):
        a -= a.__array_namespace__().mean(a)

    x = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0, 6.0])), requires_grad=True)
    y = x * 1.0
    before = y
    early = y * 3.0  # recorded before the change: it keeps the values it read
    center_(y)
    assert y is before and y.requires_grad and not y.is_leaf
    loss = (y ** 2).sum() + early.sum()
    assert float(loss.item()) == 14.0 + 27.0  # (-2)^2 + (-1)^2 + 3^2, and 3 * 9
    loss.backward()
    # d/dx sum((x - mean x)^2) = 2 (x - mean x), plus 3 from early
    np.testing.assert_allclose(host(x.grad), [-4.0 + 3.0, -2.0 + 3.0, 6.0 + 3.0], rtol=1e-14)
    h = xpgrad.tensor(backend.asarray(X, "float32"))
    w = xpgrad.tensor(backend.asarray(Y), requires_grad=True)  # float64
    h += w  # the constant becomes the recorded result, in its own dtype, as torch's add_
    assert h.requires_grad and dtype_name(h.data) == "float32"
    h.sum().backward()
    assert dtype_name(w.grad) == "float64"
    np.testing.assert_array_equal(host(w.grad), np.ones_like(Y))


def test_floor_division_in_place_of_a_computed_tensor_leaves_a_constant(backend):
    # floor_divide records nothing: x //= 2 kept x's node (of w * 1) under the new values,
    # so (x * x).sum() gave w a gradient of 2 x (finite differences, and x // 2, give none)
    w = xpgrad.tensor(backend.asarray(np.array([1.5, 2.5, -3.5])), requires_grad=True)
    x = w * 1.0
    early = (x * x).sum()  # recorded before: it keeps the version it read
    x //= 2.0
    np.testing.assert_array_equal(host(x.data), [0.0, 1.0, -2.0])
    assert not x.requires_grad and x.is_leaf  # as x // 2.0
    early.backward()
    np.testing.assert_array_equal(host(w.grad), [3.0, 5.0, -7.0])


def test_under_no_grad_an_operand_that_requires_grad_records_nothing(backend):
    x = xpgrad.tensor(backend.asarray(X))
    before = x
    y = xpgrad.tensor(backend.asarray(Y), requires_grad=True)
    with xpgrad.no_grad():
        x += y
    assert x is before and not x.requires_grad
    np.testing.assert_allclose(host(x.data), X + Y, rtol=1e-15)


# -- dtypes ----------------------------------------------------------------------------


def test_float32_tensor_keeps_float32_with_a_float64_operand(backend):
    w = xpgrad.tensor(backend.asarray(X, "float32"), requires_grad=True)
    with xpgrad.no_grad():
        w -= backend.asarray(Y, "float64")
    assert dtype_name(w.data) == "float32" and same_library(w.data, backend.asarray(X))
    np.testing.assert_array_equal(host(w.data), (X - Y).astype(np.float32))


def test_int32_tensor_keeps_int32_with_an_int64_operand(backend):
    t = xpgrad.tensor(backend.asarray(IX.astype(np.int32)))
    t += backend.asarray(IY)
    assert dtype_name(t.data) == "int32"
    np.testing.assert_array_equal(host(t.data), IX + IY)


@pytest.mark.parametrize(
    "symbol, start, other, have",
    [
        ("+=", IX, 1.5, "float(32|64)"),  # an int tensor cannot hold a float result
        ("/=", IX, 2, "float(32|64)"),  # true division of integers is a float
        ("+=", IX > 6, 1, "int64"),  # nor a bool tensor an int one
    ],
    ids=["int+=float", "int/=int", "bool+=int"],
)
def test_result_of_another_kind_is_refused(backend, symbol, start, other, have):
    t = xpgrad.tensor(backend.asarray(start))
    want = dtype_name(t.data)
    # torch makes float32 of an int tensor and a Python float; array_api_strict
    # and cubed refuse the mixed-kind operation itself.
    match = (
        "TypeError from the array library"
        if backend.name in ("array_api_strict", "cubed")
        else rf"{re.escape(symbol)}: the result has dtype {have}, which cannot be stored in "
        rf"this tensor's {want}"
    )
    with pytest.raises(TypeError, match=match):
        FLOAT_OPS[symbol][0](t, other)
    np.testing.assert_array_equal(host(t.data), start)
    assert dtype_name(t.data) == want



def test_a_write_through_a_view_made_with_none_on_array_api_strict():
    # the view's key was replayed as the write's, and array_api_strict's setitem takes no
    # None: "Single-axes index None ... only integers, slices ..." for a valid write
    xs = pytest.importorskip("array_api_strict")
    b = xpgrad.tensor(xs.asarray(np.ones((2, 3))))
    v = b[None, 0, :]
    v[0, 1] = 5.0
    u = b[..., None]
    u *= 2.0
    np.testing.assert_array_equal(host(b), [[2.0, 10.0, 2.0], [2.0, 2.0, 2.0]])
    w = xpgrad.tensor(xs.asarray(np.ones((2, 3))), requires_grad=True)
    y = w * 1.0
    y[None, 0, :][0, 1] = y[1, 2] * 3.0  # y[0, 1] overwritten by 3 y[1, 2]
    xpgrad.array_api.sum(y * y).backward()
    np.testing.assert_array_equal(host(w.grad), [[2.0, 0.0, 2.0], [2.0, 2.0, 20.0]])


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_writes_through_views_made_with_none_and_negative_steps(backend):
    # the write reads its shape from the key now: indexing the data with it failed on
    # torch, which takes no negative step ("step must be greater than zero")
    w = xpgrad.tensor(backend.asarray(np.arange(6.0).reshape(2, 3)), requires_grad=True)
    b = w * 1.0
    v = b[None, ::-1, None]
    v[0, 0, 0, 2] = 7.0  # b[1, 2]
    u = b[..., None, 1]
    u[0, 0] = -1.0  # b[0, 1]
    q = b[0, None]
    q[0, 0] = 9.0  # b[0, 0]
    np.testing.assert_array_equal(host(b), [[9.0, -1.0, 2.0], [3.0, 4.0, 7.0]])
    xpgrad.array_api.sum(b * b).backward()
    np.testing.assert_array_equal(host(w.grad), [[0.0, 0.0, 4.0], [6.0, 8.0, 0.0]])

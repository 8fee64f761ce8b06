"""Second derivatives of every differentiable function of ``xpgrad.array_api``.

Each case is Array API code ``fn(xp, *arrays)``. Its scalar loss
``L = sum(W * fn(x))`` (W fixed and random) has the Hessian-vector product
``H v``, which :func:`xpgrad.hvp` computes by differentiating the recorded
backward. It is checked two ways on NumPy in float64:

- against central differences of the first derivative (``xpgrad.grad``,
  itself checked against torch and finite differences elsewhere);
- against torch's double backward of the same code run through torch's
  Array API namespace.

Every argument is differentiated at once, so mixed partials are covered.
A subset runs on array_api_strict, torch and JAX data too, and third
derivatives are checked for a representative set.
"""

from __future__ import annotations

import typing

import array_api_compat.torch as torch_ns
import numpy as np
import pytest

import xpgrad
from tests.subsets import backend_cases
from tests.support import host

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

DOMAINS = {
    "real": lambda rng, s: rng.uniform(-1.5, 1.5, s),
    "pos": lambda rng, s: rng.uniform(0.5, 2.0, s),
    "unit": lambda rng, s: rng.uniform(-0.9, 0.9, s),
    "ge1": lambda rng, s: rng.uniform(1.2, 3.0, s),
    # away from ties and kinks, for the piecewise functions
    "apart": lambda rng, s: rng.permutation(np.linspace(-2.0, 2.0, int(np.prod(s)))).reshape(s)
    + rng.uniform(-0.01, 0.01, s),
    "spd": lambda rng, s: _spd(rng, s),
    "square": lambda rng, s: rng.uniform(-1, 1, s) + 3 * np.eye(s[-1]),
}


def _spd(rng, s):
    a = rng.uniform(-1, 1, s)
    return a @ np.swapaxes(a, -1, -2) + s[-1] * np.eye(s[-1])


M = (3, 4)  # the default shape

# (id, fn(xp, *xs), [(domain, shape) per argument])
CASES = [
    # element-wise, one argument
    *[(n, (lambda n: lambda xp, x: getattr(xp, n)(x))(n), [(d, M)]) for n, d in [
        ("abs", "apart"), ("square", "real"), ("sqrt", "pos"), ("exp", "real"), ("expm1", "real"),
        ("log", "pos"), ("log1p", "pos"), ("log2", "pos"), ("log10", "pos"), ("sin", "real"),
        ("cos", "real"), ("tan", "unit"), ("sinh", "real"), ("cosh", "real"), ("tanh", "real"),
        ("asin", "unit"), ("acos", "unit"), ("atan", "real"), ("asinh", "real"),
        ("acosh", "ge1"), ("atanh", "unit"), ("sign", "apart"), ("conj", "real"),
        ("real", "real"), ("reciprocal", "pos"), ("negative", "real"), ("positive", "real"),
        ("round", "apart"), ("floor", "apart"), ("ceil", "apart"), ("trunc", "apart"),
    ]],
    # element-wise, two arguments (the second broadcast along the first)
    *[(n, (lambda n: lambda xp, a, b: getattr(xp, n)(a, b))(n), [(d1, M), (d2, (4,))])
      for n, d1, d2 in [
        ("add", "real", "real"), ("subtract", "real", "real"), ("multiply", "real", "real"),
        ("divide", "real", "pos"), ("pow", "pos", "real"), ("atan2", "real", "pos"),
        ("hypot", "real", "pos"), ("maximum", "apart", "apart"), ("minimum", "apart", "apart"),
        ("logaddexp", "real", "real"), ("copysign", "real", "apart"),
        ("remainder", "pos", "ge1"),
    ]],
    ("pow_scalar", lambda xp, x: x ** 3.5, [("pos", M)]),
    ("rpow_scalar", lambda xp, x: 2.0 ** x, [("real", M)]),
    ("pow_square", lambda xp, x: x ** 2, [("real", M)]),
    ("scalar_div", lambda xp, x: 1.5 / x, [("pos", M)]),
    ("clip", lambda xp, x: xp.clip(x, -1.0, 1.0) * x, [("apart", M)]),
    ("where", lambda xp, a, b: xp.where(a > 0, a * b, b * b), [("apart", M), ("real", M)]),
    # reductions
    ("sum", lambda xp, x: xp.sum(x * x, axis=0), [("real", M)]),
    ("prod", lambda xp, x: xp.prod(x, axis=1), [("pos", M)]),
    ("prod_all", lambda xp, x: xp.prod(x), [("pos", (2, 3))]),
    ("mean", lambda xp, x: xp.mean(x * x, axis=1, keepdims=True), [("real", M)]),
    ("var", lambda xp, x: xp.var(x, axis=0), [("real", M)]),
    ("var_ddof", lambda xp, x: xp.var(x, correction=1), [("real", M)]),
    ("std", lambda xp, x: xp.std(x, axis=1), [("real", M)]),
    ("max", lambda xp, x: xp.max(x * x, axis=1), [("apart", M)]),
    ("min", lambda xp, x: xp.min(x ** 3), [("apart", M)]),
    ("cumulative_sum", lambda xp, x: xp.cumulative_sum(x * x, axis=1), [("real", M)]),
    ("cumulative_prod", lambda xp, x: xp.cumulative_prod(x, axis=1), [("pos", M)]),
    ("diff", lambda xp, x: xp.diff(x * x, axis=1), [("real", M)]),
    # shape and indexing
    ("reshape", lambda xp, x: xp.reshape(x * x, (2, 6)), [("real", M)]),
    ("permute_dims", lambda xp, x: xp.permute_dims(x, (1, 0)) ** 3, [("real", M)]),
    ("matrix_transpose", lambda xp, x: xp.matrix_transpose(x) * x[0, 0], [("real", M)]),
    ("expand_squeeze", lambda xp, x: xp.squeeze(xp.expand_dims(x ** 3, axis=0), axis=0),
     [("real", M)]),
    ("broadcast_to", lambda xp, x: xp.broadcast_to(x ** 3, (2, 4)), [("real", (4,))]),
    ("concat", lambda xp, a, b: xp.concat([a * b, b * b], axis=0), [("real", M), ("real", M)]),
    ("stack", lambda xp, a, b: xp.stack([a * b, a], axis=1), [("real", M), ("real", M)]),
    ("unstack", lambda xp, x: xp.unstack(x)[1] ** 3, [("real", M)]),
    ("flip", lambda xp, x: xp.flip(x, axis=1) * x, [("real", M)]),
    ("roll", lambda xp, x: xp.roll(x, 2, axis=1) * x, [("real", M)]),
    ("moveaxis", lambda xp, x: xp.moveaxis(x ** 3, 0, 1), [("real", M)]),
    ("tile", lambda xp, x: xp.tile(x, (2, 1)) ** 3, [("real", M)]),
    ("repeat", lambda xp, x: xp.repeat(x, 2, axis=1) ** 3, [("real", M)]),
    ("take", lambda xp, x: xp.take(x ** 3, xp.asarray([0, 2, 2], device=x.device), axis=1), [("real", M)]),
    ("take_along_axis",
     lambda xp, x: xp.take_along_axis(x ** 3, xp.asarray([[0, 1], [2, 2], [3, 0]], device=x.device), axis=1),
     [("real", M)]),
    ("getitem", lambda xp, x: x[1:, ::2] * x[:2, 1::2], [("real", M)]),
    ("getitem_int_array", lambda xp, x: x[xp.asarray([0, 2, 0], device=x.device), :] ** 3, [("real", M)]),
    ("getitem_mask", lambda xp, x: x[x > 0] ** 3, [("apart", M)]),
    ("tril", lambda xp, x: xp.tril(x * x, k=-1) * x, [("real", (4, 4))]),
    ("triu", lambda xp, x: xp.triu(x ** 3), [("real", (4, 4))]),
    ("astype", lambda xp, x: xp.astype(x * x, xp.float32) * 1.0, [("real", M)]),
    ("sort", lambda xp, x: xp.sort(x ** 3, axis=1) * xp.asarray([1.0, 2.0, 3.0, 4.0], device=x.device),
     [("apart", M)]),
    ("meshgrid", lambda xp, a, b: xp.meshgrid(a * b, b * b)[0], [("real", (3,)), ("real", (3,))]),
    ("broadcast_arrays", lambda xp, a, b: xp.broadcast_arrays(a * a, b)[0] * b,
     [("real", M), ("real", (4,))]),
    # linear algebra
    ("matmul", lambda xp, a, b: (a @ b) ** 2, [("real", M), ("real", (4, 2))]),
    ("matmul_vec", lambda xp, a, b: xp.matmul(a, b) ** 2, [("real", M), ("real", (4,))]),
    ("matmul_batch", lambda xp, a, b: (a @ b) ** 2, [("real", (2, 3, 4)), ("real", (4, 2))]),
    ("tensordot", lambda xp, a, b: xp.tensordot(a, b, axes=1) ** 2, [("real", M), ("real", (4, 2))]),
    ("vecdot", lambda xp, a, b: xp.vecdot(a, b) ** 2, [("real", M), ("real", M)]),
    ("outer", lambda xp, a, b: xp.linalg.outer(a, b) ** 2, [("real", (3,)), ("real", (4,))]),
    ("vector_norm", lambda xp, x: xp.linalg.vector_norm(x, axis=1), [("real", M)]),
    ("vector_norm_ord3", lambda xp, x: xp.linalg.vector_norm(x, ord=3), [("pos", M)]),
    ("vector_norm_inf", lambda xp, x: xp.linalg.vector_norm(x * x, ord=float("inf")),
     [("apart", M)]),
    ("matrix_norm", lambda xp, x: xp.linalg.matrix_norm(x), [("real", M)]),
    ("trace", lambda xp, x: xp.linalg.trace(x * x), [("real", (3, 3))]),
    ("diagonal", lambda xp, x: xp.linalg.diagonal(x) ** 3, [("real", (3, 3))]),
    ("det", lambda xp, x: xp.linalg.det(x), [("square", (3, 3))]),
    ("inv", lambda xp, x: xp.linalg.inv(x), [("square", (3, 3))]),
    ("solve", lambda xp, a, b: xp.linalg.solve(a, b), [("square", (3, 3)), ("real", (3, 2))]),
    ("cross", lambda xp, a, b: xp.linalg.cross(a, b) ** 2, [("real", (2, 3)), ("real", (2, 3))]),
    ("slogdet", lambda xp, x: xp.linalg.slogdet(x)[1], [("square", (3, 3))]),
    ("cholesky", lambda xp, x: xp.linalg.cholesky(x), [("spd", (3, 3))]),
    ("eigvalsh", lambda xp, x: xp.linalg.eigvalsh(x + xp.matrix_transpose(x)),
     [("spd", (3, 3))]),
    ("eigh_values", lambda xp, x: xp.linalg.eigh(x + xp.matrix_transpose(x))[0],
     [("spd", (3, 3))]),
    ("eigh_vectors", lambda xp, x: xp.abs(xp.linalg.eigh(x + xp.matrix_transpose(x))[1]),
     [("spd", (3, 3))]),
    ("matrix_power", lambda xp, x: xp.linalg.matrix_power(x, 3), [("real", (3, 3))]),
    ("matrix_power_neg", lambda xp, x: xp.linalg.matrix_power(x, -2), [("square", (3, 3))]),
    ("svdvals", lambda xp, x: xp.linalg.svdvals(x), [("real", M)]),
    ("matrix_norm_nuc", lambda xp, x: xp.linalg.matrix_norm(x, ord="nuc"), [("real", M)]),
    ("matrix_norm_2", lambda xp, x: xp.linalg.matrix_norm(x, ord=2), [("real", M)]),
]
IDS = [c[0] for c in CASES]

# Functions whose gradient is not differentiable yet: a recorded backward
# through them raises, naming the function, instead of treating what their
# gradient reads as constants.
BY_ID = {c[0]: c for c in CASES}


def _inputs(case, seed=0):
    rng = np.random.default_rng(seed)
    return [DOMAINS[d](rng, s) for d, s in case[2]]


def _directions(case, xs):
    """Random directions v; symmetric for the functions of symmetric matrices
    (cholesky reads one triangle: other directions are a convention)."""
    vs = []
    for i, (x, (domain, _)) in enumerate(zip(xs, case[2])):
        v = np.random.default_rng(2 + i).uniform(-1, 1, x.shape)
        vs.append(v + np.swapaxes(v, -1, -2) if domain == "spd" else v)
    return vs


def _weights(shape, seed=1):
    return np.random.default_rng(seed).uniform(0.5, 1.5, shape)


def _loss(case, out_shape):
    """``L(*xs) = sum(W * fn(*xs))``, in the namespace of its arguments."""
    fn = case[1]
    w = _weights(out_shape)

    def loss(*xs):
        ns = xs[0].__array_namespace__()
        out = fn(ns, *xs)
        weight = xpgrad.convert(w.astype(host(out).dtype), like=out.data)
        return ns.sum(out * weight)

    return loss


def _torch_hvp(case, xs, vs):
    """H v by torch's double backward of the same code."""
    ns = torch_ns
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    out = case[1](ns, *ts)
    w = torch.tensor(_weights(tuple(out.shape)), dtype=out.dtype)
    loss = (out * w).sum()
    grads = torch.autograd.grad(loss, ts, create_graph=True, allow_unused=True)
    dot = sum((g * torch.tensor(v)).sum() for g, v in zip(grads, vs) if g is not None)
    if not dot.requires_grad:
        return [np.zeros_like(x) for x in xs]
    hv = torch.autograd.grad(dot, ts, allow_unused=True)
    return [np.zeros_like(x) if h is None else h.detach().numpy(force=True) for x, h in zip(xs, hv)]


def _out_shape(case, xs):
    return tuple(case[1](np, *xs).shape)


@pytest.mark.parametrize("case_id", IDS)
def test_hvp_matches_finite_differences_and_torch(case_id):
    case = BY_ID[case_id]
    xs = _inputs(case)
    vs = _directions(case, xs)
    loss = _loss(case, _out_shape(case, xs))
    hv = xpgrad.hvp(loss, tuple(xs), tuple(vs))
    assert len(hv) == len(xs)
    for h, x in zip(hv, xs):
        assert type(h) is np.ndarray and h.shape == x.shape and h.dtype == np.float64

    # central differences of the first derivative along v
    grad = xpgrad.grad(loss, argnums=tuple(range(len(xs))))
    eps = 1e-6
    plus = grad(*[x + eps * v for x, v in zip(xs, vs)])
    minus = grad(*[x - eps * v for x, v in zip(xs, vs)])
    for h, p, m in zip(hv, plus, minus):
        np.testing.assert_allclose(h, (p - m) / (2 * eps), rtol=1e-5, atol=1e-6)

    for h, ref in zip(hv, _torch_hvp(case, xs, vs)):
        np.testing.assert_allclose(h, ref, rtol=1e-10, atol=1e-10)


class _ExpTimesX(xpgrad.ops.Rule):
    """A user's rule that saves a derived array (exp(x)) under a name the
    harness does not know: its gradient reads it, so a second derivative that
    took it for a constant would be wrong."""

    args = ("x",)

    @staticmethod
    def forward(x):
        xp = xpgrad.get_namespace(x)
        e = xp.exp(x)
        return _ExpTimesX.record(xp, xpgrad.ops._common.NO_SCOPE, _Derived(x, e), (True,), e * x)

    @staticmethod
    def gradients(xp, g, s, needs):
        return (g * s.e * (s.x + 1.0),)


class _Derived(typing.NamedTuple):
    x: object
    e: object


class _OldStyle:
    """A rule object with only forward and backward, as xpgrad.apply takes."""

    @staticmethod
    def forward(x):
        return xpgrad.ops.exp.forward(x)

    @staticmethod
    def backward(g, ctx):
        return xpgrad.ops.exp.backward(g, ctx)


@pytest.mark.parametrize("rule, why", [
    (_ExpTimesX, "its gradient reads 'e'"),
    (_OldStyle, "its gradient is not differentiable"),
])
def test_second_derivative_through_an_unknown_dependence_is_refused(rule, why):
    def loss(x):
        return xpgrad.apply(rule, (x,)).sum()

    x = np.array([0.5, 1.0])
    np.testing.assert_allclose(xpgrad.grad(loss)(x), np.exp(x) * (x + 1.0) if rule is _ExpTimesX
                               else np.exp(x))  # the first derivative works
    with pytest.raises(NotImplementedError, match=why):
        xpgrad.hvp(loss, x, np.ones_like(x))


# The same on the other libraries' data: a subset with one rule of each kind.
OTHER = ["exp", "divide", "pow", "maximum", "sum", "prod", "max", "var", "reshape", "concat",
         "take", "getitem", "matmul", "vector_norm", "det", "solve", "where", "sort"]


# JAX compiles each op at each shape on first use: a few rows of different kinds.
JAX_OTHER = ["exp", "maximum", "prod", "take", "matmul", "det"]


@pytest.mark.parametrize(
    "backend, case_id",
    backend_cases(OTHER, OTHER, backends=("array_api_strict", "torch", "jax", "cupy"),
                  jax=JAX_OTHER),
    indirect=["backend"],
)
def test_hvp_on_other_libraries(backend, case_id):
    case = BY_ID[case_id]
    xs = _inputs(case)
    vs = _directions(case, xs)
    loss = _loss(case, _out_shape(case, xs))
    bx = [backend.asarray(x) for x in xs]
    hv = xpgrad.hvp(loss, tuple(bx), tuple(backend.asarray(v) for v in vs))
    ref = xpgrad.hvp(loss, tuple(xs), tuple(vs))
    for h, r, x in zip(hv, ref, bx):
        assert type(h) is type(x) and tuple(h.shape) == tuple(x.shape)
        np.testing.assert_allclose(host(h), r, rtol=1e-10, atol=1e-10)


THIRD = ["exp", "log", "tanh", "multiply", "divide", "pow", "prod", "std", "matmul", "det",
         "inv", "vector_norm"]


@pytest.mark.parametrize("case_id", THIRD)
def test_third_derivative_matches_torch(case_id):
    """d/dx <v, H(x) v> against torch's triple backward: the backward of a
    recorded backward is recorded too."""
    case = BY_ID[case_id]
    xs = _inputs(case)
    vs = _directions(case, xs)
    loss = _loss(case, _out_shape(case, xs))

    def curvature(*ys):
        hv = xpgrad.hvp(loss, ys, tuple(vs))
        ns = ys[0].__array_namespace__()
        return sum(ns.sum(h * ns.asarray(v)) for h, v in zip(hv, vs))

    third = xpgrad.grad(curvature, argnums=tuple(range(len(xs))))(*xs)

    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    out = case[1](torch_ns, *ts)
    loss_t = (out * torch.tensor(_weights(tuple(out.shape)))).sum()
    g = torch.autograd.grad(loss_t, ts, create_graph=True)
    hv = torch.autograd.grad(sum((a * torch.tensor(v)).sum() for a, v in zip(g, vs)), ts,
                             create_graph=True)
    curv = sum((a * torch.tensor(v)).sum() for a, v in zip(hv, vs))
    ref = torch.autograd.grad(curv, ts, allow_unused=True) if curv.requires_grad else [None] * len(ts)
    for a, r, x in zip(third, ref, xs):
        r = np.zeros_like(x) if r is None else r.detach().numpy()
        np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-9)


# Complex inputs: H v for a real loss of complex z, with the real inner
# product Re <grad, v> (torch's convention for complex gradients).
COMPLEX = [
    ("exp", lambda ns, t: ns.sum(ns.abs(ns.exp(t)) ** 2)),
    ("multiply_conj", lambda ns, t: ns.sum(ns.real(t * t * ns.conj(t)))),
    ("log_sin", lambda ns, t: ns.sum(ns.imag(ns.log(t)) ** 2 + ns.real(ns.sin(t)))),
    ("reciprocal", lambda ns, t: ns.sum(ns.abs(1.0 / (t + 3.0)) ** 2)),
    ("sqrt_tanh", lambda ns, t: ns.sum(ns.real(ns.sqrt(t) * ns.tanh(t)))),
    ("matmul", lambda ns, t: ns.sum(ns.abs(ns.reshape(t, (2, 2)) @ ns.reshape(t, (2, 2))) ** 2)),
]


@pytest.mark.parametrize("name, fn", COMPLEX, ids=[c[0] for c in COMPLEX])
def test_complex_hvp_matches_torch(name, fn):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    v = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    h = xpgrad.hvp(lambda t: fn(t.__array_namespace__(), t), z, v)
    assert h.dtype == np.complex128 and h.shape == z.shape
    t = torch.tensor(z, requires_grad=True)
    (g,) = torch.autograd.grad(fn(torch_ns, t), t, create_graph=True)
    (ref,) = torch.autograd.grad((g * torch.tensor(v).conj()).real.sum(), t)
    np.testing.assert_allclose(h, ref.numpy(), rtol=1e-12, atol=1e-12)


DASK = ["exp", "divide", "sum", "prod", "var", "getitem", "take", "matmul", "vector_norm"]


@pytest.mark.parametrize("case_id", DASK)
def test_hvp_on_dask_stays_lazy_and_matches_numpy(case_id):
    da = pytest.importorskip("dask.array")
    case = BY_ID[case_id]
    xs = _inputs(case)
    vs = _directions(case, xs)
    loss = _loss(case, _out_shape(case, xs))
    hv = xpgrad.hvp(loss, tuple(da.from_array(x, chunks=2) for x in xs),
                    tuple(da.from_array(v, chunks=2) for v in vs))
    ref = xpgrad.hvp(loss, tuple(xs), tuple(vs))
    for h, r in zip(hv, ref):
        assert isinstance(h, da.Array)
        np.testing.assert_allclose(h.compute(), r, rtol=1e-10, atol=1e-10)


def test_odd_inputs_give_the_right_shapes_and_values():
    def loss(x):
        ns = x.__array_namespace__()
        return ns.sum(ns.exp(x) * x)

    empty = np.zeros((0, 3))
    assert xpgrad.grad(loss)(empty).shape == (0, 3)
    assert xpgrad.hvp(loss, empty, empty).shape == (0, 3)
    assert xpgrad.hessian(loss)(empty).shape == (0, 3, 0, 3)
    x = np.array([1.0, np.nan, 2.0])
    h = xpgrad.hvp(loss, x, np.array([1.0, 0.0, 0.0]))
    # the NaN element's row is NaN; the others are exact, H being diagonal
    assert h[0] == pytest.approx(np.exp(1.0) * 3.0) and np.isnan(h[1]) and h[2] == 0.0
    view = np.arange(12.0).reshape(3, 4)[:, ::2] / 10  # a strided view
    np.testing.assert_allclose(xpgrad.hvp(loss, view, np.ones_like(view)),
                               np.exp(view) * (view + 2))


def test_index_add_rule_first_and_second_order():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    index = np.array([2, 0, 2, 1])
    out, ctx = xpgrad.ops.index_add.forward(values, index, 3)
    np.testing.assert_allclose(out, [2.0, 4.0, 4.0])  # position 2 gets 1 + 3
    (g, none) = xpgrad.ops.index_add.backward(np.array([10.0, 20.0, 30.0]), ctx)
    np.testing.assert_allclose(g, [30.0, 10.0, 30.0, 20.0])
    assert none is None
    with pytest.raises(ValueError, match="index_add: values and index must be 1-D of one length"):
        xpgrad.ops.index_add.forward(values, index[:2], 3)

    def loss(v):
        ns = v.__array_namespace__()
        return ns.sum(xpgrad.apply(xpgrad.ops.index_add, (v, index), 3) ** 3)

    # d^2/dv_k dv_j = 6 out[index[k]] where index[k] == index[j]
    same = index[:, None] == index[None, :]
    np.testing.assert_allclose(xpgrad.hessian(loss)(values), 6 * out[index][:, None] * same)


# Random compositions of functions defined on all reals, of two arguments:
# their Hessian-vector products (mixed partials included) against torch.
SAFE_UNARY = ["sin", "cos", "tanh", "atan", "asinh", "expm1", "square", "negative", "exp"]
SAFE_BINARY = [
    lambda ns, a, b: a * b,
    lambda ns, a, b: a + b,
    lambda ns, a, b: a - 0.5 * b,
    lambda ns, a, b: a / (1.0 + b * b),
    lambda ns, a, b: ns.logaddexp(a, b),
    lambda ns, a, b: ns.hypot(a, b + 2.0),
    lambda ns, a, b: ns.atan2(a, b * b + 1.0),
    lambda ns, a, b: ns.maximum(a, b) * a,
]
SAFE_REDUCE = [
    lambda ns, t: ns.sum(t, axis=0),
    lambda ns, t: ns.mean(t, axis=1),
    lambda ns, t: ns.prod(ns.tanh(t) + 2.0, axis=0),
    lambda ns, t: ns.std(t, axis=1),
    lambda ns, t: ns.cumulative_sum(t, axis=1),
    lambda ns, t: ns.matrix_transpose(t) @ t,
    lambda ns, t: t[:, 1:] * t[:, :-1],
]


def _composition(seed: int):
    rng = np.random.default_rng(seed)
    u1, u2, u3 = (SAFE_UNARY[i] for i in rng.integers(len(SAFE_UNARY), size=3))
    op = SAFE_BINARY[rng.integers(len(SAFE_BINARY))]
    red = SAFE_REDUCE[rng.integers(len(SAFE_REDUCE))]

    def fn(ns, a, b):
        t = op(ns, getattr(ns, u1)(a * 0.7), getattr(ns, u2)(b * 0.7))
        return red(ns, getattr(ns, u3)(t * 0.5))

    return (f"{u1}-{u2}-{u3}-{seed}", fn, [("real", M), ("real", M)])


@pytest.mark.parametrize("seed", range(40))
def test_random_compositions_match_torch(seed):
    case = _composition(seed)
    xs = _inputs(case, seed)
    vs = _directions(case, xs)
    loss = _loss(case, _out_shape(case, xs))
    hv = xpgrad.hvp(loss, tuple(xs), tuple(vs))
    for h, ref in zip(hv, _torch_hvp(case, xs, vs)):
        np.testing.assert_allclose(h, ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("include_initial", [False, True])
def test_cumulative_prod_second_derivative_through_zeros(include_initial):
    """After a zero, the first derivative is 0 but moves with that zero: the
    Hessian is symmetric and torch's (torch: cumprod with the initial 1 prepended)."""
    w = np.array([1.0, 2.0, 3.0, 4.0, 5.0])[: 5 if include_initial else 4]
    for z in ([2.0, 0.0, 3.0, 4.0], [0.0, 2.0, 0.0, 5.0]):
        z = np.array(z)
        h = xpgrad.hessian(lambda t: xp_sum_weighted(
            t.__array_namespace__().cumulative_prod(t, axis=0, include_initial=include_initial), w))(z)
        ref = torch.autograd.functional.hessian(
            lambda t: (torch.cumprod(torch.cat([torch.ones(1, dtype=t.dtype), t]) if include_initial
                                     else t, 0) * torch.tensor(w)).sum(), torch.tensor(z)).numpy()
        np.testing.assert_allclose(h, ref, atol=1e-12)
        np.testing.assert_allclose(h, h.T, atol=1e-12)


def xp_sum_weighted(t, w):
    ns = t.__array_namespace__()
    return ns.sum(t * xpgrad.convert(w, like=t.data))


def test_a_recorded_backward_over_two_libraries_compares_no_dtypes_across_them():
    # the namespace of Tensors cached the dtypes of every library in one dict:
    # array_api_strict's float64 met NumPy's there, and strict warned
    import warnings

    xs = pytest.importorskip("array_api_strict")

    def f(a):
        ns = a.__array_namespace__()
        return ns.sum(ns.imag(ns.fft.fft(a)) ** 2)

    want = xpgrad.hvp(f, np.arange(3.0), np.arange(3.0))
    x = xs.asarray([0.0, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = xpgrad.hvp(f, x, x)
    np.testing.assert_allclose(np.asarray(got), want)


def test_logaddexp_second_derivative_far_apart_is_finite():
    # the gradient G / (1 + exp(d)) overflowed in its own derivative once d
    # passed 709: inf / inf, a NaN Hessian for a logistic loss with one large
    # margin (torch gives NaN too); exact: X^T diag(p (1 - p)) X v
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    w, v = np.array([100.0, 400.0]), np.array([1.0, 0.0])

    def loss(w):
        return xpgrad.array_api.sum(xpgrad.array_api.logaddexp(0.0, -(X @ w)))

    m = np.abs(X @ w)  # margins 900 and -100: p (1 - p) = exp(-|m|) / (1 + exp(-|m|))^2
    want = X.T @ ((np.exp(-m) / (1.0 + np.exp(-m)) ** 2) * (X @ v))
    assert want[0] > 1e-44  # exp(-100) survives; exp(-900) rounds to 0
    got = xpgrad.hvp(loss, w, v)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    h = xpgrad.hessian(lambda t: xpgrad.array_api.logaddexp(t[0], t[1]))(np.array([-800.0, 0.0]))
    np.testing.assert_array_equal(h, np.zeros((2, 2)))  # e^-800 rounds to 0
    np.testing.assert_allclose(xpgrad.grad(loss)(w), [-3.0, 1.0])


@pytest.mark.parametrize("x_shape", [(3,), (2, 3), (2, 2, 3)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_second_derivatives_match_torch(x_shape, bias):
    # linear saved x with its leading axes folded (x2), which the recorded
    # backward did not know: every second derivative through it raised
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((4, 3)), rng.standard_normal(4)
    vs = [rng.standard_normal(a.shape) for a in (x, w, b)]
    args = (x, w, b) if bias else (x, w)

    def f(*a):
        return xpgrad.array_api.sum(xpgrad.array_api.tanh(xpgrad.linear(*a)) ** 3)

    got = xpgrad.hvp(f, args, tuple(vs[:len(args)]))
    ts = [torch.tensor(a, requires_grad=True) for a in args]
    loss = (torch.tanh(torch.nn.functional.linear(*ts)) ** 3).sum()
    grads = torch.autograd.grad(loss, ts, create_graph=True)
    dot = sum((g * torch.tensor(v)).sum() for g, v in zip(grads, vs))
    want = torch.autograd.grad(dot, ts)
    for g, t in zip(got, want):
        np.testing.assert_allclose(g, t.numpy(), rtol=1e-10, atol=1e-12)


def test_eigh_at_a_repeated_eigenvalue_raises_instead_of_nan():
    # a second derivative of a function of the eigenvalues reaches V, whose
    # 1 / (w_j - w_i) is 0 / 0 at a repeated eigenvalue: NaN, silently
    xa = xpgrad.array_api
    v = np.array([[1.0, 0.5], [0.0, 0.0]])

    def f(t):
        s = t + xa.matrix_transpose(t)
        return xa.sum(xa.linalg.eigvalsh(s) ** 2)  # = tr(S^2): its H v is 4 (v + v^T)

    np.testing.assert_allclose(xpgrad.hvp(f, np.diag([1.0, 2.0]), v), 4 * (v + v.T))
    with pytest.raises(ValueError, match=r"^eigh\.backward: x has a repeated eigenvalue"):
        xpgrad.hvp(f, np.eye(2), v)
    x = xpgrad.tensor(np.diag([1.0, 1.0, 3.0]), requires_grad=True)
    w, vecs = xa.linalg.eigh(x)
    xa.sum(w ** 2 + vecs[:, 2] ** 3).backward()  # the vector of the distinct eigenvalue: fine
    np.testing.assert_allclose(x.grad, np.diag([2.0, 2.0, 6.0]), atol=1e-12)  # 2 w; V adds 0
    x = xpgrad.tensor(np.diag([1.0, 1.0, 3.0]), requires_grad=True)
    w, vecs = xa.linalg.eigh(x)
    with pytest.raises(ValueError, match=r"^eigh\.backward: x has a repeated eigenvalue"):
        xa.sum(vecs[:, 0] * np.array([1.0, 2.0, 0.0])).backward()
    # rounding is judged per matrix: a batch mate with a larger gradient hid it
    rot, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    batch = np.stack([rot @ np.diag([1.0, 1.0, 3.0]) @ rot.T, np.diag([1.0, 2.0, 5.0])])
    weights = np.array([1e-9, 1.0])[:, None, None]
    with pytest.raises(ValueError, match=r"^eigh\.backward: x has a repeated eigenvalue"):
        xpgrad.grad(lambda a: xa.sum(weights * xa.linalg.eigh(a)[1] ** 3))(batch)
    for shape in [(0, 3, 3), (2, 0, 0)]:  # no matrices, or empty ones: an empty gradient
        g = xpgrad.grad(lambda a: xa.sum(xa.linalg.eigh(a)[1] ** 3))(np.zeros(shape))
        assert g.shape == shape


def test_hessian_of_a_function_of_complex_input_says_the_gradient_is_complex():
    # it said "the function returned a complex array", which it had not
    f = lambda z: xpgrad.array_api.sum(xpgrad.array_api.abs(z) ** 4)  # noqa: E731
    z = np.array([1 + 1j, 2.0])
    with pytest.raises(TypeError, match=r"^hessian: the gradient is complex \(complex128\).*xpgrad\.hvp"):
        xpgrad.hessian(f)(z)
    np.testing.assert_allclose(xpgrad.hvp(f, z, np.array([1.0 + 0j, 0.0])), [16 + 8j, 0])

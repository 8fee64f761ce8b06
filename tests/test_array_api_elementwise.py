"""The element-wise functions of ``xpgrad.array_api`` on Tensors, on every backend.

Each function is checked through the namespace: its values against the
library's own function and torch, its gradients against torch autograd on the
same inputs and against central differences in float64, with broadcasting,
Python scalars on either side, zero-size arrays, NaN, the edges where torch
picks a convention (abs'(0), ties of maximum, the bounds of clip, ...),
complex inputs, integer inputs and the errors.
"""

from __future__ import annotations

import array_api_compat
import math

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xp
from tests.subsets import backend_cases
from tests.support import backend_params, host
from xpgrad.testing import gradcheck

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),  # NumPy on log(0), 0/0, ...
    # JAX compiles each function afresh: half of its cases here in a plain
    # run, all with --backend jax (tests/conftest.py)
    pytest.mark.jax_sample(2),
]

# Sampled inputs, by domain: each function is checked where it is smooth.
DOMAINS = {
    "real": lambda rng, s: rng.uniform(-1.5, 1.5, s),
    "pos": lambda rng, s: rng.uniform(0.5, 2.0, s),
    "unit": lambda rng, s: rng.uniform(-0.9, 0.9, s),
    "ge1": lambda rng, s: rng.uniform(1.2, 3.0, s),
}

# (name, domain, torch function)
UNARY = [
    ("abs", "real", torch.abs),
    ("square", "real", torch.square),
    ("sqrt", "pos", torch.sqrt),
    ("exp", "real", torch.exp),
    ("expm1", "real", torch.expm1),
    ("log", "pos", torch.log),
    ("log1p", "pos", torch.log1p),
    ("log2", "pos", torch.log2),
    ("log10", "pos", torch.log10),
    ("sin", "real", torch.sin),
    ("cos", "real", torch.cos),
    ("tan", "unit", torch.tan),
    ("sinh", "real", torch.sinh),
    ("cosh", "real", torch.cosh),
    ("tanh", "real", torch.tanh),
    ("asin", "unit", torch.asin),
    ("acos", "unit", torch.acos),
    ("atan", "real", torch.atan),
    ("asinh", "real", torch.asinh),
    ("acosh", "ge1", torch.acosh),
    ("atanh", "unit", torch.atanh),
    ("sign", "real", torch.sign),
    ("conj", "real", torch.conj),
    ("reciprocal", "pos", torch.reciprocal),
    ("negative", "real", torch.negative),
    ("positive", "real", torch.positive),
]

# (name, domain of x1, domain of x2, torch function)
BINARY = [
    ("add", "real", "real", torch.add),
    ("subtract", "real", "real", torch.sub),
    ("multiply", "real", "real", torch.mul),
    ("divide", "real", "pos", torch.div),
    ("pow", "pos", "real", torch.pow),
    ("atan2", "real", "real", torch.atan2),
    ("hypot", "real", "real", torch.hypot),
    ("maximum", "real", "real", torch.maximum),
    ("minimum", "real", "real", torch.minimum),
    ("logaddexp", "real", "real", torch.logaddexp),
    ("copysign", "real", "real", torch.copysign),
    ("remainder", "real", "pos", torch.remainder),
]

UNARY_IDS = [u[0] for u in UNARY]
TORCH_BINARY = {b[0]: b[3] for b in BINARY}
BINARY_IDS = [b[0] for b in BINARY]

# Every function runs on JAX once, in float64, in the *_match_torch tests
# below; the other checks (gradcheck, NaN, zero size, scalars, float32) run
# there on rows whose rules differ in kind: a piecewise derivative, a
# reciprocal, a domain edge, a log, an integer-valued result.
JAX_UNARY = ("abs", "sqrt", "log1p", "tanh", "acosh", "sign")
JAX_BINARY = ("divide", "pow", "maximum", "logaddexp", "remainder")


def with_dtypes(table, ids, jax_float32, strict_float32=()):
    """``backend_cases`` over (dtype, *row): float64 everywhere, float32 on
    NumPy, torch and CuPy, and on JAX and the strict namespace for a few rows
    (float32 is the same code with a looser tolerance)."""
    rows = [("float32", *r) for r in table] + [("float64", *r) for r in table]
    row_ids = [f"float32-{i}" for i in ids] + [f"float64-{i}" for i in ids]
    f64 = [f"float64-{i}" for i in ids]
    return backend_cases(
        rows, row_ids,
        jax=f64 + [f"float32-{i}" for i in jax_float32],
        array_api_strict=f64 + [f"float32-{i}" for i in strict_float32],
    )


# -- helpers -----------------------------------------------------------------


def torch_ref(fn, inputs, upstream):
    """(out, grads) of ``fn`` by torch autograd on host arrays (scalars stay
    scalars, 0-d tensors where torch wants a tensor); floating and complex
    arrays require grad, others get None."""
    leaves = []
    for x in inputs:
        if isinstance(x, np.ndarray):
            leaves.append(torch.tensor(x, requires_grad=x.dtype.kind in "fc"))
        elif isinstance(x, float):
            leaves.append(torch.tensor(x, dtype=torch.float64))
        else:
            leaves.append(x)
    out = fn(*leaves)
    if out.requires_grad:
        out.backward(torch.tensor(np.asarray(upstream)))
    grads = [
        (t.grad.resolve_conj().numpy() if t.grad is not None else np.zeros(t.shape, t.numpy().dtype))
        if isinstance(t, torch.Tensor) and t.requires_grad else None
        for t in leaves
    ]
    return out.detach().resolve_conj().numpy(), grads


def native_fn(backend, name):
    """The library's own function ``name`` (its Array API namespace's)."""
    ns = array_api_compat.array_namespace(backend.asarray(np.zeros(1)))
    return getattr(ns, name)


def close(actual, expected, dtype="float64"):
    rtol = {"float32": 2e-5, "float64": 1e-12, "complex128": 1e-12}[dtype]
    a = host(actual)
    np.testing.assert_allclose(a, np.asarray(expected), rtol=rtol, atol=rtol, equal_nan=True)


def leaf(backend, h, dtype=None):
    return xpgrad.tensor(backend.asarray(h, dtype), requires_grad=True)


def run(fn, tensors, upstream, backend):
    """``fn(*tensors)`` and the gradients of its Tensor inputs for ``upstream``."""
    out = fn(*tensors)
    out.backward(backend.asarray(upstream))
    return out, [t.grad if isinstance(t, xpgrad.Tensor) else None for t in tensors]


# -- unary functions -----------------------------------------------------------


@pytest.mark.parametrize(
    "backend, dtype, name, domain, tfn", with_dtypes(UNARY, UNARY_IDS, ("tanh", "log1p")),
    indirect=["backend"],
)
def test_unary_values_and_gradients_match_torch(backend, dtype, rng, name, domain, tfn):
    h = DOMAINS[domain](rng, (3, 4))
    g = rng.standard_normal((3, 4))
    x = leaf(backend, h, dtype)
    out, (gx,) = run(getattr(xp, name), [x], g.astype(dtype), backend)
    assert out.dtype == x.dtype and gx.dtype == x.data.dtype and tuple(gx.shape) == (3, 4)
    if not (backend.name == "cubed" and name == "conj"):  # cubed's conj refuses real arrays
        close(out, host(native_fn(backend, name)(backend.asarray(h, dtype))), dtype)
    t_out, (t_gx,) = torch_ref(tfn, [h], g)
    close(out, t_out, dtype)
    close(gx, t_gx, dtype)


@pytest.mark.parametrize(
    "backend, name, domain, tfn", backend_cases(UNARY, UNARY_IDS, jax=JAX_UNARY), indirect=["backend"]
)
def test_unary_gradcheck(backend, rng, name, domain, tfn):
    h = DOMAINS[domain](rng, (2, 3))
    assert gradcheck(getattr(xp, name), xpgrad.tensor(backend.asarray(h)))


@pytest.mark.parametrize(
    "backend, name, domain, tfn", backend_cases(UNARY, UNARY_IDS, jax=JAX_UNARY), indirect=["backend"]
)
def test_unary_nan_propagates_as_in_torch(backend, rng, name, domain, tfn):
    h = DOMAINS[domain](rng, (4,))
    h[1] = np.nan
    x = leaf(backend, h)
    out, (gx,) = run(getattr(xp, name), [x], np.ones(4), backend)
    assert np.isnan(host(out)[1])
    t_out, (t_gx,) = torch_ref(tfn, [h], np.ones(4))
    if name in ("abs", "sign"):  # torch.sign(nan) is 0 (so is its abs'(nan)): NaN propagates here
        t_gx[1] = np.nan if name == "abs" else 0.0
        t_out[1] = np.nan
    close(out, t_out)
    close(gx, t_gx)  # nan where torch's is nan (sign's gradient stays 0, as torch's)


@pytest.mark.parametrize("backend, name", backend_cases(UNARY_IDS, UNARY_IDS, jax=JAX_UNARY), indirect=["backend"])
def test_unary_zero_size(backend, name):
    x = leaf(backend, np.zeros((0, 3)))
    out, (gx,) = run(getattr(xp, name), [x], np.zeros((0, 3)), backend)
    assert out.shape == (0, 3) and tuple(gx.shape) == (0, 3)


# -- binary functions ------------------------------------------------------------


@pytest.mark.parametrize(
    "backend, dtype, name, d1, d2, tfn", with_dtypes(BINARY, BINARY_IDS, ("pow",), ("divide",)),
    indirect=["backend"],
)
def test_binary_broadcasts_and_matches_torch(backend, dtype, rng, name, d1, d2, tfn):
    h1, h2 = DOMAINS[d1](rng, (3, 1)), DOMAINS[d2](rng, (1, 4))
    g = rng.standard_normal((3, 4))
    a, b = leaf(backend, h1, dtype), leaf(backend, h2, dtype)
    out, (ga, gb) = run(getattr(xp, name), [a, b], g.astype(dtype), backend)
    assert out.shape == (3, 4) and tuple(ga.shape) == (3, 1) and tuple(gb.shape) == (1, 4)
    assert ga.dtype == a.data.dtype and gb.dtype == b.data.dtype
    native = native_fn(backend, name)(backend.asarray(h1, dtype), backend.asarray(h2, dtype))
    close(out, host(native), dtype)
    t_out, (t_ga, t_gb) = torch_ref(tfn, [h1, h2], g)
    close(out, t_out, dtype)
    close(ga, t_ga, dtype)
    close(gb, t_gb, dtype)


@pytest.mark.parametrize(
    "backend, name, d1, d2, tfn", backend_cases(BINARY, BINARY_IDS, jax=JAX_BINARY), indirect=["backend"]
)
def test_binary_gradcheck(backend, rng, name, d1, d2, tfn):
    h1, h2 = DOMAINS[d1](rng, (2, 1)), DOMAINS[d2](rng, (1, 3))
    f = getattr(xp, name)
    assert gradcheck(f, xpgrad.tensor(backend.asarray(h1)), xpgrad.tensor(backend.asarray(h2)))


@pytest.mark.parametrize("side", ["scalar_first", "scalar_second"])
@pytest.mark.parametrize(
    "backend, name, d1, d2, tfn", backend_cases(BINARY, BINARY_IDS, jax=JAX_BINARY), indirect=["backend"]
)
def test_binary_python_scalar_on_either_side(backend, rng, name, d1, d2, tfn, side):
    first = side == "scalar_first"
    h = DOMAINS[d2 if first else d1](rng, (2, 3))
    s = 1.25  # in every domain
    g = rng.standard_normal((2, 3))
    x = leaf(backend, h)
    args = [s, x] if first else [x, s]
    out, grads = run(getattr(xp, name), args, g, backend)
    t_out, t_grads = torch_ref(tfn, [s, h] if first else [h, s], g)
    close(out, t_out)
    close(grads[1 if first else 0], t_grads[1 if first else 0])


@pytest.mark.parametrize("backend, name", backend_cases(BINARY_IDS, BINARY_IDS, jax=JAX_BINARY), indirect=["backend"])
def test_binary_zero_size(backend, name):
    a, b = leaf(backend, np.ones((0, 1))), leaf(backend, np.ones((1, 3)))
    out, (ga, gb) = run(getattr(xp, name), [a, b], np.zeros((0, 3)), backend)
    assert out.shape == (0, 3) and tuple(ga.shape) == (0, 1)
    close(gb, np.zeros((1, 3)))  # a sum over no rows


@pytest.mark.parametrize(
    "backend, name, d1, d2, tfn", backend_cases(BINARY, BINARY_IDS, jax=JAX_BINARY), indirect=["backend"]
)
def test_binary_nan_propagates_as_in_torch(backend, name, d1, d2, tfn):
    h1, h2 = np.array([np.nan, 1.5, 0.7]), np.array([0.9, np.nan, 0.6])
    a, b = leaf(backend, h1), leaf(backend, h2)
    out, (ga, gb) = run(getattr(xp, name), [a, b], np.ones(3), backend)
    assert np.isnan(host(out)[0])  # copysign(1.5, nan) is 1.5: the rest is torch's
    t_out, (t_ga, t_gb) = torch_ref(tfn, [h1, h2], np.ones(3))
    close(out, t_out)
    close(ga, t_ga)
    close(gb, t_gb)


# -- the edges where a convention is chosen (torch's) -------------------------------

INF, NAN = np.inf, np.nan
EDGES = [
    ("abs", [[0.0, -0.0, -2.0, 3.0]], torch.abs),
    ("sqrt", [[0.0, 4.0, -1.0]], torch.sqrt),
    ("log", [[0.0, 1.0, -1.0, INF]], torch.log),
    ("log2", [[0.0, 2.0]], torch.log2),
    ("log1p", [[-1.0, 0.0]], torch.log1p),
    ("reciprocal", [[0.0, -0.0, 2.0]], torch.reciprocal),
    ("exp", [[-INF, INF, 0.0]], torch.exp),
    ("tanh", [[-INF, INF, 0.0]], torch.tanh),
    ("asin", [[1.0, -1.0, 2.0]], torch.asin),
    ("atanh", [[1.0, -1.0, 0.0]], torch.atanh),
    ("acosh", [[1.0, 0.5]], torch.acosh),
    ("sign", [[0.0, -0.0, 2.0]], torch.sign),
    ("maximum", [[1.0, 2.0, 0.0], [1.0, 1.0, 0.0]], torch.maximum),
    ("minimum", [[1.0, 2.0, 0.0], [1.0, 1.0, 0.0]], torch.minimum),
    ("atan2", [[0.0, 0.0, 1.0], [0.0, -0.0, 0.0]], torch.atan2),
    ("hypot", [[0.0, 3.0], [0.0, 0.0]], torch.hypot),
    (
        "logaddexp",
        [[-INF, INF, INF, -INF, 1.0, 1e300], [-INF, INF, 1.0, 1.0, -INF, -1e300]],
        torch.logaddexp,
    ),
    ("copysign", [[0.0, -0.0, 2.0, -2.0], [-1.0, 1.0, -0.0, 3.0]], torch.copysign),
    ("remainder", [[5.0, -5.0, 4.0], [3.0, 3.0, 2.0]], torch.remainder),
    ("pow", [[0.0, 0.0, 2.0], [2.0, 0.0, 0.0]], torch.pow),
]


# Every edge on every backend but JAX, which takes the ones whose convention
# is a branch in the rule (a tie, a zero, an infinity), not in the library.
JAX_EDGES = ("abs", "sqrt", "maximum", "hypot", "logaddexp", "pow")


@pytest.mark.parametrize(
    "backend, name, inputs, tfn", backend_cases(EDGES, [e[0] for e in EDGES], jax=JAX_EDGES), indirect=["backend"]
)
def test_edges_match_torch(backend, name, inputs, tfn):
    hs = [np.array(v) for v in inputs]
    g = np.ones(hs[0].shape)
    tensors = [leaf(backend, h) for h in hs]
    out, grads = run(getattr(xp, name), tensors, g, backend)
    t_out, t_grads = torch_ref(tfn, hs, g)
    close(out, t_out)
    for mine, ref in zip(grads, t_grads):
        close(mine, ref)


def test_edges_by_hand():
    # The conventions themselves, written out, so that a torch change would show.
    x = xpgrad.tensor(np.array([0.0, 2.0]), requires_grad=True)
    xp.sum(xp.abs(x)).backward()
    assert host(x.grad).tolist() == [0.0, 1.0]
    a = xpgrad.tensor(np.array([1.0, 2.0, 0.0]), requires_grad=True)
    b = xpgrad.tensor(np.array([1.0, 1.0, 3.0]), requires_grad=True)
    xp.sum(xp.maximum(a, b)).backward()
    assert host(a.grad).tolist() == [0.5, 1.0, 0.0] and host(b.grad).tolist() == [0.5, 0.0, 1.0]
    x = xpgrad.tensor(np.array([0.0]), requires_grad=True)
    xp.sum(xp.sqrt(x)).backward()
    assert host(x.grad).tolist() == [np.inf]
    x = xpgrad.tensor(np.array([-1.0, 0.0, 1.0, 2.0]), requires_grad=True)
    xp.sum(xp.clip(x, min=0.0, max=1.0)).backward()
    assert host(x.grad).tolist() == [0.0, 1.0, 1.0, 0.0]


# -- clip and where ---------------------------------------------------------------


def test_clip_array_bounds_broadcast_and_get_gradients(backend, rng):
    hx = rng.uniform(-2, 2, (3, 4))
    hlo, hhi = rng.uniform(-1, -0.2, (3, 1)), rng.uniform(0.2, 1, (1, 4))
    hx[0, 0], hx[1, 1] = hlo[0, 0], hhi[0, 1]  # on the bounds: x gets G, the bound 0
    g = rng.standard_normal((3, 4))
    x, lo, hi = leaf(backend, hx), leaf(backend, hlo), leaf(backend, hhi)
    out, (gx, glo, ghi) = run(lambda a, b, c: xp.clip(a, min=b, max=c), [x, lo, hi], g, backend)
    t_out, (t_gx, t_glo, t_ghi) = torch_ref(torch.clamp, [hx, hlo, hhi], g)
    close(out, t_out)
    close(gx, t_gx)
    close(glo, t_glo)
    close(ghi, t_ghi)
    assert gradcheck(
        lambda a, b, c: xp.clip(a, min=b, max=c),
        *(xpgrad.tensor(backend.asarray(h)) for h in (rng.uniform(-2, 2, (2, 3)), hlo[:2], hhi[:, :3])),
    )


@pytest.mark.parametrize(
    "lo, hi",
    [(None, None), (-0.5, None), (None, 0.5), (-0.5, 0.5), (0.5, -0.5)],
    ids=["none", "min", "max", "both", "min_above_max"],
)
def test_clip_scalar_bounds_match_torch(backend, rng, lo, hi):
    hx = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, np.nan])
    x = leaf(backend, hx)
    g = rng.standard_normal(6)
    if backend.name == "array_api_strict" and lo is not None and hi is not None and lo > hi:
        with pytest.raises(ValueError, match=r"^clip: ValueError from the array library"):
            xp.clip(x, min=lo, max=hi)
        return
    out, (gx,) = run(lambda a: xp.clip(a, min=lo, max=hi), [x], g, backend)
    clamp = (lambda t: t * 1.0) if lo is None and hi is None else (lambda t: torch.clamp(t, lo, hi))
    t_out, (t_gx,) = torch_ref(clamp, [hx], g)
    close(out, t_out)
    close(gx, t_gx)


def test_clip_array_bound_above_the_other_matches_torch(backend):
    hx, hlo, hhi = np.array([-1.0, 0.0, 2.0]), np.array([1.0, 1.0, 1.0]), np.array([0.0, 0.0, 0.0])
    tensors = [leaf(backend, h) for h in (hx, hlo, hhi)]
    if backend.name == "array_api_strict":  # it refuses min > max
        with pytest.raises(ValueError, match=r"^clip: ValueError from the array library"):
            xp.clip(*tensors)
        return
    out, grads = run(lambda a, b, c: xp.clip(a, min=b, max=c), tensors, np.ones(3), backend)
    t_out, t_grads = torch_ref(torch.clamp, [hx, hlo, hhi], np.ones(3))
    close(out, t_out)
    for mine, ref in zip(grads, t_grads):
        close(mine, ref)


def test_where_picks_and_broadcasts(backend, rng):
    hc = np.array([[True], [False], [True]])
    h1, h2 = rng.standard_normal((1, 4)), rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    c = xpgrad.tensor(backend.asarray(hc))
    a, b = leaf(backend, h1), leaf(backend, h2)
    out, (_, ga, gb) = run(xp.where, [c, a, b], g, backend)
    t_out, (_, t_ga, t_gb) = torch_ref(torch.where, [hc, h1, h2], g)
    close(out, t_out)
    close(ga, t_ga)
    close(gb, t_gb)
    assert gradcheck(lambda p, q: xp.where(backend.asarray(hc), p, q), a.detach(), b.detach())


@pytest.mark.parametrize("side", ["x1", "x2"])
def test_where_python_scalar_branch(backend, side):
    hc, h = np.array([True, False, True]), np.array([1.0, 2.0, 3.0])
    c, x = backend.asarray(hc), leaf(backend, h)
    out = xp.where(c, x, 0.5) if side == "x1" else xp.where(c, 0.5, x)
    out.backward(backend.asarray(np.ones(3)))
    close(out, np.where(hc, h, 0.5) if side == "x1" else np.where(hc, 0.5, h))
    close(x.grad, hc.astype(float) if side == "x1" else (~hc).astype(float))


def test_where_nan_in_the_other_branch_as_in_torch(backend):
    # where(x > 0, log(x), 0): at x = 0 torch's gradient is nan (0 / 0 in log's backward).
    h = np.array([0.0, 1.0, 2.0])
    x = leaf(backend, h)
    out, (gx,) = run(lambda t: xp.where(t > 0, xp.log(t), 0.0), [x], np.ones(3), backend)
    _, (t_gx,) = torch_ref(lambda t: torch.where(t > 0, torch.log(t), 0.0), [h], np.ones(3))
    close(gx, t_gx)


# -- complex inputs -----------------------------------------------------------------

COMPLEX = [
    ("exp", torch.exp), ("expm1", torch.expm1), ("log", torch.log), ("log1p", torch.log1p),
    ("log2", torch.log2), ("log10", torch.log10), ("sqrt", torch.sqrt), ("square", torch.square),
    ("sin", torch.sin), ("cos", torch.cos), ("tan", torch.tan), ("sinh", torch.sinh),
    ("cosh", torch.cosh), ("tanh", torch.tanh), ("asin", torch.asin), ("acos", torch.acos),
    ("atan", torch.atan), ("asinh", torch.asinh), ("acosh", torch.acosh), ("atanh", torch.atanh),
    ("reciprocal", torch.reciprocal), ("abs", torch.abs), ("sign", torch.sgn),
    ("real", torch.real), ("imag", torch.imag), ("conj", torch.conj),
]


JAX_COMPLEX = ("log", "sqrt", "tan", "acosh", "abs", "sign", "real", "imag", "conj", "reciprocal")


@pytest.mark.parametrize(
    "backend, name, tfn", backend_cases(COMPLEX, [c[0] for c in COMPLEX], jax=JAX_COMPLEX), indirect=["backend"]
)
def test_complex_follows_torch_conjugate_convention(backend, rng, name, tfn):
    h = rng.uniform(0.3, 0.8, (5,)) + 1j * rng.uniform(0.2, 0.6, (5,))
    if name in ("abs", "sign"):
        h[0] = 0.0  # abs'(0) and sgn'(0) are 0
    real_out = name in ("abs", "real", "imag")
    g = rng.standard_normal(5) if real_out else rng.standard_normal(5) + 1j * rng.standard_normal(5)
    x = leaf(backend, h)
    out, (gx,) = run(getattr(xp, name), [x], g, backend)
    assert gx.dtype == x.data.dtype
    t_out, (t_gx,) = torch_ref(tfn, [h], g)
    close(out, t_out, "complex128")
    close(gx, t_gx, "complex128")


@pytest.mark.parametrize("name", ["maximum", "atan2", "logaddexp", "remainder"])
def test_real_only_functions_refuse_complex(name):
    z = np.array([1.0 + 1.0j])
    with pytest.raises(TypeError, match=rf"^{name}: x1 has dtype complex128; {name} is defined for real"):
        getattr(xp, name)(xpgrad.tensor(z), np.ones(1))
    with pytest.raises(TypeError, match=r"^clip: min has a complex scalar"):
        xp.clip(xpgrad.tensor(np.ones(1)), min=1j)


# -- integer inputs, the Tensor's operators, dask ---------------------------------------


@pytest.mark.parametrize("name", ["abs", "square", "sign", "negative", "exp", "sqrt"])
def test_unary_integer_input_has_values_and_no_gradient(backend, name):
    h = np.array([-2, 0, 3])
    # floating only there (cubed as array_api_strict)
    if backend.name in ("array_api_strict", "cubed") and name in ("exp", "sqrt"):
        with pytest.raises(TypeError, match=rf"^{name}: TypeError from the array library"):
            getattr(xp, name)(xpgrad.tensor(backend.asarray(h)))
        return
    out = getattr(xp, name)(xpgrad.tensor(backend.asarray(h)))
    assert not out.requires_grad
    with np.errstate(invalid="ignore"):
        ref = getattr(np, name)(h)
    close(out, ref, "float32")  # torch computes float32 from integers


@pytest.mark.parametrize("name", ["maximum", "remainder", "multiply", "copysign", "atan2"])
def test_binary_integer_operand_gets_no_gradient(backend, name):
    hi, hf = np.array([3, -1, 2]), np.array([0.5, -2.0, 2.5])
    x = leaf(backend, hf)
    # array_api_strict refuses to mix integers with floats; cubed's atan2 takes floats only
    if backend.name == "array_api_strict" or backend.name == "cubed" and name == "atan2":
        with pytest.raises(TypeError, match=r"^\w+: TypeError from the array library"):
            getattr(xp, name)(backend.asarray(hi), x)
        return
    out, (_, gx) = run(getattr(xp, name), [backend.asarray(hi), x], np.ones(3), backend)
    tfn = TORCH_BINARY[name]
    tb = torch.tensor(hf, requires_grad=True)
    t_out = tfn(torch.tensor(hi.astype(float)), tb)
    t_out.sum().backward()
    close(out, t_out.detach().numpy())
    close(gx, tb.grad.numpy())
    iout = getattr(xp, name)(xpgrad.tensor(backend.asarray(hi)), 2)
    assert not iout.requires_grad
    close(iout, tfn(torch.tensor(hi), torch.tensor(2)).numpy(), "float32")


def test_tensor_abs_and_mod_operators(backend, rng):
    h = rng.uniform(-3, 3, (2, 3))
    d = rng.uniform(0.5, 2.0, (2, 3))
    x, y = leaf(backend, h), leaf(backend, d)
    out = abs(x) + x % 1.5 + 4.0 % y
    out.backward(backend.asarray(np.ones((2, 3))))
    tx, ty = torch.tensor(h, requires_grad=True), torch.tensor(d, requires_grad=True)
    ref = torch.abs(tx) + tx % 1.5 + torch.remainder(torch.tensor(4.0, dtype=torch.float64), ty)
    ref.sum().backward()  # torch has no gradient for float % tensor: a 0-d tensor stands in
    close(out, ref.detach().numpy())
    close(x.grad, tx.grad.numpy())
    close(y.grad, ty.grad.numpy())
    ints = xpgrad.tensor(backend.asarray(np.array([7, -7])))
    ints %= 3
    assert host(ints).tolist() == [1, 2]


DASK_CASES = [(u[0], (u[1],), u[2]) for u in UNARY] + [(b[0], (b[1], b[2]), b[3]) for b in BINARY]


@pytest.mark.parametrize("name, domains, tfn", DASK_CASES, ids=[c[0] for c in DASK_CASES])
def test_dask(rng, name, domains, tfn):
    da = pytest.importorskip("dask.array")
    hs = [DOMAINS[d](rng, (4, 3)) for d in domains]
    g = rng.standard_normal((4, 3))
    tensors = [xpgrad.tensor(da.from_array(h, chunks=(2, 3)), requires_grad=True) for h in hs]
    out = getattr(xp, name)(*tensors)
    out.backward(da.from_array(g, chunks=(2, 3)))
    t_out, t_grads = torch_ref(tfn, hs, g)
    close(out.data.compute(), t_out)
    for t, ref in zip(tensors, t_grads):
        close(t.grad.compute(), ref)


def test_dask_clip_and_where(rng):
    da = pytest.importorskip("dask.array")
    hx, hlo = rng.uniform(-2, 2, (4, 3)), rng.uniform(-1, 0, (4, 1))
    x = xpgrad.tensor(da.from_array(hx, chunks=2), requires_grad=True)
    lo = xpgrad.tensor(da.from_array(hlo, chunks=2), requires_grad=True)
    out = xp.where(x > 1.0, x * 2.0, xp.clip(x, min=lo, max=1.5))
    out.backward(da.ones((4, 3), chunks=2))
    tx, tlo = torch.tensor(hx, requires_grad=True), torch.tensor(hlo, requires_grad=True)
    ref = torch.where(tx > 1.0, tx * 2.0, torch.clamp(tx, min=tlo, max=torch.tensor(1.5)))
    ref.sum().backward()
    close(out.data.compute(), ref.detach().numpy())
    close(x.grad.compute(), tx.grad.numpy())
    close(lo.grad.compute(), tlo.grad.numpy())


# -- errors --------------------------------------------------------------------------


def test_errors_name_the_op_and_the_argument(backend):
    x = xpgrad.tensor(backend.asarray(np.ones(3)))
    with pytest.raises(TypeError, match=r"^exp: x is a list"):
        xp.exp([1.0, 2.0])
    with pytest.raises(TypeError, match=r"^sqrt: x must be an array; got a Python float"):
        xp.sqrt(2.0)
    with pytest.raises(TypeError, match=r"^maximum: x1 is a str"):
        xp.maximum("a", x)
    with pytest.raises(TypeError, match=r"^clip: max is a str"):
        xp.clip(x, max="1")
    with pytest.raises(TypeError, match=r"^where: condition has dtype"):
        xp.where(x, x, 0.0)
    with pytest.raises(TypeError, match=r"^where: condition must be an array"):
        xp.where(True, x, 0.0)
    with pytest.raises(ValueError, match=r"^hypot: shapes \(3,\), \(2,\) do not broadcast"):
        xp.hypot(x, backend.asarray(np.ones(2)))
    with pytest.raises(ValueError, match=r"^clip: shapes \(3,\), \(2,\) do not broadcast"):
        xp.clip(x, min=backend.asarray(np.ones(2)))
    with pytest.raises(TypeError, match=r"^remainder: x2 has dtype \S*bool; remainder needs numbers"):
        xp.remainder(x, backend.asarray(np.array([True, False, True])))


def test_mixed_libraries_name_the_op():
    x = xpgrad.tensor(np.ones(3), requires_grad=True)
    other = torch.ones(3, dtype=torch.float64)
    for name in ("atan2", "hypot", "maximum", "minimum", "logaddexp", "copysign", "remainder"):
        with pytest.raises(TypeError, match=rf"^{name}: inputs come from different array libraries"):
            getattr(xp, name)(x, other)
    with pytest.raises(TypeError, match=r"^clip: inputs come from different array libraries"):
        xp.clip(x, min=other)
    with pytest.raises(TypeError, match=r"^where: inputs come from different array libraries"):
        xp.where(torch.ones(3, dtype=torch.bool), x, 0.0)


# A floating Tensor beside an integer or boolean array constant: the gradient
# computes with the constant, which must not wrap, overflow or refuse `-` in
# its own dtype (atan2's -x1 / (x1^2 + x2^2) with x1 an uint8 gave 204).
CONSTANTS = {
    "uint8": np.array([1, 5, 200], dtype=np.uint8),
    "int8": np.array([100, -3, 7], dtype=np.int8),
    "uint64": np.array([3, 2**40, 1], dtype=np.uint64),
    "bool": np.array([True, False, True]),
}
TORCH_OF = {"atan2": torch.atan2, "hypot": torch.hypot, "logaddexp": torch.logaddexp,
                "multiply": torch.mul, "divide": torch.div, "copysign": torch.copysign,
                "pow": torch.pow, "maximum": torch.maximum}


@pytest.mark.parametrize("const", list(CONSTANTS))
@pytest.mark.parametrize("name", list(TORCH_OF))
@pytest.mark.parametrize("side", ["first", "second"])
@pytest.mark.parametrize(  # array_api_strict refuses integers beside floats
    "backend", backend_params(("numpy", "torch", "jax")), indirect=True)
def test_a_gradient_beside_an_integer_or_boolean_constant_matches_torch(name, const, side, backend):
    c = CONSTANTS[const]
    if name == "pow" and const == "bool":
        pytest.skip("pow refuses booleans")
    if const == "uint64" and backend.name == "torch" and name in ("maximum",):
        pytest.skip("torch promotes no uint64 in maximum")
    xv = np.array([0.5, -2.0, 1.5]) if name != "pow" or side == "second" else np.array([0.5, 2.0, 1.5])
    if name == "pow" and side == "second":  # a constant base: positive, small exponents
        xv = np.array([0.5, -0.25, 1.5])
    x = xpgrad.tensor(backend.asarray(xv), requires_grad=True)
    k = xpgrad.tensor(backend.asarray(c))
    args = (k, x) if side == "first" else (x, k)
    getattr(xp, name)(*args).backward(backend.asarray(np.ones(3)))
    tx = torch.tensor(xv, requires_grad=True)
    tk = torch.tensor(c.astype(np.float64))
    TORCH_OF[name](*((tk, tx) if side == "first" else (tx, tk))).sum().backward()
    assert x.grad.dtype == x.data.dtype and x.grad.shape == x.shape
    np.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_complex_acosh_below_minus_one_with_a_negative_zero_imaginary_part(backend):
    # acosh' = 1 / (sqrt(z - 1) sqrt(z + 1)): -2 - 0j - 1 keeps the -0, -2 - 0j + 1
    # makes it +0, so the roots came from two sides of the cut and the gradient's sign
    # flipped on NumPy (-0.577 for 0.577, which torch and differences give)
    z = np.array([complex(-2.0, -0.0), complex(-3.0, -0.0), complex(-2.0, 0.0), 1.0 + 2.0j])
    x = xpgrad.tensor(backend.asarray(z), requires_grad=True)
    xp.sum(xp.real(xp.acosh(x))).backward()
    t = torch.tensor(z, requires_grad=True)
    torch.sum(torch.real(torch.acosh(t))).backward()
    np.testing.assert_allclose(host(x.grad), t.grad.numpy(), rtol=1e-12)


def test_complex_abs_second_derivative_at_zero_is_zero():
    # the first derivative x / |x| with 1 for |x| at 0 moved with x there: hvp gave v
    v = np.array([1.0 + 2.0j])
    h = xpgrad.hvp(lambda z: xp.sum(xp.abs(z)), np.array([0.0 + 0.0j]), v)
    np.testing.assert_array_equal(h, [0.0])


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_a_python_number_over_an_array_is_rounded_once(backend, dtype):
    # torch's 3.0 / t is reciprocal(t) * 3.0: a quarter of the results 1 ulp off, inf
    # where only 1 / t overflows (0.5 / 1e-5 in float16), NaN for 0 / a subnormal
    tiny = np.finfo(dtype).smallest_subnormal
    b = np.concatenate([[tiny, 1e-5 if dtype == "float16" else 1e-310],
                        np.random.default_rng(0).uniform(0.5, 1.5, 200)]).astype(dtype)
    x = xpgrad.tensor(backend.asarray(b), requires_grad=True)
    for a in (3.0, 0.5, 0.0):
        want = torch.div(a, torch.from_numpy(b))  # one correctly rounded division
        np.testing.assert_array_equal(host(xp.divide(a, x)), want.numpy())
        np.testing.assert_array_equal(host(a / x), want.numpy())
    xp.sum(xp.divide(0.0, x)).backward()  # -(G * out / b): -0 everywhere, not NaN
    assert not np.isnan(host(x.grad)).any() and (host(x.grad) == 0).all()


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch", "cubed")), indirect=True)
def test_complex_abs_gradient_at_a_subnormal_modulus(backend):
    # x / |x| as a complex division overflowed its 1 / |x|: NaN + NaN j at 5e-324
    z = np.array([5e-324 + 0j, 1e-310 + 1e-310j, -5e-324j, 3.0 - 4.0j])
    x = xpgrad.tensor(backend.asarray(z), requires_grad=True)
    xp.sum(xp.abs(x)).backward()
    r = math.sqrt(0.5)
    want = [1.0, r + r * 1j, -1j, 0.6 - 0.8j]
    np.testing.assert_allclose(host(x.grad), want, rtol=1e-12)  # 1e-310 holds 44 bits

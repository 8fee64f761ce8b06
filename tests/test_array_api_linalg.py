"""The linalg extension's decompositions and matrix functions in
``xpgrad.array_api.linalg``: values against the library's own linalg,
gradients against torch autograd on the same inputs and against finite
differences in float64.

Decompositions that read one triangle (cholesky, eigh) are fed a symmetric
matrix built from the input (x + x^T, x x^T + y + y^T), so that finite
differences and torch see the same function; eigenvectors enter only through
sign-invariant expressions (v * v).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xa
from tests.support import assert_allclose, backend_params, host
from xpgrad.testing import gradcheck

torch = pytest.importorskip("torch")
compat = pytest.importorskip("array_api_compat")
import array_api_compat.torch as ct  # noqa: E402 - after the importorskip

torch.set_num_threads(1)


def _mT(ns, x):
    return ns.matrix_transpose(x)


def _spd(ns, x, y):
    return x @ _mT(ns, x) + y + _mT(ns, y)


def _eye3(rng):
    return 2.0 * np.eye(3) + 0.1 * rng.standard_normal((3, 3))


def _eigh_mix(ns, x):
    w, v = ns.linalg.eigh(x + _mT(ns, x))
    return v * v + ns.expand_dims(w, axis=-2)


# (id, function of (ns, *arrays), input shapes or makers)
CASES = [
    ("diagonal", lambda ns, x: ns.linalg.diagonal(x), [(2, 3, 4)]),
    ("diagonal-offset", lambda ns, x: ns.linalg.diagonal(x, offset=1), [(2, 3, 4)]),
    ("diagonal-negative", lambda ns, x: ns.linalg.diagonal(x, offset=-2), [(4, 3)]),
    ("diagonal-outside", lambda ns, x: ns.linalg.diagonal(x, offset=5), [(2, 4, 3)]),
    ("cross", lambda ns, x, y: ns.linalg.cross(x, y), [(2, 3), (3,)]),
    ("cross-axis-broadcast", lambda ns, x, y: ns.linalg.cross(x, y, axis=-2), [(2, 3, 4), (1, 3, 1)]),
    ("matrix_power-3", lambda ns, x: ns.linalg.matrix_power(x, 3), [(2, 3, 3)]),
    ("matrix_power-5", lambda ns, x: ns.linalg.matrix_power(x, 5), [(3, 3)]),
    ("matrix_power-neg2", lambda ns, x: ns.linalg.matrix_power(x, -2), [_eye3]),
    ("slogdet", lambda ns, x: ns.linalg.slogdet(x)[1], [(2, 3, 3)]),
    ("cholesky", lambda ns, x, y: ns.linalg.cholesky(_spd(ns, x, y)), [(2, 3, 3), _eye3]),
    ("cholesky-upper", lambda ns, x, y: ns.linalg.cholesky(_spd(ns, x, y), upper=True), [(3, 3), _eye3]),
    ("eigvalsh", lambda ns, x: ns.linalg.eigvalsh(x + _mT(ns, x)), [(2, 4, 4)]),
    ("eigh", _eigh_mix, [(2, 4, 4)]),
    ("svdvals-wide", lambda ns, x: ns.linalg.svdvals(x), [(2, 3, 5)]),
    ("svdvals-tall", lambda ns, x: ns.linalg.svdvals(x), [(5, 3)]),
    ("matrix_norm-2", lambda ns, x: ns.linalg.matrix_norm(x, ord=2), [(2, 3, 4)]),
    ("matrix_norm-neg2-keepdims", lambda ns, x: ns.linalg.matrix_norm(x, ord=-2, keepdims=True), [(3, 4)]),
    ("matrix_norm-nuc", lambda ns, x: ns.linalg.matrix_norm(x, ord="nuc"), [(2, 4, 3)]),
]
# array_api_strict runs a subset (its linalg is NumPy's underneath)
STRICT = {"diagonal-negative", "cross-axis-broadcast", "matrix_power-neg2", "slogdet", "cholesky", "eigh",
          "svdvals-wide"}


def _hosts(spec, rng):
    return [s(rng) if callable(s) else rng.standard_normal(s) for s in spec]


def _params():
    for name in ("numpy", "torch", "array_api_strict"):
        for case in CASES:
            if name != "array_api_strict" or case[0] in STRICT:
                yield pytest.param(name, *case, id=f"{name}-{case[0]}")


@pytest.mark.parametrize("backend, case, fn, spec", list(_params()), indirect=["backend"])
def test_values_and_gradients(backend, rng, case, fn, spec):
    hosts = _hosts(spec, rng)
    natives = [backend.asarray(h) for h in hosts]
    tensors = [xpgrad.tensor(n, requires_grad=True) for n in natives]
    out = fn(xa, *tensors)
    own = fn(compat.array_namespace(*natives), *natives)
    assert tuple(out.shape) == tuple(own.shape)
    assert_allclose(out, host(own))

    upstream = rng.standard_normal(tuple(out.shape))
    out.backward(xpgrad.tensor(backend.asarray(upstream)))
    leaves = [torch.tensor(h, requires_grad=True) for h in hosts]
    fn(ct, *leaves).backward(torch.tensor(upstream))
    for t, leaf in zip(tensors, leaves):
        assert tuple(t.grad.shape) == tuple(t.shape) and t.grad.dtype == t.data.dtype
        assert_allclose(t.grad, leaf.grad.numpy())

    assert gradcheck(lambda *ts: fn(xa, *ts), *[xpgrad.tensor(n) for n in natives])


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_by_hand(backend):
    x = xpgrad.tensor(backend.asarray(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])), requires_grad=True)
    d = xa.linalg.diagonal(x, offset=1)
    assert_allclose(d, [2.0, 6.0])
    d.backward(xpgrad.tensor(backend.asarray(np.array([10.0, 20.0]))))
    assert_allclose(x.grad, [[0.0, 10.0, 0.0], [0.0, 0.0, 20.0]])

    # e_x cross e_y = e_z; d/da (a x b) . g = b x g: for b = e_y, g = e_z that is e_x
    a = xpgrad.tensor(backend.asarray(np.array([1.0, 0.0, 0.0])), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(np.array([0.0, 1.0, 0.0])), requires_grad=True)
    c = xa.linalg.cross(a, b)
    assert_allclose(c, [0.0, 0.0, 1.0])
    c.backward(xpgrad.tensor(backend.asarray(np.array([0.0, 0.0, 1.0]))))
    assert_allclose(a.grad, [1.0, 0.0, 0.0])
    assert_allclose(b.grad, [0.0, 1.0, 0.0])

    # diag(-2, 3): sign -1, log|det| = log 6, d log|det| = inv(x)^T = diag(-1/2, 1/3)
    m = xpgrad.tensor(backend.asarray(np.diag([-2.0, 3.0])), requires_grad=True)
    sign, logabs = xa.linalg.slogdet(m)
    assert_allclose(sign, -1.0)
    assert_allclose(logabs, math.log(6.0))
    assert not sign.requires_grad
    logabs.backward()
    assert_allclose(m.grad, np.diag([-0.5, 1.0 / 3.0]))

    # eigvalsh of diag(1, 4): the gradient of the larger eigenvalue is e_2 e_2^T
    s = xpgrad.tensor(backend.asarray(np.diag([1.0, 4.0])), requires_grad=True)
    w = xa.linalg.eigvalsh(s)
    assert_allclose(w, [1.0, 4.0])
    w.backward(xpgrad.tensor(backend.asarray(np.array([0.0, 1.0]))))
    assert_allclose(s.grad, [[0.0, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_matrix_power_zero_is_the_identity_with_zero_gradient(backend):
    x = xpgrad.tensor(backend.asarray(np.array([[[1.0, np.nan], [3.0, 4.0]]] * 2)), requires_grad=True)
    out = xa.linalg.matrix_power(x, 0)
    np.testing.assert_array_equal(host(out), np.broadcast_to(np.eye(2), (2, 2, 2)))
    xa.sum(out).backward()
    np.testing.assert_array_equal(host(x.grad), np.zeros((2, 2, 2)))


def test_matrix_rank_and_no_gradient_results(backend):
    x = xpgrad.tensor(backend.asarray(np.array([[1.0, 2.0], [2.0, 4.0]])), requires_grad=True)
    r = xa.linalg.matrix_rank(x)
    assert int(host(r)) == 1 and not r.requires_grad
    if backend.name == "cubed":  # cubed has no linalg.eigh
        with pytest.raises(TypeError, match="^eigh: the array library cubed has no linalg.eigh"):
            xa.linalg.eigh(xpgrad.tensor(backend.asarray(np.diag([3.0, 1.0]))))
        return
    e = xa.linalg.eigh(xpgrad.tensor(backend.asarray(np.diag([3.0, 1.0]))))
    assert_allclose(e.eigenvalues, [1.0, 3.0])
    assert tuple(e.eigenvectors.shape) == (2, 2)


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_zero_size_batch(backend):
    x = xpgrad.tensor(backend.asarray(np.zeros((0, 3, 3))), requires_grad=True)
    out = xa.sum(xa.linalg.diagonal(x)) + xa.sum(xa.linalg.matrix_power(x, 2))
    out.backward()
    assert tuple(x.grad.shape) == (0, 3, 3)


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
@pytest.mark.parametrize("shape", [(0, 0), (3, 0), (0, 3), (2, 0, 0)])
@pytest.mark.parametrize("ord", [1, 2, math.inf, -1, -2, -math.inf])
def test_matrix_norm_of_empty_matrices(backend, shape, ord):
    # The largest of no column sums, row sums or singular values is 0, as in
    # NumPy and torch; matrix_norm raised "max: ... has no elements" instead.
    # The smallest of none is undefined: NumPy raises, and so does xpgrad,
    # naming matrix_norm
    x = xpgrad.tensor(backend.asarray(np.zeros(shape)), requires_grad=True)
    try:
        want = np.linalg.matrix_norm(np.zeros(shape), ord=ord)
    except ValueError:
        with pytest.raises(ValueError, match=r"matrix_norm: ord=-.* x has none"):
            xa.linalg.matrix_norm(x, ord=ord)
        return
    out = xa.linalg.matrix_norm(x, ord=ord)
    np.testing.assert_array_equal(host(out), want)
    xa.sum(out).backward()
    assert tuple(x.grad.shape) == shape and not host(x.grad).any()


def test_nan_propagates_to_the_gradient():
    x = xpgrad.tensor(np.array([[1.0, np.nan], [0.5, 2.0]]), requires_grad=True)
    xa.sum(xa.linalg.matrix_power(x, 2)).backward()
    assert np.isnan(x.grad).any()
    y = xpgrad.tensor(np.array([[1.0, np.nan], [0.5, 2.0]]), requires_grad=True)
    d = xa.linalg.diagonal(y)
    assert_allclose(d, [1.0, 2.0])
    xa.sum(d).backward()
    np.testing.assert_array_equal(y.grad, np.eye(2))


@pytest.mark.parametrize("fn", [
    lambda ns, x: ns.linalg.svdvals(x),
    lambda ns, x: ns.linalg.matrix_norm(x, ord="nuc"),
    lambda ns, x: ns.linalg.matrix_norm(x, ord=2),
    lambda ns, x: ns.linalg.matrix_norm(x, ord=-2, keepdims=True),
], ids=["svdvals", "nuc", "2", "-2"])
def test_singular_values_of_complex_x_get_torchs_gradient(fn, rng):
    # svdvals refused a complex x that requires grad (and matrix_norm's message
    # named svdvals); S goes through svd's rule, whose complex gradient is torch's
    a = rng.standard_normal((2, 3, 4)) + 1j * rng.standard_normal((2, 3, 4))
    x = xpgrad.tensor(a, requires_grad=True)
    out = fn(xa, x)
    w = rng.standard_normal(tuple(out.shape))
    xa.sum(out * w).backward()
    t = torch.tensor(a, requires_grad=True)
    tout = fn(torch, t)
    (tout * torch.tensor(w)).sum().backward()
    assert_allclose(out, tout.detach().numpy())
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_complex_input_computes_without_gradient_and_refuses_grad():
    c = np.array([[2.0, 1j], [-1j, 3.0]])
    w = xa.linalg.eigvalsh(xpgrad.tensor(c))
    assert_allclose(w, np.linalg.eigvalsh(c))
    assert not w.requires_grad
    for name in ("eigh", "eigvalsh", "cholesky", "slogdet"):  # svdvals: see below
        with pytest.raises(TypeError, match=rf"^{name}: x is complex .* requires grad"):
            getattr(xa.linalg, name)(xpgrad.tensor(c, requires_grad=True))
    # the linear ones differentiate complex input: torch's conjugates
    a, b = np.array([1.0 + 2j, 0.5, -1j]), np.array([2.0, 1j, 1.0 - 1j])
    ta, tb = xpgrad.tensor(a, requires_grad=True), xpgrad.tensor(b, requires_grad=True)
    g = np.array([1.0 - 1j, 2.0, 0.5j])
    xa.linalg.cross(ta, tb).backward(xpgrad.tensor(g))
    la, lb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    torch.linalg.cross(la, lb).backward(torch.tensor(g))
    np.testing.assert_allclose(host(ta.grad), la.grad.numpy())
    np.testing.assert_allclose(host(tb.grad), lb.grad.numpy())


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch", "jax")), indirect=True)
@pytest.mark.parametrize("sa, sb, axis", [((3,), (3, 3), 0), ((3,), (3, 3), -2), ((3,), (3, 3), 1),
                                          ((4, 3), (2, 1, 3), 2), ((3, 4), (2, 3, 4), 1)])
def test_cross_reads_its_axis_on_the_broadcast_shape(backend, sa, sb, axis):
    # NumPy and JAX read a non-negative axis on each input's own axes: for a (3,) and a
    # (3, 3), axis 0 took a's vector as a column of the value (45 where torch gives 27),
    # while the gradient read the broadcast shape's: not the value's ([27, 0, 0] where
    # differences of the value gave [0, 36, -9])
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    ta = xpgrad.tensor(backend.asarray(a), requires_grad=True)
    tb = xpgrad.tensor(backend.asarray(b), requires_grad=True)
    out = xa.linalg.cross(ta, tb, axis=axis)
    la, lb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    want = torch.linalg.cross(*torch.broadcast_tensors(la, lb), dim=axis)  # torch's own
    g = rng.normal(size=tuple(want.shape))
    xa.sum(out * backend.asarray(g)).backward()
    (want * torch.tensor(g)).sum().backward()
    tol = 1e-5 if backend.name == "jax" else 1e-12  # JAX computes in float32 here
    np.testing.assert_allclose(host(out), want.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(host(ta.grad), la.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(host(tb.grad), lb.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "call, kind, match",
    [
        (lambda: xa.linalg.diagonal(xpgrad.tensor(np.ones(3))), ValueError, r"^diagonal: x must have at least 2"),
        (lambda: xa.linalg.diagonal(xpgrad.tensor(np.ones((2, 2))), offset=1.5), TypeError, r"^diagonal: offset"),
        (lambda: xa.linalg.cross(xpgrad.tensor(np.ones(4)), xpgrad.tensor(np.ones(4))), ValueError, r"^cross: axis -1 .*size 3"),
        (lambda: xa.linalg.cross(xpgrad.tensor(np.ones((2, 3))), xpgrad.tensor(np.ones((4, 3)))), ValueError, r"^cross: "),
        (lambda: xa.linalg.matrix_power(xpgrad.tensor(np.ones((2, 3))), 2), ValueError, r"^matrix_power: x must be"),
        (lambda: xa.linalg.matrix_power(xpgrad.tensor(np.eye(2)), 1.5), TypeError, r"^matrix_power: n must be an int"),
        (lambda: xa.linalg.cholesky(xpgrad.tensor(np.ones((2, 3)))), ValueError, r"^cholesky: x must be"),
        (lambda: xa.linalg.cholesky(xpgrad.tensor(np.eye(2)), upper=1), TypeError, r"^cholesky: upper"),
        (lambda: xa.linalg.eigh(xpgrad.tensor(np.eye(2, dtype=np.int64))), TypeError, r"^eigh: x has dtype"),
        (lambda: xa.linalg.svdvals(xpgrad.tensor(np.ones(3))), ValueError, r"^svdvals: x must have at least 2"),
        (lambda: xa.linalg.cholesky(xpgrad.tensor(-np.eye(2))), ValueError, r"^cholesky: "),
    ],
    ids=["diag-1d", "diag-offset", "cross-size", "cross-broadcast", "power-shape", "power-n",
         "chol-shape", "chol-upper", "eigh-int", "svdvals-1d", "chol-not-pd"],
)
def test_errors_name_the_op(call, kind, match):
    with pytest.raises(kind, match=match):
        call()


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch", "jax", "array_api_strict")),
                         indirect=True)
def test_matrix_rank_reads_rtol_relative_to_the_largest_singular_value(backend):
    # JAX's compares S with rtol itself: diag(10, 6, 1) at rtol 0.5 was rank 3 for 2
    m = np.diag([10.0, 6.0, 1.0])
    assert int(host(xa.linalg.matrix_rank(xpgrad.tensor(backend.asarray(m)), rtol=0.5))) == 2
    both = xpgrad.tensor(backend.asarray(np.stack([m, m])))
    got = xa.linalg.matrix_rank(both, rtol=backend.asarray(np.array([0.5, 0.05])))
    np.testing.assert_array_equal(host(got), [2, 3])
    # no rows or no columns: rank 0, as torch's (NumPy's and JAX's took the max of nothing)
    for shape, want in (((0, 3), 0), ((0, 0), 0), ((2, 3, 0), [0, 0])):
        np.testing.assert_array_equal(
            host(xa.linalg.matrix_rank(xpgrad.tensor(backend.asarray(np.zeros(shape))))), want)


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch", "jax")), indirect=True)
@pytest.mark.parametrize("name", ["inv", "qr", "cholesky", "svdvals", "solve", "pinv", "matrix_rank"])
def test_half_precision_decompositions_are_refused_alike(backend, name):
    # NumPy's refusal became a TypeError, torch's a ValueError and JAX's a ValueError
    # from a NotImplementedError, none saying what to do
    x = xpgrad.tensor(backend.asarray(2.0 * np.eye(2), "float16"))
    call = getattr(xa.linalg, name)
    arg = "x1" if name == "solve" else "x"
    with pytest.raises(TypeError, match=rf"^{name}: {arg} has dtype .*float16.*cast it to float32"):
        call(x, x) if name == "solve" else call(x)

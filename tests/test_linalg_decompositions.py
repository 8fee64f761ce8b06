"""``linalg.svd``, ``linalg.qr`` and ``linalg.pinv``, and ``det`` / ``slogdet``
at singular matrices.

Values are checked against the library's own decomposition (x rebuilt from
the factors, orthonormal factors, the standard's shapes and named tuples).
Gradients are checked against torch autograd on the same inputs and against
central differences in float64, for losses that do not depend on how the
decomposition's non-unique parts were chosen (signs of singular vectors and
of Q's columns): functions of S, of U S Vh products, of |U|, |Vh|, |Q|, |R|.
Second derivatives (``xpgrad.hvp``) are checked against torch's double
backward and central differences of the first derivative.

The determinant's gradient at a singular matrix is checked against cofactors
computed from minors, not against torch: torch 2.13 returns 0 at some
singular matrices (diag(2, 0, 3), whose cofactor matrix is diag(0, 6, 0)).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xa
from tests.support import backend_params, host
from xpgrad import ops
from xpgrad.testing import gradcheck

torch = pytest.importorskip("torch")
pytest.importorskip("array_api_compat")
import array_api_compat.torch as ct  # noqa: E402 - after the importorskip

torch.set_num_threads(1)

# JAX compiles each op for each shape on first use: it gets a test of its own, below
BACKENDS = backend_params(("numpy", "array_api_strict", "torch"))


def _weights(shape, seed=1):
    return np.random.default_rng(seed).uniform(0.5, 1.5, shape)


def _w(ns, like, shape, seed=1):
    """Fixed weights in the namespace ``ns`` (xpgrad.array_api or torch's), in
    the library of the Tensor ``like``."""
    w = _weights(tuple(shape), seed)
    if ns is ct:
        return torch.tensor(w)
    return xa.asarray(xpgrad.convert(w, like=like.data if isinstance(like, xpgrad.Tensor) else like))


def _well_conditioned(rng, shape):
    """A random matrix with singular values in [1, 2], well apart (a stable
    pinv, distinct singular values)."""
    *batch, m, n = shape
    k = min(m, n)
    a = rng.standard_normal((*batch, m, m))
    b = rng.standard_normal((*batch, n, n))
    u, v = np.linalg.qr(a)[0], np.linalg.qr(b)[0]
    s = np.linspace(2.0, 1.0, k) if k else np.zeros(0)
    mid = np.zeros((*batch, m, n))
    mid[..., range(k), range(k)] = s
    return u @ mid @ v


# -- the losses: gauge-invariant functions of the factors ------------------------


def _svd_values(ns, x):
    return ns.linalg.svd(x, full_matrices=False).S * _w(ns, x, x.shape[:-2] + (min(x.shape[-2:]),))


def _svd_rebuilt(ns, x):
    u, s, vh = ns.linalg.svd(x, full_matrices=False)
    return ((u * ns.expand_dims(s, axis=-2)) @ vh) * _w(ns, x, x.shape)


def _svd_abs(ns, x, full=False):
    u, s, vh = ns.linalg.svd(x, full_matrices=full)
    k = s.shape[-1]
    u, vh = u[..., :k], vh[..., :k, :]  # with full_matrices, only the first k are defined
    return (ns.sum(ns.abs(u) ** 3 * _w(ns, x, u.shape), axis=-2)
            + ns.sum(ns.abs(vh) ** 3 * _w(ns, x, vh.shape, 2), axis=-1) + s)


def _svd_projector(ns, x):
    u = ns.linalg.svd(x, full_matrices=False).U
    return (u @ ns.matrix_transpose(u)) * _w(ns, x, x.shape[:-1] + (x.shape[-2],))


def _qr_abs(ns, x, mode="reduced"):
    # torch refuses mode="complete" with M > N; its first N columns are reduced Q
    q, r = ns.linalg.qr(x, mode="reduced" if ns is ct else mode)
    k = min(x.shape[-2:])
    q, r = q[..., :k], r[..., :k, :]
    return ns.sum(ns.abs(q) ** 3 * _w(ns, x, q.shape)) + ns.sum(ns.abs(r) ** 3 * _w(ns, x, r.shape, 2))


def _pinv_cubed(ns, x, rtol=None):
    p = ns.linalg.pinv(x) if rtol is None else ns.linalg.pinv(x, rtol=rtol)
    return p ** 3 * _w(ns, x, p.shape)


CASES = [
    ("svd-S-wide", _svd_values, (3, 5)),
    ("svd-S-batch-tall", _svd_values, (2, 5, 3)),
    ("svd-rebuilt-wide", _svd_rebuilt, (3, 4)),
    ("svd-rebuilt-batch-tall", _svd_rebuilt, (2, 4, 3)),
    ("svd-abs-tall", _svd_abs, (5, 3)),
    ("svd-abs-batch-wide", _svd_abs, (2, 2, 4)),
    ("svd-abs-square", _svd_abs, (4, 4)),
    ("svd-full-abs-tall", lambda ns, x: _svd_abs(ns, x, full=True), (4, 2)),
    ("svd-full-abs-wide", lambda ns, x: _svd_abs(ns, x, full=True), (2, 4)),
    ("svd-projector-tall", _svd_projector, (5, 2)),
    ("qr-tall", _qr_abs, (5, 3)),
    ("qr-wide", _qr_abs, (3, 5)),
    ("qr-batch-square", _qr_abs, (2, 3, 3)),
    ("qr-complete-tall", lambda ns, x: _qr_abs(ns, x, "complete"), (4, 2)),
    ("pinv-tall", _pinv_cubed, (4, 3)),
    ("pinv-wide", _pinv_cubed, (3, 5)),
    ("pinv-batch", _pinv_cubed, (2, 3, 3)),
]
BY_ID = {c[0]: c for c in CASES}
# A subset on the other libraries' data (the rules' code is the same Array API code)
OTHER = ["svd-rebuilt-batch-tall", "svd-abs-batch-wide", "svd-full-abs-tall", "qr-wide",
         "qr-complete-tall", "pinv-batch"]


def _input(shape, seed=0):
    return _well_conditioned(np.random.default_rng(seed), shape)


def _torch_grad(fn, x, upstream=None):
    leaf = torch.tensor(x, requires_grad=True)
    out = fn(ct, leaf)
    out.backward(torch.ones_like(out) if upstream is None else torch.tensor(upstream))
    return leaf.grad.numpy()


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_gradient_matches_torch_and_finite_differences(case_id):
    _, fn, shape = BY_ID[case_id]
    x = _input(shape)
    t = xpgrad.tensor(x, requires_grad=True)
    out = fn(xa, t)
    upstream = np.random.default_rng(3).standard_normal(tuple(out.shape))
    out.backward(xpgrad.tensor(upstream))
    assert t.grad.shape == x.shape and t.grad.dtype == x.dtype
    np.testing.assert_allclose(t.grad, _torch_grad(fn, x, upstream), rtol=1e-9, atol=1e-11)
    assert gradcheck(lambda y: xa.sum(fn(xa, y) * xa.asarray(upstream)), x)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("case_id", OTHER)
def test_gradient_on_each_library(backend, case_id):
    _, fn, shape = BY_ID[case_id]
    x = _input(shape)
    t = xpgrad.tensor(backend.asarray(x), requires_grad=True)
    xa.sum(fn(xa, t)).backward()
    assert type(t.grad) is type(t.data) and tuple(t.grad.shape) == shape
    np.testing.assert_allclose(host(t.grad), _torch_grad(fn, x), rtol=1e-9, atol=1e-11)


# -- values -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 3, 3), (2, 2, 4)], ids=str)
@pytest.mark.parametrize("full", [True, False])
def test_svd_rebuilds_x(backend, shape, full):
    x = np.random.default_rng(1).standard_normal(shape)
    res = xa.linalg.svd(xpgrad.tensor(backend.asarray(x), requires_grad=True), full_matrices=full)
    assert type(res).__name__ == "SVDResult" and res._fields == ("U", "S", "Vh")
    u, s, vh = (host(r) for r in res)
    *batch, m, n = shape
    k = min(m, n)
    assert u.shape == (*batch, m, m if full else k) and s.shape == (*batch, k)
    assert vh.shape == (*batch, n if full else k, n)
    np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], x, atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, np.broadcast_to(np.eye(u.shape[-1]), batch + [u.shape[-1]] * 2), atol=1e-12)
    np.testing.assert_allclose(s, np.linalg.svd(x, compute_uv=False), rtol=1e-12)
    assert np.all(s[..., :-1] >= s[..., 1:])
    assert all(r.requires_grad for r in res)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 3, 3), (2, 4, 2)], ids=str)
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr_rebuilds_x(backend, shape, mode):
    x = np.random.default_rng(2).standard_normal(shape)
    res = xa.linalg.qr(xpgrad.tensor(backend.asarray(x), requires_grad=True), mode=mode)
    assert type(res).__name__ == "QRResult" and res._fields == ("Q", "R")
    q, r = host(res.Q), host(res.R)
    *batch, m, n = shape
    k = m if mode == "complete" else min(m, n)
    assert q.shape == (*batch, m, k) and r.shape == (*batch, k, n)
    np.testing.assert_allclose(q @ r, x, atol=1e-12)
    np.testing.assert_array_equal(r, np.triu(r))
    np.testing.assert_allclose(np.swapaxes(q, -1, -2) @ q, np.broadcast_to(np.eye(k), batch + [k, k]), atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 3, 3)], ids=str)
def test_pinv_is_the_libraries_pinv(backend, shape):
    x = np.random.default_rng(3).standard_normal(shape)
    p = host(xa.linalg.pinv(xpgrad.tensor(backend.asarray(x), requires_grad=True)))
    np.testing.assert_allclose(p, np.linalg.pinv(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x @ p @ x, x, atol=1e-12)  # Penrose's first condition
    np.testing.assert_allclose(p @ x @ p, p, atol=1e-12)


def test_pinv_rtol_cuts_small_singular_values_and_its_gradient_is_torchs():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 2)) @ rng.standard_normal((2, 5))  # rank 2
    x = x + 1e-9 * rng.standard_normal(x.shape)  # two singular values ~1e-9: cut by rtol
    for rtol in (1e-6, np.array(1e-6)):
        t = xpgrad.tensor(x, requires_grad=True)
        p = xa.linalg.pinv(t, rtol=rtol if isinstance(rtol, float) else xpgrad.tensor(rtol))
        np.testing.assert_allclose(p.data, np.linalg.pinv(x, rtol=1e-6), atol=1e-10)
        assert np.linalg.matrix_rank(p.data, tol=1e-6) == 2
        xa.sum(p ** 3 * xa.asarray(_weights(p.shape))).backward()
        ref = _torch_grad(lambda ns, y: _pinv_cubed(ns, y, 1e-6), x)
        np.testing.assert_allclose(t.grad, ref, rtol=1e-8, atol=1e-10)
    # a batch with one rtol per matrix
    xb = np.stack([x, _input((4, 5))])
    pb = xa.linalg.pinv(xpgrad.tensor(xb), rtol=np.array([1e-6, 0.0]))
    np.testing.assert_allclose(pb.data[1], np.linalg.pinv(xb[1]), atol=1e-12)


@pytest.mark.parametrize("shape", [(0, 3, 4), (3, 0), (0, 4), (2, 0, 0)], ids=str)
def test_zero_size(shape):
    x = np.zeros(shape)
    t = xpgrad.tensor(x, requires_grad=True)
    u, s, vh = xa.linalg.svd(t, full_matrices=False)
    q, r = xa.linalg.qr(t)
    p = xa.linalg.pinv(t)
    assert p.shape == shape[:-2] + (shape[-1], shape[-2])
    loss = xa.sum(u) + xa.sum(s) + xa.sum(vh) + xa.sum(q) + xa.sum(r) + xa.sum(p)
    loss.backward()
    assert t.grad.shape == shape
    # full matrices: square U and Vh, even for an empty matrix
    u, s, vh = xa.linalg.svd(xpgrad.tensor(x, requires_grad=True), full_matrices=True)
    assert u.shape == shape[:-2] + (shape[-2],) * 2 and vh.shape == shape[:-2] + (shape[-1],) * 2


# -- complex inputs: torch's conventions -----------------------------------------------


def _complex_svd(ns, z):
    u, s, vh = ns.linalg.svd(z, full_matrices=False)
    rebuilt = (u * ns.expand_dims(s, axis=-2)) @ vh
    return (ns.sum(ns.real(rebuilt * ns.conj(rebuilt) * rebuilt))
            + ns.sum(ns.abs(u) ** 3) + ns.sum(ns.abs(vh) ** 3) + ns.sum(s ** 3))


def _complex_qr(ns, z):
    q, r = ns.linalg.qr(z)
    return ns.sum(ns.real(q) ** 3) + ns.sum(ns.imag(r) ** 3) + ns.sum(ns.abs(r))


def _complex_pinv(ns, z):
    p = ns.linalg.pinv(z)
    return ns.sum(ns.real(p) ** 3 + ns.imag(p) * ns.real(p))


@pytest.mark.parametrize("fn", [_complex_svd, _complex_qr, _complex_pinv], ids=["svd", "qr", "pinv"])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5)], ids=str)
def test_complex_gradient_matches_torch(fn, shape):
    rng = np.random.default_rng(5)
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    t = xpgrad.tensor(z, requires_grad=True)
    fn(xa, t).backward()
    assert t.grad.dtype == np.complex128
    leaf = torch.tensor(z, requires_grad=True)
    fn(ct, leaf).backward()
    np.testing.assert_allclose(t.grad, leaf.grad.numpy(), rtol=1e-9, atol=1e-11)


# -- second derivatives -----------------------------------------------------------------


HIGHER = ["svd-S-batch-tall", "svd-rebuilt-wide", "svd-abs-tall", "svd-abs-batch-wide",
          "svd-full-abs-wide", "qr-tall", "qr-wide", "qr-complete-tall", "pinv-tall", "pinv-wide"]


def _loss(fn):
    """``sum(fn(ns, t))`` in the namespace of its argument (xpgrad's, in the transforms)."""

    def loss(t):
        ns = t.__array_namespace__()
        return ns.sum(fn(ns, t))

    return loss


def _torch_hvp(fn, x, v):
    leaf = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(fn(ct, leaf).sum(), leaf, create_graph=True)
    (h,) = torch.autograd.grad((g * torch.tensor(v)).sum(), leaf)
    return h.numpy()


@pytest.mark.parametrize("case_id", HIGHER)
def test_hvp_matches_torch_and_finite_differences(case_id):
    _, fn, shape = BY_ID[case_id]
    x = _input(shape)
    v = np.random.default_rng(7).uniform(-1, 1, shape)
    h = xpgrad.hvp(_loss(fn), x, v)
    assert h.shape == x.shape and h.dtype == x.dtype
    np.testing.assert_allclose(h, _torch_hvp(fn, x, v), rtol=1e-9, atol=1e-10)
    grad = xpgrad.grad(_loss(fn))
    eps = 1e-6
    fd = (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(h, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", backend_params(("array_api_strict", "torch")), indirect=True)
def test_hvp_on_each_library(backend):
    _, fn, shape = BY_ID["svd-abs-batch-wide"]
    x, v = _input(shape), np.random.default_rng(8).uniform(-1, 1, shape)

    def loss(t):
        return _loss(fn)(t) + _loss(_qr_abs)(t) + _loss(_pinv_cubed)(t)

    h = xpgrad.hvp(loss, backend.asarray(x), backend.asarray(v))
    np.testing.assert_allclose(host(h), xpgrad.hvp(loss, x, v), rtol=1e-9, atol=1e-9)


def test_third_derivative_of_svd_values_matches_torch():
    x = _input((3, 4))
    v = np.random.default_rng(9).uniform(-1, 1, x.shape)
    loss = _loss(_svd_values)

    def curvature(y):
        ns = y.__array_namespace__()
        return ns.sum(xpgrad.hvp(loss, y, v) * ns.asarray(v))

    third = xpgrad.grad(curvature)(x)
    leaf = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(_svd_values(ct, leaf).sum(), leaf, create_graph=True)
    (h,) = torch.autograd.grad((g * torch.tensor(v)).sum(), leaf, create_graph=True)
    (ref,) = torch.autograd.grad((h * torch.tensor(v)).sum(), leaf)
    np.testing.assert_allclose(third, ref.numpy(), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("backend", backend_params(("jax",)), indirect=True)
def test_jax_values_gradients_and_hvp(backend):
    x = _input((3, 2))
    jx = backend.asarray(x)
    u, s, vh = (host(r) for r in xa.linalg.svd(xpgrad.tensor(jx)))
    np.testing.assert_allclose((u[:, :2] * s) @ vh, x, atol=1e-12)
    q, r = (host(f) for f in xa.linalg.qr(xpgrad.tensor(jx), mode="complete"))
    assert q.shape == (3, 3) and r.shape == (3, 2)
    np.testing.assert_allclose(q @ r, x, atol=1e-12)
    np.testing.assert_allclose(host(xa.linalg.pinv(xpgrad.tensor(jx))), np.linalg.pinv(x), atol=1e-12)

    # (JAX compiles every op on first use: one second derivative, through svd's
    # backward on Tensors, and first derivatives of qr and pinv)
    v = np.random.default_rng(8).uniform(-1, 1, x.shape)
    h = xpgrad.hvp(_loss(_svd_values), jx, backend.asarray(v))
    assert type(h) is type(jx)
    np.testing.assert_allclose(host(h), xpgrad.hvp(_loss(_svd_values), x, v), rtol=1e-9, atol=1e-9)

    def loss(t):
        return _loss(_qr_abs)(t) + _loss(_pinv_cubed)(t)

    g = xpgrad.grad(loss)(jx)
    np.testing.assert_allclose(host(g), xpgrad.grad(loss)(x), rtol=1e-10, atol=1e-12)
    a = xpgrad.tensor(backend.asarray(np.diag([2.0, 0.0, 3.0])), requires_grad=True)
    xa.linalg.det(a).backward()
    np.testing.assert_allclose(host(a.grad), np.diag([0.0, 6.0, 0.0]), atol=1e-12)


# -- where the factors are not unique ---------------------------------------------------


def _svd_grad_of(x, loss, full=False):
    t = xpgrad.tensor(x, requires_grad=True)
    loss(*xa.linalg.svd(t, full_matrices=full)).backward()
    return t.grad


REPEATED = np.diag([3.0, 2.0, 2.0])  # 2 is a repeated singular value: U[:, 1:], V[:, 1:] any rotation


def test_repeated_singular_values_give_the_gradients_that_exist():
    # S alone (the same weight on the repeated pair: smooth), and the vectors of
    # the distinct singular value 3
    g = _svd_grad_of(REPEATED, lambda u, s, vh: xa.sum(s * xa.asarray([1.0, 2.0, 2.0])))
    np.testing.assert_array_equal(g, np.diag([1.0, 2.0, 2.0]))
    def first(y):  # functions of the first singular triplet, sign-invariant
        u, s, vh = xa.linalg.svd(y)
        pair = xa.linalg.outer(u[:, 0], vh[0, :]) * s[0]
        return xa.sum(xa.abs(u[:, 0]) ** 3) + xa.sum(pair * xa.asarray(_weights((3, 3))))

    assert gradcheck(first, REPEATED)
    assert gradcheck(lambda y: xa.sum(xa.linalg.svdvals(y) * xa.asarray([1.0, 2.0, 2.0])), REPEATED)
    # the nuclear norm at a repeated value: the gradient U Vh, and its Hessian, exist
    assert gradcheck(lambda y: xa.linalg.matrix_norm(y, ord="nuc"), REPEATED + np.diag([0, 0, 1.0]))


@pytest.mark.parametrize(
    "x, loss",
    [
        (REPEATED, lambda u, s, vh: xa.sum(u * xa.asarray(np.arange(9.0).reshape(3, 3)))),
        # U S Vh: it is x itself, but the derivative through the vectors is 0/0 here
        (REPEATED, lambda u, s, vh: xa.sum((u * s) @ vh * xa.asarray(np.arange(9.0).reshape(3, 3)))),
        # repeated to rounding (an orthogonal matrix times 2: all singular values 2)
        (2 * np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))[0],
         lambda u, s, vh: xa.sum(xa.abs(u) ** 3)),
    ],
    ids=["exact-U", "exact-rebuilt", "rounding"],
)
def test_repeated_singular_values_reached_by_the_loss_raise(x, loss):
    with pytest.raises(ValueError, match=r"^svd\.backward: x has a repeated singular value"):
        _svd_grad_of(x, loss)


def test_zero_singular_values():
    rng = np.random.default_rng(10)
    x = np.outer(rng.standard_normal(4), rng.standard_normal(3))  # rank 1: two zero values
    # the rebuilt x: the vectors of the zero values get no gradient, the result is exact
    w = _weights((4, 3))
    g = _svd_grad_of(x, lambda u, s, vh: xa.sum((u * s) @ vh * xa.asarray(w)))
    np.testing.assert_allclose(g, w, atol=1e-12)
    with pytest.raises(ValueError, match=r"^svd\.backward: x has a zero singular value"):
        _svd_grad_of(x, lambda u, s, vh: xa.sum(u ** 3))


def test_complex_phase_dependent_loss_raises():
    rng = np.random.default_rng(11)
    z = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    with pytest.raises(ValueError, match=r"^svd\.backward: the loss depends on the phase"):
        _svd_grad_of(z, lambda u, s, vh: xa.sum(xa.real(u)))


def test_full_matrices_extra_columns_raise_and_the_first_ones_do_not():
    x = _input((4, 2))
    with pytest.raises(ValueError, match=r"^svd\.backward: .*U's columns past .* full_matrices=True"):
        _svd_grad_of(x, lambda u, s, vh: xa.sum(u ** 3), full=True)
    wide = _input((2, 4))
    with pytest.raises(ValueError, match=r"^svd\.backward: .*Vh's rows past .* full_matrices=True"):
        _svd_grad_of(wide, lambda u, s, vh: xa.sum(vh[3, :] ** 3), full=True)
    g = _svd_grad_of(x, lambda u, s, vh: xa.sum(xa.abs(u[:, :2]) ** 3), full=True)
    np.testing.assert_allclose(g, _svd_grad_of(x, lambda u, s, vh: xa.sum(xa.abs(u) ** 3)))
    t = xpgrad.tensor(x, requires_grad=True)
    with pytest.raises(ValueError, match=r"^qr\.backward: .*Q's columns past .*mode='complete'"):
        xa.sum(xa.linalg.qr(t, mode="complete").Q ** 3).backward()


def test_qr_of_a_rank_deficient_matrix_raises():
    x = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    t = xpgrad.tensor(x, requires_grad=True)
    with pytest.raises(ValueError, match=r"^qr\.backward: R is singular"):
        xa.sum(xa.linalg.qr(t).Q ** 3).backward()


def test_rule_backward_takes_one_gradient_per_result():
    x = _input((4, 3))
    (u, _, vh), ctx = ops.svd.forward(x, False)
    assert ctx.out_shape == ((4, 3), (3,), (3, 3))
    (g,) = ops.svd.backward((None, np.ones(3), None), ctx)
    np.testing.assert_allclose(g, u @ vh, atol=1e-12)  # d sum(s) = U Vh
    (none,) = ops.svd.backward((None, None, None), ctx)
    np.testing.assert_array_equal(none, np.zeros((4, 3)))
    _, ctx = ops.qr.forward(x)
    (g,) = ops.qr.backward((None, np.zeros((3, 3))), ctx)
    np.testing.assert_allclose(g, np.zeros((4, 3)), atol=1e-14)
    with pytest.raises(TypeError, match=r"^svd\.backward: grad_out must be a tuple of 3"):
        ops.svd.backward(np.ones(3), ops.svd.forward(x)[1])


# -- det and slogdet at singular matrices ----------------------------------------------


def _cofactors(a):
    n = a.shape[-1]
    out = np.zeros_like(a)
    for i, j in itertools.product(range(n), range(n)):
        minor = np.delete(np.delete(a, i, 0), j, 1)
        out[i, j] = (-1) ** (i + j) * (np.linalg.det(minor) if n > 1 else 1.0)
    return out


SINGULAR = [
    np.diag([2.0, 0.0, 3.0]),  # torch 2.13 gives 0 here; the cofactors are diag(0, 6, 0)
    np.array([[1.0, 2.0], [2.0, 4.0]]),
    np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]),
    np.diag([2.0, 0.0, 2.0]),  # a repeated nonzero singular value too
    np.zeros((3, 3)),
]


@pytest.mark.parametrize("a", SINGULAR, ids=["diag", "rank1-2x2", "arange", "repeated", "zero"])
def test_det_gradient_at_singular_matrices_is_the_cofactor_matrix(a):
    t = xpgrad.tensor(a, requires_grad=True)
    d = xa.linalg.det(t)
    assert float(d.data) == pytest.approx(0.0, abs=1e-12)
    d.backward()
    np.testing.assert_allclose(t.grad, _cofactors(a), atol=1e-12)
    # differentiable again: H v against central differences of the cofactors (a polynomial)
    v = np.random.default_rng(12).uniform(-1, 1, a.shape)
    h = xpgrad.hvp(lambda y: y.__array_namespace__().linalg.det(y), a, v)
    eps = 1e-6
    fd = (_cofactors(a + eps * v) - _cofactors(a - eps * v)) / (2 * eps)
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("a", [np.diag([2.0, 0.0, 0.0]), np.zeros((3, 3)),
                               np.array([[1.0, 2.0, 0.5], [2.0, 4.0, 1.0], [0.0, 1.0, 3.0]])],
                         ids=["rank1", "zero", "rank2"])
def test_det_is_differentiable_to_any_order_at_singular_matrices(a):
    # Below rank n - 1 a second derivative raised (through svd), and at rank
    # n - 1 a third was wrong ([[-0.26, -0.41, 0.14], ...] for -I): a zero
    # singular value is |.| of a smooth function, which the SVD's form of the
    # cofactors differentiates twice. det of 3 x 3 is a cubic: its third
    # derivative is constant, so the value anywhere else is the reference.
    def det(y):
        return y.__array_namespace__().linalg.det(y)

    v = np.random.default_rng(14).uniform(-1, 1, a.shape)
    w = np.random.default_rng(15).uniform(-1, 1, a.shape)
    h = xpgrad.hvp(det, a, v)
    eps = 1e-6
    fd = (_cofactors(a + eps * v) - _cofactors(a - eps * v)) / (2 * eps)
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-7)

    def third(m, v=v, w=w):
        return xpgrad.grad(lambda y: xa.sum(xpgrad.hvp(det, y, v) * w))(m)

    regular = a + np.diag([0.5, 1.5, 2.5])
    assert abs(np.linalg.det(regular)) > 0.1
    np.testing.assert_allclose(third(a), third(regular), atol=1e-12)
    on_torch = third(*[torch.tensor(m) for m in (a, v, w)])
    np.testing.assert_allclose(on_torch.numpy(), third(regular), atol=1e-12)


def test_det_one_singular_matrix_does_not_fail_its_batch():
    batch = np.stack([np.diag([2.0, 0.0, 3.0]), _input((3, 3)), np.ones((3, 3))])
    t = xpgrad.tensor(batch, requires_grad=True)
    xa.sum(xa.linalg.det(t) * xa.asarray([1.0, 2.0, 3.0])).backward()
    expected = np.stack([k * _cofactors(m) for k, m in zip([1.0, 2.0, 3.0], batch)])
    np.testing.assert_allclose(t.grad, expected, atol=1e-12)
    v = np.random.default_rng(13).uniform(-1, 1, batch.shape)

    def loss(y):
        ns = y.__array_namespace__()
        return ns.sum(ns.linalg.det(y) * ns.asarray([1.0, 2.0, 3.0]))

    h = xpgrad.hvp(loss, batch, v)
    eps = 1e-6
    fd = np.stack([k * (_cofactors(m + eps * d) - _cofactors(m - eps * d)) / (2 * eps)
                   for k, m, d in zip([1.0, 2.0, 3.0], batch, v)])
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_det_at_a_singular_matrix_on_each_library(backend):
    a = np.diag([2.0, 0.0, 3.0])
    t = xpgrad.tensor(backend.asarray(a), requires_grad=True)
    xa.linalg.det(t).backward()
    np.testing.assert_allclose(host(t.grad), np.diag([0.0, 6.0, 0.0]), atol=1e-12)


def test_slogdet_at_a_singular_matrix():
    """logabsdet = -inf; its gradient there is cof(x) / 0: +-inf where the
    cofactor is nonzero, NaN where it is 0, 0 where the upstream gradient is
    0; the regular matrices of the batch get inv(x)^T (torch also gives
    non-finite values at a singular matrix, placed differently)."""
    batch = np.stack([np.diag([2.0, 0.0, 3.0]), np.diag([2.0, 1.0, 4.0])])
    t = xpgrad.tensor(batch, requires_grad=True)
    sign, logabs = xa.linalg.slogdet(t)
    np.testing.assert_array_equal(sign.data, [0.0, 1.0])
    assert logabs.data[0] == -math.inf and logabs.data[1] == pytest.approx(math.log(8.0))
    xa.sum(logabs * xa.asarray([2.0, 1.0])).backward()
    expected = np.full((3, 3), np.nan)
    expected[1, 1] = np.inf
    np.testing.assert_array_equal(t.grad[0], expected)
    np.testing.assert_allclose(t.grad[1], np.diag([0.5, 1.0, 0.25]))
    (sign, logabs), ctx = ops.slogdet.forward(batch)
    (g,) = ops.slogdet.backward((None, np.array([0.0, 1.0])), ctx)  # no gradient to the singular one
    np.testing.assert_array_equal(g[0], np.zeros((3, 3)))
    (g,) = ops.slogdet.backward((None, np.array([-1.0, 1.0])), ctx)
    assert g[0, 1, 1] == -np.inf
    leaf = torch.tensor(batch[0], requires_grad=True)
    torch.linalg.slogdet(leaf)[1].backward()
    assert not torch.isfinite(leaf.grad).all()


def test_slogdet_at_a_singular_matrix_on_array_api_strict():
    # the gradient's where(lean > 0, inf, -inf) had two Python numbers, which the
    # standard's where refuses: array_api_strict raised "Two scalars not allowed"
    xs = pytest.importorskip("array_api_strict")
    batch = np.stack([[[1.0, 2.0], [2.0, 4.0]], [[2.0, 0.0], [0.0, 1.0]]])
    t = xpgrad.tensor(xs.asarray(batch), requires_grad=True)
    xa.sum(xa.linalg.slogdet(t).logabsdet).backward()
    got = host(t.grad)
    np.testing.assert_array_equal(got[0], [[np.inf, -np.inf], [-np.inf, np.inf]])  # cof / +0
    np.testing.assert_allclose(got[1], np.diag([0.5, 1.0]))


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, kind, match",
    [
        (lambda: xa.linalg.svd(xpgrad.tensor(np.ones(3))), ValueError, r"^svd: x must have at least 2"),
        (lambda: xa.linalg.svd(xpgrad.tensor(np.ones((2, 2), dtype=np.int64))), TypeError, r"^svd: x has dtype int64"),
        (lambda: xa.linalg.svd(xpgrad.tensor(np.ones((2, 2))), full_matrices=1), TypeError, r"^svd: full_matrices must be a bool"),
        (lambda: xa.linalg.qr(xpgrad.tensor(np.ones(3))), ValueError, r"^qr: x must have at least 2"),
        (lambda: xa.linalg.qr(xpgrad.tensor(np.ones((2, 2), dtype=np.int32))), TypeError, r"^qr: x has dtype int32"),
        (lambda: xa.linalg.qr(xpgrad.tensor(np.ones((2, 2))), mode="r"), ValueError, r"^qr: mode must be 'reduced' or 'complete'; got 'r'"),
        (lambda: xa.linalg.qr(xpgrad.tensor(np.ones((2, 2))), mode=None), TypeError, r"^qr: mode must be"),
        (lambda: xa.linalg.pinv(xpgrad.tensor(np.ones(3))), ValueError, r"^pinv: x must have at least 2"),
        (lambda: xa.linalg.pinv(xpgrad.tensor(np.ones((2, 2), dtype=np.int64))), TypeError, r"^pinv: x has dtype int64"),
        (lambda: xa.linalg.pinv(xpgrad.tensor(np.ones((2, 2))), rtol="big"), TypeError, r"^pinv: rtol must be"),
        (lambda: xa.linalg.pinv(xpgrad.tensor(np.ones((2, 2))), rtol=-1.0), ValueError, r"^pinv: rtol must be >= 0"),
        (lambda: ops.svd.forward([[1.0, 2.0]]), TypeError, r"^svd: "),
    ],
    ids=["svd-1d", "svd-int", "svd-full", "qr-1d", "qr-int", "qr-mode", "qr-mode-type", "pinv-1d",
         "pinv-int", "pinv-rtol-type", "pinv-rtol-negative", "svd-list"],
)
def test_errors_name_the_function(call, kind, match):
    with pytest.raises(kind, match=match):
        call()


def test_det_second_derivative_of_a_batch_pays_minors_for_its_singular_matrices_only():
    # every matrix of the batch paid n^2 minors of (n - 1)^2 (7 GB for 64 x 40 x 40):
    # the minors now come from the singular ones alone, checked here against
    # the cofactors' differences, with the regular ones by the inverse
    rng = np.random.default_rng(16)
    batch = rng.standard_normal((3, 5, 5))
    batch[1] = np.diag([1.0, 2.0, 3.0, 4.0, 0.0])
    v = rng.standard_normal(batch.shape)

    def loss(y):
        ns = y.__array_namespace__()
        return ns.sum(ns.linalg.det(y))

    h = xpgrad.hvp(loss, batch, v)
    eps = 1e-6
    fd = np.stack([(_cofactors(m + eps * d) - _cofactors(m - eps * d)) / (2 * eps)
                   for m, d in zip(batch, v)])
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-6)


def test_det_gradient_where_the_library_calls_the_matrix_singular_but_det_is_not_zero():
    # torch's det of this rank-2 matrix is -6.7e-16, not 0: the inverse's branch
    # was taken, and torch's inv refused it (LinAlgError)
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    out, ctx = ops.det.forward(torch.tensor(a))
    (g,) = ops.det.backward(torch.tensor(1.0, dtype=torch.float64), ctx)
    np.testing.assert_allclose(g.numpy(), _cofactors(a), atol=1e-12)
    v = np.ones((3, 3))
    h = xpgrad.hvp(lambda y: xa.linalg.det(y), torch.tensor(a), torch.tensor(v))
    eps = 1e-6
    fd = (_cofactors(a + eps * v) - _cofactors(a - eps * v)) / (2 * eps)
    np.testing.assert_allclose(h.numpy(), fd, atol=1e-7)


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_det_gradient_of_a_rank_deficient_matrix_in_a_batch_whose_det_is_rounding(lib):
    # torch's det and inv come from two factorizations: det = 1e-11 against an LU
    # product of 3.5e-12, and d * inv(x)^T was off by 390%; singular to rounding
    # (Hadamard's bound) now takes the exact form
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((4, 12, 12))
    m = rng.standard_normal((12, 12))
    m[3] = 2 * m[1] + m[2]
    batch[2] = m
    data = torch.tensor(batch) if lib == "torch" else batch
    out, ctx = ops.det.forward(data)
    ones = torch.ones(4, dtype=torch.float64) if lib == "torch" else np.ones(4)
    (g,) = ops.det.backward(ones, ctx)
    g = np.asarray(g)
    want = _cofactors(m)
    assert np.abs(g[2] - want).max() <= 1e-9 * np.abs(want).max()
    np.testing.assert_allclose(g[0], _cofactors(batch[0]), rtol=1e-9, atol=1e-9)



def _fd_hessian(f, x, h=1e-4):
    n, eye = x.size, np.eye(x.size)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            e, d = eye[i].reshape(x.shape) * h, eye[j].reshape(x.shape) * h
            out[i, j] = (f(x + e + d) - f(x + e - d) - f(x - e + d) + f(x - e - d)) / (4 * h * h)
    return out


@pytest.mark.parametrize("x", [
    np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]),  # not square, an exact zero
    np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]).T,
    np.zeros((2, 2)),  # a repeated zero
], ids=["wide", "tall", "zero"])
def test_svdvals_second_derivative_at_a_kink_raises(x):
    # sum(w * svdvals(x) ** 2) at a zero row: its Hessian came out off by 1.67
    w = np.array([0.7, -1.3])

    def loss(y):
        return xa.sum(w * xa.linalg.svdvals(y) ** 2)

    u, s, vh = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(xpgrad.grad(loss)(x), (u * (2 * w * s)) @ vh, atol=1e-12)
    with pytest.raises(ValueError, match=r"^svdvals.backward: x is not square and has a zero singular value"):
        xpgrad.hessian(loss)(x)


def test_svdvals_second_derivative_at_one_zero_of_a_square_matrix_is_exact():
    x, w = np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([0.7, -1.3])
    h = xpgrad.hessian(lambda y: xa.sum(w * xa.linalg.svdvals(y) ** 2))(x).reshape(4, 4)
    want = _fd_hessian(lambda y: np.sum(w * np.linalg.svd(y, compute_uv=False) ** 2), x)
    np.testing.assert_allclose(h, want, atol=1e-6)


@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch")), indirect=True)
def test_dets_hessian_at_a_singular_matrix_on_every_backend(backend):
    # det is multilinear: at diag(d), d2 det / dx_ii dx_jj = d_k and
    # d2 det / dx_ij dx_ji = -d_k, k the third index. array_api_strict raised
    # (the minors were put back with item assignment at an index array)
    d = np.array([2.0, 0.0, 3.0])
    want = np.zeros((3, 3, 3, 3))
    for i, j in itertools.permutations(range(3), 2):
        k = 3 - i - j
        want[i, i, j, j] = d[k]
        want[i, j, j, i] = -d[k]
    h = xpgrad.hessian(lambda t: xa.linalg.det(t))(backend.asarray(np.diag(d)))
    np.testing.assert_allclose(host(h), want, atol=1e-12)


def test_det_second_derivative_past_the_minors_limit_raises_below_rank_n_minus_1():
    # the SVD's form of the cofactor (0 at rank n - 2) differentiated to 0 where
    # det(A + tV) = -t^2 asks -1 per entry, silently, where the README says it raises
    n = 65
    a = np.diag(np.r_[np.ones(n - 2), 0.0, 0.0])
    v = np.zeros((n, n))
    v[n - 1, n - 2] = v[n - 2, n - 1] = 1.0
    with pytest.raises(ValueError, match=r"^det.backward: a second derivative of det at a singular "
                                         r"matrix larger than 64x64 of rank n - 2"):
        xpgrad.hvp(xa.linalg.det, a, v)
    # at rank n - 1 the form is exact: det(B + tW) = t (1 + t), 2 along W
    b, w = np.diag(np.r_[np.ones(n - 1), 0.0]), np.zeros((n, n))
    w[n - 1, n - 1] = w[0, 0] = 1.0
    assert np.sum(xpgrad.hvp(xa.linalg.det, b, w) * w) == pytest.approx(2.0, rel=1e-12)
    da = pytest.importorskip("dask.array")  # values unread: NaN for that matrix alone
    both = xpgrad.hvp(lambda t: xa.sum(xa.linalg.det(t)), da.from_array(np.stack([a, np.eye(n)]), chunks=33),
                      da.from_array(np.stack([v, v]), chunks=33)).compute()
    assert np.isnan(both[0]).all() and not np.isnan(both[1]).any()
    # on dask the SVD's form is taken at every size: 3x3 of rank 1 gave 0 where -1 is due
    small_a, small_v = np.diag([1.0, 0.0, 0.0]), np.zeros((3, 3))
    small_v[1, 2] = small_v[2, 1] = 1.0
    got = xpgrad.hvp(xa.linalg.det, da.from_array(small_a), da.from_array(small_v)).compute()
    assert np.isnan(got).all()

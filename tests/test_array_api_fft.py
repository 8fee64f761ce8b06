"""The fft extension in ``xpgrad.array_api.fft``: values against the data's own
library, first derivatives against torch autograd (``torch.fft``) and central
differences in float64, second derivatives (``xpgrad.hvp``) against torch's
double backward, for every function and norm, odd and even lengths, lengths
that crop and that pad, several axes; on NumPy, array_api_strict, torch, JAX
and dask data; zero-size inputs; bad arguments.

Complex inputs are checked by finite differences through their real and
imaginary parts (``gradcheck`` takes real arrays), and complex outputs through
theirs.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xa
from tests.subsets import backend_cases
from tests.support import backend_params, host
from xpgrad import ops
from xpgrad.testing import gradcheck

torch = pytest.importorskip("torch")
compat = pytest.importorskip("array_api_compat")
import array_api_compat.torch as ct  # after the importorskip

torch.set_num_threads(1)

NORMS = ("backward", "ortho", "forward")
ONE_D = {"fft": True, "ifft": True, "rfft": False, "irfft": True, "hfft": True, "ihfft": False}
N_D = {"fftn": True, "ifftn": True, "rfftn": False, "irfftn": True}
# The transformed axis has size 6. For fft and rfft: 4 and 5 crop (even, odd n), 13 and 14
# pad (odd, even n); for irfft and hfft, which read n // 2 + 1 bins: None is n = 10 (6 bins),
# 4 and 5 crop (3 bins, even and odd n), 13 and 14 pad (7 and 8 bins, odd and even n).
LENGTHS = (None, 4, 5, 13, 14)
# (s, axes) on x of shape (3, 4, 2): every axis; crop and pad; reversed order (the half
# spectrum along axis 0, cropped, after a padded axis 2); one negative axis; -1 for the
# default length.
SHAPES_ND = {
    "all": (None, None),
    "crop-pad": ((2, 7), (0, 1)),
    "reversed": ((6, 2), (2, 0)),
    "one-axis": ((5,), (-2,)),
    "default": ((-1, 8), (1, 2)),
}


def _cases():
    cases = []
    for name, cplx in ONE_D.items():
        for i, n in enumerate(LENGTHS):
            axis, shape = (0, (6, 3)) if i % 2 == 0 else (-1, (2, 6))
            for norm in NORMS:
                kw = {"n": n, "axis": axis, "norm": norm}
                cases.append((f"{name}-n{n}-axis{axis}-{norm}", name, kw, shape, cplx))
    for name, cplx in N_D.items():
        for label, (s, axes) in SHAPES_ND.items():
            for norm in NORMS:
                kw = {"s": s, "axes": axes, "norm": norm}
                cases.append((f"{name}-{label}-{norm}", name, kw, (3, 4, 2), cplx))
    return cases


CASES = _cases()
IDS = [c[0] for c in CASES]
ROWS = [c[1:] for c in CASES]
# The other libraries run every function once or twice (the gradients are one code for all).
SOME = [
    "fft-n4-axis-1-ortho", "ifft-n13-axis-1-forward", "rfft-n5-axis0-backward",
    "rfft-n14-axis0-forward", "irfft-nNone-axis0-backward", "irfft-n13-axis-1-ortho",
    "hfft-n5-axis0-forward", "ihfft-n14-axis0-ortho", "fftn-crop-pad-forward",
    "ifftn-all-ortho", "rfftn-reversed-backward", "irfftn-default-ortho", "irfftn-all-forward",
]
FEW = ["irfft-n13-axis-1-ortho"]


def _host_input(rng, shape, cplx):
    x = rng.standard_normal(shape)
    return x + 1j * rng.standard_normal(shape) if cplx else x


def _host(x):
    """Any library's array, or a Tensor, on the host (torch's conjugate views resolved)."""
    return xpgrad.to_numpy(x.data if isinstance(x, xpgrad.Tensor) else x)


def _close(actual, expected, rtol=1e-10, atol=1e-10):
    np.testing.assert_allclose(_host(actual), _host(expected), rtol=rtol, atol=atol)


def _torch_grad(leaf):
    return leaf.grad.resolve_conj().numpy()


def _parts(ns, y):
    """A complex result's real and imaginary parts side by side (gradcheck's
    finite differences take real outputs); a real result as it is."""
    if xa.isdtype(y.dtype, "complex floating"):
        return ns.concat([ns.real(y), ns.imag(y)], axis=0)
    return y


@pytest.mark.parametrize(
    "backend, name, kw, shape, cplx",
    backend_cases(ROWS, IDS, backends=("numpy", "array_api_strict", "torch", "jax", "cupy"),
                  array_api_strict=SOME, torch=SOME, jax=FEW, cupy=SOME),
    indirect=["backend"],
)
def test_values_and_gradients(backend, rng, name, kw, shape, cplx):
    h = _host_input(rng, shape, cplx)
    native = backend.asarray(h)
    x = xpgrad.tensor(native, requires_grad=True)
    out = getattr(xa.fft, name)(x, **kw)
    own = getattr(compat.array_namespace(native).fft, name)(native, **kw)
    assert type(out.data) is type(own) and tuple(out.shape) == tuple(own.shape)
    assert out.dtype == own.dtype
    _close(out, own)

    upstream = _host_input(rng, tuple(out.shape), xa.isdtype(out.dtype, "complex floating"))
    out.backward(xpgrad.tensor(backend.asarray(upstream)))
    leaf = torch.tensor(h, requires_grad=True)
    getattr(ct.fft, name)(leaf, **kw).backward(torch.tensor(upstream))
    assert tuple(x.grad.shape) == shape and x.grad.dtype == native.dtype
    _close(x.grad, _torch_grad(leaf))

    if backend.name == "numpy":  # central differences, through real and imaginary parts
        fn = getattr(xa.fft, name)
        if cplx:
            assert gradcheck(lambda a, b: _parts(xa, fn(a + 1j * b, **kw)), h.real, h.imag)
        else:
            assert gradcheck(lambda a: _parts(xa, fn(a, **kw)), h)


REAL_INTO_COMPLEX = [("fft", {"n": 5}), ("ifft", {"axis": 0, "norm": "ortho"}),
                     ("irfft", {"n": 7}), ("hfft", {"n": 6, "norm": "forward"}),
                     ("fftn", {}), ("irfftn", {"s": (3, 4), "axes": (0, 1)})]


@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch")), indirect=True)
@pytest.mark.parametrize("name, kw", REAL_INTO_COMPLEX, ids=[c[0] for c in REAL_INTO_COMPLEX])
def test_real_input_to_a_complex_transform_gets_a_real_gradient(backend, rng, name, kw):
    h = rng.standard_normal((3, 4))
    x = xpgrad.tensor(backend.asarray(h), requires_grad=True)
    out = getattr(xa.fft, name)(x, **kw)
    _close(out, getattr(np.fft, name)(h.astype(complex), **kw))
    upstream = _host_input(rng, tuple(out.shape), xa.isdtype(out.dtype, "complex floating"))
    out.backward(xpgrad.tensor(backend.asarray(upstream)))
    leaf = torch.tensor(h, requires_grad=True)
    getattr(ct.fft, name)(leaf, **kw).backward(torch.tensor(upstream))
    assert x.grad.dtype == x.data.dtype and not xa.isdtype(x.grad.dtype, "complex floating")
    _close(x.grad, _torch_grad(leaf))


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_single_precision_stays_single(backend, rng):
    z = _host_input(rng, (3, 8), True).astype(np.complex64)
    r = rng.standard_normal((3, 8)).astype(np.float32)
    tz = xpgrad.tensor(backend.asarray(z), requires_grad=True)
    tr = xpgrad.tensor(backend.asarray(r), requires_grad=True)
    a = xa.fft.ifft(tz, n=6, norm="ortho")
    b = xa.fft.rfft(tr, n=11)
    c = xa.fft.irfft(tz, axis=0)
    assert (a.dtype, b.dtype, c.dtype) == (xa.complex64, xa.complex64, xa.float32)
    _close(a, np.fft.ifft(z, n=6, norm="ortho"), 1e-5, 1e-5)
    _close(b, np.fft.rfft(r, n=11), 1e-5, 1e-4)
    (xa.sum(xa.abs(a) ** 2) + xa.sum(xa.real(b)) + xa.sum(c * c)).backward()
    assert (tz.grad.dtype, tr.grad.dtype) == (tz.data.dtype, tr.data.dtype)
    lz, lr = torch.tensor(z.astype(complex), requires_grad=True), torch.tensor(r.astype(float), requires_grad=True)
    ((torch.fft.ifft(lz, n=6, norm="ortho").abs() ** 2).sum() + torch.fft.rfft(lr, n=11).real.sum()
     + (torch.fft.irfft(lz, dim=0) ** 2).sum()).backward()
    _close(tz.grad, _torch_grad(lz), 1e-4, 1e-4)
    _close(tr.grad, _torch_grad(lr), 1e-4, 1e-4)


# -- second derivatives -----------------------------------------------------------------

# (id, fn(ns, x), shape, complex input): L = sum(W * fn(x)) with real W.
SECOND = [
    ("fft", lambda ns, x: ns.abs(ns.fft.fft(x, n=7, axis=0, norm="ortho")) ** 2, (5, 3), True),
    ("ifftn", lambda ns, x: ns.abs(ns.fft.ifftn(x, s=(6, 2), axes=(0, 1), norm="forward")) ** 2,
     (5, 3), True),
    ("rfft", lambda ns, x: ns.abs(ns.fft.rfft(x, n=6, axis=0)) ** 2, (5, 3), False),
    ("irfft-odd", lambda ns, x: ns.fft.irfft(x, n=7, axis=0, norm="ortho") ** 3, (5, 3), True),
    ("irfft-even", lambda ns, x: ns.fft.irfft(x, n=8, axis=0, norm="forward") ** 3, (5, 3), True),
    ("hfft", lambda ns, x: ns.fft.hfft(x, n=6, axis=1) ** 3, (3, 5), True),
    ("ihfft", lambda ns, x: ns.abs(ns.fft.ihfft(x, n=7, axis=1, norm="ortho")) ** 2, (3, 5), False),
    ("rfftn", lambda ns, x: ns.real(ns.fft.rfftn(x, s=(4, 5), axes=(1, 0))) ** 3, (3, 6), False),
    ("irfftn", lambda ns, x: ns.fft.irfftn(x, s=(2, 6), axes=(0, 1), norm="ortho") ** 3, (3, 5), True),
    ("fftshift", lambda ns, x: ns.fft.fftshift(x ** 3, axes=0) * x, (5, 3), False),
    ("ifftshift", lambda ns, x: ns.real(ns.fft.ifftshift(ns.fft.fft(x)) ** 2), (5,), False),
]
SECOND_IDS = [c[0] for c in SECOND]
SECOND_BY_ID = {c[0]: c for c in SECOND}


def _second_inputs(case):
    rng = np.random.default_rng(7)
    _, fn, shape, cplx = case
    x, v = _host_input(rng, shape, cplx), _host_input(rng, shape, cplx)
    w = rng.uniform(0.5, 1.5, tuple(fn(np, x).shape))

    def loss(t):
        ns = t.__array_namespace__()
        out = fn(ns, t)
        weight = xpgrad.convert(w.astype(_host(out).dtype), like=out.data)
        return ns.sum(out * weight)

    return x, v, w, loss


@pytest.mark.parametrize("case_id", SECOND_IDS)
def test_hvp_matches_torch_double_backward(case_id):
    case = SECOND_BY_ID[case_id]
    x, v, w, loss = _second_inputs(case)
    hv = xpgrad.hvp(loss, x, v)
    assert type(hv) is np.ndarray and hv.shape == x.shape and hv.dtype == x.dtype
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad((case[1](ct, t) * torch.tensor(w)).sum(), t, create_graph=True)
    # for complex x the real inner product Re <grad, v>, torch's convention
    (ref,) = torch.autograd.grad((g * torch.tensor(v).conj()).real.sum(), t)
    np.testing.assert_allclose(hv, ref.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "backend, case_id",
    backend_cases(["rfft", "irfft-even", "ifftn", "hfft"], ["rfft", "irfft-even", "ifftn", "hfft"],
                  backends=("array_api_strict", "torch", "cupy")),
    indirect=["backend"],
)
def test_hvp_on_other_libraries(backend, case_id):
    x, v, _, loss = _second_inputs(SECOND_BY_ID[case_id])
    hv = xpgrad.hvp(loss, backend.asarray(x), backend.asarray(v))
    assert type(hv) is type(backend.asarray(x)) and tuple(hv.shape) == x.shape
    _close(hv, xpgrad.hvp(loss, x, v))


def test_third_derivative_matches_torch():
    """d/dx <v, H(x) v>: the backward of the recorded backward is recorded too."""
    rng = np.random.default_rng(3)
    x, v = rng.standard_normal(6), rng.standard_normal(6)

    def loss(t):
        ns = t.__array_namespace__()
        return ns.sum(ns.abs(ns.fft.rfft(t, n=8, norm="ortho")) ** 3)

    def curvature(y):
        ns = y.__array_namespace__()
        return ns.sum(xpgrad.hvp(loss, y, v) * ns.asarray(v))

    third = xpgrad.grad(curvature)(x)
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad((torch.fft.rfft(t, n=8, norm="ortho").abs() ** 3).sum(), t, create_graph=True)
    (h,) = torch.autograd.grad((g * torch.tensor(v)).sum(), t, create_graph=True)
    (ref,) = torch.autograd.grad((h * torch.tensor(v)).sum(), t)
    np.testing.assert_allclose(third, ref.numpy(), rtol=1e-10, atol=1e-10)


def test_dask_values_gradients_and_hvp_match_numpy(rng):
    da = pytest.importorskip("dask.array")
    h = _host_input(rng, (6, 5), True)
    for name, kw in [("irfft", {"n": 9, "axis": 0, "norm": "ortho"}), ("rfftn", {"s": (4, 6), "axes": (1, 0)})]:
        data = h.real if name == "rfftn" else h
        lazy = xpgrad.tensor(da.from_array(data, chunks=2), requires_grad=True)
        eager = xpgrad.tensor(data, requires_grad=True)
        outs = [getattr(xa.fft, name)(t, **kw) for t in (lazy, eager)]
        assert isinstance(outs[0].data, da.Array)
        _close(outs[0].data.compute(), outs[1].data)
        for o in outs:
            xa.sum(xa.abs(o) ** 2).backward()
        assert isinstance(lazy.grad, da.Array)
        _close(lazy.grad.compute(), eager.grad)
    x, v, _, loss = _second_inputs(SECOND_BY_ID["irfft-odd"])
    hv = xpgrad.hvp(loss, da.from_array(x, chunks=2), da.from_array(v, chunks=2))
    _close(hv.compute(), xpgrad.hvp(loss, x, v))


# -- the functional rules ------------------------------------------------------------------


def test_rules_forward_and_backward_on_plain_arrays(rng):
    x = rng.standard_normal((4, 5))
    out, ctx = ops.rfft.forward(x, 6, 0, "ortho")
    _close(out, np.fft.rfft(x, n=6, axis=0, norm="ortho"))
    g = _host_input(rng, out.shape, True)
    (dx,) = ops.rfft.backward(g, ctx)
    leaf = torch.tensor(x, requires_grad=True)
    torch.fft.rfft(leaf, n=6, dim=0, norm="ortho").backward(torch.tensor(g))
    _close(dx, _torch_grad(leaf))
    assert gradcheck(lambda a: xa.fft.irfft(a, n=5), x)


# -- shifts and frequencies -----------------------------------------------------------------

SHIFTS = [((5, 4), None), ((5, 4), 0), ((5, 4), -1), ((3, 4, 5), (2, 0)), ((7,), [0]), ((2, 3), ())]


@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch")), indirect=True)
@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
def test_shifts_are_differentiable_rolls(backend, rng, name):
    for shape, axes in SHIFTS:
        h = rng.standard_normal(shape)
        x = xpgrad.tensor(backend.asarray(h), requires_grad=True)
        out = getattr(xa.fft, name)(x, axes=axes)
        _close(out, getattr(np.fft, name)(h, axes=axes))
        upstream = rng.standard_normal(shape)
        out.backward(xpgrad.tensor(backend.asarray(upstream)))
        if axes == ():  # nothing moves (torch's fftshift refuses dim=())
            _close(x.grad, upstream)
            continue
        leaf = torch.tensor(h, requires_grad=True)
        dims = axes if axes is None or isinstance(axes, int) else tuple(axes)
        getattr(torch.fft, name)(leaf, dim=dims).backward(torch.tensor(upstream))
        _close(x.grad, _torch_grad(leaf))
    assert gradcheck(lambda a: getattr(xa.fft, name)(a, axes=(0, 1)), rng.standard_normal((3, 4)))


@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch")), indirect=True)
def test_frequencies_are_new_arrays_where_device_says(backend):
    like = xpgrad.tensor(backend.asarray(np.zeros(1)))
    for name, n, d in [("fftfreq", 7, 0.5), ("fftfreq", 8, 2), ("rfftfreq", 7, 1.0), ("rfftfreq", 8, 0.25)]:
        out = getattr(xa.fft, name)(n, d=d, device=like.device)
        assert type(out.data) is type(like.data) and not out.requires_grad
        assert out.dtype == xa.float64
        _close(out, getattr(np.fft, name)(n, d=d), 1e-15, 1e-15)
    single = xa.fft.fftfreq(5, dtype=xa.float32, device=like.device)
    assert single.dtype == xa.float32 and tuple(single.shape) == (5,)


def test_frequencies_default_to_numpy():
    out = xa.fft.rfftfreq(6)
    assert type(out.data) is np.ndarray
    np.testing.assert_array_equal(out.data, np.fft.rfftfreq(6))


# -- edges -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch")), indirect=True)
def test_zero_size_inputs(backend):
    empty = xpgrad.tensor(backend.asarray(np.zeros((0, 6), complex)), requires_grad=True)
    real = xpgrad.tensor(backend.asarray(np.zeros((0, 6))), requires_grad=True)
    outs = {
        "fft": (xa.fft.fft(empty), (0, 6)),
        "irfft": (xa.fft.irfft(empty, norm="ortho"), (0, 10)),
        "hfft": (xa.fft.hfft(empty, n=5), (0, 5)),
        "rfft": (xa.fft.rfft(real), (0, 4)),
        "ihfft": (xa.fft.ihfft(real, n=3), (0, 2)),
        "fftn-pad": (xa.fft.fftn(empty, s=(3, 6), axes=(0, 1)), (3, 6)),  # zeros from no rows
        "rfftn-pad": (xa.fft.rfftn(real, s=(2, 4), axes=(0, 1)), (2, 3)),
    }
    total = 0.0
    for name, (out, shape) in outs.items():
        assert tuple(out.shape) == shape, name
        assert not np.any(_host(out)), name
        total = total + xa.sum(xa.abs(out) ** 2)
    total.backward()
    assert tuple(empty.grad.shape) == (0, 6) and tuple(real.grad.shape) == (0, 6)
    padded = xpgrad.tensor(backend.asarray(np.zeros(0)), requires_grad=True)
    out = xa.fft.rfft(padded, n=4)
    assert tuple(out.shape) == (3,)
    xa.sum(xa.real(out)).backward()
    assert tuple(padded.grad.shape) == (0,)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_nan_propagates():
    x = xpgrad.tensor(np.array([1.0, np.nan, 2.0, 0.5]), requires_grad=True)
    out = xa.fft.rfft(x)
    assert np.isnan(_host(out)).all()
    xa.sum(xa.abs(out) ** 2).backward()
    assert np.isnan(x.grad).all()


# -- bad arguments ---------------------------------------------------------------------------

X = np.ones((3, 4))
Z = np.ones((3, 4), complex)
ERRORS = [
    ("n-float", lambda: xa.fft.fft(Z, n=2.5), TypeError, r"^fft: n must be None or an int; got 2\.5"),
    ("n-bool", lambda: xa.fft.ifft(Z, n=True), TypeError, r"^ifft: n must be None or an int"),
    ("n-zero", lambda: xa.fft.fft(Z, n=0), ValueError, r"^fft: n must be a positive int; got 0"),
    ("n-negative", lambda: xa.fft.irfft(Z, n=-2), ValueError, r"^irfft: n must be a positive int"),
    ("norm-bad", lambda: xa.fft.fft(Z, norm="bad"), ValueError,
     r"^fft: norm must be 'backward', 'ortho' or 'forward'; got 'bad'"),
    ("norm-none", lambda: xa.fft.rfft(X, norm=None), TypeError, r"^rfft: norm must be"),
    ("axis-range", lambda: xa.fft.fft(Z, axis=2), ValueError,
     r"^fft: axis 2 is out of range for x of shape \(3, 4\) \(2 dims\)"),
    ("axis-float", lambda: xa.fft.hfft(Z, axis=1.0), TypeError, r"^hfft: axis must be an int"),
    ("zero-d", lambda: xa.fft.fft(np.ones((), complex)), ValueError,
     r"^fft: x must have at least 1 dimension"),
    ("scalar", lambda: xa.fft.fft(3.0), TypeError, r"^fft: x must be an array; got a Python float"),
    ("integers", lambda: xa.fft.fft(np.ones(4, dtype=np.int64)), TypeError,
     r"^fft: x has dtype int64; fft needs a floating-point array"),
    ("rfft-complex", lambda: xa.fft.rfft(Z), TypeError,
     r"^rfft: x has dtype complex128; rfft transforms real input"),
    ("ihfft-complex", lambda: xa.fft.ihfft(Z), TypeError, r"^ihfft: x has dtype complex128"),
    ("irfft-no-points", lambda: xa.fft.irfft(np.ones((1, 3), complex), axis=0), ValueError,
     r"^irfft: x has size 1 along axis 0, so the default n is 2 \* \(1 - 1\) = 0"),
    ("fft-empty-axis", lambda: xa.fft.fft(np.ones((0, 3), complex), axis=0), ValueError,
     r"^fft: x has size 0 along axis 0"),
    ("s-without-axes", lambda: xa.fft.fftn(Z, s=(3, 4)), ValueError,
     r"^fftn: s is given, so axes must be given too"),
    ("s-length", lambda: xa.fft.ifftn(Z, s=(3,), axes=(0, 1)), ValueError,
     r"^ifftn: s \(3,\) and axes \(0, 1\) differ in length"),
    ("s-zero", lambda: xa.fft.rfftn(X, s=(0,), axes=(0,)), ValueError,
     r"^rfftn: s\[0\] must be a positive int \(or -1 for the default\); got 0"),
    ("s-float", lambda: xa.fft.irfftn(Z, s=(2.0,), axes=(0,)), TypeError,
     r"^irfftn: s must be None or a sequence of ints"),
    ("axes-int", lambda: xa.fft.fftn(Z, axes=0), TypeError,
     r"^fftn: axes must be None or a sequence of ints; got 0"),
    ("axes-repeat", lambda: xa.fft.fftn(Z, axes=(1, -1)), ValueError, r"^fftn: axes \(1, 1\) repeats an axis"),
    ("axes-empty", lambda: xa.fft.fftn(Z, axes=()), ValueError, r"^fftn: axes is empty"),
    ("axes-range", lambda: xa.fft.rfftn(X, axes=(0, 5)), ValueError, r"^rfftn: axes names axis 5, which is out of range for x of shape \(3, 4\)"),
    ("shift-axes", lambda: xa.fft.fftshift(X, axes=2), ValueError, r"^fftshift: axis 2 is out of range"),
    ("shift-kind", lambda: xa.fft.ifftshift(X, axes=1.5), TypeError,
     r"^ifftshift: axes must be None, an int or a sequence of ints"),
    ("shift-repeat", lambda: xa.fft.fftshift(X, axes=(0, -2)), ValueError, r"^fftshift: axes .* repeats"),
    ("freq-n", lambda: xa.fft.fftfreq(2.5), TypeError, r"^fftfreq: n must be an int"),
    ("freq-zero", lambda: xa.fft.rfftfreq(0), ValueError, r"^rfftfreq: n must be a positive int"),
    ("freq-d", lambda: xa.fft.fftfreq(4, d="1"), TypeError, r"^fftfreq: d must be a real number"),
    ("freq-d-zero", lambda: xa.fft.fftfreq(4, d=0), ValueError, r"^fftfreq: d must be nonzero"),
    ("freq-dtype", lambda: xa.fft.rfftfreq(4, dtype=xa.int64), TypeError,
     r"^rfftfreq: dtype must be a real floating-point dtype"),
    ("rule-norm", lambda: ops.fft.forward(Z, None, -1, "Ortho"), ValueError, r"^fft: norm must be"),
]


@pytest.mark.parametrize("call, kind, match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_name_the_function_and_the_argument(call, kind, match):
    with pytest.raises(kind, match=match):
        call()


def test_every_function_is_documented_with_its_signature():
    for name in xa.fft.__all__:
        fn = getattr(xa.fft, name)
        assert fn.__doc__.startswith(f"{name}(x, /" if "freq" not in name else f"{name}(n, /")
    assert "xpgrad.ops.irfft" in xa.fft.irfft.__doc__ and "doubles" in xa.fft.irfft.__doc__


@pytest.mark.parametrize("name", ["fft", "irfft", "rfft"])
def test_numpys_longdouble_keeps_its_precision(name):
    # fft and irfft computed it in single precision (3e-7 off); rfft kept it
    if np.finfo(np.longdouble).bits <= 64:
        pytest.skip("this platform's longdouble is float64")
    x = np.arange(8, dtype=np.longdouble) / 3
    out = getattr(xa.fft, name)(xpgrad.tensor(x)).data
    want = getattr(np.fft, name)(x)
    assert out.dtype == want.dtype
    np.testing.assert_allclose(out, want, rtol=1e-17, atol=1e-17)


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
@pytest.mark.parametrize("name, n", [("irfft", 8), ("hfft", 5), ("fft", 4), ("rfft", 6)])
def test_an_empty_axis_padded_to_n_transforms_to_zeros(backend, name, n):
    # NumPy's C2R transform of an empty axis padded to n read memory it never wrote
    x = xpgrad.tensor(backend.asarray(np.zeros(0, complex if name in ("irfft", "hfft") else float)),
                      requires_grad=True)
    out = getattr(xa.fft, name)(x, n=n)
    assert not np.any(host(out.data))
    xa.sum(xa.real(out) if name in ("fft", "rfft") else out).backward()
    assert x.grad.shape == (0,)


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch", "jax")), indirect=True)
@pytest.mark.parametrize("name", ["rfft", "ihfft", "rfftn"])
def test_half_precision_real_transforms_compute_in_float32(backend, name):
    # fft and irfft took float16 as float32 already; rfft passed it on (torch and JAX refuse it)
    h = np.linspace(-1.0, 1.0, 8).astype(np.float16)
    x = xpgrad.tensor(backend.asarray(h), requires_grad=True)
    out = getattr(xa.fft, name)(x)
    np.testing.assert_allclose(host(out.data),
                               getattr(np.fft, name)(h.astype(np.float32)), rtol=1e-6, atol=1e-6)
    xa.sum(xa.real(out)).backward()
    assert host(x.grad).dtype == np.float16

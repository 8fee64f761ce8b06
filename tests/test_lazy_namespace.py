"""Every function of ``xpgrad.array_api`` (and its linalg, fft and special
extensions) on Tensors that wrap small lazy, chunked arrays (dask's and
cubed's), split into more than one chunk per axis where the shape allows.

Each function either

- gives NumPy's answer: its values (after ``.compute()``) equal the same call
  of NumPy's (array-api-compat's) or SciPy's own function on the same host
  arrays, and the gradients of a weighted scalar of its results equal central
  differences of that NumPy function, in float64; building the graph and
  running ``backward`` compute nothing (results and gradients stay lazy arrays
  of the library until ``compute``); or
- is listed in the library's ``RAISES`` with the reason, and raises a
  TypeError, ValueError or NotImplementedError whose message names the
  function and says what to do.

Never a wrong answer, never a library traceback that does not say where it
came from. The references come from NumPy and SciPy alone: a bug in xpgrad
cannot make its own expected values.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import NamedTuple

import array_api_compat.numpy as cnp
import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xp

sc = pytest.importorskip("scipy.special")

from tests.test_array_api_special import CASES as SPECIAL_CASES
from xpgrad import ops

pytestmark = [
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    # cubed 0.27 imports numpy.core.numeric (its vecdot)
    pytest.mark.filterwarnings("ignore:numpy.core.numeric is deprecated:DeprecationWarning"),
]


# -- inputs ------------------------------------------------------------------
class G(NamedTuple):
    """A host array that becomes a Tensor requiring grad (float64)."""

    h: np.ndarray


class C(NamedTuple):
    """A host array that becomes a Tensor without grad (indices, masks, ints)."""

    h: np.ndarray


def _rng():
    return np.random.default_rng(20240607)


def x(shape=(4, 6)):
    return G(_rng().standard_normal(shape))


def y(shape=(4, 6)):
    return G(np.random.default_rng(11).standard_normal(shape))


def pos(shape=(4, 6)):
    return G(_rng().uniform(0.5, 2.0, shape))


def unit(shape=(4, 6)):
    return G(_rng().uniform(-0.9, 0.9, shape))


def gt1(shape=(4, 6)):
    return G(_rng().uniform(1.5, 3.0, shape))


def sq(n=4):
    """A well-conditioned square matrix."""
    return G(_rng().standard_normal((n, n)) * 0.3 + 2.0 * np.eye(n))


def ints(shape=(4, 6), high=4):
    return C(_rng().integers(0, high, shape))


def mask(shape=(4, 6)):
    return C(_rng().standard_normal(shape) > 0)


def cplx(shape=(4, 6)):
    r = _rng()
    return G(r.standard_normal(shape) + 1j * r.standard_normal(shape))


def chunks(shape):
    """About two chunks along every axis longer than one."""
    return tuple(max(1, -(-d // 2)) for d in shape)


# -- the libraries -------------------------------------------------------------
class Lazy:
    """What the sweep needs of a lazy library: its array type, ``make`` (a host
    array to a chunked one), ``compute`` (its arrays to NumPy, in one go), a
    context in which any compute fails the test, and its ``RAISES``."""

    def __init__(self, name, array_type, make, compute, no_compute, raises):
        self.name, self.array_type, self.make = name, array_type, make
        self.compute, self.no_compute, self.raises = compute, no_compute, raises


def _dask():
    da = pytest.importorskip("dask.array", reason="dask is not installed (pip install 'xpgrad[dask]')")
    import dask

    class CountingScheduler:
        """Counts the graphs dask is asked to run (and runs them)."""

        def __init__(self):
            self.calls = 0

        def __call__(self, dsk, keys, **kwargs):
            self.calls += 1
            return dask.get(dsk, keys, **kwargs)

    @contextlib.contextmanager
    def no_compute(what):
        sched = CountingScheduler()
        with dask.config.set(scheduler=sched):
            yield
        assert sched.calls == 0, f"{what} computed a dask array while building the graph"

    def compute(arrays):
        return [np.asarray(a) for a in dask.compute(*arrays, scheduler="sync")]

    return Lazy("dask", da.Array, lambda h: da.from_array(h, chunks=chunks(h.shape)),
                compute, no_compute, RAISES_DASK)


CUBED_SPEC = None


def _cubed():
    global CUBED_SPEC
    cubed = pytest.importorskip("cubed", reason="cubed is not installed (pip install cubed)")
    import cubed.array_api as cxp

    if CUBED_SPEC is None:
        from cubed.runtime.create import create_executor

        try:  # intermediate arrays in memory: a tiny compute takes half the time
            from zarr.storage import MemoryStore

            store = {"intermediate_store": MemoryStore()}
        except ImportError:
            store = {}
        CUBED_SPEC = cubed.Spec(allowed_mem="200MB", executor=create_executor("single-threaded"),
                                **store)

    @contextlib.contextmanager
    def no_compute(what):
        with cubed.raise_if_computes():  # a compute raises RuntimeError("'compute' was called")
            yield

    def compute(arrays):
        return [np.asarray(a) for a in cubed.compute(*arrays)] if arrays else []

    return Lazy("cubed", cxp.Array, lambda h: cxp.asarray(h, chunks=chunks(h.shape), spec=CUBED_SPEC),
                compute, no_compute, RAISES_CUBED)


LIBRARIES = {"dask": _dask, "cubed": _cubed}
_LOADED = {}


def library(name) -> Lazy:
    if name not in _LOADED:
        _LOADED[name] = LIBRARIES[name]()
    return _LOADED[name]


@pytest.fixture(params=sorted(LIBRARIES))
def lib(request) -> Lazy:
    return library(request.param)


def tensors(inputs, make):
    out = []
    for a in inputs:
        if isinstance(a, G):
            out.append(xpgrad.tensor(make(a.h), requires_grad=True))
        elif isinstance(a, C):
            out.append(xpgrad.tensor(make(a.h)))
        else:
            out.append(a)
    return out


class _Native:
    """NumPy's namespace (array-api-compat's) with SciPy's special functions:
    where the references come from."""

    special = sc

    def __getattr__(self, name):
        return getattr(cnp, name)


NATIVE = _Native()


def _get(ns, name):
    for part in name.split("."):
        ns = getattr(ns, part)
    return ns


def call(name, **kw):
    """The default call: the function itself, with these keyword arguments."""
    return lambda ns, *a: _get(ns, name)(*a, **kw)


def _sym(ns, a):
    return a + ns.matrix_transpose(a)


def _squares(out):
    """Sign-invariant forms of decompositions' factors."""
    return tuple(o * o for o in out)


# -- the calls ---------------------------------------------------------------
# name -> (call(ns, *arrays), inputs). A name absent here is called with its
# required arguments, each an x() (see _default).
UNARY_DOMAIN = {
    "acos": unit, "asin": unit, "atanh": unit, "acosh": gt1,
    "log": pos, "log2": pos, "log10": pos, "log1p": pos, "sqrt": pos, "reciprocal": pos,
}
CASES = {
    "asarray": (call("asarray"), [x()]),
    "real": (call("real"), [cplx()]),
    "imag": (call("imag"), [cplx()]),
    "conj": (call("conj"), [cplx()]),
    "divide": (call("divide"), [x(), pos()]),
    "pow": (call("pow"), [pos(), y()]),
    "remainder": (call("remainder"), [x(), pos()]),
    "floor_divide": (call("floor_divide"), [x(), pos()]),
    "nextafter": (call("nextafter"), [C(x().h), C(y().h)]),
    "clip": (call("clip", min=-0.5, max=0.5), [x()]),
    "where": (call("where"), [mask(), x(), y()]),
    "empty_like": (lambda ns, a: ns.empty_like(a).shape, [x()]),
    "full_like": (call("full_like", fill_value=1.5), [x()]),
    "cumulative_sum": (call("cumulative_sum", axis=1), [x()]),
    "cumulative_prod": (call("cumulative_prod", axis=1), [x()]),
    "std": (call("std", axis=1), [x()]),
    "var": (call("var", axis=0, correction=1), [x()]),
    "max": (call("max", axis=1), [x()]),
    "min": (call("min"), [x()]),
    "prod": (call("prod", axis=0), [x()]),
    "matmul": (call("matmul"), [x(), y((6, 3))]),
    "tensordot": (call("tensordot", axes=1), [x(), y((6, 3))]),
    "vecdot": (call("vecdot"), [x(), y()]),
    "reshape": (call("reshape", shape=(6, 4)), [x()]),
    "permute_dims": (call("permute_dims", axes=(1, 0)), [x()]),
    "expand_dims": (call("expand_dims", axis=1), [x()]),
    "squeeze": (call("squeeze", axis=1), [x((4, 1, 6))]),
    "broadcast_to": (call("broadcast_to", shape=(3, 4, 6)), [x()]),
    "broadcast_arrays": (call("broadcast_arrays"), [x(), y((6,))]),
    "concat": (lambda ns, a, b: ns.concat([a, b], axis=1), [x(), y((4, 3))]),
    "stack": (lambda ns, a, b: ns.stack([a, b], axis=1), [x(), y()]),
    "unstack": (call("unstack", axis=1), [x()]),
    "flip": (call("flip", axis=1), [x()]),
    "roll": (call("roll", shift=2, axis=1), [x()]),
    "moveaxis": (lambda ns, a: ns.moveaxis(a, 0, -1), [x((2, 4, 6))]),
    "tile": (lambda ns, a: ns.tile(a, (2, 1)), [x()]),
    "repeat": (lambda ns, a: ns.repeat(a, 2, axis=0), [x()]),
    "meshgrid": (call("meshgrid"), [x((4,)), y((6,))]),
    "diff": (call("diff", axis=1), [x()]),
    "sort": (call("sort", axis=1), [x()]),
    "argsort": (call("argsort", axis=0), [C(x().h)]),
    # complex128: central differences through a float32 result would be noise
    "astype": (lambda ns, a: ns.astype(a, np.complex128), [x()]),
    "take": (lambda ns, a, i: ns.take(a, i, axis=1), [x(), C(np.array([5, 0, 2, 2, -1]))]),
    "take_along_axis": (call("take_along_axis", axis=1), [x(), ints((4, 5), high=6)]),
    "searchsorted": (call("searchsorted"), [C(np.sort(x((6,)).h)), C(y().h)]),
    "nonzero": (call("nonzero"), [mask()]),
    "unique_values": (call("unique_values"), [ints()]),
    "unique_counts": (call("unique_counts"), [ints()]),
    "unique_inverse": (call("unique_inverse"), [ints()]),
    "unique_all": (call("unique_all"), [ints()]),
    "argmax": (call("argmax", axis=1), [C(x().h)]),
    "argmin": (call("argmin"), [C(x().h)]),
    "count_nonzero": (call("count_nonzero", axis=0), [mask()]),
    "all": (call("all", axis=1), [mask()]),
    "any": (call("any"), [mask()]),
    "logical_not": (call("logical_not"), [mask()]),
    "bitwise_invert": (call("bitwise_invert"), [ints()]),
    # linalg
    "linalg.cholesky": (lambda ns, a: ns.linalg.cholesky(a @ ns.matrix_transpose(a)), [sq()]),
    "linalg.cross": (call("linalg.cross"), [x((4, 3)), y((4, 3))]),
    "linalg.det": (call("linalg.det"), [sq()]),
    "linalg.diagonal": (call("linalg.diagonal", offset=1), [x()]),
    "linalg.eigh": (lambda ns, a: _squares(ns.linalg.eigh(_sym(ns, a))), [sq()]),
    "linalg.eigvalsh": (lambda ns, a: ns.linalg.eigvalsh(_sym(ns, a)), [sq()]),
    "linalg.inv": (call("linalg.inv"), [sq()]),
    "linalg.matmul": (call("linalg.matmul"), [x(), y((6, 3))]),
    "linalg.matrix_norm": (call("linalg.matrix_norm"), [x()]),
    "linalg.matrix_power": (lambda ns, a: ns.linalg.matrix_power(a, 3), [sq()]),
    "linalg.matrix_rank": (call("linalg.matrix_rank"), [C(x().h)]),
    "linalg.matrix_transpose": (call("linalg.matrix_transpose"), [x()]),
    "linalg.outer": (call("linalg.outer"), [x((4,)), y((6,))]),
    "linalg.pinv": (call("linalg.pinv"), [x()]),
    "linalg.qr": (lambda ns, a: _squares(ns.linalg.qr(a)), [x((6, 4))]),
    "linalg.slogdet": (call("linalg.slogdet"), [sq()]),
    "linalg.solve": (call("linalg.solve"), [sq(), y((4, 6))]),
    "linalg.svd": (lambda ns, a: _squares(ns.linalg.svd(a, full_matrices=False)), [x()]),
    "linalg.svdvals": (call("linalg.svdvals"), [x()]),
    "linalg.tensordot": (call("linalg.tensordot", axes=1), [x(), y((6, 3))]),
    "linalg.trace": (call("linalg.trace"), [sq()]),
    "linalg.vecdot": (call("linalg.vecdot"), [x(), y()]),
    "linalg.vector_norm": (call("linalg.vector_norm", axis=1), [x()]),
    # fft: along the chunked axis 1 (and both axes for the n-dimensional ones)
    "fft.fftn": (call("fft.fftn"), [x()]),
    "fft.ifftn": (call("fft.ifftn"), [x()]),
    "fft.rfftn": (call("fft.rfftn"), [x()]),
    "fft.irfftn": (call("fft.irfftn"), [x()]),
    "fft.fftshift": (call("fft.fftshift"), [x()]),
    "fft.ifftshift": (call("fft.ifftshift", axes=1), [x()]),
    # scipy.special's composed functions
    "special.logsumexp": (lambda ns, a: ns.special.logsumexp(a, axis=1), [x()]),
    "special.softmax": (lambda ns, a: ns.special.softmax(a, axis=1), [x()]),
    "special.log_softmax": (lambda ns, a: ns.special.log_softmax(a, axis=0), [x()]),
}
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"):
    CASES[_name] = (call(_name), [ints(), ints((6,), high=3)])
for _name in ("logical_and", "logical_or", "logical_xor"):
    CASES[_name] = (call(_name), [mask(), mask((6,))])
for _name in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft"):
    CASES[f"fft.{_name}"] = (call(f"fft.{_name}"), [x()])


def _special_case(name):
    inputs, params = SPECIAL_CASES[name]
    rule = ops.psi if name == "digamma" else getattr(ops, name)
    args = [G(v) if v.dtype.kind == "f" and a not in rule.nondiff else C(v)
            for a, v in zip(rule.args, inputs)]
    return call(f"special.{name}"), args + list(params)


for _name in SPECIAL_CASES:
    CASES[f"special.{_name}"] = _special_case(_name)

# Functions with no array argument: nothing of theirs is a lazy array.
NOT_HERE = {
    "arange": "no array argument", "empty": "no array argument", "eye": "no array argument",
    "full": "no array argument", "linspace": "no array argument", "ones": "no array argument",
    "zeros": "no array argument", "from_dlpack": "takes a DLPack exporter (dask and cubed have none)",
    "finfo": "takes a dtype", "iinfo": "takes a dtype", "can_cast": "takes dtypes",
    "result_type": "takes dtypes", "isdtype": "takes a dtype",
    "__array_namespace_info__": "no array argument",
    "fft.fftfreq": "no array argument", "fft.rfftfreq": "no array argument",
}

# Functions that raise, per library, with the reason; each must raise one of
# these errors with its own name and a way out in the message.
HINTS = ("compute", "rechunk", "NumPy", "numpy", "xp.where")
RAISES_DASK = {
    "linalg.cross": "dask.array has no cross",
}
_NO_CUBED_FFT = "cubed has no fft extension"
_SIZE = "its result's size depends on the data, which cubed must plan before computing"
RAISES_CUBED = {
    "linalg.cholesky": "cubed.array_api.linalg has no cholesky",
    "linalg.det": "cubed.array_api.linalg has no det",
    "linalg.slogdet": "cubed.array_api.linalg has no slogdet (nor det)",
    "linalg.eigh": "cubed.array_api.linalg has no eigh",
    "linalg.eigvalsh": "cubed.array_api.linalg has no eigh",
    "linalg.inv": "cubed.array_api.linalg has no inv",
    "linalg.pinv": "cubed.array_api.linalg has no pinv",
    "nonzero": _SIZE,
    "unique_all": _SIZE,
    "unique_counts": _SIZE,
    "unique_inverse": _SIZE,
    "unique_values": _SIZE,
    **{f"fft.{n}": _NO_CUBED_FFT for n in (
        "fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft")},
}


def _functions():
    found = {}
    for prefix, mod in (("", xp), ("linalg.", xp.linalg), ("fft.", xp.fft), ("special.", xp.special)):
        for name in mod.__all__:
            fn = getattr(mod, name)
            if callable(fn) and not isinstance(fn, type) and not inspect.ismodule(fn):
                found[prefix + name] = fn
    return found


FUNCTIONS = _functions()
SWEPT = sorted(n for n in FUNCTIONS if n not in NOT_HERE)


def _case(name):
    if name in CASES:
        return CASES[name]
    fn = FUNCTIONS[name]
    required = [p for p in inspect.signature(fn).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    maker = UNARY_DOMAIN.get(name, x)
    return call(name), [maker() if i == 0 else y() for i in range(len(required))]


# -- running a case ----------------------------------------------------------
def _leaves(out):
    """The arrays (Tensors, or NumPy's) among a function's results, in order."""
    if isinstance(out, (tuple, list)):
        return [leaf for o in out for leaf in _leaves(o)]
    if isinstance(out, (xpgrad.Tensor, np.ndarray, np.generic)):
        return [out]
    return []


def _weights(refs):
    """A fixed random weight per element of each floating result (two for complex)."""
    rng = np.random.default_rng(5)
    ws = []
    for r in refs:
        r = np.asarray(r)
        if r.dtype.kind not in "fc":
            ws.append(None)
        else:
            ws.append((rng.standard_normal(r.shape), rng.standard_normal(r.shape)))
    return ws


def _np_loss(outs, ws):
    total = 0.0
    for o, w in zip(outs, ws):
        if w is not None:
            o = np.asarray(o)
            total += np.sum(o.real * w[0]) + (np.sum(o.imag * w[1]) if o.dtype.kind == "c" else 0.0)
    return total


def _central_differences(fn, inputs, ws, h=1e-6):
    """d loss / d input for each G input, by central differences of NumPy's function."""
    hosts = [a.h if isinstance(a, (G, C)) else a for a in inputs]
    grads = []
    for i, a in enumerate(inputs):
        if not isinstance(a, G):
            continue
        base = a.h
        g = np.zeros(base.shape, dtype=base.dtype)
        parts = [1.0] + ([1j] if base.dtype.kind == "c" else [])
        for idx in np.ndindex(base.shape):
            for unit_step in parts:
                vals = []
                for sign in (1.0, -1.0):
                    moved = base.copy()
                    moved[idx] += sign * h * unit_step
                    args = list(hosts)
                    args[i] = moved
                    vals.append(_np_loss(_leaves(fn(NATIVE, *args)), ws))
                d = (vals[0] - vals[1]) / (2 * h)
                g[idx] += d * (1 if unit_step == 1.0 else 1j)
        grads.append(g)
    return grads


def _run(lib, fn, inputs, ws):
    """Forward and backward on Tensors of ``lib``: (results, gradients of the G inputs)."""
    ts = tensors(inputs, lib.make)
    outs = _leaves(fn(xp, *ts))
    loss = None
    for o, w in zip(outs, ws):
        if w is None or not (isinstance(o, xpgrad.Tensor) and o.requires_grad):
            continue
        term = xp.sum(xp.real(o) * lib.make(w[0]))
        if xp.isdtype(o.dtype, "complex floating"):
            term = term + xp.sum(xp.imag(o) * lib.make(w[1]))
        loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    grads = [t.grad for t, a in zip(ts, inputs) if isinstance(a, G)]
    return outs, grads


_WANT = {}


def _wanted_gradients(name, fn, inputs, ws):
    """The central differences of ``name``'s case (the same for every library)."""
    if name not in _WANT:
        _WANT[name] = _central_differences(fn, inputs, ws)
    return _WANT[name]


def _close(got, want, what, rtol=1e-10, atol=1e-12):
    want = np.asarray(want)
    got = np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, NumPy's {want.shape}"
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def test_every_function_is_swept_or_excused():
    assert set(NOT_HERE) <= set(FUNCTIONS), set(NOT_HERE) - set(FUNCTIONS)
    for raises in (RAISES_DASK, RAISES_CUBED):
        assert set(raises) <= set(SWEPT), set(raises) - set(SWEPT)
    assert set(CASES) <= set(SWEPT), set(CASES) - set(SWEPT)
    assert len(SWEPT) > 200


_RAISES = {"dask": RAISES_DASK, "cubed": RAISES_CUBED}
WORKS = [pytest.param(lib, n, id=f"{lib}-{n}") for lib in sorted(_RAISES) for n in SWEPT
         if n not in _RAISES[lib]]
REFUSED = [pytest.param(lib, n, id=f"{lib}-{n}") for lib in sorted(_RAISES)
           for n in sorted(_RAISES[lib])]


@pytest.mark.parametrize("libname, name", WORKS)
def test_matches_numpy(libname, name):
    lib = library(libname)
    fn, inputs = _case(name)
    hosts = [a.h if isinstance(a, (G, C)) else a for a in inputs]
    refs = _leaves(fn(NATIVE, *hosts))
    ws = _weights(refs)
    with lib.no_compute(name):
        outs, grads = _run(lib, fn, inputs, ws)
    if name == "empty_like":  # its values are unspecified: its shape only
        assert fn(xp, *tensors(inputs, lib.make)) == refs[0].shape if refs else True
        return
    assert len(outs) == len(refs), name
    for k, o in enumerate(outs):
        assert isinstance(o, xpgrad.Tensor) and isinstance(o.data, lib.array_type), (name, k, type(o))
    check_grads = any(w is not None for w in ws) and any(isinstance(a, G) for a in inputs)
    lazy_grads = []
    if check_grads:
        for k, g in enumerate(grads):
            assert g is None or isinstance(g, lib.array_type), (name, k, type(g))
        lazy_grads = [g for g in grads if g is not None]
    got_all = lib.compute([o.data for o in outs] + lazy_grads)
    for k, (got, r) in enumerate(zip(got_all, refs)):
        assert got.dtype == np.asarray(r).dtype, (name, k, got.dtype, np.asarray(r).dtype)
        _close(got, r, f"{name}: result {k}")
    if check_grads:
        want = _wanted_gradients(name, fn, inputs, ws)
        got_grads = iter(got_all[len(outs):])
        for k, (g, w) in enumerate(zip(grads, want)):
            if g is None:  # no graph: right only where the function is flat
                np.testing.assert_array_equal(w, 0 * w, err_msg=f"{name}: no gradient")
                continue
            scale = max(1.0, float(np.max(np.abs(w))))
            _close(next(got_grads), w, f"{name}: gradient of input {k}", rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("libname, name", REFUSED)
def test_raises_clearly(libname, name):
    lib = library(libname)
    fn, inputs = _case(name)
    short = name.rsplit(".", 1)[-1]
    hosts = [a.h if isinstance(a, (G, C)) else a for a in inputs]
    ws = _weights(_leaves(fn(NATIVE, *hosts)))  # NumPy's call works
    with lib.no_compute(name), pytest.raises((TypeError, ValueError, NotImplementedError)) as info:
        _run(lib, fn, inputs, ws)
    msg = str(info.value)
    assert "'compute' was called" not in msg, f"{name} computed while building the graph: {msg}"
    assert short in msg, f"{name} ({lib.raises[name]}): {msg}"
    assert any(h in msg for h in HINTS), f"{name}: no way out in {msg!r}"


# -- sort, argsort and take_along_axis, which dask.array and cubed lack --------
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort(lib, axis, descending):
    h = np.round(_rng().standard_normal((5, 6)), 1)  # ties: stable order matters
    t = xpgrad.tensor(lib.make(h), requires_grad=True)
    with lib.no_compute("argsort"):
        order = xp.argsort(t.detach(), axis=axis, descending=descending, stable=True)
        out = xp.sort(t, axis=axis, descending=descending)
        w = _rng().standard_normal(h.shape)
        xp.sum(out * lib.make(w)).backward()
    assert isinstance(order.data, lib.array_type) and isinstance(out.data, lib.array_type)
    want = np.argsort(-h if descending else h, axis=axis, kind="stable")
    got_order, got, got_grad = lib.compute([order.data, out.data, t.grad])
    np.testing.assert_array_equal(got_order, want)
    np.testing.assert_array_equal(got, np.take_along_axis(h, want, axis=axis))
    grad = np.zeros_like(h)
    np.put_along_axis(grad, want, w, axis=axis)  # each sorted value's weight goes back
    np.testing.assert_allclose(got_grad, grad, rtol=1e-12)


TAKE_ALONG = [
    ("axis0", (5, 4), np.array([[4, 0, -1, 2], [1, 1, 3, -5]]), 0),
    ("axis1-repeats", (3, 6), np.array([[5, 5, 0], [-6, 2, 2], [1, 3, 4]]), 1),
    ("bcast-x", (1, 6), np.array([[0, 5], [1, 2], [3, 3]]), 1),
    ("bcast-indices", (4, 6), np.array([[0, 5, -1]]), 1),
    ("3d", (2, 3, 4), np.array([[[3], [0], [1]], [[2], [2], [-4]]]), 2),
    ("flat", (3, 4), np.array([11, 0, 5, 5]), None),
]


@pytest.mark.parametrize("shape, idx, axis", [c[1:] for c in TAKE_ALONG if c[3] is not None],
                         ids=[c[0] for c in TAKE_ALONG if c[3] is not None])
def test_take_along_axis(lib, shape, idx, axis):
    h = _rng().standard_normal(shape)
    t = xpgrad.tensor(lib.make(h), requires_grad=True)
    want = np.take_along_axis(h, idx, axis=axis)
    w = _rng().standard_normal(want.shape)
    with lib.no_compute("take_along_axis"):
        out = xp.take_along_axis(t, xpgrad.tensor(lib.make(idx)), axis=axis)
        xp.sum(out * lib.make(w)).backward()
    assert isinstance(out.data, lib.array_type)
    got, got_grad = lib.compute([out.data, t.grad])
    np.testing.assert_allclose(got, want, rtol=1e-15)
    # Each picked element's weight goes back to where it came from.
    positions = np.take_along_axis(np.arange(h.size).reshape(shape), idx, axis=axis)
    grad = np.zeros(h.size)
    np.add.at(grad, positions.reshape(-1), w.reshape(-1))
    np.testing.assert_allclose(got_grad, grad.reshape(shape), rtol=1e-12)


class _NoTakeAlongAxis:
    """NumPy's namespace without take_along_axis (as cubed's and dask's)."""

    def __getattr__(self, name):
        if name == "take_along_axis":
            raise AttributeError(name)
        return getattr(cnp, name)


@pytest.mark.parametrize("shape, idx, axis", [c[1:] for c in TAKE_ALONG],
                         ids=[c[0] for c in TAKE_ALONG])
def test_generic_take_along_axis_without_the_namespaces(shape, idx, axis):
    from xpgrad._libs import Library

    h = _rng().standard_normal(shape)
    got = Library("cubed").take_along_axis(_NoTakeAlongAxis(), h, idx, axis=axis)
    want = np.take_along_axis(h.reshape(-1) if axis is None else h, idx, axis=0 if axis is None else axis)
    np.testing.assert_array_equal(got, want)


# -- data-dependent sizes: masks, nonzero, unique ----------------------------
def to_dask(h):
    return library("dask").make(h)


def test_boolean_mask_getitem_and_setitem_on_dask():
    da = pytest.importorskip("dask.array")
    h, m = x().h, mask().h
    t = xpgrad.tensor(to_dask(h), requires_grad=True)
    picked = t[xpgrad.tensor(to_dask(m))]
    assert isinstance(picked.data, da.Array)
    np.testing.assert_array_equal(picked.data.compute(), h[m])
    # Its size is unknown until computed: the next op says so, by name.
    with pytest.raises(ValueError, match=r"sum: x has unknown dimension sizes .*call "
                                         r"x\.compute_chunk_sizes\(\) first \(on a Tensor's \.data\)"):
        xp.sum(picked)
    # an argument without a name: "call argument 1.compute_chunk_sizes()" read as code
    with pytest.raises(ValueError, match=r"argument 1 has unknown dimension sizes .*call "
                                         r"compute_chunk_sizes\(\) on it first"):
        stack = xpgrad.tensor(da.from_array(np.ones((4, 3, 3)), chunks=(2, 3, 3)))
        keep = xpgrad.tensor(da.from_array(np.array([True, False, True, True]), chunks=2))
        xp.linalg.matrix_rank(stack[keep])
    # A mask keeping the shape (where) stays lazy and differentiable.
    kept = xp.where(xpgrad.tensor(to_dask(m)), t, 0.0)
    xp.sum(kept * kept).backward()
    np.testing.assert_allclose(t.grad.compute(), np.where(m, 2 * h, 0.0))
    # setitem with a mask: a scalar, and an array broadcast to x's shape
    t2 = xpgrad.tensor(to_dask(h), requires_grad=True)
    u = t2 * 1.0
    u[xpgrad.tensor(to_dask(m))] = 0.0
    want = h.copy()
    want[m] = 0.0
    np.testing.assert_array_equal(u.data.compute(), want)
    xp.sum(u * to_dask(h)).backward()
    np.testing.assert_allclose(t2.grad.compute(), np.where(m, 0.0, h))


def test_nonzero_and_unique_on_dask_stay_lazy_and_refuse_the_next_op_clearly():
    da = pytest.importorskip("dask.array")
    m = mask().h
    idx = xp.nonzero(xpgrad.tensor(to_dask(m)))
    assert all(isinstance(i.data, da.Array) for i in idx)
    for got, want in zip(idx, np.nonzero(m)):
        np.testing.assert_array_equal(got.data.compute(), want)
    vals = xp.unique_values(xpgrad.tensor(to_dask(ints().h)))
    np.testing.assert_array_equal(vals.data.compute(), np.unique(ints().h))
    with pytest.raises(ValueError, match=r"mul: a has unknown dimension sizes .*compute_chunk_sizes"):
        vals * 2
    # with the sizes computed, the arrays go on as any other
    known = xpgrad.tensor(vals.data.compute_chunk_sizes())
    np.testing.assert_array_equal((known * 2).data.compute(), 2 * np.unique(ints().h))


def test_reshape_across_uneven_chunks_on_dask():
    da = pytest.importorskip("dask.array")
    h = x().h
    t = xpgrad.tensor(da.from_array(h, chunks=(3, 4)), requires_grad=True)
    out = xp.reshape(t, (3, 8))
    np.testing.assert_array_equal(out.data.compute(), h.reshape(3, 8))
    w = _rng().standard_normal((3, 8))
    xp.sum(out * da.from_array(w, chunks=(2, 5))).backward()
    np.testing.assert_array_equal(t.grad.compute(), w.reshape(4, 6))


# -- cubed: sizes that depend on values, and item assignment ------------------
def to_cubed(h):
    return library("cubed").make(h)


def test_boolean_mask_getitem_on_cubed_refuses_clearly_and_where_works():
    h, m = x().h, mask().h
    t = xpgrad.tensor(to_cubed(h), requires_grad=True)
    with pytest.raises((TypeError, ValueError, NotImplementedError), match=r"getitem.*xp\.where"):
        t[xpgrad.tensor(to_cubed(m))]
    kept = xp.where(xpgrad.tensor(to_cubed(m)), t, 0.0)
    xp.sum(kept * kept).backward()
    np.testing.assert_allclose(t.grad.compute(), np.where(m, 2 * h, 0.0))


def test_setitem_on_cubed():
    """Item assignment (which cubed arrays lack) at integers and slices, and a
    scalar at a boolean mask; an array of values at a mask refuses clearly."""
    lib = library("cubed")
    h, m, v = x().h, mask().h, y((2, 3)).h
    t = xpgrad.tensor(to_cubed(h), requires_grad=True)
    with lib.no_compute("setitem"):
        u = t * 1.0
        u[1:3, ::2] = xpgrad.tensor(to_cubed(v))
        u[0, -1] = 7.0
        u[xpgrad.tensor(to_cubed(m))] = 0.0
        w = _rng().standard_normal(h.shape)
        xp.sum(u * to_cubed(w)).backward()
    want = h.copy()
    want[1:3, ::2] = v
    want[0, -1] = 7.0
    want[m] = 0.0
    got, grad = lib.compute([u.data, t.grad])
    np.testing.assert_array_equal(got, want)
    kept = np.ones_like(h)
    kept[1:3, ::2] = 0.0
    kept[0, -1] = 0.0
    kept[m] = 0.0
    np.testing.assert_allclose(grad, w * kept)
    with pytest.raises((TypeError, ValueError, NotImplementedError), match=r"setitem.*xp\.where"):
        u[xpgrad.tensor(to_cubed(m))] = xpgrad.tensor(to_cubed(h[m]))

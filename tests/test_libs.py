"""Library quirks live in xpgrad/_libs/, one adapter per library: each array
type's _Lib holds its library's adapter, the adapters import their library
lazily, and each quirk gives what the generic code would (or what the
library needs instead)."""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

import xpgrad
from xpgrad import _backend, ops
from xpgrad._backend import _lib_of_type, adapter_of, resolve
from xpgrad._device import CPU, Device
from xpgrad import _libs as libs
from xpgrad._libs import Library, adapter_for
from xpgrad._libs import cupy as libs_cupy
from xpgrad._libs.cupy import CuPy, pooled_peak, to_gpu
from xpgrad._libs.dask import Dask
from xpgrad._libs.jax import Jax
from xpgrad._libs.numpy import Numpy, NumpyNamespace
from xpgrad._libs.torch import Torch
from xpgrad.ops.indexing import scatter_add

from tests.support import host, run_python


def test_importing_xpgrad_imports_no_optional_library():
    code = (
        "import sys, xpgrad, xpgrad._libs.torch, xpgrad._libs.jax, xpgrad._libs.cupy, "
        "xpgrad._libs.dask\n"
        "found = [m for m in ('torch', 'jax', 'cupy', 'cupyx', 'dask') if m in sys.modules]\n"
        "assert not found, found\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_each_library_has_its_adapter():
    expected = {"numpy": Numpy, "cupy": CuPy, "torch": Torch, "jax": Jax, "dask": Dask}
    for name, cls in expected.items():
        assert type(adapter_for(name)) is cls and adapter_for(name).name == name
        assert adapter_for(name) is adapter_for(name)  # one instance per library
    generic = adapter_for("some_array_api_library")
    assert type(generic) is Library and generic.name == "some_array_api_library"


def test_numpy_lib_computes_with_the_speed_adapter():
    x = np.ones(3)
    lib = _lib_of_type(type(x), x)
    assert type(lib.adapter) is Numpy
    assert isinstance(lib.xp, NumpyNamespace)
    assert resolve("test", x)[0] is lib.xp
    public = xpgrad.get_namespace(x)
    assert public.__name__ == "array_api_compat.numpy"
    assert adapter_of(lib.xp) is lib.adapter and adapter_of(public) is lib.adapter
    assert not lib.check_device and not lib.scoped and lib.fast


@pytest.mark.parametrize("x_shape, shape", [
    ((), (2, 3)), ((1, 1), (4, 1, 5)), ((1,), (0, 3)), ((), ()), ((2, 1), (3, 2, 4)), ((3,), (2, 3)),
])
def test_numpy_speed_broadcast_to_is_numpys_read_only_view(x_shape, shape):
    base = np.arange(1.0, 1.0 + math.prod(x_shape)).reshape(x_shape)
    for x in (base, base[::-1] if base.ndim else base):  # contiguous and not
        out = NumpyNamespace.broadcast_to(x, shape)
        assert out.shape == shape and out.dtype == x.dtype
        np.testing.assert_array_equal(out, np.broadcast_to(x, shape))
        assert not out.flags.writeable and np.shares_memory(out, x) == (out.size > 0)
    with pytest.raises(ValueError):
        NumpyNamespace.broadcast_to(np.ones((1, 1)), (3,))  # fewer axes than x: NumPy's error


@pytest.mark.parametrize("shape", [(1797, 10), (100, 3, 5), (64, 2), (3, 2), (40, 40)])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "bool"])
def test_numpy_speed_max_and_min_equal_numpys(shape, dtype):
    """The column-by-column max/min over a short last axis (and the others,
    left to NumPy) give NumPy's values, dtype and shape, NaN included."""
    x = (np.random.default_rng(1).standard_normal(shape) * 5).astype(dtype)
    if dtype == "float64":
        x[1, 1] = np.nan
    ns = resolve("test", x)[0]
    last = x.ndim - 1
    for axis in (-1, last, (last,), (-1,), 0, None):
        for keepdims in (False, True):
            for name in ("max", "min"):
                got = getattr(ns, name)(x, axis=axis, keepdims=keepdims)
                want = getattr(np, name)(x, axis=axis, keepdims=keepdims)
                assert got.dtype == want.dtype and np.shape(got) == np.shape(want)
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("shape", [(8, 8), (), (0, 3), (5,)])
def test_numpy_speed_clip_equals_the_compat_clip(dtype, shape):
    """NaN in x or in a bound, bounds the wrong way round, Python ints, a bound
    beyond the dtype's range: the fast clip answers as array_api_compat's."""
    import array_api_compat.numpy as compat

    x = (np.random.default_rng(0).standard_normal(shape) * 3).astype(dtype)
    if x.size:
        x.flat[0] = np.nan
    if x.size > 2:
        x.flat[1], x.flat[2] = -0.0, 0.0
    ns = resolve("test", np.ones(1))[0]
    bounds = [(0.1, 0.5), (None, 0.2), (-0.3, None), (1, 2), (0.5, 0.1), (math.nan, 1.0),
              (None, math.inf), (-1e300, 1e300), (None, None), (0.0, 1.0), (-0.0, 0.0), (0, None)]
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 1e300 does not fit float16 or float32
        for lo, hi in bounds:
            got, want = ns.clip(x, min=lo, max=hi), compat.clip(x, min=lo, max=hi)
            assert type(got) is type(want) and got.dtype == want.dtype
            assert np.shape(got) == np.shape(want)
            np.testing.assert_array_equal(got, want)
            assert np.array_equal(np.signbit(got), np.signbit(want))  # clipped zeros' signs too
            assert got is not x  # a new array, never x itself


def test_numpy_speed_count_nonzero_equals_numpys():
    mask = np.random.default_rng(0).random((3, 4, 5)) > 0.5
    ns = resolve("test", mask)[0]
    for axis in (0, -1, (0, 2), None):
        for keepdims in (False, True):
            got = ns.count_nonzero(mask, axis=axis, keepdims=keepdims)
            want = np.count_nonzero(mask, axis=axis, keepdims=keepdims)
            assert np.asarray(got).dtype == np.asarray(want).dtype
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("x_shape, shape", [
    ((1797, 64), (64,)), ((1797, 64), (1, 64)), ((4, 5, 3), (3,)), ((4, 5, 3), (5, 3)),
    ((4, 5, 3), (5, 1)), ((1, 5, 3), (3,)), ((4, 1, 3), (3,)), ((4, 5, 3), (1, 1, 3)),
    ((0, 3), (3,)), ((4, 5, 3), (4, 1, 3)), ((6,), (1,)), ((6,), ()),
    ((1797, 10), (1797, 1)), ((4, 5, 3), (4, 1, 1)), ((4, 1, 3), (4, 1, 1)), ((4, 5, 3), (1, 1, 1)),
    ((2, 4, 5, 3), (4, 1, 1)), ((4, 0), (4, 1)),
])
def test_sum_to_through_numpys_row_sums(x_shape, shape, dtype):
    """sum_to over leading or trailing axes goes through the adapter's matrix-vector sum:
    within the recursive-summation bound of the exact sum (float64 reference),
    in x's dtype, on contiguous arrays and on views it leaves to NumPy's sum."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal(x_shape).astype(dtype)
    lead = len(x_shape) - len(shape)
    axes = tuple(i for i in range(len(x_shape))
                 if i < lead or (shape[i - lead] == 1 and x_shape[i] != 1))
    for x in (base, np.broadcast_to(base[:1], x_shape) if x_shape[0] else base):
        got = xpgrad.sum_to(x, shape)
        assert got.shape == shape and got.dtype == x.dtype
        exact = np.sum(x.astype(np.float64), axis=axes, keepdims=True).reshape(shape)
        scale = np.sum(np.abs(x.astype(np.float64)), axis=axes, keepdims=True).reshape(shape)
        n = math.prod(x_shape[a] for a in axes)
        assert np.all(np.abs(got - exact) <= (n + 2) * np.finfo(dtype).eps * (scale + 1))


def test_numpy_row_sums_keep_nan_and_inf():
    x = np.ones((300, 3))
    x[7, 0], x[9, 1], x[11, 1] = np.nan, np.inf, -np.inf
    x[5, 2] = np.inf
    with np.errstate(invalid="ignore"):  # inf - inf, which NumPy's own sum warns of too
        got = Numpy().sum_over(np, x, (0,))
    assert got.shape == (1, 3) and np.isnan(got[0, 0]) and np.isnan(got[0, 1])
    assert got[0, 2] == np.inf
    assert Numpy().sum_over(np, x[:, ::2], (0,)) is None  # a strided view: NumPy's own sum
    # a long last axis: NumPy's pairwise sum, the more accurate there
    assert Numpy().sum_over(np, np.ones((2, 4096)), (1,)) is None
    assert Numpy().sum_over(np, np.ones((2, 1024)), (1,)).shape == (2, 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [((64, 64), (64, 64)), ((300,), (1,)), ((1, 300), (5, 1)), ((3,), (3,))])
def test_numpy_speed_logaddexp_is_as_accurate_as_numpys(dtype, shapes):
    """Against the exact value (long double): no worse than NumPy's own
    logaddexp, element for element, and NumPy's answer at equal infinities,
    infinities of both signs and NaN."""
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shapes[0]) * 30).astype(dtype)
    b = (rng.standard_normal(shapes[1]) * 30).astype(dtype)
    special = np.array([np.inf, -np.inf, np.inf, np.nan, 1.0, -np.inf, 0.0, -0.0], dtype)
    if a.size >= 8 and b.size >= 8:
        a.flat[:8] = special
        b.flat[:8] = np.array([np.inf, -np.inf, -np.inf, 1.0, np.nan, 2.0, 0.0, -0.0], dtype)
    ns = resolve("test", a)[0]
    with np.errstate(invalid="ignore"):
        got, want = ns.logaddexp(a, b), np.logaddexp(a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    exact = np.logaddexp(*np.broadcast_arrays(a.astype(np.longdouble), b.astype(np.longdouble)))
    ulp = np.spacing(np.abs(want[finite])).astype(np.longdouble)
    err_got = np.abs(got[finite].astype(np.longdouble) - exact[finite]) / ulp
    err_want = np.abs(want[finite].astype(np.longdouble) - exact[finite]) / ulp
    assert np.all(err_got <= np.maximum(4 * err_want, 4))


@pytest.mark.parametrize("shape", [(40, 30), (8, 8)], ids=["bits", "where"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_zeroing_by_bits_is_numpys_where(dtype, shape):
    """maximum/minimum's NumPy path clears bits instead of calling where (on
    more than 256 elements): the same values for inf, NaN and -0.0, on a
    contiguous G and a broadcast one; ties halved where ``half`` says."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal(shape).astype(dtype)
    g[0, :4] = [np.inf, -np.inf, np.nan, -0.0]
    g[1, :4] = [np.inf, -np.inf, np.nan, -0.0]
    mask = rng.standard_normal(shape) < 0
    mask[0, :4], mask[1, :4] = True, False
    half = np.zeros(shape, bool)
    half[1, :6] = half[2, 0] = True
    for grad in (g, np.broadcast_to(g[:1], g.shape), g.T.copy().T):
        got, want = Numpy().mask_gradient(np, grad, mask), np.where(mask, 0, grad)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        # laid out as the mask, at any size (a later sum_to's route depends on it)
        by_columns = Numpy().mask_gradient(np, grad, np.asfortranarray(mask))
        assert by_columns.flags.f_contiguous and not by_columns.flags.c_contiguous
        got = Numpy().mask_gradient(np, grad, mask, half)
        want = np.where(mask, 0, np.where(half, grad * 0.5, grad)).astype(dtype)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("shape, axis, order", [
    ((400, 300), 1, "C"), ((400, 300), 0, "F"), ((70000,), 0, "C"),  # the argmax path
    ((400, 300), 0, "C"), ((30, 40, 700), 1, "C"), ((400, 300), (0, 1), "C"), ((4000, 30), 1, "C"),
])
def test_add_at_hits_is_add_where_at_one_hit_per_slice(shape, axis, order):
    """NumPy's argmax path of a max's gradient without ties (over 64 Ki
    elements, one reduced axis, its slices of 128 or more contiguous in the
    mask) adds the same values as the masked pass, on a gradient that already
    holds values; the other layouts take the masked pass."""
    rng = np.random.default_rng(0)
    x = np.asarray(rng.standard_normal(shape), order=order)
    hit = x == x.max(axis=axis, keepdims=True)
    values = rng.standard_normal(x.max(axis=axis, keepdims=True).shape)
    into = rng.standard_normal(shape)
    want = Numpy().add_where(np, into.copy(), values, hit)
    got = Numpy().add_at_hits(np, into.copy(), values, hit)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(want, np.where(hit, into + values, into))  # the reference itself


@pytest.mark.parametrize("axis", [0, 1])
def test_max_gradient_summed_into_a_pending_one_at_size(axis):
    """max's gradient added into x's pending gradient (x used again after
    the max) on more than 64 Ki elements: w + v at each slice's maximum,
    by hand."""
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((300, 400))
    v, w = rng.standard_normal(400 if axis == 0 else (300, 1)), rng.standard_normal((300, 400))
    x = xpgrad.tensor(x0, requires_grad=True)
    m = xpgrad.array_api.max(x, axis=axis, keepdims=axis == 1)
    (xpgrad.array_api.sum(m * v) + xpgrad.array_api.sum(x * w)).backward()
    want = w.copy()
    if axis == 0:
        want[x0.argmax(axis=0), np.arange(400)] += v
    else:
        want[np.arange(300), x0.argmax(axis=1)] += v[:, 0]
    np.testing.assert_allclose(x.grad, want, rtol=0, atol=1e-15)


@pytest.mark.parametrize("a, b", [(2.0, 1.0), (1.0, 2.0), (1.0, 1.0)])
def test_zero_d_maximum_where_and_clip_gradients(a, b):
    """0-d operands, whose comparisons are NumPy scalars, not arrays."""
    x, y = xpgrad.tensor(np.array(a), requires_grad=True), xpgrad.tensor(np.array(b), requires_grad=True)
    xpgrad.array_api.maximum(x, y).backward()
    share = 0.5 if a == b else 1.0
    assert (x.grad, y.grad) == ((share, share) if a == b else (float(a > b), float(b > a)))
    x = xpgrad.tensor(np.array(a), requires_grad=True)
    xpgrad.array_api.where(x > 1.5, x, x * 2.0).backward()
    assert x.grad == (1.0 if a > 1.5 else 2.0) and x.grad.shape == ()
    x = xpgrad.tensor(np.array(a), requires_grad=True)
    xpgrad.array_api.clip(x, 1.5, 3.0).backward()
    assert x.grad == (1.0 if 1.5 <= a <= 3.0 else 0.0) and x.grad.shape == ()


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_maximum_and_minimum_gradients_match_torch_on_every_kind_of_element(name, dtype):
    """Ties (G / 2), NaN on either side (G to both), an infinite G, broadcasting."""
    torch = pytest.importorskip("torch")
    import xpgrad.array_api as xa

    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 5)).astype(dtype)
    b = rng.standard_normal((5,)).astype(dtype)
    a[0, :], a[1, 1], b[3] = b, np.nan, np.nan
    g = rng.standard_normal((64, 5)).astype(dtype)
    g[2, 2] = np.inf
    ta, tb = xpgrad.tensor(a, requires_grad=True), xpgrad.tensor(b, requires_grad=True)
    with np.errstate(invalid="ignore"):
        xa.sum(getattr(xa, name)(ta, tb) * g).backward()
    ra, rb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (getattr(torch, name)(ra, rb) * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(ta.grad, ra.grad.numpy())
    tol = 1e-12 if dtype == "float64" else 1e-5  # b's: a sum over 64 rows, in another order
    np.testing.assert_allclose(tb.grad, rb.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_where_gradients_match_torch_on_a_random_condition(dtype):
    """where's NumPy path clears bits instead of calling where: a random
    condition, broadcast operands, an infinite G (0 where not chosen)."""
    torch = pytest.importorskip("torch")
    import xpgrad.array_api as xa

    rng = np.random.default_rng(2)
    cond = rng.standard_normal((64, 5)) < 0
    a = rng.standard_normal((64, 5)).astype(dtype)
    b = rng.standard_normal((5,)).astype(dtype)
    g = rng.standard_normal((64, 5)).astype(dtype)
    g[0, :] = np.inf
    ta, tb = xpgrad.tensor(a, requires_grad=True), xpgrad.tensor(b, requires_grad=True)
    with np.errstate(invalid="ignore"):  # the loss itself is inf - inf
        xa.sum(xa.where(cond, ta, tb) * g).backward()
    ra, rb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (torch.where(torch.tensor(cond), ra, rb) * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(ta.grad, ra.grad.numpy())
    tol = 1e-12 if dtype == "float64" else 1e-5  # b's: a sum over 64 rows, in another order
    np.testing.assert_allclose(tb.grad, rb.grad.numpy(), rtol=tol, atol=tol)


def test_unregistered_namespace_gets_the_generic_adapter():
    assert type(adapter_of(types.SimpleNamespace())) is Library


def _scatter_cases():
    index = [0, 3, 3, 1, 0, 3]
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    expected = np.zeros(5)
    np.add.at(expected, index, values)
    return index, values, expected


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scatter_add_accumulates_repeats_on_every_backend(backend, dtype):
    index, values, expected = _scatter_cases()
    idx = backend.asarray(np.array(index, dtype=np.int64))
    vals = backend.asarray(np.array(values), dtype)
    xp, scope = resolve("test", vals)
    with scope:  # as inside a rule: cubed's arrays made here take the input's spec
        out = scatter_add(xp, 5, idx, vals, vals)
    assert out.shape == (5,) and out.dtype == vals.dtype
    np.testing.assert_allclose(host(out), expected)


def test_scatter_add_numpy_complex_and_generic_one_hot():
    index, values, expected = _scatter_cases()
    xp = resolve("test", np.ones(1))[0]
    idx = np.array(index)
    vals = np.array(values) * (1 - 2j)
    out = scatter_add(xp, 5, idx, vals, vals)
    assert out.dtype == np.complex128
    np.testing.assert_allclose(out, expected * (1 - 2j))
    # The generic adapter's one-hot product gives the same sums.
    generic = Library("generic").scatter_add(xp, 5, idx, np.array(values), idx)
    np.testing.assert_allclose(generic, expected)


def test_torch_quirks():
    torch = pytest.importorskip("torch")
    adapter = _lib_of_type(torch.Tensor, torch.ones(1)).adapter
    assert type(adapter) is Torch and not adapter.negative_slice_steps
    t = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
    out = xpgrad.to_numpy(t)
    assert out.dtype == np.float32 and out.tolist() == [1.5, -2.25]
    z = torch.tensor([1 + 2j]).conj()
    assert xpgrad.to_numpy(z).tolist() == [1 - 2j]
    # A negative step is flipped, not passed to torch, and its gradient lands in place.
    x = xpgrad.tensor(torch.arange(5.0, dtype=torch.float64), requires_grad=True)
    y = x[::-2]
    assert y.detach().numpy().tolist() == [4.0, 2.0, 0.0]
    (y * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
    assert host(x.grad).tolist() == [3.0, 0.0, 2.0, 0.0, 1.0]
    assert isinstance(xpgrad.convert(np.arange(2.0), like=torch.ones(1)), torch.Tensor)


def test_jax_quirks():
    jnp = pytest.importorskip("jax.numpy")
    x = jnp.arange(4.0)
    adapter = _lib_of_type(type(x), x).adapter
    assert type(adapter) is Jax and adapter.device_of(x) == CPU
    xp = resolve("test", x)[0]
    out = adapter.set_copy(xp, x, 1, 9.0)
    assert host(out).tolist() == [0.0, 9.0, 2.0, 3.0] and host(x).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert _backend.namespace_for("jax") is xp


def test_dask_quirks():
    da = pytest.importorskip("dask.array")
    x = da.arange(6.0, chunks=2)
    lib = _lib_of_type(type(x), x)
    assert type(lib.adapter) is Dask and not lib.fast and not lib.check_device
    out = xpgrad.to_numpy(x)
    assert isinstance(out, np.ndarray) and out.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    total = xpgrad.to_numpy(x.sum())  # computes to a NumPy scalar
    assert isinstance(total, np.ndarray) and total.shape == () and total == 15.0
    assert _backend.namespace_for("dask") is lib.xp


def test_half_gemm_per_library():
    assert not adapter_for("numpy").half_gemm and not adapter_for("dask").half_gemm
    assert not adapter_for("array_api_strict").half_gemm
    assert adapter_for("torch").half_gemm and adapter_for("cupy").half_gemm
    info = _backend.dtype_info(resolve("test", np.ones(1))[0], np.dtype(np.float16))
    assert info.gemm == np.float32


# -- CuPy, without CuPy: a stand-in module checks the calls the adapter makes ----


@pytest.fixture
def fake_cupy(monkeypatch):
    calls = _Calls()

    class FakeDevice:
        def __init__(self, index):
            self.id = index

        def __enter__(self):
            calls.append(("enter", self.id))
            return self

        def __exit__(self, *exc):
            calls.append(("exit", self.id))

    cupy = types.ModuleType("cupy")
    class FakePool:
        used = 100

        def used_bytes(self):
            return self.used

        def malloc(self, size):
            self.used += size
            return size

    pool = FakePool()

    @contextlib.contextmanager
    def using_allocator(malloc):
        calls.malloc = malloc  # what CuPy would call for each allocation
        yield
        del calls.malloc

    cupy.cuda = types.SimpleNamespace(Device=FakeDevice, using_allocator=using_allocator)
    cupy.asarray = lambda a: calls.append(("asarray", a)) or np.asarray(a)
    cupy.get_default_memory_pool = lambda: pool
    cupyx = types.ModuleType("cupyx")

    def add_at(out, index, values):  # CuPy 13's list of dtypes (its TypeError); 14.2 adds int64
        if out.dtype.name not in ("int32", "float16", "float32", "float64", "uint32", "uint64"):
            raise TypeError("cupy.add.at only supports int32, float16, float32, float64, "
                            "uint32, uint64")
        calls.append(("add.at", out.dtype.name))
        np.add.at(out, index, values)

    cupy.add = types.SimpleNamespace(at=add_at)
    cupy.uint64 = np.uint64
    # deprecated, with a warning on every call, since CuPy 13
    cupyx.scatter_add = lambda *a: pytest.fail("cupyx.scatter_add is deprecated; use cupy.add.at")
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    # No GPU here: every cuda:N counts as available (without filling _device's cache).
    monkeypatch.setattr(libs, "require_available", lambda dev, op: dev)
    monkeypatch.setattr(libs_cupy, "require_available", lambda dev, op: dev)
    calls.pool = pool
    return calls


class _Calls(list):
    pass


def test_cupy_adapter_calls(fake_cupy):
    host_array = np.arange(3.0)
    to_gpu(host_array, 1)
    assert fake_cupy == [("enter", 1), ("asarray", host_array), ("exit", 1)]
    adapter = CuPy()
    assert adapter.scoped
    array = types.SimpleNamespace(device=types.SimpleNamespace(id=1), get=lambda: "on the host")
    assert adapter.device_of(array) == Device("cuda:1")
    assert adapter.to_numpy(array) == "on the host"
    index, values, expected = _scatter_cases()
    out = adapter.scatter_add(np, 5, np.array(index), np.array(values), None)
    np.testing.assert_allclose(out, expected)


@pytest.mark.parametrize("dtype, parts", [("complex128", ["float64"] * 2), ("complex64", ["float32"] * 2),
                                          ("float16", ["float32"]), ("int64", ["uint64"]),
                                          ("int8", ["int32"]), ("uint16", ["int32"])])
def test_cupy_scatter_add_takes_complex_half_precision_and_integers(fake_cupy, dtype, parts):
    # cupy.add.at refuses complex dtypes (and bfloat16, small integers, and int64 before
    # CuPy 14.2): every gather's backward raised on complex CuPy data
    index, values, expected = _scatter_cases()
    if "int" in dtype:  # NumPy's sums in the dtype itself, which wrap (int8: -132 is 124)
        values = (np.array(values) * (-12 if dtype != "uint16" else 12000)).astype(dtype)
        expected = np.zeros(5, dtype)
        np.add.at(expected, index, values)
    elif "complex" in dtype:
        values, expected = np.array(values) * (1 - 2j), np.array(expected) * (1 - 2j)
    out = CuPy().scatter_add(np, 5, np.array(index), np.asarray(values).astype(dtype), None)
    assert out.dtype == dtype and [c[1] for c in fake_cupy if c[0] == "add.at"] == parts
    if "int" in dtype:
        np.testing.assert_array_equal(out, expected)
    else:
        np.testing.assert_allclose(out, expected, rtol=1e-3)


def test_cupy_repeat_takes_an_array_of_repeats():
    # CuPy 13 and 14 raise "cupy.ndarray cannot be specified as repeats argument"
    def repeat(x, repeats, axis=None):
        if hasattr(repeats, "shape"):
            raise ValueError("cupy.ndaray cannot be specified as repeats argument.")
        return np.repeat(x, repeats, axis=axis)

    cupy_like = types.SimpleNamespace(repeat=repeat)
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = CuPy().repeat(cupy_like, x, np.array([2, 0]), 0)
    np.testing.assert_array_equal(out, [[1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_array_equal(CuPy().repeat(cupy_like, x, 2, 1), np.repeat(x, 2, axis=1))


def test_cupy_solve_follows_the_standard_on_batches_and_vectors():
    # CuPy 13 read a b of shape a.shape[:-1] as vectors ((3, 3, 3) and (3, 3) gave (3, 3)),
    # and CuPy 13 and 14 refuse batch axes that differ; this stand-in does both
    def solve(a, b):
        if a.shape[:-2] != b.shape[:-2] or a.ndim != b.ndim:
            raise ValueError("a and b must have the same batch shape")
        return np.linalg.solve(a, b)

    fake = types.SimpleNamespace(linalg=types.SimpleNamespace(solve=solve),
                                 broadcast_to=np.broadcast_to)
    fn = CuPy().linalg_function(fake, "solve")
    rng = np.random.default_rng(0)
    for sa, sb in [((3, 3, 3), (3, 3)), ((2, 3, 3), (3,)), ((3, 1, 4, 4), (2, 4, 1)),
                   ((4, 4), (5, 4, 2)), ((4, 4), (4,))]:
        a, b = rng.normal(size=sa) + 4 * np.eye(sa[-1]), rng.normal(size=sb)
        want = np.linalg.solve(a, b)  # NumPy 2 follows the standard
        np.testing.assert_allclose(fn(a, b), want, rtol=1e-12)


def test_to_device_onto_a_gpu_goes_through_cupy(fake_cupy):
    host_array = np.arange(3.0)
    Numpy().to_device(host_array, Device("cuda:1"))
    assert fake_cupy == [("enter", 1), ("asarray", host_array), ("exit", 1)]
    fake_cupy.clear()
    gpu_array = types.SimpleNamespace(get=lambda: pytest.fail("a GPU-to-GPU copy went through the host"))
    CuPy().to_device(gpu_array, Device("cuda:0"))
    assert fake_cupy == [("enter", 0), ("asarray", gpu_array), ("exit", 0)]


def test_pooled_peak_reads_the_pool_around_the_call(fake_cupy):
    waited = []

    def fn():
        fake_cupy.malloc(64)
        fake_cupy.malloc(32)
        fake_cupy.pool.used -= 96  # both freed before the call returns
        return "result"

    peak, result = pooled_peak(fn, Device("cuda:0"), waited.append)
    assert result == "result" and peak == 96
    assert waited == [Device("cuda:0")] * 2  # before and after the call
    assert fake_cupy == [("enter", 0), ("exit", 0)]


def test_jax_without_x64_computes_positions_in_int32_without_warnings():
    # the backward of sort, tile, repeat and take_along_axis asked JAX for int64
    # positions, which it cannot make without x64: a UserWarning on each call
    pytest.importorskip("jax")
    code = (
        "import warnings\n"
        "warnings.simplefilter('error')\n"
        "import numpy as np, jax.numpy as jnp, xpgrad, xpgrad.array_api as xp\n"
        "h = np.array([[0.3, 0.1, 0.2], [0.6, 0.5, 0.4]], np.float32)\n"
        "for f in (lambda t: xp.sort(t, axis=1), lambda t: xp.tile(t, (2, 1)),\n"
        "          lambda t: xp.repeat(t, 2, axis=1),\n"
        "          lambda t: xp.take_along_axis(t, xp.argsort(t, axis=1), axis=1)):\n"
        "    t = xpgrad.tensor(jnp.asarray(h), requires_grad=True)\n"
        "    xp.sum(f(t) * f(t)).backward()\n"
        "    print(t.grad.dtype, np.round(np.asarray(t.grad) / h, 4).tolist())\n"
    )
    lines = run_python(code)
    # d sum(y^2) / dx = 2 x times how often each x appears in y: once, twice, twice, once
    want = [f"float32 {[[k] * 3] * 2}" for k in (2.0, 4.0, 4.0, 2.0)]
    assert lines[:4] == want


def test_a_library_that_wraps_indices_gets_wrapped_gradient_positions(monkeypatch):
    # CuPy's take wraps an index out of range round its axis (mode="wrap"):
    # the positions by arithmetic wrapped round the whole array instead, so
    # take(x, [5], axis=1) of a (3, 4) x sent its gradient to the wrong rows.
    # NumPy's take with mode="wrap" stands in for CuPy's here
    from xpgrad.ops import indexing

    x0 = np.arange(12.0).reshape(3, 4)
    monkeypatch.setattr(Numpy, "gather_wraps", True)
    monkeypatch.setattr(indexing.take, "gather", staticmethod(
        lambda xp, x, indices, axis=None: np.take(x, indices, axis=axis, mode="wrap")))
    out, ctx = ops.take.forward(x0, np.array([5, -1]), axis=1)
    np.testing.assert_array_equal(out, x0[:, [1, 3]])
    (dx, _) = ops.take.backward(np.ones_like(out), ctx)
    want = np.zeros((3, 4))
    want[:, [1, 3]] = 1.0
    np.testing.assert_array_equal(dx, want)


def test_a_library_that_wraps_indices_finds_repeats_among_wrapped_ones(monkeypatch):
    # on CuPy, x[[0, 3]] = v on an axis of 3 writes position 0 twice: the check for
    # repeats read 3 as its own position, skipped the last-write pass, and both
    # elements of v got position 0's gradient (a stand-in showed dv = [1, 1] for [0, 1])
    from xpgrad.ops import indexing

    xp = resolve("test", np.zeros(3))[0]
    x = np.zeros((2, 3))
    repeats = lambda *key: indexing._index_repeats(xp, x, key)  # noqa: E731
    monkeypatch.setattr(Numpy, "gather_wraps", True)
    assert repeats(slice(None), np.array([0, 3])) and repeats(slice(None), np.array([-4, 2]))
    assert repeats(np.array([1, -1])) and not repeats(slice(None), np.array([0, 2, -2]))
    monkeypatch.setattr(Numpy, "gather_wraps", False)  # NumPy: 3 is out of range, not 0
    assert not repeats(slice(None), np.array([0, 3]))


def test_a_library_that_writes_repeats_in_any_order_gets_the_last_write(monkeypatch):
    # CuPy (and torch on a GPU) leave open which write to a repeated position lands:
    # the last-write pass ran only for a value that needs a gradient, so integer data
    # got whichever write CuPy picked, where NumPy (and the README) keep the last
    from xpgrad.ops import indexing

    calls = []
    real = indexing._set_last
    monkeypatch.setattr(indexing, "_set_last", lambda *a: calls.append(1) or real(*a))
    x = xpgrad.tensor(np.zeros(3, dtype=np.int64))
    x[np.array([0, 0, 2])] = np.array([1, 2, 3])
    assert calls == []  # NumPy writes the last itself
    monkeypatch.setattr(Numpy, "writes_in_order", lambda self, x: False)
    x[np.array([0, 0, 2])] = np.array([4, 5, 6])
    x[np.array([1, 1])] = 7  # one number: every write the same
    assert calls == [1]
    np.testing.assert_array_equal(x.data, [5, 7, 6])


def test_a_mask_assignment_on_array_api_strict_s_other_device():
    # the rule wrapped the mask in a 1-tuple, which array_api_strict's __setitem__
    # converts through NumPy, refused off its default device
    xs = pytest.importorskip("array_api_strict")
    device = xs.Device("device1")
    x = xpgrad.tensor(xs.asarray([[3.0, 1.0], [0.0, 5.0]], device=device), requires_grad=True)
    t = x * 1.0
    t[t > 1] = 0.0
    xpgrad.array_api.sum(t * 2.0).backward()
    assert t.data.device == device and x.grad.device == device
    np.testing.assert_array_equal(np.asarray(xs.asarray(t.data, device=xs.Device("CPU_DEVICE"))),
                                  [[0.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(xs.asarray(x.grad, device=xs.Device("CPU_DEVICE"))),
                                  [[0.0, 2.0], [2.0, 0.0]])


def test_creation_on_jax_without_x64_asks_for_no_64_bit_dtype():
    # the standard's defaults (float64, int64, complex128) were asked of JAX, which
    # has none without x64: each call warned, and raised under -W error
    pytest.importorskip("jax")
    lines = run_python(
        "import warnings, jax\n"
        "jax.config.update('jax_enable_x64', False)\n"
        "warnings.simplefilter('error')\n"
        "import jax.numpy as jnp, xpgrad, xpgrad.array_api as xp\n"
        "dev = xpgrad.tensor(jnp.ones(2)).device\n"
        "for r in (xp.asarray([1.0, 2.0], device=dev), xp.arange(3, device=dev),\n"
        "          xp.zeros(3, device=dev), xp.eye(2, device=dev), xp.full(2, 1j, device=dev),\n"
        "          xp.linspace(0, 1, 3, device=dev), xp.fft.fftfreq(4, device=dev)):\n"
        "    print(r.dtype)\n"
    )
    assert lines[:7] == ["float32", "int32", "float32", "float32", "complex64", "float32", "float32"]

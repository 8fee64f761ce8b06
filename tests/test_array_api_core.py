"""The core of ``xpgrad.array_api``: dtype objects and the data type functions,
creation functions, the array object's operators and conversions, and the
functions that refuse to drop a gradient.

Expected values are written out by hand (the standard's promotion table,
IEEE limits) or come from NumPy on the same values; nothing here is computed
with xpgrad itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xp
from tests.support import backend_params, host, same_library

# JAX compiles each op at each shape: half of its cases here in a plain run,
# all with --backend jax (tests/conftest.py)
pytestmark = pytest.mark.jax_sample(2)

NAMES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
         "float32", "float64", "complex64", "complex128"]
LIBRARIES = ["numpy", "torch", "array_api_strict", "jax.numpy"]


def _library(name):
    return pytest.importorskip(name)


def _t(backend, values, dtype=None):
    return xpgrad.tensor(backend.asarray(np.asarray(values, dtype=dtype)))


# -- dtypes ---------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBRARIES)
def test_dtypes_equal_the_library_dtype_of_the_same_name_only(lib):
    mod = _library(lib)
    for name in NAMES:
        native = getattr(mod, name, None)
        if native is None:  # torch has no uint16/32/64 in some builds
            continue
        assert getattr(xp, name) == native, name
        if lib != "array_api_strict":  # its DType.__eq__ answers False, not NotImplemented
            assert native == getattr(xp, name), name  # reflected
        other = "float32" if name != "float32" else "float64"
        assert getattr(xp, other) != native, (other, name)


def test_dtypes_equal_numpy_dtype_instances_and_not_strings():
    assert xp.int16 == np.dtype("int16")
    assert np.dtype("complex64") == xp.complex64
    assert xp.float64 != "float64"
    assert xp.float64 != None  # noqa: E711 - the comparison under test


def test_tensor_dtype_equals_the_native_dtype(backend):
    t = _t(backend, [1.0, 2.0], "float32")
    assert t.dtype == xp.float32
    assert t.dtype == t.data.dtype
    assert t.dtype != xp.float64


@pytest.mark.parametrize("dtype, kind, expected", [
    ("int8", "signed integer", True),
    ("uint8", "signed integer", False),
    ("uint64", "integral", True),
    ("float32", "integral", False),
    ("float32", "real floating", True),
    ("complex64", "real floating", False),
    ("complex128", "complex floating", True),
    ("bool", "numeric", False),
    ("uint16", "numeric", True),
    ("complex64", ("bool", "real floating"), False),
    ("complex64", ("bool", "complex floating"), True),
    ("int32", "int32", True),
    ("int32", "int64", False),
])
def test_isdtype(dtype, kind, expected):
    kind = getattr(xp, kind) if isinstance(kind, str) and kind in NAMES else kind
    assert xp.isdtype(getattr(xp, dtype), kind) is expected


def test_isdtype_takes_native_dtypes_and_refuses_unknown_kinds():
    torch = _library("torch")
    assert xp.isdtype(torch.float64, "real floating") is True
    assert xp.isdtype(np.dtype("int8"), xp.int8) is True
    with pytest.raises(ValueError, match="isdtype: unknown kind 'floating'"):
        xp.isdtype(xp.float32, "floating")


@pytest.mark.parametrize("a, b, expected", [
    ("uint8", "int8", "int16"),
    ("uint16", "int16", "int32"),
    ("uint32", "int32", "int64"),
    ("uint8", "int64", "int64"),
    ("int8", "int32", "int32"),
    ("uint16", "uint64", "uint64"),
    ("float32", "float64", "float64"),
    ("float32", "complex64", "complex64"),
    ("float64", "complex64", "complex128"),
    ("bool", "bool", "bool"),
])
def test_result_type_follows_the_promotion_table(a, b, expected):
    assert xp.result_type(getattr(xp, a), getattr(xp, b)) == getattr(xp, expected)
    assert xp.result_type(getattr(xp, b), getattr(xp, a)) == getattr(xp, expected)


@pytest.mark.parametrize("a, b", [("uint64", "int64"), ("int8", "float32"), ("bool", "int8")])
def test_result_type_refuses_what_the_standard_leaves_undefined(a, b):
    with pytest.raises(TypeError, match="result_type"):
        xp.result_type(getattr(xp, a), getattr(xp, b))


def test_result_type_with_python_scalars_and_arrays(backend):
    assert xp.result_type(xp.float32, 1.0) == xp.float32
    assert xp.result_type(xp.int8, 1) == xp.int8
    assert xp.result_type(xp.float32, 1j) == xp.complex64
    assert xp.result_type(_t(backend, [1], "int16"), xp.uint8) == xp.int16
    with pytest.raises(TypeError, match="result_type: a float scalar with a int8 array"):
        xp.result_type(xp.int8, 1.0)


@pytest.mark.parametrize("a, b, expected", [
    ("int8", "int16", True), ("int16", "int8", False), ("uint8", "int16", True),
    ("uint8", "int8", False), ("int64", "float64", False), ("float32", "complex64", True),
    ("complex64", "float64", False), ("bool", "int8", False), ("float64", "float64", True),
])
def test_can_cast(a, b, expected):
    assert xp.can_cast(getattr(xp, a), getattr(xp, b)) is expected


@pytest.mark.parametrize("name, bits, eps, max_, smallest_normal, real", [
    ("float32", 32, 2.0 ** -23, (2 - 2.0 ** -23) * 2.0 ** 127, 2.0 ** -126, "float32"),
    ("float64", 64, 2.0 ** -52, (2 - 2.0 ** -52) * 2.0 ** 1023, 2.0 ** -1022, "float64"),
    ("complex64", 32, 2.0 ** -23, (2 - 2.0 ** -23) * 2.0 ** 127, 2.0 ** -126, "float32"),
])
def test_finfo_golden_values_are_python_floats(name, bits, eps, max_, smallest_normal, real):
    info = xp.finfo(getattr(xp, name))
    assert (info.bits, info.eps, info.max, info.min, info.smallest_normal) == (
        bits, eps, max_, -max_, smallest_normal)
    assert all(type(v) is float for v in (info.eps, info.max, info.min, info.smallest_normal))
    assert info.dtype == getattr(xp, real)


@pytest.mark.parametrize("name, bits, lo, hi", [
    ("int8", 8, -128, 127), ("uint8", 8, 0, 255), ("int64", 64, -2 ** 63, 2 ** 63 - 1),
    ("uint64", 64, 0, 2 ** 64 - 1),
])
def test_iinfo_golden_values(name, bits, lo, hi):
    info = xp.iinfo(getattr(xp, name))
    assert (info.bits, info.min, info.max, info.dtype) == (bits, lo, hi, getattr(xp, name))


def test_finfo_and_iinfo_refuse_the_other_kind():
    with pytest.raises(TypeError, match="finfo: int8 is not a floating dtype"):
        xp.finfo(xp.int8)
    with pytest.raises(TypeError, match="iinfo: float32 is not an integer dtype"):
        xp.iinfo(xp.float32)


# -- creation ---------------------------------------------------------------


def test_creation_on_a_tensors_device_keeps_its_library(backend):
    t = _t(backend, [1.0, 2.0])
    ref = t.data
    made = [xp.zeros(3, device=t.device), xp.ones((2,), device=t.device),
            xp.full((2,), 7.0, device=t.device), xp.arange(3, device=t.device),
            xp.asarray([1.0, 2.0], device=t.device), xp.eye(2, device=t.device),
            xp.linspace(0.0, 1.0, 5, device=t.device), xp.zeros_like(t), xp.empty(2, device=t.device)]
    for out in made:
        assert same_library(out.data, ref), type(out.data)
        assert out.device == t.device


def test_creation_defaults_to_the_standards_dtypes_on_every_library(backend):
    t = _t(backend, [1.0])
    d = t.device
    assert xp.zeros(2, device=d).dtype == xp.float64
    assert xp.asarray([1.5], device=d).dtype == xp.float64
    assert xp.asarray([1], device=d).dtype == xp.int64
    assert xp.asarray([True], device=d).dtype == xp.bool
    assert xp.full((1,), 2, device=d).dtype == xp.int64
    assert xp.full((1,), 2.0, device=d).dtype == xp.float64
    assert xp.arange(3, device=d).dtype == xp.int64
    assert xp.arange(0.5, 3, device=d).dtype == xp.float64
    np.testing.assert_array_equal(host(xp.linspace(0.0, 1.0, 3, device=d)), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(host(xp.eye(2, 3, k=1, device=d)), np.eye(2, 3, k=1))


def test_creation_on_cpu_gives_numpy():
    for out in (xp.zeros(2, device="cpu"), xp.asarray([1, 2], device="cpu"), xp.ones(1)):
        assert isinstance(out.data, np.ndarray)
        assert not out.requires_grad


def test_like_functions_keep_shape_dtype_and_library(backend):
    t = _t(backend, [[1.0, 2.0, 3.0]], "float32")
    for out in (xp.zeros_like(t), xp.ones_like(t), xp.full_like(t, 4.0), xp.empty_like(t)):
        assert out.shape == (1, 3) and out.dtype == xp.float32
        assert same_library(out.data, t.data)
    np.testing.assert_array_equal(host(xp.full_like(t, 4.0, dtype=xp.int32)), [[4, 4, 4]])


def test_asarray_of_a_tensor_returns_it_with_its_graph(backend):
    x = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0])), requires_grad=True)
    y = x * 3.0
    assert xp.asarray(y) is y
    assert xp.asarray(y, device=y.device) is y
    xp.asarray(y).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [3.0, 3.0])


def test_asarray_of_a_native_array_keeps_its_library_and_values(backend):
    a = backend.asarray(np.array([1.0, 2.5]))
    out = xp.asarray(a)
    assert same_library(out.data, a)
    np.testing.assert_array_equal(host(out), [1.0, 2.5])


def test_asarray_refuses_a_nested_tensor_that_requires_grad():
    x = xpgrad.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="asarray: a nested sequence holds a tensor that requires grad"):
        xp.asarray([x, x])


def test_from_dlpack_keeps_a_known_library_and_tensors_export_dlpack(backend):
    if backend.name == "cupy":
        pytest.skip("NumPy cannot import GPU memory through DLPack")
    if backend.name == "cubed":
        pytest.skip("cubed arrays do not export DLPack (test_cubed.py checks the error)")
    a = backend.asarray(np.array([1.0, 2.0]))
    out = xp.from_dlpack(a)
    assert same_library(out.data, a)
    np.testing.assert_array_equal(np.from_dlpack(out), [1.0, 2.0])
    assert out.__dlpack_device__()[0] == 1  # kDLCPU


# -- operators and conversions ------------------------------------------------


def test_comparisons_with_scalars_on_either_side(backend):
    t = _t(backend, [1.0, 2.0, 3.0])
    cases = {
        "t == 2": (t == 2.0, [False, True, False]),
        "2 == t": (2.0 == t, [False, True, False]),
        "t != 2": (t != 2.0, [True, False, True]),
        "t < 2": (t < 2.0, [True, False, False]),
        "2 < t": (2.0 < t, [False, False, True]),
        "t <= 2": (t <= 2.0, [True, True, False]),
        "2 >= t": (2.0 >= t, [True, True, False]),
        "t > 2": (t > 2, [False, False, True]),
        "t >= t": (t >= t, [True, True, True]),
    }
    for what, (out, expected) in cases.items():
        assert out.dtype == xp.bool, what
        assert same_library(out.data, t.data), what
        np.testing.assert_array_equal(host(out), expected, err_msg=what)


def test_comparison_with_a_non_array_is_python_equality():
    t = xpgrad.tensor([1.0])
    assert (t == None) is False  # noqa: E711 - the comparison under test
    assert (t != "a") is True


def test_integer_operators_with_scalars_on_either_side(backend):
    t = _t(backend, [5, 6, 7], "int32")
    h = np.array([5, 6, 7], dtype=np.int32)
    cases = {
        "t & 3": (t & 3, h & 3), "3 & t": (3 & t, 3 & h), "t | 8": (t | 8, h | 8),
        "8 | t": (8 | t, 8 | h), "t ^ 1": (t ^ 1, h ^ 1), "1 ^ t": (1 ^ t, 1 ^ h),
        "t << 1": (t << 1, h << 1), "1 << t": (1 << t, 1 << h), "t >> 1": (t >> 1, h >> 1),
        "64 >> t": (64 >> t, 64 >> h), "~t": (~t, ~h), "t // 2": (t // 2, h // 2),
        "20 // t": (20 // t, 20 // h),
    }
    for what, (out, expected) in cases.items():
        assert out.dtype == xp.int32, what
        np.testing.assert_array_equal(host(out), expected, err_msg=what)


def test_bool_operators(backend):
    a = _t(backend, [True, False, True])
    b = _t(backend, [True, True, False])
    np.testing.assert_array_equal(host(a & b), [True, False, False])
    np.testing.assert_array_equal(host(a | b), [True, True, True])
    np.testing.assert_array_equal(host(a ^ b), [False, True, True])
    np.testing.assert_array_equal(host(~a), [False, True, False])


def test_float_floor_divide_with_scalars(backend):
    t = _t(backend, [-3.5, 2.0, 7.25])
    np.testing.assert_array_equal(host(t // 2.0), [-2.0, 1.0, 3.0])
    np.testing.assert_array_equal(host(10.0 // t), [-3.0, 5.0, 1.0])


@pytest.mark.parametrize("backend", backend_params(), indirect=True)
def test_scalar_conversions(backend):
    f = _t(backend, 2.75)
    i = _t(backend, -3, "int64")
    b = _t(backend, True)
    assert float(f) == 2.75 and type(float(f)) is float
    assert int(f) == 2 and int(i) == -3 and type(int(i)) is int
    assert bool(b) is True and bool(_t(backend, 0.0)) is False
    assert complex(f) == 2.75 + 0j
    assert [10, 11, 12, 13][_t(backend, 2, "int32")] == 12
    assert float(_t(backend, [4.5])) == 4.5  # one element, 1-D


def test_scalar_conversions_refuse_what_is_not_one_value(backend):
    t = _t(backend, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"__bool__: the truth value of a tensor of shape \(2,\)"):
        bool(t)
    with pytest.raises(TypeError, match="__float__: only a one-element tensor"):
        float(t)
    with pytest.raises(TypeError, match="__int__: only a one-element tensor"):
        int(t)
    with pytest.raises(TypeError, match="__index__: only a 0-D integer tensor is an index"):
        [1, 2][_t(backend, 1.0)]


def test_float_of_a_tensor_that_requires_grad_gives_its_value():
    x = xpgrad.tensor(1.5, requires_grad=True)
    assert float(x * 2.0) == 3.0


def test_array_namespace_is_the_module(backend):
    array_api_compat = pytest.importorskip("array_api_compat")
    t = _t(backend, [1.0])
    assert t.__array_namespace__() is xp
    assert t.__array_namespace__(api_version="2024.12") is xp
    assert array_api_compat.array_namespace(t) is xp
    assert array_api_compat.array_namespace(t, xp.zeros(1)) is xp
    with pytest.raises(ValueError, match="api_version '1999.01' is not supported"):
        t.__array_namespace__(api_version="1999.01")


def test_size_device_and_to_device(backend):
    t = _t(backend, np.zeros((2, 3)))
    assert t.size == 6
    assert t.device == backend.device
    assert t.to_device(t.device) is t
    moved = t.to_device("cpu")
    assert moved.device == "cpu" and moved.shape == (2, 3)
    if backend.device == "cpu":  # already there: the library stays
        assert same_library(moved.data, t.data)
    with pytest.raises(ValueError, match="to_device: stream is not supported"):
        t.to_device("cpu", stream=1)


# -- names xpgrad lacks, and functions that would drop a gradient ----------------


def test_a_standard_name_xpgrad_lacks_says_so(monkeypatch):
    # Every name of 2024.12 is provided now; a name a later version adds is not.
    missing = sorted(n for n in xp._STANDARD if n not in xp.__all__)
    assert not missing, f"xpgrad.array_api lacks {missing} of the standard"
    monkeypatch.setattr(xp, "_STANDARD", xp._STANDARD | {"a_later_name"})
    with pytest.raises(AttributeError, match=r"xpgrad.array_api.a_later_name: the Array API "
                                             r"standard defines .* not differentiable in xpgrad yet"):
        xp.a_later_name  # noqa: B018 - the lookup under test
    assert not hasattr(xp, "a_later_name")
    with pytest.raises(AttributeError, match="has no attribute 'not_a_standard_name'"):
        xp.not_a_standard_name  # noqa: B018 - the lookup under test


@pytest.mark.parametrize("call", [
    pytest.param(lambda x: xp.nextafter(x, 2.0), id="nextafter-x1"),
    pytest.param(lambda x: xp.nextafter(xpgrad.tensor([0.0, 0.0]), x), id="nextafter-x2"),
])
def test_nextafter_refuses_a_gradient_that_reaches_it_and_passes_one_that_does_not(call):
    # it refused any input that requires grad, so scikit-learn's
    # _weighted_percentile raised though its nextafter only picks positions
    # (torch runs it); now the refusal comes where a gradient reaches it
    x = xpgrad.tensor([1.0, 3.0], requires_grad=True)
    stepped = call(x)
    picked = xp.where(stepped > 1.5, x, 0.0)  # its value only compares: fine
    xp.sum(picked).backward()
    np.testing.assert_array_equal(x.grad, np.where(host(stepped) > 1.5, 1.0, 0.0))
    with pytest.raises(TypeError, match=r"^nextafter: not differentiable in xpgrad yet, and a "
                                        r"gradient reached it"):
        xp.sum(call(x)).backward()
    with pytest.raises(TypeError, match=r"^nextafter: not differentiable"):
        xpgrad.hvp(lambda t: xp.sum(call(t) * t), np.ones(2), np.ones(2))
    with xpgrad.no_grad():
        assert not call(x).requires_grad


@pytest.mark.parametrize("call", [
    pytest.param(xp.unique_values, id="unique_values"),
    pytest.param(xp.unique_counts, id="unique_counts"),
    pytest.param(xp.unique_inverse, id="unique_inverse"),
    pytest.param(xp.unique_all, id="unique_all"),
])
def test_nondifferentiable_functions_refuse_to_drop_a_gradient(call):
    x = xpgrad.tensor([1.0, 1.0], requires_grad=True)
    with pytest.raises(TypeError, match="not differentiable in xpgrad yet, and its value depends"):
        call(x)
    with xpgrad.no_grad():
        call(x)  # nothing is recorded there, so nothing is lost
    call(x.detach())


def test_nondifferentiable_functions_values(backend):
    t = _t(backend, [1.0, 1.0, 3.0])
    if backend.name == "cubed":  # a size that depends on the data: refused by name
        with pytest.raises(NotImplementedError, match="^unique_values: cubed"):
            xp.unique_values(t)
    else:
        np.testing.assert_array_equal(host(xp.unique_values(t)), [1.0, 3.0])
    step = host(xp.nextafter(t, 2.0))
    np.testing.assert_array_equal(step, np.nextafter(np.array([1.0, 1.0, 3.0]), 2.0))
    # floor is piecewise constant: recorded with a zero gradient, as torch (test_silent.py)
    assert xp.floor(xpgrad.tensor([1.5], requires_grad=True)).requires_grad
    np.testing.assert_array_equal(host(xp.argmax(t)), 2)
    assert math.isclose(float(xp.count_nonzero(t)), 3.0)


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch", "jax")), indirect=True)
def test_searchsorted_gives_the_default_index_dtype(backend):
    # JAX gives int32 even with x64 on; the standard's default index dtype is int64
    x = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0, 3.0])))
    out = xp.searchsorted(x, xpgrad.tensor(backend.asarray(np.array([2.5, 0.0]))))
    assert out.dtype == xp.int64
    np.testing.assert_array_equal(np.asarray(out.data), [2, 0])


def test_namespace_info_follows_the_default_device():
    # dtypes() without a device listed NumPy's dtypes under a torch default
    # device, whose library lacks uint16, uint32 and uint64
    torch = pytest.importorskip("torch")
    info = xp.__array_namespace_info__()
    assert "uint64" in info.dtypes()
    with xpgrad.default_device(xpgrad.tensor(torch.ones(1)).device):
        assert "uint64" not in info.dtypes() and "uint8" in info.dtypes()
        assert info.dtypes() == info.dtypes(device=info.default_device())


def test_names_of_the_standards_next_revision_say_they_are_missing():
    # 2025.12's names got Python's bare "has no attribute", where the README promised this
    for lookup, name in ((lambda: xp.isin, "isin"), (lambda: xp.broadcast_shapes, "broadcast_shapes"),
                         (lambda: xp.linalg.eig, "linalg.eig"), (lambda: xp.linalg.eigvals, "linalg.eigvals")):
        with pytest.raises(AttributeError, match=rf"^xpgrad.array_api.{name}: the Array API "
                                                 rf"standard defines {name}, but it is not"):
            lookup()

"""Bad input gets xpgrad's own error, of the right type, on every backend.

Each case here was once answered by a backend's own error (AttributeError,
torch's RuntimeError) or, worse, silently accepted.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
from xpgrad import ops


def test_permute_dims_rejects_out_of_range_axes_instead_of_wrapping(backend):
    x = backend.asarray(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"permute_dims: axis 2 is out of range for shape \(2, 3\)"):
        ops.permute_dims.forward(x, (1, 2))
    with pytest.raises(ValueError, match="permute_dims"):
        ops.permute_dims.forward(x, (0, 0))


@pytest.mark.parametrize("bad", [True, 1.0, (True,), (0, 1.0)], ids=repr)
def test_sum_axis_type_checked_even_after_int_axis_was_cached(bad):
    x = np.ones((2, 3))
    ops.sum.forward(x, axis=1)  # puts axis=1 (== True == 1.0 as a dict key) in the cache
    ops.sum.forward(x, axis=(0, 1))
    with pytest.raises(TypeError, match="sum: axis must be None, an int or a tuple of ints"):
        ops.sum.forward(x, axis=bad)


@pytest.mark.parametrize("rule", [ops.add, ops.sub, ops.mul, ops.div], ids=lambda r: r.__name__)
def test_binary_ops_name_themselves_when_shapes_do_not_broadcast(backend, rule):
    a, b = backend.asarray(np.ones(3)), backend.asarray(np.ones(4))
    with pytest.raises(ValueError, match=rf"{rule.__name__}: shapes \(3,\), \(4,\) do not broadcast"):
        rule.forward(a, b)


def test_reshape_error_is_value_error_on_every_backend(backend):
    with pytest.raises(ValueError, match=r"reshape: cannot reshape x of shape \(6,\) to \(4, -1\)"):
        ops.reshape.forward(backend.asarray(np.ones(6)), (4, -1))


@pytest.mark.parametrize("left", [True, False], ids=["scalar@array", "array@scalar"])
def test_matmul_with_python_scalar_is_value_error(left):
    args = (2.0, np.ones(3)) if left else (np.ones(3), 2.0)
    with pytest.raises(ValueError, match=r"matmul: .*at least 1 dimension.*\(3,\)"):
        ops.matmul.forward(*args)


def test_linear_and_add_bias_reject_scalar_bias():
    with pytest.raises(TypeError, match=r"linear: b must be an array; got a Python float \(1.0\)"):
        ops.linear.forward(np.ones((2, 3)), np.ones((4, 3)), 1.0)
    with pytest.raises(TypeError, match="add_bias: b must be an array; got a Python float"):
        ops.add_bias.forward(np.ones((2, 3)), 1.0)


def test_an_array_and_a_python_scalar_resolve_only_where_the_op_takes_one(backend):
    """resolve's fast path for ``x * 2.0`` answers as its checked path: a
    scalar is taken on a side the op declares for one, refused on the other."""
    from xpgrad._backend import _resolve_checked, resolve

    x = backend.asarray(np.ones(3))
    for op, args in [("sub", (x, 2.0)), ("sub", (2.0, x)), ("repeat", (x, 2)), ("maximum", (1, x))]:
        (xp, scope), (want_xp, want_scope) = resolve(op, *args), _resolve_checked(op, args)
        assert xp is want_xp and type(scope) is type(want_scope)
    with pytest.raises(TypeError, match=r"^repeat: x must be an array; got a Python float \(2.0\)"):
        resolve("repeat", 2.0, x)
    with pytest.raises(TypeError, match=r"^add_bias: b must be an array; got a Python int \(1\)"):
        resolve("add_bias", x, 1)


def test_the_scalar_fast_path_follows_what_declare_stored():
    """Declared again with three names, or with ``scalars`` given as a bare
    string, an op takes a scalar only where its stored signature says."""
    from xpgrad import _backend
    from xpgrad._backend import declare, resolve

    x = np.ones(3)
    resolve("sub", x, x)  # the NumPy array type is registered: the fast path can run
    try:
        declare("_twice_declared", ("x", "y"), scalars=("x", "y"))
        declare("_twice_declared", ("x", "y", "z"))
        with pytest.raises(TypeError, match=r"^_twice_declared: y must be an array"):
            resolve("_twice_declared", x, 2.0)
        declare("_string_scalars", ("x1", "x2"), scalars="x2")  # the characters "x" and "2"
        with pytest.raises(TypeError, match=r"^_string_scalars: x2 must be an array"):
            resolve("_string_scalars", x, 2.0)
    finally:  # these ops exist only in this test
        for op in ("_twice_declared", "_string_scalars"):
            _backend._SIGNATURES.pop(op, None)


def test_backward_with_scalar_grad_is_type_error():
    y = xpgrad.tensor([1.0, 2.0], requires_grad=True).sum()
    with pytest.raises(TypeError, match=r"backward: grad must be an array or Tensor of shape \(\)"):
        y.backward(1.0)


def test_device_hashes_like_its_canonical_string():
    table = {xpgrad.Device("cpu"): "host", xpgrad.Device("cuda"): "gpu"}
    assert table["cpu"] == "host"
    assert table["cuda:0"] == "gpu"


def test_len_of_0d_tensor_is_type_error():
    with pytest.raises(TypeError, match="0-d"):
        len(xpgrad.tensor(1.0))

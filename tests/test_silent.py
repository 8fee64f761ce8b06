"""Answers that were once silently wrong, each fixed at its root and checked
here with the input that showed it: torch (or the standard, where they
differ) is the reference."""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xp
from tests.subsets import backend_cases
from tests.support import backend_params, host

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf * 0 in the references

INF, NAN = np.inf, np.nan


def _torch_prod_grad(x, axis):
    t = torch.tensor(x, requires_grad=True)
    (t.prod() if axis is None else t.prod(dim=axis)).sum().backward()
    return t.grad.numpy()


# (x, the exact gradient of prod(x): the product of the other elements, by
# hand, and whether torch 2.13 gives the same)
PROD_EDGES = [
    ([INF, 0.0, 2.0], [0.0, INF, NAN], True),  # once [nan, inf, nan]
    ([NAN, 0.0, 2.0], [0.0, NAN, NAN], True),
    ([0.0, 0.0, 2.0], [0.0, 0.0, 0.0], True),
    ([-0.0, 5.0, INF], [INF, NAN, -0.0], True),
    ([INF, 2.0, 3.0], [6.0, INF, INF], False),  # torch divides: inf / inf = nan
    ([INF, 0.0, 0.0], [0.0, NAN, NAN], False),  # torch zeroes a slice with two zeros
    ([1e200, 1e200, 2.0], [2e200, 2e200, INF], False),  # overflow: torch gives inf / 1e200
]


@pytest.mark.parametrize("x, exact, as_torch", PROD_EDGES)
def test_prod_gradient_is_the_product_of_the_others(x, exact, as_torch):
    x = np.array(x)
    got = xpgrad.grad(lambda t: xp.prod(t))(x)
    np.testing.assert_array_equal(got, np.array(exact))
    same = np.array_equal(got, _torch_prod_grad(x, None), equal_nan=True)
    assert same == as_torch


@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch")),
                         indirect=True)
def test_prod_gradient_over_axes_with_one_zero_per_slice(backend):
    x = np.arange(1.0, 25.0).reshape(2, 3, 4) / 7
    x[0, 1, 2] = 0.0
    x[1, 0, 0] = INF
    x[1, 2, 3] = 0.0
    for axis in (1, 2, (0, 2)):
        got = xpgrad.grad(lambda t: xp.sum(xp.prod(t, axis=axis)))(backend.asarray(x))
        t = torch.tensor(x, requires_grad=True)
        if isinstance(axis, int):
            out = t.prod(dim=axis)
        else:  # torch reduces one axis at a time: put the two together first
            out = t.permute(1, 0, 2).reshape(3, 8).prod(dim=1)
        out.sum().backward()
        np.testing.assert_allclose(host(got), t.grad.numpy(), rtol=1e-13)


def test_prod_without_zeros_or_infinities_is_unchanged():
    x = np.array([[0.5, -2.0, 3.0], [1.5, 0.25, -1.0]])
    for axis in (None, 0, 1):
        got = xpgrad.grad(lambda t: xp.sum(xp.prod(t, axis=axis)))(x)
        np.testing.assert_allclose(got, _torch_prod_grad(x, axis), rtol=1e-14)


def test_prod_second_derivative_with_a_zero_matches_torch():
    x = np.array([0.0, 2.0, -3.0, 0.5])
    h = xpgrad.hessian(lambda t: xp.prod(t))(x)
    ref = torch.func.hessian(torch.prod)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(h, ref, rtol=1e-13)


# -- .grad is checked when assigned ------------------------------------------------


def test_grad_assignment_checks_dtype_shape_library():
    w = xpgrad.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    with pytest.raises(TypeError, match="Tensor.grad: must have the tensor's dtype float32; got float64"):
        w.grad = np.ones(2)
    with pytest.raises(ValueError, match=r"Tensor.grad: must have shape \(2,\); got \(3,\)"):
        w.grad = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="Tensor.grad: must be .* got torch.Tensor"):
        w.grad = torch.ones(2)
    with pytest.raises(TypeError, match="Tensor.grad: must be None or"):
        w.grad = [1.0, 2.0]
    w.grad = np.full(2, 3.0, np.float32)
    xpgrad.optim.SGD([w], lr=1.0).step()
    assert w.data.dtype == np.float32  # the optimizer kept the parameter's dtype
    np.testing.assert_allclose(w.data, [-2.0, -1.0])
    w.grad = None
    assert w.grad is None


# -- item assignment cannot make an integer tensor require grad ----------------------


def test_setitem_of_a_gradient_into_an_int_tensor_raises():
    w = xpgrad.tensor([1.5, 2.5], requires_grad=True)
    i = xpgrad.tensor([1, 2])
    with pytest.raises(TypeError, match="__setitem__: the value requires grad, but this tensor has dtype int64"):
        i[0] = w[0] * 2.0
    assert not i.requires_grad and i.data.tolist() == [1, 2]
    with xpgrad.no_grad():
        i[0] = w[0] * 2.0  # no gradient is recorded: the value is stored as torch would
    assert i.data.tolist() == [3, 2]


# -- a complex output needs an explicit gradient ---------------------------------------


def test_backward_of_a_complex_scalar_needs_grad():
    z = xpgrad.tensor([1.0 + 2.0j], requires_grad=True)
    with pytest.raises(TypeError, match="backward: grad can be omitted only for a real output"):
        xp.sum(z * z).backward()
    t = torch.tensor([1.0 + 2.0j], requires_grad=True)
    with pytest.raises(RuntimeError):  # torch refuses it too
        (t * t).sum().backward()
    xp.sum(z * z).backward(np.asarray(1.0 + 0.0j))
    t = torch.tensor([1.0 + 2.0j], requires_grad=True)
    (t * t).sum().backward(torch.tensor(1.0 + 0.0j))
    np.testing.assert_allclose(z.grad, t.grad.numpy())


# -- zero gradients through piecewise-constant functions ---------------------------------


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round"])
def test_rounding_gives_zero_gradients_as_torch(name):
    w = xpgrad.tensor([1.4, -2.6, 0.5], requires_grad=True)
    xp.sum(getattr(xp, name)(w) * 3.0).backward()
    t = torch.tensor([1.4, -2.6, 0.5], dtype=torch.float64, requires_grad=True)
    (getattr(torch, name)(t) * 3.0).sum().backward()
    np.testing.assert_array_equal(w.grad, t.grad.numpy())  # zeros, not None
    np.testing.assert_array_equal(getattr(xp, name)(w).data, getattr(np, name)(w.data))
    assert getattr(xp, name)(xpgrad.tensor([1, 2])).data.dtype == np.int64  # integers stay


# -- promotion follows the standard on every library, 0-d arrays included -----------------


PROMOTE = ["add", "subtract", "multiply", "divide", "pow", "atan2", "maximum"]


@pytest.mark.parametrize(
    "backend, name",
    backend_cases(PROMOTE, PROMOTE, backends=("numpy", "array_api_strict", "torch", "jax"),
                  jax=["add", "pow"]),  # JAX compiles each op first: two suffice there
    indirect=["backend"],
)
def test_zero_d_operands_promote_as_the_standard(backend, name):
    a = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0]), "float32"), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(np.array(3.0), "float64"), requires_grad=True)
    for out in (getattr(xp, name)(a, b), getattr(xp, name)(b, a)):
        assert out.dtype == xp.float64  # torch's own rule would give float32
        assert xp.isdtype(out.dtype, "real floating")
    xp.sum(getattr(xp, name)(a, b)).backward()
    assert host(a.grad).dtype == np.float32 and host(b.grad).dtype == np.float64
    i = xpgrad.tensor(backend.asarray(np.array([1, 2], dtype=np.int32)))
    j = xpgrad.tensor(backend.asarray(np.array(5, dtype=np.int64)))
    if name in ("add", "subtract", "multiply", "maximum"):
        assert getattr(xp, name)(i, j).dtype == xp.int64
    assert (a + 2.0).dtype == xp.float32  # a Python scalar still takes the array's dtype


# -- values never leave without their gradient -------------------------------------------


def test_numpy_and_dlpack_of_a_tensor_that_requires_grad_raise_as_torch():
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Tensor.numpy: .* t.detach\(\).numpy\(\)"):
        w.numpy()
    with pytest.raises(RuntimeError, match="Tensor.__dlpack__"):
        np.from_dlpack(w)
    with pytest.raises(RuntimeError):
        torch.tensor([1.0], requires_grad=True).numpy()  # torch's rule, which this follows
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])
    with xpgrad.no_grad():
        np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])
    y = w * 2.0  # a result with a graph refuses too
    with pytest.raises(RuntimeError, match="Tensor.numpy"):
        y.numpy()


def test_numpy_shares_memory_as_documented():
    t = xpgrad.tensor(np.array([1.0, 2.0]))
    t.numpy()[0] = 5.0
    assert t.data[0] == 5.0


def test_a_torch_tensor_that_requires_grad_is_detached_when_wrapped():
    src = torch.tensor([1.0, 2.0], requires_grad=True)
    t = xpgrad.tensor(src, requires_grad=True)
    assert not t.data.requires_grad
    xp.sum(t * t).backward()
    assert src.grad is None  # torch recorded nothing
    np.testing.assert_array_equal(t.grad.numpy(), [2.0, 4.0])


# -- dtypes and devices interoperate ----------------------------------------------------


def test_dtypes_print_hash_and_convert_as_numpys():
    t = xpgrad.tensor([1.0, 2.0])
    assert str(t.dtype) == "float64" and f"{xp.int32}" == "int32"
    assert np.zeros(3, dtype=t.dtype).dtype == np.float64
    assert np.asarray([1, 2], dtype=xp.int32).dtype == np.int32
    assert t.dtype == np.dtype("float64") and hash(t.dtype) == hash(np.dtype("float64"))
    assert {np.dtype("float64"): "found"}[t.dtype] == "found"
    assert len({t.dtype, np.dtype("float64"), xp.float64}) == 1
    assert xpgrad.tensor(torch.ones(2)).dtype == torch.float32


@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch", "jax")),
                         indirect=True)
def test_creation_on_a_tensors_device_makes_that_library_arrays(backend):
    t = xpgrad.tensor(backend.asarray(np.ones(2)))
    kind = type(t.data)
    for made in (
        xp.asarray(np.arange(3.0), device=t.device),
        xp.asarray([1.0, 2.0], device=t.device),
        xp.zeros(2, device=t.device),
        xp.asarray(np.arange(3), dtype=xp.float32, device=t.device),
    ):
        assert type(made.data) is kind
    assert xp.asarray(np.arange(3), dtype=xp.float32, device=t.device).dtype == xp.float32


# -- the namespace's functions name themselves in their errors ---------------------------


_T = xpgrad.tensor([1.0, 2.0], requires_grad=True)

NAMED_ERRORS = [
    (lambda: xp.concat([_T, 3.0]), TypeError, r"concat: arrays\[1\] is a Python float"),
    (lambda: xp.concat(5), TypeError, "concat: arrays must be a list or tuple"),
    (lambda: xp.stack([_T, None]), TypeError, r"stack: arrays\[1\] is None"),
    (lambda: xp.broadcast_arrays(_T, [1.0, 2.0]), TypeError, r"broadcast_arrays: arrays\[1\] is a list"),
    (lambda: xp.meshgrid(_T, None), TypeError, r"meshgrid: arrays\[1\] is None"),
    (lambda: xp.concat([_T, _T], axis=0.5), TypeError, "concat: axis must be an int"),
    (lambda: xp.stack([_T, _T], axis=0.5), TypeError, "stack: axis must be an int"),
    (lambda: xp.moveaxis(_T, 0.5, 0), TypeError, "moveaxis: source must be an int"),
    (lambda: xp.take(_T, np.array([5])), IndexError, "take: index 5 is out of bounds"),
    (lambda: xp.reshape(_T, (-2,)), ValueError, "reshape: shape"),
    (lambda: xp.reshape(_T, (-1, -1)), ValueError, "at most one -1"),
    (lambda: xp.astype(_T, None), TypeError, "astype: dtype must be a dtype"),
]


@pytest.mark.parametrize("call, kind, match", NAMED_ERRORS)
def test_namespace_errors_name_the_function(call, kind, match):
    with pytest.raises(kind, match=match):
        call()


@pytest.mark.parametrize("name", ["sum", "prod", "cumulative_sum", "cumulative_prod"])
def test_a_bad_dtype_is_named_once(name):
    with pytest.raises(TypeError) as info:
        getattr(xp, name)(_T, dtype="bad")
    text = str(info.value)
    assert text.startswith(f"{name}: dtype 'bad'") and "from the array library" not in text

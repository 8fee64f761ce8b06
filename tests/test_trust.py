"""Each class of failure that once reached a user as a raw error, an error that
did not name the op, or a silently wrong number, with the inputs that showed it.

The broad sweep over every rule and many hostile values is test_hostile.py;
here each case is the one that was found, checked for its exact message or
value.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import xpgrad
from xpgrad import Device, ops
from xpgrad.testing import assert_close, gradcheck

from tests.support import backend_params, dtype_name, host, other_library, run_python, torch_grads

# -- 1. errors name the op, the argument and the fix -----------------------


@pytest.mark.parametrize("bad", [[1.0, 2.0], "ab", {"a": 1}], ids=["list", "str", "dict"])
@pytest.mark.parametrize(
    "call, op, arg",
    [
        (lambda v: ops.matmul.forward(v, np.ones((2, 2))), "matmul", "a"),
        (lambda v: ops.matmul.forward(np.ones((2, 2)), v), "matmul", "b"),
        (lambda v: ops.linear.forward(np.ones((2, 3)), v), "linear", "w"),
        (lambda v: ops.add_bias.forward(np.ones((2, 3)), v), "add_bias", "b"),
        (lambda v: ops.mul.forward(np.ones(2), v), "mul", "b"),
        (lambda v: ops.sum.forward(v), "sum", "x"),
        (lambda v: ops.reshape.forward(v, (2,)), "reshape", "x"),
        (lambda v: xpgrad.sum_to(v, (1,)), "sum_to", "x"),
    ],
    ids=["matmul-a", "matmul-b", "linear-w", "add_bias-b", "mul-b", "sum", "reshape", "sum_to"],
)
def test_non_array_names_op_argument_and_the_fix(call, op, arg, bad):
    with pytest.raises(TypeError) as info:
        call(bad)
    msg = str(info.value)
    assert msg.startswith(f"{op}: {arg} is a {type(bad).__name__}"), msg
    assert "xpgrad.tensor" in msg and "asarray" in msg


@pytest.mark.parametrize(
    "call, expected",
    [
        (lambda: ops.linear.forward(None, np.ones((2, 3))), "linear: x must be an array; got None"),
        (lambda: ops.add.forward(np.ones(2), None), "add: b must be an array or a Python scalar; got None"),
        (lambda: ops.neg.forward(2.0), "neg: x must be an array; got a Python float (2.0)"),
        (lambda: xpgrad.tensor(np.ones(2)) + None, "add: b must be an array or a Python scalar; got None"),
    ],
    ids=["linear-None", "add-None", "neg-scalar", "tensor+None"],
)
def test_none_and_scalars_where_an_array_is_needed(call, expected):
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == expected


@pytest.mark.parametrize(
    "rule, args",
    [
        (ops.reshape, lambda be: (be.asarray(np.ones((2, 3))), (6,))),
        (ops.sum, lambda be: (be.asarray(np.ones(6)),)),
        (ops.neg, lambda be: (be.asarray(np.ones(6)),)),
        (ops.mul, lambda be: (be.asarray(np.ones(6)), be.asarray(np.ones(6)))),
    ],
    ids=["reshape", "sum", "neg", "mul"],
)
def test_backward_rejects_grad_out_of_another_library(backend, rule, args):
    """reshape once returned a torch gradient for a NumPy input, silently."""
    out, ctx = rule.forward(*args(backend))
    g = other_library(np.ones(6), backend)
    if tuple(out.shape) != (6,):
        g = g[:1].reshape(())
    name = rule.__name__
    with pytest.raises(TypeError, match=rf"^{name}\.backward: grad_out is .*, but {name}\.forward ran on"):
        rule.backward(g, ctx)


@pytest.mark.parametrize("bad", [None, [1.0] * 6, "x"], ids=["None", "list", "str"])
def test_backward_rejects_non_array_grad_out(backend, bad):
    out, ctx = ops.reshape.forward(backend.asarray(np.ones((2, 3))), (6,))
    with pytest.raises(TypeError, match=r"^reshape\.backward: grad_out is .*pass a \w+ array of shape \(6,\)"):
        ops.reshape.backward(bad, ctx)


def test_backward_rejects_another_rules_ctx_and_boolean_grad():
    out, ctx = ops.sum.forward(np.ones((2, 3)), axis=0)
    with pytest.raises(TypeError, match=r"^matmul\.backward: ctx must be the one matmul\.forward returned; got from sum\.forward"):
        ops.matmul.backward(np.ones(3), ctx)
    with pytest.raises(TypeError, match=r"^sum\.backward: ctx must be the one sum\.forward returned; got None"):
        ops.sum.backward(np.ones(3), None)
    with pytest.raises(TypeError, match=r"^sum\.backward: grad_out has dtype bool"):
        ops.sum.backward(np.ones(3, dtype=bool), ctx)
    with pytest.raises(ValueError, match=r"^sum\.backward: grad_out has shape \(2,\), expected \(3,\)"):
        ops.sum.backward(np.ones(2), ctx)


@pytest.mark.parametrize("g_dtype", ["float32", "int64"])
def test_backward_casts_a_real_grad_out_to_the_outputs_dtype(backend, g_dtype):
    """A float32 or int64 grad_out for a float64 output once reached the math
    as it was: array_api_strict refused int64 * float64 with its own unnamed
    error, torch's linalg float32 @ float64, and NumPy gave float32 back. Now
    it is cast to the output's dtype first, as torch's backward does."""
    g = backend.asarray(np.array([1, 2], dtype=g_dtype))
    x = backend.asarray(np.array([0.0, 1.0]))
    _, ctx = ops.exp.forward(x)
    (dx,) = ops.exp.backward(g, ctx)
    assert dtype_name(dx) == "float64"
    np.testing.assert_allclose(host(dx), [1.0, 2.0 * np.e])  # g * exp(x)

    _, ctx = ops.mul.forward(x, backend.asarray(np.array([3.0, 5.0])))
    da, db = ops.mul.backward(g, ctx)
    assert dtype_name(da) == dtype_name(db) == "float64"
    np.testing.assert_allclose(host(da), [3.0, 10.0])
    np.testing.assert_allclose(host(db), [0.0, 2.0])

    if backend.name == "cubed":
        return  # no inv on cubed
    # d sum(G * inv(A)) / dA = -inv(A)^T G inv(A)^T: at A = 2I with G = ones, -ones / 4
    _, ctx = ops.inv.forward(backend.asarray(2.0 * np.eye(2)))
    (dA,) = ops.inv.backward(backend.asarray(np.ones((2, 2), dtype=g_dtype)), ctx)
    assert dtype_name(dA) == "float64"
    np.testing.assert_allclose(host(dA), -np.ones((2, 2)) / 4)


def test_backward_refuses_a_complex_grad_out_for_another_dtype():
    """Casting a complex grad_out to a real output would drop its imaginary
    part; complex64 for complex128 would round it: both refused, as torch does."""
    _, ctx = ops.exp.forward(np.zeros(2))
    with pytest.raises(TypeError, match=r"^exp\.backward: grad_out has dtype complex128, but "
                                        r"exp's output is float64; .* pass a float64 array"):
        ops.exp.backward(np.ones(2, dtype=complex), ctx)
    _, ctx = ops.exp.forward(np.zeros(2, dtype=np.complex128))
    with pytest.raises(TypeError, match=r"^exp\.backward: grad_out has dtype complex64"):
        ops.exp.backward(np.ones(2, dtype=np.complex64), ctx)
    with pytest.raises(TypeError, match=r"^exp\.backward: grad_out has dtype float64, but "
                                        r"exp's output is complex128"):
        ops.exp.backward(np.ones(2), ctx)
    # a several-output rule checks each result against its own dtype
    _, ctx = ops.eigh.forward(np.eye(2))
    (dx,) = ops.eigh.backward((np.ones(2, dtype=np.float32), None), ctx)
    assert dx.dtype == np.float64
    np.testing.assert_allclose(dx, np.eye(2))  # V diag(Gw) V^T with V = I
    with pytest.raises(TypeError, match=r"^eigh\.backward: grad_out has dtype complex128"):
        ops.eigh.backward((None, np.ones((2, 2), dtype=complex)), ctx)


@pytest.mark.parametrize("rule", [ops.eigh, ops.eigvalsh, ops.cholesky, ops.svdvals, ops.slogdet],
                         ids=lambda r: r.__name__)
def test_rules_for_real_x_refuse_a_complex_x_in_their_backward(rule):
    """These rules are differentiated for real x only. On plain arrays their
    backward once returned None for a complex x, as for an integer one: a
    gradient dropped without a word."""
    x = np.array([[2.0, 0.5j], [-0.5j, 3.0]])  # Hermitian, positive definite
    out, ctx = rule.forward(x)
    g = tuple([np.ones_like(o) for o in out]) if type(out) is tuple else np.ones_like(out)
    name = rule.__name__
    with pytest.raises(TypeError, match=rf"^{name}\.backward: x is complex \(complex128\); xpgrad "
                                        rf"differentiates {name} for real floating x only"):
        rule.backward(g, ctx)


def test_reshape_takes_an_int_shape_like_numpy(backend):
    x = backend.asarray(np.arange(6.0).reshape(2, 3))
    out, ctx = ops.reshape.forward(x, 6)
    assert tuple(out.shape) == (6,)
    (g,) = ops.reshape.backward(backend.asarray(np.arange(6.0)), ctx)
    np.testing.assert_array_equal(host(g), np.arange(6.0).reshape(2, 3))
    t = xpgrad.tensor(x, requires_grad=True)
    assert t.reshape(6).shape == (6,)
    with pytest.raises(TypeError, match=r"^reshape: shape must be an int or a tuple of ints; got 'ab'"):
        ops.reshape.forward(x, "ab")


@pytest.mark.parametrize("text", ["cuda:²", "cuda:١", "cuda:-1", "cuda:0x1"])
def test_device_index_must_be_ascii_digits(text):
    with pytest.raises(ValueError, match=r"^Device: .* has an invalid index"):
        Device(text)


@pytest.mark.parametrize(
    "given, expected", [(float, "float64"), (complex, "complex128"), (int, "int64"), (bool, "bool")]
)
def test_tensor_reads_python_types_as_dtypes(backend, given, expected):
    t = xpgrad.tensor(backend.asarray(np.ones(2)), dtype=given)
    assert dtype_name(t) == expected


def test_tensor_refuses_data_that_is_not_numbers():
    with pytest.raises(TypeError, match=r"^tensor: data must be numbers or nested lists of numbers; got a list"):
        xpgrad.tensor([1.0, "a"])
    with pytest.raises(TypeError, match=r"^tensor: data is a str"):
        xpgrad.tensor("abc")
    with pytest.raises(ValueError, match=r"^tensor: data is not a rectangular nested list"):
        xpgrad.tensor([[1.0], [1.0, 2.0]])


def test_item_of_many_elements_names_item():
    with pytest.raises(ValueError, match=r"^item: only a one-element tensor has a single value; this one has shape \(2,\)"):
        xpgrad.tensor([1.0, 2.0]).item()


def test_mixed_libraries_error_gives_advice_that_works():
    torch = pytest.importorskip("torch")
    a, b = np.arange(3.0), torch.ones(3, dtype=torch.float64)
    with pytest.raises(TypeError) as info:
        ops.add.forward(a, b)
    msg = str(info.value)
    assert "a is numpy, b is torch" in msg and "xpgrad.convert(b, like=a)" in msg
    out, _ = ops.add.forward(a, xpgrad.convert(b, like=a))  # the advice, followed
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])


def test_convert_between_libraries_keeps_values_shape_dtype():
    torch = pytest.importorskip("torch")
    xs = pytest.importorskip("array_api_strict")
    host_values = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    t = xpgrad.convert(host_values, like=torch.ones(1))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and tuple(t.shape) == (2, 3)
    back = xpgrad.convert(torch.ones(2, 3, requires_grad=True) * 2, like=np.ones(1))
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    np.testing.assert_array_equal(back, np.full((2, 3), 2.0))
    dev = xs.Device("device1")
    s = xpgrad.convert(host_values, like=xs.ones(1, device=dev))
    assert s.device == dev and s.dtype == xs.float32
    np.testing.assert_array_equal(np.from_dlpack(s), host_values)
    lst = xpgrad.convert([1.0, 2.0], like=torch.ones(1))
    assert isinstance(lst, torch.Tensor) and lst.tolist() == [1.0, 2.0]
    same = np.ones(2)
    assert xpgrad.convert(same, like=np.zeros(1)) is same
    with pytest.raises(TypeError, match=r"^convert: like is a list"):
        xpgrad.convert(same, like=[1.0])


def test_convert_of_a_reversed_numpy_view_to_torch_copies_it():
    # torch.from_dlpack aborted the whole process on the negative stride
    # ("Storage size calculation overflowed"), and so did an optimizer's
    # load_state_dict with such a buffer for torch parameters: in a child process
    pytest.importorskip("torch")
    code = (
        "import numpy as np, torch, xpgrad\n"
        "like = torch.zeros(1, dtype=torch.float64)\n"
        "print(xpgrad.convert(np.arange(6.0)[::-1], like=like).tolist())\n"
        "print(xpgrad.convert(np.arange(12.0).reshape(3, 4)[::-1, ::2], like=like).tolist())\n"
        "p = xpgrad.tensor(torch.zeros(3, dtype=torch.float64), requires_grad=True)\n"
        "opt = xpgrad.optim.SGD([p], lr=0.1, momentum=0.9)\n"
        "state = opt.state_dict()\n"
        "state['state'] = {0: {'momentum_buffer': np.arange(6.0)[::-2]}}\n"
        "opt.load_state_dict(state)\n"
        "print(opt.state[p]['momentum_buffer'].tolist())\n"
    )
    lines = run_python(code)
    assert lines[:3] == [
        "[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]",
        "[[8.0, 10.0], [4.0, 6.0], [0.0, 2.0]]",
        "[5.0, 3.0, 1.0]",
    ]


# -- 2. no silently wrong answers ------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda m: ops.mul.forward(m, m),
        lambda m: ops.matmul.forward(m, m),
        lambda m: ops.sum.forward(m),
        lambda m: xpgrad.tensor(m),
        lambda m: xpgrad.get_namespace(m),
    ],
    ids=["mul", "matmul", "sum", "tensor", "get_namespace"],
)
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # making an np.matrix warns
def test_numpy_matrix_is_refused(call):
    m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match=r"numpy\.matrix, whose \* is a matrix product; pass numpy\.asarray"):
        call(m)


@pytest.mark.parametrize(
    "call", [ops.sum.forward, ops.mean.forward, xpgrad.get_namespace], ids=["sum", "mean", "get_namespace"]
)
def test_masked_array_is_refused(call):
    m = np.ma.masked_array([1.0, 2.0, 100.0], mask=[False, False, True])
    with pytest.raises(TypeError, match=r"numpy\.ma\.MaskedArray, whose mask xpgrad would ignore"):
        call(m)


def test_other_ndarray_subclasses_still_work(tmp_path):
    mm = np.memmap(tmp_path / "x.bin", dtype=np.float64, mode="w+", shape=(2, 3))
    mm[:] = np.arange(6.0).reshape(2, 3)
    out, ctx = ops.sum.forward(mm, axis=0)
    np.testing.assert_array_equal(np.asarray(out), [3.0, 5.0, 7.0])


@pytest.fixture
def unknown_rows():
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.arange(24.0).reshape(6, 4), chunks=(3, 4))
    return x[x[:, 0] > 5]  # rows 2..5: 4 rows, but dask does not know that


@pytest.mark.parametrize(
    "call, op, arg",
    [
        (lambda x: ops.mean.forward(x), "mean", "x"),
        (lambda x: ops.sum.forward(x, axis=0), "sum", "x"),
        (lambda x: ops.matmul.forward(x.T, x), "matmul", "a"),
        (lambda x: ops.mul.forward(x, 2.0), "mul", "a"),
        (lambda x: xpgrad.tensor(x), "tensor", "data"),
        (lambda x: xpgrad.sum_to(x, (1, 4)), "sum_to", "x"),
    ],
    ids=["mean", "sum", "matmul", "mul", "tensor", "sum_to"],
)
def test_dask_unknown_sizes_are_refused_with_the_fix(unknown_rows, call, op, arg):
    with pytest.raises(ValueError) as info:
        call(unknown_rows)
    msg = str(info.value)
    assert msg.startswith(f"{op}: {arg} has unknown dimension sizes ") and "nan" in msg
    assert f"{arg}.compute_chunk_sizes()" in msg


def test_dask_after_compute_chunk_sizes_gives_the_numpy_answer(unknown_rows):
    x = unknown_rows.compute_chunk_sizes()
    out, ctx = ops.mean.forward(x)
    (g,) = ops.mean.backward(out * 0 + 1, ctx)
    ref = np.arange(24.0).reshape(6, 4)[2:]
    assert float(out.compute()) == ref.mean()
    np.testing.assert_allclose(np.asarray(g.compute()), np.full((4, 4), 1 / 16))


def test_dask_unknown_grad_out_is_refused(unknown_rows):
    da = pytest.importorskip("dask.array")
    out, ctx = ops.mul.forward(da.ones((4, 4), chunks=2), 2.0)
    with pytest.raises(ValueError, match=r"^mul\.backward: grad_out has shape \(nan, 4\), expected \(4, 4\)"):
        ops.mul.backward(unknown_rows, ctx)


def test_pow_zero_with_nan_upstream_gives_zero_like_torch(backend):
    pytest.importorskip("torch")  # torch_grads needs it
    x = np.array([0.0, 1.0, -2.0])
    upstream = np.array([np.nan, np.inf, 1.0])
    out, ctx = ops.pow.forward(backend.asarray(x), 0)
    (g, _) = ops.pow.backward(backend.asarray(upstream), ctx)
    _, (ref,) = torch_grads(lambda t: t**0, [x], upstream)
    np.testing.assert_array_equal(host(g), ref)
    np.testing.assert_array_equal(ref, [0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    "x, p",
    [
        (np.array([0j, 0j, 2 + 1j]), np.array([0j, 1 + 0j, 0.5 - 0.5j])),
        (0j, np.array([0.5 + 0j, 2 + 0j])),
        (-2.0, np.array([1 + 0j, 0.5 + 1j])),
    ],
    ids=["complex-array-base", "complex-zero-scalar-base", "negative-real-scalar-base"],
)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns at 0 ** negative; the values are checked
def test_pow_complex_and_negative_scalar_bases_match_torch(x, p):
    """The zero rule holds for complex exponents too; a negative real base with a
    complex result takes the complex log, not nan."""
    torch = pytest.importorskip("torch")
    up = np.ones(p.shape, complex)
    out, ctx = ops.pow.forward(x, p)
    _, gp = ops.pow.backward(up, ctx)
    pt = torch.tensor(p, requires_grad=True)
    torch.pow(torch.tensor(x) if isinstance(x, np.ndarray) else x, pt).backward(torch.tensor(up))
    np.testing.assert_allclose(gp, pt.grad.numpy(), rtol=1e-12)
    assert np.isfinite(gp).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns at 0 ** negative; the values are checked
def test_pow_nan_upstream_at_zero_base_stays_nan_like_torch():
    """torch zeroes d/dp's factor at x == 0, p >= 0 before multiplying by G: NaN * 0 stays NaN."""
    torch = pytest.importorskip("torch")
    x, p, up = np.zeros(2), np.array([0.0, 2.0]), np.array([np.nan, 1.0])
    out, ctx = ops.pow.forward(x, p)
    _, gp = ops.pow.backward(up, ctx)
    _, (_, ref) = torch_grads(torch.pow, [x, p], up)
    np.testing.assert_array_equal(gp, ref)
    np.testing.assert_array_equal(gp, [np.nan, 0.0])


@pytest.mark.parametrize(
    "call, kind, text",
    [
        (lambda be: ops.pow.forward(be.asarray(np.ones(2)), be.asarray(np.array([True, False]))),
         TypeError, "pow: p has dtype"),
        (lambda be: ops.pow.forward(be.asarray(np.ones(2)), __import__("decimal").Decimal("0.5")),
         TypeError, "pow: p is a decimal.Decimal"),
        (lambda be: ops.add.forward(be.asarray(np.ones(2)), 10**400), ValueError, "add: OverflowError"),
    ],
    ids=["bool-exponent", "Decimal-exponent", "huge-int"],
)
def test_odd_operands_get_named_errors(backend, call, kind, text):
    with pytest.raises(kind, match=f"^{text}"):
        call(backend)


def test_library_refusals_inside_a_forward_name_the_op():
    with pytest.raises(TypeError, match=r"^sum: \w+ from the array library"):
        ops.sum.forward(np.array(["a", "b"]))
    xs = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match=r"^matmul: \w+ from the array library"):
        ops.matmul.forward(xs.ones((2, 2), dtype=xs.int64), xs.ones((2, 2)))


@pytest.mark.parametrize("message, named", [("nope", False), ("tanh: an adapter's own", True)],
                         ids=["library", "named-already"])
def test_a_renamed_error_has_the_librarys_as_its_cause_never_itself(monkeypatch, message, named):
    def tanh(x):
        raise ValueError(message)

    monkeypatch.setattr(_numpy_namespace(), "tanh", tanh)
    with pytest.raises(ValueError) as info:
        ops.tanh.forward(np.ones(2))
    exc = info.value
    assert exc.__cause__ is not exc  # code that follows __cause__ must end
    if named:
        assert str(exc) == message
    else:
        assert str(exc) == "tanh: ValueError from the array library: nope"
        assert type(exc.__cause__) is ValueError and str(exc.__cause__) == "nope"


def test_torchs_refusal_to_promote_names_the_op():
    # a TypeError, as NumPy's and array_api_strict's refusals (torch raises RuntimeError)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"^add: RuntimeError from the array library: Promotion"):
        xpgrad.array_api.add(torch.tensor(3, dtype=torch.uint64), torch.tensor([2], dtype=torch.int64))
    u8 = xpgrad.tensor(torch.tensor([200, 7], dtype=torch.uint8))
    with pytest.raises(TypeError, match=r"^floor_divide: RuntimeError from the array library: Promotion"):
        u8 // torch.tensor(2, dtype=torch.uint64)  # as u8 + it: torch's 0-d arrays promote


def test_torchs_0d_arrays_promote_in_comparisons_and_where_as_in_the_rules():
    # torch lets a 0-d array's dtype yield (float16 == 0-d float64 compared in
    # float16, uint8 < 0-d uint16 300 with 300 cast to 44); the standard promotes
    torch = pytest.importorskip("torch")
    h = xpgrad.tensor(torch.tensor([0.1, 0.5], dtype=torch.float16))
    z = torch.tensor([0.1, 0.5], dtype=torch.float64)[0]
    assert (h == z).data.tolist() == [False, False]
    assert xpgrad.array_api.less(h, z).data.tolist() == [True, False]
    u8 = xpgrad.tensor(torch.tensor([200, 7], dtype=torch.uint8))
    with pytest.raises(TypeError, match=r"^less: .*Promotion"):  # not [False, True] (300 as 44)
        u8 < torch.tensor(300, dtype=torch.uint16)
    i8 = xpgrad.tensor(torch.tensor([100, -100], dtype=torch.int8))
    assert (i8 // torch.tensor(300)).data.dtype == torch.int64
    x = xpgrad.tensor(torch.tensor([1.0, 2.0], dtype=torch.float16), requires_grad=True)
    y = xpgrad.tensor(torch.tensor(0.1, dtype=torch.float64), requires_grad=True)
    w = xpgrad.array_api.where(xpgrad.tensor(torch.tensor([True, False])), x, y)
    assert w.data.dtype == torch.float64 and w.data.tolist() == [1.0, 0.1]
    w.sum().backward()
    assert x.grad.dtype == torch.float16 and y.grad.dtype == torch.float64 and float(y.grad) == 1.0


@pytest.mark.parametrize("a, b, want", [(1j, np.float64(2.0), 0.5j), (np.float64(2.0), 1j, -2j),
                                        (1j, np.float64(0.0), complex(np.nan, np.inf))])
def test_a_python_complex_with_numpys_float64(a, b, want):
    # np.float64 subclasses float: Python's complex division took it (a Python
    # complex out, which has no shape, and ZeroDivisionError at 0)
    with np.errstate(all="ignore"):
        out = xpgrad.array_api.divide(a, b)
    assert out.dtype == xpgrad.array_api.complex128 and out.shape == ()
    np.testing.assert_array_equal(host(out), want)


def test_a_python_base_to_a_numpy_scalar_power():
    out = xpgrad.array_api.pow(2.0, np.float64(3.0))  # was refused: no array among the inputs
    assert out.dtype == xpgrad.array_api.float64 and host(out) == 8.0


def _numpy_namespace():
    return ops.sin.forward(np.ones(1))[1].xp  # the namespace NumPy's rules compute with


def _sin_sum(t):
    return xpgrad.array_api.sum(xpgrad.array_api.sin(t))


_NOTE = "sin.backward: raised in the gradient of sin"


@pytest.mark.parametrize(
    "kind", [ValueError, TypeError, RuntimeError, ZeroDivisionError, np.linalg.LinAlgError, MemoryError,
             NotImplementedError],
    ids=lambda k: k.__name__,
)
@pytest.mark.parametrize("walk", ["backward", "grad", "checkpoint"])
def test_a_failure_inside_a_backward_keeps_its_type_and_names_the_op(monkeypatch, kind, walk):
    """sin's gradient calls the library's cos. What it raises reaches the caller
    as it is (an ``except`` for it still catches it), with a note naming sin."""
    raised = kind("psi: no psi here" if kind is NotImplementedError else "boom")  # a fresh one

    def cos(x):
        raise raised

    monkeypatch.setattr(_numpy_namespace(), "cos", cos)
    x = xpgrad.tensor([0.5, 1.0], requires_grad=True)
    with pytest.raises(type(raised)) as info:
        if walk == "backward":
            _sin_sum(x).backward()
        elif walk == "grad":
            xpgrad.grad(_sin_sum)(np.array([0.5, 1.0]))
        else:
            xpgrad.checkpoint(_sin_sum)(x).backward()
    assert info.value is raised
    # checkpoint's backward runs sin's inside its own: both say so, once each
    assert raised.__notes__ == [_NOTE] + (
        ["checkpoint.backward: raised in the gradient of checkpoint"] if walk == "checkpoint" else []
    )


def test_a_real_floating_point_error_inside_a_backward():
    x = xpgrad.tensor([0.0, 4.0], requires_grad=True)
    y = xpgrad.array_api.sum(xpgrad.array_api.sqrt(x))
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError, match="divide by zero") as info:
        y.backward()
    assert info.value.__notes__ == ["sqrt.backward: raised in the gradient of sqrt"]


def test_a_failure_inside_a_recorded_backward_names_both_ops(monkeypatch):
    def cos(x):
        raise ValueError("boom")

    monkeypatch.setattr(_numpy_namespace(), "cos", cos)
    x = xpgrad.tensor([0.5], requires_grad=True)
    with pytest.raises(ValueError, match=r"^cos: ValueError from the array library: boom\n") as info:
        _sin_sum(x).backward(create_graph=True)
    assert info.value.__notes__ == [_NOTE]


def test_an_error_that_names_the_op_already_gets_no_note(monkeypatch):
    raised = TypeError("sin.backward: named already")

    def cos(x):
        raise raised

    monkeypatch.setattr(_numpy_namespace(), "cos", cos)
    with pytest.raises(TypeError) as info:
        _sin_sum(xpgrad.tensor([0.5], requires_grad=True)).backward()
    assert info.value is raised and not hasattr(raised, "__notes__")


def test_a_users_rule_keeps_the_errors_of_its_backward():
    class strict_double(ops.Unary):
        """``out = 2 x``; dx = 2 G, for finite G only."""

        @staticmethod
        def compute(xp, x):
            return 2 * x

        @staticmethod
        def grad(xp, g, s):
            raise ValueError("strict_double wants no gradient today")

    x = xpgrad.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="^strict_double wants no gradient today\n") as info:
        xpgrad.apply(strict_double, (x,)).sum().backward()
    assert info.value.__notes__ == ["strict_double.backward: raised in the gradient of strict_double"]


@pytest.mark.parametrize("kind", ["OutOfMemoryError", "JaxRuntimeError"])
def test_running_out_of_memory_in_a_forward_keeps_its_type(monkeypatch, kind):
    error = type(kind, (RuntimeError,), {})  # both are RuntimeErrors, as torch's and JAX's
    raised = error("RESOURCE_EXHAUSTED: Out of memory allocating 2 GiB" if kind.startswith("Jax")
                   else "CUDA out of memory. Tried to allocate 2.00 GiB")

    def tanh(x):
        raise raised

    monkeypatch.setattr(_numpy_namespace(), "tanh", tanh)
    with pytest.raises(error) as info:
        ops.tanh.forward(np.ones(2))
    assert info.value is raised and raised.__notes__ == ["tanh: raised while computing tanh"]


class _Unprintable(ValueError):
    def __str__(self):
        raise RuntimeError("no words")


class _Unnotable(ValueError):
    __notes__ = 5  # add_note cannot append to it


@pytest.mark.parametrize("kind", [_Unprintable, _Unnotable], ids=lambda k: k.__name__)
def test_an_odd_librarys_error_is_what_reaches_the_caller(monkeypatch, kind):
    raised = kind("odd")

    def cos(x):
        raise raised

    monkeypatch.setattr(_numpy_namespace(), "cos", cos)
    with pytest.raises(kind) as info:  # in a backward: the error itself
        _sin_sum(xpgrad.tensor([0.5], requires_grad=True)).backward()
    assert info.value is raised
    monkeypatch.setattr(_numpy_namespace(), "tanh", cos)
    with pytest.raises(ValueError) as info:  # in a forward: renamed for the op
        ops.tanh.forward(np.ones(2))
    assert type(info.value) is ValueError and info.value.__cause__ is raised
    if kind is _Unprintable:
        assert str(info.value) == (
            "tanh: _Unprintable from the array library: <_Unprintable whose message cannot be shown>"
        )


def test_the_standards_names_of_an_error_never_make_it_its_own_cause(monkeypatch):
    def forward(a, b):
        raise ValueError("not named by xpgrad")

    monkeypatch.setattr(ops.div, "forward", forward)
    with pytest.raises(ValueError, match="^not named by xpgrad$") as info:
        xpgrad.array_api.divide(np.ones(2), np.ones(2))
    assert info.value.__cause__ is not info.value


@pytest.mark.parametrize("bad", ["pi", "asarray", "floaty", [1], object], ids=repr)
def test_tensor_dtype_must_name_a_dtype(bad):
    with pytest.raises(TypeError, match=r"^tensor: dtype .* is not available"):
        xpgrad.tensor([1.0], dtype=bad)


def test_tensor_dtype_accepts_numpy_codes():
    assert xpgrad.tensor([1.0], dtype="f4").dtype == np.float32
    assert xpgrad.tensor([1.0], dtype="e").dtype == np.float16


def test_no_grad_exit_without_enter_is_runtime_error():
    with pytest.raises(RuntimeError, match=r"^no_grad: __exit__ without a matching __enter__"):
        xpgrad.no_grad().__exit__(None, None, None)
    assert xpgrad.is_grad_enabled()


@pytest.mark.filterwarnings("ignore::UserWarning")  # JAX warns that float64 is off: the case under test
def test_gradcheck_refuses_what_it_cannot_check():
    with pytest.raises(TypeError, match=r"^gradcheck: no floating-point array among the inputs"):
        gradcheck(ops.neg, np.array([1, 2]))
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(RuntimeError, match=r"jax_enable_x64"):
            gradcheck(ops.neg, jnp.ones(2, dtype=jnp.float32))
    finally:
        jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize(
    "call, op",
    [
        (lambda: xpgrad.to_device(np.ones(2), "cuda"), "to_device"),
        (lambda: xpgrad.default_device("cuda").__enter__(), "default_device"),
        (lambda: xpgrad.synchronize("cuda:0"), "synchronize"),
    ],
    ids=["to_device", "default_device", "synchronize"],
)
def test_missing_device_error_names_the_op(call, op):
    if any(d.kind == "cuda" for d in xpgrad.devices()):
        pytest.skip("a GPU is visible")
    with pytest.raises(RuntimeError, match=rf"^{op}: device 'cuda:0' is not available"):
        call()


def test_to_numpy_of_torch_conjugate_and_bfloat16():
    torch = pytest.importorskip("torch")
    z = torch.tensor([1 + 2j]).conj()
    np.testing.assert_array_equal(xpgrad.to_numpy(z), [1 - 2j])
    b = torch.tensor([1.5, -2.0], dtype=torch.bfloat16)
    np.testing.assert_array_equal(xpgrad.to_numpy(b), np.array([1.5, -2.0], dtype=np.float32))


# -- 3. protocols ----------------------------------------------------------

_SPELLINGS = ["cpu", "CPU", "cpu:0", "cuda", "cuda:0", "cuda:1", " cuda:1 "]


@pytest.mark.parametrize("left, right", list(itertools.product(_SPELLINGS, repeat=2)))
def test_equal_devices_and_names_hash_alike(left, right):
    a, b = Device(left), Device(right)
    assert (a == b) == (str(a) == str(b))  # the same place, whatever the spelling
    for other in (right, b):
        if a == other:
            assert hash(a) == hash(other), (a, other)
            assert other in {a} and a in {other}


def test_device_equals_only_its_canonical_name():
    assert Device("cuda") == "cuda:0" and Device("cuda") != "cuda"
    assert Device("cpu") == "cpu" and Device("cpu") != "CPU"
    assert {Device("cuda:0"): 1}.get("cuda:0") == 1


def test_scalar_base_power_of_tensor(backend):
    """2.0 ** t: value 2^t, gradient 2^t * ln 2 (by hand)."""
    x = np.array([-1.0, 0.0, 3.0])
    t = xpgrad.tensor(backend.asarray(x), requires_grad=True)
    y = 2.0**t
    np.testing.assert_allclose(host(y), [0.5, 1.0, 8.0])
    y.sum().backward()
    np.testing.assert_allclose(host(t.grad), np.array([0.5, 1.0, 8.0]) * np.log(2.0), rtol=1e-14)


def test_tensor_exponent_against_torch(backend, rng):
    torch = pytest.importorskip("torch")
    base = rng.uniform(0.5, 2.0, (3, 4))
    expo = rng.standard_normal((4,))
    up = rng.standard_normal((3, 4))
    a = xpgrad.tensor(backend.asarray(base), requires_grad=True)
    p = xpgrad.tensor(backend.asarray(expo), requires_grad=True)
    (a**p).backward(backend.asarray(up))
    _, (ga, gp) = torch_grads(torch.pow, [base, expo], up)
    np.testing.assert_allclose(host(a.grad), ga, rtol=1e-12)
    np.testing.assert_allclose(host(p.grad), gp, rtol=1e-12)


def test_tensor_exponent_gradcheck(backend, rng):
    base = backend.asarray(rng.uniform(0.5, 2.0, (2, 3)))
    expo = backend.asarray(rng.standard_normal((2, 1)))
    assert gradcheck(ops.pow, base, expo)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns at 0 ** negative; the values are checked
def test_pow_at_zero_base_matches_torch():
    """At x == 0, d/dp x**p is 0 for p >= 0 (torch's choice); log(0) would make it nan."""
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 0.0, 0.0, 2.0])
    p = np.array([0.0, 1.5, 2.0, 0.5])
    up = np.ones(4)
    out, ctx = ops.pow.forward(x, p)
    gx, gp = ops.pow.backward(up, ctx)
    _, (rx, rp) = torch_grads(torch.pow, [x, p], up)
    np.testing.assert_array_equal(gp, rp)
    np.testing.assert_array_equal(gx, rx)
    out, ctx = ops.pow.forward(0.0, p)  # scalar base 0
    _, gp0 = ops.pow.backward(up, ctx)
    np.testing.assert_array_equal(gp0, [0.0, 0.0, 0.0, 0.0])


def test_assert_close_never_converts_arrays_it_does_not_need_to():
    torch = pytest.importorskip("torch")
    xs = pytest.importorskip("array_api_strict")
    da = pytest.importorskip("dask.array")
    t = torch.ones(3, dtype=torch.float64, requires_grad=True)
    assert_close(t * 1.0, np.ones(3))  # a tensor that requires grad
    dev = xs.Device("device1")
    assert_close(xs.ones(3, device=dev), np.ones(3))  # refuses np.asarray
    calls = []

    def chunk():
        calls.append(1)
        return np.ones(3)

    import dask

    lazy = da.from_delayed(dask.delayed(chunk)(), shape=(3,), dtype=np.float64)
    assert_close(lazy, np.ones(3))
    assert len(calls) == 1, "the dask array was computed more than once"
    with pytest.raises(AssertionError, match="assert_close: 1 of 3 elements differ"):
        assert_close(torch.tensor([1.0, 2.0, 3.0], requires_grad=True), np.array([1.0, 2.0, 4.0]))


# -- 4. JAX: eager and under jax.jit ----------------------------------------


_JIT_CASES = {
    "matmul": (ops.matmul, [(2, 3, 4), (4, 5)], {}),
    "matmul-bcast": (ops.matmul, [(2, 1, 3, 4), (3, 4, 2)], {}),
    "linear": (ops.linear, [(5, 3), (4, 3), (4,)], {}),
    "add": (ops.add, [(2, 3), (3,)], {}),
    "sub": (ops.sub, [(2, 1), (1, 3)], {}),
    "mul": (ops.mul, [(2, 3), (2, 1)], {}),
    "div": (ops.div, [(2, 3), (3,)], {}),
    "pow-tensor": (ops.pow, [(2, 3), (3,)], {}),
    "neg": (ops.neg, [(2, 3)], {}),
    "add_bias": (ops.add_bias, [(2, 3, 4), (3,)], {"axis": 1}),
    "sum": (ops.sum, [(2, 3, 4)], {"axis": (0, 2)}),
    "mean": (ops.mean, [(2, 3)], {"axis": -1, "keepdims": True}),
    "reshape": (ops.reshape, [(2, 3)], {"shape": (3, 2)}),
    "permute_dims": (ops.permute_dims, [(2, 3, 4)], {"axes": (2, 0, 1)}),
}


@pytest.mark.parametrize("backend", backend_params(("jax",)), indirect=True)
@pytest.mark.parametrize("name", list(_JIT_CASES))
def test_rule_under_jax_jit_matches_numpy(backend, name, rng):
    import jax

    jnp = backend.module

    rule, shapes, kwargs = _JIT_CASES[name]
    hosts = [rng.uniform(0.5, 1.5, s) for s in shapes]

    def forward_backward(*args):
        out, ctx = rule.forward(*args, **kwargs)
        return out, rule.backward(jnp.ones_like(out) * 0.5, ctx)

    out, grads = jax.jit(forward_backward)(*[backend.asarray(h) for h in hosts])
    ref_out, ref_ctx = rule.forward(*hosts, **kwargs)
    ref_grads = rule.backward(np.ones_like(ref_out) * 0.5, ref_ctx)
    np.testing.assert_allclose(np.asarray(out), ref_out, rtol=1e-13)
    for g, r, h in zip(grads, ref_grads, hosts):
        assert g.shape == h.shape and g.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(g), r, rtol=1e-13)


# Where a backward picks a path by the values (a singular matrix; a zero in a
# product), a traced run cannot read them: it must take the path that holds for
# any values. det took d * inv(x)^T (NaN at diag(2, 0, 3)); prod and
# cumulative_prod raised TracerBoolConversionError.
_JIT_VALUE_CASES = {
    "det-singular": (ops.det, [np.diag([2.0, 0.0, 3.0])], {}),
    "det-rank-1": (ops.det, [np.outer([1.0, 2.0, 3.0], [0.5, -1.0, 2.0])], {}),
    "slogdet-singular": (ops.slogdet, [np.diag([2.0, 0.0, 3.0])], {}),
    "prod-zero": (ops.prod, [np.array([[2.0, 0.0, 3.0], [1.0, 4.0, 0.5]])], {"axis": 1}),
    "cumulative_prod-zero": (ops.cumulative_prod, [np.array([3.0, 0.0, 2.0, 5.0])], {"axis": 0}),
}


@pytest.mark.parametrize("backend", backend_params(("jax",)), indirect=True)
@pytest.mark.parametrize("name", list(_JIT_VALUE_CASES))
def test_a_traced_backward_takes_the_path_that_holds_for_any_values(backend, name):
    import jax

    jnp = backend.module
    rule, hosts, kwargs = _JIT_VALUE_CASES[name]

    def backward(x):
        out, ctx = rule.forward(x, **kwargs)
        g = tuple(jnp.ones_like(o) for o in out) if type(out) is tuple else jnp.ones_like(out)
        return rule.backward(g, ctx)[0]

    x = backend.asarray(hosts[0])
    want = np.asarray(backward(x))  # eager: reads the values
    np.testing.assert_allclose(np.asarray(jax.jit(backward)(x)), want, rtol=1e-12, atol=1e-12)
    batched = jax.vmap(backward)(jnp.stack([x, x]))
    np.testing.assert_allclose(np.asarray(batched[1]), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", backend_params(("jax",)), indirect=True)
def test_jax_grad_through_a_rule_forward_agrees_with_its_backward(backend, rng):
    import jax

    jnp = backend.module
    a, b = backend.asarray(rng.standard_normal((2, 3, 4))), backend.asarray(rng.standard_normal((4, 5)))
    ga_jax, gb_jax = jax.grad(lambda a, b: ops.matmul.forward(a, b)[0].sum(), argnums=(0, 1))(a, b)
    out, ctx = ops.matmul.forward(a, b)
    ga, gb = ops.matmul.backward(jnp.ones_like(out), ctx)
    np.testing.assert_allclose(np.asarray(ga), np.asarray(ga_jax), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(gb), np.asarray(gb_jax), rtol=1e-13)


@pytest.mark.parametrize("name", ["vecdot", "tensordot", "cross"])
def test_mixed_half_and_single_precision_contractions_promote(backend, name):
    # torch refused float16 with float32 in vecdot, tensordot and cross (its
    # kernels want one dtype), while matmul and NumPy promoted: the standard
    # promotes, and so does xpgrad on every library now
    backend.dtype("float16")
    ha, hb = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    a = xpgrad.tensor(backend.asarray(ha.astype(np.float16)), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(hb.astype(np.float32)), requires_grad=True)
    xa = xpgrad.array_api
    out = {"vecdot": lambda: xa.vecdot(a, b), "tensordot": lambda: xa.tensordot(a, b, axes=1),
           "cross": lambda: xa.linalg.cross(a, b)}[name]()
    assert dtype_name(out.data) == "float32"
    xa.sum(out).backward()
    assert dtype_name(a.grad) == "float16" and dtype_name(b.grad) == "float32"
    ones = np.ones(3)
    # d sum(a . b) = (b, a); d sum(a x b) = (b x 1, 1 x a)
    want = (hb, ha) if name != "cross" else (np.cross(hb, ones), np.cross(ones, ha))
    want_out = np.cross(ha, hb) if name == "cross" else ha @ hb
    np.testing.assert_allclose(host(out.data), want_out, rtol=1e-6)
    np.testing.assert_allclose(host(a.grad).astype(np.float64), want[0], rtol=1e-3)
    np.testing.assert_allclose(host(b.grad), want[1], rtol=1e-6)


@pytest.mark.parametrize(
    "name, f, dout",
    [
        ("multiply", lambda xa, x: x * (1 - 2j), lambda x: (1 - 2j) * np.ones_like(x)),
        ("rpow", lambda xa, x: (2 + 1j) ** x, lambda x: (2 + 1j) ** x * np.log(2 + 1j)),
        ("subtract", lambda xa, x: xa.subtract(1j, x), lambda x: -np.ones_like(x) + 0j),
        ("where", lambda xa, x: xa.where(x > 1.5, x, 3j), lambda x: np.where(x > 1.5, 1.0, 0.0) + 0j),
    ],
)
def test_half_precision_beside_a_complex_number_is_complex64(backend, name, f, dout):
    # torch computed float16 beside a Python complex number in complex32: a
    # Tensor whose dtype xpgrad could not name (t.dtype raised), and pow and
    # divide refused it. NumPy and JAX give complex64, as the standard's
    # float32 would
    backend.dtype("float16")
    hx = np.array([1.0, 2.0, 3.0])
    x = xpgrad.tensor(backend.asarray(hx.astype(np.float16)), requires_grad=True)
    xa = xpgrad.array_api
    out = f(xa, x)
    assert out.dtype == xa.complex64
    w = 1 + 3j  # a complex weight: d real(sum(w out)) / dx = real(w dout/dx)
    xa.sum(xa.real(out * w)).backward()
    assert dtype_name(x.grad) == "float16"
    np.testing.assert_allclose(host(x.grad).astype(np.float64), np.real(w * dout(hx)), rtol=2e-3)


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_qr_gradient_at_a_subnormal_scale(backend):
    # R^-H went through a solver whose 1 / pivot overflowed at 1e-310: the
    # gradient of sum(Q @ R) = sum(x), all ones, came back [[nan, inf], ...]
    x = xpgrad.tensor(backend.asarray(np.array([[1e-310, 0.0], [0.0, 1e-310]])), requires_grad=True)
    xa = xpgrad.array_api
    q, r = xa.linalg.qr(x)
    xa.sum(q @ r).backward()
    np.testing.assert_allclose(host(x.grad), np.ones((2, 2)), rtol=1e-12)


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_slogdet_below_rank_n_minus_1_is_nan(backend):
    # Below rank n - 1 every cofactor is 0, so d logabsdet = cof / 0 is 0 / 0:
    # NaN, as the docstring says. Rounding's noise in the cofactors (1e-15)
    # gave +-inf of arbitrary signs instead. At rank n - 1 the cofactor is
    # nonzero and the infinities stay
    xa = xpgrad.array_api
    rank1 = np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 2.0])
    x = xpgrad.tensor(backend.asarray(rank1), requires_grad=True)
    xa.sum(xa.linalg.slogdet(x).logabsdet).backward()
    assert np.isnan(host(x.grad)).all()
    rank2 = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 1.0], [1.0, 3.0, 4.0]])  # row 3 = row 1 + row 2
    y = xpgrad.tensor(backend.asarray(rank2), requires_grad=True)
    xa.sum(xa.linalg.slogdet(y).logabsdet).backward()
    cof = np.array([[1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])  # by hand
    np.testing.assert_array_equal(host(y.grad), np.where(cof > 0, np.inf, -np.inf))


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_solve_with_an_infinite_entry_gives_nan_gradients(backend):
    # The forward gives NaN; the backward's solve with a^T met 0 * inf and
    # raised the library's LinAlgError. torch (reusing the forward's LU) gives
    # NaN; so does xpgrad now, for that matrix only
    xa = xpgrad.array_api
    a = np.stack([np.array([[1.0, np.inf, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), 2 * np.eye(3)])
    x = xpgrad.tensor(backend.asarray(a), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(np.ones((2, 3, 1))), requires_grad=True)
    xa.sum(xa.linalg.solve(x, b)).backward()
    assert np.isnan(host(x.grad)[0]).all() and np.isnan(host(b.grad)[0]).all()
    np.testing.assert_allclose(host(x.grad)[1], np.full((3, 3), -0.25))  # -(G a^-1)(a^-1 b)^T
    np.testing.assert_allclose(host(b.grad)[1], np.full((3, 1), 0.5))
    # an inf in b, not in a: its matrix's db = a^-H G is finite, as torch's
    b2 = np.ones((2, 3, 1))
    b2[1, 0, 0] = np.inf
    c = xpgrad.tensor(backend.asarray(b2), requires_grad=True)
    xa.sum(xa.linalg.solve(xpgrad.tensor(backend.asarray(a)), c)).backward()
    np.testing.assert_allclose(host(c.grad)[1], np.full((3, 1), 0.5))


# The checks that raise at a degenerate input cannot read the values under
# jax.jit: they returned finite numbers that meant nothing (qr of a rank-deficient
# matrix: 1e14). Now the affected matrices of a batch get NaN, the others their
# gradient. (rule, a degenerate matrix, a regular one (None: the loss is what is
# undefined), the forward's parameters, which output the loss reads)
_JIT_DEGENERATE = {
    "eigh-repeated": (ops.eigh, np.diag([1.0, 1.0, 2.0]), np.diag([1.0, 3.0, 2.0]), {}, 1),
    "svd-repeated": (ops.svd, np.diag([2.0, 2.0, 1.0]), np.diag([3.0, 2.0, 1.0]),
                     {"full_matrices": False}, 0),
    "svd-full": (ops.svd, np.array([[2.0, 0.5], [0.1, 1.0], [0.3, -1.0]]), None,
                 {"full_matrices": True}, 0),
    "qr-rank-deficient": (ops.qr, np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]),
                          np.array([[1.0, 2.0], [0.0, 4.0], [3.0, 1.0]]), {}, 0),
}


@pytest.mark.parametrize("backend", backend_params(("jax",)), indirect=True)
@pytest.mark.parametrize("name", list(_JIT_DEGENERATE))
def test_a_traced_backward_gives_nan_where_the_eager_one_raises(backend, name):
    import jax

    jnp = backend.module
    rule, bad, good, kwargs, which = _JIT_DEGENERATE[name]

    def backward(x):
        outs, ctx = rule.forward(x, **kwargs)
        grads = [None] * len(outs)
        shape = tuple(outs[which].shape)  # a loss of each matrix, weighted 1/n ... 1
        size = math.prod(shape[-2:])
        weights = jnp.reshape(jnp.arange(1.0, size + 1.0), shape[-2:]) / size
        grads[which] = jnp.broadcast_to(weights, shape)
        return rule.backward(tuple(grads), ctx)[0]

    with pytest.raises(ValueError, match=rf"^{rule.__name__}.backward: "):
        backward(backend.asarray(bad))
    batch = np.stack([bad, bad if good is None else good])
    got = np.asarray(jax.jit(backward)(backend.asarray(batch)))
    assert np.isnan(got[0]).all()
    if good is not None:
        np.testing.assert_allclose(got[1], np.asarray(backward(backend.asarray(good))), rtol=1e-10,
                                   atol=1e-12)

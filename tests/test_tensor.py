"""The autograd Tensor: operators and their gradients, dtype rules, graph
bookkeeping (accumulation, shared inputs, release, leaks, long chains) and
the errors it raises."""

from __future__ import annotations

import fractions
import gc
import weakref

import numpy as np
import pytest

import xpgrad
from xpgrad import Tensor

from tests.support import backend_params, dtype_name, host

# JAX compiles each op at each shape: half of its cases here in a plain run,
# all with --backend jax (tests/conftest.py)
pytestmark = pytest.mark.jax_sample(2)


def leaf(backend, values, dtype="float64"):
    return xpgrad.tensor(backend.asarray(np.asarray(values, dtype=float), dtype), requires_grad=True)


# -- scalars on either side, values and gradients by hand -------------------

X = [0.5, 1.0, 2.0, 4.0]
XA = np.array(X)

SCALAR_OPS = [
    ("t*2", lambda t: t * 2.0, XA * 2, np.full(4, 2.0)),
    ("2*t", lambda t: 2.0 * t, XA * 2, np.full(4, 2.0)),
    ("t+1", lambda t: t + 1.0, XA + 1, np.ones(4)),
    ("1+t", lambda t: 1 + t, XA + 1, np.ones(4)),
    ("t-3", lambda t: t - 3.0, XA - 3, np.ones(4)),
    ("2-t", lambda t: 2.0 - t, 2 - XA, -np.ones(4)),
    ("t/4", lambda t: t / 4.0, XA / 4, np.full(4, 0.25)),
    ("1/t", lambda t: 1 / t, 1 / XA, -1 / XA**2),
    ("t**2", lambda t: t**2, XA**2, 2 * XA),
    ("t**3", lambda t: t**3, XA**3, 3 * XA**2),
    ("t**0.5", lambda t: t**0.5, np.sqrt(XA), 0.5 / np.sqrt(XA)),
    ("t**-2", lambda t: t**-2, XA**-2.0, -2 * XA**-3.0),
    ("-t", lambda t: -t, -XA, -np.ones(4)),
    ("+t", lambda t: +t, XA, np.ones(4)),
    ("t*t", lambda t: t * t, XA * XA, 2 * XA),
    ("t/t", lambda t: t / t, np.ones(4), np.zeros(4)),
    ("t-t", lambda t: t - t, np.zeros(4), np.zeros(4)),
]


@pytest.mark.parametrize("name, fn, value, grad", SCALAR_OPS, ids=[s[0] for s in SCALAR_OPS])
def test_operator_values_and_grads(backend, dtype, name, fn, value, grad):
    t = leaf(backend, X, dtype)
    out = fn(t)
    assert isinstance(out, Tensor)
    assert out.dtype == t.dtype, f"{name} changed the dtype"
    rtol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(host(out.data), value, rtol=rtol, atol=rtol)
    out.sum().backward()
    assert t.dtype == t.grad.dtype
    np.testing.assert_allclose(host(t.grad), grad, rtol=rtol, atol=rtol)


WITH_PYTHON_SCALAR = {
    "t*2.0": lambda t: t * 2.0,
    "2.0*t": lambda t: 2.0 * t,
    "t+0.1": lambda t: t + 0.1,
    "0.1-t": lambda t: 0.1 - t,
    "t/3.0": lambda t: t / 3.0,
    "1.0/t": lambda t: 1.0 / t,
    "t**2.5": lambda t: t**2.5,
    "t**2": lambda t: t**2,
}


@pytest.mark.parametrize("op", list(WITH_PYTHON_SCALAR))
def test_float32_times_python_float_stays_float32(backend, op):
    t = xpgrad.tensor(backend.asarray(np.ones(3), "float32"), requires_grad=True)
    assert WITH_PYTHON_SCALAR[op](t).dtype == backend.dtype("float32")


def test_numpy_array_on_the_left_defers_to_tensor():
    t = xpgrad.tensor(np.array([1.0, 2.0]), requires_grad=True)
    out = np.array([3.0, 4.0]) * t  # ndarray.__mul__ must not swallow the Tensor
    assert isinstance(out, Tensor)
    out2 = np.ones((2, 2)) @ t
    assert isinstance(out2, Tensor)
    (out.sum() + out2.sum()).backward()
    np.testing.assert_array_equal(t.grad, [3.0 + 2.0, 4.0 + 2.0])


# -- dtypes ----------------------------------------------------------------


def test_grad_dtype_matches_input_dtype(backend, dtype):
    a = xpgrad.tensor(backend.asarray(np.ones((2, 3)), dtype), requires_grad=True)
    w = xpgrad.tensor(backend.asarray(np.ones((4, 3)), dtype), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(np.ones(4), dtype), requires_grad=True)
    xpgrad.linear(a, w, b).mean().backward()
    for t in (a, w, b):
        assert t.dtype == t.grad.dtype and tuple(t.grad.shape) == t.shape


def test_mixed_precision_tensors_keep_each_grad_dtype(backend):
    a = xpgrad.tensor(backend.asarray(np.arange(6.0).reshape(2, 3), "float32"), requires_grad=True)
    b = xpgrad.tensor(backend.asarray(np.arange(12.0).reshape(3, 4), "float64"), requires_grad=True)
    out = a @ b
    assert dtype_name(out.data) == "float64"
    (out * 2.0).sum().backward()
    assert dtype_name(a.grad) == "float32" and dtype_name(b.grad) == "float64"
    # d/da sum(2 a b) = 2 * row sums of b; d/db = 2 * column sums of a, repeated
    np.testing.assert_array_equal(host(a.grad), np.tile(2 * np.arange(12.0).reshape(3, 4).sum(1), (2, 1)))
    np.testing.assert_array_equal(host(b.grad), np.tile((2 * np.arange(6.0).reshape(2, 3).sum(0))[:, None], 4))


def test_float16_grads_on_numpy():
    a = xpgrad.tensor(np.ones((3, 4), np.float16), requires_grad=True)
    w = xpgrad.tensor(np.full((4, 2), 0.5, np.float16), requires_grad=True)
    b = xpgrad.tensor(np.zeros(2, np.float16), requires_grad=True)
    out = xpgrad.add_bias(a @ w, b, axis=1)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out.data, np.full((3, 2), 2.0))
    out.sum().backward()
    assert a.grad.dtype == w.grad.dtype == b.grad.dtype == np.float16
    np.testing.assert_array_equal(a.grad, np.ones((3, 4)))  # sum of w's row = 1.0
    np.testing.assert_array_equal(w.grad, np.full((4, 2), 3.0))
    np.testing.assert_array_equal(b.grad, [3.0, 3.0])


def test_float16_sum_accumulates_beyond_half_range():
    """4096 ones in float16: an float16 running sum stalls at 2048."""
    x = xpgrad.tensor(np.ones(4096, np.float16), requires_grad=True)
    s = x.sum()
    assert s.dtype == np.float16 and s.item() == 4096.0


@pytest.mark.parametrize("name", ["var", "std", "vector_norm"])
def test_half_precision_spread_and_norm_compute_in_float32(name, backend):
    # a (1024,) row with spread 100: the float16 sum of squares (about 1e7)
    # overflowed to inf, though the variance (about 1e4) fits; so did std's
    # gradient scale, n * std (about 1e5), which made its gradient 0
    backend.dtype("float16")  # skips where the library has none (array_api_strict)
    row = np.random.default_rng(1).standard_normal((2, 1024)) * 100
    half = row.astype(np.float16)
    x = xpgrad.tensor(backend.asarray(half, "float16"), requires_grad=True)
    fn = getattr(xpgrad.array_api.linalg if name == "vector_norm" else xpgrad.array_api, name)
    out = fn(x, axis=1)
    wide = half.astype(np.float64)
    want = {"var": wide.var(axis=1), "std": wide.std(axis=1),
            "vector_norm": np.sqrt((wide**2).sum(axis=1))}[name]
    assert dtype_name(out.data) == "float16"
    np.testing.assert_allclose(host(out.data).astype(np.float64), want, rtol=2e-3)
    xpgrad.array_api.sum(out).backward()
    assert x.grad.dtype == x.data.dtype
    centred = wide - wide.mean(axis=1, keepdims=True)
    n = wide.shape[1]
    grad = {"var": 2 * centred / n, "std": centred / (n * wide.std(axis=1, keepdims=True)),
            "vector_norm": wide / np.sqrt((wide**2).sum(axis=1, keepdims=True))}[name]
    np.testing.assert_allclose(host(x.grad).astype(np.float64), grad, rtol=2e-2, atol=1e-5)


def test_integer_tensor_with_requires_grad_raises(backend):
    data = backend.asarray(np.arange(3))
    with pytest.raises(TypeError, match="requires_grad"):
        xpgrad.tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match="requires_grad"):
        xpgrad.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError, match="requires_grad"):
        xpgrad.tensor([True, False], requires_grad=True)
    assert xpgrad.tensor(data).requires_grad is False  # integer data without grad is fine


def test_tensor_dtype_argument(backend):
    t = xpgrad.tensor(backend.asarray(np.arange(3)), dtype="float32", requires_grad=True)
    assert t.dtype == backend.dtype("float32")
    t2 = xpgrad.tensor([1, 2], dtype=np.float64)
    assert t2.dtype == np.float64 and isinstance(t2.data, np.ndarray)
    with pytest.raises(TypeError, match="dtype"):
        xpgrad.tensor([1.0], dtype="float17")


# -- mixing libraries ------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [lambda a, b: a @ b, lambda a, b: a + b, lambda a, b: b * a, lambda a, b: xpgrad.linear(a, b)],
    ids=["numpy@torch", "numpy+torch", "torch*numpy", "linear(numpy,torch)"],
)
def test_mixing_numpy_and_torch_raises_type_error(op):
    torch = pytest.importorskip("torch")
    a = xpgrad.tensor(np.ones((2, 2)), requires_grad=True)
    b = xpgrad.tensor(torch.ones((2, 2), dtype=torch.float64), requires_grad=True)
    with pytest.raises(TypeError, match=r"numpy.*torch|torch.*numpy"):
        op(a, b)


def test_mixing_numpy_and_array_api_strict_raises_type_error():
    xs = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="array_api_strict"):
        xpgrad.tensor(np.ones(2)) + xpgrad.tensor(xs.ones(2))


# -- graph bookkeeping -----------------------------------------------------


def test_gradients_accumulate_across_backward_calls(backend):
    x = leaf(backend, [1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [6.0, 6.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [2.0, 4.0])


def test_tensor_used_on_several_paths_gets_the_sum(backend):
    x = leaf(backend, [1.0, 2.0, 3.0])
    y = x * x + x * 2.0 - x / 2.0  # dy/dx = 2x + 2 - 0.5
    z = y.sum() + x.sum()  # + 1
    z.backward()
    np.testing.assert_array_equal(host(x.grad), 2 * np.array([1.0, 2.0, 3.0]) + 2.5)


def test_shared_intermediate_gets_the_sum(backend):
    x = leaf(backend, [1.0, 2.0])
    h = x * 3.0
    out = (h * h).sum() + h.sum()  # d/dh = 2h + 1; d/dx = 3(2h + 1) = 18x + 3
    out.backward()
    np.testing.assert_array_equal(host(x.grad), [21.0, 39.0])


def test_diamond_matmul_graph(backend):
    """w used by two matmuls: grad_w is the sum of both contributions."""
    x = leaf(backend, np.ones((2, 3)))
    w = leaf(backend, np.ones((3, 3)))
    out = ((x @ w) @ w).sum()
    # out = 1^T x w w 1; d/dw from both uses = x^T 1 (w 1)^T + (x w)^T 1 1^T
    out.backward()
    xh, wh = np.ones((2, 3)), np.ones((3, 3))
    g = np.ones((2, 3))
    expected = (xh.T @ (g @ wh.T)) + ((xh @ wh).T @ g)
    np.testing.assert_array_equal(host(w.grad), expected)


def test_backward_twice_without_retain_graph_raises(backend):
    x = leaf(backend, [1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


def test_backward_through_released_intermediate_raises(backend):
    x = leaf(backend, [1.0, 2.0])
    h = x * x
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2.0).sum().backward()


def test_retain_graph_allows_second_backward(backend):
    x = leaf(backend, [1.0, 2.0])
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(host(x.grad), [4.0, 8.0])


def test_backward_without_grad_on_non_scalar_raises(backend):
    x = leaf(backend, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        (x * 2.0).backward()


def test_backward_with_explicit_grad(backend):
    x = leaf(backend, np.ones((2, 3)))
    g = backend.asarray(np.arange(6.0).reshape(2, 3))
    (x * 2.0).backward(g)
    np.testing.assert_array_equal(host(x.grad), 2 * np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        (x * 2.0).backward(backend.asarray(np.ones((3, 2))))


def test_backward_grad_of_other_dtype_or_library(backend):
    x = leaf(backend, [1.0, 2.0])
    (x * 3.0).backward(backend.asarray(np.array([1.0, 2.0]), "float32"))  # cast to float64
    assert x.dtype == x.grad.dtype
    np.testing.assert_array_equal(host(x.grad), [3.0, 6.0])
    if backend.name != "numpy":
        with pytest.raises(TypeError):
            (x * 3.0).backward(np.ones(2))


def test_backward_on_single_element_non_scalar(backend):
    x = leaf(backend, [[3.0]])
    (x * x).backward()  # shape (1, 1): grad may be omitted
    np.testing.assert_array_equal(host(x.grad), [[6.0]])


def test_backward_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="requires_grad|require grad"):
        xpgrad.tensor([1.0, 2.0]).sum().backward()


def test_backward_on_a_leaf_sets_its_grad():
    x = xpgrad.tensor(np.array(2.0), requires_grad=True)
    x.backward()
    assert x.grad == 1.0


def test_grad_is_a_writable_copy():
    """sum's gradient is a read-only broadcast view; .grad must be a real array
    that does not alias the caller's upstream gradient."""
    x = xpgrad.tensor(np.ones((2, 3)), requires_grad=True)
    x.sum().backward()
    assert x.grad.flags.writeable
    x.grad[0, 0] = 5.0  # must not raise or touch anything else
    y = xpgrad.tensor(np.ones(3), requires_grad=True)
    g = np.array([1.0, 2.0, 3.0])
    (y + 0.0).backward(g)
    y.grad[0] = 100.0
    assert g[0] == 1.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_seed_of_a_0d_result_is_never_written_through(dtype):
    """A 0-d NumPy loss starts its backward from one shared, read-only 1: the
    gradients that reach .grad as it is (add's) must be copies, and writing
    into them must not change the next backward's start."""
    for _ in range(2):
        y = xpgrad.tensor(np.array(3.0, dtype), requires_grad=True)
        (y + 0.0).backward()  # add hands its gradient on as it is
        assert y.grad == 1.0 and y.grad.dtype == dtype and y.grad.flags.writeable
        y.grad += 5.0
        z = xpgrad.tensor(np.array(3.0, dtype), requires_grad=True)
        (z * 1.0).sum().backward()
        assert z.grad == 1.0
        w = xpgrad.tensor(np.ones((2, 2), dtype), requires_grad=True)
        w.sum().backward()
        w.grad[0, 0] = 7.0
        np.testing.assert_array_equal(w.grad, [[7.0, 1.0], [1.0, 1.0]])


def test_gradients_handed_to_the_caller_are_their_own_arrays():
    """autograd.grad, the transforms and create_graph start from a fresh 1:
    what they return can be written, and two results never share memory."""
    x = xpgrad.tensor(np.array(2.0), requires_grad=True)
    (g1,) = xpgrad.autograd.grad(x + 1.0, x)
    z = xpgrad.tensor(np.array(5.0), requires_grad=True)
    (g2,) = xpgrad.autograd.grad(z + 3.0, z)
    assert not np.shares_memory(g1.data, g2.data)
    g1.data[...] = 42.0
    g3 = xpgrad.grad(lambda t: t + 1.0)(np.array(2.0))
    g3 += 1.0
    w = xpgrad.tensor(np.array(1.0), requires_grad=True)
    (w + 1.0).backward(create_graph=True)
    w.grad.data[...] = 9.0
    q = xpgrad.tensor(np.array(1.0), requires_grad=True)
    (q * 3.0).backward()
    assert q.grad == 3.0 and g3 == 2.0 and g2.data == 1.0


def test_the_shared_seed_cannot_be_made_writable():
    x = xpgrad.tensor(np.array(2.0), requires_grad=True)
    seen = []

    class spy(xpgrad.ops.Unary):
        """``out = x``; dx = G, remembering G."""

        saves = ()

        @staticmethod
        def compute(xp, x):
            return x + 0.0

        @staticmethod
        def grad(xp, g, s):
            seen.append(g)
            return g

    xpgrad.apply(spy, (x,)).backward()
    (g,) = seen
    with pytest.raises(ValueError):
        g.flags.writeable = True
    with pytest.raises(ValueError):
        g[...] = 5.0
    assert x.grad == 1.0 and x.grad.flags.writeable


def test_grad_does_not_alias_a_broadcast(backend):
    """Writing one element of .grad (the copy of sum's broadcast view) changes only that element."""
    if backend.name in ("jax", "cubed"):
        pytest.skip(f"{backend.name} arrays have no item assignment: there is no element to "
                    f"write, and no alias to fear")
    x = leaf(backend, np.zeros((2, 3)))
    x.sum().backward()
    x.grad[0, 0] = 5.0
    np.testing.assert_array_equal(host(x.grad), [[5.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    x.sum().backward()
    np.testing.assert_array_equal(host(x.grad), [[6.0, 2.0, 2.0], [2.0, 2.0, 2.0]])


def test_inputs_are_not_modified(backend):
    xh = np.arange(6.0).reshape(2, 3)
    x = leaf(backend, xh)
    w = leaf(backend, np.ones((4, 3)))
    loss = (xpgrad.linear(x, w) ** 2).sum()
    loss.backward()
    loss2 = (xpgrad.linear(x, w) ** 2).sum()
    loss2.backward()
    np.testing.assert_array_equal(host(x.data), xh)
    np.testing.assert_array_equal(host(w.data), np.ones((4, 3)))


def test_no_grad_records_nothing(backend):
    w = leaf(backend, [1.0, 2.0])
    assert xpgrad.is_grad_enabled()
    with xpgrad.no_grad():
        assert not xpgrad.is_grad_enabled()
        y = w * 2.0
        with xpgrad.no_grad():
            z = y + w
        assert not xpgrad.is_grad_enabled()
    assert xpgrad.is_grad_enabled()
    assert not y.requires_grad and not z.requires_grad
    np.testing.assert_array_equal(host(z.data), [3.0, 6.0])
    with pytest.raises(RuntimeError):
        y.sum().backward()
    assert w.grad is None


def test_no_grad_restores_state_after_exception():
    with pytest.raises(ZeroDivisionError):
        with xpgrad.no_grad():
            1 / 0
    assert xpgrad.is_grad_enabled()


def test_detach_cuts_the_graph(backend):
    x = leaf(backend, [1.0, 2.0])
    y = (x * 3.0).detach()
    assert not y.requires_grad and y.is_leaf
    out = (y * x).sum()  # only the direct use of x counts: d/dx = y = 3x
    out.backward()
    np.testing.assert_array_equal(host(x.grad), [3.0, 6.0])


def test_requires_grad_only_where_needed(backend):
    x = leaf(backend, [1.0, 2.0])
    c = xpgrad.tensor(backend.asarray(np.array([5.0, 6.0])))
    out = (x * c).sum()
    out.backward()
    assert c.grad is None
    np.testing.assert_array_equal(host(x.grad), [5.0, 6.0])


def test_long_chain_backward_has_no_recursion_limit():
    x = xpgrad.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y + 1.0
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [10_001.0, 10_002.0])
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_long_multiplicative_chain():
    """y = x * 1.0001 ** 10000 steps; dy/dx = 1.0001 ** 10000."""
    x = xpgrad.tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**10_000], rtol=1e-10)


def test_intermediates_are_freed_after_backward():
    """The graph keeps what a rule saved (h, which mul reads) until backward,
    and nothing no rule saved (h2 = ... + 1: neither add nor sum reads it)."""
    x = xpgrad.tensor(np.ones((3, 4)), requires_grad=True)
    w = xpgrad.tensor(np.ones((4, 2)), requires_grad=True)
    h = x @ w
    h2 = h * 2.0 + 1.0
    loss = h2.sum()
    saved, unsaved = weakref.ref(h.data), weakref.ref(h2.data)
    del h, h2
    gc.collect()
    assert saved() is not None, "mul's backward reads h: the graph keeps it until backward"
    assert unsaved() is None, "no rule saved h2: dropping the Tensor frees its data"
    loss.backward()
    gc.collect()
    assert saved() is None, "backward must release the graph"


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Tensor)


def test_no_graph_leak_over_training_steps():
    rng = np.random.default_rng(0)
    w = xpgrad.tensor(rng.standard_normal((4, 3)) * 0.1, requires_grad=True)
    b = xpgrad.tensor(np.zeros(3), requires_grad=True)
    x = xpgrad.tensor(rng.standard_normal((8, 4)))
    target = xpgrad.tensor(rng.standard_normal((8, 3)))

    def step():
        loss = ((xpgrad.add_bias(x @ w, b) - target) ** 2).mean()
        loss.backward()
        with xpgrad.no_grad():
            w.data = w.data - 0.1 * w.grad
            b.data = b.data - 0.1 * b.grad
        w.grad = b.grad = None
        return loss.item()

    first = step()
    before = _live_tensors()
    for _ in range(200):
        last = step()
    after = _live_tensors()
    assert after <= before, f"live Tensors grew from {before} to {after} over 200 steps"
    assert last < first  # and it learned something


def test_unused_graph_is_collected():
    """A graph that is never backpropagated is freed when dropped (no global registry)."""
    x = xpgrad.tensor(np.ones(3), requires_grad=True)
    y = (x * 2.0) + 1.0
    r = weakref.ref(y)
    del y
    gc.collect()
    assert r() is None


# -- Tensor attributes and helpers ----------------------------------------


def test_tensor_attributes(backend):
    t = leaf(backend, np.arange(6.0).reshape(2, 3))
    assert t.shape == (2, 3) and t.ndim == 2 and len(t) == 2
    assert t.device == xpgrad.Device(backend.device) and t.device == backend.device
    assert t.requires_grad and t.is_leaf
    assert "requires_grad=True" in repr(t)
    np.testing.assert_array_equal(t.detach().numpy(), np.arange(6.0).reshape(2, 3))
    assert isinstance(t.detach().numpy(), np.ndarray)
    with pytest.raises(RuntimeError, match="Tensor.numpy"):  # it requires grad (test_silent.py)
        t.numpy()
    assert t.sum().item() == 15.0 and isinstance(t.sum().item(), float)


def test_transposes_reshape_and_reductions(backend):
    xh = np.arange(24.0).reshape(2, 3, 4)
    x = leaf(backend, xh)
    np.testing.assert_array_equal(host(x.T.data), xh.T)
    np.testing.assert_array_equal(host(x.mT.data), np.swapaxes(xh, -1, -2))
    np.testing.assert_array_equal(host(x.reshape(6, 4).data), xh.reshape(6, 4))
    np.testing.assert_array_equal(host(x.reshape((4, -1)).data), xh.reshape(4, -1))
    np.testing.assert_array_equal(host(x.sum(axis=1, keepdims=True).data), xh.sum(1, keepdims=True))
    np.testing.assert_allclose(host(x.mean(axis=(0, 2)).data), xh.mean((0, 2)))
    w_t = backend.asarray(np.transpose(np.arange(24.0).reshape(2, 3, 4) % 5))
    loss = (x.T * xpgrad.tensor(w_t)).sum() \
        + (x.mT.reshape(-1) * 2.0).sum() + x.mean(axis=1).sum()
    loss.backward()
    np.testing.assert_allclose(host(x.grad), (np.arange(24.0).reshape(2, 3, 4) % 5) + 2.0 + 1 / 3)
    with pytest.raises(ValueError, match="mT"):
        leaf(backend, [1.0, 2.0]).mT


def test_to_same_device_keeps_the_gradient_path(backend):
    x = leaf(backend, [1.0, 2.0])
    y = x.to(backend.device)
    (y * 3.0).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [3.0, 3.0])


def test_tensor_from_list_and_scalar():
    t = xpgrad.tensor([[1.0, 2.0]])
    assert isinstance(t.data, np.ndarray) and t.shape == (1, 2) and t.device == "cpu"
    s = xpgrad.tensor(3.0, requires_grad=True)
    (s * s).backward()
    assert s.grad == 6.0
    t2 = xpgrad.tensor(t)
    assert t2.data is t.data


def test_mean_of_integer_tensor_raises():
    with pytest.raises(TypeError, match="mean"):
        xpgrad.tensor([1, 2, 3]).mean()


def test_iterating_gives_the_rows_on_every_backend(backend):
    # Python's fallback calls t[i] until an IndexError: JAX clamps i (the last
    # row forever) and array_api_strict refuses t[0] of a matrix (no rows)
    x = leaf(backend, [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    rows = list(x)
    assert len(rows) == 3
    np.testing.assert_array_equal([host(r) for r in rows], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    a, b, c = x
    (a + 2.0 * c).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    with pytest.raises(TypeError, match="^__iter__: a 0-D tensor"):
        iter(x.sum())


# -- protocols: in place, pickle and copy, DLPack of 0-d, format, the flag ----


@pytest.mark.parametrize("recorded", [False, True])
def test_an_in_place_operator_keeps_the_shape_as_numpy_and_torch_do(recorded):
    # other broadcast the tensor to (3, 2), and a parameter silently grew
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    t = w * 1.0 if recorded else w
    with pytest.raises(ValueError, match=r"^-=: the result has shape \(3, 2\), but this tensor's is \(2,\)"):
        if recorded:
            t -= np.ones((3, 2))
        else:
            with xpgrad.no_grad():
                t -= np.ones((3, 2))
    assert w.shape == (2,)
    m = xpgrad.tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"^@=: the result has shape \(3, 2\)"):
        m @= np.ones((4, 2))
    m += np.ones(4)  # a smaller operand broadcasts into it, as before
    np.testing.assert_array_equal(m.data, np.full((3, 4), 2.0))


def test_numpy_scalars_of_0d_arithmetic_stay_arrays_where_arrays_are_promised():
    import torch

    loss = xpgrad.array_api.sum(xpgrad.tensor([1.0, 2.0]))  # NumPy's sum gives np.float64
    assert np.from_dlpack(loss) == 3.0 and torch.from_dlpack(loss).item() == 3.0
    assert loss.__dlpack_device__() == (1, 0)
    b = xpgrad.tensor(np.zeros(()), requires_grad=True)
    (b * 2.0).backward()
    (b * 2.0).backward()  # the sum of two 0-d gradients: np.float64, without item assignment
    assert type(b.grad) is np.ndarray and b.grad == 4.0
    b.grad[...] = 0.0
    with xpgrad.no_grad():
        b -= 0.5 * np.ones(())
    assert type(b.data) is np.ndarray and b.data == -0.5


def test_array_with_copy_false_never_copies_for_a_new_dtype():
    t = xpgrad.tensor(np.arange(3.0))
    with pytest.raises(ValueError, match="copy=False, but dtype float32 is not the data's float64"):
        np.asarray(t, dtype=np.float32, copy=False)
    assert np.shares_memory(np.asarray(t, dtype=np.float64, copy=False), t.data)


def test_a_complex_grad_for_a_real_output_is_refused_not_cut_to_its_real_part():
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"^backward: grad has the complex dtype complex128, but this tensor is real"):
        (x * 2.0).backward(np.array([1 + 5j, 1 - 5j]))
    with pytest.raises(TypeError, match=r"^autograd.grad: grad_outputs has the complex dtype"):
        xpgrad.autograd.grad([x * 2.0], [x], grad_outputs=[np.array([1j, 1j])])
    z = xpgrad.tensor([1 + 1j], requires_grad=True)
    (z * 2.0).backward(np.array([1.0]))  # a real grad of a complex output widens losslessly
    np.testing.assert_array_equal(z.grad, [2.0 + 0j])


def test_pickle_and_copy_carry_values_not_the_graph_and_deepcopy_refuses_a_result():
    import copy
    import pickle

    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    back = pickle.loads(pickle.dumps(y))  # it failed: "cannot pickle 'module' object"
    assert back.is_leaf and back.requires_grad
    np.testing.assert_array_equal(back.data, [2.0, 4.0])
    assert copy.copy(y).is_leaf  # as torch's
    with pytest.raises(RuntimeError, match="^deepcopy: this tensor is the result of recorded ops"):
        copy.deepcopy(y)
    (x**3).sum().backward(create_graph=True)  # a .grad with a graph
    twin = copy.deepcopy(x)
    assert twin is not x and type(twin.grad) is np.ndarray and twin.requires_grad
    np.testing.assert_array_equal(twin.grad, [3.0, 12.0])
    pair = copy.deepcopy([x, x])
    assert pair[0] is pair[1]


def test_the_requires_grad_flag_is_checked_when_set():
    ints = xpgrad.tensor([1, 2])
    with pytest.raises(TypeError, match="^requires_grad: requires_grad=True needs a floating-point dtype"):
        ints.requires_grad = True
    assert not ints.requires_grad
    x = xpgrad.tensor([1.0, 2.0])
    x.requires_grad = True
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    y = x * 2.0
    with pytest.raises(RuntimeError, match="^requires_grad: only a leaf's flag can change"):
        y.requires_grad = False
    y.requires_grad = True  # already true: nothing to change
    assert y.requires_grad and not y.is_leaf


def test_format_spec_applies_to_the_value_of_a_one_element_tensor():
    loss = xpgrad.array_api.sum(xpgrad.tensor([1.0, 2.0]))
    assert f"{loss:.3f}" == "3.000" and f"{xpgrad.tensor(7):d}" == "7"
    assert f"{xpgrad.tensor([0.25]):.1%}" == "25.0%"
    assert f"{xpgrad.tensor(1 + 2j):.1f}" == "1.0+2.0j"
    assert f"{loss}" == str(loss)
    with pytest.raises(TypeError, match=r"^__format__: the spec '.2f' applies to one-element"):
        f"{xpgrad.tensor([1.0, 2.0]):.2f}"


def test_a_0d_exponent_that_requires_grad_gets_its_gradient_on_numpy():
    # NumPy's 0-d arithmetic gave np.float64 data, which pow took for a constant
    # number: d/dp sum(base ** p) was 0, and the second derivative of x ** x wrong
    base = np.array([1.5, 2.0, 3.0])
    want = np.sum(base**2 * np.log(base))  # at p = 2
    got = xpgrad.grad(lambda p: xpgrad.array_api.sum(base ** (p * 1.0)))(np.array(2.0))
    np.testing.assert_allclose(got, want)
    got = xpgrad.grad(lambda w: xpgrad.array_api.sum(base ** xpgrad.array_api.sum(w)))(np.array([0.5, 1.5]))
    np.testing.assert_allclose(got, [want, want])
    x = 1.3  # d2/dx2 x^x = x^x ((ln x + 1)^2 + 1/x)
    got = xpgrad.grad(xpgrad.grad(lambda a: a**a))(np.array(x))
    np.testing.assert_allclose(got, x**x * ((np.log(x) + 1) ** 2 + 1 / x))
    assert type(xpgrad.array_api.sum(xpgrad.tensor([1.0])).data) is np.ndarray


def test_numpy_scalars_are_read_as_the_arrays_library_reads_them(backend):
    # torch_t * np.float64(0.5) was refused as two libraries, though torch's
    # operators take it (as a number); dask's, JAX's and NumPy's promote it as
    # a 0-d float64 (NEP 50), where xpgrad's pow gave float32 on NumPy
    t = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0]), "float32"), requires_grad=True)
    if backend.name == "array_api_strict":  # strict refuses NumPy scalars: so does xpgrad
        with pytest.raises(TypeError, match="^mul: inputs come from different array libraries"):
            t * np.float64(0.5)
        return
    wide = "float32" if backend.name == "torch" else "float64"
    y = t * np.float64(0.5) + np.float32(1.0) - np.int64(2)
    np.testing.assert_allclose(host(y.data), [-0.5, 0.0])
    assert dtype_name(y.data) == wide
    assert dtype_name((t ** np.float64(3.0)).data) == wide
    assert dtype_name(xpgrad.array_api.where(t > np.float64(1.5), t, np.float64(0.0)).data) == wide
    xpgrad.array_api.sum(y).backward()
    np.testing.assert_allclose(host(t.grad), [0.5, 0.5])
    assert dtype_name(t.grad) == "float32"
    t.grad = None
    xpgrad.array_api.sum(t ** np.float64(3.0)).backward()
    np.testing.assert_allclose(host(t.grad), [3.0, 12.0])


# -- views: NumPy's and torch's basic indexing writes through --------------------


def test_a_write_into_a_basic_index_goes_through_to_the_base_where_the_library_views(backend):
    # t[0, :, :] gave a Tensor whose writes never reached t: scikit-learn's
    # GaussianMixture(covariance_type="full") lost reg_covar that way
    host_t = np.zeros((2, 3, 3))
    t = xpgrad.tensor(backend.asarray(host_t))
    v = t[0, :, :]
    if backend.name in ("jax", "dask", "cubed"):  # immutable, or a graph: no views to write through
        v[1, 1] = 5.0
        assert float(host(t.data)[0, 1, 1]) == 0.0 and float(host(v.data)[1, 1]) == 5.0
        return
    t[0, 2, 2] = 9.0  # the base changes after the view is made
    v[1, 1] = 5.0
    row = v[1, :]  # a view of a view
    row[2] = 7.0
    want = np.zeros((3, 3))
    want[1, 1], want[1, 2], want[2, 2] = 5.0, 7.0, 9.0
    np.testing.assert_array_equal(host(t.data)[0], want)
    np.testing.assert_array_equal(host(v.data), want)  # and the view has the base's values
    np.testing.assert_array_equal(host(t.data)[1], np.zeros((3, 3)))
    c = t[backend.asarray(np.array([1])), 0, 0]  # an integer array makes a copy, in NumPy too
    c[0] = 3.0
    assert float(host(t.data)[1, 0, 0]) == 0.0


@pytest.mark.parametrize("key", [(0, 0), (0, 0, Ellipsis), (0, slice(None)), (np.int64(1), 0), ()],
                         ids=["ints", "ints-ellipsis", "int-slice", "numpy-int", "empty"])
def test_an_element_is_a_copy_where_the_library_copies_it(backend, key):
    # every index an int is NumPy's scalar, a copy: xpgrad made a view of it,
    # and x[i, j] += ... in NumPy-style code silently changed x; torch and
    # CuPy give a 0-d view, and xpgrad follows each library
    host_x = np.array([[1.0, 2.0], [3.0, 4.0]])
    if key == ():
        host_x = np.array(5.0)
    x = xpgrad.tensor(backend.asarray(host_x))
    e = x[key]
    e += 10.0
    native = backend.asarray(host_x)
    if backend.name in ("jax", "dask", "cubed"):
        want = host_x  # immutable, or a graph: every index is a copy
    else:
        n = native[key]
        n += 10.0  # the library's own: in place on a view, a new object for a copy
        want = host(native)
    np.testing.assert_array_equal(host(x.data), want)
    np.testing.assert_array_equal(host(e.data), host_x[key] + 10.0)


def test_the_gradient_follows_a_write_through_a_view():
    w = xpgrad.tensor(np.ones((2, 3)), requires_grad=True)
    value = xpgrad.tensor(np.array(3.0), requires_grad=True)
    c = w * 1.0
    row = c[1]
    row[0] = value * 2.0
    xpgrad.array_api.sum(c * c).backward()  # c = [[1, 1, 1], [6, 1, 1]]
    np.testing.assert_array_equal(w.grad, [[2.0, 2.0, 2.0], [0.0, 2.0, 2.0]])
    assert float(value.grad) == 24.0  # d(6^2)/d6 * 2
    leaf_row = w[0]  # a view of a leaf that requires grad: writing it would change the leaf
    with pytest.raises(RuntimeError, match=r"^__setitem__: this tensor is a view \(made by basic indexing, a transpose or a reshape\) of a leaf"):
        leaf_row[0] = 1.0
    with pytest.raises(RuntimeError, match=r"^\*=: this tensor is a view .* of a leaf"):
        leaf_row *= 2.0  # an in-place operator's error names the operator
    with pytest.raises(RuntimeError, match=r"^\+=: this tensor is a view .* of a leaf"):
        w.T[0] += 1.0
    with xpgrad.no_grad():  # as an optimizer writes
        leaf_row[0] = 4.0
        leaf_row *= 2.0
    assert float(w.data[0, 0]) == 8.0 and w.is_leaf


def test_gaussian_mixture_full_covariances_keep_reg_covar():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.mixture import GaussianMixture

    x = np.random.default_rng(0).standard_normal((50, 2))

    def fit(data):
        model = GaussianMixture(1, init_params="random", random_state=0, reg_covar=0.5)
        with sklearn.config_context(array_api_dispatch=True):
            return model.fit(data).covariances_

    want = fit(x)
    np.testing.assert_allclose(np.diag(want[0]), x.var(axis=0) + 0.5)
    np.testing.assert_allclose(fit(xpgrad.tensor(x)).data, want, rtol=1e-12)


def test_views_see_later_writes_and_in_place_operators_write_through():
    # a view kept the values it was made with (a write into the base, or into a
    # sibling view, did not show), and v += 1 never reached the base
    t = xpgrad.tensor(np.zeros(3))
    v = t[1:]
    t[1] = 5.0
    np.testing.assert_array_equal(v.data, [5.0, 0.0])
    a, b = t[:], t[:]
    a[0] = 1.0
    assert float(b.data[0]) == 1.0
    m = xpgrad.tensor(np.zeros((2, 2)))
    row = m[0]
    row += 1.0
    np.testing.assert_array_equal(m.data, [[1.0, 1.0], [0.0, 0.0]])
    m *= 2.0  # the root, with a live view: in place, and the view sees it
    np.testing.assert_array_equal(row.data, [2.0, 2.0])
    ints = xpgrad.tensor(np.array([1, 2, 3]))
    tail = ints[1:]
    with pytest.raises(TypeError, match=r"^\+=: the result has dtype float64, which cannot be stored"):
        tail += 1.5  # same-kind casting, as without the view (it truncated to [3, 4])
    np.testing.assert_array_equal(ints.data, [1, 2, 3])
    deep = xpgrad.tensor(np.zeros(3000))  # a chain of 1500 views: it recursed per level
    w = deep
    for _ in range(1500):
        w = w[1:]
    w[0] = 5.0
    assert float(deep.data[1500]) == 5.0


def test_gradients_through_stale_looking_views_match_torch():
    def run(lib, x, v):
        c = x * 1.0
        b = c[:, 1::2]
        b[0] = v * 3.0  # a write through a view
        r = c[2]
        r[1] = v[0] ** 2  # a sibling's write, which b must see
        return lib.sum(b * b) + lib.sum(c)

    _same_as_torchs(run, seed=3, v_size=2)


_RESHAPING_VIEWS = {
    # name: (a function of (namespace, x) made of views, as NumPy's and torch's)
    "T": lambda ns, x: x[0, ...].T,  # of a view
    "mT": lambda ns, x: x.mT,
    "permute_dims": lambda ns, x: ns.permute_dims(x, (1, 0, 2)),
    "matrix_transpose": lambda ns, x: ns.matrix_transpose(x),
    "moveaxis": lambda ns, x: ns.moveaxis(x, 0, -1),
    "reshape": lambda ns, x: ns.reshape(x, (6, 4)),
    "Tensor.reshape": lambda ns, x: x.reshape(4, 6) if type(x) is Tensor else ns.reshape(x, (4, 6)),
    "expand_dims": lambda ns, x: ns.expand_dims(x, axis=1),
    "squeeze": lambda ns, x: ns.squeeze(ns.expand_dims(x, axis=0), axis=0),
    "reshape-of-permuted": lambda ns, x: ns.reshape(ns.permute_dims(x, (2, 1, 0)), (-1,)),  # a copy
}


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch", "array_api_strict")), indirect=True)
@pytest.mark.parametrize("name", list(_RESHAPING_VIEWS))
def test_transposes_and_reshapes_are_views_as_the_librarys(backend, name):
    # Only basic indexing made views: a write into x.T, a permute_dims or a
    # reshape never reached x. scipy's tanhsinh and nsum write through
    # reshape(fj.T) and returned NaN for every infinite limit, and its
    # oaconvolve adds into a slice of a swapaxes and was off by 0.05. Now each
    # is a view where the library's is one (a reshape of a non-contiguous
    # array is a copy), both ways
    import array_api_compat

    make = _RESHAPING_VIEWS[name]
    x0 = np.arange(24.0).reshape(2, 3, 4)
    native = backend.asarray(x0.copy())
    t = xpgrad.tensor(backend.asarray(x0.copy()))
    nv, tv = make(array_api_compat.array_namespace(native), native), make(xpgrad.array_api, t)
    for v in (nv, tv):
        v[(0,) * (v.ndim - 1) + (slice(None, 2),)] = -1.0  # through the view
    np.testing.assert_array_equal(host(t.data), host(native))
    native[1, 2, 3] = -7.0  # through the base
    t[1, 2, 3] = -7.0
    np.testing.assert_array_equal(host(tv.data), host(nv))


def test_a_permutation_with_negative_axes_writes_through_in_place():
    # the view's step kept (-1, 0, 1) as given, whose inverse by sorting is the
    # identity: a write through it gave the base the view's shape, (4, 2, 3)
    xa = xpgrad.array_api
    x0 = np.arange(24.0).reshape(2, 3, 4)
    for axes in [(-1, 0, 1), (-1, -3, -2), (2, -3, 1)]:
        t, n = xpgrad.tensor(x0.copy()), x0.copy()
        xa.permute_dims(t, axes)[0, 0, 1] = -5.0
        np.permute_dims(n, axes)[0, 0, 1] = -5.0
        np.testing.assert_array_equal(t.data, n)


def test_views_of_views_in_a_loop_keep_one_step():
    # a = a.T (or a reshape) in a loop kept a chain of steps as long as the
    # loop, which every write then walked: 800 reshapes and writes took 5 s
    t = xpgrad.tensor(np.zeros((4, 6)))
    a, n = t, np.zeros((4, 6))
    b = n
    for i in range(300):
        a = a.T if i % 3 else xpgrad.array_api.reshape(a, (a.shape[1], a.shape[0]))
        b = b.T if i % 3 else np.reshape(b, (b.shape[1], b.shape[0]))
        a[0, i % a.shape[1]] = float(i)
        b[0, i % b.shape[1]] = float(i)
    np.testing.assert_array_equal(t.data, n)
    assert len(a._view[1]) <= 2


def test_a_view_of_a_rebound_root_keeps_its_values():
    # t.data = another array: a transpose of the new shape read it without an
    # error, so the view took the new data's shape and values, and a write into
    # the view wrote the old view's shape into t
    t = xpgrad.tensor(np.arange(6.0).reshape(2, 3))
    v = t.T
    t.data = np.zeros((3, 2))
    t[0, 0] = 1.0
    np.testing.assert_array_equal(v.data, np.arange(6.0).reshape(2, 3).T)
    v[0, 0] = 7.0
    np.testing.assert_array_equal(t.data, [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert float(v.data[0, 0]) == 7.0


def test_a_write_through_a_transpose_is_recorded_like_torchs():
    def run(lib, x, v):
        c = x * 2.0
        flat = c.T.reshape(-1)  # a copy: c.T is not contiguous
        flat[0] = 100.0
        c.T[1] = v * v  # column 1 of c, through the view
        c.reshape(2, 6)[1, :3] += v  # and the first three of row 2
        return lib.sum(c * c) + lib.sum(flat)

    _same_as_torchs(run, seed=4, v_size=3)


def _same_as_torchs(run, seed: int, v_size: int):
    """``run(namespace, x, v)``'s value and gradients at a random (3, 4) x and
    v, xpgrad's against torch's."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    x0, v0 = rng.standard_normal((3, 4)), rng.standard_normal(v_size)
    xt = xpgrad.tensor(x0, requires_grad=True)
    vt = xpgrad.tensor(v0, requires_grad=True)
    loss = run(xpgrad.array_api, xt, vt)
    loss.backward()
    xr = torch.tensor(x0, requires_grad=True)
    vr = torch.tensor(v0, requires_grad=True)
    ref = run(torch, xr, vr)
    ref.backward()
    np.testing.assert_allclose(float(loss), ref.item(), rtol=1e-13)
    np.testing.assert_allclose(xt.grad, xr.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(vt.grad, vr.grad.numpy(), rtol=1e-13)


def test_scipy_integrals_to_infinity_write_through_a_transpose():
    pytest.importorskip("scipy")
    import math

    from scipy.integrate import nsum, tanhsinh
    from scipy.signal import oaconvolve

    a = xpgrad.tensor(np.array(1.0), requires_grad=True)
    zero, inf = xpgrad.tensor(0.0), xpgrad.tensor(math.inf)
    res = tanhsinh(lambda x, a: a / (x * x + 1.0), zero, inf, args=(a,))
    np.testing.assert_allclose(float(res.integral.detach()), math.pi / 2, rtol=1e-12)
    r = xpgrad.tensor(np.array(0.5), requires_grad=True)
    total = nsum(lambda k, r: r**k, zero, inf, args=(r,)).sum
    np.testing.assert_allclose(float(total.detach()), 2.0, rtol=1e-9)
    # (Their gradients are NaN: 0 * inf at the limit, in a branch that scipy's
    # write then discards, as in torch's where; torch refuses the write itself
    # under autograd.)
    x0 = np.random.default_rng(0).standard_normal(16)
    x = xpgrad.tensor(x0, requires_grad=True)
    out = oaconvolve(x, xpgrad.tensor(np.full(4, 0.125)))
    np.testing.assert_allclose(out.detach().data, np.convolve(x0, np.full(4, 0.125)), atol=1e-12)
    xpgrad.array_api.sum(out).backward()
    np.testing.assert_allclose(x.grad, np.full(16, 0.5), rtol=1e-12)


def test_a_0d_numpy_result_that_requires_grad_is_no_number_beside_torch():
    # NumPy's 0-d result is a NumPy scalar; kept as the data, a torch operand would
    # read it as a number (as torch reads np.float64) and drop its gradient
    torch = pytest.importorskip("torch")
    w = xpgrad.tensor(np.array(2.0), requires_grad=True)
    y = w * 1.0
    assert type(y.data) is np.ndarray
    with pytest.raises(TypeError, match="^mul: inputs come from different array libraries"):
        xpgrad.tensor(torch.ones(2, dtype=torch.float64)) * y


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_a_view_made_a_parameter_trains_and_writes_through_like_torch(lib):
    # p = buf[0]; p.requires_grad = True: the step rebound p alone (buf never
    # changed), and the next write into buf refreshed p from buf's old row and
    # took buf's flag: p went back to zeros and silently stopped training
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    wrap = (lambda a: a) if lib == "numpy" else torch.asarray
    results = []
    for make, opt_cls, no_grad in [
        (lambda a: xpgrad.tensor(wrap(a)), xpgrad.optim.SGD, xpgrad.no_grad),
        (torch.asarray, torch.optim.SGD, torch.no_grad),
    ]:
        buf = make(np.zeros((2, 3)))
        p = buf[0]
        p.requires_grad = True  # torch: requires_grad_(), the same flag
        q = make(np.ones(3))
        q.requires_grad = True
        opt = opt_cls([p, q], lr=0.1, momentum=0.5)
        for _ in range(3):
            opt.zero_grad()
            ((p - 1.0) ** 2 + (q - 2.0) ** 2).sum().backward()
            opt.step()
            with no_grad():
                buf[1] = buf[1] + 1.0
                p -= 0.01 * p.grad  # an update by hand, in place, writes through too
        results.append([np.asarray(t.detach()) for t in (p, q, buf)] + [p.requires_grad])
    (p, q, buf, flag), (tp, tq, tbuf, tflag) = results
    assert flag and tflag
    np.testing.assert_allclose(p, tp, rtol=1e-12)
    np.testing.assert_allclose(q, tq, rtol=1e-12)
    np.testing.assert_allclose(buf, tbuf, rtol=1e-12)  # row 0 is p, row 1 the counter
    x = xpgrad.tensor(wrap(np.zeros((2, 3))))
    v = x[0]
    v.requires_grad = True
    with pytest.raises(RuntimeError, match=r"^\+=: a leaf tensor that requires grad cannot change"):
        v += 1.0
    with pytest.raises(RuntimeError, match=r"^__setitem__: a leaf tensor that requires grad .* a view"):
        v[0] = 1.0
    np.testing.assert_array_equal(np.asarray(x.detach()), np.zeros((2, 3)))


def test_a_view_of_a_parameter_keeps_its_gradient_across_optimizer_steps():
    # a write under no_grad refreshed the view without a graph: the bias entry of
    # flat[3:] silently got no gradient (torch: -0.107; xpgrad: -0.042), and
    # SGD's step (p.data = new) never reached the view at all
    w = xpgrad.tensor(np.ones(3), requires_grad=True)
    row = w[1:]
    opt = xpgrad.optim.SGD([w], lr=0.5)
    for _ in range(2):
        opt.zero_grad()
        xpgrad.array_api.sum(row * row).backward()
        opt.step()
    np.testing.assert_allclose(row.data, w.data[1:])
    assert row.requires_grad
    np.testing.assert_allclose(w.data, [1.0, 0.0, 0.0])  # 1 - 0.5 * 2, then 0 - 0.5 * 0
    x = xpgrad.tensor(np.array([1, 2, 3]))
    dropped = x[0]  # a view taken and dropped: += must do what it does without one
    del dropped
    y = xpgrad.tensor(np.ones(3), requires_grad=True)
    # no live view: as on a tensor that never had one, and as NumPy's int += float,
    # refused (it was a new float tensor while += made new tensors when recorded)
    for t in (x, xpgrad.tensor(np.array([1, 2, 3]))):
        with pytest.raises(TypeError, match=r"^\+=: the result has dtype float64, which cannot be stored"):
            t += y
    np.testing.assert_array_equal(x.data, [1, 2, 3])
    z = xpgrad.tensor(np.array([1.0, 2.0, 3.0]))
    z += y  # a float constant: it becomes the recorded result, in place, as torch's add_
    assert z.requires_grad and z.dtype == xpgrad.array_api.float64


def test_in_looks_for_an_equal_element_in_every_dimension():
    # Python's fallback iterated over the first axis: 2.0 in a 2-D Tensor raised
    # (the truth of a row is ambiguous), and on 1-D it recorded a read per element
    t = xpgrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert 2.0 in t and 5.0 not in t
    assert 1.0 not in xpgrad.tensor(np.zeros((0, 2)))
    assert xpgrad.tensor([3.0]) in t


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_a_python_bool_in_a_key_indexes_no_axis(backend):
    # NumPy's True adds an axis and indexes none; it was counted as one axis, so the
    # flips for torch's negative steps hit the wrong axis (t[True, ::-1, 0:1] read
    # [[2], [5]] for [[3], [0]]), and a repeated index went unseen (each of two
    # writes to one place got the gradient)
    h = np.arange(6.0).reshape(2, 3)
    t = xpgrad.tensor(backend.asarray(h), requires_grad=True)
    out = t[True, ::-1, 0:1]
    np.testing.assert_array_equal(host(out), h[True, ::-1, 0:1])
    xpgrad.array_api.sum(out * xpgrad.tensor(backend.asarray(np.array([[[1.0], [2.0]]])))).backward()
    np.testing.assert_array_equal(host(t.grad), [[2.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    y = xpgrad.tensor(backend.asarray(np.zeros((2, 3, 4))), requires_grad=True) * 1.0
    v = xpgrad.tensor(backend.asarray(np.ones((2, 2, 4))), requires_grad=True)
    y[:, True, np.array([-1, 2])] = v  # both name row 2 of axis 1: the last write lands
    xpgrad.array_api.sum(y).backward()
    np.testing.assert_array_equal(host(v.grad)[:, 0], 0.0)
    np.testing.assert_array_equal(host(v.grad)[:, 1], 1.0)


def test_torch_reads_a_uint8_index_array_as_integers():
    # torch's old byte masks: t[uint8 [1, 0, 2]] gave [10, 30] for [20, 10, 30], and
    # y[uint8 1] = 0 zeroed every element
    torch = pytest.importorskip("torch")
    t = xpgrad.tensor(torch.tensor([10.0, 20.0, 30.0]), requires_grad=True)
    for index in (np.array([1, 0, 2], dtype=np.uint8), torch.tensor([1, 0, 2], dtype=torch.uint8)):
        np.testing.assert_array_equal(t[index].data.numpy(), [20.0, 10.0, 30.0])
    y = t * 1.0
    y[np.array(1, dtype=np.uint8)] = 0.0
    np.testing.assert_array_equal(y.data.numpy(), [10.0, 0.0, 30.0])
    xpgrad.array_api.sum(y).backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1.0, 0.0, 1.0])


@pytest.mark.parametrize("data, dtype", [(2**40, "int32"), ([-1, 300], "uint8"), ([-1], "uint64"),
                                         ([7, 200], "int8"), ([-1, 2**63], "int64")])
def test_python_integers_outside_the_dtype_are_refused(data, dtype):
    # they were cast after NumPy read them as int64 (or float64), wrapping: 2**40 as int32
    # was 0, and [-1, 2**63] as int64 [-1, -2**63]
    with pytest.raises(ValueError, match=rf"^tensor: an integer is out of range for dtype {dtype}"):
        xpgrad.tensor(data, dtype=dtype)
    np.testing.assert_array_equal(xpgrad.tensor([0, 127], dtype="int8").data, [0, 127])
    big = xpgrad.tensor([0, 2**63 + 1], dtype="uint64").data  # read as uint64, not float64
    assert int(big[1]) == 2**63 + 1


def test_an_operand_of_an_unknown_type_gets_its_own_reflected_method():
    # the arithmetic operators raised, so another class's __radd__ never ran (torch's
    # and NumPy's return NotImplemented); lists keep xpgrad's error, which says what to do
    class Other:
        def __radd__(self, o):
            return "Other.__radd__"

        def __rmatmul__(self, o):
            return "Other.__rmatmul__"

        def __rpow__(self, o):
            return "Other.__rpow__"

    t = xpgrad.tensor([1.0, 1.0], requires_grad=True)
    assert (t + Other(), t @ Other(), t ** Other()) == (
        "Other.__radd__", "Other.__rmatmul__", "Other.__rpow__")
    for other, op in ((Other(), "sub"), ([1.0, 2.0], "add"), (None, "add"),  # none to run,
                      (fractions.Fraction(1, 2), "add")):  # or one that declines a Tensor
        with pytest.raises(TypeError, match=rf"^{op}: b "):
            t - other if op == "sub" else t + other
    assert type(t).__radd__.__name__ == "__radd__"


@pytest.mark.parametrize("flag", ["yes", 1, None, np.ones(1), np.array([True, False])])
def test_requires_grad_takes_a_bool_only(flag):
    # any truthy value was read as True ("yes", an array), as torch refuses
    with pytest.raises(TypeError, match=r"^tensor: requires_grad must be True or False"):
        xpgrad.tensor([1.0], requires_grad=flag)
    with pytest.raises(TypeError, match=r"^requires_grad: requires_grad must be True or False"):
        xpgrad.tensor([1.0]).requires_grad = flag
    assert xpgrad.tensor([1.0], requires_grad=np.True_).requires_grad


def test_complex_to_a_python_float_and_ranges_and_generators():
    # float() of a complex torch tensor said "RuntimeError ... overflow" as a ValueError;
    # range(3) was refused though NumPy and torch read it; a generator's error said to
    # wrap it with xpgrad.tensor, the call being made
    torch = pytest.importorskip("torch")
    for t in (xpgrad.tensor(torch.tensor(1 + 2j)), xpgrad.tensor(np.array(1 + 2j))):
        for convert in (float, int):
            with pytest.raises(TypeError, match=r"this tensor is complex .* xp.real\(t\)"):
                convert(t)
        assert complex(t) == 1 + 2j
    np.testing.assert_array_equal(xpgrad.tensor(range(3)).data, [0, 1, 2])
    with pytest.raises(TypeError, match=r"^tensor: data is a generator, an iterator; make it a list"):
        xpgrad.tensor(i for i in range(3))

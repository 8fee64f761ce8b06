"""Peak memory of the backward passes (a memory assertion, not a timing one).

NumPy reports its array allocations to tracemalloc, so the peak traced while
a backward runs is the most memory its temporaries and outputs held at once.
A backward that materialized the broadcast product (B, k, n) and then summed
it would peak near twice its outputs; the folded GEMM needs only the outputs.
"""

from __future__ import annotations

import gc

import weakref

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xpa
from xpgrad import ops
from xpgrad._probe import peak_bytes

B, M, K, N = 64, 64, 64, 64


def _peak_of(fn):
    """(result, peak bytes traced above the starting point while fn ran),
    measured by the same tracemalloc probe the benchmarks use."""
    gc.collect()
    peak, result = peak_bytes(fn)
    return result, peak


def _nbytes(arrays):
    return sum(a.nbytes for a in arrays if a is not None)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return {
        "a3": rng.standard_normal((B, M, K)),
        "w": rng.standard_normal((K, N)),
        "a2": rng.standard_normal((M, K)),
        "b3": rng.standard_normal((B, K, N)),
        "g3": rng.standard_normal((B, M, N)),
        "wl": rng.standard_normal((N, K)),  # linear weight (out, in)
        "bl": rng.standard_normal(N),
    }


def test_matmul_batched_times_matrix_backward_peak(data):
    """(B, m, k) @ (k, n): grad_w is one (k, B*m) @ (B*m, n) GEMM."""
    out, ctx = ops.matmul.forward(data["a3"], data["w"])
    grads, peak = _peak_of(lambda: ops.matmul.backward(data["g3"], ctx))
    outputs = _nbytes(grads)
    assert outputs == data["a3"].nbytes + data["w"].nbytes
    assert peak <= 1.5 * outputs, f"peak {peak} B > 1.5 x outputs {outputs} B"
    # and the values are right (reference computed outside the measurement)
    np.testing.assert_allclose(grads[1], np.einsum("bmk,bmn->kn", data["a3"], data["g3"]), rtol=1e-10)


def test_matmul_matrix_times_batched_backward_peak(data):
    """(m, k) @ (B, k, n): grad_a sums over the batch its operand was broadcast along.

    Folding (B, n) into one contraction needs a permuted copy of a batched
    operand (m sits between B and n in g's layout), so the bound here is the
    outputs plus one batch-sized temporary alive at a time, not 1.5x.
    """
    out, ctx = ops.matmul.forward(data["a2"], data["b3"])
    grads, peak = _peak_of(lambda: ops.matmul.backward(data["g3"], ctx))
    outputs = _nbytes(grads)
    one_temp = max(data["g3"].nbytes, data["b3"].nbytes)
    assert peak <= outputs + 1.1 * one_temp, f"peak {peak} B > outputs {outputs} B + one {one_temp} B temporary"
    np.testing.assert_allclose(grads[0], np.einsum("bmn,bkn->mk", data["g3"], data["b3"]), rtol=1e-10)


def test_linear_3d_backward_peak(data):
    out, ctx = ops.linear.forward(data["a3"], data["wl"], data["bl"])
    grads, peak = _peak_of(lambda: ops.linear.backward(data["g3"], ctx))
    outputs = _nbytes(grads)
    assert outputs == data["a3"].nbytes + data["wl"].nbytes + data["bl"].nbytes
    assert peak <= 1.5 * outputs, f"peak {peak} B > 1.5 x outputs {outputs} B"
    np.testing.assert_allclose(grads[1], np.einsum("bmn,bmk->nk", data["g3"], data["a3"]), rtol=1e-10)
    np.testing.assert_allclose(grads[2], data["g3"].sum(axis=(0, 1)), rtol=1e-10)


def test_sum_backward_allocates_nothing_big(data):
    """The gradient of a sum is a broadcast view: no (B, m, k) copy."""
    out, ctx = ops.sum.forward(data["a3"], axis=(0, 1))
    g = np.ones(K)
    (gx,), peak = _peak_of(lambda: ops.sum.backward(g, ctx))
    assert gx.shape == (B, M, K)
    assert peak < data["a3"].nbytes / 10, f"peak {peak} B for a {data['a3'].nbytes} B input"


def test_measurement_sees_numpy_allocations():
    """Guard: if tracemalloc stopped seeing NumPy, the assertions above would pass vacuously."""
    arr, peak = _peak_of(lambda: np.ones((256, 256)))
    assert peak >= arr.nbytes


# -- who owns a leaf's .grad ---------------------------------------------------


class _Recorded:
    """A rule ``out = a + b`` whose backward hands out arrays the test watches
    (by weak reference: a strong one would be one more holder, and the
    backward gives an array that someone else holds as a copy): ``mode``
    "fresh" returns two new arrays, "same" one array for both inputs,
    "upstream" grad_out itself for ``a``."""

    returned: list = []
    upstream = None
    mode = "fresh"

    @staticmethod
    def forward(a, b):
        from xpgrad._backend import resolve
        from xpgrad.ops._common import Ctx

        xp, scope = resolve("recorded", a, b)
        return a + b, Ctx("recorded", xp, scope, None, (True, True), tuple(a.shape))

    @classmethod
    def backward(cls, grad_out, ctx):
        if cls.mode == "fresh":
            grads = (grad_out * 2.0, grad_out * 3.0)
        elif cls.mode == "same":
            grads = (grad_out * 2.0,) * 2
        else:
            grads = (grad_out, grad_out * 3.0)
        cls.returned[:] = [weakref.ref(g) for g in grads]
        return grads


def _recorded_backward(mode, upstream=None):
    from xpgrad.tensor import apply

    _Recorded.mode = mode
    a = xpgrad.tensor(np.ones(4), requires_grad=True)
    b = xpgrad.tensor(np.ones(4), requires_grad=True)
    out = apply(_Recorded, (a, b))
    if upstream is None:
        _Recorded.upstream = np.arange(4.0)  # the caller keeps its grad
        out.backward(_Recorded.upstream)
    else:
        upstream(out).backward()
    return a, b


def test_a_fresh_gradient_becomes_grad_without_a_copy():
    a, b = _recorded_backward("fresh")
    assert a.grad is _Recorded.returned[0]() and b.grad is _Recorded.returned[1]()
    np.testing.assert_array_equal(a.grad, [0.0, 2.0, 4.0, 6.0])


def test_one_array_for_two_leaves_gives_each_its_own_grad():
    a, b = _recorded_backward("same")
    assert not np.shares_memory(a.grad, b.grad)
    a.grad[0] = 100.0
    np.testing.assert_array_equal(b.grad, [0.0, 2.0, 4.0, 6.0])
    assert a.grad.flags.writeable and b.grad.flags.writeable


def test_the_callers_grad_passed_through_is_copied():
    a, b = _recorded_backward("upstream")
    assert _Recorded.returned[0]() is _Recorded.upstream
    assert not np.shares_memory(a.grad, _Recorded.upstream)
    a.grad[1] = 50.0
    np.testing.assert_array_equal(_Recorded.upstream, np.arange(4.0))


def test_a_passed_through_gradient_no_one_else_holds_is_not_copied():
    """grad_out of the recorded node is exp's fresh gradient: passing it on to
    ``a`` as is leaves nobody else holding it, so it becomes a.grad."""
    a, b = _recorded_backward("upstream", lambda out: xpa.sum(xpa.exp(out)))
    assert a.grad is _Recorded.returned[0]()
    np.testing.assert_allclose(a.grad, np.exp(2.0) * np.ones(4))


def test_grad_from_an_earlier_backward_is_not_written_in_place():
    """Within one backward the second contribution is added into the .grad
    that backward made; a .grad the caller kept from before stays as it was."""
    x = xpgrad.tensor(np.arange(3.0), requires_grad=True)
    xpa.sum(xpa.multiply(x, x)).backward()  # two contributions: x and x
    kept = x.grad
    np.testing.assert_array_equal(kept, [0.0, 2.0, 4.0])
    xpa.sum(xpa.multiply(x, 3.0)).backward()
    np.testing.assert_array_equal(kept, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(x.grad, [3.0, 5.0, 7.0])


def test_logsumexp_backward_peak_is_its_gradient_and_the_max_mask():
    """m + log(sum(exp(x - m))): the backward holds x's gradient, the max rule's
    boolean tie mask and its one x-sized result, nothing else x-sized (before:
    copies of the first gradient, -G before sum_to, a float mask and product)."""
    x0 = np.random.default_rng(3).standard_normal((256, 512)).astype(np.float32)
    x = xpgrad.tensor(x0, requires_grad=True)
    m = xpa.max(x, axis=-1, keepdims=True)
    out = xpa.add(m, xpa.log(xpa.sum(xpa.exp(xpa.subtract(x, m)), axis=-1, keepdims=True)))
    g = np.ones((256, 1), np.float32)
    _, peak = _peak_of(lambda: out.backward(g))
    bound = 2 * x0.nbytes + x0.size  # two float32 arrays and a bool mask
    assert peak <= 1.1 * bound, f"peak {peak} B > {bound} B"  # slack: ufunc buffers
    e = np.exp(x0.astype(np.float64) - x0.max(-1, keepdims=True))
    np.testing.assert_allclose(x.grad, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["exp", "tanh"])
def test_unary_backward_peak_is_the_gradient(name):
    x0 = np.random.default_rng(4).standard_normal((256, 512)).astype(np.float32)
    x = xpgrad.tensor(x0, requires_grad=True)
    out = getattr(xpa, name)(x)
    g = np.random.default_rng(5).standard_normal((256, 512)).astype(np.float32)
    _, peak = _peak_of(lambda: out.backward(g))
    assert peak <= 1.05 * x0.nbytes, f"peak {peak} B > the gradient's {x0.nbytes} B"
    x64 = x0.astype(np.float64)
    want = g * (np.exp(x64) if name == "exp" else 1 - np.tanh(x64) ** 2)
    np.testing.assert_allclose(x.grad, want, rtol=1e-5, atol=1e-6)


# -- what the backward releases, and when ------------------------------------


def _times_one(op: str, x):
    """The forward of a test rule ``op``: ``out = x * 1``, saving nothing."""
    from xpgrad._backend import resolve
    from xpgrad.ops._common import Ctx

    xp, scope = resolve(op, x)
    return x * 1.0, Ctx(op, xp, scope, None, (True,), tuple(x.shape))


class _Watch:
    """``out = x * 1``: its backward runs last in ``tanh(tanh(watch(x)))`` and
    notes which of the arrays in ``refs`` (weak references) are already gone,
    or live on only as the gradient it is given (tanh writes its gradient over
    the output it saved, when nothing else holds it)."""

    refs: list = []
    gone: list = []

    @staticmethod
    def forward(x):
        return _times_one("watch", x)

    @classmethod
    def backward(cls, grad_out, ctx):
        cls.gone[:] = [ref() is None or ref() is grad_out for ref in cls.refs]
        return (grad_out,)


@pytest.mark.parametrize("retain", [False, True])
def test_each_node_lets_go_of_its_saved_arrays_when_its_backward_is_done(retain):
    """tanh saves its output. Without retain_graph, both tanh nodes have freed
    theirs by the time the first op's backward runs, not at the end of the walk."""
    from xpgrad.tensor import apply

    x = xpgrad.tensor(np.linspace(-1.0, 1.0, 8), requires_grad=True)
    y = xpa.tanh(apply(_Watch, (x,)))
    z = xpa.tanh(y)
    _Watch.refs[:] = [weakref.ref(y.data), weakref.ref(z.data)]
    loss = xpa.sum(z)
    del y, z
    loss.backward(retain_graph=retain)
    assert _Watch.gone == [not retain, not retain]
    t = np.tanh(x.data)
    np.testing.assert_allclose(x.grad, (1 - np.tanh(t) ** 2) * (1 - t**2), rtol=1e-12)


class _Views:
    """``out = x * 1``, used twice on one leaf: its backward hands out a
    reshaped view, of an array the test keeps (``kept``) or of a fresh one."""

    kept = None
    fresh = False

    @staticmethod
    def forward(x):
        return _times_one("views", x)

    @classmethod
    def backward(cls, grad_out, ctx):
        base = (grad_out * 1.0).reshape(-1) if cls.fresh else cls.kept
        return (base.reshape(grad_out.shape),)


@pytest.mark.parametrize("fresh", [True, False])
def test_a_view_is_summed_into_only_when_no_one_else_holds_its_base(fresh):
    from xpgrad.tensor import apply

    _Views.fresh, _Views.kept = fresh, np.arange(4.0)
    x = xpgrad.tensor(np.ones((2, 2)), requires_grad=True)
    loss = xpa.sum(apply(_Views, (x,))) + xpa.sum(apply(_Views, (x,)) * 2.0)
    loss.backward()
    # fresh: G (ones) and 2 G reach x; kept: the kept values, twice, whatever G is
    expected = 3.0 * np.ones((2, 2)) if fresh else 2.0 * np.arange(4.0).reshape(2, 2)
    np.testing.assert_array_equal(x.grad, expected)
    np.testing.assert_array_equal(_Views.kept, np.arange(4.0))  # never written into


@pytest.mark.parametrize("pick", ["getitem", "take", "take_along_axis"])
def test_a_gather_does_not_keep_its_input_alive(pick):
    """A gather's backward needs x's shape and device, not its values: an
    intermediate that only a gather read is freed after the forward."""
    x = xpgrad.tensor(np.linspace(0.0, 1.0, 12).reshape(3, 4), requires_grad=True)
    y = xpa.sin(x)  # sin saves its input, not its output
    ref = weakref.ref(y.data)
    idx = np.array([[0], [2], [1]])
    z = {"getitem": lambda: y[np.array([0, 2])],
         "take": lambda: xpa.take(y, np.array([3, 0, 3]), axis=1),
         "take_along_axis": lambda: xpa.take_along_axis(y, idx, axis=1)}[pick]()
    del y
    gc.collect()
    assert ref() is None
    xpa.sum(z).backward()
    expected = {"getitem": [[1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]],
                "take": [[1, 0, 0, 2]] * 3,
                "take_along_axis": [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]}[pick]
    np.testing.assert_allclose(x.grad, np.asarray(expected, float) * np.cos(x.data), rtol=1e-12)


def test_one_gradient_handed_to_two_inputs_is_never_summed_into():
    """add hands one array to x and y; x's second contribution must go to a
    new array, not into the one y holds."""
    x = xpgrad.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = xpgrad.tensor(np.array([5.0, 7.0]), requires_grad=True)
    z = x + y
    loss = xpa.sum(z * 3.0) + xpa.sum(x * 2.0)
    loss.backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])
    np.testing.assert_array_equal(y.grad, [3.0, 3.0])
    assert not np.shares_memory(x.grad, y.grad)


@pytest.mark.parametrize("name", ["exp", "tanh", "sqrt", "expm1", "tan", "reciprocal"])
def test_a_torch_output_the_user_reads_through_numpy_is_never_written_over(name):
    """torch's detach() (so Tensor.numpy()) shares memory without a reference
    the backward could count, and an inference-mode tensor refuses in-place
    writes: on torch the unary rules compute their gradient afresh."""
    torch = pytest.importorskip("torch")
    x = xpgrad.Tensor(torch.linspace(0.2, 1.0, 5, dtype=torch.float64), requires_grad=True)
    y = getattr(xpa, name)(x)
    seen = y.detach().numpy()  # xpgrad's Tensor.detach, then torch's .numpy()
    before = seen.copy()
    loss = xpa.sum(y * 2.0)
    del y
    loss.backward()
    np.testing.assert_array_equal(seen, before)
    with torch.inference_mode():
        data = torch.linspace(0.2, 1.0, 5, dtype=torch.float64)
    x = xpgrad.Tensor(data, requires_grad=True)
    xpa.sum(getattr(xpa, name)(x)).backward()  # raised "Inplace update to inference tensor"
    assert x.grad.shape == (5,)


@pytest.mark.parametrize("name, d", [
    ("exp", np.exp), ("tanh", lambda x: 1 - np.tanh(x) ** 2), ("sqrt", lambda x: 0.5 / np.sqrt(x)),
    ("expm1", np.exp), ("tan", lambda x: 1 / np.cos(x) ** 2), ("reciprocal", lambda x: -1 / x**2),
])
def test_a_unary_writes_its_gradient_over_its_output_on_the_last_backward_only(name, d):
    """dx = G * out (exp), G * (1 - out^2) (tanh), G / (2 out) (sqrt) and the
    like: on its last backward, with no one else holding out, the rule writes
    dx over out instead of allocating an x-sized array."""
    x0 = np.linspace(0.2, 1.2, 6)
    f = getattr(xpa, name)
    # nobody holds the output: it becomes x's gradient
    x = xpgrad.tensor(x0, requires_grad=True)
    out_ref = None

    def loss():
        nonlocal out_ref
        y = f(x)
        out_ref = weakref.ref(y.data)
        return xpa.sum(y * 1.0)

    loss().backward()
    assert x.grad is out_ref()
    np.testing.assert_allclose(x.grad, d(x0), rtol=1e-14)
    # the caller holds the output: it keeps its values
    x = xpgrad.tensor(x0, requires_grad=True)
    y = f(x)
    xpa.sum(y).backward()
    np.testing.assert_allclose(y.data, getattr(np, name)(x0), rtol=1e-15)
    assert not np.shares_memory(x.grad, y.data)
    # retain_graph: the saved output stays as it was for the second backward
    x = xpgrad.tensor(x0, requires_grad=True)
    z = xpa.sum(f(x) * 2.0)
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad, 4.0 * d(x0), rtol=1e-14)

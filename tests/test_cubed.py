"""cubed as a backend: losses, their gradients, specs and chunks, bounded memory.

cubed plans every computation with a projected memory per task and refuses a
plan that exceeds ``allowed_mem``; it refuses to mix arrays of two specs; and
its ``broadcast_to`` gives new axes chunks of one element. These tests check
that xpgrad's gradients on cubed arrays match torch autograd, stay lazy until
``compute()``, keep the inputs' spec and chunks, and run over data larger than
``allowed_mem``. (The shared rule and Tensor tests run on cubed with
``pytest --backend cubed``; every namespace function is swept in
test_lazy_namespace.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

cubed = pytest.importorskip("cubed")
import cubed.array_api as cxp  # noqa: E402
import cubed.random  # noqa: E402
from cubed.runtime.create import create_executor  # noqa: E402

import xpgrad  # noqa: E402
import xpgrad.array_api as xp  # noqa: E402
from tests.support import cubed_spec  # noqa: E402

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
import array_api_compat.torch as ct  # noqa: E402

pytestmark = pytest.mark.backend("cubed")

SPEC = cubed_spec()


def arr(h, chunks, spec=SPEC):
    return cxp.asarray(np.asarray(h, dtype=np.float64), chunks=chunks, spec=spec)


def _logistic(ns, X, w, y):
    z = X @ w
    return ns.mean(ns.logaddexp(0.0 * z, z) - y * z)


def _softmax_ce(ns, X, W, onehot):
    logits = X @ W
    m = ns.max(logits, axis=1, keepdims=True)
    lse = ns.log(ns.sum(ns.exp(logits - m), axis=1, keepdims=True)) + m
    return -ns.mean(ns.sum(onehot * (logits - lse), axis=1))


def _mlp(ns, X, W1, W2):
    h = ns.tanh(X @ W1)
    return ns.sum((h @ W2) ** 2) / X.shape[0]


def _torch_grads(fn, hosts, needs):
    ts = [torch.tensor(h, requires_grad=n) for h, n in zip(hosts, needs)]
    loss = fn(ct, *ts)
    loss.backward()
    return float(loss.detach()), [t.grad.numpy() for t, n in zip(ts, needs) if n]


rng = np.random.default_rng(7)
X_H = rng.standard_normal((40, 6))
LABELS = rng.integers(0, 3, 40)

CASES = {
    "logistic": (_logistic, [X_H, rng.standard_normal(6), (LABELS == 1).astype(float)],
                 [(16, 6), (6,), (16,)], [False, True, False]),
    "softmax_ce": (_softmax_ce, [X_H, rng.standard_normal((6, 3)), np.eye(3)[LABELS]],
                   [(16, 6), (3, 3), (16, 3)], [False, True, False]),
    "mlp_with_data_grad": (_mlp, [X_H, rng.standard_normal((6, 5)), rng.standard_normal((5, 2))],
                           [(16, 3), (6, 5), (5, 2)], [True, True, True]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_and_gradients_match_torch_and_stay_lazy(case):
    fn, hosts, chunks, needs = CASES[case]
    natives = [arr(h, c) for h, c in zip(hosts, chunks)]
    tensors = [xpgrad.Tensor(n, requires_grad=r) for n, r in zip(natives, needs)]
    with cubed.raise_if_computes():  # building and differentiating computes nothing
        loss = fn(xp, *tensors)
        loss.backward()
    want_loss, want = _torch_grads(fn, hosts, needs)
    got = cubed.compute(loss.data, *[t.grad for t, r in zip(tensors, needs) if r])
    np.testing.assert_allclose(float(got[0]), want_loss, rtol=1e-12)
    for t, g, w in zip([t for t, r in zip(tensors, needs) if r], got[1:], want):
        assert isinstance(t.grad, cubed.Array)
        assert t.grad.chunks == t.data.chunks  # the gradient is chunked as its input
        assert t.grad.spec == SPEC
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-10, atol=1e-12)


def test_gradient_of_a_sum_is_chunked_as_its_input_not_in_single_elements():
    x = xpgrad.Tensor(arr(np.ones((64, 5)), (16, 5)), requires_grad=True)
    xp.sum(xp.exp(x)).backward()
    assert x.grad.chunks == ((16, 16, 16, 16), (5,))
    np.testing.assert_allclose(x.grad.compute(), np.full((64, 5), np.e), rtol=1e-14)


def test_arrays_the_rules_create_take_the_inputs_spec():
    # Not the default spec: cubed refuses to combine arrays of two specs, so
    # the zeros of getitem's gradient and the identity of the Gram matrix must
    # be made with this one.
    spec = cubed.Spec(allowed_mem="50MB", executor=create_executor("single-threaded"))
    h = rng.standard_normal((6, 4))
    x = xpgrad.Tensor(arr(h, (3, 2), spec=spec), requires_grad=True)
    loss = xp.sum(x[1:5, ::2] ** 2) + xp.sum(xp.linalg.vector_norm(x, axis=1))
    loss.backward()
    assert x.grad.spec == spec
    t = torch.tensor(h, requires_grad=True)
    ((t[1:5, ::2] ** 2).sum() + torch.linalg.vector_norm(t, dim=1).sum()).backward()
    np.testing.assert_allclose(x.grad.compute(), t.grad.numpy(), rtol=1e-12)


def test_permutation_indices_give_the_permuted_rows():
    # cubed 0.27 reads an index array as long as its axis, without repeats, as
    # the identity (x[[2, 0, 1]] is x): take, integer-array indexing, sort and
    # take_along_axis must still permute.
    h = rng.standard_normal((3, 4))
    idx = np.array([2, 0, 1])
    x = xpgrad.Tensor(arr(h, (2, 2)), requires_grad=True)
    i = xpgrad.Tensor(cxp.asarray(idx, spec=SPEC))
    np.testing.assert_array_equal(xp.take(x, i, axis=0).data.compute(), h[idx])
    np.testing.assert_array_equal(x[i].data.compute(), h[idx])
    np.testing.assert_array_equal(xp.sort(x, axis=0).data.compute(), np.sort(h, axis=0))
    w = rng.standard_normal((3, 4))
    xp.sum(xp.sort(x, axis=0) * xpgrad.Tensor(arr(w, (2, 2)))).backward()
    t = torch.tensor(h, requires_grad=True)
    (torch.sort(t, dim=0).values * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.compute(), t.grad.numpy(), rtol=1e-14)


def _index(h):
    return xpgrad.Tensor(cxp.asarray(np.asarray(h), spec=SPEC))


def _set_at_array(x):
    x = x * 1.0  # not the leaf itself
    x[_index([2, 0])] = 0.0


@pytest.mark.parametrize("call, name", [
    (lambda x: xp.fft.fft(x), "fft"),
    (lambda x: xp.linalg.inv(x), "inv"),
    (lambda x: xp.linalg.det(x), "det"),
    (lambda x: xp.linalg.eigh(x), "eigh"),
    (lambda x: xp.unique_values(x), "unique_values"),
    (lambda x: x[x > 0.5], "getitem: cubed cannot index with a boolean mask"),
    (lambda x: x[0, ...][_index([[0, 1], [1, 1]])], "getitem: cubed indexes with one 1-D integer array"),
    (lambda x: xp.repeat(x, _index([2, 0, 1]), axis=0), "repeat"),
    (_set_at_array, "setitem: cubed cannot assign at a key holding"),
    (lambda x: x.detach().__dlpack__(), "__dlpack__: this tensor.s data .Array. does not export DLPack"),
], ids=["fft", "inv", "det", "eigh", "unique_values", "mask", "2d_index", "repeat_array", "setitem",
        "dlpack"])
def test_what_cubed_lacks_raises_naming_it(call, name):
    """What the shared tests skip on cubed: each refused with the op's name."""
    x = xpgrad.Tensor(arr(np.eye(3) + 0.1, (2, 2)), requires_grad=True)
    with pytest.raises((TypeError, ValueError, NotImplementedError, AttributeError), match=name):
        call(x)


def test_cubeds_failure_inside_a_gradient_names_the_op():
    """cubed 0.27 divides by a zero chunk size in the flip of cumulative_sum's
    gradient over an empty axis: the right gradient, or cubed's error with a
    note naming the op."""
    x = xpgrad.Tensor(arr(np.zeros((0, 3)), (1, 3)), requires_grad=True)
    out = xp.cumulative_sum(x, axis=0)
    try:
        out.backward(xpgrad.Tensor(arr(np.zeros((0, 3)), (1, 3))))
    except ZeroDivisionError as exc:
        assert exc.__notes__ == ["cumulative_sum.backward: raised in the gradient of cumulative_sum"]
    else:  # a later cubed
        assert np.asarray(x.grad.compute()).shape == (0, 3)


def test_gradient_over_data_larger_than_allowed_mem():
    # X is 12.8 MB, four times allowed_mem: cubed's planner accepts the
    # forward and the backward only if no task needs more than 3.2 MB.
    allowed = 3_200_000
    spec = cubed.Spec(allowed_mem=allowed, reserved_mem=0,
                      executor=create_executor("single-threaded"))
    n, chunk = 25_000, 1_250
    X = cubed.random.random((n, 64), chunks=(chunk, 64), spec=spec)
    w0 = np.linspace(-0.5, 0.5, 64)
    w = xpgrad.Tensor(cxp.asarray(w0, spec=spec), requires_grad=True)
    Xt = xpgrad.Tensor(X)
    y = xpgrad.Tensor(cxp.astype(X[:, 0] > 0.5, cxp.float64))
    loss = _logistic(xp, Xt, w, y)
    loss.backward()
    plan = cubed.core.plan.arrays_to_plan(loss.data, w.grad)._finalize()
    assert 0 < plan.max_projected_mem <= allowed
    value, grad = cubed.compute(loss.data, w.grad)

    Xh = np.asarray(X.compute())  # the reference, in NumPy from the same data
    z = Xh @ w0
    yh = (Xh[:, 0] > 0.5).astype(float)
    want = Xh.T @ (1 / (1 + np.exp(-z)) - yh) / n
    np.testing.assert_allclose(float(value), np.mean(np.logaddexp(0, z) - yh * z), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(grad), want, rtol=1e-10, atol=1e-14)


def test_sgd_steps_on_cubed_parameters_match_torch():
    h = rng.standard_normal((8, 3))
    w0 = rng.standard_normal(3)
    w = xpgrad.Tensor(arr(w0, (3,)), requires_grad=True)
    X = xpgrad.Tensor(arr(h, (4, 3)))
    opt = xpgrad.optim.SGD([w], lr=0.1, momentum=0.9)
    tw = torch.tensor(w0, requires_grad=True)
    topt = torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        xp.sum(xp.tanh(X @ w) ** 2).backward()
        opt.step()
        topt.zero_grad()
        (torch.tanh(torch.tensor(h) @ tw) ** 2).sum().backward()
        topt.step()
    assert isinstance(w.data, cubed.Array)
    np.testing.assert_allclose(w.data.compute(), tw.detach().numpy(), rtol=1e-12)


def test_optimizer_steps_compute_parameters_so_the_graph_does_not_grow():
    # Each step ends with the parameters (and Adam's moments) computed, so the
    # next step's plan holds one step's ops, not every step's.
    h = rng.standard_normal((8, 3))
    w = xpgrad.Tensor(arr(rng.standard_normal(3), (3,)), requires_grad=True)
    X = xpgrad.Tensor(arr(h, (4, 3)))
    opt = xpgrad.optim.Adam([w], lr=0.05)
    sizes = []
    for _ in range(4):
        opt.zero_grad()
        xp.sum(xp.tanh(X @ w) ** 2).backward()
        opt.step()
        sizes.append(len(cubed.core.plan.arrays_to_plan(w.data).dag))
        assert isinstance(w.data, cubed.Array) and w.data.spec == SPEC
        for v in opt.state[w].values():
            assert not isinstance(v, cubed.Array) or len(cubed.core.plan.arrays_to_plan(v).dag) == sizes[0]
    assert sizes == [sizes[0]] * 4


# -- found by review: each of these gave a wrong answer or failed before -----

A34 = np.arange(12.0).reshape(3, 4) + 1.0


@pytest.mark.parametrize("key", [
    [2, 0, 1],  # a list that permutes the whole axis
    (slice(None), np.array([-1, -2, -3, -4])),  # full length, negative
    (None, np.array([2, 0, 1])),  # None before the index array
    (Ellipsis, np.array([3, 1, 0, 2])),  # Ellipsis before it
    (1, np.array([3, 3, 0, 1])),  # an int removes an axis before it
    (slice(0, 2), [0, 0, 3]),  # a slice elsewhere, repeats
], ids=["list-permutation", "negative", "none", "ellipsis", "int", "slice-repeats"])
def test_integer_array_keys_match_numpy_with_torch_gradients(key):
    x = xpgrad.Tensor(arr(A34, (2, 3)), requires_grad=True)
    np_key = tuple(np.asarray(k) if type(k) is list else k for k in key) if type(key) is tuple \
        else np.asarray(key)
    want = A34[np_key]
    out = x[key]
    np.testing.assert_array_equal(out.data.compute(), want)
    w = rng.standard_normal(want.shape)
    xp.sum(out * xpgrad.Tensor(arr(w, tuple(max(1, d) for d in w.shape)))).backward()
    t = torch.tensor(A34, requires_grad=True)
    t_key = tuple(torch.as_tensor(k) if isinstance(k, np.ndarray) else k for k in np_key) \
        if type(np_key) is tuple else torch.as_tensor(np_key)
    (t[t_key] * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.compute(), t.grad.numpy(), rtol=1e-14)


def test_two_index_arrays_are_refused_by_name():
    x = xpgrad.Tensor(arr(A34, (2, 2)))
    with pytest.raises(NotImplementedError, match="getitem: cubed indexes with one 1-D"):
        x[np.array([0, 1]), np.array([1, 2])]


@pytest.mark.parametrize("key", [[-10, 1], [7, 0, 1, 2, 3, 4, 5], [-8, 0, 1, 2, 3, 4, 5]])
def test_an_index_out_of_range_raises_as_numpys_does(key):
    # the wrap of negatives (-10 + 7 = -3, read from the end) and the pad row that a key
    # as long as the axis gets (index 7, and -8 -> -1) read values: [5, 2] and a 0
    x = xpgrad.Tensor(arr(np.arange(1.0, 8.0), (3,)))
    with pytest.raises(IndexError, match=f"index {key[0]} is out of bounds for axis 0 with size 7"):
        x[np.array(key)]
    ok = [-7, 6, 0, 1, 2, 3, 4]  # the ends of the range still read
    np.testing.assert_array_equal(x[np.array(ok)].data.compute(), np.arange(1.0, 8.0)[ok])


def test_concat_and_stack_of_inputs_chunked_differently():
    a, b = np.zeros((2, 2)), np.array([[1.0, 1.5], [2.0, 2.5]])
    ta, tb = xpgrad.Tensor(arr(a, (2, 2))), xpgrad.Tensor(arr(b, (1, 2)))
    np.testing.assert_array_equal(xp.concat([ta, tb], axis=0).data.compute(), np.concatenate([a, b]))
    np.testing.assert_array_equal(xp.concat([tb, ta], axis=-2).data.compute(), np.concatenate([b, a]))
    tc = xpgrad.Tensor(arr(b, (2, 1)))
    np.testing.assert_array_equal(xp.stack([ta, tc]).data.compute(), np.stack([a, b]))


@pytest.mark.parametrize("chunks, offset", [((1, 1), 0), ((2, 2), 1), ((4, 3), -2), ((6, 1), 2)])
def test_diagonal_gradient_over_chunkings(chunks, offset):
    h = rng.standard_normal((6, 4))
    x = xpgrad.Tensor(arr(h, chunks), requires_grad=True)
    d = xp.linalg.diagonal(x, offset=offset)
    w = rng.standard_normal(tuple(d.shape))
    xp.sum(d * xpgrad.Tensor(arr(w, (1,)))).backward()
    t = torch.tensor(h, requires_grad=True)
    (torch.diagonal(t, offset=offset) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.compute(), t.grad.numpy(), rtol=1e-14)


def test_hessian_vector_products_keep_a_custom_spec_and_stay_lazy():
    spec = cubed.Spec(allowed_mem="70MB", executor=create_executor("single-threaded"))
    w0, v0 = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.5, -1.0])
    w, v = cxp.asarray(w0, spec=spec), cxp.asarray(v0, spec=spec)
    with cubed.raise_if_computes():  # prod's zero test would read the data
        gather = xpgrad.hvp(lambda u: xp.sum(xp.exp(u[np.array([2, 0, 0])])), w, v)
        prod = xpgrad.hvp(lambda u: xp.prod(u * u), w, v)

    def hvp_torch(f):
        return torch.autograd.functional.hvp(f, torch.tensor(w0), torch.tensor(v0))[1].numpy()

    assert gather.spec == spec and prod.spec == spec
    np.testing.assert_allclose(gather.compute(), hvp_torch(lambda u: torch.exp(u[[2, 0, 0]]).sum()),
                               rtol=1e-14)
    np.testing.assert_allclose(prod.compute(), hvp_torch(lambda u: torch.prod(u * u)), rtol=1e-12)


def test_like_functions_keep_spec_and_chunks():
    spec = cubed.Spec(allowed_mem="60MB", executor=create_executor("single-threaded"))
    c = xpgrad.Tensor(cxp.asarray(np.ones((4, 3)), chunks=(2, 2), spec=spec))
    for z, want in ((xp.zeros_like(c), 0.0), (xp.ones_like(c), 1.0), (xp.full_like(c, 2.5), 2.5)):
        assert z.data.spec == spec and z.data.chunks == c.data.chunks
        np.testing.assert_array_equal((c + z).data.compute(), np.full((4, 3), 1.0 + want))


def test_optimizer_settles_parameters_of_two_specs():
    s2 = cubed.Spec(allowed_mem="50MB", executor=create_executor("single-threaded"))
    s3 = cubed.Spec(allowed_mem="60MB", executor=create_executor("single-threaded"))
    w1 = xpgrad.Tensor(cxp.asarray(np.ones(3), spec=s2), requires_grad=True)
    w2 = xpgrad.Tensor(cxp.asarray(np.full(3, 2.0), spec=s3), requires_grad=True)
    opt = xpgrad.optim.SGD([w1, w2], lr=0.1)
    xp.sum(w1 * w1).backward()
    xp.sum(w2 * w2).backward()
    opt.step()
    assert w1.data.spec == s2 and w2.data.spec == s3
    np.testing.assert_allclose(w1.data.compute(), np.full(3, 0.8), rtol=1e-15)
    np.testing.assert_allclose(w2.data.compute(), np.full(3, 1.6), rtol=1e-15)


def test_prod_gradient_with_a_nan_follows_torch_lazily():
    # The lazy path must choose as the eager one does (out / x unless a zero
    # or an inf is present), so a NaN makes its whole slice NaN, as torch's.
    h = np.array([[np.nan, 2.0], [3.0, 4.0], [0.5, -1.0]])
    x = xpgrad.Tensor(arr(h, (2, 1)), requires_grad=True)
    with cubed.raise_if_computes():
        xp.sum(xp.prod(x, axis=0)).backward()
    t = torch.tensor(h, requires_grad=True)
    torch.prod(t, dim=0).sum().backward()
    np.testing.assert_allclose(x.grad.compute(), t.grad.numpy(), rtol=1e-14)


def test_setitem_with_a_new_axis_concat_flattened_and_cumsum_without_axis():
    h = rng.standard_normal((3, 4))
    x = xpgrad.Tensor(arr(h, (2, 2)), requires_grad=True)
    y = x * 1.0
    y[None, 1] = 0.5
    want = h.copy()
    want[1] = 0.5
    np.testing.assert_array_equal(y.data.compute(), want)
    xp.sum(y * y).backward()
    np.testing.assert_allclose(x.grad.compute(), np.where(np.arange(3)[:, None] == 1, 0, 2 * h))
    flat = xp.concat([x, x[:1]], axis=None)
    np.testing.assert_array_equal(flat.data.compute(), np.concatenate([h.ravel(), h[:1].ravel()]))
    v = xpgrad.Tensor(arr(h[0], (3,)))
    np.testing.assert_allclose(xp.cumulative_sum(v).data.compute(), np.cumsum(h[0]), rtol=1e-15)


def test_a_numpy_scalar_under_a_spec_of_its_own_and_a_slice_s_gradient_in_bounded_memory():
    # np.float64(0.5) became a 0-d array of cubed's default spec, which cubed
    # refused to mix; a slice's gradient made its zeros in one chunk sized
    # against cubed's 128 MiB default, refused under allowed_mem
    spec = cubed.Spec(allowed_mem="5MB", reserved_mem=0, executor=create_executor("single-threaded"))
    t = xpgrad.tensor(arr(np.linspace(0.5, 2.0, 6), chunks=2, spec=spec), requires_grad=True)
    y = xp.sum(t * np.float64(0.5))
    assert float(y.data.compute()) == pytest.approx(3.75)
    big = cubed.random.random((20_000, 64), chunks=(1000, 64), spec=spec)  # 10 MB: twice allowed_mem
    x = xpgrad.tensor(big, requires_grad=True)
    xp.sum(x[:, :8] ** 2).backward()
    assert x.grad.chunks == big.chunks
    host = big.compute()
    got = x.grad[:3, :10].compute()
    want = np.zeros((3, 10))
    want[:, :8] = 2 * host[:3, :8]
    np.testing.assert_allclose(got, want)


def test_a_rule_making_an_array_of_an_int_shape_inside_cubed_s_scope():
    # the chunks taken from the scope read the shape as a tuple: zeros(4) raised
    from xpgrad.ops import Unary

    class pad_sum(Unary):
        @staticmethod
        def compute(xp, x):
            return x + xp.zeros(x.shape[0], dtype=x.dtype)

        @staticmethod
        def grad(xp, g, s):
            return g

    out = xpgrad.apply(pad_sum, (xpgrad.tensor(arr(np.arange(4.0), chunks=2)),))
    np.testing.assert_array_equal(out.data.compute(), np.arange(4.0))


def test_a_mean_over_several_chunked_axes_computes_twice():
    # cubed 0.27's mean over two axes chunked along both stores an array that a
    # second compute of the graph finds there (ContainsArrayError): the loss,
    # then its gradient, of a var; training on data standardized once, lazily
    h = np.random.default_rng(0).standard_normal((13, 11))
    x = xpgrad.tensor(arr(h, (4, 5)), requires_grad=True)
    loss = xpgrad.array_api.var(x, correction=1)
    loss.backward()
    np.testing.assert_allclose(float(loss.data.compute()), np.var(h, ddof=1), rtol=1e-13)
    want = 2 * (h - h.mean()) / (h.size - 1)
    np.testing.assert_allclose(x.grad.compute(), want, rtol=1e-12)
    np.testing.assert_allclose(x.grad.compute(), want, rtol=1e-12)  # and again
    m = xpgrad.array_api.mean(xpgrad.tensor(arr(h, (4, 5))), axis=(0, 1), keepdims=True)
    assert m.shape == (1, 1)
    np.testing.assert_allclose(m.data.compute(), h.mean(keepdims=True), rtol=1e-13)


@pytest.mark.parametrize("how", ["getitem", "take", "sort"])
def test_a_gathers_gradient_grows_with_the_array_not_its_square(how):
    # the generic scatter_add, a one-hot product, costs len(index) * n: cubed
    # refused the gradient of 256 rows gathered from a (6000, 16) array
    # (1.8 GB projected against 100 MB allowed) and of sort on 5000 numbers
    spec = cubed_spec(allowed_mem="100MB")
    rng = np.random.default_rng(3)
    h = rng.standard_normal((6000, 16))
    idx = rng.integers(0, 6000, 256)
    xa = xpgrad.array_api
    t = xpgrad.tensor(cubed.from_array(h, chunks=(1500, 16), spec=spec), requires_grad=True)
    picked = {"getitem": lambda: t[idx], "take": lambda: xa.take(t, cubed.from_array(idx, spec=spec), axis=0),
              "sort": lambda: xa.sort(t, axis=0)[:256]}[how]()
    xa.sum(picked * picked).backward()
    want = np.zeros_like(h)
    if how == "sort":
        order = np.argsort(h, axis=0, kind="stable")[:256]
        np.put_along_axis(want, order, 2 * np.take_along_axis(h, order, axis=0), axis=0)
    else:
        np.add.at(want, idx, 2 * h[idx])
    np.testing.assert_allclose(t.grad.compute(), want, rtol=1e-13)


def test_empty_gathers_numpy_masks_and_reshape_errors_on_cubed():
    xa = xpgrad.array_api
    h = np.random.default_rng(2).standard_normal((13, 11))
    # the gradient of a gather of nothing: cubed's rechunk of an empty array
    # raised a bare "Invalid chunk_limits (0, 11)"
    t = xpgrad.tensor(arr(h, (4, 5)), requires_grad=True)
    (xa.sum(t[np.zeros(0, dtype=np.int64)] ** 2) + xa.sum(t)).backward()
    np.testing.assert_array_equal(t.grad.compute(), np.ones_like(h))
    for shape in [(0, 5), (5, 0)]:
        e = xpgrad.tensor(arr(np.zeros(shape), 2), requires_grad=True)
        xa.sum(xa.sort(e, axis=0)).backward()
        assert e.grad.compute().shape == shape
    # a NumPy mask (a constant) in an assignment: AttributeError 'numpy.ndarray'
    # object has no attribute 'name'
    z = xpgrad.tensor(arr(h, (4, 5))) * 1.0
    z[h > 0.5] = 3.0
    np.testing.assert_allclose(z.data.compute(), np.where(h > 0.5, 3.0, h))
    # a reshape that fits but exceeds allowed_mem said only "cannot reshape"
    small = cubed_spec(allowed_mem="2MB")
    big = xpgrad.tensor(cubed.from_array(np.zeros((4000, 64)), chunks=(500, 64), spec=small))
    with pytest.raises(ValueError, match=r"^reshape: cannot reshape x of shape \(4000, 64\) to \(8000, 32\) \(.*max_mem"):
        xa.reshape(big, (8000, 32))


def test_take_along_axis_and_std_over_many_chunks():
    xa = xpgrad.array_api
    rng = np.random.default_rng(9)
    h = rng.standard_normal((2000, 10))
    labels = rng.integers(0, 10, (2000, 1))
    # the generic take of the flattened x put all of x in one task
    t = xpgrad.tensor(arr(h, (200, 10)), requires_grad=True)
    picked = xa.take_along_axis(t, cubed.from_array(labels, chunks=(200, 1), spec=SPEC), axis=1)
    assert len(picked.data.chunks[0]) == 10
    xa.sum(picked).backward()
    want = np.zeros_like(h)
    want[np.arange(2000), labels[:, 0]] = 1.0
    np.testing.assert_array_equal(t.grad.compute(), want)
    # cubed's mean over one axis in five chunks or more has its two-compute bug too
    s = xpgrad.tensor(arr(h, (200, 10)), requires_grad=True)
    loss = xa.sum(xa.std(s, axis=0, correction=1))
    loss.backward()
    np.testing.assert_allclose(float(loss.data.compute()), h.std(axis=0, ddof=1).sum(), rtol=1e-12)
    sd = h.std(axis=0, ddof=1)
    np.testing.assert_allclose(s.grad.compute(), (h - h.mean(axis=0)) / (sd * 1999), rtol=1e-10)


@pytest.mark.parametrize("name, kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                          ("Adam", {"lr": 0.1, "amsgrad": True})])
def test_a_numpy_state_loads_into_parameters_of_their_own_spec(name, kwargs):
    # the state became cubed arrays of cubed's default spec and chunks, which the next
    # step refused to mix with the parameters' ("Arrays must have same spec")
    h = np.array([1.0, -2.0, 3.0])
    w0 = xpgrad.tensor(h.copy(), requires_grad=True)
    o0 = getattr(xpgrad.optim, name)([w0], **kwargs)
    for _ in range(2):
        o0.zero_grad()
        xp.sum(w0 * w0 * w0).backward()
        o0.step()
        if _ == 0:
            saved = o0.state_dict()
            w = xpgrad.tensor(arr(w0.data, (2,)), requires_grad=True)
    opt = getattr(xpgrad.optim, name)([w], **kwargs)
    opt.load_state_dict(saved)
    for key, value in opt.state[w].items():
        if key != "step":
            assert value.spec == SPEC and value.chunks == ((2, 1),), key
    xp.sum(w * w * w).backward()
    opt.step()
    np.testing.assert_allclose(w.data.compute(), w0.data, rtol=1e-14)


def test_complex_abs_gradient():
    # x / |x| by parts was re + 1j * im, and cubed refuses a Python complex beside a
    # real array: every complex abs's backward raised
    x = xpgrad.tensor(cxp.asarray(np.array([3 + 4j, 1j]), chunks=1, spec=SPEC), requires_grad=True)
    xp.sum(xp.abs(x)).backward()
    np.testing.assert_allclose(x.grad.compute(), [0.6 + 0.8j, 1j], rtol=1e-15)

"""Dask arrays as a backend.

Every rule's forward and backward, :func:`xpgrad.sum_to` and the Tensor run on
dask arrays chunked four ways (by rows, by columns, both, one chunk), stay
lazy until ``compute()``, and give NumPy's values. The linear layer with x
chunked by rows is checked for streaming: no task ever holds more than one
chunk of x, and ``grad_w`` is a layer of per-chunk products followed by a
tree reduction. One test runs a linear layer's gradients on a real two-process
``dask.distributed.LocalCluster``.

Laziness is checked two ways: a counting scheduler is installed while the
graphs are built (any eager ``compute``, ``__array__``, ``bool`` or
``.item()`` on a dask array goes through it), and, for the Tensor, the input
chunks come from a task that counts its own calls.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

da = pytest.importorskip(
    "dask.array", reason="dask is not installed (pip install 'xpgrad[dask]')"
)
import dask  # noqa: E402
from dask.callbacks import Callback  # noqa: E402

import xpgrad  # noqa: E402
from xpgrad import ops  # noqa: E402

LAYOUTS = ("rows", "cols", "both", "single")


# -- helpers ----------------------------------------------------------------
def chunks_for(shape, layout):
    """Chunk sizes splitting the leading axis ("rows"), the last axis ("cols"),
    every axis ("both") into about three uneven pieces, or one chunk ("single")."""
    shape = tuple(shape)
    if layout == "single" or not shape:
        return shape
    axes = {"rows": {0}, "cols": {len(shape) - 1}, "both": set(range(len(shape)))}[layout]
    return tuple(max(1, -(-d // 3)) if i in axes else d for i, d in enumerate(shape))


def lazy(h, layout):
    """A host array (or a Python scalar, passed through) as a dask array."""
    if not isinstance(h, np.ndarray):
        return h
    return da.from_array(h, chunks=chunks_for(h.shape, layout))


class CountingScheduler:
    """A dask scheduler (``dask.config.set(scheduler=...)``) that counts the
    graphs it is asked to run and runs them synchronously."""

    def __init__(self):
        self.calls = 0

    def __call__(self, dsk, keys, **kwargs):
        self.calls += 1
        return dask.get(dsk, keys, **kwargs)


class TaskSizes(Callback):
    """Records the element count of every task result, by task-key prefix."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def _posttask(self, key, result, dsk, state, worker_id):
        name = key[0] if isinstance(key, tuple) else key
        if hasattr(result, "size"):
            self.sizes.append((int(result.size), str(name)))


def assert_dask(*arrays):
    for a in arrays:
        if a is not None:
            assert isinstance(a, da.Array), type(a)


def assert_same(actual, expected, rtol=1e-12, atol=1e-12):
    """``actual`` (a computed dask result) equals NumPy's ``expected``, dtype included."""
    if expected is None:
        assert actual is None
        return
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# -- every rule, four chunk layouts ----------------------------------------
def _pos(*shape):
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def _n(*shape):
    return lambda rng: rng.standard_normal(shape)


def _c(*shape):
    return lambda rng: rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def _scalar(v):
    return lambda rng: v


# (id, rule, input makers, rule parameters)
CASES = [
    ("matmul-2d", ops.matmul, [_n(7, 5), _n(5, 4)], ()),
    ("matmul-vec-mat", ops.matmul, [_n(5), _n(5, 4)], ()),
    ("matmul-mat-vec", ops.matmul, [_n(7, 5), _n(5)], ()),
    ("matmul-vec-vec", ops.matmul, [_n(5), _n(5)], ()),
    ("matmul-batch-fold", ops.matmul, [_n(3, 7, 5), _n(5, 4)], ()),
    ("matmul-bcast-a", ops.matmul, [_n(7, 5), _n(3, 5, 4)], ()),
    ("matmul-bcast-both", ops.matmul, [_n(2, 1, 7, 5), _n(3, 5, 4)], ()),
    ("matmul-batched", ops.matmul, [_n(3, 7, 5), _n(3, 5, 4)], ()),
    ("matmul-batch-vec", ops.matmul, [_n(3, 7, 5), _n(5)], ()),
    ("matmul-complex", ops.matmul, [_c(3, 7, 5), _c(5, 4)], ()),
    ("linear-bias", ops.linear, [_n(7, 5), _n(4, 5), _n(4)], ()),
    ("linear-nobias", ops.linear, [_n(7, 5), _n(4, 5)], ()),
    ("linear-3d", ops.linear, [_n(3, 7, 5), _n(4, 5), _n(4)], ()),
    ("linear-1d", ops.linear, [_n(5), _n(4, 5), _n(4)], ()),
    ("linear-complex", ops.linear, [_c(7, 5), _c(4, 5), _c(4)], ()),
    ("add_bias-axis1", ops.add_bias, [_n(7, 5), _n(5)], (1,)),
    ("add_bias-3d-axis1", ops.add_bias, [_n(3, 4, 5), _n(4)], (1,)),
    ("add_bias-3d-last", ops.add_bias, [_n(3, 4, 5), _n(5)], (-1,)),
    ("add_bias-axis0", ops.add_bias, [_n(7, 5), _n(7)], (0,)),
    ("sum-all", ops.sum, [_n(7, 5)], ()),
    ("sum-axis0", ops.sum, [_n(7, 5)], (0,)),
    ("sum-axes-keepdims", ops.sum, [_n(3, 4, 5)], ((0, 2), True)),
    ("sum-neg-axis", ops.sum, [_n(3, 4, 5)], (-1,)),
    ("mean-all", ops.mean, [_n(7, 5)], ()),
    ("mean-axis1-keepdims", ops.mean, [_n(7, 5)], (1, True)),
    ("mean-axes", ops.mean, [_n(3, 4, 5)], ((0, 1),)),
    ("add-bcast", ops.add, [_n(7, 5), _n(5)], ()),
    ("add-scalar", ops.add, [_n(7, 5), _scalar(2.5)], ()),
    ("sub-bcast", ops.sub, [_n(7, 1), _n(1, 5)], ()),
    ("sub-rscalar", ops.sub, [_scalar(1.5), _n(7, 5)], ()),
    ("mul-bcast", ops.mul, [_n(3, 4, 5), _n(4, 1)], ()),
    ("mul-complex", ops.mul, [_c(7, 5), _c(5)], ()),
    ("div-bcast", ops.div, [_n(3, 4, 5), _pos(5)], ()),
    ("div-rscalar", ops.div, [_scalar(2.0), _pos(7, 5)], ()),
    ("pow-2", ops.pow, [_n(7, 5)], (2,)),
    ("pow-3", ops.pow, [_n(7, 5)], (3,)),
    ("pow-half", ops.pow, [_pos(7, 5)], (0.5,)),
    ("pow-neg", ops.pow, [_pos(7, 5)], (-1.5,)),
    ("pow-0", ops.pow, [_n(7, 5)], (0,)),
    ("pow-1", ops.pow, [_n(7, 5)], (1,)),
    ("neg", ops.neg, [_n(7, 5)], ()),
    ("reshape-split", ops.reshape, [_n(6, 5)], ((2, 3, 5),)),
    ("reshape-fold", ops.reshape, [_n(3, 4, 5)], ((12, 5),)),
    ("reshape-flat", ops.reshape, [_n(3, 4, 5)], ((-1,),)),
    ("permute_dims", ops.permute_dims, [_n(3, 4, 5)], ((2, 0, 1),)),
    ("permute_dims-T", ops.permute_dims, [_n(7, 5)], ((1, 0),)),
    ("to_device-cpu", ops.to_device, [_n(7, 5)], ("cpu",)),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule_on_dask_matches_numpy(case, layout):
    _, rule, makers, params = case
    rng = np.random.default_rng(7)
    hosts = [m(rng) for m in makers]
    out_np, ctx_np = rule.forward(*hosts, *params)
    g_np = np.asarray(rng.standard_normal(np.shape(out_np)), dtype=np.result_type(out_np))
    if np.iscomplexobj(out_np):
        g_np = g_np + 1j * np.asarray(rng.standard_normal(np.shape(out_np)))
    grads_np = rule.backward(g_np, ctx_np)

    sched = CountingScheduler()
    with dask.config.set(scheduler=sched):
        out, ctx = rule.forward(*[lazy(h, layout) for h in hosts], *params)
        grads = rule.backward(lazy(g_np, layout), ctx)
        assert sched.calls == 0, "a rule computed a dask array eagerly"
        assert_dask(out, *grads)
        assert len(grads) == len(grads_np)
        computed = dask.compute(out, *grads)
        assert sched.calls == 1
    assert_same(computed[0], out_np)
    for got, want in zip(computed[1:], grads_np):
        assert_same(got, want)


# (id, rule, input shapes, rule parameters) for half and single precision.
LOW_PRECISION = [
    ("linear", ops.linear, [(9, 6), (4, 6), (4,)], ()),
    ("matmul-3d@2d", ops.matmul, [(3, 9, 6), (6, 4)], ()),
    ("sum-axes01", ops.sum, [(3, 9, 6)], ((0, 1),)),
    ("mean-axis0-keepdims", ops.mean, [(9, 6)], (0, True)),
]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("case", LOW_PRECISION, ids=[c[0] for c in LOW_PRECISION])
def test_low_precision(case, dtype):
    """Half precision GEMMs run in float32 (dask, like NumPy, has no half
    GEMM) and sums accumulate in float32, cast back once: NumPy's values."""
    _, rule, shapes, params = case
    rng = np.random.default_rng(3)
    hosts = [rng.standard_normal(s).astype(dtype) for s in shapes]
    out_np, ctx_np = rule.forward(*hosts, *params)
    g = np.ones_like(out_np)
    grads_np = rule.backward(g, ctx_np)
    out, ctx = rule.forward(*[lazy(h, "rows") for h in hosts], *params)
    grads = rule.backward(lazy(g, "rows"), ctx)
    assert_dask(out, *grads)
    computed = dask.compute(out, *grads, scheduler="sync")
    for got, want in zip(computed, (out_np, *grads_np)):
        assert_same(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_low_precision_sum_to(dtype):
    a3 = np.random.default_rng(3).standard_normal((3, 9, 6)).astype(dtype)
    got = xpgrad.sum_to(lazy(a3, "both"), (9, 1)).compute(scheduler="sync")
    assert_same(got, xpgrad.sum_to(a3, (9, 1)), rtol=1e-6, atol=1e-6)


SUM_TO = [
    ((3, 4, 5), (4, 1)),
    ((3, 4, 5), (5,)),
    ((3, 4, 5), ()),
    ((3, 4, 5), (1, 1, 5)),
    ((3, 4, 5), (3, 1, 1)),
    ((7, 1, 5), (1, 5)),
    ((7, 5), (7, 5)),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shapes", SUM_TO, ids=[f"{s}->{t}" for s, t in SUM_TO])
def test_sum_to_on_dask(shapes, layout):
    shape, target = shapes
    h = np.random.default_rng(1).standard_normal(shape)
    sched = CountingScheduler()
    with dask.config.set(scheduler=sched):
        out = xpgrad.sum_to(lazy(h, layout), target)
        assert sched.calls == 0
        assert_dask(out)
        assert tuple(out.shape) == target
        got = out.compute()
    assert_same(got, xpgrad.sum_to(h, target))


# -- laziness of the Tensor, with a source that counts its chunks ------------
_MADE = []


def _counted_chunk(block_id=None, block_info=None):
    """One chunk of x, deterministic per block; records that it was made."""
    _MADE.append(block_id)
    shape = block_info[None]["chunk-shape"]
    return np.random.default_rng(1000 + block_id[0] * 31 + block_id[1]).standard_normal(shape)


def test_tensor_is_lazy_until_compute():
    chunks = ((40, 40, 40, 17), (6, 6))
    x = da.map_blocks(_counted_chunk, chunks=chunks, dtype=np.float64, meta=np.empty((0, 0)))
    rng = np.random.default_rng(5)
    w_h, b_h = rng.standard_normal((3, 12)), rng.standard_normal(3)
    _MADE.clear()
    sched = CountingScheduler()
    with dask.config.set(scheduler=sched):
        xt = xpgrad.tensor(x, requires_grad=True)
        wt = xpgrad.tensor(da.from_array(w_h, chunks=(3, 6)), requires_grad=True)
        bt = xpgrad.tensor(da.from_array(b_h), requires_grad=True)
        y = xpgrad.linear(xt, wt, bt)
        loss = (y * y).sum() * 0.5 + (xt @ wt.T).mean()
        loss.backward()
        assert _MADE == [] and sched.calls == 0, "building the graph computed something"
        assert_dask(y.data, loss.data, xt.grad, wt.grad, bt.grad)
        lv, gx, gw, gb = dask.compute(loss.data, xt.grad, wt.grad, bt.grad)
        assert sched.calls == 1
    # One compute made each chunk of x exactly once.
    assert sorted(_MADE) == sorted((i, j) for i in range(4) for j in range(2))

    x_h = np.asarray(x.compute(scheduler="sync"))
    y_h = x_h @ w_h.T + b_h
    g = y_h + 1.0 / y_h.size  # d loss / d (x @ w.T); the mean term has no bias
    np.testing.assert_allclose(lv, 0.5 * np.sum(y_h**2) + np.mean(x_h @ w_h.T), rtol=1e-12)
    np.testing.assert_allclose(gx, g @ w_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, g.T @ x_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, y_h.sum(axis=0), rtol=1e-12, atol=1e-12)


def test_tensor_backward_with_explicit_grad_is_lazy():
    h = np.random.default_rng(2).standard_normal((3, 8, 5))
    w_h = np.random.default_rng(3).standard_normal((5, 4))
    g_h = np.random.default_rng(4).standard_normal((3, 8, 4))
    sched = CountingScheduler()
    with dask.config.set(scheduler=sched):
        at = xpgrad.tensor(da.from_array(h, chunks=(1, 4, 5)), requires_grad=True)
        wt = xpgrad.tensor(da.from_array(w_h), requires_grad=True)
        out = at @ wt
        out.backward(da.from_array(g_h, chunks=(1, 8, 4)))
        # A second backward accumulates into .grad, still lazily.
        (at @ wt).backward(da.from_array(g_h, chunks=(3, 2, 4)))
        assert sched.calls == 0
        assert_dask(at.grad, wt.grad)
        ga, gw = dask.compute(at.grad, wt.grad)
    np.testing.assert_allclose(ga, 2 * g_h @ w_h.T, rtol=1e-12)
    np.testing.assert_allclose(gw, 2 * np.einsum("bmk,bmn->kn", h, g_h), rtol=1e-12)


# -- streaming: no task gathers x --------------------------------------------
def _layer_deps(collection):
    """``{layer name: set of layer names it depends on}`` and each layer's task count."""
    hlg = collection.__dask_graph__()
    return dict(hlg.dependencies), {k: len(v) for k, v in hlg.layers.items()}


def _prefix(name):
    return name.split("-")[0]


@pytest.mark.parametrize(
    "x_shape, x_chunks",
    [((6400, 12), (100, 12)), ((6400, 12), (400, 4)), ((16, 400, 12), (1, 100, 12))],
    ids=["rows", "rows-and-cols", "batch-3d"],
)
def test_linear_streams_chunks_and_tree_reduces_grad_w(x_shape, x_chunks):
    # x is made chunk by chunk (as on a cluster): no task ever holds all of it.
    x = da.random.default_rng(11).standard_normal(x_shape, chunks=x_chunks)
    x_h = x.compute(scheduler="sync")
    rng = np.random.default_rng(11)
    w_h, b_h = rng.standard_normal((3, 12)), rng.standard_normal(3)
    w, b = da.from_array(w_h), da.from_array(b_h)
    y, ctx = ops.linear.forward(x, w, b)
    g = da.random.default_rng(13).standard_normal(y.shape, chunks=y.chunks)
    g_h = g.compute(scheduler="sync")
    gx, gw, gb = ops.linear.backward(g, ctx)

    # grad_w: one product task per chunk of x, then a reduction over the row blocks.
    deps, sizes = _layer_deps(gw)
    products = [k for k in deps if _prefix(k) == "matmul"]
    assert len(products) == 1
    assert sizes[products[0]] == x.npartitions
    reducers = [k for k, d in deps.items() if products[0] in d]
    assert reducers and all("sum" in k for k in reducers), reducers
    final = [k for k in deps if not any(k in d for d in deps.values())]
    assert len(final) == 1 and "aggregate" in final[0]
    # One output chunk per column block of x: the rows were summed away.
    assert gw.numblocks == (1, x.numblocks[-1]) and sizes[final[0]] == gw.npartitions
    if x.numblocks[0] > 32:  # more than one aggregation step takes (dask: 4): a tree
        assert any("partial" in k for k in deps), sorted(deps)

    # Run it: no task's result (hence no task's input) is larger than one
    # chunk of x or of grad_x (a block of rows of x by all its columns), and
    # that is a small share of x.
    biggest_chunk = max(math.prod(x.chunksize), math.prod(gx.chunksize))
    assert biggest_chunk * 4 <= x.size
    rec = TaskSizes()
    with rec:
        lazy_parts = dask.persist(gx, gw, gb, scheduler="sync")
    too_big = [(s, n) for s, n in rec.sizes if s > biggest_chunk]
    assert not too_big, too_big[:5]
    gx, gw, gb = dask.compute(*lazy_parts, scheduler="sync")
    np.testing.assert_allclose(gw, g_h.reshape(-1, 3).T @ x_h.reshape(-1, 12), rtol=1e-10)
    np.testing.assert_allclose(gb, g_h.reshape(-1, 3).sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(gx, g_h @ w_h, rtol=1e-10)


@pytest.mark.parametrize(
    "a_shape, a_chunks, b_shape, b_chunks",
    [
        ((16, 300, 8), (1, 100, 8), (8, 5), (8, 5)),  # fold batch axes into rows
        ((300, 8), (100, 8), (16, 8, 5), (1, 8, 5)),  # a broadcast over 16 batches
        ((4, 1, 300, 8), (1, 1, 100, 8), (1, 4, 8, 5), (1, 1, 8, 5)),  # both broadcast
    ],
    ids=["fold", "reduce-a", "reduce-both"],
)
def test_matmul_broadcast_folding_does_not_gather(a_shape, a_chunks, b_shape, b_chunks):
    rng = da.random.default_rng(12)
    a = rng.standard_normal(a_shape, chunks=a_chunks)
    b = rng.standard_normal(b_shape, chunks=b_chunks)
    out, ctx = ops.matmul.forward(a, b)
    g = rng.standard_normal(out.shape, chunks=out.chunksize)
    a_h, b_h, g_h = dask.compute(a, b, g, scheduler="sync")
    ga, gb = ops.matmul.backward(g, ctx)
    limit = max(math.prod(c.chunksize) for c in (a, b, g, out, ga, gb))
    whole = max(a.size, b.size, g.size)
    rec = TaskSizes()
    with rec:
        parts = dask.persist(out, ga, gb, scheduler="sync")
    # Re-splitting a few neighbouring chunks (dask's reshape) is fine; a task
    # holding a large share of an operand is not.
    too_big = [(s, n) for s, n in rec.sizes if s > 2 * limit]
    assert not too_big, too_big[:5]
    assert 2 * limit < whole / 4
    o, ga, gb = dask.compute(*parts, scheduler="sync")
    out_np, ctx_np = ops.matmul.forward(a_h, b_h)
    ga_np, gb_np = ops.matmul.backward(g_h, ctx_np)
    np.testing.assert_allclose(o, out_np, rtol=1e-10)
    np.testing.assert_allclose(ga, ga_np, rtol=1e-10)
    np.testing.assert_allclose(gb, gb_np, rtol=1e-10)


# -- a real distributed cluster ---------------------------------------------
@pytest.mark.slow
# The scheduler's HTTP server moves to a free port when another cluster holds 8787.
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
def test_linear_gradients_on_local_cluster():
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(21)
    x_h = rng.standard_normal((4000, 16))
    w_h, b_h = rng.standard_normal((5, 16)), rng.standard_normal(5)
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as client:
        x = da.from_array(x_h, chunks=(250, 16))
        xt = xpgrad.tensor(x, requires_grad=True)
        wt = xpgrad.tensor(da.from_array(w_h), requires_grad=True)
        bt = xpgrad.tensor(da.from_array(b_h), requires_grad=True)
        y = xpgrad.linear(xt, wt, bt)
        loss = (y * y).sum() * 0.5
        loss.backward()
        assert_dask(xt.grad, wt.grad, bt.grad)
        with distributed.get_task_stream(client) as ts:
            lv, gx, gw, gb = client.compute(
                [loss.data, xt.grad, wt.grad, bt.grad], sync=True
            )
        workers = {t["worker"] for t in ts.data}
        assert len(client.scheduler_info()["workers"]) == 2
    assert len(workers) == 2, f"all tasks ran on {workers}"
    y_h = x_h @ w_h.T + b_h
    np.testing.assert_allclose(lv, 0.5 * np.sum(y_h**2), rtol=1e-12)
    np.testing.assert_allclose(gx, y_h @ w_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw, y_h.T @ x_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, y_h.sum(axis=0), rtol=1e-12, atol=1e-12)


def test_optimizer_steps_persist_dask_parameters():
    # Each step ends with dask.persist of the parameters and the momentum, so
    # the graph of w after any step is one computed chunk, not every step.
    rng = np.random.default_rng(3)
    h, w0 = rng.standard_normal((8, 3)), rng.standard_normal(3)
    w = xpgrad.Tensor(da.from_array(w0, chunks=3), requires_grad=True)
    X = xpgrad.Tensor(da.from_array(h, chunks=(4, 3)))
    opt = xpgrad.optim.SGD([w], lr=0.1, momentum=0.9)
    want = w0.copy()
    buf = None
    for _ in range(3):
        opt.zero_grad()
        (xpgrad.array_api.tanh(X @ w) ** 2).sum().backward()
        opt.step()
        assert len(w.data.__dask_graph__()) == 1
        t = np.tanh(h @ want)
        g = h.T @ (2 * t * (1 - t * t))
        buf = g if buf is None else 0.9 * buf + g
        want = want - 0.1 * buf
    np.testing.assert_allclose(w.data.compute(), want, rtol=1e-12)


def test_qr_of_a_wide_matrix_on_dask_matches_torch():
    torch = pytest.importorskip("torch")
    h = np.random.default_rng(0).random((3, 5))
    a = xpgrad.Tensor(da.from_array(h, chunks=(2, 2)), requires_grad=True)
    q, r = xpgrad.array_api.linalg.qr(a)
    ((q[:, 0] * 2.0).sum() + r[0].sum()).backward()
    t = torch.tensor(h, requires_grad=True)
    tq, tr = torch.linalg.qr(t)
    ((tq[:, 0] * 2.0).sum() + tr[0].sum()).backward()
    np.testing.assert_allclose(q.data.compute(), tq.detach().numpy(), atol=1e-14)
    np.testing.assert_allclose(a.grad.compute(), t.grad.numpy(), atol=1e-13)


# dask's linalg takes one matrix (2-D): batches raised its "Dimension must be 2",
# and inv and solve gave float32 inputs float64 results and gradients
_RNG = np.random.default_rng(21)
_SPD = _RNG.standard_normal((2, 2, 3, 3))
_SPD = _SPD @ np.swapaxes(_SPD, -1, -2) + np.eye(3)
_TALL = _RNG.standard_normal((3, 4, 2))
BATCHED = {
    "inv": (lambda ns, a: ns.linalg.inv(a), [_SPD]),
    "solve": (lambda ns, a, b: ns.linalg.solve(a, b), [_SPD, _RNG.standard_normal((2, 1, 3, 2))]),
    "solve-vector": (lambda ns, a, b: ns.linalg.solve(a, b), [_SPD, _RNG.standard_normal(3)]),
    "qr": (lambda ns, a: ns.linalg.qr(a)[1] ** 2, [_SPD]),
    "svd": (lambda ns, a: ns.linalg.svd(a)[1], [_SPD]),  # square: full_matrices is thin
    "svdvals": (lambda ns, a: ns.linalg.svdvals(a), [_SPD]),
    "cholesky": (lambda ns, a: ns.linalg.cholesky(a), [_SPD]),
    "matrix_norm-2": (lambda ns, a: ns.linalg.matrix_norm(a, ord=2), [_SPD]),
    "matrix_power--2": (lambda ns, a: ns.linalg.matrix_power(a, -2), [_SPD]),
    "empty-batch": (lambda ns, a: ns.linalg.inv(a), [_SPD[:0]]),
    # dask has none of these: they run on blocks of whole matrices
    "det": (lambda ns, a: ns.linalg.det(a), [_SPD]),
    "slogdet": (lambda ns, a: ns.linalg.slogdet(a)[1], [_SPD]),
    "eigh": (lambda ns, a: ns.linalg.eigh(a)[1] ** 2 * ns.linalg.eigh(a)[0][..., None, :], [_SPD]),
    "eigvalsh": (lambda ns, a: ns.linalg.eigvalsh(a), [_SPD]),
    "pinv": (lambda ns, a: ns.linalg.pinv(a), [_TALL]),
    "pinv-one-matrix": (lambda ns, a: ns.linalg.pinv(a), [_TALL[0]]),
    "det-one-matrix": (lambda ns, a: ns.linalg.det(a), [_SPD[0, 0]]),
    # nor the full decompositions of a non-square matrix
    "svd-full": (lambda ns, a: ns.linalg.svd(a)[1], [_TALL]),
    "svd-full-one-matrix": (lambda ns, a: ns.linalg.svd(a)[1], [_TALL[0]]),
    "qr-complete": (lambda ns, a: ns.linalg.qr(a, mode="complete")[1] ** 2, [_TALL]),
}


@pytest.mark.parametrize("chunks", ["halves", "uneven"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(BATCHED))
def test_batched_linalg_on_dask_matches_numpy(name, dtype, chunks):
    # "uneven": (3, 3) matrices cut by 2, which dask's LU and Cholesky refused
    ns = xpgrad.array_api
    fn, hosts = BATCHED[name]
    hosts = [h.astype(dtype) for h in hosts]
    got = []
    cut = (lambda n: max(1, n // 2)) if chunks == "halves" else (lambda n: 2 if n > 2 else n)
    for wrap in (np.asarray, lambda h: da.from_array(h, chunks=tuple(cut(n) for n in h.shape))):
        leaves = [xpgrad.tensor(wrap(h), requires_grad=True) for h in hosts]
        out = fn(ns, *leaves)
        ns.sum(out * out).backward()
        got.append((out.data, [t.grad for t in leaves]))
    (want, want_grads), (out, grads) = got
    assert isinstance(out, da.Array) and all(isinstance(g, da.Array) for g in grads)
    assert out.dtype == want.dtype == dtype and all(g.dtype == dtype for g in grads)
    tol = 1e-10 if dtype == "float64" else 2e-3
    np.testing.assert_allclose(out.compute(), want, rtol=tol, atol=tol)
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g.compute(), w, rtol=tol, atol=tol)


_WIDE = _RNG.standard_normal((4, 6)) + 1j * _RNG.standard_normal((4, 6))
_A = _RNG.standard_normal((4, 3, 3)) + 3 * np.eye(3)
_B = _RNG.standard_normal((4, 3, 2))
ODD = {
    # dask's sfqr multiplied by Q.T where Q^H is meant: R was off by 1.6
    "qr-complex-wide": (lambda ns, a: ns.abs(ns.linalg.qr(a)[1]) ** 2, [(_WIDE, (4, 3))]),
    # array-api-compat's svdvals asked dask for full matrices of a complex x
    "svdvals-complex": (lambda ns, a: ns.linalg.svdvals(a), [(_WIDE, (4, 6))]),
    # the blocks of a and b (or of a and the gradient) were cut differently
    "solve-chunks": (lambda ns, a, b: ns.linalg.solve(a, b), [(_A, (2, 3, 3)), (_B, (1, 3, 2))]),
    "solve-broadcast": (lambda ns, a, b: ns.linalg.solve(a, b), [(_A, (2, 3, 3)), (_B[:1], (1, 3, 2))]),
    # the whole rtol went to every block
    "pinv-rtol": (lambda ns, a, r: ns.linalg.pinv(a, rtol=r),
                  [(_A, (2, 3, 3)), (np.array([1e-8, 0.5, 1e-8, 0.5]), (4,))]),
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_dask_linalg_of_odd_chunkings_and_complex_matches_numpy(name):
    fn, inputs = ODD[name]
    ns = xpgrad.array_api
    got = []
    for wrap in (np.asarray, da.from_array):
        leaves = [xpgrad.tensor(np.asarray(h) if wrap is np.asarray else da.from_array(h, chunks=c),
                                requires_grad=k == 0) for k, (h, c) in enumerate(inputs)]
        out = fn(ns, *leaves)
        ns.sum(ns.real(out * ns.conj(out))).backward()
        got.append((np.asarray(out.data), np.asarray(leaves[0].grad)))
    (want, want_grad), (out, grad) = got
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-12)
    plain = fn(ns, *[xpgrad.tensor(da.from_array(h, chunks=c)) for h, c in inputs])  # no graph
    np.testing.assert_allclose(np.asarray(plain.data), want, rtol=1e-10, atol=1e-12)


def test_a_masked_batch_sized_by_compute_chunk_sizes_has_its_linalg_gradient():
    # the mask's positions of a 3-D array kept unknown sizes, and flattening
    # them raised "cannot convert float NaN to integer"
    x = xpgrad.tensor(da.from_array(_A, chunks=(2, 3, 3)), requires_grad=True)
    mask = np.array([True, False, True, True])
    s = x[xpgrad.tensor(da.from_array(mask, chunks=2))]
    s.data.compute_chunk_sizes()
    xpgrad.array_api.sum(xpgrad.array_api.linalg.det(s)).backward()
    want = np.linalg.det(_A)[:, None, None] * np.linalg.inv(np.swapaxes(_A, -1, -2))
    np.testing.assert_allclose(x.grad.compute(), want * mask[:, None, None], rtol=1e-12)


@pytest.mark.parametrize("name", ["inv", "qr", "det"])
def test_batched_dask_linalg_is_one_task_per_block_not_per_matrix(name):
    # each matrix of a batch was sliced out, decomposed by dask and stacked
    # back: 6,207 tasks and 3.6 s for the gradient of inv of 200 3x3 matrices
    fn = {"inv": lambda a: xpgrad.array_api.linalg.inv(a),
          "qr": lambda a: xpgrad.array_api.linalg.qr(a)[1],
          "det": lambda a: xpgrad.array_api.linalg.det(a)}[name]
    sizes = []
    for batch in (8, 64):
        h = _RNG.standard_normal((batch, 3, 3)) + 3 * np.eye(3)
        x = xpgrad.tensor(da.from_array(h, chunks=(batch // 4, 3, 3)), requires_grad=True)
        out = fn(x)
        xpgrad.array_api.sum(out * out).backward()
        sizes.append((len(out.data.__dask_graph__()), len(x.grad.__dask_graph__())))
    assert sizes[0] == sizes[1]


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name", ["det", "slogdet"])
def test_dask_det_and_slogdet_gradients_at_a_singular_matrix_match_numpy(name, order):
    # a lazy mask cannot be read, and the regular branch's inv raised
    # LinAlgError at compute time for the singular matrix of the batch
    h = np.stack([[[1.0, 2.0], [2.0, 4.0]], _RNG.standard_normal((2, 2))])
    ns = xpgrad.array_api
    f = ns.linalg.det if name == "det" else (lambda a: ns.linalg.slogdet(a)[1])
    got = []
    for wrap in (np.asarray, lambda a: da.from_array(a, chunks=1)):
        x = xpgrad.tensor(wrap(h), requires_grad=True)
        if order == 1:
            ns.sum(f(x)).backward()
        else:
            (g,) = xpgrad.autograd.grad(ns.sum(f(x)), x, create_graph=True)
            ns.sum(g * g).backward()
        got.append(np.asarray(x.grad))
    if name == "det":  # the cofactors [[4, -2], [-2, 1]]; their own gradient 2 * cof(cof) = 2 * x
        want = [[4.0, -2.0], [-2.0, 1.0]] if order == 1 else 2 * h[0]
        np.testing.assert_allclose(got[0][0], want, atol=1e-12)
    np.testing.assert_allclose(got[1], got[0], rtol=1e-12, atol=1e-12)


def test_a_masked_result_sized_by_compute_chunk_sizes_has_its_gradient():
    # the README's advice for the forward; the backward then failed on the
    # unknown sizes its node had recorded ((nan,) against (16,))
    a = np.random.default_rng(0).standard_normal((7, 5))
    t = xpgrad.tensor(da.from_array(a, chunks=(3, 2)), requires_grad=True)
    m = t[t > 0]
    m.data.compute_chunk_sizes()
    ns = xpgrad.array_api
    ns.sum(m * m).backward()
    assert isinstance(t.grad, da.Array)
    np.testing.assert_allclose(t.grad.compute(), np.where(a > 0, 2 * a, 0.0))


@pytest.mark.parametrize("where", ["rows", "columns"])
@pytest.mark.parametrize("kind", ["tensor", "dask", "numpy"])
def test_an_integer_index_of_two_dimensions_on_dask(kind, where):
    # dask indexes with 1-D integer arrays only: a bare AssertionError, or a TypeError
    a = np.arange(20.0).reshape(4, 5)
    idx = np.array([[0, -1], [2, 2]])
    t = xpgrad.tensor(da.from_array(a, chunks=2), requires_grad=True)
    index = {"tensor": xpgrad.tensor(da.from_array(idx)), "dask": da.from_array(idx), "numpy": idx}[kind]
    key = index if where == "rows" else (slice(None), index)
    np_key = idx if where == "rows" else (slice(None), idx)
    y = t[key]
    xpgrad.array_api.sum(y * y).backward()
    np.testing.assert_array_equal(y.data.compute(), a[np_key])
    want = np.zeros_like(a)
    np.add.at(want, np_key, 2 * a[np_key])
    np.testing.assert_array_equal(t.grad.compute(), want)


def test_dask_solve_promotes_and_an_empty_gather_has_its_gradient():
    # solve cast to a's float32 where NumPy gives float64; bincount's minlength 0
    # gave a length dask did not know
    a = xpgrad.tensor(da.from_array(np.eye(3, dtype=np.float32) * 2))
    b = xpgrad.tensor(da.from_array(np.ones((3, 2))))
    assert xpgrad.array_api.linalg.solve(a, b).dtype == np.float64
    x = xpgrad.tensor(da.from_array(np.zeros((0, 3)), chunks=2), requires_grad=True)
    xpgrad.array_api.sum(x[np.zeros((0,), bool)]).backward()
    assert x.grad.shape == (0, 3)


def test_dask_index_of_two_dimensions_small_dtypes_empty_and_after_an_ellipsis():
    t = xpgrad.tensor(da.from_array(np.arange(300.0), chunks=100))
    idx = np.array([[0, 1], [2, 299]], np.uint16)  # idx + 300 wrapped in uint16's sum
    np.testing.assert_array_equal(t[idx].data.compute(), [[0.0, 1.0], [2.0, 299.0]])
    assert t[np.zeros((0, 3), int)].shape == (0, 3)
    host_m = np.arange(12.0).reshape(3, 4)
    m = xpgrad.tensor(da.from_array(host_m, chunks=2), requires_grad=True)
    cols = np.array([[0, 3], [1, 1]])
    z = m[..., cols]
    np.testing.assert_array_equal(z.data.compute(), host_m[..., cols])
    xpgrad.array_api.sum(z * z).backward()
    want = np.zeros_like(host_m)
    np.add.at(want, (slice(None), cols), 2 * host_m[..., cols])
    np.testing.assert_array_equal(m.grad.compute(), want)


@pytest.mark.parametrize("key, bad", [([[9, 1]], 9), ([[-10, 1]], -10), ([[1], [7]], 7)])
def test_dask_index_of_two_dimensions_out_of_range_raises_as_numpys(key, bad):
    # the lazy take of its flat positions read past the axis: [[2, 2]] and [[5, 2]]
    t = xpgrad.tensor(da.from_array(np.arange(1.0, 8.0), chunks=3))
    with pytest.raises(IndexError, match=f"index {bad} is out of bounds for axis 0 with size 7"):
        t[np.array(key)]
    np.testing.assert_array_equal(t[np.array([[-7, 6]])].data.compute(), [[1.0, 7.0]])


@pytest.mark.parametrize(
    "name, loss",
    [
        ("sum", lambda xa, t: xa.sum(t)),
        ("mean", lambda xa, t: xa.mean(t, axis=0)),
        ("where", lambda xa, t: xa.sum(xa.where(t > 0.5, t, 0.0))),
        ("cumulative_sum", lambda xa, t: xa.sum(xa.cumulative_sum(t, axis=1))),
    ],
)
def test_a_reductions_gradient_is_chunked_as_its_input(name, loss):
    # dask's broadcast_to gives a new dimension one chunk of its whole length:
    # the gradient of sum(x) was one chunk of x's size, and the ops on it one
    # task each that held all of it (1.8 GB against 0.24 GB by hand for a
    # where over an 800 MB array in 10 chunks)
    xa = xpgrad.array_api
    x0 = np.random.default_rng(0).random((40, 30))
    t = xpgrad.tensor(da.from_array(x0, chunks=(10, 15)), requires_grad=True)
    xa.sum(loss(xa, t)).backward()
    assert t.grad.chunks == ((10,) * 4, (15, 15))
    ref = xpgrad.tensor(x0, requires_grad=True)
    xa.sum(loss(xa, ref)).backward()
    np.testing.assert_allclose(t.grad.compute(), ref.grad, rtol=1e-13)



@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128"])
@pytest.mark.parametrize("positions", ["few", "many"])
def test_a_gathers_gradient_is_chunked_as_its_input(dtype, positions):
    # da.bincount made a whole-length array for every chunk of the index and
    # summed them: the gradient of x[idx] was one chunk of x's size (845 MB of
    # peak memory for a gather of 1000 from 400 MB in 10 chunks, 2.8 GB with
    # the index in 40 chunks; 0.21 GB now either way)
    xa = xpgrad.array_api
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((60, 4)).astype(dtype)
    if dtype.startswith("complex"):
        x0 = x0 + 1j * rng.standard_normal((60, 4))
    idx0 = (rng.integers(-60, 60, 7) if positions == "few"  # repeats and negatives
            else np.concatenate([rng.permutation(60), rng.integers(0, 60, 50)]))
    w0 = rng.standard_normal((idx0.size, 4))
    t = xpgrad.tensor(da.from_array(x0, chunks=(15, 4)), requires_grad=True)
    idx = xpgrad.tensor(da.from_array(idx0, chunks=4))
    xa.sum(xa.real(t[idx] * da.from_array(w0))).backward()
    assert t.grad.chunks == ((15,) * 4, (4,)) and t.grad.dtype == x0.dtype
    want = np.zeros_like(x0)
    np.add.at(want, idx0, w0)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-13}
    np.testing.assert_allclose(t.grad.compute(), want, **tol)


def test_a_numpy_mask_of_two_axes_writes_into_a_dask_tensor():
    # dask reads a NumPy boolean array of two axes in an assignment as integer
    # indices and refused it ("Incorrect shape ((13, 11)) of integer indices")
    h = np.random.default_rng(2).standard_normal((13, 11))
    mask = h > 0.5
    t = xpgrad.tensor(da.from_array(h, chunks=(4, 5)), requires_grad=True)
    z = t * 1.0
    z[mask] = 3.0
    xpgrad.array_api.sum(z * z).backward()
    np.testing.assert_allclose(z.data.compute(), np.where(mask, 3.0, h))
    np.testing.assert_allclose(t.grad.compute(), np.where(mask, 0.0, 2 * h))


@pytest.mark.parametrize("shape", [(0, 5), (5, 0)])
def test_sort_and_gathers_of_empty_dask_arrays(shape):
    # take_along_axis reshaped an empty index, which dask refuses ("reshape
    # only supports operations that merge or split existing dimensions evenly")
    t = xpgrad.tensor(da.from_array(np.zeros(shape), chunks=2), requires_grad=True)
    s = xpgrad.array_api.sort(t, axis=0)
    xpgrad.array_api.sum(s).backward()
    assert s.shape == shape and t.grad.compute().shape == shape


def test_a_gathers_gradient_keeps_whole_blocks_after_an_offset_slice():
    # the result's chunk came from the first block alone: x[4999:] of blocks of
    # 5000 rows starts with a block of one row, and the gradient came back in
    # 15001 one-row chunks (75,000 tasks, 11 s); a block of 0 rows gave 400,000
    xa = xpgrad.array_api
    for lead in (1, 0):
        x = da.ones((20000, 4), chunks=(5000, 4))
        if lead:
            x = x[4999:]
        else:
            x = da.concatenate([x[:0], x])  # a leading block of no rows
        t = xpgrad.tensor(x, requires_grad=True)
        xa.sum(t[np.array([0, 7, 7])]).backward()
        assert len(t.grad.chunks[0]) <= 8
        want = np.zeros(x.shape)
        np.add.at(want, [0, 7, 7], 1.0)
        np.testing.assert_array_equal(t.grad.compute(), want)


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_take_along_axis_goes_block_by_block(dtype):
    # the flat scatter paired every chunk of the positions with every chunk of
    # the result: softmax cross-entropy's pick over 25 chunks took 2,600 tasks
    # and 1.6 GB (by hand 600 and 0.2 GB), and the tasks grew with the square
    # of the chunks
    xa = xpgrad.array_api
    rng = np.random.default_rng(8)
    h = rng.standard_normal((400, 10)).astype(dtype)
    labels = rng.integers(-10, 10, (400, 1))
    tasks = []
    for n in (10, 40):
        t = xpgrad.tensor(da.from_array(h, chunks=(400 // n, 10)), requires_grad=True)
        picked = xa.take_along_axis(t, xpgrad.tensor(da.from_array(labels, chunks=(400 // n, 1))), axis=1)
        xa.sum(xa.real(picked * 3.0)).backward()
        tasks.append(len(t.grad.__dask_graph__()))
        np.testing.assert_array_equal(picked.data.compute(), np.take_along_axis(h, labels, axis=1))
        want = np.zeros_like(h)
        np.add.at(want, (np.arange(400)[:, None], labels), 3.0)
        np.testing.assert_allclose(t.grad.compute(), want)
    assert tasks[1] < 6 * tasks[0]  # linear in the chunks (16 times as many tasks before)


def test_a_complex_gather_gradient_keeps_an_infinite_part_in_its_part():
    # the scatter sums each part alone; re + 1j * im of the sums made the real
    # part NaN where the imaginary one is infinite (0 * inf)
    x = xpgrad.tensor(da.from_array(np.array([1 + 1j, 2 + 2j, 3 + 0j]), chunks=2),
                      requires_grad=True)
    index = xpgrad.tensor(da.from_array(np.array([0, 2, 0]), chunks=2))
    g = np.array([complex(1.0, np.inf), 1 + 0j, 2 + 0j])
    xpgrad.array_api.take(x, index).backward(da.from_array(g, chunks=2))
    np.testing.assert_array_equal(x.grad.compute(), [complex(3.0, np.inf), 0, 1])


def test_float16_through_the_transforms_and_the_like_functions():
    # array_api_compat's dask namespace names no float16: grad, hvp and zeros_like
    # asked it for one and raised, where the README's table says float16 works
    x = da.from_array(np.array([1.0, 2.0, 3.0], np.float16), chunks=2)
    g = xpgrad.grad(lambda v: xpgrad.array_api.sum(v * v))(x)
    assert g.dtype == np.float16
    np.testing.assert_array_equal(g.compute(), [2.0, 4.0, 6.0])
    h = xpgrad.hvp(lambda v: xpgrad.array_api.sum(v * v * v), x, x)
    np.testing.assert_array_equal(h.compute(), [6.0, 24.0, 54.0])  # 6 x * x
    z = xpgrad.array_api.zeros_like(xpgrad.tensor(x))
    assert z.dtype == np.float16 and z.data.compute().tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_of_an_empty_array_along_a_nonempty_axis(name):
    # dask reduced each empty block and failed at compute ("zero-size array to reduction
    # operation maximum"), where NumPy gives the empty result
    x = xpgrad.tensor(da.zeros((0, 3), chunks=(1, 2)), requires_grad=True)
    out = getattr(xpgrad.array_api, name)(x, axis=1)
    assert out.shape == (0,) and out.data.compute().shape == (0,)
    xpgrad.array_api.sum(out).backward()
    assert x.grad.compute().shape == (0, 3)


@pytest.mark.parametrize("offset", [0, 1, -1])
def test_trace_gradient_of_a_wide_matrix(offset):
    # dask's rectangular eye drops a block: the gradient failed at compute ("Missing
    # dependency"), where diagonal's already built its mask from two ranges
    x = np.arange(12.0).reshape(3, 4)
    g = xpgrad.grad(lambda t: xpgrad.array_api.linalg.trace(t, offset=offset))(da.from_array(x))
    np.testing.assert_array_equal(g.compute(), np.eye(3, 4, offset))

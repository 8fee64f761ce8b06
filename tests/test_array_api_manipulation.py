"""The namespace's manipulation and indexing functions, item access and item
assignment, on every backend: values against torch (or NumPy), gradients
against torch autograd on the same inputs and against finite differences in
float64 (``gradcheck``)."""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xp
from tests.subsets import backend_cases
from tests.support import assert_allclose, backend_params, dtype_name, host
from xpgrad.testing import gradcheck

# JAX compiles each function at each shape afresh: half of its cases here in a
# plain run, all with --backend jax (tests/conftest.py).
pytestmark = pytest.mark.jax_sample(2)

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

I = np.array  # host integer / boolean index arrays; mk() moves them to the backend


def _t(a):
    return torch.as_tensor(a)


# (id, xpgrad function (t, mk), torch reference (t), input shape, backends it skips)
CASES = [
    ("reshape", lambda t, mk: xp.reshape(t, (4, 3)), lambda t: t.reshape(4, 3), (3, 4), ()),
    ("reshape_copy", lambda t, mk: xp.reshape(t, (12,), copy=True), lambda t: t.reshape(12), (3, 4), ()),
    ("permute_dims", lambda t, mk: xp.permute_dims(t, (1, 0)), lambda t: t.permute(1, 0), (3, 4), ()),
    ("expand_dims", lambda t, mk: xp.expand_dims(t, axis=-1), lambda t: t[..., None], (3, 4), ()),
    ("squeeze", lambda t, mk: xp.squeeze(xp.reshape(t, (3, 1, 4)), axis=1), lambda t: t, (3, 4), ()),
    ("broadcast_to", lambda t, mk: xp.broadcast_to(t, (2, 3, 4)), lambda t: t.expand(2, 3, 4), (3, 4), ()),
    ("broadcast_arrays", lambda t, mk: (lambda a, b: a + 2 * b)(*xp.broadcast_arrays(t, t[0:1, ...])),
     lambda t: t + 2 * t[0:1].expand(3, 4), (3, 4), ()),
    ("concat_axis1", lambda t, mk: xp.concat([t, 2 * t], axis=1), lambda t: torch.cat([t, 2 * t], 1), (3, 4), ()),
    ("concat_none", lambda t, mk: xp.concat([t, t[0, ...]], axis=None),
     lambda t: torch.cat([t.reshape(-1), t[0]]), (3, 4), ()),
    ("stack", lambda t, mk: xp.stack([t, 3 * t], axis=-1), lambda t: torch.stack([t, 3 * t], -1), (3, 4), ()),
    ("unstack", lambda t, mk: (lambda u: 2 * u[1] + u[3])(xp.unstack(t, axis=1)),
     lambda t: 2 * t[:, 1] + t[:, 3], (3, 4), ()),
    ("flip_none", lambda t, mk: xp.flip(t), lambda t: t.flip(0, 1), (3, 4), ()),
    ("flip_last", lambda t, mk: xp.flip(t, axis=-1), lambda t: t.flip(-1), (3, 4), ()),
    ("roll_tuple", lambda t, mk: xp.roll(t, (1, -2), axis=(0, 1)), lambda t: t.roll((1, -2), (0, 1)), (3, 4), ()),
    ("roll_flat", lambda t, mk: xp.roll(t, 5), lambda t: t.roll(5), (3, 4), ()),
    # an axis named twice rolls by the sum of its shifts (it was refused)
    ("roll_axis_twice", lambda t, mk: xp.roll(t, (1, 2, -1), axis=(1, -1, 0)),
     lambda t: t.roll((1, 2, -1), (1, -1, 0)), (3, 4), ()),
    ("moveaxis", lambda t, mk: xp.moveaxis(xp.reshape(t, (3, 2, 2)), (0, 1), (-1, 0)),
     lambda t: t.reshape(3, 2, 2).movedim((0, 1), (-1, 0)), (3, 4), ()),
    ("tile", lambda t, mk: xp.tile(t, (2, 1, 2)), lambda t: t.tile((2, 1, 2)), (3, 4), ()),
    ("repeat_int", lambda t, mk: xp.repeat(t, 2), lambda t: t.reshape(-1).repeat_interleave(2), (3, 4), ()),
    ("repeat_array", lambda t, mk: xp.repeat(t, mk(I([2, 0, 3])), axis=0),
     lambda t: t.repeat_interleave(_t(I([2, 0, 3])), dim=0), (3, 4), ("jax", "cubed")),
    ("tril", lambda t, mk: xp.tril(t, k=-1), lambda t: t.tril(-1), (3, 4), ()),
    ("triu", lambda t, mk: xp.triu(t, k=1), lambda t: t.triu(1), (3, 4), ()),
    ("meshgrid_xy", lambda t, mk: (lambda a, b: a + 2 * b)(*xp.meshgrid(t[0, ...], t[1, :3])),
     lambda t: (lambda a, b: a + 2 * b)(*torch.meshgrid(t[0], t[1, :3], indexing="xy")), (3, 4), ()),
    ("meshgrid_ij", lambda t, mk: (lambda a, b: a + 2 * b)(*xp.meshgrid(t[0, ...], t[1, :3], indexing="ij")),
     lambda t: (lambda a, b: a + 2 * b)(*torch.meshgrid(t[0], t[1, :3], indexing="ij")), (3, 4), ()),
    ("diff_n2", lambda t, mk: xp.diff(t, n=2), lambda t: t.diff(n=2), (3, 4), ()),
    ("diff_prepend_append", lambda t, mk: xp.diff(t, axis=0, prepend=t[0:1, ...], append=2 * t),
     lambda t: t.diff(dim=0, prepend=t[0:1], append=2 * t), (3, 4), ()),
    ("sort", lambda t, mk: xp.sort(t), lambda t: t.sort(-1).values, (3, 4), ()),
    ("sort_desc_axis0", lambda t, mk: xp.sort(t, axis=0, descending=True),
     lambda t: t.sort(0, descending=True).values, (3, 4), ()),
    ("take", lambda t, mk: xp.take(t, mk(I([3, 0, 3, -1])), axis=1),
     lambda t: t[:, [3, 0, 3, -1]], (3, 4), ()),
    ("take_1d", lambda t, mk: xp.take(t[1, ...], mk(I([2, 2, 0]))), lambda t: t[1, [2, 2, 0]], (3, 4), ()),
    ("take_along_axis", lambda t, mk: xp.take_along_axis(t, mk(I([[1, 1], [0, 3], [2, 2]])), axis=1),
     lambda t: t.take_along_dim(_t(I([[1, 1], [0, 3], [2, 2]])), 1), (3, 4), ()),
    ("astype_f32", lambda t, mk: xp.astype(t, xp.float32) * 1.5, lambda t: t.float() * 1.5, (3, 4), ()),
    # item access
    ("getitem_int", lambda t, mk: t[1, ...], lambda t: t[1], (3, 4), ()),
    ("getitem_negative_steps", lambda t, mk: t[::-1, 3:0:-2], lambda t: t.flip(0)[:, [3, 1]], (3, 4), ()),
    ("getitem_none_ellipsis", lambda t, mk: t[None, ..., None, 1:3], lambda t: t[None, ..., None, 1:3], (3, 4), ()),
    ("getitem_int_array_repeats", lambda t, mk: t[1, ...][mk(I([2, 0, 2, -1]))],
     lambda t: t[1][[2, 0, 2, -1]], (3, 4), ()),
    ("getitem_2d_int_array", lambda t, mk: t[0, ...][mk(I([[0, 1], [1, 1]]))],
     lambda t: t[0][_t(I([[0, 1], [1, 1]]))], (3, 4), ("cubed",)),
    ("getitem_array_and_slice", lambda t, mk: t[mk(I([2, 0, 2])), 1:],
     lambda t: t[[2, 0, 2], 1:], (3, 4), ("array_api_strict",)),
    ("getitem_two_arrays", lambda t, mk: t[mk(I([2, 0, 2])), mk(I([1, 1, 3]))],
     lambda t: t[[2, 0, 2], [1, 1, 3]], (3, 4), ("cubed",)),
    ("getitem_mask", lambda t, mk: t[t > 0], lambda t: t[t > 0], (3, 4), ("cubed",)),
    ("getitem_row_mask", lambda t, mk: t[mk(I([True, False, True])), ...],
     lambda t: t[_t(I([True, False, True]))], (3, 4), ("array_api_strict", "cubed")),
    ("getitem_zero_size", lambda t, mk: t[2:2, ::-1], lambda t: t[2:2], (3, 4), ()),
    ("take_zero_size", lambda t, mk: xp.take(t, mk(np.zeros(0, np.int64)), axis=0),
     lambda t: t[[]], (3, 4), ("cubed",)),
    ("concat_zero_size", lambda t, mk: xp.concat([t[:, 0:0], t], axis=1), lambda t: t, (3, 4), ()),
]


# JAX takes every function and every index kind (its scatter-adds differ from
# the in-place ones), but not the variants of an argument whose code is shared
# with a row it runs; central differences, on top of torch autograd, run there
# on the rows whose backward is a scatter, a gather, a permutation or a repeat.
JAX_SKIPS = {"reshape_copy", "broadcast_arrays", "flip_last", "roll_flat", "meshgrid_ij", "diff_n2",
             "sort_desc_axis0", "getitem_none_ellipsis", "take_zero_size", "concat_zero_size"}
JAX_GRADCHECK = ("getitem_two_arrays", "getitem_mask", "take_along_axis", "repeat_int", "sort", "roll_tuple")
CASE_IDS = [c[0] for c in CASES]


@pytest.fixture
def mk(backend):
    return lambda h: backend.asarray(h)


@pytest.mark.parametrize(
    "backend, case, fn, ref, shape, skip",
    backend_cases(CASES, CASE_IDS, jax=[i for i in CASE_IDS if i not in JAX_SKIPS]),
    indirect=["backend"],
)
def test_values_and_gradients(backend, rng, mk, case, fn, ref, shape, skip):
    if backend.name in skip:
        pytest.skip(f"{backend.name} does not support this index or argument")
    h = rng.standard_normal(shape)
    leaf = xpgrad.tensor(backend.asarray(h), requires_grad=True)
    out = fn(leaf, mk)
    tx = torch.tensor(h, requires_grad=True)
    tout = ref(tx)
    assert out.shape == tuple(tout.shape)
    kind = dtype_name(out.data)
    assert_allclose(out, tout.detach().numpy(), kind)
    g = rng.standard_normal(out.shape)
    out.backward(backend.asarray(g, kind))
    tout.backward(_t(g).to(tout.dtype))
    assert leaf.grad.dtype == leaf.data.dtype and tuple(leaf.grad.shape) == shape
    assert_allclose(leaf.grad, tx.grad.numpy(), kind)
    if kind == "float64" and out.size and (backend.name != "jax" or case in JAX_GRADCHECK):
        assert gradcheck(lambda t: fn(t, mk), backend.asarray(h))


@pytest.mark.parametrize("key", ["int_array", "mask"])
def test_repeated_and_masked_gradients_by_hand(backend, key):
    if backend.name == "cubed" and key == "mask":
        pytest.skip("cubed cannot index with a boolean mask (test_cubed.py checks the error)")
    x = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0, 3.0])), requires_grad=True)
    idx = backend.asarray(np.array([0, 0, 2, 0])) if key == "int_array" else x > 1.5
    y = x[idx] * backend.asarray(np.array([1.0, 10.0, 100.0, 1000.0])[: 4 if key == "int_array" else 2])
    xp.sum(y).backward()
    # x[0] is taken three times (1 + 10 + 1000); the mask picks x[1], x[2].
    assert_allclose(x.grad, [1011.0, 0.0, 100.0] if key == "int_array" else [0.0, 1.0, 10.0])


SET_CASES = [
    ("slice_block", lambda: (slice(1, 3), ...), (2, 4), lambda t, v: t.__setitem__((slice(1, 3), ...), v), ()),
    ("broadcast_row", lambda: (slice(None), ...), (4,), lambda t, v: t.__setitem__((slice(None), ...), v), ()),
    ("negative_step", lambda: (slice(None, None, -1), 0), (3,), lambda t, v: t.__setitem__((slice(None), 0), v.flip(0)), ()),
    ("none_int", lambda: (None, 1, slice(0, 2)), (2,), lambda t, v: t.__setitem__((1, slice(0, 2)), v), ("array_api_strict",)),
    ("int_array", lambda: (I([2, 0]),), (2, 4), lambda t, v: t.__setitem__(_t(I([2, 0])), v),
     ("array_api_strict", "cubed")),
    # a value with a leading 1 more than the selection: its gradient failed in sum_to
    ("leading_one", lambda: (slice(0, 2), 1), (1, 2), lambda t, v: t.__setitem__((slice(0, 2), 1), v[0]),
     ("cubed",)),  # cubed 0.27 cannot broadcast (1, 2) to (2,) in an assignment
]


@pytest.mark.parametrize("key, vshape, ref", [c[1:4] for c in SET_CASES], ids=[c[0] for c in SET_CASES])
def test_setitem_gradients_reach_x_and_value(backend, rng, key, vshape, ref):
    skip = next(c[4] for c in SET_CASES if c[1] is key)
    if backend.name in skip:
        pytest.skip(f"{backend.name} refuses this assignment key")
    k = tuple(backend.asarray(p) if isinstance(p, np.ndarray) else p for p in key())
    xh, vh = rng.standard_normal((3, 4)), rng.standard_normal(vshape)
    x = xpgrad.tensor(backend.asarray(xh), requires_grad=True)
    v = xpgrad.tensor(backend.asarray(vh), requires_grad=True)
    y = x * 2.0
    y[k] = v * 3.0
    out = y * y
    tx, tv = torch.tensor(xh, requires_grad=True), torch.tensor(vh, requires_grad=True)
    ty = (tx * 2.0).clone()
    ref(ty, tv * 3.0)
    tout = ty * ty
    assert_allclose(out, tout.detach().numpy())
    g = rng.standard_normal((3, 4))
    out.backward(backend.asarray(g))
    tout.backward(_t(g))
    assert_allclose(x.grad, tx.grad.numpy())
    assert_allclose(v.grad, tv.grad.numpy())

    def assigned(a, b):
        c = a * 1.0
        c[k] = b
        return c

    assert gradcheck(assigned, backend.asarray(xh), backend.asarray(vh))


REPEAT_CASES = [  # (id, key, value's shape, x's shape)
    ("one_array", lambda: (I([0, 2, 0, -3]),), (4,), (3,)),  # position 0 written 3 times (-3 is 0)
    ("rows_and_slice", lambda: (I([1, 1]), slice(0, 3)), (2, 3), (3, 4)),
    ("two_arrays", lambda: (I([0, 2, 0]), I([1, 3, 1])), (3,), (3, 4)),
    ("one_value_twice", lambda: (I([1, 1, 2]),), (), (3,)),  # dv counts position 1 once
    ("leading_one", lambda: (I([2, 2]),), (1, 2), (3,)),  # NumPy drops the value's leading 1
]


@pytest.mark.parametrize("key, vshape, xshape", [c[1:] for c in REPEAT_CASES],
                         ids=[c[0] for c in REPEAT_CASES])
def test_setitem_at_a_repeated_position_gives_the_landed_value_its_gradient(
    backend, rng, key, vshape, xshape
):
    """A position written twice keeps the last value, as NumPy writes it; the
    overwritten values had no effect, so they get no gradient (they once got
    the position's gradient too, silently)."""
    if backend.name in ("array_api_strict", "cubed"):
        pytest.skip(f"{backend.name} refuses this assignment key")
    xh, vh = rng.standard_normal(xshape), rng.standard_normal(vshape)
    want = xh * 2.0
    want[key()] = vh  # NumPy's own result: the last write lands
    k = tuple(backend.asarray(p) if isinstance(p, np.ndarray) else p for p in key())

    def assigned(a, b):
        c = a * 2.0
        c[k] = b
        return c

    x = xpgrad.tensor(backend.asarray(xh), requires_grad=True)
    v = xpgrad.tensor(backend.asarray(vh), requires_grad=True)
    out = assigned(x, v)
    selected = np.arange(want.size).reshape(xshape)[key()]
    if backend.name == "jax":
        # JAX's jit allows no branch on the data, so the library picks which
        # write lands (setitem's docstring); its gradient must follow that pick
        # (every write got it, once: x[[0, 0]] = x[[0, 0]] + 1 had gradient 2)
        vb = vh
        while vb.ndim > selected.ndim and vb.shape[0] == 1:  # NumPy drops the leading 1s
            vb = vb[0]
        flat_v = np.broadcast_to(vb, selected.shape).ravel()
        got = host(out).ravel()
        landed = {pos: next(i for i, p in enumerate(selected.ravel()) if p == pos and flat_v[i] == got[pos])
                  for pos in selected.ravel()}
        want.ravel()[list(landed)] = flat_v[list(landed.values())]
    else:
        landed = {pos: i for i, pos in enumerate(selected.ravel())}  # later writes replace earlier
    assert_allclose(out, want)
    w = rng.standard_normal(xshape)
    xp.sum(out * backend.asarray(w)).backward()
    # By hand: the selection's element i that writes a position last gets w there.
    dv = np.zeros(selected.size)
    for pos, i in landed.items():
        dv[i] = w.ravel()[pos]
    dv = dv.reshape(selected.shape)
    veff = vshape  # the value as it broadcasts: NumPy drops its extra leading 1s
    while len(veff) > dv.ndim and veff[0] == 1:
        veff = veff[1:]
    dv = dv.sum(axis=tuple(range(dv.ndim - len(veff))))
    dv = dv.sum(axis=tuple(i for i, d in enumerate(veff) if d == 1), keepdims=True)
    assert_allclose(v.grad, dv.reshape(vshape))
    dx = 2.0 * w
    dx[key()] = 0.0
    assert_allclose(x.grad, dx)
    assert gradcheck(assigned, backend.asarray(xh), backend.asarray(vh))


def test_diff_names_itself_for_a_scalar_to_prepend():
    t = xpgrad.tensor(np.array([1.0, 2.0, 4.0]), requires_grad=True)
    with pytest.raises(TypeError, match=r"^diff: prepend is a Python float \(0.0\), not an array"):
        xp.diff(t, prepend=0.0)  # the error named concat
    with pytest.raises(TypeError, match=r"^diff: append is a Python int \(1\), not an array"):
        xp.diff(t, append=1)


def test_setitem_on_torch_data_with_a_numpy_index_and_repeats():
    torch = pytest.importorskip("torch")
    x = xpgrad.tensor(torch.zeros(3, dtype=torch.float64), requires_grad=True)
    v = xpgrad.tensor(torch.tensor([1.0, 2.0], dtype=torch.float64), requires_grad=True)
    y = x * 1.0
    y[I([0, 0])] = v  # a NumPy index, as getitem takes (the repeat check read it with torch)
    np.testing.assert_array_equal(y.data.numpy(), [2.0, 0.0, 0.0])
    xp.sum(y * 3.0).backward()
    np.testing.assert_array_equal(v.grad.numpy(), [0.0, 3.0])


def test_setitem_keeps_jax_jit_and_jaxs_out_of_range_writes():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from xpgrad import ops

    @jax.jit
    def assign(x, v, idx):  # the rule traces: no branch on the data (a repeat check had one)
        return ops.setitem.forward(x, v, (idx,))[0]

    out = assign(jnp.zeros(3), jnp.asarray([1.0, 2.0]), jnp.asarray([0, 2]))
    np.testing.assert_array_equal(np.asarray(out), [1.0, 0.0, 2.0])
    # JAX drops a write out of range; its reads clamp it, so positions read
    # through an index of x would have taken it for a repeat of the last one
    x = xpgrad.tensor(jnp.zeros(3), requires_grad=True)
    y = x * 1.0
    v = xpgrad.tensor(jnp.asarray([10.0, 20.0]), requires_grad=True)
    y[jnp.asarray([2, 5])] = v
    np.testing.assert_array_equal(np.asarray(y.data), [0.0, 0.0, 10.0])
    xp.sum(y * jnp.asarray([1.0, 2.0, 3.0])).backward()  # the dropped write has no gradient
    np.testing.assert_array_equal(np.asarray(v.grad), [3.0, 0.0])
    np.testing.assert_array_equal(np.asarray(x.grad), [1.0, 2.0, 0.0])


def test_a_value_that_does_not_fit_a_repeated_selection_names_setitem():
    y = xpgrad.tensor(np.zeros(3)) * 1.0
    with pytest.raises(ValueError, match=r"^setitem: value of shape \(2, 1\) cannot be broadcast to the "
                                         r"selection's shape \(2,\)"):
        y[I([0, 0])] = xpgrad.tensor(np.ones((2, 1)), requires_grad=True)


def test_second_derivative_through_a_repeated_position():
    def f(v):
        y = xp.zeros(3, dtype=xp.float64)
        y[I([0, 0, 2])] = v  # v[0] is overwritten by v[1]
        return xp.sum(y ** 3)

    v0 = np.array([1.0, 2.0, 3.0])
    assert_allclose(xpgrad.grad(f)(v0), [0.0, 12.0, 27.0])  # 3 v^2 where v landed
    assert_allclose(xpgrad.hessian(f)(v0), np.diag([0.0, 12.0, 18.0]))


def test_setitem_mask_and_scalar_without_grad(backend):
    # scipy.special.logsumexp's a_max[~xp.isfinite(a_max)] = 0 on a Tensor.
    a = xpgrad.tensor(backend.asarray(np.array([1.0, np.inf, -np.inf, 2.0])))
    before = a.data
    a[~xp.isfinite(a)] = 0
    assert_allclose(a, [1.0, 0.0, 0.0, 2.0])
    assert not a.requires_grad
    assert_allclose(before, [1.0, np.inf, -np.inf, 2.0])  # a copy was written


def test_setitem_mask_scalar_gradient(backend):
    x = xpgrad.tensor(backend.asarray(np.array([1.0, -2.0, 3.0])), requires_grad=True)
    y = x * 1.0
    y[y < 0] = 0.0
    xp.sum(y * y).backward()
    assert_allclose(x.grad, [2.0, 0.0, 6.0])


def test_setitem_refuses_a_leaf_that_requires_grad(backend):
    x = xpgrad.tensor(backend.asarray(np.ones(3)), requires_grad=True)
    with pytest.raises(RuntimeError, match="__setitem__: a leaf tensor that requires grad"):
        x[0] = 2.0
    assert_allclose(x, [1.0, 1.0, 1.0])
    with xpgrad.no_grad():
        x[0] = 5.0
    assert_allclose(x, [5.0, 1.0, 1.0])
    assert x.requires_grad and x.is_leaf


def test_setitem_after_use_keeps_each_op_on_the_version_it_read(backend):
    # By hand: x = [1, 2, 3], y = 2x = [2, 4, 6]; z = y*y reads y before any change,
    # so d sum(z)/dy = 2y = [4, 8, 12]. y[0] = 10, then w = 3y: [0, 3, 3] reaches the
    # first y through the assignment. y[1] = 20, then sum(y): [0, 0, 1].
    # dL/dy = [4, 11, 16] and dL/dx = 2 dL/dy = [8, 22, 32].
    x = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0, 3.0])), requires_grad=True)
    y = x * 2.0
    z = y * y
    y[0] = 10.0
    w = y * 3.0
    y[1] = 20.0
    loss = xp.sum(z) + xp.sum(w) + xp.sum(y)
    assert float(loss) == 4 + 16 + 36 + 3 * (10 + 4 + 6) + (10 + 20 + 6)
    loss.backward()
    assert_allclose(x.grad, [8.0, 22.0, 32.0])


@pytest.mark.parametrize("src, dst", [("float32", "float64"), ("float64", "float32")])
def test_astype_gradient_has_the_input_dtype(backend, src, dst):
    x = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0]), src), requires_grad=True)
    y = xp.astype(x, getattr(xp, dst))
    assert y.dtype == getattr(xp, dst)
    xp.sum(y * y).backward()
    assert x.grad.dtype == x.data.dtype
    assert_allclose(x.grad, [2.0, 4.0], "float32")


def test_astype_to_integer_and_copies(backend):
    x = xpgrad.tensor(backend.asarray(np.array([1.5, -2.5])), requires_grad=True)
    i = xp.astype(x, xp.int64)
    assert not i.requires_grad and i.dtype == xp.int64
    c = xp.asarray(x, copy=True)
    assert c is not x and c.requires_grad
    xp.sum(c * 3.0).backward()
    assert_allclose(x.grad, [3.0, 3.0])


def test_sort_stable_ties_send_gradient_to_one_element_each(backend):
    x = xpgrad.tensor(backend.asarray(np.array([2.0, 1.0, 2.0, 0.0])), requires_grad=True)
    y = xp.sort(x)
    assert_allclose(y, [0.0, 1.0, 2.0, 2.0])
    (y * backend.asarray(np.array([1.0, 10.0, 100.0, 1000.0]))).backward(backend.asarray(np.ones(4)))
    assert_allclose(x.grad, [100.0, 10.0, 1000.0, 1.0])  # stable: the first 2.0 sorts first


ERRORS = [
    (ValueError, r"^take: axis=None needs a 1-D x", lambda t, mk: xp.take(t, mk(I([0])))),
    (TypeError, r"^take: indices must have an integer dtype", lambda t, mk: xp.take(t, mk(np.zeros(1)), axis=0)),
    (ValueError, r"^stack: arrays must all have one shape", lambda t, mk: xp.stack([t, t[0, ...]])),
    (ValueError, r"^concat: arrays must have the same shape except along axis 0",
     lambda t, mk: xp.concat([t, xp.permute_dims(t, (1, 0))])),
    (ValueError, r"^concat: arrays is empty", lambda t, mk: xp.concat([])),
    (ValueError, r"^squeeze: axis 0 of x of shape \(3, 4\) has size 3", lambda t, mk: xp.squeeze(t, axis=0)),
    (ValueError, r"^roll: shift \(1, 2\) is a tuple", lambda t, mk: xp.roll(t, (1, 2), axis=0)),
    (IndexError, r"expand_dims", lambda t, mk: xp.expand_dims(t, axis=4)),
    (ValueError, r"^meshgrid: indexing must be 'xy' or 'ij'", lambda t, mk: xp.meshgrid(t[0, ...], indexing="yx")),
    (ValueError, r"^broadcast_to: shapes \(3, 4\), \(2, 4\) do not broadcast", lambda t, mk: xp.broadcast_to(t, (2, 4))),
    (ValueError, r"^tril: x must have at least 2 dimensions", lambda t, mk: xp.tril(t[0, ...])),
    (ValueError, r"^repeat: repeats must be >= 0", lambda t, mk: xp.repeat(t, -1)),
    (TypeError, r"^astype: dtype 'float128'", lambda t, mk: xp.astype(t, "float128")),
    (ValueError, r"^take_along_axis: indices has 1 dimensions and x 2", lambda t, mk: xp.take_along_axis(t, mk(I([0])))),
]


@pytest.mark.parametrize("exc, match, call", ERRORS, ids=[e[1].strip("^").split(":")[0] + str(i) for i, e in enumerate(ERRORS)])
def test_errors_name_the_function(backend, mk, exc, match, call):
    t = xpgrad.tensor(backend.asarray(np.ones((3, 4))), requires_grad=True)
    with pytest.raises(exc, match=match):
        call(t, mk)


# -- where take and take_along_axis send their gradients -----------------------


def _scattered(shape, positions, g):
    """The reference gradient: ``g`` added at ``positions`` (tuples of
    coordinates, one per element of g), by hand with numpy.add.at."""
    dx = np.zeros(shape)
    np.add.at(dx, positions, g)
    return dx


TAKE_CASES = [
    # id, x shape, indices, axis, the coordinates each output element reads
    ("middle-axis-negative", (2, 4, 3), [2, -1, 0, 2], 1,
     lambda i, j, k: (i, [2, 3, 0, 2][j], k)),
    ("first-axis", (3, 2), [-3, 1, 1], 0, lambda j, k: ([0, 1, 1][j], k)),
    ("last-axis", (2, 5), [4, 0, -5, 3], -1, lambda i, j: (i, [4, 0, 0, 3][j])),
]


@pytest.mark.parametrize("case", TAKE_CASES, ids=[c[0] for c in TAKE_CASES])
def test_take_gradient_goes_to_the_taken_elements(backend, case):
    _, shape, idx, axis, coords = case
    x = xpgrad.tensor(backend.asarray(np.arange(np.prod(shape), dtype=float).reshape(shape)), requires_grad=True)
    out = xp.take(x, backend.asarray(np.array(idx)), axis=axis)
    g = np.arange(1.0, 1.0 + np.prod(out.shape)).reshape(out.shape)
    out.backward(xpgrad.tensor(backend.asarray(g)))
    where = [coords(*c) for c in np.ndindex(out.shape)]
    expected = _scattered(shape, tuple(np.array(where).T), g.ravel())
    np.testing.assert_array_equal(host(x.grad), expected)


TAKE_ALONG_CASES = [
    # id, x shape, indices, axis
    ("middle-axis", (2, 4, 3), np.array([[[3, 0, -1]], [[1, 1, 2]]]), 1),
    ("broadcast-indices", (3, 4), np.array([[0, -1, 2, 2]]), 0),
    ("broadcast-x", (1, 5), np.array([[4], [0], [-2]]), 1),
    ("repeats-last", (2, 3), np.array([[2, 2, 0, -1], [1, 1, 1, 0]]), -1),
]


@pytest.mark.parametrize("case", TAKE_ALONG_CASES, ids=[c[0] for c in TAKE_ALONG_CASES])
def test_take_along_axis_gradient_goes_to_the_taken_elements(backend, case):
    _, shape, idx, axis = case
    if backend.name == "dask":
        pytest.skip("dask has no take_along_axis")
    x0 = np.arange(np.prod(shape), dtype=float).reshape(shape)
    x = xpgrad.tensor(backend.asarray(x0), requires_grad=True)
    out = xp.take_along_axis(x, backend.asarray(idx), axis=axis)
    g = np.arange(1.0, 1.0 + np.prod(out.shape)).reshape(out.shape)
    out.backward(xpgrad.tensor(backend.asarray(g)))
    # where each output element came from, read off numpy on the flat positions
    flat = np.take_along_axis(np.arange(x0.size).reshape(shape), idx, axis=axis)
    expected = np.zeros(x0.size)
    np.add.at(expected, flat.ravel(), np.broadcast_to(g, flat.shape).ravel())
    np.testing.assert_array_equal(host(x.grad), expected.reshape(shape))


def test_take_along_the_flattened_x():
    x = xpgrad.tensor(np.arange(4.0), requires_grad=True)
    xp.take_along_axis(x, np.array([1, 1, -1]), axis=None).backward(np.array([1.0, 2.0, 5.0]))
    np.testing.assert_array_equal(x.grad, [0.0, 3.0, 0.0, 5.0])


def test_jax_index_out_of_range_sends_its_gradient_nowhere():
    """JAX reads a fill value (NaN) at an index out of range instead of raising:
    that output element's gradient belongs to no element of x."""
    jnp = pytest.importorskip("jax.numpy")
    x = xpgrad.tensor(jnp.arange(6.0).reshape(2, 3), requires_grad=True)
    xp.take_along_axis(x, jnp.array([[3], [0]]), axis=1).backward(jnp.ones((2, 1)))
    np.testing.assert_array_equal(np.asarray(x.grad), [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    x.grad = None
    xp.take(x, jnp.array([3, 1]), axis=1).backward(jnp.ones((2, 2)))
    np.testing.assert_array_equal(np.asarray(x.grad), [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
@pytest.mark.parametrize("into, of", [("float64", "float32"), ("float32", "float64"), ("complex128", "float64")])
def test_setitem_with_an_index_array_casts_the_value_as_numpy_does(backend, into, of):
    # torch's index_put refused a value of another dtype ("Index put requires
    # the source and destination dtypes match"), where slices and NumPy cast it:
    # array-api-extra's at(x)[idx].set(y) raised on torch data
    z = xpgrad.tensor(backend.asarray(np.zeros(3).astype(into))) * 1.0
    v = xpgrad.tensor(backend.asarray(np.array([1.5, 2.5]).astype(of)), requires_grad=True)
    z[backend.asarray(np.array([0, 2]))] = v
    assert dtype_name(z.data) == into
    np.testing.assert_array_equal(host(z), [1.5, 0.0, 2.5])
    xp.sum(xp.real(z) * 2.0).backward()
    assert dtype_name(v.grad) == of
    np.testing.assert_array_equal(host(v.grad), [2.0, 2.0])


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_copy_false_never_copies(backend):
    # reshape(copy=False) copied where the layout has no view, so a write into the result
    # left x alone; astype(copy=False) to x's own dtype made a new array (the standard:
    # a ValueError for the one, x itself for the other)
    t = xpgrad.tensor(backend.asarray(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"^reshape: copy=False, but x's layout"):
        xp.reshape(t.T, (-1,), copy=False)
    r = xp.reshape(t, (-1,), copy=False)
    r[4] = 7.0
    assert float(t[1, 1]) == 7.0  # a view, written through
    assert xp.astype(t, xp.float64, copy=False) is t
    assert xp.astype(t, xp.float32, copy=False).dtype == xp.float32


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch", "array_api_strict")), indirect=True)
def test_diff_of_order_zero_and_past_the_axis_length(backend):
    # n=0 returned x with prepend and append attached ([9, 1, 2, 4], and a gradient for
    # prepend), where NumPy, torch and JAX return x; array_api_strict refused x[1:] once
    # the axis was empty (n=2 of one element)
    x = xpgrad.tensor(backend.asarray(np.array([1.0, 2.0, 4.0])), requires_grad=True)
    p = xpgrad.tensor(backend.asarray(np.array([9.0])), requires_grad=True)
    y = xp.diff(x, n=0, prepend=p, append=p)
    np.testing.assert_array_equal(host(y), [1.0, 2.0, 4.0])
    xp.sum(y * y).backward()
    np.testing.assert_array_equal(host(x.grad), [2.0, 4.0, 8.0])
    assert p.grad is None
    for values, n in (([1.0], 2), ([], 1), ([1.0, 2.0], 5)):
        t = xpgrad.tensor(backend.asarray(np.array(values)), requires_grad=True)
        assert xp.diff(t, n=n).shape == (0,)
    with pytest.raises(ValueError, match=r"^diff: prepend has shape \(1, 1\), where x's is \(3,\)"):
        xp.diff(x, prepend=xpgrad.tensor(backend.asarray(np.ones((1, 1)))))
    with pytest.raises(TypeError, match=r"^diff: n must be a non-negative int; got 1.5"):
        xp.diff(x, n=1.5)


def test_torch_gathers_check_their_indices_and_take_any_integer_dtype():
    # take_along_dim wraps an index out of range (3 on an axis of 3 read x[0, 0], and its
    # gradient went to x[1, 0]); it takes int64 indices only, and index_select int32 too
    torch = pytest.importorskip("torch")
    x = xpgrad.tensor(torch.arange(6.0, dtype=torch.float64).reshape(2, 3), requires_grad=True)
    for bad in ([[3], [0]], [[-4], [0]]):
        with pytest.raises(IndexError, match=rf"^take_along_axis: index {bad[0][0]} is out of bounds"):
            xp.take_along_axis(x, torch.tensor(bad), axis=1)
    y = xp.take_along_axis(x, torch.tensor([[-3], [2]], dtype=torch.int32), axis=1)
    np.testing.assert_array_equal(host(y), [[0.0], [5.0]])
    xp.sum(y).backward()
    np.testing.assert_array_equal(host(x.grad), [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    for dtype in (torch.int16, torch.uint8):
        got = xp.take(x, torch.tensor([2, 0], dtype=dtype), axis=1)
        np.testing.assert_array_equal(host(got), [[2.0, 0.0], [5.0, 3.0]])


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_sorting_gathering_and_rolling_errors_name_their_op(backend):
    # sort of a 0-D array named take_along_axis; an axis out of range on torch gave
    # "tuple index out of range" unnamed; roll(t, 1.5) Python's bare TypeError; a float
    # in tile's repetitions a ValueError; NumPy's integers were refused by tile and tril
    t = xpgrad.tensor(backend.asarray(np.arange(6.0).reshape(2, 3)))
    idx = backend.asarray(np.array([0]))
    cases = [
        (lambda: xp.sort(xpgrad.tensor(backend.asarray(np.array(1.0)))), ValueError, r"^sort: x must have"),
        (lambda: xp.sort(t, axis=5), ValueError, r"^sort: axis 5 is out of range"),
        (lambda: xp.take(t, idx, axis=2), ValueError, r"^take: axis 2 is out of range"),
        (lambda: xp.take_along_axis(t, backend.asarray(np.array([[0]])), axis=5), ValueError,
         r"^take_along_axis: axis 5 is out of range"),
        (lambda: xp.roll(t, 1.5), TypeError, r"^roll: shift must be an int"),
        (lambda: xp.take(t, idx, axis=(0, 1)), TypeError, r"^take: axis must be an int"),
        (lambda: xp.take_along_axis(t, backend.asarray(np.array([[0]])), axis=(1,)), TypeError,
         r"^take_along_axis: axis must be an int"),
        (lambda: xp.tile(t, (1.0, 1)), TypeError, r"^tile: repetitions must be"),
    ]
    for call, kind, match in cases:
        with pytest.raises(kind, match=match):
            call()
    w = xpgrad.tensor(backend.asarray(np.arange(3.0)), requires_grad=True)
    xp.sum(xp.roll(w, (), axis=()) * 2.0).backward()  # torch asked for shifts, both ways
    np.testing.assert_array_equal(host(w.grad), [2.0, 2.0, 2.0])
    s = xpgrad.tensor(backend.asarray(np.arange(3.0)))
    np.testing.assert_array_equal(host(xp.roll(s, np.int64(1))), [2.0, 0.0, 1.0])
    np.testing.assert_array_equal(host(xp.tile(t, (np.int64(2), 1))), np.tile(np.arange(6.0).reshape(2, 3), (2, 1)))
    np.testing.assert_array_equal(host(xp.tril(t, k=np.int64(-1))), [[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    assert xp.repeat(t, np.int64(2)).shape == (12,)  # a number, not a NumPy array beside torch's

"""The higher-order API: ``backward(create_graph=True)``, ``xpgrad.autograd.grad``,
the transforms (grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp),
``custom_vjp`` and ``checkpoint``: their values against closed forms, torch
and JAX, their return structures and types, nesting, and their errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xp
from tests.support import backend_params, host

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


def cubic(x):
    """sum(x^3) + x0 * x1: gradient 3x^2 + (x1, x0, 0..); Hessian diag(6x) + the pair."""
    return xp.sum(x ** 3) + x[0] * x[1]


X = np.array([1.0, 2.0, -0.5])


def cubic_grad(x):
    g = 3 * x ** 2
    g[0] += x[1]
    g[1] += x[0]
    return g


def cubic_hessian(x):
    h = np.diag(6 * x)
    h[0, 1] = h[1, 0] = 1.0
    return h


# -- backward(create_graph=True) and autograd.grad ---------------------------------


def test_backward_create_graph_gives_a_grad_that_differentiates_again():
    x = xpgrad.tensor(X, requires_grad=True)
    cubic(x).backward(create_graph=True)
    g = x.grad
    assert isinstance(g, xpgrad.Tensor) and g.requires_grad
    np.testing.assert_allclose(g.numpy() if not g.requires_grad else g.data, cubic_grad(X))
    x.grad = None
    (g * xpgrad.tensor([1.0, 0.0, 0.0])).sum().backward()
    np.testing.assert_allclose(x.grad, cubic_hessian(X)[0])


def test_backward_create_graph_accumulates_into_an_existing_grad():
    x = xpgrad.tensor(X, requires_grad=True)
    x.grad = np.ones(3)
    cubic(x).backward(create_graph=True)
    np.testing.assert_allclose(x.grad.data, cubic_grad(X) + 1)


def test_create_graph_retains_the_graph_by_default():
    x = xpgrad.tensor(X, requires_grad=True)
    y = cubic(x)
    y.backward(create_graph=True)
    y.backward(create_graph=True)  # the graph is still there
    np.testing.assert_allclose(x.grad.data, 2 * cubic_grad(X))
    z = cubic(x)
    z.backward(create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="released"):
        z.backward()


def test_autograd_grad_touches_no_grad_and_matches_torch():
    x = xpgrad.tensor(X, requires_grad=True)
    w = xpgrad.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = xp.sum(xp.exp(x * w) * xp.sin(x))
    gx, gw = xpgrad.autograd.grad(y, [x, w], create_graph=True)
    (hxx, hxw) = xpgrad.autograd.grad(xp.sum(gx * gx), [x, w])
    assert x.grad is None and w.grad is None
    assert not hxx.requires_grad

    tx = torch.tensor(X, requires_grad=True)
    tw = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ty = (torch.exp(tx * tw) * torch.sin(tx)).sum()
    rx, rw = torch.autograd.grad(ty, [tx, tw], create_graph=True)
    rxx, rxw = torch.autograd.grad((rx * rx).sum(), [tx, tw])
    for a, b in [(gx, rx), (gw, rw), (hxx, rxx), (hxw, rxw)]:
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12)


def test_autograd_grad_of_an_intermediate_and_unused_inputs():
    x = xpgrad.tensor(X, requires_grad=True)
    u = xpgrad.tensor([1.0], requires_grad=True)
    h = x * 2.0
    y = xp.sum(h ** 2)
    (gh,) = xpgrad.autograd.grad(y, h, retain_graph=True)
    np.testing.assert_allclose(gh.data, 4 * X)
    with pytest.raises(RuntimeError, match=r"inputs\[1\] was not used"):
        xpgrad.autograd.grad(y, [x, u], retain_graph=True)
    gx, gu = xpgrad.autograd.grad(y, [x, u], allow_unused=True)
    assert gu is None
    np.testing.assert_allclose(gx.data, 8 * X)


def test_autograd_grad_errors_name_the_function():
    x = xpgrad.tensor(X, requires_grad=True)
    y = xp.sum(x * x)
    with pytest.raises(TypeError, match="autograd.grad: inputs"):
        xpgrad.autograd.grad(y, X)
    with pytest.raises(RuntimeError, match=r"autograd.grad: inputs\[0\] does not require grad"):
        xpgrad.autograd.grad(y, xpgrad.tensor(X))
    with pytest.raises(RuntimeError, match=r"outputs\[0\] does not require grad"):
        xpgrad.autograd.grad(xpgrad.tensor(1.0), x)
    with pytest.raises(ValueError, match="autograd.grad: grad_outputs can be omitted only"):
        xpgrad.autograd.grad(x * 2.0, x)
    with pytest.raises(ValueError, match="2 entries for 1 outputs"):
        xpgrad.autograd.grad(y, x, [None, None])
    with pytest.raises(TypeError, match=r"^autograd.grad: grad_outputs must be an array, a Tensor or a sequence"):
        xpgrad.autograd.grad(y, x, 2.0)  # Python's "'float' object is not iterable"
    (g,) = xpgrad.autograd.grad(y, x, (s for s in [None]))  # any iterable, as torch's
    np.testing.assert_allclose(g.data, 2 * X)


def test_grad_outputs_with_a_graph_are_differentiated_through():
    x = xpgrad.tensor(X, requires_grad=True)
    v = xpgrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (g,) = xpgrad.autograd.grad(x * x, x, v, create_graph=True)  # 2 x v
    (gv,) = xpgrad.autograd.grad(xp.sum(g), v)
    np.testing.assert_allclose(gv.data, 2 * X)


# -- the transforms -------------------------------------------------------------


def test_grad_value_and_grad_and_hessian_closed_form():
    np.testing.assert_allclose(xpgrad.grad(cubic)(X), cubic_grad(X))
    value, g = xpgrad.value_and_grad(cubic)(X)
    assert float(value) == pytest.approx(np.sum(X ** 3) + X[0] * X[1])
    np.testing.assert_allclose(g, cubic_grad(X))
    h = xpgrad.hessian(cubic)(X)
    assert type(h) is np.ndarray and h.shape == (3, 3)
    np.testing.assert_allclose(h, cubic_hessian(X))
    np.testing.assert_allclose(xpgrad.hvp(cubic, X, np.array([1.0, -1.0, 2.0])),
                               cubic_hessian(X) @ np.array([1.0, -1.0, 2.0]))


def test_nested_grad_closes_over_the_outer_variable():
    # d/dx [x * d/dy (x * y)] = d/dx x^2 = 2x
    f = xpgrad.grad(lambda x: x * xpgrad.grad(lambda y: x * y)(2.0))
    assert float(f(3.0)) == 6.0
    third = xpgrad.grad(xpgrad.grad(xpgrad.grad(lambda x: x ** 4)))
    assert float(third(2.0)) == pytest.approx(48.0)


def test_argnums_tuples_and_has_aux():
    def f(a, b, c):
        return xp.sum(a * b ** 2) + c, {"norm": xp.sum(a)}

    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    (ga, gb), aux = xpgrad.grad(f, argnums=(0, 1), has_aux=True)(a, b, 5.0)
    np.testing.assert_allclose(ga, b ** 2)
    np.testing.assert_allclose(gb, 2 * a * b)
    assert type(aux["norm"]) is np.ndarray and float(aux["norm"]) == 3.0  # native, as the rest
    (value, aux), g = xpgrad.value_and_grad(f, argnums=-1, has_aux=True)(a, b, 5.0)
    assert float(g) == 1.0
    h = xpgrad.hessian(lambda a, b: xp.sum(a * b ** 2), argnums=(0, 1))(a, b)
    assert isinstance(h, tuple) and isinstance(h[0], tuple)
    np.testing.assert_allclose(h[0][0], np.zeros((2, 2)))
    np.testing.assert_allclose(h[0][1], np.diag(2 * b))
    np.testing.assert_allclose(h[1][0], np.diag(2 * b))
    np.testing.assert_allclose(h[1][1], np.diag(2 * a))


def test_jacobian_shape_and_structure_match_jax_jacrev():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    x = np.arange(6.0).reshape(2, 3) / 4

    def f(x, ns):
        return ns.sin(x) @ ns.ones((3, 4)) * x[0, 0], ns.exp(x[0])

    ours = xpgrad.jacobian(lambda t: f(t, xp))(x)
    ref = jax.jacrev(lambda t: f(t, jnp))(jnp.asarray(x))
    assert isinstance(ours, tuple) and len(ours) == 2
    for a, b in zip(ours, ref):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-12)


def test_jvp_and_vjp_match_torch_func():
    from torch.func import jvp as tjvp, vjp as tvjp

    x, v = np.array([0.3, -1.2, 2.0]), np.array([1.0, 0.5, -2.0])

    def f(t, ns):
        return ns.tanh(t) * ns.sum(t ** 2)

    out, tan = xpgrad.jvp(lambda t: f(t, xp), (x,), (v,))
    r_out, r_tan = tjvp(lambda t: f(t, torch), (torch.tensor(x),), (torch.tensor(v),))
    np.testing.assert_allclose(out, r_out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tan, r_tan.numpy(), rtol=1e-12)

    out, back = xpgrad.vjp(lambda t: f(t, xp), x)
    _, r_back = tvjp(lambda t: f(t, torch), torch.tensor(x))
    for ct in (np.ones(3), v):  # vjp_fn can be called more than once
        (g,) = back(ct)
        np.testing.assert_allclose(g, r_back(torch.tensor(ct))[0].numpy(), rtol=1e-12)


def test_vjp_with_aux_and_several_outputs():
    x = np.array([1.0, 2.0])
    (o1, o2), back, aux = xpgrad.vjp(lambda t: ((t * t, xp.sum(t)), "aux"), x, has_aux=True)
    assert aux == "aux"
    (g,) = back((np.array([1.0, 1.0]), np.array(2.0)))
    np.testing.assert_allclose(g, 2 * x + 2)


@pytest.mark.parametrize("backend", backend_params(("numpy", "array_api_strict", "torch", "jax")),
                         indirect=True)
def test_transforms_answer_in_the_arguments_library(backend):
    x = backend.asarray(X)
    g = xpgrad.grad(cubic)(x)
    h = xpgrad.hessian(cubic)(x)
    hv = xpgrad.hvp(cubic, x, backend.asarray(np.ones(3)))
    for got, want in [(g, cubic_grad(X)), (h, cubic_hessian(X)), (hv, cubic_hessian(X).sum(1))]:
        assert type(got) is type(x)
        np.testing.assert_allclose(host(got), want, rtol=1e-12)


def test_transforms_in_float32_keep_float32():
    x = X.astype(np.float32)
    assert xpgrad.grad(cubic)(x).dtype == np.float32
    assert xpgrad.hessian(cubic)(x).dtype == np.float32


def test_transforms_leave_grad_alone_and_work_inside_no_grad():
    w = xpgrad.tensor([2.0], requires_grad=True)
    with xpgrad.no_grad():
        g = xpgrad.grad(lambda x: xp.sum(x * x))(X)
    np.testing.assert_allclose(g, 2 * X)
    # a closed-over Tensor that requires grad gets no .grad from a transform
    xpgrad.grad(lambda x: xp.sum(x * w))(X)
    assert w.grad is None


def test_transforms_on_tensors_stay_joined_to_the_outer_graph():
    w = xpgrad.tensor([2.0, 3.0], requires_grad=True)
    g = xpgrad.grad(lambda x: xp.sum(x * x * w))(np.array([1.0, 1.0]))  # closes over w
    assert isinstance(g, xpgrad.Tensor)  # w requires grad: the result has its graph
    xp.sum(g).backward()
    np.testing.assert_allclose(w.grad, [2.0, 2.0])


V = np.array([0.5, -1.0, 2.0])

# Each transform called inside no_grad() within an outer grad: its result is a
# constant there, as torch.func's transforms inside torch.no_grad().
# (name, xpgrad's inner call on x, torch.func's inner call on x)
INNER_UNDER_NO_GRAD = [
    ("grad", lambda x: xpgrad.grad(lambda y: xp.sum(y ** 3 * x))(x),
     lambda x: torch.func.grad(lambda y: torch.sum(y ** 3 * x))(x)),
    ("value_and_grad", lambda x: xpgrad.value_and_grad(lambda y: xp.sum(y ** 3 * x))(x)[1],
     lambda x: torch.func.grad_and_value(lambda y: torch.sum(y ** 3 * x))(x)[0]),
    ("hvp", lambda x: xpgrad.hvp(lambda y: xp.sum(y ** 3 * x), x, xp.asarray(V)),
     lambda x: torch.func.jvp(torch.func.grad(lambda y: torch.sum(y ** 3 * x)), (x,),
                              (torch.tensor(V),))[1]),
    ("jvp", lambda x: xpgrad.jvp(lambda y: y ** 3 * x, (x,), (xp.asarray(V),))[1],
     lambda x: torch.func.jvp(lambda y: y ** 3 * x, (x,), (torch.tensor(V),))[1]),
    ("vjp", lambda x: xpgrad.vjp(lambda y: y ** 3 * x, x)[1](xp.asarray(V))[0],
     lambda x: torch.func.vjp(lambda y: y ** 3 * x, x)[1](torch.tensor(V))[0]),
    ("jacobian", lambda x: xpgrad.jacobian(lambda y: y ** 3 * x)(x),
     lambda x: torch.func.jacrev(lambda y: y ** 3 * x)(x)),
    ("hessian", lambda x: xpgrad.hessian(lambda y: xp.sum(y ** 3 * x))(x),
     lambda x: torch.func.hessian(lambda y: torch.sum(y ** 3 * x))(x)),
]


@pytest.mark.parametrize("case", INNER_UNDER_NO_GRAD, ids=[c[0] for c in INNER_UNDER_NO_GRAD])
def test_a_transform_inside_no_grad_is_a_constant_to_the_outer_one(case):
    _, inner, t_inner = case

    def outer(x):
        with xpgrad.no_grad():
            c = inner(x)  # closes over x, and takes it as its argument (no op after it)
        assert isinstance(c, xpgrad.Tensor) and not c.requires_grad
        return xp.sum(c * x)

    def t_outer(x):
        with torch.no_grad():
            c = t_inner(x)
        return torch.sum(c * x)

    want = torch.func.grad(t_outer)(torch.tensor(X)).numpy()
    np.testing.assert_allclose(xpgrad.grad(outer)(X), want, rtol=1e-12)
    # without no_grad(), the inner result's dependence on x counts
    full = xpgrad.grad(lambda x: xp.sum(inner(x) * x))(X)
    assert not np.allclose(full, want)
    # so with a Tensor that requires grad, outside any transform
    w = xpgrad.tensor(X, requires_grad=True)
    with xpgrad.no_grad():
        c = inner(w)
    assert not c.requires_grad
    np.testing.assert_allclose(c.data, t_inner(torch.tensor(X)).numpy(), rtol=1e-12)


TRANSFORM_ERRORS = [
    (lambda: xpgrad.grad(lambda x: x * 2.0)(X), TypeError, "grad.*scalar.*shape"),
    (lambda: xpgrad.grad(cubic)(np.array([1, 2, 3])), TypeError, "dtype int64"),
    (lambda: xpgrad.grad(lambda x: x)(3), TypeError, "integer"),
    (lambda: xpgrad.grad(cubic, argnums=1)(X), ValueError, "argnums 1 is out of range"),
    (lambda: xpgrad.grad(cubic, argnums=0.5)(X), TypeError, "argnums must be an int"),
    (lambda: xpgrad.grad(cubic)("abc"), TypeError, "must be an array"),
    (lambda: xpgrad.grad(lambda x: (cubic(x), 1, 2), has_aux=True)(X), TypeError, "pair"),
    (lambda: xpgrad.hvp(cubic, (X, X), (X,)), ValueError, "hvp: 2 arguments but 1"),
    (lambda: xpgrad.jvp(cubic, X, X), TypeError, "jvp: primals and tangents must be tuples"),
]


@pytest.mark.parametrize("call, kind, match", TRANSFORM_ERRORS)
def test_transform_errors_name_the_transform(call, kind, match):
    with pytest.raises(kind, match=match):
        call()


def test_a_function_independent_of_its_argument_has_zero_derivatives():
    assert np.all(xpgrad.grad(lambda x: xp.sum(xp.ones(3)))(X) == 0)
    np.testing.assert_allclose(xpgrad.hessian(lambda x: xp.sum(x))(X), np.zeros((3, 3)))


# -- custom_vjp and checkpoint ---------------------------------------------------


@xpgrad.custom_vjp
def log1pexp(x):
    return xp.log(1.0 + xp.exp(x))


def _log1pexp_fwd(x):
    return log1pexp(x), x


def _log1pexp_bwd(x, g):
    # a stable form of the derivative, sigmoid(x) = 1 - 1 / (1 + exp(x)), in Array API code
    return (g * (1.0 - 1.0 / (1.0 + xp.exp(x))),)


log1pexp.defvjp(_log1pexp_fwd, _log1pexp_bwd)


def test_custom_vjp_first_and_second_order():
    x = np.array([-3.0, 0.0, 2.0, 40.0])
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(xpgrad.grad(lambda t: xp.sum(log1pexp(t)))(x), sig)
    h = xpgrad.hessian(lambda t: xp.sum(log1pexp(t)))(x)
    np.testing.assert_allclose(h, np.diag(sig * (1 - sig)), atol=1e-15)
    t = xpgrad.tensor(x, requires_grad=True)
    xp.sum(log1pexp(t) * 2.0).backward()
    np.testing.assert_allclose(t.grad, 2 * sig)


def test_custom_vjp_that_changes_the_gradient_is_used():
    @xpgrad.custom_vjp
    def clipped(x):
        return x

    clipped.defvjp(lambda x: (x, None), lambda res, g: (xp.clip(g, -1.0, 1.0),))
    g = xpgrad.grad(lambda x: xp.sum(clipped(x) * xp.asarray([5.0, 0.5])))(np.array([1.0, 1.0]))
    np.testing.assert_allclose(g, [1.0, 0.5])


def test_custom_vjp_errors():
    @xpgrad.custom_vjp
    def f(x):
        return x * 2.0

    with pytest.raises(TypeError, match="no rule yet"):
        xpgrad.grad(lambda x: xp.sum(f(x)))(X)
    f.defvjp(lambda x: (x * 2.0, None), lambda res, g: g)
    with pytest.raises(TypeError, match="must return a tuple of 1"):
        xpgrad.grad(lambda x: xp.sum(f(x)))(X)


def test_checkpoint_gives_the_same_derivatives_and_keeps_only_its_inputs():
    calls = []

    def block(x):
        calls.append(1)
        return xp.sum(xp.tanh(x) ** 2 * xp.exp(x))

    f = xpgrad.checkpoint(block)
    np.testing.assert_allclose(xpgrad.grad(f)(X), xpgrad.grad(block)(X), rtol=1e-14)
    assert len(calls) == 3  # the plain call, the checkpointed forward and its rerun
    np.testing.assert_allclose(xpgrad.hessian(f)(X), xpgrad.hessian(block)(X), rtol=1e-13)
    x = xpgrad.tensor(X, requires_grad=True)
    out = f(x)
    assert out._node.saved.f is block  # what the node keeps: the function and its inputs
    out.backward()
    np.testing.assert_allclose(x.grad, xpgrad.grad(block)(X), rtol=1e-14)


def test_the_graph_is_released_when_a_transform_returns():
    import gc
    import weakref

    saved = []  # exp's result, which the exp and mul nodes save

    def f(x):
        e = xp.exp(x)
        saved.append(weakref.ref(e.data))
        return xp.sum(e * x)

    xpgrad.grad(f)(X)
    xpgrad.hessian(f)(X)
    xpgrad.hvp(f, X, X)
    _, back = xpgrad.vjp(f, X)
    alive = saved.pop()
    gc.collect()
    assert saved and all(ref() is None for ref in saved)
    assert alive() is not None  # vjp_fn keeps its graph, for as long as it lives
    del back
    gc.collect()
    assert alive() is None


# -- what an independent review found, each fixed and kept fixed ------------------------


def test_assigning_into_an_argument_inside_a_transform():
    def f(x):
        x[0] = 5.0  # the gradient is at x as given, before the assignment
        return xp.sum(x * x)

    np.testing.assert_allclose(xpgrad.grad(f)(X), [0.0, 2 * X[1], 2 * X[2]])

    def h(x):
        x[0] = x[1] ** 2
        return xp.sum(x ** 3)

    t = torch.tensor(X)
    ref = torch.autograd.functional.hessian(
        lambda v: (torch.cat([v[1:2] ** 2, v[1:]]) ** 3).sum(), t).numpy()
    np.testing.assert_allclose(xpgrad.hessian(h)(X), ref, rtol=1e-12)
    w = xpgrad.tensor(X, requires_grad=True)
    np.testing.assert_allclose(xpgrad.grad(f)(w).data, [0.0, 2 * X[1], 2 * X[2]])


def test_a_recorded_backward_inside_no_grad_is_recorded_whole():
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    u = x ** 3
    y = xp.sum(xp.sin(u) * xp.cos(u))
    with xpgrad.no_grad():
        (g,) = xpgrad.autograd.grad(y, x, create_graph=True)
    (h,) = xpgrad.autograd.grad(xp.sum(g), x)
    t = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ut = t ** 3
    (gt,) = torch.autograd.grad((torch.sin(ut) * torch.cos(ut)).sum(), t, create_graph=True)
    (ht,) = torch.autograd.grad(gt.sum(), t)
    np.testing.assert_allclose(h.data, ht.numpy(), rtol=1e-12)


def test_autograd_grad_needs_only_the_nodes_it_goes_through():
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    x = xpgrad.tensor([3.0, 4.0], requires_grad=True)
    h = xp.exp(w)
    xp.sum(h).backward()  # releases h's node
    (gx,) = xpgrad.autograd.grad(xp.sum(x * h), x)  # h's node is not needed for x
    np.testing.assert_allclose(gx.data, np.exp([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="released"):
        xpgrad.autograd.grad(xp.sum(x * h), w)


def test_torch_zero_d_promotion_under_a_recorded_backward():
    p = torch.tensor([1.0, 2.0], dtype=torch.float32)
    q = torch.tensor(3.0, dtype=torch.float64)
    hp, hq = xpgrad.hvp(lambda p, q: xp.sum(p * q * p), (p, q),
                        (torch.ones(2, dtype=torch.float32), torch.tensor(1.0, dtype=torch.float64)))
    assert hp.dtype == torch.float32 and hq.dtype == torch.float64
    np.testing.assert_allclose(hp.numpy(), [8.0, 10.0])
    assert float(hq) == 6.0


def test_closures_over_tensors_are_refused_by_checkpoint_and_custom_vjp():
    w = xpgrad.tensor([2.0, 3.0], requires_grad=True)
    x = xpgrad.tensor([1.0, 1.0], requires_grad=True)
    out = xpgrad.checkpoint(lambda t: xp.sum(xp.exp(t) * w))(x)
    with pytest.raises(TypeError, match="checkpoint: the function uses a Tensor that requires grad"):
        out.backward()

    @xpgrad.custom_vjp
    def scaled(t):
        return t * w

    scaled.defvjp(lambda t: (t * w, None), lambda res, g: (g,))
    with pytest.raises(TypeError, match="custom_vjp: scaled uses a Tensor that requires grad"):
        scaled(x)


def test_custom_vjp_bwd_results_are_checked_and_cast():
    @xpgrad.custom_vjp
    def f(t):
        return t * 2.0

    f.defvjp(lambda t: (t * 2.0, None), lambda res, g: (xp.sum(g),))
    with pytest.raises(ValueError, match=r"custom_vjp: the bwd of f gave shape \(\) for argument 0"):
        xpgrad.grad(lambda t: xp.sum(f(t)))(X)
    f.defvjp(lambda t: (t * 2.0, None), lambda res, g: (2.0,))
    with pytest.raises(TypeError, match="gave float for argument 0"):
        xpgrad.grad(lambda t: xp.sum(f(t)))(X)
    f.defvjp(lambda t: (t * 2.0, None), lambda res, g: (xp.astype(g * 2.0, xp.float32),))
    g = xpgrad.grad(lambda t: xp.sum(f(t)))(X)
    assert g.dtype == np.float64  # the argument's dtype
    np.testing.assert_allclose(g, [2.0, 2.0, 2.0])
    # a NumPy gradient for torch data became the argument's gradient as it was,
    # and an optimizer's step failed later without naming the bwd
    f.defvjp(lambda t: (t * 2.0, None), lambda res, g: (np.full(3, 2.0),))
    with pytest.raises(TypeError, match=r"^custom_vjp: the bwd of f gave a numpy array for "
                                        r"argument 0, whose data is torch"):
        xpgrad.grad(lambda t: xp.sum(f(t)))(torch.asarray(X))


def test_checkpoint_takes_keywords_constant_tensors_and_paths_without_gradient():
    c = xpgrad.tensor([1.0, 2.0])  # a Tensor argument that needs no gradient
    f = xpgrad.checkpoint(lambda t, k, *, scale: xp.sum(xp.exp(t) * k) * scale)
    x = xpgrad.tensor([0.5, 1.5], requires_grad=True)
    f(x, c, scale=3.0).backward()
    np.testing.assert_allclose(x.grad, 3.0 * np.exp([0.5, 1.5]) * [1.0, 2.0])
    g = xpgrad.grad(lambda t: xp.sum(xpgrad.checkpoint(lambda u: xp.astype(u > 0, u.dtype))(t)))(X)
    np.testing.assert_array_equal(g, np.zeros(3))


@pytest.mark.parametrize("read", [float, lambda t: t.item()], ids=["float", "item"])
@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "hessian"])
def test_a_python_number_made_of_an_argument_is_refused_not_a_zero_gradient(read, transform):
    # float(...) of the loss (as scikit-learn's metrics return it) gave a gradient of 0
    f = getattr(xpgrad, transform)(lambda t: read(xp.sum(t * t)))
    with pytest.raises(TypeError, match=rf"^{transform}: the function returned float .*no gradient"):
        f(np.array([3.0]))


@pytest.mark.parametrize("assigned", ["constant", "non_leaf"])
def test_checkpoint_reruns_on_the_values_of_the_call(assigned):
    # an assignment into an argument after the call changed what the rerun read
    leaf = xpgrad.tensor([1.0, 2.0], requires_grad=assigned == "non_leaf")
    x = leaf * 1.0
    w = xpgrad.tensor([0.5, 1.5], requires_grad=True)
    c = xpgrad.tensor([1.0, 1.0]) * 1.0
    out = xpgrad.checkpoint(lambda x, w, c: xp.sum(xp.sin(x * w) * c))(x, w, c=c)
    x[0] = 100.0
    c[0] = 5.0  # a keyword argument, too
    out.backward()
    xv, wv = np.array([1.0, 2.0]), np.array([0.5, 1.5])  # the values of the call
    np.testing.assert_allclose(w.grad, xv * np.cos(xv * wv))
    if assigned == "non_leaf":
        np.testing.assert_allclose(leaf.grad, wv * np.cos(xv * wv))


@pytest.mark.parametrize("how", ["setitem", "iadd", "keyword"])
def test_checkpoint_refuses_a_function_that_writes_into_its_argument(how):
    # its first pass runs without a graph: t's data changed while its node
    # still said t = x * 1, and the gradient of a later (t ** 2).sum() came
    # out [4, 8, 12] where the same code without checkpoint gives [8, 16, 24]
    def f(t, s=None):
        t = t if s is None else s
        if how == "iadd":
            t += 1.0
        else:
            t[0] = t[0] * 2.0
        return xp.sum(t * t)

    x = xpgrad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    t = x * 1.0
    where = "keyword argument 's'" if how == "keyword" else "argument 0"
    with pytest.raises(RuntimeError, match=rf"^checkpoint: the function wrote into its {where} in place"):
        if how == "keyword":
            xpgrad.checkpoint(f)(xpgrad.tensor(1.0, requires_grad=True), s=t)
        else:
            xpgrad.checkpoint(f)(t)


@pytest.mark.parametrize("checkpointed", [False, True])
def test_a_leaf_rebound_after_the_forward_gets_derivatives_at_the_values_read(checkpointed):
    # an optimizer's step rebinds a leaf's data under no_grad; a recorded
    # backward refused (plain ops) or read the new values (checkpoint: [0, 3])
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    cube = (lambda t: xp.sum(t * t * t))
    y = (xpgrad.checkpoint(cube) if checkpointed else cube)(x)
    with xpgrad.no_grad():
        x -= 1.0
    (g,) = xpgrad.autograd.grad(y, [x], create_graph=True)
    np.testing.assert_allclose(g.data, [3.0, 12.0])  # 3 x^2 at the values read
    (h,) = xpgrad.autograd.grad(xp.sum(g), [x])
    np.testing.assert_allclose(h.data, [6.0, 12.0])
    with xpgrad.no_grad():  # a new shape cannot stand for the values read
        x.data = np.zeros(3)
    op = "checkpoint" if checkpointed else "mul"
    with pytest.raises(RuntimeError, match=rf"^{op}: a leaf it read was replaced since by data of shape \(3,\)"):
        xpgrad.autograd.grad(y, [x], create_graph=True)


def test_jacobian_of_a_complex_output_is_refused_not_its_real_part():
    # it gave the identity for t * (1 + 2j) of a real t: the real part only
    with pytest.raises(TypeError, match=r"^jacobian: the function returned a complex array"):
        xpgrad.jacobian(lambda t: t * (1 + 2j))(np.array([1.0, 2.0]))
    x = np.array([1.0, 2.0])  # the parts, each real, give the whole
    re = xpgrad.jacobian(lambda t: xp.real(t * (1 + 2j)))(x)
    im = xpgrad.jacobian(lambda t: xp.imag(t * (1 + 2j)))(x)
    np.testing.assert_allclose(re + 1j * im, (1 + 2j) * np.eye(2))


def test_a_python_number_read_for_control_flow_or_a_constant_is_fine():
    def f(t):
        return xp.sum(t * t) if float(xp.max(t)) > 0 else xp.sum(t)  # a branch on a value

    np.testing.assert_allclose(xpgrad.grad(f)(np.array([3.0, -1.0])), [6.0, -2.0])
    np.testing.assert_array_equal(xpgrad.grad(lambda t: 1.0)(np.array([3.0])), [0.0])  # constant

    def early_exit(t):  # a constant after a read: a review found it refused
        if float(xp.sum(t)) > 0:
            return xp.sum(t * t)
        print(f"{float(xp.sum(t)):.2f}", end="")  # a log line reads it too
        return 0.0

    # it works, and warns: such a constant looks like a number computed from a read
    with pytest.warns(UserWarning, match=r"^grad: the function returned float 0\.0, not a Tensor"):
        np.testing.assert_array_equal(xpgrad.grad(early_exit)(np.array([-1.0, -2.0])), [0.0, 0.0])
    with pytest.warns(UserWarning, match=r"^hessian: the function returned float 0\.0"):
        np.testing.assert_array_equal(xpgrad.hessian(early_exit)(np.array([-1.0, -2.0])),
                                      np.zeros((2, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # xp.asarray(0.0), the way to say so: no warning
        np.testing.assert_array_equal(
            xpgrad.grad(lambda t: xp.sum(t) if float(xp.sum(t)) > 0 else xp.asarray(0.0))(
                np.array([-1.0])), [0.0])

    def d2(t):  # scikit-learn's d2 scores: 1 - float(num) / float(den), a new float
        return 1.0 - float(xp.sum(t * t)) / float(xp.sum(t))

    with pytest.warns(UserWarning, match=r"^value_and_grad: .* if it is computed from them, its "
                                         r"gradient is lost \(0 here\)") as record:
        xpgrad.value_and_grad(d2)(np.array([1.0, 2.0]))
    assert record[0].filename == __file__  # the caller's line, whichever transform warns
    with pytest.warns(UserWarning) as record:
        xpgrad.vjp(d2, np.array([1.0, 2.0]))
    assert record[0].filename == __file__

    def truthy(t):
        return xp.sum(t * t) if xp.sum(t) else 0.0  # bool(): control flow only

    np.testing.assert_array_equal(xpgrad.grad(truthy)(np.array([0.0])), [0.0])


@pytest.mark.parametrize("transform", ["vjp", "jvp"])
def test_vjp_and_jvp_refuse_a_python_number_made_of_an_argument(transform):
    f = lambda t: float(xp.sum(t * t))  # noqa: E731
    x = np.array([3.0])
    with pytest.raises(TypeError, match=rf"^{transform}: the function returned float .*no gradient"):
        xpgrad.vjp(f, x) if transform == "vjp" else xpgrad.jvp(f, (x,), (x,))


def test_a_plain_tensor_argument_and_dict_aux_come_back_as_arrays():
    g, aux = xpgrad.grad(lambda t: (xp.sum(t * t), {"t": t * 1.0}), has_aux=True)(xpgrad.tensor(X))
    assert type(g) is np.ndarray and type(aux["t"]) is np.ndarray


def test_python_numbers_as_vectors_and_cotangents():
    assert float(xpgrad.hvp(lambda t: xp.sin(t), 1.0, 1.0)) == pytest.approx(-np.sin(1.0))
    out, tangent = xpgrad.jvp(lambda t: xp.sin(t), (1.0,), (1.0,))
    assert float(tangent) == pytest.approx(np.cos(1.0))
    _, back = xpgrad.vjp(lambda t: xp.sin(t), 1.0)
    assert float(back(2.0)[0]) == pytest.approx(2 * np.cos(1.0))
    with pytest.raises(TypeError, match="^grad: the function must return a scalar"):  # the one called
        xpgrad.grad(lambda t: np.ones(3))(X)
    with pytest.raises(TypeError, match="^value_and_grad: the function must return a scalar"):
        xpgrad.value_and_grad(lambda t: np.ones(3))(X)
    with pytest.raises(TypeError, match=r"^grad: the function must return a scalar \(shape \(\)\)"):
        xpgrad.grad(lambda t: xp.sum(t, keepdims=True))(X)


def test_a_recorded_gradient_adds_to_a_grad_of_another_library_and_zero_grad_clears_it():
    xs = pytest.importorskip("array_api_strict")
    w = xpgrad.tensor(xs.asarray([1.0, 2.0]), requires_grad=True)
    w.grad = xs.asarray([1.0, 1.0])
    xp.sum(w ** 2).backward(create_graph=True)
    np.testing.assert_allclose(np.asarray(w.grad.data), [3.0, 5.0])
    opt = xpgrad.optim.SGD([w], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(np.asarray(w.grad), [0.0, 0.0])


def test_a_rule_with_its_own_backward_says_what_second_derivatives_need():
    class twice(xpgrad.ops.Rule):
        args = ("x",)

        @staticmethod
        def forward(x):
            xp_, _ = xpgrad._backend.resolve("twice", x)
            return twice.record(xp_, xpgrad.ops._common.NO_SCOPE, None, (True,), x * 2.0)

        @staticmethod
        def backward(g, ctx):
            return (g * 2.0,)

    def loss(t):
        return xp.sum(xpgrad.apply(twice, (t,)) ** 2)

    np.testing.assert_allclose(xpgrad.grad(loss)(X), 8 * X)
    with pytest.raises(NotImplementedError, match="twice: its rule writes its own backward"):
        xpgrad.hessian(loss)(X)


def test_a_transform_in_another_thread_inside_a_transform_stays_joined():
    from concurrent.futures import ThreadPoolExecutor

    def f(x, pool):
        inner = lambda: xpgrad.grad(lambda z: xp.sum(xp.sin(z) * x))(1.0)  # noqa: E731
        y = pool.submit(inner).result()  # the worker thread does not inherit the nesting
        return xp.sum(y * x)  # cos(1) * sum(x)^2

    x = np.array([1.0, 2.0])
    with ThreadPoolExecutor(1) as pool:
        g = xpgrad.grad(lambda t: f(t, pool))(x)
    np.testing.assert_allclose(g, 2 * np.cos(1.0) * x.sum() * np.ones(2))


def test_custom_vjp_closing_over_a_transforms_argument_is_refused():
    def outer(x):
        @xpgrad.custom_vjp
        def f(t):
            return t * x  # the transform's argument, not f's

        f.defvjp(lambda t: (t * x, None), lambda res, g: (g * 2.0,))
        return xp.sum(f(xpgrad.tensor(np.array([1.0, 1.0]), requires_grad=True)))

    with pytest.raises(TypeError, match="custom_vjp: f uses a Tensor that requires grad"):
        xpgrad.grad(outer)(np.array([3.0, 4.0]))


def test_a_gradient_through_a_released_node_raises_instead_of_being_left_out():
    # autograd.grad left exp's part out (cos(x) alone), where backward() raises
    x = xpgrad.tensor([0.5, 1.0], requires_grad=True)
    a = xp.exp(x)
    xp.sum(a).backward()
    with pytest.raises(RuntimeError, match=r"^autograd.grad: the graph through this tensor was released"):
        xpgrad.autograd.grad(xp.sum(a + xp.sin(x)), x)


def test_the_gradient_of_an_intermediate_leaves_its_own_node_alone():
    # its backward ran (and was released): the custom bwd ran once, a later
    # backward through it raised, and chained checkpoints reran quadratically
    calls = []

    @xpgrad.custom_vjp
    def double(t):
        return t * 2.0

    double.defvjp(lambda t: (double(t), None), lambda r, g: (calls.append(1) or g * 2.0,))
    x = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    y = double(x)
    (gy,) = xpgrad.autograd.grad(xp.sum(xp.sin(y)), y)
    np.testing.assert_allclose(gy.data, np.cos([2.0, 4.0]))
    assert calls == []
    xp.sum(y).backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])

    runs = []

    def scale(t):
        runs.append(1)
        return t * 1.5

    step = xpgrad.checkpoint(scale)

    def chain(t):
        for _ in range(40):
            t = step(t)
        return xp.sum(t * t)

    h = xpgrad.hvp(chain, np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    np.testing.assert_allclose(h, [2 * 1.5**80, 0.0])
    assert len(runs) <= 3 * 40  # the forward, then one rerun each per reverse pass (was 900)


def test_checkpoint_gives_keyword_arguments_their_gradients():
    # a Tensor passed by keyword got no gradient (w.grad None, grad zeros)
    step = xpgrad.checkpoint(lambda x, w=None: xp.sin(x) * w)
    x0, w0 = np.array([0.5, 1.0]), np.array([2.0, 3.0])
    gx, gw = xpgrad.grad(lambda x, w: xp.sum(step(x, w=w)), (0, 1))(x0, w0)
    np.testing.assert_allclose(gx, w0 * np.cos(x0))
    np.testing.assert_allclose(gw, np.sin(x0))
    h = xpgrad.hessian(lambda w: xp.sum(step(xpgrad.tensor(x0), w=w * w)))(w0)
    np.testing.assert_allclose(h, np.diag(2 * np.sin(x0)))


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)
def test_checkpoint_reruns_with_the_calls_random_numbers(backend):
    # the rerun drew new noise from the global generator, so the gradient was
    # of another function (dropout under checkpoint); torch's checkpoint keeps
    # the RNG state, and so does xpgrad's now
    if backend.name == "torch":
        import torch

        seed = torch.manual_seed

        def noise(n):
            return torch.randn(n, dtype=torch.float64)
    else:
        seed = np.random.seed

        def noise(n):
            return np.random.standard_normal(n)

    seed(7)
    first, second = host(noise(3)), host(noise(3))
    seed(7)

    drawn = []

    def f(t):
        n = noise(3)
        drawn.append(host(n))
        return xp.sum((t * n) ** 2)

    x0 = np.array([0.5, -1.0, 2.0])
    x = xpgrad.tensor(backend.asarray(x0), requires_grad=True)
    xpgrad.checkpoint(f)(x).backward()
    np.testing.assert_array_equal(drawn[0], first)
    np.testing.assert_array_equal(drawn[1], first)  # the rerun's
    np.testing.assert_allclose(host(x.grad), 2 * x0 * first**2)
    np.testing.assert_array_equal(host(noise(3)), second)  # on from the call, as without the rerun


def test_jvp_refuses_what_the_backward_refuses():
    # jvp differentiates the vjp at a cotangent placeholder, which was zeros:
    # the rules' checks of the gradient they get saw none, so jvp of eigh's
    # eigenvectors at a repeated eigenvalue gave a finite tangent where vjp and
    # jacobian raise (JAX gives NaN and inf)
    a0 = np.diag([1.0, 1.0, 3.0])
    t0 = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.0], [0.5, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"^eigh\.backward: x has a repeated eigenvalue"):
        xpgrad.jvp(lambda a: xp.linalg.eigh(a).eigenvectors, (a0,), (t0,))
    # the eigenvalues' tangent is diag(V^T t V), as JAX's and torch's
    np.testing.assert_allclose(xpgrad.jvp(lambda a: xp.linalg.eigh(a).eigenvalues, (a0,), (t0,))[1], 0.0)


def test_a_custom_bwd_that_leaves_the_graph_is_refused_where_it_is_differentiated():
    # jvp of a custom_vjp function whose bwd computes with NumPy on g.data gave
    # a zero tangent, silently (JAX and torch.func refuse jvp of such rules)
    @xpgrad.custom_vjp
    def dbl(t):
        return t * 2.0

    dbl.defvjp(lambda t: (dbl(t), None), lambda r, g: (np.asarray(g.data) * 2.0,))
    x0, v0 = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    np.testing.assert_allclose(xpgrad.grad(lambda t: xp.sum(dbl(t)))(x0), [2.0, 2.0])
    with pytest.raises(TypeError, match=r"^custom_vjp: the bwd of dbl gave argument 0 a nonzero gradient that does not"):
        xpgrad.jvp(dbl, (x0,), (v0,))
    dbl.defvjp(lambda t: (dbl(t), None), lambda r, g: (g * 2.0,))  # on g: differentiable
    np.testing.assert_allclose(xpgrad.jvp(dbl, (x0,), (v0,))[1], 2 * v0)
    dbl.defvjp(lambda t: (dbl(t), None), lambda r, g: (np.zeros(2),))  # a constant 0 is one
    np.testing.assert_allclose(xpgrad.jvp(dbl, (x0,), (v0,))[1], [0.0, 0.0])


def test_a_custom_bwd_that_reads_g_beside_a_residual_is_refused_where_differentiated():
    # g.data * xp.cos(x) requires grad through the residual x, which passed the check,
    # though its graph never reaches g: jvp gave a zero tangent, hvp 2 cos(x)^2 - ... off
    @xpgrad.custom_vjp
    def mysin(x):
        return xp.sin(x)

    mysin.defvjp(lambda x: (xp.sin(x), x), lambda x, g: (g.data * xp.cos(x),))
    x0, v0 = np.array([0.5, 1.0, 2.0]), np.ones(3)
    np.testing.assert_allclose(xpgrad.grad(lambda t: xp.sum(mysin(t)))(x0), np.cos(x0))
    for call in (lambda: xpgrad.jvp(mysin, (x0,), (v0,)),
                 lambda: xpgrad.hvp(lambda t: xp.sum(mysin(t) ** 2), x0, v0)):
        with pytest.raises(TypeError, match=r"^custom_vjp: the bwd of mysin gave argument 0 a "
                                            r"nonzero gradient that does not depend"):
            call()
    mysin.defvjp(lambda x: (xp.sin(x), x), lambda x, g: (g * xp.cos(x),))
    np.testing.assert_allclose(xpgrad.hvp(lambda t: xp.sum(mysin(t) ** 2), x0, v0),
                               2 * np.cos(2 * x0), rtol=1e-12)  # d2/dx2 sin^2 = 2 cos 2x
    da = pytest.importorskip("dask.array")  # lazy: the check's values are computed
    mysin.defvjp(lambda x: (xp.sin(x), x), lambda x, g: (xpgrad.Tensor(g.data * np.cos(x.data)),))
    with pytest.raises(TypeError, match=r"^custom_vjp: the bwd of mysin gave argument 0"):
        xpgrad.jvp(mysin, (da.from_array(x0, chunks=2),), (da.from_array(v0, chunks=2),))


def test_checkpoint_of_one_tensor_at_two_positions_has_its_own_derivatives():
    # f(a, a): the recorded backward rebuilt both arguments on a's one node, so
    # the gradient at each position was the total, and the engine added them
    # again: jvp, hvp and the Hessian of t * s at s = t were doubled
    prod = xpgrad.checkpoint(lambda t, s: t * s)
    x0, v0 = np.array([0.3, -1.2, 2.0]), np.array([1.0, 0.5, -2.0])
    _, tangent = xpgrad.jvp(lambda a: prod(a, a), (x0,), (v0,))
    np.testing.assert_allclose(tangent, 2 * x0 * v0)
    h = xpgrad.hessian(lambda a: xp.sum(prod(a, a)))(x0)
    np.testing.assert_allclose(h, 2 * np.eye(3))
    np.testing.assert_allclose(xpgrad.hvp(lambda a: xp.sum(prod(a, a) * a), x0, v0), 6 * x0 * v0)


def test_checkpoint_of_an_argument_made_from_another_has_its_own_derivatives():
    # f(a[0], a): the recorded backward rebuilt each argument on its parent's
    # node, so a's gradient also took a[0]'s share through the path from a[0]
    # to a, which a[0]'s own gradient then added again (jvp 20.9 for 12.2)
    seg = xpgrad.checkpoint(lambda p, q: xp.sin(p) * xp.sum(q))
    plain = lambda p, q: xp.sin(p) * xp.sum(q)  # noqa: E731
    x0 = np.arange(6.0).reshape(2, 3) / 5
    v0 = np.linspace(-1.0, 1.0, 6).reshape(2, 3)

    def f(g):
        def loss(x):
            a = x * 1.0
            return xp.sum(g(a[0], a))  # a[0] is made from a

        return loss

    for transform in (lambda h: xpgrad.jvp(h, (x0,), (v0,))[1], lambda h: xpgrad.hvp(h, x0, v0),
                      lambda h: xpgrad.hessian(h)(x0)):
        np.testing.assert_allclose(transform(f(seg)), transform(f(plain)), rtol=1e-12)


@pytest.mark.parametrize("f", [lambda x: {"y": x * x}, lambda x: (x * x, (x, 2 * x))],
                         ids=["dict", "nested"])
def test_vjp_refuses_outputs_it_would_give_no_cotangent(f):
    # their arrays got none: zeros for a dict, x * x's part alone for the nested tuple
    with pytest.raises(TypeError, match=r"^vjp: the function returned a (dict|tuple)"):
        xpgrad.vjp(f, np.array([1.0, 2.0]))


def test_custom_vjp_refuses_a_fwd_without_its_residuals_and_a_complex_bwd_for_a_real_argument():
    @xpgrad.custom_vjp
    def triple(t):
        return t * 3.0

    # a two-element output unpacked silently as (out, residuals): a 0-d 3.0
    triple.defvjp(lambda t: triple(t), lambda r, g: (g * 3.0,))
    with pytest.raises(TypeError, match=r"^custom_vjp: the fwd of triple must return a pair"):
        triple(xpgrad.tensor([1.0, 2.0], requires_grad=True))
    # a complex gradient for a real argument lost its imaginary part, with a warning
    triple.defvjp(lambda t: (triple(t), None), lambda r, g: (g * (3.0 + 1j),))
    with pytest.raises(TypeError, match=r"^custom_vjp: the bwd of triple gave the complex dtype"):
        xpgrad.grad(lambda t: xp.sum(triple(t)))(np.ones(2))


@pytest.mark.parametrize("call, says", [
    (lambda: xpgrad.grad(lambda z: xp.sum(z * z))(np.array([1 + 2j])),
     r"^grad: the function's output is complex \(complex128\)"),
    (lambda: xpgrad.jvp(lambda x: x * x, (np.ones(2),), (np.ones(3),)),
     r"^jvp: the tangent has shape \(3,\), expected \(2,\)"),
    (lambda: xpgrad.hvp(lambda x: xp.sum(x * x * x), np.ones(2), np.ones(3)),
     r"^hvp: the tangent has shape \(3,\)"),
    (lambda: xpgrad.hessian(lambda x: xp.sum(x * x), 3)(np.ones(2)), r"^hessian: argnums 3 is out of range"),
    (lambda: xpgrad.vjp(lambda x: x * x, np.ones(2))[1](np.ones(2) * 1j),
     r"^vjp: the cotangent has the complex dtype complex128"),
], ids=["grad-complex", "jvp-shape", "hvp-shape", "hessian-argnums", "vjp-complex"])
def test_a_transform_s_errors_name_the_transform_called(call, says):
    # they said "xpgrad transform: grad can be omitted ..." or named jacobian for hessian
    with pytest.raises((TypeError, ValueError), match=says):
        call()


def test_constant_outputs_and_python_floats_beside_torch():
    # jacobian and jvp refused a constant array (JAX gives zeros, as grad and vjp
    # here do); a differentiated float became a NumPy leaf beside torch's tensor
    np.testing.assert_array_equal(xpgrad.jacobian(lambda x: np.ones(3))(np.ones(2)), np.zeros((3, 2)))
    out, tangent = xpgrad.jvp(lambda x: np.ones(3), (np.ones(2),), (np.ones(2),))
    np.testing.assert_array_equal(tangent, np.zeros(3))
    ga, gb = xpgrad.grad(lambda a, b: xp.sum(a * b), (0, 1))(torch.ones(2, dtype=torch.float64), 2.0)
    assert type(ga) is torch.Tensor and type(gb) is torch.Tensor
    assert ga.tolist() == [2.0, 2.0] and float(gb) == 2.0


def test_a_number_read_out_of_the_graph_that_meets_it_again_is_refused():
    # reg + mean_squared_error(y, p): the metric's float() ended its graph, and its
    # part of the gradient was 0, silently ([0.1, 0.5, 0.4] for [-0.23, 0.83, -0.27])
    y = xpgrad.tensor(np.array([1.0, 2.0, 3.0]))

    def metric(p):  # as scikit-learn's metrics end
        return float(xp.mean((y - p) ** 2))

    def loss(p):
        return 0.1 * xp.sum(p * p) + metric(p)

    with pytest.raises(TypeError, match=r"^add: an operand is .*, a Python number read out of a Tensor that requires grad \(__float__\)"):
        xpgrad.grad(loss)(np.array([0.5, 2.5, 2.0]))
    p = xpgrad.tensor([0.5, 2.5, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"^mul: an operand is"):
        p * p.sum().item()  # outside a transform too
    # a read for control flow, a constant equal to it, a detached read, no_grad: all fine
    s = float(xp.sum(p))
    q = p * 5.0 if s > 0 else p
    np.testing.assert_array_equal((q * float(xp.max(p.detach()))).data, [6.25, 31.25, 25.0])
    with xpgrad.no_grad():
        assert (p * s).requires_grad is False


def test_a_named_tuple_comes_back_with_its_fields():
    # _native rebuilt SVDResult as a plain tuple: aux.S raised AttributeError
    _, aux = xpgrad.grad(lambda a: (xp.sum(a), xp.linalg.svd(a)), has_aux=True)(np.eye(2))
    assert type(aux).__name__ == "SVDResult"
    np.testing.assert_array_equal(aux.S, [1.0, 1.0])


def test_a_float_leaf_goes_beside_a_non_numpy_argument_and_odd_arguments_pass_through():
    # every call looked up the first argument's device: a scipy.sparse matrix
    # passed through undifferentiated raised; an index array first made a torch
    # tensor's float a NumPy leaf
    sparse = pytest.importorskip("scipy.sparse")
    g = xpgrad.grad(lambda s, x: xp.sum(x * x), 1)(sparse.csr_matrix(np.eye(2)), np.ones(2))
    np.testing.assert_array_equal(g, [2.0, 2.0])
    g = xpgrad.grad(lambda i, t, f: xp.sum(t * f), 2)(np.arange(2), torch.ones(2, dtype=torch.float64), 3.0)
    assert type(g) is torch.Tensor and float(g) == 2.0
    np.testing.assert_array_equal(xpgrad.jacobian(lambda x: 1.0)(np.ones(2)), [0.0, 0.0])


def test_complex_vjp_is_torchs_backward_and_jaxs_with_conjugates():
    # the README said vjp gives the conjugate of JAX's: true for a real
    # cotangent only; for a complex one it is conj(jax_vjp_fn(conj(ct)))
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    z = np.array([1.0 + 2.0j, -0.5 + 0.3j])
    ct = np.array([0.3 - 1.0j, 2.0 + 0.5j])
    _, fn = xpgrad.vjp(lambda a: xp.exp(a) * a, z)
    (got,) = fn(ct)
    t = torch.tensor(z, requires_grad=True)
    (torch.exp(t) * t).backward(torch.tensor(ct))
    np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-12)
    _, jfn = jax.vjp(lambda a: jnp.exp(a) * a, jnp.asarray(z))
    np.testing.assert_allclose(got, np.conj(np.asarray(jfn(jnp.conj(jnp.asarray(ct)))[0])), rtol=1e-5)
    assert not np.allclose(got, np.conj(np.asarray(jfn(jnp.asarray(ct))[0])), rtol=1e-3)


def test_jvp_of_a_tuple_of_outputs_gives_a_tuple_of_tangents():
    # jvp refused them ("must return one array"), where vjp, jacobian and jax.jvp take them
    x, v = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    out, tangent = xpgrad.jvp(lambda a: (xp.sin(a), a ** 2, np.ones(2)), (x,), (v,))
    assert type(out) is tuple and type(tangent) is tuple and len(tangent) == 3
    np.testing.assert_allclose(out[1], x ** 2)
    np.testing.assert_allclose(tangent[0], np.cos(x) * v)
    np.testing.assert_allclose(tangent[1], 2 * x * v)
    np.testing.assert_array_equal(tangent[2], np.zeros(2))  # a constant output
    out, tangent = xpgrad.jvp(lambda a: [a * 2.0], (x,), (v,))
    assert type(tangent) is list
    np.testing.assert_allclose(tangent[0], 2 * v)
    out, tangent = xpgrad.jvp(lambda a: xp.linalg.eigh(xp.reshape(a, (2, 2))),
                              (np.array([2.0, 0.0, 0.0, 3.0]),), (np.array([1.0, 0.0, 0.0, 0.0]),))
    assert type(tangent).__name__ == "EighResult"  # a NamedTuple keeps its type
    np.testing.assert_allclose(tangent.eigenvalues, [1.0, 0.0], atol=1e-15)  # d w = diag(V^T dx V)
    with pytest.raises(TypeError, match=r"^jvp: the function must return an array or a tuple of "
                                        r"arrays; got dict"):
        xpgrad.jvp(lambda a: {"a": a}, (x,), (v,))


def test_custom_vjp_places_keyword_arguments_and_defaults_by_the_signature():
    # f(a, k=3.0) raised "unexpected keyword argument"; jax.custom_vjp takes it
    @xpgrad.custom_vjp
    def f(a, k=2.0):
        return a * k

    f.defvjp(lambda a, k: (a * k, k), lambda k, g: (g * k * 10.0, None))  # 10: the rule's own
    np.testing.assert_allclose(xpgrad.grad(lambda a: xp.sum(f(a, k=3.0)))(np.ones(2)), [30.0, 30.0])
    np.testing.assert_allclose(xpgrad.grad(lambda a: xp.sum(f(a)))(np.ones(2)), [20.0, 20.0])
    with pytest.raises(TypeError, match=r"^custom_vjp: f: got an unexpected keyword argument 'q'"):
        f(xpgrad.tensor([1.0], requires_grad=True), q=1.0)

    @xpgrad.custom_vjp
    def h(a, *, k):
        return a * k

    h.defvjp(lambda a, k: (a * k, k), lambda k, g: (g * k,))
    with pytest.raises(TypeError, match=r"^custom_vjp: h takes keyword-only arguments \(k\)"):
        h(xpgrad.tensor([1.0], requires_grad=True), k=1.0)


def test_a_custom_rules_residuals_are_what_the_call_read():
    # fwd saved its argument; a write into it afterwards gave bwd the new values:
    # x.grad [200, 2, 4] where it is [1, 2, 4]
    @xpgrad.custom_vjp
    def square(h):
        return h * h

    square.defvjp(lambda h: (h * h, h), lambda h, g: (2.0 * h * g,))
    x = xpgrad.tensor(np.array([0.5, 1.0, 2.0]), requires_grad=True)
    h = x * 1.0
    y = square(h)
    h[0] = 100.0  # recorded: h is another node now
    xp.sum(y).backward()
    np.testing.assert_allclose(x.grad, [1.0, 2.0, 4.0])
    g = xpgrad.grad(lambda t: xp.sum(square(t * 1.0)))(np.array([0.5, 1.0, 2.0]))
    np.testing.assert_allclose(g, [1.0, 2.0, 4.0])


def test_custom_vjp_and_checkpoint_refuse_tensors_inside_containers():
    # custom_vjp saw no Tensor among its arguments, ran f as plain code and never
    # called bwd (the gradient of the primal, [5, 5], where the rule said [1, 1]);
    # checkpoint kept everything (312 MB where it keeps 0)
    @xpgrad.custom_vjp
    def clip(d):
        return d["x"] * 5.0

    clip.defvjp(lambda d: (d["x"] * 5.0, None), lambda r, g: ({"x": g},))
    x = xpgrad.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match=r"^custom_vjp: argument 0 is a dict holding Tensors"):
        clip({"x": x})
    with pytest.raises(TypeError, match=r"^checkpoint: argument 0 is a list holding Tensors"):
        xpgrad.checkpoint(lambda ts: ts[0] * 2.0)([x])
    assert float(xpgrad.checkpoint(lambda ts: ts[0] * 2.0)([np.ones(1)])[0]) == 2.0  # constants pass


def test_a_differentiated_python_float_takes_the_other_arrays_precision():
    # its leaf was float64, so a float32 function computed in float64 once differentiated
    # (a * 2.0 is float32 undifferentiated, as NumPy and torch read a float beside float32)
    torch = pytest.importorskip("torch")
    a = np.array([0.5, 1.0, 2.0], dtype=np.float32)
    out, tangent = xpgrad.jvp(lambda a, s: a * s, (a, 2.0), (a, 1.0))
    assert out.dtype == tangent.dtype == np.float32
    value, g = xpgrad.value_and_grad(lambda a, s: xp.sum(a * s), 1)(a, 2.0)
    assert value.dtype == g.dtype == np.float32 and float(g) == 3.5
    t = torch.ones(2, dtype=torch.float32)
    assert xpgrad.grad(lambda s, a: xp.sum(a * s))(2.0, t).dtype == torch.float32
    assert xpgrad.grad(lambda s, a: xp.sum(xp.real(a * s)))(2.0, a.astype(np.complex64)).dtype == np.float32
    assert xpgrad.grad(lambda s, a: xp.sum(a * s))(2.0, np.ones(2)).dtype == np.float64
    assert xpgrad.grad(lambda s: s * s)(3.0) == 6.0  # no array beside it: float64


def test_transform_arguments_that_jax_and_torch_func_refuse():
    # argnums naming a position twice gave its gradient twice (torch.func refuses it); a
    # vjp_fn of a tuple output split an array cotangent into its rows ([10, 10, 10] for
    # shape (1, 3)) and iterated a dict's keys; a non-callable f failed only when called
    x = np.ones(3)
    for argnums in ((0, 0), (-1, 1)):
        with pytest.raises(ValueError, match=r"^grad: argnums .* names a position twice"):
            xpgrad.grad(lambda a, b: xp.sum(a * b), argnums)(x, x)
    _, back = xpgrad.vjp(lambda a: (a * 2.0,), x)
    for cotangent in (np.ones((1, 3)), 1.0, {"a": 1.0}):
        with pytest.raises(TypeError, match=r"^vjp: the function returned a tuple of 1 outputs; "
                                            r"pass a tuple of 1 cotangents"):
            back(cotangent)
    np.testing.assert_array_equal(back((np.ones(3),))[0], [2.0, 2.0, 2.0])
    for make in (xpgrad.grad, xpgrad.jacobian, xpgrad.hessian, xpgrad.checkpoint,
                 xpgrad.custom_vjp, lambda f: xpgrad.vjp(f, x), lambda f: xpgrad.hvp(f, x, x)):
        with pytest.raises(TypeError, match=r"f must be a function \(a callable\); got int 3"):
            make(3)

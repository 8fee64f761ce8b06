"""``xpgrad.array_api.special``: scipy.special's functions on Tensors, with
gradients.

Values are checked against scipy.special itself; gradients against torch
autograd where torch has the function, and against central differences in
float64 for every function; second derivatives against finite differences
of ``xpgrad.grad``. The headline: with ``SCIPY_ARRAY_API=1`` (conftest.py),
``scipy.special.erf(t)`` on a Tensor dispatches to the namespace and records
the gradient.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xa
from tests.subsets import backend_cases
from tests.support import backend_params, dtype_name, host
from xpgrad import ops
from xpgrad.array_api import special as xs
from xpgrad.testing import gradcheck

sc = pytest.importorskip("scipy.special")

A = np.array


# name -> (inputs, scipy's parameters after them); integer inputs and the
# arguments in each rule's ``nondiff`` are constants, the others are checked.
CASES = {
    "erf": ([A([-1.7, -0.4, 0.3, 1.1])], ()),
    "erfc": ([A([-1.7, -0.4, 0.3, 1.1])], ()),
    "erfcx": ([A([-1.2, 0.2, 0.9, 3.0])], ()),
    "erfinv": ([A([-0.9, -0.2, 0.4, 0.8])], ()),
    "ndtr": ([A([-3.0, -0.5, 0.2, 1.5])], ()),
    "ndtri": ([A([0.05, 0.3, 0.6, 0.97])], ()),
    "log_ndtr": ([A([-6.0, -1.0, 0.5, 2.0])], ()),
    "expit": ([A([-3.0, -0.5, 0.2, 4.0])], ()),
    "logit": ([A([0.05, 0.3, 0.6, 0.9])], ()),
    "log_expit": ([A([-5.0, -0.5, 0.2, 3.0])], ()),
    "gammaln": ([A([0.3, 1.7, 3.2, -1.5])], ()),
    "loggamma": ([A([0.3, 1.7, 3.2, 6.0])], ()),
    "gamma": ([A([0.4, 1.6, 3.3, -1.5])], ()),
    "psi": ([A([0.3, 1.7, 3.2, -1.5])], ()),
    "digamma": ([A([0.3, 1.7, 3.2, -1.5])], ()),
    "polygamma": ([A([0, 1, 2, 3]), A([0.7, 1.5, 2.5, 4.0])], ()),
    "multigammaln": ([A([1.6, 2.2, 3.5, 5.0])], (3,)),
    "betaln": ([A([0.5, 1.5, 3.0, 7.0]), A([2.5, 0.7, 4.0, 1.2])], ()),
    "gammainc": ([A([0.5, 1.5, 3.0, 7.0]), A([0.3, 2.0, 2.5, 6.0])], ()),
    "gammaincc": ([A([0.5, 1.5, 3.0, 7.0]), A([0.3, 2.0, 2.5, 6.0])], ()),
    "gammaincinv": ([A([0.5, 1.5, 3.0, 7.0]), A([0.1, 0.4, 0.6, 0.9])], ()),
    "gammainccinv": ([A([0.5, 1.5, 3.0, 7.0]), A([0.1, 0.4, 0.6, 0.9])], ()),
    "betainc": ([A([0.5, 1.5, 3.0, 7.0]), A([2.5, 0.7, 4.0, 1.2]), A([0.2, 0.5, 0.35, 0.8])], ()),
    "betaincc": ([A([0.5, 1.5, 3.0, 7.0]), A([2.5, 0.7, 4.0, 1.2]), A([0.2, 0.5, 0.35, 0.8])], ()),
    "betaincinv": ([A([0.5, 1.5, 3.0, 7.0]), A([2.5, 0.7, 4.0, 1.2]), A([0.1, 0.4, 0.6, 0.9])], ()),
    "zeta": ([A([2.0, 3.5, 1.5, 4.0]), A([0.5, 1.2, 2.0, 3.5])], ()),
    "i0": ([A([-1.3, 0.4, 1.1, 2.5])], ()),
    "i0e": ([A([-1.3, 0.4, 1.1, 2.5])], ()),
    "i1": ([A([-1.3, 0.4, 1.1, 2.5])], ()),
    "i1e": ([A([-1.3, 0.4, 1.1, 2.5])], ()),
    "j0": ([A([-1.3, 0.4, 1.1, 2.5])], ()),
    "j1": ([A([-1.3, 0.4, 1.1, 2.5])], ()),
    "y0": ([A([0.3, 1.1, 2.5, 4.0])], ()),
    "y1": ([A([0.3, 1.1, 2.5, 4.0])], ()),
    "k0": ([A([0.3, 1.1, 2.5, 4.0])], ()),
    "k0e": ([A([0.3, 1.1, 2.5, 4.0])], ()),
    "k1": ([A([0.3, 1.1, 2.5, 4.0])], ()),
    "k1e": ([A([0.3, 1.1, 2.5, 4.0])], ()),
    "entr": ([A([0.1, 0.5, 1.0, 2.5])], ()),
    "rel_entr": ([A([0.1, 0.5, 1.0, 2.5]), A([0.3, 0.5, 2.0, 1.5])], ()),
    "kl_div": ([A([0.1, 0.5, 1.0, 2.5]), A([0.3, 0.5, 2.0, 1.5])], ()),
    "xlogy": ([A([-1.0, 0.5, 1.0, 2.5]), A([0.3, 0.5, 2.0, 1.5])], ()),
    "xlog1py": ([A([-1.0, 0.5, 1.0, 2.5]), A([0.3, 0.5, 2.0, 1.5])], ()),
    "cbrt": ([A([-2.0, -0.3, 0.5, 8.0])], ()),
    "exp2": ([A([-1.3, 0.2, 0.7, 1.5])], ()),
    "exp10": ([A([-1.3, 0.2, 0.7, 1.5])], ()),
    "cosm1": ([A([-2.0, 1e-3, 0.5, 3.0])], ()),
    "sinc": ([A([-1.3, 0.2, 0.7, 2.5])], ()),
    "exprel": ([A([-2.0, -0.05, 0.03, 1.5])], ()),
    "expi": ([A([-2.0, -0.5, 0.5, 2.0])], ()),
    "exp1": ([A([0.2, 0.7, 1.5, 3.0])], ()),
    "expn": ([A([0, 1, 2, 5]), A([0.2, 0.7, 1.5, 3.0])], ()),
    "rgamma": ([A([-1.5, 0.4, 1.6, 3.3])], ()),
    "poch": ([A([0.5, 1.5, 2.0, 3.5]), A([0.3, -0.4, 1.2, 2.0])], ()),
    "spence": ([A([0.2, 0.9, 1.5, 3.0])], ()),
    "yn": ([A([0, 1, 2, 4]), A([0.7, 1.5, 2.5, 4.0])], ()),
    "hyp1f1": ([A([0.5, 1.5, 2.0, -0.5]), A([1.5, 2.5, 1.0, 3.0]), A([-1.0, 0.5, 1.2, 2.0])], ()),
    "huber": ([A([0.5, 1.0, 2.0, 1.5]), A([-2.0, 0.3, -1.0, 3.0])], ()),
    "pseudo_huber": ([A([0.5, 1.0, 2.0, 0.1]), A([-2.0, 0.3, -1.0, 3.0])], ()),
    "boxcox": ([A([0.5, 1.5, 2.0, 3.0]), A([-0.5, 0.0, 0.05, 1.5])], ()),
    "boxcox1p": ([A([-0.5, 0.5, 1.0, 3.0]), A([-0.5, 0.0, 0.05, 1.5])], ()),
    "chdtr": ([A([1.0, 2.5, 4.0, 7.0]), A([0.5, 2.0, 3.0, 6.0])], ()),
    "chdtrc": ([A([1.0, 2.5, 4.0, 7.0]), A([0.5, 2.0, 3.0, 6.0])], ()),
    "chdtri": ([A([1.0, 2.5, 4.0, 7.0]), A([0.1, 0.4, 0.6, 0.9])], ()),
    "stdtr": ([A([1.0, 2.5, 4.0, 10.0]), A([-2.0, -0.3, 0.5, 1.7])], ()),
    "stdtrit": ([A([1.0, 2.5, 4.0, 10.0]), A([0.1, 0.4, 0.6, 0.9])], ()),
    "gdtr": ([A([0.5, 1.5, 2.0, 3.0]), A([1.0, 2.5, 0.7, 4.0]), A([0.3, 2.0, 1.5, 1.0])], ()),
    "gdtrc": ([A([0.5, 1.5, 2.0, 3.0]), A([1.0, 2.5, 0.7, 4.0]), A([0.3, 2.0, 1.5, 1.0])], ()),
    "fdtr": ([A([1.0, 2.5, 4.0, 7.0]), A([2.0, 3.0, 5.0, 10.0]), A([0.3, 1.0, 2.0, 0.8])], ()),
    "fdtrc": ([A([1.0, 2.5, 4.0, 7.0]), A([2.0, 3.0, 5.0, 10.0]), A([0.3, 1.0, 2.0, 0.8])], ()),
    "fdtri": ([A([1.0, 2.5, 4.0, 7.0]), A([2.0, 3.0, 5.0, 10.0]), A([0.1, 0.4, 0.6, 0.9])], ()),
    "pdtr": ([A([0, 1, 3, 5]), A([0.5, 1.5, 2.5, 4.0])], ()),
    "pdtrc": ([A([0, 1, 3, 5]), A([0.5, 1.5, 2.5, 4.0])], ()),
    "bdtr": ([A([0, 1, 3, 5]), A([3, 4, 6, 5]), A([0.2, 0.5, 0.35, 0.8])], ()),
    "bdtrc": ([A([0, 1, 3, 4]), A([3, 4, 6, 5]), A([0.2, 0.5, 0.35, 0.8])], ()),
    "nbdtr": ([A([0, 1, 3, 5]), A([1, 2, 3, 4]), A([0.2, 0.5, 0.35, 0.8])], ()),
    "nbdtrc": ([A([0, 1, 3, 5]), A([1, 2, 3, 4]), A([0.2, 0.5, 0.35, 0.8])], ()),
}
COMPOSED = ("logsumexp", "softmax", "log_softmax")


def _rule(name):
    return ops.psi if name == "digamma" else getattr(ops, name)


def _checked(name, inputs):
    """Positions of the inputs whose gradient is checked."""
    rule = _rule(name)
    return [i for i, (a, v) in enumerate(zip(rule.args, inputs))
            if a not in rule.nondiff and v.dtype.kind == "f"]


def test_every_function_has_a_case():
    assert sorted([*CASES, *COMPOSED]) == xs.__all__


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_scipy(name):
    inputs, params = CASES[name]
    out = getattr(xs, name)(*[xpgrad.tensor(v) for v in inputs], *params)
    ref = getattr(sc, name)(*inputs, *params)
    assert type(out) is xpgrad.Tensor and out.shape == np.shape(ref)
    np.testing.assert_allclose(host(out), ref, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_central_differences(name):
    inputs, params = CASES[name]
    checked = _checked(name, inputs)
    assert checked, name
    fn = getattr(xs, name)

    def f(*leaves):
        args = list(inputs)
        for i, leaf in zip(checked, leaves):
            args[i] = leaf
        return fn(*args, *params)

    assert gradcheck(f, *[inputs[i] for i in checked], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_rules_forward_and_backward_on_plain_arrays(name):
    inputs, params = CASES[name]
    rule = _rule(name)
    out, ctx = rule.forward(*inputs, *params)
    np.testing.assert_allclose(out, getattr(sc, name)(*inputs, *params), rtol=1e-13)
    checked = _checked(name, inputs)
    assert ctx.needs_input_grad == tuple(i in checked for i in range(len(inputs)))
    grads = rule.backward(np.ones_like(out), ctx)
    for i, g in enumerate(grads):
        assert (g is None) == (i not in checked)
        if g is not None:
            assert g.shape == inputs[i].shape and g.dtype == inputs[i].dtype


# -- against torch autograd ----------------------------------------------------

TORCH = {
    "erf": lambda t, x: t.special.erf(x),
    "erfc": lambda t, x: t.special.erfc(x),
    "erfcx": lambda t, x: t.special.erfcx(x),
    "erfinv": lambda t, x: t.special.erfinv(x),
    "ndtr": lambda t, x: t.special.ndtr(x),
    "ndtri": lambda t, x: t.special.ndtri(x),
    "log_ndtr": lambda t, x: t.special.log_ndtr(x),
    "expit": lambda t, x: t.special.expit(x),
    "logit": lambda t, x: t.special.logit(x),
    "log_expit": lambda t, x: t.nn.functional.logsigmoid(x),
    "gammaln": lambda t, x: t.special.gammaln(x),
    "psi": lambda t, x: t.special.digamma(x),
    "polygamma": lambda t, n, x: t.special.polygamma(2, x),
    "multigammaln": lambda t, a: t.special.multigammaln(a, 3),
    "i0": lambda t, x: t.special.i0(x),
    "i0e": lambda t, x: t.special.i0e(x),
    "i1": lambda t, x: t.special.i1(x),
    "i1e": lambda t, x: t.special.i1e(x),
    "entr": lambda t, x: t.special.entr(x),
    "xlogy": lambda t, x, y: t.special.xlogy(x, y),
    "xlog1py": lambda t, x, y: t.special.xlog1py(x, y),
    "exp2": lambda t, x: t.special.exp2(x),
    "sinc": lambda t, x: t.special.sinc(x),
    "gammainc": lambda t, a, x: t.special.gammainc(a, x),
    "gammaincc": lambda t, a, x: t.special.gammaincc(a, x),
    "zeta": lambda t, x, q: t.special.zeta(x, q),
}


def _torch_case(name, inputs):
    if name == "polygamma":
        return [np.full(4, 2), inputs[1]]
    return inputs


@pytest.mark.parametrize("name", sorted(TORCH))
def test_gradients_match_torch_autograd(name):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    inputs, params = CASES[name]
    inputs = _torch_case(name, inputs)
    checked = _checked(name, inputs)
    g = np.random.default_rng(0).standard_normal(4)
    leaves = [torch.tensor(v, requires_grad=i in checked) for i, v in enumerate(inputs)]
    ref = TORCH[name](torch, *leaves)
    ref.backward(torch.tensor(g))
    ts = [xpgrad.tensor(v, requires_grad=i in checked) for i, v in enumerate(inputs)]
    out = getattr(xs, name)(*ts, *params)
    out.backward(g)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-12)
    for i in checked:
        np.testing.assert_allclose(host(ts[i].grad), leaves[i].grad.numpy(), rtol=1e-8, atol=1e-14)


EDGES = {  # torch's conventions where the derivative is one-sided or undefined
    "xlogy": ([A([0.0, 0.0, 0.0, 1.0, 0.0, 0.0]), A([0.0, 2.0, 0.5, 0.0, -1.0, np.inf])],
              lambda t, x, y: t.special.xlogy(x, y)),
    "xlog1py": ([A([0.0, 0.0, 0.0, 1.0]), A([-1.0, 2.0, -2.0, -1.0])],
                lambda t, x, y: t.special.xlog1py(x, y)),
    "entr": ([A([0.0, -1.0, 1.0])], lambda t, x: t.special.entr(x)),
    "i1": ([A([0.0, 1.0])], lambda t, x: t.special.i1(x)),
    "i1e": ([A([0.0, -1.0])], lambda t, x: t.special.i1e(x)),
    "sinc": ([A([0.0, 1.0])], lambda t, x: t.special.sinc(x)),
    "logit": ([A([0.0, 1.0, -0.5, 1.5])], lambda t, x: t.special.logit(x)),
    "erfinv": ([A([-1.0, 1.0])], lambda t, x: t.special.erfinv(x)),
    "ndtri": ([A([0.0, 1.0])], lambda t, x: t.special.ndtri(x)),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_edge_conventions_are_torchs(name):
    torch = pytest.importorskip("torch")
    inputs, ref_fn = EDGES[name]
    leaves = [torch.tensor(v, requires_grad=True) for v in inputs]
    ref_fn(torch, *leaves).sum().backward()
    ts = [xpgrad.tensor(v, requires_grad=True) for v in inputs]
    with np.errstate(all="ignore"):
        xa.sum(getattr(xs, name)(*ts)).backward()
    for t, leaf in zip(ts, leaves):
        np.testing.assert_allclose(host(t.grad), leaf.grad.numpy(), rtol=1e-15, atol=0)


# -- scipy.special on Tensors ----------------------------------------------------


def _scipy_array_api():
    from scipy._lib._array_api import SCIPY_ARRAY_API

    if not SCIPY_ARRAY_API:
        pytest.skip("scipy was imported before SCIPY_ARRAY_API=1 was set")


DISPATCHED = sorted(set(CASES) - {"log_expit"})  # scipy computes log_expit on NumPy only


@pytest.mark.parametrize("name", DISPATCHED)
def test_scipy_special_dispatches_to_the_namespace(name):
    _scipy_array_api()
    inputs, params = CASES[name]
    checked = _checked(name, inputs)
    g = np.random.default_rng(1).standard_normal(4)

    def grads(fn):
        ts = [xpgrad.tensor(v, requires_grad=i in checked) for i, v in enumerate(inputs)]
        out = fn(*ts, *params)
        assert type(out) is xpgrad.Tensor and out.requires_grad
        out.backward(g)
        return host(out), [host(ts[i].grad) for i in checked]

    out, got = grads(getattr(sc, name))
    ref_out, ref = grads(getattr(xs, name))
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_allclose(out, getattr(sc, name)(*inputs, *params), rtol=1e-13)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


def test_scipy_special_erf_headline():
    _scipy_array_api()
    x = xpgrad.tensor(np.array([-1.0, 0.0, 0.5]), requires_grad=True)
    xa.sum(sc.erf(x) * sc.gammaln(x + 2.0)).backward()
    v = x.data
    expected = (2 / np.sqrt(np.pi) * np.exp(-v * v) * sc.gammaln(v + 2.0)
                + sc.erf(v) * sc.psi(v + 2.0))
    np.testing.assert_allclose(x.grad, expected, rtol=1e-13)


def test_scipy_special_refuses_a_gradient_it_has_not():
    _scipy_array_api()
    a = xpgrad.tensor(np.array([1.5, 2.0]), requires_grad=True)
    message = "gammainc: a requires grad, but gammainc has no gradient with respect to a"
    with pytest.raises(TypeError, match=message):
        sc.gammainc(a, xpgrad.tensor(np.array([0.5, 1.0])))
    with pytest.raises(TypeError, match="polygamma: n requires grad"):
        sc.polygamma(a, xpgrad.tensor(np.array([1.0, 2.0])))


# -- second derivatives ----------------------------------------------------------

SECOND = {
    "gammaln": lambda x: xs.gammaln(x),
    "psi": lambda x: xs.psi(x),
    "erf": lambda x: xs.erf(x),
    "log_ndtr": lambda x: xs.log_ndtr(x - 3.0),
    "i1": lambda x: xs.i1(x),
    "k1e": lambda x: xs.k1e(x + 1.0),
    "sinc": lambda x: xs.sinc(x),
    "exprel": lambda x: xs.exprel(x * 0.1),
    "gammainc": lambda x: xs.gammainc(2.5, x),
    "betainc": lambda x: xs.betainc(2.0, 3.0, x * 0.3),
    "zeta": lambda x: xs.zeta(3.0, x),
    "polygamma": lambda x: xs.polygamma(1, x),
    "xlogy": lambda x: xs.xlogy(x, x + 1.0),
    "boxcox": lambda x: xs.boxcox(x, x - 1.0),
    "pseudo_huber": lambda x: xs.pseudo_huber(x, x - 1.5),
    "gdtr": lambda x: xs.gdtr(x, 2.0, x * 0.5),
    "stdtrit": lambda x: xs.stdtrit(3.0, x * 0.3),
    "gamma": lambda x: xs.gamma(x),
}


@pytest.mark.parametrize("name", sorted(SECOND))
def test_second_derivatives_match_differences_of_the_gradient(name):
    f = SECOND[name]

    def loss(x):
        return xa.sum(f(x) * xa.asarray(np.array([1.0, -0.5, 2.0])))

    x = np.array([0.6, 1.3, 2.1])
    h = host(xpgrad.hessian(loss)(x))
    grad = xpgrad.grad(loss)
    eps = 1e-6
    for j in range(3):
        e = np.zeros(3)
        e[j] = eps
        col = (host(grad(x + e)) - host(grad(x - e))) / (2 * eps)
        np.testing.assert_allclose(h[:, j], col, rtol=2e-6, atol=1e-7)
    v = np.array([0.3, -1.0, 0.7])
    np.testing.assert_allclose(host(xpgrad.hvp(loss, x, v)), h @ v, rtol=1e-10, atol=1e-12)


def test_second_derivatives_on_torch_data_call_torch():
    torch = pytest.importorskip("torch")
    x = torch.tensor([0.7, 1.9], dtype=torch.float64)
    h = xpgrad.hessian(lambda t: xa.sum(xs.gammaln(t) + xs.gammainc(2.0, t)))(x)
    assert isinstance(h, torch.Tensor)
    v = x.numpy()
    expected = sc.polygamma(1, v) + np.exp(-v) * (1.0 - v)  # d/dx (x e^-x)
    np.testing.assert_allclose(np.diag(h.numpy()), expected, rtol=1e-8)


def test_third_derivative_goes_through_polygamma():
    x = xpgrad.tensor(np.array([1.5]), requires_grad=True)
    (g1,) = xpgrad.autograd.grad(xa.sum(xs.gammaln(x)), x, create_graph=True)
    (g2,) = xpgrad.autograd.grad(xa.sum(g1), x, create_graph=True)
    (g3,) = xpgrad.autograd.grad(xa.sum(g2), x)
    np.testing.assert_allclose(host(g3), sc.polygamma(2, 1.5), rtol=1e-13)


# -- backends --------------------------------------------------------------------

SUBSET = ("erf", "gammaln", "i1e", "xlogy", "gammainc", "boxcox", "expit", "ndtri", "multigammaln",
          "polygamma", "log_expit", "gamma", "zeta", "chdtr")
# JAX compiles each primitive once per shape, a second or more each: a few rows.
JAX_SUBSET = ("erf", "xlogy", "polygamma")


@pytest.mark.parametrize(
    "backend, name",
    backend_cases(SUBSET, SUBSET, ("numpy", "array_api_strict", "torch", "jax"), jax=JAX_SUBSET),
    indirect=["backend"],
)
def test_backends_compute_with_their_own_library(name, backend):
    inputs, params = CASES[name]
    checked = _checked(name, inputs)
    g = np.random.default_rng(2).standard_normal(4)
    ts = [xpgrad.tensor(backend.asarray(v), requires_grad=i in checked) for i, v in enumerate(inputs)]
    out = getattr(xs, name)(*ts, *params)
    assert type(out.data) is type(ts[-1].data)
    np.testing.assert_allclose(host(out), getattr(sc, name)(*inputs, *params), rtol=1e-12)
    out.backward(backend.asarray(g))
    ref = [xpgrad.tensor(v, requires_grad=i in checked) for i, v in enumerate(inputs)]
    getattr(xs, name)(*ref, *params).backward(g)
    for i in checked:
        assert type(ts[i].grad) is type(ts[i].data) and ts[i].grad.dtype == ts[i].data.dtype
        np.testing.assert_allclose(host(ts[i].grad), host(ref[i].grad), rtol=1e-11)


@pytest.mark.parametrize("backend", backend_params(("torch",)), indirect=True)
def test_float32_stays_float32(backend):
    x = xpgrad.tensor(backend.asarray(np.array([0.5, 1.5]), "float32"), requires_grad=True)
    for fn in (xs.gammaln, xs.erf, lambda t: xs.polygamma(1, t), lambda t: xs.gammainc(2.0, t)):
        out = fn(x)
        assert out.dtype == x.dtype
        xa.sum(out).backward()
        assert x.grad.dtype == x.data.dtype
        x.grad = None


def test_numpy_float32_stays_float32():
    x = xpgrad.tensor(np.array([0.5, 1.5], dtype=np.float32), requires_grad=True)
    out = xs.polygamma(1, x)  # scipy computes it in float64
    assert out.dtype == xa.float32
    xa.sum(out).backward()
    assert x.grad.dtype == np.float32


def test_a_function_torch_lacks_is_refused_by_name():
    torch = pytest.importorskip("torch")
    x = torch.tensor([0.2, 0.4], dtype=torch.float64)
    for call, name in (
        (lambda: xs.betainc(1.0, 2.0, xpgrad.tensor(x)), "betainc"),
        (lambda: xs.stdtr(3.0, xpgrad.tensor(x)), "stdtr"),
        (lambda: xs.expi(xpgrad.tensor(x)), "expi"),
        (lambda: ops.hyp1f1.forward(1.0, 2.0, x), "hyp1f1"),
    ):
        with pytest.raises(NotImplementedError, match=rf"{name}: torch has no {name}"):
            call()
    with pytest.raises(NotImplementedError, match="Riemann zeta function.*pass q=1.0"):
        xs.zeta(xpgrad.tensor(x + 2))


def test_jax_composes_what_it_lacks_from_its_own_functions():
    pytest.importorskip("jax")
    from tests.support import get_backend

    be, _ = get_backend("jax")
    v = np.array([-1.0, 0.5, 2.0])
    t = xpgrad.tensor(be.asarray(v), requires_grad=True)
    out = xs.cosm1(t)  # jax.scipy.special has no cosm1: -2 sin(x / 2)^2
    np.testing.assert_allclose(host(out), sc.cosm1(v), rtol=1e-15)
    xa.sum(out).backward()
    assert type(t.grad) is type(t.data)
    np.testing.assert_allclose(host(t.grad), -np.sin(v), rtol=1e-15)
    with pytest.raises(NotImplementedError, match="j0: jax has no j0"):
        xs.j0(t)


INF = math.inf


@pytest.mark.parametrize(
    "name, args, lib",
    [("exprel", (INF,), "torch"), ("exprel", (INF,), "jax"), ("stdtr", (INF, 1.0), "jax"),
     ("stdtr", (INF, -2.5), "jax"), ("fdtr", (2.0, 2.0, INF), "jax"), ("fdtr", (4.0, 3.0, INF), "jax")],
    ids=["exprel-torch", "exprel-jax", "stdtr-df-inf", "stdtr-df-inf-negative", "fdtr-x-inf",
         "fdtr-4-3-inf"],
)
def test_compositions_at_infinity_match_scipy(name, args, lib):  # torch has no betainc
    """torch and JAX lack these: xpgrad composes them, where the formulas
    are inf / inf at infinity (they gave NaN)."""
    if lib == "torch":
        mod = pytest.importorskip("torch")
        make = lambda v: mod.tensor([v], dtype=mod.float64)  # noqa: E731
    else:
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        make = lambda v: jax.numpy.asarray([v], dtype=jax.numpy.float64)  # noqa: E731
    out = getattr(xs, name)(*[xpgrad.tensor(make(v)) for v in args])
    np.testing.assert_allclose(host(out), [getattr(sc, name)(*args)], rtol=1e-12)


@pytest.mark.parametrize(
    "name, args, i, want",
    [("exprel", (INF,), 0, INF),
     ("stdtr", (INF, 1.0), 1, math.exp(-0.5) / math.sqrt(2 * math.pi)),  # the normal density
     ("fdtr", (4.0, 3.0, INF), 2, 0.0)],
    ids=["exprel", "stdtr", "fdtr"],
)
def test_derivatives_at_infinity(name, args, i, want):
    xs_ = [xpgrad.tensor(np.array([v]), requires_grad=(j == i)) for j, v in enumerate(args)]
    xa.sum(getattr(xs, name)(*xs_)).backward()
    np.testing.assert_allclose(xs_[i].grad, [want], rtol=1e-12)


def test_dask_maps_scipy_over_the_blocks():
    da = pytest.importorskip("dask.array")
    x = np.linspace(0.2, 3.0, 6)
    y = np.linspace(0.5, 1.5, 3)
    tx = xpgrad.tensor(da.from_array(x.reshape(2, 3), chunks=(1, 2)), requires_grad=True)
    ty = xpgrad.tensor(da.from_array(y, chunks=2), requires_grad=True)
    out = xa.sum(xs.xlogy(tx, ty) + xs.gammaln(tx))
    assert isinstance(out.data, da.Array)
    out.backward()
    assert isinstance(tx.grad, da.Array) and isinstance(ty.grad, da.Array)
    xx = x.reshape(2, 3)
    np.testing.assert_allclose(host(out.data.compute()), np.sum(sc.xlogy(xx, y) + sc.gammaln(xx)), rtol=1e-13)
    np.testing.assert_allclose(tx.grad.compute(), np.log(y) + sc.psi(xx), rtol=1e-13)
    np.testing.assert_allclose(ty.grad.compute(), (xx / y).sum(axis=0), rtol=1e-13)


# -- logsumexp, softmax, log_softmax ---------------------------------------------------

LSE = {
    "all": ({}, (3, 4)),
    "axis": ({"axis": 1}, (3, 4)),
    "tuple_keep": ({"axis": (0, 2), "keepdims": True}, (2, 3, 2)),
    "neg_axis": ({"axis": -1}, (3, 4)),
    "b": ({"axis": 0, "b": "pos"}, (3, 4)),
    "scalar_b": ({"axis": 1, "b": 2.5}, (3, 4)),
    "zero_d": ({}, ()),
}


@pytest.mark.parametrize("case", sorted(LSE))
def test_logsumexp_matches_scipy_and_torch(case):
    torch = pytest.importorskip("torch")
    kwargs, shape = LSE[case]
    rng = np.random.default_rng(3)
    a = rng.standard_normal(shape)
    kw = dict(kwargs)
    if kw.get("b") == "pos":
        kw["b"] = rng.uniform(0.5, 2.0, shape)
    ta = xpgrad.tensor(a, requires_grad=True)
    out = xs.logsumexp(ta, **kw)
    ref = sc.logsumexp(a, **kw)
    np.testing.assert_allclose(host(out), ref, rtol=1e-13)
    assert out.shape == np.shape(ref)
    g = rng.standard_normal(np.shape(ref))
    out.backward(g)
    # torch: log(sum(b * exp(a))) = logsumexp(a + log(b))
    la = torch.tensor(a, requires_grad=True)
    b = kw.get("b", 1.0)
    shifted = la + torch.log(torch.as_tensor(b, dtype=torch.float64)) if "b" in kw else la
    axis = kw.get("axis")
    dims = tuple(range(max(a.ndim, 1))) if axis is None else axis
    shifted = shifted.reshape(-1) if a.ndim == 0 else shifted
    tr = torch.logsumexp(shifted, dim=dims, keepdim=kw.get("keepdims", False))
    tr.backward(torch.tensor(g))
    np.testing.assert_allclose(host(ta.grad), la.grad.numpy(), rtol=1e-12)


def test_logsumexp_with_signed_weights_and_its_edges():
    a = np.array([[0.5, 1.0, -2.0], [1.0, 1.0, 3.0]])
    b = np.array([[1.0, -2.0, 0.5], [1.0, 0.0, -1.0]])
    out, sgn = xs.logsumexp(xpgrad.tensor(a), axis=1, b=b, return_sign=True)
    ref, ref_sgn = sc.logsumexp(a, axis=1, b=b, return_sign=True)
    np.testing.assert_allclose(host(out), ref, rtol=1e-13)
    np.testing.assert_array_equal(host(sgn), ref_sgn)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(np.isnan(host(xs.logsumexp(xpgrad.tensor(a), axis=1, b=b))),
                                      np.isnan(sc.logsumexp(a, axis=1, b=b)))
    assert gradcheck(lambda t: xs.logsumexp(t, axis=1, b=b, return_sign=True)[0], a)
    # weight 0 hides an infinite element; -inf everywhere gives -inf; empty gives -inf
    inf = np.array([[np.inf, 0.0], [-np.inf, -np.inf]])
    np.testing.assert_array_equal(host(xs.logsumexp(xpgrad.tensor(inf), axis=1, b=np.array([0.0, 1.0]))),
                                  sc.logsumexp(inf, axis=1, b=np.array([0.0, 1.0])))
    empty = xpgrad.tensor(np.zeros((2, 0)), requires_grad=True)
    with np.errstate(divide="ignore"):
        out = xs.logsumexp(empty, axis=1)
        np.testing.assert_array_equal(host(out), sc.logsumexp(np.zeros((2, 0)), axis=1))
        xa.sum(out).backward()
    assert empty.grad.shape == (2, 0)


def test_logsumexp_weights_get_gradients_too():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((3, 4)), rng.uniform(0.5, 2.0, (3, 4))
    assert gradcheck(lambda a, b: xs.logsumexp(a, axis=0, b=b), a, b)
    assert gradcheck(lambda a, b: xs.logsumexp(a, b=b[0]), a, b)  # b broadcast against a


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [None, 0, (0, 1)])
def test_softmax_and_log_softmax_match_scipy_and_torch(name, axis):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(4).standard_normal((3, 4))
    t = xpgrad.tensor(a, requires_grad=True)
    out = getattr(xs, name)(t, axis=axis)
    np.testing.assert_allclose(host(out), getattr(sc, name)(a, axis=axis), rtol=1e-13)
    g = np.random.default_rng(5).standard_normal((3, 4))
    out.backward(g)
    la = torch.tensor(a, requires_grad=True)
    flat = la.reshape(-1) if axis in (None, (0, 1)) else la
    fn = torch.softmax if name == "softmax" else torch.log_softmax
    r = fn(flat, dim=0 if axis in (None, (0, 1)) else axis).reshape(3, 4)
    r.backward(torch.tensor(g))
    np.testing.assert_allclose(host(t.grad), la.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("backend", backend_params(("array_api_strict", "torch")), indirect=True)
def test_logsumexp_on_backends(backend):
    a = np.random.default_rng(6).standard_normal((3, 4))
    t = xpgrad.tensor(backend.asarray(a), requires_grad=True)
    out = xs.logsumexp(t, axis=0)
    np.testing.assert_allclose(host(out), sc.logsumexp(a, axis=0), rtol=1e-13)
    xa.sum(out).backward()
    np.testing.assert_allclose(host(t.grad), sc.softmax(a, axis=0), rtol=1e-12)


# -- edges: empty, nan, integers, refusals -------------------------------------------------


@pytest.mark.parametrize("name", ["erf", "gammaln", "xlogy", "gammainc", "betainc", "polygamma"])
def test_zero_size_inputs(name):
    inputs, params = CASES[name]
    empty = [v[:0] for v in inputs]
    checked = _checked(name, inputs)
    ts = [xpgrad.tensor(v, requires_grad=i in checked) for i, v in enumerate(empty)]
    out = getattr(xs, name)(*ts, *params)
    assert out.shape == (0,)
    xa.sum(out).backward()
    for i in checked:
        assert ts[i].grad.shape == (0,)


def test_nan_propagates_to_the_gradient():
    x = xpgrad.tensor(np.array([np.nan, 0.5]), requires_grad=True)
    xa.sum(xs.erf(x) + xs.gammaln(x + 1.0) + xs.i1(x) + xs.xlogy(x, 2.0)).backward()
    assert np.isnan(x.grad[0]) and np.isfinite(x.grad[1])


def test_integer_inputs_give_values_and_no_gradient():
    n = np.array([1, 2, 3])
    out, ctx = ops.gammaln.forward(n)
    np.testing.assert_allclose(out, sc.gammaln(n), rtol=1e-15)
    assert out.dtype == np.float64 and ctx.needs_input_grad == (False,)
    assert ops.gammaln.backward(np.ones(3), ctx) == (None,)
    out, ctx = ops.xlogy.forward(n, np.array([0.5, 1.5, 2.5]))
    assert ctx.needs_input_grad == (False, True)
    with pytest.raises(TypeError, match="floating"):
        xpgrad.tensor(n, requires_grad=True)


def test_python_numbers_are_constants():
    x = xpgrad.tensor(np.array([0.5, 2.0]), requires_grad=True)
    out = xs.xlogy(2.0, x)
    np.testing.assert_allclose(host(out), sc.xlogy(2.0, x.data))
    xa.sum(out).backward()
    np.testing.assert_allclose(x.grad, 2.0 / x.data)
    with pytest.raises(TypeError, match="no array among the inputs"):
        xs.xlogy(2.0, 3.0)


@pytest.mark.parametrize("name, args, arg", [
    ("gammainc", (("t", 1.5), ("a", 0.5)), "a"),
    ("betainc", (("t", 2.0), ("a", 3.0), ("a", 0.5)), "a"),
    ("betainc", (("a", 2.0), ("t", 3.0), ("a", 0.5)), "b"),
    ("hyp1f1", (("a", 2.0), ("t", 3.0), ("a", 0.5)), "b"),
    ("zeta", (("t", 3.0), ("a", 1.5)), "x"),
    ("polygamma", (("t", 1.0), ("a", 1.5)), "n"),
    ("stdtr", (("t", 3.0), ("a", 0.5)), "df"),
    ("gdtr", (("a", 1.0), ("t", 2.0), ("a", 0.5)), "b"),
    ("fdtr", (("t", 1.0), ("a", 2.0), ("a", 0.5)), "dfn"),
    ("chdtri", (("t", 1.0), ("a", 0.5)), "v"),
])
def test_a_gradient_without_closed_form_is_refused_by_name(name, args, arg):
    ts = [xpgrad.tensor(np.array([v]), requires_grad=kind == "t") for kind, v in args]
    message = rf"{name}: {arg} requires grad, but {name} has no gradient with respect to {arg} "
    with pytest.raises(TypeError, match=message):
        getattr(xs, name)(*ts)
    with xpgrad.no_grad():  # no gradient recorded: nothing to refuse
        getattr(xs, name)(*ts)
    getattr(xs, name)(*[t.detach() for t in ts])
    # xpgrad.apply of the rule records it; its backward refuses
    out = xpgrad.apply(getattr(ops, name), tuple(ts))
    with pytest.raises(TypeError, match=rf"{name}: {arg} requires grad"):
        xa.sum(out).backward()


def test_complex_arguments_are_refused():
    with pytest.raises(TypeError, match="erf: z is complex"):
        ops.erf.forward(np.array([1j]))


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="does not differentiate scipy.special.ellipk"):
        getattr(xs, "ellipk")  # noqa: B009 - the attribute access is what is tested
    assert getattr(xa.special, "ellipk", None) is None  # what scipy's dispatch asks


def test_signatures_are_scipys():
    import inspect

    assert str(inspect.signature(xs.gammainc)) == "(a, x, /)"
    assert str(inspect.signature(xs.polygamma)) == "(n, x)"
    assert str(inspect.signature(xs.zeta)) == "(x, q=None)"
    assert str(inspect.signature(xs.multigammaln)) == "(a, d)"
    assert str(inspect.signature(ops.betainc.forward)) == "(a, b, x)"
    assert str(inspect.signature(xs.logsumexp)) == "(a, axis=None, b=None, keepdims=False, return_sign=False)"
    assert xs.digamma.__doc__.startswith("digamma(z, /)")
    x = xpgrad.tensor(np.array([1.5]))
    assert host(xs.zeta(x=x + 1.5, q=x)) == sc.zeta(3.0, 1.5)
    with pytest.raises(TypeError, match="gammainc"):
        xs.gammainc(x)


def test_importing_xpgrad_imports_no_array_library():
    code = (
        "import sys, xpgrad, xpgrad.array_api.special, xpgrad.ops.special\n"
        "bad = [m for m in ('scipy', 'torch', 'jax', 'dask', 'cupy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_rule_documents_its_derivative():
    for name in xs.__all__:
        doc = getattr(xs, name).__doc__
        assert doc.startswith(f"{name}("), doc[:60]
        assert "out" in doc or name in ("logsumexp", "softmax", "log_softmax")
    assert math.isclose(1.0, 1.0)


@pytest.mark.parametrize(
    "name, f",
    [
        ("chdtr", lambda x: xs.chdtr(2.0, x)),
        ("chdtrc", lambda x: xs.chdtrc(2.0, x)),
        ("gammainc", lambda x: xs.gammainc(1.0, x)),
        ("gammaincc", lambda x: xs.gammaincc(1.0, x)),
        ("gdtr", lambda x: xs.gdtr(1.0, 1.0, x)),
    ],
)
def test_gamma_distributions_have_no_slope_below_zero(name, f):
    # With shape 1 (chi-square with 2 degrees of freedom) the density's
    # formula x^0 e^-x / gamma(1) is e^-x everywhere, so x = -1 got a gradient
    # of e (chdtrc: -e/2) and a second derivative of -e: no distribution has
    # mass below 0, and on torch chdtrc's value there is the constant 1
    # mass below 0, and on torch chdtrc's value there is the constant 1. Where
    # scipy's value is NaN (NumPy's), so is the gradient: never e.
    x = xpgrad.tensor(np.array([-3.0, -1.0, 1.0]), requires_grad=True)
    out = f(x)
    xa.sum(out).backward()
    h = xpgrad.hessian(lambda t: xa.sum(f(t)))(x.detach())
    scale = {"chdtr": 0.5, "chdtrc": -0.5, "gammaincc": -1.0}.get(name, 1.0)
    below = np.where(np.isnan(host(out)[:2]), np.nan, 0.0)
    assert np.isnan(below).all()  # scipy's value below 0
    np.testing.assert_allclose(host(x.grad), [*below, scale * np.exp(-(0.5 if "chdtr" in name else 1.0))], rtol=1e-13)
    np.testing.assert_allclose(np.diag(host(h))[:2], [0.0, 0.0], atol=0)  # the NaN is a constant


# Distributions of large parameters: their densities (the gradients of the
# distribution functions and of their inverses) written as exp of a sum of
# logarithms lost every digit to cancellation (gammainc's at a = 1e16 gave
# 1.6e-28 for 3.8e-9; stdtrit's 2.0e8 for 2.88). (function of x, scipy's, x, step)
LARGE = {
    "stdtr-1e16": (lambda t: xs.stdtr(1e16, t), lambda t: sc.stdtr(1e16, t), 0.5, 1e-5),
    "stdtrit-1e16": (lambda p: xs.stdtrit(1e16, p), lambda p: sc.stdtrit(1e16, p), 0.7, 1e-6),
    "gammainc-1e16": (lambda x: xs.gammainc(1e16, x), lambda x: sc.gammainc(1e16, x),
                      1e16 + 3e7, 1e4),
    "chdtr-1e14": (lambda x: xs.chdtr(1e14, x), lambda x: sc.chdtr(1e14, x), 1e14 + 2e7, 1e3),
    "pdtr-1e12": (lambda m: xs.pdtr(10**12, m), lambda m: sc.pdtr(10**12, m), 1e12 - 1e6, 1e2),
    "fdtr-dfd-1e16": (lambda x: xs.fdtr(3.0, 1e16, x), lambda x: sc.fdtr(3.0, 1e16, x), 1.2, 1e-5),
    "betainc-1e12": (lambda x: xs.betainc(1e12, 1e12, x), lambda x: sc.betainc(1e12, 1e12, x),
                     0.5 + 1e-7, 1e-10),
}


@pytest.mark.parametrize("name", sorted(LARGE))
def test_gradients_at_large_parameters_match_differences(name):
    f, ref, x, h = LARGE[name]
    t = xpgrad.tensor(np.array([x]), requires_grad=True)
    xa.sum(f(t)).backward()
    want = (ref(x + h) - ref(x - h)) / (2 * h)
    np.testing.assert_allclose(float(t.grad[0]), want, rtol=1e-4)


def _f_pdf(m, n, x):
    """The F density through scipy.stats' beta density (accurate at large parameters)."""
    st = pytest.importorskip("scipy.stats")
    d = n + m * x
    return st.beta.pdf(m * x / d, m / 2, n / 2) * (n / d) * m / d


def _binom_slope(k, n, p):
    """d/dp P(X <= k), X ~ Binomial(n, p): -n P(Y = k), Y ~ Binomial(n - 1, p)."""
    st = pytest.importorskip("scipy.stats")
    return -n * st.binom.pmf(k, n - 1, p)


# Where scipy's own differences are noise: closed forms. (function, its derivative, x)
LARGE_EXACT = {
    "fdtr-both-1e14": (lambda x: xs.fdtr(1e14, 1e14, x), lambda x: _f_pdf(1e14, 1e14, x), 1 + 1e-7),
    "bdtr-1e8": (lambda p: xs.bdtr(5 * 10**7, 10**8, p), lambda p: _binom_slope(5 * 10**7, 10**8, p), 0.5),
}


@pytest.mark.parametrize("name", sorted(LARGE_EXACT))
def test_gradients_at_large_parameters_match_closed_forms(name):
    f, slope, x = LARGE_EXACT[name]
    t = xpgrad.tensor(np.array([x]), requires_grad=True)
    xa.sum(f(t)).backward()
    np.testing.assert_allclose(float(t.grad[0]), slope(x), rtol=1e-9)  # was 12% and 1e-7 off


@pytest.mark.parametrize("name, f, ref, x, h", [
    ("fdtr", lambda t: xs.fdtr(3.0, 1e5, t), lambda t: sc.fdtr(3.0, 1e5, t), 1.0, 1e-5),
    ("pdtr", lambda t: xs.pdtr(100000, t), lambda t: sc.pdtr(100000, t), 1e5, 1e-1),
    ("gammainc", lambda t: xs.gammainc(1e6, t), lambda t: sc.gammainc(1e6, t), 1e6, 1.0),
    ("stdtr", lambda t: xs.stdtr(1e7, t), lambda t: sc.stdtr(1e7, t), 0.5, 1e-5),
], ids=["fdtr", "pdtr", "gammainc", "stdtr"])
def test_float32_gradients_at_large_parameters(name, f, ref, x, h):
    # in float32 the cancellation showed at parameters of 1e5 (fdtr 7% off)
    t = xpgrad.tensor(np.array([x], dtype=np.float32), requires_grad=True)
    xa.sum(f(t)).backward()
    assert t.grad.dtype == np.float32
    np.testing.assert_allclose(float(t.grad[0]), (ref(x + h) - ref(x - h)) / (2 * h), rtol=1e-4)


def test_second_derivatives_at_large_parameters_match_differences_of_the_gradient():
    cases = [(lambda x: xs.gammainc(1e8, x), 1e8 + 3e3, 1.0),
             (lambda t: xs.stdtr(1e10, t), 0.5, 1e-5),
             (lambda x: xs.betainc(1e6, 2e6, x), 1.0 / 3.0 + 1e-4, 1e-7),
             (lambda x: xs.fdtr(1e6, 1e6, x), 1.001, 1e-6)]
    for f, x, h in cases:
        grad = xpgrad.grad(lambda y: xa.sum(f(y)))
        second = float(xpgrad.hessian(lambda y: xa.sum(f(y)))(np.array([x]))[0, 0])
        want = (float(grad(np.array([x + h]))[0]) - float(grad(np.array([x - h]))[0])) / (2 * h)
        np.testing.assert_allclose(second, want, rtol=1e-4)


@pytest.mark.parametrize("z, second, third", [
    (0.0, 2 * 0.5772156649015329, -3.9352684291215234),
    (-2.0, -3.6911373403938685, -12.260418826470637),
    (-3.0, 15.073412021181605, None),
])
def test_rgammas_derivatives_at_its_zeros(z, second, third):
    # rgamma''(-k) = -2 (-1)^k k! psi(k + 1) (mpmath's values); the pole branch's
    # remainder(-z, 2) was differentiated too: 2.58 at 0 for 1.15
    f = lambda t: xs.rgamma(t)  # noqa: E731
    assert float(xpgrad.grad(f)(z)) == [1.0, 2.0, -6.0][[0.0, -2.0, -3.0].index(z)]
    np.testing.assert_allclose(float(xpgrad.grad(xpgrad.grad(f))(z)), second, rtol=1e-12)
    if third is not None:
        np.testing.assert_allclose(float(xpgrad.grad(xpgrad.grad(xpgrad.grad(f)))(z)), third, rtol=1e-10)


@pytest.mark.parametrize("z, m, first, second", [
    # integer m: the polynomial z (z + 1) ... (z + m - 1), differentiated by hand
    (-3.0, 2.0, -5.0, 2.0), (-3.0, 5.0, -6.0, 10.0), (0.0, 3.0, 2.0, 6.0),
    (-2.0, 2.0, -3.0, 2.0), (-2.0, 0.0, 0.0, 0.0),
    # gamma(z + m) rgamma(z): gamma(m - k) (-1)^k k!, and mpmath's second derivative of rf
    (-3.0, 1.5, -8.0 * math.sqrt(math.pi), 15.681566449615288),
    (-1.0, 0.5, 2.0 * math.sqrt(math.pi), -2.7387557118001447),
])
def test_pochs_derivatives_where_z_is_a_pole_of_gamma(z, m, first, second):
    # psi(z + m) - psi(z) is inf - inf there: the gradient was NaN
    f = lambda t: xs.poch(t, m)  # noqa: E731
    np.testing.assert_allclose(float(xpgrad.grad(f)(z)), first, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(float(xpgrad.grad(xpgrad.grad(f))(z)), second, rtol=1e-12,
                               atol=1e-300)


@pytest.mark.parametrize("name, x, want", [
    # phi / Phi = -x - 1/x + ... for x << 0; plain, exp(-x^2/2 - out) cancelled: 1000109
    ("log_ndtr", -1e6, 1e6 + 1e-6), ("log_ndtr", -1e10, 1e10), ("log_ndtr", -math.inf, math.inf),
    # -1 / (sqrt(pi) x^2) (1 - 3 / (2 x^2)); plain, 2 x out - 2 / sqrt(pi) gave 0 and nan
    ("erfcx", 1e8, -1.0 / (math.sqrt(math.pi) * 1e16)), ("erfcx", 1e3, -5.641887372654967e-07),
    ("erfcx", math.inf, 0.0),
    # e^-x / (1 + e^-x)^2: out * (1 - out) was 0 past 37 and 1e-3 off at 30
    ("expit", 40.0, math.exp(-40.0) / (1.0 + math.exp(-40.0)) ** 2),
    ("expit", 30.0, math.exp(-30.0) / (1.0 + math.exp(-30.0)) ** 2),
])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's 1 / 0 at -inf
def test_gradients_in_the_tails(name, x, want):
    got = float(xpgrad.grad(getattr(xs, name))(x))
    if math.isinf(want) or want == 0.0:
        assert got == want
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_gradient_is_nan_where_the_value_is():
    # exp1 of a negative number is NaN in scipy (complex in truth): its gradient
    # was -e^-x / x = 2.718 at -1; gammainc's below 0 was 0; psi's at -inf inf
    for f, x in [(xs.exp1, -1.0), (lambda t: xs.gammainc(3.0, t), -1.0), (xs.psi, -math.inf)]:
        assert math.isnan(float(xpgrad.grad(f)(x)))
    assert float(xpgrad.grad(xs.exp1)(1.0)) == pytest.approx(-math.exp(-1.0))
    # where the value is finite and the slope infinite, the second derivative keeps its
    # infinity (the value in the mask made it 0 * inf = NaN)
    assert float(xpgrad.grad(xpgrad.grad(xs.entr))(0.0)) == -math.inf
    # and the second derivative is NaN there too, not 0 (the mask was a constant NaN),
    # without touching its neighbour: E1'' = e^-x (1 / x + 1 / x^2), 2 / e at 1
    second = xpgrad.hvp(lambda t: xa.sum(xs.exp1(t)), np.array([-1.0, 1.0]), np.ones(2))
    assert math.isnan(second[0])
    assert second[1] == pytest.approx(2.0 / math.e, rel=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_boxcox_at_lambda_0_and_at_the_logs_minus_infinity():
    lam = xpgrad.tensor(np.array([0.5, 2.0]), requires_grad=True)
    xa.sum(xs.boxcox(np.zeros(2), lam) + xs.boxcox1p(-np.ones(2), lam)).backward()
    np.testing.assert_allclose(lam.grad, 2.0 / np.array([0.5, 2.0]) ** 2)  # both -1/lmbda: 1/lmbda^2
    t = xpgrad.tensor(np.array([-math.inf, -800.0]), requires_grad=True)
    xa.sum(xs.exprel(t)).backward()
    np.testing.assert_allclose(t.grad, [0.0, 1.0 / 800**2 - math.exp(-800.0)], rtol=1e-12)


def test_boxcox_at_lambda_0_in_float16_on_torch():
    torch = pytest.importorskip("torch")
    x = xpgrad.tensor(torch.tensor([1.5, 2.0], dtype=torch.float16))
    for f, want in ((xs.boxcox, np.log([1.5, 2.0])), (xs.boxcox1p, np.log1p([1.5, 2.0]))):
        got = f(x, 0.0).data  # 1e-19 is 0 in float16: expm1(0) / 0 gave NaN
        np.testing.assert_allclose(got.float().numpy(), want, rtol=1e-3)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's inf - inf in discarded branches
def test_slopes_at_infinity_are_their_limits():
    # gammainc's density at x = inf was exp(inf - inf) = NaN for a > 1; rgamma's
    # -out * psi(z) was 0 * inf
    for f in (lambda t: xs.gammainc(3.0, t), lambda t: xs.gammainc(1.5, t),
              lambda t: xs.pdtr(3, t), xs.rgamma):
        assert float(xpgrad.grad(f)(math.inf)) == 0.0
    assert float(xpgrad.grad(lambda y: xs.gammaincinv(2.0, y))(1.0)) == math.inf


@pytest.mark.parametrize("a", [1e10, 1e14, 30.0])
def test_betaln_and_poch_gradients_at_large_arguments(a):
    # psi(a) - psi(a + 1.5) cancels: -1.42e-14 for -1.5e-14 at a = 1e14. Taylor:
    # psi(a + h) - psi(a) = h / a - h (h - 1) / (2 a^2) + ... (h = 1.5: 1.5/a - 0.375/a^2)
    h = 1.5
    want = h / a - h * (h - 1) / (2 * a * a) + h * (h - 1) * (2 * h - 1) / (6 * a**3)
    got = xpgrad.grad(lambda t: xs.betaln(t, h))(a)
    np.testing.assert_allclose(float(got), -want, rtol=1e-5 if a < 100 else 1e-12)
    got = xpgrad.grad(lambda t: xs.poch(t, 0.5))(a)  # poch(a, 0.5) = gamma(a + 0.5) / gamma(a)
    np.testing.assert_allclose(float(got) / float(sc.poch(a, 0.5)),
                               0.5 / a - 0.5 * (0.5 - 1) / (2 * a * a), rtol=1e-5 if a < 100 else 1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype, big", [(np.float64, 1e308), (np.float32, 3e38)])
def test_fdtrs_slope_where_dfn_x_overflows(dtype, big):
    # p = dfn x / (dfd + dfn x) was inf / inf: NaN where the slope is 0
    t = xpgrad.tensor(np.array([1.2, big], dtype=dtype), requires_grad=True)
    xa.sum(xs.fdtr(10.0, 5.0, t)).backward()
    assert t.grad.dtype == dtype and float(t.grad[1]) == 0.0
    np.testing.assert_allclose(float(t.grad[0]), float(sc.fdtr(10.0, 5.0, 1.2 + 1e-6) - sc.fdtr(10.0, 5.0, 1.2 - 1e-6)) / 2e-6, rtol=1e-4)


def test_logsumexps_gradient_for_a_weight_of_zero():
    # where(b == 0, -inf, a) cut b_j out of the graph: d/db_j was 0 for exp(a_j - out),
    # so a mixture weight at 0 never moved (scipy's differences and the formula agree)
    a, b = np.array([0.5, 1.0, -0.3]), np.array([1.0, 0.0, 2.0])
    out = sc.logsumexp(a, b=b)
    grad_b = xpgrad.grad(lambda w: xa.special.logsumexp(xpgrad.tensor(a), b=w))(b)
    np.testing.assert_allclose(grad_b, np.exp(a - out), rtol=1e-13)
    grad_a = xpgrad.grad(lambda t: xa.special.logsumexp(t, b=xpgrad.tensor(b)))(a)
    np.testing.assert_allclose(grad_a, b * np.exp(a - out), rtol=1e-13)
    for av in ([np.inf, 1.0], [np.nan, 1.0], [1000.0, 1.0]):  # weight 0: adds nothing
        got = float(xa.special.logsumexp(xpgrad.tensor(np.array(av)), b=xpgrad.tensor(np.array([0.0, 1.0]))))
        assert got == 1.0


def test_a_float32_argument_beside_a_float64_one_is_computed_in_float64_on_torch():
    # the compositions torch needs (betaln's lgamma(a), boxcox's log(x)) ran on the
    # float32 argument before promotion: 8.8e-9 and 4.7e-8 off in a float64 result
    torch = pytest.importorskip("torch")
    a, b = np.array([0.7, 1.3], np.float32), np.array([0.6, 1.1])
    ta = xpgrad.tensor(torch.asarray(a), requires_grad=True)
    for f, ref in ((xs.betaln, sc.betaln), (xs.boxcox, sc.boxcox)):
        got = f(ta, xpgrad.tensor(torch.asarray(b)))
        assert dtype_name(got) == "float64"
        np.testing.assert_allclose(host(got), ref(a.astype(np.float64), b), rtol=1e-14)
    xa.sum(xs.betaln(ta, xpgrad.tensor(torch.asarray(b)))).backward()
    assert ta.grad.dtype == torch.float32

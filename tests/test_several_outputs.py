"""Rules with several results (eigh, slogdet): the functional rule returns a
tuple and its backward takes one gradient per result (None for a result no
gradient reached); the Tensor gives each result its own Tensor, and the
gradients of the results that are used meet in one backward of the rule."""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xa
from xpgrad import ops
from xpgrad.testing import gradcheck

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


def _symmetric(n=4, seed=0):
    a = np.random.default_rng(seed).standard_normal((n, n))
    return a + a.T + n * np.eye(n)


def _torch_grad(fn, x):
    t = torch.tensor(x, requires_grad=True)
    fn(t).backward()
    return t.grad.numpy()


def test_eigh_rule_returns_both_results_and_gradchecks():
    x = _symmetric()
    (w, v), ctx = ops.eigh.forward(x)
    w_ref, v_ref = np.linalg.eigh(x)
    np.testing.assert_allclose(w, w_ref, rtol=1e-12)
    np.testing.assert_allclose(np.abs(v), np.abs(v_ref), rtol=1e-10)
    assert ctx.out_shape == ((4,), (4, 4))
    # eigh reads the lower triangle: check on symmetric perturbations
    sym = lambda x: xa.linalg.eigh((x + xa.matrix_transpose(x)) / 2)  # noqa: E731
    assert gradcheck(lambda x: xa.sum(sym(x)[0] * xa.asarray([1.0, -2.0, 3.0, 0.5])), x)
    assert gradcheck(lambda x: xa.sum(sym(x)[1] ** 2 * x), x)


@pytest.mark.parametrize("used", ["w", "v", "both", "w twice"])
def test_eigh_gradient_of_the_results_used_matches_torch(used):
    x = _symmetric(seed=1)
    c = np.random.default_rng(2).standard_normal((4, 4))

    def loss(ns, t):
        w, v = ns.linalg.eigh(t)
        cc = c if ns is xa else torch.tensor(c)
        terms = {"w": [w * w[0]], "v": [(v * v) @ cc], "both": [w, (v * v) @ cc],
                 "w twice": [w * 2.0, ns.exp(w / 10.0)]}[used]
        return sum(ns.sum(term) for term in terms)

    t = xpgrad.tensor(x, requires_grad=True)
    loss(xa, t).backward()
    expected = _torch_grad(lambda t: loss(_TorchNS, t), x)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-9, atol=1e-12)


class _TorchNS:
    """The few torch spellings the loss above needs, by the standard's names."""

    linalg = torch.linalg
    sum = staticmethod(torch.sum)
    exp = staticmethod(torch.exp)


def test_eigh_backward_with_one_result_missing():
    x = _symmetric(seed=3)
    (w, v), ctx = ops.eigh.forward(x)
    gw = np.arange(4.0)
    (only_w,) = ops.eigh.backward((gw, None), ctx)
    np.testing.assert_allclose(only_w, v @ np.diag(gw) @ v.T, rtol=1e-10, atol=1e-12)
    (none,) = ops.eigh.backward((None, None), ctx)
    np.testing.assert_array_equal(none, np.zeros((4, 4)))


def test_slogdet_sign_alone_gives_a_zero_gradient_and_logabsdet_the_inverse():
    x = _symmetric(seed=4)
    (sign, logabs), ctx = ops.slogdet.forward(x)
    assert sign == 1.0 and np.isclose(logabs, np.linalg.slogdet(x)[1])
    (g_sign,) = ops.slogdet.backward((np.asarray(5.0), None), ctx)
    np.testing.assert_array_equal(g_sign, np.zeros_like(x))
    (g,) = ops.slogdet.backward((None, np.asarray(2.0)), ctx)
    np.testing.assert_allclose(g, 2.0 * np.linalg.inv(x).T, rtol=1e-10)


def test_several_results_backward_errors_name_the_op():
    (w, v), ctx = ops.eigh.forward(_symmetric())
    with pytest.raises(TypeError, match=r"eigh\.backward: grad_out must be a tuple of 2"):
        ops.eigh.backward(np.ones(4), ctx)
    with pytest.raises(TypeError, match=r"eigh\.backward: grad_out must be a tuple of 2"):
        ops.eigh.backward((np.ones(4),), ctx)
    with pytest.raises(ValueError, match=r"eigh\.backward: grad_out has shape \(3,\)"):
        ops.eigh.backward((np.ones(3), None), ctx)
    _, other = ops.slogdet.forward(_symmetric())
    with pytest.raises(TypeError, match=r"eigh\.backward: ctx must be the one eigh\.forward"):
        ops.eigh.backward((None, None), other)


def test_each_result_is_its_own_tensor_and_the_graph_is_released():
    t = xpgrad.tensor(_symmetric(seed=5), requires_grad=True)
    w, v = xa.linalg.eigh(t)
    assert w.requires_grad and v.requires_grad and w.shape == (4,) and v.shape == (4, 4)
    loss = xa.sum(w) + xa.sum(v * v)
    loss.backward()
    with pytest.raises(RuntimeError, match="released"):
        xa.sum(w).backward()
    with xpgrad.no_grad():
        w2, v2 = xa.linalg.eigh(t)
    assert not w2.requires_grad and not v2.requires_grad

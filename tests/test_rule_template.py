"""The rule template: a new rule written the documented way (ops/__init__.py)
gets argument checks, broadcasting, dtype casts and every backend for free.

The two rules here exist only in this test. Their gradients are checked by
finite differences and against torch autograd, so a template that dropped a
sum_to, a cast or a needs_input_grad flag would fail here.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad

from tests.support import assert_allclose, host, torch_grads
from xpgrad.ops import Binary, Unary
from xpgrad.testing import gradcheck


class hypot_sq(Binary):
    """``out = a * a + b * b``; da = 2 G a, db = 2 G b."""

    saves = ("a", "b")

    @staticmethod
    def compute(xp, a, b):
        return a * a + b * b

    @staticmethod
    def grad_a(xp, g, s):
        return g * (2 * s.a)

    @staticmethod
    def grad_b(xp, g, s):
        return g * (2 * s.b)


class exp(Unary):
    """``out = exp(x)``; dx = G out."""

    saves = ("out",)

    @staticmethod
    def compute(xp, x):
        return xp.exp(x)

    @staticmethod
    def grad(xp, g, s):
        return g * s.out


SHAPES = [((3, 4), (3, 4)), ((3, 1), (4,)), ((2, 1, 3), (1, 4, 1)), ((), (2, 3)), ((0, 3), (3,))]


@pytest.mark.parametrize("sa, sb", SHAPES, ids=[f"{a}x{b}" for a, b in SHAPES])
def test_binary_template_gradients(backend, rng, sa, sb):
    a_host, b_host = rng.standard_normal(sa), rng.standard_normal(sb)
    a, b = backend.asarray(a_host), backend.asarray(b_host)
    out, ctx = hypot_sq.forward(a, b)
    upstream = rng.standard_normal(out.shape)
    ga, gb = hypot_sq.backward(backend.asarray(upstream), ctx)
    assert tuple(ga.shape) == sa and tuple(gb.shape) == sb
    assert_allclose(out, a_host**2 + b_host**2)
    _, (ta, tb) = torch_grads(lambda x, y: x * x + y * y, [a_host, b_host], upstream)
    assert_allclose(ga, ta)
    assert_allclose(gb, tb)


def test_templates_finite_differences():
    rng = np.random.default_rng(3)
    assert gradcheck(hypot_sq, rng.standard_normal((3, 1)), rng.standard_normal((2, 1, 4)))
    assert gradcheck(exp, rng.standard_normal((2, 3)))


def test_binary_template_scalar_operand_gets_no_gradient(backend):
    a = backend.asarray(np.array([1.0, 2.0]))
    out, ctx = hypot_sq.forward(a, 3.0)
    ga, gb = hypot_sq.backward(backend.asarray(np.ones(2)), ctx)
    assert gb is None
    assert_allclose(ga, [2.0, 4.0])
    assert_allclose(out, [10.0, 13.0])


def test_template_casts_to_the_input_dtype(backend):
    a = backend.asarray(np.array([1.0, 2.0]), "float32")
    b = backend.asarray(np.array([[1.0], [2.0]]), "float64")
    out, ctx = hypot_sq.forward(a, b)
    ga, gb = hypot_sq.backward(backend.asarray(np.ones((2, 2))), ctx)
    assert ga.dtype == a.dtype and gb.dtype == b.dtype
    assert_allclose(ga, [4.0, 8.0], "float32")  # 2 * a * 2 rows
    assert_allclose(gb, [[4.0], [8.0]])  # 2 * b, summed over 2 columns


def test_template_respects_needs_input_grad(backend):
    a, b = backend.asarray(np.ones(2)), backend.asarray(np.ones(2))
    _, ctx = hypot_sq.forward(a, b)
    ctx.needs_input_grad = (False, True)
    ga, gb = hypot_sq.backward(backend.asarray(np.ones(2)), ctx)
    assert ga is None and gb is not None


def test_template_errors_name_the_new_rule():
    with pytest.raises(TypeError, match=r"^hypot_sq: a is a list"):
        hypot_sq.forward([1.0], np.ones(1))
    with pytest.raises(ValueError, match=r"^hypot_sq: shapes \(2,\), \(3,\) do not broadcast"):
        hypot_sq.forward(np.ones(2), np.ones(3))
    _, ctx = exp.forward(np.ones(2))
    with pytest.raises(ValueError, match=r"^exp.backward: grad_out has shape \(3,\), expected \(2,\)"):
        exp.backward(np.ones(3), ctx)
    with pytest.raises(TypeError, match=r"^hypot_sq.backward: ctx must be the one hypot_sq.forward"):
        hypot_sq.backward(np.ones(2), ctx)


def test_unary_template_against_numpy(backend, rng):
    x_host = rng.standard_normal((3, 2))
    out, ctx = exp.forward(backend.asarray(x_host))
    (gx,) = exp.backward(backend.asarray(np.full((3, 2), 0.5)), ctx)
    assert_allclose(out, np.exp(x_host))
    assert_allclose(gx, 0.5 * np.exp(x_host))
    assert host(gx).shape == (3, 2)


def test_a_users_rule_has_its_gradients_checked_where_the_tensor_records_it():
    # xpgrad's own rules are trusted; a user's gave .grad whatever it returned: a 0-d
    # gradient for a (3,) input, a (1, 3) one, one gradient for two inputs (the second
    # got None), a bare array (unpacked element by element), another library's array
    from typing import NamedTuple

    from xpgrad._backend import resolve
    from xpgrad.ops import Rule

    class Saved(NamedTuple):
        a: object
        b: object

    def rule(grads):
        class mymul(Rule):
            args = ("a", "b")

            @classmethod
            def forward(cls, a, b):
                xp, scope = resolve("mymul", a, b)
                return cls.record(xp, scope, Saved(a, b), (True, True), a * b)

            @staticmethod
            def gradients(xp, g, s, needs):
                return grads(xp, g, s)

        return mymul

    bad = [
        (lambda xp, g, s: (xp.sum(g * s.b), g * s.a), (TypeError, ValueError),
         r"gave (a numpy.float64|shape \(\)) for input 0"),
        (lambda xp, g, s: (xp.reshape(g * s.b, (1, 3)), g * s.a), ValueError,
         r"gave shape \(1, 3\) for input 0, whose shape is \(3,\)"),
        (lambda xp, g, s: (g * s.b,), TypeError, "must return a tuple of 2 gradients.*tuple of 1"),
        (lambda xp, g, s: g * s.b, TypeError, "must return a tuple of 2 gradients.*ndarray"),
        (lambda xp, g, s: (g * s.b + 1j, g * s.a), TypeError, "gave a complex gradient"),
    ]
    for grads, error, match in bad:
        a = xpgrad.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
        b = xpgrad.tensor(np.array([2.0, 3.0, 4.0]), requires_grad=True)
        with pytest.raises(error, match=rf"^mymul.backward: {match}"):
            xpgrad.apply(rule(grads), (a, b)).sum().backward()
    # another real dtype is cast, as torch's engine does
    a = xpgrad.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = xpgrad.tensor(np.array([2.0, 3.0, 4.0]), requires_grad=True)
    cast = rule(lambda xp, g, s: (xp.astype(g * s.b, xp.float32), g * s.a))
    xpgrad.apply(cast, (a, b)).sum().backward()
    assert a.grad.dtype == np.float64 and a.grad.tolist() == [2.0, 3.0, 4.0]
    # a subclass of a user's rule is checked as its own (its gradients, not its parent's)
    Base = rule(lambda xp, g, s: (g * s.b, g * s.a))

    class Child(Base):
        @staticmethod
        def gradients(xp, g, s, needs):
            return (g * s.b * 2.0, g * s.a * 2.0)

    a = xpgrad.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    xpgrad.apply(Child, (a, b)).sum().backward()
    assert a.grad.tolist() == [4.0, 6.0, 8.0]

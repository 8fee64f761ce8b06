"""One op, one definition: defining a rule registers it in ``xpgrad.ops``,
and an element-wise rule that names its function of the standard becomes
that function of ``xpgrad.array_api``, documented with the rule's math. Every
callable of the namespace says what it is in its docstring."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import xpgrad
import xpgrad.array_api as xa
from xpgrad import ops
from xpgrad.ops import Binary, Unary
from xpgrad.ops._common import RULES
from xpgrad.testing import gradcheck


def test_ops_all_is_the_registry_and_the_templates():
    assert ops.__all__ == sorted(["Binary", "Ctx", "Rule", "Unary", *RULES])
    for name, rule in RULES.items():
        assert getattr(ops, name) is rule and rule.__name__ == name
    assert len(RULES) >= 85


@pytest.mark.parametrize("rule", [r for r in RULES.values() if r.standard], ids=lambda r: r.__name__)
def test_each_standard_rule_is_the_namespace_function_of_its_name(rule):
    function = getattr(xa, rule.standard)
    assert rule.standard in xa.__all__
    params = list(inspect.signature(function).parameters)
    expected = {1: ["x"], 2: ["x1", "x2"], 3: ["condition", "x1", "x2"]}[len(rule.args)]
    if rule.__name__ == "clip":
        expected = ["x", "min", "max"]
    assert params == expected
    first = inspect.cleandoc(rule.__doc__).splitlines()[0]
    assert first in function.__doc__ and f"xpgrad.ops.{rule.__name__}" in function.__doc__


def test_the_namespace_function_records_the_rule():
    x = xpgrad.tensor([0.5, 2.0], requires_grad=True)
    y = xa.multiply(x, 3.0)
    assert y._node.rule is ops.mul
    xa.sum(y).backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def _callables(module, names):
    return [(n, getattr(module, n)) for n in names if inspect.isfunction(getattr(module, n))]


@pytest.mark.parametrize(
    "name, function",
    _callables(xa, xa.__all__) + [(f"linalg.{n}", f) for n, f in _callables(xa.linalg, xa.linalg.__all__)],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_namespace_function_has_a_docstring_that_names_it(name, function):
    doc = function.__doc__ or ""
    assert len(doc) > 30, f"{name} has no docstring worth the name: {doc!r}"
    if function.__module__ == "xpgrad.array_api" and function.__name__ != "matrix_power":
        assert doc.startswith(function.__name__ + "("), doc[:80]


def test_a_users_rule_is_not_registered_but_applies_to_tensors():
    """The contributors' example: a new element-wise rule in one class, used on
    Tensors through xpgrad.apply and checked by finite differences."""

    class cube(Unary):
        """``out = x ** 3``; dx = 3 G x^2."""

        saves = ("x",)

        @staticmethod
        def compute(xp, x):
            return x * x * x

        @staticmethod
        def grad(xp, g, s):
            return g * (3 * s.x * s.x)

    assert "cube" not in RULES and not hasattr(ops, "cube")
    x = xpgrad.tensor([1.0, -2.0], requires_grad=True)
    xpgrad.apply(cube, (x,)).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 12.0])
    assert gradcheck(cube, np.array([0.3, -1.7]))


def test_saves_names_are_checked_when_the_rule_is_defined():
    with pytest.raises(TypeError, match=r"bad: saves names \['c'\]; a Binary rule may save a, b, out"):

        class bad(Binary):
            saves = ("a", "c")

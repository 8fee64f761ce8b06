"""Element-wise functions of the standard, generated from the rules.

Each rule of :mod:`xpgrad.ops` that names its function of the standard
(``standard = "multiply"``) becomes that function here: it takes Tensors,
native arrays (constants) and Python scalars where the standard allows them,
records the rule's node, and carries the rule's docstring (the derivative and
its conventions at the edges). ``positive`` is the one function without a
rule: it returns its input.
"""

from __future__ import annotations

import inspect

from .. import ops
from ..tensor import Tensor, apply


def _function(rule):
    """The standard's function for ``rule``, with the standard's signature."""
    n = len(rule.args)
    if rule.__name__ == "clip":

        def function(x, /, min=None, max=None):  # noqa: A002 - the standard's names
            return apply(rule, (x, min, max))

        signature = "x, /, min=None, max=None"
    elif n == 1:

        def function(x, /):
            return apply(rule, (x,))

        signature = "x, /"
    elif n == 2:

        def function(x1, x2, /):
            return apply(rule, (x1, x2))

        signature = "x1, x2, /"
    else:

        def function(condition, x1, x2, /):
            return apply(rule, (condition, x1, x2))

        signature = "condition, x1, x2, /"
    name = rule.standard
    function.__name__ = function.__qualname__ = name
    function.__module__ = "xpgrad.array_api"
    function.__doc__ = (
        f"{name}({signature}): the Array API standard's ``{name}``, recording its gradient.\n\n"
        f"{inspect.cleandoc(rule.__doc__ or '')}\n\n"
        f"The rule is :class:`xpgrad.ops.{rule.__name__}`; its ``forward`` and "
        f"``backward`` also work on plain arrays."
    )
    return function


def positive(x, /):
    """positive(x, /): ``x`` itself (a Tensor for an array); dx = G."""
    return x if type(x) is Tensor else Tensor(x)


_FUNCTIONS = {rule.standard: _function(rule) for rule in ops.RULES.values() if rule.standard}
globals().update(_FUNCTIONS)

__all__ = sorted([*_FUNCTIONS, "positive"])

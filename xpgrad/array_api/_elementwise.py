"""Element-wise functions of the standard, generated from the rules.

Each rule of :mod:`xpgrad.ops` that names its function of the standard
(``standard = "multiply"``) becomes that function here: it takes Tensors,
native arrays (constants) and Python scalars where the standard allows them,
records the rule's node, and carries the rule's docstring (the derivative and
its conventions at the edges). ``positive`` is the one function without a
rule: it returns its input.
"""

from __future__ import annotations

from .. import ops
from ..tensor import Tensor, apply
from ._docs import composed, records


def _function(rule):
    """The standard's function for ``rule``, with the standard's signature."""
    n = len(rule.args)
    if rule.__name__ == "clip":

        def function(x, /, min=None, max=None):  # noqa: A002 - the standard's names
            return apply(rule, (x, min, max))
    elif n == 1:

        def function(x, /):
            return apply(rule, (x,))
    elif n == 2:

        def function(x1, x2, /):
            return apply(rule, (x1, x2))
    else:

        def function(condition, x1, x2, /):
            return apply(rule, (condition, x1, x2))
    function.__name__ = function.__qualname__ = rule.standard
    return records(rule)(function)


@composed("``x`` itself (a Tensor for an array); dx = G.")
def positive(x, /):
    return x if type(x) is Tensor else Tensor(x)


_FUNCTIONS = {rule.standard: _function(rule) for rule in ops.RULES.values() if rule.standard}
globals().update(_FUNCTIONS)

__all__ = sorted([*_FUNCTIONS, "positive"])

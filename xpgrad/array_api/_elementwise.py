"""Element-wise functions of the standard, generated from the rules.

Each rule of :mod:`xpgrad.ops` that names its function of the standard
(``standard = "multiply"``) becomes that function here: it takes Tensors,
native arrays (constants) and Python scalars where the standard allows them,
records the rule's node, and carries the rule's docstring (the derivative and
its conventions at the edges). ``positive`` is the one function without a
rule: it returns its input.
"""

from __future__ import annotations

import re

from .. import ops
from ..tensor import Tensor, apply
from ._docs import composed, records


def _function(rule):
    """The standard's function for ``rule``, with the standard's signature."""
    n = len(rule.args)
    if rule.__name__ != rule.standard and n == 2:  # divide records div: errors say divide

        def function(x1, x2, /):
            try:
                return apply(rule, (x1, x2))
            except (TypeError, ValueError) as exc:
                raise _renamed(exc, rule, ("x1", "x2"))
    elif rule.__name__ != rule.standard and n == 1:

        def function(x, /):
            try:
                return apply(rule, (x,))
            except (TypeError, ValueError) as exc:
                raise _renamed(exc, rule, ("x",))
    elif rule.__name__ == "clip":

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


def _renamed(exc: Exception, rule, names: tuple) -> Exception:
    """``exc`` of ``rule`` (``div``) in the words of its function of the
    standard (``divide``, arguments ``x1`` and ``x2``); another error as it is."""
    text = str(exc)
    prefix = f"{rule.__name__}: "
    if not text.startswith(prefix):
        return exc
    text = text[len(prefix):]
    for old, new in zip(rule.args, names):
        text = re.sub(rf"(?<![\w.]){old}(?= is | has | must |\)|,)", new, text)
    renamed = type(exc)(f"{rule.standard}: {text}")
    renamed.__cause__ = exc  # raised without from: exc itself must not be its own cause
    return renamed


@composed("``x`` itself (a Tensor for an array); dx = G.")
def positive(x, /):
    return x if type(x) is Tensor else Tensor(x)


_FUNCTIONS = {rule.standard: _function(rule) for rule in ops.RULES.values() if rule.standard}
globals().update(_FUNCTIONS)

__all__ = sorted([*_FUNCTIONS, "positive"])

"""Element-wise functions of the standard, each recording its rule's node.

Each function takes Tensors, native arrays (constants) and Python scalars.
"""

from __future__ import annotations

from .. import ops
from ..tensor import Tensor, _apply

__all__ = ["add", "subtract", "multiply", "divide", "pow", "negative", "positive"]


def add(x1, x2, /):
    return _apply(ops.add, (x1, x2))


def subtract(x1, x2, /):
    return _apply(ops.sub, (x1, x2))


def multiply(x1, x2, /):
    return _apply(ops.mul, (x1, x2))


def divide(x1, x2, /):
    return _apply(ops.div, (x1, x2))


def pow(x1, x2, /):  # noqa: A001 - the standard's name
    return _apply(ops.pow, (x1, x2))


def negative(x, /):
    return _apply(ops.neg, (x,))


def positive(x, /):
    return x if type(x) is Tensor else Tensor(x)

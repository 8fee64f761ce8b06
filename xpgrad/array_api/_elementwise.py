"""Element-wise functions of the standard, each recording its rule's node.

Each function takes Tensors, native arrays (constants) and Python scalars
where the standard allows them; the math of each gradient, and its
conventions at the edges, is in the docstring of its rule in ``xpgrad.ops``.
"""

from __future__ import annotations

from .. import ops
from ..tensor import Tensor, _apply

__all__ = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "pow",
    "negative",
    "positive",
    "abs",
    "square",
    "sqrt",
    "exp",
    "expm1",
    "log",
    "log1p",
    "log2",
    "log10",
    "sin",
    "cos",
    "tan",
    "sinh",
    "cosh",
    "tanh",
    "asin",
    "acos",
    "atan",
    "asinh",
    "acosh",
    "atanh",
    "sign",
    "real",
    "imag",
    "conj",
    "reciprocal",
    "atan2",
    "hypot",
    "maximum",
    "minimum",
    "logaddexp",
    "copysign",
    "remainder",
    "clip",
    "where",
]


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


def abs(x, /):  # noqa: A001 - the standard's name
    return _apply(ops.abs, (x,))


def square(x, /):
    return _apply(ops.square, (x,))


def sqrt(x, /):
    return _apply(ops.sqrt, (x,))


def exp(x, /):
    return _apply(ops.exp, (x,))


def expm1(x, /):
    return _apply(ops.expm1, (x,))


def log(x, /):
    return _apply(ops.log, (x,))


def log1p(x, /):
    return _apply(ops.log1p, (x,))


def log2(x, /):
    return _apply(ops.log2, (x,))


def log10(x, /):
    return _apply(ops.log10, (x,))


def sin(x, /):
    return _apply(ops.sin, (x,))


def cos(x, /):
    return _apply(ops.cos, (x,))


def tan(x, /):
    return _apply(ops.tan, (x,))


def sinh(x, /):
    return _apply(ops.sinh, (x,))


def cosh(x, /):
    return _apply(ops.cosh, (x,))


def tanh(x, /):
    return _apply(ops.tanh, (x,))


def asin(x, /):
    return _apply(ops.asin, (x,))


def acos(x, /):
    return _apply(ops.acos, (x,))


def atan(x, /):
    return _apply(ops.atan, (x,))


def asinh(x, /):
    return _apply(ops.asinh, (x,))


def acosh(x, /):
    return _apply(ops.acosh, (x,))


def atanh(x, /):
    return _apply(ops.atanh, (x,))


def sign(x, /):
    return _apply(ops.sign, (x,))


def real(x, /):
    return _apply(ops.real, (x,))


def imag(x, /):
    return _apply(ops.imag, (x,))


def conj(x, /):
    return _apply(ops.conj, (x,))


def reciprocal(x, /):
    return _apply(ops.reciprocal, (x,))


def atan2(x1, x2, /):
    return _apply(ops.atan2, (x1, x2))


def hypot(x1, x2, /):
    return _apply(ops.hypot, (x1, x2))


def maximum(x1, x2, /):
    return _apply(ops.maximum, (x1, x2))


def minimum(x1, x2, /):
    return _apply(ops.minimum, (x1, x2))


def logaddexp(x1, x2, /):
    return _apply(ops.logaddexp, (x1, x2))


def copysign(x1, x2, /):
    return _apply(ops.copysign, (x1, x2))


def remainder(x1, x2, /):
    return _apply(ops.remainder, (x1, x2))


def clip(x, /, min=None, max=None):  # noqa: A002 - the standard's names
    return _apply(ops.clip, (x, min, max))


def where(condition, x1, x2, /):
    return _apply(ops.where, (condition, x1, x2))

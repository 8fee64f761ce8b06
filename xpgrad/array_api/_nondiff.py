"""The standard's functions whose values carry no gradient: comparisons,
predicates, logical and bitwise functions, rounding (piecewise constant, so
its gradient is zero wherever it exists), and index-valued searches. Each
delegates to the inputs' own namespace and returns a Tensor without a graph.

``nextafter`` and the ``unique_*`` functions do move with their inputs: they
refuse an input that requires grad rather than drop its gradient.
"""

from __future__ import annotations

import builtins

from .._backend import declare
from ..tensor import Tensor, _native_call, _plain, is_grad_enabled

__all__ = [
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "isnan", "isinf", "isfinite", "signbit",
    "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_invert",
    "bitwise_left_shift", "bitwise_right_shift",
    "floor", "ceil", "trunc", "round", "floor_divide", "nextafter",
    "argmax", "argmin", "argsort", "nonzero", "searchsorted", "count_nonzero",
    "all", "any",
    "unique_all", "unique_counts", "unique_inverse", "unique_values",
]

for _name in ("isnan", "isinf", "isfinite", "signbit", "logical_not", "bitwise_invert",
              "floor", "ceil", "trunc", "round"):
    declare(_name, ("x",))
for _name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
              "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
              "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift", "floor_divide",
              "nextafter"):
    declare(_name, ("x1", "x2"), scalars=("x1", "x2"))
for _name in ("argmax", "argmin", "argsort", "nonzero", "count_nonzero", "all", "any",
              "unique_all", "unique_counts", "unique_inverse", "unique_values"):
    declare(_name, ("x",))
declare("searchsorted", ("x1", "x2", "sorter"), optional=("sorter",))


def _refuse_grad(name: str, *arrays) -> None:
    if is_grad_enabled() and builtins.any(type(a) is Tensor and a.requires_grad for a in arrays):
        raise TypeError(
            f"{name}: not differentiable in xpgrad yet, and its value depends on an input "
            f"that requires grad; call it on t.detach() if no gradient should flow"
        )


def equal(x1, x2, /):
    return _plain("equal", x1, x2)


def not_equal(x1, x2, /):
    return _plain("not_equal", x1, x2)


def less(x1, x2, /):
    return _plain("less", x1, x2)


def less_equal(x1, x2, /):
    return _plain("less_equal", x1, x2)


def greater(x1, x2, /):
    return _plain("greater", x1, x2)


def greater_equal(x1, x2, /):
    return _plain("greater_equal", x1, x2)


def isnan(x, /):
    return _plain("isnan", x)


def isinf(x, /):
    return _plain("isinf", x)


def isfinite(x, /):
    return _plain("isfinite", x)


def signbit(x, /):
    return _plain("signbit", x)


def logical_and(x1, x2, /):
    return _plain("logical_and", x1, x2)


def logical_or(x1, x2, /):
    return _plain("logical_or", x1, x2)


def logical_xor(x1, x2, /):
    return _plain("logical_xor", x1, x2)


def logical_not(x, /):
    return _plain("logical_not", x)


def bitwise_and(x1, x2, /):
    return _plain("bitwise_and", x1, x2)


def bitwise_or(x1, x2, /):
    return _plain("bitwise_or", x1, x2)


def bitwise_xor(x1, x2, /):
    return _plain("bitwise_xor", x1, x2)


def bitwise_invert(x, /):
    return _plain("bitwise_invert", x)


def bitwise_left_shift(x1, x2, /):
    return _plain("bitwise_left_shift", x1, x2)


def bitwise_right_shift(x1, x2, /):
    return _plain("bitwise_right_shift", x1, x2)


def floor(x, /):
    """Piecewise constant: its gradient is zero, so the result records none."""
    return _plain("floor", x)


def ceil(x, /):
    return _plain("ceil", x)


def trunc(x, /):
    return _plain("trunc", x)


def round(x, /):  # noqa: A001 - the standard's name
    return _plain("round", x)


def floor_divide(x1, x2, /):
    return _plain("floor_divide", x1, x2)


def nextafter(x1, x2, /):
    _refuse_grad("nextafter", x1, x2)
    return _plain("nextafter", x1, x2)


def argmax(x, /, *, axis=None, keepdims=False):
    return _plain("argmax", x, axis=axis, keepdims=keepdims)


def argmin(x, /, *, axis=None, keepdims=False):
    return _plain("argmin", x, axis=axis, keepdims=keepdims)


def argsort(x, /, *, axis=-1, descending=False, stable=True):
    return _plain("argsort", x, axis=axis, descending=descending, stable=stable)


def nonzero(x, /):
    return tuple(Tensor(i) for i in _native_call("nonzero", x))


def searchsorted(x1, x2, /, *, side="left", sorter=None):
    return _plain("searchsorted", x1, x2, side=side, sorter=_data(sorter))


def count_nonzero(x, /, *, axis=None, keepdims=False):
    return _plain("count_nonzero", x, axis=axis, keepdims=keepdims)


def all(x, /, *, axis=None, keepdims=False):  # noqa: A001 - the standard's name
    return _plain("all", x, axis=axis, keepdims=keepdims)


def any(x, /, *, axis=None, keepdims=False):  # noqa: A001 - the standard's name
    return _plain("any", x, axis=axis, keepdims=keepdims)


def _tuple_of_tensors(name: str, x):
    _refuse_grad(name, x)
    out = _native_call(name, x)
    return type(out)(*[Tensor(v) for v in out])


def unique_all(x, /):
    return _tuple_of_tensors("unique_all", x)


def unique_counts(x, /):
    return _tuple_of_tensors("unique_counts", x)


def unique_inverse(x, /):
    return _tuple_of_tensors("unique_inverse", x)


def unique_values(x, /):
    _refuse_grad("unique_values", x)
    return _plain("unique_values", x)


def _data(x):
    return x.data if type(x) is Tensor else x

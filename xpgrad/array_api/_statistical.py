"""Reductions and cumulative functions of the standard."""

from __future__ import annotations

from .. import ops
from ..tensor import apply

__all__ = ["sum", "mean", "prod", "max", "min", "var", "std", "cumulative_sum", "cumulative_prod"]


def sum(x, /, *, axis=None, dtype=None, keepdims=False):  # noqa: A001 - the standard's name
    if dtype is None:
        return apply(ops.sum, (x,), axis, keepdims)
    return apply(ops.sum, (x,), axis, keepdims, dtype)


def mean(x, /, *, axis=None, keepdims=False):
    return apply(ops.mean, (x,), axis, keepdims)


def prod(x, /, *, axis=None, dtype=None, keepdims=False):
    return apply(ops.prod, (x,), axis, keepdims, dtype)


def max(x, /, *, axis=None, keepdims=False):  # noqa: A001 - the standard's name
    return apply(ops.max, (x,), axis, keepdims)


def min(x, /, *, axis=None, keepdims=False):  # noqa: A001 - the standard's name
    return apply(ops.min, (x,), axis, keepdims)


def var(x, /, *, axis=None, correction=0.0, keepdims=False):
    return apply(ops.var, (x,), axis, correction, keepdims)


def std(x, /, *, axis=None, correction=0.0, keepdims=False):
    return apply(ops.std, (x,), axis, correction, keepdims)


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    return apply(ops.cumulative_sum, (x,), axis, dtype, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False):
    return apply(ops.cumulative_prod, (x,), axis, dtype, include_initial)

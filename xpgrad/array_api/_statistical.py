"""Reductions and cumulative functions of the standard."""

from __future__ import annotations

from .. import ops
from ..tensor import apply
from ._docs import records

__all__ = ["sum", "mean", "prod", "max", "min", "var", "std", "cumulative_sum", "cumulative_prod"]


@records(ops.sum)
def sum(x, /, *, axis=None, dtype=None, keepdims=False):  # noqa: A001 - the standard's name
    if dtype is None:
        return apply(ops.sum, (x,), axis, keepdims)
    return apply(ops.sum, (x,), axis, keepdims, dtype)


@records(ops.mean)
def mean(x, /, *, axis=None, keepdims=False):
    return apply(ops.mean, (x,), axis, keepdims)


@records(ops.prod)
def prod(x, /, *, axis=None, dtype=None, keepdims=False):
    return apply(ops.prod, (x,), axis, keepdims, dtype)


@records(ops.max)
def max(x, /, *, axis=None, keepdims=False):  # noqa: A001 - the standard's name
    return apply(ops.max, (x,), axis, keepdims)


@records(ops.min)
def min(x, /, *, axis=None, keepdims=False):  # noqa: A001 - the standard's name
    return apply(ops.min, (x,), axis, keepdims)


@records(ops.var)
def var(x, /, *, axis=None, correction=0.0, keepdims=False):
    return apply(ops.var, (x,), axis, correction, keepdims)


@records(ops.std)
def std(x, /, *, axis=None, correction=0.0, keepdims=False):
    return apply(ops.std, (x,), axis, correction, keepdims)


@records(ops.cumulative_sum)
def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    return apply(ops.cumulative_sum, (x,), axis, dtype, include_initial)


@records(ops.cumulative_prod)
def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False):
    return apply(ops.cumulative_prod, (x,), axis, dtype, include_initial)

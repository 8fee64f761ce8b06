"""Reductions and cumulative functions of the standard."""

from __future__ import annotations

from .. import ops
from ..tensor import _apply

__all__ = ["sum", "mean"]


def sum(x, /, *, axis=None, dtype=None, keepdims=False):  # noqa: A001 - the standard's name
    if dtype is not None:
        raise NotImplementedError("sum: dtype= is not supported yet")
    return _apply(ops.sum, (x,), axis, keepdims)


def mean(x, /, *, axis=None, keepdims=False):
    return _apply(ops.mean, (x,), axis, keepdims)

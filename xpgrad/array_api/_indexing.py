"""Indexing functions of the standard: ``take`` and ``take_along_axis``.

Their gradients add the upstream gradient back at the taken positions, so an
index taken twice gets both contributions (see :mod:`xpgrad.ops.indexing`).
"""

from __future__ import annotations

from .. import ops
from ..tensor import apply
from ._docs import records

__all__ = ["take", "take_along_axis"]


@records(ops.take)
def take(x, indices, /, *, axis=None):
    return apply(ops.take, (x, indices), axis)


@records(ops.take_along_axis)
def take_along_axis(x, indices, /, *, axis=-1):
    return apply(ops.take_along_axis, (x, indices), axis)

"""Indexing functions of the standard: ``take`` and ``take_along_axis``.

Their gradients add the upstream gradient back at the taken positions, so an
index taken twice gets both contributions (see :mod:`xpgrad.ops.indexing`).
"""

from __future__ import annotations

from .. import ops
from .._libs import Library
from ..tensor import apply
from ._docs import records

__all__ = ["take", "take_along_axis"]


@records(ops.take)
def take(x, indices, /, *, axis=None):
    return apply(ops.take, (x, indices), axis)


@records(ops.take_along_axis)
def take_along_axis(x, indices, /, *, axis=-1):
    return apply(ops.take_along_axis, (x, indices), axis)


class Tensors(Library):
    """The adapter of this namespace, for the rules' gradients when a recorded
    backward runs them on Tensors: the accumulating scatter of every gather's
    gradient is the ``index_add`` rule, so that it is recorded too (the generic
    one-hot product would cost O(len(index) * n))."""

    name = "xpgrad"

    def scatter_add(self, xp, n: int, index, values, like):
        return apply(ops.index_add, (values, index), n)

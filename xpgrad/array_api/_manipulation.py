"""Manipulation functions of the standard, and ``astype``."""

from __future__ import annotations

from .. import ops
from ..tensor import _apply

__all__ = ["reshape", "permute_dims"]


def reshape(x, /, shape, *, copy=None):
    return _apply(ops.reshape, (x,), tuple(shape))


def permute_dims(x, /, axes):
    return _apply(ops.permute_dims, (x,), tuple(axes))

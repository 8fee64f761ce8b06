"""Linear algebra functions of the main namespace."""

from __future__ import annotations

from .. import ops
from ..tensor import _apply

__all__ = ["matmul"]


def matmul(x1, x2, /):
    return _apply(ops.matmul, (x1, x2))

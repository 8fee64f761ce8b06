"""Linear algebra functions of the main namespace."""

from __future__ import annotations

from .. import ops
from ..tensor import apply, permuted
from ._docs import records

__all__ = ["matmul", "matrix_transpose", "tensordot", "vecdot"]


@records(ops.matmul)
def matmul(x1, x2, /):
    return apply(ops.matmul, (x1, x2))


@records(ops.permute_dims, "The last two axes are swapped.", check=True)
def matrix_transpose(x, /):
    nd = getattr(x, "ndim", None)
    if type(nd) is not int:
        raise TypeError(f"matrix_transpose: x must be an array or a Tensor; got {type(x).__name__}")
    if nd < 2:
        raise ValueError(
            f"matrix_transpose: x must have at least 2 dimensions; got shape {tuple(x.shape)}"
        )
    return permuted(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


@records(ops.tensordot)
def tensordot(x1, x2, /, *, axes=2):
    return apply(ops.tensordot, (x1, x2), axes)


@records(ops.vecdot)
def vecdot(x1, x2, /, *, axis=-1):
    return apply(ops.vecdot, (x1, x2), axis)

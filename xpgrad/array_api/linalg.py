"""``xpgrad.array_api.linalg``: the standard's linear algebra extension, with
gradients.

A name of the extension that xpgrad does not provide raises an
AttributeError that says so.
"""

from __future__ import annotations

import math as _math

from .. import ops
from ..tensor import _apply
from ._linear_algebra import matmul, matrix_transpose, tensordot, vecdot

__all__ = [
    "det", "inv", "matmul", "matrix_norm", "matrix_transpose", "outer", "solve", "tensordot",
    "trace", "vecdot", "vector_norm",
]

_ = (matmul, matrix_transpose, tensordot, vecdot)  # re-exported, as the standard asks


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002 - the standard's name
    return _apply(ops.vector_norm, (x,), axis, keepdims, ord)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):  # noqa: A002 - the standard's name
    nd = getattr(x, "ndim", None)
    if type(nd) is int and nd < 2:
        raise ValueError(f"matrix_norm: x must have at least 2 dimensions; got shape {tuple(x.shape)}")
    if isinstance(ord, str) and ord == "fro":
        return _apply(ops.vector_norm, (x,), (-2, -1), keepdims, 2)
    if not isinstance(ord, str) and ord in (1, -1, _math.inf, -_math.inf):
        # 1: the largest column sum of |x|, inf: the largest row sum; -1, -inf the smallest.
        along = -2 if abs(ord) == 1 else -1
        sums = _apply(ops.vector_norm, (x,), along, keepdims, 1)
        pick = ops.max if ord > 0 else ops.min
        return _apply(pick, (sums,), (-1 if along == -2 or not keepdims else -2), keepdims)
    raise ValueError(
        f"matrix_norm: ord={ord!r} is not differentiable in xpgrad yet; use ord='fro', 1, -1, "
        f"inf or -inf ('nuc', 2 and -2 need singular values)"
    )


def outer(x1, x2, /):
    for name, v in (("x1", x1), ("x2", x2)):
        if getattr(v, "ndim", None) != 1:
            shape = tuple(v.shape) if hasattr(v, "shape") else type(v).__name__
            raise ValueError(f"outer: {name} must be one-dimensional; got {shape}")
    col = _apply(ops.reshape, (x1,), (x1.shape[0], 1))
    return _apply(ops.mul, (col, x2))


def trace(x, /, *, offset=0, dtype=None):
    return _apply(ops.trace, (x,), offset, dtype)


def det(x, /):
    return _apply(ops.det, (x,))


def inv(x, /):
    return _apply(ops.inv, (x,))


def solve(x1, x2, /):
    return _apply(ops.solve, (x1, x2))


# The extension's names (2024.12), for the error of those xpgrad lacks.
_STANDARD = frozenset("""
cholesky cross det diagonal eigh eigvalsh inv matmul matrix_norm matrix_power matrix_rank
matrix_transpose outer pinv qr slogdet solve svd svdvals tensordot trace vecdot vector_norm
""".split())


def __getattr__(name: str):
    if name in _STANDARD:
        raise AttributeError(
            f"xpgrad.array_api.linalg.{name}: the Array API standard defines linalg.{name}, but "
            f"it is not differentiable in xpgrad yet; compute it on t.detach().data with the "
            f"data's own linalg namespace if no gradient needs to flow through it"
        )
    raise AttributeError(f"module 'xpgrad.array_api.linalg' has no attribute {name!r}")

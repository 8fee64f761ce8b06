"""``xpgrad.array_api.linalg``: the standard's linear algebra extension, with
gradients.

A name of the extension that xpgrad does not provide raises an
AttributeError that says so.
"""

from __future__ import annotations

import math as _math
import operator as _operator
from collections import namedtuple as _namedtuple

from .. import ops
from .._backend import adapter_of as _adapter_of
from .._backend import dtype_info as _dtype_info
from .._backend import resolve as _resolve
from ..ops._common import BACKEND_ERRORS as _BACKEND_ERRORS
from ..ops._common import backend_error as _backend_error
from ..tensor import Tensor, apply, constant, is_grad_enabled
from ._linear_algebra import matmul, matrix_transpose, tensordot, vecdot
from ._docs import checked, composed, no_gradient, records

__all__ = [
    "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm",
    "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet", "solve",
    "svd", "svdvals", "tensordot", "trace", "vecdot", "vector_norm",
]

_ = (matmul, matrix_transpose, tensordot, vecdot)  # re-exported, as the standard asks


@records(ops.vector_norm)
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002 - the standard's name
    return apply(ops.vector_norm, (x,), axis, keepdims, ord)


@composed(
    "'fro': vector_norm over the last two axes; 1, -1, inf, -inf: the max or min of vector_norm(ord=1) along one axis; 2, -2, 'nuc': the max, min or sum of svdvals. The gradient is the composition's."
)
def matrix_norm(x, /, *, keepdims=False, ord="fro"):  # noqa: A002 - the standard's name
    nd = getattr(x, "ndim", None)
    if type(nd) is int and nd < 2:
        raise ValueError(f"matrix_norm: x must have at least 2 dimensions; got shape {tuple(x.shape)}")
    if isinstance(ord, str) and ord == "fro":
        return apply(ops.vector_norm, (x,), (-2, -1), keepdims, 2)
    if not isinstance(ord, str) and ord in (1, -1, _math.inf, -_math.inf):
        # 1: the largest column sum of |x|, inf: the largest row sum; -1, -inf the smallest.
        along = -2 if abs(ord) == 1 else -1
        sums = apply(ops.vector_norm, (x,), along, keepdims, 1)
        axis = -1 if along == -2 or not keepdims else -2
        return apply(_extreme(ord, sums.shape[axis]), (sums,), axis, keepdims)
    if (isinstance(ord, str) and ord == "nuc") or (not isinstance(ord, str) and ord in (2, -2)):
        # Through the singular values: their sum, largest or smallest.
        s = svdvals(x)
        pick = ops.sum if isinstance(ord, str) else _extreme(ord, s.shape[-1])
        out = apply(pick, (s,), -1, False)
        if keepdims:
            out = apply(ops.reshape, (out,), tuple(out.shape) + (1, 1))
        return out
    raise ValueError(
        f"matrix_norm: ord={ord!r} is not a matrix norm of the standard; use 'fro', 'nuc', "
        f"1, -1, 2, -2, inf or -inf"
    )


def _extreme(ord, n: int):  # noqa: A002 - the standard's name
    """The rule that picks matrix_norm's value from ``n`` nonnegative norms:
    the largest for a positive ``ord``, the smallest for a negative one. Of
    none, the largest is 0, as NumPy's and torch's, and so is their sum (which
    gives x its zero gradient); the smallest is undefined."""
    if n != 0:  # (or unknown: None, or NaN on dask)
        return ops.max if ord > 0 else ops.min
    if ord > 0:
        return ops.sum
    raise ValueError(
        f"matrix_norm: ord={ord!r} is the smallest of the column or row sums or singular values, "
        f"and x has none (an empty matrix); use a positive ord or 'fro'"
    )


@composed(
    "reshape(x1, (n, 1)) * x2: dx1 = G @ x2, dx2 = x1 @ G."
)
def outer(x1, x2, /):
    for name, v in (("x1", x1), ("x2", x2)):
        if getattr(v, "ndim", None) != 1:
            shape = tuple(v.shape) if hasattr(v, "shape") else type(v).__name__
            raise ValueError(f"outer: {name} must be one-dimensional; got {shape}")
    col = apply(ops.reshape, (x1,), (x1.shape[0], 1))
    return apply(ops.mul, (col, x2))


@records(ops.trace)
def trace(x, /, *, offset=0, dtype=None):
    return apply(ops.trace, (x,), offset, dtype)


@records(ops.det)
def det(x, /):
    return apply(ops.det, (x,))


@records(ops.inv)
def inv(x, /):
    return apply(ops.inv, (x,))


@records(ops.solve)
def solve(x1, x2, /):
    return apply(ops.solve, (x1, x2))


@records(ops.diagonal)
def diagonal(x, /, *, offset=0):
    return apply(ops.diagonal, (x,), offset)


@records(ops.cross)
def cross(x1, x2, /, *, axis=-1):
    return apply(ops.cross, (x1, x2), axis)


@checked
def matrix_power(x, n, /):
    """``x`` multiplied by itself ``n`` times (inv(x) ``-n`` times for n < 0; the
    identity, with a zero gradient, for n = 0), by repeated squaring."""
    if isinstance(n, bool) or not isinstance(n, int):
        try:
            n = _operator.index(n)
        except TypeError:
            raise TypeError(f"matrix_power: n must be an int; got {n!r}") from None
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"matrix_power: x must be a (batch of) square matrices; got shape {shape}")
    if n == 0:
        data = x.data if type(x) is Tensor else x
        xp, scope = _resolve("matrix_power", data)
        with scope:
            eye = xp.eye(shape[-1], dtype=data.dtype, device=getattr(data, "device", None))
            never = xp.zeros(shape, dtype=xp.bool, device=getattr(data, "device", None))
        # where(False, x, I): the identity's value, x's zero gradient.
        return apply(ops.where, (never, x, eye))
    base = apply(ops.inv, (x,)) if n < 0 else x
    n = abs(n)
    out = None
    while True:
        if n & 1:
            out = base if out is None else apply(ops.matmul, (out, base))
        n >>= 1
        if not n:
            return out
        base = apply(ops.matmul, (base, base))


SlogdetResult = _namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = _namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = _namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = _namedtuple("QRResult", ["Q", "R"])


def _data(x):
    return x.data if type(x) is Tensor else x


def _complex(op, x) -> bool:
    """Whether ``x`` is an array (or Tensor) of complex dtype."""
    data = _data(x)
    return hasattr(data, "dtype") and _dtype_info(_resolve(op, data)[0], data.dtype).complex


def _records(x) -> bool:
    """Whether an op on ``x`` records a gradient."""
    return type(x) is Tensor and x.requires_grad and is_grad_enabled()


def _complex_without_grad(op, x):
    """True for a complex x that needs no gradient (computed without a graph);
    a TypeError for one that requires grad: xpgrad differentiates real x only."""
    if not _complex(op, x):
        return False
    if _records(x):
        raise TypeError(
            f"{op}: x is complex ({x.dtype}) and requires grad; xpgrad differentiates {op} for "
            f"real floating x only: call it on x.detach() if no gradient should flow"
        )
    return True


def _native(op, name, x, **kwargs):
    """``xp.linalg.<name>(x)`` without a graph: a Tensor or tuple of Tensors."""
    data = _data(x)
    xp, scope = _resolve(op, data)
    fn = ops.linalg.linalg_function(op, xp, name)
    try:
        with scope:
            out = fn(data, **kwargs)
    except _BACKEND_ERRORS as exc:
        refusal = ops.linalg.half_precision_refusal(op, data)
        if refusal is not None:
            raise refusal from exc
        raise _backend_error(op, exc)
    if isinstance(out, tuple):
        return tuple(constant(o) for o in out)
    return constant(out)


@records(ops.slogdet)
def slogdet(x, /):
    if _complex_without_grad("slogdet", x):
        return SlogdetResult(*_native("slogdet", "slogdet", x))
    sign, logabsdet = apply(ops.slogdet, (x,))
    return SlogdetResult(sign.detach(), logabsdet)


@no_gradient("An integer: no gradient.")
def matrix_rank(x, /, *, rtol=None):
    data = _data(x)
    if hasattr(data, "shape") and data.ndim >= 2 and 0 in tuple(data.shape[-2:]):
        # no singular values, whose largest NumPy's and JAX's take: rank 0 (torch's)
        xp, scope = _resolve("matrix_rank", data)
        with scope:
            index = _adapter_of(xp).index_dtype(xp)
            return constant(xp.sum(xp.zeros_like(data, dtype=index), axis=(-2, -1)))
    return _native("matrix_rank", "matrix_rank", x, rtol=_data(rtol))


@records(ops.cholesky)
def cholesky(x, /, *, upper=False):
    if _complex_without_grad("cholesky", x):
        return _native("cholesky", "cholesky", x, upper=upper)
    return apply(ops.cholesky, (x,), upper)


@records(ops.eigvalsh)
def eigvalsh(x, /):
    if _complex_without_grad("eigvalsh", x):
        return _native("eigvalsh", "eigvalsh", x)
    return apply(ops.eigvalsh, (x,))


@records(ops.eigh)
def eigh(x, /):
    if _complex_without_grad("eigh", x):
        return EighResult(*_native("eigh", "eigh", x))
    return EighResult(*apply(ops.eigh, (x,)))


@records(ops.svdvals, "A complex x that requires grad goes through svd's rule, which "
                      "differentiates complex x.")
def svdvals(x, /):
    if _complex("svdvals", x):
        if _records(x):  # S of svd, whose rule differentiates complex x: a loss of S has no phase
            return apply(ops.svd, (x,), False)[1]
        return _native("svdvals", "svdvals", x)
    return apply(ops.svdvals, (x,))


@records(ops.svd, "Returns ``SVDResult(U, S, Vh)``, a named tuple of Tensors.")
def svd(x, /, *, full_matrices=True):
    return SVDResult(*apply(ops.svd, (x,), full_matrices))


@records(ops.qr, "Returns ``QRResult(Q, R)``, a named tuple of Tensors.")
def qr(x, /, *, mode="reduced"):
    return QRResult(*apply(ops.qr, (x,), mode))


@records(ops.pinv, "``rtol`` gets no gradient (a Tensor gives its values).")
def pinv(x, /, *, rtol=None):
    return apply(ops.pinv, (x,), _data(rtol))


# The extension's names (2024.12), for the error of those xpgrad lacks.
_STANDARD = frozenset("""
cholesky cross det diagonal eigh eigvalsh inv matmul matrix_norm matrix_power matrix_rank
matrix_transpose outer pinv qr slogdet solve svd svdvals tensordot trace vecdot vector_norm
""".split())
_LATER = frozenset({"eig", "eigvals"})  # 2025.12's, which xpgrad lacks


def __getattr__(name: str):
    if name in _STANDARD or name in _LATER:
        raise AttributeError(
            f"xpgrad.array_api.linalg.{name}: the Array API standard defines linalg.{name}, but "
            f"it is not differentiable in xpgrad yet; compute it on t.detach().data with the "
            f"data's own linalg namespace if no gradient needs to flow through it"
        )
    raise AttributeError(f"module 'xpgrad.array_api.linalg' has no attribute {name!r}")

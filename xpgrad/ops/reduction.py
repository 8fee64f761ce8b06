"""sum and mean over axes."""

from __future__ import annotations

import functools
import math
import numbers
from typing import NamedTuple

from .._backend import dtype_info, resolve
from .._shapes import normalize_axis
from ._common import BACKEND_ERRORS, Ctx, Rule, backend_error, cast, check_grad

__all__ = ["sum", "mean"]


@functools.lru_cache(maxsize=1024)
def _plan(op, axis, shape, keepdims):
    axes = normalize_axis(axis, len(shape), op, shape)
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    out_shape = kept if keepdims else tuple(d for i, d in enumerate(shape) if i not in axes)
    # axis=None stays None: the namespace's whole-array reduction is its fastest.
    return (None if axis is None else axes), kept, out_shape, math.prod(shape[i] for i in axes)


def _reduce(op, x, axis, keepdims):
    xp, scope = resolve(op, x)
    shape = tuple(x.shape)
    # The cache treats True, 1.0 and 1 as one key: only exact ints go through it.
    if axis is None or type(axis) is int or (
        type(axis) is tuple and all(type(a) is int for a in axis)
    ):
        plan = _plan(op, axis, shape, bool(keepdims))
    else:
        plan = _plan.__wrapped__(op, axis, shape, bool(keepdims))
    return xp, scope, shape, plan, dtype_info(xp, x.dtype)


def _as_bool(op, keepdims) -> bool:
    # NumPy's bool_ and 0/1 read as bools; a string or None is a mistake.
    if isinstance(keepdims, numbers.Integral) or type(keepdims).__name__ in ("bool", "bool_"):
        return bool(keepdims)
    raise TypeError(f"{op}: keepdims must be a bool; got {keepdims!r}")


class Reduced(NamedTuple):
    """What sum and mean save: x's shape and dtype, x's shape with the reduced
    axes kept as 1, and how many elements each output averages."""

    x_shape: tuple
    kept: tuple
    x_dtype: object
    count: int


def _spread(g, ctx):
    """``g`` reshaped to the kept-dims shape and broadcast back to the input's
    shape: a view, since the gradient of a sum is the same value everywhere.
    (The inverse of :func:`xpgrad.sum_to`: broadcasting needs no reduction.)"""
    xp, s = ctx.xp, ctx.saved
    with ctx.scope:
        if ctx.out_shape != s.kept:
            g = xp.reshape(g, s.kept)
        if g.dtype != s.x_dtype:
            g = cast(xp, g, s.x_dtype)
        return xp.broadcast_to(g, s.x_shape)


class sum(Rule):  # noqa: A001 - the public name of the rule is the math it does
    """``out = sum(x, axis, keepdims)``.

    dx = G broadcast back over the summed axes.
    """

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        """Sum over ``axis`` (None for all, an int, a negative int, or a tuple).

        float16 and bfloat16 accumulate in float32. Integer inputs follow the
        namespace's rules for the result dtype.

        Raises
        ------
        ValueError
            For an axis out of range or repeated.
        TypeError
            For an axis that is not an int or a tuple of ints.

        Examples
        --------
        >>> import numpy as np
        >>> out, ctx = sum.forward(np.ones((2, 3)), axis=-1)
        >>> out
        array([3., 3.])
        """
        if type(keepdims) is not bool:
            keepdims = _as_bool("sum", keepdims)
        xp, scope, shape, (axes, kept, out_shape, count), info = _reduce("sum", x, axis, keepdims)
        try:
            with scope:
                if info.accum is None:
                    out = xp.sum(x, axis=axes, keepdims=keepdims)
                else:
                    out = xp.astype(xp.sum(x, axis=axes, keepdims=keepdims, dtype=info.accum), x.dtype)
        except BACKEND_ERRORS as exc:
            raise backend_error("sum", exc) from exc
        saved = Reduced(shape, kept, x.dtype, count)
        return out, Ctx("sum", xp, scope, saved, (info.inexact,), out_shape)

    @staticmethod
    def backward(grad_out, ctx):
        """``(grad_x,)``: a broadcast view of ``grad_out`` (read-only on NumPy) with
        x's shape and dtype."""
        check_grad("sum", grad_out, ctx)
        if not ctx.needs_input_grad[0]:
            return (None,)
        return (_spread(grad_out, ctx),)


class mean(Rule):
    """``out = mean(x, axis, keepdims)``; dx = G / n broadcast back, n the count averaged."""

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        """Mean over ``axis``; ``x`` must be floating point (real or complex).

        Raises
        ------
        TypeError
            For an integer ``x`` (cast it first) or a bad axis type.
        ValueError
            For an axis out of range or repeated.
        """
        if type(keepdims) is not bool:
            keepdims = _as_bool("mean", keepdims)
        xp, scope, shape, (axes, kept, out_shape, count), info = _reduce("mean", x, axis, keepdims)
        if not info.inexact:
            raise TypeError(
                f"mean: x has dtype {x.dtype}; mean needs a floating-point array, cast it first"
            )
        try:
            with scope:
                total = xp.sum(x, axis=axes, keepdims=keepdims, dtype=info.accum)
                out = cast(xp, total / count if count else total * float("nan"), x.dtype)
        except BACKEND_ERRORS as exc:
            raise backend_error("mean", exc) from exc
        saved = Reduced(shape, kept, x.dtype, count)
        return out, Ctx("mean", xp, scope, saved, (True,), out_shape)

    @staticmethod
    def backward(grad_out, ctx):
        """``(grad_x,)`` with x's shape and dtype."""
        check_grad("mean", grad_out, ctx)
        if not ctx.needs_input_grad[0]:
            return (None,)
        count = ctx.saved.count
        return (_spread(grad_out / count if count else grad_out, ctx),)


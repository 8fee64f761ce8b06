"""Reductions over axes (sum, mean, prod, max, min, var, std) and the cumulative
sums along one axis."""

from __future__ import annotations

import builtins
import functools
import math
import numbers
from typing import NamedTuple

from .. import _dtypes
from .._backend import dtype_info, resolve
from .._shapes import normalize_axis
from ._common import BACKEND_ERRORS, Ctx, Rule, backend_error, cast, check_grad, conj_if_complex

__all__ = ["sum", "mean", "prod", "max", "min", "var", "std", "cumulative_sum", "cumulative_prod"]


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
    def forward(x, axis=None, keepdims=False, dtype=None):
        """Sum over ``axis`` (None for all, an int, a negative int, or a tuple).

        float16 and bfloat16 accumulate in float32. Integer inputs follow the
        namespace's rules for the result dtype. ``dtype`` (a dtype object or
        name) accumulates and returns in that dtype; the gradient is cast back
        to x's dtype.

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
                if dtype is not None:
                    out = xp.sum(x, axis=axes, keepdims=keepdims, dtype=_dtypes.to_native(xp, dtype, "sum"))
                elif info.accum is None:
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



# -- reductions whose gradient reads x or the output -----------------------


class Kept(NamedTuple):
    """What prod, max, min, var and std save: x (or x minus its mean), the
    output with the reduced axes kept as 1, the plan's axes (None for all)
    and its kept shape, the count reduced, and the divisor (var and std)."""

    x: object
    out: object
    axes: object
    kept: tuple
    count: int
    denom: float


def _kept(xp, a, kept):
    return a if tuple(a.shape) == kept else xp.reshape(a, kept)


def _start(op, x, axis, keepdims, floating=False):
    if type(keepdims) is not bool:
        keepdims = _as_bool(op, keepdims)
    xp, scope, shape, plan, info = _reduce(op, x, axis, keepdims)
    if floating and (not info.inexact or info.complex):
        raise TypeError(
            f"{op}: x has dtype {x.dtype}; {op} needs a real floating-point array, cast it first"
        )
    return xp, scope, keepdims, plan, info


class prod(Rule):
    """``out = prod(x, axis, keepdims)``; dx = G * conj(out / x), with torch's
    convention for zeros: where a slice has one zero, that element gets the
    product of the others and the rest 0; with more zeros every element gets 0.
    """

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, keepdims=False, dtype=None):
        """Product over ``axis``; ``dtype`` (a dtype object or name) accumulates
        and returns in that dtype, and the gradient is cast back to x's."""
        xp, scope, keepdims, (axes, kept, out_shape, count), info = _start("prod", x, axis, keepdims)
        try:
            with scope:
                native = None if dtype is None else _dtypes.to_native(xp, dtype, "prod")
                out = xp.prod(x, axis=axes, keepdims=keepdims, dtype=native)
        except BACKEND_ERRORS as exc:
            raise backend_error("prod", exc) from exc
        saved = Kept(x if info.inexact else None, out, axes, kept, count, 0.0)
        return out, Ctx("prod", xp, scope, saved, (info.inexact,), out_shape)

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("prod", grad_out, ctx)
        if not ctx.needs_input_grad[0]:
            return (None,)
        xp, (x, out, axes, kept, _, _) = ctx.xp, ctx.saved
        with ctx.scope:
            out = _kept(xp, out, kept)
            zero = x == 0
            if not bool(xp.any(zero)):
                d = out / x
            else:  # out / x is 0/0 at a zero: count the zeros of each slice instead
                ones = xp.where(zero, xp.ones_like(x), x)
                others = xp.prod(ones, axis=axes, keepdims=True, dtype=out.dtype)
                zeros = xp.sum(xp.astype(zero, out.dtype), axis=axes, keepdims=True)
                d = xp.where(zero, xp.where(zeros == 1, others, xp.zeros_like(others)), out / ones)
            g = _kept(xp, grad_out, kept) * conj_if_complex(xp, d)
            return (cast(xp, g, x.dtype),)


def _extreme(op, x, axis, keepdims):
    xp, scope, keepdims, (axes, kept, out_shape, count), info = _start(op, x, axis, keepdims)
    if count == 0 and (axes is None or len(axes)):
        raise ValueError(
            f"{op}: x of shape {tuple(x.shape)} has no elements along axis {axis!r}, and "
            f"the {'maximum' if op == 'max' else 'minimum'} of nothing is undefined; "
            f"reduce over non-empty axes"
        )
    try:
        with scope:
            out = getattr(xp, op)(x, axis=axes, keepdims=keepdims)
    except BACKEND_ERRORS as exc:
        raise backend_error(op, exc) from exc
    saved = Kept(x if info.inexact else None, out, axes, kept, count, 0.0)
    return out, Ctx(op, xp, scope, saved, (info.inexact,), out_shape)


def _extreme_grad(op, grad_out, ctx):
    check_grad(op, grad_out, ctx)
    if not ctx.needs_input_grad[0]:
        return (None,)
    xp, (x, out, axes, kept, _, _) = ctx.xp, ctx.saved
    with ctx.scope:
        hit = x == _kept(xp, out, kept)
        ties = xp.sum(xp.astype(hit, x.dtype), axis=axes, keepdims=True)
        # A NaN slice has no hit: dividing by NaN there makes its gradient NaN,
        # as torch's, without NumPy's divide-by-zero warning.
        ties = xp.where(ties == 0, ties * math.nan, ties)
        share = _kept(xp, grad_out, kept) / ties
        # One pass over x's size: share at the hits, 0 * share (0, or NaN in
        # a NaN slice) elsewhere; only hit and the result are that big.
        return (cast(xp, xp.where(hit, share, share * 0), x.dtype),)


class max(Rule):  # noqa: A001 - the standard's name
    """``out = max(x, axis, keepdims)``; dx = G / t at the t elements equal to
    the maximum (ties share it evenly, as torch.amax), 0 elsewhere; NaN where
    the slice holds a NaN."""

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        """Maximum over ``axis``; a ValueError for an empty reduction."""
        return _extreme("max", x, axis, keepdims)

    @staticmethod
    def backward(grad_out, ctx):
        return _extreme_grad("max", grad_out, ctx)


class min(Rule):  # noqa: A001 - the standard's name
    """``out = min(x, axis, keepdims)``; dx = G / t at the t elements equal to
    the minimum (ties share it evenly, as torch.amin), 0 elsewhere."""

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        """Minimum over ``axis``; a ValueError for an empty reduction."""
        return _extreme("min", x, axis, keepdims)

    @staticmethod
    def backward(grad_out, ctx):
        return _extreme_grad("min", grad_out, ctx)


def _correction(op, correction) -> float:
    if isinstance(correction, (bool, complex)) or not isinstance(correction, numbers.Real):
        raise TypeError(f"{op}: correction must be a real number such as 1; got {correction!r}")
    return float(correction)


def _spread_moment(op, x, axis, correction, keepdims):
    """x minus its mean, the sum of its squares, and the divisor max(n - correction, 0)."""
    xp, scope, keepdims, (axes, kept, out_shape, count), info = _start(op, x, axis, keepdims, True)
    denom = builtins.max(count - _correction(op, correction), 0.0)
    try:
        with scope:
            d = x - xp.mean(x, axis=axes, keepdims=True)
            ss = xp.sum(d * d, axis=axes, keepdims=keepdims)
            var = ss / denom if denom else ss * math.inf
    except BACKEND_ERRORS as exc:
        raise backend_error(op, exc) from exc
    return xp, scope, d, var, Kept(d, None, axes, kept, count, denom), out_shape


class var(Rule):
    """``out = sum((x - mean)^2) / (n - correction)``; dx = G * 2 (x - mean) / (n - correction).

    A divisor n - correction <= 0 gives inf (0 * inf = NaN for no spread), as torch.
    """

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, correction=0.0, keepdims=False):
        """Variance over ``axis`` of a real floating-point ``x``."""
        xp, scope, d, out, saved, out_shape = _spread_moment("var", x, axis, correction, keepdims)
        return out, Ctx("var", xp, scope, saved, (True,), out_shape)

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("var", grad_out, ctx)
        if not ctx.needs_input_grad[0]:
            return (None,)
        xp, s = ctx.xp, ctx.saved
        with ctx.scope:
            scale = _kept(xp, grad_out, s.kept) * (2.0 / s.denom if s.denom else math.inf)
            return (cast(xp, scale * s.x, s.x.dtype),)


class std(Rule):
    """``out = sqrt(var(x, axis, correction))``; dx = G (x - mean) / ((n - correction) out),
    and 0 where out == 0 (no spread), as torch."""

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, correction=0.0, keepdims=False):
        """Standard deviation over ``axis`` of a real floating-point ``x``."""
        xp, scope, d, v, saved, out_shape = _spread_moment("std", x, axis, correction, keepdims)
        with scope:
            out = xp.sqrt(v)
        return out, Ctx("std", xp, scope, saved._replace(out=out), (True,), out_shape)

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("std", grad_out, ctx)
        if not ctx.needs_input_grad[0]:
            return (None,)
        xp, s = ctx.xp, ctx.saved
        with ctx.scope:
            out = _kept(xp, s.out, s.kept)
            scaled = out * s.denom if s.denom else out * math.inf
            safe = xp.where(out == 0, xp.ones_like(scaled), scaled)
            scale = xp.where(out == 0, xp.zeros_like(safe), _kept(xp, grad_out, s.kept) / safe)
            return (cast(xp, scale * s.x, s.x.dtype),)


class Cumulated(NamedTuple):
    axis: int
    include_initial: bool
    x_dtype: object


def _cumulate(op, x, axis, dtype, include_initial):
    """The forward of cumulative_sum and cumulative_prod: (xp, scope, axis, out)."""
    xp, scope = resolve(op, x)
    ax = _cumulative_axis(op, x, axis)
    try:
        with scope:
            native = None if dtype is None else _dtypes.to_native(xp, dtype, op)
            out = getattr(xp, op)(x, axis=ax, dtype=native, include_initial=bool(include_initial))
    except BACKEND_ERRORS as exc:
        raise backend_error(op, exc) from exc
    return xp, scope, ax, out


def _cumulative_axis(op, x, axis) -> int:
    if x.ndim == 0:
        raise ValueError(f"{op}: x must have at least one dimension; got a 0-d array")
    if axis is None:
        if x.ndim != 1:
            raise ValueError(
                f"{op}: axis is required for x of {x.ndim} dimensions (shape "
                f"{tuple(x.shape)}); pass axis=<int>"
            )
        return 0
    if type(axis) is tuple:
        raise TypeError(f"{op}: axis must be None or an int; got {axis!r}")
    return normalize_axis(axis, x.ndim, op, tuple(x.shape))[0]


class cumulative_sum(Rule):
    """``out[k] = sum(x[:k+1])`` along ``axis``; dx = reverse cumulative sum of G
    (dropping G's first entry with ``include_initial``)."""

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, dtype=None, include_initial=False):
        """Cumulative sum along ``axis`` (needed unless x is 1-D)."""
        xp, scope, ax, out = _cumulate("cumulative_sum", x, axis, dtype, include_initial)
        saved = Cumulated(ax, bool(include_initial), x.dtype)
        needs = (dtype_info(xp, x.dtype).inexact,)
        return out, Ctx("cumulative_sum", xp, scope, saved, needs, tuple(out.shape))

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("cumulative_sum", grad_out, ctx)
        if not ctx.needs_input_grad[0]:
            return (None,)
        xp, (ax, initial, x_dtype) = ctx.xp, ctx.saved
        with ctx.scope:
            g = grad_out
            if initial:
                g = g[(slice(None),) * ax + (slice(1, None), Ellipsis)]
            return (cast(xp, _rev_cumsum(xp, g, ax), x_dtype),)


def _rev_cumsum(xp, g, ax):
    """out[k] = sum(g[k:]) along ``ax``."""
    return xp.flip(xp.cumulative_sum(xp.flip(g, axis=ax), axis=ax), axis=ax)


class CumProd(NamedTuple):
    x: object
    out: object
    axis: int
    include_initial: bool


class cumulative_prod(Rule):
    """``out[k] = prod(x[:k+1])`` along ``axis``. With z the first zero of a
    slice: dx_j = revcumsum(G conj(out))_j / conj(x_j) before z; at z,
    revcumsum(G conj(P))_z with P the cumulative product of x with that zero
    taken as 1; 0 after z (torch's cumprod gradient, exact with zeros)."""

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, dtype=None, include_initial=False):
        """Cumulative product along ``axis`` (needed unless x is 1-D)."""
        xp, scope, ax, out = _cumulate("cumulative_prod", x, axis, dtype, include_initial)
        needs = (dtype_info(xp, x.dtype).inexact,)
        saved = CumProd(x, out, ax, bool(include_initial))
        return out, Ctx("cumulative_prod", xp, scope, saved, needs, tuple(out.shape))

    @staticmethod
    def backward(grad_out, ctx):
        check_grad("cumulative_prod", grad_out, ctx)
        if not ctx.needs_input_grad[0]:
            return (None,)
        xp, (x, out, ax, initial) = ctx.xp, ctx.saved
        with ctx.scope:
            g = grad_out
            if initial:
                rest = (slice(None),) * ax + (slice(1, None), Ellipsis)
                g, out = g[rest], out[rest]
            zero = x == 0
            seen = xp.cumulative_sum(xp.astype(zero, xp.int32), axis=ax)
            before, first = seen == 0, zero & (seen == 1)
            safe = xp.where(before, x, xp.ones_like(x))
            dx = _rev_cumsum(xp, g * conj_if_complex(xp, out), ax) / conj_if_complex(xp, safe)
            if bool(xp.any(first)):
                p = xp.cumulative_prod(xp.where(first, xp.ones_like(x), x), axis=ax)
                at_zero = _rev_cumsum(xp, g * conj_if_complex(xp, p), ax)
                dx = xp.where(before, dx, xp.where(first, at_zero, xp.zeros_like(at_zero)))
            return (cast(xp, dx, x.dtype),)

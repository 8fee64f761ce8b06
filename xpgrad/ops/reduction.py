"""Reductions over axes (sum, mean, prod, max, min, var, std) and the cumulative
sums along one axis."""

from __future__ import annotations

import builtins
import functools
import math
import numbers
from typing import NamedTuple

from .. import _dtypes
from .._backend import adapter_of, dtype_info, resolve
from .._shapes import normalize_axis
from ._common import Rule, any_known, cast, conj_if_complex, run

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


# A NamedTuple from a tuple in C, without its class's Python-level __new__
# (the reductions run once per op: on tiny arrays that shows).
_new_tuple = tuple.__new__


def _kept(xp, a, kept):
    return a if tuple(a.shape) == kept else xp.reshape(a, kept)


class Reduced(NamedTuple):
    """What sum and mean save: x's shape, x's shape with the reduced axes kept
    as 1, x's dtype, and (mean only) how many elements each output averages."""

    x_shape: tuple
    kept: tuple
    x_dtype: object
    count: int | None = None


def _spread(xp, g, s):
    """``g`` reshaped to the kept-dims shape and broadcast back to the input's
    shape: a view, since the gradient of a sum is the same value everywhere.
    (The inverse of :func:`xpgrad.sum_to`: broadcasting needs no reduction.)"""
    if g.ndim:  # a 0-d g broadcasts as it is
        g = _kept(xp, g, s.kept)
    return xp.broadcast_to(cast(xp, g, s.x_dtype), s.x_shape)


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
        xp, scope, shape, (axes, kept, _, _), info = _reduce("sum", x, axis, keepdims)
        dtype = None if dtype is None else _dtypes.to_native(xp, dtype, "sum")  # its own error
        out = run("sum", scope, _sum, xp, x, axes, keepdims, dtype, info.accum)
        return sum.record(xp, scope, _new_tuple(Reduced, (shape, kept, x.dtype, None)), (info.inexact,), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        """``(grad_x,)``: a broadcast view of ``grad_out`` (read-only on NumPy) with
        x's shape and dtype."""
        return (_spread(xp, g, s),)


def _sum(xp, x, axes, keepdims, dtype, accum):
    if dtype is not None:
        return xp.sum(x, axis=axes, keepdims=keepdims, dtype=dtype)
    if accum is None:
        return xp.sum(x, axis=axes, keepdims=keepdims)
    return xp.astype(xp.sum(x, axis=axes, keepdims=keepdims, dtype=accum), x.dtype)


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
        xp, scope, shape, (axes, kept, _, count), info = _reduce("mean", x, axis, keepdims)
        if not info.inexact:
            raise TypeError(
                f"mean: x has dtype {x.dtype}; mean needs a floating-point array, cast it first"
            )
        out = run("mean", scope, _mean, xp, x, axes, keepdims, count, info.accum)
        return mean.record(xp, scope, _new_tuple(Reduced, (shape, kept, x.dtype, count)), (True,), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        """``(grad_x,)`` with x's shape and dtype."""
        return (_spread(xp, _over(xp, g, s.count) if s.count else g, s),)


def _over(xp, g, n):
    """``g / n`` for a Python number ``n``; in half precision through float32, where an n
    past 65504 is inf (the gradient of a float16 mean over 100000 elements was 0)."""
    accum = dtype_info(xp, g.dtype).accum
    if accum is None:
        return g / n
    return xp.astype(xp.astype(g, accum) / n, g.dtype)


def _mean(xp, x, axes, keepdims, count, accum):
    total = xp.sum(x, axis=axes, keepdims=keepdims, dtype=accum)
    return cast(xp, total / count if count else total * math.nan, x.dtype)


# -- reductions whose gradient reads x or the output -----------------------


class Kept(NamedTuple):
    """What prod, max and min save: x, the output, the plan's axes (None for
    all), and x's shape with the reduced axes kept as 1 (the shape the backward
    gives the output and G)."""

    x: object
    out: object
    axes: object
    kept: tuple


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
    """``out = prod(x, axis, keepdims)``; dx = G * conj(the product of the
    other elements of x's slice): ``out / x`` where that is exact, and where x
    holds a zero or a product is infinite, the exact product of the others
    (at [inf, 0, 2]: [0, inf, nan], as torch). Where torch divides (at
    [inf, 2, 3] it gives nan, the exact value is 6) or zeroes a slice with two
    zeros (inf * 0 is nan here), this follows the product; a NaN without a
    zero makes its slice's gradient NaN, as torch's.
    """

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, keepdims=False, dtype=None):
        """Product over ``axis``; ``dtype`` (a dtype object or name) accumulates
        and returns in that dtype, and the gradient is cast back to x's."""
        xp, scope, keepdims, (axes, kept, _, _), info = _start("prod", x, axis, keepdims)
        native = _dtypes.to_native(xp, dtype, "prod")  # outside run(): its error is ours already
        out = run("prod", scope, lambda: xp.prod(x, axis=axes, keepdims=keepdims, dtype=native))
        saved = Kept(x, out, axes, kept) if info.inexact else None
        return prod.record(xp, scope, saved, (info.inexact,), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        x, out = s.x, _kept(xp, s.out, s.kept)
        exact = xp.any(x == 0) | xp.any(xp.isinf(out))
        known = any_known(xp, exact)
        if known is None:
            # x cannot be read (dask, cubed: it would compute the graph; jax.jit):
            # both paths, and the choice the eager one makes, as a where
            others = _others(xp, x, s.axes)
            if others.dtype != out.dtype:
                others = xp.astype(others, out.dtype)
            d = xp.where(exact, others, out / xp.where(x == 0, xp.ones_like(x), x))
        elif known:
            # out / x would be 0/0 or inf/inf somewhere: multiply the others instead
            # (a NaN in a slice keeps its slice NaN, as torch's)
            d = _others(xp, x, s.axes)
            if d.dtype != out.dtype:
                d = xp.astype(d, out.dtype)
        else:
            d = out / x
        return (cast(xp, _kept(xp, g, s.kept) * conj_if_complex(xp, d), x.dtype),)


def _others(xp, x, axes):
    """For each element of ``x``, the product of the other elements of its
    slice along ``axes`` (None: all), without dividing: the products before
    it times those after it, so that zeros and infinities give exact values."""
    nd = x.ndim
    reduced = tuple(range(nd)) if axes is None else tuple(sorted(a % nd for a in axes))
    kept = tuple(a for a in range(nd) if a not in reduced)
    order = kept + reduced
    moved = xp.permute_dims(x, order) if order != tuple(range(nd)) else x
    flat = xp.reshape(moved, tuple(moved.shape[: len(kept)]) + (-1,))
    before = xp.cumulative_prod(flat, axis=-1, include_initial=True)[..., :-1]
    after = xp.cumulative_prod(xp.flip(flat, axis=-1), axis=-1, include_initial=True)[..., :-1]
    others = xp.reshape(before * xp.flip(after, axis=-1), tuple(moved.shape))
    if order == tuple(range(nd)):
        return others
    return xp.permute_dims(others, tuple(sorted(range(nd), key=order.__getitem__)))


def _count(xp, mask, axes, dtype):
    """How many of ``mask`` are True along ``axes``, kept as 1, in ``dtype``:
    counted, not summed from a full-size ``dtype`` copy of the mask."""
    if axes == ():  # nothing reduced; torch's count_nonzero reads () as every axis
        return xp.astype(mask, dtype)
    return xp.astype(xp.count_nonzero(mask, axis=axes, keepdims=True), dtype)


def _extreme(rule, x, axis, keepdims):
    op = rule.__name__
    xp, scope, keepdims, (axes, kept, _, count), info = _start(op, x, axis, keepdims)
    if count == 0 and (axes is None or len(axes)):
        raise ValueError(
            f"{op}: x of shape {tuple(x.shape)} has no elements along axis {axis!r}, and "
            f"the {'maximum' if op == 'max' else 'minimum'} of nothing is undefined; "
            f"reduce over non-empty axes"
        )
    out = run(op, scope, lambda: getattr(xp, op)(x, axis=axes, keepdims=keepdims))
    saved = Kept(x, out, axes, kept) if info.inexact else None
    return rule.record(xp, scope, saved, (info.inexact,), out)


def _share(xp, g, s, hit=None):
    """The boolean mask of the elements equal to the extreme, and each slice's
    share of ``g``: G over its number of ties, NaN for a slice with a NaN (no
    hit: dividing by NaN there makes its gradient NaN, as torch's, without
    NumPy's divide-by-zero warning)."""
    if hit is None:
        hit = s.x == _kept(xp, s.out, s.kept)
    # counted in float32 for half precision, where 65505 ties and more are inf
    ties = _count(xp, hit, s.axes, dtype_info(xp, s.x.dtype).accum or s.x.dtype)
    ties = xp.where(ties == 0, ties * math.nan, ties)
    return hit, _kept(xp, g, s.kept) / ties


def _extreme_grad(xp, g, s):
    # One pass over x's size, in x's dtype: share at the hits, 0 * share (0, or
    # NaN in a NaN slice) elsewhere; only hit and the result are that big.
    hit, share = _share(xp, g, s)
    dt = s.x.dtype
    return (xp.where(hit, cast(xp, share, dt), cast(xp, share * 0, dt)),)


def _extreme_into(xp, g, s, into):
    # The share added at the hits only (without ties, at each slice's one
    # hit: add_at_hits); a NaN slice's NaN then reaches its other elements
    # too, as in _extreme_grad. (An eager walk's path: the counts below are
    # read on the host.)
    hit = s.x == _kept(xp, s.out, s.kept)
    dt, lib = s.x.dtype, adapter_of(xp)
    if int(xp.count_nonzero(hit)) == math.prod(s.out.shape) and not bool(xp.any(xp.isnan(s.out))):
        # no NaN, so each slice has a hit, and as many hits as slices: no
        # ties, G goes to each slice's one extreme as it is
        share = _kept(xp, g, s.kept)
        into = lib.add_at_hits(xp, into, cast(xp, share, dt), hit)
    else:
        hit, share = _share(xp, g, s, hit)
        into = lib.add_where(xp, into, cast(xp, share, dt), hit)
    zero = cast(xp, share * 0, dt)
    if bool(xp.any(zero != 0)):  # NaN (or inf * 0) somewhere: a small array
        into = lib.add_where(xp, into, zero, xp.logical_not(hit))
    return into


class max(Rule):  # noqa: A001 - the standard's name
    """``out = max(x, axis, keepdims)``; dx = G / t at the t elements equal to
    the maximum (ties share it evenly, as torch.amax), 0 elsewhere; NaN where
    the slice holds a NaN."""

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        """Maximum over ``axis``; a ValueError for an empty reduction."""
        return _extreme(max, x, axis, keepdims)

    @staticmethod
    def gradients(xp, g, s, needs):
        return _extreme_grad(xp, g, s)

    @staticmethod
    def gradients_into(xp, g, s, into):
        return _extreme_into(xp, g, s, into)


class min(Rule):  # noqa: A001 - the standard's name
    """``out = min(x, axis, keepdims)``; dx = G / t at the t elements equal to
    the minimum (ties share it evenly, as torch.amin), 0 elsewhere."""

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, keepdims=False):
        """Minimum over ``axis``; a ValueError for an empty reduction."""
        return _extreme(min, x, axis, keepdims)

    @staticmethod
    def gradients(xp, g, s, needs):
        return _extreme_grad(xp, g, s)

    @staticmethod
    def gradients_into(xp, g, s, into):
        return _extreme_into(xp, g, s, into)


class Moment(NamedTuple):
    """What var and std save: x minus its mean, std's output (None for var),
    x's shape with the reduced axes kept as 1, and the divisor."""

    d: object
    out: object
    kept: tuple
    denom: float


def _correction(op, correction) -> float:
    if isinstance(correction, (bool, complex)) or not isinstance(correction, numbers.Real):
        raise TypeError(f"{op}: correction must be a real number such as 1; got {correction!r}")
    return float(correction)


def _moment(rule, x, axis, correction, keepdims):
    """The forward of var and std."""
    op = rule.__name__
    xp, scope, keepdims, (axes, kept, _, count), info = _start(op, x, axis, keepdims, True)
    denom = builtins.max(count - _correction(op, correction), 0.0)
    d, out = run(op, scope, _spread_moment, xp, x, axes, keepdims, denom, rule is std, info.accum)
    saved = Moment(d, out if rule is std else None, kept, denom)
    return rule.record(xp, scope, saved, (True,), out)


def _spread_moment(xp, x, axes, keepdims, denom, root, accum):
    """x minus its mean, and the sum of its squares over the divisor max(n - correction, 0)
    (its square root with ``root``). Half precision computes in ``accum``
    (float32), as its sums do: a float16 sum of squares overflows long before
    the variance does."""
    wide = x if accum is None else xp.astype(x, accum)
    d = wide - xp.mean(wide, axis=axes, keepdims=True)
    ss = xp.sum(d * d, axis=axes, keepdims=keepdims)
    var = ss / denom if denom else ss * math.inf
    out = xp.sqrt(var) if root else var
    if accum is None:
        return d, out
    return xp.astype(d, x.dtype), xp.astype(out, x.dtype)


def _joined_spread(s, join):
    """Moment ``s`` with x minus its mean joined to x's graph (a recorded
    backward differentiates through it): centering is its own adjoint."""
    axes = tuple([i for i, k in enumerate(s.kept) if k == 1])
    return s._replace(d=join.linear(s.d, 0, lambda xp, g: g - xp.mean(g, axis=axes, keepdims=True)))


class var(Rule):
    """``out = sum((x - mean)^2) / (n - correction)``; dx = G * 2 (x - mean) / (n - correction).

    A divisor n - correction <= 0 gives inf (0 * inf = NaN for no spread), as torch.
    """

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, correction=0.0, keepdims=False):
        """Variance over ``axis`` of a real floating-point ``x``."""
        return _moment(var, x, axis, correction, keepdims)

    graph_saved = staticmethod(_joined_spread)

    @staticmethod
    def gradients(xp, g, s, needs):
        scale = _kept(xp, g, s.kept) * (2.0 / s.denom if s.denom else math.inf)
        return (cast(xp, scale * s.d, s.d.dtype),)


class std(Rule):
    """``out = sqrt(var(x, axis, correction))``; dx = G (x - mean) / ((n - correction) out),
    and 0 where out == 0 (no spread), as torch."""

    args = ("x",)

    @staticmethod
    def forward(x, axis=None, correction=0.0, keepdims=False):
        """Standard deviation over ``axis`` of a real floating-point ``x``."""
        return _moment(std, x, axis, correction, keepdims)

    graph_saved = staticmethod(_joined_spread)

    @staticmethod
    def gradients(xp, g, s, needs):
        out = _kept(xp, s.out, s.kept)
        safe = xp.where(out == 0, xp.ones_like(out), out)
        # G / out, then / denom as a Python number: out * denom overflowed float16
        # (past 65504) and gave a gradient of 0
        over = _kept(xp, g, s.kept) / safe
        over = _over(xp, over, s.denom) if s.denom else over / (safe * math.inf)
        scale = xp.where(out == 0, xp.zeros_like(over), over)
        return (cast(xp, scale * s.d, s.d.dtype),)


class Cumulated(NamedTuple):
    axis: int
    include_initial: bool
    x_dtype: object


def _cumulate(op, x, axis, dtype, include_initial):
    """The forward of cumulative_sum and cumulative_prod: (xp, scope, axis, out, needs)."""
    xp, scope = resolve(op, x)
    ax = _cumulative_axis(op, x, axis)
    native = _dtypes.to_native(xp, dtype, op)  # outside run(): its error is ours already
    info = dtype_info(xp, x.dtype)
    if native is None and info.numeric and not info.inexact:
        # small integers accumulate in the default integer, as the standard says
        # (JAX's cumulative_prod keeps int8 and overflows): the dtype sum gives
        native = run(op, scope, lambda: xp.sum(xp.zeros((0,), dtype=x.dtype, device=getattr(
            x, "device", None))).dtype)
    # half precision runs in float32 and rounds once, as sum does (float16's running sum
    # of 3000 times 1.001 stopped at 2048 and ended at 3954 for 3003)
    wide = info.accum if native is None else None
    out = run(op, scope, lambda: getattr(xp, op)(
        x, axis=ax, dtype=wide or native, include_initial=bool(include_initial)))
    if wide is not None:
        out = run(op, scope, xp.astype, out, x.dtype)
    # an integer dtype= result carries no gradient
    return xp, scope, ax, out, (info.inexact and dtype_info(xp, out.dtype).inexact,)


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
        xp, scope, ax, out, needs = _cumulate("cumulative_sum", x, axis, dtype, include_initial)
        saved = Cumulated(ax, bool(include_initial), x.dtype)
        return cumulative_sum.record(xp, scope, saved, needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        if s.include_initial:
            g = g[(slice(None),) * s.axis + (slice(1, None), Ellipsis)]
        return (cast(xp, _rev_cumsum(xp, g, s.axis), s.x_dtype),)


def _rev_cumsum(xp, g, ax):
    """out[k] = sum(g[k:]) along ``ax`` (in float32 for half precision, which the
    callers cast back)."""
    wide = dtype_info(xp, g.dtype).accum
    return xp.flip(xp.cumulative_sum(xp.flip(g, axis=ax), axis=ax, dtype=wide), axis=ax)


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
        xp, scope, ax, out, needs = _cumulate("cumulative_prod", x, axis, dtype, include_initial)
        saved = CumProd(x, out, ax, bool(include_initial)) if needs[0] else None
        return cumulative_prod.record(xp, scope, saved, needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        x, out, ax = s.x, s.out, s.axis
        if s.include_initial:
            rest = (slice(None),) * ax + (slice(1, None), Ellipsis)
            g, out = g[rest], out[rest]
        zero = x == 0
        seen = xp.cumulative_sum(xp.astype(zero, xp.int32), axis=ax)
        before, first = seen == 0, zero & (seen == 1)
        safe = xp.where(before, x, xp.ones_like(x))
        dx = _rev_cumsum(xp, g * conj_if_complex(xp, out), ax) / conj_if_complex(xp, safe)
        if any_known(xp, first) is not False:  # always, where it cannot be read (dask, jax.jit)
            p = xp.cumulative_prod(xp.where(first, xp.ones_like(x), x), axis=ax)
            at_zero = _rev_cumsum(xp, g * conj_if_complex(xp, p), ax)
            dx = xp.where(before, dx, xp.where(first, at_zero, xp.zeros_like(at_zero)))
        return (cast(xp, dx, x.dtype),)

    @classmethod
    def graph_gradients(cls, tx, g, s, needs):
        # After a zero, the gradient above is the constant 0, but it moves with
        # that zero: a recorded backward takes every product of the others
        # explicitly instead, O(n^2) along the axis (only where x has a zero).
        if any_known(tx, s.x == 0) is False:  # lazy: never read it
            return cls.gradients(tx, g, s, needs)
        x, ax = s.x, s.axis
        if s.include_initial:
            g = g[(slice(None),) * ax + (slice(1, None), Ellipsis)]
        xm, gm = tx.moveaxis(x, ax, -1), tx.moveaxis(g, ax, -1)
        n = xm.shape[-1]
        idx = tx.arange(n, device=x.device)
        later = idx[None, :] > idx[:, None]  # [j, i]: i after j
        spread = tx.where(later, tx.expand_dims(xm, axis=-2), tx.ones_like(tx.expand_dims(xm, axis=-2)))
        after = tx.cumulative_prod(spread, axis=-1)  # [.., j, k]: prod of x_i for j < i <= k
        before = tx.cumulative_prod(xm, axis=-1, include_initial=True)[..., :-1]
        reach = idx[None, :] >= idx[:, None]  # [j, k]: out_k depends on x_j
        terms = tx.where(reach, tx.expand_dims(gm, axis=-2) * conj_if_complex(tx, after),
                         tx.zeros_like(after))
        dx = conj_if_complex(tx, before) * tx.sum(terms, axis=-1)
        return (cast(tx, tx.moveaxis(dx, -1, ax), x.dtype),)

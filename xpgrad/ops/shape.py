"""Rules that move data without arithmetic: reshape, permute_dims, to_device,
the standard's manipulation functions, and astype."""

from __future__ import annotations

import math
import numbers
import operator
from typing import NamedTuple

from .. import _dtypes
from .._backend import adapter_of, array_device, dtype_info, resolve
from .._backend import to_device as _to_device
from .._shapes import as_shape, broadcast_shapes, fmt, normalize_axis
from ._common import Ctx, Rule, cast, check_grad, differentiable, run, to_input
from .elementwise import Unary

__all__ = [
    "reshape", "permute_dims", "to_device", "expand_dims", "squeeze", "broadcast_to", "concat",
    "stack", "flip", "roll", "tril", "triu", "astype",
]


class Reshaped(NamedTuple):
    x_shape: tuple
    x_dtype: object


def _reshaped(rule, xp, scope, x, shape):
    """``x`` in ``shape`` and the ctx of ``rule``, one of the rules that only
    reshape (reshape, expand_dims, squeeze): their gradient is reshape.grad."""
    op = rule.__name__
    try:
        out = run(op, scope, xp.reshape, x, shape)
    except (ValueError, TypeError) as exc:  # what run() makes of torch's RuntimeError, JAX's TypeError
        out = _reshape_otherwise(op, xp, scope, x, shape, exc)
    return rule.record(xp, scope, Reshaped(tuple(x.shape), x.dtype), (differentiable(xp, x),), out)


def _reshape_otherwise(op, xp, scope, x, shape, refused):
    """``x`` in ``shape`` the adapter's way, after the namespace ``refused`` it
    (dask splits no axis across uneven chunks); a ValueError where there is
    none, with the library's reason where the sizes fit (cubed's memory bound)."""
    try:
        out = run(op, scope, adapter_of(xp).reshape, xp, x, shape)
    except (ValueError, TypeError):
        out = None
    if out is None:
        size, known = math.prod(x.shape), math.prod(d for d in shape if d != -1)
        fits = size == known or (-1 in shape and known and size % known == 0)
        why = f" ({str(refused).removeprefix(op + ': ')})" if fits else ""
        raise ValueError(f"{op}: cannot reshape x of shape {fmt(x.shape)} to {shape!r}{why}") from None
    return out


def _reshape_grad(xp, g, shape):
    try:
        return xp.reshape(g, shape)
    except NotImplementedError:  # dask: an axis split across uneven chunks
        out = adapter_of(xp).reshape(xp, g, shape)
        if out is None:
            raise
        return out


class reshape(Unary):
    """``out = reshape(x, shape)``; dx = reshape(G, x.shape)."""

    @staticmethod
    def forward(x, shape):
        xp, scope = resolve("reshape", x)
        shape = as_shape(shape, "reshape")
        if any(d < -1 for d in shape) or shape.count(-1) > 1:
            raise ValueError(
                f"reshape: shape {shape!r} may hold sizes >= 0 and at most one -1 (the size "
                f"that fits)"
            )
        return _reshaped(reshape, xp, scope, x, shape)

    @staticmethod
    def grad(xp, g, s):
        return _reshape_grad(xp, g, s.x_shape)


class Permuted(NamedTuple):
    inverse: tuple  # the permutation that undoes axes
    x_dtype: object


class permute_dims(Unary):
    """``out = permute_dims(x, axes)``; dx = permute_dims(G, inverse(axes))."""

    @staticmethod
    def forward(x, axes):
        xp, scope = resolve("permute_dims", x)
        try:
            given = tuple(axes)
        except TypeError:
            raise TypeError(f"permute_dims: axes must be a tuple of ints; got {axes!r}") from None
        nd = x.ndim
        if len(given) != nd:
            raise ValueError(
                f"permute_dims: axes {given!r} are not a permutation of the {nd} axes "
                f"of x of shape {fmt(x.shape)}"
            )
        # normalize_axis checks types and range, and rejects repeats.
        normalize_axis(given, nd, "permute_dims", x.shape)
        axes = tuple(operator.index(a) % nd for a in given)
        out = run("permute_dims", scope, xp.permute_dims, x, axes)
        inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        return permute_dims.record(xp, scope, Permuted(inverse, x.dtype), (differentiable(xp, x),), out)

    @staticmethod
    def grad(xp, g, s):
        return xp.permute_dims(g, s.inverse)


class Moved(NamedTuple):
    source: object  # x's Device
    out_xp: object  # out's namespace, which grad_out must have
    x_dtype: object  # JAX without x64 holds float64 as float32: the gradient is cast back


class to_device(Rule):
    """``out = x`` on another device; dx = G moved back to x's device."""

    args = ("x",)

    @staticmethod
    def forward(x, device):
        xp, scope = resolve("to_device", x)
        source = array_device(x)  # with x's library: the gradient goes back to it
        out = _to_device(x, device)
        # out may be another library's array (NumPy -> CuPy): grad_out is checked
        # against out's namespace, and the gradient goes back to x's.
        out_xp, _ = resolve("to_device", out)
        needs = (differentiable(xp, x),)
        saved = Moved(source, out_xp, x.dtype)
        return out, Ctx("to_device", xp, scope, saved, needs, tuple(x.shape), out.dtype)

    @staticmethod
    def backward(grad_out, ctx):
        # grad_out belongs to out's library: read it from ctx once ctx is known good.
        mine = type(ctx) is Ctx and ctx.op == "to_device"
        grad_out = check_grad("to_device", grad_out, ctx, xp=ctx.saved.out_xp if mine else None)
        if not ctx.needs_input_grad[0]:
            return (None,)
        return (cast(ctx.xp, _to_device(grad_out, ctx.saved.source), ctx.saved.x_dtype),)

    @staticmethod
    def graph_gradients(tx, g, s, needs):
        return (cast(tx, tx.asarray(g, device=s.source), s.x_dtype),)  # the move back, recorded


def _axis(axis, ndim: int, op: str, shape) -> int:
    """One axis in ``[-ndim, ndim)`` as a non-negative int; a TypeError naming
    ``op`` for anything but an int."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{op}: axis must be an int; got {axis!r}")
    return normalize_axis(operator.index(axis), ndim, op, shape)[0]


class expand_dims(Unary):
    """``out = expand_dims(x, axis)``; dx = reshape(G, x.shape). ``axis`` may be
    a tuple of positions in the output (as NumPy's)."""

    @staticmethod
    def forward(x, axis):
        xp, scope = resolve("expand_dims", x)
        items = axis if type(axis) is tuple else (axis,)
        nd = x.ndim + len(items)
        try:
            pos = normalize_axis(items, nd, "expand_dims", x.shape)
        except ValueError as exc:  # the standard asks for an IndexError
            raise IndexError(str(exc)) from None
        shape = list(x.shape)
        for p in pos:
            shape.insert(p, 1)
        return _reshaped(expand_dims, xp, scope, x, tuple(shape))

    grad = reshape.grad


class squeeze(Unary):
    """``out = squeeze(x, axis)``; dx = reshape(G, x.shape)."""

    @staticmethod
    def forward(x, axis):
        xp, scope = resolve("squeeze", x)
        pos = normalize_axis(axis, x.ndim, "squeeze", x.shape)
        bad = [p for p in pos if x.shape[p] != 1]
        if bad:
            raise ValueError(
                f"squeeze: axis {bad[0]} of x of shape {fmt(x.shape)} has size "
                f"{x.shape[bad[0]]}; only axes of size 1 can be removed"
            )
        shape = tuple(d for i, d in enumerate(x.shape) if i not in pos)
        return _reshaped(squeeze, xp, scope, x, shape)

    grad = reshape.grad


class broadcast_to(Unary):
    """``out = broadcast_to(x, shape)``; dx = sum_to(G, x.shape)."""

    @staticmethod
    def forward(x, shape):
        xp, scope = resolve("broadcast_to", x)
        shape = as_shape(shape, "broadcast_to")
        if broadcast_shapes(x.shape, shape, op="broadcast_to") != shape:
            raise ValueError(f"broadcast_to: x of shape {fmt(x.shape)} cannot be broadcast to {fmt(shape)}")
        out = run("broadcast_to", scope, xp.broadcast_to, x, shape)
        saved = Reshaped(tuple(x.shape), x.dtype)
        return broadcast_to.record(xp, scope, saved, (differentiable(xp, x),), out)

    @staticmethod
    def grad(xp, g, s):
        return to_input(xp, g, s.x_shape, s.x_dtype)


class Joined(NamedTuple):
    shapes: tuple
    dtypes: tuple
    axis: int | None


class concat(Rule):
    """``out = concat(arrays, axis)``; dx_i = the slice of G that x_i filled
    (flattened first for axis=None)."""

    args = ()

    @staticmethod
    def forward(*arrays_and_axis):
        *arrays, axis = arrays_and_axis
        return _join(concat, arrays, axis)

    @staticmethod
    def gradients(xp, g, s, needs):
        grads, start = [], 0
        lead = (slice(None),) * (0 if s.axis is None else s.axis)
        for shape, dtype, need in zip(s.shapes, s.dtypes, needs):
            size = math.prod(shape) if s.axis is None else shape[s.axis]
            if need:
                part = g[lead + (slice(start, start + size), ...)]
                grads.append(cast(xp, part if s.axis is not None else xp.reshape(part, shape), dtype))
            else:
                grads.append(None)
            start += size
        return tuple(grads)


class stack(Rule):
    """``out = stack(arrays, axis)``; dx_i = G indexed at i along axis."""

    args = ()

    @staticmethod
    def forward(*arrays_and_axis):
        *arrays, axis = arrays_and_axis
        return _join(stack, arrays, axis)

    @staticmethod
    def gradients(xp, g, s, needs):
        lead = (slice(None),) * s.axis
        return tuple(
            cast(xp, g[lead + (i, ...)], dtype) if need else None
            for i, (dtype, need) in enumerate(zip(s.dtypes, needs))
        )


def _join(rule, arrays, axis):
    op = rule.__name__
    if not arrays:
        raise ValueError(f"{op}: arrays is empty; pass at least one array")
    xp, scope = resolve(op, *arrays)
    first = arrays[0]
    if op == "stack":
        if any(tuple(a.shape) != tuple(first.shape) for a in arrays):
            shapes = ", ".join(fmt(a.shape) for a in arrays)
            raise ValueError(f"stack: arrays must all have one shape; got {shapes}")
        axis = _axis(axis, first.ndim + 1, op, first.shape)
    elif axis is not None:
        axis = _axis(axis, first.ndim, op, first.shape)
        for a in arrays:
            if a.ndim != first.ndim or any(
                d != e for i, (d, e) in enumerate(zip(a.shape, first.shape)) if i != axis
            ):
                shapes = ", ".join(fmt(b.shape) for b in arrays)
                raise ValueError(
                    f"concat: arrays must have the same shape except along axis {axis}; got {shapes}"
                )
    out = run(op, scope, lambda: getattr(xp, op)(list(arrays), axis=axis))
    saved = Joined(tuple(tuple(a.shape) for a in arrays), tuple(a.dtype for a in arrays), axis)
    return rule.record(xp, scope, saved, tuple(differentiable(xp, a) for a in arrays), out)


class Flipped(NamedTuple):
    axis: object
    x_dtype: object


class flip(Unary):
    """``out = flip(x, axis)``; dx = flip(G, axis)."""

    @staticmethod
    def forward(x, axis=None):
        xp, scope = resolve("flip", x)
        if axis is not None:
            axis = normalize_axis(axis, x.ndim, "flip", x.shape)
        out = run("flip", scope, lambda: xp.flip(x, axis=axis))
        return flip.record(xp, scope, Flipped(axis, x.dtype), (differentiable(xp, x),), out)

    @staticmethod
    def grad(xp, g, s):
        return xp.flip(g, axis=s.axis)


class Rolled(NamedTuple):
    back: object  # the shift that undoes it
    axis: object
    x_dtype: object


class roll(Unary):
    """``out = roll(x, shift, axis)``; dx = roll(G, -shift, axis)."""

    @staticmethod
    def forward(x, shift, axis=None):
        xp, scope = resolve("roll", x)
        many = type(shift) is tuple
        for k in shift if many else (shift,):
            if isinstance(k, bool) or not isinstance(k, numbers.Integral):
                raise TypeError(f"roll: shift must be an int or a tuple of ints; got {shift!r}")
        if many and (type(axis) is not tuple or len(axis) != len(shift)):
            raise ValueError(
                f"roll: shift {shift!r} is a tuple, so axis must be a tuple of as many axes; "
                f"got axis={axis!r}"
            )
        if type(axis) is tuple:  # an axis named twice rolls by the sum, as NumPy and torch do
            shifts = shift if many else (shift,) * len(axis)
            merged: dict = {}
            for a, k in zip(axis, shifts):
                (a,) = normalize_axis(a, x.ndim, "roll", x.shape)
                merged[a] = merged.get(a, 0) + operator.index(k)
            axis, shift, many = tuple(merged), tuple(merged.values()), True
        elif axis is not None:
            normalize_axis(axis, x.ndim, "roll", x.shape)
        shift = tuple(operator.index(k) for k in shift) if many else operator.index(shift)
        back = tuple(-k for k in shift) if many else -shift
        if many and not shift:  # no axis to roll (torch asks for shifts): x as it is
            out = run("roll", scope, lambda: xp.asarray(x, copy=True))
        else:
            out = run("roll", scope, lambda: xp.roll(x, shift, axis=axis))
        return roll.record(xp, scope, Rolled(back, axis, x.dtype), (differentiable(xp, x),), out)

    @staticmethod
    def grad(xp, g, s):
        return g if s.back == () else xp.roll(g, s.back, axis=s.axis)  # torch: shifts required


class Banded(NamedTuple):
    k: int
    x_dtype: object


class tril(Unary):
    """``out = tril(x, k)``; dx = tril(G, k)."""

    @staticmethod
    def forward(x, k=0):
        return _band(tril, x, k)

    @staticmethod
    def grad(xp, g, s):
        return xp.tril(g, k=s.k)


class triu(Unary):
    """``out = triu(x, k)``; dx = triu(G, k)."""

    @staticmethod
    def forward(x, k=0):
        return _band(triu, x, k)

    @staticmethod
    def grad(xp, g, s):
        return xp.triu(g, k=s.k)


def _band(rule, x, k):
    op = rule.__name__
    xp, scope = resolve(op, x)
    if x.ndim < 2:
        raise ValueError(f"{op}: x must have at least 2 dimensions; got shape {fmt(x.shape)}")
    if type(k) is bool or not isinstance(k, numbers.Integral):
        raise TypeError(f"{op}: k must be an int; got {k!r}")
    k = operator.index(k)  # NumPy's integers too, as Python's
    out = run(op, scope, lambda: getattr(xp, op)(x, k=k))
    return rule.record(xp, scope, Banded(k, x.dtype), (differentiable(xp, x),), out)


class Cast(NamedTuple):
    x_dtype: object


class astype(Unary):
    """``out = astype(x, dtype)``; dx = astype(G, x.dtype). Only between
    floating (or complex) dtypes: to an integer or boolean dtype nothing flows
    back."""

    @staticmethod
    def forward(x, dtype, copy=True):
        xp, scope = resolve("astype", x)
        native = _dtypes.to_native(xp, dtype, "astype")
        out = run("astype", scope, lambda: xp.astype(x, native, copy=copy))
        needs = (differentiable(xp, x) and dtype_info(xp, native).inexact,)
        return astype.record(xp, scope, Cast(x.dtype), needs, out)

    @staticmethod
    def grad(xp, g, s):
        return g  # the template casts it to x's dtype

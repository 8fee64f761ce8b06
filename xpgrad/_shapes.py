"""Shape arithmetic, and the one broadcast reduction every rule shares."""

from __future__ import annotations

import functools
import numbers
import operator

from ._backend import adapter_of, declare, dtype_info, fmt_shape, resolve

__all__ = ["as_shape", "broadcast_axes", "broadcast_shapes", "sum_to", "fmt", "normalize_axis"]


fmt = fmt_shape  # ``(3, 4)``, ``(4,)``, ``()``, ``(nan, 4)`` for an unknown size


def as_shape(shape, op: str, name: str = "shape") -> tuple:
    """``shape`` as a tuple of Python ints; an int alone is a 1-D shape, as in NumPy.

    Raises ``TypeError`` naming ``op`` and ``name`` for anything else.
    """
    if type(shape) is tuple and all(type(d) is int for d in shape):
        return shape
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        return (int(shape),)
    try:
        items = tuple(shape)
        if any(isinstance(d, bool) for d in items):
            raise TypeError
        return tuple(operator.index(d) for d in items)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a tuple of ints; got {shape!r}") from None


@functools.lru_cache(maxsize=4096)
def _broadcast(a: tuple, b: tuple) -> tuple | None:
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + a
    b = (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


def broadcast_shapes(*shapes, op: str = "broadcast_shapes") -> tuple:
    """The shape that ``shapes`` broadcast to, or ``ValueError`` naming them."""
    out: tuple = ()
    for s in shapes:
        r = _broadcast(out, as_shape(s, op))
        if r is None:
            raise ValueError(
                f"{op}: shapes {', '.join(fmt(x) for x in shapes)} do not broadcast"
            )
        out = r
    return out


@functools.lru_cache(maxsize=4096)
def _axes(shape: tuple, target: tuple) -> tuple | None:
    lead = len(shape) - len(target)
    if lead < 0:
        return None
    axes = list(range(lead))
    for i, t in enumerate(target):
        s = shape[lead + i]
        if t == s:
            continue
        if t != 1:
            return None
        axes.append(lead + i)
    return tuple(axes)


def broadcast_axes(shape, target_shape) -> tuple:
    """Axes of ``shape`` that :func:`sum_to` sums to reach ``target_shape``.

    These are the leading axes that ``target_shape`` lacks, plus every axis
    where ``target_shape`` has 1 and ``shape`` does not: the axes along which
    an array of ``target_shape`` was broadcast to ``shape``.

    Raises
    ------
    ValueError
        If ``target_shape`` does not broadcast to ``shape``.

    Examples
    --------
    >>> broadcast_axes((2, 5, 3, 4), (5, 1, 4))
    (0, 2)
    """
    shape = as_shape(shape, "broadcast_axes")
    target = as_shape(target_shape, "broadcast_axes", "target_shape")
    axes = _axes(shape, target)
    if axes is None:
        raise ValueError(
            f"broadcast_axes: shape {fmt(target)} does not broadcast to {fmt(shape)}"
        )
    return axes


@functools.lru_cache(maxsize=4096)
def _sum_axes(shape: tuple, target: tuple) -> tuple | None:
    """The broadcast axes that actually need summing: summing a length-1 axis
    changes nothing, and the final reshape drops it for free."""
    axes = _axes(shape, target)
    return None if axes is None else tuple(a for a in axes if shape[a] != 1)


def sum_to(x, shape, *, xp=None):
    """Sum ``x`` over its broadcast axes so that it has ``shape``.

    The inverse of broadcasting, and the gradient of ``broadcast_to``: one
    ``sum(..., keepdims=True)`` over :func:`broadcast_axes` and one reshape.
    float16 and bfloat16 accumulate in float32 and are cast back.

    Parameters
    ----------
    x : array
    shape : tuple of int
        A shape that broadcasts to ``x.shape``.
    xp : namespace, optional
        ``x``'s namespace, when the caller already has it.

    Returns
    -------
    array of shape ``shape`` and the dtype of ``x``; ``x`` itself when nothing
    needs summing.

    Raises
    ------
    ValueError
        If ``shape`` does not broadcast to ``x.shape``.

    Examples
    --------
    >>> import numpy as np
    >>> sum_to(np.ones((2, 3, 4)), (3, 1)).tolist()
    [[8.0], [8.0], [8.0]]
    """
    if xp is None:
        xp, _ = resolve("sum_to", x)
    xshape = tuple(x.shape)
    if xshape == shape:  # the common call, with a tuple from a rule: nothing to check or sum
        return x
    shape = as_shape(shape, "sum_to")
    if xshape == shape:
        return x
    axes = _sum_axes(xshape, shape)
    if axes is None:
        raise ValueError(f"sum_to: cannot reduce shape {fmt(xshape)} to {fmt(shape)}")
    if axes:
        accum = dtype_info(xp, x.dtype).accum
        summed = adapter_of(xp).sum_over(xp, x, axes)
        if summed is not None:
            x = summed
        elif accum is None:
            x = xp.sum(x, axis=axes, keepdims=True)
        else:
            x = xp.astype(xp.sum(x, axis=axes, keepdims=True, dtype=accum), x.dtype)
    return xp.reshape(x, shape)


def normalize_axis(axis, ndim: int, op: str, shape) -> tuple:
    """``axis`` (None, int or tuple of int, negatives allowed) as sorted non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in items:
        try:
            if isinstance(a, bool):
                raise TypeError
            a = operator.index(a)
        except TypeError:
            raise TypeError(
                f"{op}: axis must be None, an int or a tuple of ints; got {axis!r}"
            ) from None
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{op}: axis {a} is out of range for shape {fmt(shape)} ({ndim} dims)"
            )
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(out))


declare("sum_to", ("x",))

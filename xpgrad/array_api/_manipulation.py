"""Manipulation functions of the standard, ``sort``, ``meshgrid``, ``tril``,
``triu``, ``diff`` and ``astype``.

Each records its rule's node; the ones the standard builds from others
(``moveaxis``, ``unstack``, ``broadcast_arrays``, ``meshgrid``, ``diff``,
``sort``) are written with those, so their gradients are those rules'.
"""

from __future__ import annotations

import numbers
import operator

from .. import ops
from .._backend import _describe, adapter_of, dtype_info, resolve
from .._shapes import broadcast_shapes, fmt, normalize_axis
from ..tensor import Tensor, apply, constant, permuted, reshaped
from . import _nondiff
from ._docs import composed, records

__all__ = [
    "reshape", "permute_dims", "expand_dims", "squeeze", "broadcast_to", "broadcast_arrays",
    "concat", "stack", "unstack", "flip", "roll", "moveaxis", "tile", "repeat", "tril", "triu",
    "meshgrid", "diff", "sort", "astype",
]


def _data(x):
    return x.data if type(x) is Tensor else x


def _arrays(op: str, arrays, name: str = "arrays", sequence: bool = True) -> tuple:
    """``arrays`` checked as the rules check their arguments: a list or tuple
    (unless the function takes them as separate arguments) of Tensors or
    arrays, each refused by position, naming ``op``."""
    if sequence and not isinstance(arrays, (list, tuple)):
        raise TypeError(f"{op}: {name} must be a list or tuple of arrays; got {_describe(arrays)}")
    for i, a in enumerate(arrays):
        if type(a) is not Tensor and not (hasattr(a, "shape") and hasattr(a, "dtype")):
            raise TypeError(
                f"{op}: {name}[{i}] is {_describe(a)}, not an array; make it one with "
                f"xp.asarray (of the other arrays' library and device)"
            )
    return tuple(arrays)


def _int_axes(op: str, axes, name: str) -> tuple:
    items = axes if type(axes) is tuple else (axes,)
    for a in items:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise TypeError(f"{op}: {name} must be an int or a tuple of ints; got {axes!r}")
    return items


@records(ops.reshape)
def reshape(x, /, shape, *, copy=None):
    if copy:
        x = astype(x, _data(x).dtype, copy=True)
    out = reshaped(x, ops.reshape, tuple(shape))
    if copy is False and out.size:  # the standard: never a copy, a ValueError where one is due
        data = _data(x)
        adapter = adapter_of(resolve("reshape", data)[0])
        if adapter.views and not adapter.shares_memory(out.data, data):
            raise ValueError(
                f"reshape: copy=False, but x's layout (of shape {fmt(data.shape)}, a transpose "
                f"or a strided slice) has no view of shape {fmt(tuple(shape))}; pass copy=None "
                f"to let reshape copy it"
            )
    return out


@records(ops.permute_dims)
def permute_dims(x, /, axes):
    return permuted(x, tuple(axes))


@records(ops.expand_dims)
def expand_dims(x, /, axis):
    return reshaped(x, ops.expand_dims, axis)


@records(ops.squeeze)
def squeeze(x, /, axis):
    return reshaped(x, ops.squeeze, axis)


@records(ops.broadcast_to)
def broadcast_to(x, /, shape):
    return apply(ops.broadcast_to, (x,), tuple(shape))


@composed(
    "broadcast_to of each array to their common shape; each gradient is G summed back to its array's shape."
)
def broadcast_arrays(*arrays):
    _arrays("broadcast_arrays", arrays, sequence=False)
    shape = broadcast_shapes(*(tuple(_data(a).shape) for a in arrays), op="broadcast_arrays")
    return [broadcast_to(a, shape) for a in arrays]


@records(ops.concat)
def concat(arrays, /, *, axis=0):
    return apply(ops.concat, _arrays("concat", arrays), axis)


@records(ops.stack)
def stack(arrays, /, *, axis=0):
    return apply(ops.stack, _arrays("stack", arrays), axis)


@composed(
    "One getitem per index along axis: each slice's gradient goes back to its place."
)
def unstack(x, /, *, axis=0):
    data = _data(x)
    axis = normalize_axis(axis, data.ndim, "unstack", data.shape)[0]
    lead = (slice(None),) * axis
    return tuple(apply(ops.getitem, (x,), lead + (i, ...)) for i in range(data.shape[axis]))


@records(ops.flip)
def flip(x, /, *, axis=None):
    return apply(ops.flip, (x,), axis)


@records(ops.roll)
def roll(x, /, shift, *, axis=None):
    return apply(ops.roll, (x,), shift, axis)


@records(ops.permute_dims, "The axes named move to the positions named; the others keep their order.", check=True)
def moveaxis(x, source, destination, /):
    data = _data(x)
    nd = data.ndim
    src = _int_axes("moveaxis", source, "source")
    dst = _int_axes("moveaxis", destination, "destination")
    if len(src) != len(dst):
        raise ValueError(
            f"moveaxis: source {source!r} and destination {destination!r} must name as many axes"
        )
    src = [operator.index(a) % nd if -nd <= operator.index(a) < nd else a for a in src]
    dst = [operator.index(a) % nd if -nd <= operator.index(a) < nd else a for a in dst]
    normalize_axis(tuple(src), nd, "moveaxis", data.shape)  # range and repeats
    normalize_axis(tuple(dst), nd, "moveaxis", data.shape)
    order = [a for a in range(nd) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permuted(x, tuple(order))


@records(ops.tile)
def tile(x, repetitions, /):
    return apply(ops.tile, (x,), tuple(repetitions))


@records(ops.repeat)
def repeat(x, repeats, /, *, axis=None):
    return apply(ops.repeat, (x, repeats), axis)


@records(ops.tril)
def tril(x, /, *, k=0):
    return apply(ops.tril, (x,), k)


@records(ops.triu)
def triu(x, /, *, k=0):
    return apply(ops.triu, (x,), k)


@composed(
    "reshape, then broadcast_to, of each 1-D array: each gradient is G summed over the axes its array was broadcast along."
)
def meshgrid(*arrays, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij'; got {indexing!r}")
    _arrays("meshgrid", arrays, sequence=False)
    sizes = []
    for i, a in enumerate(arrays):
        d = _data(a)
        if d.ndim != 1:
            raise ValueError(f"meshgrid: every array must be 1-D; array {i} has shape {fmt(d.shape)}")
        sizes.append(d.shape[0])
    pos = list(range(len(arrays)))
    if indexing == "xy" and len(arrays) >= 2:
        pos[0], pos[1] = 1, 0
        sizes[0], sizes[1] = sizes[1], sizes[0]
    shape = tuple(sizes)
    out = []
    for a, p in zip(arrays, pos):
        one = [1] * len(shape)
        one[p] = -1
        out.append(broadcast_to(reshape(a, tuple(one)), shape))
    return out


@composed(
    "n rounds of x[1:] - x[:-1] along axis (after concatenating prepend and append): the gradient is G scattered back, with the opposite sign for the earlier element of each pair."
)
def diff(x, /, *, axis=-1, n=1, prepend=None, append=None):
    data = _data(x)
    if type(n) is bool or not isinstance(n, numbers.Integral):
        raise TypeError(f"diff: n must be a non-negative int; got {n!r}")
    if n < 0:
        raise ValueError(f"diff: n must be a non-negative int; got {n!r}")
    axis = normalize_axis(axis, data.ndim, "diff", data.shape)[0]
    for name, part in (("prepend", prepend), ("append", append)):
        if part is not None and not hasattr(part, "shape"):
            raise TypeError(
                f"diff: {name} is {_describe(part)}, not an array; the standard's diff takes "
                f"an array of x's shape but along axis (pass xp.full of that shape)"
            )
        if part is not None and (part.ndim != data.ndim or any(
                [a != b for i, (a, b) in enumerate(zip(part.shape, data.shape)) if i != axis])):
            raise ValueError(
                f"diff: {name} has shape {fmt(part.shape)}, where x's is {fmt(data.shape)}: it "
                f"must have x's shape except along axis {axis}"
            )
    if n == 0:  # x as it is: no differences, and nothing prepended or appended (NumPy's)
        return x if type(x) is Tensor else constant(x)
    if prepend is not None or append is not None:
        parts = [p for p in (prepend, x, append) if p is not None]
        x = concat(parts, axis=axis)
    lead = (slice(None),) * axis
    for _ in range(n):
        if x.shape[axis] == 0:  # empty from here on (x[1:] of an empty axis: strict refuses)
            break
        x = apply(ops.sub, (apply(ops.getitem, (x,), lead + (slice(1, None), ...)),
                             apply(ops.getitem, (x,), lead + (slice(None, -1), ...))))
    return x if type(x) is Tensor else constant(x)


@records(ops.take_along_axis, "The order comes from argsort (no gradient); the sorted values carry their gradients back to where each came from.", check=True)
def sort(x, /, *, axis=-1, descending=False, stable=True):
    data = _data(x)
    if getattr(data, "ndim", 1) == 0:  # take_along_axis's error named take_along_axis
        raise ValueError("sort: x must have at least one axis; got a 0-D array")
    if hasattr(data, "ndim"):
        normalize_axis(axis, data.ndim, "sort", data.shape)
    order = _nondiff.argsort(x, axis=axis, descending=descending, stable=stable).data
    return apply(ops.take_along_axis, (x, order), axis)


@records(ops.astype, "An integer or boolean result has no gradient.")
def astype(x, dtype, /, *, copy=True, device=None):
    if dtype is None:  # the standard's astype has no default dtype: None is no dtype
        raise TypeError("astype: dtype must be a dtype (xp.float32, 'float64', ...); got None")
    if device is not None:
        x = (x if type(x) is Tensor else constant(x)).to_device(device)
    data = _data(x)
    xp, _ = resolve("astype", data)
    from .. import _dtypes

    native = _dtypes.to_native(xp, dtype, "astype")
    if copy is False and native == data.dtype:  # the standard: x itself
        return x if type(x) is Tensor else constant(x)
    if not dtype_info(xp, native).inexact:  # an integer or boolean result carries no gradient
        return constant(ops.astype.forward(data, native, copy)[0])
    return apply(ops.astype, (x,), native, copy)

"""Rules that pick elements: item access and assignment, ``take``,
``take_along_axis``, ``repeat`` and ``tile``.

Every gather here has one backward: the gradient of ``out = x[positions]`` is
``dx = zeros; dx[positions] += G``, with repeated positions accumulating.
Which element of ``x`` each output element came from is found by running the
same gather on ``iota``, the array of flat positions ``0 .. x.size - 1`` in
``x``'s shape (so negative indices, masks and every mixture of slices and
arrays resolve exactly as the library resolved them), and the sum is one 1-D
scatter-add in the library's own way (:func:`scatter_add`). ``take`` and
``take_along_axis`` compute the positions from their indices and small
broadcast ranges instead, without an x-sized iota (except on JAX, which reads
a fill value at an index out of range, where the gather on iota says where
such an index goes: nowhere). Basic keys (ints,
slices, Ellipsis, None) have no repeats and take the cheap path: zeros and a
slice assignment (``.at[key].set`` on JAX).
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import NamedTuple

import numpy as np

from .._backend import adapter_of, dtype_info, is_lazy, resolve
from .._shapes import fmt, normalize_axis
from ._common import Rule, cast, differentiable, run, to_input

__all__ = ["getitem", "setitem", "take", "take_along_axis", "repeat", "tile", "index_add", "scatter_add"]

_PY_SCALARS = (int, float, complex, bool)


def scatter_add(xp, n: int, index, values, like):
    """A 1-D array of length ``n``, zero except ``out[index[k]] += values[k]``
    (repeated indices add up), in ``values``' dtype.

    Each library's own accumulating scatter, from its adapter in
    ``xpgrad/_libs/``: ``numpy.add.at`` into zeros, ``torch.Tensor.index_add_``,
    JAX's ``.at[index].add``, ``cupyx.scatter_add``. Other libraries (array_api_strict, dask) have none
    in the standard, and get a portable one-hot product,
    ``values @ (index[:, None] == arange(n))``, which costs O(len(index) * n):
    correct everywhere, meant for the small arrays those libraries are used
    with here.
    """
    return adapter_of(xp).scatter_add(xp, n, index, values, like)


class Place(NamedTuple):
    """What a gather's backward needs of x: its shape and device, never its
    values, so that the backward does not keep x alive."""

    shape: tuple
    device: object

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _place(x) -> Place:
    return Place(tuple(x.shape), getattr(x, "device", None))


def _iota(xp, x: Place):
    """Flat positions of ``x``'s elements, in ``x``'s shape (int64, on its device)."""
    n = math.prod(x.shape)
    return xp.reshape(xp.arange(n, dtype=adapter_of(xp).index_dtype(xp), device=x.device), x.shape)


def _plus_other_axes(xp, x: Place, pos, axis: int, k: int):
    """``pos`` (the flat offsets along ``axis``, on output axes ``axis ..
    axis + k - 1``) plus ``arange(x.shape[d]) * stride(d)`` for every other
    axis d of x, each on its output axis: the flat positions of the gather."""
    shape, nd = x.shape, x.ndim
    index = adapter_of(xp).index_dtype(xp)
    for d in range(nd):
        if d != axis:
            view = [1] * (nd - 1 + k)
            view[d if d < axis else d - 1 + k] = shape[d]
            steps = xp.arange(shape[d], dtype=index, device=x.device) * math.prod(shape[d + 1:])
            pos = pos + xp.reshape(steps, tuple(view))
    return pos


def _index_positions(xp, x, indices, axis: int):
    """``indices`` along axis ``axis`` of x (negative ones counting from the
    end, as the gather read them; out of range, wrapped round the axis where
    the library wraps them, as CuPy does) times that axis's stride in x."""
    size = x.shape[axis]
    stride = math.prod(tuple(x.shape)[axis + 1:])
    adapter = adapter_of(xp)
    indices = xp.astype(indices, adapter.index_dtype(xp))
    if adapter.gather_wraps and size:
        return xp.remainder(indices, size) * stride
    return xp.where(indices < 0, indices + size, indices) * stride


def _scatter_positions(xp, positions, g, x_shape, like):
    """``dx`` of x's shape: ``g`` added at the flat ``positions`` (same shape as g)."""
    n = math.prod(x_shape)
    if math.prod(g.shape) == 0:  # nothing gathered (dask's and cubed's reshapes refuse it)
        return xp.zeros(x_shape, dtype=g.dtype, device=getattr(g, "device", None))
    positions = adapter_of(xp).sized_like(positions, g)  # a mask's, once g's sizes are known
    flat = scatter_add(xp, n, xp.reshape(positions, (-1,)), xp.reshape(g, (-1,)), like)
    return xp.reshape(flat, x_shape)


class Gathered(NamedTuple):
    x: Place  # x's shape and device, to build positions like it
    params: tuple  # what the forward's gather was given besides x
    x_shape: tuple
    x_dtype: object
    positions: object = None  # set for a recorded backward (see graph_saved)


class _Gather(Rule, template=True):
    """``out = gather(x, *params)``; dx = scatter-add of G at ``gather(iota)``.

    Only x gets a gradient: array arguments after it (``args[1:]``: indices,
    repeats) get None."""

    args = ("x",)
    saved_inputs = {}  # x's place only: the gradient is linear in G alone

    @staticmethod
    def gather(xp, x, *params):
        raise NotImplementedError

    @classmethod
    def _forward(cls, xp, scope, x, *params):
        try:
            out = run(cls.__name__, scope, cls.gather, xp, x, *params)
        except IndexError as exc:  # an index out of range: the library's words, with the op's name
            raise IndexError(f"{cls.__name__}: {exc}") from exc
        needs = (differentiable(xp, x),) + (False,) * (len(cls.args) - 1)
        return cls.record(xp, scope, Gathered(_place(x), params, tuple(x.shape), x.dtype), needs, out)

    @classmethod
    def gathered_positions(cls, xp, x, *params):
        """The flat position in ``x`` of each output element: the same gather
        run on ``iota``, so every index reads as the library read it."""
        return cls.gather(xp, _iota(xp, x), *params)

    # Rules whose positions follow from their indices alone (take,
    # take_along_axis) compute them without an x-sized iota.
    positions = gathered_positions

    @classmethod
    def _positions(cls, xp, s):
        # JAX reads a fill value at an index out of range: the gather on iota
        # sends that element's gradient nowhere, as it should.
        find = cls.gathered_positions if adapter_of(xp).gather_fills else cls.positions
        return find(xp, s.x, *s.params)

    @classmethod
    def gradients(cls, xp, g, s, needs):  # a classmethod: it gathers as the rule does
        positions = s.positions if s.positions is not None else cls._positions(xp, s)
        dx = _scatter_positions(xp, positions, g, s.x_shape, g)
        return (cast(xp, dx, s.x_dtype),) + (None,) * (len(needs) - 1)

    @classmethod
    def graph_saved(cls, s, join):
        # Positions are integers, computed in the data's own library.
        return s._replace(positions=cls._positions(join.xp, s))


class take(_Gather):
    """``out = take(x, indices, axis)``; dx = zeros with G added at the taken
    positions (a repeated index accumulates)."""

    args = ("x", "indices")

    @classmethod
    def forward(cls, x, indices, axis=None):
        xp, scope = resolve("take", x, indices)
        if axis is None and x.ndim != 1:
            raise ValueError(
                f"take: axis=None needs a 1-D x; x has shape {fmt(x.shape)}, pass the axis to "
                f"take along"
            )
        _check_indices("take", xp, indices)
        if axis is not None:  # torch's says "tuple index out of range", unnamed
            axis = _one_axis("take", axis, x)
        return cls._forward(xp, scope, x, indices, axis)

    @staticmethod
    def gather(xp, x, indices, axis):
        return adapter_of(xp).take(xp, x, indices, 0 if axis is None else axis)

    @staticmethod
    def positions(xp, x, indices, axis):
        nd, k = x.ndim, indices.ndim
        axis = 0 if axis is None else axis % nd
        shape = (1,) * axis + tuple(indices.shape) + (1,) * (nd - axis - 1)
        pos = xp.reshape(_index_positions(xp, x, indices, axis), shape)
        return _plus_other_axes(xp, x, pos, axis, k)


class take_along_axis(_Gather):
    """``out = take_along_axis(x, indices, axis)``; dx = zeros with G added at
    the taken positions (a repeated index accumulates)."""

    args = ("x", "indices")

    @classmethod
    def forward(cls, x, indices, axis=-1):
        xp, scope = resolve("take_along_axis", x, indices)
        _check_indices("take_along_axis", xp, indices)
        if indices.ndim != x.ndim:
            raise ValueError(
                f"take_along_axis: indices has {indices.ndim} dimensions and x {x.ndim} "
                f"(shape {fmt(x.shape)}); they must have as many"
            )
        if axis is not None:
            axis = _one_axis("take_along_axis", axis, x)
        return cls._forward(xp, scope, x, indices, axis)

    @staticmethod
    def gather(xp, x, indices, axis):  # the generic one where the namespace has none (dask)
        return adapter_of(xp).take_along_axis(xp, x, indices, axis=axis)

    @classmethod
    def gradients(cls, xp, g, s, needs):
        indices, axis = s.params
        if s.positions is None and axis is not None:  # a chunked library's, block by block
            nd = len(s.x_shape)
            dx = adapter_of(xp).add_along_axis(xp, s.x_shape, indices, g, axis % nd if nd else 0)
            if dx is not None:
                return cast(xp, dx, s.x_dtype), None
        return super().gradients(xp, g, s, needs)

    @staticmethod
    def positions(xp, x, indices, axis):
        if axis is None:  # along the flattened x (NumPy's reading)
            return _index_positions(xp, Place((math.prod(x.shape),), x.device), indices, 0)
        axis %= x.ndim
        return _plus_other_axes(xp, x, _index_positions(xp, x, indices, axis), axis, 1)


class repeat(_Gather):
    """``out = repeat(x, repeats, axis)``; dx = the sum of G over each element's
    copies."""

    args = ("x", "repeats")
    scalars = ("repeats",)

    @classmethod
    def forward(cls, x, repeats, axis=None):
        if isinstance(repeats, np.integer):  # a number, not a NumPy array beside torch's
            repeats = int(repeats)
        xp, scope = resolve("repeat", x, repeats)
        if type(repeats) is bool or not (type(repeats) is int or hasattr(repeats, "shape")):
            raise TypeError(f"repeat: repeats must be an int or an integer array; got {repeats!r}")
        if type(repeats) is int and repeats < 0:
            raise ValueError(f"repeat: repeats must be >= 0; got {repeats}")
        if type(repeats) is not int:
            _check_indices("repeat", xp, repeats, "repeats")
        return cls._forward(xp, scope, x, repeats, axis)

    @staticmethod
    def gather(xp, x, repeats, axis):
        return adapter_of(xp).repeat(xp, x, repeats, axis)


class tile(_Gather):
    """``out = tile(x, repetitions)``; dx = the sum of G over the tiles."""

    @classmethod
    def forward(cls, x, repetitions):
        xp, scope = resolve("tile", x)
        reps = tuple(repetitions)
        if any([isinstance(r, bool) or not isinstance(r, numbers.Integral) for r in reps]):
            raise TypeError(f"tile: repetitions must be non-negative ints; got {repetitions!r}")
        reps = tuple([operator.index(r) for r in reps])  # NumPy's integers too
        if any([r < 0 for r in reps]):
            raise ValueError(f"tile: repetitions must be non-negative ints; got {repetitions!r}")
        return cls._forward(xp, scope, x, reps)

    @staticmethod
    def gather(xp, x, reps):
        return xp.tile(x, reps)


def _one_axis(op, axis, x) -> int:
    """``axis``, one int, from the end or not, as a non-negative one of ``x``."""
    if type(axis) is tuple:
        raise TypeError(f"{op}: axis must be an int; got {axis!r}")
    return normalize_axis(axis, x.ndim, op, x.shape)[0]


def _check_indices(op, xp, indices, name="indices"):
    info = dtype_info(xp, indices.dtype)
    if info.inexact or not info.numeric:
        raise TypeError(f"{op}: {name} must have an integer dtype; got {indices.dtype}")


# -- item access ----------------------------------------------------------


def _is_basic(key: tuple) -> bool:
    for k in key:
        if k is not None and k is not Ellipsis and type(k) not in (int, slice):
            return False
    return True


def _consumed(k) -> int:
    """How many axes of x one key item indexes: none for None and a Python
    bool (NumPy's True adds an axis, as None does, and indexes none)."""
    if k is None or type(k) is bool:
        return 0
    if _is_mask(k):
        return k.ndim
    return 1


def _flip_plan(xp, x, key: tuple):
    """torch refuses negative slice steps: on torch (an adapter without
    ``negative_slice_steps``), the axes to flip first and the key with those
    slices made positive-step slices of the flipped axes; elsewhere (or with no
    negative step) no flips and the key as it is."""
    if adapter_of(xp).negative_slice_steps or not any(
        type(k) is slice and k.step is not None and k.step < 0 for k in key
    ):
        return (), key
    shape = tuple(x.shape)
    rest = x.ndim - sum(_consumed(k) for k in key if k is not Ellipsis)
    axis, axes, out = 0, [], []
    for k in key:
        if k is Ellipsis:
            axis += rest
        else:
            if type(k) is slice and k.step is not None and k.step < 0:
                n = shape[axis]
                r = range(*k.indices(n))
                axes.append(axis)
                # position i of x is position n - 1 - i of the flipped x
                k = slice(0, 0) if len(r) == 0 else slice(n - 1 - r[0], n - r[-1], -k.step)
            axis += _consumed(k)
        out.append(k)
    return tuple(axes), tuple(out)


def _as_key(xp, key) -> tuple:
    """``key`` as a tuple, in the form the library reads as the standard does."""
    return adapter_of(xp).index_key(key if type(key) is tuple else (key,))


def _flip(xp, a, axes):
    """``a`` flipped along ``axes`` (see :func:`_flip_plan`), or ``a`` itself for none."""
    return xp.flip(a, axis=axes) if axes else a


class Indexed(NamedTuple):
    key: tuple  # the key, torch's negative steps rewritten (see flips)
    flips: tuple  # axes flipped before indexing (torch and negative steps)
    basic: bool
    set_key: tuple  # basic: the key without None, for the assignment
    view_shape: tuple  # basic: x[set_key].shape
    x: Place
    x_shape: tuple
    x_dtype: object
    positions: object = None  # set for a recorded backward (see graph_saved)


class getitem(Rule):
    """``out = x[key]``; dx = zeros with G written at ``key`` (basic keys) or
    added there (integer arrays and masks: repeated indices accumulate)."""

    args = ("x",)
    saved_inputs = {}  # x's place only: the gradient is linear in G alone

    @staticmethod
    def forward(x, key):
        xp, scope = resolve("getitem", x)
        key = _as_key(xp, key)
        flips, key = _flip_plan(xp, x, key)
        basic = _is_basic(key)
        out = run("getitem", scope, adapter_of(xp).getitem, xp, _flip(xp, x, flips), key)  # IndexError passes
        set_key, view_shape = key, ()
        if basic:
            if None in key:
                set_key = tuple(k for k in key if k is not None)
                view_shape = tuple(x[set_key].shape)  # flips change no shape
            else:
                view_shape = tuple(out.shape)
        saved = Indexed(key, flips, basic, set_key, view_shape, _place(x), tuple(x.shape), x.dtype)
        return getitem.record(xp, scope, saved, (differentiable(xp, x),), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        if not s.basic:  # the flip folds into the positions
            positions = s.positions if s.positions is not None else _key_positions(xp, s)
            dx = _scatter_positions(xp, positions, g, s.x_shape, g)
            return (cast(xp, dx, s.x_dtype),)
        if g.shape != s.view_shape:
            g = xp.reshape(g, s.view_shape)
        dx = xp.zeros(s.x_shape, dtype=s.x_dtype, device=getattr(g, "device", None))
        return (_flip(xp, _assign(xp, dx, s.set_key, cast(xp, g, s.x_dtype)), s.flips),)

    @staticmethod
    def graph_saved(s, join):
        # Positions are integers, computed in the data's own library.
        return s if s.basic else s._replace(positions=_key_positions(join.xp, s))


def _key_positions(xp, s):
    """The flat positions in x that an integer-array or mask key reads."""
    return adapter_of(xp).getitem(xp, _flip(xp, _iota(xp, s.x), s.flips), s.key)


class Scattered(NamedTuple):
    index: object
    n: int
    values_shape: tuple
    values_dtype: object


class index_add(Rule):
    """``out = zeros(n)`` with ``out[index[k]] += values[k]`` (1-D ``values``
    and integer ``index`` of one length; repeated indices add up);
    dvalues = G[index]. The gradient of every gather, as a rule, so that a
    recorded backward through a gather is differentiated again."""

    args = ("values", "index")
    saved_inputs = {}

    @staticmethod
    def forward(values, index, n):
        xp, scope = resolve("index_add", values, index)
        if values.ndim != 1 or tuple(index.shape) != tuple(values.shape):
            raise ValueError(
                f"index_add: values and index must be 1-D of one length; got shapes "
                f"{fmt(values.shape)} and {fmt(index.shape)}"
            )
        out = run("index_add", scope, scatter_add, xp, n, index, values, values)
        saved = Scattered(index, n, tuple(values.shape), values.dtype)
        return index_add.record(xp, scope, saved, (differentiable(xp, values), False), out)

    @staticmethod
    def gradients(xp, g, s, needs):
        return cast(xp, xp.take(g, s.index, axis=0), s.values_dtype), None


def _assign(xp, z, key, value):
    """``z[key] = value`` on a fresh array ``z``; JAX's arrays are immutable."""
    return adapter_of(xp).assign(xp, z, key, value)


def _set_copy(xp, a, key, value, flips=()):
    """A copy of ``a`` with ``[key] = value``, ``key`` indexing ``a`` flipped
    along ``flips`` (see :func:`_flip_plan`)."""
    if flips:  # torch's flip is a copy already
        return xp.flip(_assign(xp, xp.flip(a, axis=flips), key, value), axis=flips)
    return adapter_of(xp).set_copy(xp, a, key, value)


class Assigned(NamedTuple):
    key: tuple
    flips: tuple
    value_shape: tuple | None
    value_dtype: object
    #: For a key that selects a position more than once: which elements of
    #: the selection landed (the last write to each position), else None.
    landed: object = None
    x_dtype: object = None  # dx's dtype, whatever grad_out's


class setitem(Rule):
    """``out = x`` with ``out[key] = value``; dx = G with G[key] = 0,
    dvalue = sum_to(G[key], value.shape), where a position the key selects
    more than once passes G to the write that landed only. Such a position
    gets the last value written to it (in the selection's order, as NumPy
    writes them; xpgrad writes it so on NumPy, torch and CuPy, whose order
    is otherwise left open). On JAX (whose ``jit`` allows no branch on the
    data) the library picks the write that lands, and the gradients follow
    its pick (:func:`_set_winners`); on dask (lazy) the library writes it,
    and value's gradient there is exact only without repeats."""

    args = ("x", "value")
    scalars = ("value",)

    @staticmethod
    def forward(x, value, key):
        xp, scope = resolve("setitem", x, value)
        key = _as_key(xp, key)
        flips, key = _flip_plan(xp, x, key)
        is_scalar = type(value) in _PY_SCALARS
        needs = (differentiable(xp, x), not is_scalar and differentiable(xp, value))
        repeats = None
        ordered = is_scalar or adapter_of(xp).writes_in_order(x)  # else: last-wins by hand
        if (needs[1] or not ordered) and _may_repeat(xp, x, key):
            repeats = run("setitem", scope, _repeats, xp, x, key, flips)
        landed = None
        if repeats is not None:
            out, landed = run("setitem", scope, _set_last, xp, x, value, *repeats)
        elif needs[1] and adapter_of(xp).gather_fills and _integer_index(key):
            out, landed = run("setitem", scope, _set_winners, xp, x, key, value, flips)
        else:
            out = run("setitem", scope, _set_copy, xp, x, key, value, flips)  # IndexError passes as it is
        saved = Assigned(key, flips, None if is_scalar else tuple(value.shape),
                         None if is_scalar else value.dtype, landed, x.dtype)
        return setitem.record(xp, scope, saved, needs, out)

    @staticmethod
    def gradients(xp, g, s, needs):
        dx = cast(xp, _set_copy(xp, g, s.key, 0, s.flips), s.x_dtype) if needs[0] else None
        if not needs[1]:
            return dx, None
        picked = adapter_of(xp).getitem(xp, _flip(xp, g, s.flips), s.key)
        if s.landed is not None:  # an overwritten value had no effect
            picked = xp.where(s.landed, picked, xp.zeros_like(picked))
        shape = s.value_shape
        extra = len(shape) - picked.ndim  # leading 1s of value, which the assignment dropped
        if extra > 0:
            return dx, xp.reshape(to_input(xp, picked, shape[extra:], s.value_dtype), shape)
        return dx, to_input(xp, picked, shape, s.value_dtype)


def _may_repeat(xp, x, key) -> bool:
    """Whether ``key`` holds an index that is not a boolean mask (an integer
    array, or a list), on a library whose repeats xpgrad writes itself."""
    if adapter_of(xp).gather_fills or is_lazy(x):  # JAX, dask: see setitem
        return False
    return _integer_index(key)


def _integer_index(key) -> bool:
    """Whether ``key`` holds an index that is not a boolean mask (an integer
    array, or a list)."""
    return any(
        k is not None and k is not Ellipsis and type(k) not in (int, slice) and not _is_mask(k)
        for k in key
    )


def _is_mask(k) -> bool:
    return hasattr(k, "dtype") and "bool" in str(k.dtype)


def _repeats(xp, x, key, flips):
    """For a key with an integer array: ``(shape, flat, last)`` when it
    selects a position of x more than once, with the selection's shape, the
    flat positions of x it selects (in its order, found by the same indexing
    of x's positions, so every mixture of arrays, masks and slices resolves as
    the library resolves it) and the elements of the selection that are the
    last to write their position; None without repeats (the usual case)."""
    if not _index_repeats(xp, x, key):
        return None
    place = _place(x)
    pos = adapter_of(xp).getitem(xp, _flip(xp, _iota(xp, place), flips), key)
    flat = xp.reshape(pos, (-1,))
    if flat.shape[0] < 2:
        return None
    order = xp.argsort(flat, stable=True)  # equal positions stay in the selection's order
    ranked = xp.take(flat, order)
    ends = ranked[1:] != ranked[:-1]  # the last of each run of one position
    if bool(xp.all(ends)):
        return None
    ends = xp.concat([ends, xp.ones((1,), dtype=xp.bool, device=place.device)])
    return tuple(pos.shape), flat, xp.take(order, xp.nonzero(ends)[0])


def _index_repeats(xp, x, key) -> bool:
    """False when the key's one integer array (with ints, slices, None and
    ``...`` around it) holds no index twice, read as the library reads it (a
    negative one from the end): its positions then differ; True otherwise,
    and for keys of other kinds, which the flat positions of x decide."""
    arrays = [k for k in key if hasattr(k, "dtype")]
    if len(arrays) != 1 or any(type(k) in (list, tuple) for k in key) or _is_mask(arrays[0]):
        return True
    axis, rest = 0, x.ndim - sum(_consumed(k) for k in key if k is not Ellipsis)
    for k in key:
        if k is arrays[0]:
            break
        axis += rest if k is Ellipsis else _consumed(k)
    if axis >= x.ndim:
        return True  # an index too many: the library's own error follows
    ixp, _ = resolve("setitem", arrays[0])  # the index's own library (NumPy's, on torch data)
    flat = ixp.reshape(arrays[0], (-1,))
    if flat.shape[0] < 2:
        return False
    size = x.shape[axis]
    if adapter_of(xp).gather_wraps and size:  # CuPy: 3 is 0 on an axis of 3, as -4 is 2
        ranked = ixp.sort(ixp.remainder(flat, size))
    else:
        ranked = ixp.sort(ixp.where(flat < 0, flat + size, flat))
    return bool(ixp.any(ranked[1:] == ranked[:-1]))


def _selection_values(xp, value, shape):
    """``value`` broadcast to the selection's ``shape``, flat."""
    while value.ndim > len(shape) and value.shape[0] == 1:  # NumPy drops leading 1s
        value = xp.reshape(value, tuple(value.shape[1:]))
    vshape = tuple(value.shape)
    if len(vshape) > len(shape) or any(d not in (1, t) for d, t in zip(vshape[::-1], shape[::-1])):
        raise ValueError(
            f"setitem: value of shape {fmt(vshape)} cannot be broadcast to the selection's "
            f"shape {fmt(shape)}"
        )
    return xp.reshape(xp.broadcast_to(value, shape), (-1,))


def _set_winners(xp, x, key, value, flips):
    """:func:`_set_last` without reading the data (JAX, under ``jit``): the
    library picks which write to a repeated position lands, once, writing the
    selection's numbers with ``key`` (and drops a write out of range, as it
    drops the value's); every write then writes the value of the number it
    reads back, so the mask of the writes that landed is the one the values
    followed, whatever the order. Without it the gradient of a repeated
    position went to every write (x[[0, 0]] = x[[0, 0]] + 1: 2 where the value
    is x[0] + 1)."""
    adapter = adapter_of(xp)
    getitem = adapter.getitem
    dev = getattr(x, "device", None)
    index = adapter.index_dtype(xp)
    shape = tuple(getitem(xp, x, key).shape)  # the selection's (a flip keeps shapes)
    mine = xp.reshape(xp.arange(math.prod(shape), dtype=index, device=dev), shape)
    slot = _set_copy(xp, xp.full(tuple(x.shape), -1, dtype=index, device=dev), key, mine, flips)
    winner = getitem(xp, _flip(xp, slot, flips), key)  # -1, or another's, where dropped
    picked = xp.take(_selection_values(xp, value, shape), xp.reshape(winner, (-1,)))
    out = _set_copy(xp, x, key, xp.reshape(picked, shape), flips)
    return out, winner == mine


def _set_last(xp, x, value, shape, flat, last):
    """``x`` with ``value`` (broadcast to the selection's ``shape``) written at
    the flat positions ``flat``, each position once, by its ``last`` write;
    and the selection's mask of the writes that landed."""
    values = _selection_values(xp, value, shape)
    out = _set_copy(xp, xp.reshape(x, (-1,)), (xp.take(flat, last),), xp.take(values, last))
    landed = _set_copy(xp, xp.zeros_like(flat, dtype=xp.bool), (last,), True)
    return xp.reshape(out, tuple(x.shape)), xp.reshape(landed, shape)

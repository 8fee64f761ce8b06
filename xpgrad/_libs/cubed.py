"""cubed's quirks: lazy, chunked arrays in bounded memory, each tied to a
``cubed.Spec`` (its memory limit, work directory and executor).

Two of them shape how the rules run:

- **One spec per computation.** cubed refuses to combine arrays with different
  specs, and a creation function (``zeros``, ``eye``, ``asarray``...) called
  without ``spec=`` makes an array with the default one. So ``resolve`` hands
  the rules a *scope* for cubed arrays, as it hands them CuPy's device: inside
  it, the namespace the rules compute with (:class:`CubedNamespace`) gives
  every array it creates the spec of the op's first input.
- **Chunks.** ``cubed.broadcast_to`` gives new and broadcast dimensions chunks
  of one element, so the gradient of a sum over a (64, 5) array would have
  320 chunks of one number each, and a large one millions. Inside the scope,
  ``broadcast_to`` gives a dimension the chunks of the op's input of that
  shape (the gradient of ``sum(x)`` is chunked as ``x``), and otherwise
  chunks of cubed's automatic size.

cubed 0.27 reads an integer index array as long as its axis, without
repeats, as the identity (``x[[2, 0, 1]]`` is ``x``): ``getitem`` and
``take`` lengthen the axis by one element before such a gather.

cubed lacks some of the standard. ``sort`` and ``argsort`` sort each block
with NumPy (the sorted axis in one chunk); ``take`` with a cubed index array
(which cubed would compute on the spot) gathers blockwise; ``searchsorted``,
``concat``, ``clip``, ``finfo``, ``qr``, ``svd`` and ``svdvals`` work round
cubed 0.27's bugs; ``linalg.solve``, ``diagonal``, ``trace``, ``cross`` and
``vector_norm`` are written from what cubed has; scipy.special's functions
run on each block (:func:`elementwise_blocks`). cubed cannot know a size that
depends on values (``nonzero``, ``unique_*``, boolean-mask indexing) and has
no ``fft`` and no other ``linalg`` (``cholesky``, ``det``, ``slogdet``,
``eigh``, ``eigvalsh``, ``inv``, ``pinv``): those raise, naming the function
and what to do, before cubed plans anything.

cubed is imported only by the methods that need it (:meth:`Cubed.empty`, and
the namespace, which is built from an array of it).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from . import (
    Chunked,
    Scope,
    broadcast_chunks,
    current_scope,
    in_bounds,
    per_block,
    rank_from_singular_values,
    scatter_chunk,
    scatter_part,
)

_CREATORS = ("zeros", "ones", "empty", "full", "arange", "eye", "linspace", "asarray")


class Cubed(Chunked):
    name = "cubed"
    host_only = True
    scoped = True
    half_gemm = False  # NumPy computes each chunk
    negative_slice_steps = False  # cubed refuses x[::-1]: the rules flip instead
    transpose_is_view = False  # cubed writes a transpose out, chunk by chunk
    lazy = True

    def empty(self):
        import cubed

        return cubed.empty(0)

    def namespace(self, xp):
        return CubedNamespace(xp)

    def scope(self, x):
        return Scope(x.spec, ((tuple(x.shape), x.chunks),))

    def numpy_scalar(self, xp, v, like):
        return xp.asarray(v, spec=like.spec)  # a 0-d array of like's spec (cubed mixes no two)

    def to_numpy(self, x):
        import numpy as np

        return np.asarray(x.compute())

    def argsort(self, xp, x, axis=-1, descending=False, stable=True):
        return _blockwise_sort(x, axis, descending, stable, indices=True)

    def sort(self, xp, x, axis=-1, descending=False, stable=True):
        return _blockwise_sort(x, axis, descending, stable, indices=False)

    def settle(self, arrays):
        """Computed together (cubed has no persist), and made cubed arrays
        again with their chunks and spec: parameters and optimizer state are
        held in memory between steps, the data never."""
        import cubed
        import cubed.array_api as cxp

        by_spec: dict = {}  # one computation per spec: cubed refuses to mix them
        for i, a in enumerate(arrays):
            by_spec.setdefault(id(a.spec), []).append(i)
        out = list(arrays)
        for where in by_spec.values():
            values = cubed.compute(*[arrays[i] for i in where])
            for i, v in zip(where, values):
                a = arrays[i]
                out[i] = cxp.asarray(v, chunks=a.chunks, spec=a.spec)
        return out

    def like_input(self, g, x):
        # (cubed's rechunk refuses an empty array, which has no chunks to match)
        return g if g.chunks == x.chunks or 0 in x.shape else g.rechunk(x.chunks)

    def as_chunks(self, a, chunks, like):
        return _like_chunks(a, chunks, like.spec)

    def map_blocks(self, f, arrays, chunks, dtype, like, **kwargs):
        import cubed

        return cubed.map_blocks(f, *arrays, dtype=dtype, chunks=chunks, **kwargs)

    def scatter_add(self, xp, n, index, values, like):
        """A task per block of the positions and chunk of the result, each
        adding the positions' hits in that chunk's range, summed: the generic
        one-hot product's len(index) * n refused the gradient of a gather of
        256 rows from 6000 (1.8 GB projected) and of sort on 5000 numbers."""
        from cubed.core import ops
        from cubed.vendor.dask.array.core import normalize_chunks

        if n == 0:
            return xp.zeros((0,), dtype=values.dtype)
        index = _like_chunks(index, values.chunks, values.spec)  # NumPy positions too
        size = scatter_chunk(n, values.dtype, normalize_chunks)
        starts = xp.arange(0, n, size, chunks=1)
        parts = ops.blockwise(
            scatter_part, "ij", index, "i", values, "i", starts, "j", dtype=values.dtype,
            adjust_chunks={"i": 1, "j": size}, extra_func_kwargs={"n": n, "size": size},
        )
        out = xp.sum(parts, axis=0)
        return out[:n] if out.shape[0] != n else out

    def linalg_function(self, xp, name):
        # cubed's qr and svd (tall-and-skinny QR) need chunkings they do not
        # make themselves (see _tsqr_input); matrix_rank is written from svd
        if name == "qr":
            return lambda x, mode="reduced": _qr(xp, x, mode)
        if name == "svd":
            return lambda x, full_matrices=True: _svd(xp, x, full_matrices)
        if name == "svdvals":
            return lambda x: _svd(xp, x, False)[1]
        if name == "matrix_rank":
            return lambda x, rtol=None: _matrix_rank(xp, x, rtol)
        return super().linalg_function(xp, name)

    def getitem(self, xp, x, key):
        """``x[key]``; a key with an integer index array goes through the
        namespace's ``take`` (see :meth:`CubedNamespace.take`): cubed 0.27
        reads an index array as long as its axis as the identity, and
        computes an index that is a cubed array on the spot."""
        import numpy as np

        parts = [np.asarray(k) if type(k) is list else k
                 for k in (key if type(key) is tuple else (key,))]
        arrays = [i for i, k in enumerate(parts) if getattr(k, "ndim", 0)]
        if not arrays:
            return x[tuple(parts)]
        if any(parts[i].dtype == xp.bool or parts[i].dtype == np.bool_ for i in arrays):
            raise NotImplementedError(
                "getitem: cubed cannot index with a boolean mask (the result's size depends on "
                "the data, and cubed plans every size before computing); keep the shape with "
                "xp.where(mask, x, 0), or compute x and the mask to NumPy (x.compute()) first"
            )
        if len(arrays) > 1 or parts[arrays[0]].ndim != 1:
            shapes = ", ".join(str(tuple(parts[i].shape)) for i in arrays)
            raise NotImplementedError(
                f"getitem: cubed indexes with one 1-D integer array in a key; this key has "
                f"index arrays of shapes {shapes}: index one axis at a time with "
                f"xp.take(x, indices, axis=...), or compute x to NumPy (x.compute()) first"
            )
        i = arrays[0]
        consumed = sum(1 for k in parts if k is not None and k is not Ellipsis)
        axis = 0  # the axis of x[basic] that the index array picks along
        for k in parts[:i]:
            if k is Ellipsis:
                axis += x.ndim - consumed
            elif k is None or type(k) is slice:
                axis += 1
        basic = tuple(parts[:i]) + (slice(None),) + tuple(parts[i + 1:])
        y = x if all(type(k) is slice and k == slice(None) for k in basic) else x[basic]
        with self.scope(x):
            return xp.take(y, parts[i], axis=axis)

    def assign(self, xp, z, key, value):
        """``z[key] = value`` without item assignment, which cubed arrays lack:
        ``where(mask, placed, z)``, with ``value`` placed at ``key`` by one
        ``take`` per axis. ``key`` holds integers, slices and Ellipsis, or is
        one boolean mask with a scalar value."""
        key = key if type(key) is tuple else (key,)
        if len(key) == 1 and getattr(key[0], "dtype", None) == xp.bool:
            if getattr(value, "ndim", 0) != 0:
                raise NotImplementedError(
                    "setitem: cubed cannot write an array of values at a boolean mask (their "
                    "positions depend on the data); write xp.where(mask, values, x) instead"
                )
            mask = _like_chunks(key[0], z.chunks, z.spec)  # a NumPy mask (a constant) too
            return xp.where(mask, xp.astype(xp.asarray(value), z.dtype), z)
        return _assign_basic(xp, z, _expand(key, z.ndim), value)


def _matrix_rank(xp, x, rtol):
    """The standard's matrix_rank from the singular values (see :func:`_svd`)."""
    return rank_from_singular_values(xp, _svd(xp, x, False)[1], x.shape, rtol)


def _data_dependent(name):
    def refuse(*args, **kwargs):
        raise NotImplementedError(
            f"{name}: cubed {_version()} has no {name}: its result's size depends on the data, "
            f"and cubed plans every size before computing; compute the array to NumPy "
            f"(x.compute()) for this step"
        )

    refuse.__name__ = name
    return refuse


class _Finfo(NamedTuple):
    bits: int
    eps: float
    max: float
    min: float
    smallest_normal: float
    dtype: object


class CubedNamespace:
    """cubed's namespace as the rules compute with it: creation functions take
    the current op's spec, ``broadcast_to`` chunks like the op's input, and
    the functions cubed lacks raise an error that names them."""

    def __init__(self, base) -> None:
        self._base = base
        self.__name__ = base.__name__

    def __getattr__(self, name: str):
        value = getattr(self._base, name, None)
        if value is None:
            raise AttributeError(
                f"{name}: cubed {_version()} has no {name}; compute the array to NumPy "
                f"(x.compute()) for this step, or write it with functions cubed has"
            )
        if name in _CREATORS:
            value = _with_spec(value)
        setattr(self, name, value)
        return value

    def broadcast_to(self, x, /, shape, *, chunks=None):
        shape = tuple(shape)
        if chunks is None and tuple(x.shape) != shape:
            from cubed.vendor.dask.array.core import normalize_chunks

            chunks = broadcast_chunks(x, shape, normalize_chunks)
        return self._base.broadcast_to(x, shape, chunks=chunks)

    def mean(self, x, /, *, axis=None, keepdims=False):
        """cubed 0.27's mean over more than one axis of an array chunked
        along them, or over one axis in five chunks or more, stores an
        intermediate array that a second compute of the same graph finds
        there (ContainsArrayError: the loss, then the gradient; a var or std,
        then an optimizer's step): sum over count instead."""
        axes = tuple(range(x.ndim)) if axis is None else axis if type(axis) is tuple else (axis,)
        count = math.prod(x.shape[a] for a in axes)
        return self._base.sum(x, axis=axis, keepdims=keepdims) / count

    def take(self, x, indices, /, *, axis=None):
        """cubed 0.27 returns ``x`` itself when an index array is as long as
        the axis and has no repeats (it takes any permutation for the
        identity): the axis gets one more element first, so that no index
        array covers it."""
        import numpy as np

        base = self._base
        if axis is None:
            x, axis = self.reshape(x, (-1,)), 0
        axis = axis % x.ndim
        if isinstance(indices, base.Array):
            # cubed computes an index array that is a cubed array, there and
            # then: gather blockwise instead, lazily
            return _take_blockwise(x, indices, axis)
        n = x.shape[axis]
        if not hasattr(indices, "shape") or not hasattr(indices, "dtype"):
            indices = np.asarray(indices)
        if indices.size:  # checked here: the wrap below, and the pad, read past the axis
            in_bounds(indices, n, axis)
        if n and indices.ndim == 1 and indices.size and int(indices.min()) < 0:
            indices = np.where(indices < 0, indices + n, indices)  # the pad below is at -1
        if n and indices.shape[0] == n:
            shape = tuple(1 if d == axis else s for d, s in enumerate(x.shape))
            chunks = tuple((1,) if d == axis else c for d, c in enumerate(x.chunks))
            pad = base.zeros(shape, dtype=x.dtype, chunks=chunks, spec=x.spec)
            x = regular(base.concat([x, pad], axis=axis))
        return base.take(x, indices, axis=axis)

    # the size of their results depends on the data: cubed has none of them
    nonzero = staticmethod(_data_dependent("nonzero"))
    unique_all = staticmethod(_data_dependent("unique_all"))
    unique_counts = staticmethod(_data_dependent("unique_counts"))
    unique_inverse = staticmethod(_data_dependent("unique_inverse"))
    unique_values = staticmethod(_data_dependent("unique_values"))

    def finfo(self, type, /):
        """cubed's finfo with Python floats: ``eps * x`` with NumPy's scalar
        first would turn the cubed array ``x`` into NumPy's (computing it)."""
        info = self._base.finfo(type)
        return _Finfo(info.bits, float(info.eps), float(info.max), float(info.min),
                      float(info.smallest_normal), info.dtype)

    def concat(self, arrays, /, *, axis=0):
        """cubed's concat, which reads every input as if chunked along ``axis``
        by the largest chunk size among them (and refuses two sizes among
        those of several chunks): inputs of several chunks are rechunked to
        that size. A negative ``axis`` is made positive (cubed 0.27 compares
        it to the axes' numbers)."""
        arrays = list(arrays)
        if axis is None:  # flattened: cubed's flatten leaves chunk sizes concat refuses
            arrays, axis = [self.reshape(a, (-1,)) for a in arrays], 0
        if arrays and arrays[0].ndim:
            axis = axis % arrays[0].ndim
            size = max(a.chunksize[axis] for a in arrays)
            arrays = [a.rechunk({axis: size}) if a.numblocks[axis] > 1
                      and a.chunksize[axis] != size else a for a in arrays]
        return self._base.concat(arrays, axis=axis)

    def stack(self, arrays, /, *, axis=0):
        """cubed's stack, which reads every input as if chunked as the first
        (cubed 0.27): the others are rechunked to its chunks."""
        arrays = list(arrays)
        if arrays:
            first = arrays[0].chunks
            arrays = [a if a.chunks == first else a.rechunk(first) for a in arrays]
        return self._base.stack(arrays, axis=axis)

    def searchsorted(self, x1, x2, /, *, side="left", sorter=None):
        """cubed's searchsorted (its algorithm: each block of ``x1`` searched,
        offsets added, the largest kept), with the offsets in ``x1``'s spec
        (cubed 0.27 makes them with the default spec, and then refuses to mix
        the two); ``sorter`` through ``take``."""
        import numpy as np
        from cubed.array_api.searching_functions import _searchsorted
        from cubed.core.ops import blockwise

        base = self._base
        if x1.ndim != 1:
            raise ValueError(f"searchsorted: x1 must be 1-D; got shape {tuple(x1.shape)}")
        if sorter is not None:
            x1 = self.take(x1, sorter, axis=0)
        if not hasattr(x2, "shape"):
            x2 = base.asarray(x2, spec=x1.spec)
        out = blockwise(_searchsorted, list(range(x2.ndim + 1)), x1, [0], x2,
                        list(range(1, x2.ndim + 1)), dtype=np.int64, adjust_chunks={0: 1},
                        side=side)
        offsets = np.cumsum((0,) + x1.chunks[0])[:-1].reshape((-1,) + (1,) * x2.ndim)
        offsets = base.asarray(offsets, chunks=1, spec=x1.spec)
        out = base.where(out < 0, out, out + offsets)
        out = base.max(out, axis=0)
        return base.where(out >= 0, out, base.zeros_like(out))

    def reshape(self, x, /, shape, *, copy=None):
        """cubed's reshape (dask's algorithm) splits and merges axes only along
        chunk boundaries, and leaves irregular chunks, which its matmul and
        storage refuse: where it refuses, the trailing axes go into one chunk
        first, then the whole array; the result's chunks are made regular."""
        base = self._base.reshape
        shape = tuple(shape)
        try:
            out = base(x, shape)
        except (NotImplementedError, ValueError):
            out = None
        if out is None and 0 in x.shape and (-1 not in shape or math.prod(d for d in shape if d != -1)):
            # cubed's rechunks below refuse empty arrays: the -1, if any, is 0
            empty = tuple(0 if d == -1 else d for d in shape)
            if math.prod(empty) == 0:
                return self._base.zeros(empty, dtype=x.dtype, spec=x.spec)
        if out is None and x.ndim > 1:
            try:
                out = base(x.rechunk({d: -1 for d in range(1, x.ndim)}), shape)
            except (NotImplementedError, ValueError):
                out = None
        if out is None:
            out = base(x.rechunk(-1) if x.ndim else x, shape)
        return regular(out)

    def clip(self, x, /, min=None, max=None):
        """cubed's clip, with a missing bound as the dtype's extreme: cubed 0.27
        calls NumPy's ``clip(a, min)`` without ``max``, which NumPy refuses."""
        if min is None and max is None:
            return x
        if min is None or max is None:
            base = self._base
            floating = base.isdtype(x.dtype, "real floating")
            info = None if floating else base.iinfo(x.dtype)
            if min is None:
                min = -float("inf") if floating else info.min
            else:
                max = float("inf") if floating else info.max
        return self._base.clip(x, min=min, max=max)

    def conj(self, x, /):
        # the standard's conj of a real array is the array; cubed refuses it
        return x if not self._base.isdtype(x.dtype, "complex floating") else self._base.conj(x)

    def real(self, x, /):
        return x if not self._base.isdtype(x.dtype, "complex floating") else self._base.real(x)

    def cumulative_sum(self, x, /, *, axis=None, dtype=None, include_initial=False):
        return self._cumulative("cumulative_sum", 0, x, axis, dtype, include_initial)

    def cumulative_prod(self, x, /, *, axis=None, dtype=None, include_initial=False):
        return self._cumulative("cumulative_prod", 1, x, axis, dtype, include_initial)

    def _cumulative(self, name, first, x, axis, dtype, include_initial):
        """cubed's cumulative functions, with ``include_initial`` (which cubed
        lacks) as the identity concatenated in front."""
        if axis is None and x.ndim == 1:  # the standard allows it for 1-D; cubed does not
            axis = 0
        out = getattr(self._base, name)(x, axis=axis, dtype=dtype)
        if not include_initial:
            return out
        axis = 0 if axis is None else axis % out.ndim
        shape = tuple(1 if d == axis else n for d, n in enumerate(out.shape))
        chunks = tuple((1,) if d == axis else c for d, c in enumerate(out.chunks))
        initial = self._base.full(shape, first, dtype=out.dtype, chunks=chunks, spec=out.spec)
        return regular(self._base.concat([initial, out], axis=axis))

    @property
    def linalg(self):
        return _Linalg(self._base.linalg, self)


class _Linalg:
    """cubed's ``linalg``, with ``vector_norm``, ``trace``, ``diagonal`` and
    ``cross`` written from its element-wise functions and reductions where it
    lacks them, and ``solve`` (of one matrix, in one chunk) by NumPy."""

    def __init__(self, base, xp) -> None:
        self._base, self._xp = base, xp
        self.__name__ = getattr(base, "__name__", "cubed.linalg")

    def __getattr__(self, name: str):
        own = getattr(self._base, name, None)
        if own is not None:
            return own
        raise AttributeError(f"cubed {_version()} has no linalg.{name}")

    def solve(self, x1, x2, /):
        """``solve`` for one square matrix ``x1``, which goes into one chunk
        (NumPy solves it, with each block of ``x2``'s columns)."""
        import numpy as np
        from cubed.core.ops import blockwise

        if x1.ndim != 2 or x2.ndim not in (1, 2):
            raise ValueError(
                f"solve: cubed's solve (xpgrad's) takes one matrix x1 and a vector or matrix x2; "
                f"got shapes {tuple(x1.shape)} and {tuple(x2.shape)}: call it on each matrix "
                f"(xp.unstack), or compute the arrays to NumPy (x.compute()) first"
            )
        xp = self._xp
        dtype = xp.result_type(x1, x2)
        vector = x2.ndim == 1
        b = xp.reshape(x2, (x2.shape[0], 1)) if vector else x2
        a = x1.rechunk(-1) if x1.numblocks != (1, 1) else x1
        if b.numblocks[0] > 1:
            b = b.rechunk({0: -1})
        out = blockwise(lambda p, q: np.linalg.solve(p, q).astype(dtype, copy=False), (0, 1),
                        a, (0, 2), b, (2, 1), dtype=dtype)
        return xp.reshape(out, (x2.shape[0],)) if vector else out

    def diagonal(self, x, /, *, offset=0):
        """Diagonal ``offset`` of each matrix: the matrix with everything off
        the diagonal zeroed (``where``, so that an inf elsewhere stays out),
        summed along its rows (columns for a negative offset)."""
        xp, k = self._xp, offset
        m, n = x.shape[-2], x.shape[-1]
        rows = xp.reshape(xp.arange(m), (m, 1))
        on = rows + k == xp.reshape(xp.arange(n), (1, n))
        picked = xp.where(on, x, xp.zeros((), dtype=x.dtype))
        size = max(0, min(m, n - k) if k >= 0 else min(n, m + k))
        out = xp.sum(picked, axis=-1 if k >= 0 else -2, dtype=x.dtype)
        return out[..., :size]

    def trace(self, x, /, *, offset=0, dtype=None):
        return self._xp.sum(self.diagonal(x, offset=offset), axis=-1, dtype=dtype)

    def cross(self, x1, x2, /, *, axis=-1):
        """The cross product of 3-vectors along ``axis``, component by component."""
        xp = self._xp
        x1, x2 = xp.broadcast_arrays(x1, x2)
        axis = axis % x1.ndim

        def part(a, i):
            return a[(slice(None),) * axis + (i,)]

        a0, a1, a2 = (part(x1, i) for i in range(3))
        b0, b1, b2 = (part(x2, i) for i in range(3))
        return xp.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=axis)

    def vector_norm(self, x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002
        xp = self._xp
        a = xp.abs(x)
        if ord == 2:
            return xp.sqrt(xp.sum(a * a, axis=axis, keepdims=keepdims))
        if ord == 1:
            return xp.sum(a, axis=axis, keepdims=keepdims)
        if ord == float("inf"):
            return xp.max(a, axis=axis, keepdims=keepdims)
        if ord == float("-inf"):
            return xp.min(a, axis=axis, keepdims=keepdims)
        if ord == 0:
            return xp.astype(xp.sum(xp.astype(a != 0, x.dtype), axis=axis, keepdims=keepdims),
                             a.dtype)
        return xp.sum(a ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def regular(x):
    """``x`` rechunked where an axis has irregular chunks (cubed stores and
    multiplies only arrays whose chunks along each axis are equal, but for a
    smaller last one)."""
    fix = {}
    for d, c in enumerate(x.chunks):
        if len(c) > 1 and (len(set(c[:-1])) > 1 or c[-1] > c[0]):
            fix[d] = max(c)
    return x.rechunk(fix) if fix else x


def _one_matrix(op, x):
    if x.ndim != 2:
        raise ValueError(
            f"{op}: cubed's {op} takes one matrix (2-D), and x has shape {tuple(x.shape)}; "
            f"call it on each matrix (xp.unstack), or compute x to NumPy (x.compute()) first"
        )


def _tsqr_input(a):
    """Tall ``a`` (M >= N) chunked as cubed's tall-and-skinny QR needs: its
    columns in one chunk, and every chunk of rows at least N long (cubed
    0.27 gives a wrong-shaped R, and fails when computed, otherwise)."""
    m, n = a.shape
    if len(a.chunks[1]) > 1:
        a = a.rechunk({1: -1})
    rows = a.chunks[0]
    if min(rows) < n or len(set(rows[:-1])) > 1 or rows[-1] > rows[0]:
        c = max(n, rows[0])
        if m % c and m % c < n:
            c = m
        a = a.rechunk({0: c})
    return a


def _ch(xp, a):
    a = xp.matrix_transpose(a)
    return xp.conj(a)


def _qr(xp, x, mode):
    """``qr`` through cubed's tall-and-skinny QR: x = [X | Y] (M < N) as
    X = Q R1 and R = [R1 | Q^H Y]."""
    from cubed.array_api.linalg import tsqr

    _one_matrix("qr", x)
    if mode != "reduced":
        raise ValueError(
            f"qr: cubed computes only mode='reduced' (got {mode!r}); compute x to NumPy "
            f"(x.compute()) for mode='complete'"
        )
    m, n = x.shape
    if m >= n:
        q, r, *_ = tsqr(_tsqr_input(x))
        return q, r
    q, r1, *_ = tsqr(_tsqr_input(x[:, :m]))
    r2 = _ch(xp, q) @ regular(x[:, m:])
    return q, regular(xp.concat([r1, r2], axis=1))


def _svd(xp, x, full_matrices):
    """``svd`` through cubed's tall-and-skinny QR (of x, or of x^T when wide),
    with the chunking it needs (see :func:`_tsqr_input`)."""
    from cubed.array_api.linalg import SVDResult, tsqr

    _one_matrix("svd", x)
    m, n = x.shape
    if full_matrices and m != n:
        raise ValueError(
            "svd: cubed computes only the reduced SVD; pass full_matrices=False, or compute x "
            "to NumPy (x.compute()) first"
        )
    if m >= n:
        _, _, u, s, vh = tsqr(_tsqr_input(x), compute_svd=True)
        return SVDResult(u, s, vh)
    _, _, vt, s, ut = tsqr(_tsqr_input(xp.matrix_transpose(x)), compute_svd=True)
    return SVDResult(xp.matrix_transpose(ut), s, xp.matrix_transpose(vt))


def elementwise_blocks(xp, f):
    """``f`` (an element-wise function of NumPy arrays: scipy.special's) on
    each block of cubed arrays, broadcast to one shape: lazily, and right for
    any chunking. Arguments that are not arrays pass to ``f`` as they are."""

    def call(*args):
        import cubed
        import numpy as np

        pos, dtype, block = per_block(f, args)
        arrays = [args[i] for i in pos]
        if len(arrays) > 1:
            shape = np.broadcast_shapes(*(tuple(a.shape) for a in arrays))
            arrays = [a if tuple(a.shape) == shape else xp.broadcast_to(a, shape) for a in arrays]
        return cubed.map_blocks(block, *arrays, dtype=dtype)

    return call


def _like_chunks(a, chunks, spec):
    """``a`` (a cubed or NumPy array) as a cubed array of ``chunks`` and ``spec``."""
    import cubed
    import numpy as np

    if not hasattr(a, "spec"):
        return cubed.from_array(np.asarray(a), chunks=chunks, spec=spec)
    return a if a.chunks == chunks else a.rechunk(chunks)


def _take_blockwise(x, indices, axis):
    """``take(x, indices, axis=axis)`` for a 1-D cubed array ``indices``, as
    one blockwise task per block of ``indices`` (and of x's other axes), with
    ``axis`` in one chunk: cubed's own ``take`` computes such indices when
    called. Negative indices count from the end."""
    import cubed
    import numpy as np
    from cubed.core.ops import blockwise

    if indices.ndim != 1:
        raise ValueError(f"take: indices must be 1-D; got shape {tuple(indices.shape)}")
    if len(x.chunks[axis]) > 1:
        x = x.rechunk({axis: -1})
    nd = x.ndim
    x_ind = tuple(range(nd))
    out_ind = x_ind[:axis + 1] + (nd,) + x_ind[axis + 1:]  # axis kept, of length 1

    def block(b, i):
        return np.expand_dims(np.take(b, i, axis=axis), axis)

    out = blockwise(block, out_ind, x, x_ind, indices, (nd,), dtype=x.dtype,
                    adjust_chunks={axis: 1})
    return cubed.squeeze(out, axis=axis)


def _blockwise_sort(x, axis, descending, stable, indices):
    """``sort`` or ``argsort`` along ``axis``, which cubed lacks: that axis in
    one chunk (so a row must fit in a task's memory), each block sorted by
    NumPy."""
    import cubed
    import cubed.array_api
    import numpy as np

    if 0 in x.shape:  # cubed's rechunk refuses an empty array
        return cubed.array_api.zeros(x.shape, dtype=np.int64, spec=x.spec) if indices else x
    axis = axis % x.ndim if x.ndim else 0
    if x.ndim and len(x.chunks[axis]) > 1:
        x = x.rechunk({axis: -1})

    def block(b):
        if descending:  # stable: ties keep their order, as the standard asks
            rev = np.argsort(np.flip(b, axis=axis), axis=axis, kind="stable")
            order = b.shape[axis] - 1 - np.flip(rev, axis=axis)
        else:
            order = np.argsort(b, axis=axis, kind="stable")
        return order if indices else np.take_along_axis(b, order, axis=axis)

    return cubed.map_blocks(block, x, dtype=np.int64 if indices else x.dtype)


def _expand(key: tuple, ndim: int) -> tuple:
    """``key`` with Ellipsis written out as full slices, one entry per axis;
    anything but integers and slices is refused with what to do instead."""
    key = tuple(k for k in key if k is not None)  # a new axis of length 1: nothing to place
    for k in key:
        if not (k is Ellipsis or type(k) is slice or isinstance(k, int)):
            raise NotImplementedError(
                f"setitem: cubed cannot assign at a key holding {type(k).__name__} (cubed "
                f"arrays have no item assignment); index with integers and slices, or use "
                f"xp.where"
            )
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (ndim - len(key) + 1) + key[i + 1:]
    return key + (slice(None),) * (ndim - len(key))


def _assign_basic(xp, z, key: tuple, value):
    import numpy as np

    spec = z.spec
    target = tuple(len(range(*k.indices(n))) if type(k) is slice else 1
                   for k, n in zip(key, z.shape))
    value = xp.asarray(value, dtype=z.dtype, spec=spec) if not hasattr(value, "shape") else value
    lead = [d for d, k in enumerate(key) if type(k) is not slice]
    kept = tuple(t for k, t in zip(key, target) if type(k) is slice)
    value = xp.broadcast_to(xp.astype(value, z.dtype), kept)
    if lead:
        value = xp.reshape(value, target)
    mask = None
    for d, (k, n) in enumerate(zip(key, z.shape)):
        picked = range(*k.indices(n)) if type(k) is slice else [k % n]
        where_from = np.full(n, len(picked), dtype=np.int64)
        where_from[list(picked)] = np.arange(len(picked))
        hit = where_from < len(picked)
        if hit.all() and len(picked) == n and list(picked) == list(range(n)):
            continue  # this axis is taken whole, in order
        pad_shape = tuple(1 if a == d else s for a, s in enumerate(value.shape))
        pad_chunks = tuple((1,) if a == d else c for a, c in enumerate(value.chunks))
        pad = xp.zeros(pad_shape, dtype=z.dtype, chunks=pad_chunks, spec=spec)
        value = xp.concat([value, pad], axis=d)
        value = xp.take(value, where_from, axis=d)  # a NumPy index: nothing to compute
        view = [1] * z.ndim
        view[d] = n
        axis_mask = xp.reshape(xp.asarray(hit, spec=spec), tuple(view))
        mask = axis_mask if mask is None else mask & axis_mask
    if mask is None:
        return xp.broadcast_to(value, tuple(z.shape))
    return xp.where(mask, value, z)


def _with_spec(fn):
    shaped = fn.__name__ in ("zeros", "ones", "empty", "full")

    def create(*args, spec=None, **kwargs):
        scope = current_scope()
        if spec is None and scope is not None:
            spec = scope.spec
        if shaped and scope is not None and kwargs.get("chunks") is None:
            # an array of an input's shape (a gradient's zeros) in that input's
            # chunks: cubed's "auto" sizes chunks against 128 MiB, not allowed_mem
            shape = args[0] if args else kwargs.get("shape", ())
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            for have, chunks in scope.layouts:
                if have == shape:
                    kwargs["chunks"] = chunks
                    break
        return fn(*args, spec=spec, **kwargs)

    create.__name__ = fn.__name__
    create.__doc__ = fn.__doc__
    return create


def _version() -> str:
    import cubed

    return getattr(cubed, "__version__", "")

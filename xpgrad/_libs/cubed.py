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

cubed lacks some of the standard (``sort``, ``argsort``, ``nonzero``,
``unique_*``, most of ``linalg``, ``fft``) and cannot know a size that depends
on values (boolean-mask indexing). The namespace raises for those, naming the
function and what to do, before cubed plans anything.

cubed is imported only by the methods that need it (:meth:`Cubed.empty`, and
the namespace, which is built from an array of it).
"""

from __future__ import annotations

import threading

from . import Library

# The op's spec and its inputs' (shape, chunks), set while a rule runs on
# cubed arrays: thread-local, since two threads may run two ops at once.
_state = threading.local()

_CREATORS = ("zeros", "ones", "empty", "full", "arange", "eye", "linspace", "asarray")


class Scope:
    """What ``resolve`` gives the rules for cubed arrays: while entered, the
    namespace creates arrays with ``spec`` and chunks a broadcast like
    ``layouts`` (``(shape, chunks)`` pairs of the op's inputs)."""

    __slots__ = ("spec", "layouts", "_outer")

    def __init__(self, spec, layouts) -> None:
        self.spec = spec
        self.layouts = layouts
        self._outer = None

    def __enter__(self):
        self._outer = getattr(_state, "scope", None)
        _state.scope = self
        return self

    def __exit__(self, *exc) -> None:
        _state.scope, self._outer = self._outer, None


class Cubed(Library):
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

    def to_numpy(self, x):
        import numpy as np

        return np.asarray(x.compute())

    def argsort(self, xp, x, axis=-1, descending=False, stable=True):
        return _blockwise_sort(x, axis, descending, stable, indices=True)

    def sort(self, xp, x, axis=-1, descending=False, stable=True):
        return _blockwise_sort(x, axis, descending, stable, indices=False)

    def like_input(self, g, x):
        return g if g.chunks == x.chunks else g.rechunk(x.chunks)

    def getitem(self, xp, x, key):
        """``x[key]``, but an integer index array as long as its axis goes
        through the namespace's ``take`` (see :meth:`CubedNamespace.take`):
        cubed 0.27 reads any such permutation as the identity."""
        parts = key if type(key) is tuple else (key,)
        arrays = [i for i, k in enumerate(parts) if hasattr(k, "shape") and k.ndim]
        if not arrays:
            return x[key]
        i = arrays[0]
        whole = all(type(k) is slice and k == slice(None) for j, k in enumerate(parts) if j != i)
        if len(arrays) == 1 and whole and parts[i].ndim == 1 and Ellipsis not in parts:
            if getattr(parts[i], "dtype", None) != xp.bool:
                with self.scope(x):
                    return xp.take(x, xp.asarray(parts[i], spec=x.spec), axis=i)
        if any(k.shape[0] == x.shape[j] for j, k in ((j, parts[j]) for j in arrays)
               if j < x.ndim and getattr(k, "dtype", None) != xp.bool):
            raise NotImplementedError(
                "getitem: cubed 0.27 reads an index array as long as its axis as the identity; "
                "index one axis at a time with xp.take(x, indices, axis=...)"
            )
        return x[key]

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
            return xp.where(key[0], xp.astype(xp.asarray(value), z.dtype), z)
        return _assign_basic(xp, z, _expand(key, z.ndim), value)

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
            chunks = _broadcast_chunks(x, shape)
        return self._base.broadcast_to(x, shape, chunks=chunks)

    def take(self, x, indices, /, *, axis=None):
        """cubed 0.27 returns ``x`` itself when an index array is as long as
        the axis and has no repeats (it takes any permutation for the
        identity): the axis gets one more element first, so that no index
        array covers it."""
        base = self._base
        if axis is None:
            x, axis = self.reshape(x, (-1,)), 0
        axis = axis % x.ndim
        n = x.shape[axis]
        if n and indices.shape[0] == n:
            shape = tuple(1 if d == axis else s for d, s in enumerate(x.shape))
            chunks = tuple((1,) if d == axis else c for d, c in enumerate(x.chunks))
            pad = base.zeros(shape, dtype=x.dtype, chunks=chunks, spec=x.spec)
            x = regular(base.concat([x, pad], axis=axis))
        return base.take(x, indices, axis=axis)

    def reshape(self, x, /, shape, *, copy=None):
        """cubed's reshape (dask's algorithm) splits and merges axes only along
        chunk boundaries, and leaves irregular chunks, which its matmul and
        storage refuse: where it refuses, the trailing axes go into one chunk
        first, then the whole array; the result's chunks are made regular."""
        base = self._base.reshape
        try:
            out = base(x, shape)
        except (NotImplementedError, ValueError):
            out = None
        if out is None and x.ndim > 1:
            try:
                out = base(x.rechunk({d: -1 for d in range(1, x.ndim)}), shape)
            except (NotImplementedError, ValueError):
                out = None
        if out is None:
            out = base(x.rechunk(-1) if x.ndim else x, shape)
        return regular(out)

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
    """cubed's ``linalg``, with ``vector_norm``, ``trace`` and ``diagonal``
    written from its element-wise functions and reductions where it lacks them."""

    def __init__(self, base, xp) -> None:
        self._base, self._xp = base, xp
        self.__name__ = getattr(base, "__name__", "cubed.linalg")

    def __getattr__(self, name: str):
        own = getattr(self._base, name, None)
        if own is not None:
            return own
        raise AttributeError(f"cubed {_version()} has no linalg.{name}")

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


def _blockwise_sort(x, axis, descending, stable, indices):
    """``sort`` or ``argsort`` along ``axis``, which cubed lacks: that axis in
    one chunk (so a row must fit in a task's memory), each block sorted by
    NumPy."""
    import cubed
    import numpy as np

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
    def create(*args, spec=None, **kwargs):
        if spec is None:
            scope = getattr(_state, "scope", None)
            if scope is not None:
                spec = scope.spec
        return fn(*args, spec=spec, **kwargs)

    create.__name__ = fn.__name__
    create.__doc__ = fn.__doc__
    return create


def _version() -> str:
    import cubed

    return getattr(cubed, "__version__", "")


def _broadcast_chunks(x, shape: tuple) -> tuple:
    """Chunks for ``broadcast_to(x, shape)``: ``x``'s along its own dimensions
    (cubed requires them), and along new or broadcast ones those of the op's
    input of this shape, else cubed's automatic size."""
    from cubed.vendor.dask.array.core import normalize_chunks

    scope = getattr(_state, "scope", None)
    like = None
    if scope is not None:
        for s, c in scope.layouts:
            if s == shape:
                like = c
                break
    if like is None:
        like = normalize_chunks("auto", shape, dtype=x.dtype)
    lead = len(shape) - x.ndim
    own = tuple(x.chunks)
    return tuple(
        like[i] if i < lead or x.shape[i - lead] == 1 and shape[i] != 1 else own[i - lead]
        for i in range(len(shape))
    )

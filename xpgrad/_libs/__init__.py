"""Library quirks, one module per array library, as array-api-compat keeps them.

Generic code (``_backend``, the rules) is written against the Array API. Where
a library needs its own spelling (NumPy's fast paths, torch's ``index_add_``,
JAX's immutable arrays and ``.at[]``, CuPy's ``scatter_add`` and device
scoping, dask's ``compute``, cubed's specs and chunks), the spelling lives in a subclass of
:class:`Library` in ``xpgrad/_libs/<library>.py``, which overrides only what
differs from the generic behaviour here.

Generic code picks the adapter in one line: every ``_backend._Lib`` holds its
library's adapter (``lib.adapter``, set once when the array type is first
seen, from :func:`adapter_for`), and a rule that only has a namespace asks
``_backend.adapter_of(xp)``::

    to_numpy(array)  ->  _lib_of_type(type(array), array).adapter.to_numpy(array)

Importing this package imports none of torch, jax, dask or cupy: each module
imports its library inside the methods that need it, and only an array of
that library (or a GPU device) ever calls them.

>>> adapter_for("torch").negative_slice_steps
False
>>> type(adapter_for("ndonnx")).__name__, adapter_for("ndonnx").name
('Library', 'ndonnx')
"""

from __future__ import annotations

import importlib
import math
import sys
import threading

from .._device import CPU, Device, require_available

__all__ = ["Chunked", "Library", "Scope", "adapter_for", "add_along_axis_block", "along_axis_fits",
           "broadcast_chunks", "current_scope", "per_block", "rank_from_singular_values",
           "scatter_chunk", "scatter_part", "take_along_axis_block", "unknown_chunks"]

# The stack of Scopes entered in each thread (``_state.stack``): two threads
# may run two ops at once.
_state = threading.local()


class Scope:
    """What ``resolve`` gives the rules for the arrays of a chunked library
    (dask, cubed): while entered, a broadcast chunks a new or broadcast
    dimension like ``layouts`` (``(shape, chunks)`` pairs; the op's first
    input's), so that the gradient of ``sum(x)`` is chunked as ``x``, not as
    one chunk of x's whole size; cubed's namespace also creates arrays with
    ``spec``."""

    __slots__ = ("spec", "layouts")

    def __init__(self, spec, layouts) -> None:
        self.spec = spec
        self.layouts = layouts

    def __enter__(self):
        # a stack per thread: one Scope (a node's) may be entered by two
        # threads, or twice in one
        stack = getattr(_state, "stack", None)
        if stack is None:
            stack = _state.stack = []
        stack.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _state.stack.pop()


def current_scope():
    """The innermost Scope entered in this thread, or None."""
    stack = getattr(_state, "stack", None)
    return stack[-1] if stack else None


def broadcast_chunks(x, shape: tuple, normalize) -> tuple:
    """Chunks for ``broadcast_to(x, shape)``: ``x``'s along its own dimensions
    (cubed requires them), and along new or broadcast ones those of the op's
    input of this shape (the current Scope's), else the automatic size of
    ``normalize`` (the library's ``normalize_chunks``)."""
    scope = current_scope()
    like = None
    if scope is not None:
        for s, c in scope.layouts:
            if s == shape:
                like = c
                break
    if like is None:
        like = normalize("auto", shape, dtype=x.dtype)
    lead = len(shape) - x.ndim
    own = tuple(x.chunks)
    return tuple(
        like[i] if i < lead or x.shape[i - lead] == 1 and shape[i] != 1 else own[i - lead]
        for i in range(len(shape))
    )


def in_bounds(idx, n: int, axis: int, low=None, high=None) -> None:
    """IndexError, in NumPy's words, for a NumPy index array ``idx`` (not empty) that
    reaches past an axis of size ``n``: for the gathers that would read past it or wrap
    (dask's of a 2-D index, cubed's take, torch's take_along_axis) where NumPy raises.
    ``low`` and ``high``, where given, are idx's bounds, read already."""
    if low is None:
        low, high = int(idx.min()), int(idx.max())
    if low < -n or high >= n:
        raise IndexError(f"index {low if low < -n else high} is out of bounds for axis {axis} "
                         f"with size {n}")


class Library:
    """One array library's adapter: the generic behaviour, which any Array API
    library gets as it is.

    Facts (class attributes, read once when the library registers):

    ``host_only``
        Every array lives in host memory: ``resolve`` compares no devices.
    ``scoped``
        The rules run inside a context made from the op's first input
        (:meth:`scope`): CuPy's kernels run on the *current* device, not the
        array's, and cubed's new arrays need the input's spec.
    ``unknown_sizes``
        Arrays may have unknown (nan) sizes (dask after boolean indexing):
        ``resolve`` checks every call, without its fast path.
    ``half_gemm``
        float16 matrix products are fast (False where NumPy computes them).
    ``negative_slice_steps``
        ``x[::-1]`` works (torch refuses it; the indexing rules flip instead).
    ``gather_fills``
        ``take`` and ``take_along_axis`` read a fill value at an index out of
        range instead of raising (JAX): their backwards then find positions
        by gathering flat positions, so that such an index sends nowhere.
    ``gather_wraps``
        An index out of range wraps round its axis (CuPy's ``take`` and
        indexing) instead of raising: the gathers' backwards wrap it too
        (``remainder``), so that the gradient goes where the value came from
        (the flat positions wrapped round the whole array instead).
    ``transpose_is_view``
        ``matrix_transpose`` costs nothing (a view, or folded into the GEMM);
        False where it writes a transposed copy (cubed), so that the rules
        transpose the smaller operand.
    ``lazy``
        Reading a value (``bool(xp.any(mask))``) computes the whole graph
        (dask): the rules take their branch-free paths instead of testing the
        data, and skip the checks that would read it (as under ``jax.jit``).
    ``views``
        Basic indexing (``x[0, :]``), a transpose, ``squeeze``,
        ``expand_dims`` and a reshape that the layout allows give a view that
        a write goes through to ``x`` (NumPy, torch, CuPy, array_api_strict):
        a Tensor's ``t[key]``, ``t.T`` and the others then write through too. False where arrays are immutable
        (JAX) or a graph (dask, cubed).
    ``element_copies``
        An integer for every axis (``x[0, 1]``) gives a copy, not a view:
        NumPy's scalar (and array_api_strict's, built on NumPy); torch and
        CuPy give a 0-d view.

    Behaviour (methods, each overridden where the library differs).
    """

    name = "generic"
    host_only = False
    scoped = False
    unknown_sizes = False
    half_gemm = True
    negative_slice_steps = True
    gather_fills = False
    gather_wraps = False
    transpose_is_view = True
    lazy = False
    views = False
    element_copies = False

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name

    def __repr__(self) -> str:
        return f"<xpgrad adapter for {self.name}>"

    # -- namespaces ----------------------------------------------------------

    def writes_in_order(self, x) -> bool:
        """Whether an assignment that names a position of ``x`` twice (``x[[0, 0]] = v``)
        keeps the last write, as NumPy does; where the library leaves the order open
        (CuPy, torch on a GPU), ``setitem`` writes the last one itself."""
        return True

    def namespace(self, xp):
        """The namespace xpgrad computes with, given the library's
        array-api-compat namespace: the namespace itself, or a speed adapter."""
        return xp

    def empty(self):
        """A zero-size array of the library, importing it (``namespace_for``)."""
        mod = sys.modules.get(self.name) or importlib.import_module(self.name)
        return mod.empty(0)

    # -- devices -------------------------------------------------------------

    def scope(self, x):
        """The context a ``scoped`` library's rules run in, made from the op's
        first input ``x`` (CuPy's: its device, entered)."""
        return x.device

    def device_of(self, x) -> Device:
        """The :class:`Device` of array ``x``: host memory, unless overridden
        (array_api_strict's extra devices are host memory too)."""
        return CPU

    def to_numpy(self, x):
        """A NumPy array with ``x``'s values: through DLPack, else ``numpy.asarray``."""
        import numpy as np

        try:
            return np.from_dlpack(x)
        except Exception:
            return np.asarray(x)

    def to_device(self, x, dev: Device):
        """``x`` on ``dev`` (not its device): through the host, as NumPy on
        the CPU and as CuPy on ``cuda:N``."""
        require_available(dev, "to_device")
        host = self.to_numpy(x)
        if dev.kind == "cpu":
            return host
        from .cupy import to_gpu

        return to_gpu(host, dev.index)

    def host_like(self, like):
        """A zero-size host array that ``convert`` can convert through on its
        way to ``like``'s GPU: NumPy's, which ``to_device`` moves to CuPy."""
        import numpy as np

        return np.empty(0)

    # -- indexing ------------------------------------------------------------

    def scatter_add(self, xp, n: int, index, values, like):
        """A 1-D array of length ``n``, zero except ``out[index[k]] += values[k]``.

        The standard has no accumulating scatter: a one-hot product,
        ``values @ (index[:, None] == arange(n))``, which costs
        O(len(index) * n): correct everywhere, meant for the small arrays
        array_api_strict and dask are used with here.
        """
        dt = values.dtype
        hits = index[:, None] == xp.arange(n, device=getattr(like, "device", None))[None, :]
        return xp.reshape(values[None, :] @ xp.astype(hits, dt), (n,))

    def promote(self, xp, a, b):
        """``a`` and ``b`` (arrays of two dtypes) as a binary function must see
        them to promote as the standard says: unchanged where the library
        does (torch treats a 0-d array like a Python scalar, and overrides)."""
        return a, b

    def shares_memory(self, a, b) -> bool:
        """Where ``views``: whether ``a`` (a reshape of ``b``) shares ``b``'s
        memory, so that a write into it shows in ``b``: a reshape is a view
        only where the layout allows (not of a transpose)."""
        return True

    def beside_complex(self, xp, a, b):
        """``a`` and ``b``, one a Python complex number, as the library must see
        them to compute in complex64 or complex128, as NumPy does: unchanged
        where it does (torch computes float16 beside one in complex32)."""
        return a, b

    def complex(self, xp, re, im, dtype):
        """The array ``re + i im`` of complex ``dtype``, from real arrays of
        one shape. ``re + 1j * im`` is the generic way, where an infinite or
        NaN ``im`` makes the real part NaN (``0 * inf``): NumPy, CuPy, torch
        and JAX keep each part as it is."""
        return xp.astype(re, dtype) + xp.astype(im, dtype) * 1j

    def default_dtype(self, name: str) -> str:
        """The dtype that creation without one makes where the standard's default
        is ``name`` (float64, int64, complex128): ``name``, where the library
        has it."""
        return name

    def sum_over(self, xp, x, axes: tuple):
        """``x`` summed over ``axes`` (ascending), kept as 1, where the library
        has a faster way than its ``sum`` (NumPy: a matrix-vector product);
        None where it has none. What ``sum_to`` asks first."""
        return None

    def mask_gradient(self, xp, g, zero, half=None):
        """``g`` with 0 where ``zero`` and ``g / 2`` where ``half`` (masks of
        g's shape, or broadcasting to it): the gradients of maximum, minimum,
        clip and where."""
        if half is not None:
            g = xp.where(half, g * 0.5, g)
        return xp.where(zero, xp.zeros_like(g), g)

    def add_where(self, xp, into, values, mask):
        """``into`` plus ``values`` where ``mask`` (both broadcast to ``into``'s
        shape), summed into ``into`` where the library can write in place."""
        into += xp.where(mask, values, xp.zeros_like(values))
        return into

    def add_at_hits(self, xp, into, values, hit):
        """:meth:`add_where` where ``hit`` holds exactly one True in each
        slice along the axis where ``values`` has size 1 (a max's or min's
        extremes without ties), which a library may find faster than a
        masked pass over ``into``."""
        return self.add_where(xp, into, values, hit)

    def settle(self, arrays: list) -> list:
        """``arrays`` with their values computed, for a ``lazy`` library:
        what an optimizer step ends with, so that the next step's graph starts
        from values rather than from every step before it. Eager libraries
        return them as they are."""
        return arrays

    def like_input(self, g, x):
        """The gradient ``g`` of a ``scoped`` library's leaf ``x``, as it is
        stored in ``x.grad`` (cubed's: in ``x``'s chunks)."""
        return g

    def numpy_scalar(self, xp, v, like):
        """A NumPy scalar ``v`` beside ``like``, as the library's operators read
        it: a 0-d array of its dtype (NumPy's rules, NEP 50: dask, cubed, JAX,
        CuPy), a Python number (torch), or None where the library refuses it."""
        device = getattr(like, "device", None)
        return xp.asarray(v) if device is None else xp.asarray(v, device=device)

    def index_key(self, key: tuple) -> tuple:
        """``key`` (a tuple) as the library must get it to index as the standard
        says: as it is, where it does (torch reads uint8 arrays as masks)."""
        return key

    def getitem(self, xp, x, key):
        """``x[key]``, as the rules index (cubed overrides it)."""
        return x[key]

    def repeat(self, xp, x, repeats, axis):
        """``xp.repeat(x, repeats, axis=axis)``, ``repeats`` an int or an array."""
        return xp.repeat(x, repeats, axis=axis)

    def assign(self, xp, z, key, value):
        """``z[key] = value`` on a fresh array ``z``, returning the result."""
        z[key] = value
        return z

    def set_copy(self, xp, a, key, value):
        """A copy of ``a`` with ``[key] = value``; ``a`` is left as it is."""
        return self.assign(xp, xp.asarray(a, copy=True), key, value)

    def take(self, xp, x, indices, axis):
        """The standard's ``take`` (``axis`` an int)."""
        return xp.take(x, indices, axis=axis)

    def take_along_axis(self, xp, x, indices, axis=-1):
        """The standard's ``take_along_axis``: the namespace's own, or, where
        it has none (dask, cubed), ``take`` of the flattened ``x`` at the flat
        positions of the picked elements (negative indices count from the
        end; axes of size 1 in ``x`` or ``indices`` broadcast, as the
        standard's do). ``axis=None`` picks along the flattened ``x``."""
        own = getattr(xp, "take_along_axis", None)
        if own is not None:
            return own(x, indices, axis=axis)
        return _take_along_axis_by_take(xp, x, indices, axis)

    def add_along_axis(self, xp, shape: tuple, indices, g, axis: int):
        """The gradient of ``take_along_axis`` (x of ``shape``, ``indices`` and
        ``g`` of one shape, no broadcast): zeros with ``g`` added along
        ``axis`` at ``indices``, block by block where the library is chunked;
        None where the flat scatter of the gathers serves (the default)."""
        return None

    def argsort(self, xp, x, axis=-1, descending=False, stable=True):
        """The standard's ``argsort``: the namespace's own."""
        return xp.argsort(x, axis=axis, descending=descending, stable=stable)

    def sort(self, xp, x, axis=-1, descending=False, stable=True):
        """The standard's ``sort``: the namespace's own."""
        return xp.sort(x, axis=axis, descending=descending, stable=stable)

    def reshape(self, xp, x, shape):
        """``reshape(x, shape)`` after the namespace's own refused it: None,
        where the library has no other way (dask's splits along uneven
        chunks have one, in two passes)."""

    def sized_like(self, a, like):
        """``a``, of the same shape as ``like``, with its sizes known where
        ``like``'s are (dask: a mask's positions after ``compute_chunk_sizes()``
        on the masked result, computing the mask once more)."""
        return a

    def index_dtype(self, xp):
        """The integer dtype for positions the rules compute (``arange`` of
        an array's flat positions): int64."""
        return xp.int64

    def linalg_function(self, xp, name: str):
        """``xp.linalg.<name>``, or None where the library has none."""
        return getattr(getattr(xp, "linalg", None), name, None)


class Chunked(Library):
    """A library of lazy, chunked arrays (dask, cubed): ``take_along_axis`` and
    its gradient go block by block, the axis in one chunk (a take of the
    flattened x, and the gathers' flat scatter, cross every chunk). Each says
    how an array gets chunks (:meth:`as_chunks`) and how blocks map
    (:meth:`map_blocks`)."""

    def as_chunks(self, a, chunks: tuple, like):
        """``a`` (this library's array, or NumPy's) as this library's array of
        ``chunks`` (-1: one chunk), beside ``like``."""
        raise NotImplementedError

    def map_blocks(self, f, arrays: tuple, chunks: tuple, dtype, like, **kwargs):
        """``f`` on the aligned blocks of ``arrays``, giving blocks of ``chunks``."""
        raise NotImplementedError

    def take_along_axis(self, xp, x, indices, axis=-1):
        """Block by block: the generic take of the flattened x gathered across
        every chunk of it (cubed: all of x in one task)."""
        if not along_axis_fits(tuple(x.shape), indices, axis):
            return super().take_along_axis(xp, x, indices, axis=axis)
        axis %= x.ndim
        x = x.rechunk({axis: -1}) if len(x.chunks[axis]) > 1 else x
        indices = self.as_chunks(indices, tuple(-1 if d == axis else c for d, c in enumerate(x.chunks)), x)
        return self.map_blocks(take_along_axis_block, (x, indices), indices.chunks, x.dtype, x, axis=axis)

    def add_along_axis(self, xp, shape, indices, g, axis):
        """Block by block: the flat scatter paired every chunk of positions with
        every chunk of the result (softmax cross-entropy's pick over 25 dask
        chunks: 1.6 GB and 2,600 tasks against 0.2 GB and 600 by hand, tasks
        growing with the square of the chunks)."""
        if not along_axis_fits(shape, indices, axis):
            return None
        g = g.rechunk({axis: -1}) if len(g.chunks[axis]) > 1 else g
        indices = self.as_chunks(indices, g.chunks, g)
        chunks = tuple((shape[axis],) if d == axis else c for d, c in enumerate(g.chunks))
        return self.map_blocks(add_along_axis_block, (indices, g), chunks, g.dtype, g, n=shape[axis],
                               axis=axis)


def rank_from_singular_values(xp, sv, shape, rtol):
    """The standard's ``matrix_rank`` of matrices of ``shape`` from their
    singular values ``sv``, for libraries whose own is missing (dask, cubed) or
    reads ``rtol`` otherwise (JAX's: an absolute bound)."""
    if rtol is None:
        rtol = max(shape[-2:]) * float(xp.finfo(sv.dtype).eps)
    elif hasattr(rtol, "ndim"):
        rtol = xp.expand_dims(rtol, axis=-1)
    tol = xp.max(sv, axis=-1, keepdims=True) * rtol
    return xp.count_nonzero(sv > tol, axis=-1)


def unknown_chunks(chunks) -> bool:
    """Whether dask ``chunks`` hold a size it does not know (NaN)."""
    return any(c != c for axis in chunks for c in axis)


def scatter_chunk(n: int, dtype, normalize) -> int:
    """The chunk of a chunked library's ``scatter_add`` result of length ``n``:
    whole rows of the gathered array, as many as its largest block along its
    first axis holds (the result then reshapes to its shape without a
    rechunk) and no more than ``normalize``'s automatic size allows, where the
    current Scope holds its layout; else that automatic size."""
    auto = normalize("auto", (n,), dtype=dtype)[0][0]
    scope = current_scope()
    for shape, chunks in scope.layouts if scope is not None else ():
        if math.prod(shape) == n and shape and not unknown_chunks(chunks):
            row = math.prod(shape[1:])
            return max(min(max(chunks[0]), auto // max(row, 1)), 1) * row or auto
    return auto


def along_axis_fits(shape: tuple, indices, axis) -> bool:
    """Whether ``take_along_axis``'s ``indices`` pick along ``axis`` of an
    array of ``shape`` row by row, without broadcasting (and of known sizes,
    not empty): a chunked library then gathers and scatters block by block."""
    ishape = tuple(indices.shape)
    return (axis is not None and len(ishape) == len(shape) and 0 not in ishape + tuple(shape)
            and all(d == d for d in ishape + tuple(shape))  # dask's unknown sizes are NaN
            and all(ishape[d] == shape[d] for d in range(len(shape)) if d != axis % len(shape)))


def add_along_axis_block(indices, g, n: int, axis: int):
    """One block of :meth:`Library.add_along_axis` in NumPy: the axis (in one
    chunk) of length ``n``, each row's ``g`` added at its ``indices``."""
    import numpy as np

    idx = np.moveaxis(np.where(indices < 0, indices + n, indices), axis, -1)
    rows = math.prod(idx.shape[:-1])
    flat = (np.arange(rows).reshape(idx.shape[:-1] + (1,)) * n + idx).ravel()
    out = _bincount(flat, np.moveaxis(g, axis, -1).ravel(), rows * n)
    return np.moveaxis(out.reshape(idx.shape[:-1] + (n,)), -1, axis)


def take_along_axis_block(x, indices, axis: int):
    """One block of a chunked ``take_along_axis`` in NumPy (the axis in one chunk)."""
    import numpy as np

    return np.take_along_axis(x, indices, axis=axis)


def scatter_part(index, values, starts, n, size, concatenated=False):
    """The (1, size) part of a chunked ``scatter_add``'s result from ``start =
    starts[0]`` that one block of ``index`` and ``values`` adds (bincount of
    its hits); the (size,) part of all of them, ``concatenated``."""
    lo = int(starts[0])
    hit = (index >= lo) & (index < min(lo + size, n))
    part = _bincount(index[hit] - lo, values[hit], size)
    return part if concatenated else part[None, :]


def complex_parts(xp, re, im, dtype):
    """NumPy's and CuPy's :meth:`Library.complex`: each part written into an
    empty complex array."""
    out = xp.empty(tuple(re.shape), dtype=dtype)
    out.real, out.imag = re, im
    return out


def _bincount(at, w, n: int):
    """NumPy: zeros of length ``n`` with the 1-D ``w`` added at positions ``at``,
    summed in float64 (each part alone, complex), in ``w``'s dtype."""
    import numpy as np

    def count(part):
        return np.bincount(at, np.asarray(part, dtype=np.float64), n)

    if w.dtype.kind == "c":
        return complex_parts(np, count(w.real), count(w.imag), w.dtype)
    return count(w).astype(w.dtype, copy=False)


def per_block(f, args):
    """What a lazy library's ``map_blocks`` needs to run ``f`` (an element-wise
    function of NumPy arrays, scipy.special's) on each block of the array
    arguments among ``args``: ``(positions of the arrays, the result's NumPy
    dtype, block)``, where ``block(*blocks)`` calls ``f`` with the blocks in
    the arrays' places and the other arguments as they are."""
    import numpy as np

    pos = [i for i, a in enumerate(args) if hasattr(a, "shape")]
    probe = np.asarray(f(*[np.empty((0,), dtype=a.dtype) if i in pos else a
                           for i, a in enumerate(args)]))

    def block(*blocks):
        full = list(args)
        for i, b in zip(pos, blocks):
            full[i] = b
        return np.asarray(f(*full), dtype=probe.dtype)

    return pos, probe.dtype, block


def _take_along_axis_by_take(xp, x, indices, axis):
    """``take_along_axis`` from ``take`` and ``reshape`` alone (see
    :meth:`Library.take_along_axis`)."""
    import math

    if axis is None:
        x, axis = xp.reshape(x, (-1,)), 0
    nd = x.ndim
    if indices.ndim != nd:
        raise ValueError(
            f"take_along_axis: indices has {indices.ndim} dimensions and x {nd}; they must "
            f"have as many"
        )
    axis = axis % nd if nd else 0
    shape, ishape = tuple(x.shape), tuple(indices.shape)
    device = getattr(x, "device", None)
    out_shape = []
    for d in range(nd):
        if d == axis or shape[d] == ishape[d] or shape[d] == 1 or ishape[d] == 1:
            out_shape.append(ishape[d] if d == axis or shape[d] == 1 else shape[d])
        else:
            raise ValueError(
                f"take_along_axis: indices of shape {ishape} do not broadcast with x of shape "
                f"{shape} off axis {axis}"
            )
    if math.prod(out_shape) == 0:  # nothing to pick (dask's and cubed's reshapes refuse it)
        return xp.zeros(tuple(out_shape), dtype=x.dtype, device=device)
    stride = [math.prod(shape[d + 1:]) for d in range(nd)]
    idx = xp.astype(indices, xp.int64)
    pos = xp.where(idx < 0, idx + shape[axis], idx) * stride[axis]
    for d in range(nd):
        if d != axis and shape[d] != 1:
            view = [1] * nd
            view[d] = shape[d]
            steps = xp.arange(shape[d], dtype=xp.int64, device=device) * stride[d]
            pos = pos + xp.reshape(steps, tuple(view))
    pos = xp.broadcast_to(pos, tuple(out_shape))
    flat = xp.take(xp.reshape(x, (-1,)), xp.reshape(pos, (-1,)), axis=0)
    return xp.reshape(flat, tuple(out_shape))


def adapter_for(name: str) -> Library:
    """The adapter of the library called ``name`` (``"numpy"``, ``"torch"``,
    ...): its module's, or the generic :class:`Library` for a library with no
    quirks."""
    adapter = _BY_NAME.get(name)
    return adapter if adapter is not None else Library(name)


def _adapters() -> dict[str, Library]:
    from . import array_api_strict, cubed, cupy, dask, jax, numpy, torch

    found = (numpy.Numpy, cupy.CuPy, torch.Torch, jax.Jax, dask.Dask, cubed.Cubed,
             array_api_strict.Strict)
    return {cls.name: cls() for cls in found}


# Last: the modules import Library and adapter_for from here.
_BY_NAME: dict[str, Library] = _adapters()

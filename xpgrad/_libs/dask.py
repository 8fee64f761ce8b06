"""dask's quirks: lazy arrays in host memory (their chunks may be CuPy arrays,
which ``compute`` returns), whose sizes may be unknown (nan) after boolean
indexing, built from chunks (``dask.array.empty`` needs ``chunks``), and
computed by NumPy underneath (no fast float16 GEMM).

dask.array has no ``sort``, ``argsort`` or ``take_along_axis``: ``sort`` and
``argsort`` rechunk the sorted axis into one chunk and sort each block with
its own library (descending and stable honoured); ``take_along_axis`` is
the generic one built from ``take`` (:meth:`Library.take_along_axis`).
dask's ``reshape`` refuses to split dimensions across uneven chunks: it
reshapes in two passes, through the flattened array. A boolean mask assigns
through ``x[mask] = v``, not ``x[(mask,)]``, which dask refuses. Its ``qr``,
``svd`` and ``svdvals`` take tall-and-skinny or short-and-fat chunkings only:
the shorter axis is rechunked into one chunk.
Its linalg takes one matrix (2-D), its ``cholesky`` returns the upper factor
(array-api-compat passes that on), and it lacks det, slogdet, eigh, eigvalsh
and pinv: the namespace's runs those, and batches, on blocks of whole
matrices (:class:`DaskNamespace`). It indexes with one-dimensional integer
arrays only: one of more dimensions is a take, reshaped. Gradients of gathers
add into place with ``bincount``.

dask is imported only by the methods that need it.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from . import (
    Chunked,
    Scope,
    adapter_for,
    broadcast_chunks,
    in_bounds,
    rank_from_singular_values,
    scatter_chunk,
    scatter_part,
    unknown_chunks,
)


def _blockwise_sort(x, axis, descending, stable, indices):
    """``sort`` or ``argsort`` of dask array ``x`` along ``axis``: that axis in
    one chunk, each block sorted by its own library."""
    import array_api_compat
    import dask.array as da

    axis = axis % x.ndim if x.ndim else 0
    if x.ndim and len(x.chunks[axis]) > 1:
        x = x.rechunk({axis: -1})

    def block(b):
        bxp = array_api_compat.array_namespace(b)
        fn = bxp.argsort if indices else bxp.sort
        return fn(b, axis=axis, descending=descending, stable=stable)

    meta = x._meta
    if indices:
        import numpy as np

        return da.map_blocks(block, x, dtype=np.int64, meta=meta.astype(np.int64))
    return da.map_blocks(block, x, dtype=x.dtype, meta=meta)


def _one_chunk_across(x):
    """``x`` with its shorter matrix axis in one chunk, as dask's qr and svd need."""
    if x.ndim < 2:
        return x
    m, n = x.shape[-2], x.shape[-1]
    if m < n:  # wide: dask's sfqr also wants a first column chunk as long as the rows
        first = x.chunks[-1][0]
        if len(x.chunks[-2]) == 1 and first >= m:
            return x
        return x.rechunk({x.ndim - 2: -1, x.ndim - 1: max(m, first)})
    if len(x.chunks[-1]) == 1 or len(x.chunks[-2]) == 1:
        return x
    return x.rechunk({x.ndim - 1: -1})


class Dask(Chunked):
    name = "dask"
    host_only = True
    unknown_sizes = True
    half_gemm = False
    lazy = True
    scoped = True  # a broadcast is chunked like the op's input (the Scope)

    def scope(self, x):
        return Scope(None, ((tuple(x.shape), x.chunks),))

    def empty(self):
        import dask.array as da

        return da.empty(0, chunks=1)

    def to_numpy(self, x):
        out = x.compute()  # NumPy's, or CuPy's where the chunks are CuPy arrays
        return adapter_for(type(out).__module__.partition(".")[0]).to_numpy(out)

    def assign(self, xp, z, key, value):
        # dask reads a boolean mask alone as a mask, but the same mask as the
        # one item of a tuple as integer indices (and refuses it); and a NumPy
        # mask of more than one axis as integer indices too (dask's own mask
        # is a mask)
        key = key[0] if type(key) is tuple and len(key) == 1 else key
        if type(key) is np.ndarray and key.dtype == np.bool_ and key.ndim > 1:
            import dask.array as da

            key = da.from_array(key, chunks=z.chunks)
        z[key] = value
        return z

    def settle(self, arrays):
        """``dask.persist``: computed together (on a cluster, kept there)."""
        import dask

        return list(dask.persist(*arrays))

    def argsort(self, xp, x, axis=-1, descending=False, stable=True):
        return _blockwise_sort(x, axis, descending, stable, indices=True)

    def sort(self, xp, x, axis=-1, descending=False, stable=True):
        return _blockwise_sort(x, axis, descending, stable, indices=False)

    def reshape(self, xp, x, shape):
        try:
            return xp.reshape(xp.reshape(x, (-1,)), shape)
        except (ValueError, TypeError, NotImplementedError):
            return None

    def namespace(self, xp):
        return DaskNamespace(xp)

    def getitem(self, xp, x, key):
        """``x[key]``. dask indexes with integer arrays of one dimension only
        (of more it fails with a bare AssertionError or TypeError): one of
        more dimensions, the only array in the key, with whole slices beside
        it, is a take of its flattened indices, reshaped."""
        parts = key if type(key) is tuple else (key,)
        if any(k is Ellipsis for k in parts):  # (..., idx): whole slices before idx
            e = next(i for i, k in enumerate(parts) if k is Ellipsis)
            fill = (slice(None),) * (x.ndim - len(parts) + 1)
            parts = parts[:e] + fill + parts[e + 1:]
        arrays = [i for i, k in enumerate(parts) if hasattr(k, "ndim")]
        if len(arrays) == 1 and parts[arrays[0]].ndim != 1:
            a = arrays[0]
            idx = parts[a]
            whole = all(type(k) is slice and k == slice(None) for j, k in enumerate(parts) if j != a)
            if whole and "int" in str(idx.dtype) and a < x.ndim:
                if isinstance(idx, np.ndarray) and idx.size:  # as dask checks a 1-D one: the
                    in_bounds(idx, x.shape[a], a)  # lazy take below would read past the axis
                # a NumPy index as dask's, in int64: idx + size must not wrap (uint8)
                idx = xp.astype(xp.asarray(idx), xp.int64)
                shape = tuple(x.shape[:a]) + tuple(idx.shape) + tuple(x.shape[a + 1:])
                if 0 in tuple(idx.shape):
                    return xp.zeros(shape, dtype=x.dtype)
                flat = xp.reshape(idx, (-1,))
                flat = xp.where(flat < 0, flat + x.shape[a], flat)
                return xp.reshape(xp.take(x, flat, axis=a), shape)
        try:
            return x[key]
        except AssertionError as exc:  # dask's own checks, which no rename would catch
            raise IndexError(
                f"getitem: dask cannot index with this key ({exc or 'an internal check failed'}); "
                f"index one axis at a time, or with xp.take"
            ) from exc

    def sized_like(self, a, like):
        if unknown_chunks(a.chunks) and not unknown_chunks(like.chunks):
            a = a.compute_chunk_sizes()
        return a

    def scatter_add(self, xp, n, index, values, like):
        """``bincount`` per chunk of the result (see below), where the generic
        one-hot product costs len(index) * n. A boolean mask's positions, of unknown
        sizes, are sized here when the gradient's sizes are known (after
        ``compute_chunk_sizes()`` on the masked result): that computes the mask."""
        import dask.array as da

        if n == 0:  # bincount's minlength 0 gives a length dask does not know
            return xp.zeros((0,), dtype=values.dtype)
        index = self.sized_like(index, values)
        if index.chunks != values.chunks:
            index = index.rechunk(values.chunks)

        # One task per chunk of the index and chunk of the result, each adding
        # the index's hits in that chunk's range: da.bincount made a whole-length
        # array per index chunk (400 MB each, for a gather from 400 MB of data).
        from dask.array.core import normalize_chunks

        size = scatter_chunk(n, values.dtype, normalize_chunks)
        starts = da.arange(0, n, size, chunks=1)
        meta = np.empty((0, 0), values.dtype)
        with warnings.catch_warnings():  # "increasing the number of chunks": as meant
            warnings.simplefilter("ignore", da.PerformanceWarning)
            if index.shape[0] <= size:  # a few positions (an embedding's): each task reads all
                out = da.blockwise(
                    scatter_part, "j", index, "i", values, "i", starts, "j", n=n, size=size,
                    concatenated=True, concatenate=True, adjust_chunks={"j": lambda _: size},
                    dtype=values.dtype, meta=np.empty((0,), values.dtype),
                )
            else:  # many (a permutation's): a part per chunk of them, summed
                out = da.blockwise(
                    scatter_part, "ij", index, "i", values, "i", starts, "j", n=n, size=size,
                    adjust_chunks={"i": 1, "j": lambda _: size}, dtype=values.dtype, meta=meta,
                ).sum(axis=0)
        return out[:n] if out.shape[0] != n else out

    def as_chunks(self, a, chunks, like):
        import dask.array as da

        return da.asarray(a).rechunk(chunks)

    def map_blocks(self, f, arrays, chunks, dtype, like, **kwargs):
        import dask.array as da

        return da.map_blocks(f, *arrays, chunks=chunks, dtype=dtype, meta=like._meta, **kwargs)

    def linalg_function(self, xp, name):
        if name == "matrix_rank":
            return lambda x, rtol=None: _matrix_rank(xp, x, rtol)
        return super().linalg_function(xp, name)


def _extremum(xp, name, x, axis, keepdims):
    """dask's max or min, where an empty result (of an empty axis that is kept) is empty:
    dask's reduces each empty block and fails at compute ("zero-size array to reduction
    operation maximum"), where NumPy gives the empty result."""
    out = getattr(xp, name)(x, axis=axis, keepdims=keepdims)
    if 0 in tuple(out.shape) and x.size == 0:
        return xp.zeros(tuple(out.shape), dtype=x.dtype)
    return out


class DaskNamespace:
    """``array_api_compat.dask.array`` whose ``linalg`` takes batches (below)."""

    def __init__(self, base) -> None:
        self._base = base
        self.__name__ = base.__name__
        self.linalg = _DaskLinalg(base.linalg)
        # dask arrays hold float16, which array_api_compat's namespace does not name:
        # astype, zeros_like and the transforms asked it for float16 and raised
        self.float16 = np.float16

    def __getattr__(self, name: str):
        value = getattr(self._base, name)
        setattr(self, name, value)
        return value

    def max(self, x, /, *, axis=None, keepdims=False):
        return _extremum(self._base, "max", x, axis, keepdims)

    def min(self, x, /, *, axis=None, keepdims=False):
        return _extremum(self._base, "min", x, axis, keepdims)

    def broadcast_to(self, x, /, shape, *, chunks=None):
        """dask gives a new or broadcast dimension one chunk of its whole
        length: the gradient of sum(x) over an array of 10 chunks was one
        chunk of x's size, and each op on it one task that held all of it.
        Inside an op's Scope, chunked as the op's input of that shape; and
        written as ``x * ones``, whose tasks dask fuses with what reads them:
        with its own broadcast's, each depending on x's one task, dask's
        ordering computed a loss over every chunk of the data before any
        chunk of its gradient, and held the data meanwhile (738 MB against
        155 for a leaky ReLU over 640 MB in 20 chunks). (Of CuPy chunks,
        dask's own broadcast: the ones would be NumPy's.)"""
        shape = tuple(shape)
        if chunks is None and tuple(x.shape) != shape and not unknown_chunks(x.chunks) \
                and all(d == d and d != 0 for d in shape):
            from dask.array.core import normalize_chunks

            chunks = broadcast_chunks(x, shape, normalize_chunks)
            if x.dtype != self._base.bool and type(x._meta) is np.ndarray:
                return x * self._base.ones(shape, dtype=x.dtype, chunks=chunks)
        return self._base.broadcast_to(x, shape, chunks=chunks)


class _DaskLinalg:
    """The standard's linalg on dask arrays. dask's own takes one matrix (2-D)
    and lacks det, slogdet, eigh, eigvalsh and pinv: these all run on blocks
    of whole matrices (:func:`_per_matrix`), each block by its own library,
    except the thin ``qr``, ``svd`` and ``svdvals`` of one matrix, which keep
    dask's tall-and-skinny algorithms (a matrix larger than one chunk)."""

    def __init__(self, base) -> None:
        self._base = base

    def __getattr__(self, name: str):
        if name in _SIGNATURES:
            value = _per_matrix(name, getattr(self._base, name, None))
        else:
            value = getattr(self._base, name)
        setattr(self, name, value)
        return value


#: The generalized-ufunc signature of each function run on blocks of whole
#: matrices; "solve", "qr" and "svd" have two, chosen by their arguments.
_SIGNATURES = {
    "inv": "(m,m)->(m,m)",
    "solve": ("(m,m),(m)->(m)", "(m,m),(m,n)->(m,n)"),  # b a vector (1-D), or matrices
    "cholesky": "(m,m)->(m,m)",
    "det": "(m,m)->()",
    "slogdet": "(m,m)->(),()",
    "eigh": "(m,m)->(m),(m,m)",
    "eigvalsh": "(m,m)->(m)",
    "pinv": "(m,n)->(n,m)",
    "qr": ("(m,n)->(m,k),(k,n)", "(m,n)->(m,m),(m,n)"),  # reduced, complete
    "svd": ("(m,n)->(m,k),(k),(k,n)", "(m,n)->(m,m),(k),(n,n)"),  # thin, full
    "svdvals": "(m,n)->(k)",
}

#: Which results are real for a complex x: svd's S, the eigenvalues, logabsdet.
_REAL = {"svd": (1,), "svdvals": (0,), "eigh": (0,), "eigvalsh": (0,), "slogdet": (1,)}


def _per_matrix(name, own):
    """``linalg.<name>`` on a dask array of matrices (..., M, N): each
    block holds whole matrices (the matrix axes are rechunked into one chunk)
    and is computed by its own library's linalg, as one task per block; the
    batch axes broadcast and stay chunked as they are. ``own``, dask's 2-D
    function, still computes the thin qr, svd and svdvals of one matrix."""

    def call(x, *rest, **kwargs):
        import warnings

        import dask.array as da
        import numpy as np

        full = (name == "svd" and kwargs.get("full_matrices", True)
                or name == "qr" and kwargs.get("mode", "reduced") == "complete")
        if name == "svd" and full and x.shape[-2] == x.shape[-1]:
            kwargs["full_matrices"] = full = False  # the same matrices, thin
        # dask's sfqr (a wide matrix) multiplies by Q.T where Q^H is meant, and its
        # svdvals asks for full matrices of a complex x: complex goes on blocks
        if (own is not None and name in ("qr", "svd", "svdvals") and x.ndim == 2 and not full
                and np.dtype(x.dtype).kind != "c"):
            return own(_one_chunk_across(x), **kwargs)
        signature = _SIGNATURES[name]
        if type(signature) is tuple:
            signature = signature[rest[0].ndim > 1 if name == "solve" else full]
        dtype = np.result_type(x.dtype, *[r.dtype for r in rest])
        rtol = kwargs.get("rtol")
        if name == "pinv" and hasattr(rtol, "shape"):  # one per matrix: an input of its own
            del kwargs["rtol"]
            rest = (da.asarray(rtol),)
            signature = "(m,n),()->(n,m)"
        # each input's core axes (the matrix, solve's vector): counted in the signature
        cores = [len(c.split(",")) if c else 0
                 for c in re.findall(r"\(([^)]*)\)", signature.split("->")[0])]
        if rest:  # a vector b has no batch of its own: the block's solve broadcasts it
            other = rest[0]
            if other.ndim > cores[1]:
                x, other = _same_batches(x, 2, other, cores[1])
            rest = (_whole(other, cores[1]),)
        real = np.empty(0, dtype).real.dtype
        n_out = signature.count("(") - 1 - len(rest)
        dtypes = tuple([real if i in _REAL.get(name, ()) else dtype for i in range(n_out)])
        with warnings.catch_warnings():  # dask's meta of a real result of complex x
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            out = da.apply_gufunc(
                _block(name, kwargs), signature, _whole(x, 2), *rest,
                output_dtypes=dtypes if n_out > 1 else dtypes[0],
                output_sizes={"k": min(x.shape[-2:])},
            )
        return tuple(out) if n_out > 1 else out

    return call


def _same_batches(a, a_core: int, b, b_core: int):
    """``a`` and ``b`` (solve's b, pinv's rtol), of ``a_core`` and ``b_core``
    core axes after their batch axes, broadcast to one batch shape, ``b``
    chunked along it as ``a`` is (the blocks of one task must match)."""
    import dask.array as da
    import numpy as np

    a_batch, b_batch = tuple(a.shape[:a.ndim - a_core]), tuple(b.shape[:b.ndim - b_core])
    batch = np.broadcast_shapes(a_batch, b_batch)
    if a_batch != batch:
        a = da.broadcast_to(a, batch + tuple(a.shape[a.ndim - a_core:]))
    if b_batch != batch:
        b = da.broadcast_to(b, batch + tuple(b.shape[b.ndim - b_core:]))
    if b.chunks[:len(batch)] != a.chunks[:len(batch)]:
        b = b.rechunk({i: a.chunks[i] for i in range(len(batch))})
    return a, b


def _block(name, kwargs):
    """``<name>`` of the Array API on one block of whole matrices, by the
    block's own library (NumPy, or CuPy for a dask array of CuPy chunks);
    pinv's array ``rtol`` comes as the second block."""

    def block(*blocks):
        import array_api_compat

        fn = getattr(array_api_compat.array_namespace(*blocks).linalg, name)
        if name == "pinv" and len(blocks) == 2:
            out = fn(blocks[0], rtol=blocks[1])
        else:
            out = fn(*blocks, **kwargs)
        return tuple(out) if isinstance(out, tuple) else out

    return block


def _whole(x, core: int):
    """``x`` with its last ``core`` axes (each matrix, or vector) in one chunk."""
    axes = range(x.ndim - core, x.ndim)
    if all([len(x.chunks[i]) == 1 for i in axes]):
        return x
    return x.rechunk({i: -1 for i in axes})


def _matrix_rank(xp, x, rtol):
    """The standard's matrix_rank from svdvals (dask's svd has no compute_uv)."""
    sv = xp.linalg.svd(x, full_matrices=False)[1]
    return rank_from_singular_values(xp, sv, x.shape, rtol)

"""dask's quirks: lazy arrays in host memory (their chunks may be CuPy arrays,
which ``compute`` returns), whose sizes may be unknown (nan) after boolean
indexing, built from chunks (``dask.array.empty`` needs ``chunks``), and
computed by NumPy underneath (no fast float16 GEMM).

dask.array has no ``sort``, ``argsort`` or ``take_along_axis``: ``sort`` and
``argsort`` rechunk the sorted axis into one chunk and sort each block with
its own library (descending and stable honoured); ``take_along_axis`` is
the generic one built from ``take`` (:meth:`Library.take_along_axis`).
dask's ``reshape`` refuses to split dimensions across uneven chunks: it
reshapes in two passes, through the flattened array. Its ``linalg.cholesky``
returns the upper factor (array-api-compat passes that on): the lower one is
asked for. A boolean mask assigns through ``x[mask] = v``, not ``x[(mask,)]``,
which dask refuses. Its ``qr``, ``svd`` and ``svdvals`` take tall-and-skinny or
short-and-fat chunkings only: the shorter axis is rechunked into one chunk.

dask is imported only by the methods that need it.
"""

from __future__ import annotations

from . import Library, adapter_for, rank_from_singular_values


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


class Dask(Library):
    name = "dask"
    host_only = True
    unknown_sizes = True
    half_gemm = False
    lazy = True

    def empty(self):
        import dask.array as da

        return da.empty(0, chunks=1)

    def to_numpy(self, x):
        out = x.compute()  # NumPy's, or CuPy's where the chunks are CuPy arrays
        return adapter_for(type(out).__module__.partition(".")[0]).to_numpy(out)

    def assign(self, xp, z, key, value):
        # dask reads a boolean mask alone as a mask, but the same mask as the
        # one item of a tuple as integer indices (and refuses it)
        z[key[0] if type(key) is tuple and len(key) == 1 else key] = value
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

    def linalg_function(self, xp, name):
        if name == "cholesky":
            return _cholesky
        if name in ("qr", "svd", "svdvals"):
            fn = getattr(xp.linalg, name)
            return lambda x, **kwargs: fn(_one_chunk_across(x), **kwargs)
        if name == "matrix_rank":
            return lambda x, rtol=None: _matrix_rank(xp, x, rtol)
        return super().linalg_function(xp, name)


def _cholesky(x, upper=False):
    import dask.array as da

    if x.ndim != 2:
        raise ValueError(
            f"cholesky: dask's cholesky takes one matrix (2-D), and x has shape {tuple(x.shape)}; "
            f"call it on each matrix (xp.unstack), or compute x to NumPy first"
        )
    return da.linalg.cholesky(x, lower=not upper)


def _matrix_rank(xp, x, rtol):
    """The standard's matrix_rank from svdvals (dask's svd has no compute_uv)."""
    sv = xp.linalg.svd(_one_chunk_across(x), full_matrices=False)[1]
    return rank_from_singular_values(xp, sv, x.shape, rtol)

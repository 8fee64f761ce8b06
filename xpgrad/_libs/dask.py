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
Its linalg takes one matrix (2-D): the namespace's runs on each matrix of a
batch (:class:`DaskNamespace`). It indexes with one-dimensional integer
arrays only: one of more dimensions is a take, reshaped. Gradients of gathers
add into place with ``bincount``.

dask is imported only by the methods that need it.
"""

from __future__ import annotations

import math

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

    def scatter_add(self, xp, n, index, values, like):
        """``bincount``: one pass over the chunks, where the generic one-hot
        product costs len(index) * n. A boolean mask's positions, of unknown
        sizes, are sized here when the gradient's sizes are known (after
        ``compute_chunk_sizes()`` on the masked result): that computes the mask."""
        import dask.array as da

        if n == 0:  # bincount's minlength 0 gives a length dask does not know
            return xp.zeros((0,), dtype=values.dtype)
        if _unknown(index.chunks) and not _unknown(values.chunks):
            index = index.compute_chunk_sizes()
        if index.chunks != values.chunks:
            index = index.rechunk(values.chunks)

        def add(w):
            return da.bincount(index, weights=w, minlength=n)

        if values.dtype.kind == "c":  # NumPy's bincount weighs with real numbers
            out = add(xp.real(values)) + 1j * add(xp.imag(values))
        else:
            out = add(values)
        return out if out.dtype == values.dtype else xp.astype(out, values.dtype)

    def linalg_function(self, xp, name):
        if name == "matrix_rank":
            return lambda x, rtol=None: _matrix_rank(xp, x, rtol)
        return super().linalg_function(xp, name)


class DaskNamespace:
    """``array_api_compat.dask.array`` whose ``linalg`` takes batches (below)."""

    def __init__(self, base) -> None:
        self._base = base
        self.__name__ = base.__name__
        self.linalg = _DaskLinalg(self, base.linalg)

    def __getattr__(self, name: str):
        value = getattr(self._base, name)
        setattr(self, name, value)
        return value


class _DaskLinalg:
    """dask's linalg takes one matrix (2-D): these run on each matrix of a
    batch, in the forwards and in the backwards (which solve and invert).
    inv and solve compute float32 in float64: their results are cast back."""

    _EACH = ("inv", "solve", "qr", "svd", "svdvals", "cholesky")

    def __init__(self, xp, base) -> None:
        self._xp, self._base = xp, base

    def __getattr__(self, name: str):
        value = getattr(self._base, name)
        if name == "cholesky":
            value = _cholesky
        elif name in ("qr", "svd", "svdvals"):
            value = _chunked_across(value)
        if name in self._EACH:
            value = _each_matrix(self._xp, value, name)
        setattr(self, name, value)
        return value


def _unknown(chunks) -> bool:
    return any(c != c for axis in chunks for c in axis)


def _chunked_across(fn):
    return lambda x, **kwargs: fn(_one_chunk_across(x), **kwargs)


def _each_matrix(xp, fn, name):
    """``fn`` (dask's, on one matrix) on each matrix of a batch, stacked.
    ``solve(a, b)``: a's and b's batches broadcast (a vector b: one for all)."""
    import numpy as np

    def call(x, *rest, **kwargs):
        if name == "svd" and kwargs.get("full_matrices", True):
            if x.shape[-2] != x.shape[-1]:
                raise TypeError(
                    f"svd: dask has no full_matrices=True for a matrix of shape "
                    f"{tuple(x.shape[-2:])}; pass full_matrices=False, or compute x to NumPy first"
                )
            kwargs["full_matrices"] = False  # the same matrices for a square x
        stacked_b = bool(rest) and rest[0].ndim > 1
        batch = tuple(x.shape[:-2])
        if stacked_b:
            batch = np.broadcast_shapes(batch, tuple(rest[0].shape[:-2]))
        dtype = xp.result_type(x, *rest) if name == "solve" else x.dtype
        if name in ("inv", "solve", "cholesky"):  # dask's LU and Cholesky want square chunks
            x = _one_chunk_matrices(x)
            if stacked_b:
                rest = (_one_chunk_matrices(rest[0]),)
        if not batch:
            return _cast_to(xp, fn(x, *rest, **kwargs), dtype, name)
        if any(d != d for d in batch):  # unknown sizes: dask's own error asks for them
            return fn(x, *rest, **kwargs)
        if math.prod(batch) == 0:  # the shapes of one matrix's results, for none of them
            one = fn(xp.zeros(tuple(x.shape[-2:]), dtype=x.dtype),
                     *[xp.zeros(tuple(r.shape[-2:]), dtype=r.dtype) if stacked_b else r
                       for r in rest], **kwargs)
            return _map(lambda o: xp.zeros(batch + tuple(o.shape), dtype=o.dtype),
                        _cast_to(xp, one, dtype, name))
        x = _flat(xp, x, batch)
        if stacked_b:
            rest = (_flat(xp, rest[0], batch),)
        outs = [fn(x[i], *[r[i] if stacked_b else r for r in rest], **kwargs)
                for i in range(x.shape[0])]
        if isinstance(outs[0], tuple):
            parts = [xp.stack([o[k] for o in outs]) for k in range(len(outs[0]))]
            out = type(outs[0])(*parts) if hasattr(outs[0], "_fields") else tuple(parts)
        else:
            out = xp.stack(outs)
        out = _cast_to(xp, out, dtype, name)
        return _map(lambda o: xp.reshape(o, batch + tuple(o.shape[1:])), out)

    return call


def _one_chunk_matrices(x):
    """``x`` with each matrix in one chunk: dask's LU and Cholesky take square
    chunks only, which (3, 3) cut by 2 is not."""
    if len(x.chunks[-1]) == 1 and len(x.chunks[-2]) == 1:
        return x
    return x.rechunk({x.ndim - 2: -1, x.ndim - 1: -1})


def _flat(xp, a, batch):
    """``a`` broadcast to ``batch`` and its batch axes flattened into one."""
    matrix = tuple(a.shape[-2:])
    return xp.reshape(xp.broadcast_to(a, batch + matrix), (-1,) + matrix)


def _map(fn, out):
    if isinstance(out, tuple):
        parts = [fn(o) for o in out]
        return type(out)(*parts) if hasattr(out, "_fields") else tuple(parts)
    return fn(out)


def _cast_to(xp, out, dtype, name):
    if name not in ("inv", "solve"):  # the others keep float32 (and svd's S is real)
        return out
    return _map(lambda o: o if o.dtype == dtype else xp.astype(o, dtype), out)


def _cholesky(x, upper=False):
    import dask.array as da

    return da.linalg.cholesky(x, lower=not upper)


def _matrix_rank(xp, x, rtol):
    """The standard's matrix_rank from svdvals (dask's svd has no compute_uv)."""
    sv = xp.linalg.svd(x, full_matrices=False)[1]
    return rank_from_singular_values(xp, sv, x.shape, rtol)

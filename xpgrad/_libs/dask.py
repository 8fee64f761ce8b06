"""dask's quirks: lazy arrays in host memory (their chunks may be CuPy arrays,
which ``compute`` returns), whose sizes may be unknown (nan) after boolean
indexing, built from chunks (``dask.array.empty`` needs ``chunks``), and
computed by NumPy underneath (no fast float16 GEMM).

dask is imported only by :meth:`Dask.empty`.
"""

from __future__ import annotations

from . import Library, adapter_for


class Dask(Library):
    name = "dask"
    host_only = True
    unknown_sizes = True
    half_gemm = False

    def empty(self):
        import dask.array as da

        return da.empty(0, chunks=1)

    def to_numpy(self, x):
        out = x.compute()  # NumPy's, or CuPy's where the chunks are CuPy arrays
        return adapter_for(type(out).__module__.partition(".")[0]).to_numpy(out)

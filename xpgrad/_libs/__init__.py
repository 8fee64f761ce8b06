"""Library quirks, one module per array library, as array-api-compat keeps them.

Generic code (``_backend``, the rules) is written against the Array API. Where
a library needs its own spelling (NumPy's fast paths, torch's ``index_add_``,
JAX's immutable arrays and ``.at[]``, CuPy's ``scatter_add`` and device
scoping, dask's ``compute``), the spelling lives in a subclass of
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
import sys

from .._device import CPU, Device, require_available

__all__ = ["Library", "adapter_for"]


class Library:
    """One array library's adapter: the generic behaviour, which any Array API
    library gets as it is.

    Facts (class attributes, read once when the library registers):

    ``host_only``
        Every array lives in host memory: ``resolve`` compares no devices.
    ``scoped``
        Kernels run on the *current* device, not the array's (CuPy):
        ``resolve`` hands the rules the array's device to enter.
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

    Behaviour (methods, each overridden where the library differs).
    """

    name = "generic"
    host_only = False
    scoped = False
    unknown_sizes = False
    half_gemm = True
    negative_slice_steps = True
    gather_fills = False

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name

    def __repr__(self) -> str:
        return f"<xpgrad adapter for {self.name}>"

    # -- namespaces ----------------------------------------------------------

    def namespace(self, xp):
        """The namespace xpgrad computes with, given the library's
        array-api-compat namespace: the namespace itself, or a speed adapter."""
        return xp

    def empty(self):
        """A zero-size array of the library, importing it (``namespace_for``)."""
        mod = sys.modules.get(self.name) or importlib.import_module(self.name)
        return mod.empty(0)

    # -- devices -------------------------------------------------------------

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

    def add_where(self, xp, into, values, mask):
        """``into`` plus ``values`` where ``mask`` (both broadcast to ``into``'s
        shape), summed into ``into`` where the library can write in place."""
        into += xp.where(mask, values, xp.zeros_like(values))
        return into

    def assign(self, xp, z, key, value):
        """``z[key] = value`` on a fresh array ``z``, returning the result."""
        z[key] = value
        return z

    def set_copy(self, xp, a, key, value):
        """A copy of ``a`` with ``[key] = value``; ``a`` is left as it is."""
        return self.assign(xp, xp.asarray(a, copy=True), key, value)


def adapter_for(name: str) -> Library:
    """The adapter of the library called ``name`` (``"numpy"``, ``"torch"``,
    ...): its module's, or the generic :class:`Library` for a library with no
    quirks."""
    adapter = _BY_NAME.get(name)
    return adapter if adapter is not None else Library(name)


def _adapters() -> dict[str, Library]:
    from . import array_api_strict, cupy, dask, jax, numpy, torch

    found = (numpy.Numpy, cupy.CuPy, torch.Torch, jax.Jax, dask.Dask, array_api_strict.Strict)
    return {cls.name: cls() for cls in found}


# Last: the modules import Library and adapter_for from here.
_BY_NAME: dict[str, Library] = _adapters()

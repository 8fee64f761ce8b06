"""CuPy's quirks: kernels run on the current device (``resolve`` hands the
rules the array's device to enter), ``ndarray.get`` to copy to the host,
``cupy.asarray`` under a device context to copy onto a GPU (from the host or
another GPU), ``cupy.add.at``, and the memory pool that ``peak_bytes``
reads. (How many GPUs there are, and waiting for them, is ``_device``'s.)

CuPy is imported inside each function, never when this module is imported.
"""

from __future__ import annotations

import numpy as np

from .._device import Device, require_available
from . import Library, complex_parts


class CuPy(Library):
    name = "cupy"
    views = True
    scoped = True
    gather_wraps = True  # an index out of range wraps, as mode="wrap"

    def writes_in_order(self, x) -> bool:
        return False  # "undefined" for a repeated index, in CuPy's own words

    def repeat(self, xp, x, repeats, axis):
        # CuPy before 15 refuses an array of repeats; the result's length reads them anyway
        return xp.repeat(x, repeats.tolist() if hasattr(repeats, "shape") else repeats, axis=axis)

    def linalg_function(self, xp, name: str):
        fn = super().linalg_function(xp, name)
        if name == "solve" and fn is not None:
            return lambda a, b: _solve(xp, fn, a, b)
        return fn

    def device_of(self, x) -> Device:
        return Device._make("cuda", x.device.id)

    def to_numpy(self, x):
        return x.get()

    def to_device(self, x, dev: Device):
        if dev.kind == "cpu":
            return super().to_device(x, dev)
        require_available(dev, "to_device")
        return to_gpu(x, dev.index)  # from another GPU, without the host

    def shares_memory(self, a, b):
        import cupy

        return cupy.may_share_memory(a, b)

    def complex(self, xp, re, im, dtype):
        return complex_parts(xp, re, im, dtype)

    def scatter_add(self, xp, n, index, values, like):
        # cupy.add.at, not cupyx.scatter_add (the same kernel, deprecated with a warning
        # on every call), takes int32, int64 (from CuPy 14.2), uint32, uint64, float16,
        # float32 and float64
        import cupy

        dt = values.dtype
        if dt.kind == "c":  # real dtypes only: each part alone
            real = self.scatter_add(xp, n, index, xp.real(values), like)
            return self.complex(xp, real, self.scatter_add(xp, n, index, xp.imag(values), like), dt)
        if dt.itemsize < 4:  # float16 and bfloat16 summed in float32, small integers (which
            wide = xp.int32 if dt.kind in "iub" else xp.float32  # wrap as NumPy's) in int32
            return xp.astype(self.scatter_add(xp, n, index, xp.astype(values, wide), like), dt)
        if dt.kind == "i" and dt.itemsize == 8:  # uint64's sum is int64's, modulo 2**64
            return self.scatter_add(xp, n, index, values.view(cupy.uint64), like).view(dt)
        out = xp.zeros(n, dtype=dt)
        cupy.add.at(out, index, values)
        return out


def _solve(xp, fn, a, b):
    """The standard's ``solve`` from CuPy's: a 1-D b is one vector for every matrix of a,
    and the batch axes broadcast. CuPy 13 reads a b of shape a.shape[:-1] as a stack of
    vectors (a (3, 3, 3) and b (3, 3) gave (3, 3) for (3, 3, 3)), and CuPy 13 and 14
    refuse batch axes that differ."""
    if b.ndim == 1:
        return _solve(xp, fn, a, b[:, None])[..., 0]
    batch = tuple(np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2])))
    return fn(xp.broadcast_to(a, batch + tuple(a.shape[-2:])),
              xp.broadcast_to(b, batch + tuple(b.shape[-2:])))


def to_gpu(array, index: int):
    """``array`` (NumPy, or CuPy on any GPU) as a CuPy array on GPU ``index``."""
    import cupy

    with cupy.cuda.Device(index):
        # cupy.asarray copies onto the current device, from the host or from
        # another GPU.
        return cupy.asarray(array)


def pooled_peak(fn, dev: Device, synchronize):
    """``(peak, fn())``: the most bytes CuPy's default pool held on ``dev``
    during the call, above what it held before. ``synchronize(dev)`` waits
    for the GPU's queued work."""
    import cupy as cp

    pool = cp.get_default_memory_pool()
    with cp.cuda.Device(dev.index):  # the pool reports the current device
        synchronize(dev)
        base = peak = pool.used_bytes()

        def tracking_malloc(size):
            nonlocal peak
            mem = pool.malloc(size)
            peak = max(peak, pool.used_bytes())
            return mem

        with cp.cuda.using_allocator(tracking_malloc):
            result = fn()
            synchronize(dev)
    return max(peak - base, 0), result

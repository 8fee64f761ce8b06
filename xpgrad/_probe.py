"""Peak-memory probe shared by the memory tests and ``xpgrad bench``.

:func:`peak_bytes` runs a callable once and reports the most memory it held
above what was held before the call: :mod:`tracemalloc` on the CPU (NumPy
reports its buffers to it), CuPy's default memory pool on ``cuda:N`` (read in
``xpgrad/_libs/cupy.py``). CuPy is imported only for a ``cuda`` device.
"""

from __future__ import annotations

import tracemalloc

from ._device import require_available, synchronize

__all__ = ["peak_bytes"]


def peak_bytes(fn, device="cpu"):
    """Run ``fn()`` once on ``device`` and measure its peak allocation.

    On a GPU the probe wraps CuPy's default pool and reads ``used_bytes``
    after every allocation, the only moments the peak can rise.

    Returns
    -------
    peak : int
        Bytes above the level at the start of the call.
    result : object
        What ``fn`` returned (kept alive until the peak is read).

    Raises
    ------
    RuntimeError
        If ``device`` is not available.
    """
    dev = require_available(device, "peak_bytes")
    if dev.kind == "cpu":
        return _traced(fn)
    return _pooled(fn, dev)


def _traced(fn):
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start(1)
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    return max(peak - base, 0), result


def _pooled(fn, dev):
    from ._libs.cupy import pooled_peak

    return pooled_peak(fn, dev, synchronize)

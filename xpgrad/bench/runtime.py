"""Where a benchmark runs: one device's raw array library (NumPy on ``cpu``,
CuPy on ``cuda:N``), its clock synchronization, dtypes and data, and the
bridge to PyTorch on the same device.

The baselines call the raw library directly, with no xpgrad in the way.
CuPy is imported only when a ``cuda`` device is asked for, and torch only
when a torch baseline is.
"""

from __future__ import annotations

import contextlib
import importlib
import tracemalloc

import numpy as np

import xpgrad
from xpgrad._device import require_available
from xpgrad._probe import peak_bytes

__all__ = ["FLOAT_DTYPES", "HALF_DTYPES", "Runtime", "torch_module"]

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
HALF_DTYPES = ("float16", "bfloat16")

_TORCH: dict[str, object] = {}


def torch_module():
    """Import torch once; return ``(torch, "")`` or ``(None, reason)``."""
    if "result" not in _TORCH:
        try:
            _TORCH["result"] = (importlib.import_module("torch"), "")
        except ImportError:
            _TORCH["result"] = (None, "torch not installed")
        except Exception as exc:  # a broken install should not end the run
            _TORCH["result"] = (None, f"torch failed to import ({type(exc).__name__})")
    return _TORCH["result"]


class Runtime:
    """One device as the benchmarks see it.

    Parameters
    ----------
    device : str or xpgrad.Device
        ``"cpu"`` or ``"cuda:N"``.

    Raises
    ------
    ValueError
        For a name that is not a device.
    RuntimeError
        If the device is not available (no CuPy, no GPU, index out of range).
    """

    def __init__(self, device) -> None:
        self.device = require_available(device, "xpgrad bench")
        self.is_gpu = self.device.kind == "cuda"
        self.xp = importlib.import_module("cupy") if self.is_gpu else np
        self.name = self.xp.__name__

    def __repr__(self) -> str:
        return f"Runtime('{self.device}', {self.name})"

    def sync(self) -> None:
        """Wait for all queued work on the device (CuPy's and torch's); a no-op on CPU."""
        if self.is_gpu:
            xpgrad.synchronize(self.device)

    def scope(self):
        """A context that makes this device current (CuPy allocates on the current one)."""
        return self.xp.cuda.Device(self.device.index) if self.is_gpu else contextlib.nullcontext()

    def dtype(self, name: str):
        """The library's dtype called ``name``, or None when it has none.

        ``bfloat16`` comes from ``ml_dtypes`` when that is installed.
        """
        native = getattr(self.xp, name, None)
        if native is None and name == "bfloat16":
            try:  # NumPy and CuPy (from version 14) both take ml_dtypes' bfloat16.
                native = importlib.import_module("ml_dtypes").bfloat16
                with self.scope():
                    self.xp.zeros(1, dtype=native)
            except Exception:
                return None
        return None if native is None else np.dtype(native)

    def missing_dtype_reason(self, name: str) -> str:
        """Why :meth:`dtype` returns None for ``name``."""
        if name == "bfloat16":
            return f"{self.name} has no bfloat16 (needs ml_dtypes, and CuPy >= 14 on a GPU)"
        return f"{self.name} has no {name}"

    def has_half_gemm(self) -> bool:
        """Whether half-precision matmul runs on a real GEMM (CuPy) rather
        than NumPy's element loop, hundreds of times slower than float32."""
        return self.is_gpu

    def asarray(self, host: np.ndarray, dtype):
        """``host`` converted to ``dtype`` on this device."""
        host = np.asarray(host).astype(dtype, order="C", copy=False)
        if not self.is_gpu:
            return host
        with self.scope():
            return self.xp.asarray(host)

    def peak_bytes(self, fn):
        """``(peak, result)`` of one call of ``fn``: see :func:`xpgrad._probe.peak_bytes`."""
        return peak_bytes(fn, self.device)

    def held_bytes(self, fn):
        """``(held, result)``: the bytes ``fn()`` leaves allocated while its
        result lives (a forward's output and what it saved for its backward);
        :mod:`tracemalloc` on the CPU, CuPy's pool on a GPU."""
        if self.is_gpu:
            pool = self.xp.get_default_memory_pool()
            with self.scope():
                self.sync()
                base = pool.used_bytes()
                result = fn()
                self.sync()
                return max(pool.used_bytes() - base, 0), result
        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start(1)
        try:
            base, _ = tracemalloc.get_traced_memory()
            result = fn()
            held, _ = tracemalloc.get_traced_memory()
        finally:
            if started:
                tracemalloc.stop()
        return max(held - base, 0), result

    # -- torch ------------------------------------------------------------
    def torch_reason(self, dtype_name: str) -> str:
        """Empty when torch can run on this device in ``dtype_name``; else why not."""
        torch, why = torch_module()
        if torch is None:
            return why
        if self.is_gpu and self.device.index >= torch.cuda.device_count():
            return f"torch does not see {self.device}"
        if getattr(torch, dtype_name, None) is None:
            return f"torch has no {dtype_name}"
        return ""

    def to_torch(self, array, requires_grad: bool = False):
        """A torch leaf tensor on this device with ``array``'s values and dtype."""
        torch, _ = torch_module()
        host = xpgrad.to_numpy(array)
        name = host.dtype.name
        if name == "bfloat16":  # torch cannot read ml_dtypes' bfloat16: go through float32
            t = torch.from_numpy(host.astype(np.float32)).to(torch.bfloat16)
        else:
            t = torch.from_numpy(np.array(host, order="C"))  # its own memory, as a parameter
        if self.is_gpu:
            t = t.to(f"cuda:{self.device.index}")
        return t.requires_grad_(requires_grad)

    def torch_peak_bytes(self, fn):
        """Peak bytes torch's CUDA allocator holds during ``fn()``; None on CPU,
        where torch's allocations are not traced."""
        if not self.is_gpu:
            return None
        torch, _ = torch_module()
        index = self.device.index
        torch.cuda.synchronize(index)
        base = torch.cuda.memory_allocated(index)
        torch.cuda.reset_peak_memory_stats(index)
        fn()
        torch.cuda.synchronize(index)
        return max(torch.cuda.max_memory_allocated(index) - base, 0)

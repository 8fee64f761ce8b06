"""Where a benchmark runs: one device's raw array library, its clock
synchronization, dtypes, input data, peak-memory probe, and the bridge to
PyTorch on the same device.

The raw library is NumPy on ``cpu`` and CuPy on ``cuda:N``: the baselines
call it directly, with no xpgrad in the way. CuPy is imported only when a
``cuda`` device is asked for, and torch only when a torch baseline is.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import tracemalloc

import numpy as np

import xpgrad

__all__ = ["Runtime", "torch_module", "HALF_DTYPES", "FLOAT_DTYPES"]

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
HALF_DTYPES = ("float16", "bfloat16")

_TORCH: dict[str, object] = {}


def torch_module():
    """Import torch once; return ``(torch, "")`` or ``(None, reason)``.

    The reason is the text the report shows in place of torch's figures.
    """
    if "result" not in _TORCH:
        try:
            _TORCH["result"] = (importlib.import_module("torch"), "")
        except ImportError:
            _TORCH["result"] = (None, "n/a: torch not installed")
        except Exception as exc:  # a broken install should not end the run
            _TORCH["result"] = (None, f"n/a: torch failed to import ({type(exc).__name__})")
    return _TORCH["result"]


class Runtime:
    """One device as the benchmarks see it.

    Parameters
    ----------
    device : str or xpgrad.Device
        ``"cpu"`` or ``"cuda:N"``.

    Raises
    ------
    RuntimeError
        If the device is not available (no CuPy, no GPU, index out of range).

    Attributes
    ----------
    device : xpgrad.Device
    xp : module
        The raw array library: ``numpy`` or ``cupy``.
    name : str
        ``"numpy"`` or ``"cupy"``.
    """

    def __init__(self, device) -> None:
        self.device = xpgrad.Device(device)
        if self.device.kind == "cpu":
            self.xp = np
            self.name = "numpy"
        else:
            available = xpgrad.devices()  # imports CuPy: a GPU was asked for
            if self.device not in available:
                why = ("CuPy is not installed" if importlib.util.find_spec("cupy") is None
                       else "CuPy does not see that GPU")
                names = ", ".join(str(d) for d in available)
                raise RuntimeError(
                    f"device '{self.device}' is not available ({why}); available: {names}")
            self.xp = importlib.import_module("cupy")
            self.name = "cupy"

    def __repr__(self) -> str:
        return f"Runtime('{self.device}', {self.name})"

    # -- clock ------------------------------------------------------------
    @property
    def is_gpu(self) -> bool:
        return self.device.kind == "cuda"

    def sync(self) -> None:
        """Wait for all queued work on the device (CuPy's and torch's); a no-op on CPU."""
        if self.device.kind == "cuda":
            xpgrad.synchronize(self.device)

    def scope(self):
        """A context that makes this device current (CuPy allocates on the current one)."""
        if self.device.kind == "cuda":
            return self.xp.cuda.Device(self.device.index)
        return contextlib.nullcontext()

    # -- dtypes -----------------------------------------------------------
    def dtype(self, name: str):
        """The library's dtype called ``name``, or None when it has none.

        NumPy gets ``bfloat16`` from ``ml_dtypes`` when that is installed.
        """
        native = getattr(self.xp, name, None)
        if native is None and name == "bfloat16":
            # NumPy and CuPy both take ml_dtypes' bfloat16 (CuPy from version 14).
            try:
                native = importlib.import_module("ml_dtypes").bfloat16
                if self.xp is not np:
                    with self.scope():
                        self.xp.zeros(1, dtype=native)
            except Exception:
                return None
        return None if native is None else np.dtype(native)

    def missing_dtype_reason(self, name: str) -> str:
        """Why :meth:`dtype` returns None for ``name`` (for skip messages)."""
        if name == "bfloat16":
            return f"n/a: {self.name} has no bfloat16 (needs ml_dtypes, and CuPy >= 14 on a GPU)"
        return f"n/a: {self.name} has no {name}"

    def has_half_gemm(self) -> bool:
        """Whether half-precision matmul runs on a real GEMM (CuPy) rather
        than NumPy's element loop, hundreds of times slower than float32."""
        return self.xp is not np

    # -- data -------------------------------------------------------------
    def asarray(self, host: np.ndarray, dtype):
        """``host`` converted to ``dtype`` on this device."""
        host = np.asarray(host).astype(dtype, order="C", copy=False)
        if self.device.kind == "cpu":
            return host
        with self.scope():
            return self.xp.asarray(host)

    def to_host(self, array) -> np.ndarray:
        """A NumPy copy (or view) of a device array."""
        return xpgrad.to_numpy(array)

    # -- memory -----------------------------------------------------------
    def peak_bytes(self, fn):
        """Run ``fn()`` once and measure the memory it allocates at its peak.

        On CPU this uses :mod:`tracemalloc` (NumPy reports its buffers to
        it); on a GPU it wraps CuPy's default memory pool and reads its
        ``used_bytes`` after every allocation, the only moments the peak can
        rise. Memory held before the call is not counted.

        Returns
        -------
        peak : int
            Bytes above the level at the start of the call.
        result : object
            What ``fn`` returned (kept alive until the peak is read).
        """
        if self.device.kind == "cpu":
            return _traced_peak(fn)
        return self._pool_peak(fn)

    def _pool_peak(self, fn):
        cp = self.xp
        pool = cp.get_default_memory_pool()
        with self.scope():  # the pool reports the current device
            self.sync()
            base = pool.used_bytes()
        peak = base

        def tracking_malloc(size):
            nonlocal peak
            mem = pool.malloc(size)
            used = pool.used_bytes()
            if used > peak:
                peak = used
            return mem

        with self.scope(), cp.cuda.using_allocator(tracking_malloc):
            result = fn()
            self.sync()
        return max(peak - base, 0), result

    def torch_peak_bytes(self, torch, fn):
        """Peak bytes torch's CUDA allocator holds during ``fn()``; None on CPU,
        where torch's allocations are not traced."""
        if self.device.kind != "cuda":
            return None, fn()
        index = self.device.index
        torch.cuda.synchronize(index)
        base = torch.cuda.memory_allocated(index)
        torch.cuda.reset_peak_memory_stats(index)
        result = fn()
        torch.cuda.synchronize(index)
        return max(torch.cuda.max_memory_allocated(index) - base, 0), result

    # -- torch ------------------------------------------------------------
    def torch_reason(self, dtype_name: str, disabled: bool = False) -> str:
        """Empty when torch can run on this device in ``dtype_name``; else why not."""
        if disabled:
            return "n/a: torch disabled (--no-torch)"
        torch, why = torch_module()
        if torch is None:
            return why
        if self.device.kind == "cuda":
            if not torch.cuda.is_available():
                return "n/a: torch has no CUDA"
            if self.device.index >= torch.cuda.device_count():
                return f"n/a: torch does not see {self.device}"
        if getattr(torch, dtype_name, None) is None:
            return f"n/a: torch has no {dtype_name}"
        return ""

    def to_torch(self, array, requires_grad: bool = False):
        """A torch leaf tensor on this device with ``array``'s values and dtype."""
        torch, _ = torch_module()
        host = self.to_host(array)
        name = host.dtype.name
        if name in ("float16", "float32", "float64"):
            t = torch.from_numpy(np.asarray(host, order="C"))
        else:  # bfloat16 (ml_dtypes): torch cannot read it, go through float32
            t = torch.from_numpy(host.astype(np.float32)).to(getattr(torch, name))
        if self.device.kind == "cuda":
            t = t.to(f"cuda:{self.device.index}")
        else:
            t = t.clone()  # own the memory, as a model parameter would
        return t.requires_grad_(requires_grad)


def _traced_peak(fn):
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

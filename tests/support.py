"""Helpers shared by the tests: backends, host conversion, tolerances, and
reference gradients from torch autograd.

Nothing here computes with xpgrad: reference values come from NumPy and torch, so a
bug in xpgrad cannot make its own expected values.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import xpgrad

BACKEND_NAMES = ("numpy", "array_api_strict", "torch", "jax", "cupy")


@dataclass(frozen=True)
class Backend:
    """One array library as the tests see it.

    name : str
        ``numpy``, ``array_api_strict``, ``torch``, ``jax`` or ``cupy``.
    module : module
        The library itself (not the array-api-compat wrapper).
    device : str
        Where :meth:`asarray` puts arrays: ``cpu`` or ``cuda:0``.
    dtypes : dict
        Floating dtype name -> the library's dtype object.
    """

    name: str
    module: object
    device: str
    dtypes: dict = field(repr=False)
    _from_numpy: Callable = field(repr=False)

    def __str__(self) -> str:
        return self.name

    def dtype(self, name: str):
        """The native dtype called ``name``; skips the test where the library lacks it."""
        if name not in self.dtypes:
            pytest.skip(f"{self.name} has no {name}")
        return self.dtypes[name]

    def asarray(self, host, dtype: str | None = None):
        """A host NumPy array (or nested list) as this backend's array, on its device.

        ``dtype`` is a name such as ``"float32"``; without it the host dtype is kept.
        """
        host = np.asarray(host)
        if dtype is not None:
            self.dtype(dtype)
            host = host.astype(dtype)
        # A contiguous copy: torch cannot wrap negative strides, and the tests
        # that want odd layouts build them in the backend itself.
        return self._from_numpy(np.array(host, order="C", copy=True))


def host(x) -> np.ndarray:
    """Any backend's array (or an xpgrad Tensor) as a NumPy array."""
    if isinstance(x, xpgrad.Tensor):
        x = x.data
    if isinstance(x, (np.ndarray, np.generic, int, float, bool)):
        return np.asarray(x)
    mod = type(x).__module__
    if mod.startswith("torch"):
        return x.detach().cpu().numpy()
    if mod.startswith("cupy"):
        return x.get()
    try:
        return np.from_dlpack(x)
    except Exception:
        return np.asarray(x)


def same_library(x, ref) -> bool:
    """``x`` is an array of ``ref``'s type (NumPy may also give a NumPy scalar
    for a 0-d result, as ``numpy.matmul`` and ``numpy.sum`` do)."""
    if isinstance(ref, np.ndarray):
        return isinstance(x, (np.ndarray, np.generic))
    return type(x) is type(ref)


def dtype_name(x) -> str:
    return str(x.dtype).rsplit(".", 1)[-1]


# (rtol, atol) when comparing a result computed in this dtype with a float64
# reference on the small, O(1)-valued inputs these tests use.
TOL = {
    "float16": (2e-2, 2e-2),
    "float32": (2e-5, 2e-5),
    "float64": (1e-12, 1e-12),
}


def tol(dtype: str) -> dict:
    rtol, atol = TOL[dtype]
    return {"rtol": rtol, "atol": atol}


def assert_allclose(actual, expected, dtype: str = "float64"):
    """NumPy's assert_allclose on host copies, with the tolerance of ``dtype``."""
    a = host(actual).astype(np.float64)
    np.testing.assert_allclose(a, np.asarray(expected, dtype=np.float64), **tol(dtype))


def rel_err(a, b) -> float:
    a = host(a).astype(np.float64)
    b = np.asarray(b, dtype=np.float64)
    ref = np.linalg.norm(b.ravel())
    diff = np.linalg.norm((a - b).ravel())
    return float(diff / ref) if ref else float(diff)


@functools.lru_cache(maxsize=None)
def _load(name: str):
    """(Backend, None) or (None, why it is unavailable)."""
    if name == "numpy":
        dtypes = {"float16": np.float16, "float32": np.float32, "float64": np.float64}
        return Backend("numpy", np, "cpu", dtypes, lambda h: h), None
    if name == "array_api_strict":
        try:
            import array_api_strict as xs
        except ImportError as exc:
            return None, f"array_api_strict does not import ({exc})"
        dtypes = {"float32": xs.float32, "float64": xs.float64}
        return Backend("array_api_strict", xs, "cpu", dtypes, xs.asarray), None
    if name == "torch":
        try:
            import torch
        except ImportError as exc:
            return None, f"torch does not import ({exc})"
        dtypes = {"float16": torch.float16, "float32": torch.float32, "float64": torch.float64}
        return Backend("torch", torch, "cpu", dtypes, torch.asarray), None
    if name == "jax":
        try:
            import jax
        except ImportError as exc:
            return None, f"jax does not import ({exc})"
        # Without this JAX turns every float64 array into float32, and the
        # float64 references and finite differences lose their meaning.
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        dtypes = {"float16": jnp.float16, "float32": jnp.float32, "float64": jnp.float64}
        return Backend("jax", jnp, "cpu", dtypes, jnp.asarray), None
    if name == "cupy":
        try:
            import cupy
        except Exception as exc:
            return None, f"cupy does not import ({type(exc).__name__}: {exc})"
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:
            return None, f"cupy imports but sees no GPU ({type(exc).__name__}: {exc})"
        if count < 1:
            return None, "cupy imports but sees no GPU"

        def on_gpu0(h):
            with cupy.cuda.Device(0):
                return cupy.asarray(h)

        dtypes = {"float16": cupy.float16, "float32": cupy.float32, "float64": cupy.float64}
        return Backend("cupy", cupy, "cuda:0", dtypes, on_gpu0), None
    raise ValueError(f"unknown backend {name!r}")


def get_backend(name: str):
    return _load(name)


def torch_or_skip():
    return pytest.importorskip("torch")


def torch_grads(fn, inputs, upstream, *, needs=None):
    """Gradients of ``sum(fn(*inputs) * upstream)`` by torch autograd, in float64.

    ``inputs`` are NumPy arrays (or None / Python scalars passed through);
    ``fn`` takes torch tensors. Returns (out, [grad or None per input]).
    """
    torch = torch_or_skip()
    leaves = []
    for i, x in enumerate(inputs):
        if isinstance(x, np.ndarray) and (needs is None or needs[i]):
            leaves.append(torch.tensor(x.astype(np.float64), requires_grad=True))
        elif isinstance(x, np.ndarray):
            leaves.append(torch.tensor(x))
        else:
            leaves.append(x)
    out = fn(*leaves)
    g = torch.tensor(np.asarray(upstream, dtype=np.float64))
    out.backward(g)
    grads = [
        (t.grad.numpy() if t.grad is not None else np.zeros(t.shape)) if isinstance(t, torch.Tensor) and t.requires_grad else None
        for t in leaves
    ]
    return out.detach().numpy(), grads

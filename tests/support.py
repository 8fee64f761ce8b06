"""Helpers shared by the tests: backends, host conversion, tolerances, and
reference gradients from torch autograd.

Nothing here computes with xpgrad: reference values come from NumPy and torch, so a
bug in xpgrad cannot make its own expected values.
"""

from __future__ import annotations

import functools
import importlib
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import xpgrad

BACKEND_NAMES = ("numpy", "array_api_strict", "torch", "jax", "cubed", "cupy")

#: True in a plain run (no ``--backend``), where JAX's cases are sampled:
#: conftest.py sets it.
SAMPLE_JAX = True


def sampled_out(backend, seed: int, n: int) -> bool:
    """Whether a hypothesis example is left out: in a plain run JAX keeps the
    examples whose ``seed`` is a multiple of ``n`` (JAX compiles every drawn
    shape afresh, about 0.2 s each); ``--backend jax`` runs them all."""
    return SAMPLE_JAX and backend.name == "jax" and seed % n != 0


@dataclass(frozen=True)
class Backend:
    """One array library as the tests see it.

    name : str
        ``numpy``, ``array_api_strict``, ``torch``, ``jax``, ``cubed`` or ``cupy``.
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
        return x.detach().cpu().resolve_conj().resolve_neg().numpy()
    if mod.startswith("cupy"):
        return x.get()
    if mod.startswith("cubed"):
        return np.asarray(x.compute())
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


# The module each backend's arrays come from (JAX's is jax.numpy, not jax).
_MODULES = {
    "numpy": "numpy",
    "array_api_strict": "array_api_strict",
    "torch": "torch",
    "jax": "jax.numpy",
    "cubed": "cubed",
    "cupy": "cupy",
}


@functools.lru_cache(maxsize=None)
def _load(name: str):
    """(Backend, None) or (None, why it is unavailable)."""
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKEND_NAMES)}")
    try:
        module = importlib.import_module(_MODULES[name])
    except Exception as exc:  # a broken CUDA install fails with more than ImportError
        return None, f"{name} does not import ({type(exc).__name__}: {exc})"
    # The floating dtypes the library has: array_api_strict has no float16.
    dtypes = {d: getattr(module, d) for d in ("float16", "float32", "float64") if hasattr(module, d)}
    device, from_numpy = "cpu", module.asarray
    if name == "numpy":

        def from_numpy(h):  # Backend.asarray hands over a fresh copy already
            return h

    elif name == "jax":
        # Without this JAX turns every float64 array into float32, and the
        # float64 references and finite differences lose their meaning.
        importlib.import_module("jax").config.update("jax_enable_x64", True)
    elif name == "cubed":
        # Arrays of two or more chunks where the shape allows, so that the
        # rules' chunk handling is exercised, not just one block.
        spec = cubed_spec()

        def from_numpy(h):
            chunks = tuple(max(1, -(-d // 2)) for d in h.shape)
            return module.asarray(h, chunks=chunks, spec=spec)

    elif name == "cupy":
        try:
            count = module.cuda.runtime.getDeviceCount()
        except Exception as exc:
            return None, f"cupy imports but sees no GPU ({type(exc).__name__}: {exc})"
        if count < 1:
            return None, "cupy imports but sees no GPU"

        def from_numpy(h):
            with module.cuda.Device(0):
                return module.asarray(h)

        device = "cuda:0"
    return Backend(name, module, device, dtypes, from_numpy), None


@functools.lru_cache(maxsize=None)
def cubed_spec(allowed_mem: str = "100MB"):
    """The ``cubed.Spec`` of the tests' cubed arrays: one spec (cubed refuses to
    mix them in one computation), computed in this thread (the tests' arrays
    are tiny, and threads only add start-up time)."""
    import cubed
    from cubed.runtime.create import create_executor

    return cubed.Spec(allowed_mem=allowed_mem, executor=create_executor("single-threaded"))


def get_backend(name: str):
    """(Backend, None) for an available backend, else (None, why not)."""
    return _load(name)


def backend_params(names=BACKEND_NAMES):
    """One ``pytest.param`` per backend name, with the name as its id.

    The params of the ``backend`` fixture in conftest.py, and what a test that
    runs on only some backends passes to
    ``@pytest.mark.parametrize("backend", backend_params(("numpy", "torch")), indirect=True)``.
    Whether a backend is available is decided when the test runs (the fixture
    skips with the reason), so collecting the suite needs none of them.
    """
    unknown = [n for n in names if n not in BACKEND_NAMES]
    if unknown:
        raise ValueError(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKEND_NAMES)}")
    return [pytest.param(name, id=name) for name in names]


def other_library(h, backend):
    """The host array ``h`` as an array of a library other than the backend's:
    torch (or array_api_strict without torch) for NumPy, NumPy for the others."""
    if backend.name != "numpy":
        return h
    try:
        import torch
    except ImportError:
        xs = pytest.importorskip("array_api_strict")
        return xs.asarray(h)
    return torch.asarray(h)


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


def run_python(code: str) -> list:
    """``code`` run in a fresh Python (its own JAX settings, or a crash that
    must not take the test process with it): its printed lines; the test
    fails with its stderr if it exits with an error."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.split("\n")

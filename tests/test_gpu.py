"""Checks that only a real GPU can answer: CuPy placement, device errors,
half precision on the tensor cores, and GPU memory of the folded gradient.

The whole module skips (with the reason) where CuPy is missing or sees no
GPU. `bash bench/run_gpu.sh` runs it together with the rest of the suite on
the cupy backend.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
from xpgrad import ops
from xpgrad.testing import assert_close, rel_error

# Every test here is a cupy case: ``--backend cupy`` selects them, any other
# --backend deselects them. Without CuPy or a GPU the module skips as a whole.
pytestmark = pytest.mark.backend("cupy")

cupy = pytest.importorskip("cupy", reason="cupy is not installed")
try:
    _N_GPUS = cupy.cuda.runtime.getDeviceCount()
except Exception as exc:  # no driver, no device
    pytest.skip(f"cupy sees no CUDA GPU: {exc}", allow_module_level=True)
if _N_GPUS == 0:
    pytest.skip("cupy sees no CUDA GPU", allow_module_level=True)


@pytest.fixture
def rng():
    return np.random.default_rng(20261121)


def test_devices_lists_cuda0():
    assert xpgrad.Device("cuda:0") in xpgrad.devices()
    assert len(xpgrad.devices()) == 1 + _N_GPUS


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=lambda d: d.__name__)
def test_to_device_round_trip_keeps_values(rng, dtype):
    host = rng.standard_normal((3, 5)).astype(dtype)
    dev = xpgrad.to_device(host, "cuda:0")
    assert isinstance(dev, cupy.ndarray)
    assert dev.device.id == 0
    assert xpgrad.device_of(dev) == "cuda:0"
    back = xpgrad.to_device(dev, "cpu")
    assert isinstance(back, np.ndarray)
    assert back.shape == host.shape and back.dtype == host.dtype
    np.testing.assert_array_equal(back, host)


def test_tensor_on_cuda_stays_on_gpu(rng, monkeypatch):
    x = xpgrad.tensor(rng.standard_normal((4, 3)), device="cuda", requires_grad=True)
    w = xpgrad.tensor(rng.standard_normal((2, 3)), device="cuda", requires_grad=True)
    b = xpgrad.tensor(rng.standard_normal(2), device="cuda", requires_grad=True)
    # The usual host round trips (ndarray.get, cupy.asnumpy) are made to fail;
    # the isinstance checks below catch a NumPy array anywhere in the results.
    def forbidden(*args, **kwargs):
        raise AssertionError("a host round trip happened on the GPU path")

    monkeypatch.setattr(cupy.ndarray, "get", forbidden)
    monkeypatch.setattr(cupy, "asnumpy", forbidden)
    y = xpgrad.linear(x, w, b)
    loss = (y * y).sum()
    loss.backward()
    monkeypatch.undo()
    for t in (x, w, b, y, loss):
        assert isinstance(t.data, cupy.ndarray)
        assert t.device == "cuda:0"
    for t in (x, w, b):
        assert isinstance(t.grad, cupy.ndarray)
        assert t.grad.shape == t.data.shape and t.grad.dtype == t.data.dtype
    xn, wn, bn = x.numpy(), w.numpy(), b.numpy()
    yn = xn @ wn.T + bn
    assert_close(w.grad, 2 * yn.T @ xn)
    assert_close(b.grad, 2 * yn.sum(0))


def test_missing_gpu_index_raises_clear_error():
    bad = f"cuda:{_N_GPUS}"
    with pytest.raises(RuntimeError, match=rf"device '{bad}' is not available.*available: cpu, cuda:0"):
        xpgrad.to_device(np.ones(3), bad)
    with pytest.raises(RuntimeError, match=bad):
        xpgrad.tensor([1.0], device=bad)


def test_mixing_numpy_and_cupy_raises_type_error():
    with pytest.raises(TypeError, match=r"^matmul: inputs come from different array libraries: a is numpy, b is cupy"):
        ops.matmul.forward(np.ones((2, 2)), cupy.ones((2, 2)))


@pytest.mark.skipif(_N_GPUS < 2, reason="needs two GPUs")
def test_work_runs_on_the_inputs_gpu(rng):
    a = xpgrad.to_device(rng.standard_normal((8, 8)), "cuda:1")
    with cupy.cuda.Device(0):
        out, ctx = ops.matmul.forward(a, a)
        with out.device:  # cupy's *_like allocate on the current device
            g = cupy.ones_like(out)
        ga, gb = ops.matmul.backward(g, ctx)
    assert out.device.id == 1 and ga.device.id == 1 and gb.device.id == 1
    with pytest.raises(ValueError, match=r"^matmul: inputs are on different devices: a on cuda:0, b on cuda:1"):
        ops.matmul.forward(xpgrad.to_device(np.ones((2, 2)), "cuda:0"), a[:2, :2])


@pytest.mark.skipif(_N_GPUS < 2, reason="needs two GPUs")
def test_creation_functions_allocate_on_the_gpu_named():
    # array-api-compat's CuPy zeros/ones/full/arange take device= and allocate
    # on the current device: xp.zeros(3, device="cuda:1") landed on GPU 0
    xa = xpgrad.array_api
    for make in (lambda d: xa.zeros(3, device=d), lambda d: xa.ones((2, 2), device=d),
                 lambda d: xa.full(2, 1.5, device=d), lambda d: xa.arange(4, device=d),
                 lambda d: xa.eye(2, device=d)):
        assert make("cuda:1").data.device.id == 1


@pytest.mark.parametrize("dtype", ["complex128", "complex64", "float16"])
def test_gather_gradients_of_complex_and_half_precision(rng, dtype):
    # cupy.add.at takes int32, int64 (from CuPy 14.2), uint32, uint64, float16, float32 and
    # float64 only; cupyx.scatter_add, the same kernel, warns that it is deprecated
    host = (rng.standard_normal((5, 3)) + (1j * rng.standard_normal((5, 3)) if "complex" in dtype else 0))
    x = xpgrad.tensor(cupy.asarray(host.astype(dtype)), requires_grad=True)
    idx = cupy.asarray([0, 3, 3, 1])
    xpgrad.array_api.sum(xpgrad.array_api.real(x[idx])).backward()
    want = np.zeros((5, 3))
    np.add.at(want, [0, 3, 3, 1], 1.0)
    assert x.grad.dtype == x.data.dtype
    np.testing.assert_allclose(cupy.asnumpy(x.grad).real, want)


def test_index_add_of_integers_and_a_gather_backward_without_warnings():
    import warnings

    index = cupy.asarray([0, 2, 2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cupyx.scatter_add's DeprecationWarning, each call
        for dtype in ("int64", "int8", "uint64"):
            values = cupy.asarray([1, 2, 3, 4], dtype=dtype)
            out, _ = ops.index_add.forward(values, index, 3)
            assert out.dtype == dtype
            np.testing.assert_array_equal(cupy.asnumpy(out), [1, 4, 5])
        x = xpgrad.tensor(cupy.arange(3.0), requires_grad=True)
        xpgrad.array_api.sum(x[index]).backward()
    np.testing.assert_array_equal(cupy.asnumpy(x.grad), [1.0, 1.0, 2.0])


def test_a_wrapped_index_sends_its_gradient_where_its_value_came_from():
    # CuPy wraps an index out of range round its axis (take's mode="wrap"); the
    # positions by arithmetic wrapped round the whole array instead
    x0 = np.arange(12.0).reshape(3, 4)
    x = xpgrad.tensor(cupy.asarray(x0), requires_grad=True)
    out = xpgrad.array_api.take(x, cupy.asarray([5]), axis=1)
    np.testing.assert_array_equal(cupy.asnumpy(out.data)[:, 0], x0[:, 1])
    xpgrad.array_api.sum(out).backward()
    want = np.zeros((3, 4))
    want[:, 1] = 1.0
    np.testing.assert_array_equal(cupy.asnumpy(x.grad), want)


def _half_dtypes():
    out = [pytest.param(cupy.float16, id="float16")]
    try:
        import ml_dtypes

        out.append(pytest.param(ml_dtypes.bfloat16, id="bfloat16"))
    except ImportError:
        out.append(pytest.param(None, id="bfloat16", marks=pytest.mark.skip(reason="ml_dtypes not installed")))
    return out


@pytest.mark.parametrize("dtype", _half_dtypes())
def test_half_precision_matches_float64_reference(rng, dtype):
    a = rng.standard_normal((4, 64, 96))
    w = rng.standard_normal((96, 48))
    g = rng.standard_normal((4, 64, 48))
    try:
        da, dw, dg = (cupy.asarray(v).astype(dtype) for v in (a, w, g))
    except Exception as exc:  # bfloat16 needs a CuPy build that knows the dtype
        pytest.skip(f"cupy cannot hold {dtype}: {exc}")
    out, ctx = ops.matmul.forward(da, dw)
    ga, gw = ops.matmul.backward(dg, ctx)
    assert out.dtype == dtype and ga.dtype == dtype and gw.dtype == dtype
    # Reference in float64 on the host from the same rounded inputs.
    a64, w64, g64 = (cupy.asnumpy(v.astype(cupy.float32)).astype(np.float64) for v in (da, dw, dg))
    tol = 2e-2 if dtype == cupy.float16 else 5e-2
    assert rel_error(out.astype(cupy.float32), a64 @ w64) <= tol
    assert rel_error(ga.astype(cupy.float32), g64 @ w64.T) <= tol
    assert rel_error(gw.astype(cupy.float32), a64.reshape(-1, 96).T @ g64.reshape(-1, 48)) <= tol


def test_folded_weight_gradient_peak_gpu_memory():
    from xpgrad._probe import peak_bytes

    B, m, k, n = 64, 256, 256, 256
    a = cupy.random.standard_normal((B, m, k), dtype=cupy.float32)
    w = cupy.random.standard_normal((k, n), dtype=cupy.float32)
    out, ctx = ops.matmul.forward(a, w)
    g = cupy.ones_like(out)
    # The shared probe reads the pool's used_bytes after every allocation.
    peak, (ga, gw) = peak_bytes(lambda: ops.matmul.backward(g, ctx), "cuda:0")
    outputs = ga.nbytes + gw.nbytes
    assert peak <= 1.05 * outputs, (peak, outputs)

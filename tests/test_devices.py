"""Devices and namespaces: Device parsing, availability errors without a GPU,
the default-device context, get_namespace / device_of / to_device, and that
``import xpgrad`` leaves CuPy alone."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import xpgrad
from tests.support import run_python
from xpgrad import Device


def _gpu_count() -> int:
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


needs_no_gpu = pytest.mark.skipif(_gpu_count() > 0, reason="a CUDA GPU is visible: cuda:0 is available")


# -- parsing ----------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, text",
    [("cpu", "cpu"), ("CPU", "cpu"), (" cpu ", "cpu"), ("cpu:0", "cpu"), ("cuda", "cuda:0"),
     ("cuda:0", "cuda:0"), ("cuda:3", "cuda:3"), ("CUDA:12", "cuda:12")],
    ids=["cpu", "CPU", "spaces", "cpu:0", "cuda", "cuda:0", "cuda:3", "CUDA:12"],
)
def test_device_parsing(spec, text):
    d = Device(spec)
    assert str(d) == text
    assert d == text and text == d
    assert repr(d) == f"Device('{text}')"
    assert hash(d) == hash(Device(text))


def test_device_equality_and_identity():
    d = Device("cuda:1")
    assert Device(d) is d
    assert d != Device("cuda:0") and d != "cpu" and Device("cpu") != "cuda"
    assert Device("cuda") == Device("cuda:0")
    assert d != 3 and d != "not a device"  # no exception, just unequal
    assert len({Device("cpu"), Device("CPU"), Device("cuda"), Device("cuda:0")}) == 2
    assert pickle.loads(pickle.dumps(d)) == d
    with pytest.raises(AttributeError):
        d.index = 2


def test_device_from_torch_device():
    torch = pytest.importorskip("torch")
    assert Device(torch.device("cpu")) == "cpu"
    assert Device(torch.device("cuda", 2)) == "cuda:2"
    assert Device(torch.device("cuda")) == "cuda:0"


def test_a_jax_device_names_jax_arrays_and_a_device_refuses_it_by_its_module():
    # xpgrad.tensor(jax_array, device=jax_device) was refused, "expected ... a
    # device object; got Device" (JAX's class is named Device too); a Device is a
    # place (NumPy's on the CPU), so it refuses a JAX device, naming its module
    jax = pytest.importorskip("jax")
    cpu = jax.devices("cpu")[0]
    for data in (jax.numpy.ones(2), [1.0, 1.0]):
        t = xpgrad.tensor(data, device=cpu)
        assert type(t.data).__module__.startswith("jax") and t.device == "cpu"
    with pytest.raises(TypeError, match=r"^Device: .* a torch or CuPy device object; got "
                                        r"jaxlib\.\S*Device"):
        Device(cpu)
    with pytest.raises(TypeError, match=r"^tensor: device .* nor a device of this array's library, numpy"):
        xpgrad.tensor(np.ones(2), device=cpu)  # NumPy data: not moved to another library silently


# -- availability ----------------------------------------------------------


def test_devices_lists_cpu_first():
    devs = xpgrad.devices()
    assert devs[0] == "cpu"
    assert all(type(d) is Device for d in devs)
    assert len(devs) == 1 + _gpu_count()


@needs_no_gpu
def test_devices_without_gpu_is_cpu_only():
    assert xpgrad.devices() == [Device("cpu")]


@needs_no_gpu
@pytest.mark.parametrize("name", ["cuda:0", "cuda:3", "cuda"], ids=["cuda:0", "cuda:3", "cuda"])
def test_unavailable_device_errors_name_device_reason_and_choices(name):
    asked = str(Device(name))

    def check(fn):
        with pytest.raises(RuntimeError) as info:
            fn()
        msg = str(info.value)
        assert f"'{asked}'" in msg, msg
        assert "available: cpu" in msg, msg
        assert "(" in msg and ")" in msg, "the message says why"
        return msg

    msg = check(lambda: xpgrad.default_device(name).__enter__())
    assert "cupy" in msg or "GPU" in msg
    check(lambda: xpgrad.to_device(np.ones(2), name))
    check(lambda: xpgrad.tensor([1.0, 2.0], device=name))
    check(lambda: xpgrad.tensor(np.ones(2), requires_grad=True).to(name))
    check(lambda: xpgrad.synchronize(name))
    assert xpgrad.get_default_device() == "cpu"


@needs_no_gpu
def test_torch_tensor_to_missing_cuda_raises_runtime_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("torch sees a GPU")
    with pytest.raises(RuntimeError, match=r"'cuda:0'.*available: cpu"):
        xpgrad.to_device(torch.ones(2), "cuda:0")
    t = xpgrad.tensor(torch.ones(2, dtype=torch.float64), requires_grad=True)
    with pytest.raises(RuntimeError, match="'cuda:1'"):
        t.to("cuda:1")


def test_default_device_context():
    assert xpgrad.get_default_device() == "cpu"
    with xpgrad.default_device("cpu") as dev:
        assert dev == "cpu" and xpgrad.get_default_device() == "cpu"
        t = xpgrad.tensor([1.0])
        assert t.device == "cpu"
        with xpgrad.default_device(Device("cpu")):
            assert xpgrad.get_default_device() == "cpu"
    with pytest.raises(KeyError):
        with xpgrad.default_device("cpu"):
            raise KeyError("boom")
    assert xpgrad.get_default_device() == "cpu"
    with pytest.raises(ValueError):
        with xpgrad.default_device("nowhere"):
            pass


def test_default_device_is_per_thread():
    """The setting is a ContextVar: a new thread starts from the default."""
    seen = []
    with xpgrad.default_device("cpu"):
        t = threading.Thread(target=lambda: seen.append(xpgrad.get_default_device()))
        t.start()
        t.join()
    assert seen == [Device("cpu")]


def test_synchronize_on_cpu_is_a_no_op():
    assert xpgrad.synchronize() is None
    assert xpgrad.synchronize("cpu") is None


# -- namespaces ------------------------------------------------------------


def test_get_namespace_numpy_ignores_scalars_and_none():
    xp = xpgrad.get_namespace(np.ones(2), 3.0, None, 2, True)
    assert xp.__name__ == "array_api_compat.numpy"
    assert xpgrad.get_namespace(1.0, np.ones(2)) is xp
    sentinel = object()
    assert xpgrad.get_namespace(np.ones(2), xp=sentinel) is sentinel


def test_get_namespace_of_each_backend(backend):
    x = backend.asarray(np.ones(2))
    xp = xpgrad.get_namespace(x, x, 1.0)
    assert backend.name in xp.__name__
    assert xpgrad.device_of(x) == backend.device


def test_get_namespace_errors():
    with pytest.raises(TypeError, match="no array"):
        xpgrad.get_namespace(1.0, None)
    with pytest.raises(TypeError, match="list"):
        xpgrad.get_namespace([1.0, 2.0])


def test_get_namespace_different_libraries_names_both():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError) as info:
        xpgrad.get_namespace(np.ones(2), torch.ones(2))
    assert "numpy" in str(info.value) and "torch" in str(info.value)
    with pytest.raises(TypeError) as info:
        xpgrad.get_namespace(torch.ones(2), 1.0, np.ones(2))
    assert "numpy" in str(info.value) and "torch" in str(info.value)


def test_get_namespace_different_devices_names_both():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError) as info:
        xpgrad.get_namespace(torch.ones(2), torch.ones(2, device="meta"))
    msg = str(info.value)
    assert "cpu" in msg and "meta" in msg
    with pytest.raises(ValueError, match="different devices"):
        xpgrad.ops.matmul.forward(torch.ones(2, 2), torch.ones(2, 2, device="meta"))


def test_array_api_strict_different_devices_names_both():
    xs = pytest.importorskip("array_api_strict")
    a = xs.asarray([1.0])
    b = xs.asarray([1.0], device=xs.Device("device1"))
    with pytest.raises(ValueError) as info:
        xpgrad.get_namespace(a, b)
    msg = str(info.value)
    assert "device1" in msg and str(a.device) in msg, msg


def test_device_of_and_to_device_on_host(backend):
    x = backend.asarray(np.arange(3.0))
    assert xpgrad.device_of(x) == backend.device
    assert xpgrad.to_device(x, backend.device) is x  # no copy when already there
    np.testing.assert_array_equal(xpgrad.to_numpy(x), [0.0, 1.0, 2.0])
    assert isinstance(xpgrad.to_numpy(x), np.ndarray)


@pytest.mark.parametrize("src, dst", [("numpy", "torch"), ("torch", "numpy"), ("numpy", "array_api_strict")])
def test_another_librarys_device_takes_a_tensor_to_that_library(src, dst):
    """``t.to_device(other.device)`` and ``xp.asarray(t, device=other.device)``
    stayed in t's library when both were on the CPU (Device equality ignores
    the library), so scipy mixed NumPy and torch data inside its functions."""
    import xpgrad.array_api as xp
    from tests.support import get_backend

    (a, _), (b, _) = get_backend(src), get_backend(dst)
    other = xpgrad.tensor(b.asarray(np.ones(2)))
    x = xpgrad.tensor(a.asarray(np.array([0.5, 2.0])), requires_grad=True)
    for moved in (x.to_device(other.device), xp.asarray(x, device=other.device)):
        assert type(moved.data) is type(other.data) and moved.requires_grad
        np.testing.assert_array_equal(xpgrad.to_numpy(moved.data), [0.5, 2.0])
    xp.sum(x.to_device(other.device) ** 2).backward()
    assert type(x.grad) is type(x.data)  # the gradient goes back to x's library
    np.testing.assert_array_equal(xpgrad.to_numpy(x.grad), [1.0, 4.0])
    assert x.to_device(x.device) is x


def test_a_move_to_another_library_copies_and_the_gradient_keeps_its_dtype():
    import xpgrad.array_api as xp

    torch = pytest.importorskip("torch")
    n = xpgrad.tensor(np.array([1.0, 2.0]))
    t = xpgrad.tensor(torch.tensor([1.0, 2.0], dtype=torch.float64))
    moved = xp.asarray(n, device=t.device, copy=True)
    moved.data[0] = 99.0  # torch.asarray of NumPy data would share its memory
    np.testing.assert_array_equal(n.data, [1.0, 2.0])
    jnp = pytest.importorskip("jax.numpy")
    j = xpgrad.tensor(jnp.asarray([1.0]))
    x = xpgrad.tensor(np.array([0.5, 2.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JAX without x64 holds float64 as float32
        y = x.to_device(j.device)
        xp.sum(y * y).backward()
    assert x.grad.dtype == np.float64  # the gradient has x's dtype, not float32
    np.testing.assert_allclose(x.grad, [1.0, 4.0])


def test_to_device_rejects_non_arrays():
    with pytest.raises(TypeError):
        xpgrad.to_device([1, 2], "cpu")


# -- imports ---------------------------------------------------------------


def test_import_xpgrad_does_not_import_cupy():
    code = "import xpgrad, sys; assert 'cupy' not in sys.modules, 'cupy was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_basic_use_does_not_import_cupy_or_torch():
    code = (
        "import sys, numpy as np, xpgrad\n"
        "a = xpgrad.tensor(np.ones((2, 3)), requires_grad=True)\n"
        "(a @ a.T).sum().backward()\n"
        "assert 'cupy' not in sys.modules and 'torch' not in sys.modules, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('cupy', 'torch'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_array_api_strict_devices_are_told_apart_and_moved_between():
    # Tensor.to_device(u.device) stayed on device1 (the place, the CPU, was the
    # same), and strict's own Device objects were refused as no device
    xs = pytest.importorskip("array_api_strict")
    d1, cpu = xs.Device("device1"), xs.Device("CPU_DEVICE")
    t = xpgrad.tensor(xs.asarray([1.0, 2.0, 3.0], device=d1), requires_grad=True)
    u = xpgrad.tensor(xs.asarray([10.0, 20.0, 30.0]))
    moved = t.to_device(u.device)
    assert moved.data.device == cpu
    xpgrad.array_api.sum(moved * u).backward()  # mixing devices raised before the move
    assert t.grad.device == d1
    assert np.asarray(t.grad.to_device(cpu)).tolist() == [10.0, 20.0, 30.0]
    assert t.to_device(cpu).data.device == cpu
    assert xpgrad.to_device(t.data, cpu).device == cpu
    assert xpgrad.array_api.asarray(t, device=cpu).data.device == cpu
    assert t.to_device(t.device) is t
    with pytest.raises(TypeError, match=r"^to_device: device <object .*> \(builtins.object\) is neither a name such as 'cpu' .* nor a device of this array's library, array_api_strict"):
        t.to_device(object())


def test_namespace_info_answers_for_the_library_of_the_device():
    # it listed float64 (and float64 defaults) for a device of JAX without x64,
    # which cannot make float64: code that checks for it computed in float32
    pytest.importorskip("jax")
    code = (
        "import jax.numpy as jnp, xpgrad, xpgrad.array_api as xp\n"
        "t = xpgrad.tensor(jnp.ones(2))\n"
        "info = xp.__array_namespace_info__()\n"
        "print(info.default_dtypes(device=t.device)['real floating'])\n"
        "print('float64' in info.dtypes(device=t.device), 'float32' in info.dtypes(device=t.device))\n"
        "print(info.default_dtypes()['real floating'], len(info.dtypes()))\n"
    )
    lines = run_python(code)
    assert lines[:3] == ["float32", "False True", "float64 13"]
    # a place names NumPy's or CuPy's arrays, which have every dtype: no GPU needed to ask
    info = xpgrad.array_api.__array_namespace_info__()
    assert len(info.dtypes(device="cuda:0")) == len(info.dtypes(device=Device("cpu"))) == 13


@pytest.mark.parametrize("library", ["torch", "array_api_strict", "jax"])
def test_a_tensors_device_keeps_its_library_through_copies_and_pickle(library):
    # Device's __reduce__ made a plain Device of it: xp.zeros(device=copy) made
    # NumPy arrays beside torch data (scikit-learn's clone deep-copies parameters)
    mod = pytest.importorskip(library)
    data = mod.asarray([1.0, 2.0]) if library != "jax" else mod.numpy.asarray([1.0, 2.0])
    t = xpgrad.tensor(data)
    for copied in (copy.copy(t.device), copy.deepcopy(t.device), pickle.loads(pickle.dumps(t.device))):
        assert copied == t.device and copied.library == t.device.library
        made = xpgrad.array_api.zeros(2, device=copied)
        assert type(made.data) is type(t.data)


def test_a_torch_tensors_gpu_device_needs_no_cupy():
    # the README's `with xpgrad.default_device(t.device):` for torch data asked CuPy
    # how many GPUs there are: torch users without CuPy got "cupy is not installed"
    torch = pytest.importorskip("torch")
    lines = run_python(
        "import sys, torch, xpgrad\n"
        "from xpgrad._device import ArrayDevice, Device\n"
        "d = ArrayDevice._on(Device('cuda:0'), 'torch', torch.device('cuda:0'))  # t.device\n"
        "with xpgrad.default_device(d) as got:\n"
        "    print(got, got.library)\n"
        "xpgrad.synchronize(d)  # torch has run nothing on a GPU: nothing to wait for\n"
        "print('cupy' in sys.modules)\n"
    )
    assert lines[:2] == ["cuda:0 torch", "False"]
    with pytest.raises(RuntimeError, match=r"default_device: device 'cuda:7' is not available "
                                           r"\(torch sees \d+ CUDA GPUs?\)"):
        xpgrad.default_device(torch.device("cuda:7")).__enter__()


def test_a_torch_device_makes_torch_arrays_of_numbers():
    # a library's device object makes that library's arrays (README): torch's made NumPy's
    torch = pytest.importorskip("torch")
    import xpgrad.array_api as xa

    assert type(xpgrad.tensor([1.0, 2.0], device=torch.device("cpu")).data) is torch.Tensor
    with xpgrad.default_device(torch.device("cpu")) as dev:
        assert dev == "cpu" and dev.library == "torch"
        for made in (xa.zeros(3), xa.asarray([1.0, 2.0]), xpgrad.tensor(2.0)):
            assert type(made.data) is torch.Tensor

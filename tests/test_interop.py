"""NumPy interop of the Tensor: numpy.asarray reads host data; NumPy functions
and ufuncs on Tensors raise a TypeError that says what to use instead."""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
from tests.support import backend_params


def test_asarray_reads_numpy_data_without_copying():
    data = np.arange(6.0).reshape(2, 3)
    t = xpgrad.tensor(data)
    out = np.asarray(t)
    assert out.shape == (2, 3) and out.dtype == np.float64
    assert np.shares_memory(out, data)
    np.testing.assert_array_equal(out, [[0, 1, 2], [3, 4, 5]])


def test_asarray_with_dtype_and_copy():
    data = np.arange(3.0)
    t = xpgrad.tensor(data)
    as32 = np.asarray(t, dtype=np.float32)
    assert as32.dtype == np.float32
    np.testing.assert_array_equal(as32, [0, 1, 2])
    copied = np.array(t, copy=True)
    copied[0] = 99.0
    assert data[0] == 0.0  # the tensor's data is untouched


def test_asarray_copy_false_needs_numpy_data():
    torch = pytest.importorskip("torch")
    t = xpgrad.tensor(torch.ones(2, dtype=torch.float64))
    np.testing.assert_array_equal(np.asarray(t), [1.0, 1.0])
    with pytest.raises(ValueError, match=r"Tensor.__array__: copy=False.*needs a copy"):
        np.asarray(t, copy=False)


@pytest.mark.parametrize("made", ["leaf", "result"])
def test_numpy_refuses_a_tensor_that_requires_grad(made):
    """NumPy's values of a tensor that requires grad carry no gradient: a library
    that falls back to numpy.asarray would return a gradient-free result, so the
    conversion raises (as torch's .numpy() does), and .detach() or no_grad()
    says that no gradient should flow."""
    x = xpgrad.tensor(np.arange(3.0), requires_grad=True)
    t = x if made == "leaf" else x * 2.0
    with pytest.raises(RuntimeError, match=r"Tensor.__array__: this tensor requires grad.*t\.detach\(\)"):
        np.asarray(t)
    with pytest.raises(RuntimeError, match="requires grad"):
        np.add(np.zeros(3), np.array(t))
    np.testing.assert_array_equal(np.asarray(t.detach()), np.asarray(t.data))
    with xpgrad.no_grad():
        np.testing.assert_array_equal(np.asarray(t), np.asarray(t.data))


def test_scipy_special_fallback_raises_instead_of_dropping_the_gradient():
    """scipy.special converts through NumPy a function xp.special lacks
    (ellipk; expit, which it has, dispatches there: test_array_api_special.py):
    with a tensor that requires grad, that is an error, not a result without a
    gradient."""
    special = pytest.importorskip("scipy.special")
    import xpgrad.array_api as xp

    assert not hasattr(xp.special, "ellipk")
    x = xpgrad.tensor(np.array([0.5, 0.2]), requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        special.ellipk(x)
    assert special.expit(x).requires_grad  # dispatched to xp.special.expit


@pytest.mark.parametrize("library", ["array_api_strict", "jax", "dask"])
def test_asarray_reads_other_host_libraries(library):
    if library == "array_api_strict":
        xs = pytest.importorskip("array_api_strict")
        data = xs.asarray([[1.0, 2.0], [3.0, 4.0]])
    elif library == "jax":
        jnp = pytest.importorskip("jax.numpy")
        data = jnp.asarray([[1.0, 2.0], [3.0, 4.0]])
    else:
        da = pytest.importorskip("dask.array")
        data = da.from_array(np.array([[1.0, 2.0], [3.0, 4.0]]), chunks=1)
    out = np.asarray(xpgrad.tensor(data))
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("backend", backend_params(("cupy",)), indirect=True)
def test_asarray_refuses_gpu_data(backend):
    t = xpgrad.tensor(backend.asarray(np.ones(2)))
    with pytest.raises(TypeError, match=r"Tensor.__array__: the data is on cuda:0.*t.numpy\(\)"):
        np.asarray(t)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda t: np.sum(t), "numpy.sum"),
        (lambda t: np.mean(t, axis=0), "numpy.mean"),
        (lambda t: np.concatenate([t, t]), "numpy.concatenate"),
        (lambda t: np.where(t.data > 0, t, 0.0), "numpy.where"),
    ],
    ids=["sum", "mean", "concatenate", "where"],
)
def test_numpy_functions_raise_a_clear_type_error(call, name):
    t = xpgrad.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    with pytest.raises(TypeError, match=rf"{name}: NumPy functions do not record gradients.*t\.detach\(\)\.numpy\(\)"):
        call(t)


def test_numpy_ufuncs_refuse_tensors_and_operators_defer():
    t = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    # NumPy's own message ("operand 'Tensor' does not support ufuncs") named
    # neither the function nor what to call instead
    with pytest.raises(TypeError, match=r"^exp: a NumPy or scipy\.special ufunc, which records no "
                                        r"gradient .* call xp\.exp\(\.\.\.\)"):
        np.exp(t)
    with pytest.raises(TypeError, match=r"^arctan2: .* call xp\.atan2\(\.\.\.\)"):
        np.arctan2(t, t)
    with pytest.raises(TypeError, match=r"^add\.reduce: .* call xpgrad\.array_api's functions"):
        np.add.reduce(t)
    special = pytest.importorskip("scipy.special")
    with pytest.raises(TypeError, match=r"^log_expit: .* call xp\.special\.log_expit\(\.\.\.\)"):
        special.log_expit(t)  # scipy does not dispatch it
    out = np.array([10.0, 20.0]) * t  # ndarray * Tensor is the Tensor's __rmul__
    assert isinstance(out, xpgrad.Tensor) and out.requires_grad
    out.sum().backward()
    np.testing.assert_array_equal(t.grad, [10.0, 20.0])
    a = np.array([1.5, 1.5])
    assert (a < t).data.tolist() == [False, True] and (np.float64(2.0) == t).data.tolist() == [False, True]
    with pytest.raises(TypeError, match=r"^add: NumPy would write a Tensor's values into an ndarray"):
        a += t  # ndarray's in-place form: a cannot hold the result, and its gradient
    with pytest.raises(TypeError, match=r"^multiply: NumPy would write"):
        np.multiply(a, t, out=a)
    assert a.tolist() == [1.5, 1.5]
    np.testing.assert_array_equal((np.eye(2) @ t).data, [1.0, 2.0])


def test_scipy_stats_quantile_on_torch_data_gets_torchs_gradient():
    # scipy moves its own constants with xp.asarray(p, device=x.device): they
    # stayed NumPy data next to torch's, and scipy refused the mix
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("scipy.stats")
    if not hasattr(st, "quantile"):
        pytest.skip("this scipy has no scipy.stats.quantile")
    torch.set_num_threads(1)
    h = np.random.default_rng(0).uniform(size=(3, 4))
    x = xpgrad.tensor(torch.asarray(h), requires_grad=True)
    q = st.quantile(x, 0.3, axis=-1)
    assert type(q.data) is torch.Tensor
    xpgrad.array_api.sum(q).backward()
    t = torch.tensor(h, requires_grad=True)
    torch.quantile(t, 0.3, dim=-1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_scipy_constants_beside_torch_data_under_the_tensor_s_default_device():
    # scipy's xp.asarray(0.5) made NumPy data beside torch's, refused with advice to
    # convert an array the caller never made; the message now names default_device
    torch = pytest.importorskip("torch")
    stats = pytest.importorskip("scipy.stats")
    values = [0.3, -1.2, 0.8, 2.0, -0.5]
    t = xpgrad.tensor(torch.tensor(values, dtype=torch.float64), requires_grad=True)
    with pytest.raises(TypeError, match=r"with xpgrad.default_device\(t.device\)"):
        stats.moment(t, 2, center=0.5)
    with xpgrad.default_device(t.device):
        m = stats.moment(t, 2, center=0.5)
    m.backward()
    want = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    ((want - 0.5) ** 2).mean().backward()
    assert type(t.grad) is torch.Tensor
    np.testing.assert_allclose(t.grad.numpy(), want.grad.numpy())


def test_an_nn_parameter_is_detached_when_wrapped_and_by_asarray():
    # the check read type(data).__module__ == "torch", and a Parameter's is
    # torch.nn.parameter: torch recorded every step too, its graph chaining each
    # new p.data back through all earlier ones (memory grew by 7 MB a step)
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    w = xpgrad.tensor(param, requires_grad=True)
    assert w.requires_grad and not w.data.requires_grad
    c = xpgrad.array_api.asarray(param)
    assert not c.requires_grad and not c.data.requires_grad
    opt = xpgrad.optim.SGD([w], lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        xpgrad.array_api.sum(w * w).backward()
        opt.step()
    assert w.data.grad_fn is None and not w.data.requires_grad
    np.testing.assert_allclose(w.data.numpy(), 0.64)  # w - 0.1 * 2w, twice


def test_numpy_constants_follow_the_tensor_s_default_device():
    # scipy.differentiate makes its weights with NumPy and converts them with
    # xp.asarray(ndarray): under default_device(t.device) they stayed NumPy, beside
    # torch data, where array_api_compat.torch.asarray makes them torch's
    torch = pytest.importorskip("torch")
    differentiate = pytest.importorskip("scipy.differentiate")
    xp = xpgrad.array_api
    t = xpgrad.tensor(torch.tensor([0.7, 1.3], dtype=torch.float64), requires_grad=True)
    with xpgrad.default_device(t.device):
        for v in (np.ones(2), np.array(2.0), np.float64(2.0)):
            assert type(xp.asarray(v).data) is torch.Tensor
        x = xpgrad.tensor(torch.tensor([0.5, 1.0], dtype=torch.float64))
        d = differentiate.derivative(lambda x, a: xp.sin(a * x), x, args=(t,))
    xp.sum(d.df).backward()
    a = torch.tensor([0.7, 1.3], dtype=torch.float64, requires_grad=True)
    xs = torch.tensor([0.5, 1.0], dtype=torch.float64)
    (xs * torch.cos(a * xs)).sum().backward()  # d/da of d/dx sin(a x) = cos(a x) - a x sin(a x)
    np.testing.assert_allclose(t.grad.numpy(),
                               (torch.cos(a * xs) - a * xs * torch.sin(a * xs)).detach().numpy(),
                               rtol=1e-7)
    assert type(xp.asarray(np.ones(2)).data) is np.ndarray  # outside it, NumPy's stays NumPy's


def test_a_metrics_float_made_a_tensor_again_is_refused():
    # xp.asarray(mean_squared_error(y, p)): the float carries no gradient, and the
    # loss made of it had a gradient of 0, silently (the bare float was refused)
    xp = xpgrad.array_api
    p = xpgrad.tensor(np.array([0.0, 1.0]), requires_grad=True)
    mse = float(xp.mean((p - 1.0) ** 2))
    with pytest.raises(TypeError, match=r"^asarray: an operand is 0.5, a Python number read out"):
        xp.asarray(mse)
    with pytest.raises(TypeError, match=r"^full: an operand is 0.5, a Python number read out"):
        xp.full((), mse)
    with pytest.raises(TypeError, match=r"^tensor: an operand is 0.5, a Python number read out"):
        xpgrad.tensor(mse)
    assert xpgrad.tensor(mse, requires_grad=True).requires_grad  # a new leaf, as asked
    with xpgrad.no_grad():
        assert float(xp.asarray(mse)) == 0.5  # for logging: fine
    assert float(xp.asarray(float(p.detach()[0]))) == 0.0


def test_a_tensor_that_requires_grad_made_a_tensor_again_is_refused():
    # xpgrad.tensor(t) took t's values and dropped its graph: inside grad, 0 for [2, 4]
    xp = xpgrad.array_api
    with pytest.raises(TypeError, match=r"^tensor: data is a Tensor that requires grad"):
        xpgrad.grad(lambda v: xp.sum(xpgrad.tensor(v) ** 2))(np.array([1.0, 2.0]))
    p = xpgrad.tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert xpgrad.tensor(p, requires_grad=True).is_leaf  # a new leaf, as asked
    assert not xpgrad.tensor(p.detach()).requires_grad
    with xpgrad.no_grad():
        assert not xpgrad.tensor(p).requires_grad

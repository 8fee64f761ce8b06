"""xpgrad.optim against torch.optim: the same loss from the same start takes
the same steps (float64, to round-off) on every backend; zero_grad; errors.

The reference is torch.optim's single-tensor path (foreach=False) on torch
float64 tensors, with the loss written again in torch, so nothing here
computes an expected value with xpgrad.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpgrad
from xpgrad.optim import SGD, Adam, AdamW
from tests.subsets import backend_cases
from tests.support import dtype_name, host, rel_err, same_library

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

STEPS = 8

# id -> (optimizer name, keyword arguments). Each flag gets a case of its own,
# with values that make its term matter within STEPS steps.
CASES = {
    "sgd": ("SGD", dict(lr=0.05)),
    "sgd-momentum": ("SGD", dict(lr=0.05, momentum=0.9)),
    "sgd-dampening": ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    "sgd-nesterov": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    "sgd-weight_decay": ("SGD", dict(lr=0.05, momentum=0.5, weight_decay=0.3)),
    "sgd-maximize": ("SGD", dict(lr=0.02, momentum=0.9, maximize=True)),
    "adam": ("Adam", dict(lr=0.1)),
    "adam-betas-eps": ("Adam", dict(lr=0.1, betas=(0.7, 0.9), eps=1e-2)),
    "adam-amsgrad": ("Adam", dict(lr=0.1, betas=(0.9, 0.5), amsgrad=True)),
    "adam-weight_decay": ("Adam", dict(lr=0.1, weight_decay=0.3)),
    "adam-maximize": ("Adam", dict(lr=0.1, maximize=True)),
    "adamw": ("AdamW", dict(lr=0.1)),
    "adamw-weight_decay-amsgrad": ("AdamW", dict(lr=0.1, weight_decay=0.5, betas=(0.9, 0.5), amsgrad=True)),
}


# The update rules are one generic code path; what JAX adds is the out-of-place
# update of its immutable arrays, so it takes a stateless case and the cases
# with the most state (momentum buffers, both Adam moments, amsgrad's max).
JAX_CASES = ("sgd", "sgd-nesterov", "adam-amsgrad", "adamw-weight_decay-amsgrad")
FLOAT32_CASES = ("sgd-nesterov", "adam-amsgrad", "adamw-weight_decay-amsgrad")


def _start(rng):
    """Host arrays of a small least-squares problem and its starting point."""
    return {
        "X": rng.standard_normal((6, 3)),
        "Y": rng.standard_normal((6, 2)),
        "w": rng.standard_normal((3, 2)),
        "b": rng.standard_normal(2),
        "unused": rng.standard_normal(4),  # never in the loss: its grad stays None
    }


def _loss(X, Y, w, b):
    # The same expression for xpgrad Tensors and torch tensors.
    r = X @ w + b - Y
    return (r**2).mean() + 0.1 * (w**4).sum()


def _torch_trajectory(start, name, kwargs, dtype=torch.float64):
    X, Y = (torch.tensor(start[k], dtype=dtype) for k in ("X", "Y"))
    params = [torch.tensor(start[k], dtype=dtype, requires_grad=True) for k in ("w", "b", "unused")]
    opt = getattr(torch.optim, name)(params, foreach=False, **kwargs)
    path = []
    for _ in range(STEPS):
        opt.zero_grad()
        _loss(X, Y, params[0], params[1]).backward()
        opt.step()
        path.append([p.detach().numpy().copy() for p in params])
    return path, opt


def _xpgrad_run(backend, start, name, kwargs, dtype="float64"):
    X, Y = (xpgrad.tensor(backend.asarray(start[k], dtype)) for k in ("X", "Y"))
    params = [
        xpgrad.tensor(backend.asarray(start[k], dtype), requires_grad=True)
        for k in ("w", "b", "unused")
    ]
    opt = getattr(xpgrad.optim, name)(params, **kwargs)
    path = []
    for _ in range(STEPS):
        opt.zero_grad()
        _loss(X, Y, params[0], params[1]).backward()
        opt.step()
        path.append([host(p.data).copy() for p in params])
    return params, path, opt


@pytest.mark.parametrize("backend, case", backend_cases(list(CASES), list(CASES), jax=JAX_CASES), indirect=["backend"])
def test_trajectory_matches_torch_optim(backend, case, rng):
    name, kwargs = CASES[case]
    start = _start(rng)
    params, path, opt = _xpgrad_run(backend, start, name, kwargs)
    expected, _ = _torch_trajectory(start, name, kwargs)
    for k in range(STEPS):
        for which, got, want in zip(("w", "b", "unused"), path[k], expected[k]):
            err = rel_err(got, want)
            assert err <= 1e-12, f"step {k + 1}, {which}: rel err {err:.2e}"
    # The params stayed the same leaf tensors, of their library, and moved.
    ref = backend.asarray(start["w"])
    for p in params:
        assert p.is_leaf and p.requires_grad
        assert same_library(p.data, ref) and dtype_name(p.data) == "float64"
    assert not np.allclose(host(params[0].data), start["w"])
    # The state is kept in the params' own arrays; the unused one has none.
    assert params[2] not in opt.state
    assert (params[0] in opt.state) == (case != "sgd")  # plain SGD keeps no state
    for key, value in opt.state.get(params[0], {}).items():
        if key != "step":
            assert same_library(value, ref), key
            assert tuple(value.shape) == (3, 2), key


@pytest.mark.parametrize(
    "backend, case", backend_cases(FLOAT32_CASES, FLOAT32_CASES, jax=("adam-amsgrad",)), indirect=["backend"]
)
def test_float32_params_stay_float32(backend, case, rng):
    name, kwargs = CASES[case]
    start = _start(rng)
    params, path, opt = _xpgrad_run(backend, start, name, kwargs, dtype="float32")
    expected, _ = _torch_trajectory(start, name, kwargs, dtype=torch.float32)
    for got, want in zip(path[-1], expected[-1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for p in params:
        assert dtype_name(p.data) == "float32"
    for key, value in opt.state[params[0]].items():
        if key != "step":
            assert dtype_name(value) == "float32", key


def test_the_flagged_cases_differ_from_the_plain_ones(rng):
    """Each case's flag changes the trajectory (so its case can catch a bug in it)."""
    start = _start(rng)
    final = {case: _torch_trajectory(start, *CASES[case])[0][-1][0] for case in CASES}
    plain = {"SGD": final["sgd"], "Adam": final["adam"], "AdamW": final["adamw"]}
    for case, (name, _) in CASES.items():
        if case not in ("sgd", "adam", "adamw"):
            assert not np.allclose(final[case], plain[name], rtol=1e-6), case
    # amsgrad: the running maximum is above the current second moment somewhere.
    _, opt = _torch_trajectory(start, *CASES["adam-amsgrad"])
    state = next(iter(opt.state.values()))
    assert bool((state["max_exp_avg_sq"] > state["exp_avg_sq"]).any())


def test_amsgrad_changes_the_adam_trajectory(rng):
    start = _start(rng)
    name, kwargs = CASES["adam-amsgrad"]
    without = dict(kwargs, amsgrad=False)
    a = _torch_trajectory(start, name, kwargs)[0][-1][0]
    b = _torch_trajectory(start, name, without)[0][-1][0]
    assert not np.allclose(a, b, rtol=1e-9)


def test_sgd_steps_by_hand():
    # w = 2, loss = w**2 (g = 2w), lr 0.25, momentum 0.5, dampening 0.5:
    # step 1: b = g = 4, w = 2 - 1 = 1; step 2: g = 2, b = 0.5*4 + 0.5*2 = 3, w = 1 - 0.75
    w = xpgrad.tensor([2.0], requires_grad=True)
    opt = SGD([w], lr=0.25, momentum=0.5, dampening=0.5)
    for want in (1.0, 0.25):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        assert float(w.data[0]) == want


def test_adamw_decay_by_hand():
    # A zero gradient leaves only the decoupled decay: w * (1 - lr * wd) per step.
    w = xpgrad.tensor([2.0, -4.0], requires_grad=True)
    opt = AdamW([w], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        opt.zero_grad()
        (w * 0.0).sum().backward()
        opt.step()
    np.testing.assert_allclose(w.data, np.array([2.0, -4.0]) * 0.95**3, rtol=1e-15)


# -- zero_grad ------------------------------------------------------------------


def test_zero_grad_sets_none_by_default(backend):
    w = xpgrad.tensor(backend.asarray([1.0, 2.0]), requires_grad=True)
    opt = Adam([w])
    (w * w).sum().backward()
    assert w.grad is not None
    opt.zero_grad()
    assert w.grad is None


def test_zero_grad_to_zeros_keeps_library_and_dtype(backend):
    w = xpgrad.tensor(backend.asarray([1.0, 2.0], "float32"), requires_grad=True)
    unused = xpgrad.tensor(backend.asarray([1.0]), requires_grad=True)
    opt = SGD([w, unused], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert same_library(w.grad, w.data) and dtype_name(w.grad) == "float32"
    np.testing.assert_array_equal(host(w.grad), [0.0, 0.0])
    assert unused.grad is None  # no gradient yet: stays None, as in torch
    (w * w).sum().backward()  # the next backward accumulates onto the zeros
    np.testing.assert_array_equal(host(w.grad), [2.0, 4.0])


def test_without_zero_grad_gradients_accumulate_into_the_step():
    w = xpgrad.tensor([1.0], requires_grad=True)
    opt = SGD([w], lr=0.1)
    (w * w).sum().backward()
    (w * w).sum().backward()  # grad 2 + 2 = 4
    opt.step()
    assert float(w.data[0]) == pytest.approx(0.6, rel=1e-15)


def test_step_skips_params_without_grad():
    w = xpgrad.tensor([1.0], requires_grad=True)
    opt = Adam([w], lr=0.1, weight_decay=0.5)
    opt.step()  # no backward yet: nothing moves, even with weight decay
    assert float(w.data[0]) == 1.0 and w not in opt.state


# -- errors ---------------------------------------------------------------------


def _w():
    return xpgrad.tensor([1.0, 2.0], requires_grad=True)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW], ids=lambda c: c.__name__)
def test_refuses_what_is_not_a_list_of_trainable_tensors(cls):
    w = _w()
    with pytest.raises(TypeError, match=rf"{cls.__name__}: params must be an iterable"):
        cls(w, lr=0.1)
    with pytest.raises(TypeError, match=rf"{cls.__name__}: params\[1\] is a numpy.ndarray"):
        cls([w, np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match=rf"{cls.__name__}: params\[1\] does not require grad"):
        cls([w, xpgrad.tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: params is empty"):
        cls([], lr=0.1)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: params\[0\] was computed by an op"):
        cls([w * 2.0], lr=0.1)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: params\[1\] is listed twice"):
        cls([w, w], lr=0.1)


@pytest.mark.parametrize(
    "cls, kwargs, error, match",
    [
        (SGD, dict(lr=-0.1), ValueError, r"SGD: lr must be >= 0; got -0.1"),
        (SGD, dict(lr=float("nan")), ValueError, r"SGD: lr must be >= 0; got nan"),
        (SGD, dict(lr="0.1"), TypeError, r"SGD: lr must be a real number; got a str"),
        (SGD, dict(lr=True), TypeError, r"SGD: lr must be a real number; got a bool"),
        (SGD, dict(lr=0.1, momentum=-0.9), ValueError, r"SGD: momentum must be >= 0"),
        (SGD, dict(lr=0.1, dampening=-1), ValueError, r"SGD: dampening must be >= 0"),
        (SGD, dict(lr=0.1, weight_decay=-1), ValueError, r"SGD: weight_decay must be >= 0"),
        (SGD, dict(lr=0.1, nesterov=True), ValueError, r"SGD: nesterov=True needs momentum > 0"),
        (SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
         r"SGD: nesterov=True needs .* dampening == 0"),
        (Adam, dict(lr=-1e-3), ValueError, r"Adam: lr must be >= 0"),
        (Adam, dict(eps=-1e-8), ValueError, r"Adam: eps must be >= 0"),
        (Adam, dict(betas=(1.0, 0.999)), ValueError, r"Adam: betas\[0\] must be in \[0, 1\); got 1.0"),
        (Adam, dict(betas=(0.9, -0.1)), ValueError, r"Adam: betas\[1\] must be in \[0, 1\)"),
        (Adam, dict(betas=0.9), TypeError, r"Adam: betas must be a pair"),
        (Adam, dict(weight_decay=-0.1), ValueError, r"Adam: weight_decay must be >= 0"),
        (AdamW, dict(lr=-1.0), ValueError, r"AdamW: lr must be >= 0"),
        (AdamW, dict(betas=(0.9, 1.5)), ValueError, r"AdamW: betas\[1\] must be in \[0, 1\)"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_refuses_bad_hyperparameters(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls([_w()], **kwargs)


def test_refuses_a_gradient_of_the_wrong_shape_or_library():
    w = _w()
    opt = Adam([w])
    w.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"Adam.step: params\[0\].grad has shape \(3,\)"):
        opt.step()
    w.grad = torch.ones(2, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"Adam.step: .*different array libraries"):
        opt.step()
    assert w not in opt.state

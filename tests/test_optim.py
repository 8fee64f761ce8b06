"""xpgrad.optim against torch.optim: the same loss from the same start takes
the same steps (float64, to round-off) on every backend, with and without a
learning-rate scheduler, on real and complex parameters; dtypes; zero_grad;
errors.

The reference is torch.optim's single-tensor path (foreach=False) on torch
float64 tensors, with the loss written again in torch, so nothing here
computes an expected value with xpgrad. State dicts and param groups are in
test_optim_state.py, the schedulers on their own in test_lr_scheduler.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpgrad
from tests.subsets import backend_cases
from tests.support import backend_params, dtype_name, host, rel_err, same_library
from xpgrad.optim import SGD, Adam, AdamW

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

STEPS = 20

# id -> (optimizer name, keyword arguments). Each flag gets a case of its own,
# with values that make its term matter within STEPS steps.
CASES = {
    "sgd": ("SGD", dict(lr=0.05)),
    "sgd-default-lr": ("SGD", dict()),  # torch 2.x's lr=1e-3
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

# id -> (scheduler name, keyword arguments), with the same arguments for
# torch.optim.lr_scheduler. Over STEPS epochs each formula's branches run:
# StepLR's decays, CosineAnnealingLR past T_max (its bottom and climb back),
# LinearLR past total_iters.
SCHEDULERS = {
    "step": ("StepLR", dict(step_size=3, gamma=0.5)),
    "exponential": ("ExponentialLR", dict(gamma=0.85)),
    "cosine": ("CosineAnnealingLR", dict(T_max=7, eta_min=0.004)),
    "linear": ("LinearLR", dict(start_factor=0.25, end_factor=0.9, total_iters=6)),
    "lambda": ("LambdaLR", dict(lr_lambda=lambda epoch: 1.0 / (1.0 + 0.5 * epoch))),
}
SCHEDULED_CASES = ("sgd-nesterov", "sgd-weight_decay", "adam-amsgrad", "adamw")


def _start(rng, complex_=False):
    """Host arrays of a small least-squares problem and its starting point."""
    shapes = {"X": (6, 3), "Y": (6, 2), "w": (3, 2), "b": (2,), "unused": (4,)}
    out = {}
    for k, shape in shapes.items():
        out[k] = rng.standard_normal(shape)
        if complex_:
            out[k] = out[k] + 1j * rng.standard_normal(shape)
    return out  # "unused" is never in the loss: its grad stays None


def _loss(X, Y, w, b, sign=1.0):
    # The same expression for xpgrad Tensors and torch tensors. The maximize
    # cases ascend its negative (ascending it would diverge).
    r = X @ w + b - Y
    return sign * ((r**2).mean() + 0.1 * (w**4).sum())


def _sign(kwargs):
    return -1.0 if kwargs.get("maximize") else 1.0


def _torch_trajectory(start, name, kwargs, dtype=torch.float64, sched=None, steps=STEPS, sign=None):
    X, Y = (torch.tensor(start[k], dtype=dtype) for k in ("X", "Y"))
    params = [torch.tensor(start[k], dtype=dtype, requires_grad=True) for k in ("w", "b", "unused")]
    opt = getattr(torch.optim, name)(params, foreach=False, **kwargs)
    scheduler = None
    if sched is not None:
        scheduler = getattr(torch.optim.lr_scheduler, sched[0])(opt, **sched[1])
    path, lrs = [], []
    for _ in range(steps):
        opt.zero_grad()
        _loss(X, Y, params[0], params[1], _sign(kwargs) if sign is None else sign).backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        path.append([p.detach().numpy().copy() for p in params])
        lrs.append(opt.param_groups[0]["lr"])
    return path, opt, lrs


def _xpgrad_run(backend, start, name, kwargs, dtype="float64", sched=None, steps=STEPS):
    X, Y = (xpgrad.tensor(backend.asarray(start[k], dtype)) for k in ("X", "Y"))
    params = [
        xpgrad.tensor(backend.asarray(start[k], dtype), requires_grad=True)
        for k in ("w", "b", "unused")
    ]
    opt = getattr(xpgrad.optim, name)(params, **kwargs)
    scheduler = None
    if sched is not None:
        scheduler = getattr(xpgrad.optim, sched[0])(opt, **sched[1])
    path, lrs = [], []
    for _ in range(steps):
        opt.zero_grad()
        _loss(X, Y, params[0], params[1], _sign(kwargs)).backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        path.append([host(p.data).copy() for p in params])
        lrs.append(opt.param_groups[0]["lr"])
    return params, path, opt, lrs


def _assert_same_path(path, expected, tol=1e-12):
    for k, (got_step, want_step) in enumerate(zip(path, expected, strict=True)):
        for which, got, want in zip(("w", "b", "unused"), got_step, want_step):
            err = rel_err(got, want)
            assert err <= tol, f"step {k + 1}, {which}: rel err {err:.2e}"


@pytest.mark.parametrize("backend, case", backend_cases(list(CASES), list(CASES), jax=JAX_CASES), indirect=["backend"])
def test_trajectory_matches_torch_optim(backend, case, rng):
    name, kwargs = CASES[case]
    start = _start(rng)
    params, path, opt, _ = _xpgrad_run(backend, start, name, kwargs)
    expected, _, _ = _torch_trajectory(start, name, kwargs)
    _assert_same_path(path, expected)
    # The params stayed the same leaf tensors, of their library, and moved.
    ref = backend.asarray(start["w"])
    for p in params:
        assert p.is_leaf and p.requires_grad
        assert same_library(p.data, ref) and dtype_name(p.data) == "float64"
    assert not np.allclose(host(params[0].data), start["w"])
    # The state is kept in the params' own arrays; the unused one has none.
    assert params[2] not in opt.state
    assert (params[0] in opt.state) == (name != "SGD" or kwargs.get("momentum", 0) != 0)
    for key, value in opt.state.get(params[0], {}).items():
        if key != "step":
            assert same_library(value, ref), key
            assert tuple(value.shape) == (3, 2), key


def _scheduled_cases():
    table = [(case, s) for case in SCHEDULED_CASES for s in SCHEDULERS]
    ids = [f"{case}-{s}" for case, s in table]
    # Schedulers only change the groups' Python floats: every pairing on NumPy,
    # one optimizer per scheduler on the others, one pairing on JAX.
    others = [f"{SCHEDULED_CASES[i % len(SCHEDULED_CASES)]}-{s}" for i, s in enumerate(SCHEDULERS)]
    return backend_cases(table, ids, array_api_strict=others, torch=others, jax=["adam-amsgrad-cosine"])


@pytest.mark.parametrize("backend, case, sched", _scheduled_cases(), indirect=["backend"])
def test_trajectory_with_a_scheduler_matches_torch(backend, case, sched, rng):
    name, kwargs = CASES[case]
    start = _start(rng)
    _, path, _, lrs = _xpgrad_run(backend, start, name, kwargs, sched=SCHEDULERS[sched])
    expected, _, want_lrs = _torch_trajectory(start, name, kwargs, sched=SCHEDULERS[sched])
    assert lrs == want_lrs  # the same formulas on the same floats
    assert len(set(lrs)) > 3  # the schedule moved the rate
    _assert_same_path(path, expected)


@pytest.mark.parametrize(
    "backend, case", backend_cases(FLOAT32_CASES, FLOAT32_CASES, jax=("adam-amsgrad",)), indirect=["backend"]
)
def test_float32_params_stay_float32(backend, case, rng):
    name, kwargs = CASES[case]
    start = _start(rng)
    params, path, opt, _ = _xpgrad_run(backend, start, name, kwargs, dtype="float32")
    expected, _, _ = _torch_trajectory(start, name, kwargs, dtype=torch.float32)
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
    for case, (name, kwargs) in CASES.items():
        if kwargs.get("maximize"):
            # It ascends the negated loss, as the plain case descends the loss:
            # on the same loss, the flag alone changes the path.
            other = _torch_trajectory(start, name, dict(kwargs, maximize=False), sign=-1.0)[0][-1][0]
            assert not np.allclose(final[case], other, rtol=1e-6), case
        elif case not in ("sgd", "adam", "adamw"):
            assert not np.allclose(final[case], plain[name], rtol=1e-6), case
    # amsgrad: the running maximum is above the current second moment somewhere.
    _, opt, _ = _torch_trajectory(start, *CASES["adam-amsgrad"])
    state = next(iter(opt.state.values()))
    assert bool((state["max_exp_avg_sq"] > state["exp_avg_sq"]).any())
    # Each schedule changes the trajectory too.
    name, kwargs = CASES["adam-amsgrad"]
    for sched in SCHEDULERS.values():
        scheduled = _torch_trajectory(start, name, kwargs, sched=sched)[0][-1][0]
        assert not np.allclose(scheduled, final["adam-amsgrad"], rtol=1e-6), sched[0]


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


@pytest.mark.parametrize(
    "cls, torch_cls", [(SGD, "SGD"), (Adam, "Adam"), (AdamW, "AdamW")], ids=["SGD", "Adam", "AdamW"]
)
def test_defaults_are_torchs(cls, torch_cls):
    opt = cls([xpgrad.tensor([1.0], requires_grad=True)])  # SGD too: lr defaults to 1e-3
    ref = getattr(torch.optim, torch_cls)([torch.zeros(1, requires_grad=True)])
    assert set(opt.defaults) <= set(ref.defaults)
    for key, value in opt.defaults.items():
        assert value == ref.defaults[key], key
    assert opt.param_groups[0]["lr"] == 1e-3


# -- complex parameters ------------------------------------------------------

# torch takes a complex parameter as (real, imag) pairs: Adam's second moment
# and its maximum hold re(g)**2 and im(g)**2, not |g|**2 nor g*g.
COMPLEX_CASES = {
    "sgd-momentum": ("SGD", dict(lr=0.02, momentum=0.9, weight_decay=0.1)),
    "sgd-nesterov-maximize": ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True, maximize=True)),
    "adam": ("Adam", dict(lr=0.05)),
    "adam-amsgrad-weight_decay": ("Adam", dict(lr=0.05, betas=(0.8, 0.9), amsgrad=True, weight_decay=0.2)),
    "adamw-amsgrad-maximize": ("AdamW", dict(lr=0.05, betas=(0.8, 0.9), amsgrad=True, maximize=True)),
}


def _complex_loss(xp, X, Y, w, b, sign):
    # A real loss of complex tensors, in each library's Array API namespace.
    r = X @ w + b - Y
    return sign * (xp.sum(xp.real(r * xp.conj(r))) / 12 + 0.1 * xp.sum(xp.abs(w) ** 3))


def _complex_rel_err(a, b) -> float:
    a, b = host(a).astype(np.complex128), np.asarray(b, dtype=np.complex128)
    return float(np.linalg.norm((a - b).ravel()) / np.linalg.norm(b.ravel()))


def _complex_runs(backend, start, name, kwargs, steps=12):
    from array_api_compat import torch as ctorch

    tX, tY = (torch.tensor(start[k]) for k in ("X", "Y"))
    tp = [torch.tensor(start[k], requires_grad=True) for k in ("w", "b")]
    topt = getattr(torch.optim, name)(tp, foreach=False, **kwargs)
    X, Y = (xpgrad.tensor(backend.asarray(start[k])) for k in ("X", "Y"))
    xp_params = [xpgrad.tensor(backend.asarray(start[k]), requires_grad=True) for k in ("w", "b")]
    opt = getattr(xpgrad.optim, name)(xp_params, **kwargs)
    sign = _sign(kwargs)
    for k in range(steps):
        topt.zero_grad()
        _complex_loss(ctorch, tX, tY, *tp, sign).backward()
        topt.step()
        opt.zero_grad()
        _complex_loss(xpgrad.array_api, X, Y, *xp_params, sign).backward()
        opt.step()
        for which, p, q in zip("wb", xp_params, tp):
            err = _complex_rel_err(p.data, q.detach().numpy())
            assert err <= 1e-12, f"step {k + 1}, {which}: rel err {err:.2e}"
    return xp_params, opt, tp, topt


@pytest.mark.parametrize(
    "backend, case",
    # JAX would compile every op again for complex128 (seconds) for the same
    # generic code path as the others'.
    backend_cases(list(COMPLEX_CASES), list(COMPLEX_CASES), jax=(),
                  array_api_strict=("sgd-momentum", "adam-amsgrad-weight_decay")),
    indirect=["backend"],
)
def test_complex_parameters_match_torch(backend, case, rng):
    name, kwargs = COMPLEX_CASES[case]
    start = _start(rng, complex_=True)
    params, opt, tparams, topt = _complex_runs(backend, start, name, kwargs)
    for p, q in zip(params, tparams):
        assert dtype_name(p.data) == "complex128"
        state, tstate = opt.state[p], topt.state[q]
        for key, value in state.items():
            if key == "step":
                assert value == int(tstate[key])
            else:
                assert dtype_name(value) == "complex128", key
                err = _complex_rel_err(value, tstate[key].numpy())
                assert err <= 1e-12, f"state {key}: rel err {err:.2e}"


def test_complex_adam_second_moment_is_per_part():
    # One step from zero state: v = (1 - beta2) * (re(g)**2 + 1j * im(g)**2).
    g = np.array([3.0 + 4.0j, -1.0 + 2.0j])
    w = xpgrad.tensor(np.array([1.0 + 1.0j, 0.5 - 2.0j]), requires_grad=True)
    opt = Adam([w], lr=0.1, betas=(0.9, 0.5))
    w.grad = g.copy()
    opt.step()
    v = opt.state[w]["exp_avg_sq"]
    np.testing.assert_array_equal(v, 0.5 * (g.real**2 + 1j * g.imag**2))
    # The first step moves each part by lr against the sign of its gradient.
    np.testing.assert_allclose(w.data, np.array([0.9 + 0.9j, 0.6 - 2.1j]), rtol=1e-9)


# -- gradients of another dtype, or as Tensors --------------------------------


def _grad_of_another_dtype(w, grad_host, grad_dtype):
    """Give ``w`` a gradient of ``grad_dtype``: Tensor.grad refuses one on
    assignment, so the data changes dtype after (as a user's code may do)."""
    keep = w.data
    w.data = keep.astype(grad_dtype)
    w.grad = grad_host.astype(grad_dtype)
    w.data = keep


@pytest.mark.parametrize("case", ["sgd-nesterov", "adam-amsgrad", "adamw-weight_decay-amsgrad"])
def test_a_float64_gradient_does_not_make_a_float32_parameter_float64(case, rng):
    name, kwargs = CASES[case]
    start = rng.standard_normal((3, 2))
    grads = [rng.standard_normal((3, 2)) for _ in range(4)]
    w = xpgrad.tensor(start.astype(np.float32), requires_grad=True)  # gets float64 grads
    ref = xpgrad.tensor(start.astype(np.float32), requires_grad=True)  # gets them as float32
    opt, ref_opt = getattr(xpgrad.optim, name)([w], **kwargs), getattr(xpgrad.optim, name)([ref], **kwargs)
    for g in grads:
        _grad_of_another_dtype(w, g, np.float64)
        ref.grad = g.astype(np.float32)
        opt.step()
        ref_opt.step()
        assert w.data.dtype == np.float32
        np.testing.assert_array_equal(w.data, ref.data)
    for key, value in opt.state[w].items():
        if key != "step":
            assert value.dtype == np.float32, key
            np.testing.assert_array_equal(value, ref_opt.state[ref][key])


def test_a_gradient_left_by_create_graph_steps_as_its_values():
    w = xpgrad.tensor([1.0, -2.0], requires_grad=True)
    ref = xpgrad.tensor([1.0, -2.0], requires_grad=True)
    opt, ref_opt = Adam([w], lr=0.1), Adam([ref], lr=0.1)
    (w**3).sum().backward(create_graph=True)
    assert isinstance(w.grad, xpgrad.Tensor)
    (ref**3).sum().backward()
    opt.step()
    ref_opt.step()
    assert type(w.data) is np.ndarray
    np.testing.assert_array_equal(w.data, ref.data)
    assert type(opt.state[w]["exp_avg"]) is np.ndarray


def test_step_calls_the_closure_and_returns_its_loss():
    w = xpgrad.tensor([1.0, -2.0], requires_grad=True)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.item()) == 5.0
    np.testing.assert_array_equal(w.data, [0.5, -1.0])
    assert opt.step() is None
    # inside no_grad too (an evaluation loop's step): the closure recorded no
    # graph and its backward raised; torch runs it under enable_grad, as now
    w.data = np.array([1.0, -2.0])
    with xpgrad.no_grad():
        loss = opt.step(closure)
        assert not xpgrad.is_grad_enabled()
    assert float(loss.item()) == 5.0
    np.testing.assert_array_equal(w.data, [0.5, -1.0])


def test_enable_grad_records_inside_no_grad_and_restores_it():
    w = xpgrad.tensor([1.0, 2.0], requires_grad=True)
    with xpgrad.no_grad():
        with xpgrad.enable_grad():
            y = w * 3.0
            assert xpgrad.is_grad_enabled()
        z = w * 3.0
    assert y.requires_grad and not z.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(w.grad, [3.0, 3.0])

    @xpgrad.enable_grad()
    def triple(t):
        return t * 3.0

    with xpgrad.no_grad():
        assert triple(w).requires_grad
    with pytest.raises(TypeError, match=r"^enable_grad\(\): as a decorator it takes a function"):
        xpgrad.enable_grad()(3)


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


def test_zero_grad_clears_every_group():
    w, b = (xpgrad.tensor([1.0], requires_grad=True) for _ in range(2))
    opt = SGD([{"params": [w]}, {"params": [b], "lr": 0.5}])
    (w * b).sum().backward()
    opt.zero_grad()
    assert w.grad is None and b.grad is None


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
    with pytest.raises(TypeError, match=rf"{cls.__name__}: params is a set"):
        cls({w}, lr=0.1)


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
    # Tensor.grad checks what is assigned; the data may still change after.
    w = _w()
    opt = Adam([w])
    w.grad = np.ones(2)
    w.data = np.ones(3)
    with pytest.raises(ValueError, match=r"Adam.step: params\[0\].grad has shape \(2,\), but the parameter has shape \(3,\)"):
        opt.step()
    w.data = torch.ones(2, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"Adam.step: .*different array libraries"):
        opt.step()
    assert w not in opt.state
    # In a second group, the message names the group.
    b = _w()
    opt = SGD([{"params": [_w()]}, {"params": [b]}], lr=0.1)
    b.grad = np.ones(2)
    b.data = np.ones((2, 1))
    with pytest.raises(ValueError, match=r"SGD.step: param_groups\[1\]\['params'\]\[0\].grad has shape"):
        opt.step()


@pytest.mark.parametrize("grad_dtype", [np.complex128, np.int64])
def test_refuses_a_gradient_of_another_kind(grad_dtype):
    w = _w()
    opt = SGD([w], lr=0.1)
    _grad_of_another_dtype(w, np.ones(2), grad_dtype)
    kind = np.dtype(grad_dtype).name
    with pytest.raises(TypeError, match=rf"SGD.step: params\[0\].grad has dtype {kind}, but the parameter has dtype float64"):
        opt.step()
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


@pytest.mark.parametrize("backend", backend_params(("numpy", "torch", "jax")), indirect=True)
def test_complex_adam_keeps_an_infinite_part_in_its_part(backend):
    # An infinite imaginary gradient (or one whose square overflows) makes the
    # imaginary moment infinite; rebuilding re + 1j * im multiplied it by 0 into
    # the real part, which became NaN (torch's (real, imag) pairs keep it finite).
    for g0 in (complex(1.0, np.inf), complex(1.0, 1e200)):
        p0 = np.array([0.5 + 0.25j])
        w = xpgrad.tensor(backend.asarray(p0.copy()), requires_grad=True)
        t = torch.tensor(p0.copy(), requires_grad=True)
        opt, topt = Adam([w], lr=0.1), torch.optim.Adam([t], lr=0.1, foreach=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow of 1e200 ** 2
            for g in (g0, 1.0 + 1.0j):
                w.grad = backend.asarray(np.array([g]))
                t.grad = torch.tensor([g], dtype=torch.complex128)
                opt.step()
                topt.step()
        got, want = host(w.data), t.detach().numpy()
        np.testing.assert_array_equal(got.real, want.real)  # 0.300000002, not NaN
        np.testing.assert_array_equal(np.isnan(got.imag), np.isnan(want.imag))
        v, tv = host(opt.state[w]["exp_avg_sq"]), topt.state[t]["exp_avg_sq"].numpy()
        np.testing.assert_array_equal(v, tv)  # 0.001999 + inf j


@pytest.mark.parametrize("cls, kwargs", [(Adam, dict(amsgrad=True)), (SGD, dict(momentum=0.9))])
def test_a_0d_parameters_state_holds_arrays(cls, kwargs):
    # NumPy's arithmetic on 0-d arrays gives scalars: the state was numpy.float64
    w = xpgrad.tensor(np.array(1.0), requires_grad=True)
    opt = cls([w], lr=0.1, **kwargs)
    for _ in range(2):
        opt.zero_grad()
        (w * w).backward()
        opt.step()
    arrays = {k: v for k, v in opt.state[w].items() if k != "step"}
    assert arrays and all(type(v) is np.ndarray and v.shape == () for v in arrays.values())
    assert type(w.data) is np.ndarray

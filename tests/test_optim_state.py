"""xpgrad.optim's param groups and state dicts.

- A run saved after 10 steps and loaded into a fresh optimizer (and
  scheduler) continues bit for bit as the original, on every backend; the
  state stays in the parameters' library, device and dtype, even when it was
  saved from another library.
- Param groups with options of their own, changed during the run and added
  with add_param_group, take torch.optim's steps.
- A state dict that does not fit is refused, and nothing changes.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import xpgrad
from tests.subsets import backend_cases
from tests.support import dtype_name, get_backend, host, rel_err, same_library
from xpgrad.optim import SGD, Adam, AdamW

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

# id -> (optimizer, its kwargs, scheduler, its kwargs)
ROUND_TRIPS = {
    "sgd-nesterov-step": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1), "StepLR", dict(step_size=4, gamma=0.5)),
    "adam-amsgrad-cosine": ("Adam", dict(lr=0.1, betas=(0.9, 0.5), amsgrad=True), "CosineAnnealingLR", dict(T_max=6)),
    "adamw-linear": ("AdamW", dict(lr=0.1, weight_decay=0.5), "LinearLR", dict(total_iters=12)),
}


def _problem(rng):
    return {
        "X": rng.standard_normal((6, 3)),
        "Y": rng.standard_normal((6, 2)),
        "w": rng.standard_normal((3, 2)),
        "b": rng.standard_normal(2),
    }


def _loss(X, Y, w, b):
    r = X @ w + b - Y
    return (r**2).mean() + 0.1 * (w**4).sum()


class _Run:
    """An xpgrad training run on one backend, which can be saved and resumed."""

    def __init__(self, backend, start, name, kwargs, sched=None, sched_kwargs=None, dtype="float64"):
        self.backend = backend
        self.X, self.Y = (xpgrad.tensor(backend.asarray(start[k], dtype)) for k in ("X", "Y"))
        self.params = [xpgrad.tensor(backend.asarray(start[k], dtype), requires_grad=True) for k in ("w", "b")]
        self.opt = getattr(xpgrad.optim, name)(self.params, **kwargs)
        self.sched = getattr(xpgrad.optim, sched)(self.opt, **sched_kwargs) if sched else None

    def steps(self, n):
        for _ in range(n):
            self.opt.zero_grad()
            _loss(self.X, self.Y, *self.params).backward()
            self.opt.step()
            if self.sched is not None:
                self.sched.step()

    def values(self):
        return [host(p.data).copy() for p in self.params]


@pytest.mark.parametrize(
    "backend, case",
    backend_cases(list(ROUND_TRIPS), list(ROUND_TRIPS), jax=("adam-amsgrad-cosine",)),
    indirect=["backend"],
)
def test_state_dict_round_trip_resumes_bit_for_bit(backend, case, rng):
    name, kwargs, sched, sched_kwargs = ROUND_TRIPS[case]
    start = _problem(rng)
    run = _Run(backend, start, name, kwargs, sched, sched_kwargs)
    run.steps(10)
    saved = {"optim": run.opt.state_dict(), "sched": run.sched.state_dict()}
    at_save = {k: host(v).copy() for k, v in saved["optim"]["state"][0].items() if k != "step"}
    now = dict(start, w=host(run.params[0].data), b=host(run.params[1].data))

    # A fresh run from the saved values, built with other options: the state
    # dicts bring back the saved ones.
    other = dict(kwargs, lr=0.5)
    resumed = _Run(backend, now, name, other, sched, sched_kwargs)
    resumed.opt.load_state_dict(saved["optim"])
    resumed.sched.load_state_dict(saved["sched"])
    assert resumed.opt.param_groups[0]["lr"] == run.opt.param_groups[0]["lr"] != 0.5
    assert resumed.sched.get_last_lr() == run.sched.get_last_lr()
    for key, value in saved["optim"]["state"][0].items():
        if key != "step":  # copies, not the saved arrays
            assert resumed.opt.state[resumed.params[0]][key] is not value, key

    run.steps(10)
    resumed.steps(10)
    for got, want in zip(resumed.values(), run.values()):
        np.testing.assert_array_equal(got, want)
    assert resumed.sched.get_last_lr() == run.sched.get_last_lr()
    assert resumed.opt.param_groups == [
        dict(g, params=h["params"]) for g, h in zip(run.opt.param_groups, resumed.opt.param_groups)
    ]
    # The state arrays are equal, of the params' library, and the loaded ones
    # are copies: the saved dict did not move while both runs went on.
    ref = backend.asarray(start["w"])
    for p, q in zip(resumed.params, run.params):
        mine, theirs = resumed.opt.state[p], run.opt.state[q]
        assert mine.keys() == theirs.keys()
        for key, value in mine.items():
            if key == "step":
                assert value == theirs[key] == 20
            else:
                assert same_library(value, ref) and dtype_name(value) == "float64", key
                np.testing.assert_array_equal(host(value), host(theirs[key]))
    for key, value in saved["optim"]["state"][0].items():
        if key != "step":
            np.testing.assert_array_equal(host(value), at_save[key])


def test_state_dict_layout_is_torchs(rng):
    # The same numbering of parameters, the same state keys and group options.
    start = _problem(rng)
    w, b, c = (xpgrad.tensor(start[k], requires_grad=True) for k in ("w", "b", "b"))
    tw, tb, tc = (torch.tensor(start[k], requires_grad=True) for k in ("w", "b", "b"))
    opt = Adam([{"params": [w, b], "amsgrad": True}, {"params": [c], "lr": 0.5}], lr=0.1)
    topt = torch.optim.Adam([{"params": [tw, tb], "amsgrad": True}, {"params": [tc], "lr": 0.5}], lr=0.1)
    for o, (x, y, z) in ((opt, (w, b, c)), (topt, (tw, tb, tc))):
        (x.sum() + (z * z).sum()).backward()  # b gets no gradient: no state
        o.step()
    mine, theirs = opt.state_dict(), topt.state_dict()
    assert mine["state"].keys() == theirs["state"].keys() == {0, 2}
    for i in (0, 2):
        assert mine["state"][i].keys() == theirs["state"][i].keys()
        assert mine["state"][i]["step"] == int(theirs["state"][i]["step"]) == 1
    for g, h in zip(mine["param_groups"], theirs["param_groups"], strict=True):
        assert g["params"] == h["params"]
        assert set(g) <= set(h)
        assert all(g[k] == h[k] for k in g), g


@pytest.mark.parametrize("target", ["torch", "jax", "array_api_strict"])
def test_a_state_saved_from_numpy_loads_into_another_library(target, rng):
    backend, why = get_backend(target)
    if backend is None:
        pytest.skip(why)
    numpy_backend, _ = get_backend("numpy")
    name, kwargs, sched, sched_kwargs = ROUND_TRIPS["adam-amsgrad-cosine"]
    start = _problem(rng)
    run = _Run(numpy_backend, start, name, kwargs, sched, sched_kwargs)
    run.steps(5)
    saved, sched_saved = run.opt.state_dict(), run.sched.state_dict()
    now = dict(start, w=run.values()[0], b=run.values()[1])
    # float32 params take the float64 state as float32 (JAX stays in float64:
    # it would compile every op again for float32, for the same code path).
    dtype = "float64" if target == "jax" else "float32"
    moved = _Run(backend, now, name, kwargs, sched, sched_kwargs, dtype=dtype)
    moved.opt.load_state_dict(saved)
    moved.sched.load_state_dict(sched_saved)
    ref = moved.params[0].data
    for p in moved.params:
        for key, value in moved.opt.state[p].items():
            if key != "step":
                # In the params' library and dtype (saved as NumPy float64).
                assert same_library(value, ref) and dtype_name(value) == dtype, key
    run.steps(5)
    moved.steps(5)
    for got, want in zip(moved.values(), run.values()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_loading_refuses_a_state_that_does_not_fit():
    w, b = xpgrad.tensor(np.ones((3, 2)), requires_grad=True), xpgrad.tensor(np.ones(2), requires_grad=True)
    opt = Adam([w, b], lr=0.1)
    (w.sum() + b.sum()).backward()
    opt.step()
    good = opt.state_dict()

    fresh_w = xpgrad.tensor(np.ones((3, 2)), requires_grad=True)
    fresh_b = xpgrad.tensor(np.ones(2), requires_grad=True)

    def check(cls, params, state_dict, error, match):
        o = cls(params, lr=0.3)
        before = (copy.deepcopy([{k: v for k, v in g.items() if k != "params"} for g in o.param_groups]), dict(o.state))
        with pytest.raises(error, match=match):
            o.load_state_dict(state_dict)
        after = ([{k: v for k, v in g.items() if k != "params"} for g in o.param_groups], dict(o.state))
        assert after == before  # nothing changed

    check(Adam, [fresh_w], good, ValueError,
          r"Adam.load_state_dict: param group 0 of the state dict has 2 parameter\(s\), but this optimizer's has 1")
    check(Adam, [{"params": [fresh_w]}, {"params": [fresh_b]}], good, ValueError,
          r"Adam.load_state_dict: the state dict has 1 param group\(s\), but this optimizer has 2")
    check(Adam, [fresh_b, fresh_w], good, ValueError,
          r"Adam.load_state_dict: state_dict\['state'\]\[0\]\['exp_avg'\] has shape \(3, 2\), but its parameter has shape \(2,\)")
    check(SGD, [fresh_w, fresh_b], good, ValueError,
          r"SGD.load_state_dict: state_dict\['state'\]\[0\] has exp_avg, exp_avg_sq, step; a SGD state has momentum_buffer")
    da = pytest.importorskip("dask.array")  # a chunked parameter: its chunks came first
    lazy_b = xpgrad.tensor(da.from_array(np.ones(2), chunks=1), requires_grad=True)
    lazy_w = xpgrad.tensor(da.from_array(np.ones((3, 2)), chunks=1), requires_grad=True)
    check(Adam, [lazy_b, lazy_w], good, ValueError,
          r"Adam.load_state_dict: state_dict\['state'\]\[0\]\['exp_avg'\] has shape \(3, 2\), but its parameter has shape \(2,\)")
    partial = copy.deepcopy(good)
    del partial["state"][0]["exp_avg_sq"]
    check(Adam, [fresh_w, fresh_b], partial, ValueError, r"Adam.load_state_dict: state_dict\['state'\]\[0\] lacks exp_avg_sq")
    bad_lr = copy.deepcopy(good)
    bad_lr["param_groups"][0]["lr"] = math.nan  # a negative rate loads, as in torch (see below)
    check(Adam, [fresh_w, fresh_b], bad_lr, ValueError,
          r"Adam.load_state_dict: state_dict\['param_groups'\]\[0\]\['lr'\] must be a number, not NaN")
    bad_beta = copy.deepcopy(good)
    bad_beta["param_groups"][0]["betas"] = (0.9, 1.5)
    check(Adam, [fresh_w, fresh_b], bad_beta, ValueError,
          r"Adam.load_state_dict: state_dict\['param_groups'\]\[0\]\['betas'\]\[1\] must be in \[0, 1\)")
    adamw = copy.deepcopy(good)
    adamw["param_groups"][0]["decoupled_weight_decay"] = True  # torch's Adam(decoupled_weight_decay=True)
    check(Adam, [fresh_w, fresh_b], adamw, ValueError,
          r"Adam.load_state_dict: state_dict\['param_groups'\]\[0\]\['decoupled_weight_decay'\] is "
          r"True, which is AdamW's weight decay; use xpgrad.optim.AdamW")
    stray = copy.deepcopy(good)
    stray["state"][7] = stray["state"][0]
    check(Adam, [fresh_w, fresh_b], stray, ValueError, r"Adam.load_state_dict: the state dict has state for parameter 7")
    check(Adam, [fresh_w, fresh_b], {"state": {}}, TypeError, r"Adam.load_state_dict: expected a dict with 'state' and 'param_groups'")
    bad_step = copy.deepcopy(good)
    bad_step["state"][0]["step"] = 1.5
    check(Adam, [fresh_w, fresh_b], bad_step, ValueError, r"\['step'\] must be a step count")


def test_a_torch_style_step_tensor_loads_as_a_count():
    w = xpgrad.tensor(np.ones(2), requires_grad=True)
    opt = Adam([w])
    opt.load_state_dict({
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": np.zeros(2), "exp_avg_sq": np.zeros(2)}},
        "param_groups": [dict(opt.defaults, params=[0])],
    })
    assert opt.state[w]["step"] == 3 and type(opt.state[w]["step"]) is int


# -- param groups -------------------------------------------------------------

# id -> (optimizer, defaults, groups as (param names, options)).
GROUPS = {
    "sgd": ("SGD", dict(lr=0.05, momentum=0.9), [
        (("w",), dict(nesterov=True, weight_decay=0.2)),
        (("b",), dict(lr=0.1, momentum=0.5, dampening=0.3, maximize=False)),
    ]),
    "adam": ("Adam", dict(lr=0.1), [
        (("w",), dict(betas=(0.8, 0.5), amsgrad=True)),
        (("b",), dict(lr=0.03, weight_decay=0.3, eps=1e-3)),
    ]),
    "adamw": ("AdamW", dict(lr=0.1, weight_decay=0.0), [
        (("w",), dict(weight_decay=0.5)),
        (("b",), dict(lr=0.2, amsgrad=True)),
    ]),
}


def _groups(spec, params):
    return [dict(options, params=[params[n] for n in names]) for names, options in spec]


def _grouped_runs(backend, start, case):
    """xpgrad and torch, the same groups; at step 6 each changes the first
    group's lr; at step 10 each adds a group with a third parameter, c."""
    name, defaults, spec = GROUPS[case]
    X, Y = (xpgrad.tensor(backend.asarray(start[k])) for k in ("X", "Y"))
    ps = {k: xpgrad.tensor(backend.asarray(start[k]), requires_grad=True) for k in ("w", "b", "c")}
    tX, tY = (torch.tensor(start[k]) for k in ("X", "Y"))
    ts = {k: torch.tensor(start[k], requires_grad=True) for k in ("w", "b", "c")}
    opt = getattr(xpgrad.optim, name)(_groups(spec, ps), **defaults)
    topt = getattr(torch.optim, name)(_groups(spec, ts), foreach=False, **defaults)
    for step in range(16):
        if step == 6:
            for o in (opt, topt):
                o.param_groups[0]["lr"] *= 0.5
        if step == 10:
            for o, p in ((opt, ps), (topt, ts)):
                o.add_param_group({"params": [p["c"]], "lr": 0.02})
        for o, p, x, y in ((opt, ps, X, Y), (topt, ts, tX, tY)):
            o.zero_grad()
            p["c"].grad = None
            (_loss(x, y, p["w"], p["b"]) + ((p["c"] - 1.0) ** 2).sum()).backward()
            o.step()
        for k in ("w", "b", "c"):
            err = rel_err(host(ps[k].data), ts[k].detach().numpy())
            assert err <= 1e-12, f"step {step + 1}, {k}: rel err {err:.2e}"
    return opt, topt


@pytest.mark.parametrize("backend, case", backend_cases(list(GROUPS), list(GROUPS), jax=("adam",)), indirect=["backend"])
def test_param_groups_match_torch(backend, case, rng):
    start = dict(_problem(rng), c=rng.standard_normal(3))
    opt, topt = _grouped_runs(backend, start, case)
    assert len(opt.param_groups) == len(topt.param_groups) == 3
    for g, h in zip(opt.param_groups, topt.param_groups):
        for key, value in g.items():
            if key != "params":
                assert value == h[key], key
    # Per-group options took effect: the same run with one group differs.
    name, defaults, _ = GROUPS[case]
    X, Y = (torch.tensor(start[k]) for k in ("X", "Y"))
    w, b = (torch.tensor(start[k], requires_grad=True) for k in ("w", "b"))
    plain = getattr(torch.optim, name)([w, b], foreach=False, **defaults)
    for _ in range(16):
        plain.zero_grad()
        _loss(X, Y, w, b).backward()
        plain.step()
    assert not np.allclose(w.detach().numpy(), topt.param_groups[0]["params"][0].detach().numpy(), rtol=1e-6)
    assert not np.allclose(b.detach().numpy(), topt.param_groups[1]["params"][0].detach().numpy(), rtol=1e-6)


def test_groups_take_the_constructors_defaults():
    w, b = (xpgrad.tensor([1.0], requires_grad=True) for _ in range(2))
    opt = Adam([{"params": w}, {"params": [b], "lr": 0.5, "betas": [0.5, 0.6], "tag": "head"}], lr=0.1, amsgrad=True)
    first, second = opt.param_groups
    assert first == dict(params=[w], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=True, maximize=False)
    assert second["lr"] == 0.5 and second["betas"] == (0.5, 0.6) and second["amsgrad"] is True
    assert second["tag"] == "head"  # other entries are kept, as torch keeps them
    assert opt.params == [w, b]
    c = xpgrad.tensor([1.0], requires_grad=True)
    group = {"params": [c], "eps": 1e-3}
    opt.add_param_group(group)
    assert opt.param_groups[2]["eps"] == 1e-3 and opt.param_groups[2]["lr"] == 0.1
    assert group == {"params": [c], "eps": 1e-3}  # the caller's dict is left as it was


def test_a_state_dict_keeps_each_groups_options():
    w, b = (xpgrad.tensor([1.0, 2.0], requires_grad=True) for _ in range(2))
    opt = SGD([{"params": [w]}, {"params": [b], "lr": 0.5, "nesterov": True}], lr=0.1, momentum=0.9)
    opt.param_groups[0]["lr"] = 0.01
    saved = opt.state_dict()
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1]]
    w2, b2 = (xpgrad.tensor([1.0, 2.0], requires_grad=True) for _ in range(2))
    fresh = SGD([{"params": [w2]}, {"params": [b2]}])
    fresh.load_state_dict(saved)
    assert [(g["lr"], g["momentum"], g["nesterov"]) for g in fresh.param_groups] == [(0.01, 0.9, False), (0.5, 0.9, True)]
    assert fresh.param_groups[0]["params"] == [w2] and fresh.param_groups[1]["params"] == [b2]


def test_repr_lists_each_groups_options():
    w = xpgrad.tensor([1.0], requires_grad=True)
    text = repr(SGD([w], lr=0.1))
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.1\n" in text and "params" not in text


def test_refuses_malformed_param_groups():
    w, b = _w(), _w()
    with pytest.raises(ValueError, match=r"SGD: params\[1\]\['params'\]\[0\] is already in param group 0"):
        SGD([{"params": [w]}, {"params": [w, b]}])
    with pytest.raises(TypeError, match=r"SGD: params mixes Tensors and dicts"):
        SGD([w, {"params": [b]}])
    with pytest.raises(ValueError, match=r"SGD: params\[0\] has no 'params' entry"):
        SGD([{"lr": 0.1}])
    with pytest.raises(TypeError, match=r"SGD: params\[0\]\['params'\] is a set"):
        SGD([{"params": {w}}])
    with pytest.raises(TypeError, match=r"SGD: params\[0\]\['params'\]\[1\] is a numpy.ndarray"):
        SGD([{"params": [w, np.ones(2)]}])
    with pytest.raises(ValueError, match=r"SGD: params\[1\]\['lr'\] must be >= 0; got -1.0"):
        SGD([{"params": [w]}, {"params": [b], "lr": -1.0}])
    with pytest.raises(ValueError, match=r"SGD: params\[0\]: nesterov=True needs momentum > 0"):
        SGD([{"params": [w], "nesterov": True}])
    with pytest.raises(ValueError, match=r"Adam: params\[0\]\['betas'\]\[1\] must be in \[0, 1\)"):
        Adam([{"params": [w], "betas": (0.9, 1.0)}])
    opt = AdamW([w])
    with pytest.raises(ValueError, match=r"AdamW.add_param_group: param_group\['params'\]\[0\] is already in param group 0"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(TypeError, match=r"AdamW.add_param_group: param_group must be a dict"):
        opt.add_param_group([b])
    with pytest.raises(ValueError, match=r"AdamW.add_param_group: param_group\['eps'\] must be >= 0"):
        opt.add_param_group({"params": [b], "eps": -1.0})
    assert len(opt.param_groups) == 1  # nothing was added


def _w():
    return xpgrad.tensor([1.0, 2.0], requires_grad=True)


def test_options_are_read_and_set_through_param_groups():
    # opt.lr = 0.01 would set an attribute no step reads: it is refused.
    w = _w()
    opt = SGD([w], lr=0.1)
    with pytest.raises(AttributeError, match=r"SGD.lr: each param group has its own lr, as in torch; read or set opt.param_groups\[k\]\['lr'\]"):
        opt.lr = 0.01
    with pytest.raises(AttributeError, match=r"SGD.momentum: each param group has its own momentum"):
        opt.momentum
    opt.param_groups[0]["lr"] = 0.25
    (w * w).sum().backward()
    opt.step()
    np.testing.assert_array_equal(w.data, [0.5, 1.0])


def test_a_rate_a_schedule_left_below_zero_loads_as_in_torch():
    # LinearLR's decay to 0 ends at -3.2e-19 in round-off, in torch too; the
    # optimizer's own state dict must load again (torch's does)
    w = xpgrad.tensor(np.ones(2), requires_grad=True)
    tw = torch.ones(2, requires_grad=True)
    opt, topt = SGD([w], lr=0.1), torch.optim.SGD([tw], lr=0.1)
    sched = xpgrad.optim.LinearLR(opt, start_factor=0.1, end_factor=0.0, total_iters=4)
    tsched = torch.optim.lr_scheduler.LinearLR(topt, start_factor=0.1, end_factor=0.0, total_iters=4)
    for o, s in ((opt, sched), (topt, tsched)):
        for _ in range(4):
            o.step()
            s.step()
    lr = opt.param_groups[0]["lr"]
    assert lr == topt.param_groups[0]["lr"] and lr < 0
    fresh = SGD([xpgrad.tensor(np.ones(2), requires_grad=True)], lr=0.1)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.param_groups[0]["lr"] == lr
    with pytest.raises(ValueError, match=r"^SGD: lr must be >= 0; got -0.1"):
        SGD([w], lr=-0.1)  # where a rate is given, it is checked, as torch's constructor does


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_torchs_adam_and_adamw_state_dicts_load_into_theirs(name):
    tw = torch.ones(2, dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, name)([tw], lr=0.1, weight_decay=0.5)
    w = xpgrad.tensor(np.ones(2), requires_grad=True)
    opt = getattr(xpgrad.optim, name)([w], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        for o, p in ((topt, tw), (opt, w)):
            o.zero_grad()
            (p * p).sum().backward()
            o.step()
    w2 = xpgrad.tensor(np.ones(2), requires_grad=True)
    loaded = getattr(xpgrad.optim, name)([w2], lr=0.1)
    with xpgrad.no_grad():
        w2[...] = tw.detach().numpy()
    loaded.load_state_dict(topt.state_dict())
    for o, p in ((topt, tw), (loaded, w2)):
        o.zero_grad()
        (p * p).sum().backward()
        o.step()
    np.testing.assert_allclose(host(w2), tw.detach().numpy(), rtol=1e-13)
    other = "AdamW" if name == "Adam" else "Adam"
    with pytest.raises(ValueError, match=rf"decoupled_weight_decay'\] is (True|False), which is {name}'s"):
        getattr(xpgrad.optim, other)([w2], lr=0.1).load_state_dict(topt.state_dict())

"""xpgrad.optim's learning-rate schedulers against torch.optim.lr_scheduler:
the same rates, epoch after epoch (exactly: the same formulas on the same
floats), for several groups, when resumed, and when the rate is also changed
by hand; state dicts; errors. The trajectories of parameters under each
scheduler are in test_optim.py."""

from __future__ import annotations

import math
import warnings

import pytest

import xpgrad
from xpgrad.optim import (
    SGD,
    Adam,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    StepLR,
)

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

# These tests step schedulers alone, to read their rates; the warning that
# says so has its own test at the end.
pytestmark = pytest.mark.filterwarnings("ignore:.*before the optimizer's first step:UserWarning")

EPOCHS = 40

# id -> (class name, keyword arguments), the same for torch.
CASES = {
    "step": ("StepLR", dict(step_size=3)),
    "step-gamma": ("StepLR", dict(step_size=1, gamma=0.7)),
    "exponential": ("ExponentialLR", dict(gamma=0.9)),
    "cosine": ("CosineAnnealingLR", dict(T_max=7)),
    "cosine-eta_min": ("CosineAnnealingLR", dict(T_max=5, eta_min=0.01)),
    "linear": ("LinearLR", dict()),
    "linear-down": ("LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=12)),
    "lambda": ("LambdaLR", dict(lr_lambda=lambda epoch: 0.95**epoch)),
    "lambda-per-group": ("LambdaLR", dict(lr_lambda=[lambda e: 1.0 / (e + 1), lambda e: 1.0 + (e % 3)])),
}

LRS = (0.1, 0.03)  # two param groups


def _pair(name, kwargs, last_epoch=-1, lrs=LRS):
    """An xpgrad and a torch scheduler on optimizers with the same groups."""
    opt = SGD([{"params": [xpgrad.tensor([1.0], requires_grad=True)], "lr": lr} for lr in lrs])
    topt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs])
    if last_epoch != -1:
        for o in (opt, topt):
            for g in o.param_groups:
                g["initial_lr"] = g["lr"] * 2
    mine = getattr(xpgrad.optim, name)(opt, last_epoch=last_epoch, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, last_epoch=last_epoch, **kwargs)
    return mine, theirs


def _rates(o):
    return [g["lr"] for g in o.param_groups]


@pytest.mark.parametrize("case", list(CASES))
def test_rates_match_torch(case):
    mine, theirs = _pair(*CASES[case])
    assert _rates(mine.optimizer) == _rates(theirs.optimizer)  # after construction
    assert mine.get_last_lr() == theirs.get_last_lr()
    seen = set()
    for epoch in range(EPOCHS):
        theirs.optimizer.step()  # torch warns when the scheduler steps first
        mine.step()
        theirs.step()
        assert mine.get_last_lr() == theirs.get_last_lr(), f"epoch {epoch + 1}"
        assert _rates(mine.optimizer) == mine.get_last_lr()
        assert mine.last_epoch == theirs.last_epoch == epoch + 1
        seen.add(mine.get_last_lr()[0])
    assert len(seen) > 2  # the schedule moved
    assert mine.base_lrs == theirs.base_lrs == list(LRS)


@pytest.mark.parametrize("case", ["step", "exponential", "cosine-eta_min", "linear-down", "lambda"])
def test_rates_match_torch_when_changed_by_hand_and_when_resumed(case):
    # The chainable formulas start from the group's current rate: a change by
    # hand carries on. A scheduler made with last_epoch=k resumes the schedule.
    for last_epoch in (-1, 4):
        mine, theirs = _pair(*CASES[case], last_epoch=last_epoch)
        assert mine.get_last_lr() == theirs.get_last_lr()
        for epoch in range(12):
            if epoch == 5:
                for o in (mine.optimizer, theirs.optimizer):
                    o.param_groups[1]["lr"] *= 3.0
            theirs.optimizer.step()
            mine.step()
            theirs.step()
            assert mine.get_last_lr() == theirs.get_last_lr(), (last_epoch, epoch)


def test_cosine_follows_the_closed_form_until_t_max():
    opt = SGD([xpgrad.tensor([1.0], requires_grad=True)], lr=0.1)
    sched = CosineAnnealingLR(opt, T_max=10, eta_min=0.02)
    for epoch in range(1, 11):
        sched.step()
        want = 0.02 + (0.1 - 0.02) * (1 + math.cos(math.pi * epoch / 10)) / 2
        assert sched.get_last_lr()[0] == pytest.approx(want, rel=1e-14, abs=1e-16)


def test_a_scheduler_sets_initial_lr_and_drives_adam():
    opt = Adam([xpgrad.tensor([1.0], requires_grad=True)], lr=0.2)
    sched = LinearLR(opt, start_factor=0.5, total_iters=2)
    assert opt.param_groups[0]["initial_lr"] == 0.2 and opt.param_groups[0]["lr"] == 0.1
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [0.2]


@pytest.mark.parametrize("case", ["step", "cosine", "linear-down", "lambda"])
def test_state_dict_round_trip(case):
    name, kwargs = CASES[case]
    mine, _ = _pair(name, kwargs)
    for _ in range(6):
        mine.step()
    opt_saved, saved = mine.optimizer.state_dict(), mine.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 6
    fresh, _ = _pair(name, kwargs, lrs=(9.0, 9.0))
    fresh.optimizer.load_state_dict(opt_saved)
    fresh.load_state_dict(saved)
    for _ in range(20):
        mine.step()
        fresh.step()
        assert fresh.get_last_lr() == mine.get_last_lr()
    assert fresh.last_epoch == mine.last_epoch == 26


def test_lambda_state_dict_saves_callable_objects_not_functions():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.n)

    opt = SGD([{"params": [xpgrad.tensor([1.0], requires_grad=True)]} for _ in range(2)], lr=0.1)
    sched = LambdaLR(opt, [Warmup(4), lambda e: 0.5])
    saved = sched.state_dict()
    assert saved["lr_lambdas"] == [{"n": 4}, None]
    other = LambdaLR(SGD([{"params": [xpgrad.tensor([1.0], requires_grad=True)]} for _ in range(2)], lr=0.1),
                     [Warmup(10), lambda e: 0.5])
    other.load_state_dict(saved)
    assert other.lr_lambdas[0].n == 4


def test_a_subclass_writes_get_lr():
    class Halving(LRScheduler):
        def get_lr(self):
            return [base * 0.5**self.last_epoch for base in self.base_lrs]

    opt = SGD([xpgrad.tensor([1.0], requires_grad=True)], lr=0.8)
    sched = Halving(opt)
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [0.2]
    with pytest.raises(NotImplementedError, match=r"LRScheduler.get_lr: a subclass must define get_lr"):
        LRScheduler(opt)


def test_errors():
    opt = SGD([xpgrad.tensor([1.0], requires_grad=True)], lr=0.1)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)])
    with pytest.raises(TypeError, match=r"StepLR: optimizer must be an xpgrad.optim optimizer .*got a torch.optim.sgd.SGD"):
        StepLR(topt, step_size=2)
    with pytest.raises(ValueError, match=r"StepLR: step_size must be >= 1; got 0"):
        StepLR(opt, step_size=0)
    with pytest.raises(TypeError, match=r"StepLR: step_size must be an int; got a float"):
        StepLR(opt, step_size=2.0)
    with pytest.raises(TypeError, match=r"ExponentialLR: gamma must be a real number"):
        ExponentialLR(opt, gamma="0.9")
    with pytest.raises(ValueError, match=r"CosineAnnealingLR: T_max must be >= 1"):
        CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match=r"LinearLR: start_factor must be in \(0, 1\]; got 0.0"):
        LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match=r"LinearLR: end_factor must be in \[0, 1\]; got 1.5"):
        LinearLR(opt, end_factor=1.5)
    with pytest.raises(ValueError, match=r"LambdaLR: lr_lambda has 2 function\(s\), but the optimizer has 1"):
        LambdaLR(opt, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(TypeError, match=r"LambdaLR: lr_lambda must be callable"):
        LambdaLR(opt, 0.5)
    with pytest.raises(KeyError, match=r"StepLR: last_epoch=3 resumes a schedule, but optimizer.param_groups\[0\] has no 'initial_lr'"):
        StepLR(opt, step_size=2, last_epoch=3)
    assert opt.param_groups[0]["lr"] == 0.1  # none of these changed the rate
    sched = StepLR(opt, step_size=2)
    with pytest.raises(ValueError, match=r"StepLR.load_state_dict: the state dict has rates for 2 param group\(s\), but the optimizer has 1"):
        sched.load_state_dict(dict(sched.state_dict(), base_lrs=[0.1, 0.1]))
    with pytest.raises(ValueError, match=r"StepLR.load_state_dict: the state dict lacks last_epoch"):
        sched.load_state_dict({"base_lrs": [0.1]})
    opt.add_param_group({"params": [xpgrad.tensor([1.0], requires_grad=True)]})
    with pytest.raises(ValueError, match=r"StepLR.step: the optimizer has 2 param group\(s\), but the scheduler was made for 1"):
        sched.step()


def test_stepping_the_scheduler_before_the_optimizer_warns_as_torch():
    w = xpgrad.tensor([1.0], requires_grad=True)
    opt = SGD([w], lr=0.1)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    with pytest.warns(UserWarning, match=r"^StepLR.step: called before the optimizer's first step\(\)"):
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.05  # the first rate is skipped, as in torch
    opt2 = SGD([w], lr=0.1)
    sched2 = StepLR(opt2, step_size=1, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt2.step()
        sched2.step()  # the right order: no warning
        sched.step()  # nor on a later step
    assert opt2.param_groups[0]["lr"] == 0.05

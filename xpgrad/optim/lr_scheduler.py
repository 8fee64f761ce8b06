"""Learning-rate schedulers, as torch.optim.lr_scheduler: each sets the
``"lr"`` of every param group of an optimizer, once at construction and
again on each :meth:`~LRScheduler.step`, with torch's formulas (its chainable
form: each new rate is computed from the group's current one, so schedulers
and your own changes to ``group["lr"]`` compose as in torch).

Call ``scheduler.step()`` after ``optimizer.step()``, once per epoch (or per
iteration, as your schedule counts).

>>> import xpgrad
>>> w = xpgrad.tensor([1.0], requires_grad=True)
>>> opt = xpgrad.optim.SGD([w], lr=0.1)
>>> sched = xpgrad.optim.StepLR(opt, step_size=2, gamma=0.5)
>>> rates = []
>>> for epoch in range(5):
...     opt.step()  # after backward(), in a real loop
...     sched.step()
...     rates.append(sched.get_last_lr()[0])
>>> rates
[0.1, 0.05, 0.05, 0.025, 0.025]
"""

from __future__ import annotations

import math
import numbers
import types
import warnings

from .optimizer import Optimizer, _what

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "LambdaLR"]


class LRScheduler:
    """The base of the schedulers (torch.optim.lr_scheduler.LRScheduler).

    Subclasses write :meth:`get_lr`: the new rate of each group, once
    :attr:`last_epoch` has moved on.

    Parameters
    ----------
    optimizer : Optimizer
    last_epoch : int, default -1
        The index of the last epoch seen: -1 starts the schedule (each group's
        ``"initial_lr"`` is set to its ``"lr"``); another value resumes one,
        and needs ``"initial_lr"`` in every group (as a loaded optimizer state
        dict has it).

    Attributes
    ----------
    optimizer : Optimizer
    base_lrs : list of float
        Each group's ``"initial_lr"``.
    last_epoch : int
        How many times :meth:`step` ran, counting the one the constructor makes
        (so 0 after construction).

    Raises
    ------
    TypeError
        If ``optimizer`` is not an xpgrad optimizer, or ``last_epoch`` not an int.
    KeyError
        If ``last_epoch`` is not -1 and a group has no ``"initial_lr"``.
    """

    def __init__(self, optimizer, last_epoch=-1) -> None:
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{name}: optimizer must be an xpgrad.optim optimizer (SGD, Adam, ...); got "
                f"{_what(optimizer)}"
            )
        last_epoch = _int(name, "last_epoch", last_epoch, low=-1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for k, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{name}: last_epoch={last_epoch} resumes a schedule, but "
                        f"optimizer.param_groups[{k}] has no 'initial_lr'; load the optimizer's "
                        f"state dict first, or start with last_epoch=-1"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list:
        """The rate of each group at :attr:`last_epoch` (a subclass's)."""
        raise NotImplementedError(f"{type(self).__name__}.get_lr: a subclass must define get_lr()")

    def step(self) -> None:
        """Move to the next epoch and set each group's ``"lr"`` to its new rate."""
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(
                f"{type(self).__name__}.step: the optimizer has {len(groups)} param group(s), but "
                f"the scheduler was made for {len(self.base_lrs)}; make the scheduler after "
                f"the last add_param_group"
            )
        if self._step_count == 1 and not self._is_initial and _not_stepped(self.optimizer):
            warnings.warn(
                f"{type(self).__name__}.step: called before the optimizer's first step(), so "
                f"the schedule's first rate is skipped; call optimizer.step() first, then "
                f"scheduler.step() (as in torch)",
                UserWarning, stacklevel=2,
            )
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def get_last_lr(self) -> list:
        """Each group's rate as the last :meth:`step` set it (a new list)."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """The scheduler's state (every attribute but the optimizer), to save
        and give to :meth:`load_state_dict`."""
        return {
            key: list(value) if isinstance(value, list) else value
            for key, value in self.__dict__.items()
            if key != "optimizer"
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Take the state that :meth:`state_dict` returned.

        Load the optimizer's state dict too: the rates live in its groups.

        Raises
        ------
        TypeError
            If ``state_dict`` is not a dict.
        ValueError
            If it lacks ``last_epoch`` or ``base_lrs``, or has rates for
            another number of param groups.
        """
        op = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{op}: expected a dict, as state_dict() returns; got {_what(state_dict)}")
        missing = [k for k in ("last_epoch", "base_lrs") if k not in state_dict]
        if missing:
            raise ValueError(f"{op}: the state dict lacks {', '.join(missing)}; was it saved from a scheduler?")
        n = len(self.optimizer.param_groups)
        if len(state_dict["base_lrs"]) != n:
            raise ValueError(
                f"{op}: the state dict has rates for {len(state_dict['base_lrs'])} param group(s), "
                f"but the optimizer has {n}"
            )
        self.__dict__.update(
            (key, list(value) if isinstance(value, list) else value) for key, value in state_dict.items()
        )

    def _current(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]


def _not_stepped(optimizer) -> bool:
    """Whether ``optimizer`` has not stepped yet; False for a subclass with a
    ``step`` of its own, which may not say (torch wraps ``step`` to know)."""
    return type(optimizer).step is Optimizer.step and not getattr(optimizer, "_stepped", False)


class StepLR(LRScheduler):
    """Multiply each group's rate by ``gamma`` every ``step_size`` epochs
    (torch.optim.lr_scheduler.StepLR): ``base_lr * gamma ** (epoch // step_size)``.

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int
        Epochs between two decays, >= 1.
    gamma : float, default 0.1
    last_epoch : int, default -1
        See :class:`LRScheduler`.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1) -> None:
        self.step_size = _int("StepLR", "step_size", step_size, low=1)
        self.gamma = _real("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class ExponentialLR(LRScheduler):
    """Multiply each group's rate by ``gamma`` every epoch
    (torch.optim.lr_scheduler.ExponentialLR): ``base_lr * gamma ** epoch``.

    Parameters
    ----------
    optimizer : Optimizer
    gamma : float
    last_epoch : int, default -1
        See :class:`LRScheduler`.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1) -> None:
        self.gamma = _real("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self._is_initial:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from each group's rate to ``eta_min`` over ``T_max``
    epochs (torch.optim.lr_scheduler.CosineAnnealingLR), without restarts::

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    computed, as torch does, from the previous epoch's rate, so that past
    ``T_max`` it climbs back along the cosine.

    Parameters
    ----------
    optimizer : Optimizer
    T_max : int
        Epochs of a half period, >= 1.
    eta_min : float, default 0.0
    last_epoch : int, default -1
        See :class:`LRScheduler`.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1) -> None:
        self.T_max = _int("CosineAnnealingLR", "T_max", T_max, low=1)
        self.eta_min = _real("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        t, T, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current()
        if self._step_count == 1 and t > 0:  # a scheduler resumed without its initial step
            return [low + (base - low) * (1 + math.cos(t * math.pi / T)) / 2 for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:  # the bottom of the cosine: step back up
            return [
                lr + (base - low) * (1 - math.cos(math.pi / T)) / 2
                for base, lr in zip(self.base_lrs, self._current())
            ]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - low) + low for lr in self._current()]


class LinearLR(LRScheduler):
    """Scale each group's rate by a factor that goes linearly from
    ``start_factor`` to ``end_factor`` over ``total_iters`` epochs, then stays
    (torch.optim.lr_scheduler.LinearLR)::

        lr = base_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)

    Parameters
    ----------
    optimizer : Optimizer
    start_factor : float, default 1/3
        In (0, 1].
    end_factor : float, default 1.0
        In [0, 1].
    total_iters : int, default 5
        >= 0.
    last_epoch : int, default -1
        See :class:`LRScheduler`.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1) -> None:
        start_factor = _real("LinearLR", "start_factor", start_factor)
        end_factor = _real("LinearLR", "end_factor", end_factor)
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1]; got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1]; got {end_factor!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = _int("LinearLR", "total_iters", total_iters, low=0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        t, a, b = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return [lr * a for lr in self._current()]
        if self._is_initial or t > self.total_iters:
            return self._current()
        factor = 1.0 + (b - a) / (self.total_iters * a + (t - 1) * (b - a))
        return [lr * factor for lr in self._current()]


class LambdaLR(LRScheduler):
    """Set each group's rate to ``base_lr * lr_lambda(epoch)``
    (torch.optim.lr_scheduler.LambdaLR).

    Parameters
    ----------
    optimizer : Optimizer
    lr_lambda : callable or list of callables
        A function of the epoch (an int) giving a factor; or one per param group.
    last_epoch : int, default -1
        See :class:`LRScheduler`.

    Notes
    -----
    As torch's, :meth:`state_dict` saves the ``__dict__`` of a callable
    object among ``lr_lambda`` but not a function (nor a lambda), which
    :meth:`load_state_dict` cannot rebuild: make the scheduler with the same
    functions before loading.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1) -> None:
        if isinstance(lr_lambda, (list, tuple)):
            n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else None
            if n is not None and len(lr_lambda) != n:
                raise ValueError(
                    f"LambdaLR: lr_lambda has {len(lr_lambda)} function(s), but the optimizer has "
                    f"{n} param group(s); pass one function, or one per group"
                )
            lambdas = list(lr_lambda)
        else:
            lambdas = [lr_lambda] * (len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 1)
        for i, fn in enumerate(lambdas):
            if not callable(fn):
                raise TypeError(
                    f"LambdaLR: lr_lambda{'' if not isinstance(lr_lambda, (list, tuple)) else f'[{i}]'} "
                    f"must be callable (a function of the epoch); got {_what(fn)}"
                )
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict:
        state = {key: value for key, value in super().state_dict().items() if key != "lr_lambdas"}
        state["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else dict(fn.__dict__) for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        if isinstance(state_dict, dict) and "lr_lambdas" in state_dict:
            state_dict = dict(state_dict)
            saved = state_dict.pop("lr_lambdas")
            super().load_state_dict(state_dict)
            for fn, attrs in zip(self.lr_lambdas, saved):
                if attrs is not None:
                    fn.__dict__.update(attrs)
        else:
            super().load_state_dict(state_dict)


def _int(name: str, arg: str, value, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: {arg} must be an int; got {_what(value)} ({value!r})")
    if value < low:
        raise ValueError(f"{name}: {arg} must be >= {low}; got {value!r}")
    return int(value)


def _real(name: str, arg: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {arg} must be a real number; got {_what(value)} ({value!r})")
    return float(value)

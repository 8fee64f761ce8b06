"""Optimizers that update Tensors in place (SGD, Adam, AdamW) and the
learning-rate schedulers that drive them (StepLR, ExponentialLR,
CosineAnnealingLR, LinearLR, LambdaLR).

Each follows the torch.optim class of the same name, step for step (torch's
single-tensor path), with its defaults, param groups and state dicts, so a
model trained with xpgrad and one trained with torch from the same start take
the same steps up to round-off.

The step works on the parameters' own arrays with their own namespace: the
state (momentum buffers, moment estimates) is kept as arrays of each
parameter's library, device and dtype, nothing goes through NumPy, and the
new values are *rebound* to ``p.data`` (``p`` stays the same leaf Tensor), so
the update also works on immutable arrays such as JAX's.

>>> import xpgrad
>>> w = xpgrad.tensor([1.0, -2.0], requires_grad=True)
>>> opt = xpgrad.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step()
>>> w.data
array([ 0.8, -1.6])
>>> opt.zero_grad()
>>> w.grad is None
True

A checkpoint is the two state dicts; loading them into a fresh optimizer and
scheduler resumes the run bit for bit:

>>> sched = xpgrad.optim.ExponentialLR(opt, gamma=0.5)
>>> checkpoint = {"optim": opt.state_dict(), "sched": sched.state_dict()}
>>> opt2 = xpgrad.optim.SGD([w])
>>> sched2 = xpgrad.optim.ExponentialLR(opt2, gamma=0.5)
>>> opt2.load_state_dict(checkpoint["optim"])
>>> sched2.load_state_dict(checkpoint["sched"])
>>> opt2.param_groups[0]["lr"]
0.1
"""

from __future__ import annotations

from .adam import Adam, AdamW
from .lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    StepLR,
)
from .optimizer import Optimizer
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "LambdaLR",
]

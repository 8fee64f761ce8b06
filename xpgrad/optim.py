"""Optimizers that update Tensors in place: SGD, Adam and AdamW.

Each follows the update of the torch.optim class of the same name, step for
step (torch's single-tensor path), so a model trained with xpgrad and one
trained with torch from the same start take the same steps up to round-off.

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
"""

from __future__ import annotations

import math
import numbers

from ._backend import declare, resolve
from ._shapes import fmt
from .tensor import Tensor, no_grad

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


class Optimizer:
    """What every optimizer shares: the parameter list, per-parameter state,
    and :meth:`zero_grad`. Subclasses write :meth:`step`.

    Parameters
    ----------
    params : iterable of Tensor
        Leaf tensors that require grad, each listed once.

    Raises
    ------
    TypeError
        If ``params`` is a single Tensor, or one of its items is not a Tensor
        that requires grad.
    ValueError
        If ``params`` is empty, lists a tensor twice, or holds a tensor that an
        op computed (not a leaf: it never receives ``.grad``).
    """

    def __init__(self, params) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor) or not _iterable(params):
            raise TypeError(
                f"{name}: params must be an iterable of Tensors (a list such as [w, b]); "
                f"got {_what(params)}"
            )
        params = list(params)
        if not params:
            raise ValueError(
                f"{name}: params is empty; pass the tensors to train, created with "
                f"requires_grad=True"
            )
        seen = set()
        for i, p in enumerate(params):
            if type(p) is not Tensor:
                raise TypeError(
                    f"{name}: params[{i}] is {_what(p)}, not an xpgrad Tensor; wrap the array "
                    f"with xpgrad.tensor(..., requires_grad=True)"
                )
            if not p.requires_grad:
                raise TypeError(
                    f"{name}: params[{i}] does not require grad, so it never gets a gradient; "
                    f"create it with xpgrad.tensor(..., requires_grad=True) or leave it out"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: params[{i}] was computed by an op (it is not a leaf), so "
                    f"backward() fills no .grad for it; pass the tensors it was computed from"
                )
            if id(p) in seen:
                raise ValueError(
                    f"{name}: params[{i}] is listed twice (it would be updated twice per "
                    f"step); list each tensor once"
                )
            seen.add(id(p))
        self.params: list[Tensor] = params
        # Per parameter (keyed by the Tensor itself, hashed by identity): a
        # dict of native arrays and counters, created on its first step.
        self.state: dict[Tensor, dict] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient before the next ``backward()``.

        Parameters
        ----------
        set_to_none : bool, default True
            Set ``p.grad`` to None (``backward()`` then allocates it afresh, and
            :meth:`step` skips a parameter whose gradient stays None). With
            False, a gradient that exists becomes an array of zeros of its
            shape, dtype and device (a new array, not an in-place fill).
        """
        for p in self.params:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                xp, scope = resolve(f"{type(self).__name__}.zero_grad", p.grad)
                with scope:
                    p.grad = xp.zeros_like(p.grad)

    def step(self) -> None:
        """Update every parameter that has a gradient, once."""
        raise NotImplementedError(f"{type(self).__name__}.step: a subclass must define step()")

    def _grads(self, op: str):
        """(param, grad, xp, scope) for each parameter whose ``.grad`` is set."""
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            xp, scope = resolve(op, p.data, g)
            if tuple(g.shape) != tuple(p.data.shape):
                raise ValueError(
                    f"{op}: params[{i}].grad has shape {fmt(g.shape)}, but the parameter has "
                    f"shape {fmt(p.data.shape)}; a gradient must match its parameter"
                )
            yield p, g, xp, scope


def _iterable(x) -> bool:
    try:
        iter(x)
    except TypeError:
        return False
    return True


def _what(x) -> str:
    t = type(x)
    return f"a {t.__name__}" if t.__module__ == "builtins" else f"a {t.__module__}.{t.__qualname__}"


def _rebind(p: Tensor, new, xp) -> None:
    # NumPy turns the result of arithmetic on a 0-d array into a scalar.
    if type(new) is not type(p.data):
        new = xp.asarray(new)
    p.data = new


def _number(name: str, arg: str, value, *, low: float = 0.0, high: float | None = None) -> float:
    """``value`` as a float in [low, high) (or [low, inf)), else the error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {arg} must be a real number; got {_what(value)} ({value!r})")
    value = float(value)
    if not (value >= low and (high is None or value < high)):
        where = f"in [{low:g}, {high:g})" if high is not None else f">= {low:g}"
        raise ValueError(f"{name}: {arg} must be {where}; got {value!r}")
    return value


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (torch.optim.SGD).

    With ``g = grad`` (``-grad`` when ``maximize``), on each step::

        g = g + weight_decay * p
        b = g  (first step),  b = momentum * b + (1 - dampening) * g  (later)
        g = g + momentum * b  (nesterov),  g = b  (otherwise; when momentum != 0)
        p = p - lr * g

    Parameters
    ----------
    params : iterable of Tensor
        Leaf tensors that require grad.
    lr : float
        Learning rate, >= 0.
    momentum, dampening, weight_decay : float, default 0
        Each >= 0.
    nesterov : bool, default False
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    maximize : bool, default False
        Ascend the objective instead of descending it.

    Raises
    ------
    TypeError, ValueError
        See :class:`Optimizer`; ValueError also for a negative hyperparameter or
        ``nesterov`` without momentum.

    Examples
    --------
    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optim.SGD([w], lr=0.5, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> w.data  # 1 - 0.5*2 = 0; then b = 0.9*2 + 0 = 1.8, 0 - 0.5*1.8
    array([-0.9])
    """

    def __init__(
        self,
        params,
        lr,
        momentum=0.0,
        dampening=0.0,
        weight_decay=0.0,
        nesterov=False,
        maximize=False,
    ) -> None:
        self.lr = _number("SGD", "lr", lr)
        self.momentum = _number("SGD", "momentum", momentum)
        self.dampening = _number("SGD", "dampening", dampening)
        self.weight_decay = _number("SGD", "weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        self.maximize = bool(maximize)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                f"SGD: nesterov=True needs momentum > 0 and dampening == 0; got "
                f"momentum={self.momentum!r}, dampening={self.dampening!r}"
            )
        super().__init__(params)

    def step(self) -> None:
        """Update every parameter whose ``.grad`` is set (the others are skipped)."""
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        with no_grad():
            for p, g, xp, scope in self._grads("SGD.step"):
                with scope:
                    if self.maximize:
                        g = -g
                    if wd != 0:
                        g = g + wd * p.data
                    if mu != 0:
                        state = self.state.setdefault(p, {})
                        buf = state.get("momentum_buffer")
                        if buf is None:
                            buf = xp.asarray(g, copy=True)
                        else:
                            buf = mu * buf + (1 - self.dampening) * g
                        state["momentum_buffer"] = buf
                        g = g + mu * buf if self.nesterov else buf
                    _rebind(p, p.data - lr * g, xp)


class Adam(Optimizer):
    """Adam (torch.optim.Adam), optionally AMSGrad, with L2 weight decay.

    With ``g = grad`` (``-grad`` when ``maximize``) and ``t`` the parameter's
    step count (from 1)::

        g = g + weight_decay * p
        m = m + (1 - beta1) * (g - m)          # beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v)                  # amsgrad only; then v_hat replaces v below
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    params : iterable of Tensor
        Leaf tensors that require grad.
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        Each in [0, 1).
    eps : float, default 1e-8
    weight_decay : float, default 0
        Added to the gradient (L2); :class:`AdamW` decays the weights instead.
    amsgrad : bool, default False
    maximize : bool, default False

    Raises
    ------
    TypeError, ValueError
        See :class:`Optimizer`; ValueError also for a negative hyperparameter
        or a beta outside [0, 1).

    Examples
    --------
    >>> import xpgrad
    >>> w = xpgrad.tensor([3.0], requires_grad=True)
    >>> opt = xpgrad.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()  # the first step moves each entry by about lr
    >>> round(float(w.data[0]), 6)
    2.9
    """

    _decoupled = False

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        amsgrad=False,
        maximize=False,
    ) -> None:
        name = type(self).__name__
        self.lr = _number(name, "lr", lr)
        if isinstance(betas, (str, bytes)) or not _iterable(betas) or len(tuple(betas)) != 2:
            raise TypeError(f"{name}: betas must be a pair (beta1, beta2); got {betas!r}")
        b1, b2 = tuple(betas)
        self.betas = (
            _number(name, "betas[0]", b1, high=1.0),
            _number(name, "betas[1]", b2, high=1.0),
        )
        self.eps = _number(name, "eps", eps)
        self.weight_decay = _number(name, "weight_decay", weight_decay)
        self.amsgrad = bool(amsgrad)
        self.maximize = bool(maximize)
        super().__init__(params)

    def step(self) -> None:
        """Update every parameter whose ``.grad`` is set (the others are skipped)."""
        op = f"{type(self).__name__}.step"
        lr, wd, eps = self.lr, self.weight_decay, self.eps
        beta1, beta2 = self.betas
        with no_grad():
            for p, g, xp, scope in self._grads(op):
                with scope:
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {
                            "step": 0,
                            "exp_avg": xp.zeros_like(p.data),
                            "exp_avg_sq": xp.zeros_like(p.data),
                        }
                        if self.amsgrad:
                            state["max_exp_avg_sq"] = xp.zeros_like(p.data)
                    state["step"] = t = state["step"] + 1
                    if self.maximize:
                        g = -g
                    if wd != 0:
                        if self._decoupled:
                            _rebind(p, p.data * (1 - lr * wd), xp)
                        else:
                            g = g + wd * p.data
                    m = state["exp_avg"]
                    m = state["exp_avg"] = m + (1 - beta1) * (g - m)
                    v = state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * (g * g)
                    if self.amsgrad:
                        v = state["max_exp_avg_sq"] = xp.maximum(state["max_exp_avg_sq"], v)
                    step_size = lr / (1 - beta1**t)
                    denom = xp.sqrt(v) / math.sqrt(1 - beta2**t) + eps
                    _rebind(p, p.data - step_size * (m / denom), xp)


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW).

    As :class:`Adam` with ``weight_decay`` left out of the gradient; instead,
    before the moment updates, ``p = p * (1 - lr * weight_decay)``.

    Parameters
    ----------
    params : iterable of Tensor
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2
    amsgrad : bool, default False
    maximize : bool, default False

    Examples
    --------
    >>> import xpgrad
    >>> w = xpgrad.tensor([1.0], requires_grad=True)
    >>> opt = xpgrad.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * 0.0).sum().backward()  # a zero gradient: only the decay acts
    >>> opt.step()
    >>> w.data
    array([0.95])
    """

    _decoupled = True

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        maximize=False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


for _op in ("SGD.step", "Adam.step", "AdamW.step"):
    declare(_op, ("param", "grad"))

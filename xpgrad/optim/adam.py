"""Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW."""

from __future__ import annotations

from .._backend import adapter_of, declare, dtype_info
from .optimizer import Optimizer, _as_array, _iterable, _label, _lr, _number, _rebind

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (torch.optim.Adam), optionally AMSGrad, with L2 weight decay.

    With ``g = grad`` (``-grad`` when ``maximize``) and ``t`` the parameter's
    step count (from 1)::

        g = g + weight_decay * p
        m = m + (1 - beta1) * (g - m)          # beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v)                  # amsgrad only; then v_hat replaces v below
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    A complex parameter is a pair of real numbers per entry, as in torch: the
    moments, the maximum and the division act on the real and imaginary parts
    each on its own (``v`` holds ``re(g)**2`` and ``im(g)**2`` as its real and
    imaginary parts).

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        Leaf tensors that require grad, or param groups (see
        :class:`Optimizer`) whose entries override the options below.
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
        See :class:`Optimizer`; ValueError also for a negative option or a
        beta outside [0, 1), in the constructor or in a group.

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
    _state_keys = ("step", "exp_avg", "exp_avg_sq")
    _optional_state_keys = ("max_exp_avg_sq",)

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
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize
        )
        self._check_options(defaults, type(self).__name__, None)
        super().__init__(params, defaults)

    def _check_options(self, group: dict, op: str, where: str | None) -> None:
        group["lr"] = _lr(op, where, group["lr"])
        betas = group["betas"]
        label = _label(where, "betas")
        if isinstance(betas, (str, bytes)) or not _iterable(betas) or len(tuple(betas)) != 2:
            raise TypeError(f"{op}: {label} must be a pair (beta1, beta2); got {betas!r}")
        b1, b2 = tuple(betas)
        group["betas"] = (
            _number(op, f"{label}[0]", b1, high=1.0),
            _number(op, f"{label}[1]", b2, high=1.0),
        )
        group["eps"] = _number(op, _label(where, "eps"), group["eps"])
        group["weight_decay"] = _number(op, _label(where, "weight_decay"), group["weight_decay"])
        group["amsgrad"] = bool(group["amsgrad"])
        group["maximize"] = bool(group["maximize"])
        # torch's groups say which of the two this is (its Adam takes the flag);
        # a group of the other, silently kept, would decay the weights the wrong way
        decoupled = group.get("decoupled_weight_decay", self._decoupled)
        if bool(decoupled) != self._decoupled:
            label = _label(where, "decoupled_weight_decay")
            other = "AdamW" if decoupled else "Adam"
            raise ValueError(
                f"{op}: {label} is {decoupled!r}, which is {other}'s weight decay; "
                f"use xpgrad.optim.{other} for it"
            )

    def _update(self, k: int, group: dict) -> None:
        op = f"{type(self).__name__}.step"
        lr, wd, eps = float(group["lr"]), float(group["weight_decay"]), float(group["eps"])
        beta1, beta2 = (float(b) for b in group["betas"])
        amsgrad, maximize = group["amsgrad"], group["maximize"]
        for p, g, xp, scope in self._grads(k, group, op):
            with scope:
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {
                        "step": 0,
                        "exp_avg": xp.zeros_like(p.data),
                        "exp_avg_sq": xp.zeros_like(p.data),
                    }
                if amsgrad and state.get("max_exp_avg_sq") is None:
                    state["max_exp_avg_sq"] = xp.zeros_like(p.data)
                state["step"] = t = state["step"] + 1
                if maximize:
                    g = -g
                if wd != 0:
                    if self._decoupled:
                        _rebind(p, p.data * (1 - lr * wd), xp)
                    else:
                        g = g + wd * p.data
                names = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
                arrays = [p.data, g] + [state[n] for n in names]
                hyper = (t, lr, beta1, beta2, eps, amsgrad)
                if dtype_info(xp, p.data.dtype).complex:
                    # torch's view of a complex array as (real, imag) pairs.
                    re = _adam_update(xp, [xp.real(a) for a in arrays], *hyper)
                    im = _adam_update(xp, [xp.imag(a) for a in arrays], *hyper)
                    # each part as it is (an infinite part of a moment stays in its part)
                    new = [adapter_of(xp).complex(xp, r, i, p.data.dtype) for r, i in zip(re, im)]
                else:
                    new = _adam_update(xp, arrays, *hyper)
                for n, a in zip(names, new[1:]):
                    state[n] = _as_array(a, p.data, xp)
                _rebind(p, new[0], xp)


def _adam_update(xp, arrays, t, lr, beta1, beta2, eps, amsgrad):
    """[p, m, v(, v_max)] after one step, from [p, g, m, v(, v_max)] (real arrays)."""
    p, g, m, v = arrays[:4]
    m = m + (1 - beta1) * (g - m)
    v = beta2 * v + (1 - beta2) * g * g
    out = [None, m, v]
    if amsgrad:
        v = xp.maximum(arrays[4], v)
        out.append(v)
    step_size = lr / (1 - beta1**t)
    denom = xp.sqrt(v) / (1 - beta2**t) ** 0.5 + eps
    out[0] = p - step_size * (m / denom)
    return out


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW).

    As :class:`Adam` with ``weight_decay`` left out of the gradient; instead,
    before the moment updates, ``p = p * (1 - lr * weight_decay)``.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
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


for _op in ("Adam.step", "AdamW.step"):
    declare(_op, ("param", "grad"))
